"""The event bus at the edge: the core's Publish actions fan out to subscribers.

Publishing never blocks the core: each subscriber has a bounded queue; when a subscriber is
too slow its oldest events are dropped (and counted), never the core delayed.
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Iterable

from skinnyctl.calls.events import Event


class Subscription:
    def __init__(self, bus: EventBus, kinds: frozenset[str] | None, maxsize: int) -> None:
        self._bus = bus
        self.kinds = kinds
        self.queue: queue.Queue[Event] = queue.Queue(maxsize)
        self.dropped = 0

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or None after ``timeout`` seconds."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def _offer(self, event: Event) -> None:
        if self.kinds is not None and event.kind not in self.kinds:
            return
        while True:
            try:
                self.queue.put_nowait(event)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass


class EventBus:
    """Thread-safe publish/subscribe with a short history (for ``status``)."""

    def __init__(self, history: int = 200) -> None:
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []
        self.recent: collections.deque[Event] = collections.deque(maxlen=history)

    def subscribe(self, kinds: Iterable[str] | None = None, maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, frozenset(kinds) if kinds is not None else None, maxsize)
        with self._lock:
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, event: Event) -> None:
        with self._lock:
            self.recent.append(event)
            subs = list(self._subs)
        for sub in subs:
            sub._offer(event)
