"""Calls through a SIP trunk, end to end: ``serve``'s Service with simulated phones over real
TCP, SIPp as the provider on loopback, RTP through the media engine. Every SCCP frame is
checked with tshark, every SIP message we send too (a live capture of loopback), and the trunk
side's RTP with ``-z rtp,streams``.

Run inside a network namespace (HELPERS.md): the capture, SIPp's and our fixed ports.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skinnyctl.errors import UserError
from skinnyctl.sccp import (
    CallInfo,
    CallState,
    CallStateValue,
    DisplayPromptStatus,
    Label,
    OffHook,
    OnHook,
    SoftKeyEvent,
    SoftKeyEventValue,
    StartMediaTransmission,
    StartTone,
    StopTone,
    Tone,
)
from skinnyctl.sccp.enums import label
from tests.clirun import run_cli
from tests.test_sip_edge import Kamailio, Sipp, _audio_file, _invite, free_udp_port
from tests.trunkrig import DID_A, A, B, Capture, MediaPeer, Office, dial, digits_received, state

S = CallStateValue
K = SoftKeyEventValue


class Traced(Sipp):
    """SIPp with its message log: what it saw, when a scenario did not end as it should."""

    def errors(self) -> str:
        logs = sorted(Path(self.dir).glob("*messages.log"))
        tail = logs[0].read_text(errors="replace")[-6000:] if logs else ""
        return super().errors() + "\n--- SIPp messages (end) ---\n" + tail


@pytest.fixture
def sipp() -> Iterator[Any]:
    runs: list[Sipp] = []

    def start(scenario: str, port: int, *args: str, **kwargs: Any) -> Sipp:
        s = Traced(scenario, port, "-trace_msg", *args, **kwargs)
        runs.append(s)
        return s

    yield start
    for s in runs:
        s.finish(1.0)
        print(s.errors())  # shown by pytest when the test failed
        s.stop()


@pytest.fixture
def office_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[Office] = []

    def make(sip_port: int, **kwargs: Any) -> Office:
        o = Office(tmp_path, sip_port, **kwargs).start()
        made.append(o)
        return o

    yield make
    for o in made:
        o.stop()


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[Capture]:
    c = Capture(tmp_path)
    yield c
    c.stop()


def call_out(office: Office, number: str = "0123456789") -> tuple[Any, int]:
    """Phone A lifts the handset and dials ``number``; (phone, its callRef)."""
    a = office.phone(A)
    a.send(OffHook(line_instance=1, call_reference=0))
    ref = state(a, S.OFF_HOOK).call_reference
    dial(a, number, ref)
    return a, ref


def position(phone: Any, message: Any) -> int:
    """Where ``message`` (this very object) is in what the phone received."""
    return next(i for i, m in enumerate(phone.received) if m is message)


def hears_itself(phone: Any, tries: int = 50) -> bool:
    """RTP the phone sends comes back to it (an echo at the far end)."""
    for _ in range(tries):
        phone.send_rtp(3)
        try:
            phone.wait_rtp(lambda p: p.ssrc == phone.rtp_ssrc, 0.2)
            return True
        except TimeoutError:
            continue
    return False


# --- outbound ------------------------------------------------------------------------------------


def test_outbound_call_challenge_early_media_echo_and_records(
    office_factory: Any, sipp: Any, capture: Capture
) -> None:
    sp, media = free_udp_port(), free_udp_port()
    run = sipp(
        "provider_answer.xml", sp, "-key", "user", "alice", "-key", "pass", "s3cret",
        "-rtp_echo", "-mp", str(media),
        subst={'<pause milliseconds="200" />': '<pause milliseconds="1500" />'},  # 183 -> 200
    )  # fmt: skip
    office = office_factory(sp)
    a, ref = call_out(office, "0123456789")  # the trunk rule: strip 1, prefix +33
    state(a, S.RING_OUT)  # 180: the phone's own ring-back...
    ringback = a.wait_for(StartTone, 5, lambda t: t.tone == Tone.ALERTING_TONE)
    a.wait_for(StopTone, 5, lambda t: position(a, t) > position(a, ringback))
    assert hears_itself(a), "no early media before the answer"  # ...is the 183's audio
    assert not any(isinstance(m, CallState) and m.call_state == S.CONNECTED for m in a.received)
    state(a, S.CONNECTED)
    a.rtp_in.clear()
    assert hears_itself(a), "no audio after the answer"
    # the provider speaks A-law, the phone µ-law: the engine converts both ways
    assert all(p.payload_type == 0 for p in a.rtp_in)
    legs = office.calls()[0]["legs"]
    trunk = next(x for x in legs if x["device_name"] == "trunk:provider")
    assert trunk["line"] == "+33123456789" and trunk["direction"] == "outbound"
    a.send(OnHook(line_instance=1, call_reference=ref))
    state(a, S.ON_HOOK)
    assert run.finish() == 0, run.errors()  # it saw its 401 answered, audio, our BYE
    office.wait(lambda: office.calls() == [], what="the call gone")
    office.service.cdr.flush()
    (r,) = office.records()
    assert (r["direction"], r["trunk"], r["did"], r["external_number"]) == (
        "outbound",
        "provider",
        DID_A,
        "+33123456789",
    )
    assert (r["caller"], r["called"], r["callee_device"]) == (
        "1001",
        "0123456789",
        "trunk:provider",
    )
    assert r["answer"] is not None
    capture.stop()
    lines = capture.sip_sent(office.local_port)
    assert [ln.split(" ")[0] for ln in lines] == ["INVITE", "ACK", "INVITE", "ACK", "BYE"], lines
    assert lines[0].startswith("INVITE sip:+33123456789@127.0.0.1")
    sent = capture.sip_text(office.local_port)
    assert f"<sip:{DID_A}@127.0.0.1>" in sent  # From and P-Asserted-Identity: 1001's number
    assert "P-Asserted-Identity" in sent and "s3cret" not in sent
    port = trunk["relay_port"]
    streams = capture.rtp_streams([port, media])
    ours = [s for s in streams if port in (s["sport"], s["dport"])]
    assert len(ours) >= 2, streams  # to the provider and back
    assert all(s["lost"] == 0 for s in ours), streams
    office.clean()


def test_with_direct_media_a_trunk_call_still_goes_through_the_engine(
    office_factory: Any, sipp: Any
) -> None:
    sp, media = free_udp_port(), free_udp_port()
    run = sipp(
        "provider_answer.xml", sp, "-key", "user", "alice", "-key", "pass", "s3cret",
        "-rtp_echo", "-mp", str(media),
        subst={'<pause milliseconds="200" />': '<pause milliseconds="1500" />'},
    )  # fmt: skip
    office = office_factory(sp, server='media = "direct"')
    a, ref = call_out(office)
    state(a, S.RING_OUT)
    assert hears_itself(a), "no early media"  # a leg of the engine, though phones talk direct
    assert not any(isinstance(m, CallState) and m.call_state == S.CONNECTED for m in a.received)
    state(a, S.CONNECTED)
    a.rtp_in.clear()
    assert hears_itself(a), "no audio after the answer"
    assert a.media_to is not None and a.media_to[1] != media  # the engine's port, not SIPp's
    a.send(OnHook(line_instance=1, call_reference=ref))
    assert run.finish() == 0, run.errors()
    office.clean()


@pytest.mark.parametrize(
    ("status", "reason", "tone", "prompt", "cause"),
    [
        (486, "Busy Here", Tone.LINE_BUSY_TONE, Label.BUSY, "USER_BUSY"),
        (404, "Not Found", Tone.REORDER_TONE, Label.UNKNOWN_NUMBER, "UNALLOCATED_NUMBER"),
        (
            484,
            "Address Incomplete",
            Tone.REORDER_TONE,
            Label.UNKNOWN_NUMBER,
            "INVALID_NUMBER_FORMAT",
        ),
        (
            503,
            "Service Unavailable",
            Tone.REORDER_TONE,
            Label.TEMP_FAIL,
            "NORMAL_TEMPORARY_FAILURE",
        ),
    ],
)
def test_provider_refusals_sound_as_their_cause(
    office_factory: Any,
    sipp: Any,
    status: int,
    reason: str,
    tone: int,
    prompt: Label,
    cause: str,
) -> None:
    sp = free_udp_port()
    run = sipp("provider_reject.xml", sp, subst={"STATUS": str(status), "REASON": reason})
    office = office_factory(sp)
    a, ref = call_out(office)
    a.wait_for(StartTone, 5, lambda t: t.tone == tone)
    a.wait_for(DisplayPromptStatus, 5, lambda m: m.prompt_status == label(prompt))
    if status == 486:
        state(a, S.BUSY)
    assert run.finish() == 0, run.errors()  # it got our ACK
    a.send(OnHook(line_instance=1, call_reference=ref))
    state(a, S.ON_HOOK)
    office.wait(lambda: office.calls() == [], what="the call gone")
    office.service.cdr.flush()
    (r,) = office.records()
    assert (r["direction"], r["external_number"], r["answer"]) == ("outbound", "+33123456789", None)
    assert r["cause"] == cause
    office.clean()


def test_hanging_up_while_the_provider_rings_sends_cancel(
    office_factory: Any, sipp: Any, capture: Capture
) -> None:
    sp = free_udp_port()
    run = sipp("provider_cancel.xml", sp)
    office = office_factory(sp)
    a, ref = call_out(office)
    state(a, S.RING_OUT)
    a.send(OnHook(line_instance=1, call_reference=ref))
    state(a, S.ON_HOOK)
    assert run.finish() == 0, run.errors()  # our CANCEL, its 487, our ACK
    capture.stop()
    methods = [ln.split(" ")[0] for ln in capture.sip_sent(office.local_port)]
    assert methods == ["INVITE", "CANCEL", "ACK"], methods
    office.clean()


def test_the_far_ends_bye_hangs_up_the_phone(office_factory: Any, sipp: Any) -> None:
    sp = free_udp_port()
    run = sipp("provider_bye.xml", sp, "-key", "user", "alice", "-key", "pass", "s3cret")
    office = office_factory(sp)
    a, _ref = call_out(office)
    state(a, S.CONNECTED)
    state(a, S.ON_HOOK)  # its BYE, a second later
    assert run.finish() == 0, run.errors()  # and our 200 for it
    office.wait(lambda: office.calls() == [], what="the call gone")
    office.service.cdr.flush()
    (r,) = office.records()
    assert r["reason"] == "far end hung up"
    office.clean()


def test_an_emergency_number_goes_out_whatever_the_dial_plan_says(
    office_factory: Any, sipp: Any, capture: Capture
) -> None:
    sp = free_udp_port()  # the dial plan drops ^11: 112 still goes out
    run = sipp("provider_reject.xml", sp, subst={"STATUS": "503", "REASON": "Test"})
    office = office_factory(sp)
    a, _ref = call_out(office, "112")
    a.wait_for(StartTone, 5, lambda t: t.tone == Tone.REORDER_TONE)
    assert run.finish() == 0, run.errors()
    capture.stop()
    assert capture.sip_sent(office.local_port)[0].startswith("INVITE sip:112@")


def test_a_line_without_external_number_presents_the_trunks_caller_id_and_codecs(
    office_factory: Any, sipp: Any, capture: Capture
) -> None:
    """B's line 1002 has no external_number: its call goes out as the trunk's caller_id, in
    from_domain; the offer carries the trunk's codecs only (PCMA), in its order."""
    sp = free_udp_port()
    run = sipp("provider_reject.xml", sp, subst={"STATUS": "503", "REASON": "Test"})
    office = office_factory(sp, trunk='from_domain = "provider.example"\ncodecs = ["PCMA"]')
    b = office.phone(B, "7961")
    b.send(OffHook(line_instance=1, call_reference=0))
    ref = state(b, S.OFF_HOOK).call_reference
    dial(b, "0123456789", ref)
    b.wait_for(StartTone, 5, lambda t: t.tone == Tone.REORDER_TONE)
    assert run.finish() == 0, run.errors()
    b.send(OnHook(line_instance=1, call_reference=ref))
    capture.stop()
    sent = capture.sip_text(office.local_port)
    assert "From: Bob <sip:+33123456700@provider.example>;tag=" in sent, sent
    assert "P-Asserted-Identity: Bob <sip:+33123456700@provider.example>" in sent, sent
    assert DID_A not in sent  # A's number is A's only
    port = office.local_port
    (offer,) = capture._fields(
        ["-d", f"udp.port=={port},sip"], f"udp.srcport == {port} && sdp", "sdp.media"
    )
    media = offer[0].split()
    assert media[0] == "audio" and media[2:] == ["RTP/AVP", "8", "101"], media
    office.clean()


