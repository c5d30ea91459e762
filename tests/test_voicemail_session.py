"""The voicemail menu, driven sans-IO: real store, real files, the test playing the media engine.

Every digit of every menu, the deposit flow (greeting, beep, record, < 1 s dropped, mailbox
full, MWI), login rules (own phone, pin_from_own_phone, three wrong PINs), greetings recorded
and then played to the next caller, PIN change, timers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skinnyctl.apps.voicemail import session as vs
from skinnyctl.apps.voicemail.session import CallBack, Hangup, Mwi, Play, Record, StopMedia
from skinnyctl.apps.voicemail.store import VoicemailStore
from tests.voicemail_util import PIN, Driver, dominant_hz, make_site, read_pcm, tone


@pytest.fixture
def store(tmp_path: Path) -> Iterator[VoicemailStore]:
    site = make_site(tmp_path)
    s = VoicemailStore.for_site(site)
    yield s
    s.close()


def driver(tmp_path: Path, store: VoicemailStore, **kw: object) -> Driver:
    return Driver(make_site(tmp_path, **kw), store)  # type: ignore[arg-type]


def deposit(tmp_path: Path, store: VoicemailStore, freq: float, caller: str = "1002",
            seconds: float = 2.0, reason: str = "no_answer") -> Driver:  # fmt: skip
    d = driver(tmp_path, store)
    d.start("deposit", "1001", caller, "Bob", False, reason)
    d.finish_play()  # greeting + beep
    d.record(tone(freq, seconds))
    return d


# -- leaving a message ------------------------------------------------------------------------
def test_deposit_plays_the_builtin_greeting_then_records_and_lights_every_line(
    tmp_path: Path, store: VoicemailStore
) -> None:
    d = driver(tmp_path, store)
    first = d.start("deposit", "1001", "1002", "Bob", False, "no_answer")
    assert isinstance(first[0], Play) and first[0].interruptible_by_dtmf
    assert d.names() == [
        "person_at_extension", "one", "zero", "zero", "one",
        "is_not_available", "please_leave_message", "beep",
    ]  # fmt: skip
    assert all(p.is_file() for p in d.last_play().prompts)
    rec = d.finish_play()
    assert len(rec) == 1 and isinstance(rec[0], Record)
    assert rec[0].max_seconds == 180 and rec[0].silence_seconds == 5 and rec[0].stop_on_pound
    out = d.record(tone(700, 2.5))
    assert [a for a in out if isinstance(a, Mwi)] == [Mwi("1001", True), Mwi("2001", True)]
    assert d.names() == ["message_sent", "goodbye"]
    assert d.finish_play() == [Hangup("normal")] and d.session.done
    store.flush()
    (m,) = store.messages("1001")
    assert (m.caller, m.caller_name, m.new, m.seconds) == ("1002", "Bob", True, 2.5)
    assert m.received == d.clock.wall()
    assert abs(dominant_hz(m.path) - 700) < 5  # the caller's tone is what was kept


def test_deposit_ended_by_hangup_keeps_the_message_whichever_report_comes_first(
    tmp_path: Path, store: VoicemailStore
) -> None:
    d = driver(tmp_path, store)
    d.start("deposit", "1001", "1002", "", False)
    d.finish_play()
    assert d.feed(d.session.hangup()) == []  # recording: the file is still to come
    out = d.record(tone(500, 1.5), why="hangup")
    assert Mwi("1001", True) in out and not any(isinstance(a, Play | Hangup) for a in out)
    assert d.session.done and d.session.outcome == "stored"
    # the other order: record_done(hangup) first, then hangup()
    d2 = driver(tmp_path, store)
    d2.start("deposit", "1001", "1003", "", False)
    d2.finish_play()
    out = d2.record(tone(500, 1.5), why="hangup")
    assert d2.session.done and d2.feed(d2.session.hangup()) == []
    assert Mwi("1001", True) not in out  # already on: no lamp message twice
    assert len(store.messages("1001")) == 2


def test_message_shorter_than_min_seconds_is_dropped(tmp_path: Path, store: VoicemailStore) -> None:
    d = driver(tmp_path, store)
    d.start("deposit", "1001", "1002", "", False)
    d.finish_play()
    path = d.last_record().path
    out = d.record(tone(500, 0.6))
    assert not any(isinstance(a, Mwi) for a in out)
    assert d.names() == ["nothing_recorded", "goodbye"] and d.session.outcome == "too_short"
    store.flush()
    assert store.messages("1001") == () and not path.exists()


def test_pound_skips_the_greeting_and_star_logs_in(tmp_path: Path, store: VoicemailStore) -> None:
    d = driver(tmp_path, store)
    d.start("deposit", "1001", "1002", "", False)
    assert d.keys("5") == []  # other keys do not cut the greeting
    assert d.keys("#")[0] == StopMedia() and d.names() == ["beep"]
    assert not d.last_play().interruptible_by_dtmf
    assert isinstance(d.finish_play()[0], Record)
    d = driver(tmp_path, store)
    d.start("deposit", "1001", "1002", "", False)
    d.keys("*")
    assert d.names() == ["enter_pin"]
    d.keys(PIN + "#")
    assert d.names()[-1] == "main_menu" and d.session.mode == "retrieve"


def test_mailbox_full_tells_the_caller_and_records_nothing(tmp_path: Path) -> None:
    site = make_site(tmp_path, max_messages=1)
    store = VoicemailStore.for_site(site)
    try:
        d = Driver(site, store)
        d.start("deposit", "1001", "1002", "", False)
        d.finish_play()
        d.record(tone(400, 2))
        d2 = Driver(site, store)
        out = d2.start("deposit", "1001", "1003", "", False)
        assert not d2.last_play().interruptible_by_dtmf
        assert d2.names()[-2:] == ["mailbox_full", "goodbye"]
        assert not any(isinstance(a, Record) for a in out)
        assert d2.finish_play() == [Hangup("mailbox_full")]
        assert d2.session.outcome == "mailbox_full" and len(store.messages("1001")) == 1
    finally:
        store.close()


def test_busy_reason_says_on_the_phone(tmp_path: Path, store: VoicemailStore) -> None:
    d = driver(tmp_path, store)
    d.start("deposit", "1001", "1002", "", False, "busy")
    assert "is_busy" in d.names() and "is_not_available" not in d.names()


# -- logging in -------------------------------------------------------------------------------
def test_three_wrong_pins_end_the_call(tmp_path: Path, store: VoicemailStore) -> None:
    d = driver(tmp_path, store)
    d.start("retrieve", "1001", "1001", "", True)
    assert d.names() == ["enter_pin"]
    for attempt in range(2):
        d.finish_play()
        d.keys("9999#")
        assert d.names() == ["invalid_pin", "enter_pin"], attempt
    d.keys("0000#")
    assert d.names() == ["invalid_pin", "goodbye"]
    assert d.keys("1234#") == []  # the last prompt cannot be interrupted
    assert d.finish_play() == [Hangup("login_failed")] and d.session.done


def test_from_another_phone_the_mailbox_comes_first(tmp_path: Path, store: VoicemailStore) -> None:
    d = driver(tmp_path, store)
    d.start("retrieve", "", "1002", "", False)
    assert d.names() == ["enter_mailbox"]
    d.keys("1002#")  # a box without PIN cannot be opened remotely
    d.keys("1234#")
    assert d.names() == ["invalid_pin", "enter_mailbox"]
    d.keys("1001#")
    assert d.names() == ["enter_pin"]
    d.keys(PIN + "#")
    assert d.names()[-1] == "main_menu" and d.session.box == "1001"


def test_own_phone_without_pin_when_the_site_says_so(tmp_path: Path, store: VoicemailStore) -> None:
    d = driver(tmp_path, store, pin_from_own_phone=False)
    d.start("retrieve", "1001", "1001", "", True)
    assert d.names() == ["you_have", "no", "new_messages", "and", "no", "saved_messages",
                         "main_menu"]  # fmt: skip
    d = driver(tmp_path, store, pin_from_own_phone=True)
    d.start("retrieve", "1001", "1001", "", True)
    assert d.names() == ["enter_pin"]


def test_pin_digits_end_after_the_digit_timeout(tmp_path: Path, store: VoicemailStore) -> None:
    d = driver(tmp_path, store)
    d.start("retrieve", "1001", "1001", "", True)
    d.keys("12")
    d.keys("*")  # clears
    d.keys(PIN)
    assert d.session.next_deadline() == d.clock.now() + vs.DIGIT_TIMEOUT
    d.clock.advance(vs.DIGIT_TIMEOUT - 0.1)
    assert d.feed(d.session.on_timer(d.clock.now())) == []
    d.clock.advance(0.2)
    d.feed(d.session.on_timer(d.clock.now()))
    assert d.names()[-1] == "main_menu"


def test_silence_in_a_menu_repeats_it_then_ends(tmp_path: Path, store: VoicemailStore) -> None:
    d = driver(tmp_path, store, pin_from_own_phone=False)
    d.start("retrieve", "1001", "1001", "", True)
    menu = d.last_play().prompts
    for _ in range(vs.MAX_REPROMPTS - 1):
        d.finish_play()
        d.clock.advance(vs.MENU_TIMEOUT)
        d.feed(d.session.on_timer(d.clock.now()))
        assert d.last_play().prompts == menu
    d.finish_play()
    d.clock.advance(vs.MENU_TIMEOUT)
    d.feed(d.session.on_timer(d.clock.now()))
    assert d.names() == ["goodbye"]
    assert d.finish_play() == [Hangup("timeout")]


# -- listening --------------------------------------------------------------------------------
def listen(tmp_path: Path, store: VoicemailStore) -> Driver:
    for freq, caller in ((300, "1002"), (600, "2002"), (900, "")):
        deposit(tmp_path, store, freq, caller)
    d = driver(tmp_path, store)
    d.start("retrieve", "1001", "1001", "", True)
    d.login()
    assert d.names()[:4] == ["you_have", "three", "new_messages", "and"]
    return d


def test_each_key_of_the_message_menu(tmp_path: Path, store: VoicemailStore) -> None:
    d = listen(tmp_path, store)
    ids = [m.id for m in store.messages("1001")]
    d.keys("1")
    names = d.names()
    assert names[:4] == ["message", "one", "message_from", "one"]  # message 1 from 1 0 0 2
    assert names[-1] == f"{ids[0]}.wav" and "received" in names and "today" in names
    assert abs(dominant_hz(d.last_play().prompts[-1]) - 300) < 5
    # heard to its end: saved, lamp still on (two new left), then the message menu
    out = d.finish_play()
    assert not any(isinstance(a, Mwi) for a in out) and d.names() == ["message_menu"]
    assert not store.message(ids[0]).new  # type: ignore[union-attr]
    d.keys("1")  # repeat
    assert d.names()[-1] == f"{ids[0]}.wav"
    d.keys("6")  # next, keeps message 2 new
    assert d.names()[-1] == f"{ids[1]}.wav" and d.names()[1] == "two"
    d.keys("4")  # previous
    assert d.names()[-1] == f"{ids[0]}.wav"
    d.keys("#")  # next again
    assert d.names()[-1] == f"{ids[1]}.wav"
    assert store.message(ids[1]).new  # type: ignore[union-attr]
    d.keys("2")  # save: says so, plays the next one
    assert d.names()[0] == "message_saved" and d.names()[-1] == f"{ids[2]}.wav"
    assert "unknown_caller" in d.names()
    assert not store.message(ids[1]).new  # type: ignore[union-attr]
    out = d.keys("3")  # delete the last new one: the lamp goes off on every line of the box
    assert Mwi("1001", False) in out and Mwi("2001", False) in out
    assert d.names()[:2] == ["message_deleted", "no_more_messages"]
    assert d.names()[-1] == "main_menu" and store.message(ids[2]) is None
    d.keys("3")  # saved messages
    assert d.names()[-1] == f"{ids[0]}.wav"
    d.keys("8")  # call back 1002
    assert d.names() == ["calling_back"]
    assert d.finish_play() == [CallBack("1002")] and d.session.done
    store.flush()
    assert not store.message(ids[0]).new and len(store.messages("1001")) == 2  # type: ignore[union-attr]


def test_call_back_without_a_number_says_so(tmp_path: Path, store: VoicemailStore) -> None:
    deposit(tmp_path, store, 440, caller="")
    d = driver(tmp_path, store)
    d.start("retrieve", "1001", "1001", "", True)
    d.login()
    d.keys("1")
    d.keys("8")
    assert d.names() == ["number_unknown", "message_menu"]
    d.keys("*")
    assert d.names()[-1] == "main_menu"
    d.keys("7")
    assert d.names() == ["invalid_option", "main_menu"]
    d.keys("*")
    assert d.names() == ["goodbye"] and d.finish_play() == [Hangup("normal")]


def test_a_recorded_greeting_is_played_to_the_next_caller(
    tmp_path: Path, store: VoicemailStore
) -> None:
    d = driver(tmp_path, store)
    d.start("retrieve", "1001", "1001", "", True)
    d.login()
    d.keys("4")
    assert d.names() == ["setup_menu"]
    d.keys("1")
    assert d.names() == ["record_unavailable_greeting", "beep"]
    d.finish_play()
    assert d.last_record().max_seconds == vs.GREETING_SECONDS
    d.record(tone(1500, 2.0))
    review = d.last_play()
    assert d.names()[-1] == "recording_review" and abs(dominant_hz(review.prompts[0]) - 1500) < 5
    d.keys("2")  # again
    d.finish_play()
    d.record(tone(1200, 2.0))
    d.keys("1")  # keep
    assert d.names() == ["greeting_saved", "setup_menu"]
    store.flush()
    caller = driver(tmp_path, store)
    caller.start("deposit", "1001", "1002", "", False)
    greeting = caller.last_play().prompts
    assert len(greeting) == 2 and greeting[1].stem == "beep"
    assert abs(dominant_hz(greeting[0]) - 1200) < 5
    assert len(list((store.root / "tmp").iterdir())) == 0  # the first take was removed


def test_busy_greeting_and_name(tmp_path: Path, store: VoicemailStore) -> None:
    d = driver(tmp_path, store)
    d.start("retrieve", "1001", "1001", "", True)
    d.login()
    d.keys("4")
    d.keys("3")  # name
    d.finish_play()
    d.record(tone(800, 1.5))
    d.keys("1")
    d.keys("2")  # busy greeting, then cancel it
    d.finish_play()
    d.record(tone(900, 1.5))
    d.keys("*")
    assert d.names() == ["setup_menu"]
    store.flush()
    caller = driver(tmp_path, store)
    caller.start("deposit", "1001", "1002", "", False, "busy")
    names = caller.names()
    assert names[0] == "name.wav" and names[1] == "is_busy"  # the name replaces the number
    assert store.greeting("1001", "busy") is None


def test_change_pin(tmp_path: Path, store: VoicemailStore) -> None:
    d = driver(tmp_path, store)
    d.start("retrieve", "1001", "1001", "", True)
    d.login()
    d.keys("4")
    d.keys("4")
    assert d.names() == ["enter_new_pin"]
    d.keys("12#")
    assert d.names() == ["invalid_pin", "enter_new_pin"]
    d.keys("24680#")
    assert d.names() == ["enter_new_pin_again"]
    d.keys("24681#")
    assert d.names() == ["pins_do_not_match", "setup_menu"]
    d.keys("4")
    d.keys("24680#")
    d.keys("24680#")
    assert d.names() == ["pin_changed", "setup_menu"]
    store.flush()
    assert "24680" not in store.pin_file.read_text()  # type: ignore[union-attr]
    d2 = driver(tmp_path, store)
    d2.start("retrieve", "1001", "1001", "", True)
    d2.keys(PIN + "#")
    assert d2.names() == ["invalid_pin", "enter_pin"]
    d2.keys("24680#")
    assert d2.names()[-1] == "main_menu"
    # a new store (a restarted serve) reads it from the pin file
    again = VoicemailStore.for_site(make_site(tmp_path))
    assert again.check_pin("1001", "24680") and not again.check_pin("1001", PIN)
    again.close()


def test_hangup_while_recording_a_greeting_leaves_no_file(
    tmp_path: Path, store: VoicemailStore
) -> None:
    d = driver(tmp_path, store)
    d.start("retrieve", "1001", "1001", "", True)
    d.login()
    d.keys("4")
    d.keys("1")
    d.finish_play()
    d.feed(d.session.hangup())
    d.record(tone(300, 2.0), why="hangup")
    store.flush()
    assert list((store.root / "tmp").iterdir()) == []
    assert store.greeting("1001", "unavailable") is None


def test_stale_play_done_is_ignored(tmp_path: Path, store: VoicemailStore) -> None:
    d = driver(tmp_path, store)
    d.start("retrieve", "1001", "1001", "", True)
    old = d.last_play().play_id
    d.keys("1")  # interrupts "enter your PIN"
    assert d.feed(d.session.play_done(old)) == []
    assert d.session.state == vs.State.ASK_PIN
    assert len(read_pcm(d.last_play().prompts[0])) > 0
