"""The SIP trunk edge: sippy's transactions, dialogs and digest auth, driven by plain commands.

Threads: sippy runs one event loop per process (its ``ED2`` dispatcher, on the thread started by
:func:`_reactor`); its UDP sockets have receiver/sender threads that hand datagrams to that loop.
All SIP state (user agents, transactions, registrations) lives on the loop thread.
``SipEdge.apply`` only schedules work there (``callFromThread``), so the core thread never waits
on the network; inputs are handed to ``on_input`` from the loop thread (the core's callback puts
them on its queue).

Policy kept here, not in the core: which source addresses may call in (403 otherwise, logged at
a limited rate), registration refresh and back-off, OPTIONS pings for trunks that do not
register, what to answer to a far-end re-INVITE (our current description, direction mirrored),
refusing malformed datagrams without raising.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from skinnyctl.sip import sdp
from skinnyctl.sip.events import (
    INCOMING_PREFIX,
    MediaDesc,
    SipAnswer,
    SipAnswered,
    SipCall,
    SipCommand,
    SipEnded,
    SipFailed,
    SipHangup,
    SipHold,
    SipIncoming,
    SipInput,
    SipProgress,
    SipReject,
    SipRing,
    SipRinging,
    SipUpdated,
    TrunkState,
)
from skinnyctl.site.model import Trunk

log = logging.getLogger("skinnyctl.sip")

USER_AGENT = "skinnyctl"
REASONS = {
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    484: "Address Incomplete",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    503: "Service Unavailable",
    603: "Decline",
}
MAX_DATAGRAM = 16384  # sippy reads 8 KiB; anything larger was cut and is garbage


class RateLimitedLog:
    """At most ``burst`` lines per ``period`` seconds per key, then one summary line."""

    def __init__(self, period: float = 10.0, burst: int = 5) -> None:
        self.period, self.burst = period, burst
        self._seen: dict[str, tuple[float, int]] = {}

    def __call__(self, key: str, level: int, msg: str, *args: object, **kwargs: Any) -> None:
        now = time.monotonic()
        start, count = self._seen.get(key, (now, 0))
        if now - start > self.period:
            if count > self.burst:
                log.log(
                    level, "%s: %d more in the last %.0f s", key, count - self.burst, now - start
                )
            start, count = now, 0
        count += 1
        self._seen[key] = (start, count)
        if count <= self.burst:
            log.log(level, msg, *args, **kwargs)


_limited = RateLimitedLog()


# ---- the sippy event loop (one per process) ---------------------------------------------

_reactor_lock = threading.Lock()
_reactor_thread: threading.Thread | None = None


def _reactor() -> Any:
    """sippy's dispatcher, running on its own daemon thread (started once)."""
    global _reactor_thread
    from sippy.Core import EventDispatcher
    from sippy.SipConf import SipConf

    ed = EventDispatcher.ED2
    with _reactor_lock:
        if _reactor_thread is None:
            SipConf.my_uaname = USER_AGENT
            _quiet_sippy()
            ready = threading.Event()

            def run() -> None:
                # ED2 was created by whichever thread imported sippy; timers must be armed
                # from the thread that loops (it warns otherwise).
                ed.my_ident = threading.get_ident()
                # Work handed over from other threads (callFromThread: every datagram from the
                # socket threads, every command of the core) wakes the loop with a signal sent
                # to the thread that enabled it: the importing one. Enabled again from here,
                # the loop wakes at once instead of at its next 10 ms tick (measured: 10 ms ->
                # 0.5 ms from SipAnswer to the 200 OK on the wire, each way of a call's setup).
                try:
                    ed.elp.CFT_enable(signal.SIGURG)
                except Exception:
                    log.warning("SIP: the event loop keeps waking every 10 ms", exc_info=True)
                ready.set()
                while True:
                    try:
                        ed.loop()
                    except Exception:  # never lose the loop: log and go on
                        log.exception("SIP event loop")

            _reactor_thread = threading.Thread(target=run, name="sip-loop", daemon=True)
            _reactor_thread.start()
            ready.wait()
    return ed


