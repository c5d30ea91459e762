"""site.toml keys whose effect is on calls, each shown over real TCP with simulated phones
against the in-process server (tests/test_calls.py's Rig, fake clock), every frame checked with
tshark. One key changed at a time; tests/test_site_keys.py maps each key to its test here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import tests.test_calls as calls
from skinnyctl.phone import SimPhone
from skinnyctl.sccp import (
    CallInfo,
    CallState,
    DialedNumber,
    DisplayPromptStatus,
    EnblocCall,
    OffHook,
    OnHook,
    SetRinger,
    SoftKeyEvent,
    SoftKeySetIndex,
    StartTone,
    Stimulus,
    StimulusType,
    Tone,
)
from skinnyctl.sccp.enums import Label, RingMode, RingType, label
from skinnyctl.site.model import DEFAULT_SOFTKEY_SET, SOFTKEY_SET_NAMES
from tests.test_calls import A, B, C, K, Rig, S, call_a_to_b, clean, dial, state
from tests.tshark import assert_clean


@contextmanager
def rig_with(tmp: Path, replace: tuple[str, str] = ("", ""), **options: str) -> Iterator[Rig]:
    """A started Rig whose site text has ``replace[0]`` replaced by ``replace[1]`` (a key added
    to a line or a device); ``options`` go to Rig (extra = [server] keys...)."""
    old, new = replace
    site = calls.SITE.replace(old, new, 1) if old else calls.SITE
    assert not old or site != calls.SITE, f"{old!r} is not in the Rig's site"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(calls, "SITE", site)
        rig = Rig(tmp, **options)
    with rig:
        yield rig


def advance(rig: Rig, seconds: float) -> None:
    rig.clock.advance(seconds)
    rig.server.poke()
    rig.settle()


def advance_alive(rig: Rig, seconds: float, *phones: SimPhone) -> None:
    """Let ``seconds`` pass in steps short enough for the phones' keepalives to keep them."""
    while seconds > 0:
        for p in phones:
            p.keep_alive()  # acknowledged: the server has it before the clock jumps
        advance(rig, min(seconds, 20))
        seconds -= 20


def tones(p: SimPhone, tone: int) -> int:
    return sum(1 for m in list(p.received) if isinstance(m, StartTone) and m.tone == tone)


# --- [server] -----------------------------------------------------------------------------------


def test_keepalive_is_what_phones_are_told_and_when_they_are_dropped(tmp_path: Path) -> None:
    with rig_with(tmp_path, extra="keepalive = 7") as rig:
        a = SimPhone("127.0.0.1", rig.server.port, A, "7960").connect()
        rig.phones.append(a)
        reg = a.register(keepalive=False)
        assert reg.ack.keep_alive_interval == 7  # the default is 30
        advance(rig, 13)  # twice the interval, less a second: still registered
        assert not a.closed.is_set()
        advance(rig, 2)
        assert a.wait_closed(5), "a phone silent for twice keepalive is dropped"
        clean(rig, a)


def test_redial_is_dialled_by_a_phone_with_no_last_number(tmp_path: Path) -> None:
    with rig_with(tmp_path, extra='redial = "1002"') as rig:
        a, b = rig.phone(A), rig.phone(B, "7961")
        a.send(SoftKeyEvent(soft_key_event=K.REDIAL, line_instance=1, call_reference=0))
        ra = state(a, S.RING_OUT).call_reference
        info = b.wait_for(CallInfo, 5, lambda m: m.called_party == "1002")
        assert info.calling_party == "1001"
        a.send(OnHook(line_instance=1, call_reference=ra))
        state(b, S.ON_HOOK)
        clean(rig, a, b)


def test_autodial_rings_its_number_when_a_handset_is_lifted(tmp_path: Path) -> None:
    with rig_with(tmp_path, extra='autodial = "1002"') as rig:
        a, b = rig.phone(A), rig.phone(B, "7961")
        a.send(OffHook(line_instance=1, call_reference=0))  # nothing dialled
        ra = state(a, S.RING_OUT).call_reference
        assert a.wait_for(DialedNumber).dialed_number == "1002"
        state(b, S.RING_IN)
        a.send(OnHook(line_instance=1, call_reference=ra))
        state(b, S.ON_HOOK)
        clean(rig, a, b)


