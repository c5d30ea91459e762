"""The call-control core, sans-IO: devices, lines and calls."""

from .clock import Clock, FakeClock, SystemClock
from .core import EXPIRY_FACTOR, TRANSITIONS, CallLayer, CallManager, NoCalls
from .events import (
    EVENT_KINDS,
    Action,
    Close,
    Conn,
    Connected,
    Disconnected,
    Event,
    Input,
    Publish,
    Received,
    RecordDiscovered,
    Send,
    SetVersion,
)
from .stations import ButtonLayout, ButtonSlot, State, Station, Stations

__all__ = [
    "EVENT_KINDS",
    "EXPIRY_FACTOR",
    "TRANSITIONS",
    "Action",
    "ButtonLayout",
    "ButtonSlot",
    "CallLayer",
    "CallManager",
    "Clock",
    "Close",
    "Conn",
    "Connected",
    "Disconnected",
    "Event",
    "FakeClock",
    "Input",
    "NoCalls",
    "Publish",
    "Received",
    "RecordDiscovered",
    "Send",
    "SetVersion",
    "State",
    "Station",
    "Stations",
    "SystemClock",
]