def _quiet_sippy() -> None:
    """sippy prints exceptions (malformed messages included) to stdout; send them to our log,
    rate-limited, instead: a flood of garbage must not flood the journal."""
    import sippy.Core.EventDispatcher as ed_mod
    import sippy.SipTransactionManager as tm_mod
    import sippy.Udp_server as udp_mod

    def dump_exception(msg: str, f: Any = None, extra: Any = None) -> None:
        _limited("sippy", logging.WARNING, "SIP: %s", msg, exc_info=True)

    for mod in (ed_mod, tm_mod, udp_mod):
        mod.dump_exception = dump_exception


_ua_class: Any = None


def _UA() -> Any:
    """sippy's user agent, answering digest challenges only after the ACK of the 401/407.

    sippy hands a final response to the user agent before its transaction sends the ACK, so
    the authenticated INVITE went out ahead of the ACK for the challenge. Legal (they are
    different transactions) but strict peers (SIPp scenarios, some SBCs) refuse it; RFC 3261
    §17.1.1.3 has the ACK sent at once, so we retry on the next turn of the loop."""
    global _ua_class
    if _ua_class is None:
        from sippy.Core.EventDispatcher import ED2
        from sippy.UA import UA

        class UAAckFirst(UA):  # type: ignore[misc]
            def recvResponse(self, resp: Any, tr: Any) -> None:
                code = resp.getSCode()[0]
                if code in (401, 407) and not getattr(resp, "ack_sent", False):
                    resp.ack_sent = True
                    ED2.callFromThread(super().recvResponse, resp, tr)
                    return
                super().recvResponse(resp, tr)

        _ua_class = UAAckFirst
    return _ua_class


class _SipLog:
    """sippy's logger interface (``write``): every message sent and received, at debug level,
    and to the optional ``trace`` hook (tests check what we sent with tshark)."""

    def __init__(self, trace: Callable[[str, str, str], None] | None) -> None:
        self.trace = trace

    def write(self, *args: Any, **kwargs: Any) -> None:
        head = str(args[0]) if args else ""
        data = str(args[1]) if len(args) > 1 else ""
        if self.trace is not None:
            self.trace(head.split(" ", 1)[0], head, data)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s%s", head, data)


# ---- per-trunk state ----------------------------------------------------------------------


@dataclass
class _TrunkRuntime:
    trunk: Trunk
    group: _Socket
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    state: str = "unregistered"
    status: int = 0
    reason: str = ""
    expires: int = 0
    expires_at: float = 0.0
    failures: int = 0
    timer: Any = None
    register_cseq: int = field(default_factory=lambda: random.randint(1, 1 << 20))
    call_id: str = field(default_factory=lambda: f"reg-{random.getrandbits(64):016x}")
    from_tag: str = field(default_factory=lambda: f"{random.getrandbits(48):012x}")
    reachable: bool = True  # host resolved

    def allows(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in n for n in self.networks)


@dataclass
class _Dialog:
    id: str
    trunk: _TrunkRuntime
    ua: Any
    outgoing: bool
    local: MediaDesc | None = None
    answered: bool = False
    ended: bool = False
    session_id: int = field(default_factory=lambda: random.randint(1, 1 << 30))
    version: int = 0
    source: tuple[str, int] = ("", 0)  # incoming: where the INVITE came from
    pai: tuple[str, str] = ("", "")  # incoming: P-Asserted-Identity (number, name)