def test_digit_timeout_routes_what_no_rule_decides(tmp_path: Path) -> None:
    """77 matches no dialplan rule: it is routed when digit_timeout (3 s here, 10 s by default)
    passes without another digit."""
    with rig_with(tmp_path, extra="digit_timeout = 3") as rig:
        a = rig.phone(A)
        a.send(OffHook(line_instance=1, call_reference=0))
        ra = state(a, S.OFF_HOOK).call_reference
        dial(a, "77", ra)
        calls.settled(rig, lambda: rig.snapshot()[0]["legs"][0]["digits"] == "77", "digits in")
        advance(rig, 2.5)
        assert a.count(DialedNumber) == 0
        advance(rig, 1)
        assert a.wait_for(DialedNumber).dialed_number == "77"
        a.wait_for(StartTone, 5, lambda m: m.tone == Tone.REORDER_TONE)  # no such number
        a.send(OnHook(line_instance=1, call_reference=ra))
        clean(rig, a)


@pytest.mark.parametrize("seconds", [5, 0], ids=["after_5_s", "never"])
def test_off_hook_timeout_plays_reorder_on_unused_dial_tone(tmp_path: Path, seconds: int) -> None:
    with rig_with(tmp_path, extra=f"off_hook_timeout = {seconds}") as rig:
        a = rig.phone(A)
        a.send(OffHook(line_instance=1, call_reference=0))
        ra = state(a, S.OFF_HOOK).call_reference
        advance(rig, 4.5)
        assert tones(a, Tone.REORDER_TONE) == 0
        if seconds:
            advance(rig, 1)
            a.wait_for(StartTone, 5, lambda m: m.tone == Tone.REORDER_TONE)
        else:
            advance_alive(rig, 600, a)  # 0: dial tone for as long as the handset is off
            assert tones(a, Tone.REORDER_TONE) == 0
            assert rig.snapshot()[0]["legs"][0]["device_name"] == a.name
        a.send(OnHook(line_instance=1, call_reference=ra))
        clean(rig, a)


@pytest.mark.parametrize("seconds", [5, 0], ids=["after_5_s", "never"])
def test_hold_reversion_reminds_the_holder(tmp_path: Path, seconds: int) -> None:
    with rig_with(tmp_path, extra=f"hold_reversion = {seconds}") as rig:
        a, b = rig.phone(A), rig.phone(B, "7961")
        ra, rb = call_a_to_b(rig, a, b)
        b.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=rb))
        state(b, S.HOLD)

        def reminders() -> int:
            return sum(
                1
                for m in list(b.received)
                if isinstance(m, DisplayPromptStatus) and m.prompt_status == "Hold reversion"
            )

        advance(rig, 4.5)
        assert reminders() == 0
        if seconds:
            advance(rig, 1)
            b.wait_for(SetRinger, 5, lambda m: m.ring_duration == RingMode.SINGLE)
            assert reminders() == 1
        else:
            advance_alive(rig, 40, a, b)  # the default, 30 s, would have rung by now
            assert reminders() == 0
        a.send(OnHook(line_instance=1, call_reference=ra))
        state(b, S.ON_HOOK)
        clean(rig, a, b)


# --- [[lines]] ----------------------------------------------------------------------------------

BOB = 'display_name = "Bob"\n'


@pytest.mark.parametrize("ring", [True, False], ids=["rings", "flashes"])
def test_ring_on_idle_chooses_ring_or_flash(tmp_path: Path, ring: bool) -> None:
    with rig_with(tmp_path, (BOB, BOB + f"ring_on_idle = {str(ring).lower()}\n")) as rig:
        a, b = rig.phone(A), rig.phone(B, "7961")
        a.send(EnblocCall(called_party="1002"))
        rb = state(b, S.RING_IN).call_reference
        ringer = b.wait_for(SetRinger, 5, lambda m: m.call_reference == rb)
        assert ringer.ring_mode == (RingType.INSIDE if ring else RingType.FLASH_ONLY)
        a.send(OnHook(line_instance=1, call_reference=0))
        state(b, S.ON_HOOK)
        clean(rig, a, b)


