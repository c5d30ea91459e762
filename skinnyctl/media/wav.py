"""WAV files: read any common WAV as 8 kHz 16-bit mono; the header of the files we record.

`load_8k(path)` reads PCM 8/16/24/32-bit, IEEE float 32/64-bit, G.711 A-law/µ-law and
WAVE_FORMAT_EXTENSIBLE, any rate, any channel count; mixes to mono, low-pass filters and
resamples to 8 kHz. Used for music on hold and prompts. `header(data_bytes)` is the 44-byte
header of an 8 kHz 16-bit mono PCM file, as the recorder writes it.

Width changes and resampling use the stdlib `audioop` (Python 3.11/3.12; the `audioop-lts`
package provides it on 3.13+); numpy does float input, channel mixing and the anti-alias filter
that `audioop.ratecv` lacks.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np

from skinnyctl.site.files import MOH_LIMIT, FileRefused, read_bounded

from .g711 import decode

with warnings.catch_warnings():
    # audioop is deprecated in 3.11/3.12 but present; audioop-lts replaces it on 3.13+.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = ["HEADER_SIZE", "SAMPLE_RATE", "WavError", "header", "load_8k"]

SAMPLE_RATE = 8000
HEADER_SIZE = 44

_FMT_PCM = 0x0001
_FMT_FLOAT = 0x0003
_FMT_ALAW = 0x0006
_FMT_ULAW = 0x0007
_FMT_EXTENSIBLE = 0xFFFE


class WavError(ValueError):
    """An audio file that cannot be used (music on hold, a prompt); the message says what
    to do."""


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Return (mono int16 samples, sample rate) from a RIFF/WAVE file."""
    try:
        # bounded, regular files only: /dev/zero or a FIFO named by mistake must not hang
        # serve or eat its memory
        raw = read_bounded(path, MOH_LIMIT)
    except FileRefused as exc:
        raise WavError(f"audio file {path} {exc}") from exc
    except OSError as exc:
        raise WavError(f"cannot read audio file {path}: {exc.strerror}") from exc
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise WavError(
            f"{path} is not a WAV file (no RIFF/WAVE header); convert it with "
            f"`sox {path.name} -r 8000 -c 1 {path.stem}-8k.wav`"
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
        pcm = decode(data, "alaw" if tag == _FMT_ALAW else "ulaw").astype("<i2")
    else:
        raise WavError(
            f"{path}: unsupported WAV encoding (format tag {tag:#x}, {bits} bits); "
            f"convert it with `sox {path.name} -b 16 -r 8000 -c 1 {path.stem}-8k.wav`"
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


def load_8k(path: str | Path) -> np.ndarray:
    """The file's audio as 8 kHz mono int16 samples (raises `WavError` saying what to do)."""
    p = Path(path)
    pcm, rate = _read_wav(p)
    return np.frombuffer(_to_8k(pcm, rate), dtype="<i2")


def header(data_bytes: int) -> bytes:
    """RIFF/WAVE header of an 8 kHz 16-bit mono PCM file holding `data_bytes` of samples."""
    return b"RIFF" + struct.pack(
        "<I4s4sIHHIIHH4sI",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        1,
        SAMPLE_RATE,
        SAMPLE_RATE * 2,
        2,
        16,
        b"data",
        data_bytes,
    )
