"""Defects an independent phone found (issue 14), each as a scenario over real TCP and RTP
against the in-process server, every frame checked with tshark."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from skinnyctl.phone import SimPhone
from skinnyctl.sccp import CallState as CallStateMsg
from skinnyctl.sccp import (
    KeepAlive,
    KeepAliveAck,
    OffHook,
    OnHook,
    SoftKeyEvent,
)
from tests.test_calls import (
    A,
    B,
    K,
    Rig,
    S,
    call_a_to_b,
    clean,
    dial,
    media_flows,
    state,
)


@pytest.fixture
def small_rig(tmp_path: Path) -> Iterator[Rig]:
    """A relay range with room for two calls (four port pairs)."""
    with Rig(tmp_path, rtp_span=8) as r:
        yield r


def until(cond: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"never: {what}")


def no_relay_leg_left(rig: Rig) -> None:
    """Every relay leg closed at the edge and every port back in the core's allocator."""
    until(lambda: rig.relay.stats() == [], "relay legs closed")
    used = rig.server.call(lambda core: set(rig.calls.ports.used))
    assert used == set()


def rtp_exchange(x: SimPhone, y: SimPhone, count: int = 20) -> None:
    """``count`` packets each way, paced; each side receives exactly the other's."""
    x.rtp_in.clear()
    y.rtp_in.clear()
    for _ in range(count):
        x.send_rtp(1)
        y.send_rtp(1)
        time.sleep(0.005)
    until(
        lambda: (
            len([p for p in y.rtp_in if p.ssrc == x.rtp_ssrc]) >= count
            and len([p for p in x.rtp_in if p.ssrc == y.rtp_ssrc]) >= count
        ),
        f"{count} RTP packets each way",
    )
    time.sleep(0.05)
    assert len([p for p in y.rtp_in if p.ssrc == x.rtp_ssrc]) == count
    assert len([p for p in x.rtp_in if p.ssrc == y.rtp_ssrc]) == count


# --- 1. relay ports leak when a phone leaves mid-call -------------------------------------------


def test_relay_ports_are_freed_however_a_phone_leaves(small_rig: Rig) -> None:
    rig = small_rig
    a, b = rig.phone(A), rig.phone(B, "7961")

    def connected_call() -> tuple[int, int]:
        refs = call_a_to_b(rig, a, b)
        media_flows(a, b)
        return refs

    # the caller's TCP connection drops while connected
    connected_call()
    a.close()
    state(b, S.ON_HOOK)
    no_relay_leg_left(rig)
    a = rig.phone(A)
    # the callee goes silent (no keepalive) until it expires; the caller keeps talking
    connected_call()
    rig.clock.advance(40)
    a.send(KeepAlive())
    a.wait_for(KeepAliveAck, 5)  # the core has it (settle() alone can pass it on the wire)
    rig.clock.advance(25)  # B silent 65 s > 2 x 30 s
    rig.server.poke()
    state(a, S.ON_HOOK)
    no_relay_leg_left(rig)
    b.close()
    b = rig.phone(B, "7961")
    # the caller registers again from a new connection (a rebooted phone)
    connected_call()
    a2 = rig.phone(A)
    state(b, S.ON_HOOK)
    no_relay_leg_left(rig)
    a.close()
    a = a2
    # the callee unregisters
    connected_call()
    b.unregister()
    state(a, S.ON_HOOK)
    no_relay_leg_left(rig)
    b.close()
    b = rig.phone(B, "7961")
    # the caller drops while the callee rings (its early-media leg is open)
    a.send(OffHook(line_instance=1, call_reference=0))
    ra = state(a, S.OFF_HOOK).call_reference
    dial(a, "1002", ra)
    state(b, S.RING_IN)
    until(lambda: len(rig.relay.stats()) == 1, "early media leg")
    a.close()
    state(b, S.ON_HOOK)
    no_relay_leg_left(rig)
    a = rig.phone(A)
    # the held party drops while hearing music on hold
    ra, _rb = connected_call()
    a.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=ra))
    state(a, S.HOLD)
    b.wait_rtp(lambda p: p.ssrc != a.rtp_ssrc)  # music
    b.close()
    state(a, S.ON_HOOK)
    no_relay_leg_left(rig)
    b = rig.phone(B, "7961")
    # the transferring phone drops during the consultation
    ra, rb = connected_call()
    b.send(SoftKeyEvent(soft_key_event=K.TRANSFER, line_instance=1, call_reference=rb))
    state(b, S.OFF_HOOK)
    b.close()
    state(a, S.ON_HOOK)
    no_relay_leg_left(rig)
    b = rig.phone(B, "7961")
    # then 20 calls in a row through a range with room for two: audio both ways every time
    for i in range(20):
        ra, rb = call_a_to_b(rig, a, b)
        until(lambda: a.media_to is not None and b.media_to is not None, "media started")
        rtp_exchange(a, b)
        legs = {s["local_port"]: s for s in rig.relay.stats()}
        assert len(legs) == 2
        assert all(s["rx_packets"] >= 20 and s["rx_lost"] == 0 for s in legs.values()), legs
        (a if i % 2 else b).send(OnHook(line_instance=1, call_reference=ra if i % 2 else rb))
        state(a, S.ON_HOOK)
        state(b, S.ON_HOOK)
        no_relay_leg_left(rig)
    clean(rig, a, b)


