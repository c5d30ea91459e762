"""Phones seen on the network that the site does not describe.

The TFTP server records MACs from ``SEP*``/``CTLSEP*``/``ITLSEP*`` requests, the call manager
records devices that try to register; ``skinnyctl adopt MAC --model M`` turns one into a
``[[devices]]`` entry. One registry, shared by both, safe to use from any thread.
"""

from __future__ import annotations

import threading
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


class DiscoveredDevices:
    """Thread-safe registry of discovered devices, keyed by MAC."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._devices: dict[str, DiscoveredDevice] = {}

    def record(
        self,
        mac: str,
        source: str,
        ip: str,
        model: str | None = None,
        when: datetime | None = None,
    ) -> DiscoveredDevice:
        """Note that ``mac`` was seen by ``source`` from ``ip``. Accepts any MAC spelling
        :func:`normalize_mac` accepts (raises ValueError otherwise). A later record keeps the
        first-seen time and an already known model unless a new one is given."""
        key = normalize_mac(mac)
        now = when or datetime.now(UTC)
        with self._lock:
            old = self._devices.get(key)
            if old is None:
                dev = DiscoveredDevice(key, ip, now, now, (source,), model)
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
            return dev

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
