"""``skinnyctl phone``: check a server with simulated phones before real ones arrive.

One phone (:func:`run_phone`) registers as a given MAC and model, prints what the server sent
(protocol, keepalive, lines, speed dials, softkeys, date), then optionally calls a number or
waits to answer, reporting ring / answer / media (RTP both ways through the server's relay).
Like a real phone it survives a server restart: when the connection is lost it connects
again with back-off (1, 2, 4 ... 30 s) and registers again, then goes on waiting for a call; a
call the loss cut off is reported as dropped (exit 1). ``reconnect=False`` stops at the loss.
Many phones (:func:`run_many`) register at once from one selectors loop and report how many
made it and how long it took. Output goes through ``echo``; failures raise :class:`UserError`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from skinnyctl.errors import UserError
from skinnyctl.sccp import (
    CallInfo,
    CallState,
    CallStateValue,
    KeypadButton,
    OffHook,
    OnHook,
    StartTone,
    StopMediaTransmission,
    Tone,
)
from skinnyctl.site.loader import normalize_mac

from .sim import PROFILES, Registration, Rejected, SimPhone
from .swarm import Swarm

Echo = Callable[[str], None]
S = CallStateValue
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0  # seconds between attempts to reach the server again


class Lost(Exception):
    """The connection to the server went away."""


def parse_server(text: str, default_port: int = 2000) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port``."""
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        port = _port(p, text)
    if not host:
        raise UserError(f"--server {text!r}: no host; write e.g. 127.0.0.1:2000")
    return host, port


def _port(p: str, text: str) -> int:
    if not p.isdigit() or not 0 < int(p) < 65536:
        raise UserError(f"--server {text!r}: the port must be a number from 1 to 65535")
    return int(p)


def _mac(mac: str) -> str:
    try:
        return normalize_mac(mac).replace(":", "").upper()
    except Exception as e:  # loader raises ValueError with its own wording
        raise UserError(f"{mac!r} is not a MAC address (write e.g. 00:11:20:aa:bb:01)") from e


def _model(model: str) -> str:
    if model not in PROFILES:
        raise UserError(
            f"no simulated profile for model {model!r}; choose one of {', '.join(PROFILES)}"
        )
    return model


def describe(reg: Registration, echo: Echo) -> None:
    """What the server told the phone, one fact a line."""
    ack = reg.ack
    echo(
        f"  RegisterAck: protocol {ack.protocol_version}, keepalive {ack.keep_alive_interval} s, "
        f"date format {ack.date_template!r}"
    )
    for n, ls in sorted(reg.lines.items()):
        fwd = reg.forwards.get(n)
        extra = ""
        if fwd is not None and fwd.forward_all_dirnum:
            extra = f", forward all to {fwd.forward_all_dirnum}"
        echo(
            f"  line {n}: {ls.line_dir_number} name {ls.line_fully_qualified_display_name!r} "
            f"label {ls.line_text_label!r}{extra}"
        )
    for n, sd in sorted(reg.speed_dials.items()):
        echo(f"  speed dial {n}: {sd.speed_dial_dir_number} {sd.speed_dial_display_name!r}")
    for n, su in sorted(reg.service_urls.items()):
        echo(f"  service {n}: {su.service_url} {su.service_url_display_name!r}")
    for n, fs in sorted(reg.features.items()):
        echo(f"  feature {n}: {fs.feature_text_label!r}")
    if reg.softkeys is not None:
        labels = [d.soft_key_label for d in reg.softkeys.definitions]
        echo(f"  softkeys: {len(labels)} defined")
    if reg.version is not None:
        echo(f"  firmware the server offers: {reg.version.version or '(none)'}")
    if reg.time is not None:
        t = reg.time
        echo(
            f"  server time: {t.year:04d}-{t.month:02d}-{t.day:02d} "
            f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        )