class _Socket:
    """One SIP socket (a sippy transaction manager) shared by the trunks on one local port."""

    def __init__(self, edge: SipEdge, listen: str, port: int) -> None:
        self.edge, self.listen, self.port = edge, listen, port
        self.trunks: list[_TrunkRuntime] = []
        self.tm: Any = None
        self.config: dict[str, Any] = {}

    def open(self) -> None:
        from sippy.SipConf import SipConf
        from sippy.SipTransactionManager import SipTransactionManager
        from sippy.Udp_server import Udp_server, Udp_server_opts

        edge = self.edge

        class _InOrder(Udp_server_opts):  # type: ignore[misc]
            # One sender and one receiver thread per socket: datagrams leave in the order we
            # send them. sippy's default of three senders put a re-INVITE's 100 Trying behind
            # its 200 OK at times (strict peers such as SIPp refuse that).
            nworkers = 1

        class _TM(SipTransactionManager):  # type: ignore[misc]
            model_udp_server = (Udp_server, _InOrder)

            def handleIncoming(self, data_in: Any, ra: Any, server: Any, rtime: Any) -> None:
                edge._incoming_datagram(self, super().handleIncoming, data_in, ra, server, rtime)

            def newTransaction(self, msg: Any, *args: Any, **kwargs: Any) -> Any:
                # URI parameters are case-insensitive (RFC 3261 §19.1.4): a Contact with
                # ";transport=UDP" (SIPp, many phones) must not stop our BYE.
                address, transport = msg.getTarget()
                if isinstance(transport, str) and transport != transport.lower():
                    msg.setTarget((address, transport.lower()))
                return super().newTransaction(msg, *args, **kwargs)

        address: Any = SipConf.my_address if self.listen in ("0.0.0.0", "::", "") else self.listen
        self.config = {
            "_sip_address": address,
            "_sip_port": self.port,
            "_sip_logger": edge._sip_log,
        }
        self.tm = _TM(self.config, self.request)
        self.config["_sip_tm"] = self.tm

    def close(self) -> None:
        if self.tm is None:
            return
        # sippy's shutdown leaves the transactions' retransmission timers armed; they would
        # fire into a closed manager.
        for t in [*self.tm.tclient.values(), *self.tm.tserver.values()]:
            for name in ("teA", "teB", "teC", "teD", "teE", "teF", "teG"):
                timer = getattr(t, name, None)
                if timer is not None:
                    timer.cancel()
        self.tm.shutdown()
        self.tm = None

    def trunk_for(self, ip: str) -> _TrunkRuntime | None:
        return next((t for t in self.trunks if t.allows(ip)), None)

    def request(self, req: Any, sip_t: Any) -> Any:
        """A request outside any dialog (sippy's req_cb)."""
        return self.edge._out_of_dialog(self, req, sip_t)


# ---- the edge ---------------------------------------------------------------------------


