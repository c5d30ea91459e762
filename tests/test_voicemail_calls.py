"""Voicemail over TCP (issue 19's "Must show"): serve's own Service with the voicemail store and
notifier, simulated phones over real SCCP, their RTP through the media engine.

Leaving a message (the box dialled; a call sent on to voicemail by a line, as forwarding does)
with the caller's tone found in the stored WAV (FFT) and the lamp lit on every device of the
line; listening through the Messages key with keypad digits, the phone's RTP carrying the
recording (correlation), delete turning the lamps off; the menu's keys from another phone, call
back, three wrong PINs, a greeting recorded on the phone and played to the next caller, a PIN
changed, a silent caller reprompted then let go; every SCCP frame clean in tshark and the
played prompts valid 20 ms RTP streams in ``tshark -z rtp,streams``.
"""

from __future__ import annotations

import itertools
import shutil
import statistics
import tempfile
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skinnyctl.apps.voicemail import pins
from skinnyctl.apps.voicemail.prompts import builtin_dir
from skinnyctl.calls import causes
from skinnyctl.phone import SimPhone
from skinnyctl.sccp import (
    CallInfo,
    LampMode,
    OffHook,
    OnHook,
    SetLamp,
    SoftKeyEvent,
    SoftKeyEventValue,
    StimulusType,
)
from skinnyctl.sccp import CallStateValue as S
from tests.rtpphone import rtp_streams, write_udp_pcap
from tests.tshark import assert_clean
from tests.vmrig import (
    B2,
    PINS,
    A,
    B,
    C,
    Talker,
    VmRig,
    call,
    correlation,
    dominant_hz,
    hang_up,
    keys,
    lamp,
    messages_key,
    own_box,
    pcm_of,
    start_message,
    state,
    tone,
    wait_media,
    wav_pcm,
)


@pytest.fixture
def rig() -> Iterator[VmRig]:
    r = VmRig().start()
    try:
        yield r
    finally:
        r.stop()
        shutil.rmtree(r.dir, ignore_errors=True)


def chirp(seconds: float, f0: float = 300.0, f1: float = 1500.0) -> np.ndarray:
    """A sweep: unlike a steady tone, it matches itself at one offset only."""
    t = np.arange(int(seconds * 8000)) / 8000
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds))
    return np.round(9000 * np.sin(phase)).astype(np.int16)


def clean(rig: VmRig, *phones: SimPhone) -> None:
    """Every SCCP frame both ways is clean in tshark, once the server has said everything."""
    rig.settle()
    for p in phones:
        n = -1
        while n != len(p.frames):
            n = len(p.frames)
            time.sleep(0.1)
        assert_clean(list(p.frames))


def leave(rig: VmRig, p: SimPhone, box: str, pcm: np.ndarray) -> Any:
    """``p`` dials deposit_prefix + ``box``, skips the greeting with #, says ``pcm`` and
    presses #: the message kept."""
    before = {m.id for m in rig.messages(box)}
    ref = start_message(rig, p, box)
    Talker(p, pcm).start().wait()
    keys(p, "#", ref)
    rig.until(lambda: {m.id for m in rig.messages(box)} - before, "the message kept")
    hang_up(p, ref)
    state(p, S.ON_HOOK)
    (new,) = [m for m in rig.messages(box) if m.id not in before]
    rig.store.flush()
    return new


def handset_lamp(p: SimPhone, since: int = 0) -> bool | None:
    """The last MWI handset lamp ``p`` was told (None: never)."""
    got = [
        m.lamp_mode == LampMode.ON
        for m in p.received[since:]
        if isinstance(m, SetLamp)
        and m.stimulus == StimulusType.VOICEMAIL
        and m.stimulus_instance == 0
    ]
    return got[-1] if got else None


def seconds_of(names: list[str]) -> float:
    """The length of built-in prompts played back to back."""
    total = 0
    for name in names:
        with wave.open(str(builtin_dir() / f"{name}.wav"), "rb") as w:
            total += w.getnframes()
    return total / 8000


def heard(p: SimPhone, since: float) -> list[Any]:
    return [x for x in list(p.rtp_in) if x.at >= since and x.ssrc != p.rtp_ssrc]


