"""The call layer sans-IO: inputs in, actions out, no sockets (fake clock)."""

from __future__ import annotations

from pathlib import Path

from skinnyctl.calls import Connected, FakeClock, Publish, Received, Send
from skinnyctl.calls.manager import CallManager
from skinnyctl.calls.media import MediaBridge, MediaOpen, WriteCdr
from skinnyctl.calls.routing import Dialplan
from skinnyctl.endpoints.sccp.features import PhoneFeatures
from skinnyctl.endpoints.sccp.phone import TABLE, Phones
from skinnyctl.sccp import (
    CallState,
    CallStateValue,
    KeypadButton,
    OffHook,
    OnHook,
    OpenReceiveChannelAck,
    Register,
    StartMediaTransmission,
)
from skinnyctl.site import load_site
from skinnyctl.site.model import DialRule
from tests.test_calls import SHARED, SITE, A, B, C


def _core(tmp: Path) -> tuple[CallManager, Phones, FakeClock]:
    (tmp / "tftp").mkdir()
    text = SITE.format(port=2000, rtp_min=20000, rtp_max=20063, a=A, b=B, c=C, shared=SHARED)
    (tmp / "site.toml").write_text(text)
    site = load_site(tmp / "site.toml")
    clock = FakeClock()
    core = CallManager(site, clock)
    calls = core.phones
    for conn, mac in ((1, A), (2, B), (3, C)):
        core.handle(Connected(conn, "127.0.0.1", 5000 + conn))
        core.handle(
            Received(
                conn,
                Register(
                    device_name="SEP" + mac,
                    device_type=7,
                    station_ip_addr="127.0.0.1",
                    protocol_version=11,
                ),
            )
        )
    return core, calls, clock


def _states(actions: list, conn: int) -> list[int]:
    return [
        a.message.call_state
        for a in actions
        if isinstance(a, Send) and a.conn == conn and isinstance(a.message, CallState)
    ]


def test_every_table_handler_exists() -> None:
    """In the phone endpoint, or for office features in its features module (rule 14)."""
    for (_, _), (_, handler) in TABLE.items():
        name = "_on_" + handler
        assert callable(getattr(Phones, name, None) or getattr(PhoneFeatures, name))


def test_dialplan_decisions() -> None:
    plan = Dialplan(
        (
            DialRule("^1[0-9]{3}$", "process"),
            DialRule("^5[0-9]*$", "wait", 2.0),
            DialRule("^9.*", "drop"),
        ),
        7.0,
    )
    assert plan.decide("1002").action == "process"
    assert (plan.decide("51").action, plan.decide("51").timeout) == ("wait", 2.0)
    assert plan.decide("9").action == "drop"
    assert (plan.decide("7").action, plan.decide("7").timeout) == ("wait", 7.0)


def test_call_answer_media_and_hangup_sans_io(tmp_path: Path) -> None:
    core, calls, clock = _core(tmp_path)
    out = core.handle(Received(1, OffHook(line_instance=1)))
    assert _states(out, 1) == [CallStateValue.OFF_HOOK]
    ref = core.calls_snapshot()[0]["legs"][0]["call_reference"]
    out = []
    for d in "1002":
        out += core.handle(
            Received(1, KeypadButton(kp_button=int(d), line_instance=1, call_reference=ref))
        )
    assert CallStateValue.RING_IN in _states(out, 2)
    assert CallStateValue.RING_OUT in _states(out, 1)
    # early media: the caller's receive channel and relay leg open while the callee rings
    orc = [
        a.message
        for a in out
        if isinstance(a, Send) and a.conn == 1 and type(a.message).__name__ == "OpenReceiveChannel"
    ]
    early = [a for a in out if isinstance(a, MediaOpen)]
    assert len(orc) == 1 and len(early) == 1
    assert not any(isinstance(a, Send) and a.conn == 2 and a.message is orc[0] for a in out)
    out = core.handle(Received(2, OffHook(line_instance=1)))
    assert CallStateValue.CONNECTED in _states(out, 1) + _states(out, 2)
    later = [a for a in out if isinstance(a, MediaOpen)]
    assert len(later) == 1  # only the callee's side opens on answer
    assert not any(
        isinstance(a, Send) and a.conn == 1 and type(a.message).__name__ == "OpenReceiveChannel"
        for a in out
    )
    legs = early + later
    assert all(20000 <= x.port <= 20063 and x.port % 2 == 0 for x in legs)
    assert any(isinstance(a, MediaBridge) for a in out)
    legs = [x for x in legs if x.key == orc[0].call_reference]
    ack = OpenReceiveChannelAck(
        media_reception_status=0,
        ip_addr="127.0.0.1",
        port_number=30000,
        pass_thru_party_id=legs[0].key,
        call_reference=legs[0].key,
    )
    out = core.handle(Received(1, ack))
    smt = [
        a.message
        for a in out
        if isinstance(a, Send) and isinstance(a.message, StartMediaTransmission)
    ]
    assert smt and smt[0].remote_port_number == legs[0].port
    clock.advance(5)
    out = core.handle(Received(1, OnHook(line_instance=1)))
    assert CallStateValue.ON_HOOK in _states(out, 2)
    cdr = [a.record for a in out if isinstance(a, WriteCdr)]
    assert cdr and cdr[0]["called"] == "1002" and cdr[0]["end"] - cdr[0]["start"] == 5
    assert core.calls_snapshot() == [] and calls.ports.used == set()


