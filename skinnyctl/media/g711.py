"""G.711 µ-law and A-law by table: decode, encode and µ-law <-> A-law, with numpy.

Every conversion is one table look-up over a whole buffer (numpy fancy indexing, or
`bytes.translate` for µ <-> A), never a per-sample Python loop. The tables are built once at
import from ITU-T G.711's segment rules, vectorised, and give exactly what the stdlib `audioop`
gives (``ulaw2lin``/``alaw2lin`` with width 2, ``lin2ulaw``/``lin2alaw`` of 16-bit samples):
tests compare all 256 codes and all 65,536 linear values.

    pcm = decode(payload, "ulaw")          # np.ndarray int16
    payload = encode(pcm, "alaw")          # bytes
    payload.translate(ULAW_TO_ALAW)        # transcode a G.711 frame without decoding

`DECODE` and `ENCODE` stack both laws (row `LAW_INDEX[codec]`) so a mixer can decode or encode
frames of parties of either law in one indexing operation.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ALAW_TO_ULAW",
    "DECODE",
    "ENCODE",
    "LAW_INDEX",
    "LAW_OF_PT",
    "SILENCE",
    "ULAW_TO_ALAW",
    "alaw_decode_table",
    "decode",
    "encode",
    "ulaw_decode_table",
]

LAW_INDEX: dict[str, int] = {"ulaw": 0, "alaw": 1}
SILENCE: dict[str, int] = {"ulaw": 0xFF, "alaw": 0xD5}  # the code nearest zero
LAW_OF_PT: dict[int, str] = {0: "ulaw", 8: "alaw"}  # RTP static payload types (RFC 3551)


def ulaw_decode_table() -> np.ndarray:
    """int16[256]: µ-law code -> linear (G.711; 14-bit magnitude scaled to 16 bits)."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


def alaw_decode_table() -> np.ndarray:
    """int16[256]: A-law code -> linear (G.711; 13-bit magnitude scaled to 16 bits)."""
    a = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(segment == 0, t + 8, t + 0x108)
    t = np.where(segment > 1, t << np.maximum(segment - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _segment(value: np.ndarray, ends: tuple[int, ...]) -> np.ndarray:
    """Index of the first segment end >= value (8 when beyond the last)."""
    return np.searchsorted(np.asarray(ends), value, side="left")


def _ulaw_encode_table() -> np.ndarray:
    """uint8[65536] indexed by the int16 sample's bit pattern (x & 0xFFFF)."""
    x = np.arange(65536, dtype=np.int32)
    x = np.where(x >= 32768, x - 65536, x) >> 2  # 14-bit, as audioop.lin2ulaw
    mask = np.where(x < 0, 0x7F, 0xFF)
    v = np.minimum(np.abs(x), 8159) + (0x84 >> 2)
    seg = _segment(v, (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF))
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((v >> (np.minimum(seg, 7) + 1)) & 0x0F))
    return (code ^ mask).astype(np.uint8)


def _alaw_encode_table() -> np.ndarray:
    x = np.arange(65536, dtype=np.int32)
    x = np.where(x >= 32768, x - 65536, x) >> 3  # 13-bit, as audioop.lin2alaw
    mask = np.where(x >= 0, 0xD5, 0x55)
    v = np.where(x >= 0, x, -x - 1)
    seg = _segment(v, (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF))
    shift = np.where(seg < 2, 1, np.minimum(seg, 7))
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((v >> shift) & 0x0F))
    return (code ^ mask).astype(np.uint8)


# row 0: µ-law, row 1: A-law (LAW_INDEX)
DECODE: np.ndarray = np.stack([ulaw_decode_table(), alaw_decode_table()])
ENCODE: np.ndarray = np.stack([_ulaw_encode_table(), _alaw_encode_table()])
ULAW_TO_ALAW: bytes = ENCODE[1][DECODE[0].astype(np.uint16)].tobytes()
ALAW_TO_ULAW: bytes = ENCODE[0][DECODE[1].astype(np.uint16)].tobytes()
# (the int16 -> uint16 view is the table index: a sample's 16-bit pattern)


def decode(payload: bytes | bytearray | memoryview, codec: str) -> np.ndarray:
    """G.711 bytes -> int16 samples."""
    out: np.ndarray = DECODE[LAW_INDEX[codec]][np.frombuffer(payload, dtype=np.uint8)]
    return out


def encode(pcm: np.ndarray, codec: str) -> bytes:
    """int16 (or wider, already within int16 range) samples -> G.711 bytes."""
    index = np.asarray(pcm).astype(np.int16).view(np.uint16)
    return bytes(ENCODE[LAW_INDEX[codec]][index].tobytes())