def login(rig: VmRig, p: SimPhone, box: str, pin: str) -> tuple[int, int]:
    """From a phone without that box: the voicemail number, the box, the PIN; (ref, the
    main menu's play id)."""
    ref = call(p, "8000")
    state(p, S.CONNECTED)
    wait_media(p)
    rig.wait_play(p, "enter_mailbox")
    keys(p, box + "#", ref)
    pid = rig.wait_play(p, "enter_pin")
    keys(p, pin + "#", ref)
    return ref, rig.wait_play(p, "main_menu", after=pid)


def add_message(rig: VmRig, box: str, caller: str, pcm: np.ndarray) -> Any:
    """A message put in the store on the core thread (the menu tests' starting point; leaving
    one by phone is what the first tests show)."""
    path = rig.store.new_recording_path()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm.tobytes())

    def add(core: Any) -> list[Any]:
        got.append(rig.store.add_message(box, path, caller, "", rig.clock.wall(), len(pcm) / 8000))
        return core.voicemail.lamps()

    got: list[Any] = []
    rig.service.command(add)
    rig.store.flush()
    return got[0]


# --- leaving a message ---------------------------------------------------------------------------


def test_message_left_in_a_dialled_box_keeps_the_callers_tone_and_lights_every_lamp(
    rig: VmRig,
) -> None:
    a, b, b2, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(B2, "7961"), rig.phone(C)
    since = {p: len(p.received) for p in (a, b, b2, c)}
    ref = call(a, "*1002")
    state(a, S.CONNECTED)
    a.wait_for(
        CallInfo, 5, lambda m: (m.called_party, m.called_party_name) == ("*1002", "Voicemail 1002")
    )
    wait_media(a)
    rig.wait_play(a, "person_at_extension")
    playing = rig.playing(a)
    assert playing is not None
    assert playing[1] == [
        "silence", "person_at_extension", "one", "zero", "zero", "two",
        "is_not_available", "please_leave_message", "beep",
    ]  # fmt: skip
    rig.wait_recording(a)  # the whole greeting, the beep, then the recording
    Talker(a, tone(523, 2.0)).start().wait()
    keys(a, "#", ref)
    rig.wait_play(a, "message_sent")
    state(a, S.ON_HOOK, 15)  # "... recorded. thank you. goodbye.", then voicemail hangs up
    (m,) = rig.messages("1002")
    assert (m.box, m.caller, m.caller_name, m.new) == ("1002", "1001", "Alice", True)
    assert m.received == rig.clock.wall()
    assert 1.8 <= m.seconds <= 2.4
    rig.store.flush()
    pcm = wav_pcm(m.path)
    assert dominant_hz(pcm) == pytest.approx(523, abs=5)  # the caller's tone, by FFT
    for p in (b, b2):  # every device of the line: its line's icon and the handset lamp
        lamp(p, True, since[p])
        assert any(
            isinstance(x, SetLamp)
            and x.stimulus == StimulusType.VOICEMAIL
            and x.stimulus_instance == 1
            and x.lamp_mode == LampMode.ON
            for x in p.received[since[p] :]
        )
    assert handset_lamp(a, since[a]) is None and handset_lamp(c, since[c]) is None
    events = [e for e in rig.service.bus.recent if e.kind == "voicemail"]
    assert [(e.fields["box"], e.fields["message_id"], e.fields["caller"]) for e in events] == [
        ("1002", m.id, "1001")
    ]
    assert rig.service.cdr is not None
    rig.until(lambda: len(rig.service.cdr.query()) == 1, "a call record")  # type: ignore[union-attr]
    record = rig.service.cdr.query()[0]
    assert (record["called"], record["callee_device"], record["cause"]) == (
        "*1002",
        "app:voicemail",
        "NORMAL_CLEARING",
    )
    clean(rig, a, b, b2, c)


