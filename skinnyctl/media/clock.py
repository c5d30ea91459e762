"""The media clock: one thread that paces everything the engine sends by itself.

Every 10 ms on an absolute schedule (tick k at t0 + k x 10 ms; a stall longer than 200 ms,
e.g. a suspended machine, re-anchors the schedule instead of bursting to catch up, and drops
what piled up in the conferences' jitter buffers meanwhile) the clock:

1. mixes every conference on even ticks (20 ms frames, `mixer.Conference.mix`);
2. lets each active `OutStream` send what is due: a leg with a 20 ms packet time sends on even
   ticks, 30 ms every third tick, and so on (a conference party always 20 ms).

`OutStream` is the one RTP stream the engine sends a leg, whatever the source: one SSRC, a
sequence number that only counts sent packets, and a timestamp derived from the tick
(``base + tick x 80``), so it stays continuous across plays, mixing, DTMF and idle spells. What
a stream sends at its tick, first match wins: a DTMF event in progress (`DtmfSender`: start,
updates every packet time, three end packets, all with the event's start timestamp), then the
current play (`Play`: frames of a source, paused during an event), then the conference mix.

Callbacks never run here: a finished play's on_done goes to the `Notifier` thread, which also
runs the engine's follow-up (re-planning the partner's forwarding) outside the clock's lock.
"""

from __future__ import annotations

import logging
import math
import queue
import random
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .mixer import Conference, Party
from .rtp import event_payload

if TYPE_CHECKING:
    from .relay import Leg

__all__ = ["DtmfSender", "MediaClock", "Notifier", "OutStream", "Play"]

log = logging.getLogger("skinnyctl.media.clock")

TICK = 0.010  # seconds
TICK_SAMPLES = 80
STALL = 0.2  # behind by more than this: re-anchor the schedule
DIGIT_GAP_PACKETS = 2  # quiet packet times between two queued digits

PlayDone = Callable[["Leg", int, bool], Any]


class Notifier(threading.Thread):
    """Runs callbacks in order, off every engine lock; a failing callback is logged."""

    def __init__(self) -> None:
        super().__init__(name="skinnyctl-media-notify", daemon=True)
        self.q: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        self.q.put((fn, args))

    def stop(self) -> None:
        self.q.put(None)

    def run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception:
                log.exception("media callback %r failed", fn)


class Play:
    """Frames of a source being sent to one leg."""

    __slots__ = ("frames", "hold", "id", "index", "loop", "name", "on_done", "pt", "sent")

    def __init__(
        self,
        play_id: int,
        frames: tuple[bytes, ...],
        pt: int,
        name: str,
        loop: bool,
        on_done: PlayDone | None,
        hold: bool = False,
    ) -> None:
        self.id = play_id
        self.frames = frames
        self.pt = pt
        self.name = name
        self.loop = loop
        self.on_done = on_done
        self.hold = hold  # hold music: resume() ends it
        self.index = 0
        self.sent = 0


class DtmfSender:
    """RFC 4733 events queued for one leg, sent one packet per packet time."""

    __slots__ = ("code", "elapsed", "ends", "events", "pause", "queue", "sent", "start_ts", "total")

    def __init__(self) -> None:
        self.queue: deque[tuple[int, int]] = deque()  # (event code, duration in samples)
        self.code = -1  # event in progress, -1: none
        self.start_ts = 0
        self.elapsed = 0
        self.total = 0
        self.ends = 0
        self.pause = 0
        self.sent = 0  # packets
        self.events = 0  # digits started

    @property
    def busy(self) -> bool:
        return self.code >= 0 or bool(self.queue) or self.pause > 0

    def next(self, ts: int, step_samples: int) -> tuple[bytes, int, bool] | None:
        """(payload, timestamp, marker) to send now, or None (nothing, or a pause)."""
        if self.code < 0:
            if self.pause > 0:
                self.pause -= 1
                return None
            if not self.queue:
                return None
            self.code, self.total = self.queue.popleft()
            self.start_ts, self.elapsed, self.ends = ts, 0, 0
            self.events += 1
        first = self.elapsed == 0
        self.elapsed = min(self.elapsed + step_samples, self.total)
        end = self.elapsed >= self.total
        payload = event_payload(self.code, end, self.elapsed)
        start_ts = self.start_ts
        if end:
            self.ends += 1
            if self.ends == 3:  # the end packet goes out three times (RFC 4733 §2.5.1.4)
                self.code = -1
                self.pause = DIGIT_GAP_PACKETS
        self.sent += 1
        return payload, start_ts, first


