"""The trunk's sans-IO parts: where numbers go (Router), SIP statuses <-> causes, the trunk
endpoint's answers to the SIP edge's inputs, the call records' new columns on an old database.
The calls themselves, end to end, are in test_trunk_calls.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from skinnyctl.calls import FakeClock, causes
from skinnyctl.calls.cdr import CdrStore
from skinnyctl.calls.channel import Kind
from skinnyctl.calls.manager import CallManager
from skinnyctl.calls.media import (
    MediaClose,
    MediaCodec,
    MediaLearn,
    MediaListenDtmf,
    MediaOpen,
    WriteCdr,
)
from skinnyctl.calls.routing import Router
from skinnyctl.endpoints.sip.trunk import cause_of, status_of
from skinnyctl.sip.events import MediaDesc, SipIncoming, SipReject, TrunkState
from skinnyctl.site import parse_site

SITE = """
[server]
emergency = ["112", "911"]
rtp_port_min = 20000
rtp_port_max = 20009

[[lines]]
number = "1001"
display_name = "Alice"

[[dialplan]]
pattern = "^1[0-9]{3}$"
action = "process"
[[dialplan]]
pattern = "^9"
action = "drop"
[[dialplan]]
pattern = "^0[1-9][0-9]{8}$"
action = "trunk"
trunk = "pbx"
strip = 1
prefix = "+33"
[[dialplan]]
pattern = "^11"
action = "drop"

[[trunks]]
name = "provider"
host = "192.0.2.1"
register = false
[[trunks]]
name = "pbx"
host = "192.0.2.2"
register = false

