"""An office on loopback for the trunk tests: ``serve``'s Service (SCCP, media engine, call
records, control socket, the SIP edge) with simulated phones over TCP and one SIP trunk to a
peer the test runs (SIPp, baresip); a media socket standing in for the far end's RTP; a live
capture of loopback for tshark (every SIP message we send, the trunk side's RTP streams).

Run inside a network namespace (HELPERS.md): the capture sees only this test's packets.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from skinnyctl.phone import SimPhone
from skinnyctl.runtime.bus import Subscription
from skinnyctl.runtime.service import Service
from skinnyctl.sccp import CallState, KeypadButton
from skinnyctl.site import load_site
from tests.rtpphone import parse_rtp_streams
from tests.test_register import free_port
from tests.test_sip_edge import free_udp_port, require
from tests.tshark import assert_clean

A, B = "001120CA1801", "001120CA1802"  # lines 1001 and 1002
DID_A = "+33123456701"  # 1001's external number, its DID
CALLER_ID = "+33123456700"  # the trunk's own

SITE = """
[server]
listen = "127.0.0.1"
addresses = ["127.0.0.1"]
sccp_port = {sccp}
tftp_port = {tftp}
tftp_root = "tftp"
rtp_port_min = {rtp_min}
rtp_port_max = {rtp_max}
control_socket = "control.sock"
emergency = ["112"]
{server}

[[lines]]
number = "1001"
display_name = "Alice"
external_number = "{did_a}"
[[lines]]
number = "1002"
display_name = "Bob"

[[devices]]
mac = "{a}"
model = "7960"
[[devices.buttons]]
type = "line"
line = "1001"

[[devices]]
mac = "{b}"
model = "7961"
[[devices.buttons]]
type = "line"
line = "1002"

[[dialplan]]
pattern = "^1[0-9]{{3}}$"
action = "process"
[[dialplan]]
pattern = "^0[1-9][0-9]{{8}}$"
action = "trunk"
trunk = "provider"
strip = 1
prefix = "+33"
[[dialplan]]
pattern = "^11"
action = "drop"

[[trunks]]
name = "provider"
host = "127.0.0.1"
port = {sip_port}
username = "alice"
password = "s3cret"
register = false
ping = 0
local_port = {local_port}
caller_id = "{caller_id}"
allow = ["127.0.0.1/32"]
transport = "udp"
dtmf = "rfc4733"
{trunk}