@pytest.mark.parametrize("ring", [True, False], ids=["rings", "flashes"])
def test_ring_on_active_chooses_ring_or_flash_beside_a_held_call(
    tmp_path: Path, ring: bool
) -> None:
    """B holds a call with C; A's call to B rings, or only flashes with ring_on_active off."""
    with rig_with(tmp_path, (BOB, BOB + f"ring_on_active = {str(ring).lower()}\n")) as rig:
        a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
        b.send(EnblocCall(called_party="1003"))
        rc = state(c, S.RING_IN).call_reference
        c.send(OffHook(line_instance=1, call_reference=rc))
        ry = state(b, S.CONNECTED).call_reference
        b.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=ry))
        state(b, S.HOLD)
        a.send(EnblocCall(called_party="1002"))
        rb = b.wait_for(CallState, 5, lambda m: m.call_state == S.RING_IN).call_reference
        ringer = b.wait_for(SetRinger, 5, lambda m: m.call_reference == rb)
        assert ringer.ring_mode == (RingType.INSIDE if ring else RingType.FLASH_ONLY)
        a.send(OnHook(line_instance=1, call_reference=0))
        c.send(OnHook(line_instance=1, call_reference=rc))
        state(b, S.ON_HOOK)
        clean(rig, a, b, c)


@pytest.mark.parametrize("ring", [True, False], ids=["beeps", "silent"])
def test_ring_on_active_chooses_the_call_waiting_beep_during_a_call(
    tmp_path: Path, ring: bool
) -> None:
    """B talks to A; C's call to B shows on B with a call-waiting beep, or silently with
    ring_on_active off (mod_skinny: "will not generate call waiting beep if a call is
    active")."""
    with rig_with(tmp_path, (BOB, BOB + f"ring_on_active = {str(ring).lower()}\n")) as rig:
        a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
        ra, _rb = call_a_to_b(rig, a, b)
        since = len(b.received)
        c.send(EnblocCall(called_party="1002"))
        b.wait_for(CallState, 5, lambda m: m.call_state == S.RING_IN)
        state(c, S.RING_OUT)
        rig.settle()
        got = b.received[since:]
        beeps = [m for m in got if isinstance(m, StartTone) and m.tone == Tone.CALL_WAITING_TONE]
        assert len(beeps) == (1 if ring else 0)
        assert not any(isinstance(m, SetRinger) and m.ring_mode == RingType.INSIDE for m in got)
        c.send(OnHook(line_instance=1, call_reference=0))
        a.send(OnHook(line_instance=1, call_reference=ra))
        state(b, S.ON_HOOK)
        clean(rig, a, b, c)


def test_busy_trigger_gives_busy_instead_of_call_waiting(tmp_path: Path) -> None:
    """Line 1002 takes one call at a time: a second caller hears busy (without the key, B
    would get a call-waiting tone)."""
    with rig_with(tmp_path, (BOB, BOB + "busy_trigger = 1\n")) as rig:
        a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
        ra, _rb = call_a_to_b(rig, a, b)
        since = len(b.received)
        c.send(EnblocCall(called_party="1002"))
        state(c, S.BUSY)
        c.wait_for(StartTone, 5, lambda m: m.tone == Tone.LINE_BUSY_TONE)
        rig.settle()
        assert tones(b, Tone.CALL_WAITING_TONE) == 0
        assert not any(
            isinstance(m, CallState) and m.call_state == S.RING_IN for m in b.received[since:]
        )
        c.send(OnHook(line_instance=1, call_reference=0))
        a.send(OnHook(line_instance=1, call_reference=ra))
        state(b, S.ON_HOOK)
        clean(rig, a, b, c)


# --- [[devices]] ------------------------------------------------------------------------------


def test_description_is_the_user_name_a_phone_is_told(tmp_path: Path) -> None:
    device = 'mac = "{b}"\nmodel = "7961"\n'  # the Rig's site template, before format()
    with rig_with(tmp_path, (device, device + 'description = "Back office"\n')) as rig:
        for mac, model, name in ((B, "7961", "Back office"), (A, "7960", "")):
            p = SimPhone("127.0.0.1", rig.server.port, mac, model).connect()
            rig.phones.append(p)
            reg = p.register(keepalive=False)
            assert reg.config is not None and reg.config.user_name == name
            assert_clean(list(p.frames))


# --- [[devices.buttons]] feature values ---------------------------------------------------------


FEATURES = ("redial", "voicemail", "transfer")


