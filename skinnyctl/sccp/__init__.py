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

# Built only from literal lists (``+=`` of a submodule's static ``__all__`` is a form type
# checkers follow), so every message class is a known name of this package.
__all__ = [
    "DEFAULT_VERSION",
    "HEADER_SIZE",
    "MAX_FRAME_SIZE",
    "MAX_MESSAGE_LENGTH",
    "MAX_PROTOCOL_VERSION",
    "FrameDecoder",
    "ProtocolError",
    "decode",
    "encode",
    "enums",
    "header_version",
    "messages",
]
__all__ += enums.__all__
__all__ += messages.__all__
