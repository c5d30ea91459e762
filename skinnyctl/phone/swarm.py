"""Many simulated phones driven by one selectors loop in one thread (for load benches).

``SimPhone`` spends two threads per phone, so 1,000 of them measure the client's GIL as much
as the server. A :class:`Swarm` makes the same request sequence as ``SimPhone.register``
(sccp-protocol.md §7.1; the same ``PROFILES``), but each phone is a small generator stepped
by the one loop, and only the answers it needs are decoded (RegisterAck, ButtonTemplate);
everything else is matched by message id alone, so the client stays cheap::

    swarm = Swarm("127.0.0.1", 2000, [("001120000001", "7960"), ...])
    result = swarm.register_all(timeout=30)     # connect + register every phone at once
    swarm.keepalive_for(10.0, interval=2.0)     # each phone sends KeepAlive, counts acks
    call = swarm.place_call(a, b, "10001")      # a calls b's number: b answers, RTP, a hangs up
    swarm.auto_answer(phones)                   # they answer every call (from outside: a trunk)
    swarm.close()

Like a real phone, a registered phone sends KeepAlive at the interval of its RegisterAck by
itself, answers OpenReceiveChannel with an OpenReceiveChannelAck naming its own UDP socket
(opened then, in the same loop), sends RTP where StartMediaTransmission says (``rtp_pps``
packets a second; a few prove the media path without loading the machine) and counts what it
receives. Everything runs on the one loop; timers too (``later``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
import heapq
import inspect
import itertools
import selectors
import socket
import struct
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field

from skinnyctl.sccp import (
    ButtonTemplate,
    ButtonTemplateReq,
    CallState,
    CallStateValue,
    CapabilitiesReq,
    CapabilitiesRes,
    CloseReceiveChannel,
    ConfigStat,
    ConfigStatReq,
    DefineTimeDate,
    EnblocCall,
    FeatureStat,
    FeatureStatReq,
    ForwardStat,
    ForwardStatReq,
    HeadsetStatus,
    IpPort,
    KeepAlive,
    KeepAliveAck,
    KeypadButton,
    LineStat,
    LineStatReq,
    Message,
    OffHook,
    OnHook,
    OpenReceiveChannel,
    OpenReceiveChannelAck,
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
    StartMediaTransmission,
    StimulusType,
    StopMediaTransmission,
    TimeDateReq,
    Version,
    VersionReq,
    decode,
    encode,
)
from skinnyctl.sccp.framing import MAX_MESSAGE_LENGTH

from .sim import PROFILES, Profile, SimPhone

_HDR = struct.Struct("<III")
_RTP = struct.Struct("!BBHII")
# A frame received: (message id, header version, body).
Frame = tuple[int, int, bytes]
# A phone's script: yields the message ids it waits for, receives the matching frame.
Script = Generator[tuple[int, ...], Frame, None]
# Not a message id: what a script yields to wait for its timer (``Swarm._sleep``).
TIMER = -1
_CALL_STATE = CallState.MESSAGE_ID
_ORC = OpenReceiveChannel.MESSAGE_ID
_SMT = StartMediaTransmission.MESSAGE_ID
_STOP_MT = StopMediaTransmission.MESSAGE_ID
_CRC = CloseReceiveChannel.MESSAGE_ID
# What a registered phone keeps for its script; everything else it has seen (lamps, prompts,
# soft keys, tones, call info) is dropped at once, so the client stays cheap.
_KEPT = frozenset({_CALL_STATE, TIMER})


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
    keepalive_interval: float = 0.0  # from RegisterAck (0: the phone sends none by itself)
    keepalive_sent: float = 0.0  # when it last sent KeepAlive
    busy: bool = False  # in a call placed by place_call, or answering (auto_answer)
    answered: int = 0  # calls it answered and saw connected (auto_answer)
    media_to: tuple[str, int] | None = None  # where StartMediaTransmission said to send RTP
    rtp_sent: int = 0
    rtp_received: int = 0
    rtp: socket.socket | None = field(default=None, repr=False)
    sock: socket.socket | None = field(default=None, repr=False)
    _in: bytearray = field(default_factory=bytearray, repr=False)
    _out: bytearray = field(default_factory=bytearray, repr=False)
    _pending: collections.deque[Frame] = field(default_factory=collections.deque, repr=False)
    _script: Script | None = field(default=None, repr=False)
    _wanted: tuple[int, ...] = field(default=(), repr=False)
    _writing: bool = field(default=False, repr=False)
    _connected: bool = field(default=False, repr=False)
    _timer_token: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.mac = self.mac.replace(":", "").replace("-", "").replace(".", "").upper()
        self.name = f"SEP{self.mac}"
        self.profile = PROFILES.get(self.model, PROFILES["7961"])

    @property
    def registration_time(self) -> float:
        return self.registered_at - self.started if self.registered_at else float("nan")


class _RtpSocket:
    """A phone's UDP socket in the selector (its key data, told apart from a phone)."""

    __slots__ = ("phone",)

    def __init__(self, phone: SwarmPhone) -> None:
        self.phone = phone