class SipEdge:
    """SIP trunks over sippy. ``start()``, then ``apply(command)`` from any thread; inputs
    arrive through ``on_input`` on the SIP loop thread."""

    def __init__(
        self,
        trunks: Sequence[Trunk],
        on_input: Callable[[SipInput], None],
        listen: str = "0.0.0.0",
        *,
        retry_base: float = 10.0,
        retry_cap: float = 600.0,
        trace: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.on_input = on_input
        self.listen = listen
        self.retry_base, self.retry_cap = retry_base, retry_cap
        self._sip_log = _SipLog(trace)
        self._sockets: dict[int, _Socket] = {}
        self._trunks: dict[str, _TrunkRuntime] = {}
        for t in trunks:
            sock = self._sockets.setdefault(t.local_port, _Socket(self, listen, t.local_port))
            rt = _TrunkRuntime(trunk=t, group=sock)
            sock.trunks.append(rt)
            self._trunks[t.name] = rt
        self._dialogs: dict[str, _Dialog] = {}
        self._incoming_ids = itertools.count(1)
        self._ed: Any = None
        self._started = False

    # -- life cycle (called from the owner's thread; these may block briefly) --

    def start(self) -> None:
        """Resolve trunk hosts, open the sockets, begin registering. Raises OSError when a
        SIP port cannot be bound."""
        for rt in self._trunks.values():
            rt.networks, rt.reachable = _networks(rt.trunk)
        self._ed = _reactor()
        self._ed.callFromThreadSync(self._open)
        self._started = True

    def stop(self) -> None:
        """Close the sockets and forget every dialog (no BYEs: the process is going away)."""
        if self._started:
            self._ed.callFromThreadSync(self._close)
            self._started = False

    def apply(self, cmd: SipCommand) -> None:
        """Carry out a command of the core, later, on the SIP loop thread."""
        self._ed.callFromThread(self._apply, cmd)

    def status(self) -> list[dict[str, Any]]:
        """Plain data for `skinnyctl status trunks` (never the password)."""
        return self._ed.callFromThreadSync(self._status)  # type: ignore[no-any-return]

    # -- on the loop thread --

    def _emit(self, x: SipInput) -> None:
        try:
            self.on_input(x)
        except Exception:
            log.exception("SIP input handler failed on %s", type(x).__name__)

    def _open(self) -> None:
        opened: list[_Socket] = []
        try:
            for sock in self._sockets.values():
                sock.open()
                opened.append(sock)
        except Exception:
            for sock in opened:
                sock.close()
            raise
        for rt in self._trunks.values():
            if not rt.reachable:
                self._set_state(rt, "failed", 503, f"cannot resolve {rt.trunk.host}")
                self._retry_later(rt)
            elif rt.trunk.register:
                self._register(rt)
            elif rt.trunk.ping > 0:
                self._ping(rt)  # else the trunk stays "unregistered": nobody checks it

    def _close(self) -> None:
        for rt in self._trunks.values():
            if rt.timer is not None:
                rt.timer.cancel()
                rt.timer = None
        for d in self._dialogs.values():
            d.ended = True
            # A dialog's go-dead timer (sippy arms it on disconnect and keeps no handle) would
            # fire into the closed transaction manager: it changes nothing any more.
            d.ua.changeState = lambda *args, **kwargs: None
        self._dialogs.clear()
        for sock in self._sockets.values():
            sock.close()

    def _status(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        out = []
        for rt in self._trunks.values():
            t = rt.trunk
            out.append(
                {
                    "name": t.name,
                    "host": t.host,
                    "port": t.port,
                    "local_port": t.local_port,
                    "username": t.username,
                    "register": t.register,
                    "state": rt.state,
                    "status": rt.status,
                    "reason": rt.reason,
                    "expires_in": max(0, round(rt.expires_at - now)) if rt.expires_at else 0,
                    "failures": rt.failures,
                    "calls": sum(
                        1 for d in self._dialogs.values() if d.trunk is rt and not d.ended
                    ),
                }
            )
        return out

    # -- registration --

    def _set_state(self, rt: _TrunkRuntime, state: str, status: int, reason: str) -> None:
        changed = (state, status) != (rt.state, rt.status)
        rt.state, rt.status, rt.reason = state, status, reason
        if state != "registered":
            rt.expires, rt.expires_at = 0, 0.0
        if changed:
            level = logging.INFO if state == "registered" else logging.WARNING
            log.log(level, "trunk %s: %s (%s %s)", rt.trunk.name, state, status, reason)
            self._emit(TrunkState(rt.trunk.name, state, status, reason, rt.expires))  # type: ignore[arg-type]

    def _later(self, rt: _TrunkRuntime, delay: float, fn: Callable[[_TrunkRuntime], None]) -> None:
        from sippy.Time.Timeout import Timeout

        if rt.timer is not None:
            rt.timer.cancel()
        rt.timer = Timeout(fn, max(0.05, delay), 1, rt)

    def _retry_later(self, rt: _TrunkRuntime) -> None:
        rt.failures += 1
        delay = min(self.retry_cap, self.retry_base * 2 ** (rt.failures - 1))
        delay *= random.uniform(0.8, 1.0)  # spread many boxes retrying one provider
        if not rt.reachable:
            rt.networks, rt.reachable = _networks(rt.trunk)
            # (a blocking lookup here is acceptable: it only happens while the trunk is down)
        again = self._register if rt.trunk.register else self._ping
        self._later(rt, delay, again)

    def _register_request(self, rt: _TrunkRuntime, challenge: Any = None) -> Any:
        from sippy.SipAddress import SipAddress
        from sippy.SipCallId import SipCallId
        from sippy.SipContact import SipContact
        from sippy.SipExpires import SipExpires
        from sippy.SipFrom import SipFrom
        from sippy.SipHeader import SipHeader
        from sippy.SipRequest import SipRequest
        from sippy.SipTo import SipTo
        from sippy.SipURL import SipURL

        t = rt.trunk
        aor = SipURL(username=t.username, host=t.domain, port=None)
        ruri = SipURL(host=t.domain, port=t.port if t.domain == t.host else None)
        fr0m = SipFrom(address=SipAddress(url=aor.getCopy()))
        fr0m.setTag(rt.from_tag)
        to = SipTo(address=SipAddress(url=aor.getCopy()))
        contact = SipContact()
        contact.getUrl().username = t.username
        rt.register_cseq += 1
        req = SipRequest(
            method="REGISTER",
            ruri=ruri,
            fr0m=fr0m,
            to=to,
            contact=contact,
            callid=SipCallId(body=rt.call_id),
            cseq=rt.register_cseq,
            target=((t.host, t.port), "udp"),
            expires=SipExpires(number=t.register_expires),
        )
        if challenge is not None:
            ch, name, qop = challenge
            auth = ch.genAuthHF(t.username, t.password, "REGISTER", str(ruri), qop=qop)
            req.appendHeader(SipHeader(name=name, body=auth))
        return req

    def _register(self, rt: _TrunkRuntime, challenge: Any = None) -> None:
        sock = rt.group
        if sock.tm is None:
            return
        req = self._register_request(rt, challenge)
        authed = challenge is not None

        def reply(resp: Any) -> None:
            if sock.tm is None:
                return
            self._register_reply(rt, resp, authed)

        try:
            sock.tm.newTransaction(req, reply)
        except Exception as e:  # unresolvable at send time, socket gone...
            self._set_state(rt, "failed", 503, f"cannot send REGISTER: {e}")
            self._retry_later(rt)

    def _register_reply(self, rt: _TrunkRuntime, resp: Any, authed: bool) -> None:
        code, reason = resp.getSCode()
        if code < 200:
            return
        if 200 <= code < 300:
            expires = _granted_expires(resp, rt.trunk.register_expires)
            rt.failures = 0
            rt.expires = expires
            rt.expires_at = time.monotonic() + expires
            self._set_state(rt, "registered", code, reason)
            # Refresh well before expiry (RFC 3261 §10.2.4 leaves it to us): at 80%, and at
            # least 5 s early for short grants.
            self._later(rt, max(1.0, min(expires * 0.8, expires - 5)), self._register)
            return
        if code in (401, 407) and not authed:
            challenge = _challenge(resp, code)
            if challenge is not None:
                self._register(rt, challenge)
                return
        # A challenge after our credentials means they are wrong (or stale; the retry asks again)
        self._set_state(rt, "failed", code, reason)
        self._retry_later(rt)

    def _ping(self, rt: _TrunkRuntime) -> None:
        """OPTIONS to a trunk that knows us by address: any answer means it is up."""
        from sippy.SipAddress import SipAddress
        from sippy.SipCallId import SipCallId
        from sippy.SipContact import SipContact
        from sippy.SipFrom import SipFrom
        from sippy.SipRequest import SipRequest
        from sippy.SipTo import SipTo
        from sippy.SipURL import SipURL

        sock, t = rt.group, rt.trunk
        if sock.tm is None:
            return
        uri = SipURL(host=t.host, port=t.port)
        fr0m = SipFrom(address=SipAddress(url=SipURL(username=t.username or None, host=t.domain)))
        fr0m.genTag()
        req = SipRequest(
            method="OPTIONS",
            ruri=uri,
            fr0m=fr0m,
            to=SipTo(address=SipAddress(url=uri.getCopy())),
            contact=SipContact(),
            callid=SipCallId(),
            cseq=1,
            target=((t.host, t.port), "udp"),
        )

        def reply(resp: Any) -> None:
            code, reason = resp.getSCode()
            if code < 200 or sock.tm is None:
                return
            if code in (408, 503):
                self._set_state(rt, "failed", code, reason)
                self._retry_later(rt)
                return
            rt.failures = 0
            self._set_state(rt, "registered", code, reason)
            self._later(rt, rt.trunk.ping, self._ping)

        try:
            sock.tm.newTransaction(req, reply)
        except Exception as e:
            self._set_state(rt, "failed", 503, f"cannot send OPTIONS: {e}")
            self._retry_later(rt)

    # -- datagrams and requests outside dialogs --

    def _incoming_datagram(
        self, tm: Any, handle: Callable[..., None], data: Any, ra: Any, server: Any, rtime: Any
    ) -> None:
        """Every datagram, before sippy parses it: drop what cannot be SIP, and make sure
        nothing the far end sends raises out of the edge."""
        source = f"{ra.address[0]}:{ra.address[1]}" if hasattr(ra, "address") else str(ra)
        raw = data if isinstance(data, bytes) else str(data).encode("utf-8", "replace")
        why = _not_sip(raw)
        if why:
            _limited(
                f"bad SIP from {source}", logging.WARNING, "SIP: dropped %s from %s", why, source
            )
            return
        try:
            handle(data, ra, server, rtime)
        except Exception:
            _limited(
                f"bad SIP from {source}",
                logging.WARNING,
                "SIP: could not handle a message from %s",
                source,
                exc_info=True,
            )

    def _out_of_dialog(self, sock: _Socket, req: Any, sip_t: Any) -> Any:
        method = req.getMethod()
        ip = str(req.getSource()[0]).strip("[]")
        rt = sock.trunk_for(ip)
        if req.getHFBody("to").getTag() is not None:
            return (req.genResponse(481, REASONS[481]), None, None)
        if rt is None:
            _limited(
                f"forbidden {ip}",
                logging.WARNING,
                "SIP: %s from %s refused (403): not in any trunk's allow list",
                method,
                ip,
            )
            return (req.genResponse(403, REASONS[403]), None, None)
        if method == "INVITE":
            return self._incoming_invite(rt, req, sip_t)
        if method == "OPTIONS":
            return (req.genResponse(200, "OK"), None, None)
        return (req.genResponse(405, "Method Not Allowed"), None, None)

    def _incoming_invite(self, rt: _TrunkRuntime, req: Any, sip_t: Any) -> Any:
        did_id = f"{INCOMING_PREFIX}{next(self._incoming_ids)}"
        ua = _UA()(rt.group.config, None)
        ua.local_ua = USER_AGENT
        ua.dead_cbs = (lambda *_: self._forget(did_id),)
        d = _Dialog(did_id, rt, ua, outgoing=False)
        self._dialogs[did_id] = d
        ua.event_cb = lambda ev, ua: self._event(d, ev)
        src = req.getSource()
        d.source = (str(src[0]).strip("[]"), int(src[1]))
        d.pai = _asserted_identity(req)
        return ua.recvRequest(req, sip_t)

    def _forget(self, dialog: str) -> None:
        self._dialogs.pop(dialog, None)

    # -- dialog events from sippy's user agents --

    def _event(self, d: _Dialog, ev: Any) -> None:
        from sippy.CCEvents import (
            CCEventConnect,
            CCEventDisconnect,
            CCEventFail,
            CCEventRedirect,
            CCEventRing,
            CCEventTry,
            CCEventUpdate,
        )

        if d.ended:
            return
        accept = d.trunk.trunk.codecs
        if isinstance(ev, CCEventTry):
            _cid, cli, cld, body, _auth, name = ev.getData()
            number, pai_name = d.pai
            self._emit(
                SipIncoming(
                    dialog=d.id,
                    trunk=d.trunk.trunk.name,
                    did=str(cld or ""),
                    caller_number=number or str(cli or ""),
                    caller_name=pai_name or str(name or ""),
                    remote=_remote(body, accept),
                    source=d.source,
                )
            )
        elif isinstance(ev, CCEventRing):
            code, _reason, body = ev.getData()
            if code in (180, 183):
                self._emit(SipRinging(d.id, code, _remote(body, accept)))
        elif isinstance(ev, CCEventConnect):
            if not d.answered:
                d.answered = True
                _code, _reason, body = ev.getData()
                self._emit(SipAnswered(d.id, _remote(body, accept)))
        elif isinstance(ev, CCEventUpdate):
            self._far_end_reinvite(d, ev.getData())
        elif isinstance(ev, CCEventFail | CCEventRedirect):
            d.ended = True
            data = ev.getData()
            code, reason = (data[0], data[1]) if data else (500, "")
            if d.outgoing:
                self._emit(SipFailed(d.id, int(code), str(reason)))
            else:
                self._emit(SipEnded(d.id, "timeout"))
        elif isinstance(ev, CCEventDisconnect):
            d.ended = True
            self._emit(SipEnded(d.id, "bye" if d.answered or d.outgoing else "cancel"))

    def _far_end_reinvite(self, d: _Dialog, body: Any) -> None:
        from sippy.CCEvents import CCEventConnect

        remote = _remote(body, d.trunk.trunk.codecs)
        local = d.local
        if local is None or remote is None:
            d.ua.recvEvent(CCEventConnect((488, REASONS[488], None)))
            return
        answer = replace(local, direction=sdp.MIRROR[remote.direction])
        d.ua.recvEvent(CCEventConnect((200, "OK", self._body(d, answer))))
        self._emit(SipUpdated(d.id, remote))

    # -- commands --

    def _apply(self, cmd: SipCommand) -> None:
        try:
            if isinstance(cmd, SipCall):
                self._call(cmd)
                return
            d = self._dialogs.get(cmd.dialog)
            if d is None or d.ended:
                log.info("SIP: %s for unknown or ended dialog %s", type(cmd).__name__, cmd.dialog)
                return
            self._dialog_command(d, cmd)
        except Exception:
            log.exception("SIP: %s failed", type(cmd).__name__)

    def _body(self, d: _Dialog, local: MediaDesc) -> Any:
        from sippy.MsgBody import MsgBody

        d.local = local
        d.version += 1
        return MsgBody(sdp.build_sdp(local, d.session_id, d.version))

    def _call(self, cmd: SipCall) -> None:
        from sippy.CCEvents import CCEventTry

        rt = self._trunks.get(cmd.trunk)
        if cmd.dialog.startswith(INCOMING_PREFIX) or cmd.dialog in self._dialogs:
            log.error("SIP: dialog id %s is taken; the call is not placed", cmd.dialog)
            self._emit(SipFailed(cmd.dialog, 500, "dialog id in use"))
            return
        if rt is None or rt.group.tm is None or not rt.reachable:
            why = "no such trunk" if rt is None else f"trunk {cmd.trunk} is not reachable"
            self._emit(SipFailed(cmd.dialog, 503, why))
            return
        t = rt.trunk
        ua = _UA()(
            rt.group.config,
            None,
            username=t.username or None,
            password=t.password or None,
            nh_address=(t.host, t.port),
        )
        ua.local_ua = USER_AGENT
        d = _Dialog(cmd.dialog, rt, ua, outgoing=True)
        ua.event_cb = lambda ev, ua: self._event(d, ev)
        ua.dead_cbs = (lambda *_: self._forget(cmd.dialog),)
        self._dialogs[cmd.dialog] = d
        domain = t.domain

        class _Try(CCEventTry):  # type: ignore[misc]
            def onUacSetupComplete(self, uac: Any) -> None:
                # Our From carries the provider's domain, not our own address.
                uac.lUri.getUrl().host = domain

        body = self._body(d, cmd.local)
        caller = cmd.caller_number or t.username or "anonymous"  # the endpoint chose caller_id
        event = _Try((None, caller, cmd.number, body, None, cmd.caller_name or None))
        event.extra_headers = (_asserting(caller, cmd.caller_name, domain),)
        ua.recvEvent(event)

    def _dialog_command(self, d: _Dialog, cmd: SipCommand) -> None:
        from sippy.CCEvents import (
            CCEventConnect,
            CCEventDisconnect,
            CCEventFail,
            CCEventRing,
            CCEventUpdate,
        )

        if isinstance(cmd, SipRing):
            d.ua.recvEvent(CCEventRing((180, REASONS[180], None)))
        elif isinstance(cmd, SipProgress):
            d.ua.recvEvent(CCEventRing((183, REASONS[183], self._body(d, cmd.local))))
        elif isinstance(cmd, SipAnswer):
            d.answered = True
            d.ua.recvEvent(CCEventConnect((200, "OK", self._body(d, cmd.local))))
        elif isinstance(cmd, SipReject):
            d.ended = True
            status = cmd.status if 300 <= cmd.status <= 699 else 500
            d.ua.recvEvent(CCEventFail((status, REASONS.get(status, "Rejected"))))
        elif isinstance(cmd, SipHangup):
            d.ended = True
            d.ua.recvEvent(CCEventDisconnect())
        elif isinstance(cmd, SipHold):
            if not d.answered:
                log.info("SIP: hold on unanswered dialog %s ignored", d.id)
                return
            local = replace(cmd.local, direction="sendonly" if cmd.on else "sendrecv")
            d.ua.recvEvent(CCEventUpdate(self._body(d, local)))


# ---- helpers --------------------------------------------------------------------------------


def _networks(
    t: Trunk,
) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...], bool]:
    """The trunk's allow list, or the addresses its host resolves to; and whether the host
    resolves."""
    resolved: set[str] = set()
    try:
        for info in socket.getaddrinfo(t.host, t.port, type=socket.SOCK_DGRAM):
            resolved.add(str(info[4][0]))
    except OSError:
        log.warning("trunk %s: cannot resolve %s", t.name, t.host)
    nets = t.allow or tuple(sorted(resolved))
    return tuple(ipaddress.ip_network(n, strict=False) for n in nets), bool(resolved)


