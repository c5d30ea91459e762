"""What goes into the core (inputs), what comes out (actions), and what it publishes (events).

Connections are opaque ids chosen by the edge (``Conn`` = int). The core never touches a
socket: it answers every input with a list of actions the edge carries out in order: to phone
connections (Send, SetVersion, Close), to the event bus (Publish), to the media engine and the
call records (``calls.media``), to the SIP trunks (``sip.events``: SipCall, SipAnswer...), to
the discovered-devices registry (RecordDiscovered). Inputs come from the phones' connections,
the media engine (MediaFailed, MediaPlayDone, MediaDtmf...) and the SIP trunks
(``sip.events``: SipIncoming...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skinnyctl.sccp import Message
from skinnyctl.sip.events import SipCommand, SipInput

from .media import EdgeAction, MediaEvent, MediaFailed

Conn = int

# --- inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Connected:
    conn: Conn
    ip: str
    port: int


@dataclass(frozen=True)
class Received:
    conn: Conn
    message: Message
    at: float | None = None  # clock.now() when the edge received it (None: when handled)


@dataclass(frozen=True)
class Disconnected:
    conn: Conn
    reason: str


Input = Connected | Received | Disconnected | MediaFailed | MediaEvent | SipInput

# --- actions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Encode ``message`` with the connection's protocol version and write it (one send)."""

    conn: Conn
    message: Message


@dataclass(frozen=True)
class SetVersion:
    """From now on encode for and decode from ``conn`` with protocol ``version``."""

    conn: Conn
    version: int


@dataclass(frozen=True)
class MarkRegistered:
    """``conn`` registered a device: serve it before unregistered connections, and lift the
    byte budget of a connection that has not registered (core.py rule 12)."""

    conn: Conn


@dataclass(frozen=True)
class Close:
    """Write what is already queued for ``conn``, then close it. A Disconnected follows."""

    conn: Conn
    reason: str


@dataclass(frozen=True)
class Publish:
    event: Event


@dataclass(frozen=True)
class RecordDiscovered:
    """An unknown device tried to register: remember it for ``status`` (registry at the edge)."""

    mac: str
    ip: str
    model: str | None
    device_name: str


Action = (
    Send
    | SetVersion
    | MarkRegistered
    | Close
    | Publish
    | RecordDiscovered
    | EdgeAction
    | SipCommand
)

# --- published events ---------------------------------------------------------------------------

EVENT_KINDS = (
    "register",
    "unregister",
    "expire",
    "alarm",
    "xml_alarm",
    "device_to_user",
    "user_to_device",
    "call_state",
    "dtmf",
    "storage_full",  # call records cannot be written (disk full...): they wait in memory
    "storage_ok",  # written again
    "trunk_registered",
    "trunk_failed",
)


@dataclass(frozen=True)
class Event:
    """One event of the bus. ``fields`` carry the seed's event headers in snake_case.

    Device events: device_name, instance, user_id, ip, device_type, max_streams, port, codecs
    (list of codec names), model. Alarm: severity, text, param1, param2. xml_alarm: xml.
    Trunk events (trunk_registered, trunk_failed): trunk, status (the SIP status), reason,
    expires (seconds, when registered).
    """

    kind: str
    time: float  # Unix time
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, "time": self.time, **self.fields}
