"""The call-control core, sans-IO: the switch, its channels, routing, media vocabulary, records.

``calls.manager.CallManager`` is the front door the runtime drives (import it from there: it
sits above the endpoints, which import this package); the protocol-free
call model is ``channel`` and ``switch``; endpoints live in ``skinnyctl.endpoints`` (SCCP
phones) and ``skinnyctl.apps`` (applications).
"""

from .clock import Clock, FakeClock, SystemClock
from .events import (
    EVENT_KINDS,
    Action,
    Close,
    Conn,
    Connected,
    Disconnected,
    Event,
    Input,
    MarkRegistered,
    Publish,
    Received,
    RecordDiscovered,
    Send,
    SetVersion,
)
from .media import MediaFailed

__all__ = [
    "EVENT_KINDS",
    "Action",
    "Clock",
    "Close",
    "Conn",
    "Connected",
    "Disconnected",
    "Event",
    "FakeClock",
    "Input",
    "MarkRegistered",
    "MediaFailed",
    "Publish",
    "Received",
    "RecordDiscovered",
    "Send",
    "SetVersion",
    "SystemClock",
]
