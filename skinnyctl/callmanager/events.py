"""What goes into the core (inputs), what comes out (actions), and what it publishes (events).

Connections are opaque ids chosen by the edge (``Conn`` = int). The core never touches a
socket: it answers every input with a list of actions the edge carries out in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skinnyctl.sccp import Message

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


@dataclass(frozen=True)
class Disconnected:
    conn: Conn
    reason: str


Input = Connected | Received | Disconnected

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


# --- actions of the call layer for the edge: the media relay and call records ------------------

PTIME_MS = 20  # packet time of relay legs and of the phones' media


@dataclass(frozen=True)
class RelayLeg:
    """Open a relay leg bound to ``port`` (RTP; RTCP = port + 1) for relay call ``call_key``."""

    call_key: int
    leg_key: int
    port: int


@dataclass(frozen=True)
class RelayLearn:
    leg_key: int
    ip: str
    port: int


@dataclass(frozen=True)
class RelayBridge:
    """Forward between two legs; both are (re)keyed to ``call_key`` first (after a transfer
    the two legs come from different calls)."""

    a: int
    b: int
    call_key: int


@dataclass(frozen=True)
class RelayHold:
    leg_key: int
    codec: str = "ulaw"
    ptime_ms: int = PTIME_MS


@dataclass(frozen=True)
class RelayResume:
    leg_key: int


@dataclass(frozen=True)
class RelayClose:
    leg_key: int


@dataclass(frozen=True)
class WriteCdr:
    record: dict[str, Any]


CallAction = RelayLeg | RelayLearn | RelayBridge | RelayHold | RelayResume | RelayClose | WriteCdr

# Everything the core returns: the call layer's actions travel in the same lists.
Action = Send | SetVersion | Close | Publish | RecordDiscovered | CallAction

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
)


@dataclass(frozen=True)
class Event:
    """One event of the bus. ``fields`` carry the seed's event headers in snake_case.

    Device events: device_name, instance, user_id, ip, device_type, max_streams, port, codecs
    (list of codec names), model. Alarm: severity, text, param1, param2. xml_alarm: xml.
    """

    kind: str
    time: float  # Unix time
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, "time": self.time, **self.fields}
