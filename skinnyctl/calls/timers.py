"""One-shot timers of the switch and of what works on it (forward on no answer, hunt groups,
park), sans-IO: nothing here reads a clock. ``CallManager`` merges ``next_deadline`` with the
other parts' and calls ``fire(now)`` when it has passed, like every other timer of the core.

A callback returns the actions its work needs; it is called at most once, and not at all once
cancelled. Callbacks check that what they were armed for still holds (the call may have been
answered or ended meanwhile): cancelling is an optimisation, not a duty.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from .events import Action

Callback = Callable[[], list[Action]]


class Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, Callback] = {}
        self._ids = itertools.count(1)

    def at(self, when: float, callback: Callback) -> int:
        """Call ``callback`` once ``when`` (clock.now() time) has passed; its token."""
        token = next(self._ids)
        self._armed[token] = callback
        heapq.heappush(self._heap, (when, token))
        return token

    def cancel(self, token: int | None) -> None:
        if token is not None:
            self._armed.pop(token, None)

    def next_deadline(self) -> float | None:
        while self._heap and self._heap[0][1] not in self._armed:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def fire(self, now: float) -> list[Action]:
        actions: list[Action] = []
        while self._heap and self._heap[0][0] <= now:
            _, token = heapq.heappop(self._heap)
            callback = self._armed.pop(token, None)
            if callback is not None:
                actions += callback()
        return actions

    def __len__(self) -> int:
        return len(self._armed)
