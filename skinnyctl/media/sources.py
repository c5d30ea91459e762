"""What the engine can play to a leg: music on hold, prompts (WAV files), tones, silence.

Sources are small immutable descriptions; `Renderer` turns a sequence of them into G.711 frames
for one leg's codec and packet time. Decoded WAV files are cached (keyed by path, checked
against the file's size and modification time, bounded in bytes), so a prompt played to many
callers is read and resampled once.

    Music()                          # the engine's music on hold (site.toml music_on_hold)
    Music(MusicOnHold.from_wav(p))   # another music source
    Prompt("greeting.wav", "beep.wav")   # files played back to back
    Tone(1000, 0.25)                 # a beep; Tone((350, 440), 2.0) is a dual tone
    Silence(0.5)
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import g711
from .moh import MusicOnHold
from .wav import SAMPLE_RATE, load_8k

__all__ = ["Music", "Prompt", "Renderer", "Silence", "Source", "Tone", "describe"]


@dataclass(frozen=True)
class Music:
    """Music on hold: the engine's own (None) or the given source."""

    moh: MusicOnHold | None = None


@dataclass(frozen=True, init=False)
class Prompt:
    """One or more WAV files (any common encoding and rate), played back to back."""

    paths: tuple[Path, ...]

    def __init__(self, *paths: str | Path) -> None:
        if not paths:
            raise ValueError("a prompt needs at least one WAV file")
        object.__setattr__(self, "paths", tuple(Path(p) for p in paths))


@dataclass(frozen=True, init=False)
class Tone:
    """A tone of one or more frequencies (Hz) for `seconds`; peak level in dBFS."""

    frequencies: tuple[float, ...]
    seconds: float
    level_dbfs: float

    def __init__(
        self, frequencies: float | Sequence[float], seconds: float, level_dbfs: float = -12.0
    ) -> None:
        freqs = (
            (float(frequencies),)
            if isinstance(frequencies, int | float)
            else tuple(float(f) for f in frequencies)
        )
        if not freqs or not all(0 < f < SAMPLE_RATE / 2 for f in freqs):
            raise ValueError(f"tone frequencies must be between 0 and 4000 Hz, not {freqs}")
        if not 0 < seconds <= 600:
            raise ValueError(f"tone length {seconds} s is not between 0 and 600 s")
        if not -90 <= level_dbfs <= 0:
            raise ValueError(f"tone level {level_dbfs} dBFS is not between -90 and 0")
        object.__setattr__(self, "frequencies", freqs)
        object.__setattr__(self, "seconds", float(seconds))
        object.__setattr__(self, "level_dbfs", float(level_dbfs))


@dataclass(frozen=True)
class Silence:
    seconds: float

    def __post_init__(self) -> None:
        if not 0 < self.seconds <= 600:
            raise ValueError(f"silence length {self.seconds} s is not between 0 and 600 s")


Source = Music | Prompt | Tone | Silence


def describe(sources: Sequence[Source]) -> str:
    """Short text for stats: 'music', 'prompt:a.wav+b.wav', 'tone:1000Hz/0.25s', ..."""
    parts = []
    for s in sources:
        if isinstance(s, Music):
            parts.append("music" if s.moh is None else f"music:{s.moh.name}")
        elif isinstance(s, Prompt):
            parts.append("prompt:" + "+".join(p.name for p in s.paths))
        elif isinstance(s, Tone):
            hz = "+".join(f"{f:g}" for f in s.frequencies)
            parts.append(f"tone:{hz}Hz/{s.seconds:g}s")
        else:
            parts.append(f"silence:{s.seconds:g}s")
    return ",".join(parts)


def _tone(t: Tone) -> np.ndarray:
    n = round(t.seconds * SAMPLE_RATE)
    x = np.arange(n) / SAMPLE_RATE
    y = sum(np.sin(2 * math.pi * f * x) for f in t.frequencies)
    assert isinstance(y, np.ndarray)
    ramp = min(40, n // 2)  # 5 ms fade in and out: no click at the edges
    if ramp:
        fade = np.linspace(0.0, 1.0, ramp)
        y[:ramp] *= fade
        y[n - ramp :] *= fade[::-1]
    peak = 32767 * 10 ** (t.level_dbfs / 20) / len(t.frequencies)
    return np.round(y * peak).astype(np.int16)


class Renderer:
    """Sources -> G.711 frames. Thread-safe; file decoding happens outside any engine lock."""

    def __init__(self, music: Callable[[], MusicOnHold], cache_bytes: int = 64 << 20) -> None:
        self._music = music
        self._cache: OrderedDict[Path, tuple[int, int, np.ndarray]] = OrderedDict()
        self._cache_limit = cache_bytes
        self._cached = 0
        self._lock = threading.Lock()
        self.decoded = 0  # files decoded (cache misses), for tests and stats

    def frames(self, sources: Sequence[Source], codec: str, ptime_ms: int) -> tuple[bytes, ...]:
        """The sources back to back, in `ptime_ms` frames of `codec` (last one padded with
        silence). Raises `WavError` (from `wav`) for a file that cannot be used."""
        if len(sources) == 1 and isinstance(sources[0], Music):
            moh = sources[0].moh or self._music()
            return moh.frames(codec, ptime_ms)  # encoded once per codec and ptime
        pcm = np.concatenate([self.pcm(s) for s in sources])
        enc = g711.encode(pcm, codec)
        size = SAMPLE_RATE * ptime_ms // 1000
        enc += bytes([g711.SILENCE[codec]]) * (-len(enc) % size)
        return tuple(enc[i : i + size] for i in range(0, len(enc), size))

    def pcm(self, source: Source) -> np.ndarray:
        """8 kHz int16 samples of one source."""
        if isinstance(source, Music):
            moh = source.moh or self._music()
            return np.frombuffer(moh.pcm, dtype="<i2")
        if isinstance(source, Prompt):
            return np.concatenate([self._wav(p) for p in source.paths])
        if isinstance(source, Tone):
            return _tone(source)
        if isinstance(source, Silence):
            return np.zeros(round(source.seconds * SAMPLE_RATE), dtype=np.int16)
        raise TypeError(f"not a media source: {source!r} (use Music, Prompt, Tone or Silence)")

    def _wav(self, path: Path) -> np.ndarray:
        key = path.resolve()
        try:
            st = key.stat()
        except OSError:
            st = None  # load_8k reports it with a clear message
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and st is not None and hit[:2] == (st.st_size, st.st_mtime_ns):
                self._cache.move_to_end(key)
                return hit[2]
        pcm = load_8k(key)
        if st is None:
            return pcm
        with self._lock:
            old = self._cache.pop(key, None)
            if old is not None:
                self._cached -= old[2].nbytes
            self._cache[key] = (st.st_size, st.st_mtime_ns, pcm)
            self._cached += pcm.nbytes
            self.decoded += 1
            while self._cached > self._cache_limit and len(self._cache) > 1:
                _k, (_s, _m, dropped) = self._cache.popitem(last=False)
                self._cached -= dropped.nbytes
        return pcm