@pytest.mark.parametrize(
    ("reason", "said"), [("no_answer", "is_not_available"), ("busy", "is_busy")]
)
def test_a_call_a_line_sends_on_to_voicemail_leaves_the_message_in_that_lines_box(
    rig: VmRig, reason: str, said: str
) -> None:
    """What forwarding does (issue 16 builds it on Switch.redirect): 1002 rings, its channel
    sends the call on to the voicemail number; the message goes to 1002's box, the greeting
    says why. The caller hangs up to end the message."""
    a, b, b2 = rig.phone(A), rig.phone(B, "7961"), rig.phone(B2, "7961")
    since = len(b.received)
    ref = call(a, "1002")
    state(a, S.RING_OUT)
    state(b, S.RING_IN)
    state(b2, S.RING_IN)

    def forward(core: Any) -> list[Any]:
        (ringing,) = [c for c in core.switch.calls.values() if c.called == "1002"]
        return core.switch.redirect(ringing.offers[0], "8000", reason)

    rig.service.command(forward)
    state(b, S.ON_HOOK)
    state(b2, S.ON_HOOK)
    state(a, S.CONNECTED)
    wait_media(a)
    pid = rig.wait_play(a, said)
    playing = rig.playing(a)
    assert playing is not None and playing[1][1:7] == [
        "person_at_extension", "one", "zero", "zero", "two", said,
    ]  # fmt: skip
    keys(a, "#", ref)  # skips to the beep
    rig.wait_play(a, "beep", after=pid)
    rig.wait_recording(a)
    Talker(a, tone(659, 1.5)).start().wait()
    hang_up(a, ref)  # the recording ends with the call, and is kept
    rig.until(lambda: bool(rig.messages("1002")), "the message kept")
    (m,) = rig.messages("1002")
    assert m.caller == "1001" and rig.messages("1001") == []
    rig.store.flush()
    assert dominant_hz(wav_pcm(m.path)) == pytest.approx(659, abs=5)
    lamp(b, True, since)
    rig.until(lambda: len(rig.service.cdr.query()) == 1, "the call's record")  # type: ignore[union-attr]
    clean(rig, a, b, b2)


@pytest.mark.parametrize(
    ("forward", "said"),
    [("forward_no_answer", "is_not_available"), ("forward_busy", "is_busy")],
)
def test_a_line_forwarded_to_voicemail_by_site_toml_takes_the_message_in_its_box(
    forward: str, said: str
) -> None:
    """Forwarding (issue 16) meets voicemail (issue 19): 1002 has ``forward_no_answer`` (after
    ``no_answer_timeout``) or ``forward_busy`` (B refuses with EndCall) to the voicemail
    number; the caller hears 1002's greeting for that case and the message is 1002's.
    (B and B2 both refuse: one device's EndCall only stops its own ringing.)"""
    line = f'{forward} = "8000"\nno_answer_timeout = 5'
    r = VmRig(line1002=line).start()
    try:
        a, b, b2 = r.phone(A), r.phone(B, "7961"), r.phone(B2, "7961")
        since, since2 = len(b.received), len(b2.received)
        ref = call(a, "1002")
        rb = state(b, S.RING_IN).call_reference
        rb2 = state(b2, S.RING_IN).call_reference
        if forward == "forward_busy":  # the line refuses once no device of it rings
            for p, r_ in ((b, rb), (b2, rb2)):
                p.send(SoftKeyEvent(soft_key_event=SoftKeyEventValue.END_CALL, line_instance=1,
                                    call_reference=r_))  # fmt: skip
        else:
            r.advance(4)
            assert r.service.sccp.call(lambda core: len(core.switch.calls)) == 1  # still rings
            r.advance(2)
        state(b2, S.ON_HOOK)
        state(a, S.CONNECTED)
        wait_media(a)
        pid = r.wait_play(a, said)
        playing = r.playing(a)
        assert playing is not None and playing[1][1:7] == [
            "person_at_extension", "one", "zero", "zero", "two", said,
        ]  # fmt: skip
        keys(a, "#", ref)
        r.wait_play(a, "beep", after=pid)
        r.wait_recording(a)
        Talker(a, tone(587, 1.5)).start().wait()
        hang_up(a, ref)
        r.until(lambda: bool(r.messages("1002")), "the message kept")
        (m,) = r.messages("1002")
        assert m.caller == "1001"
        r.store.flush()
        assert dominant_hz(wav_pcm(m.path)) == pytest.approx(587, abs=5)  # the caller's tone
        lamp(b, True, since)  # on every device of the line
        lamp(b2, True, since2)
        r.until(lambda: len(r.service.cdr.query()) == 1, "the call's record")  # type: ignore[union-attr]
        (record,) = r.service.cdr.query()  # type: ignore[union-attr]
        reason = "no_answer" if forward == "forward_no_answer" else "busy"
        assert (record["redirected_from"], record["redirect_reason"]) == ("1002", reason)
    finally:
        r.stop()
        shutil.rmtree(r.dir, ignore_errors=True)


