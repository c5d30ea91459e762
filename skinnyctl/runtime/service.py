"""``skinnyctl serve``: the SCCP call manager, the TFTP service, the RTP relay (the media
engine), the SIP trunks and the control endpoint in one process.

Errors a user can fix (port taken, no TFTP root) surface as UserError before anything is served.
"""

from __future__ import annotations

import errno
import gc
import logging
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TypeVar

from skinnyctl.apps.voicemail.service import VoicemailService
from skinnyctl.apps.voicemail.store import voicemail_dir
from skinnyctl.calls import Action, Clock, Event, SystemClock
from skinnyctl.calls.cdr import CdrStore, cdr_path
from skinnyctl.calls.manager import CallManager
from skinnyctl.calls.userstate import state_path
from skinnyctl.control.protocol import ControlError, default_socket
from skinnyctl.control.server import ControlServer
from skinnyctl.errors import UserError
from skinnyctl.media import MusicOnHold, Relay
from skinnyctl.sip.edge import SipEdge
from skinnyctl.site import SiteError, load_site
from skinnyctl.site.discovered import DiscoveredDevices
from skinnyctl.site.model import Site, Trunk
from skinnyctl.tftp.server import TftpService

from . import statefile
from .bus import EventBus
from .limits import raise_nofile
from .server import SccpServer

log = logging.getLogger("skinnyctl.serve")

T = TypeVar("T")
# [server] keys a running serve cannot change: a reload keeps the old values and says so.
RESTART_KEYS = (
    "listen",
    "sccp_port",
    "tftp_port",
    "tftp_root",
    "rtp_port_min",
    "rtp_port_max",
    "media",
    "music_on_hold",
    "control_socket",
    "control_tcp_port",
    "control_token",
    "max_connections",
)
# [[trunks]] keys the SIP edge holds (registration, sockets, accepted addresses): any change to
# them, or a trunk added or removed, keeps the running trunks until a restart. The others
# (caller_id, hold, dtmf) are read by the core per call and apply at once.
TRUNK_CORE_KEYS = ("caller_id", "hold", "dtmf")


class Part(Protocol):
    """A started part of the service (SCCP, TFTP, relay, call records, control)."""

    def stop(self) -> None: ...