@pytest.mark.parametrize("feature", FEATURES)
def test_feature_button_does_what_its_feature_says(tmp_path: Path, feature: str) -> None:
    """A feature button on A (pressed as the phone sends it: Stimulus FEATURE with its
    instance): redial dials the last number, voicemail the [server] voicemail number (1003
    here), transfer starts a consultation."""
    button = f'[[devices.buttons]]\ntype = "feature"\nfeature = "{feature}"\n'
    with rig_with(tmp_path, a_buttons=button) as rig:
        a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
        press = Stimulus(stimulus=StimulusType.FEATURE, stimulus_instance=1)
        if feature == "redial":
            a.send(EnblocCall(called_party="1002"))
            state(b, S.RING_IN)
            a.send(OnHook(line_instance=1, call_reference=0))
            state(b, S.ON_HOOK)
            a.send(press)
            state(b, S.RING_IN)
            a.send(OnHook(line_instance=1, call_reference=0))
            state(b, S.ON_HOOK)
        elif feature == "voicemail":
            a.send(press)
            info = c.wait_for(CallInfo, 5, lambda m: m.called_party == "1003")
            assert info.calling_party == "1001"
            a.send(OnHook(line_instance=1, call_reference=0))
            state(c, S.ON_HOOK)
        else:
            ra, _rb = call_a_to_b(rig, a, b)
            a.send(press)
            assert state(a, S.HOLD).call_reference == ra
            ry = state(a, S.OFF_HOOK).call_reference
            dial(a, "1003", ry)
            state(c, S.RING_IN)
            a.send(OnHook(line_instance=1, call_reference=ry))  # while it rings: blind
            c.wait_for(CallInfo, 5, lambda m: m.calling_party == "1002")  # B is transferred
            c.send(SoftKeyEvent(soft_key_event=K.ANSWER, line_instance=1, call_reference=0))
            state(c, S.CONNECTED)
            snap = rig.snapshot()
            assert len(snap) == 1 and {x["device_name"] for x in snap[0]["legs"]} == {
                b.name,
                c.name,
            }
            c.send(OnHook(line_instance=1, call_reference=0))
            state(b, S.ON_HOOK)
        clean(rig, a, b, c)


# --- [softkey_sets.NAME] ------------------------------------------------------------------------

LAYOUT = ("Hold", "", "Resume")  # in no state by default
SET_INDEX = {
    name: SoftKeySetIndex[
        "".join("_" + ch if ch.isupper() else ch.upper() for ch in name[6:]).lstrip("_")
    ]
    for name in SOFTKEY_SET_NAMES
}


@pytest.fixture(scope="module")
def softkey_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """Phone A uses set "custom", which gives every state LAYOUT."""
    sets = "[softkey_sets.custom]\n" + "".join(
        f"{name} = {list(LAYOUT)!r}\n".replace("'", '"') for name in SOFTKEY_SET_NAMES
    )
    device = 'mac = "{a}"\nmodel = "7960"\n'  # the Rig's site template, before format()
    with rig_with(
        tmp_path_factory.mktemp("softkeys"), (device, device + 'softkeys = "custom"\n'), tail=sets
    ) as rig:
        yield rig


@pytest.mark.parametrize("name", SOFTKEY_SET_NAMES)
def test_each_state_of_a_softkey_set_reaches_the_phone(softkey_rig: Rig, name: str) -> None:
    """The set's keys for state ``name`` are what the phone is given for that state (its
    SoftKeySetRes entry, read through the soft key template it was given), and shows whenever
    the call manager selects the state."""
    assert DEFAULT_SOFTKEY_SET[name] != LAYOUT
    a = SimPhone("127.0.0.1", softkey_rig.server.port, A, "7960").connect()
    try:
        reg = a.register(keepalive=False)
    finally:
        a.close()
    assert reg.softkeys is not None and reg.softkey_sets is not None
    labels = {d.soft_key_event: d.soft_key_label for d in reg.softkeys.definitions}
    shown = reg.softkey_sets.sets[SET_INDEX[name]].soft_key_template_index
    assert [labels.get(i, "") for i in shown[: len(LAYOUT)]] == [
        label(Label.HOLD),
        "",
        label(Label.RESUME),
    ]
    assert_clean(list(a.frames))