[[inbound]]
did = "{did_a}"
target = "1001"
[[inbound]]
did = "+33123456702"
target = "1002"
{extra}
"""


class Office:
    """The Service of ``serve`` on loopback: phones A (1001) and B (1002), trunk "provider"
    to ``sip_port`` (our SIP socket on ``local_port``). ``trunk``: more [[trunks]] keys;
    ``server``: more [server] keys; ``extra``: more sections."""

    def __init__(
        self, tmp: Path, sip_port: int, trunk: str = "", extra: str = "", server: str = ""
    ) -> None:
        (tmp / "tftp").mkdir(exist_ok=True)
        self.dir = tmp
        self.local_port = free_udp_port()
        self.rtp_min = 20000 + (os.getpid() % 150) * 80  # below the ephemeral ports
        text = SITE.format(
            sccp=free_port(),
            tftp=free_udp_port(),
            rtp_min=self.rtp_min,
            rtp_max=self.rtp_min + 79,
            a=A,
            b=B,
            did_a=DID_A,
            caller_id=CALLER_ID,
            sip_port=sip_port,
            local_port=self.local_port,
            trunk=trunk,
            extra=extra,
            server=server,
        )
        self.path = tmp / "site.toml"
        self.path.write_text(text)
        self.site = load_site(self.path)
        self.service = Service(self.site)
        self.events: Subscription = self.service.bus.subscribe()
        self.phones: list[SimPhone] = []

    def start(self) -> Office:
        self.service.start()
        return self

    def stop(self) -> None:
        for p in self.phones:
            p.close()
        self.service.stop()

    def phone(self, mac: str, model: str = "7960") -> SimPhone:
        p = SimPhone("127.0.0.1", self.service.sccp.port, mac, model).connect()
        self.phones.append(p)
        p.register()
        return p

    def calls(self) -> list[dict[str, Any]]:
        return self.service.on_core(lambda core: core.calls_snapshot())

    def trunk_leg(self, timeout: float = 5.0) -> tuple[str, int]:
        """Our trunk leg's RTP address (the one our SDP names)."""
        leg = self.wait(
            lambda: next(
                (
                    x
                    for c in self.calls()
                    for x in c["legs"]
                    if x["device_name"].startswith("trunk:") and x["relay_port"]
                ),
                None,
            ),
            timeout,
            "a trunk leg",
        )
        return ("127.0.0.1", int(leg["relay_port"]))

    def wait(self, get: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = get()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"never: {what}")

    def event(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next published event of ``kind`` (others are passed over)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            e = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            if e is not None and e.kind == kind:
                return e.to_dict()
        raise AssertionError(f"no {kind} event within {timeout} s")

    def records(self) -> list[dict[str, Any]]:
        cdr = self.service.cdr
        assert cdr is not None
        return cdr.query()

    def clean(self) -> None:
        """Every SCCP frame the phones exchanged is clean in tshark."""
        self.service.on_core(lambda core: None)
        for p in self.phones:
            n = -1
            while n != len(p.frames):
                n = len(p.frames)
                time.sleep(0.1)
            assert_clean(list(p.frames))


def dial(p: SimPhone, digits: str, ref: int, line: int = 1) -> None:
    for d in digits:
        btn = {"*": 14, "#": 15}.get(d, int(d) if d.isdigit() else 0)
        p.send(KeypadButton(kp_button=btn, line_instance=line, call_reference=ref))


def state(p: SimPhone, value: int, timeout: float = 10.0) -> CallState:
    return p.wait_for(CallState, timeout, lambda m: m.call_state == value)


# --- the far end's media ---------------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    pt: int
    marker: bool
    seq: int
    ts: int
    ssrc: int
    payload: bytes


class MediaPeer:
    """The far end's RTP socket (127.0.0.1): what the provider scenario's SDP names. Keeps
    what arrives; sends G.711 or RFC 4733 events to our trunk leg."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.received: list[Packet] = []
        self.ssrc = random.getrandbits(32)  # each far end its own stream
        self._seq = 1000
        self._ts = 160000
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < 12 or data[0] >> 6 != 2:
                continue
            _, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
            with self._lock:
                self.received.append(Packet(b1 & 0x7F, bool(b1 & 0x80), seq, ts, ssrc, data[12:]))

    def packets(self, pt: int | None = None, ssrc: int | None = None) -> list[Packet]:
        with self._lock:
            return [
                p
                for p in self.received
                if (pt is None or p.pt == pt) and (ssrc is None or p.ssrc == ssrc)
            ]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()

    def send(self, to: tuple[str, int], count: int, pt: int = 8, payload: bytes = b"") -> None:
        """``count`` 20 ms packets, paced."""
        body = (payload or b"\xd5" * 160)[:160].ljust(160, b"\xd5")
        for _ in range(count):
            self._packet(to, pt, body)
            self._ts += 160
            time.sleep(0.02)

    def send_digit(self, to: tuple[str, int], digit: str, pt: int = 101) -> None:
        """One RFC 4733 event: start (marker), an update, three end packets."""
        code = "0123456789*#".index(digit)
        ts = self._ts
        for i, (end, duration) in enumerate([(0, 160), (0, 320), (1, 480), (1, 480), (1, 480)]):
            body = struct.pack("!BBH", code, (end << 7) | 10, duration)
            self._packet(to, pt, body, ts=ts, marker=i == 0)
            time.sleep(0.02)
        self._ts += 800

    def _packet(
        self, to: tuple[str, int], pt: int, body: bytes, ts: int | None = None, marker: bool = False
    ) -> None:
        self._seq = (self._seq + 1) & 0xFFFF
        b1 = pt | (0x80 if marker else 0)
        header = struct.pack(
            "!BBHII", 0x80, b1, self._seq, self._ts if ts is None else ts, self.ssrc
        )
        self.sock.sendto(header + body, to)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def digits_received(packets: list[Packet], pt: int = 101) -> str:
    """The RFC 4733 digits in ``packets`` (one per event: its start timestamp)."""
    out, seen = [], set()
    for p in packets:
        if p.pt == pt and len(p.payload) >= 4 and p.ts not in seen:
            seen.add(p.ts)
            out.append("0123456789*#ABCD"[p.payload[0]])
    return "".join(out)


# --- a live capture of loopback --------------------------------------------------------------


class Capture:
    """tshark on ``lo`` (UDP) for the length of a test."""

    def __init__(self, tmp: Path) -> None:
        self.tshark = require("tshark")
        self.path = tmp / "lo.pcapng"
        self.proc = subprocess.Popen(
            [self.tshark, "-i", "lo", "-w", str(self.path), "-f", "udp", "-a", "duration:300"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 15
        line = ""
        while time.monotonic() < deadline and "Capturing on" not in line:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                pytest.fail(f"tshark could not capture on lo (exit {self.proc.returncode})")
        time.sleep(1.0)  # "Capturing on" comes a moment before the filter is live

    def stop(self) -> Path:
        time.sleep(0.3)  # the last packets
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.path

    def _fields(self, decode: list[str], where: str, *fields: str) -> list[list[str]]:
        run = subprocess.run(
            [self.tshark, "-r", str(self.path), *decode, "-Y", where, "-T", "fields",
             *(a for f in fields for a in ("-e", f))],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return [row.split("\t") for row in run.stdout.splitlines()]

    def sip_sent(self, port: int) -> list[str]:
        """Every SIP message sent from our ``port``: each dissects with no malformed packet;
        their first lines."""
        rows = self._fields(
            ["-d", f"udp.port=={port},sip"],
            f"udp.srcport == {port}",
            "sip.Request-Line",
            "sip.Status-Line",
            "_ws.malformed",
        )
        assert rows, "we sent no SIP"
        bad = [r for r in rows if (len(r) > 2 and r[2]) or not (r[0] or r[1])]
        assert not bad, f"tshark: malformed or not SIP: {bad}"
        return [r[0] or r[1] for r in rows]

    def sip_text(self, port: int) -> str:
        """The SIP messages sent from ``port``, as text (headers to look at)."""
        run = subprocess.run(
            [self.tshark, "-r", str(self.path), "-d", f"udp.port=={port},sip",
             "-Y", f"udp.srcport == {port}", "-T", "fields", "-e", "sip.msg_hdr"],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return run.stdout

    def rtp_streams(self, ports: list[int]) -> list[dict[str, int | str]]:
        """``-z rtp,streams`` over the UDP of ``ports`` decoded as RTP; no malformed packet."""
        decode = [a for p in ports for a in ("-d", f"udp.port=={p},rtp")]
        malformed = self._fields(
            decode, "rtp && (_ws.malformed || _ws.expert.severity >= error)", "frame.number"
        )
        assert malformed == [], malformed
        run = subprocess.run(
            [self.tshark, "-r", str(self.path), *decode, "-q", "-z", "rtp,streams"],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return parse_rtp_streams(run.stdout)
