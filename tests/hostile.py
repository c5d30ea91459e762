"""A live call, a keepalive phone and hostile neighbours against ``python -m skinnyctl serve``
(stdlib + skinnyctl's own codec; used by tests/test_resilience.py, tests/fuzz.py and
bench/resilience.py).

    site, port = write_site(tmp)
    with Served(site, port, tmp / "serve.log", nofile=1024) as served:
        call = LiveCall.start(port)                      # A calls B, RTP both ways at 50 pps
        probe = KeepAliveProbe(port, interval=0.2)       # C sends KeepAlive, times each ack
        with Hostiles(port, {"flooder": 300, "idle": 100}):
            time.sleep(5)
        call.stop(); probe.stop()
        call.lost, probe.latencies, served.cpu_seconds(), served.rss_mb()

Hostile kinds: ``idle`` (connects, says nothing), ``half_open`` (half a frame header, then
nothing), ``flooder`` (KeepAlive frames as fast as the socket takes them, never reads),
``register_spam`` (Register with a random unknown MAC, again after each close), ``garbage``
(random bytes). Every kind connects again when the server closes it.
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from skinnyctl.phone import SimPhone
from skinnyctl.sccp import (
    CallState,
    CallStateValue,
    KeepAlive,
    KeepAliveAck,
    KeypadButton,
    OffHook,
    OnHook,
    Register,
    encode,
)
from tests.test_register import free_port

REPO = Path(__file__).resolve().parent.parent
A, B, C = "001120AA0001", "001120AA0002", "001120AA0003"
NUMBERS = {A: "71001", B: "71002", C: "71003"}
FUZZ_MACS = [f"001120AB{i:04X}" for i in range(16)]  # registered fuzzers (tests/fuzz.py)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def write_site(directory: Path, keepalive: int = 30, server_extra: str = "") -> tuple[Path, int]:
    """Three phones (A, B: the call; C: keepalives) and the fuzzers' devices; five-digit
    numbers from 71000 routed at the last digit. Returns (site.toml, SCCP port)."""
    port = free_port()
    rtp_min = 42000 + (os.getpid() % 200) * 40
    out = [
        "[server]",
        'addresses = ["127.0.0.1"]',
        'listen = "127.0.0.1"',
        f"sccp_port = {port}",
        'tftp_root = "tftp"',
        f"tftp_port = {free_port(socket.SOCK_DGRAM)}",
        f"keepalive = {keepalive}",
        f"rtp_port_min = {rtp_min}",
        f"rtp_port_max = {rtp_min + 39}",
        server_extra,
        "",
        "[[dialplan]]",
        'pattern = "^71[0-9]{3}$"',
        'action = "process"',
        "",
    ]
    devices = [(A, "7960"), (B, "7961"), (C, "7960")] + [(m, "7961") for m in FUZZ_MACS]
    for i, (mac, model) in enumerate(devices):
        number = NUMBERS.get(mac, str(72000 + i))
        out += ["[[lines]]", f'number = "{number}"', f'display_name = "Phone {i}"', ""]
        out += [
            "[[devices]]",
            f'mac = "{mac}"',
            f'model = "{model}"',
            "[[devices.buttons]]",
            'type = "line"',
            f'line = "{number}"',
            "",
        ]
    (directory / "tftp").mkdir(exist_ok=True)
    path = directory / "site.toml"
    path.write_text("\n".join(out))
    return path, port


# --- the server under test ------------------------------------------------------------------


class Served:
    """``python -m skinnyctl serve SITE`` in a subprocess, its log in a file (a pipe nobody
    reads would block a server that logs a lot, and hide a busy loop), optionally under a
    lowered RLIMIT_NOFILE (soft, hard)."""

    def __init__(
        self,
        site: Path,
        port: int,
        log: Path,
        nofile: tuple[int, int] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.site, self.port, self.log_path = site, port, log
        self.nofile = nofile
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Served:
        nofile = self.nofile

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, nofile)

        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "skinnyctl", "serve", str(self.site)],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.site.parent,
                preexec_fn=limit,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("serve did not start listening")

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MB."""
        vals = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                vals[key] = int(value.split()[0]) / 1024
        return vals["VmRSS"], vals["VmHWM"]

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


