"""The media engine: UDP/RTP port pairs per leg, forwarding, playing, recording, mixing.

See the package docstring (`skinnyctl.media`) for the API and the address-learning rule.

Threads: the forwarding thread (epoll over every leg socket), the media clock (`clock`: every
packet the engine generates, conference mixing), the disk thread (`record`) and the notifier
(callbacks). Public methods may be called from any thread; they take `Relay._lock`. The
forwarding thread never takes that lock: it reads per-port attributes that public methods
replace atomically (single attribute stores under the GIL), takes only a conference's short
lock to hand a packet to the mixer, and a socket closed under its feet only raises OSError,
which it ignores. Lock order: `Relay._lock`, then the clock's condition, then a conference's
lock; callbacks run on the notifier with none of them held.

Hot path: a packet on a port with nothing special (a bridge between legs of the same or an
undeclared codec; no recording, echo, mixing, telephone-event payload type or partner playing)
is forwarded by exactly the code of old. A port with more to do has `out` None and `special`
set, so it leaves through the idle branch into `_special`: the plain path pays nothing for it.
"""

from __future__ import annotations

import itertools
import logging
import os
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .clock import MediaClock, Notifier, OutStream, Play, PlayDone
from .g711 import ALAW_TO_ULAW, LAW_INDEX, ULAW_TO_ALAW
from .mixer import Conference, Party
from .moh import CODECS, SAMPLE_RATE, MusicOnHold
from .record import DiskWriter, RecordDone, Recording
from .rtp import DtmfDetector, event_code, payload_bounds
from .sources import Music, Renderer, Source, describe
from .wav import WavError

__all__ = ["Leg", "Relay", "RelayError"]

log = logging.getLogger("skinnyctl.media.relay")

_MAX_DROPOUT = 3000  # RFC 3550 A.1: forward jumps up to this are loss, beyond it a restart
_MAX_MISORDER = 100
_UNITS_PER_NS_DIV = 125_000  # ns per 8 kHz RTP clock tick; G.711/G.729/G.722 all use 8 kHz
_DTMF_MIN_GAP = 0.05  # s between reported digits; DTMF needs >= 40 ms tone + 40 ms pause
# bridge of different G.711 laws: what to do with a packet of each static payload type
_CONVERSIONS: dict[str, dict[int, tuple[bytes, int]]] = {
    "alaw": {0: (ULAW_TO_ALAW, 8)},
    "ulaw": {8: (ALAW_TO_ULAW, 0)},
}

DtmfHandler = Callable[["Leg", str], Any]


class RelayError(RuntimeError):
    """A relay failure a user can fix (ports exhausted, bad address); message says what to do."""


