"""UDP/RTP relay: port pairs per call leg, forwarding between the two legs of a call.

See the package docstring (`skinnyctl.media`) for the API and the address-learning rule.

Threads: one forwarding thread (epoll over every leg socket) and one music-on-hold pacing thread.
Public methods may be called from any thread; they take `Relay._lock`. The forwarding thread
never takes that lock: it reads per-port attributes that public methods replace atomically
(single attribute stores under the GIL), and a socket closed under its feet only raises OSError,
which it ignores.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import select
import socket
import struct
import threading
import time
from collections import deque
from typing import Any

from .moh import CODECS, SAMPLE_RATE, MusicOnHold

__all__ = ["Leg", "Relay", "RelayError"]

log = logging.getLogger("skinnyctl.media.relay")

_MAX_DROPOUT = 3000  # RFC 3550 A.1: forward jumps up to this are loss, beyond it a restart
_MAX_MISORDER = 100
_UNITS_PER_NS_DIV = 125_000  # ns per 8 kHz RTP clock tick; G.711/G.729/G.722 all use 8 kHz


class RelayError(RuntimeError):
    """A relay failure a user can fix (ports exhausted, bad address); message says what to do."""


class _Port:
    """One UDP socket of a leg (RTP or RTCP) and what arrives on it.

    Hot-path fields are plain attributes; `__slots__` keeps access fast.
    """

    __slots__ = (
        "bytes_in",
        "cycles",
        "dropped_idle",
        "dropped_malformed",
        "dropped_unlearned",
        "expected_prior",
        "fd",
        "jitter",
        "latched",
        "leg",
        "local_port",
        "max_seq",
        "nat",
        "out",
        "packets_at_learn",
        "packets_in",
        "remote",
        "remote_ip",
        "rtp",
        "send_errors",
        "seq_base",
        "sock",
        "started",
        "transit",
        "tx_bytes",
        "tx_packets",
    )

    def __init__(self, sock: socket.socket, leg: Leg, rtp: bool) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.leg = leg
        self.rtp = rtp
        self.local_port: int = sock.getsockname()[1]
        self.remote: tuple[str, int] | None = None  # where this port sends (learned/latched)
        self.remote_ip: str | None = None  # the address the phone announced (or its NAT's)
        self.nat = False  # the call manager saw the phone behind NAT: latch the port too
        self.latched = False
        self.packets_at_learn = 0
        self.out: _Port | None = None  # where packets arriving here are forwarded
        self.packets_in = 0
        self.bytes_in = 0
        self.tx_packets = 0
        self.tx_bytes = 0
        self.dropped_unlearned = 0
        self.dropped_malformed = 0
        self.dropped_idle = 0
        self.send_errors = 0
        self.started = False
        self.seq_base = 0
        self.max_seq = 0
        self.cycles = 0
        self.expected_prior = 0
        self.transit = 0
        self.jitter = 0.0

    def admit(self, src: tuple[str, int]) -> bool:
        """Slow path for a source that is not `remote` (the address packets are sent to).

        * Same IP as announced, another port: a phone (or softphone) sending from one socket
          and receiving on another. Its packets are taken; replies keep going to the announced
          port, unless the call manager saw the phone behind NAT (`nat`): then the first packet
          after `learn` latches the port (the NAT box rewrote it).
        * Another IP: evidence of NAT the call manager could not see. The first packet after
          `learn`, before anything came from the announced IP, latches address and port.
          Later ones are refused: latching on any packet would let a stranger capture a call.
        """
        if self.remote_ip is None:
            return False
        first = not self.latched and self.packets_in == self.packets_at_learn
        if src[0] == self.remote_ip:
            if self.nat and first:
                self._latch(src, "behind NAT, port rewritten")
            return True
        if first:
            self._latch(src, f"NAT: announced {self.remote_ip}")
            return True
        return False

    def _latch(self, src: tuple[str, int], why: str) -> None:
        old = self.remote
        self.remote = src
        self.latched = True
        log.info(
            "relay port %d latched to %s:%d (%s; was sending to %s)",
            self.local_port,
            src[0],
            src[1],
            why,
            f"{old[0]}:{old[1]}" if old else "nowhere",
        )

    def expected(self) -> int:
        if not self.started:
            return 0
        return self.expected_prior + self.cycles + self.max_seq - self.seq_base + 1

    def seq_restart(self, seq: int, transit: int) -> None:
        self.expected_prior = self.expected()
        self.started = True
        self.seq_base = seq
        self.max_seq = seq
        self.cycles = 0
        self.transit = transit


class Leg:
    """One phone's side of a call: an even RTP port and the RTCP port above it.

    Read-only for callers; pass it back to the `Relay` methods.
    """

    __slots__ = ("_closed", "_rtcp", "_rtp", "call_key", "codec", "echo", "held", "id", "partner")

    def __init__(self, leg_id: int, call_key: object) -> None:
        self.id = leg_id
        self.call_key = call_key
        self.partner: Leg | None = None
        self.held = False
        self.echo = False  # packets go back to where they came from (the echo test)
        self.codec: str | None = None
        self._closed = False
        self._rtp: _Port
        self._rtcp: _Port

    @property
    def local_port(self) -> int:
        """The RTP port to name in StartMediaTransmission for this leg's phone."""
        return self._rtp.local_port

    @property
    def local_rtcp_port(self) -> int:
        return self._rtcp.local_port

    @property
    def remote(self) -> tuple[str, int] | None:
        """The phone's RTP address the relay sends to (learned, possibly NAT-latched)."""
        return self._rtp.remote

    def __repr__(self) -> str:
        return f"Leg(id={self.id}, call={self.call_key!r}, port={self._rtp.local_port})"


