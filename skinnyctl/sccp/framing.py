"""SCCP framing (sans-IO): the 12-byte header, a chunking-agnostic stream decoder, encode/decode.

Frame: ``u32 length`` (bytes after the first 8: message id + body), ``u32 header version``,
``u32 message id``, body. ``length`` below 4 or above :data:`MAX_MESSAGE_LENGTH` is a
:class:`ProtocolError`; the caller must close that connection. The decoder buffers at most one
frame, so a peer cannot make it hold more than :data:`MAX_FRAME_SIZE` bytes.
"""

from __future__ import annotations

import logging
import struct

from .messages import (
    MESSAGES,
    KeepAliveAck,
    Message,
    RegisterAck,
    UnknownMessage,
    UnregisterAck,
)
from .wire import Reader

log = logging.getLogger("skinnyctl.sccp")

HEADER_SIZE = 12
# mod_skinny drops frames above 2048 bytes, but an XMLAlarm may carry 2048 bytes of XML plus
# its header, so we accept twice that; still a small fixed bound per connection.
MAX_FRAME_SIZE = 4096
MAX_MESSAGE_LENGTH = MAX_FRAME_SIZE - 8  # largest acceptable value of the length field
MIN_MESSAGE_LENGTH = 4  # the message id alone

DEFAULT_VERSION = 0
# Highest protocol version whose layouts are declared here and checked against Wireshark 4.0;
# v21+ media messages grow fields (latent capabilities) that are not declared. Do not
# negotiate a higher version in RegisterAck.
MAX_PROTOCOL_VERSION = 20
# chan-sccp puts the negotiated version into the header from v10 on (not into these three).
HEADER_VERSION_FROM = 10
_ALWAYS_BASIC_HEADER = (KeepAliveAck.MESSAGE_ID, RegisterAck.MESSAGE_ID, UnregisterAck.MESSAGE_ID)

_HEADER = struct.Struct("<III")


class ProtocolError(Exception):
    """The peer broke framing; close the connection (the decoder is unusable afterwards)."""


def header_version(message_id: int, version: int) -> int:
    """Header version field to send for ``message_id`` when speaking ``version``."""
    if version < HEADER_VERSION_FROM or message_id in _ALWAYS_BASIC_HEADER:
        return 0
    return version


def encode(message: Message, version: int = DEFAULT_VERSION) -> bytes:
    """The whole frame (header + body) for ``message`` in the layout of ``version``.

    The body is padded to a multiple of 4 bytes (chan-sccp does this; harmless to phones).
    Write it with a single send.
    """
    if isinstance(message, UnknownMessage):
        message_id = message.message_id
        body = message.body
    else:
        message_id = message.MESSAGE_ID
        body = message.encode_body(version)
        body += bytes(-len(body) % 4)
    length = 4 + len(body)
    if length > MAX_MESSAGE_LENGTH:
        raise ValueError(f"{type(message).__name__} too long: {length} bytes")
    return _HEADER.pack(length, header_version(message_id, version), message_id) + body


def decode(message_id: int, body: bytes, version: int = DEFAULT_VERSION) -> Message:
    """Decode one body. Unknown ids give :class:`UnknownMessage` (and are logged).

    Raises only :class:`ProtocolError`; short bodies decode with defaults.
    """
    cls = MESSAGES.get(message_id)
    if cls is None:
        # debug: a peer can send these at will; the core logs what it receives (rate-limited)
        log.debug("unknown SCCP message id %#06x (%d body bytes)", message_id, len(body))
        return UnknownMessage(message_id, body)
    try:
        decoded: Message = cls.decode_from(Reader(bytes(body)), version)
    except Exception as exc:  # a layout bug must not escape as anything but ProtocolError
        raise ProtocolError(f"cannot decode {cls.__name__}: {exc}") from exc
    return decoded


class FrameDecoder:
    """Bytes in, messages out, for one connection.

    ``version`` is the negotiated protocol version (set it after RegisterAck); a frame whose
    header carries a non-zero version is decoded with that version instead, as Wireshark does.
    After a :class:`ProtocolError` every further ``feed`` raises it again: close the connection.
    """

    def __init__(
        self, version: int = DEFAULT_VERSION, max_length: int = MAX_MESSAGE_LENGTH
    ) -> None:
        self.version = version
        self.max_length = max_length
        self._buffer = bytearray()
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        if self._error is not None:
            raise self._error
        try:
            return self._feed(data)
        except ProtocolError as exc:
            self._error = exc
            self._buffer.clear()
            raise

    def _feed(self, data: bytes) -> list[Message]:
        out: list[Message] = []
        buf = self._buffer
        buf += data
        pos = 0
        while len(buf) - pos >= 8:
            length, hdr_version = struct.unpack_from("<II", buf, pos)
            if length < MIN_MESSAGE_LENGTH or length > self.max_length:
                raise ProtocolError(
                    f"frame length {length} outside {MIN_MESSAGE_LENGTH}..{self.max_length}"
                )
            end = pos + 8 + length
            if len(buf) < end:
                break
            (message_id,) = struct.unpack_from("<I", buf, pos + 8)
            body = bytes(buf[pos + 12 : end])
            out.append(decode(message_id, body, hdr_version or self.version))
            pos = end
        del buf[:pos]
        return out