def test_a_port_taken_by_another_process_is_skipped(small_rig: Rig) -> None:
    """Ports of the range bound by someone else: the call takes another pair, with audio."""
    rig = small_rig
    low = rig.site.server.rtp_port_min
    squatters = []
    for port in (low, low + 1, low + 2, low + 3):  # the first two pairs the allocator hands out
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))
        squatters.append(s)
    try:
        a, b = rig.phone(A), rig.phone(B, "7961")
        for _ in range(3):
            ra, _rb = call_a_to_b(rig, a, b)
            media_flows(a, b)
            a.send(OnHook(line_instance=1, call_reference=ra))
            state(b, S.ON_HOOK)
            no_relay_leg_left(rig)
        unusable = rig.server.call(lambda core: set(rig.calls.ports.unusable))
        assert unusable == {low, low + 2}
        clean(rig, a, b)
    finally:
        for s in squatters:
            s.close()


def test_no_port_at_all_fails_the_call_audibly(small_rig: Rig) -> None:
    rig = small_rig
    low = rig.site.server.rtp_port_min
    squatters = []
    for port in range(low, low + 8):  # every pair of the range
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))
        squatters.append(s)
    try:
        from skinnyctl.sccp import DisplayPromptStatus, StartTone, Tone
        from skinnyctl.sccp.enums import Label, label

        a, b = rig.phone(A), rig.phone(B, "7961")
        a.send(OffHook(line_instance=1, call_reference=0))
        ra = state(a, S.OFF_HOOK).call_reference
        dial(a, "1002", ra)
        a.wait_for(StartTone, 5, lambda m: m.tone == Tone.REORDER_TONE)
        a.wait_for(DisplayPromptStatus, 5, lambda m: m.prompt_status == label(Label.TEMP_FAIL))
        state(b, S.ON_HOOK)  # it rang for an instant, then stopped
        a.send(OnHook(line_instance=1, call_reference=ra))
        state(a, S.ON_HOOK)
        no_relay_leg_left(rig)
        clean(rig, a, b)
    finally:
        for s in squatters:
            s.close()


# --- 2. a phone that sends RTP from another port than it receives on ---------------------------


def test_asymmetric_phone_hears_the_far_end(rig: Rig) -> None:
    a = rig.phone(A, asymmetric=True)
    b = rig.phone(B, "7961")
    call_a_to_b(rig, a, b)
    media_flows(a, b)
    leg = next(s for s in rig.relay.stats() if s["remote"].endswith(f":{a.rtp_listen_port}"))
    assert leg["dropped_unlearned"] == 0
    clean(rig, a, b)


