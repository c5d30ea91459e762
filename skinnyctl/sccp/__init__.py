"""SCCP ("Skinny") protocol, sans-IO: enums, message declarations, framing and codec."""

from . import enums, messages
from .enums import *  # noqa: F403
from .framing import (
    DEFAULT_VERSION,
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    MAX_MESSAGE_LENGTH,
    MAX_PROTOCOL_VERSION,
    FrameDecoder,
    ProtocolError,
    decode,
    encode,
    header_version,
)
from .messages import *  # noqa: F403
from .messages import ALL_MESSAGES, MESSAGES, Direction, Message, UnknownMessage

__all__ = [
    "enums",
    "messages",
    "DEFAULT_VERSION",
    "HEADER_SIZE",
    "MAX_FRAME_SIZE",
    "MAX_MESSAGE_LENGTH",
    "MAX_PROTOCOL_VERSION",
    "FrameDecoder",
    "ProtocolError",
    "decode",
    "encode",
    "header_version",
    "ALL_MESSAGES",
    "MESSAGES",
    "Direction",
    "Message",
    "UnknownMessage",
    *enums.__all__,
    *(m.__name__ for m in ALL_MESSAGES),
]
