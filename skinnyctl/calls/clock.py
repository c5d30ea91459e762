"""The one clock interface every timer goes through, so tests control time.

``now()`` is monotonic seconds (deadlines: keepalive expiry, later digit and no-answer timers);
``wall()`` is Unix time (what phones are told in DefineTimeDate, what events are stamped with).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def wall(self) -> float: ...


class SystemClock:
    """The real clock: time.monotonic for deadlines, time.time for dates."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class FakeClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, now: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self._now = now
        self._wall = wall

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._wall += seconds