class _MohStream:
    __slots__ = (
        "due",
        "frames",
        "index",
        "leg",
        "marker",
        "packet",
        "port",
        "pt",
        "ptime_s",
        "sent",
        "seq",
        "ssrc",
        "ts",
        "ts_step",
    )

    def __init__(self, leg: Leg, frames: tuple[bytes, ...], pt: int, ptime_ms: int) -> None:
        rnd = random.SystemRandom()
        self.leg = leg
        self.port = leg._rtp
        self.frames = frames
        self.index = 0
        self.pt = pt
        self.ssrc = rnd.getrandbits(32)
        self.seq = rnd.getrandbits(16)
        self.ts = rnd.getrandbits(32)
        self.ts_step = SAMPLE_RATE * ptime_ms // 1000
        self.ptime_s = ptime_ms / 1000
        self.marker = True  # first packet of a talk spurt (RFC 3551 §4.1)
        self.packet = bytearray(12 + max(len(f) for f in frames))
        self.due = time.monotonic()
        self.sent = 0

    def send_one(self) -> None:
        frame = self.frames[self.index]
        self.index = (self.index + 1) % len(self.frames)
        pkt = self.packet
        struct.pack_into(
            "!BBHII",
            pkt,
            0,
            0x80,
            self.pt | (0x80 if self.marker else 0),
            self.seq,
            self.ts,
            self.ssrc,
        )
        n = 12 + len(frame)
        pkt[12:n] = frame
        dest = self.port.remote
        if dest is not None:
            try:
                self.port.sock.sendto(memoryview(pkt)[:n], dest)
                self.port.tx_packets += 1
                self.port.tx_bytes += n
                self.sent += 1
            except OSError:
                self.port.send_errors += 1
        self.marker = False
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + self.ts_step) & 0xFFFFFFFF


class _MohSender(threading.Thread):
    """Paces every held leg's stream on an absolute 20 ms (ptime) schedule."""

    def __init__(self) -> None:
        super().__init__(name="skinnyctl-moh", daemon=True)
        self.cond = threading.Condition()
        self.streams: dict[int, _MohStream] = {}
        self.stopping = False

    def add(self, s: _MohStream) -> None:
        with self.cond:
            self.streams[s.leg.id] = s
            self.cond.notify()

    def remove(self, leg: Leg) -> _MohStream | None:
        with self.cond:
            return self.streams.pop(leg.id, None)

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify()

    def run(self) -> None:
        with self.cond:
            while not self.stopping:
                if not self.streams:
                    self.cond.wait(1.0)
                    continue
                now = time.monotonic()
                nxt = now + 1.0
                for s in self.streams.values():
                    if s.due <= now:
                        if now - s.due > 0.2:
                            s.due = now  # stalled (suspend, overload): restart the schedule
                        s.send_one()
                        s.due += s.ptime_s
                    nxt = min(nxt, s.due)
                delay = nxt - time.monotonic()
                if delay > 0:
                    self.cond.wait(delay)