def _granted_expires(resp: Any, asked: int) -> int:
    """The registration time the registrar granted (RFC 3261 §10.2.4): our Contact's expires
    parameter, else the Expires header, else what we asked."""
    try:
        for c in resp.getHFBodys("contact"):
            value = c.address.params.get("expires")
            if value is not None:
                return max(1, int(value))
        if resp.countHFs("expires"):
            return max(1, int(resp.getHFBody("expires").getNum()))
    except (ValueError, AttributeError, TypeError):
        pass
    return asked


def _challenge(resp: Any, code: int) -> tuple[Any, str, str | None] | None:
    hf, auth_name = (
        ("www-authenticate", "authorization")
        if code == 401
        else ("proxy-authenticate", "proxy-authorization")
    )
    for ch in resp.getHFBodys(hf):
        supported, qop = ch.supportedAlgorithm()
        if supported:
            return ch, auth_name, qop
    return None


def _asserted_identity(req: Any) -> tuple[str, str]:
    """(number, name) from P-Asserted-Identity, if the far end sent one."""
    try:
        if req.countHFs("p-asserted-identity"):
            pai = req.getHFBody("p-asserted-identity")
            url = pai.getUrl()
            return str(url.username or ""), str(pai.getUri().name or "")
    except Exception:
        _limited("pai", logging.INFO, "SIP: unreadable P-Asserted-Identity ignored")
    return "", ""