class Service:
    """Everything ``serve`` runs. ``start()`` all parts, ``stop()`` them in reverse order.

    It is what the control API serves (``control.interface.Served``)."""

    def __init__(self, site: Site, clock: Clock | None = None) -> None:
        self.site = site
        self.clock = clock or SystemClock()
        self.bus = EventBus()
        self.discovered = DiscoveredDevices()
        # forwards, DND, HLog set from phones or the control API survive restarts
        settings = state_path(site)
        self.core = CallManager(site, self.clock, state=statefile.load(settings))
        self.sccp = SccpServer(
            site, clock=self.clock, bus=self.bus, discovered=self.discovered, core=self.core
        )
        self.sccp.call_edge.state_path = settings
        self.tftp: TftpService | None = None
        self.relay: Relay | None = None  # the call layer drives it through SccpServer.call_edge
        self.cdr: CdrStore | None = None
        self.voicemail: VoicemailService | None = None  # the mailboxes, when the site has any
        self.sip: SipEdge | None = None  # the SIP trunks, when the site has any
        self.control: ControlServer | None = None
        self.started_at = time.time()
        self._started: list[Part] = []
        self._reload_lock = threading.Lock()

    def start(self, control: bool = True) -> None:
        try:
            self._start_tftp()
            self._start_relay()
            self._open_cdr()
            self._start_voicemail()
            self.sccp.call_edge.relay = self.relay
            self.sccp.start()
            self._started.append(self.sccp)
            self._start_sip()
            if control:
                self._start_control()
        except BaseException:
            self.stop()
            raise
        self.started_at = time.time()

    def _start_control(self) -> None:
        s = self.site.server
        path = default_socket(self.site.path or Path("site.toml"), s.control_socket)
        self.control = ControlServer(self, path, tcp_port=s.control_tcp_port, token=s.control_token)
        self.control.start()
        self._started.append(self.control)

    # --- for the control API (any thread) ------------------------------------------------------

    def on_core(self, fn: Callable[[CallManager], T]) -> T:
        """``fn(core)`` on the core thread: a consistent view, no race with the phones."""
        return self.sccp.call(fn)

    def command(self, fn: Callable[[CallManager], list[Action]]) -> None:
        """Run ``fn(core)`` on the core thread and carry out the actions it returns there."""

        def run(core: CallManager) -> None:
            # on the core thread: dispatching here is what the core loop itself does
            self.sccp._dispatch(fn(core))

        self.sccp.call(run)

    def apply_site(self, site: Site) -> list[str]:
        """Switch to a validated site without dropping anything; the registered devices whose
        description changed (a Reset applies it to them)."""
        self.site = site
        self.sccp.site = site

        def swap(core: CallManager) -> list[Action]:
            return core.reload(site)

        self.command(swap)
        changed: list[str] = self.on_core(lambda core: core.changed_devices())
        return changed

    def reload(self, force: bool = False) -> dict[str, Any]:
        """Re-read site.toml. An invalid file is refused (ControlError listing its problems)
        and the running configuration stays; calls and registrations are kept either way. So
        is a file that describes no device (empty, truncated, the wrong file?), unless
        ``force``: it would make every phone that registers next be refused."""
        path = self.site.path
        if path is None:
            raise ControlError("this server was not started from a file: nothing to reload")
        with self._reload_lock:
            try:
                new = load_site(path)
            except SiteError as e:
                log.error(
                    "reload of %s refused (%d problems); keeping the running configuration",
                    path,
                    len(e.problems),
                )
                for p in e.problems:
                    log.error("  %s", p)
                raise ControlError(
                    f"{path} has {len(e.problems)} problem(s); the running configuration is kept",
                    problems=[str(p) for p in e.problems],
                ) from None
            except UserError as e:
                raise ControlError(f"cannot reload {path}: {e}") from None
            if not new.devices and not force:
                log.error(
                    "reload of %s refused: it describes no devices; keeping the running "
                    "configuration",
                    path,
                )
                raise ControlError(
                    f"{path} describes no devices (an empty or truncated file?): every phone "
                    "registering from now on would be refused, so "
                    f"the running configuration ({len(self.site.devices)} devices) is kept; "
                    "reload with --force to apply it anyway"
                )
            old = self.site.server
            kept = [k for k in RESTART_KEYS if getattr(old, k) != getattr(new.server, k)]
            if kept:
                # these stay as they are until a restart; everything else applies now
                new = replace(new, server=replace(new.server, **{k: getattr(old, k) for k in kept}))
            if _edge_trunks(self.site.trunks) != _edge_trunks(new.trunks):
                kept.append("trunks")
                new = replace(new, trunks=self.site.trunks)
            if self.voicemail is not None:
                self.voicemail.reload(new)  # PINs, prompts, relay: disk and threads, not core
            elif _has_voicemail(new):
                log.warning("voicemail boxes were added: they work after a restart of serve")
            changed = self.apply_site(new)
        log.info("reloaded %s: %d devices, %d lines", path, len(new.devices), len(new.lines))
        return {
            "site": str(path),
            "devices": len(new.devices),
            "lines": len(new.lines),
            "changed_devices": changed,
            "restart_needed": kept,
        }

    def _start_tftp(self) -> None:
        s = self.site.server
        root = self.site.resolve(s.tftp_root)
        if not root.exists() and not root.is_symlink():
            # a fresh `init` site: device files are rendered on request, the rest (firmware,
            # ringtones) is the user's to add; `provision` is not a prerequisite
            try:
                root.mkdir(parents=True)
            except OSError as e:
                raise UserError(f"cannot create the TFTP root {root}: {e.strerror or e}") from e
            log.info("created the TFTP root %s (put firmware and ringtones there)", root)
        self.tftp = TftpService(
            root=root,
            host=s.listen,
            port=s.tftp_port,
            site_provider=lambda: self.site,
            discovered=self.discovered,
        )
        self.tftp.start()
        self._started.append(self.tftp)

    def _start_sip(self) -> None:
        """The SIP trunks' edge; its inputs go to the core's queue, its commands come from the
        core through ``CallEdge``."""
        if not self.site.trunks:
            return
        s = self.site.server
        self.sip = SipEdge(self.site.trunks, self.sccp.post, listen=s.listen)
        try:
            self.sip.start()
        except OSError as e:
            if e.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                raise UserError(f"cannot start the SIP trunks: {e}") from e  # a broken install
            ports = sorted({t.local_port for t in self.site.trunks})
            raise UserError(
                f"cannot open the SIP port(s) {', '.join(map(str, ports))} on {s.listen}: "
                f"{e.strerror or e}; set the trunks' local_port to a free port"
            ) from e
        self.sccp.call_edge.sip = self.sip
        self._started.append(self.sip)

    def _start_relay(self) -> None:
        # The engine runs whatever the phones' media mode: with media = "direct" two phones
        # talk to each other, but music on hold, applications, park, conferences, trunks and
        # voicemail have no phone to point the other end at, and any phone may start a
        # conference (Confrn) or dial an application at any time.
        s = self.site.server
        moh = None
        if s.music_on_hold is not None:
            moh = MusicOnHold.from_wav(self.site.resolve(s.music_on_hold))
        self.relay = Relay(host=s.listen, port_min=s.rtp_port_min, port_max=s.rtp_port_max, moh=moh)
        self.relay.start()
        self._started.append(self.relay)

    def _start_voicemail(self) -> None:
        """Open the mailboxes (the store checks and reconciles its files) and start the mail
        notifier, before the core thread runs; the lamps of every box line then say what the
        mailboxes hold (a restart shows the right lamps at once)."""
        if not _has_voicemail(self.site):
            return
        try:
            self.voicemail = VoicemailService(self.site, self.clock)
        except (OSError, sqlite3.Error) as e:
            raise UserError(
                f"cannot open the voicemail store {voicemail_dir(self.site)}: {e}; "
                "make its directory writable"
            ) from e
        self._started.append(self.voicemail)
        self.core.voicemail.service = self.voicemail
        self.core.voicemail.lamps()  # no phone registered yet: only the registrar's table
        report = {k: n for k, n in self.voicemail.store.report.items() if n}
        log.info(
            "voicemail: %d boxes, %d messages%s",
            len(self.site.voicemail_boxes()),
            len(self.voicemail.store.messages()),
            f" (start-up check: {report})" if report else "",
        )

    def voicemail_refresh(self) -> dict[str, Any]:
        """Another process changed the mailboxes (``skinnyctl voicemail``): read them again
        here (disk work, on the caller's thread), then set the lamps on the core thread."""
        vm = self.voicemail
        if vm is None:
            raise ControlError("this site has no voicemail boxes")
        vm.refresh()
        self.command(lambda core: core.voicemail.lamps())
        waiting = vm.store.waiting()
        return {"boxes": {b: waiting.get(b, False) for b in self.site.voicemail_boxes()}}

    def _open_cdr(self) -> None:
        path = cdr_path(self.site)

        def on_state(kind: str, fields: dict[str, Any]) -> None:  # storage_full / storage_ok
            self.bus.publish(Event(kind, time.time(), {"store": str(path), **fields}))

        try:
            self.cdr = CdrStore(path, on_state=on_state)
        except (OSError, sqlite3.Error) as e:
            raise UserError(
                f"cannot open the call records {path}: {e}; make its directory writable"
            ) from e
        self.sccp.call_edge.cdr = self.cdr
        self._started.append(self.cdr)

    def stop(self) -> None:
        while self._started:
            part = self._started.pop()
            try:
                part.stop()
            except Exception:
                log.exception("error stopping %r", part)