# --- well-behaved phones --------------------------------------------------------------------


def registered(port: int, mac: str, model: str = "7960") -> SimPhone:
    phone = SimPhone("127.0.0.1", port, mac, model).connect()
    phone.register(timeout=10, keepalive=False)
    return phone


class LiveCall:
    """A calls B, B answers; both send RTP (20 ms of G.711 per packet) every ``ptime`` and
    count what arrives from the other. ``lost`` = packets sent minus packets received, both
    directions, after ``stop`` (which waits for stragglers)."""

    def __init__(self, a: SimPhone, b: SimPhone, ptime: float = 0.02) -> None:
        self.a, self.b, self.ptime = a, b, ptime
        self.sent = {a.name: 0, b.name: 0}
        self._base = {a.name: 0, b.name: 0}  # RTP sequence numbers when the count starts
        self._refs = (0, 0)  # the call references of A and B
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._stream, name="live-call", daemon=True)

    @classmethod
    def start(cls, port: int) -> LiveCall:
        a, b = registered(port, A, "7960"), registered(port, B, "7961")
        a.send(OffHook(line_instance=1, call_reference=0))
        ref = _state(a, CallStateValue.OFF_HOOK).call_reference
        for d in NUMBERS[B]:
            a.send(KeypadButton(kp_button=int(d), line_instance=1, call_reference=ref))
        rb = _state(b, CallStateValue.RING_IN).call_reference
        b.send(OffHook(line_instance=1, call_reference=rb))
        _state(a, CallStateValue.CONNECTED)
        _state(b, CallStateValue.CONNECTED)
        if not a.media_flows_with(b):
            raise AssertionError("no RTP both ways through the relay")
        call = cls(a, b)
        call._refs = (ref, rb)
        call._base = {p.name: p._rtp_seq for p in (a, b)}  # count what is sent from here on
        call._thread.start()
        return call

    def _stream(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            for p in (self.a, self.b):
                if p.send_rtp(1):
                    self.sent[p.name] += 1
            next_at += self.ptime
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _received(self, p: SimPhone) -> int:
        """Distinct packets ``p`` got of those the other sent since the start."""
        other = self.b if p is self.a else self.a
        base, sent = self._base[other.name], self.sent[other.name]
        with p._cond:
            seqs = {pkt.seq for pkt in p.rtp_in if pkt.ssrc == other.rtp_ssrc}
        return sum(1 for q in seqs if 0 < (q - base) & 0xFFFF <= sent)

    def received(self) -> dict[str, int]:
        return {p.name: self._received(p) for p in (self.a, self.b)}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        time.sleep(0.3)  # the last packets through the relay

    @property
    def lost(self) -> int:
        got = self.received()
        return (self.sent[self.a.name] - got[self.b.name]) + (
            self.sent[self.b.name] - got[self.a.name]
        )

    @property
    def packets(self) -> int:
        return sum(self.sent.values())

    def hang_up(self) -> None:
        with contextlib.suppress(OSError):
            self.a.send(OnHook(line_instance=1, call_reference=self._refs[0]))
        for p in (self.a, self.b):
            p.close()


def _state(p: SimPhone, value: int, timeout: float = 10.0) -> CallState:
    return p.wait_for(CallState, timeout, lambda m: m.call_state == value)


class KeepAliveProbe:
    """A registered phone sending KeepAlive every ``interval`` s; ``latencies`` of the acks
    (s), ``missed`` = keepalives not acked within ``patience`` s."""

    def __init__(self, port: int, interval: float = 0.2, patience: float = 5.0) -> None:
        self.phone = registered(port, C, "7960")
        self.interval, self.patience = interval, patience
        self.latencies: list[float] = []
        self.missed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keepalive-probe", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            t0 = time.monotonic()
            try:
                self.phone.send(KeepAlive())
                self.phone.wait_for(KeepAliveAck, self.patience)
            except (TimeoutError, OSError, ConnectionError):
                self.missed += 1
                if self.phone.closed.is_set():
                    return
                continue
            self.latencies.append(time.monotonic() - t0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.patience + 1)
        self.phone.close()

    def p99_ms(self) -> float:
        return 1000 * pct(self.latencies, 0.99)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(q * len(v) + 0.999999) - 1))]


