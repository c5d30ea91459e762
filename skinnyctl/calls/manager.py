"""The call manager: the one object the core thread drives, sans-IO.

Driving it::

    cm = CallManager(site, clock)
    actions = cm.handle(Received(conn, message))   # also Connected, Disconnected, the engine's
                                                    # reports, the SIP edge's inputs
    actions = cm.on_timer()                         # when cm.next_deadline() has passed

It owns the switch (``calls.switch``) and the endpoints whose channels the switch joins: the
SCCP phones (``endpoints.sccp``: registration, then the phone lines' call planes), the
applications (``apps``) and the SIP trunks (``endpoints.sip``: inputs of the SIP edge, media
legs facing the outside world). Each input goes to the part that owns it (a media leg's
input to the endpoint whose leg it is); the timers of every part are merged here. The edge
(``skinnyctl.runtime``) carries out the actions in order. Nothing here touches a socket, a
thread or the system clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from skinnyctl.apps import KINDS, Apps
from skinnyctl.endpoints.sccp.phone import Phones
from skinnyctl.endpoints.sccp.registration import Registrar
from skinnyctl.endpoints.sccp.stations import Stations
from skinnyctl.endpoints.sip.trunk import Trunks
from skinnyctl.sccp import Message
from skinnyctl.site.model import Site

from .clock import Clock
from .events import Action, Conn, Connected, Disconnected, Input, Received
from .media import MediaDtmf, MediaFailed, MediaPlayDone, MediaRecordDone
from .switch import Refs, Switch


class CallManager:
    def __init__(
        self, site: Site, clock: Clock, heard: Callable[[Conn], float | None] | None = None
    ) -> None:
        """``heard``: when the edge last received input on an SCCP connection (the
        registration's rule 4); the SCCP server sets it when it runs this core."""
        self.site = site
        self.clock = clock
        self.refs = Refs(clock)
        self.switch = Switch(site, clock, self.refs)
        self.sccp = Registrar(site, clock, heard=heard)
        self.phones = Phones(site, clock, self.switch, self.sccp.stations)
        self.sccp.calls = self.phones
        self.apps = Apps(site, self.switch, {kind: cls() for kind, cls in KINDS.items()})
        self.trunks = Trunks(site, clock, self.switch)

    # --- the three entry points ---------------------------------------------------------------

    def handle(self, event: Input) -> list[Action]:
        if isinstance(event, Connected | Received | Disconnected):
            return self.sccp.handle(event)
        if isinstance(event, MediaFailed):
            if self.trunks.owns(event.key):
                return self.trunks.media_failed(event.key, event.port, event.reason)
            return self.phones.media_failed(event.key, event.port, event.reason)
        if isinstance(event, MediaPlayDone | MediaRecordDone | MediaDtmf):
            return self.switch.media_event(event)
        return self.trunks.handle(event)  # the SIP edge's

    def on_timer(self, now: float | None = None) -> list[Action]:
        now = self.clock.now() if now is None else now
        return self.sccp.on_timer(now) + self.phones.on_timer(now)

    def next_deadline(self) -> float | None:
        due = [d for d in (self.sccp.next_deadline(), self.phones.next_deadline()) if d]
        return min(due) if due else None

    # --- queries (core thread) ----------------------------------------------------------------

    @property
    def stations(self) -> Stations:
        return self.sccp.stations

    @property
    def mwi(self) -> dict[str, bool]:
        return self.sccp.mwi

    @property
    def counters(self) -> Counter[str]:
        """Connections registration refused, by reason (``status``)."""
        return self.sccp.counters

    def snapshot(self) -> list[dict[str, Any]]:
        """Registered devices as plain data."""
        return self.sccp.snapshot()

    def calls_snapshot(self) -> list[dict[str, Any]]:
        """Calls in progress as plain data (``status calls``)."""
        return self.switch.snapshot()

    def changed_devices(self) -> list[str]:
        return self.sccp.changed_devices()

    # --- commands of the control API (core thread; they return actions like handle) ----------

    def send_to(self, device_name: str, message: Message) -> list[Action]:
        return self.sccp.send_to(device_name, message)

    def set_mwi(self, number: str, on: bool) -> list[Action]:
        return self.sccp.set_mwi(number, on)

    def reload(self, site: Site) -> list[Action]:
        """Use a new (already validated) site: new calls see it at once; registrations and
        calls in progress are kept."""
        self.site = site
        self.switch.reload(site)
        self.apps.reload(site)
        self.trunks.reload(site)
        return self.phones.reload(site) + self.sccp.reload(site)
