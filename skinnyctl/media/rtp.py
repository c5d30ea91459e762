"""RTP details shared by the engine's parts: header bounds and RFC 4733 telephone-events.

`payload_bounds` finds the payload behind CSRCs, a header extension and padding (RFC 3550 §5.1,
§5.3.1). `DtmfDetector` turns received telephone-event packets into digits, one per event:
every packet of an event carries the event's start timestamp, so updates and the (usually
three) retransmitted end packets share it and are recognised; a long event split into segments
(RFC 4733 §2.5.1.3, timestamp advanced by the previous segment's duration) stays one digit.
`event_payload` builds the 4-byte payload the engine sends.
"""

from __future__ import annotations

import struct

__all__ = [
    "DIGITS",
    "DtmfDetector",
    "event_code",
    "event_payload",
    "payload_bounds",
    "signed32",
]

# RFC 4733 §3.2: events 0-9, *, #, A-D are the DTMF digits
DIGITS = "0123456789*#ABCD"
EVENT_VOLUME = 10  # -10 dBm0, a typical DTMF level (RFC 4733 §2.3.4)


def signed32(delta: int) -> int:
    """A 32-bit RTP timestamp difference as a signed number (handles wrap-around)."""
    delta &= 0xFFFFFFFF
    return delta - 0x100000000 if delta >= 0x80000000 else delta


def payload_bounds(buf: bytes | bytearray, n: int) -> tuple[int, int] | None:
    """(start, end) of the payload of the RTP packet in ``buf[:n]``, None if inconsistent."""
    b0 = buf[0]
    start = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension: 16-bit profile, 16-bit length in 32-bit words
        if start + 4 > n:
            return None
        start += 4 + 4 * (buf[start + 2] << 8 | buf[start + 3])
    end = n
    if b0 & 0x20:  # padding: the last byte counts the padding bytes
        end -= buf[n - 1]
    if start > end:
        return None
    return start, end


def event_code(digit: str) -> int:
    """RFC 4733 event code of a DTMF digit ('0'-'9', '*', '#', 'A'-'D')."""
    code = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}; use 0-9, *, # or A-D")
    return code


def event_payload(code: int, end: bool, duration: int) -> bytes:
    """An RFC 4733 event payload: event, E bit and volume, duration in timestamp units."""
    return struct.pack("!BBH", code, (0x80 if end else 0) | EVENT_VOLUME, duration)


class DtmfDetector:
    """Per-leg receive state for RFC 4733 events; `feed` returns a digit once per event."""

    __slots__ = ("code", "duration", "ended", "ssrc", "ts")

    def __init__(self) -> None:
        self.ssrc = -1
        self.ts = 0
        self.code = -1
        self.duration = 0
        self.ended = True

    def feed(self, buf: bytes | bytearray, start: int, end: int) -> str | None:
        """The digit a telephone-event packet starts, or None (update, end, retransmission,
        a non-DTMF event, a late packet of an earlier event, a malformed payload)."""
        if end - start < 4:
            return None
        ssrc = buf[8] << 24 | buf[9] << 16 | buf[10] << 8 | buf[11]
        ts = buf[4] << 24 | buf[5] << 16 | buf[6] << 8 | buf[7]
        code = buf[start]
        end_bit = buf[start + 1] & 0x80
        duration = buf[start + 2] << 8 | buf[start + 3]
        if ssrc == self.ssrc:
            age = signed32(ts - self.ts)
            if age == 0:  # update or retransmitted end of the current event
                self.duration = max(self.duration, duration)
                self.ended = self.ended or bool(end_bit)
                return None
            if age < 0:  # a straggler from an earlier event
                return None
            if not self.ended and code == self.code and age == self.duration:
                self.ts, self.duration = ts, duration  # next segment of a long event
                self.ended = bool(end_bit)
                return None
        self.ssrc, self.ts, self.code, self.duration = ssrc, ts, code, duration
        self.ended = bool(end_bit)
        return DIGITS[code] if code < len(DIGITS) else None
