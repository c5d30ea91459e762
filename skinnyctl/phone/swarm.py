"""Many simulated phones driven by one selectors loop in one thread (for load benches).

``SimPhone`` spends two threads per phone, so 1,000 of them measure the client's GIL as much
as the server. A :class:`Swarm` makes the same request sequence as ``SimPhone.register``
(sccp-protocol.md §7.1; the same ``PROFILES``), but each phone is a small generator stepped
by the one loop, and only the answers it needs are decoded (RegisterAck, ButtonTemplate);
everything else is matched by message id alone, so the client stays cheap::

    swarm = Swarm("127.0.0.1", 2000, [("001120000001", "7960"), ...])
    result = swarm.register_all(timeout=30)     # connect + register every phone at once
    swarm.keepalive_for(10.0, interval=2.0)     # each phone sends KeepAlive, counts acks
    swarm.close()
"""

from __future__ import annotations

import collections
import contextlib
import errno
import selectors
import socket
import struct
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field

from skinnyctl.sccp import (
    ButtonTemplate,
    ButtonTemplateReq,
    CapabilitiesReq,
    CapabilitiesRes,
    ConfigStat,
    ConfigStatReq,
    DefineTimeDate,
    FeatureStat,
    FeatureStatReq,
    ForwardStat,
    ForwardStatReq,
    HeadsetStatus,
    IpPort,
    KeepAlive,
    KeepAliveAck,
    LineStat,
    LineStatReq,
    Message,
    Register,
    RegisterAck,
    RegisterAvailableLines,
    RegisterReject,
    SelectSoftKeys,
    ServiceURLStat,
    ServiceURLStatReq,
    SoftKeySetReq,
    SoftKeySetRes,
    SoftKeyTemplateReq,
    SoftKeyTemplateRes,
    SpeedDialStat,
    SpeedDialStatReq,
    StimulusType,
    TimeDateReq,
    Version,
    VersionReq,
    decode,
    encode,
)
from skinnyctl.sccp.framing import MAX_MESSAGE_LENGTH

from .sim import PROFILES, Profile, SimPhone

_HDR = struct.Struct("<III")
# A frame received: (message id, header version, body).
Frame = tuple[int, int, bytes]
# A phone's script: yields the message ids it waits for, receives the matching frame.
Script = Generator[tuple[int, ...], Frame, None]


@dataclass(eq=False)
class SwarmPhone:
    """One phone of the swarm and what happened to it."""

    mac: str
    model: str = "7960"
    profile: Profile = field(init=False)
    name: str = field(init=False)
    version: int = 0
    started: float = 0.0  # when connect() was called
    registered_at: float = 0.0  # when the last answer of the sequence arrived (0: not yet)
    error: str = ""
    keepalive_acks: int = 0
    sock: socket.socket | None = field(default=None, repr=False)
    _in: bytearray = field(default_factory=bytearray, repr=False)
    _out: bytearray = field(default_factory=bytearray, repr=False)
    _pending: collections.deque[Frame] = field(default_factory=collections.deque, repr=False)
    _script: Script | None = field(default=None, repr=False)
    _wanted: tuple[int, ...] = field(default=(), repr=False)
    _writing: bool = field(default=False, repr=False)
    _connected: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.mac = self.mac.replace(":", "").replace("-", "").replace(".", "").upper()
        self.name = f"SEP{self.mac}"
        self.profile = PROFILES.get(self.model, PROFILES["7961"])

    @property
    def registration_time(self) -> float:
        return self.registered_at - self.started if self.registered_at else float("nan")


@dataclass
class StormResult:
    """Outcome of :meth:`Swarm.register_all`."""

    phones: int
    registered: int
    seconds: float  # first connect to last phone registered
    failures: dict[str, int]  # error text -> how many phones
    per_phone: list[float]  # registration time of each registered phone, sorted