# --- inbound -------------------------------------------------------------------------------------


def test_inbound_call_rings_with_the_callers_name_and_the_phone_receives_its_rtp(
    office_factory: Any, sipp: Any, capture: Capture, tmp_path: Path
) -> None:
    sp, media = free_udp_port(), free_udp_port()
    office = office_factory(sp)
    a = office.phone(A)
    run = sipp(
        "caller.xml", sp, f"127.0.0.1:{office.local_port}", "-s", DID_A, "-mp", str(media),
        subst={"AUDIO_FILE": str(_audio_file(tmp_path))},
    )  # fmt: skip
    ring = state(a, S.RING_IN)
    info = a.wait_for(CallInfo, 5, lambda m: m.call_reference == ring.call_reference)
    # From the P-Asserted-Identity: number and name on the phone's display
    assert (info.calling_party, info.calling_party_name) == ("+33611223344", "Jane Outside")
    assert (info.called_party, info.call_type) == ("1001", 1)
    a.wait_for(DisplayPromptStatus, 5, lambda m: "+33611223344" in m.prompt_status)
    a.send(OffHook(line_instance=1, call_reference=ring.call_reference))
    state(a, S.CONNECTED)
    a.wait_for(StartMediaTransmission, 5)
    a.wait_rtp(lambda p: p.payload_type == 0, 5)  # the caller's stream
    office.wait(lambda: len(a.rtp_in) >= 40, 5, "the caller's RTP at the phone")
    state(a, S.ON_HOOK)  # the caller's BYE
    assert run.finish() == 0, run.errors()
    office.wait(lambda: office.calls() == [], what="the call gone")
    office.service.cdr.flush()
    (r,) = office.records()
    assert (r["direction"], r["trunk"], r["did"], r["external_number"]) == (
        "inbound",
        "provider",
        DID_A,
        "+33611223344",
    )
    assert (r["caller"], r["caller_name"], r["called"], r["callee_device"]) == (
        "+33611223344",
        "Jane Outside",
        "1001",
        a.name,
    )
    history = run_cli("calls", "--history", "--site", office.path)
    assert history.returncode == 0, history.stderr
    header, row = history.stdout.splitlines()[:2]
    for column in ("DIRECTION", "TRUNK", "DID", "EXTERNAL_NUMBER", "CAUSE"):
        assert column in header, header
    for value in ("inbound", "+33611223344", "provider", DID_A, "NORMAL_CLEARING"):
        assert value in row, row
    capture.stop()
    lines = capture.sip_sent(office.local_port)
    assert [ln.split(" ", 2)[1] for ln in lines] == ["100", "180", "200", "200"], lines
    streams = capture.rtp_streams([media])  # the caller's stream into our trunk leg
    inbound = [s for s in streams if s["sport"] == media]
    assert inbound and inbound[0]["packets"] >= 40 and inbound[0]["lost"] == 0, streams
    office.clean()