def test_a_message_shorter_than_a_second_is_dropped(rig: VmRig) -> None:
    a, b = rig.phone(A), rig.phone(B, "7961")
    since = len(b.received)
    ref = call(a, "*1002")
    state(a, S.CONNECTED)
    wait_media(a)
    rig.wait_play(a, "please_leave_message")
    keys(a, "#", ref)
    rig.wait_recording(a)
    Talker(a, tone(523, 0.4)).start().wait()
    keys(a, "#", ref)
    rig.wait_play(a, "nothing_recorded")
    hang_up(a, ref)
    rig.store.flush()
    assert rig.messages("1002") == []
    assert list((rig.store.root / "tmp").iterdir()) == []  # the short recording removed
    assert handset_lamp(b, since) is None


def test_a_caller_transferred_to_a_box_leaves_the_message_as_themselves(rig: VmRig) -> None:
    """The receptionist (C) answers A, transfers to *1002 and completes while the greeting
    plays to her: A hears the greeting from its start, and the message is A's."""
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    call(a, "1003")
    rc = state(c, S.RING_IN).call_reference
    c.send(OffHook(line_instance=1, call_reference=rc))
    state(a, S.CONNECTED)
    c.send(
        SoftKeyEvent(soft_key_event=SoftKeyEventValue.TRANSFER, line_instance=1, call_reference=rc)
    )
    state(c, S.HOLD)
    ry = state(c, S.OFF_HOOK).call_reference
    keys(c, "*1002", ry)
    wait_media(c)
    rig.wait_play(c, "person_at_extension")  # the consultation reaches voicemail
    c.send(
        SoftKeyEvent(soft_key_event=SoftKeyEventValue.TRANSFER, line_instance=1, call_reference=ry)
    )
    state(c, S.ON_HOOK)
    rig.wait_play(a, "person_at_extension")  # A's own session, from the start
    playing = rig.playing(a)
    assert playing is not None and playing[1][:2] == ["silence", "person_at_extension"]
    assert rig.playing(c) is None
    rig.wait_recording(a)
    Talker(a, tone(587, 1.5)).start().wait()
    a.send(OnHook(line_instance=1, call_reference=0))
    rig.until(lambda: bool(rig.messages("1002")), "the message kept")
    (m,) = rig.messages("1002")
    assert (m.caller, m.caller_name) == ("1001", "Alice")
    rig.store.flush()
    assert dominant_hz(wav_pcm(m.path)) == pytest.approx(587, abs=5)
    lamp(b, True)
    clean(rig, a, b, c)


# --- listening ------------------------------------------------------------------------------------


def test_messages_key_plays_the_recording_to_the_phone_and_delete_turns_the_lamps_off(
    rig: VmRig,
) -> None:
    a, b, b2 = rig.phone(A), rig.phone(B, "7961"), rig.phone(B2, "7961")
    m = leave(rig, a, "1002", chirp(3.0))
    recorded = wav_pcm(m.path)
    lamp(b, True)
    lamp(b2, True)
    since = {p: len(p.received) for p in (b, b2)}
    ref = messages_key(b)  # B carries 1002: its own box, PIN asked (pin_from_own_phone)
    wait_media(b)
    rig.wait_play(b, "enter_pin")
    keys(b, PINS["1002"] + "#", ref)
    menu = rig.wait_play(b, "main_menu")
    playing = rig.playing(b)
    assert playing is not None and playing[1][:8] == [
        "you_have", "one", "new_message", "and", "no", "saved_messages", "main_menu",
    ][:8]  # fmt: skip
    keys(b, "1", ref)
    pid = rig.wait_play(b, m.path.stem, after=menu)
    started = time.monotonic()
    playing = rig.playing(b)
    assert playing is not None and playing[0] == pid
    names = playing[1]
    assert names[:6] == ["message", "one", "message_from", "one", "zero", "zero"]
    assert names[-1] == m.path.stem  # envelope (caller, time), then the message
    envelope = seconds_of(names[:-1])
    # two seconds into the message itself, delete it (3) before it ends: still new until then
    deadline = started + envelope + 2.2
    while time.monotonic() < deadline:
        time.sleep(0.02)
    assert handset_lamp(b, since[b]) is None  # not heard to its end: still new
    keys(b, "3", ref)
    rig.wait_play(b, "message_deleted")
    for p in (b, b2):
        lamp(p, False, since[p])
    assert rig.messages("1002") == []
    rig.store.flush()
    assert not m.path.exists()
    # what B's phone received during the message carries the recording
    got = pcm_of(heard(b, started))
    assert correlation(got, recorded[4000:16000]) > 0.9  # 0.5 s to 2 s of the message
    hang_up(b, ref)
    state(b, S.ON_HOOK)
    clean(rig, a, b, b2)


