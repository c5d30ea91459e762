"""Conference mixing: a jitter buffer per party and a vectorised mix every 20 ms.

`Party.push` runs on the forwarding thread for each packet a party sends: the payload is placed
in the party's ring by its RTP timestamp (not by arrival), so a reordered or early packet lands
where it belongs. `Party.take`, on the media-clock thread, reads the next 20 ms at the play-out
point:

* data there: mixed, the play-out point advances;
* nothing there but data within 60 ms after it: a lost (or late) packet; the party is silent
  for this frame and the play-out point advances;
* the next data further ahead: the sender paused its stream and jumped its timestamps; skip
  to it, so the pause does not become latency;
* nothing at all: the party is silent; the play-out point waits up to 3 frames (a late packet
  then still finds its place), then follows the clock (a party that stops sending is
  silence, never a stall), and its next packet starts the buffer afresh, so a pause in
  sending does not become latency either.

A packet arriving after its time was mixed is counted late and deepens the buffer by one frame
(up to 100 ms), so the next equally late packet is in time; three late packets in a row mean
the sender's timeline moved, and the buffer restarts on it. Frames that were spare at every
tick for 5 s are dropped, giving the latency back after a burst.

`Conference.mix` decodes every party's frame in one numpy indexing operation (µ-law and A-law
rows of `g711.DECODE`), sums them in int32, subtracts each party's own signal, saturates to
int16 and encodes each party's frame in its own law (`g711.ENCODE`), again in one operation.
The forwarding thread and the clock thread share a party only under its conference's lock.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from . import g711
from .g711 import ALAW_TO_ULAW, ULAW_TO_ALAW
from .rtp import signed32

if TYPE_CHECKING:
    from .relay import Leg

__all__ = ["FRAME", "Conference", "Party"]

FRAME = 160  # samples per mixed frame (20 ms at 8 kHz)
BLOCK = 80  # jitter-buffer granularity: 10 ms, the smallest G.711 packet time phones use
NBLOCKS = 100  # ring of 1 s
RING = BLOCK * NBLOCKS
SHRINK_TICKS = 250  # frames buffered beyond need at every tick for 5 s are dropped
MAX_GAP = 3 * 160  # missing data up to this before later data: lost packets, not a pause
MAX_WAIT = 3  # frames the play-out point waits for a party that sent nothing
MAX_DEPTH = 5 * 160  # late packets deepen the buffer up to 100 ms
_ROW_OF_PT = {pt: g711.LAW_INDEX[law] for pt, law in g711.LAW_OF_PT.items()}
_SILENT_BLOCK = tuple(bytes([g711.SILENCE[law]]) * BLOCK for law in g711.LAW_INDEX)  # by row
_CONVERT = {(0, 1): ULAW_TO_ALAW, (1, 0): ALAW_TO_ULAW}


class Party:
    """One leg in a conference: its jitter buffer and counters."""

    __slots__ = (
        "arrival",
        "concealed",
        "conf",
        "frames_mixed",
        "grow",
        "late",
        "late_run",
        "latency_us",
        "law",
        "leg",
        "min_spare",
        "newest",
        "play_idx",
        "play_ts",
        "reordered",
        "restarts",
        "ring",
        "shrunk",
        "skipped",
        "ssrc",
        "stamp",
        "started",
        "taken",
        "underruns",
        "waits",
        "window",
    )

    def __init__(self, leg: Leg, law: int, conf: Conference) -> None:
        self.leg = leg
        self.conf = conf
        self.law = law  # g711.LAW_INDEX row: what the party sends and hears
        self.ring = bytearray(RING)
        self.stamp = [-1] * NBLOCKS  # absolute sample index held by each block, -1: none
        self.arrival = [0] * NBLOCKS  # monotonic ns each block arrived (mixing latency)
        self.started = False
        self.ssrc = -1
        self.play_ts = 0  # RTP timestamp of the next sample to mix
        self.play_idx = 0  # the same point as an ever-growing sample index
        self.newest = 0  # sample index just past the newest data received
        self.min_spare = RING
        self.window = 0  # frames taken since the last shrink decision
        self.waits = 0  # consecutive frames waited for data
        self.grow = False  # a late packet asked for one more frame of buffering
        self.late_run = 0
        self.taken: list[int] = []  # arrival ns of the blocks in the frame just taken
        self.latency_us: deque[int] = deque(maxlen=2000)
        self.frames_mixed = 0
        self.late = 0
        self.reordered = 0
        self.underruns = 0
        self.concealed = 0
        self.skipped = 0
        self.shrunk = 0
        self.restarts = 0

    # -- forwarding thread (under conf.lock) ---------------------------------------------------

    def push(self, buf: bytearray, start: int, end: int, now_ns: int) -> None:
        law = _ROW_OF_PT.get(buf[1] & 0x7F)
        if law is None or end <= start:
            return  # comfort noise, an unknown codec: not mixable, the party is silent
        payload = buf[start:end]
        if law != self.law:
            payload = payload.translate(_CONVERT[law, self.law])
        if len(payload) % BLOCK:
            payload += _SILENT_BLOCK[self.law][: -len(payload) % BLOCK]
        ssrc = buf[8] << 24 | buf[9] << 16 | buf[10] << 8 | buf[11]
        ts = buf[4] << 24 | buf[5] << 16 | buf[6] << 8 | buf[7]
        if not self.started or ssrc != self.ssrc or self.waits > MAX_WAIT:
            self._restart(ssrc, ts)  # a new stream, or a talk spurt after the party fell silent
        rel = signed32(ts - self.play_ts)
        if rel < 0:
            self.late_run += 1
            if rel > -RING and self.late_run < 3:
                self.late += 1  # its time was mixed already
                if self.newest - self.play_idx < MAX_DEPTH:
                    self.grow = True
                return
            self._restart(ssrc, ts)  # the sender's timeline moved: follow it
            rel = 0
        elif rel % BLOCK or rel + len(payload) > RING - FRAME:
            self._restart(ssrc, ts)  # off our grid or beyond the ring: resynchronise
            rel = 0
        self.late_run = 0
        idx = self.play_idx + rel
        if idx + len(payload) <= self.newest:
            self.reordered += 1
        pos = idx % RING
        n = len(payload)
        if pos + n <= RING:
            self.ring[pos : pos + n] = payload
        else:
            cut = RING - pos
            self.ring[pos:] = payload[:cut]
            self.ring[: n - cut] = payload[cut:]
        stamp, arrival = self.stamp, self.arrival
        for k in range(0, n, BLOCK):
            b = (idx + k) // BLOCK % NBLOCKS
            stamp[b] = idx + k
            arrival[b] = now_ns
        self.newest = max(self.newest, idx + n)

    def _restart(self, ssrc: int, ts: int) -> None:
        if self.started:
            self.restarts += 1
        self.late_run = 0
        self.started = True
        self.waits = 0
        self.ssrc = ssrc
        self.play_ts = ts
        self.newest = self.play_idx
        self.stamp = [-1] * NBLOCKS
        self.min_spare = RING

    # -- clock thread (under conf.lock) ---------------------------------------------------------

    def take(self) -> bytes | None:
        """The next 20 ms of this party's G.711 (its own law), or None: silent this frame."""
        if not self.started:
            return None
        if self.grow:
            self.grow = False  # one frame more of buffering: hold the play-out point
            self.underruns += 1
            return None
        i = self.play_idx
        if not (self._has(i) or self._has(i + BLOCK)):
            k = self._next_data(i)
            if k is None:
                self.underruns += 1
                self.min_spare = 0
                self.waits += 1
                if self.waits > MAX_WAIT:
                    self._advance(FRAME)  # silent party: the play-out point follows the clock
                return None
            if k - i <= MAX_GAP:
                self.concealed += 1  # lost or late: silence in its place
                self._advance(FRAME)
                return None
            self.skipped += (k - i) // BLOCK
            self._advance(k - i)
            i = k
        self.waits = 0
        stamp = self.stamp
        frame = bytearray(FRAME)
        taken = self.taken
        taken.clear()
        for k in (0, BLOCK):
            pos = (i + k) % RING
            if stamp[(i + k) // BLOCK % NBLOCKS] == i + k:
                frame[k : k + BLOCK] = self.ring[pos : pos + BLOCK]
                taken.append(self.arrival[(i + k) // BLOCK % NBLOCKS])
            else:
                frame[k : k + BLOCK] = _SILENT_BLOCK[self.law]
        self._advance(FRAME)
        self.frames_mixed += 1
        self.min_spare = min(self.min_spare, self.newest - self.play_idx)
        self.window += 1
        if self.window >= SHRINK_TICKS:
            spare = self.min_spare // FRAME * FRAME
            if spare:
                self._advance(spare)  # frames always waiting: give that latency back
                self.shrunk += spare // FRAME
            self.window = 0
            self.min_spare = RING
        return bytes(frame)

    def drop_backlog(self) -> None:
        """Keep only the newest frame buffered (the clock stalled: what piled up meanwhile
        would otherwise all become latency)."""
        backlog = (self.newest - self.play_idx - FRAME) // BLOCK * BLOCK
        if self.started and backlog > 0:
            self.skipped += backlog // BLOCK
            self._advance(backlog)

    def _has(self, idx: int) -> bool:
        return self.stamp[idx // BLOCK % NBLOCKS] == idx

    def _next_data(self, i: int) -> int | None:
        for k in range(i + BLOCK, self.newest, BLOCK):
            if self._has(k):
                return k
        return None

    def _advance(self, samples: int) -> None:
        self.play_idx += samples
        self.play_ts = (self.play_ts + samples) & 0xFFFFFFFF


class Conference:
    """The parties of one conference; `mix` runs on the clock thread every 20 ms."""

    def __init__(self, key: object) -> None:
        self.key = key
        self.lock = threading.Lock()
        self.parties: dict[int, Party] = {}  # leg id -> party

    def add(self, leg_id: int, party: Party) -> None:
        with self.lock:
            self.parties[leg_id] = party

    def remove(self, leg_id: int) -> Party | None:
        with self.lock:
            return self.parties.pop(leg_id, None)

    def drop_backlog(self) -> None:
        with self.lock:
            for p in self.parties.values():
                p.drop_backlog()

    def mix(self, out: dict[int, bytes], mixed: list[Party]) -> None:
        """Put each mixed party's next frame (the sum of the others) in `out` by leg id; the
        parties whose input was mixed go in `mixed` (their `taken` arrival times)."""
        with self.lock:
            active = [p for p in self.parties.values() if not p.leg.held]
            frames = [p.take() for p in active]
        if not active:
            return
        n = len(active)
        laws = np.fromiter((p.law for p in active), dtype=np.intp, count=n)
        rows = [k for k, f in enumerate(frames) if f is not None]
        present = [f for f in frames if f is not None]
        lin = np.zeros((n, FRAME), dtype=np.int32)
        if rows:
            codes = np.frombuffer(b"".join(present), dtype=np.uint8)
            lin[rows] = g711.DECODE[laws[rows, None], codes.reshape(len(rows), FRAME)]
        heard = lin.sum(axis=0) - lin  # each party: everyone but itself
        np.clip(heard, -32768, 32767, out=heard)  # saturate, never wrap
        encoded = g711.ENCODE[laws[:, None], heard.astype(np.int16).view(np.uint16)].tobytes()
        for k, p in enumerate(active):
            out[p.leg.id] = encoded[k * FRAME : (k + 1) * FRAME]
        for k in rows:
            mixed.append(active[k])