def test_phone_behind_nat_is_latched_and_hears(rig: Rig) -> None:
    """RTP from another IP than the phone announced (a NAT the SCCP connection did not show):
    the relay latches to it on the first packet."""
    a = rig.phone(A, rtp_ip="127.0.0.5")  # announces 127.0.0.1 (its SCCP address) below
    a.announce_ip = "127.0.0.1"
    b = rig.phone(B, "7961")
    call_a_to_b(rig, a, b)
    media_flows(a, b)
    assert any(s["remote"] == f"127.0.0.5:{a.rtp_listen_port}" for s in rig.relay.stats())
    clean(rig, a, b)


def test_phone_behind_nat_seen_by_sccp_is_latched_on_its_port(rig: Rig) -> None:
    """Register and OpenReceiveChannelAck carry a private address and a port the NAT box
    rewrote: the relay sends to the SCCP peer's IP and latches the port of the first packet."""
    a = rig.phone(A, announce_ip="192.168.77.10", announce_port=9)
    b = rig.phone(B, "7961")
    call_a_to_b(rig, a, b)
    media_flows(a, b)
    assert any(s["remote"] == f"127.0.0.1:{a.rtp_listen_port}" for s in rig.relay.stats())
    clean(rig, a, b)


# --- 4. transfer to the transferee itself ------------------------------------------------------


def on_hook(p: SimPhone, ref: int) -> None:
    from skinnyctl.sccp import CallState

    p.wait_for(CallState, 5, lambda m: m.call_state == S.ON_HOOK and m.call_reference == ref)


def consultation(p: SimPhone, held_ref: int) -> int:
    """The call reference of the consultation call Transfer opened on ``p``."""
    from skinnyctl.sccp import CallState

    return p.wait_for(
        CallState, 5, lambda m: m.call_state == S.OFF_HOOK and m.call_reference != held_ref
    ).call_reference


def test_transfer_to_the_transferee_itself_is_refused(rig: Rig) -> None:
    from skinnyctl.sccp import CallInfo, DisplayPromptStatus, Stimulus, StimulusType
    from skinnyctl.sccp.enums import Label, label

    a, b = rig.phone(A), rig.phone(B, "7961")
    _ra, rb = call_a_to_b(rig, a, b)
    b.send(SoftKeyEvent(soft_key_event=K.TRANSFER, line_instance=1, call_reference=rb))
    state(b, S.HOLD)
    ry = consultation(b, rb)
    dial(b, "1001", ry)  # A's own number
    state(b, S.RING_OUT)
    rr = state(a, S.RING_IN).call_reference  # call waiting on A
    since = len(a.received)
    b.send(Stimulus(stimulus=StimulusType.TRANSFER, stimulus_instance=1))
    b.wait_for(
        DisplayPromptStatus,
        5,
        lambda m: m.prompt_status == label(Label.CAN_NOT_COMPLETE_TRANSFER),
    )
    rig.settle()
    time.sleep(0.2)
    assert not any(
        isinstance(m, CallInfo) and m.calling_party == m.called_party == "1001"
        for m in a.received[since:]
    )
    snap = rig.snapshot()
    assert len(snap) == 2  # both calls as they were: A held by B, B's consultation ringing A
    # B abandons the consultation and takes A back
    b.send(SoftKeyEvent(soft_key_event=K.END_CALL, line_instance=1, call_reference=ry))
    on_hook(a, rr)  # the call waiting plane goes
    b.send(SoftKeyEvent(soft_key_event=K.RESUME, line_instance=1, call_reference=rb))
    state(b, S.CONNECTED)
    a.rtp_in.clear()
    b.rtp_in.clear()
    media_flows(a, b)
    # and hanging up while the consultation to the transferee rings ends just that call
    b.send(SoftKeyEvent(soft_key_event=K.TRANSFER, line_instance=1, call_reference=rb))
    ry = consultation(b, rb)
    dial(b, "1001", ry)
    rr = state(a, S.RING_IN).call_reference
    b.send(OnHook(line_instance=1, call_reference=ry))
    on_hook(a, rr)
    settled_calls = rig.snapshot()
    assert len(settled_calls) == 1 and settled_calls[0]["state"] == "held"
    clean(rig, a, b)


# --- 3. consult transfer: hanging up after the target answered ---------------------------------