def test_a_message_heard_to_its_end_is_saved_and_its_lamp_goes_off(rig: VmRig) -> None:
    b, b2 = rig.phone(B, "7961"), rig.phone(B2, "7961")
    m = add_message(rig, "1002", "1003", tone(440, 1.0))
    lamp(b, True)
    since = len(b2.received)
    ref = messages_key(b)
    rig.wait_play(b, "enter_pin")
    keys(b, PINS["1002"] + "#", ref)
    menu = rig.wait_play(b, "main_menu")
    keys(b, "1", ref)
    rig.wait_play(b, m.path.stem, after=menu)
    rig.wait_play(b, "message_menu", timeout=20)  # envelope and message played to the end
    lamp(b2, False, since)
    (kept,) = rig.messages("1002")
    assert kept.id == m.id and not kept.new
    hang_up(b, ref)


# --- the menu, key by key -------------------------------------------------------------------------


def test_every_key_of_the_main_and_message_menus_from_another_phone(rig: VmRig) -> None:
    c, b = rig.phone(C), rig.phone(B, "7961")
    first = add_message(rig, "1002", "1001", tone(440, 1.0))
    second = add_message(rig, "1002", "1003", tone(880, 1.0))
    ref, pid = login(rig, c, "1002", PINS["1002"])
    playing = rig.playing(c)
    assert playing is not None and playing[1][:3] == ["you_have", "two", "new_messages"]

    def press(digit: str, expect: str) -> list[str]:
        nonlocal pid
        keys(c, digit, ref)
        pid = rig.wait_play(c, expect, after=pid)
        now = rig.playing(c)
        assert now is not None
        return now[1]

    assert press("5", "invalid_option")[:2] == ["invalid_option", "main_menu"]
    assert press("3", "main_menu")[:5] == ["you_have", "two", "new_messages", "and", "no"]
    assert press("1", first.path.stem)[:2] == ["message", "one"]  # new messages
    assert press("1", first.path.stem)[:2] == ["message", "one"]  # repeat
    assert press("6", second.path.stem)[:2] == ["message", "two"]  # next
    assert press("4", first.path.stem)[:2] == ["message", "one"]  # previous
    assert press("#", second.path.stem)[:2] == ["message", "two"]  # next
    assert press("2", "message_saved")[:2] == ["message_saved", "no_more_messages"]  # save
    assert press("3", second.path.stem)[:2] == ["message", "one"]  # saved messages
    assert press("3", "message_deleted")[:2] == ["message_deleted", "no_more_messages"]
    assert press("4", "setup_menu") == ["setup_menu"]
    assert press("*", "main_menu")[:3] == ["you_have", "one", "new_message"]
    assert press("1", first.path.stem)[:2] == ["message", "one"]
    assert press("5", "invalid_option") == ["invalid_option", "message_menu"]
    assert press("*", "main_menu")[:3] == ["you_have", "one", "new_message"]
    press("*", "goodbye")
    state(c, S.ON_HOOK, 10)  # voicemail hangs up after goodbye
    assert [(m.id, m.new) for m in rig.messages("1002")] == [(first.id, True)]
    lamp(b, True)  # one new message left
    clean(rig, c, b)


def test_call_back_from_a_message_rings_its_caller(rig: VmRig) -> None:
    a, c = rig.phone(A), rig.phone(C)
    m = add_message(rig, "1002", "1001", tone(440, 1.0))
    ref, pid = login(rig, c, "1002", PINS["1002"])
    keys(c, "1", ref)
    pid = rig.wait_play(c, m.path.stem, after=pid)
    keys(c, "8", ref)
    rig.wait_play(c, "calling_back", after=pid)
    ra = state(a, S.RING_IN, 10).call_reference
    info = a.wait_for(CallInfo, 5, lambda x: x.call_reference == ra)
    assert info.calling_party == "1003"
    a.send(OffHook(line_instance=1, call_reference=ra))
    state(a, S.CONNECTED)
    assert c.media_flows_with(a)
    records = rig.service.cdr.query  # type: ignore[union-attr]
    rig.until(lambda: len(records()) == 1, "the voicemail call's record")
    assert (records()[0]["called"], records()[0]["cause"]) == (
        "8000",
        causes.REDIRECTION_TO_NEW_DESTINATION,
    )
    hang_up(c, ref)
    state(a, S.ON_HOOK)
    rig.until(lambda: len(records()) == 2, "the call back's record")
    assert {r["called"] for r in records()} == {"8000", "1001"}
    clean(rig, a, c)