def test_inbound_cancel_stops_the_ringing(office_factory: Any, sipp: Any) -> None:
    sp = free_udp_port()
    office = office_factory(sp)
    a = office.phone(A)
    run = sipp("caller_cancel.xml", sp, f"127.0.0.1:{office.local_port}", "-s", DID_A)
    state(a, S.RING_IN)
    state(a, S.ON_HOOK)  # the caller gave up: the phone stops ringing
    assert run.finish() == 0, run.errors()  # 180, then 200 for the CANCEL and 487
    office.wait(lambda: office.calls() == [], what="the call gone")
    office.clean()


@pytest.mark.parametrize(
    ("did", "status", "why"),
    [
        ("+33999999999", "404", "a DID we do not serve"),
        ("+33123456702", "480", "1002 has no registered phone"),
    ],
)
def test_inbound_calls_we_cannot_take_are_refused(
    office_factory: Any, sipp: Any, did: str, status: str, why: str
) -> None:
    sp = free_udp_port()
    office = office_factory(sp)
    office.phone(A)
    run = sipp(
        "caller_rejected.xml", sp, f"127.0.0.1:{office.local_port}", "-s", did,
        subst={"STATUS": status},
    )  # fmt: skip
    assert run.finish() == 0, f"{why}: {run.errors()}"
    assert office.calls() == []


