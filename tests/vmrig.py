"""Voicemail over TCP: serve's own Service (SCCP + media engine + call records + the voicemail
store and notifier, as ``skinnyctl serve`` wires them) with a controlled clock, simulated phones
sending and receiving RTP through the engine, and helpers for what the tests listen for.

Site: 1001 (phone A, box 1001), 1002 (phones B and B2: one line on two devices, box 1002),
1003 (phone C, no box); voicemail number 8000; PIN 1234 for box 1001, 4321 for box 1002.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from skinnyctl.apps.voicemail.pins import hash_pin
from skinnyctl.calls import FakeClock
from skinnyctl.media import g711
from skinnyctl.phone import SimPhone
from skinnyctl.phone.sim import RtpPacket
from skinnyctl.runtime.service import Service
from skinnyctl.sccp import (
    CallState,
    KeypadButton,
    LampMode,
    OffHook,
    OnHook,
    SetLamp,
    Stimulus,
    StimulusType,
)
from skinnyctl.sccp import CallStateValue as S
from skinnyctl.site import load_site
from tests.test_register import free_port

A, B, B2, C = "001120DD0001", "001120DD0002", "001120DD0012", "001120DD0003"
PINS = {"1001": "1234", "1002": "4321"}
VOICEMAIL = "8000"

SITE = """
[server]
listen = "127.0.0.1"
sccp_port = {sccp}
tftp_port = {tftp}
tftp_root = "tftp"
rtp_port_min = {rtp_min}
rtp_port_max = {rtp_max}
voicemail = "{voicemail}"
control_socket = "{control}"
time_zone = "UTC"
{server_extra}

[[lines]]
number = "1001"
display_name = "Alice"
voicemail_box = "1001"
[[lines]]
number = "1002"
display_name = "Bob"
voicemail_box = "1002"
{line1002}
[[lines]]
number = "1003"
display_name = "Carol"

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

[[devices]]
mac = "{b2}"
model = "7961"
[[devices.buttons]]
type = "line"
line = "1002"

[[devices]]
mac = "{c}"
model = "7960"
[[devices.buttons]]
type = "line"
line = "1003"

[[dialplan]]
pattern = "^(1[0-9]{{3}}|8000|\\\\*1[0-9]{{3}})$"
action = "process"

