"""Calls between simulated phones over real TCP against the in-process server (SccpServer +
call layer + RTP relay + CDR store), with a controlled clock. Every frame the phones exchanged is
checked with tshark; media is real RTP through the relay."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from skinnyctl.calls import FakeClock
from skinnyctl.calls.cdr import CdrStore
from skinnyctl.calls.manager import CallManager
from skinnyctl.media import Relay
from skinnyctl.phone import SimPhone
from skinnyctl.runtime import SccpServer
from skinnyctl.sccp import (
    CallInfo,
    CallState,
    CallStateValue,
    CloseReceiveChannel,
    DialedNumber,
    DisplayPromptStatus,
    EnblocCall,
    KeypadButton,
    LampMode,
    Message,
    OffHook,
    OnHook,
    OpenReceiveChannel,
    SelectSoftKeys,
    SetLamp,
    SetRinger,
    SoftKeyEvent,
    SoftKeyEventValue,
    SoftKeySetIndex,
    StartMediaTransmission,
    StartTone,
    Stimulus,
    StimulusType,
    StopMediaTransmission,
    StopTone,
    Tone,
)
from skinnyctl.site import load_site
from tests.test_register import free_port
from tests.tshark import assert_clean

S = CallStateValue
K = SoftKeyEventValue
A, B, C = "001120CA0001", "001120CA0002", "001120CA0003"
S1, S2, S3 = "001120CA0011", "001120CA0012", "001120CA0013"

SITE = """
[server]
listen = "127.0.0.1"
sccp_port = {port}
tftp_root = "tftp"
voicemail = "1003"
rtp_port_min = {rtp_min}
rtp_port_max = {rtp_max}

[[lines]]
number = "1001"
display_name = "Alice"
caller_name = "Alice A."
[[lines]]
number = "1002"
display_name = "Bob"
[[lines]]
number = "1003"
display_name = "Carol"
[[lines]]
number = "2000"
display_name = "Support"
[[lines]]
number = "5123"
display_name = "Long"

[[devices]]
mac = "{a}"
model = "7960"
[[devices.buttons]]
type = "line"
line = "1001"
[[devices.buttons]]
type = "speed_dial"
number = "1002"

[[devices]]
mac = "{b}"
model = "7961"
[[devices.buttons]]
type = "line"
line = "1002"

[[devices]]
mac = "{c}"
model = "7960"
[[devices.buttons]]
type = "line"
line = "1003"
[[devices.buttons]]
type = "line"
line = "5123"

{shared}