# --- in the call: media, hold, DTMF, transfer ---------------------------------------------------


@pytest.fixture
def peer() -> Iterator[MediaPeer]:
    m = MediaPeer()
    yield m
    m.close()


def talking(office: Office, peer: MediaPeer, phone: Any) -> None:
    """Audio both ways between ``phone`` and the far end's media (A-law there, µ-law at the
    phone: converted by the engine)."""
    leg = office.trunk_leg()
    phone.rtp_in.clear()
    for _ in range(50):
        peer.send(leg, 2)
        phone.send_rtp(2)
        if phone.rtp_in and peer.packets(ssrc=phone.rtp_ssrc):
            break
    got = [p for p in phone.rtp_in if p.ssrc == peer.ssrc]
    assert got and all(p.payload_type == 0 for p in got), "the far end is not heard"
    sent = peer.packets(ssrc=phone.rtp_ssrc)
    assert sent and all(p.pt == 8 for p in sent), "the phone is not heard"


def connected_out(office: Office) -> tuple[Any, int]:
    a, ref = call_out(office)
    state(a, S.CONNECTED)
    a.wait_for(StartMediaTransmission, 5)
    return a, ref


def engine_stream(packets: list[Any], not_from: set[int]) -> list[Any]:
    """Packets of a stream the engine generated (music), not forwarded from ``not_from``."""
    return [p for p in packets if p.ssrc not in not_from]