@dataclass(eq=False)
class CallResult:
    """One call placed by :meth:`Swarm.place_call`; times are ``time.perf_counter()``."""

    caller: SwarmPhone
    callee: SwarmPhone
    number: str
    off_hook: float = 0.0  # caller's OffHook sent
    dial_tone: float = 0.0  # caller's CallState OffHook received (then it dials)
    ring_in: float = 0.0  # callee's CallState RingIn received
    connected: float = 0.0  # caller's CallState Connected received
    ended: float = 0.0  # caller's CallState OnHook after its OnHook (0: not over)
    caller_rtp: int = 0  # RTP packets the caller received (from the callee, via the relay)
    callee_rtp: int = 0
    error: str = ""
    _legs_done: int = field(default=0, repr=False)

    @property
    def done(self) -> bool:
        return self._legs_done == 2

    @property
    def ok(self) -> bool:
        return self.done and not self.error and self.caller_rtp > 0 and self.callee_rtp > 0

    @property
    def setup_time(self) -> float:
        """Caller's off-hook to the far end's RingIn (seconds; nan if it never rang)."""
        return self.ring_in - self.off_hook if self.ring_in else float("nan")


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
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self.rtp_pps = 10.0  # RTP packets a second each phone in a call sends
        self.later(1.0, self._keepalives)

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

    def place_call(
        self,
        caller: SwarmPhone,
        callee: SwarmPhone,
        number: str,
        *,
        hold: float = 1.0,
        dial: str = "keypad",
    ) -> CallResult:
        """Start a call from ``caller`` (line 1) to ``number``, a line of ``callee``: OffHook,
        the number (``dial`` = "keypad": one KeypadButton per digit after the dial tone's
        CallState, as a user dials; "enbloc": one EnblocCall), the callee answers its RingIn
        with OffHook, both answer OpenReceiveChannel and send RTP, the caller hangs up after
        ``hold`` seconds connected. Runs on the loop: poll until ``result.done``."""
        call = CallResult(caller, callee, number)
        for p in (caller, callee):
            p.busy = True
            p.rtp_received = 0
            p._pending.clear()  # what arrived since registration is not about this call
        self._start(callee, self._callee(callee, call))
        self._start(caller, self._caller(caller, call, hold, dial))
        return call

    def auto_answer(self, phones: Iterable[SwarmPhone]) -> None:
        """Each phone answers every call that rings it (OffHook on its RingIn, then RTP as in
        ``place_call``) and waits for the next once the far end hung up: callees of calls that
        come from outside (a trunk). ``answered`` counts the calls it saw connected."""
        for p in phones:
            p.busy = True
            p._pending.clear()
            self._start(p, self._answerer(p))

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` on the loop ``delay`` seconds from now."""
        at = time.perf_counter() + delay
        heapq.heappush(self._timers, (at, next(self._timer_seq), fn))

    def poll(self, timeout: float) -> None:
        self._poll(timeout)

    def close(self) -> None:
        for p in self.phones:
            self._close_rtp(p)
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
        reg = dataclasses.replace(sim.register_message(), station_ip_addr=local_ip)
        self._send(p, encode(reg))
        mid, hv, body = yield (RegisterAck.MESSAGE_ID, RegisterReject.MESSAGE_ID)
        if mid == RegisterReject.MESSAGE_ID:
            reject = decode(mid, body, hv)
            assert isinstance(reject, RegisterReject)
            p.error = f"rejected: {reject.text}"
            return
        ack = decode(mid, body, hv)
        assert isinstance(ack, RegisterAck)
        p.version = ack.protocol_version
        p.keepalive_interval = float(ack.keep_alive_interval)
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
        p.registered_at = p.keepalive_sent = time.perf_counter()
        p._pending.clear()

    # --- calls ----------------------------------------------------------------------------------

    def _caller(self, p: SwarmPhone, call: CallResult, hold: float, dial: str) -> Script:
        try:
            call.off_hook = time.perf_counter()
            self._say(p, OffHook(line_instance=1, call_reference=0))
            ref = yield from self._until(p, CallStateValue.OFF_HOOK)  # dial tone
            call.dial_tone = time.perf_counter()
            if dial == "enbloc":
                self._say(p, EnblocCall(called_party=call.number, line_instance=1))
            else:
                for d in call.number:
                    button = KeypadButton(kp_button=int(d), line_instance=1, call_reference=ref)
                    self._say(p, button)
            yield from self._until(p, CallStateValue.RING_OUT)
            yield from self._until(p, CallStateValue.CONNECTED)
            call.connected = time.perf_counter()
            yield from self._sleep(p, hold)
            self._say(p, OnHook(line_instance=1, call_reference=ref))
            yield from self._until(p, CallStateValue.ON_HOOK)
            call.ended = time.perf_counter()
        except _CallFailed as e:
            call.error = call.error or f"caller: {e}"
        finally:
            call.caller_rtp = p.rtp_received
            self._leg_done(p, call)

    def _callee(self, p: SwarmPhone, call: CallResult) -> Script:
        try:
            ref = yield from self._until(p, CallStateValue.RING_IN)
            call.ring_in = time.perf_counter()
            self._say(p, OffHook(line_instance=1, call_reference=ref))
            yield from self._until(p, CallStateValue.CONNECTED)
            yield from self._until(p, CallStateValue.ON_HOOK)  # the caller hung up
        except _CallFailed as e:
            call.error = call.error or f"callee: {e}"
        finally:
            call.callee_rtp = p.rtp_received
            self._leg_done(p, call)

    def _answerer(self, p: SwarmPhone) -> Script:
        while not p.error:
            _, _, body = yield (_CALL_STATE,)
            value, _line, ref = _HDR.unpack_from(body)
            if value == CallStateValue.RING_IN:
                self._send(p, encode(OffHook(line_instance=1, call_reference=ref), p.version))
            elif value == CallStateValue.CONNECTED:
                p.answered += 1

    def _say(self, p: SwarmPhone, message: Message) -> None:
        self._send(p, encode(message, p.version))
        if p.error:  # the connection failed on this write
            raise _CallFailed(p.error)

    def _leg_done(self, p: SwarmPhone, call: CallResult) -> None:
        if p.error:  # the connection failed under the call
            role = "caller" if p is call.caller else "callee"
            call.error = call.error or f"{role}: {p.error}"
        p.busy = False
        p.media_to = None
        self._close_rtp(p)
        call._legs_done += 1

    def _until(
        self, p: SwarmPhone, state: CallStateValue
    ) -> Generator[tuple[int, ...], Frame, int]:
        """Wait for CallState ``state``; its callRef. Another end of the call fails it."""
        while True:
            _, _, body = yield (_CALL_STATE,)
            value, _line, ref = _HDR.unpack_from(body)
            if value == state:
                return int(ref)
            if value in _FAILED:
                raise _CallFailed(f"CallState {_state_name(value)} while waiting for {state.name}")

    def _sleep(self, p: SwarmPhone, seconds: float) -> Generator[tuple[int, ...], Frame, None]:
        """Wait ``seconds``; a CallState meanwhile that ends the call fails it."""
        token = object()
        p._timer_token = token
        self.later(seconds, lambda: self._inject(p, token))
        while True:
            mid, _, body = yield (TIMER, _CALL_STATE)
            if mid == TIMER:
                return
            value = _HDR.unpack_from(body)[0]
            if value in _FAILED:
                raise _CallFailed(f"CallState {_state_name(value)} during the call")

    def _inject(self, p: SwarmPhone, token: object) -> None:
        if p._timer_token is token and p._script is not None:
            p._pending.append((TIMER, 0, b""))
            self._deliver_pending(p)

    # --- media and other messages a registered phone handles by itself ----------------------

    def _unsolicited(self, p: SwarmPhone, mid: int, hv: int, body: bytes) -> bool:
        """Handle what a real phone answers without its user; whether a script may want it."""
        if mid == _ORC:
            orc = decode(mid, body, hv or p.version)
            assert isinstance(orc, OpenReceiveChannel)
            port = self._open_rtp(p)
            ack = OpenReceiveChannelAck(
                media_reception_status=0 if port else 1,
                ip_addr="127.0.0.1",
                port_number=port,
                pass_thru_party_id=orc.pass_thru_party_id,
                call_reference=orc.call_reference,
            )
            self._send(p, encode(ack, p.version))
        elif mid == _SMT:
            smt = decode(mid, body, hv or p.version)
            assert isinstance(smt, StartMediaTransmission)
            first = p.media_to is None
            p.media_to = (smt.remote_ip_addr, int(smt.remote_port_number))
            if first:
                self._send_rtp(p)
        elif mid == _STOP_MT:
            p.media_to = None
        elif mid == _CRC:
            self._close_rtp(p)
        return mid in _KEPT

    def _open_rtp(self, p: SwarmPhone) -> int:
        if p.rtp is None:
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setblocking(False)
                s.bind(("127.0.0.1", 0))
            except OSError:
                return 0
            p.rtp = s
            self._sel.register(s, selectors.EVENT_READ, _RtpSocket(p))
        return int(p.rtp.getsockname()[1])

    def _close_rtp(self, p: SwarmPhone) -> None:
        if p.rtp is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(p.rtp)
            p.rtp.close()
            p.rtp = None

    def _send_rtp(self, p: SwarmPhone) -> None:
        """One G.711 packet (20 ms) to ``media_to``; again in 1/rtp_pps s while it is set."""
        if p.media_to is None or p.rtp is None:
            return
        p.rtp_sent += 1
        seq = p.rtp_sent & 0xFFFF
        header = _RTP.pack(0x80, 0, seq, seq * 160, int(p.mac[-8:], 16))
        with contextlib.suppress(OSError):  # a port closed under us: the next packet retries
            p.rtp.sendto(header + _SILENCE, p.media_to)
        self.later(1.0 / self.rtp_pps, lambda: self._send_rtp(p))

    def _read_rtp(self, p: SwarmPhone) -> None:
        assert p.rtp is not None
        for _ in range(64):
            try:
                data = p.rtp.recv(2048)
            except OSError:  # nothing more to read (BlockingIOError) or the socket is gone
                return
            if len(data) >= 12:
                p.rtp_received += 1

    def _keepalives(self) -> None:
        """Registered phones send KeepAlive at their RegisterAck's interval, as phones do."""
        now = time.perf_counter()
        frame = encode(KeepAlive())
        for p in self.phones:
            if (
                p.keepalive_interval > 0
                and p.registered_at
                and not p.error
                and now - p.keepalive_sent >= p.keepalive_interval
            ):
                p.keepalive_sent = now
                self._send(p, frame)
        self.later(1.0, self._keepalives)

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
        if self._timers:
            timeout = max(0.0, min(timeout, self._timers[0][0] - time.perf_counter()))
        for key, mask in self._sel.select(timeout):
            p = key.data
            if type(p) is _RtpSocket:
                if p.phone.rtp is not None:
                    self._read_rtp(p.phone)
                continue
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
        now = time.perf_counter()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            fn()

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
                body = bytes(buf[pos + 12 : end])
                # registering: keep all (answers may overtake); registered: see _unsolicited
                if not p.registered_at or self._unsolicited(p, mid, hv, body):
                    p._pending.append((mid, hv, body))
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
        script = p._script
        self._end(p)
        # a running script fails by itself; closing one records why in its result (finally)
        if script is not None and inspect.getgeneratorstate(script) != inspect.GEN_RUNNING:
            script.close()
        self._close_rtp(p)
        if p.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(p.sock)
            p.sock.close()
            p.sock = None


class _CallFailed(Exception):
    pass


_SILENCE = b"\xff" * 160  # 20 ms of G.711 mu-law silence
# CallStates that end what a call script waits for.
_FAILED = frozenset(
    {
        int(CallStateValue.ON_HOOK),
        int(CallStateValue.BUSY),
        int(CallStateValue.CONGESTION),
    }
)


def _state_name(value: int) -> str:
    try:
        return CallStateValue(value).name
    except ValueError:
        return str(value)


__all__ = ["CallResult", "StormResult", "Swarm", "SwarmPhone"]