[[inbound]]
did = "+33123456701"
target = "1001"
"""


@pytest.fixture
def router() -> Router:
    return Router(parse_site(SITE))


def test_emergency_numbers_go_out_through_the_first_trunk_whatever_the_rules(
    router: Router,
) -> None:
    for number in ("112", "911"):  # ^11 and ^9 would drop them
        route = router.resolve(number)
        assert route is not None and route.kind is Kind.TRUNK
        assert (route.number, route.trunk and route.trunk.name) == (number, "provider")
        assert router.dialplan.decide(number).action == "trunk"
    for prefix in ("1", "11", "9", "91"):  # what can still become one waits for more digits
        assert router.dialplan.decide(prefix).action == "wait", prefix
    assert router.dialplan.decide("113").action == "drop"  # no longer an emergency number


def test_a_trunk_rule_strips_and_prefixes_and_lines_stay_local(router: Router) -> None:
    route = router.resolve("0123456789")
    assert route is not None and route.kind is Kind.TRUNK
    assert (route.number, route.trunk and route.trunk.name) == ("+33123456789", "pbx")
    line = router.resolve("1001")
    assert line is not None and (line.kind, line.name) == (Kind.PHONE, "Alice")
    assert router.resolve("5555") is None


def test_inbound_dids_resolve_to_their_target_and_others_to_nothing(router: Router) -> None:
    route = router.inbound("+33123456701")
    assert route is not None and (route.kind, route.number) == (Kind.PHONE, "1001")
    assert router.inbound("+33999999999") is None
    assert router.inbound("1001") is None  # a line is not a DID


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        (486, causes.USER_BUSY),
        (600, causes.USER_BUSY),
        (404, causes.UNALLOCATED_NUMBER),
        (484, causes.INVALID_NUMBER_FORMAT),
        (480, causes.NO_ANSWER),
        (403, causes.OUTGOING_CALL_BARRED),
        (408, causes.NORMAL_TEMPORARY_FAILURE),
        (503, causes.NORMAL_TEMPORARY_FAILURE),
        (500, causes.NORMAL_TEMPORARY_FAILURE),
        (488, causes.NORMAL_TEMPORARY_FAILURE),
        (603, causes.CALL_REJECTED),
        (699, causes.CALL_REJECTED),
    ],
)
def test_sip_statuses_map_to_causes(status: int, cause: str) -> None:
    assert cause_of(status) == cause


def test_causes_map_back_to_statuses() -> None:
    assert [status_of(c) for c in (causes.USER_BUSY, causes.UNALLOCATED_NUMBER)] == [486, 404]
    assert status_of(causes.USER_NOT_REGISTERED) == 480
    assert status_of(causes.NORMAL_TEMPORARY_FAILURE) == 503
    assert status_of("SOMETHING_ELSE") == 480


OFFER = MediaDesc("192.0.2.1", 30000, ("PCMA", "PCMU"), 20, 101)


def incoming(did: str, remote: MediaDesc | None = OFFER) -> SipIncoming:
    return SipIncoming(
        "sip-in-1", "provider", did, "+33611223344", "Jane", remote, ("192.0.2.1", 5060)
    )


def test_an_unknown_did_is_404_and_no_call() -> None:
    cm = CallManager(parse_site(SITE), FakeClock())
    assert cm.handle(incoming("+33999999999")) == [SipReject("sip-in-1", 404)]
    assert cm.calls_snapshot() == []


def test_an_offer_without_g711_is_488() -> None:
    cm = CallManager(parse_site(SITE), FakeClock())
    assert cm.handle(incoming("+33123456701", remote=None)) == [SipReject("sip-in-1", 488)]


def test_a_did_whose_line_has_no_phone_is_480_and_one_record() -> None:
    cm = CallManager(parse_site(SITE), FakeClock())
    actions = cm.handle(incoming("+33123456701"))
    opened = [a for a in actions if isinstance(a, MediaOpen)]
    assert len(opened) == 1 and 20000 <= opened[0].port <= 20008
    assert MediaCodec(opened[0].key, "alaw", 101) in actions  # the offer's first codec
    assert MediaListenDtmf(opened[0].key, True) in actions  # its digits reported to us
    assert MediaLearn(opened[0].key, "192.0.2.1", 30000) in actions
    assert SipReject("sip-in-1", 480) in actions  # USER_NOT_REGISTERED
    assert MediaClose(opened[0].key) in actions
    (record,) = [a.record for a in actions if isinstance(a, WriteCdr)]
    assert (record["direction"], record["did"], record["external_number"]) == (
        "inbound",
        "+33123456701",
        "+33611223344",
    )
    assert record["cause"] == causes.USER_NOT_REGISTERED
    assert cm.calls_snapshot() == []
    assert not cm.switch.ports.used  # the leg's port is free again


def test_registration_changes_are_events() -> None:
    cm = CallManager(parse_site(SITE), FakeClock())
    (up,) = cm.handle(TrunkState("provider", "registered", 200, "OK", 3600))
    assert up.event.kind == "trunk_registered"  # type: ignore[union-attr]
    (down,) = cm.handle(TrunkState("provider", "failed", 401, "Unauthorized"))
    assert down.event.kind == "trunk_failed"  # type: ignore[union-attr]
    assert down.event.fields["status"] == 401  # type: ignore[union-attr]


OLD_SCHEMA = """
CREATE TABLE cdr (
    id INTEGER PRIMARY KEY AUTOINCREMENT, call_id INTEGER NOT NULL,
    caller TEXT NOT NULL DEFAULT '', caller_name TEXT NOT NULL DEFAULT '',
    caller_device TEXT NOT NULL DEFAULT '', called TEXT NOT NULL DEFAULT '',
    called_name TEXT NOT NULL DEFAULT '', callee_device TEXT NOT NULL DEFAULT '',
    start REAL NOT NULL, answer REAL, "end" REAL NOT NULL, reason TEXT NOT NULL DEFAULT ''
);
INSERT INTO cdr (call_id, caller, called, start, answer, "end", reason)
VALUES (1, '1001', '1002', 100.0, 101.0, 160.0, 'onhook');
"""


def test_an_old_record_database_gets_the_trunk_columns(tmp_path: Path) -> None:
    path = tmp_path / "cdr.sqlite"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.close()
    store = CdrStore(path)
    try:
        (old,) = store.query()
        assert (old["direction"], old["trunk"], old["did"], old["external_number"]) == (
            "internal",
            "",
            "",
            "",
        )
        store.append(
            {
                "call_id": 2,
                "caller": "1001",
                "called": "0123456789",
                "start": 200.0,
                "end": 230.0,
                "direction": "outbound",
                "trunk": "provider",
                "did": "+33123456701",
                "external_number": "+33123456789",
            }
        )
        (new,) = store.query(number="+33123456789")  # the external number finds it
        assert (new["call_id"], new["direction"], new["trunk"]) == (2, "outbound", "provider")
    finally:
        store.close()
    store = CdrStore(path)  # opened again: nothing to add, nothing lost
    try:
        assert len(store.query()) == 2
    finally:
        store.close()