@pytest.mark.parametrize("hold", ["music", "reinvite"])
def test_hold_from_the_phone_gives_the_far_end_music(
    office_factory: Any, sipp: Any, peer: MediaPeer, capture: Capture, hold: str
) -> None:
    sp = free_udp_port()
    scenario = "provider_hold.xml" if hold == "reinvite" else "provider_media.xml"
    run = sipp(scenario, sp, subst={"MEDIA_PORT": str(peer.port)})
    office = office_factory(sp, trunk=f'hold = "{hold}"')
    a, ref = connected_out(office)
    talking(office, peer, a)
    a.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=ref))
    state(a, S.HOLD)
    peer.clear()
    office.wait(lambda: len(peer.packets()) >= 25, 5, "music at the far end")
    music = engine_stream(peer.packets(), {a.rtp_ssrc})
    assert len(music) >= 25 and all(p.pt == 8 for p in music)  # in the trunk's law
    assert office.calls()[0]["state"] == "held"
    a.send(SoftKeyEvent(soft_key_event=K.RESUME, line_instance=1, call_reference=ref))
    state(a, S.CONNECTED)
    peer.clear()
    talking(office, peer, a)
    trunk_port = office.trunk_leg()[1]
    a.send(OnHook(line_instance=1, call_reference=ref))
    assert run.finish() == 0, run.errors()  # with a re-INVITE: sendonly, then sendrecv
    capture.stop()
    methods = [ln.split(" ")[0] for ln in capture.sip_sent(office.local_port)]
    expected = ["INVITE", "ACK", "INVITE", "ACK", "INVITE", "ACK", "BYE"]
    assert methods == (expected if hold == "reinvite" else ["INVITE", "ACK", "BYE"]), methods
    streams = capture.rtp_streams([trunk_port, peer.port])
    assert streams and all(s["lost"] == 0 for s in streams), streams
    office.clean()


