"""The TFTP service phones boot from.

What it serves: the TFTP root (firmware, locales, rings) read-only, and device files rendered on
request from the current site, so an edited and reloaded ``site.toml`` takes effect without a
``provision`` step. For a name that :func:`skinnyctl.provision.render.render_device_file` knows
(``SEP<MAC>.cnf.xml``, ``XMLDefault.cnf.xml``) the rendered content wins over a file of that name
on disk: the site is the source of truth for device files, and a stale provisioned copy must not
shadow an edit. Every other name, or any name while no site is loaded (or rendering fails), is
looked up on disk with the rules of :mod:`skinnyctl.tftp.paths`; a bare name the root lacks is
then looked up among the firmware files in sub-folders (``firmware/7961/SCCP41...loads``), the
layout users unzip into.

Design — what comes from tftpy and what does not. tftpy 0.8.7 is used for the wire format of the
request and negotiation packets (RRQ/WRQ parsing with options, OACK and ERROR encoding). Its server
loop is not used, for reasons measured or read in its code: it scans every session per packet and
formats several log strings per packet (1.2–1.8x slower than tftpd-hpa on loopback), ignores the
``timeout`` option, has no ``windowsize``, follows symlinks out of its root, serves netascii as
binary and cannot put a reason in an ERROR packet; its state machine cannot take windowsize
without being rewritten. So the data path is ours and small: one thread runs a ``poll``
loop over the listening socket and one UDP socket per transfer, ``connect``-ed to the
client (the kernel drops datagrams from other TIDs); blocks are read with ``pread`` (nothing shared
between transfers; a file replaced by rename keeps serving the old inode) behind ``!HH`` headers
from a precompiled struct; retransmission timers are scanned every 50 ms. A first version with a
thread per transfer (tftpd-hpa forks one process per transfer) was as fast as tftpd-hpa for one
client but 1.8–2.3x slower with 20 at once (GIL hand-offs on every packet): one loop thread has no
such contention. Options: ``blksize`` (RFC 2348, 8..65464), ``tsize`` (RFC 2349), ``timeout`` (RFC
2349, 1..255 s, the retransmission interval), ``windowsize`` (RFC 7440, capped at
:data:`MAX_WINDOW`). Modes: octet, and netascii converted properly (LF -> CR LF, CR -> CR NUL).
Device files are rendered on the loop thread: a millisecond per request, at boot only.

Every request ends in exactly one :class:`FetchEntry` in :attr:`TftpService.fetch_log` and one
log line: an absent file is answered at once with error 1, a refusal with error 2 or 4 and the
reason, never silence.
"""

from __future__ import annotations

import collections
import errno
import logging
import os
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tftpy.TftpPacketFactory import TftpPacketFactory
from tftpy.TftpPacketTypes import (
    TftpPacketERR,
    TftpPacketOACK,
    TftpPacketRRQ,
    TftpPacketWRQ,
)

from skinnyctl.errors import UserError
from skinnyctl.provision.render import render_device_file
from skinnyctl.tftp.paths import (
    ERR_ACCESS,
    ERR_ILLEGAL,
    ERR_UNDEFINED,
    TftpNotFound,
    TftpRefused,
    normalize,
    resolve,
)

if TYPE_CHECKING:
    from skinnyctl.provision.firmware import FirmwareIndex
    from skinnyctl.site.discovered import DiscoveredDevices
    from skinnyctl.site.model import Site

MAX_BLKSIZE = 65464  # RFC 2348
MIN_BLKSIZE = 8
MAX_WINDOW = 64  # RFC 7440 allows 65535; beyond a few dozen only loss recovery gets worse
DEFAULT_TIMEOUT = 1.0  # seconds between retransmissions unless the client asks otherwise
DEFAULT_RETRIES = 6
MAX_TRANSFERS = 256  # concurrent; more are answered "server busy"
NETASCII_LIMIT = 64 * 1024 * 1024  # netascii is converted in memory
_SCAN_INTERVAL = 0.05  # seconds between retransmission-timer scans (timeouts are >= 1 s)

