"""Recording a leg to an 8 kHz 16-bit mono WAV file, written by a disk thread.

The forwarding thread only appends each received packet (SSRC, timestamp, payload type,
payload) to the recording's deque; the disk thread (`DiskWriter`) wakes every 50 ms, puts what
arrived in timestamp order (keeping the newest 60 ms back for a reordered straggler), fills
gaps (a lost packet, a sender pausing its stream) with silence, decodes G.711 with `g711`,
watches the level and the limits, and appends to the file. A slow or full disk therefore never
delays forwarding.

Atomicity: the audio goes to a temporary file in the target's directory (``.NAME.XXXX.part``,
a header with placeholder sizes first); on completion the header is patched, the file fsynced
and renamed over the final name, and the directory fsynced. A crash leaves at most the
``.part`` file, never a half file under the final name. Any OSError (a full disk) ends the
recording with why "error", a log line and no file; nothing escapes the thread.

Ends: ``stopped`` (stop_record), ``limit`` (max_seconds of audio, or of wall time when the
far end stops sending), ``silence`` (after the first speech, the level stayed below the
threshold for silence_seconds, or nothing arrived for that long; the trailing silence is cut
off), ``closed`` (the leg closed: what was recorded is kept), ``error``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import g711
from .rtp import signed32
from .wav import HEADER_SIZE, SAMPLE_RATE, header

if TYPE_CHECKING:
    from .relay import Leg

__all__ = ["DiskWriter", "Recording"]

log = logging.getLogger("skinnyctl.media.record")

PERIOD = 0.05  # seconds between disk passes
HOLDBACK = 480  # samples (60 ms) kept back for reordered packets
LEVEL_FRAME = 160  # the level is judged per 20 ms

RecordDone = Callable[["Leg", int, Path, float, str], Any]


class Recording:
    """One recording in progress. `pending` is the only field the forwarding thread touches."""

    def __init__(
        self,
        rec_id: int,
        leg: Leg,
        path: Path,
        max_seconds: float,
        silence_seconds: float | None,
        silence_dbfs: float,
        on_done: RecordDone | None,
    ) -> None:
        self.id = rec_id
        self.leg = leg
        self.path = path
        self.on_done = on_done
        self.pending: deque[tuple[int, int, int, bytes]] = deque()  # ssrc, ts, pt, payload
        self.max_samples = round(max_seconds * SAMPLE_RATE)
        self.wall_limit = time.monotonic() + max_seconds + 0.3  # grace for packets in flight
        self.silence_samples = (
            round(silence_seconds * SAMPLE_RATE) if silence_seconds is not None else None
        )
        self.silence_seconds = silence_seconds
        # mean-square threshold of a 20 ms frame, from a level in dBFS
        self.threshold = (32768 * 10 ** (silence_dbfs / 20)) ** 2
        self.written = 0  # samples in the file
        self.ssrc = -1
        self.next_ts = 0  # RTP timestamp of the next sample to write
        self.speech = False
        self.speech_end = 0  # sample index just past the last loud frame
        self.last_packet = time.monotonic()
        self.late = 0
        self.held: list[tuple[int, int, int, bytes]] = []  # newest packets, waiting for order
        self.why: str | None = None  # set when it must end
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        self.tmp = Path(tmp)
        self.fh = os.fdopen(fd, "wb")
        try:
            self.fh.write(header(0xFFFFFFFF - 36))  # "unknown length" until the end
        except OSError:
            self.fh.close()
            self.tmp.unlink(missing_ok=True)
            raise

    @property
    def seconds(self) -> float:
        return self.written / SAMPLE_RATE

    # -- disk thread -------------------------------------------------------------------------

    def service(self, now: float, final: bool) -> None:
        """Write what arrived; decide whether a limit or silence ends the recording."""
        items = self.held
        self.held = []
        fresh = False
        pending = self.pending
        while pending:
            items.append(pending.popleft())
            fresh = True
        if fresh:
            self.last_packet = now
        if items:
            # nothing new arrived: the sender paused, nothing left to wait for
            items = self._order(items, final or not fresh)
            chunks = [self._place(*it) for it in items]
            pcm = np.concatenate([c for c in chunks if c is not None] or [np.zeros(0, np.int16)])
            room = self.max_samples - self.written
            if len(pcm) >= room:
                pcm = pcm[:room]
                self.why = self.why or "limit"
            self._write(pcm)
        if self.why is None:
            if now >= self.wall_limit:
                self.why = "limit"
            elif (
                self.speech
                and self.silence_seconds is not None
                and now - self.last_packet >= self.silence_seconds
            ):
                self.why = "silence"  # the far end stopped sending after speaking

    def _order(
        self, items: list[tuple[int, int, int, bytes]], flush: bool
    ) -> list[tuple[int, int, int, bytes]]:
        """Timestamp order from the write point; unless `flush`, the newest 60 ms of the
        current source are held back for a straggler that belongs before them."""
        if self.ssrc < 0:
            self.ssrc, self.next_ts = items[0][0], items[0][1]
        ref, ssrc = self.next_ts, self.ssrc

        def rel(it: tuple[int, int, int, bytes]) -> int:
            return signed32(it[1] - ref) if it[0] == ssrc else 1 << 40  # new source: last

        items.sort(key=rel)
        if flush or any(it[0] != ssrc for it in items):
            return items
        cut = rel(items[-1]) - HOLDBACK
        keep = [it for it in items if rel(it) <= cut]
        self.held = items[len(keep) :]
        return keep

    def _place(self, ssrc: int, ts: int, pt: int, payload: bytes) -> np.ndarray | None:
        law = g711.LAW_OF_PT.get(pt)
        if law is None:
            return None
        if ssrc != self.ssrc:  # a new source (transfer, re-INVITE): continue right here
            self.ssrc, self.next_ts = ssrc, ts
        gap = signed32(ts - self.next_ts)
        if gap < 0:
            self.late += 1  # already written past it
            return None
        pcm = g711.decode(payload, law)
        if gap:
            gap = min(gap, self.max_samples)  # a paused sender: silence, but within the limit
            pcm = np.concatenate([np.zeros(gap, dtype=np.int16), pcm])
        self.next_ts = (ts + len(payload)) & 0xFFFFFFFF
        return pcm

    def _write(self, pcm: np.ndarray) -> None:
        if not len(pcm):
            return
        start = self.written
        if self.silence_samples is not None:
            self._level(pcm, start)
        self.fh.write(pcm.astype("<i2").tobytes())
        self.written += len(pcm)
        if (
            self.why is None
            and self.speech
            and self.silence_samples is not None
            and self.written - self.speech_end >= self.silence_samples
        ):
            self.why = "silence"

    def _level(self, pcm: np.ndarray, start: int) -> None:
        """Track speech: the end of the last 20 ms frame above the threshold."""
        whole = len(pcm) - len(pcm) % LEVEL_FRAME
        if not whole:
            return
        frames = pcm[:whole].astype(np.float64).reshape(-1, LEVEL_FRAME)
        loud = np.flatnonzero((frames * frames).mean(axis=1) >= self.threshold)
        if len(loud):
            self.speech = True
            self.speech_end = start + (int(loud[-1]) + 1) * LEVEL_FRAME

    def finish(self) -> None:
        """Complete the file and rename it into place (why is set). Raises OSError."""
        if self.why == "silence":
            self.written = min(self.written, self.speech_end)  # drop the trailing silence
            self.fh.truncate(HEADER_SIZE + 2 * self.written)
        self.fh.seek(0)
        self.fh.write(header(2 * self.written))
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)  # the rename itself survives a crash
        finally:
            os.close(dfd)

    def discard(self) -> None:
        try:
            self.fh.close()
        except OSError:
            pass
        self.tmp.unlink(missing_ok=True)


class DiskWriter(threading.Thread):
    """The disk thread: services every recording each 50 ms, finishes the ended ones and posts
    their on_done, and `idle(leg)` (the engine re-plans the leg's forwarding), through `post`
    (the engine's notifier)."""

    def __init__(self, post: Callable[..., None], idle: Callable[[Leg], None]) -> None:
        super().__init__(name="skinnyctl-media-disk", daemon=True)
        self.cond = threading.Condition()
        self.recordings: dict[int, Recording] = {}
        self.post = post
        self.idle = idle
        self.stopping = False

    def add(self, rec: Recording) -> None:
        with self.cond:
            self.recordings[rec.id] = rec
            self.cond.notify()

    def end(self, rec: Recording, why: str) -> None:
        """Ask for `rec` to end now with `why` (it is finished on the disk thread)."""
        with self.cond:
            if rec.why is None:
                rec.why = why
            self.cond.notify()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify()

    def run(self) -> None:
        with self.cond:
            while True:
                stopping = self.stopping
                recs = list(self.recordings.values())
                self.cond.release()
                try:
                    for rec in recs:
                        self._service(rec, stopping)
                finally:
                    self.cond.acquire()
                if stopping and not self.recordings:
                    return
                self.cond.wait(PERIOD if self.recordings else None)  # idle: until add/stop

    def _service(self, rec: Recording, stopping: bool) -> None:
        if stopping and rec.why is None:
            rec.why = "closed"
        try:
            final = rec.why is not None
            rec.service(time.monotonic(), final)
            if rec.why is None:
                return
            if not final:
                rec.service(time.monotonic(), True)  # ended during this pass: flush what waited
            rec.finish()
        except OSError as e:
            log.error(
                "recording %s of leg %d failed: %s; the recording is discarded",
                rec.path,
                rec.leg.id,
                e.strerror or e,
            )
            rec.discard()
            rec.why = "error"
        except Exception:  # a bug must not stop the disk thread for every recording
            log.exception("recording %s of leg %d failed", rec.path, rec.leg.id)
            rec.discard()
            rec.why = "error"
        with self.cond:
            self.recordings.pop(rec.id, None)
        if rec.leg.rec is rec:
            rec.leg.rec = None  # the forwarding thread stops queueing for it
            self.post(self.idle, rec.leg)
        if rec.on_done is not None:
            self.post(rec.on_done, rec.leg, rec.id, rec.path, rec.seconds, rec.why)
