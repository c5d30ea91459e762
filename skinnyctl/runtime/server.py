"""The SCCP edge: one I/O thread (selectors, non-blocking sockets) and one core thread.

    I/O thread: accept, read, frame + decode (FrameDecoder per connection), encode + write
                (bounded output buffer per connection), close.
          --Connected/Received/Disconnected--> inbox (round robin) --> core thread
    core thread: CallManager.handle / on_timer (the only owner of call-control state),
                 waits on the inbox with a timeout = the core's next deadline.
          --Send/SetVersion/MarkRegistered/Close--> outbox + wake-up byte --> I/O thread
          --Publish--> EventBus; --RecordDiscovered--> DiscoveredDevices
          --media, call records, SIP commands--> CallEdge (engine, CdrStore, SIP edge queue)
    other edges (the SIP edge's thread, the media engine's notifier) --post()--> queue

Rules: a connection that breaks framing (garbage, oversized frame) is closed at once; one whose
peer does not read is closed when its output buffer passes ``out_limit``; a Close waits at most
``close_linger`` seconds for queued output. None of this blocks the other connections: no
socket call here ever blocks. Every connection gets exactly one Disconnected.

Hostile neighbours (issue 21): the core takes control requests first, then one input per
connection in turn, registered connections before unregistered ones, so neither unregistered
traffic nor a busy phone delays another phone's KeepAliveAck. Memory is bounded: a connection
whose inputs wait for the core beyond ``PENDING_REGISTERED`` / ``PENDING_UNREGISTERED`` is not
read until the core catches up (and a read never takes more bytes than could decode to that
many frames); unregistered connections are not read at all while ``UNREGISTERED_WAITING`` of
them wait, and one that sends more than ``PRE_REGISTER_BYTES`` before registering is closed.
Arrival times are stamped here, so the core never expires a phone whose keepalive waits its
turn. At ``max_connections`` the listener leaves the selector until a connection closes (no
busy loop); an accept failing for lack of descriptors pauses accepting for
``ACCEPT_BACKOFF``. Lines a peer can repeat are rate-limited (``RateLimitedLog``).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args

from skinnyctl.calls import (
    Action,
    Clock,
    Close,
    Connected,
    Disconnected,
    Input,
    MarkRegistered,
    Publish,
    Received,
    RecordDiscovered,
    Send,
    SetVersion,
    SystemClock,
)
from skinnyctl.calls.manager import CallManager
from skinnyctl.calls.media import EdgeAction
from skinnyctl.errors import UserError
from skinnyctl.ratelog import RateLimitedLog
from skinnyctl.sccp import (
    FrameDecoder,
    Message,
    ProtocolError,
    SoftKeySetRes,
    SoftKeyTemplateRes,
    encode,
)
from skinnyctl.sip.events import SipCommand
from skinnyctl.site.discovered import DiscoveredDevices
from skinnyctl.site.model import Site

from . import limits
from .bus import EventBus
from .calledge import CallEdge

# a tuple: isinstance's fast path on the core thread
_EDGE_ACTIONS = get_args(EdgeAction) + get_args(SipCommand)
_TO_IO = (Send, SetVersion, MarkRegistered, Close)

log = logging.getLogger("skinnyctl.runtime")

T = TypeVar("T")

OUT_LIMIT = 256 * 1024  # bytes queued for a peer that does not read before we give up on it
CLOSE_LINGER = 5.0  # seconds a closing connection may take to drain its output
READ_SIZE = 65536
MAX_CORE_WAIT = 1.0  # the core thread re-checks its deadlines at least this often
SEND_GROUP = 1200  # bytes of whole frames written with one send (below a segment's payload)
CORE_BATCH = 512  # inputs handled before the core dispatches (and checks its timers)
# Inputs of one connection that may wait for the core before it is no longer read. A phone
# registering pipelines a few dozen requests at most; before Register a phone sends a handful.
PENDING_REGISTERED = 64
PENDING_UNREGISTERED = 4
# Unregistered connections with inputs waiting for the core (each has a few at most): beyond
# this, unregistered connections are not read until the core catches up.
UNREGISTERED_WAITING = 1024
MIN_FRAME = 12  # header + message id: a read of N * MIN_FRAME bytes completes <= N + 1 frames
# Bytes a connection may send before it registers: Register (~200 bytes), an XMLAlarm (up to
# 4 KiB), a few keepalives and alarms (core.py rule 2); more is not a phone.
PRE_REGISTER_BYTES = 16 * 1024
# Bytes a connection we are closing may still send (messages in flight) before it is dropped
# without waiting for its end: a flooder does not stop because we said goodbye.
CLOSING_BYTES = 4096
ACCEPT_BATCH = 64  # accepts per loop turn: a connection storm does not starve reads
UNREGISTERED_PER_TURN = 256  # unregistered connections served per loop turn
ACCEPT_BACKOFF = 0.5  # seconds without accepting after EMFILE/ENFILE/ENOBUFS/ENOMEM
_NO_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
# Message types the core sends as one shared object to many phones (their bytes are cached).
_SHARED = (SoftKeyTemplateRes, SoftKeySetRes)


@dataclass(eq=False)
class _Conn:
    id: int
    sock: socket.socket
    ip: str
    port: int
    decoder: FrameDecoder = field(default_factory=FrameDecoder)
    version: int = 0
    out: bytearray = field(default_factory=bytearray)
    closing: str = ""  # reason, once the core asked to close
    close_by: float = 0.0
    writing: bool = False  # wants EVENT_WRITE (output queued)
    shut: bool = False  # our side is shut down; waiting for the peer's EOF
    events: int = selectors.EVENT_READ  # what the selector watches now (0: not registered)
    paused: bool = False  # not read until the core catches up (backpressure)
    registered: bool = False  # the core said MarkRegistered
    bytes_in: int = 0  # received before it registered
    discarded: int = 0  # received after we began to close it
    queued: int = 0  # inputs put in the inbox (I/O thread only)
    handled: int = 0  # of those, handled by the core (core thread only)
    last_in: float | None = None  # clock.now() of the last bytes received (I/O thread only)
    inbox: collections.deque[Input] = field(default_factory=collections.deque)  # for the core
    listed: bool = False  # in the inbox's round robin (under the inbox's lock)

    @property
    def pending(self) -> int:
        return self.queued - self.handled

    @property
    def pending_limit(self) -> int:
        return PENDING_REGISTERED if self.registered else PENDING_UNREGISTERED


_EMPTY = object()


class _Inbox:
    """What the core thread handles next: control requests first (``put``), then connections'
    inputs, one input per connection in turn (round robin), registered connections before
    unregistered ones. A phone's KeepAlive waits behind one input of each busy connection, not
    behind everything they queued; a connection's inputs keep their order. One consumer."""

    def __init__(self) -> None:
        self.high: collections.deque[Any] = collections.deque()
        self.registered: collections.deque[_Conn] = collections.deque()  # with inputs waiting
        self.unregistered: collections.deque[_Conn] = collections.deque()
        self._cond = threading.Condition(threading.Lock())

    def put(self, item: Any) -> None:
        """A control request, a poke or the stop marker."""
        with self._cond:
            self.high.append(item)
            self._cond.notify()

    def put_inputs(self, conn: _Conn, inputs: list[Input]) -> None:
        with self._cond:
            conn.inbox.extend(inputs)
            if not conn.listed:
                conn.listed = True
                (self.registered if conn.registered else self.unregistered).append(conn)
            self._cond.notify()

    def get(self, timeout: float) -> Any:
        """The next item, waiting up to ``timeout``; ``_EMPTY`` if none came."""
        with self._cond:
            if not (self.high or self.registered or self.unregistered):
                self._cond.wait(timeout)
        return self.get_nowait()

    def get_nowait(self) -> Any:
        """A control item, or (connection, input); ``_EMPTY`` when there is nothing."""
        if self.high:  # one consumer: it stays non-empty until we pop it
            return self.high.popleft()
        with self._cond:
            for ready in (self.registered, self.unregistered):
                if ready:
                    conn = ready.popleft()
                    item = conn.inbox.popleft()
                    if conn.inbox:
                        ready.append(conn)
                    else:
                        conn.listed = False
                    return conn, item
        return _EMPTY