def _has_voicemail(site: Site) -> bool:
    return bool(site.voicemail_boxes())


def run(path: Path, verbose: bool = False) -> None:
    """Load the site, serve until Ctrl-C or SIGTERM, then stop cleanly."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    site = load_site(path)
    nofile = raise_nofile()  # before any socket: the connection cap is sized from it
    log.info("open-file limit %d", nofile)
    if not site.devices:
        log.warning("%s describes no devices: every phone will be rejected", path)
    service = Service(site)
    stop = threading.Event()

    hup = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        hup.set()  # reloading is not signal-handler work: the loop below does it

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    old[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    try:
        service.start()
        # What exists now (site, templates, codec tables, threads) lives as long as the
        # process: keep it out of the cyclic collector so its passes stay short (measured:
        # call-setup p99 at 50 calls/s from ~19 ms to ~6 ms), and collect less often.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)
        log.info("serving %s: %d devices, %d lines", path, len(site.devices), len(site.lines))
        while not stop.wait(0.25):
            if hup.is_set():
                hup.clear()
                _reload_on_signal(service)
    except UserError:
        raise
    finally:
        service.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)
        log.info("stopped")


def _edge_trunks(trunks: tuple[Trunk, ...]) -> tuple[Trunk, ...]:
    """The trunks as the SIP edge sees them (the core's own keys left out)."""
    return tuple(replace(t, **{k: getattr(Trunk, k) for k in TRUNK_CORE_KEYS}) for t in trunks)


def _reload_on_signal(service: Service) -> None:
    log.info("received SIGHUP, reloading %s", service.site.path)
    try:
        service.reload()
    except ControlError:
        pass  # already logged with every problem; the running configuration stays
    except Exception:
        log.exception("reload failed; the running configuration stays")