class OutStream:
    """The RTP stream the engine itself sends to one leg (see the module docstring)."""

    __slots__ = (
        "dtmf",
        "last_tick",
        "leg",
        "mix_frames",
        "packets",
        "pkt",
        "play",
        "seq",
        "ssrc",
        "ts_base",
    )

    def __init__(self, leg: Leg) -> None:
        rnd = random.SystemRandom()
        self.leg = leg
        self.ssrc = rnd.getrandbits(32)
        self.seq = rnd.getrandbits(16)
        self.ts_base = rnd.getrandbits(32)
        self.last_tick: int | None = None
        self.pkt = bytearray(12 + 1280)
        self.play: Play | None = None
        self.dtmf = DtmfSender()
        self.packets = 0
        self.mix_frames = 0

    @property
    def busy(self) -> bool:
        """Generating something of its own (a play or DTMF), so the partner's media waits."""
        return self.play is not None or self.dtmf.busy

    def step(self) -> int:
        """Ticks per packet."""
        leg = self.leg
        return 2 if leg.party is not None else max(1, leg.ptime_ms // 10)

    def emit(self, tick: int, mix: bytes | None, done: list[tuple[Leg, Play]]) -> None:
        step = self.step()
        if tick % step:
            return
        ts = (self.ts_base + tick * TICK_SAMPLES) & 0xFFFFFFFF
        leg = self.leg
        dtmf_pt = leg.dtmf_pt
        if self.dtmf.busy and dtmf_pt is None:
            self.dtmf = DtmfSender()  # the leg lost its telephone-event type: nothing to send
        if self.dtmf.busy and dtmf_pt is not None:
            ev = self.dtmf.next(ts, step * TICK_SAMPLES)
            if ev is not None:
                payload, start_ts, marker = ev
                self._send(tick, dtmf_pt, payload, start_ts, marker)
                return
        play = self.play
        if play is not None:
            frame = play.frames[play.index]
            self._send(tick, play.pt, frame, ts, play.sent == 0 or self._gap(tick, step))
            play.sent += 1
            play.index += 1
            if play.index == len(play.frames):
                play.index = 0
                if not play.loop:
                    self.play = None
                    done.append((leg, play))
            return
        party = leg.party
        if mix is not None and party is not None:
            self._send(tick, 0 if party.law == 0 else 8, mix, ts, self._gap(tick, step))
            self.mix_frames += 1

    def _gap(self, tick: int, step: int) -> bool:
        return self.last_tick is None or tick - self.last_tick > step

    def _send(self, tick: int, pt: int, payload: bytes, ts: int, marker: bool) -> None:
        port = self.leg._rtp
        dest = port.remote
        self.last_tick = tick
        if dest is None:
            return
        n = 12 + len(payload)
        pkt = self.pkt
        if n > len(pkt):
            pkt = self.pkt = bytearray(n)
        struct.pack_into(
            "!BBHII", pkt, 0, 0x80, pt | (0x80 if marker else 0), self.seq, ts, self.ssrc
        )
        pkt[12:n] = payload
        try:
            port.sock.sendto(memoryview(pkt)[:n], dest)
        except OSError:
            port.send_errors += 1
            return
        self.seq = (self.seq + 1) & 0xFFFF
        self.packets += 1
        port.tx_packets += 1
        port.tx_bytes += n


class MediaClock(threading.Thread):
    """The pacing thread. Public methods' callers hold `cond` (the engine takes it under its own
    lock: engine lock, then `cond`, then a conference lock; never the other way)."""

    def __init__(self, post: Callable[..., None], idle: Callable[[Leg], None]) -> None:
        super().__init__(name="skinnyctl-media-clock", daemon=True)
        self.cond = threading.Condition()
        self.streams: dict[int, OutStream] = {}  # leg id -> stream with something to send
        self.confs: dict[object, Conference] = {}
        self.post = post  # the notifier's post
        self.idle = idle  # engine callback (via the notifier): a leg's play/DTMF ended
        self.stopping = False
        self.tick = 0
        self.t0: float | None = None
        self.stalls = 0
        self.late_us: deque[int] = deque(maxlen=1000)  # how late each tick ran

    # -- called with cond held -------------------------------------------------------------

    def activate(self, leg: Leg) -> OutStream:
        """The leg's stream, registered to be serviced every tick."""
        s = leg.out
        if s is None:
            s = leg.out = OutStream(leg)
        self.streams[leg.id] = s
        self.cond.notify()
        return s

    def settle(self, leg: Leg) -> None:
        """Stop servicing the leg's stream if it has nothing to send."""
        s = self.streams.get(leg.id)
        if s is not None and not s.busy and leg.party is None:
            del self.streams[leg.id]
        leg.gen_busy = s is not None and s.busy

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify()

    # -- the thread ---------------------------------------------------------------------------

    def run(self) -> None:
        idle = True
        with self.cond:
            while not self.stopping:
                if not self.streams and not self.confs:
                    idle = True
                    self.cond.wait(1.0)
                    continue
                now = time.monotonic()
                if self.t0 is None:
                    self.t0 = now
                if idle:  # ticks count real time while idle: timestamps stay true after a pause
                    self.tick = max(self.tick, math.ceil((now - self.t0) / TICK))
                    idle = False
                due = self.t0 + self.tick * TICK
                if now < due:
                    self.cond.wait(due - now)
                    continue
                if now - due > STALL:
                    self.stalls += 1
                    self.t0 = now - self.tick * TICK
                    for conf in self.confs.values():
                        conf.drop_backlog()
                else:
                    self.late_us.append(int((now - due) * 1e6))
                try:
                    self._step(self.tick)
                except Exception:  # a bug must not silence every play and conference
                    log.exception("media clock: tick %d failed", self.tick)
                self.tick += 1

    def _step(self, tick: int) -> None:
        out: dict[int, bytes] = {}
        mixed: list[Party] = []
        if tick % 2 == 0:
            for conf in self.confs.values():
                conf.mix(out, mixed)
        done: list[tuple[Leg, Play]] = []
        finished: list[OutStream] = []
        for s in self.streams.values():
            busy = s.busy
            s.emit(tick, out.get(s.leg.id), done)
            if busy and not s.busy:
                finished.append(s)
        if mixed:
            now = time.monotonic_ns()
            for p in mixed:
                for arrived in p.taken:
                    p.latency_us.append((now - arrived) // 1000)
        for leg, play in done:
            if play.on_done is not None:
                self.post(play.on_done, leg, play.id, True)
        for s in finished:
            self.settle(s.leg)
            self.post(self.idle, s.leg)