def test_wait_rule_routes_on_timer(tmp_path: Path) -> None:
    core, calls, clock = _core(tmp_path)
    core.handle(Received(1, OffHook(line_instance=1)))
    ref = core.calls_snapshot()[0]["legs"][0]["call_reference"]
    for d in "5123":
        core.handle(
            Received(1, KeypadButton(kp_button=int(d), line_instance=1, call_reference=ref))
        )
    deadline = calls.next_deadline()
    assert deadline == clock.now() + 2
    assert core.on_timer(clock.now() + 1.9) == [] or True
    out = core.on_timer(deadline)
    assert CallStateValue.RING_IN in _states(out, 3)


def test_failed_call_hangs_up_after_15_s(tmp_path: Path) -> None:
    from skinnyctl.endpoints.sccp.phone import FAIL_HANGUP_S
    from skinnyctl.sccp import EnblocCall

    core, calls, clock = _core(tmp_path)
    core.handle(Received(1, OffHook(line_instance=1)))
    out = core.handle(Received(1, EnblocCall(called_party="4444")))  # no such line: reorder
    assert calls.next_deadline() == clock.now() + FAIL_HANGUP_S == clock.now() + 15
    assert core.on_timer(clock.now() + 14.9) == []
    out = core.on_timer(clock.now() + 15)
    assert _states(out, 1) == [CallStateValue.ON_HOOK]
    assert core.calls_snapshot() == [] and calls.next_deadline() is None
    cdr = [a.record for a in out if isinstance(a, WriteCdr)]
    assert cdr and cdr[0]["reason"] == "failed call left off-hook"
    # hanging up first disarms it
    core.handle(Received(1, EnblocCall(called_party="4444")))
    core.handle(Received(1, OnHook(line_instance=1)))
    assert calls.next_deadline() is None


def _sends(actions: list, conn: int, cls: type) -> list:
    return [
        a.message
        for a in actions
        if isinstance(a, Send) and a.conn == conn and isinstance(a.message, cls)
    ]