def _consult_answered(rig: Rig, a: SimPhone, b: SimPhone, c: SimPhone) -> tuple[int, int, int]:
    """A calls B; B consults C (1003), who answers. (refB held, refB consult, refC)."""
    _ra, rb = call_a_to_b(rig, a, b)
    b.send(SoftKeyEvent(soft_key_event=K.TRANSFER, line_instance=1, call_reference=rb))
    state(b, S.HOLD)
    ry = consultation(b, rb)
    dial(b, "1003", ry)
    rc = state(c, S.RING_IN).call_reference
    c.send(OffHook(line_instance=1, call_reference=rc))
    state(c, S.CONNECTED)
    return rb, ry, rc


def test_hanging_up_a_connected_consultation_completes_the_transfer(rig: Rig) -> None:
    from tests.test_calls import C

    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    rb, ry, _rc = _consult_answered(rig, a, b, c)
    b.send(OnHook(line_instance=1, call_reference=ry))
    on_hook(b, ry)
    on_hook(b, rb)
    a.rtp_in.clear()
    c.rtp_in.clear()
    media_flows(a, c)
    snap = rig.snapshot()
    assert len(snap) == 1 and {x["device_name"] for x in snap[0]["legs"]} == {a.name, c.name}
    causes = sorted(r["cause"] for r in rig.cdr.query())
    assert causes == ["ATTENDED_TRANSFER", "ATTENDED_TRANSFER"]
    clean(rig, a, b, c)


@pytest.fixture
def no_transfer_on_hook(tmp_path: Path) -> Iterator[Rig]:
    with Rig(tmp_path, extra="transfer_on_hook = false\nhold_reversion = 30") as r:
        yield r


def test_without_transfer_on_hook_the_held_call_reverts(no_transfer_on_hook: Rig) -> None:
    from skinnyctl.sccp import CallInfo, DisplayPromptStatus, RingMode, SetRinger
    from tests.test_calls import C

    rig = no_transfer_on_hook
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    rb, ry, rc = _consult_answered(rig, a, b, c)
    b.send(OnHook(line_instance=1, call_reference=ry))  # ends only the consultation
    on_hook(c, rc)
    on_hook(b, ry)
    snap = rig.snapshot()
    assert len(snap) == 1 and snap[0]["state"] == "held"
    since = len(b.received)
    rig.clock.advance(31)
    rig.server.poke()
    b.wait_for(
        SetRinger,
        5,
        lambda m: m.ring_duration == RingMode.SINGLE and m.call_reference == rb,
    )
    got = b.received[since:]
    assert any(
        isinstance(m, CallInfo)
        and m.call_reference == rb
        and "1001" in (m.calling_party, m.called_party)
        for m in got
    )
    assert any(
        isinstance(m, DisplayPromptStatus) and m.prompt_status == "Hold reversion" for m in got
    )
    # and again after another interval, until B takes the call back
    for p in (a, b, c):
        p.keep_alive()
    since = len(b.received)
    rig.clock.advance(31)
    rig.server.poke()
    b.wait_for(SetRinger, 5, lambda m: m.ring_duration == RingMode.SINGLE)
    b.send(SoftKeyEvent(soft_key_event=K.RESUME, line_instance=1, call_reference=rb))
    state(b, S.CONNECTED)
    a.rtp_in.clear()
    media_flows(a, b)
    clean(rig, a, b, c)


# --- 5. keys that do nothing ---------------------------------------------------------------------