class Relay:
    """The RTP relay. See `skinnyctl.media` for the API summary."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port_min: int = 16384,
        port_max: int = 32767,
        moh: MusicOnHold | None = None,
    ) -> None:
        if not (1024 <= port_min < port_max <= 65535):
            raise RelayError(
                f"media port range {port_min}-{port_max} is invalid; use 1024 <= min < max <= 65535"
            )
        self.host = host
        self.port_min = port_min
        self.port_max = port_max
        first = port_min + (port_min & 1)
        self._free: deque[int] = deque(range(first, port_max, 2))  # even RTP ports
        if not self._free:
            raise RelayError(f"media port range {port_min}-{port_max} holds no even/odd pair")
        self._moh = moh
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._legs: dict[int, Leg] = {}
        self._ports: dict[int, _Port] = {}  # fd -> port; read lock-free by the forwarder
        self._epoll = select.epoll()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._thread: threading.Thread | None = None
        self._moh_thread = _MohSender()
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="skinnyctl-relay", daemon=True)
            self._thread.start()
            self._moh_thread.start()

    def stop(self) -> None:
        """Stop the threads and close every leg. Idempotent."""
        with self._lock:
            if self._wake_r < 0:
                return
            self._stopping = True
            for leg in list(self._legs.values()):
                self.close_leg(leg)
            thread = self._thread
        if thread is not None:
            os.write(self._wake_w, b"x")  # wakes epoll at once instead of its 1 s timeout
            thread.join(5.0)
            self._moh_thread.stop()
            self._moh_thread.join(5.0)
        with self._lock:
            if self._wake_r >= 0:
                self._epoll.close()
                os.close(self._wake_r)
                os.close(self._wake_w)
                self._wake_r = self._wake_w = -1

    def __enter__(self) -> Relay:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def music(self) -> MusicOnHold:
        with self._lock:
            if self._moh is None:
                self._moh = MusicOnHold.default()
            return self._moh

    # -- legs ---------------------------------------------------------------------------------

    def _bind_pair(self) -> tuple[socket.socket, socket.socket]:
        for _ in range(len(self._free)):
            port = self._free.popleft()
            try:
                return self._open_pair(port)
            except OSError:
                self._free.append(port)  # held by another process now; try it again later
        raise RelayError(
            f"no free RTP port pair in {self.port_min}-{self.port_max} on {self.host}; "
            "widen the media port range or end some calls"
        )

    def open_leg(self, call_key: object, port: int | None = None) -> Leg:
        """Allocate a port pair for one phone of call `call_key` (exactly `port` and `port + 1`
        when given: the call manager chooses ports itself so it stays free of I/O)."""
        with self._lock:
            if self._stopping:
                raise RelayError("relay is stopped")
            rtp_sock, rtcp_sock = self._bind_exact(port)
            leg = Leg(next(self._ids), call_key)
            leg._rtp = _Port(rtp_sock, leg, rtp=True)
            leg._rtcp = _Port(rtcp_sock, leg, rtp=False)
            self._legs[leg.id] = leg
            for p in (leg._rtp, leg._rtcp):
                self._ports[p.fd] = p
                self._epoll.register(p.fd, select.EPOLLIN)
            return leg

    def _bind_exact(self, port: int | None) -> tuple[socket.socket, socket.socket]:
        if port is None:
            return self._bind_pair()
        if port & 1 or not (self.port_min <= port and port + 1 <= self.port_max):
            raise RelayError(
                f"RTP port {port} is not an even port of {self.port_min}-{self.port_max}"
            )
        try:
            pair = self._open_pair(port)
        except OSError as e:
            raise RelayError(f"cannot bind RTP ports {port}/{port + 1}: {e.strerror or e}") from e
        try:
            self._free.remove(port)
        except ValueError:
            pass
        return pair

    def _open_pair(self, port: int) -> tuple[socket.socket, socket.socket]:
        """Bind non-blocking UDP sockets to ``port`` and ``port + 1``; on failure close what
        was opened and raise the OSError."""
        socks: list[socket.socket] = []
        try:
            for p in (port, port + 1):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((self.host, p))
                s.setblocking(False)
        except OSError:
            for s in socks:
                s.close()
            raise
        return socks[0], socks[1]

    def rekey(self, leg: Leg, call_key: object) -> None:
        """Move `leg` to call `call_key` (a transfer joins legs of two calls); unbridges it."""
        with self._lock:
            self._check(leg)
            if leg.call_key != call_key:
                self._unbridge(leg)
                leg.call_key = call_key

    def learn(self, leg: Leg, ip: str, port: int, nat: bool = False) -> None:
        """Record the phone's RTP address (OpenReceiveChannelAck, or SCCP peer IP behind NAT).
        ``nat``: the phone is known to be behind NAT, so its first packet's source port is
        where it really receives (see `_Port.admit`)."""
        try:
            socket.inet_aton(ip)
        except OSError as exc:
            raise RelayError(f"not an IPv4 address: {ip!r}") from exc
        if not 0 < port < 65535:
            raise RelayError(f"bad RTP port {port}")
        with self._lock:
            self._check(leg)
            for p, pn in ((leg._rtcp, port + 1), (leg._rtp, port)):
                p.remote_ip = ip
                p.nat = nat
                p.latched = False
                p.packets_at_learn = p.packets_in
                p.remote = (ip, pn)

    def bridge(self, a: Leg, b: Leg) -> None:
        """Forward media between two legs of the same call (both directions)."""
        with self._lock:
            self._check(a)
            self._check(b)
            if a is b or a.call_key != b.call_key:
                raise RelayError("bridge needs two different legs of the same call")
            for leg in (a, b):
                if leg.partner is not None and leg.partner not in (a, b):
                    self._unbridge(leg)
            a.partner, b.partner = b, a
            self._route(a)
            self._route(b)

    def unbridge(self, leg: Leg) -> None:
        """Stop forwarding between `leg` and its partner (packets then count as idle drops)."""
        with self._lock:
            self._check(leg)
            self._unbridge(leg)

    def hold(self, leg: Leg, codec: str = "ulaw", ptime_ms: int = 20) -> None:
        """Play music on hold to `leg`'s phone; media between it and its partner stops."""
        if codec not in CODECS:
            raise RelayError(f"music on hold supports {sorted(CODECS)}, not {codec!r}")
        frames = self.music.frames(codec, ptime_ms)
        with self._lock:
            self._check(leg)
            self._moh_thread.remove(leg)
            leg.held = True
            leg.codec = codec
            self._route(leg)
            if leg.partner is not None:
                self._route(leg.partner)
            self._moh_thread.add(_MohStream(leg, frames, CODECS[codec], ptime_ms))

    def resume(self, leg: Leg) -> None:
        """Stop music on hold to `leg` and restore forwarding with its partner."""
        with self._lock:
            self._check(leg)
            self._moh_thread.remove(leg)
            leg.held = False
            self._route(leg)
            if leg.partner is not None:
                self._route(leg.partner)

    def echo(self, leg: Leg, on: bool = True) -> None:
        """Send what arrives on `leg` straight back to its phone (the echo-test number);
        forwarding with its partner stops meanwhile."""
        with self._lock:
            self._check(leg)
            leg.echo = on
            self._route(leg)
            if leg.partner is not None:
                self._route(leg.partner)

    def close_leg(self, leg: Leg) -> None:
        """Free the leg's ports (hang-up). Idempotent."""
        with self._lock:
            if leg._closed:
                return
            self._moh_thread.remove(leg)
            self._unbridge(leg)
            leg._closed = True
            del self._legs[leg.id]
            for p in (leg._rtp, leg._rtcp):
                self._ports.pop(p.fd, None)
                try:
                    self._epoll.unregister(p.fd)
                except (OSError, ValueError):
                    pass
                p.out = None
                p.remote = None
                p.sock.close()
            self._free.append(leg._rtp.local_port)

    def close_call(self, call_key: object) -> None:
        """Close every leg of a call."""
        with self._lock:
            for leg in [lg for lg in self._legs.values() if lg.call_key == call_key]:
                self.close_leg(leg)

    # -- status -------------------------------------------------------------------------------

    def stats(self) -> list[dict[str, Any]]:
        """One dict per leg: the stream received from its phone and what was sent to it."""
        with self._lock:
            legs = list(self._legs.values())
        out = []
        for leg in legs:
            p, c = leg._rtp, leg._rtcp
            expected = p.expected()
            received = p.packets_in
            out.append(
                {
                    "leg": leg.id,
                    "call": leg.call_key,
                    "local_port": p.local_port,
                    "remote": f"{p.remote[0]}:{p.remote[1]}" if p.remote else None,
                    "state": "held"
                    if leg.held
                    else "echo"
                    if leg.echo
                    else ("bridged" if leg.partner else "idle"),
                    "partner": leg.partner.id if leg.partner else None,
                    "rx_packets": received,
                    "rx_bytes": p.bytes_in,
                    "rx_expected": expected,
                    "rx_lost": max(0, expected - received),
                    "rx_jitter_ms": round(p.jitter / (SAMPLE_RATE / 1000), 3),
                    "tx_packets": p.tx_packets,
                    "tx_bytes": p.tx_bytes,
                    "rtcp_rx_packets": c.packets_in,
                    "rtcp_tx_packets": c.tx_packets,
                    "dropped_unlearned": p.dropped_unlearned + c.dropped_unlearned,
                    "dropped_malformed": p.dropped_malformed,
                    "dropped_idle": p.dropped_idle + c.dropped_idle,
                    "send_errors": p.send_errors + c.send_errors,
                }
            )
        return out

    # -- internals (callers hold self._lock) --------------------------------------------------

    def _check(self, leg: Leg) -> None:
        if leg._closed or self._legs.get(leg.id) is not leg:
            raise RelayError(f"{leg!r} is closed or belongs to another relay")

    def _route(self, leg: Leg) -> None:
        """Set where packets arriving on `leg` go: its partner's ports, or nowhere."""
        if leg.echo and not leg.held:
            leg._rtp.out, leg._rtcp.out = leg._rtp, leg._rtcp
            return
        peer = leg.partner
        ok = peer is not None and not leg.held and not peer.held and not peer.echo
        leg._rtp.out = peer._rtp if ok and peer is not None else None
        leg._rtcp.out = peer._rtcp if ok and peer is not None else None

    def _unbridge(self, leg: Leg) -> None:
        peer = leg.partner
        leg.partner = None
        self._route(leg)
        if peer is not None and peer.partner is leg:
            peer.partner = None
            self._route(peer)

    # -- forwarding thread --------------------------------------------------------------------

    def _run(self) -> None:
        buf = bytearray(2048)
        mv = memoryview(buf)
        poll = self._epoll.poll
        ports = self._ports
        wake = self._wake_r
        now_ns = time.monotonic_ns
        while True:
            try:
                events = poll(1.0)
            except OSError:  # epoll closed by stop()
                return
            for fd, _ev in events:
                port = ports.get(fd)
                if port is None:
                    if fd == wake:
                        try:
                            os.read(wake, 64)
                        except OSError:
                            pass
                        if self._stopping:
                            return
                    continue
                try:
                    n, src = port.sock.recvfrom_into(buf)
                except OSError:  # closed concurrently, or ICMP error from a previous send
                    continue
                if src != port.remote and not port.admit(src):
                    port.dropped_unlearned += 1
                    continue
                if port.rtp:
                    if n < 12 or buf[0] & 0xC0 != 0x80:
                        port.dropped_malformed += 1
                        continue
                    # RFC 3550 A.1 sequence accounting and A.8 interarrival jitter
                    seq = buf[2] << 8 | buf[3]
                    transit = now_ns() // _UNITS_PER_NS_DIV - (
                        buf[4] << 24 | buf[5] << 16 | buf[6] << 8 | buf[7]
                    )
                    if port.started:
                        delta = (seq - port.max_seq) & 0xFFFF
                        if delta < _MAX_DROPOUT:
                            if seq < port.max_seq:
                                port.cycles += 65536
                            port.max_seq = seq
                        elif delta > 65536 - _MAX_MISORDER:
                            pass  # late or duplicate: counted as received only
                        else:
                            port.seq_restart(seq, transit)  # sender restarted its stream
                        d = (transit - port.transit) & 0xFFFFFFFF
                        if d >= 0x80000000:
                            d = 0x100000000 - d
                        port.jitter += (d - port.jitter) * 0.0625
                        port.transit = transit
                    else:
                        port.seq_restart(seq, transit)
                port.packets_in += 1
                port.bytes_in += n
                out = port.out
                if out is None:
                    port.dropped_idle += 1
                    continue
                dest = out.remote
                if dest is None:
                    port.dropped_idle += 1
                    continue
                try:
                    out.sock.sendto(mv[:n], dest)
                except OSError:
                    out.send_errors += 1
                    continue
                out.tx_packets += 1
                out.tx_bytes += n
