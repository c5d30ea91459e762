"""The edges: the threaded SCCP server, the event bus, the service that runs everything."""

from skinnyctl.calls.clock import Clock, FakeClock, SystemClock

from .bus import EventBus, Subscription
from .server import SccpServer

__all__ = ["Clock", "EventBus", "FakeClock", "SccpServer", "Subscription", "SystemClock"]