def test_every_key_gets_a_visible_answer(rig: Rig) -> None:
    """Softkeys and fixed feature keys not built yet answer "Key is not active"; Transfer while
    ringing out too. (The office features' keys have their own answers: test_office.py; the
    conference keys: test_conference.py.)"""
    from skinnyctl.sccp import DisplayNotify
    from skinnyctl.sccp.enums import Label, label

    not_active = label(Label.KEY_IS_NOT_ACTIVE)
    a, b = rig.phone(A), rig.phone(B, "7961")
    ra, _rb = call_a_to_b(rig, a, b)
    for key in (K.INFO,):
        since = len(a.received)
        a.send(SoftKeyEvent(soft_key_event=key, line_instance=1, call_reference=ra))
        a.wait_for(DisplayNotify, 5, lambda m: m.text == not_active)
        assert any(isinstance(m, DisplayNotify) for m in a.received[since:]), key
    a.send(OnHook(line_instance=1, call_reference=ra))
    state(b, S.ON_HOOK)
    # Transfer while ringing out: nothing to transfer yet, said so
    a.send(OffHook(line_instance=1, call_reference=0))
    ra = state(a, S.OFF_HOOK).call_reference
    dial(a, "1002", ra)
    state(b, S.RING_IN)
    a.send(SoftKeyEvent(soft_key_event=K.TRANSFER, line_instance=1, call_reference=ra))
    a.wait_for(DisplayNotify, 5, lambda m: m.text == not_active)
    a.send(OnHook(line_instance=1, call_reference=ra))
    clean(rig, a, b)


FEATURE_BUTTONS = """
[[devices.buttons]]
type = "feature"
feature = "conference"
[[devices.buttons]]
type = "feature"
feature = "hold"
"""


@pytest.fixture
def feature_rig(tmp_path: Path) -> Iterator[Rig]:
    with Rig(tmp_path, a_buttons=FEATURE_BUTTONS) as r:
        yield r


def test_feature_buttons_are_handled_as_the_phone_presses_them(feature_rig: Rig) -> None:
    """Feature buttons are declared as FEATURE (0x13) in the ButtonTemplate, so the phone sends
    Stimulus FEATURE with the button's instance: the site's feature runs (hold; conference:
    the call is held and a new call gets dial tone for the third party). Titles are the
    features' own."""
    from skinnyctl.sccp import (
        ButtonTemplate,
        ButtonTemplateReq,
        FeatureStat,
        FeatureStatReq,
        Stimulus,
        StimulusType,
    )

    rig = feature_rig
    a, b = rig.phone(A), rig.phone(B, "7961")
    template = a.ask(ButtonTemplateReq(), ButtonTemplate)
    kinds = [d.button_definition for d in template.definitions]
    assert kinds.count(StimulusType.FEATURE) == 2
    stat = a.ask(FeatureStatReq(feature_index=1), FeatureStat)
    assert stat.feature_text_label == "Conference"
    assert stat.feature_id == StimulusType.CONFERENCE
    ra, _rb = call_a_to_b(rig, a, b)
    a.send(Stimulus(stimulus=StimulusType.FEATURE, stimulus_instance=2))  # the hold button
    state(a, S.HOLD)
    a.send(Stimulus(stimulus=StimulusType.FEATURE, stimulus_instance=2))  # and back
    a.wait_for(CallStateMsg, 5, lambda m: m.call_state == S.CONNECTED and m.call_reference == ra)
    a.send(Stimulus(stimulus=StimulusType.FEATURE, stimulus_instance=1))  # conference
    state(a, S.HOLD)
    a.wait_for(CallStateMsg, 5, lambda m: m.call_state == S.OFF_HOOK and m.call_reference != ra)
    clean(rig, a, b)


# --- 7. digits during a call -----------------------------------------------------------------


def test_digits_during_a_call_are_call_events(rig: Rig) -> None:
    from skinnyctl.sccp import KeypadButton

    a, b = rig.phone(A), rig.phone(B, "7961")
    ra, _rb = call_a_to_b(rig, a, b)
    sub = rig.server.bus.subscribe(["dtmf"])
    call_id = rig.snapshot()[0]["call_id"]
    for btn in (5, 14, 15):
        a.send(KeypadButton(kp_button=btn, line_instance=1, call_reference=ra))
    got = [sub.get(5) for _ in range(3)]
    assert [e.fields["digit"] for e in got if e] == ["5", "*", "#"]
    assert all(e is not None and e.fields["call_id"] == call_id for e in got)
    clean(rig, a, b)


# --- 8. call records and events that mislead --------------------------------------------------