def test_call_back_to_a_caller_who_cannot_be_reached_ends_the_call(rig: VmRig) -> None:
    c = rig.phone(C)
    m = add_message(rig, "1002", "1001", tone(440, 1.0))  # 1001's phone is not registered
    ref, pid = login(rig, c, "1002", PINS["1002"])
    keys(c, "1", ref)
    pid = rig.wait_play(c, m.path.stem, after=pid)
    keys(c, "8", ref)
    rig.wait_play(c, "calling_back", after=pid)
    state(c, S.ON_HOOK, 10)
    records = rig.service.cdr.query  # type: ignore[union-attr]
    rig.until(lambda: len(records()) == 2, "both records")
    by_called = {r["called"]: r["cause"] for r in records()}
    assert by_called == {
        "8000": causes.REDIRECTION_TO_NEW_DESTINATION,
        "1001": causes.USER_NOT_REGISTERED,
    }
    rig.until(lambda: rig.service.sccp.call(lambda core: not core.switch.calls), "no call left")
    clean(rig, c)


def test_three_wrong_pins_end_the_call(rig: VmRig) -> None:
    b, c = rig.phone(B, "7961"), rig.phone(C)
    ref = messages_key(b)
    pid = rig.wait_play(b, "enter_pin")
    for pin in ("1111", "2222"):
        keys(b, pin + "#", ref)
        pid = rig.wait_play(b, "invalid_pin", after=pid)
        playing = rig.playing(b)
        assert playing is not None and playing[1] == ["invalid_pin", "enter_pin"]
    keys(b, "3333#", ref)
    rig.wait_play(b, "goodbye", after=pid)
    state(b, S.ON_HOOK, 10)
    # from another phone: the mailbox is asked again each time, which part was wrong unsaid
    ref = call(c, "8000")
    pid = rig.wait_play(c, "enter_mailbox")
    for box in ("1002", "9999"):
        keys(c, box + "#", ref)
        pid = rig.wait_play(c, "enter_pin", after=pid)
        keys(c, "0000#", ref)
        pid = rig.wait_play(c, "enter_mailbox", after=pid)
        playing = rig.playing(c)
        assert playing is not None and playing[1] == ["invalid_pin", "enter_mailbox"]
    keys(c, "1002#", ref)
    pid = rig.wait_play(c, "enter_pin", after=pid)
    keys(c, "4322#", ref)
    rig.wait_play(c, "goodbye", after=pid)
    state(c, S.ON_HOOK, 10)
    clean(rig, b, c)


def test_a_greeting_recorded_on_the_phone_is_played_to_the_next_caller(rig: VmRig) -> None:
    a, b = rig.phone(A), rig.phone(B, "7961")
    ref, pid = own_box(rig, b, PINS["1002"])
    keys(b, "4", ref)
    pid = rig.wait_play(b, "setup_menu", after=pid)
    keys(b, "1", ref)
    pid = rig.wait_play(b, "record_unavailable_greeting", after=pid)
    rig.wait_recording(b)
    Talker(b, chirp(2.0, 500, 2500)).start().wait()
    keys(b, "#", ref)
    pid = rig.wait_play(b, "recording_review", after=pid)  # the recording, then the choices
    keys(b, "1", ref)
    rig.wait_play(b, "greeting_saved", after=pid)
    hang_up(b, ref)
    state(b, S.ON_HOOK)
    rig.store.flush()
    greeting = rig.store.greeting("1002", "unavailable")
    assert greeting is not None and greeting.is_file()
    assert list((rig.store.root / "tmp").iterdir()) == []
    # the next caller hears it instead of the built-in greeting, then the beep
    ref = call(a, "*1002")
    wait_media(a)
    rig.wait_play(a, "unavailable")
    started = time.monotonic()
    playing = rig.playing(a)
    assert playing is not None and playing[1] == ["silence", "unavailable", "beep"]
    rig.wait_recording(a)
    got = pcm_of(heard(a, started))
    assert correlation(got, wav_pcm(greeting)[2000:12000]) > 0.9
    hang_up(a, ref)
    clean(rig, a, b)


