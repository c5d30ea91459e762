"""Phones seen on the network that the site does not describe.

The TFTP server records MACs from ``SEP*``/``CTLSEP*``/``ITLSEP*`` requests, the call manager
records devices that try to register; ``skinnyctl adopt MAC --model M`` turns one into a
``[[devices]]`` entry. One registry, shared by both, safe to use from any thread.

Bounded (a TFTP request can be sent from any address, and 200,000 random names once made a
20 MB ``status devices``): the ``limit`` most recently seen devices are kept, and one source
address adds at most ``per_source`` new devices a minute. What is left out is counted
(``dropped``) and shown by ``status``.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from skinnyctl.site.loader import normalize_mac


@dataclass(frozen=True)
class DiscoveredDevice:
    mac: str  # 12 uppercase hex digits
    ip: str  # last address it was seen from
    first_seen: datetime
    last_seen: datetime
    sources: tuple[str, ...]  # e.g. ("tftp", "sccp"), in the order first seen
    model: str | None = None  # when something told us (SCCP registration), else None
    count: int = 1  # how many times it was recorded

    @property
    def name(self) -> str:
        return f"SEP{self.mac}"


LIMIT = 1000  # devices kept: an office has fewer phones than that
PER_SOURCE = 20  # new devices one address may add per WINDOW (a phone is one device)
WINDOW = 60.0
SOURCES = 4096  # source addresses whose rate is tracked at once


class DiscoveredDevices:
    """Thread-safe registry of discovered devices, keyed by MAC, least recently seen first."""

    def __init__(
        self,
        limit: int = LIMIT,
        per_source: int = PER_SOURCE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._devices: collections.OrderedDict[str, DiscoveredDevice] = collections.OrderedDict()
        self.limit = limit
        self.per_source = per_source
        self._clock = clock
        self._sources: collections.OrderedDict[str, list[float]] = collections.OrderedDict()
        self.dropped = 0  # records left out: over the limit (oldest forgotten) or the rate

    def record(
        self,
        mac: str,
        source: str,
        ip: str,
        model: str | None = None,
        when: datetime | None = None,
    ) -> DiscoveredDevice | None:
        """Note that ``mac`` was seen by ``source`` from ``ip``. Accepts any MAC spelling
        :func:`normalize_mac` accepts (raises ValueError otherwise). A later record keeps the
        first-seen time and an already known model unless a new one is given. None when a new
        device is left out (``ip`` added too many this minute)."""
        key = normalize_mac(mac)
        now = when or datetime.now(UTC)
        with self._lock:
            old = self._devices.get(key)
            if old is None:
                if not self._admit(ip):
                    self.dropped += 1
                    return None
                dev = DiscoveredDevice(key, ip, now, now, (source,), model)
                if len(self._devices) >= self.limit:
                    self._devices.popitem(last=False)  # the least recently seen
                    self.dropped += 1
            else:
                dev = replace(
                    old,
                    ip=ip or old.ip,
                    last_seen=max(old.last_seen, now),
                    sources=old.sources if source in old.sources else (*old.sources, source),
                    model=model or old.model,
                    count=old.count + 1,
                )
            self._devices[key] = dev
            self._devices.move_to_end(key)
            return dev

    def _admit(self, ip: str) -> bool:
        """Whether ``ip`` may add one more device now (under the lock)."""
        now = self._clock()
        window = self._sources.get(ip)
        if window is None or now - window[0] >= WINDOW:
            window = [now, 0]
            self._sources[ip] = window
            self._sources.move_to_end(ip)
            while len(self._sources) > SOURCES:
                self._sources.popitem(last=False)
        if window[1] >= self.per_source:
            return False
        window[1] += 1
        return True

    def list(self) -> list[DiscoveredDevice]:
        """All discovered devices, most recently seen first."""
        with self._lock:
            return sorted(self._devices.values(), key=lambda d: d.last_seen, reverse=True)

    def get(self, mac: str) -> DiscoveredDevice | None:
        with self._lock:
            return self._devices.get(normalize_mac(mac))

    def forget(self, mac: str) -> bool:
        """Drop a device (e.g. once adopted). True if it was there."""
        with self._lock:
            return self._devices.pop(normalize_mac(mac), None) is not None

    def __contains__(self, mac: object) -> bool:
        if not isinstance(mac, str):
            return False
        try:
            return self.get(mac) is not None
        except ValueError:
            return False

    def __len__(self) -> int:
        with self._lock:
            return len(self._devices)