_OP_RRQ, _OP_WRQ, _OP_DATA, _OP_ACK, _OP_ERROR = 1, 2, 3, 4, 5
_HDR = struct.Struct("!HH")

_DEVICE_NAME_RE = re.compile(r"^(CTLSEP|ITLSEP|SEP)([0-9A-F]{12})(\..*)?$", re.IGNORECASE)
_SEP_CNF_RE = re.compile(r"^SEP([0-9A-F]{12})\.cnf\.xml$", re.IGNORECASE)

FIRMWARE_RESCAN = 2.0  # seconds a scan of the firmware names is reused
LOG_RATE = 20  # request log lines a second, sustained (beyond it they are counted)
LOG_BURST = 100  # ... and at once
SGN_WARNED_MAX = 1000  # phones remembered for the once-a-minute signed-file warning


@dataclass(frozen=True)
class FetchEntry:
    """One request and how it ended."""

    time: datetime  # when the request arrived (UTC)
    client: str  # "ip:port"
    file: str  # the name as requested (printable: control characters escaped)
    result: str  # ok | not found | refused | timeout | aborted | error
    bytes: int  # payload bytes acknowledged by the client
    duration: float  # seconds from request to end
    reason: str = ""  # why, for anything but ok
    source: str = ""  # rendered | disk | "" (nothing served)
    blksize: int = 512
    windowsize: int = 1

    def __str__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        via = f" [{self.source}, blksize {self.blksize}]" if self.source else ""
        return (
            f"{self.client} {self.file} {self.result}{why} {self.bytes} B "
            f"{self.duration:.3f} s{via}"
        )


class _ErrorPacket(TftpPacketERR):  # type: ignore[misc]  # tftpy has no type information
    """tftpy's ERROR packet always sends its canned text; ours carries the reason."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__()
        self.errorcode = code
        self.errmsg = message.encode("ascii", "replace")[:200]

    def encode(self) -> _ErrorPacket:
        self.buffer = _HDR.pack(_OP_ERROR, self.errorcode) + self.errmsg + b"\x00"
        return self


def _printable(name: str) -> str:
    return name.encode("unicode_escape").decode("ascii") if not name.isprintable() else name


def _canonical_device_name(name: str) -> str:
    """Device file names in the spelling the renderer expects (MAC upper, suffix lower)."""
    m = _SEP_CNF_RE.match(name)
    if m:
        return f"SEP{m.group(1).upper()}.cnf.xml"
    if name.casefold() == "xmldefault.cnf.xml":
        return "XMLDefault.cnf.xml"
    return name


class _FirmwareNames:
    """Firmware kept in sub-folders (``firmware/7961/...``), found by its bare name: phones ask
    for the names ``loadInformation`` and the ``.loads`` manifests give, never for a folder.
    Only consulted when the root has no file of that name; the scan is reused for
    :data:`FIRMWARE_RESCAN` seconds so a boot storm's misses do not each walk the tree."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._scanned = -1e9
        self._index: FirmwareIndex | None = None

    def find(self, name: str) -> str:
        """The relative path of ``name``; raises TftpNotFound (absent, or ambiguous)."""
        now = time.monotonic()
        if self._index is None or now - self._scanned > FIRMWARE_RESCAN:
            from skinnyctl.provision.firmware import scan_firmware

            self._index, self._scanned = scan_firmware(self.root), now
        key = name.lower()
        if key in self._index.clashes:
            paths = " and ".join(self._index.clashes[key])
            raise TftpNotFound(f"firmware name is ambiguous: {paths} differ")
        rel = self._index.by_name.get(key)
        if rel is None:
            raise TftpNotFound("file not found")
        return rel