def test_the_pin_changed_on_the_phone_opens_the_box_next_time(rig: VmRig) -> None:
    b, c = rig.phone(B, "7961"), rig.phone(C)
    ref, pid = own_box(rig, b, PINS["1002"])
    keys(b, "4", ref)
    pid = rig.wait_play(b, "setup_menu", after=pid)
    keys(b, "4", ref)
    pid = rig.wait_play(b, "enter_new_pin", after=pid)
    keys(b, "12#", ref)  # too short
    pid = rig.wait_play(b, "invalid_pin", after=pid)
    keys(b, "97531#", ref)
    pid = rig.wait_play(b, "enter_new_pin_again", after=pid)
    keys(b, "97531#", ref)
    rig.wait_play(b, "pin_changed", after=pid)
    hang_up(b, ref)
    rig.store.flush()
    stored = pins.read_pin_file(rig.dir / "pins.toml")["1002"]
    assert pins.verify("97531", stored) and "97531" not in (rig.dir / "pins.toml").read_text()
    ref, _ = login(rig, c, "1002", "97531")  # the new PIN opens it
    hang_up(c, ref)


def test_a_silent_caller_hears_the_prompt_again_then_is_let_go(rig: VmRig) -> None:
    b = rig.phone(B, "7961")
    ref = messages_key(b)
    pid = rig.wait_play(b, "enter_pin")

    def silence_after_the_prompt() -> None:
        rig.wait_quiet(b)
        rig.until(
            lambda: rig.service.sccp.call(lambda core: core.voicemail.next_deadline()) is not None,
            "the menu's timer armed",
        )
        rig.advance(10)  # no key for MENU_TIMEOUT after the prompt

    for _ in range(2):
        silence_after_the_prompt()
        pid = rig.wait_play(b, "enter_pin", after=pid)  # said again
    silence_after_the_prompt()
    rig.wait_play(b, "goodbye", after=pid)
    state(b, S.ON_HOOK, 10)
    hang_up(b, ref)


def test_hold_changes_nothing_and_a_reload_applies_to_the_next_call(rig: VmRig) -> None:
    b = rig.phone(B, "7961")
    ref = messages_key(b)
    pid = rig.wait_play(b, "enter_pin")
    keys(b, PINS["1002"] + "#", ref)
    pid = rig.wait_play(b, "main_menu", after=pid)
    b.send(SoftKeyEvent(soft_key_event=SoftKeyEventValue.HOLD, line_instance=1, call_reference=ref))
    state(b, S.HOLD)
    b.send(
        SoftKeyEvent(soft_key_event=SoftKeyEventValue.RESUME, line_instance=1, call_reference=ref)
    )
    state(b, S.CONNECTED)
    keys(b, "4", ref)  # the menu went on meanwhile: its keys still work
    rig.wait_play(b, "setup_menu", after=pid)
    hang_up(b, ref)
    state(b, S.ON_HOOK)
    # serve reloads a site that opens a box from its own phone without the PIN
    text = (rig.dir / "site.toml").read_text()
    (rig.dir / "site.toml").write_text(
        text.replace("silence_seconds = 3", "silence_seconds = 3\npin_from_own_phone = false")
    )
    rig.service.reload()
    ref = messages_key(b)
    rig.wait_play(b, "main_menu")
    hang_up(b, ref)
    clean(rig, b)


# --- the media: 20 ms streams ---------------------------------------------------------------------


def test_prompts_reach_the_phone_as_valid_20ms_streams(rig: VmRig, tmp_path: Path) -> None:
    b = rig.phone(B, "7961")
    started = time.monotonic()
    ref, pid = own_box(rig, b, PINS["1002"])
    time.sleep(1.5)
    keys(b, "4", ref)  # a prompt cut short by a key, the next one at once
    rig.wait_play(b, "setup_menu", after=pid)
    time.sleep(1.5)
    hang_up(b, ref)
    state(b, S.ON_HOOK)
    got = heard(b, started)
    assert len(got) > 0.8 * 50 * 3
    assert {x.payload_type for x in got} == {0} and {len(x.payload) for x in got} == {160}
    assert len({x.ssrc for x in got}) == 1  # all the engine sends a leg is one stream
    seqs = [x.seq for x in got]
    assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs))
    gaps = [y.at - x.at for x, y in itertools.pairwise(got)]
    assert statistics.median(gaps) == pytest.approx(0.02, abs=0.004)
    source = got[0].source
    pcap = tmp_path / "prompts.pcap"
    write_udp_pcap(
        pcap,
        [(x.at, x.header() + x.payload) for x in got],
        source,
        ("127.0.0.1", b.rtp_listen_port),
    )
    streams = rtp_streams(pcap, source[1])
    assert len(streams) == 1, streams
    (s,) = streams
    assert s["packets"] == len(got) and s["lost"] == 0
    assert s["problem"] == "", s["line"]  # no sequence, timestamp or payload type error
    clean(rig, b)


