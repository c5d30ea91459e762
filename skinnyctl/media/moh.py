"""Music-on-hold source: audio converted once to 8 kHz G.711 frames.

`MusicOnHold.from_wav(path)` reads a WAV file (any common encoding, rate and channel count: see
`wav.load_8k`) and encodes it to µ-law and A-law (`g711`). `MusicOnHold.default()` synthesises
a soft arpeggio loop, so no binary asset ships with the package.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np

from . import g711
from .wav import SAMPLE_RATE, WavError, load_8k

__all__ = ["CODECS", "SAMPLE_RATE", "MusicOnHold", "WavError"]

# codec name -> static RTP payload type (RFC 3551)
CODECS: dict[str, int] = {"ulaw": 0, "alaw": 8}


def _default_pcm() -> np.ndarray:
    """A gentle music-box arpeggio over four chords, about 9.6 s, looping cleanly."""
    rate = SAMPLE_RATE
    step = 0.3  # seconds per note
    # Cmaj7, Am7, Fmaj7, G6 arpeggios (MIDI note numbers), 8 notes each
    chords = [
        [60, 64, 67, 71, 72, 71, 67, 64],
        [57, 60, 64, 67, 69, 67, 64, 60],
        [53, 57, 60, 64, 65, 64, 60, 57],
        [55, 59, 62, 64, 67, 64, 62, 59],
    ]
    notes = [n for chord in chords for n in chord]
    total = int(len(notes) * step * rate)
    out = np.zeros(total + rate * 2, dtype=np.float64)
    dur = int(1.2 * rate)  # each note rings on under the next ones
    t = np.arange(dur) / rate
    env = np.exp(-t * 3.5) * np.minimum(1.0, t / 0.008)  # soft attack, bell-like decay
    for i, midi in enumerate(notes):
        f = 440.0 * 2 ** ((midi - 69) / 12)
        tone = np.sin(2 * math.pi * f * t) + 0.25 * np.sin(2 * math.pi * 2 * f * t)
        start = int(i * step * rate)
        out[start : start + dur] += tone * env
    # fold the ringing tail back onto the start so the loop has no click
    out[: len(out) - total] += out[total:]
    out = out[:total]
    out *= (10 ** (-14 / 20)) / np.max(np.abs(out))  # peak at -14 dBFS: audible, not loud
    return np.round(out * 32767).astype("<i2")


class MusicOnHold:
    """An endless source of G.711 frames; immutable after construction, thread-safe."""

    def __init__(self, pcm8k: bytes, name: str = "default") -> None:
        if len(pcm8k) < 2:
            raise WavError("music on hold needs at least one sample")
        self.name = name
        self.pcm = pcm8k  # 16-bit little-endian mono at 8 kHz
        # encode once; frames for any packetisation are slices of these
        samples = np.frombuffer(pcm8k[: len(pcm8k) & ~1], dtype="<i2")
        self._encoded = {codec: g711.encode(samples, codec) for codec in CODECS}
        self._frames: dict[tuple[str, int], tuple[bytes, ...]] = {}
        self._lock = threading.Lock()
        self.frames("ulaw", 20)
        self.frames("alaw", 20)

    @classmethod
    def from_wav(cls, path: str | Path) -> MusicOnHold:
        p = Path(path)
        return cls(load_8k(p).tobytes(), name=p.name)

    @classmethod
    def default(cls) -> MusicOnHold:
        return cls(_default_pcm().tobytes(), name="default")

    @property
    def duration(self) -> float:
        return len(self.pcm) / 2 / SAMPLE_RATE

    def frames(self, codec: str, ptime_ms: int = 20) -> tuple[bytes, ...]:
        """The whole loop cut into `ptime_ms` G.711 frames (last one padded with silence)."""
        if codec not in CODECS:
            raise ValueError(f"unknown codec {codec!r}; use one of {sorted(CODECS)}")
        if not 10 <= ptime_ms <= 120 or ptime_ms % 10:
            raise ValueError(f"ptime {ptime_ms} ms unsupported; use 10..120 in steps of 10")
        key = (codec, ptime_ms)
        with self._lock:
            got = self._frames.get(key)
            if got is None:
                enc = self._encoded[codec]
                size = SAMPLE_RATE * ptime_ms // 1000
                silence = bytes([g711.SILENCE[codec]])
                pad = (-len(enc)) % size
                enc = enc + silence * pad
                got = tuple(enc[i : i + size] for i in range(0, len(enc), size))
                self._frames[key] = got
        return got