def test_the_far_ends_hold_plays_music_to_the_phone_and_its_new_address_is_followed(
    office_factory: Any, sipp: Any, peer: MediaPeer
) -> None:
    sp = free_udp_port()
    moved = MediaPeer()  # where the far end's media is after it takes the call back
    run = sipp(
        "provider_holds_us.xml", sp,
        subst={"MEDIA_PORT": str(peer.port), "RESUME_PORT": str(moved.port),
               "HOLD_MS": "1500", "RESUME_MS": "2500"},
    )  # fmt: skip
    office = office_factory(sp)
    a, ref = connected_out(office)
    talking(office, peer, a)
    office.wait(lambda: office.calls()[0]["state"] == "held", 5, "held by the far end")
    a.rtp_in.clear()
    office.wait(lambda: len(engine_stream(a.rtp_in, {peer.ssrc, a.rtp_ssrc})) >= 25, 5, "music")
    office.wait(lambda: office.calls()[0]["state"] == "connected", 5, "taken back")
    try:
        talking(office, moved, a)  # both ways with the new address
    finally:
        moved.close()
    a.send(OnHook(line_instance=1, call_reference=ref))
    assert run.finish() == 0, run.errors()  # our answers were a=recvonly, then a=sendrecv
    office.clean()


def test_keypad_digits_go_out_as_telephone_events_and_come_back_as_dtmf_events(
    office_factory: Any, sipp: Any, peer: MediaPeer
) -> None:
    sp = free_udp_port()
    run = sipp("provider_media.xml", sp, subst={"MEDIA_PORT": str(peer.port)})
    office = office_factory(sp)
    a, ref = connected_out(office)
    talking(office, peer, a)
    dial(a, "12#", ref)
    office.wait(lambda: digits_received(peer.packets()) == "12#", 5, "RFC 4733 at the far end")
    leg = office.trunk_leg()
    for digit in "9*":
        peer.send_digit(leg, digit)
    got = [office.event("dtmf") for _ in range(5)]  # the phone's 3, the far end's 2
    assert [e["digit"] for e in got if e["from"] == a.name] == ["1", "2", "#"]
    assert [e["digit"] for e in got if e["from"] == "trunk:provider"] == ["9", "*"]
    a.send(OnHook(line_instance=1, call_reference=ref))
    assert run.finish() == 0, run.errors()
    office.clean()