def test_call_records_name_the_cause_and_who_answered(rig: Rig) -> None:
    from skinnyctl.sccp import EnblocCall
    from tests.test_calls import S1, S2

    a, b = rig.phone(A), rig.phone(B, "7961")
    s1, s2 = rig.phone(S1, "7961"), rig.phone(S2, "7961")
    # unknown number
    a.send(EnblocCall(called_party="4444"))
    a.send(OnHook(line_instance=1, call_reference=0))
    # rejected: B presses EndCall while it rings
    a.send(EnblocCall(called_party="1002"))
    rb = state(b, S.RING_IN).call_reference
    b.send(SoftKeyEvent(soft_key_event=K.END_CALL, line_instance=1, call_reference=rb))
    state(a, S.BUSY)
    a.send(OnHook(line_instance=1, call_reference=0))
    # cancelled by the caller while it rings
    a.send(EnblocCall(called_party="1002"))
    rb = state(b, S.RING_IN).call_reference
    a.send(OnHook(line_instance=1, call_reference=0))
    on_hook(b, rb)
    # answered on one shared-line device, picked up on the other after a hold
    a.send(EnblocCall(called_party="2000"))
    r1 = state(s1, S.RING_IN).call_reference
    s1.send(OffHook(line_instance=1, call_reference=r1))
    state(s1, S.CONNECTED)
    s1.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=r1))
    r2 = s2.wait_for(CallStateMsg, 5, lambda m: m.call_state in (S.REMOTE_HOLD, S.HOLD))
    s2.send(
        SoftKeyEvent(soft_key_event=K.RESUME, line_instance=1, call_reference=r2.call_reference)
    )
    s2.wait_for(CallStateMsg, 5, lambda m: m.call_state == S.CONNECTED)
    a.send(OnHook(line_instance=1, call_reference=0))
    until(lambda: len(rig.cdr.query()) == 4, "four records")
    rows = rig.cdr.query()
    assert [(r["called"], r["cause"]) for r in rows] == [
        ("4444", "UNALLOCATED_NUMBER"),
        ("1002", "CALL_REJECTED"),
        ("1002", "ORIGINATOR_CANCEL"),
        ("2000", "NORMAL_CLEARING"),
    ]
    assert rows[3]["callee_device"] == s2.name  # who had the call at the end
    clean(rig, a, b, s1, s2)


def test_call_state_events_once_per_change_and_readable(rig: Rig) -> None:
    from skinnyctl.control import format as fmt

    a, b = rig.phone(A), rig.phone(B, "7961")
    sub = rig.server.bus.subscribe(["call_state"])
    ra, rb = call_a_to_b(rig, a, b)
    a.send(OnHook(line_instance=1, call_reference=ra))
    on_hook(b, rb)
    events = []
    while (e := sub.get(0.5)) is not None:
        events.append(e)
    mine = [e.fields["state"] for e in events if e.fields["call_reference"] == ra]
    assert mine == ["dialing", "ringout", "connected", "gone"]
    theirs = [e.fields["state"] for e in events if e.fields["call_reference"] == rb]
    assert theirs == ["ringin", "connected", "gone"]
    text = fmt.event(events[1].to_dict())
    assert "state=ringout" in text and "line=1001" in text and "call_id=" in text
    clean(rig, a, b)


# --- 9. phones left off-hook forever -----------------------------------------------------------


def test_off_hook_with_nothing_dialled_gets_reorder_then_is_cleared(rig: Rig) -> None:
    from skinnyctl.sccp import StartTone, Tone

    a = rig.phone(A)
    a.send(OffHook(line_instance=1, call_reference=0))
    ra = state(a, S.OFF_HOOK).call_reference
    rig.clock.advance(14)
    rig.server.poke()
    rig.settle()
    assert not any(isinstance(m, StartTone) and m.tone == Tone.REORDER_TONE for m in a.received)
    rig.clock.advance(1.5)  # past off_hook_timeout (15 s)
    rig.server.poke()
    a.wait_for(StartTone, 5, lambda m: m.tone == Tone.REORDER_TONE)
    rig.clock.advance(15.5)  # then the failed-call timeout clears the plane
    rig.server.poke()
    on_hook(a, ra)
    assert rig.snapshot() == []
    clean(rig, a)