def run_phone(
    host: str,
    port: int,
    mac: str,
    model: str = "7960",
    *,
    call: str | None = None,
    answer: bool = False,
    wait: float = 30.0,
    hold: float = 2.0,
    reconnect: bool = True,
    echo: Echo = print,
) -> None:
    """Register one phone, show what the server sent, then call or answer if asked."""
    mac, model = _mac(mac), _model(model)
    try:
        phone = SimPhone(host, port, mac, model=model).connect()
    except OSError as e:
        raise UserError(
            f"cannot connect to {host}:{port}: {e.strerror or e}; is skinnyctl serve running "
            "there (see [server] listen and sccp_port)?"
        ) from None
    t0 = time.perf_counter()
    try:
        reg = _register(phone)
    except Lost as e:
        phone.close()
        raise UserError(f"{phone.name}: registration did not complete: {e}") from None
    ms = 1000 * (time.perf_counter() - t0)
    echo(f"{phone.name} ({model}) registered with {host}:{port} in {ms:.0f} ms")
    describe(reg, echo)
    until = time.monotonic() + wait  # how long --answer waits, reconnections included
    while True:
        try:
            if call:
                _call(phone, call, wait, hold, echo)
            elif answer:
                _answer(phone, max(0.0, until - time.monotonic()), hold, echo)
            break
        except TimeoutError as e:  # an OSError too, but not a lost connection
            phone.close()
            raise UserError(f"{phone.name}: {e}") from None
        except (Lost, ConnectionError, OSError) as e:
            phone.close()
            why = phone.close_reason or str(e) or type(e).__name__
            echo(f"connection to {host}:{port} lost ({why})")
            if not reconnect:
                raise UserError(
                    f"{phone.name}: the connection to {host}:{port} was lost ({why}); "
                    "not reconnecting (--no-reconnect)"
                ) from None
            dropped = _in_call(phone)
            patience = max(until - time.monotonic(), wait if dropped or call else 0.0)
            phone = _reconnect(host, port, mac, model, patience, echo)
            if dropped or call:
                _leave(phone)
                raise UserError(
                    f"{phone.name}: the call was dropped when the connection was lost; "
                    "registered again"
                ) from None
    _leave(phone)


def _register(phone: SimPhone) -> Registration:
    try:
        return phone.register(timeout=10)
    except Rejected as e:
        phone.close()
        raise UserError(
            f"{phone.name} rejected by the server: {e.text} "
            "(is this MAC in site.toml, with this model?)"
        ) from None
    except (TimeoutError, ConnectionError, OSError) as e:
        raise Lost(str(e)) from None


def _reconnect(host: str, port: int, mac: str, model: str, patience: float, echo: Echo) -> SimPhone:
    """Connect and register again, backing off between attempts, for up to ``patience`` s."""
    give_up = time.monotonic() + patience
    delay = BACKOFF_FIRST
    while True:
        if time.monotonic() + delay > give_up:
            raise UserError(
                f"SEP{mac}: could not register again with {host}:{port} within {patience:g} s"
            )
        echo(f"reconnecting in {delay:g} s")
        time.sleep(delay)
        delay = min(2 * delay, BACKOFF_MAX)
        phone = SimPhone(host, port, mac, model=model)
        try:
            phone.connect()
            _register(phone)
        except (OSError, Lost) as e:
            phone.close()
            echo(f"  not yet: {getattr(e, 'strerror', None) or e}")
            continue
        echo(f"{phone.name} registered again with {host}:{port}")
        return phone


def _in_call(phone: SimPhone) -> bool:
    """Whether the phone was past ringing (answering or in a call) when it lost the server."""
    with phone._cond:
        states = [m.call_state for m in phone.received if isinstance(m, CallState)]
    return bool(states) and states[-1] not in (S.ON_HOOK,)


def _leave(phone: SimPhone) -> None:
    # Leave like a phone being unplugged politely, so the server logs an unregister rather
    # than a lost connection.
    with phone, contextlib.suppress(TimeoutError, OSError, ConnectionError):
        phone.unregister(timeout=2)


def _state(phone: SimPhone, states: set[int], timeout: float) -> CallState:
    return phone.wait_for(CallState, timeout, lambda m: m.call_state in states)