@pytest.mark.parametrize("how", ["consult", "blind"])
def test_a_trunk_call_is_transferred_to_another_phone(
    office_factory: Any, sipp: Any, peer: MediaPeer, how: str
) -> None:
    sp = free_udp_port()
    run = sipp("provider_media.xml", sp, subst={"MEDIA_PORT": str(peer.port)})
    office = office_factory(sp)
    b = office.phone(B, "7961")
    a, ref = connected_out(office)
    talking(office, peer, a)
    a.send(SoftKeyEvent(soft_key_event=K.TRANSFER, line_instance=1, call_reference=ref))
    state(a, S.HOLD)
    consult = state(a, S.OFF_HOOK).call_reference
    dial(a, "1002", consult)
    rb = state(b, S.RING_IN).call_reference
    peer.clear()
    office.wait(lambda: engine_stream(peer.packets(), {a.rtp_ssrc}), 5, "music while held")
    if how == "consult":
        b.send(OffHook(line_instance=1, call_reference=rb))
        state(b, S.CONNECTED)
        a.send(SoftKeyEvent(soft_key_event=K.TRANSFER, line_instance=1, call_reference=consult))
    else:
        a.send(OnHook(line_instance=1, call_reference=consult))  # hung up while B rings
        b.wait_for(CallInfo, 5, lambda m: m.calling_party == "+33123456789")
        b.send(OffHook(line_instance=1, call_reference=rb))
        state(b, S.CONNECTED)
    b.wait_for(CallInfo, 5, lambda m: "+33123456789" in (m.calling_party, m.called_party))
    state(a, S.ON_HOOK)
    b.wait_for(StartMediaTransmission, 5)
    talking(office, peer, b)
    (call,) = office.calls()
    assert {x["device_name"] for x in call["legs"]} == {"trunk:provider", b.name}
    b.send(OnHook(line_instance=1, call_reference=rb))
    assert run.finish() == 0, run.errors()  # one dialog from start to end: our BYE
    office.wait(lambda: office.calls() == [], what="the calls gone")
    office.service.cdr.flush()
    records = office.records()
    assert all(r["trunk"] == "provider" for r in records if r["called"] != "1002"), records
    assert any(r["callee_device"] == b.name and r["external_number"] for r in records), records
    office.clean()


# --- bad input, registration at the serve level -------------------------------------------------


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Kamailio]:
    (tmp_path / "kamailio").mkdir()
    k = Kamailio(free_udp_port(), tmp_path / "kamailio")
    k.start()
    yield k
    k.kill()


def registrar_trunk(k: Kamailio, password: str) -> str:
    port = int(k.cfg.read_text().split("listen=udp:127.0.0.1:")[1].split()[0])
    return (
        f'[[trunks]]\nname = "registrar"\nhost = "127.0.0.1"\nport = {port}\n'
        f'username = "alice"\npassword = "{password}"\nlocal_port = {free_udp_port()}\n'
    )


