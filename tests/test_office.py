"""Office features (issue 16) as scenarios over real TCP against the in-process server, each
way a user triggers them: softkeys, feature buttons (Stimulus FEATURE as the ButtonTemplate
declares them), fixed keys, site.toml, the control API. Every frame both ways is checked with
tshark; where a call connects, RTP flows through the relay; call records are read back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from skinnyctl.phone import SimPhone
from skinnyctl.sccp import (
    CallInfo,
    CallState,
    ClearPromptStatus,
    DisplayNotify,
    DisplayPriNotify,
    DisplayPromptStatus,
    EnblocCall,
    FeatureStat,
    FeatureStatReq,
    ForwardStat,
    LampMode,
    Message,
    OffHook,
    OnHook,
    RingType,
    SelectSoftKeys,
    SetLamp,
    SetMicroMode,
    SetRinger,
    SoftKeyEvent,
    SoftKeySetIndex,
    SoftKeySetRes,
    StartMediaTransmission,
    Stimulus,
    StimulusType,
)
from skinnyctl.sccp.enums import Label, label
from tests.test_calls import (
    S1,
    S2,
    S3,
    A,
    B,
    C,
    K,
    Rig,
    S,
    call_a_to_b,
    clean,
    dial,
    mark,
    media_flows,
    settled,
    state,
)

# --- the rig: test_calls' site plus the keys each test needs --------------------------------------

PLAN = """
[[dialplan]]
pattern = "^(3[0-9]{2}|7[0-9]{2})$"
action = "process"
"""


def edit(
    lines: dict[str, str] | None = None,
    devices: dict[str, str] | None = None,
    tail: str = "",
    b_buttons: str = "",
) -> Callable[[str], str]:
    """A site edit: ``lines`` number -> keys added to that [[lines]] entry, ``devices`` MAC ->
    keys added to that [[devices]] entry, ``tail`` sections appended, ``b_buttons`` more
    buttons for phone B."""

    def apply(text: str) -> str:
        if b_buttons:
            text = text.replace(
                f'[[devices]]\nmac = "{C}"', f'{b_buttons}\n[[devices]]\nmac = "{C}"'
            )
        for number, keys in (lines or {}).items():
            head = f'[[lines]]\nnumber = "{number}"\n'
            assert head in text, number
            text = text.replace(head, head + keys.strip() + "\n")
        for mac, keys in (devices or {}).items():
            head = f'mac = "{mac}"\n'
            assert head in text, mac
            i = text.index(head) + len(head)
            j = text.index("\n", i) + 1  # after its model line
            text = text[:j] + keys.strip() + "\n" + text[j:]
        return text + PLAN + tail

    return apply


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(**kw: Any) -> Rig:
        a_buttons = kw.pop("a_buttons", "")
        rig = Rig(tmp_path, edit=edit(**kw), a_buttons=a_buttons)
        rig.server.call_edge.state_path = tmp_path / "state" / "features.json"
        rig.start()
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.stop()


def feature_button(feature: str) -> str:
    return f'\n[[devices.buttons]]\ntype = "feature"\nfeature = "{feature}"\n'


def got(p: SimPhone, cls: type[Message], since: int = 0, **fields: Any) -> list[Any]:
    """Messages of ``cls`` with ``fields`` that ``p`` received after ``since``."""
    return [
        m
        for m in p.received[since:]
        if isinstance(m, cls) and all(getattr(m, k) == v for k, v in fields.items())
    ]


def wait(p: SimPhone, cls: type[Message], timeout: float = 5.0, **fields: Any) -> Any:
    return p.wait_for(cls, timeout, lambda m: all(getattr(m, k) == v for k, v in fields.items()))


def quiet(rig: Rig) -> None:
    """Everything sent so far was handled, and what it made was sent."""
    rig.settle()
    time.sleep(0.2)
    rig.settle()


def advance(rig: Rig, seconds: float, *phones: SimPhone) -> None:
    """Move the clock on, the phones keeping their registration alive meanwhile."""
    while seconds > 0:
        step = min(seconds, 20.0)
        for p in phones:
            p.keep_alive()  # acknowledged: the server has it before the clock jumps
        rig.clock.advance(step)
        rig.server.poke()
        rig.settle()
        rig.settle()  # the first may return in the batch before the timers that are due fired
        seconds -= step


def ring_in(p: SimPhone, timeout: float = 5.0) -> int:
    return state(p, S.RING_IN, timeout).call_reference


def never_rings(rig: Rig, p: SimPhone, since: int) -> None:
    quiet(rig)
    assert not got(p, CallState, since, call_state=S.RING_IN), f"{p.name} rang"


def records(rig: Rig, count: int) -> list[dict[str, Any]]:
    settled(rig, lambda: len(rig.cdr.query()) >= count, f"{count} call records")
    rows = rig.cdr.query()
    assert len(rows) == count, [
        (r["caller"], r["called"], r["redirect_reason"], r["cause"]) for r in rows
    ]
    return rows


def hang_up(p: SimPhone, ref: int = 0) -> None:
    p.send(OnHook(line_instance=1, call_reference=ref))


# --- 1. forwarding ------------------------------------------------------------------------------


def test_forward_all_from_site_toml_rings_the_target_and_says_why(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(lines={"1002": 'forward_all = "1003"'})
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    # B shows its line forwarded: ForwardStat, the lamp and the idle prompt
    (fwd,) = got(b, ForwardStat, 0, line_number=1)  # asked while registering
    assert (fwd.forward_all_active, fwd.forward_all_dirnum, fwd.active_forward) == (1, "1003", 1)
    wait(b, SetLamp, stimulus=StimulusType.FORWARD_ALL, lamp_mode=LampMode.ON)
    wait(b, DisplayPromptStatus, prompt_status=label(Label.FORWARDED_TO, " 1003"))
    mb = mark(b)
    a.send(OffHook(line_instance=1, call_reference=0))
    ra = state(a, S.OFF_HOOK).call_reference
    dial(a, "1002", ra)
    rc = ring_in(c)
    info = wait(c, CallInfo, call_reference=rc)
    assert (info.calling_party, info.called_party, info.call_type) == ("1001", "1003", 3)
    assert (info.original_called_party, info.last_redirecting_party) == ("1002", "1002")
    assert info.last_redirecting_reason == 15  # forward all
    wait(c, DisplayPromptStatus, prompt_status="1001 fwd by 1002")
    # the caller sees where it rings now
    wait(a, CallInfo, called_party="1003", original_called_party="1002")
    c.send(OffHook(line_instance=1, call_reference=rc))
    state(a, S.CONNECTED)
    media_flows(a, c)
    never_rings(rig, b, mb)
    hang_up(a, ra)
    state(c, S.ON_HOOK)
    (row,) = records(rig, 1)
    assert (row["called"], row["callee_device"]) == ("1002", c.name)
    assert (row["redirect_reason"], row["redirected_from"]) == ("forward_all", "1002")
    clean(rig, a, b, c)


def test_forward_loop_rings_the_last_hop(make_rig: Callable[..., Rig]) -> None:
    """1002 -> 1003 -> 1002 would loop: the call rings 1003, where it would turn back."""
    rig = make_rig(lines={"1002": 'forward_all = "1003"', "1003": 'forward_all = "1002"'})
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    mb = mark(b)
    a.send(EnblocCall(called_party="1002"))
    rc = ring_in(c)
    assert wait(c, CallInfo, call_reference=rc).original_called_party == "1002"
    never_rings(rig, b, mb)
    hang_up(a)
    state(c, S.ON_HOOK)
    mc = mark(c)
    a.send(EnblocCall(called_party="1003"))  # and the other way round
    ring_in(b)
    never_rings(rig, c, mc)
    hang_up(a)
    state(b, S.ON_HOOK)
    assert [r["cause"] for r in records(rig, 2)] == ["ORIGINATOR_CANCEL"] * 2
    clean(rig, a, b, c)


def test_forward_no_answer_after_the_timeout_then_audio(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(lines={"1002": 'forward_no_answer = "1003"\nno_answer_timeout = 12'})
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    (fwd,) = got(b, ForwardStat, 0, line_number=1)
    assert (fwd.forward_no_answer_active, fwd.forward_no_answer_dirnum) == (1, "1003")
    a.send(OffHook(line_instance=1, call_reference=0))
    ra = state(a, S.OFF_HOOK).call_reference
    dial(a, "1002", ra)
    rb = ring_in(b)
    state(a, S.RING_OUT)
    mc = mark(c)
    advance(rig, 11.5, a, b, c)  # still B's turn
    never_rings(rig, c, mc)
    assert not got(b, CallState, 0, call_state=S.ON_HOOK, call_reference=rb)
    advance(rig, 1.0, a, b, c)  # 12 s of ringing: B stops, C rings
    b.wait_for(CallState, 5, lambda m: m.call_state == S.ON_HOOK and m.call_reference == rb)
    rc = ring_in(c)
    info = wait(c, CallInfo, call_reference=rc)
    assert (info.original_called_party, info.last_redirecting_party) == ("1002", "1002")
    assert (info.call_type, info.last_redirecting_reason) == (3, 2)  # forwarded, no answer
    wait(c, DisplayPromptStatus, prompt_status="1001 for 1002 (no answer)")
    c.send(OffHook(line_instance=1, call_reference=rc))
    state(a, S.CONNECTED)
    state(c, S.CONNECTED)
    media_flows(a, c)
    hang_up(c, rc)
    state(a, S.ON_HOOK)
    (row,) = records(rig, 1)
    assert (row["called"], row["callee_device"], row["cause"]) == (
        "1002",
        c.name,
        "NORMAL_CLEARING",
    )
    assert (row["redirect_reason"], row["redirected_from"]) == ("no_answer", "1002")
    clean(rig, a, b, c)


def test_forward_busy_on_reject_and_busy_trigger(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(lines={"1002": 'forward_busy = "1003"\nbusy_trigger = 1'})
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    s1 = rig.phone(S1, "7961")
    # B refuses the ringing call (EndCall): forward busy
    a.send(EnblocCall(called_party="1002"))
    rb = ring_in(b)
    b.send(SoftKeyEvent(soft_key_event=K.END_CALL, line_instance=1, call_reference=rb))
    rc = ring_in(c)
    wait(c, DisplayPromptStatus, prompt_status="1001 for 1002 (busy)")
    assert wait(c, CallInfo, call_reference=rc).last_redirecting_reason == 1
    hang_up(a)
    state(c, S.ON_HOOK)
    # B already has a call (busy_trigger = 1): the next goes to 1003 without ringing B
    b.send(EnblocCall(called_party="2000"))
    r1 = ring_in(s1)
    s1.send(OffHook(line_instance=1, call_reference=r1))
    state(b, S.CONNECTED)
    mb = mark(b)
    a.send(EnblocCall(called_party="1002"))
    rc = ring_in(c)
    c.send(OffHook(line_instance=1, call_reference=rc))
    state(a, S.CONNECTED)
    media_flows(a, c)
    never_rings(rig, b, mb)
    hang_up(a)
    hang_up(s1, r1)
    rows = records(rig, 3)
    assert sorted((r["called"], r["redirect_reason"], r["cause"]) for r in rows) == [
        ("1002", "busy", "NORMAL_CLEARING"),
        ("1002", "busy", "ORIGINATOR_CANCEL"),
        ("2000", "", "NORMAL_CLEARING"),
    ]
    clean(rig, a, b, c, s1)


def test_cfwdall_softkey_sets_shows_keeps_and_cancels(
    make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    rig = make_rig()
    a, c = rig.phone(A), rig.phone(C)
    shared = [rig.phone(m, "7961") for m in (S1, S2, S3)]
    s1 = shared[0]
    marks = [mark(s) for s in shared]
    s1.send(SoftKeyEvent(soft_key_event=K.CFWD_ALL, line_instance=1, call_reference=0))
    rf = state(s1, S.OFF_HOOK).call_reference
    wait(s1, DisplayPromptStatus, prompt_status="Forward all to:")
    wait(s1, SetLamp, stimulus=StimulusType.FORWARD_ALL, lamp_mode=LampMode.FLASH)
    dial(s1, "1003", rf)  # complete for the dial plan: set
    s1.wait_for(CallState, 5, lambda m: m.call_state == S.ON_HOOK and m.call_reference == rf)
    wait(s1, DisplayNotify, text=label(Label.FORWARDED_TO, " 1003"))
    for s, m in zip(shared, marks, strict=True):  # every device of the line shows it
        fwd = wait(s, ForwardStat, forward_all_active=1)
        assert (fwd.line_number, fwd.forward_all_dirnum) == (1, "1003")
        wait(s, SetLamp, stimulus=StimulusType.FORWARD_ALL, lamp_mode=LampMode.ON)
        wait(s, DisplayPromptStatus, prompt_status=label(Label.FORWARDED_TO, " 1003"))
        assert s.received.index(fwd) >= m
    rig.settle()  # the file is written after the phones' messages are queued
    saved = json.loads((tmp_path / "state" / "features.json").read_text())
    assert saved["forwards"] == {"2000": {"all": "1003"}}
    assert (tmp_path / "state" / "features.json").stat().st_mode & 0o077 == 0
    # a call to the line goes to 1003; none of its phones rings
    marks = [mark(s) for s in shared]
    a.send(EnblocCall(called_party="2000"))
    rc = ring_in(c)
    c.send(OffHook(line_instance=1, call_reference=rc))
    media_flows(a, c)
    hang_up(a)
    state(c, S.ON_HOOK)
    for s, m in zip(shared, marks, strict=True):
        never_rings(rig, s, m)
    # a device re-registering asks ForwardStat: the run-time forward, not site.toml's none
    s3 = shared[2]
    s3.close()
    s3 = rig.phone(S3, "7961")
    assert got(s3, ForwardStat, 0, line_number=1)[-1].forward_all_dirnum == "1003"
    # pressed again (on another device of the line): off everywhere
    marks = [mark(s) for s in shared[:2]]
    shared[1].send(SoftKeyEvent(soft_key_event=K.CFWD_ALL, line_instance=1, call_reference=0))
    wait(shared[1], DisplayNotify, text="Forward all off")
    for s in (shared[0], shared[1], s3):
        wait(s, ForwardStat, forward_all_active=0)
        wait(s, SetLamp, stimulus=StimulusType.FORWARD_ALL, lamp_mode=LampMode.OFF)
        wait(s, ClearPromptStatus, line_instance=0, call_reference=0)
    rig.settle()
    assert json.loads((tmp_path / "state" / "features.json").read_text())["forwards"] == {
        "2000": {"all": ""}
    }
    a.send(EnblocCall(called_party="2000"))
    ring_in(s1)
    hang_up(a)
    clean(rig, a, c, shared[0], shared[1], s3)


FORWARD_BUTTON = feature_button("forward_all")


def test_forward_button_messages_key_and_the_other_forward_keys(
    make_rig: Callable[..., Rig],
) -> None:
    """The forward_all feature button, then the Messages key: forwarded to voicemail (1003
    here), which learns whose call it is (redirected_from). CFwdBusy and CFwdNoAnswer
    softkeys set the other two forwards."""
    rig = make_rig(a_buttons=FORWARD_BUTTON)
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    assert a.ask(FeatureStatReq(feature_index=1), FeatureStat).feature_status == 0
    a.send(Stimulus(stimulus=StimulusType.FEATURE, stimulus_instance=1))
    rf = state(a, S.OFF_HOOK).call_reference
    wait(a, DisplayPromptStatus, prompt_status="Forward all to:")
    a.send(Stimulus(stimulus=StimulusType.VOICEMAIL, stimulus_instance=0))  # Messages
    a.wait_for(CallState, 5, lambda m: m.call_state == S.ON_HOOK and m.call_reference == rf)
    assert wait(a, ForwardStat, forward_all_active=1).forward_all_dirnum == "1003"
    assert wait(a, FeatureStat, feature_index=1).feature_status == 1  # the button is lit
    b.send(EnblocCall(called_party="1001"))
    rc = ring_in(c)
    info = wait(c, CallInfo, call_reference=rc)
    assert (info.last_redirecting_party, info.calling_party) == ("1001", "1002")
    c.send(OffHook(line_instance=1, call_reference=rc))
    media_flows(b, c)
    call = rig.server.call(lambda core: next(iter(core.switch.calls.values())))
    assert (call.redirected_from, call.original_called, call.redirect_reason) == (
        "1001",
        "1001",
        "forward_all",
    )
    hang_up(b)
    state(c, S.ON_HOOK)
    # CFwdBusy and CFwdNoAnswer softkeys on B: dial the target, shown in ForwardStat
    for key, field, target in (
        (K.CFWD_BUSY, "forward_busy_dirnum", "2000"),
        (K.CFWD_NO_ANSWER, "forward_no_answer_dirnum", "1001"),
    ):
        b.send(SoftKeyEvent(soft_key_event=key, line_instance=1, call_reference=0))
        ref = state(b, S.OFF_HOOK).call_reference
        dial(b, target, ref)
        b.wait_for(
            CallState, 5, lambda m, r=ref: m.call_state == S.ON_HOOK and m.call_reference == r
        )
        b.wait_for(ForwardStat, 5, lambda m, f=field, t=target: getattr(m, f) == t)
    fwd = rig.server.call(lambda core: core.forwarding("1002"))
    assert (fwd.all, fwd.busy, fwd.no_answer) == ("", "2000", "1001")
    # a target that leads nowhere is refused: reorder and "Unknown Number"
    b.send(SoftKeyEvent(soft_key_event=K.CFWD_ALL, line_instance=1, call_reference=0))
    ref = state(b, S.OFF_HOOK).call_reference
    b.send(EnblocCall(called_party="4444", line_instance=1))
    wait(b, DisplayPromptStatus, prompt_status=label(Label.UNKNOWN_NUMBER))
    hang_up(b, ref)
    assert rig.server.call(lambda core: core.forwarding("1002")).all == ""
    clean(rig, a, b, c)


# --- 2. do not disturb ----------------------------------------------------------------------------


def test_dnd_softkey_rejects_while_the_shared_line_rings_elsewhere(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(lines={"1002": 'forward_busy = "1003"'}, devices={B: 'dnd = "reject"'})
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    shared = [rig.phone(m, "7961") for m in (S1, S2, S3)]
    # S1 in DND (reject, the default): a call to the shared line rings S2 and S3 only
    shared[0].send(SoftKeyEvent(soft_key_event=K.DND, line_instance=1, call_reference=0))
    wait(shared[0], DisplayNotify, text="Do Not Disturb")
    wait(shared[0], DisplayPromptStatus, prompt_status="Do Not Disturb", line_instance=0)
    m1 = mark(shared[0])
    a.send(EnblocCall(called_party="2000"))
    r2, _r3 = ring_in(shared[1]), ring_in(shared[2])
    never_rings(rig, shared[0], m1)
    shared[1].send(OffHook(line_instance=1, call_reference=r2))
    state(a, S.CONNECTED)
    media_flows(a, shared[1])
    hang_up(a)
    state(shared[1], S.ON_HOOK)
    # B in DND, its line's only phone: the line refuses as busy, forward_busy takes the call
    b.send(SoftKeyEvent(soft_key_event=K.DND, line_instance=1, call_reference=0))
    wait(b, DisplayNotify, text="Do Not Disturb")
    mb = mark(b)
    a.send(EnblocCall(called_party="1002"))
    ring_in(c)
    wait(c, DisplayPromptStatus, prompt_status="1001 for 1002 (busy)")
    never_rings(rig, b, mb)
    hang_up(a)
    state(c, S.ON_HOOK)
    # DND off again: B rings
    b.send(SoftKeyEvent(soft_key_event=K.DND, line_instance=1, call_reference=0))
    wait(b, DisplayNotify, text="DND off")
    wait(b, ClearPromptStatus, line_instance=0, call_reference=0)
    a.send(EnblocCall(called_party="1002"))
    ring_in(b)
    hang_up(a)
    state(b, S.ON_HOOK)
    rows = records(rig, 3)
    assert [r["redirect_reason"] for r in rows if r["called"] == "1002"].count("busy") == 1
    clean(rig, a, b, c, *shared)


DND_BUTTON = feature_button("dnd")


def test_dnd_button_silent_mode_rings_without_the_ringer(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(devices={A: 'dnd = "silent"'}, a_buttons=DND_BUTTON)
    a, b = rig.phone(A), rig.phone(B, "7961")
    a.send(Stimulus(stimulus=StimulusType.FEATURE, stimulus_instance=1))
    assert wait(a, FeatureStat, feature_index=1).feature_status == 1
    wait(a, DisplayNotify, text="Do Not Disturb (silent)")
    b.send(EnblocCall(called_party="1001"))
    ra = ring_in(a)
    ringers = [m.ring_mode for m in got(a, SetRinger, 0, call_reference=ra)]
    assert ringers == [RingType.FLASH_ONLY]  # the screen and lamp only, no ringer
    wait(a, SetLamp, stimulus=StimulusType.LINE, lamp_mode=LampMode.BLINK)
    a.send(OffHook(line_instance=1, call_reference=ra))  # still answerable
    state(b, S.CONNECTED)
    media_flows(a, b)
    hang_up(b)
    state(a, S.ON_HOOK)
    # the device keeps it across a restart of the server (state file): see the control test
    a.send(Stimulus(stimulus=StimulusType.DO_NOT_DISTURB, stimulus_instance=1))  # fixed key
    assert wait(a, FeatureStat, feature_index=1).feature_status == 0
    rig.settle()
    assert rig.server.call(lambda core: sorted(core.user_state.dnd)) == []
    (row,) = records(rig, 1)
    assert row["callee_device"] == a.name
    clean(rig, a, b)


# --- 3. pick-up -----------------------------------------------------------------------------

PICKUP_BUTTON = feature_button("pickup")


def test_pickup_softkey_and_button_take_a_call_ringing_in_the_group(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(
        lines={"1001": 'pickup_group = "31"', "1003": 'pickup_group = "31"'},
        a_buttons=PICKUP_BUTTON,
    )
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    # nothing rings: said so
    a.send(SoftKeyEvent(soft_key_event=K.PICKUP, line_instance=1, call_reference=0))
    wait(a, DisplayNotify, text=label(Label.NO_CALL_AVAILABLE_FOR_PICKUP))
    # B calls 1003 (C rings); A picks it up with the softkey
    b.send(EnblocCall(called_party="1003"))
    rc = ring_in(c)
    mc = mark(c)
    a.send(SoftKeyEvent(soft_key_event=K.PICKUP, line_instance=1, call_reference=0))
    ra = state(a, S.CONNECTED).call_reference
    state(b, S.CONNECTED)
    c.wait_for(CallState, 5, lambda m: m.call_state == S.ON_HOOK and m.call_reference == rc)
    info = wait(a, CallInfo, call_reference=ra)
    assert (info.calling_party, info.original_called_party) == ("1002", "1003")
    assert got(c, SetRinger, mc, ring_mode=RingType.OFF)  # C stopped ringing
    media_flows(a, b)
    hang_up(b)
    state(a, S.ON_HOOK)
    # the same with the pickup feature button
    b.send(EnblocCall(called_party="1003"))
    ring_in(c)
    a.send(Stimulus(stimulus=StimulusType.FEATURE, stimulus_instance=1))
    state(a, S.CONNECTED)
    media_flows(a, b)
    hang_up(a)
    rows = records(rig, 2)
    for r in rows:  # the record names who answered, and from whom it was picked
        assert (r["called"], r["callee_device"], r["redirect_reason"], r["redirected_from"]) == (
            "1003",
            a.name,
            "pickup",
            "1003",
        )
    clean(rig, a, b, c)


def test_gpickup_takes_a_group_number_or_an_extension(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(lines={"1003": 'pickup_group = "32"'})
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    shared = [rig.phone(m, "7961") for m in (S1, S2)]
    # group pick-up: GPickUp, then the group's number
    b.send(EnblocCall(called_party="1003"))
    rc = ring_in(c)
    a.send(SoftKeyEvent(soft_key_event=K.GROUP_PICKUP, line_instance=1, call_reference=0))
    rg = state(a, S.OFF_HOOK).call_reference
    wait(a, DisplayPromptStatus, prompt_status="Pick up group/ext:")
    a.send(EnblocCall(called_party="32", line_instance=1))
    ra = a.wait_for(CallState, 5, lambda m: m.call_state == S.CONNECTED).call_reference
    assert ra != rg
    c.wait_for(CallState, 5, lambda m: m.call_state == S.ON_HOOK and m.call_reference == rc)
    media_flows(a, b)
    hang_up(a, ra)
    state(b, S.ON_HOOK)
    # directed pick-up: GPickUp, then the extension (a shared line: every device stops)
    b.send(EnblocCall(called_party="2000"))
    refs = [ring_in(s) for s in shared]
    a.send(SoftKeyEvent(soft_key_event=K.GROUP_PICKUP, line_instance=1, call_reference=0))
    rg = state(a, S.OFF_HOOK).call_reference
    dial(a, "2000", rg)
    state(a, S.CONNECTED)
    for s, r in zip(shared, refs, strict=True):
        s.wait_for(CallState, 5, lambda m, r=r: m.call_state == S.ON_HOOK and m.call_reference == r)
    media_flows(a, b)
    hang_up(b)
    state(a, S.ON_HOOK)
    rows = records(rig, 2)
    assert sorted((r["called"], r["callee_device"], r["redirected_from"]) for r in rows) == [
        ("1003", a.name, "1003"),
        ("2000", a.name, "2000"),
    ]
    clean(rig, a, b, c, *shared)


# --- 4. park --------------------------------------------------------------------------------------

PARK = """
[park]
slots = "701-702"
timeout = 45
"""
PARK_BUTTON = feature_button("park")


def test_park_retrieve_with_audio_then_park_timeout_rings_the_parker(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(tail=PARK)
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    _ra, rb = call_a_to_b(rig, a, b)
    media_flows(a, b)
    # B parks A: B's call ends, B's screen shows the slot, A hears music
    b.send(SoftKeyEvent(soft_key_event=K.PARK, line_instance=1, call_reference=rb))
    wait(b, DisplayPriNotify, text=label(Label.CALL_PARK_AT, " 701"))
    b.wait_for(CallState, 5, lambda m: m.call_state == S.ON_HOOK and m.call_reference == rb)
    a.rtp_in.clear()
    music = a.wait_rtp(lambda p: p.ssrc != b.rtp_ssrc, 5)
    assert music.payload_type == 0
    calls = rig.snapshot()
    assert [(x["called"], x["state"]) for x in calls] == [("701", "parked")]
    parked = rig.server.call(lambda core: core.parking.parked())
    assert [(p["slot"], p["parked"], p["parker"], p["parker_device"]) for p in parked] == [
        ("701", "1001", "1002", b.name)
    ]
    # C dials the slot: C and A talk
    c.send(OffHook(line_instance=1, call_reference=0))
    rc = state(c, S.OFF_HOOK).call_reference
    dial(c, "701", rc)
    state(c, S.CONNECTED)
    wait(c, CallInfo, calling_party="1001", called_party="1003")  # the parked party
    a.rtp_in.clear()
    c.rtp_in.clear()
    media_flows(a, c)
    assert rig.server.call(lambda core: core.parking.parked()) == []
    hang_up(c, rc)
    state(a, S.ON_HOOK)
    # a free slot cannot be retrieved
    c.send(EnblocCall(called_party="702"))
    wait(c, DisplayPromptStatus, prompt_status=label(Label.UNKNOWN_NUMBER))
    hang_up(c)
    # parked again, with B's Park feature button this time... from the fixed key (Stimulus)
    _ra, rb = call_a_to_b(rig, a, b)
    b.send(Stimulus(stimulus=StimulusType.CALL_PARK, stimulus_instance=1))
    wait(b, DisplayPriNotify, text=label(Label.CALL_PARK_AT, " 701"))
    advance(rig, 44, a, b, c)
    assert rig.snapshot()[0]["state"] == "parked"
    advance(rig, 1.5, a, b, c)  # the park timeout: it rings B, saying why
    rb = ring_in(b)
    wait(b, DisplayPromptStatus, prompt_status=label(Label.CALLPARK_REVERSION, " 701"))
    info = wait(b, CallInfo, call_reference=rb)
    assert (info.calling_party, info.last_redirecting_party, info.call_type) == ("1001", "701", 3)
    assert info.last_redirecting_reason == 11  # park reversion
    b.send(OffHook(line_instance=1, call_reference=rb))
    state(b, S.CONNECTED)
    a.rtp_in.clear()
    b.rtp_in.clear()
    media_flows(a, b)
    hang_up(b, rb)
    state(a, S.ON_HOOK)
    rows = records(rig, 8)
    reasons = sorted((r["caller"], r["called"], r["redirect_reason"], r["cause"]) for r in rows)
    assert reasons == [
        ("1001", "1002", "", "BLIND_TRANSFER"),  # B parked A (twice)
        ("1001", "1002", "", "BLIND_TRANSFER"),
        ("1001", "1002", "park_reversion", "NORMAL_CLEARING"),  # back to B, answered
        ("1001", "1003", "park", "NORMAL_CLEARING"),  # A and C, after C took it off 701
        ("1001", "701", "park", "PICKED_OFF"),  # A's first wait on the slot
        ("1001", "701", "park", "RECOVERY_ON_TIMER_EXPIRE"),  # the second, timed out
        ("1003", "701", "", "PICKED_OFF"),  # C's call to the slot
        ("1003", "702", "", "UNALLOCATED_NUMBER"),
    ]
    taker = next(r for r in rows if r["called"] == "1003")
    assert (taker["callee_device"], taker["redirected_from"]) == (c.name, "701")
    clean(rig, a, b, c)


def test_park_button_and_no_free_slot(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(tail='\n[park]\nslots = ["750"]\n', a_buttons=PARK_BUTTON)
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    ra, _rb = call_a_to_b(rig, a, b)
    a.send(Stimulus(stimulus=StimulusType.FEATURE, stimulus_instance=1))  # A parks B
    wait(a, DisplayPriNotify, text=label(Label.CALL_PARK_AT, " 750"))
    state(a, S.ON_HOOK)
    c.send(EnblocCall(called_party="1001"))
    ra = ring_in(a)
    a.send(OffHook(line_instance=1, call_reference=ra))
    state(c, S.CONNECTED)
    a.send(Stimulus(stimulus=StimulusType.FEATURE, stimulus_instance=1))  # no slot left
    wait(a, DisplayNotify, text=label(Label.NO_PARK_NUMBER_AVAILABLE))
    media_flows(a, c)  # the call goes on
    hang_up(a, ra)
    clean(rig, a, b, c)


# --- 5. hunt groups -------------------------------------------------------------------------------


def hunt_group(strategy: str) -> str:
    timeout = "" if strategy == "ring_all" else "member_timeout = 8\n"
    return (
        f'\n[[hunt_groups]]\nnumber = "300"\nname = "Sales"\nmembers = ["1002", "1003", "2000"]\n'
        f'strategy = "{strategy}"\n{timeout}hunt_timeout = 40\nfinal = "5123"\n'
    )


def hunt_rig(make_rig: Callable[..., Rig], strategy: str) -> tuple[Rig, list[SimPhone]]:
    """Caller A; members 1002 (B), 1003 (C), 2000 (S1, S2); final 5123 (C's second line)."""
    rig = make_rig(tail=hunt_group(strategy))
    phones = [rig.phone(A), rig.phone(B, "7961"), rig.phone(C)]
    phones += [rig.phone(m, "7961") for m in (S1, S2)]
    return rig, phones


def rings_now(rig: Rig, phones: list[SimPhone], since: list[int]) -> set[str]:
    """Which phones got a ring-in since ``since`` (their marks)."""
    quiet(rig)
    return {
        p.name
        for p, m in zip(phones, since, strict=True)
        if got(p, CallState, m, call_state=S.RING_IN)
    }


def hunt_order(
    rig: Rig, phones: list[SimPhone], steps: int, member_timeout: float = 8.0
) -> list[set[str]]:
    """Call the group from A and note who rings, step by step of member_timeout."""
    a = phones[0]
    out: list[set[str]] = []
    quiet(rig)
    marks = [mark(p) for p in phones]
    a.send(EnblocCall(called_party="300"))
    for step in range(steps):
        if step:
            advance(rig, member_timeout, *phones)
        out.append(rings_now(rig, phones, marks))
        marks = [mark(p) for p in phones]
    return out


def test_hunt_linear_skips_a_logged_out_member_then_goes_to_final(
    make_rig: Callable[..., Rig],
) -> None:
    rig, phones = hunt_rig(make_rig, "linear")
    a, b, c, s1, s2 = phones
    b.send(SoftKeyEvent(soft_key_event=K.HLOG, line_instance=1, call_reference=0))  # B out
    wait(b, DisplayNotify, text=label(Label.LOGGED_OUT_OF_HUNT_GROUP))
    wait(b, DisplayPromptStatus, prompt_status=label(Label.LOGGED_OUT_OF_HUNT_GROUP))
    order = hunt_order(rig, phones, 3)
    # 1002 logged out: skipped at once; 1003, then the shared 2000; then final 5123 (C, line 2)
    assert order == [{c.name}, {s1.name, s2.name}, {c.name}]
    rc = c.wait_for(CallState, 5, lambda m: m.call_state == S.RING_IN and m.line_instance == 2)
    info = wait(c, CallInfo, call_reference=rc.call_reference)
    assert (info.called_party, info.original_called_party) == ("5123", "300")
    c.send(OffHook(line_instance=2, call_reference=rc.call_reference))
    state(a, S.CONNECTED)
    media_flows(a, c)
    hang_up(a)
    (row,) = records(rig, 1)
    assert (row["called"], row["callee_device"], row["redirect_reason"]) == ("300", c.name, "hunt")
    # B logs in again: called directly all along, and now a member again
    b.send(SoftKeyEvent(soft_key_event=K.HLOG, line_instance=1, call_reference=0))
    wait(b, DisplayNotify, text="Logged into Hunt Group")
    marks = [mark(p) for p in phones]
    a.send(EnblocCall(called_party="300"))
    rb = ring_in(b)
    assert rings_now(rig, phones, marks) == {b.name}
    wait(b, DisplayPromptStatus, prompt_status="1001 for Sales")
    b.send(OffHook(line_instance=1, call_reference=rb))
    media_flows(a, b)
    hang_up(a)
    clean(rig, *phones)


def test_hunt_round_robin_starts_after_the_last_taker(make_rig: Callable[..., Rig]) -> None:
    rig, phones = hunt_rig(make_rig, "round_robin")
    a, b, c, s1, s2 = phones
    # first call: from the first member; B does not answer, C does
    order = hunt_order(rig, phones, 2)
    assert order == [{b.name}, {c.name}]
    rc = ring_in(c)
    c.send(OffHook(line_instance=1, call_reference=rc))
    state(a, S.CONNECTED)
    hang_up(a)
    state(c, S.ON_HOOK)
    # next call starts after C (the last taker): 2000, then 1002; C is logged out (skipped)
    c.send(Stimulus(stimulus=StimulusType.HUNT_GROUP, stimulus_instance=1))  # HLog key
    wait(c, DisplayNotify, text=label(Label.LOGGED_OUT_OF_HUNT_GROUP))
    order = hunt_order(rig, phones, 3)
    assert order == [{s1.name, s2.name}, {b.name}, {c.name}]  # then final (C's 5123)
    hang_up(a)
    clean(rig, *phones)


def test_hunt_longest_idle_first(make_rig: Callable[..., Rig]) -> None:
    rig, phones = hunt_rig(make_rig, "longest_idle")
    a, b, c, s1, s2 = phones
    # calls end on 1003 first, then 2000, then 1002: idle longest is 1003, then 2000, 1002
    for callee, number in ((c, "1003"), (s1, "2000"), (b, "1002")):
        a.send(EnblocCall(called_party=number))
        r = ring_in(callee)
        callee.send(OffHook(line_instance=1, call_reference=r))
        state(a, S.CONNECTED)
        hang_up(a)
        state(callee, S.ON_HOOK)
        advance(rig, 1, *phones)
    order = hunt_order(rig, phones, 3)
    assert order == [{c.name}, {s1.name, s2.name}, {b.name}]
    hang_up(a)
    # C, idle longest, logs out: skipped at once
    c.send(SoftKeyEvent(soft_key_event=K.HLOG, line_instance=1, call_reference=0))
    wait(c, DisplayNotify, text=label(Label.LOGGED_OUT_OF_HUNT_GROUP))
    order = hunt_order(rig, phones, 3)
    assert order == [{s1.name, s2.name}, {b.name}, {c.name}]  # then final (C's 5123)
    hang_up(a)
    c.send(SoftKeyEvent(soft_key_event=K.HLOG, line_instance=1, call_reference=0))
    wait(c, DisplayNotify, text="Logged into Hunt Group")
    # a member in a call is skipped: C talks to S1, the next call rings 1002 first
    c.send(EnblocCall(called_party="2000"))
    r1 = ring_in(s1)
    s1.send(OffHook(line_instance=1, call_reference=r1))
    state(c, S.CONNECTED)
    quiet(rig)
    marks = [mark(p) for p in phones]
    a.send(EnblocCall(called_party="300"))
    assert rings_now(rig, phones, marks) == {b.name}
    hang_up(a)
    hang_up(c)
    clean(rig, *phones)


def test_hunt_ring_all_rings_the_logged_in_members_at_once(make_rig: Callable[..., Rig]) -> None:
    rig, phones = hunt_rig(make_rig, "ring_all")
    a, b, c, s1, s2 = phones
    b.send(SoftKeyEvent(soft_key_event=K.HLOG, line_instance=1, call_reference=0))
    wait(b, DisplayNotify, text=label(Label.LOGGED_OUT_OF_HUNT_GROUP))
    marks = [mark(p) for p in phones]
    a.send(EnblocCall(called_party="300"))
    assert rings_now(rig, phones, marks) == {c.name, s1.name, s2.name}
    r2 = ring_in(s2)
    rc = ring_in(c)
    s2.send(OffHook(line_instance=1, call_reference=r2))
    state(a, S.CONNECTED)
    c.wait_for(CallState, 5, lambda m: m.call_state == S.ON_HOOK and m.call_reference == rc)
    media_flows(a, s2)
    hang_up(a)
    (row,) = records(rig, 1)
    assert (row["called"], row["callee_device"]) == ("300", s2.name)
    # nobody answers within hunt_timeout: final
    a.send(EnblocCall(called_party="300"))
    ring_in(c)  # hunting: the clock moves from here (not before the core read the call)
    advance(rig, 41, *phones)
    rf = c.wait_for(CallState, 5, lambda m: m.call_state == S.RING_IN and m.line_instance == 2)
    assert rf.call_reference
    hang_up(a)
    clean(rig, *phones)


# --- 6. intercom and auto-answer ---------------------------------------------------------------

INTERCOM_LINES = """
[[lines]]
number = "1901"
display_name = "Intercom A"
intercom = "1902"
[[lines]]
number = "1902"
display_name = "Intercom B"
intercom = "1901"
"""


def line_button(number: str) -> str:
    return f'\n[[devices.buttons]]\ntype = "line"\nline = "{number}"\n'


def test_intercom_answers_muted_one_way_until_talk_back(make_rig: Callable[..., Rig]) -> None:
    """A's second line is an intercom to B's: pressing it calls B, whose phone answers on its
    speaker, microphone off, sending nothing, until B lifts the handset."""
    rig = make_rig(
        tail=INTERCOM_LINES, a_buttons=line_button("1901"), b_buttons=line_button("1902")
    )
    a, b = rig.phone(A), rig.phone(B, "7961")
    a.send(Stimulus(stimulus=StimulusType.LINE, stimulus_instance=2))  # the intercom line
    state(a, S.CONNECTED)
    rb = state(b, S.CONNECTED).call_reference
    assert got(b, CallState, 0, call_state=S.RING_IN) == []  # answered without ringing
    wait(b, SetMicroMode, mic_mode=2)  # microphone off
    wait(b, DisplayPromptStatus, prompt_status="Intercom")
    info = wait(b, CallInfo, call_reference=rb)
    assert (info.calling_party, info.called_party, info.line_instance) == ("1901", "1902", 2)
    a.wait_for(StartMediaTransmission, 5)
    # one way: A is heard at B; B is told to send nothing
    a.rtp_in.clear()
    b.rtp_in.clear()
    for _ in range(20):
        a.send_rtp(3)
        time.sleep(0.02)
    b.wait_rtp(lambda p: p.ssrc == a.rtp_ssrc, 5)
    assert b.media_to is None and not got(b, StartMediaTransmission, 0)
    # B lifts the handset: microphone on, B's audio starts
    mb = mark(b)
    b.send(OffHook(line_instance=2, call_reference=rb))
    wait(b, SetMicroMode, mic_mode=1)
    b.wait_for(StartMediaTransmission, 5)
    assert got(b, SetMicroMode, mb, mic_mode=1)
    media_flows(a, b)
    hang_up(b, rb)
    state(a, S.ON_HOOK)
    (row,) = records(rig, 1)
    assert (row["caller"], row["called"], row["callee_device"]) == ("1901", "1902", b.name)
    clean(rig, a, b)


def test_auto_answer_per_line_and_per_device(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(lines={"1003": "auto_answer = true"}, devices={B: "auto_answer = true"})
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    for callee, number in ((c, "1003"), (b, "1002")):
        m = mark(callee)
        a.send(EnblocCall(called_party=number))
        r = state(callee, S.CONNECTED).call_reference
        state(a, S.CONNECTED)
        assert not got(callee, SetRinger, m, ring_mode=RingType.INSIDE)
        assert not got(callee, SetMicroMode, m)  # not an intercom: the microphone is live
        media_flows(a, callee)
        hang_up(a)
        callee.wait_for(
            CallState, 5, lambda x, r=r: x.call_state == S.ON_HOOK and x.call_reference == r
        )
    # a busy phone does not answer a second call by itself: call waiting
    a.send(EnblocCall(called_party="1003"))
    state(c, S.CONNECTED)
    b.send(EnblocCall(called_party="1003"))
    ring_in(c)
    hang_up(b)
    hang_up(a)
    clean(rig, a, b, c)


# --- 7. barge -------------------------------------------------------------------------------------

BARGE_SET = """
[softkey_sets.barge]
KeySetInUseHint = ["NewCall", "Redial", "Barge"]
"""


def test_barge_takes_over_a_shared_line_call(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(tail=BARGE_SET, devices={S2: 'softkeys = "barge"'})
    a = rig.phone(A)
    s1, s2 = rig.phone(S1, "7961"), rig.phone(S2, "7961")
    sets = got(s2, SoftKeySetRes, 0)[-1].sets
    assert 21 in sets[SoftKeySetIndex.IN_USE_HINT].soft_key_template_index  # Barge, event 21
    a.send(EnblocCall(called_party="2000"))
    r1, r2 = ring_in(s1), ring_in(s2)
    s1.send(OffHook(line_instance=1, call_reference=r1))
    state(a, S.CONNECTED)
    state(s2, S.CALL_REMOTE_MULTILINE)
    keys = wait(
        s2, SelectSoftKeys, call_reference=r2, soft_key_set_index=SoftKeySetIndex.IN_USE_HINT
    )
    assert keys.valid_key_mask & (1 << 2)  # Barge, third of the set, is offered
    media_flows(a, s1)
    m1 = mark(s1)
    s2.send(SoftKeyEvent(soft_key_event=K.BARGE, line_instance=1, call_reference=r2))
    s2.wait_for(CallState, 5, lambda m: m.call_state == S.CONNECTED and m.call_reference == r2)
    s1.wait_for(
        CallState, 5, lambda m: m.call_state == S.CALL_REMOTE_MULTILINE and m.call_reference == r1
    )
    assert wait(s1, DisplayNotify).text.startswith(label(Label.BARGE))
    assert got(s1, SetMicroMode, m1) == []
    a.rtp_in.clear()
    s2.rtp_in.clear()
    media_flows(a, s2)
    hang_up(s2, r2)
    state(a, S.ON_HOOK)
    (row,) = records(rig, 1)
    assert (row["called"], row["callee_device"]) == ("2000", s2.name)
    clean(rig, a, s1, s2)


# --- iDivert (forward to voicemail by hand) --------------------------------------------------


def test_idivert_sends_a_ringing_or_connected_caller_to_voicemail(
    make_rig: Callable[..., Rig],
) -> None:
    """Voicemail is 1003 on this site: C stands for it and sees whose call it is."""
    rig = make_rig()
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    a.send(EnblocCall(called_party="1002"))
    rb = ring_in(b)
    b.send(SoftKeyEvent(soft_key_event=K.IDIVERT, line_instance=1, call_reference=rb))
    b.wait_for(CallState, 5, lambda m: m.call_state == S.ON_HOOK and m.call_reference == rb)
    rc = ring_in(c)
    info = wait(c, CallInfo, call_reference=rc)
    assert (info.calling_party, info.last_redirecting_party, info.last_redirecting_reason) == (
        "1001",
        "1002",
        4,
    )
    wait(c, DisplayPromptStatus, prompt_status="1001 diverted by 1002")
    c.send(OffHook(line_instance=1, call_reference=rc))
    media_flows(a, c)
    hang_up(a)
    state(c, S.ON_HOOK)
    # on a connected call: the far party goes to voicemail, this call ends
    _ra, rb = call_a_to_b(rig, a, b)
    b.send(SoftKeyEvent(soft_key_event=K.IDIVERT, line_instance=1, call_reference=rb))
    b.wait_for(CallState, 5, lambda m: m.call_state == S.ON_HOOK and m.call_reference == rb)
    rc = ring_in(c)
    assert wait(c, CallInfo, call_reference=rc).last_redirecting_party == "1002"
    c.send(OffHook(line_instance=1, call_reference=rc))
    a.rtp_in.clear()
    media_flows(a, c)
    hang_up(a)
    rows = records(rig, 3)
    assert sorted((r["called"], r["redirect_reason"], r["cause"]) for r in rows) == [
        ("1002", "", "REDIRECTION_TO_NEW_DESTINATION"),  # the connected call B sent on
        ("1002", "divert", "NORMAL_CLEARING"),  # rang B, answered at voicemail (C)
        ("1003", "divert", "NORMAL_CLEARING"),  # A's new call to voicemail
    ]
    clean(rig, a, b, c)


# --- every key of these features answers -------------------------------------------------------

OFFICE_BUTTONS = "".join(
    feature_button(f)
    for f in ("forward_busy", "forward_no_answer", "group_pickup", "hlog", "barge", "idivert")
)
VISIBLE = (DisplayNotify, DisplayPriNotify, DisplayPromptStatus, CallState)


def answered(rig: Rig, p: SimPhone, press: Message, what: str) -> list[Message]:
    """Press a key on an idle phone: something shows; the phone is idle again after."""
    m = mark(p)
    p.send(press)
    for _ in range(50):
        shown = [x for x in p.received[m:] if isinstance(x, VISIBLE)]
        if shown:
            break
        time.sleep(0.05)
    assert shown, f"{what}: no visible answer"
    assert not [
        x
        for x in p.received[m:]
        if isinstance(x, DisplayNotify) and x.text == label(Label.KEY_IS_NOT_ACTIVE)
    ], what
    entry = [x for x in shown if isinstance(x, CallState) and x.call_state == S.OFF_HOOK]
    if entry:  # a feature that collects a number: press EndCall to leave it
        ref = entry[0].call_reference
        p.send(SoftKeyEvent(soft_key_event=K.END_CALL, line_instance=1, call_reference=ref))
        p.wait_for(CallState, 5, lambda x: x.call_state == S.ON_HOOK and x.call_reference == ref)
    quiet(rig)
    return shown


def test_every_office_key_answers(make_rig: Callable[..., Rig]) -> None:
    """Each softkey of these features, each fixed feature key and each feature button: pressed
    where it has nothing to act on, the phone says so or starts the feature; never silence,
    never "Key is not active"."""
    rig = make_rig(a_buttons=OFFICE_BUTTONS, devices={A: 'expansion_modules = ["7914"]'})
    a = rig.phone(A)
    for key in (
        K.CFWD_ALL,
        K.CFWD_BUSY,
        K.CFWD_NO_ANSWER,
        K.PARK,
        K.PICKUP,
        K.GROUP_PICKUP,
        K.DND,
        K.DND,
        K.IDIVERT,
        K.BARGE,
        K.HLOG,
        K.HLOG,
    ):
        answered(
            rig, a, SoftKeyEvent(soft_key_event=key, line_instance=1, call_reference=0), str(key)
        )
    for stim in (
        StimulusType.FORWARD_ALL,
        StimulusType.FORWARD_BUSY,
        StimulusType.FORWARD_NO_ANSWER,
        StimulusType.CALL_PARK,
        StimulusType.CALL_PICKUP,
        StimulusType.GROUP_CALL_PICKUP,
        StimulusType.OTHER_PICKUP,
        StimulusType.DO_NOT_DISTURB,
        StimulusType.DO_NOT_DISTURB,
        StimulusType.HUNT_GROUP,
        StimulusType.HUNT_GROUP,
    ):
        answered(rig, a, Stimulus(stimulus=stim, stimulus_instance=1), str(stim))
    titles = []
    for i in range(1, 7):
        titles.append(got(a, FeatureStat, 0, feature_index=i)[0].feature_text_label)
        answered(
            rig, a, Stimulus(stimulus=StimulusType.FEATURE, stimulus_instance=i), f"button {i}"
        )
    assert titles == [
        "Forward Busy",
        "Forward No Answer",
        "Group Pickup",
        "Hunt Group",
        "Barge",
        "iDivert",
    ]
    # the template declares Barge and HLog with their built-in labels (67, 92)
    from skinnyctl.sccp import SoftKeyTemplateReq, SoftKeyTemplateRes

    template = a.ask(SoftKeyTemplateReq(), SoftKeyTemplateRes)
    events = {d.soft_key_event: d.soft_key_label for d in template.definitions}
    assert (events[K.BARGE], events[K.HLOG]) == (label(67), label(92))
    clean(rig, a)


# --- the control API, and what survives a restart -------------------------------------------

SERVE_SITE = """
[server]
addresses = ["127.0.0.1"]
listen = "127.0.0.1"
sccp_port = {sccp}
tftp_root = "tftp"
tftp_port = {tftp}
rtp_port_min = {rtp}
rtp_port_max = {rtp_max}

[[lines]]
number = "1001"
[[lines]]
number = "1002"
[[lines]]
number = "1003"

[[devices]]
mac = "001120AABB01"
model = "7960"
[[devices.buttons]]
type = "line"
line = "1001"

[[devices]]
mac = "001120AABB02"
model = "7961"
[[devices.buttons]]
type = "line"
line = "1002"

[[devices]]
mac = "001120AABB03"
model = "7960"
[[devices.buttons]]
type = "line"
line = "1003"

[[dialplan]]
pattern = "^(1[0-9]{{3}}|7[0-9]{{2}})$"
action = "process"

[park]
slots = "701-702"
"""


def test_forward_from_the_control_api_and_settings_kept_across_a_restart(tmp_path: Path) -> None:
    """`skinnyctl forward`, `status lines` and `status calls` against `skinnyctl serve` in a
    subprocess; the forward and a phone's DND are there again after the server restarts."""
    import os
    import socket

    from tests.test_control import start, stop
    from tests.test_register import free_port
    from tests.tshark import assert_clean

    (tmp_path / "tftp").mkdir()
    rtp = 43000 + (os.getpid() % 400) * 40
    site = tmp_path / "site.toml"
    site.write_text(
        SERVE_SITE.format(
            sccp=free_port(), tftp=free_port(socket.SOCK_DGRAM), rtp=rtp, rtp_max=rtp + 39
        )
    )
    written = site.read_text()
    served = start(site)
    phones: list[SimPhone] = []
    try:
        a, b, c = (
            served.phone(f"001120AABB0{i}", m) for i, m in ((1, "7960"), (2, "7961"), (3, "7960"))
        )
        phones += [a, b, c]
        out = served.cli("forward", "1002", "1003").stdout
        assert "line 1002: all>1003*" in out
        fwd = wait(b, ForwardStat, forward_all_active=1)  # pushed to the line's phone
        assert fwd.forward_all_dirnum == "1003"
        wait(b, DisplayPromptStatus, prompt_status=label(Label.FORWARDED_TO, " 1003"))
        bad = served.cli("forward", "1002", "4444", check=False)
        assert bad.returncode != 0 and "leads nowhere" in bad.stderr
        assert served.cli("forward", "1001", "1003", "--no-answer").returncode == 0
        lines = {ln["number"]: ln for ln in served.json("status", "lines")}
        assert lines["1002"]["forward"]["forward_all"] == "1003"
        assert lines["1001"]["forward"]["forward_no_answer"] == "1003"
        assert lines["1002"]["forward"]["set_at_run_time"] == ["all"]
        table = served.cli("status", "lines").stdout
        assert "all>1003*" in table and "no answer>1003 after 20s*" in table
        # it works: a call to 1002 rings 1003
        a.send(EnblocCall(called_party="1002"))
        rc = ring_in(c)
        c.send(OffHook(line_instance=1, call_reference=rc))
        state(a, S.CONNECTED)
        assert a.media_flows_with(c)
        # C parks A; status calls shows it
        c.send(SoftKeyEvent(soft_key_event=K.PARK, line_instance=1, call_reference=rc))
        wait(c, DisplayPriNotify, text=label(Label.CALL_PARK_AT, " 701"))
        calls = served.json("status", "calls")
        assert [(p["slot"], p["parked"], p["parker"]) for p in calls["parked"]] == [
            ("701", "1001", "1003")
        ]
        assert [x["state"] for x in calls["calls"]] == ["parked"]
        table = served.cli("status", "calls").stdout
        assert "Parked:" in table and "701" in table
        hang_up(a)
        b.send(SoftKeyEvent(soft_key_event=K.DND, line_instance=1, call_reference=0))
        wait(b, DisplayNotify, text="Do Not Disturb")
        for p in phones:
            assert_clean(list(p.frames))
            p.close()
        phones.clear()
        stop(served)
        saved = json.loads((tmp_path / "state" / "features.json").read_text())
        assert saved["dnd"] == ["SEP001120AABB02"]
        # the restarted server knows them: shown at registration and in status
        served = start(site)
        b = served.phone("001120AABB02", "7961")
        phones.append(b)
        assert got(b, ForwardStat, 0, line_number=1)[0].forward_all_dirnum == "1003"
        wait(b, DisplayPromptStatus, prompt_status="Do Not Disturb")
        lines = {ln["number"]: ln for ln in served.json("status", "lines")}
        assert lines["1002"]["forward"]["forward_all"] == "1003"
        assert served.cli("forward", "1002", "off").returncode == 0
        assert wait(b, ForwardStat, forward_all_active=0).line_number == 1
        assert served.cli("forward", "1001", "site", "--no-answer").returncode == 0
        lines = {ln["number"]: ln for ln in served.json("status", "lines")}
        assert lines["1001"]["forward"]["set_at_run_time"] == []
        assert site.read_text() == written  # site.toml itself is never written
        assert_clean(list(b.frames))
    finally:
        for p in phones:
            p.close()
        stop(served)
