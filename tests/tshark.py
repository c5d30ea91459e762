"""Check SCCP frames with Wireshark's own dissector (tshark), for any test that wants it.

    from tests.tshark import assert_clean, dissect, skinny_messages, require_tshark

    frames = [("to_cm", encode(Register(...))), ("from_cm", encode(RegisterAck(...)))]
    assert_clean(frames)                      # no malformed frame, no expert error
    for pkt in dissect(frames):
        for msg in skinny_messages(pkt):      # one dict per SCCP PDU in the frame
            msg.name, msg.fields["skinny.lineInstance"]

Frames are ``(direction, bytes)`` with direction ``"to_cm"`` (phone -> CM, TCP dst port 2000)
or ``"from_cm"`` (CM -> phone, src port 2000). Each frame becomes one TCP segment; sequence
numbers are continuous per direction so tshark sees a clean stream.
``require_tshark()`` skips when tshark is missing, except under CI (env ``CI`` set): then fails.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

Frame = tuple[str, bytes]

PHONE_IP = bytes([10, 0, 0, 2])
CM_IP = bytes([10, 0, 0, 1])
PHONE_PORT = 50000
CM_PORT = 2000
SKINNY_PORT = 2000

# _ws.expert.severity values (epan/proto.h PI_*): error = 0x00800000
EXPERT_ERROR = 0x00800000


def tshark_path() -> str | None:
    return shutil.which("tshark")


def require_tshark() -> str:
    """Path to tshark; skip the test if missing, but fail if the env says we run in CI."""
    path = tshark_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("tshark is required in CI (apt-get install tshark)")
        pytest.skip("tshark not installed")
    return path


def _tcp_packet(
    src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, payload: bytes
) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, 0x18, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src, dst)
    eth = b"\x02\x00" + dst + b"\x02\x00" + src + b"\x08\x00"  # MACs derived from IPs
    return eth + ip + tcp + payload


def write_pcap(path: str | Path, frames: Iterable[Frame]) -> None:
    """Write frames as a libpcap file (Ethernet) of one TCP connection phone <-> CM:2000."""
    seq = {"to_cm": 1000, "from_cm": 5000}
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, (direction, data) in enumerate(frames):
        if direction == "to_cm":
            pkt = _tcp_packet(
                PHONE_IP, CM_IP, PHONE_PORT, CM_PORT, seq["to_cm"], seq["from_cm"], data
            )
        elif direction == "from_cm":
            pkt = _tcp_packet(
                CM_IP, PHONE_IP, CM_PORT, PHONE_PORT, seq["from_cm"], seq["to_cm"], data
            )
        else:
            raise ValueError(f"direction must be 'to_cm' or 'from_cm', not {direction!r}")
        seq[direction] += len(data)
        out += struct.pack("<IIII", 1_700_000_000 + i, 0, len(pkt), len(pkt)) + pkt
    Path(path).write_bytes(bytes(out))


def dissect(frames: Sequence[Frame], extra_args: Sequence[str] = ()) -> list[dict[str, Any]]:
    """tshark's JSON (``-T json --no-duplicate-keys``) for each frame, in order."""
    tshark = require_tshark()
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "frames.pcap"
        write_pcap(pcap, frames)
        proc = subprocess.run(
            [
                tshark,
                "-r",
                str(pcap),
                "-d",
                f"tcp.port=={SKINNY_PORT},skinny",
                "-T",
                "json",
                "--no-duplicate-keys",
                *extra_args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if proc.returncode != 0:
        raise AssertionError(f"tshark failed ({proc.returncode}): {proc.stderr}")
    packets: list[dict[str, Any]] = json.loads(proc.stdout or "[]")
    return packets


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass
class SkinnyPDU:
    """One SCCP message as tshark decoded it: its name and every field value (as strings)."""

    message_id: int
    name: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    tree: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> list[str]:
        return self.fields.get(name, [])


def _message_names() -> dict[int, str]:
    tshark = require_tshark()
    proc = subprocess.run([tshark, "-G", "values"], capture_output=True, text=True, check=True)
    names = {}
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 4 and parts[0] == "V" and parts[1] == "skinny.messageId":
            names[int(parts[2], 0)] = parts[3]
    return names


_NAMES: dict[int, str] | None = None


def message_name(message_id: int) -> str:
    """tshark's name for a message id (from ``tshark -G values``)."""
    global _NAMES
    if _NAMES is None:
        _NAMES = _message_names()
    return _NAMES.get(message_id, f"0x{message_id:04x}")


def skinny_messages(packet: dict[str, Any]) -> list[SkinnyPDU]:
    """The SCCP PDUs of one packet from :func:`dissect`."""
    layers = packet["_source"]["layers"]
    out = []
    for tree in _as_list(layers.get("skinny", [])):
        values: dict[str, list[str]] = {}
        for key, value in _walk(tree):
            if isinstance(value, (str, int)):
                values.setdefault(key, []).append(str(value))
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                values.setdefault(key, []).extend(value)
        ids = values.get("skinny.messageId", ["-1"])
        mid = int(ids[0], 0)
        out.append(SkinnyPDU(mid, message_name(mid), values, tree))
    return out


def problems(packet: dict[str, Any]) -> list[str]:
    """Malformed markers and expert errors in one packet."""
    layers = packet["_source"]["layers"]
    found = []
    for key, value in _walk(layers):
        if key.startswith("_ws.malformed"):
            found.append(f"malformed: {value}")
        if key == "_ws.expert.severity":
            for sev in _as_list(value):
                if int(sev, 0) >= EXPERT_ERROR:
                    found.append(f"expert error: {_expert_message(layers)}")
    return found


def _expert_message(layers: dict[str, Any]) -> str:
    msgs = [str(v) for k, v in _walk(layers) if k == "_ws.expert.message"]
    return "; ".join(msgs)


def assert_clean(frames: Sequence[Frame]) -> list[dict[str, Any]]:
    """Dissect and fail if any frame is malformed or carries an expert error."""
    packets = dissect(frames)
    assert len(packets) == len(frames), f"tshark saw {len(packets)} of {len(frames)} frames"
    bad = []
    for i, pkt in enumerate(packets):
        issues = problems(pkt)
        if not skinny_messages(pkt):
            issues.append("not dissected as skinny")
        if issues:
            bad.append(
                f"frame {i + 1} ({frames[i][0]}, {frames[i][1][:16].hex()}...): "
                + ", ".join(issues)
            )
    assert not bad, "tshark found problems:\n" + "\n".join(bad)
    return packets