[voicemail]
pin_file = "pins.toml"
silence_seconds = 3
{vm_extra}
[voicemail.boxes."1001"]
pin = "{pin1001}"
{box1001}
[voicemail.boxes."1002"]
pin = "{pin1002}"
"""


def site_text(
    directory: Path,
    *,
    server_extra: str = "",
    vm_extra: str = "",
    box1001: str = "",
    line1002: str = "",
    sccp: int | None = None,
    tftp: int | None = None,
) -> str:
    rtp_min = 20000 + (os.getpid() % 200) * 64
    return SITE.format(
        sccp=sccp or free_port(),
        tftp=tftp or free_port(socket.SOCK_DGRAM),
        rtp_min=rtp_min,
        rtp_max=rtp_min + 63,
        voicemail=VOICEMAIL,
        control=directory / "ctl.sock",
        server_extra=server_extra,
        vm_extra=vm_extra,
        box1001=box1001,
        line1002=line1002,
        a=A,
        b=B,
        b2=B2,
        c=C,
        pin1001=hash_pin(PINS["1001"], salt=bytes(16)),
        pin1002=hash_pin(PINS["1002"], salt=bytes(16)),
    )


class Listens:
    """What the media engine plays to a phone and whether it records it, from the engine's
    statistics per leg (``stats``: in process, or through the control API's ``calls``)."""

    def stats(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def playing(self, p: SimPhone) -> tuple[int, list[str]] | None:
        """What the engine plays to phone ``p`` now: the play's id and the names of what it
        plays (prompts by name, "silence", "tone"...), from the engine's statistics."""
        me = f"127.0.0.1:{p.rtp_listen_port}"
        for leg in self.stats():
            play = leg.get("play")
            if leg.get("remote") != me or not play:
                continue
            names: list[str] = []
            for part in str(play["source"]).split(","):
                kind, _, what = part.partition(":")
                names += [Path(f).stem for f in what.split("+")] if kind == "prompt" else [kind]
            return int(play["id"]), names
        return None

    def wait_play(
        self, p: SimPhone, name: str, after: int | None = None, timeout: float = 10.0
    ) -> int:
        """Until ``p`` hears a play (another than ``after``) with ``name`` in it (a prompt's
        name, or a message's file name without .wav); its id."""
        deadline = time.monotonic() + timeout
        seen: list[list[str]] = []
        while time.monotonic() < deadline:
            now = self.playing(p)
            if now is not None and now[0] != after:
                if name in now[1]:
                    return now[0]
                if now[1] not in seen:
                    seen.append(now[1])
            time.sleep(0.005)
        raise AssertionError(f"{p.name} never heard {name}; heard {seen}")

    def wait_quiet(self, p: SimPhone, timeout: float = 20.0) -> None:
        """Until nothing plays to ``p`` (a prompt ended on its own)."""
        deadline = time.monotonic() + timeout
        while self.playing(p) is not None:
            assert time.monotonic() < deadline, f"{p.name} still hears {self.playing(p)}"
            time.sleep(0.01)

    def wait_recording(self, p: SimPhone, timeout: float = 20.0) -> None:
        """Until the engine records what ``p`` sends."""
        me = f"127.0.0.1:{p.rtp_listen_port}"
        deadline = time.monotonic() + timeout
        while not any(leg.get("remote") == me and leg.get("record") for leg in self.stats()):
            assert time.monotonic() < deadline, f"nothing records {p.name}; {self.playing(p)}"
            time.sleep(0.01)


class VmRig(Listens):
    """serve's Service on a short temporary directory (the control socket's path must be
    short), a fake clock for the menus' timers, simulated phones."""

    def __init__(self, tmp: Path | None = None, control: bool = False, **site: Any) -> None:
        self.dir = tmp or Path(tempfile.mkdtemp(prefix="vm-", dir="/tmp"))
        (self.dir / "tftp").mkdir(exist_ok=True)
        (self.dir / "site.toml").write_text(site_text(self.dir, **site))
        self.site = load_site(self.dir / "site.toml")
        self.clock = FakeClock()
        self.service = Service(self.site, self.clock)
        self.control = control
        self.phones: list[SimPhone] = []

    def start(self) -> VmRig:
        self.service.start(control=self.control)
        return self

    def stop(self) -> None:
        for p in self.phones:
            p.close()
        self.service.stop()

    @property
    def store(self) -> Any:
        assert self.service.voicemail is not None
        return self.service.voicemail.store

    def phone(self, mac: str, model: str = "7960") -> SimPhone:
        p = SimPhone("127.0.0.1", self.service.sccp.port, mac, model).connect()
        self.phones.append(p)
        p.register(keepalive=False)
        return p

    def settle(self) -> None:
        self.service.sccp.call(lambda core: None)

    def stats(self) -> list[dict[str, Any]]:
        relay = self.service.relay
        assert relay is not None
        return relay.stats()

    def advance(self, seconds: float) -> None:
        """The fake clock moves on; the core looks at its timers."""
        self.clock.advance(seconds)
        self.service.sccp.poke()
        self.settle()

    def messages(self, box: str) -> list[Any]:
        return list(self.store.messages(box))

    def until(self, cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.settle()
            if cond():
                return
            time.sleep(0.02)
        raise AssertionError(f"never: {what}")


# --- phones -------------------------------------------------------------------------------------


def state(p: SimPhone, value: int, timeout: float = 5.0) -> CallState:
    return p.wait_for(CallState, timeout, lambda m: m.call_state == value)


def keys(p: SimPhone, digits: str, ref: int, line: int = 1) -> None:
    for d in digits:
        btn = {"*": 14, "#": 15}.get(d, int(d) if d.isdigit() else 0)
        p.send(KeypadButton(kp_button=btn, line_instance=line, call_reference=ref))


def call(p: SimPhone, number: str) -> int:
    """Off-hook and dial ``number``: the call reference."""
    p.send(OffHook(line_instance=1, call_reference=0))
    ref = state(p, S.OFF_HOOK).call_reference
    keys(p, number, ref)
    return ref


def messages_key(p: SimPhone) -> int:
    """The Messages key (fixed feature key): the call reference of the voicemail call."""
    p.send(Stimulus(stimulus=StimulusType.MESSAGES, stimulus_instance=0))
    return state(p, S.CONNECTED).call_reference


def hang_up(p: SimPhone, ref: int) -> None:
    p.send(OnHook(line_instance=1, call_reference=ref))


def start_message(srv: Listens, p: SimPhone, box: str) -> int:
    """``p`` dials deposit_prefix + ``box`` and skips the greeting with #: the recording runs.
    The call reference."""
    ref = call(p, "*" + box)
    state(p, S.CONNECTED)
    wait_media(p)
    srv.wait_play(p, "please_leave_message")
    keys(p, "#", ref)
    srv.wait_recording(p)
    return ref


def own_box(srv: Listens, p: SimPhone, pin: str) -> tuple[int, int]:
    """The Messages key on a phone carrying the box's line, then its PIN: (the call
    reference, the main menu's play id)."""
    ref = messages_key(p)
    srv.wait_play(p, "enter_pin")
    keys(p, pin + "#", ref)
    return ref, srv.wait_play(p, "main_menu")


def wait_media(p: SimPhone, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while p.media_to is None:
        assert time.monotonic() < deadline, f"{p.name}: no StartMediaTransmission"
        time.sleep(0.02)


def lamp(p: SimPhone, on: bool, since: int = 0, timeout: float = 5.0) -> None:
    """The handset MWI lamp (SetLamp VOICEMAIL, instance 0) was last set ``on``/off."""
    want = LampMode.ON if on else LampMode.OFF
    deadline = time.monotonic() + timeout
    while True:
        lamps = [
            m
            for m in p.received[since:]
            if isinstance(m, SetLamp)
            and m.stimulus == StimulusType.VOICEMAIL
            and m.stimulus_instance == 0
        ]
        if lamps and lamps[-1].lamp_mode == want:
            return
        if time.monotonic() > deadline:
            got = [int(m.lamp_mode) for m in lamps]
            raise AssertionError(f"{p.name}: MWI lamp never {'on' if on else 'off'}: {got}")
        time.sleep(0.02)


class Talker:
    """Paced RTP from a phone: ``pcm`` (8 kHz int16) as µ-law, 20 ms a packet, in a thread."""

    def __init__(self, p: SimPhone, pcm: np.ndarray) -> None:
        self.p = p
        self.frames = [g711.encode(pcm[i : i + 160], "ulaw") for i in range(0, len(pcm) - 159, 160)]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Talker:
        self.thread.start()
        return self

    def _run(self) -> None:
        t0 = time.monotonic()
        for i, frame in enumerate(self.frames):
            if self.done.is_set():
                return
            self.p.send_rtp(1, frame)
            delay = t0 + (i + 1) * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self.done.set()

    def wait(self, timeout: float = 30.0) -> None:
        self.thread.join(timeout)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(5)


def tone(freq: float, seconds: float, amp: float = 10000.0) -> np.ndarray:
    t = np.arange(int(seconds * 8000)) / 8000
    return np.round(amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def pcm_of(packets: list[RtpPacket]) -> np.ndarray:
    """The µ-law audio of received packets, in order of arrival."""
    data = b"".join(p.payload for p in packets if p.payload_type == 0)
    return g711.decode(data, "ulaw")


def dominant_hz(pcm: np.ndarray) -> float:
    x = pcm.astype(float)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * 8000 / len(x))


def wav_pcm(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def correlation(heard: np.ndarray, reference: np.ndarray) -> float:
    """The best normalised cross-correlation of ``reference`` within ``heard`` (1 = the same
    audio somewhere in it)."""
    h = heard.astype(float)
    r = reference.astype(float)
    if len(h) < len(r):
        return 0.0
    r = (r - r.mean()) / (np.linalg.norm(r - r.mean()) or 1.0)
    n = len(h) + len(r)
    size = 1 << (n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(h, size) * np.conj(np.fft.rfft(r, size)), size)[
        : len(h) - len(r) + 1
    ]
    # the energy of each window of h, for normalisation
    c = np.concatenate([[0.0], np.cumsum(h * h)])
    c1 = np.concatenate([[0.0], np.cumsum(h)])
    m = len(r)
    energy = (c[m:] - c[:-m]) - (c1[m:] - c1[:-m]) ** 2 / m
    best = xc / np.sqrt(np.maximum(energy, 1e-9))
    return float(best.max())