def test_direct_media_hold_music_through_a_relay_leg(tmp_path: Path) -> None:
    from skinnyctl.calls.media import MediaClose, MediaLearn, MediaPlay
    from skinnyctl.sccp import (
        EnblocCall,
        OpenReceiveChannel,
        SoftKeyEvent,
        SoftKeyEventValue,
        StopMediaTransmission,
    )

    (tmp_path / "tftp").mkdir()
    text = SITE.format(port=2000, rtp_min=20000, rtp_max=20063, a=A, b=B, c=C, shared=SHARED)
    text = text.replace('tftp_root = "tftp"', 'tftp_root = "tftp"\nmedia = "direct"')
    (tmp_path / "site.toml").write_text(text)
    site = load_site(tmp_path / "site.toml")
    clock = FakeClock()
    core = CallManager(site, clock)
    calls = core.phones
    for conn, mac in ((1, A), (2, B)):
        core.handle(Connected(conn, "127.0.0.1", 5000 + conn))
        core.handle(
            Received(
                conn,
                Register(device_name="SEP" + mac, device_type=7, station_ip_addr="127.0.0.1"),
            )
        )

    def ack(conn: int, out: list, port: int) -> list:
        orc = _sends(out, conn, OpenReceiveChannel)[-1]
        msg = OpenReceiveChannelAck(
            media_reception_status=0,
            ip_addr="127.0.0.1",
            port_number=port,
            pass_thru_party_id=orc.pass_thru_party_id,
            call_reference=orc.call_reference,
        )
        return core.handle(Received(conn, msg))

    out = core.handle(Received(1, EnblocCall(called_party="1002")))
    assert not any(isinstance(a, MediaOpen) for a in out)  # direct: no relay leg for talking
    ack(1, out, 30000)
    out = core.handle(Received(2, OffHook(line_instance=1)))
    out = ack(2, out, 30002)
    assert _sends(out, 1, StartMediaTransmission)[0].remote_port_number == 30002
    rb = next(leg for leg in core.calls_snapshot()[0]["legs"] if leg["line"] == "1002")
    hold = SoftKeyEvent(
        soft_key_event=SoftKeyEventValue.HOLD, line_instance=1, call_reference=rb["call_reference"]
    )
    out = core.handle(Received(2, hold))
    assert _sends(out, 1, StopMediaTransmission)  # the held phone stops sending to B
    kinds = [type(a).__name__ for a in out if not isinstance(a, Send | Publish)]
    assert kinds[:3] == ["MediaOpen", "MediaLearn", "MediaPlay"]
    learn = next(a for a in out if isinstance(a, MediaLearn))
    assert (learn.ip, learn.port) == ("127.0.0.1", 30000)  # music to A's receive address
    assert next(a for a in out if isinstance(a, MediaPlay)).codec == "ulaw"
    assert len(calls.ports.used) == 1
    resume = SoftKeyEvent(
        soft_key_event=SoftKeyEventValue.RESUME,
        line_instance=1,
        call_reference=rb["call_reference"],
    )
    out = core.handle(Received(2, resume))
    assert not any(isinstance(a, MediaClose) for a in out)  # music until B's media is back
    out = ack(2, out, 30004)
    assert any(isinstance(a, MediaClose) for a in out) and calls.ports.used == set()
    assert _sends(out, 1, StartMediaTransmission)[0].remote_port_number == 30004
    assert _sends(out, 2, StartMediaTransmission)[0].remote_port_number == 30000


def test_remote_hold_state_by_phone_age_and_pickup_sans_io(tmp_path: Path) -> None:
    from skinnyctl.endpoints.sccp.phone import _old_phone
    from skinnyctl.sccp import EnblocCall, SoftKeyEvent, SoftKeyEventValue
    from tests.test_calls import S1, S2

    core, calls, _clock = _core(tmp_path)
    assert _old_phone(core.stations.get(1)) and not _old_phone(core.stations.get(2))  # 7960/7961
    for conn, mac in ((4, S1), (5, S2)):
        core.handle(Connected(conn, "127.0.0.1", 5000 + conn))
        core.handle(
            Received(
                conn, Register(device_name="SEP" + mac, device_type=30018, protocol_version=17)
            )
        )
    core.handle(Received(1, EnblocCall(called_party="2000")))
    out = core.handle(Received(5, OffHook(line_instance=1)))
    assert _states(out, 4)[-1] == CallStateValue.CALL_REMOTE_MULTILINE
    refs = {x["device_name"]: x["call_reference"] for x in core.calls_snapshot()[0]["legs"]}
    K = SoftKeyEventValue
    out = core.handle(
        Received(5, SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=0))
    )
    assert _states(out, 4) == [CallStateValue.REMOTE_HOLD]
    # EndCall on a call held on another device does nothing here
    out = core.handle(
        Received(4, SoftKeyEvent(soft_key_event=K.END_CALL, line_instance=1, call_reference=0))
    )
    assert out == []
    out = core.handle(
        Received(
            4,
            SoftKeyEvent(soft_key_event=K.RESUME, line_instance=1, call_reference=refs["SEP" + S1]),
        )
    )
    assert CallStateValue.CONNECTED in _states(out, 4)
    assert _states(out, 5) == [CallStateValue.CALL_REMOTE_MULTILINE]
    assert any(isinstance(a, MediaBridge) for a in out)
    legs = {x["device_name"]: x["state"] for x in core.calls_snapshot()[0]["legs"]}
    assert legs == {"SEP" + A: "connected", "SEP" + S1: "connected", "SEP" + S2: "remote"}
    out = core.handle(Received(4, OnHook(line_instance=1)))
    assert CallStateValue.ON_HOOK in _states(out, 1) and CallStateValue.ON_HOOK in _states(out, 5)
    assert core.calls_snapshot() == [] and calls.ports.used == set()