def test_bad_input_is_refused_and_logged_while_a_call_keeps_its_audio(
    office_factory: Any,
    sipp: Any,
    peer: MediaPeer,
    kamailio: Kamailio,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sp = free_udp_port()
    run = sipp("provider_media.xml", sp, subst={"MEDIA_PORT": str(peer.port)})
    caplog.set_level(logging.INFO)
    office = office_factory(sp, extra=registrar_trunk(kamailio, "wrong-password"))
    a, ref = connected_out(office)
    talking(office, peer, a)
    leg = office.trunk_leg()
    stop = threading.Event()
    sent = [0]

    def talk() -> None:  # both sides talk all through the attack
        while not stop.is_set():
            a.send_rtp(1)
            peer.send(leg, 1)
            sent[0] += 1

    talker = threading.Thread(target=talk, daemon=True)
    peer.clear()
    a.rtp_in.clear()
    talker.start()
    # a digest with a wrong password: the registrar refuses it, the trunk shows it
    failed = office.event("trunk_failed", timeout=10)
    assert (failed["trunk"], failed["status"]) == ("registrar", 401)
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attacker.bind(("127.0.0.3", 0))
    attacker.settimeout(0.05)
    lp = office.local_port
    for garbage in (b"\x00\xff" * 40, b"NOT SIP AT ALL\r\n\r\n", b"INVITE x SIP/2.0\r\n\r\n"):
        attacker.sendto(garbage, ("127.0.0.1", lp))
    port = attacker.getsockname()[1]
    forbidden = 0
    for n in range(200):  # an INVITE flood from an address the trunk does not allow
        attacker.sendto(_invite("1001", port, lp, n), ("127.0.0.1", lp))
        with contextlib.suppress(TimeoutError):
            while True:
                forbidden += attacker.recv(4096).startswith(b"SIP/2.0 403")
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the provider's address
    caller.bind(("127.0.0.1", 0))
    caller.settimeout(3)
    caller.sendto(_invite("+33999999999", caller.getsockname()[1], lp, 9999), ("127.0.0.1", lp))
    answers = [caller.recv(4096).split(b"\r\n", 1)[0] for _ in range(2)]
    assert b"SIP/2.0 404 Not Found" in answers, answers  # a DID we do not serve
    time.sleep(0.5)
    stop.set()
    talker.join(5)
    # the call kept its audio both ways, every packet of it
    heard = [p for p in a.rtp_in if p.ssrc == peer.ssrc]
    assert len(heard) >= sent[0] - 2, (len(heard), sent[0])
    assert len(peer.packets(ssrc=a.rtp_ssrc)) >= sent[0] - 2
    assert forbidden >= 190
    assert [c["state"] for c in office.calls()] == ["connected"]
    a.send(OnHook(line_instance=1, call_reference=ref))
    assert run.finish() == 0, run.errors()
    text = caplog.text
    assert "403" in text and "127.0.0.3" in text  # the flood, logged (rate-limited)
    assert "not UTF-8" in text and "404" in text
    assert "wrong-password" not in text and "Traceback" not in text
    office.clean()


@pytest.mark.slow
def test_serve_shows_registration_and_recovery_in_status_and_events(
    office_factory: Any, kamailio: Kamailio
) -> None:
    office = office_factory(free_udp_port(), extra=registrar_trunk(kamailio, "s3cret"))
    up = office.event("trunk_registered", timeout=10)
    assert (up["trunk"], up["status"], up["expires"]) == ("registrar", 200, 10)
    status = run_cli("status", "trunks", "--site", office.path)
    assert status.returncode == 0, status.stderr
    row = next(ln for ln in status.stdout.splitlines() if ln.startswith("registrar"))
    assert "registered" in row and "200" in row, status.stdout
    assert "s3cret" not in status.stdout
    as_json = run_cli("status", "trunks", "--json", "--site", office.path)
    trunks = {t["name"]: t for t in json.loads(as_json.stdout)}
    assert trunks["registrar"]["state"] == "registered" and "password" not in as_json.stdout
    assert trunks["provider"]["register"] is False
    kamailio.kill()
    down = office.event("trunk_failed", timeout=45)  # the refresh times out (Timer F)
    assert (down["trunk"], down["status"]) == ("registrar", 408)
    failed = run_cli("status", "trunks", "--site", office.path).stdout
    assert "failed" in next(ln for ln in failed.splitlines() if ln.startswith("registrar"))
    kamailio.start()
    back = office.event("trunk_registered", timeout=30)  # retried with back-off
    assert (back["trunk"], back["status"]) == ("registrar", 200)
    events = run_cli("events", "--site", office.path)
    assert "trunk_failed" in events.stdout and "trunk=registrar" in events.stdout


def test_reload_applies_the_cores_trunk_keys_and_keeps_the_edges_until_a_restart(
    office_factory: Any,
) -> None:
    office = office_factory(free_udp_port())
    text = office.path.read_text()
    office.path.write_text(text.replace('caller_id = "+33123456700"', 'caller_id = "+33100000000"'))
    result = office.service.reload()
    assert result["restart_needed"] == []  # caller_id is read per call: applied
    assert office.service.site.trunk("provider").caller_id == "+33100000000"
    office.path.write_text(text.replace('host = "127.0.0.1"', 'host = "127.0.0.2"'))
    result = office.service.reload()
    assert result["restart_needed"] == ["trunks"]  # the edge holds the host
    assert office.service.site.trunk("provider").host == "127.0.0.1"
    out = run_cli("reload", "--site", office.path)
    assert "need a restart of serve to change: trunks" in out.stdout, out.stdout + out.stderr


def test_a_sip_port_in_use_is_a_clear_error_before_anything_serves(tmp_path: Path) -> None:
    office = Office(tmp_path, free_udp_port())
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", office.local_port))
    try:
        with pytest.raises(UserError, match=f"cannot open the SIP port.*{office.local_port}"):
            office.start()
    finally:
        taken.close()
        office.stop()