[[dialplan]]
pattern = "^(1[0-9]{{3}}|2000)$"
action = "process"
[[dialplan]]
pattern = "^5[0-9]*$"
action = "wait"
timeout = 2
[[dialplan]]
pattern = "^9"
action = "drop"
"""

SHARED = "".join(
    f'[[devices]]\nmac = "{m}"\nmodel = "7961"\n[[devices.buttons]]\ntype = "line"\n'
    'line = "2000"\n\n'
    for m in (S1, S2, S3)
)


class Rig:
    def __init__(
        self,
        tmp: Path,
        media: str = "relay",
        rtp_span: int = 63,
        extra: str = "",
        a_buttons: str = "",
        tail: str = "",
    ) -> None:
        """``rtp_span``: rtp_port_max - rtp_port_min (8 = room for 4 relay legs, 2 calls);
        ``extra``: more [server] keys; ``a_buttons``: more [[devices.buttons]] for phone A;
        ``tail``: more tables at the end of the site."""
        (tmp / "tftp").mkdir(exist_ok=True)
        rtp_min = 30000 + (os.getpid() % 300) * 64
        text = SITE.format(
            port=free_port(),
            rtp_min=rtp_min,
            rtp_max=rtp_min + rtp_span,
            a=A,
            b=B,
            c=C,
            shared=SHARED,
        )
        text = text.replace('tftp_root = "tftp"', f'tftp_root = "tftp"\nmedia = "{media}"\n{extra}')
        text = text.replace(f'[[devices]]\nmac = "{B}"', f'{a_buttons}\n[[devices]]\nmac = "{B}"')
        (tmp / "site.toml").write_text(text + tail)
        self.site = load_site(tmp / "site.toml")
        self.clock = FakeClock()
        self.core = CallManager(self.site, self.clock)
        self.calls = self.core.phones
        self.server = SccpServer(self.site, "127.0.0.1", 0, clock=self.clock, core=self.core)
        self.relay = Relay("127.0.0.1", rtp_min, rtp_min + rtp_span)
        self.cdr = CdrStore(tmp / "state" / "cdr.sqlite")
        self.server.call_edge.relay = self.relay
        self.server.call_edge.cdr = self.cdr
        self.phones: list[SimPhone] = []

    def start(self) -> None:
        self.relay.start()
        self.server.start()

    def stop(self) -> None:
        for p in self.phones:
            p.close()
        self.server.stop()
        self.relay.stop()
        self.cdr.close()

    def phone(self, mac: str, model: str = "7960", **options: Any) -> SimPhone:
        p = SimPhone("127.0.0.1", self.server.port, mac, model, **options).connect()
        self.phones.append(p)
        p.register(keepalive=False)
        return p

    def snapshot(self) -> list[dict[str, Any]]:
        return self.server.call(lambda core: core.calls_snapshot())

    def settle(self) -> None:
        """Wait until the core has handled everything sent so far."""
        self.server.call(lambda core: None)

    def __enter__(self) -> Rig:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def direct_rig(tmp_path: Path) -> Iterator[Rig]:
    with Rig(tmp_path, media="direct") as r:
        yield r


# --- helpers ------------------------------------------------------------------------------------


def state(p: SimPhone, value: int, timeout: float = 5.0) -> CallState:
    return p.wait_for(CallState, timeout, lambda m: m.call_state == value)


def mark(p: SimPhone) -> int:
    return len(p.received)


def after(p: SimPhone, start: int) -> list[Message]:
    return list(p.received[start:])


def in_order(msgs: list[Message], *expected: tuple[type, dict[str, Any]]) -> None:
    """Each expected (type, fields) appears in ``msgs``, in this order."""
    i = 0
    for cls, fields in expected:
        while i < len(msgs):
            m = msgs[i]
            i += 1
            if isinstance(m, cls) and all(getattr(m, k) == v for k, v in fields.items()):
                break
        else:
            names = [type(m).__name__ for m in msgs]
            raise AssertionError(f"{cls.__name__} {fields} not found in order in {names}")


def expect(p: SimPhone, since: int, *expected: tuple[type, dict[str, Any]]) -> None:
    """``in_order`` on what ``p`` received after ``since``, waiting for late messages."""
    import time

    for _ in range(50):
        try:
            in_order(after(p, since), *expected)
            return
        except AssertionError:
            time.sleep(0.1)
    in_order(after(p, since), *expected)


def dial(p: SimPhone, digits: str, ref: int, line: int = 1) -> None:
    for d in digits:
        btn = {"*": 14, "#": 15}.get(d, int(d) if d.isdigit() else 0)
        p.send(KeypadButton(kp_button=btn, line_instance=line, call_reference=ref))


def settled(rig: Rig, cond: Callable[[], bool], what: str) -> None:
    for _ in range(100):
        rig.settle()
        if cond():
            return
        import time

        time.sleep(0.02)
    raise AssertionError(f"never: {what}")


def call_a_to_b(rig: Rig, a: SimPhone, b: SimPhone) -> tuple[int, int]:
    """A lifts the handset and dials 1002; B answers with the handset. (refA, refB)."""
    a.send(OffHook(line_instance=1, call_reference=0))
    ra = state(a, S.OFF_HOOK).call_reference
    dial(a, "1002", ra)
    state(a, S.RING_OUT)
    rb = state(b, S.RING_IN).call_reference
    b.send(OffHook(line_instance=1, call_reference=rb))
    state(a, S.CONNECTED)
    state(b, S.CONNECTED)
    return ra, rb


def media_flows(x: SimPhone, y: SimPhone) -> None:
    """RTP from x reaches y and back (through the relay, or directly)."""
    for _ in range(50):
        if x.media_to is not None and y.media_to is not None:
            break
        time.sleep(0.05)
    assert x.media_to and y.media_to, "StartMediaTransmission never came"
    assert x.media_flows_with(y), f"no RTP between {x.name} and {y.name}"


def clean(rig: Rig, *phones: SimPhone) -> None:
    """Every frame both ways is clean in tshark (after the server has said everything)."""
    import time

    rig.settle()
    for p in phones:
        n = -1
        while n != len(p.frames):  # the last messages are still on their way
            n = len(p.frames)
            time.sleep(0.1)
        assert_clean(list(p.frames))


def idle(p: SimPhone, since: int) -> None:
    """The on-hook block (§7.9) was sent after ``since``."""
    expect(
        p,
        since,
        (StopTone, {}),
        (SetLamp, {"stimulus": StimulusType.LINE, "lamp_mode": LampMode.OFF}),
        (CallState, {"call_state": S.ON_HOOK}),
        (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.ON_HOOK}),
        (SetRinger, {"ring_mode": 1}),
    )


# --- 1. new call, 2. routing, 3. answer, 7. end, 9. media, 10. CDR ------------------------------


def test_call_answer_media_hangup_and_cdr(rig: Rig) -> None:
    a, b = rig.phone(A), rig.phone(B, "7961")
    m0a, m0b = mark(a), mark(b)
    a.send(OffHook(line_instance=1, call_reference=0))
    ra = state(a, S.OFF_HOOK).call_reference
    dial(a, "1002", ra)
    state(a, S.RING_OUT)
    rb = state(b, S.RING_IN).call_reference
    expect(  # §7.3 off-hook, first digit, routing, §7.4 ring-out
        a,
        m0a,
        (SetLamp, {"stimulus": StimulusType.LINE, "lamp_mode": LampMode.ON}),
        (CallState, {"call_state": S.OFF_HOOK, "call_reference": ra}),
        (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.OFF_HOOK}),
        (StartTone, {"tone": Tone.INSIDE_DIAL_TONE}),
        (StopTone, {}),
        (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.DIGITS_AFTER_DIALING_FIRST_DIGIT}),
        (DialedNumber, {"dialed_number": "1002"}),
        (CallState, {"call_state": S.PROCEED}),
        (CallInfo, {"called_party": "1002", "call_type": 2}),
        (StartTone, {"tone": Tone.ALERTING_TONE}),
        (CallState, {"call_state": S.RING_OUT}),
        (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.RING_OUT}),
    )
    expect(  # callee rings with the caller's name (the line's caller_name)
        b,
        m0b,
        (CallState, {"call_state": S.RING_IN}),
        (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.RING_IN}),
        (
            CallInfo,
            {
                "calling_party": "1001",
                "calling_party_name": "Alice A.",
                "called_party": "1002",
                "called_party_name": "Bob",
                "call_type": 1,
            },
        ),
        (SetLamp, {"lamp_mode": LampMode.BLINK}),
        (SetRinger, {"ring_mode": 2}),
    )
    m1b = mark(b)
    b.send(SoftKeyEvent(soft_key_event=K.ANSWER, line_instance=1, call_reference=rb))
    state(a, S.CONNECTED)
    state(b, S.CONNECTED)
    b.wait_for(StartMediaTransmission)  # after the phone's OpenReceiveChannelAck
    expect(
        b,
        m1b,
        (SetRinger, {"ring_mode": 1}),
        (SetLamp, {"lamp_mode": LampMode.ON}),
        (CallState, {"call_state": S.OFF_HOOK}),
        (OpenReceiveChannel, {"call_reference": rb}),
        (CallState, {"call_state": S.CONNECTED}),
        (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.CONNECTED}),
        (StartMediaTransmission, {"remote_ip_addr": "127.0.0.1"}),
    )
    media_flows(a, b)
    smt = a.wait_for(StartMediaTransmission, 5)
    assert rig.site.server.rtp_port_min <= smt.remote_port_number <= rig.site.server.rtp_port_max
    snap = rig.snapshot()
    assert len(snap) == 1 and snap[0]["state"] == "connected"
    assert {leg["device_name"] for leg in snap[0]["legs"]} == {a.name, b.name}
    assert all(leg["rtp_phone"] for leg in snap[0]["legs"])

    m2a, m2b = mark(a), mark(b)
    b.send(OnHook(line_instance=1, call_reference=rb))  # the callee hangs up
    state(a, S.ON_HOOK)
    state(b, S.ON_HOOK)
    idle(a, m2a)
    idle(b, m2b)
    expect(a, m2a, (CloseReceiveChannel, {}), (StopMediaTransmission, {}))
    a.send(OnHook(line_instance=1, call_reference=ra))  # handset down later: a no-op
    settled(rig, lambda: rig.snapshot() == [], "call gone")
    records = rig.cdr.query("1002")
    assert len(records) == 1
    r = records[0]
    assert (r["caller"], r["called"], r["caller_device"], r["callee_device"]) == (
        "1001",
        "1002",
        a.name,
        b.name,
    )
    assert r["answer"] is not None and r["reason"] == "onhook"
    assert rig.relay.stats() == []  # relay legs closed
    clean(rig, a, b)


def test_new_call_ways_busy_reorder_backspace(rig: Rig) -> None:
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    # speed dial stimulus: 1002 rings at once
    a.send(Stimulus(stimulus=StimulusType.SPEED_DIAL, stimulus_instance=1))
    state(a, S.RING_OUT)
    rb = state(b, S.RING_IN).call_reference
    # B refuses with EndCall: A hears busy
    b.send(SoftKeyEvent(soft_key_event=K.END_CALL, line_instance=1, call_reference=rb))
    state(a, S.BUSY)
    a.wait_for(StartTone, 5, lambda m: m.tone == Tone.LINE_BUSY_TONE)
    a.send(SoftKeyEvent(soft_key_event=K.END_CALL, line_instance=1, call_reference=0))
    state(a, S.ON_HOOK)
    # Redial softkey: the last number again
    a.send(SoftKeyEvent(soft_key_event=K.REDIAL, line_instance=1, call_reference=0))
    rb = state(b, S.RING_IN).call_reference
    a.send(OnHook(line_instance=1, call_reference=0))
    state(b, S.ON_HOOK)
    # LastNumberRedial stimulus
    a.send(Stimulus(stimulus=StimulusType.LAST_NUMBER_REDIAL, stimulus_instance=1))
    state(b, S.RING_IN)
    a.send(OnHook(line_instance=1, call_reference=0))
    state(b, S.ON_HOOK)
    # voicemail key dials the configured extension (1003 here)
    a.send(Stimulus(stimulus=StimulusType.VOICEMAIL, stimulus_instance=0))
    info = c.wait_for(CallInfo, 5, lambda m: m.called_party == "1003")
    assert info.calling_party == "1001"
    a.send(OnHook(line_instance=1, call_reference=0))
    state(c, S.ON_HOOK)
    # NewCall softkey + Backspace, then EnblocCall of an unknown number: reorder
    m = mark(a)
    a.send(SoftKeyEvent(soft_key_event=K.NEW_CALL, line_instance=1, call_reference=0))
    ra = state(a, S.OFF_HOOK).call_reference
    dial(a, "7", ra)
    a.send(SoftKeyEvent(soft_key_event=K.BACKSPACE, line_instance=1, call_reference=ra))
    a.wait_for(SelectSoftKeys, 5, lambda s: s.soft_key_set_index == SoftKeySetIndex.OFF_HOOK)
    dial(a, "9", ra)  # the dialplan drops ^9: reorder
    a.wait_for(StartTone, 5, lambda t: t.tone == Tone.REORDER_TONE)
    expect(a, m, (DialedNumber, {"dialed_number": "9"}), (StartTone, {"tone": 0x25}))
    a.send(OnHook(line_instance=1, call_reference=ra))
    state(a, S.ON_HOOK)
    a.send(EnblocCall(called_party="4444"))
    a.wait_for(DisplayPromptStatus, 5, lambda p: p.prompt_status == "\x80\x38")
    a.send(OnHook(line_instance=1, call_reference=0))
    # Line stimulus on an idle line: dial tone
    a.send(Stimulus(stimulus=StimulusType.LINE, stimulus_instance=1))
    a.wait_for(StartTone, 5, lambda t: t.tone == Tone.INSIDE_DIAL_TONE)
    a.send(OnHook(line_instance=1, call_reference=0))
    settled(rig, lambda: rig.snapshot() == [], "all calls gone")
    clean(rig, a, b, c)


def test_dialplan_wait_timeout_process_and_drop(rig: Rig) -> None:
    a, c = rig.phone(A), rig.phone(C)
    a.send(OffHook(line_instance=1, call_reference=0))
    ra = state(a, S.OFF_HOOK).call_reference
    dial(a, "5123", ra)  # matches the wait rule (2 s): nothing routed yet
    settled(rig, lambda: rig.snapshot()[0]["legs"][0]["digits"] == "5123", "digits in")
    assert a.count(DialedNumber) == 0
    rig.clock.advance(1.5)
    rig.server.poke()
    rig.settle()
    assert a.count(DialedNumber) == 0
    rig.clock.advance(1.0)  # past the rule's 2 s
    rig.server.poke()
    assert a.wait_for(DialedNumber).dialed_number == "5123"
    rc = state(c, S.RING_IN)
    assert rc.line_instance == 2  # 5123 is C's second line
    a.send(OnHook(line_instance=1, call_reference=ra))
    state(c, S.ON_HOOK)
    clean(rig, a, c)


# --- shared line ---------------------------------------------------------------------------------


def test_shared_line_rings_three_one_answers_others_in_use(rig: Rig) -> None:
    a = rig.phone(A)
    shared = [rig.phone(m, "7961") for m in (S1, S2, S3)]
    a.send(EnblocCall(called_party="2000"))
    refs = [state(s, S.RING_IN).call_reference for s in shared]
    for s in shared:
        s.wait_for(CallInfo, 5, lambda m: m.called_party == "2000" and m.calling_party == "1001")
        s.wait_for(SetRinger, 5, lambda m: m.ring_mode == 2)
    marks = [mark(s) for s in shared]
    shared[1].send(Stimulus(stimulus=StimulusType.LINE, stimulus_instance=1))  # Line button
    state(shared[1], S.CONNECTED)
    state(a, S.CONNECTED)
    for i in (0, 2):
        state(shared[i], S.CALL_REMOTE_MULTILINE)
        expect(
            shared[i],
            marks[i],
            (SetLamp, {"lamp_mode": LampMode.ON}),
            (CallState, {"call_state": S.CALL_REMOTE_MULTILINE, "call_reference": refs[i]}),
            (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.IN_USE_HINT}),
            (DisplayPromptStatus, {"prompt_status": "\x80\x1f"}),
            (SetRinger, {"ring_mode": 1}),
        )
    media_flows(a, shared[1])
    marks = [mark(s) for s in shared]
    a.send(SoftKeyEvent(soft_key_event=K.END_CALL, line_instance=1, call_reference=0))
    for s, m in zip(shared, marks, strict=True):
        state(s, S.ON_HOOK)
        idle(s, m)
    settled(rig, lambda: rig.snapshot() == [], "call gone")
    clean(rig, a, *shared)


# --- 4. several calls, call waiting; 5. hold/resume with music on hold ----------------------------


def test_hold_resume_music_and_call_waiting(rig: Rig) -> None:
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    ra, rb = call_a_to_b(rig, a, b)
    media_flows(a, b)
    mb = mark(b)
    b.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=rb))
    state(b, S.HOLD)
    expect(
        b,
        mb,
        (CloseReceiveChannel, {"call_reference": rb}),
        (StopMediaTransmission, {"call_reference": rb}),
        (SetLamp, {"lamp_mode": LampMode.WINK}),
        (CallState, {"call_state": S.HOLD}),
        (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.ON_HOLD}),
        (DisplayPromptStatus, {"prompt_status": "\x80\x03"}),
    )
    # A hears music: RTP from the relay that is not B's
    bs = int(b.mac[-8:], 16)
    a.rtp_in.clear()
    music = a.wait_rtp(lambda p: p.ssrc != bs, 5)
    assert music.payload_type == 0
    b.send(SoftKeyEvent(soft_key_event=K.RESUME, line_instance=1, call_reference=rb))
    state(b, S.CONNECTED)
    b.wait_for(StartMediaTransmission)
    b.rtp_in.clear()
    a.rtp_in.clear()
    media_flows(a, b)
    # call waiting: C calls B while B talks to A
    c.send(EnblocCall(called_party="1002"))
    rw = b.wait_for(CallState, 5, lambda m: m.call_state == S.RING_IN).call_reference
    b.wait_for(StartTone, 5, lambda t: t.tone == Tone.CALL_WAITING_TONE)
    # B answers the waiting call: A's call goes on hold on B
    b.send(SoftKeyEvent(soft_key_event=K.ANSWER, line_instance=1, call_reference=rw))
    hold = state(b, S.HOLD)
    assert hold.call_reference == rb
    state(c, S.CONNECTED)
    media_flows(b, c)
    # switch back: Hold stimulus is not needed, Resume on the held call holds C's
    b.send(SoftKeyEvent(soft_key_event=K.RESUME, line_instance=1, call_reference=rb))
    assert state(b, S.HOLD).call_reference == rw
    snap = {s["caller"]: s["state"] for s in rig.snapshot()}
    assert snap == {"1001": "connected", "1003": "held"}
    # end both from the far sides
    a.send(OnHook(line_instance=1, call_reference=ra))
    c.send(OnHook(line_instance=1, call_reference=0))
    settled(rig, lambda: rig.snapshot() == [], "calls gone")
    assert len(rig.cdr.query("1002")) == 2
    clean(rig, a, b, c)


# --- 6. transfer ---------------------------------------------------------------------------


def _consult(rig: Rig, a: SimPhone, b: SimPhone, c: SimPhone, how: str) -> tuple[int, int]:
    _ra, rb = call_a_to_b(rig, a, b)
    if how == "stimulus":
        b.send(Stimulus(stimulus=StimulusType.TRANSFER, stimulus_instance=1))
    else:
        b.send(SoftKeyEvent(soft_key_event=K.TRANSFER, line_instance=1, call_reference=rb))
    state(b, S.HOLD)
    b.wait_for(
        SelectSoftKeys, 5, lambda s: s.soft_key_set_index == SoftKeySetIndex.OFF_HOOK_WITH_FEATURES
    )
    ry = state(b, S.OFF_HOOK).call_reference
    dial(b, "1003", ry)
    state(b, S.RING_OUT)
    return ry, rb


def test_attended_transfer_a_and_c_talk(rig: Rig) -> None:
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    ry, rb = _consult(rig, a, b, c, "softkey")
    rc = state(c, S.RING_IN).call_reference
    c.send(OffHook(line_instance=1, call_reference=rc))
    state(c, S.CONNECTED)
    media_flows(b, c)
    mb = mark(b)
    b.send(SoftKeyEvent(soft_key_event=K.TRANSFER, line_instance=1, call_reference=ry))
    # B: both calls end
    state(b, S.ON_HOOK)
    state(b, S.ON_HOOK)
    refs = {m.call_reference for m in after(b, mb) if isinstance(m, CallState)}
    assert refs >= {ry, rb}
    # C is now told it talks to A, and A to C
    c.wait_for(CallInfo, 5, lambda m: m.calling_party == "1001" or m.called_party == "1001")
    a.wait_for(CallInfo, 5, lambda m: "1003" in (m.called_party, m.calling_party))
    a.rtp_in.clear()
    c.rtp_in.clear()
    media_flows(a, c)
    snap = rig.snapshot()
    assert len(snap) == 1
    assert {leg["device_name"] for leg in snap[0]["legs"]} == {a.name, c.name}
    assert all(leg["device_name"] != b.name for s in snap for leg in s["legs"])
    c.send(OnHook(line_instance=1, call_reference=rc))
    state(a, S.ON_HOOK)
    settled(rig, lambda: rig.snapshot() == [], "calls gone")
    reasons = sorted(r["reason"] for r in rig.cdr.query())
    assert reasons == ["onhook", "transferred", "transferred"]
    clean(rig, a, b, c)


def test_blind_transfer_by_hanging_up_while_consult_rings(rig: Rig) -> None:
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    ry, _rb = _consult(rig, a, b, c, "stimulus")
    state(c, S.RING_IN)
    b.send(OnHook(line_instance=1, call_reference=ry))  # hang up while C rings
    state(b, S.ON_HOOK)
    state(b, S.ON_HOOK)
    c.wait_for(CallInfo, 5, lambda m: m.calling_party == "1001")  # C now sees A calling
    rc = c.received[-1]
    del rc
    c.send(SoftKeyEvent(soft_key_event=K.ANSWER, line_instance=1, call_reference=0))
    state(c, S.CONNECTED)
    a.rtp_in.clear()
    media_flows(a, c)
    snap = rig.snapshot()
    assert len(snap) == 1 and snap[0]["state"] == "connected"
    assert {leg["device_name"] for leg in snap[0]["legs"]} == {a.name, c.name}
    a.send(OnHook(line_instance=1, call_reference=0))
    state(c, S.ON_HOOK)
    settled(rig, lambda: rig.snapshot() == [], "calls gone")
    clean(rig, a, b, c)


def test_direct_media_phones_send_to_each_other(direct_rig: Rig) -> None:
    rig = direct_rig
    a, b = rig.phone(A), rig.phone(B, "7961")
    call_a_to_b(rig, a, b)
    media_flows(a, b)
    assert a.media_to == ("127.0.0.1", b.rtp_listen_port)
    assert b.media_to == ("127.0.0.1", a.rtp_listen_port)
    a.send(OnHook(line_instance=1, call_reference=0))
    state(b, S.ON_HOOK)
    clean(rig, a, b)


def test_device_lost_mid_call_ends_it_for_the_other(rig: Rig) -> None:
    a, b = rig.phone(A), rig.phone(B, "7961")
    call_a_to_b(rig, a, b)
    mb = mark(b)
    a.close()
    state(b, S.ON_HOOK)
    idle(b, mb)
    settled(rig, lambda: rig.snapshot() == [], "call gone")
    assert "device gone" in rig.cdr.query()[0]["reason"]


# --- early media (§7.4 "Early media") -----------------------------------------------------------


def test_early_media_caller_path_up_while_callee_rings(rig: Rig) -> None:
    a, b = rig.phone(A), rig.phone(B, "7961")
    m0a = mark(a)
    a.send(OffHook(line_instance=1, call_reference=0))
    ra = state(a, S.OFF_HOOK).call_reference
    dial(a, "1002", ra)
    rb = state(b, S.RING_IN).call_reference
    # before anyone answers: ring-out with the local alerting tone, then A's receive channel
    # opens and A is told to send to its relay leg (no Connected state yet)
    smt = a.wait_for(StartMediaTransmission, 5)
    expect(
        a,
        m0a,
        (StartTone, {"tone": Tone.ALERTING_TONE}),
        (CallState, {"call_state": S.RING_OUT}),
        (OpenReceiveChannel, {"call_reference": ra}),
        (StartMediaTransmission, {"call_reference": ra, "remote_ip_addr": "127.0.0.1"}),
    )
    assert not any(isinstance(m, CallState) and m.call_state == S.CONNECTED for m in after(a, m0a))
    got = after(a, m0a)
    ring_back = next(
        i for i, m in enumerate(got) if isinstance(m, StartTone) and m.tone == Tone.ALERTING_TONE
    )
    assert not any(isinstance(m, StopTone) for m in got[ring_back:])  # ring-back keeps playing
    assert rig.site.server.rtp_port_min <= smt.remote_port_number <= rig.site.server.rtp_port_max
    assert b.count(OpenReceiveChannel) == 0
    snap = rig.snapshot()[0]
    assert snap["state"] == "ringing"
    leg_a = next(x for x in snap["legs"] if x["device_name"] == a.name)
    assert leg_a["relay_port"] == smt.remote_port_number and leg_a["rtp_phone"]
    # A's early RTP reaches its relay leg while B still rings
    a.send_rtp(5)
    settled(
        rig,
        lambda: any(
            s["local_port"] == smt.remote_port_number and s["rx_packets"] > 0
            for s in rig.relay.stats()
        ),
        "A's early RTP at the relay",
    )
    # B answers: only B's side opens; B's first RTP reaches A without a new ORC to A
    b.send(OffHook(line_instance=1, call_reference=rb))
    state(a, S.CONNECTED)
    b.wait_for(StartMediaTransmission, 5)
    a.rtp_in.clear()
    for _ in range(50):
        b.send_rtp(3)
        try:
            a.wait_rtp(lambda p: p.ssrc == b.rtp_ssrc, 0.2)
            break
        except TimeoutError:
            continue
    else:
        raise AssertionError("B's RTP never reached A")
    assert a.count(OpenReceiveChannel) == 1 and a.count(StartMediaTransmission) == 1
    assert b.count(OpenReceiveChannel) == 1
    media_flows(a, b)
    a.send(OnHook(line_instance=1, call_reference=ra))
    state(b, S.ON_HOOK)
    settled(rig, lambda: rig.snapshot() == [] and rig.relay.stats() == [], "call and legs gone")
    clean(rig, a, b)


def test_early_media_closed_before_busy_tone(rig: Rig) -> None:
    a, b = rig.phone(A), rig.phone(B, "7961")
    a.send(EnblocCall(called_party="1002"))
    rb = state(b, S.RING_IN).call_reference
    a.wait_for(StartMediaTransmission, 5)
    m = mark(a)
    b.send(SoftKeyEvent(soft_key_event=K.END_CALL, line_instance=1, call_reference=rb))
    state(a, S.BUSY)
    expect(  # the 7910 plays no tone while a stream is open (§8.1): media closes first
        a,
        m,
        (CloseReceiveChannel, {}),
        (StopMediaTransmission, {}),
        (CallState, {"call_state": S.BUSY}),
        (StartTone, {"tone": Tone.LINE_BUSY_TONE}),
    )
    settled(rig, lambda: rig.relay.stats() == [], "A's relay leg closed")
    a.send(OnHook(line_instance=1, call_reference=0))
    state(a, S.ON_HOOK)
    settled(rig, lambda: rig.snapshot() == [], "call gone")
    clean(rig, a, b)


def test_early_media_direct_only_callee_opens_on_answer(direct_rig: Rig) -> None:
    rig = direct_rig
    a, b = rig.phone(A), rig.phone(B, "7961")
    a.send(EnblocCall(called_party="1002"))
    rb = state(b, S.RING_IN).call_reference
    a.wait_for(OpenReceiveChannel, 5)  # A's receive channel opens during ring-out
    settled(
        rig,
        lambda: any(x["rtp_phone"] for x in rig.snapshot()[0]["legs"]),
        "A's ack recorded",
    )
    assert a.media_to is None  # nowhere to send to until B answers
    b.send(SoftKeyEvent(soft_key_event=K.ANSWER, line_instance=1, call_reference=rb))
    media_flows(a, b)
    assert a.media_to == ("127.0.0.1", b.rtp_listen_port)
    assert a.count(OpenReceiveChannel) == 1
    a.send(OnHook(line_instance=1, call_reference=0))
    state(b, S.ON_HOOK)
    clean(rig, a, b)


# --- failed calls left off-hook (§7.10, §7.14 auto hang-up 15 s) ------------------------------


def test_busy_and_reorder_end_after_15_s_off_hook(rig: Rig) -> None:
    a, b = rig.phone(A), rig.phone(B, "7961")
    # busy: B refuses, A stays off-hook
    a.send(OffHook(line_instance=1, call_reference=0))
    ra = state(a, S.OFF_HOOK).call_reference
    dial(a, "1002", ra)
    rb = state(b, S.RING_IN).call_reference
    b.send(SoftKeyEvent(soft_key_event=K.END_CALL, line_instance=1, call_reference=rb))
    state(a, S.BUSY)
    m = mark(a)
    rig.clock.advance(14.9)
    rig.server.poke()
    rig.settle()
    assert not any(isinstance(x, CallState) for x in after(a, m))  # still busy
    assert rig.snapshot() != []
    rig.clock.advance(0.2)
    rig.server.poke()
    state(a, S.ON_HOOK)
    idle(a, m)
    expect(a, m, (StopTone, {"call_reference": ra}), (CallState, {"call_reference": ra}))
    settled(rig, lambda: rig.snapshot() == [], "busy call ended")
    a.send(OnHook(line_instance=1, call_reference=ra))  # handset down later: a no-op
    # reorder (unknown number) left off-hook ends the same way
    m = mark(a)
    a.send(EnblocCall(called_party="4444"))
    a.wait_for(StartTone, 5, lambda t: t.tone == Tone.REORDER_TONE)
    rig.clock.advance(15.0)
    rig.server.poke()
    state(a, S.ON_HOOK)
    settled(rig, lambda: rig.snapshot() == [], "reorder call ended")
    # the phone is clean: a new call starts with dial tone and rings B
    a.send(OffHook(line_instance=1, call_reference=0))
    ra = a.wait_for(CallState, 5, lambda s: s.call_state == S.OFF_HOOK).call_reference
    dial(a, "1002", ra)
    state(b, S.RING_IN)
    a.send(OnHook(line_instance=1, call_reference=ra))
    state(b, S.ON_HOOK)
    settled(rig, lambda: rig.snapshot() == [], "all gone")
    reasons = [r["reason"] for r in rig.cdr.query()]
    assert reasons.count("failed call left off-hook") == 2
    clean(rig, a, b)


# --- music on hold with direct media (§7.7) -----------------------------------------------------


def test_direct_media_hold_plays_music_from_the_relay_then_direct_again(direct_rig: Rig) -> None:
    rig = direct_rig
    lo, hi = rig.site.server.rtp_port_min, rig.site.server.rtp_port_max
    a, b = rig.phone(A), rig.phone(B, "7961")
    _ra, rb = call_a_to_b(rig, a, b)
    media_flows(a, b)
    assert rig.relay.stats() == []  # direct: the relay carries nothing
    ma = mark(a)
    b.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=rb))
    state(b, S.HOLD)
    # A (held) stops sending to B, whose receive channel is closed; its own stays open
    expect(a, ma, (StopMediaTransmission, {}))
    assert not any(isinstance(m, CloseReceiveChannel) for m in after(a, ma))
    a.rtp_in.clear()
    first = a.wait_rtp(lambda p: lo <= p.source[1] <= hi, 5)
    for _ in range(50):  # a second of music
        if sum(1 for p in a.rtp_in if p.source == first.source) >= 10:
            break
        time.sleep(0.05)
    music = [p for p in a.rtp_in if p.source == first.source][:10]
    assert len(music) == 10
    assert all(p.payload_type == 0 and len(p.payload) == 160 for p in music)  # µ-law, 20 ms
    assert len({p.ssrc for p in music}) == 1 and first.ssrc != b.rtp_ssrc
    seqs = [p.seq for p in music]
    assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs))
    assert len(set(b"".join(p.payload for p in music))) > 8  # music, not µ-law silence (0xFF)
    legs = rig.relay.stats()
    assert len(legs) == 1 and legs[0]["state"] == "held"
    assert legs[0]["remote"] == f"127.0.0.1:{a.rtp_listen_port}"
    snap = rig.snapshot()[0]
    assert snap["state"] == "held"
    assert any(x["music_on_hold"] for x in snap["legs"] if x["device_name"] == a.name)
    # resume: B reopens, both phones are pointed at each other again, the music leg closes
    mb = mark(b)
    b.send(SoftKeyEvent(soft_key_event=K.RESUME, line_instance=1, call_reference=rb))
    state(b, S.CONNECTED)
    expect(b, mb, (OpenReceiveChannel, {"call_reference": rb}), (StartMediaTransmission, {}))
    expect(a, ma, (StopMediaTransmission, {}), (StartMediaTransmission, {}))
    settled(rig, lambda: rig.relay.stats() == [], "music leg closed")
    assert a.media_to == ("127.0.0.1", b.rtp_listen_port)
    assert b.media_to == ("127.0.0.1", a.rtp_listen_port)
    a.rtp_in.clear()
    b.rtp_in.clear()
    media_flows(a, b)
    got = a.wait_rtp(lambda p: p.ssrc == b.rtp_ssrc, 5)
    assert got.source == ("127.0.0.1", b.rtp_listen_port)  # phone to phone, no relay
    a.send(OnHook(line_instance=1, call_reference=0))
    state(b, S.ON_HOOK)
    settled(rig, lambda: rig.snapshot() == [] and rig.calls.ports.used == set(), "all gone")
    clean(rig, a, b)


def test_direct_media_held_while_holding_hears_music_on_resume(direct_rig: Rig) -> None:
    rig = direct_rig
    lo, hi = rig.site.server.rtp_port_min, rig.site.server.rtp_port_max
    a, b = rig.phone(A), rig.phone(B, "7961")
    ra, rb = call_a_to_b(rig, a, b)
    media_flows(a, b)
    b.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=rb))
    state(b, S.HOLD)
    a.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=ra))
    state(a, S.HOLD)
    settled(rig, lambda: rig.relay.stats() == [], "no music into closed receive channels")
    b.send(SoftKeyEvent(soft_key_event=K.RESUME, line_instance=1, call_reference=rb))
    state(b, S.CONNECTED)
    b.rtp_in.clear()
    b.wait_rtp(lambda p: lo <= p.source[1] <= hi and p.payload_type == 0, 5)  # A still holds
    a.send(SoftKeyEvent(soft_key_event=K.RESUME, line_instance=1, call_reference=ra))
    state(a, S.CONNECTED)
    settled(rig, lambda: rig.relay.stats() == [], "music leg closed")
    media_flows(a, b)
    a.send(OnHook(line_instance=1, call_reference=0))
    state(b, S.ON_HOOK)
    clean(rig, a, b)


# --- shared line: remote hold and pick-up (§7.5) -----------------------------------------------


def test_shared_line_remote_hold_and_pickup_on_another_device(rig: Rig) -> None:
    a = rig.phone(A)
    s1, s2, s3 = (rig.phone(m, "7961") for m in (S1, S2, S3))
    a.send(EnblocCall(called_party="2000"))
    r1, r2, r3 = (state(s, S.RING_IN).call_reference for s in (s1, s2, s3))
    s2.send(SoftKeyEvent(soft_key_event=K.ANSWER, line_instance=1, call_reference=r2))
    state(a, S.CONNECTED)
    for s in (s1, s3):
        state(s, S.CALL_REMOTE_MULTILINE)
    media_flows(a, s2)
    # S2 holds: S1 and S3 show the call held remotely (17 on these 7961s), Resume offered
    m1, m3 = mark(s1), mark(s3)
    s2.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=r2))
    state(s2, S.HOLD)
    for s, m, r in ((s1, m1, r1), (s3, m3, r3)):
        state(s, S.REMOTE_HOLD)
        expect(
            s,
            m,
            (SetLamp, {"stimulus": StimulusType.LINE, "lamp_mode": LampMode.WINK}),
            (CallState, {"call_state": S.REMOTE_HOLD, "call_reference": r}),
            (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.ON_HOLD}),
            (DisplayPromptStatus, {"prompt_status": "\x80\x03"}),
        )
    a.rtp_in.clear()
    a.wait_rtp(lambda p: p.ssrc != s2.rtp_ssrc, 5)  # A hears music on hold
    snap = rig.snapshot()[0]
    assert {x["device_name"]: x["state"] for x in snap["legs"]} == {
        a.name: "connected",
        s1.name: "remote_hold",
        s2.name: "hold",
        s3.name: "remote_hold",
    }
    # S1 picks the held call up with Resume: S1 talks to A, S2 and S3 show it in use remotely
    m1, m2, m3 = mark(s1), mark(s2), mark(s3)
    s1.send(SoftKeyEvent(soft_key_event=K.RESUME, line_instance=1, call_reference=r1))
    state(s1, S.CONNECTED)
    expect(
        s1,
        m1,
        (SetLamp, {"lamp_mode": LampMode.ON}),
        (CallState, {"call_state": S.OFF_HOOK, "call_reference": r1}),
        (OpenReceiveChannel, {"call_reference": r1}),
        (CallState, {"call_state": S.CONNECTED, "call_reference": r1}),
        (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.CONNECTED}),
        (CallInfo, {"calling_party": "1001", "called_party": "2000"}),
    )
    for s, m, r in ((s2, m2, r2), (s3, m3, r3)):
        state(s, S.CALL_REMOTE_MULTILINE)
        expect(
            s,
            m,
            (SetLamp, {"lamp_mode": LampMode.ON}),
            (CallState, {"call_state": S.CALL_REMOTE_MULTILINE, "call_reference": r}),
            (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.IN_USE_HINT}),
        )
    a.rtp_in.clear()
    media_flows(a, s1)
    snap = rig.snapshot()[0]
    assert snap["state"] == "connected"
    assert {x["device_name"]: x["state"] for x in snap["legs"]} == {
        a.name: "connected",
        s1.name: "connected",
        s2.name: "remote",
        s3.name: "remote",
    }
    # S1 holds and resumes itself: the others follow (held remotely, then in use again)
    s1.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=r1))
    state(s2, S.REMOTE_HOLD)
    state(s3, S.REMOTE_HOLD)
    s1.send(Stimulus(stimulus=StimulusType.LINE, stimulus_instance=1))  # Line button resumes
    state(s1, S.CONNECTED)
    state(s2, S.CALL_REMOTE_MULTILINE)
    state(s3, S.CALL_REMOTE_MULTILINE)
    media_flows(a, s1)
    # A hangs up: every device carrying 2000 goes idle; one CDR
    marks = [mark(s) for s in (s1, s2, s3)]
    a.send(OnHook(line_instance=1, call_reference=0))
    for s, m in zip((s1, s2, s3), marks, strict=True):
        state(s, S.ON_HOOK)
        idle(s, m)
    settled(rig, lambda: rig.snapshot() == [] and rig.relay.stats() == [], "call gone")
    assert len(rig.cdr.query("2000")) == 1
    clean(rig, a, s1, s2, s3)


def test_shared_line_pickup_with_direct_media(direct_rig: Rig) -> None:
    rig = direct_rig
    a = rig.phone(A)
    s1, s2 = (rig.phone(m, "7961") for m in (S1, S2))
    a.send(EnblocCall(called_party="2000"))
    r1, r2 = (state(s, S.RING_IN).call_reference for s in (s1, s2))
    s2.send(SoftKeyEvent(soft_key_event=K.ANSWER, line_instance=1, call_reference=r2))
    media_flows(a, s2)
    s2.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=r2))
    state(s1, S.REMOTE_HOLD)
    s1.send(SoftKeyEvent(soft_key_event=K.RESUME, line_instance=1, call_reference=r1))
    state(s1, S.CONNECTED)
    state(s2, S.CALL_REMOTE_MULTILINE)
    settled(rig, lambda: rig.relay.stats() == [], "music leg closed")
    media_flows(a, s1)
    assert a.media_to == ("127.0.0.1", s1.rtp_listen_port)
    assert s1.media_to == ("127.0.0.1", a.rtp_listen_port)
    s1.send(SoftKeyEvent(soft_key_event=K.END_CALL, line_instance=1, call_reference=r1))
    state(a, S.ON_HOOK)
    state(s2, S.ON_HOOK)
    settled(rig, lambda: rig.snapshot() == [], "call gone")
    clean(rig, a, s1, s2)
