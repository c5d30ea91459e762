"""The call-manager core, sans-IO: inputs in, actions out, a fake clock for every timer."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from skinnyctl.calls import (
    Close,
    Connected,
    Disconnected,
    FakeClock,
    MarkRegistered,
    Publish,
    Received,
    RecordDiscovered,
    Send,
    SetVersion,
)
from skinnyctl.calls.manager import CallManager
from skinnyctl.endpoints.sccp.registration import (
    PRE_REGISTER_MESSAGES,
    REGISTER_DEADLINE,
    TRANSITIONS,
    Ev,
)
from skinnyctl.endpoints.sccp.stations import State
from skinnyctl.sccp import (
    Alarm,
    ButtonTemplate,
    ButtonTemplateReq,
    CapabilitiesReq,
    ConfigStat,
    ConfigStatReq,
    DefineTimeDate,
    DeviceToUserDataVersion1,
    FeatureStat,
    FeatureStatReq,
    IpPort,
    KeepAlive,
    KeepAliveAck,
    LineStat,
    LineStatReq,
    Message,
    Register,
    RegisterAck,
    RegisterReject,
    RegisterTokenAck,
    RegisterTokenReq,
    ServerReq,
    ServerRes,
    SpeedDialStat,
    SpeedDialStatReq,
    TimeDateReq,
    Unregister,
    UnregisterAck,
    Version,
    VersionReq,
    XMLAlarm,
    decode,
    encode,
)
from skinnyctl.site import load_site
from skinnyctl.site.model import Site
from tests.test_register import write_site

FRONT = "SEP001120AABB01"
BACK = "SEP001120AABB02"


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return load_site(write_site(tmp_path))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cm(site: Site, clock: FakeClock) -> CallManager:
    return CallManager(site, clock)


def register(name: str = FRONT, device_type: int = 7, version: int = 11) -> Register:
    return Register(device_name=name, device_type=device_type, protocol_version=version)


def sent(actions: list, cls: type[Message] | None = None) -> list[Message]:
    return [
        a.message
        for a in actions
        if isinstance(a, Send) and (cls is None or isinstance(a.message, cls))
    ]


def events(actions: list) -> list:
    return [a.event for a in actions if isinstance(a, Publish)]


def connect_and_register(cm: CallManager, conn: int = 1, msg: Register | None = None) -> list:
    cm.handle(Connected(conn, "10.0.0.2", 50000 + conn))
    return cm.handle(Received(conn, msg or register()))


def ask(cm: CallManager, msg: Message, conn: int = 1) -> Message:
    out = sent(cm.handle(Received(conn, msg)))
    assert len(out) == 1, out
    return out[0]


def test_table_covers_every_state_and_event() -> None:
    for state in (State.CONNECTED, State.REGISTERED, State.CLOSING):
        for ev in Ev:
            assert (state, ev) in TRANSITIONS


def test_register_ack_then_capabilities_req(cm: CallManager, site: Site) -> None:
    actions = connect_and_register(cm)
    kinds = [type(a).__name__ for a in actions]
    assert kinds == ["MarkRegistered", "Send", "SetVersion", "Send", "Publish"]
    ack, capreq = sent(actions)
    assert isinstance(ack, RegisterAck) and isinstance(capreq, CapabilitiesReq)
    assert ack.keep_alive_interval == site.server.keepalive
    assert ack.date_template == "M/D/Y"
    assert (ack.protocol_version, ack.features) == (11, b"\x20\xf1\xff")
    assert actions[0] == MarkRegistered(1)
    assert actions[2] == SetVersion(1, 11)
    (ev,) = events(actions)
    assert ev.kind == "register"
    assert ev.fields["device_name"] == FRONT
    assert ev.fields["ip"] == "10.0.0.2"
    assert ev.fields["device_type"] == 7
    assert ev.fields["warning"] == ""


@pytest.mark.parametrize(
    ("announced", "device_type", "expected", "features"),
    [
        (17, 7, 11, b"\x20\xf1\xff"),
        (8, 7, 8, b"\x20\x00\xfe"),
        (0, 7, 3, b"\x00\x00\x00"),
        (20, 12, 3, b"\x00\x00\x00"),
    ],
)
def test_version_negotiation(
    cm: CallManager, announced: int, device_type: int, expected: int, features: bytes
) -> None:
    ack = sent(
        connect_and_register(cm, msg=register(device_type=device_type, version=announced)),
        RegisterAck,
    )[0]
    assert (ack.protocol_version, ack.features) == (expected, features)


def test_unknown_device_rejected_and_discovered(cm: CallManager) -> None:
    actions = connect_and_register(cm, msg=register("SEP0011209999AA", device_type=115))
    (reject,) = sent(actions)
    assert isinstance(reject, RegisterReject)
    assert reject.text == "Unknown device SEP0011209999AA"
    assert RecordDiscovered("0011209999AA", "10.0.0.2", "7941", "SEP0011209999AA") in actions
    assert isinstance(actions[-1], Close)
    assert cm.stations.get(1).state is State.CLOSING
    assert cm.handle(Received(1, ButtonTemplateReq())) == []  # ignored while closing
    cm.handle(Disconnected(1, "closed"))
    assert len(cm.stations) == 0


def test_wrong_model_registers_with_warning(
    cm: CallManager, caplog: pytest.LogCaptureFixture
) -> None:
    actions = connect_and_register(cm, msg=register(device_type=30018))  # a 7961 as FRONT
    assert sent(actions, RegisterAck)
    (ev,) = events(actions)
    assert "7961" in ev.fields["warning"] and "7960" in ev.fields["warning"]
    assert "device type 30018" in caplog.text


def test_keepalive_before_register_is_answered(cm: CallManager) -> None:
    cm.handle(Connected(1, "10.0.0.2", 5000))
    assert sent(cm.handle(Received(1, KeepAlive()))) == [KeepAliveAck()]


def test_what_phones_send_before_register_is_accepted(cm: CallManager) -> None:
    # a 7985 / token-registering phone: KeepAlive, alarms and RegisterTokenReq, then Register
    cm.handle(Connected(1, "10.0.0.2", 5000))
    assert sent(cm.handle(Received(1, KeepAlive()))) == [KeepAliveAck()]
    assert [e.kind for e in events(cm.handle(Received(1, Alarm(text="Last=Reset"))))] == ["alarm"]
    cm.handle(Received(1, XMLAlarm(xml_data="<x/>")))
    assert sent(cm.handle(Received(1, RegisterTokenReq(device_name=FRONT)))) == [RegisterTokenAck()]
    assert sent(cm.handle(Received(1, KeepAlive()))) == [KeepAliveAck()]
    assert sent(cm.handle(Received(1, register())), RegisterAck)
    assert cm.counters["refused_before_register"] == 0


@pytest.mark.parametrize("first", [IpPort(rtp_media_port=2000), ButtonTemplateReq(), TimeDateReq()])
def test_anything_else_before_register_closes_the_connection(
    cm: CallManager, first: Message
) -> None:
    # mod_skinny closes such a connection (issue 14.10); it used to stay open forever
    cm.handle(Connected(1, "10.0.0.2", 5000))
    actions = cm.handle(Received(1, first))
    assert sent(actions) == []
    assert [type(a) for a in actions] == [Close]
    assert cm.stations.get(1).state is State.CLOSING
    assert cm.counters["refused_before_register"] == 1
    assert cm.handle(Received(1, register())) == []  # too late: closing


def test_pre_register_budget(cm: CallManager) -> None:
    cm.handle(Connected(1, "10.0.0.2", 5000))
    for _ in range(PRE_REGISTER_MESSAGES):
        assert sent(cm.handle(Received(1, KeepAlive()))) == [KeepAliveAck()]
    actions = cm.handle(Received(1, KeepAlive()))  # one more: not a phone
    assert [type(a) for a in actions] == [Close]
    assert cm.counters["refused_before_register"] == 1


def test_unregistered_connection_has_a_deadline_whatever_it_sends(
    cm: CallManager, clock: FakeClock
) -> None:
    cm.handle(Connected(1, "10.0.0.2", 5000))
    for _ in range(PRE_REGISTER_MESSAGES):  # keepalives used to keep it open for ever
        clock.advance(REGISTER_DEADLINE / PRE_REGISTER_MESSAGES - 0.01)
        cm.handle(Received(1, KeepAlive()))
        assert cm.on_timer() == []
    clock.advance(0.1)
    assert cm.on_timer() == [Close(1, "never registered")]
    assert cm.counters["register_deadline"] == 1


def test_registered_station_lives_on_input_heard_but_still_queued(
    site: Site, clock: FakeClock
) -> None:
    heard: dict[int, float] = {}
    cm = CallManager(site, clock, heard=heard.get)
    connect_and_register(cm)
    ka = site.server.keepalive
    clock.advance(2 * ka - 1)
    heard[1] = clock.now()  # a KeepAlive arrived at the edge; the core has not seen it yet
    clock.advance(2)
    assert cm.on_timer() == []  # the core was behind: not the phone's fault
    assert cm.stations.by_name(FRONT) is not None
    clock.advance(2 * ka)
    assert [e.kind for e in events(cm.on_timer())] == ["expire"]  # silent since: expired


def test_message_liveness_counts_from_its_arrival(cm: CallManager, clock: FakeClock) -> None:
    connect_and_register(cm)
    arrived = clock.now() + 50
    clock.advance(70)  # the KeepAlive waited 20 s in a queue
    cm.handle(Received(1, KeepAlive(), at=arrived))
    st = cm.stations.get(1)
    assert st is not None and st.last_seen == arrived


def test_every_request_answered(cm: CallManager) -> None:
    connect_and_register(cm)
    tpl = ask(cm, ButtonTemplateReq())
    assert isinstance(tpl, ButtonTemplate) and len(tpl.definitions) == 5
    ls = ask(cm, LineStatReq(line_number=2))
    assert isinstance(ls, LineStat) and ls.line_dir_number == "1003"
    missing = ask(cm, LineStatReq(line_number=9))  # not on the phone: empty, not silence
    assert isinstance(missing, LineStat) and (missing.line_number, missing.line_dir_number) == (
        9,
        "",
    )
    sd = ask(cm, SpeedDialStatReq(speed_dial_number=1))
    assert isinstance(sd, SpeedDialStat) and sd.speed_dial_dir_number == "1002"
    fs = ask(cm, FeatureStatReq(feature_index=1))
    assert isinstance(fs, FeatureStat) and fs.feature_text_label == "Do Not Disturb"
    cs = ask(cm, ConfigStatReq())
    assert isinstance(cs, ConfigStat) and cs.user_name == "Front desk"
    assert isinstance(ask(cm, ServerReq()), ServerRes)
    ver = ask(cm, VersionReq())
    assert isinstance(ver, Version) and ver.version == "P0030801SR02"  # [models."7960"]


def test_time_in_site_zone(cm: CallManager, clock: FakeClock) -> None:
    connect_and_register(cm)
    t = ask(cm, TimeDateReq())
    # FakeClock wall = 1_700_000_000 = 2023-11-14 22:13:20 UTC, a Tuesday; Paris is UTC+1
    assert isinstance(t, DefineTimeDate)
    assert (t.year, t.month, t.day, t.hour, t.minute, t.day_of_week) == (2023, 11, 14, 23, 13, 2)
    assert t.system_time == 1_700_000_000


def test_version_without_firmware_logs_like_mod_skinny(
    cm: CallManager, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "skinnyctl.callmanager")
    connect_and_register(cm, msg=register(BACK, device_type=30018))
    ver = ask(cm, VersionReq())
    assert isinstance(ver, Version) and ver.version == ""
    assert f"Device {BACK}:0 is requesting for firmware version, but none is set" in caplog.text


def test_alarms_published(cm: CallManager) -> None:
    cm.handle(Connected(1, "10.0.0.2", 5000))
    (ev,) = events(
        cm.handle(Received(1, Alarm(alarm_severity=2, text="Name=SEP..", parm1=1, parm2=2)))
    )
    assert (ev.kind, ev.fields["severity"], ev.fields["param2"]) == ("alarm", 2, 2)
    connect_and_register(cm, conn=2)
    (ev,) = events(cm.handle(Received(2, XMLAlarm(xml_data="<x-cisco-alarm/>"))))
    assert ev.kind == "xml_alarm" and ev.fields["device_name"] == FRONT
    (ev,) = events(
        cm.handle(Received(2, DeviceToUserDataVersion1(application_id=9081, data=b"hello")))
    )
    assert ev.kind == "device_to_user" and ev.fields["data"] == "hello"


def test_expiry_after_twice_the_interval(cm: CallManager, clock: FakeClock, site: Site) -> None:
    connect_and_register(cm)
    ka = site.server.keepalive
    clock.advance(2 * ka - 1)
    assert cm.on_timer() == []
    cm.handle(Received(1, KeepAlive()))  # refreshes
    clock.advance(2 * ka - 1)
    assert cm.on_timer() == []
    clock.advance(2)
    assert cm.next_deadline() is not None and cm.next_deadline() <= clock.now()
    actions = cm.on_timer()
    (ev,) = events(actions)
    assert ev.kind == "expire" and ev.fields["device_name"] == FRONT
    assert isinstance(actions[-1], Close)
    assert cm.stations.by_name(FRONT) is None
    assert cm.stations.carriers("1001") == []


def test_lost_connection_is_an_expiry(cm: CallManager) -> None:
    connect_and_register(cm)
    (ev,) = events(cm.handle(Disconnected(1, "reset by peer")))
    assert ev.kind == "expire" and "reset by peer" in ev.fields["reason"]
    assert len(cm.stations) == 0


def test_unregister(cm: CallManager) -> None:
    connect_and_register(cm)
    actions = cm.handle(Received(1, Unregister()))
    assert sent(actions) == [UnregisterAck(status=0)]
    assert [e.kind for e in events(actions)] == ["unregister"]
    assert isinstance(actions[-1], Close)


def test_reregistration_replaces_old_connection(cm: CallManager) -> None:
    connect_and_register(cm, conn=1)
    actions = connect_and_register(cm, conn=2)
    assert Close(1, "replaced by 10.0.0.2:50002") in actions
    assert [e.kind for e in events(actions)] == ["unregister", "register"]
    assert cm.stations.by_name(FRONT).conn == 2
    assert [(s.conn, i) for s, i in cm.stations.carriers("1001")] == [(2, 1)]


def test_shared_line_carriers(cm: CallManager) -> None:
    connect_and_register(cm, conn=1)
    connect_and_register(cm, conn=2, msg=register(BACK, device_type=30018))
    assert sorted((s.name, i) for s, i in cm.stations.carriers("1003")) == [(FRONT, 2), (BACK, 2)]


def test_second_register_on_same_connection_refused(cm: CallManager) -> None:
    connect_and_register(cm)
    (reject,) = sent(cm.handle(Received(1, register())))
    assert isinstance(reject, RegisterReject)
    assert cm.stations.by_name(FRONT) is not None


def test_handler_error_closes_only_that_connection(
    cm: CallManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect_and_register(cm, conn=1)
    connect_and_register(cm, conn=2, msg=register(BACK, device_type=30018))

    def boom(*a: object) -> list:
        raise RuntimeError("bug")

    monkeypatch.setitem(cm.sccp._requests, ConfigStatReq, boom)
    actions = cm.handle(Received(1, ConfigStatReq()))
    assert Close(1, "internal error") in actions
    assert sent(cm.handle(Received(2, KeepAlive()))) == [KeepAliveAck()]


def test_buttons_limited_to_capacity_with_expansion(tmp_path: Path, clock: FakeClock) -> None:
    site = load_site(write_site(tmp_path))
    cm = CallManager(site, clock)
    connect_and_register(cm, msg=register(BACK, device_type=30018))
    st = cm.stations.by_name(BACK)
    assert st is not None and st.device is not None
    assert st.device.capacity == 6 + 14  # 7961 + 7914
    assert st.layout is not None and st.layout.dropped == 0


def test_twelve_hour_date_template_reaches_the_phone(site: Site, clock: FakeClock) -> None:
    twelve = dataclasses.replace(
        site, server=dataclasses.replace(site.server, date_format="M/D/YA")
    )
    cm = CallManager(twelve, clock)
    ack = sent(connect_and_register(cm), RegisterAck)[0]
    frame = encode(ack, 11)
    assert decode(RegisterAck.MESSAGE_ID, frame[12:]).date_template == "M/D/YA"
