"""The SCCP edge: one I/O thread (selectors, non-blocking sockets) and one core thread.

    I/O thread: accept, read, frame + decode (FrameDecoder per connection), encode + write
                (bounded output buffer per connection), close.
          --Connected/Received/Disconnected--> queue --> core thread
    core thread: CallManager.handle / on_timer (the only owner of call-control state),
                 waits on the queue with a timeout = the core's next deadline.
          --Send/SetVersion/Close--> outbox + wake-up byte --> I/O thread
          --Publish--> EventBus; --RecordDiscovered--> DiscoveredDevices
          --media, call records, SIP commands--> CallEdge (engine, CdrStore, SIP edge queue)
    other edges (the SIP edge's thread, the media engine's notifier) --submit()--> queue

Rules: a connection that breaks framing (garbage, oversized frame) is closed at once; one whose
peer does not read is closed when its output buffer passes ``out_limit``; a Close waits at most
``close_linger`` seconds for queued output. None of this blocks the other connections: no
socket call here ever blocks. Every connection gets exactly one Disconnected.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import queue
import selectors
import socket
import threading
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
    Publish,
    Received,
    RecordDiscovered,
    Send,
    SetVersion,
    SystemClock,
)
from skinnyctl.calls.events import Input
from skinnyctl.calls.manager import CallManager
from skinnyctl.calls.media import EdgeAction
from skinnyctl.errors import UserError
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

from .bus import EventBus
from .calledge import CallEdge

# a tuple: isinstance's fast path on the core thread
_EDGE_ACTIONS = get_args(EdgeAction) + get_args(SipCommand)
_TO_IO = (Send, SetVersion, Close)

log = logging.getLogger("skinnyctl.runtime")

T = TypeVar("T")

OUT_LIMIT = 256 * 1024  # bytes queued for a peer that does not read before we give up on it
CLOSE_LINGER = 5.0  # seconds a closing connection may take to drain its output
READ_SIZE = 65536
MAX_CORE_WAIT = 1.0  # the core thread re-checks its deadlines at least this often
SEND_GROUP = 1200  # bytes of whole frames written with one send (below a segment's payload)
CORE_BATCH = 512  # inputs handled before the core dispatches (and checks its timers)
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
    writing: bool = False  # registered for EVENT_WRITE
    shut: bool = False  # our side is shut down; waiting for the peer's EOF


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
    ) -> None:
        self.site = site
        self.host = site.server.listen if host is None else host
        self._requested_port = site.server.sccp_port if port is None else port
        self.clock: Clock = clock or SystemClock()
        self.bus = bus or EventBus()
        self.discovered = discovered if discovered is not None else DiscoveredDevices()
        self.core = core if core is not None else CallManager(site, self.clock)
        self.call_edge = CallEdge(submit=self.submit)  # Service sets .relay, .cdr and .sip
        self.out_limit = out_limit
        self.close_linger = close_linger
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._outbox: collections.deque[Send | SetVersion | Close] = collections.deque()
        self._conns: dict[int, _Conn] = {}
        self._closing: set[_Conn] = set()  # asked to close, output draining (linger timer)
        self._next_id = 1
        self._listener: socket.socket | None = None
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
        self._sel.register(sock, selectors.EVENT_READ, None)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._threads = [
            threading.Thread(target=self._io_loop, name="sccp-io", daemon=True),
            threading.Thread(target=self._core_loop, name="sccp-core", daemon=True),
        ]
        for t in self._threads:
            t.start()
        log.info("SCCP call manager listening on %s:%d", self.host, self.port)

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

    def submit(self, item: Input) -> None:
        """An input from another edge (the SIP trunks, the media engine): the core thread
        handles it in turn, like a phone's message."""
        self._inbox.put(item)

    def poke(self) -> None:
        """Make the core re-check its deadlines now (after moving a fake clock)."""
        self._inbox.put(())

    # --- core thread --------------------------------------------------------------------------

    def _core_loop(self) -> None:
        core = self.core
        while not self._stopping.is_set():
            deadline = core.next_deadline()
            timeout = MAX_CORE_WAIT
            if deadline is not None:
                timeout = min(timeout, max(0.0, deadline - self.clock.now()))
            try:
                item = self._inbox.get(timeout=timeout)
            except queue.Empty:
                item = ()
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
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
            deadline = core.next_deadline()
            if deadline is not None and deadline <= self.clock.now():
                actions += core.on_timer()
            self._dispatch(actions)

    def _core_item(self, item: Any) -> list[Action]:
        if item == ():
            return []
        if isinstance(item, tuple):
            fn, fut = item
            try:
                fut.set_result(fn(self.core))
            except Exception as e:  # handed to the caller
                fut.set_exception(e)
            return []
        return self.core.handle(item)

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
            try:
                ready = sel.select(timeout)
            except OSError:
                if self._stopping.is_set():
                    return
                raise
            for key, mask in ready:
                if key.fileobj is self._listener:
                    self._accept()
                elif key.fileobj is self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        self._wake_r.recv(4096)
                else:
                    conn: _Conn = key.data
                    if conn.id not in self._conns:
                        continue
                    if mask & selectors.EVENT_WRITE:
                        self._flush(conn)
                    if mask & selectors.EVENT_READ and conn.id in self._conns:
                        self._read(conn)
            self._apply_outbox()
            self._expire_lingering()

    def _accept(self) -> None:
        assert self._listener is not None and self._sel is not None
        for _ in range(256):
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # EMFILE and friends: log, keep serving the others
                log.error("accept failed: %s", e)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(self._next_id, sock, addr[0], addr[1])
            self._next_id += 1
            self._conns[conn.id] = conn
            self._sel.register(sock, selectors.EVENT_READ, conn)
            self.stats["accepted"] += 1
            log.debug("connection %d from %s:%d", conn.id, conn.ip, conn.port)
            self._inbox.put(Connected(conn.id, conn.ip, conn.port))

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._drop(conn, f"read error: {e.strerror or e}")
            return
        if not data:
            self._drop(conn, conn.closing or "closed by peer")
            return
        if conn.closing:
            return  # we are closing it: whatever it says no longer matters
        try:
            messages = conn.decoder.feed(data)
        except ProtocolError as e:
            self.stats["protocol_errors"] += 1
            log.warning("closing %s:%d: %s", conn.ip, conn.port, e)
            self._drop(conn, f"protocol error: {e}")
            return
        for m in messages:
            self._inbox.put(Received(conn.id, m))

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
            elif isinstance(a, Close):
                self._write_frames(conn, frames.pop(conn, None))  # what it said before Close
                if conn.id not in self._conns:
                    continue
                conn.closing = a.reason or "closed"
                self._closing.add(conn)
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
            log.warning(
                "closing %s:%d: %d bytes unread (peer not reading)",
                conn.ip,
                conn.port,
                len(conn.out),
            )
            self._drop(conn, "output buffer full: peer not reading")
            return
        if not conn.writing:
            assert self._sel is not None
            self._sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
            conn.writing = True

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
                assert self._sel is not None
                self._sel.modify(conn.sock, selectors.EVENT_READ, conn)
                conn.writing = False

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
            assert self._sel is not None
            self._sel.modify(conn.sock, selectors.EVENT_READ, conn)
            conn.writing = False

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
        assert self._sel is not None
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._sel.unregister(conn.sock)
        with contextlib.suppress(OSError):
            conn.sock.close()
        self.stats["closed"] += 1
        log.debug("connection %d (%s:%d) closed: %s", conn.id, conn.ip, conn.port, reason)
        self._inbox.put(Disconnected(conn.id, reason))


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
