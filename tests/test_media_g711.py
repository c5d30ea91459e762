"""G.711 tables (skinnyctl.media.g711) against the stdlib's audioop and ITU-T G.711 values."""

from __future__ import annotations

import warnings

import numpy as np

from skinnyctl.media import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


def test_g711_tables_match_audioop_for_every_code_and_sample() -> None:
    codes = bytes(range(256))
    assert g711.decode(codes, "ulaw").tobytes() == audioop.ulaw2lin(codes, 2)
    assert g711.decode(codes, "alaw").tobytes() == audioop.alaw2lin(codes, 2)
    lin = np.arange(-32768, 32768, dtype=np.int16)
    assert g711.encode(lin, "ulaw") == audioop.lin2ulaw(lin.tobytes(), 2)
    assert g711.encode(lin, "alaw") == audioop.lin2alaw(lin.tobytes(), 2)
    assert codes.translate(g711.ULAW_TO_ALAW) == audioop.lin2alaw(audioop.ulaw2lin(codes, 2), 2)
    assert codes.translate(g711.ALAW_TO_ULAW) == audioop.lin2ulaw(audioop.alaw2lin(codes, 2), 2)
    # known values (ITU-T G.711): silence codes and the extremes
    assert g711.decode(b"\xff\x7f\x80\x00", "ulaw").tolist() == [0, 0, 32124, -32124]
    assert g711.decode(b"\xd5\x55\xaa\x2a", "alaw").tolist() == [8, -8, 32256, -32256]


def test_g711_works_on_any_buffer_and_wider_samples() -> None:
    pcm = np.array([0, 1000, -1000, 32767, -32768], dtype=np.int32)
    assert g711.encode(pcm, "ulaw") == audioop.lin2ulaw(pcm.astype("<i2").tobytes(), 2)
    assert g711.decode(memoryview(bytearray(b"\x00\xff")), "ulaw").tolist() == [-32124, 0]
