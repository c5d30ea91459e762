"""Log lines an attacker can repeat at its own pace, rate-limited.

A flood of bad connections must not become a flood of log lines (4.3 million identical
``accept failed`` lines, 414 MB in a minute, were seen under an EMFILE storm). For each key the
first line of a window is logged as is; the others are counted, and the next line after the
window says how many were left out::

    quiet = RateLimitedLog(log, clock.now)
    quiet.warning("accept", "accept failed: %s", e)
    # ... accept failed: [Errno 24] Too many open files
    # ... accept failed: [Errno 24] Too many open files (repeated 41207 times in 10 s)

``flush()`` logs the pending summaries whose window has passed (a loop calls it now and then,
so a storm that stops is still summed up, and keys of past storms are forgotten). No thread,
no clock of its own: time comes from ``now``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

WINDOW = 10.0  # seconds: at most one line per key per window, plus its summary


class RateLimitedLog:
    def __init__(
        self, log: logging.Logger, now: Callable[[], float], window: float = WINDOW
    ) -> None:
        self.log = log
        self.now = now
        self.window = window
        # key -> [window start, lines left out, level, message, args of the last one]
        self._keys: dict[str, list[Any]] = {}
        self._flushed = now()

    def warning(self, key: str, msg: str, *args: object) -> None:
        self.emit(logging.WARNING, key, msg, *args)

    def info(self, key: str, msg: str, *args: object) -> None:
        self.emit(logging.INFO, key, msg, *args)

    def error(self, key: str, msg: str, *args: object) -> None:
        self.emit(logging.ERROR, key, msg, *args)

    def emit(self, level: int, key: str, msg: str, *args: object) -> None:
        if not self.log.isEnabledFor(level):
            return
        now = self.now()
        entry = self._keys.get(key)
        if entry is not None and now - entry[0] < self.window:
            entry[1] += 1
            entry[2:] = [level, msg, args]
            return
        if entry is not None and entry[1]:
            self._summary(entry, now)
        self.log.log(level, msg, *args)
        self._keys[key] = [now, 0, level, msg, args]

    def flush(self, force: bool = False) -> None:
        """Log the summaries of windows that have passed (all of them with ``force``: at the
        end); forget quiet keys. Cheap to call often: does the work at most once a window."""
        now = self.now()
        if now - self._flushed < self.window and not force:
            return
        self._flushed = now
        for key, entry in list(self._keys.items()):
            if force or now - entry[0] >= self.window:
                if entry[1]:
                    self._summary(entry, now)
                del self._keys[key]

    def _summary(self, entry: list[Any], now: float) -> None:
        _, count, level, msg, args = entry
        self.log.log(level, msg + " (repeated %d times in %.0f s)", *args, count, now - entry[0])
        entry[1] = 0