def _call(phone: SimPhone, number: str, wait: float, hold: float, echo: Echo) -> None:
    if not number or any(c not in "0123456789*#" for c in number):
        raise UserError(f"cannot dial {number!r}: use digits, * and #")
    t0 = time.perf_counter()
    phone.send(OffHook(line_instance=1, call_reference=0))
    try:
        ref = _state(phone, {S.OFF_HOOK}, 5).call_reference
    except TimeoutError:
        raise UserError("the server did not answer off-hook (is a line on button 1?)") from None
    for d in number:
        btn = {"*": 14, "#": 15}.get(d, int(d) if d.isdigit() else 0)
        phone.send(KeypadButton(kp_button=btn, line_instance=1, call_reference=ref))
    echo(f"dialled {number}")
    ends = {S.ON_HOOK, S.BUSY, S.CONGESTION, S.INVALID_NUMBER}
    deadline = time.monotonic() + wait
    st = None
    while st is None and time.monotonic() < deadline:
        try:
            st = _state(phone, {S.RING_OUT, S.PROCEED, *ends}, 0.1)
        except TimeoutError:
            if phone.count(StartTone) and _reorder(phone):
                _hang_up(phone, ref)
                raise UserError(f"call to {number} refused: the server played reorder") from None
    if st is None:
        _hang_up(phone, ref)
        raise UserError(
            f"no ring-out for {number} within {wait:g} s: the server's dialplan may still "
            "wait for digits"
        )
    if st.call_state in ends:
        _hang_up(phone, ref)
        raise UserError(f"call to {number} failed: {S(st.call_state).name.lower()}")
    echo(f"ringing the far end after {1000 * (time.perf_counter() - t0):.0f} ms")
    try:
        st = _state(phone, {S.CONNECTED, *ends}, wait)
    except TimeoutError:
        _hang_up(phone, ref)
        raise UserError(f"{number} did not answer within {wait:g} s") from None
    if st.call_state != S.CONNECTED:
        raise UserError(f"call to {number} ended: {S(st.call_state).name.lower()}")
    echo(f"answered after {1000 * (time.perf_counter() - t0):.0f} ms")
    _media(phone, echo)
    if phone.closed.wait(hold):  # a phone notices at once when its call manager goes away
        raise Lost(phone.close_reason)
    _hang_up(phone, ref)
    echo("hung up")


def _answer(phone: SimPhone, wait: float, hold: float, echo: Echo) -> None:
    echo(f"waiting up to {wait:g} s for a call")
    try:
        st = _state(phone, {S.RING_IN}, wait)
    except TimeoutError:
        raise UserError(f"no call within {wait:g} s") from None
    ref = st.call_reference
    try:  # CallInfo follows CallState(RingIn) in the same burst (§7.4): wait for it briefly
        phone.wait_for(CallInfo, 1.0, lambda m: m.call_reference == ref)
    except TimeoutError:
        pass
    info = _latest(phone, CallInfo, ref)
    who = f" from {info.calling_party_name or '?'} <{info.calling_party}>" if info else ""
    echo(f"ringing{who}")
    phone.send(OffHook(line_instance=1, call_reference=ref))
    try:
        _state(phone, {S.CONNECTED}, 10)
    except TimeoutError:
        raise UserError("the server did not connect the answered call") from None
    echo("answered")
    _media(phone, echo)
    try:
        _state(phone, {S.ON_HOOK}, hold)
        echo("the caller hung up")
    except TimeoutError:
        _hang_up(phone, ref)
        echo("hung up")


def _reorder(phone: SimPhone) -> bool:
    with phone._cond:
        return any(isinstance(m, StartTone) and m.tone == Tone.REORDER_TONE for m in phone.received)


def _latest(phone: SimPhone, cls: type[CallInfo], ref: int) -> CallInfo | None:
    with phone._cond:
        found = [m for m in phone.received if isinstance(m, cls) and m.call_reference == ref]
    return found[-1] if found else None