class Swarm:
    """``phones`` are (mac, model) pairs. Not thread-safe: drive it from one thread."""

    def __init__(self, host: str, port: int, phones: Iterable[tuple[str, str]]) -> None:
        self.host, self.port = host, port
        self.phones = [SwarmPhone(mac, model) for mac, model in phones]
        self._sel = selectors.DefaultSelector()
        self._frames: dict[tuple[str, int], bytes] = {}  # shared request frames, by version
        self._active = 0  # phones whose script is running

    # --- public -------------------------------------------------------------------------------

    def register_all(self, timeout: float = 60.0) -> StormResult:
        """Connect every phone at once and run each one's registration sequence."""
        t0 = time.perf_counter()
        for p in self.phones:
            self._connect(p, self._registration(p))
        deadline = t0 + timeout
        # Counting the busy phones on every poll would make the client O(N) per event.
        while self._active:
            left = deadline - time.perf_counter()
            if left <= 0:
                for p in self.phones:
                    if self._busy(p):
                        p.error = f"timeout waiting for {self._waiting_for(p)}"
                break
            self._poll(min(left, 1.0))
        done = [p for p in self.phones if p.registered_at]
        end = max((p.registered_at for p in done), default=t0)
        failures: dict[str, int] = collections.Counter(p.error for p in self.phones if p.error)
        return StormResult(
            phones=len(self.phones),
            registered=len(done),
            seconds=end - t0,
            failures=dict(failures),
            per_phone=sorted(p.registration_time for p in done),
        )

    def keepalive_for(self, seconds: float, interval: float) -> int:
        """Every registered phone sends KeepAlive each ``interval`` (spread over the interval,
        as phones that registered at different times would); returns the acks received."""
        live = [p for p in self.phones if p.registered_at and not p.error]
        before = sum(p.keepalive_acks for p in live)
        frame = encode(KeepAlive())
        t0 = time.perf_counter()
        n = len(live)
        end = t0 + seconds
        sent = 0  # phone i's k-th KeepAlive is due at t0 + interval * (k + i / n)
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            while n and t0 + interval * sent / n <= now:
                p = live[sent % n]
                if not p.error:
                    self._send(p, frame)
                sent += 1
            self._poll(min(0.005, end - now))
        self._poll(0.2)  # the last acks
        return sum(p.keepalive_acks for p in live) - before

    def run(self, phone: SwarmPhone, script: Callable[[SwarmPhone], Script]) -> None:
        """Start another script on a registered phone (later issues: calls)."""
        self._start(phone, script(phone))

    def poll(self, timeout: float) -> None:
        self._poll(timeout)

    def close(self) -> None:
        for p in self.phones:
            if p.sock is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._sel.unregister(p.sock)
                p.sock.close()
                p.sock = None
        self._sel.close()

    def __enter__(self) -> Swarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the registration script (same sequence as SimPhone.register) -----------------------------

    def _registration(self, p: SwarmPhone) -> Script:
        prof = p.profile
        local_ip = p.sock.getsockname()[0] if p.sock else "0.0.0.0"
        sim = SimPhone(self.host, self.port, p.mac, p.model)
        reg: Register = sim.register_message()
        self._send(p, encode(_with_ip(reg, local_ip)))
        mid, hv, body = yield (RegisterAck.MESSAGE_ID, RegisterReject.MESSAGE_ID)
        if mid == RegisterReject.MESSAGE_ID:
            p.error = f"rejected: {decode(mid, body, hv).text}"  # type: ignore[attr-defined]
            return
        ack = decode(mid, body, hv)
        assert isinstance(ack, RegisterAck)
        p.version = ack.protocol_version
        self._send_shared(p, IpPort(rtp_media_port=20000))
        if prof.headset:
            self._send_shared(p, HeadsetStatus(headset_status=2))
        yield (CapabilitiesReq.MESSAGE_ID,)
        self._send_shared(p, CapabilitiesRes(caps=sim.capabilities()))
        if prof.asks_version:
            yield from self._ask(p, VersionReq(), Version)
        mid, hv, body = yield from self._ask(p, ButtonTemplateReq(), ButtonTemplate)
        buttons = decode(mid, body, hv or p.version)
        assert isinstance(buttons, ButtonTemplate)
        yield from self._ask(p, SoftKeyTemplateReq(), SoftKeyTemplateRes)
        yield from self._ask(p, SoftKeySetReq(), SoftKeySetRes)
        yield (SelectSoftKeys.MESSAGE_ID,)
        lines = 0
        for d in buttons.definitions:
            n, kind = d.instance_number, d.button_definition
            if kind == StimulusType.LINE:
                lines += 1
                yield from self._ask(p, LineStatReq(line_number=n), LineStat)
                yield from self._ask(p, ForwardStatReq(line_number=n), ForwardStat)
            elif kind == StimulusType.SPEED_DIAL:
                yield from self._ask(p, SpeedDialStatReq(speed_dial_number=n), SpeedDialStat)
            elif kind == StimulusType.SERVICE_URL:
                yield from self._ask(p, ServiceURLStatReq(service_url_index=n), ServiceURLStat)
            elif kind == StimulusType.FEATURE:
                yield from self._ask(p, FeatureStatReq(feature_index=n), FeatureStat)
        self._send_shared(p, RegisterAvailableLines(max_num_of_avail_lines=lines))
        yield from self._ask(p, TimeDateReq(), DefineTimeDate)
        yield from self._ask(p, ConfigStatReq(), ConfigStat)
        p.registered_at = time.perf_counter()

    def _ask(
        self, p: SwarmPhone, request: Message, answer: type[Message]
    ) -> Generator[tuple[int, ...], Frame, Frame]:
        self._send_shared(p, request)
        return (yield (answer.MESSAGE_ID,))

    # --- the loop -----------------------------------------------------------------------------

    def _busy(self, p: SwarmPhone) -> bool:
        return p._script is not None and not p.error

    def _waiting_for(self, p: SwarmPhone) -> str:
        if not p._connected:
            return "connect"
        return ", ".join(f"{m:#06x}" for m in p._wanted) or "nothing"

    def _connect(self, p: SwarmPhone, script: Script) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        p.sock = sock
        p._script = script
        self._active += 1
        p.started = time.perf_counter()
        rc = sock.connect_ex((self.host, self.port))
        if rc not in (0, errno.EINPROGRESS):
            self._fail(p, f"connect: {errno.errorcode.get(rc, rc)}")
            return
        self._sel.register(sock, selectors.EVENT_WRITE, p)
        p._writing = True

    def _start(self, p: SwarmPhone, script: Script) -> None:
        if p._script is None:
            self._active += 1
        p._script = script
        try:
            p._wanted = next(script)
        except StopIteration:
            self._end(p)
            return
        self._deliver_pending(p)

    def _end(self, p: SwarmPhone) -> None:
        if p._script is not None:
            self._active -= 1
            p._script = None
        p._wanted = ()

    def _poll(self, timeout: float) -> None:
        for key, mask in self._sel.select(timeout):
            p: SwarmPhone = key.data
            if p.sock is None:
                continue
            if mask & selectors.EVENT_WRITE:
                if not p._connected:
                    err = p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        self._fail(p, f"connect: {errno.errorcode.get(err, err)}")
                        continue
                    p._connected = True
                    self._sel.modify(p.sock, selectors.EVENT_READ, p)
                    p._writing = False
                    script = p._script
                    if script is not None:
                        self._start(p, script)
                else:
                    self._flush(p)
            if mask & selectors.EVENT_READ and p.sock is not None:
                self._read(p)

    def _read(self, p: SwarmPhone) -> None:
        assert p.sock is not None
        try:
            data = p.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._fail(p, f"read: {e.strerror or e}")
            return
        if not data:
            self._fail(p, f"closed by server while waiting for {self._waiting_for(p)}")
            return
        buf = p._in
        buf += data
        pos = 0
        while len(buf) - pos >= 12:
            length, hv, mid = _HDR.unpack_from(buf, pos)
            if not 4 <= length <= MAX_MESSAGE_LENGTH:
                self._fail(p, f"bad frame length {length}")
                return
            end = pos + 8 + length
            if len(buf) < end:
                break
            if mid == KeepAliveAck.MESSAGE_ID:
                p.keepalive_acks += 1
            else:
                p._pending.append((mid, hv, bytes(buf[pos + 12 : end])))
                if len(p._pending) > 256:  # unsolicited messages nobody waits for
                    p._pending.popleft()
            pos = end
        del buf[:pos]
        self._deliver_pending(p)

    def _deliver_pending(self, p: SwarmPhone) -> None:
        while p._script is not None and p._pending:
            for i, frame in enumerate(p._pending):
                if frame[0] in p._wanted:
                    del p._pending[i]
                    break
            else:
                return
            try:
                p._wanted = p._script.send(frame)
            except StopIteration:
                self._end(p)
            except Exception as e:  # a script bug or an undecodable answer: this phone fails
                self._fail(p, f"{type(e).__name__}: {e}")

    def _send_shared(self, p: SwarmPhone, message: Message) -> None:
        key = (repr(message), p.version)
        frame = self._frames.get(key)
        if frame is None:
            frame = self._frames[key] = encode(message, p.version)
        self._send(p, frame)

    def _send(self, p: SwarmPhone, frame: bytes) -> None:
        if p.sock is None:
            return
        if not p._out:
            try:
                sent = p.sock.send(frame)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as e:
                self._fail(p, f"write: {e.strerror or e}")
                return
            if sent == len(frame):
                return
            frame = frame[sent:]
        p._out += frame
        if not p._writing:
            self._sel.modify(p.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, p)
            p._writing = True

    def _flush(self, p: SwarmPhone) -> None:
        assert p.sock is not None
        try:
            sent = p.sock.send(p._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._fail(p, f"write: {e.strerror or e}")
            return
        del p._out[:sent]
        if not p._out:
            self._sel.modify(p.sock, selectors.EVENT_READ, p)
            p._writing = False

    def _fail(self, p: SwarmPhone, reason: str) -> None:
        p.error = p.error or reason
        self._end(p)
        if p.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(p.sock)
            p.sock.close()
            p.sock = None


def _with_ip(reg: Register, ip: str) -> Register:
    import dataclasses

    return dataclasses.replace(reg, station_ip_addr=ip)


__all__ = ["StormResult", "Swarm", "SwarmPhone"]