class _Port:
    """One UDP socket of a leg (RTP or RTCP) and what arrives on it.

    Hot-path fields are plain attributes; `__slots__` keeps access fast.
    """

    __slots__ = (
        "bytes_in",
        "conv",
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
        "special",
        "started",
        "target",
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
        self.out: _Port | None = None  # the plain path: forward packets arriving here there
        self.target: _Port | None = None  # the bridge partner's port, also when `special`
        self.special = False  # more than a plain forward: the forwarding thread's `_special`
        self.conv: dict[int, tuple[bytes, int]] | None = None  # PT -> (G.711 table, new PT)
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
    """One end of a call's media: an even RTP port and the RTCP port above it.

    Read-only for callers; pass it back to the `Relay` methods.
    """

    __slots__ = (
        "_closed",
        "_rtcp",
        "_rtp",
        "call_key",
        "codec",
        "dtmf_digits",
        "dtmf_flood",
        "dtmf_last",
        "dtmf_pt",
        "dtmf_rx",
        "echo",
        "forward_dtmf",
        "gen_busy",
        "held",
        "id",
        "on_dtmf",
        "out",
        "partner",
        "party",
        "ptime_ms",
        "rec",
        "transcoded",
    )

    def __init__(self, leg_id: int, call_key: object) -> None:
        self.id = leg_id
        self.call_key = call_key
        self.partner: Leg | None = None
        self.held = False
        self.codec: str | None = None  # None: undeclared (forwarded as is; plays use µ-law)
        self.ptime_ms = 20
        self.dtmf_pt: int | None = None  # RFC 4733 telephone-event payload type
        self.dtmf_rx = DtmfDetector()
        self.dtmf_digits = 0
        self.dtmf_flood = 0  # events ignored: too close to the previous digit
        self.dtmf_last = 0.0
        self.on_dtmf: DtmfHandler | None = None
        self.forward_dtmf = False
        self.echo = False
        self.party: Party | None = None  # conference membership
        self.rec: Recording | None = None
        self.out: OutStream | None = None  # what the engine itself sends to this leg
        self.gen_busy = False  # playing or sending DTMF: the partner's media is not forwarded
        self.transcoded = 0
        self._closed = False
        self._rtp: _Port
        self._rtcp: _Port

    @property
    def local_port(self) -> int:
        """The RTP port to name in StartMediaTransmission (or SDP) for this leg's remote."""
        return self._rtp.local_port

    @property
    def local_rtcp_port(self) -> int:
        return self._rtcp.local_port

    @property
    def remote(self) -> tuple[str, int] | None:
        """The remote's RTP address the relay sends to (learned, possibly NAT-latched)."""
        return self._rtp.remote

    @property
    def conference(self) -> object | None:
        """The conference key the leg is mixed in, or None."""
        return self.party.conf.key if self.party is not None else None

    def __repr__(self) -> str:
        return f"Leg(id={self.id}, call={self.call_key!r}, port={self._rtp.local_port})"


class Relay:
    """The media engine. See `skinnyctl.media` for the API summary."""

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
        self._play_ids = itertools.count(1)
        self._record_ids = itertools.count(1)
        self._legs: dict[int, Leg] = {}
        self._ports: dict[int, _Port] = {}  # fd -> port; read lock-free by the forwarder
        self._epoll = select.epoll()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._thread: threading.Thread | None = None
        self._notifier = Notifier()
        self._clock = MediaClock(self._notifier.post, self._idle)
        self._disk = DiskWriter(self._notifier.post, self._idle)
        self._renderer = Renderer(lambda: self.music)
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="skinnyctl-relay", daemon=True)
            self._thread.start()
            self._notifier.start()
            self._clock.start()
            self._disk.start()

    def stop(self) -> None:
        """Stop the threads and close every leg (recordings end "closed" and are kept, their
        on_done and those of stopped plays still run). Idempotent."""
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
            self._clock.stop()
            self._clock.join(5.0)
            self._disk.stop()
            self._disk.join(10.0)  # finishes the recordings still open
            self._notifier.stop()
            self._notifier.join(5.0)
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

    def set_codec(
        self, leg: Leg, codec: str, *, dtmf_pt: int | None = None, ptime_ms: int = 20
    ) -> None:
        """Declare what the leg's remote sends and expects: G.711 law, RFC 4733 payload type
        (None: no telephone-events on this leg) and packet time. A bridge between legs of
        different laws then converts every packet; plays are encoded in this law."""
        if dtmf_pt is not None and not 96 <= dtmf_pt <= 127:
            raise RelayError(f"telephone-event payload type {dtmf_pt} is not dynamic (96-127)")
        with self._lock:
            self._check(leg)
            self._declare(leg, codec, ptime_ms)
            if leg.dtmf_pt != dtmf_pt:
                leg.dtmf_pt = dtmf_pt
                leg.dtmf_rx = DtmfDetector()
            self._plan_both(leg)

    def set_dtmf(self, leg: Leg, on_dtmf: DtmfHandler | None, *, forward: bool = False) -> None:
        """Report each RFC 4733 digit received on `leg` as ``on_dtmf(leg, digit)`` (from the
        notifier thread; None: stop reporting). Events are consumed, not forwarded to the
        bridged partner, unless ``forward`` (then with the partner's payload type if it has
        one)."""
        with self._lock:
            self._check(leg)
            leg.on_dtmf = on_dtmf
            leg.forward_dtmf = forward

    def bridge(self, a: Leg, b: Leg) -> None:
        """Forward media between two legs of the same call (both directions); legs in a
        conference leave it."""
        with self._lock:
            self._check(a)
            self._check(b)
            if a is b or a.call_key != b.call_key:
                raise RelayError("bridge needs two different legs of the same call")
            for leg in (a, b):
                self._mix_remove(leg)
                if leg.partner is not None and leg.partner not in (a, b):
                    self._unbridge(leg)
            a.partner, b.partner = b, a
            self._plan(a)
            self._plan(b)

    def unbridge(self, leg: Leg) -> None:
        """Stop forwarding between `leg` and its partner (packets then count as idle drops)."""
        with self._lock:
            self._check(leg)
            self._unbridge(leg)

    def hold(self, leg: Leg, codec: str | None = None, ptime_ms: int | None = None) -> None:
        """Play music on hold to `leg` (looping); media between it and its partner stops, a
        conference stops mixing it. ``codec``/``ptime_ms`` re-declare the leg (see
        `set_codec`); by default the leg's own."""
        with self._lock:
            self._check(leg)
            self._declare(leg, codec or leg.codec or "ulaw", ptime_ms or leg.ptime_ms)
            frames = self._frames(leg, [Music()])
            leg.held = True
            play = Play(
                next(self._play_ids),
                frames,
                CODECS[self._codec(leg)],
                "music",
                True,
                None,
                hold=True,
            )
            self._start_play(leg, play)
            self._plan_both(leg)

    def resume(self, leg: Leg) -> None:
        """End music on hold to `leg` and restore forwarding with its partner (or mixing)."""
        with self._lock:
            self._check(leg)
            leg.held = False
            self._end_play(leg, hold_only=True)
            self._plan_both(leg)

    def play(
        self,
        leg: Leg,
        source: Source | Sequence[Source],
        *,
        loop: bool = False,
        on_done: PlayDone | None = None,
    ) -> int:
        """Play `source` (or several, back to back) to `leg`, replacing what was playing; while
        it plays the leg hears it instead of its partner or conference. Returns the play id;
        ``on_done(leg, play_id, completed)`` runs when it ends (completed False: stopped,
        replaced or the leg closed). A WAV that cannot be used raises `RelayError`."""
        sources = [source] if isinstance(source, Source) else list(source)
        if not sources or not all(isinstance(s, Source) for s in sources):
            raise RelayError(f"play needs Music, Prompt, Tone or Silence sources, not {source!r}")
        with self._lock:
            self._check(leg)
            codec, ptime = self._codec(leg), self._ptime(leg)
        try:
            frames = self._renderer.frames(sources, codec, ptime)  # file I/O: outside the lock
        except WavError as e:
            raise RelayError(str(e)) from e
        with self._lock:
            self._check(leg)
            if (codec, ptime) != (self._codec(leg), self._ptime(leg)):  # changed meanwhile
                codec = self._codec(leg)
                frames = self._frames(leg, sources)  # cached by now: cheap under the lock
            play = Play(
                next(self._play_ids), frames, CODECS[codec], describe(sources), loop, on_done
            )
            self._start_play(leg, play)
            return play.id

    def stop_play(self, leg: Leg) -> None:
        """Stop what plays to `leg` (its on_done gets completed=False). No play: nothing."""
        with self._lock:
            self._check(leg)
            self._end_play(leg)

    def record(
        self,
        leg: Leg,
        path: str | Path,
        *,
        max_seconds: float,
        silence_seconds: float | None = None,
        silence_dbfs: float = -40.0,
        on_done: RecordDone | None = None,
    ) -> int:
        """Record what `leg`'s remote sends to `path` (8 kHz 16-bit mono WAV, written
        atomically). Ends by `stop_record`, `max_seconds`, or `silence_seconds` below
        `silence_dbfs` after the first speech; then ``on_done(leg, record_id, path, seconds,
        why)`` with why "stopped", "limit", "silence", "closed" or "error". Returns the id.
        A directory that cannot be written raises `RelayError`."""
        if not 0 < max_seconds <= 24 * 3600:
            raise RelayError(f"max_seconds {max_seconds} is not between 0 and 86400")
        if silence_seconds is not None and not 0 < silence_seconds <= max_seconds:
            raise RelayError(f"silence_seconds {silence_seconds} is not within 0..max_seconds")
        path = Path(path)
        with self._lock:
            self._check(leg)
            try:
                rec = Recording(
                    next(self._record_ids),
                    leg,
                    path,
                    max_seconds,
                    silence_seconds,
                    silence_dbfs,
                    on_done,
                )
            except OSError as e:
                raise RelayError(
                    f"cannot record to {path}: {e.strerror or e}; check that its directory "
                    "exists and is writable"
                ) from e
            if leg.rec is not None:
                self._disk.end(leg.rec, "stopped")
            leg.rec = rec
            self._disk.add(rec)
            self._plan(leg)
            return rec.id

    def stop_record(self, leg: Leg) -> None:
        """End the recording of `leg` ("stopped"; the file is completed). None: nothing."""
        with self._lock:
            self._check(leg)
            rec = leg.rec
            if rec is not None:
                leg.rec = None
                self._disk.end(rec, "stopped")
                self._plan(leg)

    def echo(self, leg: Leg, on: bool = True) -> None:
        """Send what arrives on `leg` straight back to its remote, unchanged and in order
        (the echo test), not to its partner or conference; its partner's media is not forwarded
        to it meanwhile."""
        with self._lock:
            self._check(leg)
            leg.echo = on
            self._plan_both(leg)

    def send_dtmf(self, leg: Leg, digit: str, duration_ms: int = 100) -> None:
        """Send one RFC 4733 event to `leg`'s remote (queued after digits still being sent),
        with the leg's telephone-event payload type (`set_codec(..., dtmf_pt=...)`)."""
        try:
            code = event_code(digit)
        except ValueError as e:
            raise RelayError(str(e)) from e
        if not 40 <= duration_ms <= 8000:
            raise RelayError(f"DTMF duration {duration_ms} ms is not between 40 and 8000")
        with self._lock:
            self._check(leg)
            if leg.dtmf_pt is None:
                raise RelayError(
                    f"{leg!r} has no telephone-event payload type; set_codec(..., dtmf_pt=101)"
                )
            with self._clock.cond:
                s = self._clock.activate(leg)
                s.dtmf.queue.append((code, duration_ms * SAMPLE_RATE // 1000))
                leg.gen_busy = True
            self._plan_partner(leg)

    def mix_add(self, conf_key: object, leg: Leg) -> None:
        """Mix `leg` into conference `conf_key` (created on first use): it hears everyone
        else's sum, in 20 ms frames of its own law. Unbridges it; moves it from another
        conference. A held leg joins but is mixed from its `resume` on."""
        with self._lock:
            self._check(leg)
            if leg.party is not None:
                if leg.party.conf.key == conf_key:
                    return
                self._mix_remove(leg)
            self._unbridge(leg)
            with self._clock.cond:
                conf = self._clock.confs.get(conf_key)
                if conf is None:
                    conf = self._clock.confs[conf_key] = Conference(conf_key)
                party = Party(leg, LAW_INDEX[self._codec(leg)], conf)
                leg.party = party
                conf.add(leg.id, party)
                self._clock.activate(leg)
            self._plan(leg)

    def mix_remove(self, leg: Leg) -> None:
        """Take `leg` out of its conference (the conference ends with its last party)."""
        with self._lock:
            self._check(leg)
            self._mix_remove(leg)

    def close_leg(self, leg: Leg) -> None:
        """Free the leg's ports (hang-up): plays end (completed False), a recording ends
        "closed" and is kept. Idempotent."""
        with self._lock:
            if leg._closed:
                return
            self._end_play(leg)
            self._mix_remove(leg)
            with self._clock.cond:
                if leg.out is not None:
                    leg.out.dtmf.queue.clear()
                    leg.out.dtmf.code = -1
                    leg.out.dtmf.pause = 0
                self._clock.settle(leg)
            if leg.rec is not None:
                self._disk.end(leg.rec, "closed")
                leg.rec = None
            self._unbridge(leg)
            leg._closed = True
            del self._legs[leg.id]
            for p in (leg._rtp, leg._rtcp):
                self._ports.pop(p.fd, None)
                try:
                    self._epoll.unregister(p.fd)
                except (OSError, ValueError):
                    pass
                p.out = p.target = None
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
        """One dict per leg: the stream received from its remote, what was sent to it, and
        what the engine does with it (play, record, conference, echo, DTMF)."""
        with self._lock:
            legs = list(self._legs.values())
            with self._clock.cond:
                gen = {leg.id: _gen_stats(leg) for leg in legs}
        out = []
        for leg in legs:
            p, c = leg._rtp, leg._rtcp
            expected = p.expected()
            received = p.packets_in
            rec = leg.rec
            out.append(
                {
                    "leg": leg.id,
                    "call": leg.call_key,
                    "local_port": p.local_port,
                    "remote": f"{p.remote[0]}:{p.remote[1]}" if p.remote else None,
                    "state": _state(leg),
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
                    "codec": leg.codec,
                    "ptime_ms": leg.ptime_ms,
                    "dtmf_pt": leg.dtmf_pt,
                    "transcoded": leg.transcoded,
                    "echo": leg.echo,
                    "dtmf_rx_digits": leg.dtmf_digits,
                    "dtmf_rx_ignored": leg.dtmf_flood,
                    "record": (
                        {"id": rec.id, "path": str(rec.path), "seconds": round(rec.seconds, 2)}
                        if rec is not None
                        else None
                    ),
                    **gen[leg.id],
                }
            )
        return out

    # -- internals (callers hold self._lock) --------------------------------------------------

    def _check(self, leg: Leg) -> None:
        if leg._closed or self._legs.get(leg.id) is not leg:
            raise RelayError(f"{leg!r} is closed or belongs to another relay")

    def _declare(self, leg: Leg, codec: str, ptime_ms: int) -> None:
        if codec not in CODECS:
            raise RelayError(f"codec {codec!r} unsupported; use one of {sorted(CODECS)}")
        if not 10 <= ptime_ms <= 120 or ptime_ms % 10:
            raise RelayError(f"ptime {ptime_ms} ms unsupported; use 10..120 in steps of 10")
        leg.codec = codec
        leg.ptime_ms = ptime_ms
        party = leg.party
        if party is not None:
            with party.conf.lock:
                party.law = LAW_INDEX[codec]

    @staticmethod
    def _codec(leg: Leg) -> str:
        return leg.codec or "ulaw"

    @staticmethod
    def _ptime(leg: Leg) -> int:
        return 20 if leg.party is not None else leg.ptime_ms  # a conference speaks in 20 ms

    def _frames(self, leg: Leg, sources: list[Source]) -> tuple[bytes, ...]:
        try:
            return self._renderer.frames(sources, self._codec(leg), self._ptime(leg))
        except WavError as e:
            raise RelayError(str(e)) from e

    def _start_play(self, leg: Leg, play: Play) -> None:
        with self._clock.cond:
            s = self._clock.activate(leg)
            old, s.play = s.play, play
            leg.gen_busy = True
        if old is not None and old.on_done is not None:
            self._notifier.post(old.on_done, leg, old.id, False)
        self._plan_partner(leg)

    def _end_play(self, leg: Leg, hold_only: bool = False) -> None:
        with self._clock.cond:
            s = leg.out
            old = s.play if s is not None else None
            if s is None or old is None or (hold_only and not old.hold):
                return
            s.play = None
            self._clock.settle(leg)
        if old.on_done is not None:
            self._notifier.post(old.on_done, leg, old.id, False)
        self._plan_partner(leg)

    def _mix_remove(self, leg: Leg) -> None:
        party = leg.party
        if party is None:
            return
        with self._clock.cond:
            conf = party.conf
            conf.remove(leg.id)
            if not conf.parties and self._clock.confs.get(conf.key) is conf:
                del self._clock.confs[conf.key]
            leg.party = None
            self._clock.settle(leg)
        self._plan(leg)

    def _idle(self, leg: Leg) -> None:
        """Notifier: the clock finished what it generated for `leg` (a play, DTMF)."""
        with self._lock:
            if not leg._closed:
                self._plan_both(leg)

    def _plan_partner(self, leg: Leg) -> None:
        if leg.partner is not None:
            self._plan(leg.partner)

    def _plan_both(self, leg: Leg) -> None:
        self._plan(leg)
        self._plan_partner(leg)

    def _plan(self, leg: Leg) -> None:
        """Set where packets arriving on `leg` go, and whether the plain path may carry them."""
        if leg._closed:
            return
        peer = leg.partner
        fwd = (
            peer
            if peer is not None
            and not leg.held
            and not peer.held
            and leg.party is None
            and not leg.echo
            and not peer.echo
            else None
        )
        conv = None
        if fwd is not None and leg.codec and fwd.codec and leg.codec != fwd.codec:
            conv = _CONVERSIONS[fwd.codec]
        special = (
            conv is not None
            or leg.echo
            or leg.party is not None
            or leg.rec is not None
            or leg.dtmf_pt is not None
            or (fwd is not None and fwd.gen_busy)
        )
        rtp, rtcp = leg._rtp, leg._rtcp
        rtcp.out = fwd._rtcp if fwd is not None else None  # RTCP: forwarded as is, or dropped
        rtp.conv = conv
        rtp.target = fwd._rtp if fwd is not None else None
        # `out` (the plain path's target) is None for a special port; the order of the stores
        # keeps the forwarding thread from acting on half a plan
        if special:
            rtp.special = True
            rtp.out = None
        else:
            rtp.out = rtp.target
            rtp.special = False

    def _unbridge(self, leg: Leg) -> None:
        peer = leg.partner
        leg.partner = None
        self._plan(leg)
        if peer is not None and peer.partner is leg:
            peer.partner = None
            self._plan(peer)

    # -- forwarding thread --------------------------------------------------------------------

    def _special(self, port: _Port, buf: bytearray, n: int) -> None:
        """An RTP packet off the plain path: telephone-events, recording, echo, mixing, G.711
        conversion, a partner playing something."""
        leg = port.leg
        target: _Port | None
        bounds = payload_bounds(buf, n)
        if bounds is None:
            port.dropped_malformed += 1
            return
        start, end = bounds
        pt = buf[1] & 0x7F
        if pt == leg.dtmf_pt:
            digit = leg.dtmf_rx.feed(buf, start, end)
            if digit is not None:
                now = time.monotonic()
                if now - leg.dtmf_last < _DTMF_MIN_GAP:
                    leg.dtmf_flood += 1  # faster than anyone dials: a flood, not digits
                else:
                    leg.dtmf_last = now
                    leg.dtmf_digits += 1
                    if leg.on_dtmf is not None:
                        self._notifier.post(leg.on_dtmf, leg, digit)
            if leg.echo:
                target = port
            elif leg.forward_dtmf and port.target is not None:
                target = port.target
                if target.leg.dtmf_pt is not None:
                    buf[1] = (buf[1] & 0x80) | target.leg.dtmf_pt
            else:
                return  # consumed
        else:
            rec = leg.rec
            if rec is not None:
                ssrc = buf[8] << 24 | buf[9] << 16 | buf[10] << 8 | buf[11]
                ts = buf[4] << 24 | buf[5] << 16 | buf[6] << 8 | buf[7]
                rec.pending.append((ssrc, ts, pt, bytes(buf[start:end])))
            party = leg.party
            if leg.echo:
                target = port
            elif party is not None:
                if leg.held:
                    port.dropped_idle += 1
                else:
                    with party.conf.lock:
                        party.push(buf, start, end, time.monotonic_ns())
                return
            else:
                target = port.target
                if target is None and rec is not None:
                    return  # recorded, nothing else to do
                conv = port.conv
                if conv is not None and target is not None:
                    c = conv.get(pt)
                    if c is not None:
                        buf[start:end] = buf[start:end].translate(c[0])
                        buf[1] = (buf[1] & 0x80) | c[1]
                        leg.transcoded += 1
        if target is None or target.remote is None or target.leg.gen_busy:
            port.dropped_idle += 1
            return
        try:
            target.sock.sendto(memoryview(buf)[:n], target.remote)
        except OSError:
            target.send_errors += 1
            return
        target.tx_packets += 1
        target.tx_bytes += n

    def _run(self) -> None:
        buf = bytearray(2048)
        mv = memoryview(buf)
        poll = self._epoll.poll
        ports = self._ports
        wake = self._wake_r
        now_ns = time.monotonic_ns
        special = self._special
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
                    if port.special:  # off the plain path: `out` is None for such ports
                        try:
                            special(port, buf, n)
                        except Exception:  # a bug must not end forwarding for every call
                            port.dropped_malformed += 1
                            log.exception("media: packet on port %d not handled", port.local_port)
                    else:
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


def _state(leg: Leg) -> str:
    if leg.held:
        return "held"
    if leg.party is not None:
        return "conference"
    if leg.echo:
        return "echo"
    return "bridged" if leg.partner else "idle"


def _gen_stats(leg: Leg) -> dict[str, Any]:
    """What the engine generates for `leg` (clock lock held): play, mixing, DTMF sent."""
    s = leg.out
    play = s.play if s is not None else None
    party = leg.party
    mix: dict[str, Any] | None = None
    if party is not None:
        with party.conf.lock:
            lat = sorted(party.latency_us)
            mix = {
                "conference": party.conf.key,
                "parties": len(party.conf.parties),
                "frames_mixed": party.frames_mixed,
                "frames_sent": s.mix_frames if s is not None else 0,
                "late": party.late,
                "reordered": party.reordered,
                "underruns": party.underruns,
                "skipped": party.skipped,
                "shrunk": party.shrunk,
                "restarts": party.restarts,
                "latency_p50_ms": round(lat[len(lat) // 2] / 1000, 1) if lat else None,
                "latency_p99_ms": round(lat[len(lat) * 99 // 100] / 1000, 1) if lat else None,
            }
    return {
        "play": (
            {"id": play.id, "source": play.name, "loop": play.loop, "frames_sent": play.sent}
            if play is not None
            else None
        ),
        "mix": mix,
        "generated_packets": s.packets if s is not None else 0,
        "dtmf_tx_digits": s.dtmf.events if s is not None else 0,
        "dtmf_tx_packets": s.dtmf.sent if s is not None else 0,
    }