# --- [voicemail] keys, each set to other than its default ----------------------------------------


def test_recording_limits_are_the_sites() -> None:
    """min_message_seconds = 2 drops a 1.5 s message; silence_seconds = 3 (vmrig's site) ends
    a message 3 s into the caller's silence, which is cut off; max_message_seconds = 8 ends a
    longer one by itself."""
    rig = VmRig(vm_extra="max_message_seconds = 8\nmin_message_seconds = 2\n").start()
    try:
        a = rig.phone(A)

        def message(pcm: np.ndarray, press_pound: bool) -> list[Any]:
            ref = start_message(rig, a, "1002")
            talker = Talker(a, pcm).start()
            if press_pound:
                talker.wait()
                keys(a, "#", ref)
            rig.wait_play(a, "goodbye", timeout=20)  # the recording ended
            talker.stop()
            hang_up(a, ref)
            state(a, S.ON_HOOK)
            rig.store.flush()
            return rig.messages("1002")

        assert message(tone(523, 1.5), press_pound=True) == []  # shorter than 2 s
        quiet = np.zeros(int(3.5 * 8000), np.int16)
        (m,) = message(np.concatenate([tone(523, 2.5), quiet, tone(880, 1.0)]), press_pound=False)
        assert 2.3 <= m.seconds <= 3.0  # the silence ended it (and was cut off): no 880 Hz
        assert dominant_hz(wav_pcm(m.path)) == pytest.approx(523, abs=5)
        msgs = message(tone(659, 9.5), press_pound=False)
        (long,) = [x for x in msgs if x.id != m.id]
        assert 7.8 <= long.seconds <= 8.1  # max_message_seconds ended it
    finally:
        rig.stop()
        shutil.rmtree(rig.dir, ignore_errors=True)


def test_deposit_prefix_and_a_voicemail_application_number() -> None:
    """deposit_prefix = "55": 551002 leaves a message in box 1002, greeted with the prompt
    from prompts_dir; [[applications]] kind = "voicemail" is one more number of the menu."""
    from tests.voicemail_util import tone as tone_bytes
    from tests.voicemail_util import write_wav

    d = Path(tempfile.mkdtemp(prefix="vm-", dir="/tmp"))
    (d / "mine").mkdir()
    write_wav(d / "mine" / "please_leave_message.wav", tone_bytes(440, 0.5))
    extra = (
        'deposit_prefix = "55"\nprompts_dir = "mine"\n'
        '[[applications]]\nnumber = "8500"\nkind = "voicemail"\n'
    )
    plan = '[[dialplan]]\npattern = "^(551[0-9]{3}|8500)$"\naction = "process"\n'
    rig = VmRig(d, vm_extra=extra, server_extra=plan).start()
    try:
        a, b = rig.phone(A), rig.phone(B, "7961")
        t0 = time.monotonic()
        ref = call(a, "551002")
        state(a, S.CONNECTED)
        a.wait_for(CallInfo, 5, lambda m: m.called_party_name == "Voicemail 1002")
        rig.wait_recording(a)  # after the greeting and the beep
        ours = np.frombuffer(tone_bytes(440, 0.5), "<i2")
        assert correlation(pcm_of(heard(a, t0)), ours) > 0.9  # prompts_dir's prompt was played
        hang_up(a, ref)
        state(a, S.ON_HOOK)
        ref = call(b, "8500")
        state(b, S.CONNECTED)
        rig.wait_play(b, "enter_pin")  # the menu of B's own box
        hang_up(b, ref)
        clean(rig, a, b)
    finally:
        rig.stop()
        shutil.rmtree(d, ignore_errors=True)
