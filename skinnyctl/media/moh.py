"""Music-on-hold source: audio converted once to 8 kHz G.711 frames.

`MusicOnHold.from_wav(path)` reads a WAV file (PCM 8/16/24/32-bit, IEEE float 32/64-bit,
G.711 A-law/µ-law, WAVE_FORMAT_EXTENSIBLE; any rate, any channel count), mixes it to mono,
resamples to 8 kHz and encodes it to µ-law and A-law. `MusicOnHold.default()` synthesises a
soft arpeggio loop, so no binary asset ships with the package.

Conversion uses the stdlib `audioop` (Python 3.11/3.12; the `audioop-lts` package provides the
same module on 3.13+) for width changes, resampling and G.711, and numpy for float input,
channel mixing and the anti-alias filter that `audioop.ratecv` lacks.
"""

from __future__ import annotations

import math
import struct
import threading
import warnings
from pathlib import Path

import numpy as np

from skinnyctl.site.files import MOH_LIMIT, FileRefused, read_bounded

with warnings.catch_warnings():
    # audioop is deprecated in 3.11/3.12 but present; audioop-lts replaces it on 3.13+.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = ["CODECS", "SAMPLE_RATE", "MusicOnHold", "WavError"]

SAMPLE_RATE = 8000
# codec name -> static RTP payload type (RFC 3551)
CODECS: dict[str, int] = {"ulaw": 0, "alaw": 8}

_FMT_PCM = 0x0001
_FMT_FLOAT = 0x0003
_FMT_ALAW = 0x0006
_FMT_ULAW = 0x0007
_FMT_EXTENSIBLE = 0xFFFE


class WavError(ValueError):
    """A music-on-hold file that cannot be used; the message says what to do."""


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Return (mono int16 samples, sample rate) from a RIFF/WAVE file."""
    try:
        raw = read_bounded(path, MOH_LIMIT)
    except FileRefused as exc:
        raise WavError(f"music-on-hold file {path} {exc}") from exc
    except OSError as exc:
        raise WavError(f"cannot read music-on-hold file {path}: {exc.strerror}") from exc
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise WavError(
            f"{path} is not a WAV file (no RIFF/WAVE header); convert it with "
            f"`sox {path.name} -r 8000 -c 1 moh.wav`"
        )
    fmt: tuple[int, int, int, int] | None = None
    data: bytes | None = None
    pos = 12
    while pos + 8 <= len(raw):
        cid = raw[pos : pos + 4]
        size = struct.unpack_from("<I", raw, pos + 4)[0]
        body = raw[pos + 8 : pos + 8 + size]  # clamps a streaming writer's bogus size
        if cid == b"fmt " and len(body) >= 16:
            tag, channels, rate, _brate, _align, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _FMT_EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]  # first word of SubFormat GUID
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            data = body
        pos += 8 + size + (size & 1)  # chunks are word aligned
    if fmt is None or data is None:
        raise WavError(f"{path}: missing fmt or data chunk")
    tag, channels, rate, bits = fmt
    if channels < 1 or rate < 1000:
        raise WavError(f"{path}: implausible format ({channels} channels, {rate} Hz)")
    width = (bits + 7) // 8
    frame = width * channels
    data = data[: len(data) - len(data) % frame] if frame else b""
    if not data:
        raise WavError(f"{path}: no audio samples")
    if tag == _FMT_PCM and width in (1, 2, 3, 4):
        if width == 1:
            data = audioop.bias(data, 1, -128)  # 8-bit WAV is unsigned
        pcm = np.frombuffer(audioop.lin2lin(data, width, 2), dtype="<i2")
    elif tag == _FMT_FLOAT and width in (4, 8):
        f = np.frombuffer(data, dtype="<f4" if width == 4 else "<f8")
        pcm = (np.clip(f, -1.0, 1.0) * 32767.0).astype("<i2")
    elif tag in (_FMT_ALAW, _FMT_ULAW) and width == 1:
        dec = audioop.alaw2lin if tag == _FMT_ALAW else audioop.ulaw2lin
        pcm = np.frombuffer(dec(data, 2), dtype="<i2")
    else:
        raise WavError(
            f"{path}: unsupported WAV encoding (format tag {tag:#x}, {bits} bits); "
            f"convert it with `sox {path.name} -b 16 -r 8000 -c 1 moh.wav`"
        )
    if channels > 1:
        pcm = pcm.reshape(-1, channels).astype(np.int32).mean(axis=1).astype("<i2")
    return pcm, rate


def _lowpass(pcm: np.ndarray, rate: int, cutoff: float) -> np.ndarray:
    """Windowed-sinc FIR low-pass; run once at load, before the 8 kHz decimation."""
    taps = 101
    n = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(2 * cutoff / rate * n) * np.blackman(taps)
    h /= h.sum()
    y = np.convolve(pcm.astype(np.float64), h, mode="same")
    return np.clip(np.round(y), -32768, 32767).astype("<i2")


def _to_8k(pcm: np.ndarray, rate: int) -> bytes:
    if rate == SAMPLE_RATE:
        return pcm.astype("<i2").tobytes()
    if rate > SAMPLE_RATE:
        # ratecv interpolates without filtering; remove what would alias above 4 kHz.
        pcm = _lowpass(pcm, rate, 3600.0)
    out, _state = audioop.ratecv(pcm.astype("<i2").tobytes(), 2, 1, rate, SAMPLE_RATE, None)
    return out


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
        self._encoded = {
            "ulaw": audioop.lin2ulaw(pcm8k, 2),
            "alaw": audioop.lin2alaw(pcm8k, 2),
        }
        self._frames: dict[tuple[str, int], tuple[bytes, ...]] = {}
        self._lock = threading.Lock()
        self.frames("ulaw", 20)
        self.frames("alaw", 20)

    @classmethod
    def from_wav(cls, path: str | Path) -> MusicOnHold:
        p = Path(path)
        pcm, rate = _read_wav(p)
        return cls(_to_8k(pcm, rate), name=p.name)

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
                silence = b"\xff" if codec == "ulaw" else b"\xd5"
                pad = (-len(enc)) % size
                enc = enc + silence * pad
                got = tuple(enc[i : i + size] for i in range(0, len(enc), size))
                self._frames[key] = got
        return got