def _asserting(number: str, name: str, domain: str) -> Any:
    """P-Asserted-Identity (RFC 3325) of an outgoing call: the caller ID we present, for
    providers that take it from there rather than from the From header."""
    from sippy.SipAddress import SipAddress
    from sippy.SipHeader import SipHeader
    from sippy.SipPAssertedIdentity import SipPAssertedIdentity
    from sippy.SipURL import SipURL

    url = SipURL(username=number, host=domain)
    address = SipAddress(url=url, name=name or None, hadbrace=True)
    return SipHeader(name="p-asserted-identity", body=SipPAssertedIdentity(address=address))


def _remote(body: Any, accept: tuple[str, ...]) -> MediaDesc | None:
    if body is None:
        return None
    try:
        return sdp.parse_sdp(str(body), accept)
    except Exception:
        return None


def _not_sip(raw: bytes) -> str:
    """Why a datagram cannot be a SIP message, or "" if it may be one."""
    if len(raw) >= MAX_DATAGRAM:
        return "an oversized datagram"
    if raw.strip(b"\r\n") == b"":
        return ""  # RFC 5626 keep-alive (CRLF): sippy ignores short datagrams
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "a datagram that is not UTF-8 text"
    first, _, rest = text.partition("\r\n")
    parts = first.split(" ")
    if first.startswith("SIP/2.0 "):
        ok = len(parts) >= 2 and parts[1].isdigit() and len(parts[1]) == 3
    else:
        ok = len(parts) == 3 and parts[2] == "SIP/2.0" and parts[0].isalpha()
    if not ok:
        return "a datagram whose first line is not SIP"
    if "\r\n\r\n" not in rest and not rest.endswith("\r\n"):
        return "a SIP message without an end of headers"
    return ""