class SccpServer:
    """``start()`` binds and serves; ``stop()`` ends everything. Thread-safe public methods."""

    def __init__(
        self,
        site: Site,
        host: str | None = None,
        port: int | None = None,
        *,
        clock: Clock | None = None,
        bus: EventBus | None = None,
        discovered: DiscoveredDevices | None = None,
        core: CallManager | None = None,
        out_limit: int = OUT_LIMIT,
        close_linger: float = CLOSE_LINGER,
        max_connections: int | None = None,
    ) -> None:
        self.site = site
        self.host = site.server.listen if host is None else host
        self._requested_port = site.server.sccp_port if port is None else port
        self.clock: Clock = clock or SystemClock()
        self.bus = bus or EventBus()
        self.discovered = discovered if discovered is not None else DiscoveredDevices()
        self.core = core if core is not None else CallManager(site, self.clock)
        self.core.sccp.heard = self._heard  # keepalives still queued here count (its rule 4)
        self.call_edge = CallEdge(post=self.post)  # Service sets .relay, .cdr and .sip
        self.out_limit = out_limit
        self.close_linger = close_linger
        self.max_connections = (
            limits.connection_cap(site) if max_connections is None else max_connections
        )
        self._inbox = _Inbox()
        self._outbox: collections.deque[Send | SetVersion | MarkRegistered | Close] = (
            collections.deque()
        )
        self._conns: dict[int, _Conn] = {}
        self._closing: set[_Conn] = set()  # asked to close, output draining (linger timer)
        self._paused: set[_Conn] = set()  # not read until the core catches up
        self._next_id = 1
        self._listener: socket.socket | None = None
        self._accepting = False  # the listener is in the selector
        self._accept_again = 0.0  # after a descriptor shortage: when to try again
        self.quiet = RateLimitedLog(log, time.monotonic)
        self._sel: selectors.BaseSelector | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.stats: collections.Counter[str] = collections.Counter()
        self._encoded: dict[tuple[int, int], tuple[Message, bytes]] = {}

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._listener is None:
            return self._requested_port
        return int(self._listener.getsockname()[1])

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
            sock.listen(1024)
        except OSError as e:
            sock.close()
            raise _bind_error(e, self.host, self._requested_port) from None
        sock.setblocking(False)
        self._listener = sock
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._listen(True)
        self._threads = [
            threading.Thread(target=self._io_loop, name="sccp-io", daemon=True),
            threading.Thread(target=self._core_loop, name="sccp-core", daemon=True),
        ]
        for t in self._threads:
            t.start()
        log.info(
            "SCCP call manager listening on %s:%d (at most %d connections)",
            self.host,
            self.port,
            self.max_connections,
        )

    def stop(self, wait: float = 5.0) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._inbox.put(None)
        self._wake()
        for t in self._threads:
            t.join(wait)
        for c in list(self._conns.values()):
            with contextlib.suppress(OSError):
                c.sock.close()
        self._conns.clear()
        if self._listener is not None:
            self._listener.close()
        if self._sel is not None:
            self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
        self.quiet.flush(force=True)
        log.info(
            "SCCP: %d connections accepted, %d messages received",
            self.stats["accepted"],
            self.stats["messages"],
        )

    def __enter__(self) -> SccpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- for other threads --------------------------------------------------------------------

    def call(self, fn: Callable[[CallManager], T], timeout: float = 5.0) -> T:
        """Run ``fn(core)`` on the core thread and return its result (status queries)."""
        fut: Future[T] = Future()
        self._inbox.put((fn, fut))
        return fut.result(timeout)

    def devices(self) -> list[dict[str, Any]]:
        return self.call(lambda core: core.snapshot())

    def refusals(self) -> dict[str, int]:
        """Connections this edge closed, by reason (any thread)."""
        keys = ("protocol_errors", "overflows", "over_budget")
        return {k: n for k in keys if (n := self.stats.get(k, 0))}

    def post(self, event: Input) -> None:
        """An input from another edge (the media engine's reports, the SIP trunks), any thread:
        handled on the core thread like the phones' messages."""
        self._inbox.put(event)

    def poke(self) -> None:
        """Make the core re-check its deadlines now (after moving a fake clock)."""
        self._inbox.put(())

    def _heard(self, conn_id: int) -> float | None:
        """For the core (its thread): when the I/O thread last received bytes on ``conn_id``."""
        conn = self._conns.get(conn_id)
        return conn.last_in if conn is not None else None

    # --- core thread --------------------------------------------------------------------------

    def _core_loop(self) -> None:
        core = self.core
        while not self._stopping.is_set():
            deadline = core.next_deadline()
            timeout = MAX_CORE_WAIT
            if deadline is not None:
                timeout = min(timeout, max(0.0, deadline - self.clock.now()))
            item = self._inbox.get(timeout)
            actions: list[Action] = []
            # Batch what is already queued: one wake-up of the I/O thread per batch. Every item
            # taken from the queue is handled (a full batch used to drop the one fetched last:
            # a lost Register or request left a phone hanging until its connection expired).
            handled = 0
            while True:
                if item is None:
                    return
                actions += self._core_item(item)
                handled += 1
                if handled >= CORE_BATCH:
                    break
                item = self._inbox.get_nowait()
                if item is _EMPTY:
                    break
            deadline = core.next_deadline()
            if deadline is not None and deadline <= self.clock.now():
                actions += core.on_timer()
            self._dispatch(actions)
            if self._paused:
                self._wake()  # the I/O thread resumes the connections that caught up

    def _core_item(self, item: Any) -> list[Action]:
        if item == () or item is _EMPTY:
            return []
        if not isinstance(item, tuple):
            return self.core.handle(item)  # posted by another edge
        if isinstance(item[0], _Conn):
            conn, event = item
            try:
                return self.core.handle(event)
            finally:
                conn.handled += 1
        fn, fut = item
        try:
            fut.set_result(fn(self.core))
        except Exception as e:  # handed to the caller
            fut.set_exception(e)
        return []

    def _dispatch(self, actions: list[Action]) -> None:
        # Phones first: their messages go to the I/O thread before the slower edge work of the
        # same batch (binding relay ports, events) runs, so a RingIn does not wait for sockets
        # to be opened for another call. The relay port named in a StartMediaTransmission is
        # bound microseconds later, long before the phone's RTP can arrive.
        # What the edge work reports back (a relay port that could not be bound) goes to the
        # core at once, on this same thread: its answer is dispatched before any later input.
        while actions:
            actions = self._dispatch_once(actions)

    def _dispatch_once(self, actions: list[Action]) -> list[Action]:
        to_io = False
        rest: list[Action] = []
        for a in actions:
            if isinstance(a, _TO_IO):
                self._outbox.append(a)
                to_io = True
            else:
                rest.append(a)
        if to_io:
            self._wake()
        more: list[Action] = []
        for a in rest:
            if isinstance(a, Publish):
                self.bus.publish(a.event)
            elif isinstance(a, _EDGE_ACTIONS):
                # media engine commands, call records, SIP commands (queued for the SIP thread)
                feedback = self.call_edge.apply(a)
                if feedback is not None:
                    more += self.core.handle(feedback)
            elif isinstance(a, RecordDiscovered):
                try:
                    self.discovered.record(a.mac, "sccp", a.ip, model=a.model)
                except ValueError:
                    log.warning("cannot record discovered device %r", a.mac)
            else:
                log.error("unknown action %r", a)
        return more

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"x")

    # --- I/O thread ---------------------------------------------------------------------------

    def _io_loop(self) -> None:
        sel = self._sel
        assert sel is not None
        while not self._stopping.is_set():
            timeout = 1.0 if self._closing else None
            if self._accept_again:
                wait = max(0.0, self._accept_again - time.monotonic())
                timeout = wait if timeout is None else min(timeout, wait)
            try:
                ready = sel.select(timeout)
            except OSError:
                if self._stopping.is_set():
                    return
                raise
            # Registered phones first, and their answers out, before the others; at most
            # UNREGISTERED_PER_TURN others per turn (the selector reports the rest again), so
            # a turn stays short however many strangers are knocking.
            later: list[tuple[_Conn, int]] = []
            accept = False
            for key, mask in ready:
                if key.fileobj is self._listener:
                    accept = True
                elif key.fileobj is self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        self._wake_r.recv(4096)
                elif key.data.registered:
                    self._serve(key.data, mask)
                else:
                    later.append((key.data, mask))
            self._apply_outbox()
            for conn, mask in later[:UNREGISTERED_PER_TURN]:
                self._serve(conn, mask)
            if accept:
                self._accept()
            self._apply_outbox()
            self._expire_lingering()
            if self._paused:
                self._resume_caught_up()
            if self._accept_again and time.monotonic() >= self._accept_again:
                self._accept_again = 0.0
                self._listen(len(self._conns) < self.max_connections)
            self.quiet.flush()

    def _serve(self, conn: _Conn, mask: int) -> None:
        if conn.id not in self._conns:
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
        if mask & selectors.EVENT_READ and conn.id in self._conns:
            self._read(conn)

    # --- accepting, within max_connections ------------------------------------------------------

    def _listen(self, on: bool) -> None:
        """Put the listener in the selector or take it out (at the cap: no busy loop)."""
        assert self._sel is not None and self._listener is not None
        if on and not self._accepting:
            self._sel.register(self._listener, selectors.EVENT_READ, None)
        elif not on and self._accepting:
            self._sel.unregister(self._listener)
        self._accepting = on

    def _accept(self) -> None:
        assert self._listener is not None and self._sel is not None
        for _ in range(ACCEPT_BATCH):
            if len(self._conns) >= self.max_connections:
                self.stats["at_max_connections"] += 1
                self.quiet.warning(
                    "max_connections",
                    "%d connections (max_connections): not accepting more until one closes",
                    len(self._conns),
                )
                self._listen(False)  # _drop puts it back
                return
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.stats["accept_errors"] += 1
                if e.errno in _NO_DESCRIPTORS:
                    # Retrying at once spun this thread at 100 % (issue 21.1): wait a little
                    # (or for a connection to close) and serve the connections we have.
                    self.quiet.error(
                        "accept", "accept failed: %s; not accepting for %.1f s", e, ACCEPT_BACKOFF
                    )
                    self._listen(False)
                    self._accept_again = time.monotonic() + ACCEPT_BACKOFF
                else:  # ECONNABORTED and the like: that connection only
                    self.quiet.warning("accept", "accept failed: %s", e)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(self._next_id, sock, addr[0], addr[1])
            self._next_id += 1
            self._conns[conn.id] = conn
            self._sel.register(sock, selectors.EVENT_READ, conn)
            self.stats["accepted"] += 1
            log.debug("connection %d from %s:%d", conn.id, conn.ip, conn.port)
            conn.queued += 1
            self._inbox.put_inputs(conn, [Connected(conn.id, conn.ip, conn.port)])

    # --- reading, with backpressure -------------------------------------------------------------

    def _read(self, conn: _Conn) -> None:
        if conn.closing:
            size = READ_SIZE  # read only to see its end (or that it will not stop)
        else:
            allowance = conn.pending_limit - conn.pending
            crowded = len(self._inbox.unregistered) >= UNREGISTERED_WAITING
            if allowance <= 0 or (crowded and not conn.registered):
                self._pause(conn)
                return
            # Never more bytes than can complete `allowance` frames (+1, a partial one
            # buffered): one 64 KiB read of 12-byte KeepAlives used to queue 5,000 messages.
            size = min(READ_SIZE, allowance * MIN_FRAME)
        try:
            data = conn.sock.recv(size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._drop(conn, f"read error: {e.strerror or e}")
            return
        if not data:
            self._drop(conn, conn.closing or "closed by peer")
            return
        if conn.closing:  # whatever it says no longer matters; a phone stops talking, though
            conn.discarded += len(data)
            if conn.discarded > CLOSING_BYTES:
                self._drop(conn, f"{conn.closing} (it kept sending)")
            return
        now = self.clock.now()
        conn.last_in = now
        if not conn.registered:
            conn.bytes_in += len(data)
            if conn.bytes_in > PRE_REGISTER_BYTES:
                self.stats["over_budget"] += 1
                self.quiet.warning(
                    f"budget {conn.ip}",
                    "closing %s:%d: more than %d bytes before Register",
                    conn.ip,
                    conn.port,
                    PRE_REGISTER_BYTES,
                )
                self._drop(conn, "too much before Register")
                return
        try:
            messages = conn.decoder.feed(data)
        except ProtocolError as e:
            self.stats["protocol_errors"] += 1
            self.quiet.warning(f"protocol {conn.ip}", "closing %s:%d: %s", conn.ip, conn.port, e)
            self._drop(conn, f"protocol error: {e}")
            return
        if messages:
            self.stats["messages"] += len(messages)
            conn.queued += len(messages)
            self._inbox.put_inputs(conn, [Received(conn.id, m, now) for m in messages])
            if conn.pending >= conn.pending_limit:
                self._pause(conn)

    def _pause(self, conn: _Conn) -> None:
        if not conn.paused:
            conn.paused = True
            self._paused.add(conn)
            self.stats["paused"] += 1
            self._watch(conn)

    def _resume_caught_up(self) -> None:
        """Read again the paused connections whose inputs the core has (mostly) handled."""
        low_ok = len(self._inbox.unregistered) < UNREGISTERED_WAITING // 2
        for conn in list(self._paused):
            if conn.id not in self._conns:
                self._paused.discard(conn)
            elif conn.pending <= conn.pending_limit // 2 and (conn.registered or low_ok):
                conn.paused = False
                self._paused.discard(conn)
                self._watch(conn)

    def _watch(self, conn: _Conn) -> None:
        """Make the selector watch what ``conn`` needs: reading unless paused, writing while
        output is queued."""
        events = (0 if conn.paused else selectors.EVENT_READ) | (
            selectors.EVENT_WRITE if conn.writing else 0
        )
        if events == conn.events:
            return
        assert self._sel is not None
        if not events:
            self._sel.unregister(conn.sock)
        elif not conn.events:
            self._sel.register(conn.sock, events, conn)
        else:
            self._sel.modify(conn.sock, events, conn)
        conn.events = events

    def _apply_outbox(self) -> None:
        # Frames are gathered per connection and written together at the end of the drain:
        # the core sends a call's messages in blocks (a RingIn is six of them), and one send()
        # per frame was most of this thread's time and made the phone wake up six times.
        frames: dict[_Conn, list[bytes]] = {}
        while self._outbox:
            a = self._outbox.popleft()
            conn = self._conns.get(a.conn)
            if conn is None:
                continue  # already gone; its Disconnected is on the way to the core
            if isinstance(a, Send):
                if conn.closing:
                    continue
                try:
                    frame = self._encode(a.message, conn.version)
                except Exception:
                    log.exception("cannot encode %r for connection %d", a.message, conn.id)
                    continue
                queued = frames.get(conn)
                if queued is None:
                    frames[conn] = [frame]
                else:
                    queued.append(frame)
            elif isinstance(a, SetVersion):
                conn.version = a.version
                conn.decoder.version = a.version
            elif isinstance(a, MarkRegistered):
                conn.registered = True
            elif isinstance(a, Close):
                self._write_frames(conn, frames.pop(conn, None))  # what it said before Close
                if conn.id not in self._conns:
                    continue
                conn.closing = a.reason or "closed"
                self._closing.add(conn)
                if conn.paused:  # read again: to see its end (or drop it if it goes on)
                    conn.paused = False
                    self._paused.discard(conn)
                    self._watch(conn)
                conn.close_by = self.clock.now() + self.close_linger
                if not conn.out:
                    self._shutdown(conn)
        for conn, queued in frames.items():
            self._write_frames(conn, queued)

    def _write_frames(self, conn: _Conn, frames: list[bytes] | None) -> None:
        """Write whole frames, grouped up to SEND_GROUP bytes per send: a group fits in one
        TCP segment, so no frame header is split across segments (§1.7) more than a frame
        written alone would be."""
        if not frames:
            return
        group: list[bytes] = []
        size = 0
        for frame in frames:
            if group and size + len(frame) > SEND_GROUP:
                if conn.id not in self._conns:
                    return
                self._write(conn, group[0] if len(group) == 1 else b"".join(group))
                group, size = [], 0
            group.append(frame)
            size += len(frame)
        if conn.id in self._conns:
            self._write(conn, group[0] if len(group) == 1 else b"".join(group))

    def _encode(self, message: Message, version: int) -> bytes:
        """Encode, reusing the bytes of a message object the core sends to many phones (the
        softkey templates are built once and cost ~1 ms to encode)."""
        if type(message) not in _SHARED:
            return encode(message, version)
        key = (id(message), version)
        hit = self._encoded.get(key)
        if hit is not None and hit[0] is message:
            return hit[1]
        frame = encode(message, version)
        if len(self._encoded) > 64:
            self._encoded.clear()
        self._encoded[key] = (message, frame)  # holds the object: its id cannot be reused
        return frame

    def _write(self, conn: _Conn, frame: bytes) -> None:
        if not conn.out:
            try:
                sent = conn.sock.send(frame)  # whole frames in one send (§1.7)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as e:
                self._drop(conn, f"write error: {e.strerror or e}")
                return
            frame = frame[sent:]
            if not frame:
                return
        conn.out += frame
        if len(conn.out) > self.out_limit:
            self.stats["overflows"] += 1
            self.quiet.warning(
                f"unread {conn.ip}",
                "closing %s:%d: %d bytes unread (peer not reading)",
                conn.ip,
                conn.port,
                len(conn.out),
            )
            self._drop(conn, "output buffer full: peer not reading")
            return
        if not conn.writing:
            conn.writing = True
            self._watch(conn)

    def _flush(self, conn: _Conn) -> None:
        if conn.out:
            try:
                sent = conn.sock.send(conn.out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self._drop(conn, f"write error: {e.strerror or e}")
                return
            del conn.out[:sent]
        if not conn.out:
            if conn.closing:
                self._shutdown(conn)
                return
            if conn.writing:
                conn.writing = False
                self._watch(conn)

    def _shutdown(self, conn: _Conn) -> None:
        """Graceful close: FIN after the queued output, then wait for the peer's EOF. Closing
        at once could reset the connection (unread input) and lose our last message."""
        if conn.shut:
            return
        conn.shut = True
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._drop(conn, conn.closing)
            return
        if conn.writing:
            conn.writing = False
            self._watch(conn)

    def _expire_lingering(self) -> None:
        if not self._closing:
            return
        now = self.clock.now()
        for conn in [c for c in self._closing if c.close_by <= now]:
            self._drop(conn, f"{conn.closing} (output not drained)")

    def _drop(self, conn: _Conn, reason: str) -> None:
        if self._conns.pop(conn.id, None) is None:
            return
        self._closing.discard(conn)
        self._paused.discard(conn)
        assert self._sel is not None
        if conn.events:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._sel.unregister(conn.sock)
            conn.events = 0
        with contextlib.suppress(OSError):
            conn.sock.close()
        self.stats["closed"] += 1
        log.debug("connection %d (%s:%d) closed: %s", conn.id, conn.ip, conn.port, reason)
        self._inbox.put_inputs(conn, [Disconnected(conn.id, reason)])
        if not self._accepting and not self._accept_again and not self._stopping.is_set():
            self._listen(True)  # below the cap again


def _bind_error(e: OSError, host: str, port: int) -> UserError:
    if e.errno == errno.EADDRINUSE:
        return UserError(
            f"SCCP port {host}:{port} is already in use (another skinnyctl serve or call "
            f"manager?): stop it, or set [server] sccp_port to a free port"
        )
    if e.errno == errno.EACCES:
        return UserError(
            f"no permission to listen on {host}:{port}: use a port above 1023 or run with "
            "CAP_NET_BIND_SERVICE"
        )
    if e.errno == errno.EADDRNOTAVAIL:
        return UserError(
            f"{host} is not an address of this machine: set [server] listen to one of its "
            'addresses or "0.0.0.0"'
        )
    return UserError(f"cannot listen on {host}:{port}: {e.strerror or e}")