# --- hostile neighbours ---------------------------------------------------------------------

KINDS = ("idle", "half_open", "flooder", "register_spam", "garbage")
_FLOOD = encode(KeepAlive()) * 512


class _Hostile:
    __slots__ = ("kind", "sent", "sock")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.sock: socket.socket | None = None
        self.sent = 0


class Hostiles:
    """``counts`` = {kind: connections}, kept up from one selectors thread until closed.
    ``connects`` and ``closed_by_server`` count the churn; ``bytes_sent`` what went out."""

    def __init__(self, port: int, counts: dict[str, int], seed: int = 21) -> None:
        unknown = set(counts) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown hostile kinds {unknown}; kinds: {KINDS}")
        self.port = port
        self.rng = random.Random(seed)
        self.conns = [_Hostile(k) for k, n in counts.items() for _ in range(n)]
        self.connects = 0
        self.closed_by_server = 0
        self.connect_failures = 0
        self.bytes_sent = 0
        self._sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hostiles", daemon=True)

    def __enter__(self) -> Hostiles:
        for h in self.conns:
            self._connect(h)
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for h in self.conns:
            self._drop(h)
        self._sel.close()

    def _connect(self, h: _Hostile) -> None:
        s = socket.socket()
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader that never reads
        try:
            s.connect(("127.0.0.1", self.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            self.connect_failures += 1
            return
        h.sock, h.sent = s, 0
        self.connects += 1
        # a flooder never reads (it notices the close when a send fails); idle only reads
        events = {"flooder": selectors.EVENT_WRITE, "idle": selectors.EVENT_READ}.get(
            h.kind, selectors.EVENT_READ | selectors.EVENT_WRITE
        )
        self._sel.register(s, events, h)

    def _drop(self, h: _Hostile) -> None:
        if h.sock is None:
            return
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._sel.unregister(h.sock)
        with contextlib.suppress(OSError):
            h.sock.close()
        h.sock = None

    def _payload(self, h: _Hostile) -> bytes | None:
        """What ``h`` sends now; None: nothing more (stop watching for writability)."""
        if h.kind == "flooder":
            return _FLOOD
        if h.kind == "half_open":
            return struct.pack("<I", 64)[:2] if h.sent == 0 else None
        if h.kind == "register_spam":
            if h.sent:
                return None
            mac = f"00AA{self.rng.getrandbits(32):08X}"
            return encode(Register(device_name=f"SEP{mac}", device_type=7, protocol_version=11))
        if h.kind == "garbage":
            return self.rng.randbytes(512)
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, mask in self._sel.select(0.1):
                h: _Hostile = key.data
                if h.sock is None:
                    continue
                if mask & selectors.EVENT_READ and h.kind != "flooder" and self._closed(h):
                    self._drop(h)
                    self.closed_by_server += 1
                    if not self._stop.is_set():
                        self._connect(h)
                    continue
                if mask & selectors.EVENT_WRITE:
                    data = self._payload(h)
                    if data is None:
                        self._sel.modify(h.sock, selectors.EVENT_READ, h)
                        continue
                    try:
                        n = h.sock.send(data)
                    except BlockingIOError:
                        continue
                    except OSError:
                        self._drop(h)
                        self.closed_by_server += 1
                        if not self._stop.is_set():
                            self._connect(h)
                        continue
                    h.sent += n
                    self.bytes_sent += n

    @staticmethod
    def _closed(h: _Hostile) -> bool:
        """The server closed ``h`` (EOF or reset). Whatever it sent stays unread (peek)."""
        assert h.sock is not None
        try:
            data = h.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except OSError:
            return True
        if data:  # a RegisterReject: read it to see the close behind it
            try:
                h.sock.recv(65536)
            except BlockingIOError:
                return False
            except OSError:
                return True
            return False
        return True

    def open_count(self) -> int:
        return sum(1 for h in self.conns if h.sock is not None)


@contextlib.contextmanager
def nofile(limit: int) -> Iterator[int]:
    """This process's soft RLIMIT_NOFILE at least ``limit`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, limit), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    try:
        yield want
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
