"""An SCCP fuzzer (stdlib + skinnyctl's codec) against ``python -m skinnyctl serve``, while two
phones talk and a third sends keepalives.

    python -m tests.fuzz --frames 1000000 --seconds 600     # a long campaign
    tests/test_fuzz.py runs it in CI: >= 100,000 frames, bounded time

Connections: *registered* fuzzers register as one of the site's fuzz devices, then send
mutated frames (they read what comes back, so output limits do not end them early);
*unregistered* ones send mutated frames straight away (mutated Registers among them); *churn*
connects, maybe sends a piece of a frame, and hangs up. Every kind reconnects when closed.

Mutations of valid station -> CM frames (every message the protocol lets a phone send, with
plausible field values): bit flips and random bytes in the body, a wrong length field
(smaller, larger, beyond the frame limit), a truncated body followed by the next frame, a random
or unknown message id, extreme integers (0, 0xFFFFFFFF, 65535) over the body's words, a random
header version, an empty or oversized body.

Verdict (``Result``): the server is alive, no thread died ("Exception in thread"), the live
call lost no RTP and every keepalive was acknowledged. Tracebacks and ERROR lines of the log
are counted and printed (they point at a bug even when the server survives); ``unexplained``
are those not due to a known open defect (``KNOWN``).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import selectors
import socket
import struct
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from skinnyctl.sccp import (
    Alarm,
    EnblocCall,
    KeypadButton,
    OffHook,
    OnHook,
    OpenReceiveChannelAck,
    Register,
    SoftKeyEvent,
    Stimulus,
    encode,
)
from skinnyctl.sccp.framing import MAX_MESSAGE_LENGTH
from skinnyctl.sccp.messages import MESSAGES, Direction

from .hostile import FUZZ_MACS, KeepAliveProbe, LiveCall, Served, write_site

_HEADER = struct.Struct("<III")
# ERROR lines of open defects, filed elsewhere; remove an entry when its fix lands.
KNOWN: dict[str, str] = {}  # none open today (the relay port leak, issue 14.1, is fixed)


def corpus() -> list[bytes]:
    """Valid frames of every station -> CM message, with defaults and plausible values."""
    frames = []
    for cls in MESSAGES.values():
        if cls.DIRECTION is Direction.TO_CM:
            for version in (0, 11, 17):
                frames.append(encode(cls(), version))
    for line in (0, 1, 2, 255):
        frames += [
            encode(OffHook(line_instance=line, call_reference=0), 11),
            encode(OnHook(line_instance=line, call_reference=1), 11),
            encode(Stimulus(stimulus=9, stimulus_instance=line), 11),
            encode(SoftKeyEvent(soft_key_event=line % 20 + 1, line_instance=line), 11),
        ]
    for digit in range(16):
        frames.append(encode(KeypadButton(kp_button=digit, line_instance=1), 11))
    frames += [
        encode(EnblocCall(called_party="72003"), 11),
        encode(Alarm(alarm_severity=2, text="Name=SEP Load=x Last=Reset"), 0),
        encode(OpenReceiveChannelAck(ip_addr="127.0.0.1", port_number=65535), 11),
        encode(OpenReceiveChannelAck(ip_addr="0.0.0.0", port_number=0), 11),
    ]
    return frames


class Mutator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.frames = corpus()
        self.ids = sorted(MESSAGES)

    def frame(self, break_stream: float = 0.2) -> bytes:
        """One mutated frame; ``break_stream``: how often a mutation that desynchronises or
        ends the stream (a wrong length, a truncation) is chosen."""
        r = self.rng
        f = bytearray(r.choice(self.frames))
        op = r.randrange(2, 4) if r.random() < break_stream else r.choice((0, 1, 4, 5, 6, 7, 8, 9))
        if op == 0:  # bit flips in the body
            for _ in range(r.randint(1, 8)):
                if len(f) > 12:
                    i = r.randrange(12, len(f))
                    f[i] ^= 1 << r.randrange(8)
        elif op == 1:  # random bytes over the body
            for i in range(12, len(f)):
                if r.random() < 0.3:
                    f[i] = r.randrange(256)
        elif op == 2:  # a wrong length field
            length = r.choice([0, 1, 3, 4, len(f) - 9, len(f) + 40, MAX_MESSAGE_LENGTH + 1])
            struct.pack_into("<I", f, 0, max(0, length) & 0xFFFFFFFF)
            if r.random() < 0.5:
                f = f[:8] + f[8:]  # as is: the stream is now out of step (or closed)
        elif op == 3:  # truncated: the next frame completes it (out of step)
            f = f[: r.randrange(1, len(f))]
        elif op == 4:  # a known id with another message's body
            struct.pack_into("<I", f, 8, r.choice(self.ids))
        elif op == 5:  # an unknown id
            struct.pack_into("<I", f, 8, r.choice([0x11, 0x1FF, 0x7FFF, 0x8000, 0xFFFFFFFF]))
        elif op == 6:  # extreme integers over the body's words
            for i in range(12, len(f) - 3, 4):
                if r.random() < 0.5:
                    struct.pack_into("<I", f, i, r.choice([0, 0xFFFFFFFF, 65535, 0x80000000]))
        elif op == 7:  # a random header version
            struct.pack_into("<I", f, 4, r.choice([1, 3, 11, 17, 20, 21, 255, 0xFFFFFFFF]))
        elif op == 8:  # an empty or a big body under a real id
            body = b"" if r.random() < 0.5 else r.randbytes(r.randrange(4, 4000))
            f = bytearray(_HEADER.pack(4 + len(body), 0, r.choice(self.ids)) + body)
        # op 9: the valid frame itself
        return bytes(f)


@dataclass
class _Conn:
    kind: str  # "registered", "unregistered", "churn"
    mac: str = ""
    sock: socket.socket | None = None
    out: bytes = b""
    ready: bool = False  # registered: the server answered the Register


@dataclass
class Result:
    frames: int = 0  # sent by the fuzzer
    messages: int = 0  # decoded by the server (its own count, logged when it stops)
    connections: int = 0
    seconds: float = 0.0
    alive: bool = False
    thread_died: int = 0
    tracebacks: int = 0
    error_lines: int = 0
    unexplained: list[str] = field(default_factory=list)  # ERROR lines not in KNOWN
    rtp_packets: int = 0
    rtp_lost: int = 0
    keepalives: int = 0
    keepalives_missed: int = 0
    keepalive_p99_ms: float = 0.0
    rss_peak_mb: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.alive
            and not self.thread_died
            and self.rtp_lost == 0
            and self.keepalives_missed == 0
            and self.keepalives > 0
            and not self.unexplained
        )

    def __str__(self) -> str:
        return (
            f"{self.frames} frames sent on {self.connections} connections in {self.seconds:.1f} s, "
            f"{self.messages} messages decoded by the server; "
            f"server {'alive' if self.alive else 'DEAD'}, {self.thread_died} thread(s) died, "
            f"{self.tracebacks} traceback(s), {self.error_lines} ERROR line(s) "
            f"({len(self.unexplained)} unexplained); live call "
            f"{self.rtp_packets} RTP packets, {self.rtp_lost} lost; {self.keepalives} keepalives "
            f"acked (p99 {self.keepalive_p99_ms:.1f} ms), {self.keepalives_missed} missed; "
            f"RSS peak {self.rss_peak_mb:.0f} MB"
        )


class Fuzzer:
    def __init__(
        self,
        port: int,
        seed: int = 1,
        registered: int = 12,
        unregistered: int = 4,
        churn: int = 2,
        rate: float = 20_000.0,
    ) -> None:
        self.port = port
        self.rate = rate  # frames a second at most, all connections together
        self.rng = random.Random(seed)
        self.mutator = Mutator(self.rng)
        macs = FUZZ_MACS[:registered]
        self.conns = (
            [_Conn("registered", m) for m in macs]
            + [_Conn("unregistered") for _ in range(unregistered)]
            + [_Conn("churn") for _ in range(churn)]
        )
        self.frames = 0
        self.connections = 0
        self._sel = selectors.DefaultSelector()

    def run(self, frames: int, seconds: float) -> None:
        """Until ``frames`` frames are sent or ``seconds`` have passed."""
        for conn in self.conns:
            self._connect(conn)
        t0 = time.monotonic()
        deadline = t0 + seconds
        try:
            while self.frames < frames and (now := time.monotonic()) < deadline:
                if self.frames > (now - t0) * self.rate:
                    time.sleep(0.005)  # ahead of the rate
                    continue
                for key, mask in self._sel.select(0.05):
                    c: _Conn = key.data
                    if c.sock is None:
                        continue
                    if mask & selectors.EVENT_READ:
                        self._read(c)
                    if c.sock is not None and mask & selectors.EVENT_WRITE:
                        self._write(c)
                        if self.frames > (now - t0) * self.rate:
                            break
        finally:
            for c in self.conns:
                self._drop(c)
            self._sel.close()

    def _connect(self, c: _Conn) -> None:
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", self.port))
        c.sock = s
        self.connections += 1
        c.out, c.ready = b"", c.kind != "registered"
        if c.kind == "registered":
            c.out = encode(
                Register(device_name=f"SEP{c.mac}", device_type=30018, protocol_version=17)
            )
        self._sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)

    def _drop(self, c: _Conn) -> None:
        if c.sock is None:
            return
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._sel.unregister(c.sock)
        with contextlib.suppress(OSError):
            c.sock.close()
        c.sock = None

    def _again(self, c: _Conn) -> None:
        self._drop(c)
        self._connect(c)

    def _read(self, c: _Conn) -> None:
        assert c.sock is not None
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._again(c)
        else:
            c.ready = True  # RegisterAck (or anything): the server has the Register

    def _write(self, c: _Conn) -> None:
        assert c.sock is not None
        if not c.out:
            if c.kind == "churn":
                if self.rng.random() < 0.5:
                    with contextlib.suppress(OSError):
                        c.sock.send(self.mutator.frame()[: self.rng.randrange(1, 12)])
                    self.frames += 1
                self._again(c)
                return
            if not c.ready:
                return  # like a phone, wait for the RegisterAck
            breaks = 0.01 if c.kind == "registered" else 0.2  # registered: longer sessions
            burst = [self.mutator.frame(breaks) for _ in range(self.rng.randint(1, 16))]
            self.frames += len(burst)
            c.out = b"".join(burst)
        try:
            n = c.sock.send(c.out)
        except BlockingIOError:
            return
        except OSError:
            self._again(c)
            return
        c.out = c.out[n:]


def campaign(
    directory: Path,
    frames: int = 100_000,
    seconds: float = 120.0,
    seed: int = 1,
    rate: float = 20_000.0,
) -> Result:
    """Serve a fresh site in ``directory``, set up the call and the keepalive phone, fuzz."""
    site, port = write_site(directory)
    result = Result()
    with Served(site, port, directory / "serve.log") as served:
        call = LiveCall.start(port)
        probe = KeepAliveProbe(port, interval=0.2)
        fuzzer = Fuzzer(port, seed, rate=rate)
        peak = [0.0]
        watching = threading.Event()

        def watch() -> None:
            while not watching.wait(0.5):
                with contextlib.suppress(OSError, KeyError):
                    peak[0] = max(peak[0], served.rss_mb()[1])

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        t0 = time.monotonic()
        fuzzer.run(frames, seconds)
        result.seconds = time.monotonic() - t0
        watching.set()
        watcher.join()
        call.stop()
        probe.stop()
        result.alive = served.alive()
        result.frames, result.connections = fuzzer.frames, fuzzer.connections
        result.rtp_packets, result.rtp_lost = call.packets, call.lost
        result.keepalives, result.keepalives_missed = len(probe.latencies), probe.missed
        result.keepalive_p99_ms = probe.p99_ms()
        result.rss_peak_mb = peak[0]
        call.hang_up()
    log = served.log()
    found = re.search(r"SCCP: \d+ connections accepted, (\d+) messages received", log)
    result.messages = int(found.group(1)) if found else 0
    result.thread_died = log.count("Exception in thread")
    result.tracebacks = log.count("Traceback (most recent call last)")
    errors = [line for line in log.splitlines() if " ERROR " in line]
    result.error_lines = len(errors)
    result.unexplained = [e for e in errors if not any(k in e for k in KNOWN)]
    known = {why: sum(k in e for e in errors) for k, why in KNOWN.items()}
    result.notes = [f"{n} ERROR lines: {why}" for why, n in known.items() if n]
    result.notes += result.unexplained[:20]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=20_000.0, help="frames a second at most")
    ap.add_argument("--keep", metavar="DIR", help="keep the site and serve.log here")
    args = ap.parse_args()
    if args.keep:
        directory = Path(args.keep)
        directory.mkdir(parents=True, exist_ok=True)
        result = campaign(directory, args.frames, args.seconds, args.seed, args.rate)
    else:
        with tempfile.TemporaryDirectory(prefix="skinnyctl-fuzz-") as tmp:
            result = campaign(Path(tmp), args.frames, args.seconds, args.seed, args.rate)
    print(result)
    for line in result.notes:
        print("  " + line)
    raise SystemExit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
