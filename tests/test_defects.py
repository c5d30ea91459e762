"""Defects an independent phone found (issue 14), each as a scenario over real TCP and RTP
against the in-process server, every frame checked with tshark."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from skinnyctl.phone import SimPhone
from skinnyctl.sccp import (
    KeepAlive,
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
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    r.start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def small_rig(tmp_path: Path) -> Iterator[Rig]:
    """A relay range with room for two calls (four port pairs)."""
    r = Rig(tmp_path, rtp_span=8)
    r.start()
    try:
        yield r
    finally:
        r.stop()


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
    rig.settle()
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