def _media(phone: SimPhone, echo: Echo) -> None:
    """RTP both ways: where the server told us to send, and what came back."""
    deadline = time.monotonic() + 5
    while phone.media_to is None and time.monotonic() < deadline:
        if phone.count(StopMediaTransmission):
            break
        time.sleep(0.02)
    if phone.media_to is None:
        echo("media: the server never sent StartMediaTransmission (no audio path)")
        return
    ip, rport = phone.media_to
    echo(f"media: sending RTP to {ip}:{rport}, receiving on port {phone.rtp_listen_port}")
    got = 0
    for _ in range(25):
        phone.send_rtp(2)
        try:
            phone.wait_rtp(None, 0.2)
            got = len(phone.rtp_in)
            break
        except TimeoutError:
            continue
    if not got:
        echo("media: no RTP received within 5 s (is the far end sending?)")
        return
    # a phone keeps streaming: the far end may have joined after our first packets (early
    # media opens our path before it answers), so it must still hear us
    phone.send_rtp(5)
    echo(f"media: RTP received back ({got} packets so far)")
    time.sleep(0.2)
    with phone._cond:
        own = any(p.ssrc == phone.rtp_ssrc for p in phone.rtp_in)
    if own:
        _round_trip(phone, echo)


def _round_trip(phone: SimPhone, echo: Echo, count: int = 50) -> None:
    """Our own packets come back (an echo test): how many, unchanged and in order, and how
    long each took, 20 ms apart like a real phone's."""
    with phone._cond:
        phone.rtp_in.clear()
    sent: dict[int, float] = {}
    for i in range(count):
        phone.send_rtp(1, payload=i.to_bytes(2, "big") * 80)
        sent[phone.last_seq] = time.monotonic()
        time.sleep(0.02)
    time.sleep(0.2)
    with phone._cond:
        back = [p for p in phone.rtp_in if p.ssrc == phone.rtp_ssrc]
    rtts = sorted(1000 * (p.at - sent[p.seq]) for p in back if p.seq in sent)
    in_order = [p.seq for p in back] == sorted(sent)[: len(back)]
    intact = all(p.payload[:2] * 80 == p.payload for p in back)
    if not rtts:
        echo("echo: none of our packets came back")
        return
    order = "in order" if in_order else "OUT OF ORDER"
    same = "unchanged" if intact else "CHANGED"
    echo(
        f"echo: {len(back)}/{count} packets came back, {order}, {same}; "
        f"round trip p50 {rtts[len(rtts) // 2]:.1f} ms, max {rtts[-1]:.1f} ms"
    )


def _hang_up(phone: SimPhone, ref: int) -> None:
    phone.send(OnHook(line_instance=1, call_reference=ref))


def run_many(
    host: str, port: int, first_mac: str, count: int, model: str = "7960", echo: Echo = print
) -> int:
    """Register ``count`` phones with consecutive MACs from ``first_mac`` at once."""
    start, model = int(_mac(first_mac), 16), _model(model)
    if not 1 <= count <= 20000:
        raise UserError("--count must be 1 to 20000")
    macs = [f"{start + i:012X}" for i in range(count)]
    with Swarm(host, port, [(m, model) for m in macs]) as swarm:
        res = swarm.register_all(timeout=max(30.0, count / 50))
    echo(f"{res.registered}/{res.phones} phones registered in {res.seconds:.2f} s")
    if res.per_phone:
        p50 = res.per_phone[len(res.per_phone) // 2]
        echo(f"  per phone: median {1000 * p50:.0f} ms, slowest {1000 * res.per_phone[-1]:.0f} ms")
    for why, n in sorted(res.failures.items(), key=lambda kv: -kv[1]):
        echo(f"  {n} failed: {why}")
    return res.phones - res.registered


def server_address(server: str | None, site: Path) -> tuple[str, int]:
    """``--server`` if given, else the site's listen address and SCCP port (a wildcard listen
    means this machine), else 127.0.0.1:2000."""
    if server:
        return parse_server(server)
    if site.is_file():
        from skinnyctl.site import load_site

        s = load_site(site).server
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(s.listen, s.listen)
        return host, s.sccp_port
    return "127.0.0.1", 2000


__all__ = ["describe", "parse_server", "run_many", "run_phone", "server_address"]
