"""``skinnyctl serve``: the SCCP call manager, the TFTP service and the RTP relay in one process.

Each part is optional at import time (``tftp`` and ``media`` are separate packages); a part
that is not there is logged and skipped. Errors a user can fix (port taken, no TFTP root)
surface as UserError before anything is served.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from skinnyctl.callmanager import Clock, SystemClock
from skinnyctl.errors import UserError
from skinnyctl.site import load_site
from skinnyctl.site.discovered import DiscoveredDevices
from skinnyctl.site.model import Site

from .bus import EventBus
from .server import SccpServer

log = logging.getLogger("skinnyctl.serve")


class Service:
    """Everything ``serve`` runs. ``start()`` all parts, ``stop()`` them in reverse order."""

    def __init__(self, site: Site, clock: Clock | None = None) -> None:
        self.site = site
        self.clock = clock or SystemClock()
        self.bus = EventBus()
        self.discovered = DiscoveredDevices()
        self.sccp = SccpServer(site, clock=self.clock, bus=self.bus, discovered=self.discovered)
        self.tftp: Any = None
        self.relay: Any = None  # part 2 hands it to the call layer
        self.control: Any = None  # the control issue plugs its API in here
        self._started: list[Any] = []

    def start(self) -> None:
        try:
            self._start_tftp()
            self._start_relay()
            self.sccp.start()
            self._started.append(self.sccp)
        except BaseException:
            self.stop()
            raise

    def _start_tftp(self) -> None:
        try:
            from skinnyctl.tftp.server import TftpService
        except ImportError:
            log.warning("TFTP service not available in this build; serving SCCP only")
            return
        s = self.site.server
        self.tftp = TftpService(
            root=self.site.resolve(s.tftp_root),
            host=s.listen,
            port=s.tftp_port,
            site_provider=lambda: self.site,
            discovered=self.discovered,
        )
        self.tftp.start()
        self._started.append(self.tftp)

    def _start_relay(self) -> None:
        if self.site.server.media != "relay":
            return
        try:
            from skinnyctl.media import MusicOnHold, Relay
        except ImportError:
            log.warning("RTP relay not available in this build; calls would have no audio")
            return
        s = self.site.server
        moh = None
        if s.music_on_hold is not None:
            moh = MusicOnHold.from_wav(self.site.resolve(s.music_on_hold))
        self.relay = Relay(host=s.listen, port_min=s.rtp_port_min, port_max=s.rtp_port_max, moh=moh)
        self.relay.start()
        self._started.append(self.relay)

    def stop(self) -> None:
        while self._started:
            part = self._started.pop()
            try:
                part.stop()
            except Exception:
                log.exception("error stopping %r", part)


def run(path: Path, verbose: bool = False) -> None:
    """Load the site, serve until Ctrl-C or SIGTERM, then stop cleanly."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    site = load_site(path)
    if not site.devices:
        log.warning("%s describes no devices: every phone will be rejected", path)
    service = Service(site)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        service.start()
        log.info("serving %s: %d devices, %d lines", path, len(site.devices), len(site.lines))
        while not stop.wait(1.0):
            pass
    except UserError:
        raise
    finally:
        service.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)
        log.info("stopped")
