"""Music-on-hold source: WAV loading and conversion to 8 kHz G.711 frames."""

from __future__ import annotations

import math
import struct
import warnings
import wave
from pathlib import Path

import numpy as np
import pytest

from skinnyctl.media import MusicOnHold, WavError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


def _sine(rate: int, freq: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * math.pi * freq * t)


def _write_pcm(path: Path, x: np.ndarray, rate: int, width: int, channels: int = 1) -> None:
    if width == 1:
        raw = np.round(x * 127 + 128).astype(np.uint8).tobytes()
    elif width == 3:
        v = np.round(x * (2**23 - 1)).astype("<i4").tobytes()
        raw = b"".join(v[i : i + 3] for i in range(0, len(v), 4))
    else:
        dtype = {2: "<i2", 4: "<i4"}[width]
        raw = np.round(x * (2 ** (8 * width - 1) - 1)).astype(dtype).tobytes()
    if channels > 1:
        frame = width
        samples = [raw[i : i + frame] for i in range(0, len(raw), frame)]
        raw = b"".join(s * channels for s in samples)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


def _write_float(path: Path, x: np.ndarray, rate: int, extensible: bool = False) -> None:
    data = x.astype("<f4").tobytes()
    if extensible:
        guid = struct.pack("<H", 3) + bytes.fromhex("000000001000800000aa00389b71")
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 1, rate, rate * 4, 4, 32, 22, 32, 4) + guid
    else:
        fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def _dominant_hz(moh: MusicOnHold) -> float:
    pcm = np.frombuffer(moh.pcm, dtype="<i2").astype(np.float64)
    spec = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    return float(np.argmax(spec) * 8000 / len(pcm))


def _rms_ulaw(frames: tuple[bytes, ...]) -> float:
    return float(audioop.rms(audioop.ulaw2lin(b"".join(frames), 2), 2))


def test_default_is_a_pleasant_nonsilent_loop() -> None:
    moh = MusicOnHold.default()
    assert 5 < moh.duration < 20
    frames = moh.frames("ulaw", 20)
    assert all(len(f) == 160 for f in frames)
    rms = _rms_ulaw(frames)
    assert 1000 < rms < 12000  # audible but well below full scale
    alaw = moh.frames("alaw", 20)
    assert len(alaw) == len(frames)
    assert audioop.rms(audioop.alaw2lin(b"".join(alaw), 2), 2) == pytest.approx(rms, rel=0.05)


@pytest.mark.parametrize(
    ("rate", "width", "channels"),
    [(8000, 2, 1), (44100, 2, 2), (48000, 3, 1), (11025, 1, 1), (22050, 4, 2), (16000, 2, 1)],
)
def test_from_wav_pcm_any_rate_width(tmp_path: Path, rate: int, width: int, channels: int) -> None:
    path = tmp_path / "m.wav"
    _write_pcm(path, _sine(rate, 1000.0, 1.0), rate, width, channels)
    moh = MusicOnHold.from_wav(path)
    assert moh.duration == pytest.approx(1.0, abs=0.01)
    assert _dominant_hz(moh) == pytest.approx(1000.0, abs=5)
    # amplitude 0.5 -> rms ~ 0.354 * 32767, G.711 keeps it within a few percent
    assert _rms_ulaw(moh.frames("ulaw", 20)) == pytest.approx(0.3536 * 32767, rel=0.06)


@pytest.mark.parametrize("extensible", [False, True])
def test_from_wav_float(tmp_path: Path, extensible: bool) -> None:
    path = tmp_path / "f.wav"
    _write_float(path, _sine(48000, 440.0, 0.5), 48000, extensible)
    moh = MusicOnHold.from_wav(path)
    assert _dominant_hz(moh) == pytest.approx(440.0, abs=5)


def test_resampling_filters_out_aliasing(tmp_path: Path) -> None:
    # 6 kHz cannot be represented at 8 kHz; without a filter it would fold to 2 kHz
    path = tmp_path / "hi.wav"
    _write_pcm(path, _sine(44100, 6000.0, 1.0), 44100, 2)
    moh = MusicOnHold.from_wav(path)
    assert audioop.rms(moh.pcm, 2) < 0.05 * 0.3536 * 32767


def test_frames_of_other_ptime(tmp_path: Path) -> None:
    moh = MusicOnHold.default()
    f30 = moh.frames("alaw", 30)
    assert all(len(f) == 240 for f in f30)
    assert moh.frames("alaw", 30) is f30  # computed once


def test_bad_files_say_what_to_do(tmp_path: Path) -> None:
    p = tmp_path / "x.wav"
    p.write_bytes(b"not a wav at all")
    with pytest.raises(WavError, match="sox"):
        MusicOnHold.from_wav(p)
    with pytest.raises(WavError, match="cannot read"):
        MusicOnHold.from_wav(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="codec"):
        MusicOnHold.default().frames("g729", 20)