@dataclass(eq=False)
class _Transfer:
    """State of one download, owned by the event loop thread."""

    client: tuple[str, int]
    when: datetime
    started: float
    file: str
    sock: socket.socket
    source: _Source | None = None
    kind: str = ""
    blksize: int = 512
    window: int = 1
    timeout: float = DEFAULT_TIMEOUT
    nblocks: int = 0
    acked: int = 0  # blocks acknowledged so far (absolute, not wrapped at 65536)
    packets: list[bytes] = field(default_factory=list)  # the window in flight, for resending
    oack_pending: bool = False
    attempts: int = 0
    deadline: float = 0.0
    fd: int = -1


class _Source:
    """What a transfer reads from: rendered bytes, or an open file read with pread."""

    def __init__(self, data: bytes | None = None, fd: int | None = None, size: int = 0) -> None:
        self._view = memoryview(data) if data is not None else None
        self._fd = fd
        self.size = len(data) if data is not None else size

    def read(self, offset: int, n: int) -> bytes | memoryview:
        if self._view is not None:
            return self._view[offset : offset + n]
        assert self._fd is not None
        return os.pread(self._fd, n, offset)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class TftpService:
    """A read-only TFTP server: ``start()`` binds and serves in background threads."""

    def __init__(
        self,
        root: Path,
        host: str,
        port: int,
        site_provider: Callable[[], Site | None],
        discovered: DiscoveredDevices | None = None,
        log: logging.Logger | None = None,
        *,
        log_size: int = 1000,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        max_transfers: int = MAX_TRANSFERS,
    ) -> None:
        self.root = Path(root)
        self.host = host
        self._requested_port = port
        self._site_provider = site_provider
        self.discovered = discovered
        self.log = log or logging.getLogger("skinnyctl.tftp")
        self._timeout = timeout
        self._retries = retries
        self._max_transfers = max_transfers
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._active: dict[tuple[str, int], _Transfer] = {}  # only the loop thread touches it
        # poll(2), not the selectors module: its per-call bookkeeping showed up per packet.
        self._poller = select.poll()
        self._by_fd: dict[int, _Transfer] = {}
        self._log_entries: collections.deque[FetchEntry] = collections.deque(maxlen=log_size)
        self._factory = TftpPacketFactory()
        self._sgn_warned: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._log_tokens, self._log_at, self._log_skipped = float(LOG_BURST), time.monotonic(), 0
        self._firmware = _FirmwareNames(self.root)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        if self._sock is None:
            return self._requested_port
        return int(self._sock.getsockname()[1])

    @property
    def fetch_log(self) -> list[FetchEntry]:
        """Recent requests, oldest first."""
        with self._lock:
            return list(self._log_entries)

    def start(self) -> None:
        """Bind, then serve in a background thread. Raises UserError when the port cannot be
        bound, saying what to do."""
        if not self.root.is_dir():
            raise UserError(
                f"TFTP root {self.root} is not a directory: create it (mkdir -p {self.root}) "
                "or point --root / [server] tftp_root at the directory holding firmware"
            )
        sock = socket.socket(self._family, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError as e:
            sock.close()
            raise self._bind_error(e) from None
        sock.setblocking(False)
        self._sock = sock
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="tftp", daemon=True)
        self._thread.start()
        self.log.info("TFTP serving %s on %s:%d", self.root, self.host, self.port)

    def stop(self, wait: float = 5.0) -> None:
        """Stop serving: transfers in progress are ended with an error to the client."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(wait)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> TftpService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _bind_error(self, e: OSError) -> UserError:
        where = f"UDP {self.host}:{self._requested_port}"
        if e.errno == errno.EACCES:
            return UserError(
                f"cannot listen on {where}: permission denied (ports below 1024 need privilege). "
                "Either run as root, or give the interpreter the capability once: "
                "sudo setcap cap_net_bind_service=+ep "
                '"$(readlink -f "$(command -v python3)")", '
                "or use another port (--port 6969, or tftp_port in [server]) and forward 69 to it"
            )
        if e.errno == errno.EADDRINUSE:
            return UserError(
                f"cannot listen on {where}: the port is already in use, probably by another TFTP "
                f"server (see: ss -ulpn 'sport = :{self._requested_port}'). Stop it "
                "(e.g. systemctl stop tftpd-hpa) or use another port "
                "(--port, or tftp_port in [server])"
            )
        if e.errno == errno.EADDRNOTAVAIL:
            return UserError(
                f"cannot listen on {where}: {self.host} is not an address of this machine; "
                "use one of its addresses or 0.0.0.0 (--host, or listen in [server])"
            )
        return UserError(f"cannot listen on {where}: {e.strerror or e}")

    # -- the event loop ----------------------------------------------------------------------

    def _loop(self) -> None:
        sock = self._sock
        assert sock is not None
        poller = self._poller
        by_fd = self._by_fd
        listen_fd = sock.fileno()
        poller.register(listen_fd, select.POLLIN)
        next_scan = time.monotonic() + _SCAN_INTERVAL
        wait_ms = int(_SCAN_INTERVAL * 1000)
        while not self._stopping.is_set():
            try:
                events = poller.poll(wait_ms)
            except OSError as e:  # only on a bug; do not spin
                self.log.error("TFTP: poll failed: %s", e)
                time.sleep(_SCAN_INTERVAL)
                continue
            for fd, _mask in events:
                transfer = by_fd.get(fd)
                if transfer is None and fd != listen_fd:
                    continue  # finished earlier in this round
                try:
                    if transfer is None:
                        self._drain_listener(sock)
                    else:
                        self._on_readable(transfer)
                except Exception:  # never let one datagram end the service
                    self.log.exception("TFTP: unexpected error")
                    if transfer is not None:
                        self._finish(transfer, "error", "internal server error")
            now = time.monotonic()
            if now >= next_scan:
                next_scan = now + _SCAN_INTERVAL
                for transfer in [t for t in self._active.values() if t.deadline <= now]:
                    self._on_timeout(transfer, now)
        for transfer in list(self._active.values()):
            self._finish(transfer, "aborted", "server stopping", send_error=ERR_UNDEFINED)
        poller.unregister(listen_fd)

    def _drain_listener(self, sock: socket.socket) -> None:
        for _ in range(64):  # bounded so transfers in progress keep their turn
            try:
                data, addr = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.log.debug("TFTP listener: %s", e)
                return
            self._dispatch(data, (addr[0], addr[1]))

    def _dispatch(self, data: bytes, client: tuple[str, int]) -> None:
        started = time.monotonic()
        when = datetime.now(UTC)
        opcode = int.from_bytes(data[:2], "big") if len(data) >= 2 else -1
        if opcode not in (_OP_RRQ, _OP_WRQ):
            # Stray ACK/DATA/ERROR or noise on port 69: answering could start a packet loop.
            self.log.debug(
                "TFTP: ignored %d-byte datagram (opcode %d) from %s", len(data), opcode, client[0]
            )
            return
        if client in self._active:  # the client retransmitted its request: already serving
            return
        try:
            pkt = self._factory.parse(data)
            name = str(pkt.filename)
        except Exception as e:
            raw = data[2:].split(b"\x00", 1)[0].decode("latin-1")
            self._refuse_now(client, when, started, raw, ERR_ILLEGAL, f"malformed request: {e}")
            return
        if isinstance(pkt, TftpPacketWRQ):
            reason = "write request refused: this server is read-only"
            self._refuse_now(client, when, started, name, ERR_ACCESS, reason)
            return
        if len(self._active) >= self._max_transfers:
            self._refuse_now(client, when, started, name, ERR_UNDEFINED, "server busy")
            return
        assert isinstance(pkt, TftpPacketRRQ)
        self._begin(pkt, client, when, started)

    def _refuse_now(
        self,
        client: tuple[str, int],
        when: datetime,
        started: float,
        name: str,
        code: int,
        reason: str,
    ) -> None:
        """Answer from the listening socket (no transfer was started) and log."""
        if self._sock is not None:
            try:
                self._sock.sendto(_ErrorPacket(code, reason).encode().buffer, client)
            except OSError:
                pass
        entry = FetchEntry(
            when,
            f"{client[0]}:{client[1]}",
            _printable(name),
            "refused",
            0,
            time.monotonic() - started,
            reason,
        )
        self._record(entry)

    def _record(self, entry: FetchEntry) -> None:
        with self._lock:
            self._log_entries.append(entry)
        # UDP senders can be spoofed at will: a line per request is a log flood on demand.
        # A token bucket lets a phone's boot (a dozen files) through, then sums up the rest.
        now = time.monotonic()
        self._log_tokens = min(LOG_BURST, self._log_tokens + (now - self._log_at) * LOG_RATE)
        self._log_at = now
        if self._log_tokens < 1:
            self._log_skipped += 1
            return
        self._log_tokens -= 1
        if self._log_skipped:
            self.log.warning(
                "tftp: %d requests not logged (more than %d a second)", self._log_skipped, LOG_RATE
            )
            self._log_skipped = 0
        level = logging.INFO if entry.result in ("ok", "not found") else logging.WARNING
        self.log.log(level, "tftp %s", entry)

    # -- one transfer ------------------------------------------------------------------------

    def _begin(
        self, pkt: TftpPacketRRQ, client: tuple[str, int], when: datetime, started: float
    ) -> None:
        name = str(pkt.filename)
        sock = socket.socket(self._family, socket.SOCK_DGRAM)
        t = _Transfer(client, when, started, _printable(name), sock)
        try:
            sock.bind((self.host, 0))
            sock.connect(client)  # our TID; the kernel drops datagrams from other ports
            sock.setblocking(False)
            self._notice(name, client[0])
            mode = str(pkt.mode).lower()
            if mode not in ("octet", "netascii"):
                raise TftpRefused(f"unsupported transfer mode {mode!r}", ERR_ILLEGAL)
            t.source, t.kind = self._open(name)
            if mode == "netascii":
                t.source = self._to_netascii(t.source)
            t.blksize, t.window, t.timeout, accepted = self._negotiate(pkt.options, t.source.size)
            t.nblocks = t.source.size // t.blksize + 1  # a final short (maybe empty) block ends it
        except TftpRefused as e:
            result = "not found" if isinstance(e, TftpNotFound) else "refused"
            t.kind = ""
            self._close(t, result, e.reason, send_error=e.code)
            return
        except Exception as e:  # a bug or an I/O error: tell the client, log, keep serving
            self.log.exception("TFTP: request for %s from %s failed", t.file, client[0])
            self._close(t, "error", f"{type(e).__name__}: {e}", send_error=ERR_UNDEFINED)
            return
        self._active[client] = t
        t.fd = sock.fileno()
        self._by_fd[t.fd] = t
        self._poller.register(t.fd, select.POLLIN)
        if accepted:
            oack = TftpPacketOACK()
            oack.options = accepted
            t.packets = [oack.encode().buffer]
            t.oack_pending = True
            self._transmit(t)
        else:
            self._next_window(t)

    def _next_window(self, t: _Transfer) -> None:
        end = min(t.acked + t.window, t.nblocks)
        assert t.source is not None  # set by _begin, before the first window
        pack, read, bs = _HDR.pack, t.source.read, t.blksize
        t.packets = [
            pack(_OP_DATA, b & 0xFFFF) + read((b - 1) * bs, bs) for b in range(t.acked + 1, end + 1)
        ]
        t.attempts = 0
        self._transmit(t)

    def _transmit(self, t: _Transfer) -> None:
        send = t.sock.send
        try:
            for p in t.packets:
                send(p)
        except BlockingIOError:
            pass  # socket buffer full (huge window): the retransmission timer recovers
        except OSError as e:
            self._finish(t, "aborted", f"client went away ({e.strerror})")
            return
        t.deadline = time.monotonic() + t.timeout

    def _on_readable(self, t: _Transfer) -> None:
        recv = t.sock.recv
        advanced = 0
        while True:
            try:
                reply = recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:  # ICMP port unreachable: the client is gone
                self._finish(t, "aborted", f"client went away ({e.strerror})")
                return
            if len(reply) < 4:
                continue
            op, num = _HDR.unpack_from(reply)
            if op == _OP_ACK:
                if t.oack_pending:
                    if num == 0:
                        t.oack_pending = False
                        advanced = -1
                    continue
                delta = (num - t.acked) & 0xFFFF
                if 0 < delta <= len(t.packets):
                    t.acked += delta
                    advanced = delta
                    break  # answer this ACK now; later datagrams wait for the next select
                # An old (duplicate) ACK: ignore it rather than resend (Sorcerer's Apprentice).
            elif op == _OP_ERROR:
                msg = reply[4:].split(b"\x00", 1)[0].decode("ascii", "replace")
                self._finish(t, "aborted", f"client sent error {num}: {msg}")
                return
        if advanced:
            if t.acked >= t.nblocks:
                self._finish(t, "ok", "")
            else:
                self._next_window(t)

    def _on_timeout(self, t: _Transfer, now: float) -> None:
        t.attempts += 1
        if t.attempts > self._retries:
            self._finish(
                t,
                "timeout",
                f"no acknowledgement after {self._retries + 1} tries",
                send_error=ERR_UNDEFINED,
            )
            return
        self._transmit(t)

    def _finish(
        self, t: _Transfer, result: str, reason: str, send_error: int | None = None
    ) -> None:
        if self._active.get(t.client) is t:
            del self._active[t.client]
            del self._by_fd[t.fd]
            self._poller.unregister(t.fd)
        self._close(t, result, reason, send_error)

    def _close(self, t: _Transfer, result: str, reason: str, send_error: int | None) -> None:
        if send_error is not None:
            self._send_error(t.sock, send_error, reason)
        if t.source is not None:
            t.source.close()
        t.sock.close()
        size = t.source.size if t.source is not None else 0
        done = min(t.acked * t.blksize, size)  # payload the client acknowledged
        self._record(
            FetchEntry(
                t.when,
                f"{t.client[0]}:{t.client[1]}",
                t.file,
                result,
                done,
                time.monotonic() - t.started,
                reason,
                t.kind,
                t.blksize,
                t.window,
            )
        )

    def _send_error(self, sock: socket.socket, code: int, reason: str) -> None:
        try:
            sock.send(_ErrorPacket(code, reason).encode().buffer)
        except OSError:
            pass

    def _notice(self, name: str, ip: str) -> None:
        """Discovery and CUCM-leftover warnings, from the name alone."""
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        m = _DEVICE_NAME_RE.match(base)
        if not m:
            return
        prefix, mac, suffix = m.group(1).upper(), m.group(2).upper(), (m.group(3) or "").lower()
        site = self._current_site()
        known = site is not None and site.device(mac) is not None
        if not known and self.discovered is not None:
            dev = self.discovered.record(mac, "tftp", ip)
            if dev is not None and dev.count == 1:  # once, not on every file of every boot
                self.log.info(
                    "TFTP: phone SEP%s (%s) is not in the site; add it with: "
                    "skinnyctl adopt %s --model MODEL",
                    mac,
                    ip,
                    mac,
                )
        if prefix == "SEP" and suffix.endswith(".sgn"):
            now = time.monotonic()
            if now - self._sgn_warned.get(mac, -1e9) > 60.0:
                self._sgn_warned[mac] = now
                self._sgn_warned.move_to_end(mac)
                if len(self._sgn_warned) > SGN_WARNED_MAX:  # spoofable names: bounded
                    self._sgn_warned.popitem(last=False)
                self.log.warning(
                    "TFTP: phone SEP%s (%s) asks for %s, a signed configuration: it still trusts "
                    "another call manager (an ITL/CTL from a CUCM) and will ignore unsigned "
                    "files. Erase its trust list on the phone: Settings > Security > Trust List "
                    "> ITL File, unlock with **#, Erase (provisioning.md §6.5)",
                    mac,
                    ip,
                    base,
                )
        elif prefix in ("ITLSEP", "CTLSEP"):
            # Every Java phone asks for these at boot; only a following .sgn request means trouble.
            self.log.info(
                "TFTP: phone SEP%s asks for its trust list %s (normal at boot; if it then asks "
                "for SEP%s.cnf.xml.sgn it holds a CUCM ITL: see provisioning.md §6.5)",
                mac,
                base,
                mac,
            )

    def _current_site(self) -> Site | None:
        try:
            return self._site_provider()
        except Exception as e:  # a provider that fails must not take TFTP down
            self.log.warning("TFTP: could not get the current site: %s", e)
            return None

    def _open(self, name: str) -> tuple[_Source, str]:
        """Rendered content for device files of the current site, else the file on disk."""
        rel, _absolute = normalize(name)
        if "/" not in rel:
            site = self._current_site()
            if site is not None:
                try:
                    data = render_device_file(site, _canonical_device_name(rel))
                except Exception as e:
                    self.log.warning("TFTP: rendering %s failed (%s); trying the disk", rel, e)
                    data = None
                if data is not None:
                    return _Source(data=bytes(data)), "rendered"
        try:
            path = resolve(self.root, name)
        except TftpNotFound:
            if "/" in rel:
                raise
            path = resolve(self.root, self._firmware.find(rel))  # the same checks apply
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as e:
            raise TftpRefused(f"cannot open: {e.strerror}") from None
        return _Source(fd=fd, size=os.fstat(fd).st_size), "disk"

    def _to_netascii(self, source: _Source) -> _Source:
        if source.size > NETASCII_LIMIT:
            source.close()
            raise TftpRefused("file too large for netascii mode: use octet", ERR_ILLEGAL)
        data = bytes(source.read(0, source.size))
        source.close()
        return _Source(data=data.replace(b"\r", b"\r\x00").replace(b"\n", b"\r\n"))

    def _negotiate(
        self, options: dict[str, str], size: int
    ) -> tuple[int, int, float, dict[str, str]]:
        """RFC 2347 option negotiation: what we accept goes into the OACK."""
        blksize, window, timeout = 512, 1, self._timeout
        accepted: dict[str, str] = {}
        for key, value in options.items():
            k = key.lower()
            try:
                v = int(value)
            except ValueError:
                continue  # an option we cannot read is ignored, as RFC 2347 allows
            if k == "blksize" and v >= MIN_BLKSIZE:
                blksize = min(v, MAX_BLKSIZE)
                accepted["blksize"] = str(blksize)
            elif k == "tsize":
                accepted["tsize"] = str(size)
            elif k == "timeout" and 1 <= v <= 255:
                timeout = float(v)
                accepted["timeout"] = str(v)
            elif k == "windowsize" and v >= 1:
                window = min(v, MAX_WINDOW)
                accepted["windowsize"] = str(window)
        return blksize, window, timeout, accepted


def watch_site_file(path: Path, log: logging.Logger | None = None) -> Callable[[], Site | None]:
    """A site provider for the standalone ``skinnyctl tftp``: reloads ``path`` when its
    modification time changes; on a broken edit keeps serving the last good site and logs why."""
    from skinnyctl.site import SiteError, load_site

    logger = log or logging.getLogger("skinnyctl.tftp")
    lock = threading.Lock()
    last_mtime: int | None = None
    last_site: Site | None = None

    def provider() -> Site | None:
        nonlocal last_mtime, last_site
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return last_site
        with lock:
            if mtime != last_mtime:
                last_mtime = mtime
                try:
                    last_site = load_site(path)
                    logger.info("TFTP: loaded %s", path)
                except SiteError as e:
                    for problem in e.problems:
                        logger.error("TFTP: %s (keeping the previous site)", problem)
            return last_site

    return provider
