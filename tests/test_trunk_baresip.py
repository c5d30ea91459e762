"""A second, independent SIP user agent through the trunk: baresip (Debian ``baresip-core``),
headless, places a call to our DID and receives one from a phone. Its audio source is a sine
in a WAV (``aufile``; ``ausine`` only runs at 48 kHz), its playback goes to ALSA's null
device, and ``sndfile`` writes what it decoded to a WAV: so we see its audio at the phone and
ours in its file.

Run inside a network namespace (HELPERS.md).
"""

from __future__ import annotations

import array
import json
import math
import socket
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skinnyctl.sccp import CallInfo, CallStateValue, OffHook, OnHook, StartMediaTransmission
from tests.test_sip_edge import free_udp_port, require
from tests.trunkrig import DID_A, A, Capture, Office, dial, state

S = CallStateValue
OUTSIDE = "+33123456789"  # baresip's number

CONFIG = """\
poll_method epoll
sip_listen 127.0.0.1:{sip}
audio_player alsa,null
audio_alert alsa,null
audio_source aufile,{sine}
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module alsa.so
module sndfile.so
module account.so
module menu.so
module ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl}
snd_path {dumps}
"""


class Baresip:
    """baresip in the background, driven and watched over ctrl_tcp (netstring JSON)."""

    def __init__(self, tmp: Path) -> None:
        self.exe = require("baresip")
        self.dir = tmp / "baresip"
        self.dir.mkdir()
        self.dumps = self.dir / "dumps"
        self.dumps.mkdir()
        self.sip_port, self.ctrl_port = free_udp_port(), free_udp_port()
        # what it says: 440 Hz, 8 kHz 16-bit mono, longer than a test (its end ends the call)
        sine = self.dir / "sine.wav"
        period = array.array(
            "h", (int(8000 * math.sin(2 * math.pi * n / 8000 * 440)) for n in range(800))
        )
        with wave.open(str(sine), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(period.tobytes() * 600)  # 60 s (800 samples = 44 whole periods)
        (self.dir / "config").write_text(
            CONFIG.format(sip=self.sip_port, ctrl=self.ctrl_port, dumps=self.dumps, sine=sine)
        )
        # the outside number a phone dials as 0123456789; no registration; answers every
        # call at once; G.711 only
        (self.dir / "accounts").write_text(
            f"<sip:{OUTSIDE}@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n"
        )
        self.log = self.dir / "baresip.log"
        self.proc = subprocess.Popen(
            [self.exe, "-f", str(self.dir), "-n", "127.0.0.1"],  # loopback as its address
            stdin=subprocess.DEVNULL,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.ctrl = self._connect()
        self.ctrl.settimeout(0.2)
        self._buf = b""
        self.events: list[dict[str, Any]] = []

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                return socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
            except OSError:
                if self.proc.poll() is not None:
                    pytest.fail(f"baresip exited: {self.log.read_text()}")
                time.sleep(0.1)
        pytest.fail(f"baresip's ctrl_tcp never listened: {self.log.read_text()}")

    def command(self, command: str, params: str = "") -> None:
        body = json.dumps({"command": command, "params": params, "token": "t"}).encode()
        self.ctrl.sendall(str(len(body)).encode() + b":" + body + b",")

    def _read(self) -> None:
        try:
            self._buf += self.ctrl.recv(65536)
        except TimeoutError:
            return
        while b":" in self._buf:
            length, _, rest = self._buf.partition(b":")
            n = int(length)
            if len(rest) < n + 1:
                return
            self.events.append(json.loads(rest[:n]))
            self._buf = rest[n + 1 :]

    def wait_event(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            self._read()
            for e in self.events[seen:]:
                if e.get("event") and e.get("type") == kind:
                    return e
            seen = len(self.events)
        raise AssertionError(f"baresip: no {kind} within {timeout} s; saw {self.events}")

    def decoded(self) -> int:
        """Audio samples baresip decoded from what it received (its sndfile dumps)."""
        total = 0
        for path in self.dumps.glob("*dec.wav"):
            with wave.open(str(path)) as w:
                total += w.getnframes()
        return total

    def stop(self) -> None:
        self.ctrl.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def baresip(tmp_path: Path) -> Iterator[Baresip]:
    b = Baresip(tmp_path)
    yield b
    b.stop()


@pytest.fixture
def office(tmp_path: Path, baresip: Baresip) -> Iterator[Office]:
    o = Office(tmp_path, baresip.sip_port).start()  # the trunk's far end is baresip
    yield o
    o.stop()


def test_baresip_calls_our_did_and_a_phone_answers(
    office: Office, baresip: Baresip, tmp_path: Path
) -> None:
    capture = Capture(tmp_path)
    a = office.phone(A)
    baresip.command("dial", f"sip:{DID_A}@127.0.0.1:{office.local_port}")
    ring = state(a, S.RING_IN)
    info = a.wait_for(CallInfo, 5, lambda m: m.call_reference == ring.call_reference)
    assert info.calling_party == OUTSIDE and info.called_party == "1001"
    a.send(OffHook(line_instance=1, call_reference=ring.call_reference))
    state(a, S.CONNECTED)
    baresip.wait_event("CALL_ESTABLISHED")
    a.wait_for(StartMediaTransmission, 5)
    a.wait_rtp(lambda p: p.payload_type in (0, 8), 5)  # baresip's sine reaches the phone
    for _ in range(50):
        a.send_rtp(2)
        time.sleep(0.02)
    baresip.command("hangup")
    state(a, S.ON_HOOK)  # its BYE
    baresip.wait_event("CALL_CLOSED")
    office.wait(lambda: baresip.decoded() > 0, 5, "the phone's audio decoded by baresip")
    capture.stop()
    assert [ln.split(" ", 2)[1] for ln in capture.sip_sent(office.local_port)][:3] == [
        "100",
        "180",
        "200",
    ]
    office.wait(lambda: office.calls() == [], what="the call gone")
    office.clean()


def test_a_phone_calls_baresip_through_the_trunk(
    office: Office, baresip: Baresip, tmp_path: Path
) -> None:
    capture = Capture(tmp_path)
    a = office.phone(A)
    a.send(OffHook(line_instance=1, call_reference=0))
    ref = state(a, S.OFF_HOOK).call_reference
    dial(a, "0123456789", ref)
    answered = baresip.wait_event("CALL_ESTABLISHED")  # it answers at once
    assert answered["direction"] == "incoming"
    assert answered["peeruri"] == f"sip:{DID_A}@127.0.0.1"  # 1001's external number
    assert answered["peerdisplayname"] == "Alice"
    state(a, S.CONNECTED)
    a.wait_for(StartMediaTransmission, 5)
    a.wait_rtp(lambda p: p.payload_type in (0, 8), 5)  # its sine, at the phone
    for _ in range(50):
        a.send_rtp(2)
        time.sleep(0.02)
    a.send(OnHook(line_instance=1, call_reference=ref))
    state(a, S.ON_HOOK)
    baresip.wait_event("CALL_CLOSED")  # our BYE
    office.wait(lambda: baresip.decoded() > 0, 5, "the phone's audio decoded by baresip")
    capture.stop()
    methods = [ln.split(" ")[0] for ln in capture.sip_sent(office.local_port)]
    assert methods[0] == "INVITE" and "BYE" in methods, methods
    office.clean()
