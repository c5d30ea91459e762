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
    DisplayPromptStatus,
    EnblocCall,
    FeatureStat,
    FeatureStatReq,
    ForwardStat,
    KeepAlive,
    LampMode,
    Message,
    OffHook,
    OnHook,
    SetLamp,
    SoftKeyEvent,
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
) -> Callable[[str], str]:
    """A site edit: ``lines`` number -> keys added to that [[lines]] entry, ``devices`` MAC ->
    keys added to that [[devices]] entry, ``tail`` sections appended."""

    def apply(text: str) -> str:
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
            p.send(KeepAlive())
        rig.settle()
        rig.clock.advance(step)
        rig.server.poke()
        rig.settle()
        seconds -= step


def ring_in(p: SimPhone, timeout: float = 5.0) -> int:
    return state(p, S.RING_IN, timeout).call_reference


def never_rings(rig: Rig, p: SimPhone, since: int) -> None:
    quiet(rig)
    assert not got(p, CallState, since, call_state=S.RING_IN), f"{p.name} rang"


def records(rig: Rig, count: int) -> list[dict[str, Any]]:
    settled(rig, lambda: len(rig.cdr.query()) >= count, f"{count} call records")
    rows = rig.cdr.query()
    assert len(rows) == count, rows
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


FORWARD_BUTTON = """
[[devices.buttons]]
type = "feature"
feature = "forward_all"
"""


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
