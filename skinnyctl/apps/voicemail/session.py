"""One voicemail call, as a sans-IO state machine: leaving a message, or listening to a box.

The switch creates a :class:`VoicemailSession` per call that reaches voicemail, feeds it the
inputs below and carries out the actions it returns. No sockets, threads or clocks here: time
comes from the clock object (``now()`` for deadlines, ``wall()`` for dates), like the core's;
the store's methods return at once (its writer thread does the disk).

Inputs (methods; each returns the list of actions to carry out, in order)::

    start(mode, box, caller_number, caller_name, own_phone, reason)
        mode "deposit" (leave a message in ``box``; reason "busy" picks the busy greeting,
        anything else the unavailable one) or "retrieve" (listen; ``box`` is the caller's
        own box when ``own_phone``, else "" and the caller is asked for it)
    dtmf(digit)                      "0"-"9", "*", "#"
    play_done(play_id)               a Play finished (a stale or stopped play's id is ignored)
    record_done(record_id, path, seconds, why)
                                     why: "hangup", "pound", "silence", "limit"
    hangup()                         the caller went; only record_done is awaited after it
    on_timer(now)                    at or after next_deadline()
    replay()                         the caller's audio moved to another media leg (a shared
                                     line picked up elsewhere): what was playing starts again

Actions (frozen dataclasses, below): Play, Record, StopMedia, Hangup, Mwi, CallBack. ``Play``
replaces whatever the channel plays; ``StopMedia`` stops a play or a recording. Store changes
(keep a message, save, delete, greetings, PIN) are calls on :class:`VoicemailStore` rather than
actions: the session must read counts and lists back at once, the store's view gives exactly
that, and its writer thread already keeps the disk off this thread; a second path through the
switch would only add a place for the two to disagree.

Rules.

1. ``TABLE[(state, event)] -> handler`` decides everything; a pair missing from the table is
   ignored (e.g. keys during a prompt that cannot be interrupted, a play_done while recording).
2. A key accepted while a prompt plays stops it first (StopMedia), then acts.
3. Prompting states (menus, digit entry) wait MENU_TIMEOUT after their prompt for a key, then
   say it again; after MAX_REPROMPTS silences the call ends. Digit entry ends with #, or
   DIGIT_TIMEOUT after the last digit; * clears what was typed.
4. Deposit: greeting (the box's recorded one, else "the person at extension 1 0 0 2 is not
   available", with the recorded name instead of the number when there is one), "please
   leave a message", beep, Record until hang-up, #, silence or max_message_seconds. # during
   the greeting skips to the beep; * during it logs into that box (PIN asked). Shorter than
   min_message_seconds: dropped. A full box: the caller hears so, nothing is recorded.
5. Retrieve: from the box's own phone the PIN is asked unless pin_from_own_phone = false (or
   the box has no PIN yet); from any other phone the mailbox number, then the PIN. A box with
   no PIN cannot be opened from another phone. Three failures end the call; which part was
   wrong is never said.
6. A message becomes saved once its audio has played to its end, or with 2; MWI is sent for
   every line of the box whenever the box's "has new messages" changes.

Keys (close to Cisco Unity Express: 2 save / 3 delete after a message, 4 setup; 4/6 as
previous/next like Avaya and Asterisk; Unity's "call the sender" is 4-4, ours 8 since 4 is
previous here)::

    main menu   1 new messages   3 saved messages   4 setup options   * goodbye
    a message   1 repeat  2 save  3 delete  4 previous  6 or # next  8 call back  * main menu
    setup       1 unavailable greeting  2 busy greeting  3 name  4 change PIN  * main menu
    review      1 keep  2 record again  * cancel
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Literal, Protocol

from skinnyctl.site.model import Site, Voicemail

from . import pins
from .prompts import BEEP, Prompts, count_words, site_zone
from .store import MailboxFull, Message, VoicemailStore

log = logging.getLogger("skinnyctl.apps.voicemail.session")

MENU_TIMEOUT = 10.0  # seconds after a menu prompt before it is said again
DIGIT_TIMEOUT = 5.0  # seconds after the last digit of a PIN or mailbox number
MAX_REPROMPTS = 3
MAX_LOGIN_FAILURES = 3
GREETING_SECONDS = 60  # longest greeting or name recording


# -- actions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Play:
    prompts: tuple[Path, ...]
    play_id: int
    interruptible_by_dtmf: bool


@dataclass(frozen=True)
class Record:
    record_id: int
    path: Path  # where the media engine writes the WAV (8 kHz mono 16-bit), atomically
    max_seconds: float
    silence_seconds: float  # 0 = never stop on silence
    stop_on_pound: bool


@dataclass(frozen=True)
class StopMedia:
    pass


@dataclass(frozen=True)
class Hangup:
    cause: str  # "normal", "mailbox_full", "login_failed", "timeout", "no_mailbox", ...


@dataclass(frozen=True)
class Mwi:
    line: str
    on: bool


@dataclass(frozen=True)
class CallBack:
    number: str  # the switch redirects this caller's call there; the session is over


Action = Play | Record | StopMedia | Hangup | Mwi | CallBack


class Clock(Protocol):
    def now(self) -> float: ...

    def wall(self) -> float: ...


@dataclass
class VoicemailContext:
    """What every session of a site shares: built once per (re)load by the switch."""

    store: VoicemailStore
    prompts: Prompts
    settings: Voicemail
    boxes: dict[str, tuple[str, ...]]  # box -> the lines showing its lamp
    clock: Clock

    @classmethod
    def for_site(cls, site: Site, store: VoicemailStore, clock: Clock) -> VoicemailContext:
        vm = site.voicemail
        tz = site_zone(site.server.time_zone)
        prompts = Prompts(site.resolve(vm.prompts_dir) if vm.prompts_dir else None, tz)
        return cls(store, prompts, vm, site.voicemail_boxes(), clock)


class State(Enum):
    IDLE = "idle"
    GREETING = "greeting"  # deposit: greeting + "leave a message" + beep
    BEEP = "beep"  # deposit: # skipped the greeting
    RECORDING = "recording"  # deposit
    AWAIT_RECORDING = "await_recording"  # hung up while recording: the file is still due
    ASK_BOX = "ask_box"
    ASK_PIN = "ask_pin"
    MAIN_MENU = "main_menu"
    MESSAGE = "message"  # envelope + the message itself
    MESSAGE_MENU = "message_menu"
    SETUP = "setup"
    REC_PROMPT = "rec_prompt"  # "record your greeting after the tone" + beep
    REC_RECORDING = "rec_recording"
    REVIEW = "review"  # the recording played back, then keep / again / cancel
    NEW_PIN = "new_pin"
    NEW_PIN_AGAIN = "new_pin_again"
    ENDING = "ending"  # a last prompt, then Hangup
    CALLING_BACK = "calling_back"  # "calling back", then CallBack
    DONE = "done"


class Event(Enum):
    DTMF = "dtmf"
    PLAY_DONE = "play_done"
    RECORD_DONE = "record_done"
    TIMEOUT = "timeout"


S, E = State, Event
_COLLECT = (S.ASK_BOX, S.ASK_PIN, S.NEW_PIN, S.NEW_PIN_AGAIN)
_MENUS = (S.MAIN_MENU, S.MESSAGE_MENU, S.SETUP, S.REVIEW)

TABLE: dict[tuple[State, Event], str] = {
    (S.GREETING, E.DTMF): "_greeting_key",
    (S.GREETING, E.PLAY_DONE): "_record_message",
    (S.BEEP, E.PLAY_DONE): "_record_message",
    (S.RECORDING, E.RECORD_DONE): "_message_recorded",
    (S.AWAIT_RECORDING, E.RECORD_DONE): "_message_recorded",
    **{(s, E.DTMF): "_collect" for s in _COLLECT},
    **{(s, E.PLAY_DONE): "_wait_for_key" for s in (*_COLLECT, *_MENUS)},
    **{(s, E.TIMEOUT): "_collect_timeout" for s in _COLLECT},
    **{(s, E.TIMEOUT): "_reprompt" for s in _MENUS},
    (S.MAIN_MENU, E.DTMF): "_main_key",
    (S.MESSAGE, E.DTMF): "_message_key",
    (S.MESSAGE, E.PLAY_DONE): "_message_heard",
    (S.MESSAGE_MENU, E.DTMF): "_message_key",
    (S.SETUP, E.DTMF): "_setup_key",
    (S.REC_PROMPT, E.PLAY_DONE): "_record_greeting",
    (S.REC_RECORDING, E.RECORD_DONE): "_greeting_recorded",
    (S.REVIEW, E.DTMF): "_review_key",
    (S.ENDING, E.PLAY_DONE): "_end",
    (S.CALLING_BACK, E.PLAY_DONE): "_call_back",
    (S.DONE, E.RECORD_DONE): "_late_recording",  # hung up while recording a greeting
}

Mode = Literal["deposit", "retrieve"]
# setup key -> (greeting kind, its recording instruction)
_GREETING_KEYS = {
    "1": ("unavailable", "record_unavailable_greeting"),
    "2": ("busy", "record_busy_greeting"),
    "3": ("name", "record_name"),
}


@dataclass
class _Recording:
    kind: str  # greeting kind
    instruction: str
    path: Path | None = None


@dataclass
class VoicemailSession:
    ctx: VoicemailContext
    state: State = State.IDLE
    mode: Mode = "deposit"
    box: str = ""
    caller_number: str = ""
    caller_name: str = ""
    own_phone: bool = False
    reason: str = ""
    outcome: str = ""  # deposit: "stored", "too_short", "mailbox_full"; else how it ended
    message: Message | None = None  # deposit: the message kept
    _play_id: int = 0
    _playing: bool = False
    _record_id: int = 0
    _deadline: float | None = None
    _prompt: tuple[Path, ...] = ()  # what a prompting state says again on a timeout
    _last: tuple[Path, ...] = ()  # what the last Play plays
    _interruptible: bool = True
    _reprompts: int = 0
    _digits: str = ""
    _failures: int = 0
    _asked_box: bool = False
    _list: list[int] = field(default_factory=list)  # ids of the messages being listened to
    _index: int = 0
    _recording: _Recording | None = None
    _new_pin: str = ""
    _hung_up: bool = False
    _end_cause: str = "normal"
    _callback: str = ""

    # -- inputs ------------------------------------------------------------------------------
    def start(
        self,
        mode: Mode,
        box: str,
        caller_number: str = "",
        caller_name: str = "",
        own_phone: bool = False,
        reason: str = "no_answer",
    ) -> list[Action]:
        self.mode, self.box, self.own_phone, self.reason = mode, box, own_phone, reason
        self.caller_number, self.caller_name = caller_number, caller_name
        if mode == "deposit":
            return self._deposit()
        if own_phone and box:
            if not self.ctx.settings.pin_from_own_phone or not self.ctx.store.has_pin(box):
                return self._logged_in()
            return self._ask(S.ASK_PIN, ("enter_pin",))
        self.box = ""
        self._asked_box = True
        return self._ask(S.ASK_BOX, ("enter_mailbox",))

    def dtmf(self, digit: str) -> list[Action]:
        if len(digit) != 1 or digit not in "0123456789*#":
            log.info("voicemail: ignoring DTMF %r", digit)
            return []
        return self._event(E.DTMF, digit)

    def play_done(self, play_id: int) -> list[Action]:
        if play_id != self._play_id or not self._playing:
            return []  # a play since replaced or stopped
        self._playing = False
        return self._event(E.PLAY_DONE)

    def record_done(self, record_id: int, path: Path, seconds: float, why: str) -> list[Action]:
        if record_id != self._record_id:
            return []
        return self._event(E.RECORD_DONE, (Path(path), float(seconds), why))

    def hangup(self) -> list[Action]:
        self._hung_up = True
        self._deadline = None
        if self.state in (S.RECORDING, S.AWAIT_RECORDING):
            self.state = S.AWAIT_RECORDING  # the media engine still reports the file
            return []
        self._discard_recording()  # one under review; one being made arrives as record_done
        if not self.outcome:
            self.outcome = "hangup"
        self.state = S.DONE
        return []

    def replay(self) -> list[Action]:
        if not self._playing:
            return []
        self._play_id += 1
        return [Play(self._last, self._play_id, self._interruptible)]

    def next_deadline(self) -> float | None:
        return self._deadline

    def on_timer(self, now: float) -> list[Action]:
        if self._deadline is None or now < self._deadline:
            return []
        self._deadline = None
        return self._event(E.TIMEOUT)

    @property
    def done(self) -> bool:
        return self.state == S.DONE

    # -- the table ---------------------------------------------------------------------------
    def _event(self, event: Event, arg: object = None) -> list[Action]:
        name = TABLE.get((self.state, event))
        if name is None:
            log.debug("voicemail: %s in %s ignored", event.value, self.state.value)
            return []
        out: list[Action] = []
        if event == E.DTMF:
            if self.state == S.GREETING and arg not in ("#", "*"):
                return []  # other keys do not cut a greeting short
            if self._playing:
                self._playing = False
                out.append(StopMedia())
            self._deadline = None
            self._reprompts = 0
        handler: Callable[..., list[Action]] = getattr(self, name)
        out += handler(arg) if arg is not None else handler()
        return out

    # -- building blocks ---------------------------------------------------------------------
    def _play(
        self, state: State, names_or_paths: tuple[str | Path, ...], interruptible: bool
    ) -> list[Action]:
        p = self.ctx.prompts
        paths = tuple(x if isinstance(x, Path) else p.path(x) for x in names_or_paths)
        self.state = state
        self._play_id += 1
        self._playing = True
        self._deadline = None
        self._last, self._interruptible = paths, interruptible
        if state in _COLLECT or state in _MENUS:
            self._prompt = paths
        return [Play(paths, self._play_id, interruptible)]

    def _ask(self, state: State, names: tuple[str | Path, ...]) -> list[Action]:
        self._digits = ""
        return self._play(state, names, True)

    def _say_then_end(self, names: tuple[str | Path, ...], cause: str) -> list[Action]:
        self.outcome = self.outcome or cause
        self._end_cause = cause
        return self._play(S.ENDING, (*names, "goodbye"), False)

    def _end(self) -> list[Action]:
        self.state = S.DONE
        return [Hangup(self._end_cause)]

    def _wait_for_key(self) -> list[Action]:
        self._deadline = self.ctx.clock.now() + MENU_TIMEOUT
        return []

    def _reprompt(self) -> list[Action]:
        self._reprompts += 1
        if self._reprompts >= MAX_REPROMPTS:
            return self._say_then_end((), "timeout")
        state, reprompts = self.state, self._reprompts
        out = self._play(state, self._prompt, True)
        self._reprompts = reprompts
        return out

    def _mwi_after(self, before: bool) -> list[Action]:
        after = self.ctx.store.counts(self.box)[0] > 0
        if after == before:
            return []
        return [Mwi(line, after) for line in self.ctx.boxes.get(self.box, ())]

    def _waiting(self) -> bool:
        return self.ctx.store.counts(self.box)[0] > 0

    # -- deposit -----------------------------------------------------------------------------
    def _greeting(self) -> tuple[str | Path, ...]:
        store, box = self.ctx.store, self.box
        kinds = ("busy", "unavailable") if self.reason == "busy" else ("unavailable",)
        for kind in kinds:
            recorded = store.greeting(box, kind)
            if recorded is not None:
                return (recorded,)
        name = store.greeting(box, "name")
        who: tuple[str | Path, ...] = (
            (name,) if name else ("person_at_extension", *self.ctx.prompts.digits(box))
        )
        return (*who, "is_busy" if self.reason == "busy" else "is_not_available")

    def _deposit(self) -> list[Action]:
        if not self.box:
            self.outcome = "no_mailbox"
            self.state = S.DONE
            return [Hangup("no_mailbox")]
        greeting = self._greeting()
        if self.ctx.store.is_full(self.box):
            self.outcome = "mailbox_full"
            return self._say_then_end((*greeting, "mailbox_full"), "mailbox_full")
        custom = len(greeting) == 1 and isinstance(greeting[0], Path)
        tail = (BEEP,) if custom else ("please_leave_message", BEEP)
        return self._play(S.GREETING, (*greeting, *tail), True)

    def _greeting_key(self, digit: str) -> list[Action]:
        if digit == "#":
            return self._play(S.BEEP, (BEEP,), False)
        # "*": the owner, calling in, logs into this box
        self.mode = "retrieve"
        return self._ask(S.ASK_PIN, ("enter_pin",))

    def _record_message(self) -> list[Action]:
        self.state = S.RECORDING
        self._record_id += 1
        vm = self.ctx.settings
        return [
            Record(
                self._record_id,
                self.ctx.store.new_recording_path(),
                vm.max_message_seconds,
                vm.silence_seconds,
                True,
            )
        ]

    def _message_recorded(self, result: tuple[Path, float, str]) -> list[Action]:
        path, seconds, why = result
        store = self.ctx.store
        out: list[Action] = []
        if seconds < self.ctx.settings.min_message_seconds:
            store.discard(path)
            self.outcome = "too_short"
        else:
            before = self._waiting()
            try:
                self.message = store.add_message(
                    self.box,
                    path,
                    self.caller_number,
                    self.caller_name,
                    self.ctx.clock.wall(),
                    seconds,
                )
                self.outcome = "stored"
                out += self._mwi_after(before)
            except MailboxFull:  # filled by another caller meanwhile
                self.outcome = "mailbox_full"
        if self._hung_up or why == "hangup":
            self.state = S.DONE
            return out
        said = {"stored": "message_sent", "too_short": "nothing_recorded"}
        return out + self._say_then_end((said.get(self.outcome, "mailbox_full"),), "normal")

    # -- login -------------------------------------------------------------------------------
    def _collect(self, digit: str) -> list[Action]:
        if digit == "*":
            self._digits = ""
            return []
        if digit != "#":
            self._digits += digit
            if len(self._digits) <= 24:
                self._deadline = self.ctx.clock.now() + DIGIT_TIMEOUT
                return []
        return self._entered(self._digits)

    def _collect_timeout(self) -> list[Action]:
        if self._digits:
            return self._entered(self._digits)
        return self._reprompt()

    def _entered(self, digits: str) -> list[Action]:
        self._digits = ""
        if self.state == S.ASK_BOX:
            self.box = digits
            return self._ask(S.ASK_PIN, ("enter_pin",))
        if self.state == S.ASK_PIN:
            return self._check_pin(digits)
        if self.state == S.NEW_PIN:
            if pins.pin_problem(digits):
                return self._ask(S.NEW_PIN, ("invalid_pin", "enter_new_pin"))
            self._new_pin = digits
            return self._ask(S.NEW_PIN_AGAIN, ("enter_new_pin_again",))
        # NEW_PIN_AGAIN
        if digits != self._new_pin:
            return self._play(S.SETUP, ("pins_do_not_match", "setup_menu"), True)
        self.ctx.store.set_pin(self.box, digits)
        return self._play(S.SETUP, ("pin_changed", "setup_menu"), True)

    def _check_pin(self, pin: str) -> list[Action]:
        store, box = self.ctx.store, self.box
        known = box in self.ctx.boxes
        if known and store.check_pin(box, pin):
            return self._logged_in()
        self._failures += 1
        if self._failures >= MAX_LOGIN_FAILURES:
            return self._say_then_end(("invalid_pin",), "login_failed")
        if self._asked_box:
            self.box = ""
            return self._ask(S.ASK_BOX, ("invalid_pin", "enter_mailbox"))
        return self._ask(S.ASK_PIN, ("invalid_pin", "enter_pin"))

    def _logged_in(self) -> list[Action]:
        self.mode = "retrieve"
        return self._main_menu(())

    # -- listening ---------------------------------------------------------------------------
    def _main_menu(self, before: tuple[str | Path, ...]) -> list[Action]:
        new, saved = self.ctx.store.counts(self.box)
        counts = count_words(new, saved)
        return self._play(S.MAIN_MENU, (*before, *counts, "main_menu"), True)

    def _main_key(self, digit: str) -> list[Action]:
        if digit in "13":
            want_new = digit == "1"
            self._list = [m.id for m in self.ctx.store.messages(self.box) if m.new == want_new]
            self._index = 0
            if not self._list:
                return self._main_menu(())
            return self._play_message(())
        if digit == "4":
            return self._play(S.SETUP, ("setup_menu",), True)
        if digit == "*":
            self.outcome = "normal"
            return self._say_then_end((), "normal")
        return self._play(S.MAIN_MENU, ("invalid_option", "main_menu"), True)

    def _current(self) -> Message | None:
        while self._index < len(self._list):
            m = self.ctx.store.message(self._list[self._index])
            if m is not None:
                return m
            del self._list[self._index]  # deleted meanwhile (the CLI, another call)
        return None

    def _envelope(self, m: Message) -> tuple[str | Path, ...]:
        p = self.ctx.prompts
        who = p.digits(m.caller) if any(c.isdigit() for c in m.caller) else ("unknown_caller",)
        when = p.when(m.received, self.ctx.clock.wall())
        return ("message", *p.number(self._index + 1), "message_from", *who, "received", *when)

    def _play_message(self, before: tuple[str | Path, ...]) -> list[Action]:
        m = self._current()
        if m is None:
            return self._main_menu((*before, "no_more_messages"))
        return self._play(S.MESSAGE, (*before, *self._envelope(m), m.path), True)

    def _message_heard(self) -> list[Action]:
        m = self._current()
        out: list[Action] = []
        if m is not None and m.new:
            before = self._waiting()
            self.ctx.store.mark_saved(m.id)
            out += self._mwi_after(before)
        return out + self._play(S.MESSAGE_MENU, ("message_menu",), True)

    def _message_key(self, digit: str) -> list[Action]:
        m = self._current()
        store = self.ctx.store
        if m is None:
            return self._main_menu(("no_more_messages",))
        if digit == "1":
            return self._play_message(())
        if digit in "23":
            before = self._waiting()
            if digit == "2":
                store.mark_saved(m.id)
                self._index += 1
            else:
                store.delete(m.id)
                del self._list[self._index]
            said = "message_saved" if digit == "2" else "message_deleted"
            return self._mwi_after(before) + self._play_message((said,))
        if digit == "4":
            self._index = max(0, self._index - 1)
            return self._play_message(())
        if digit in "6#":
            self._index += 1
            return self._play_message(())
        if digit == "8":
            number = "".join(c for c in m.caller if c.isdigit() or c in "*#+")
            if not number:
                return self._play(S.MESSAGE_MENU, ("number_unknown", "message_menu"), True)
            self._callback = number
            return self._play(S.CALLING_BACK, ("calling_back",), False)
        if digit == "*":
            return self._main_menu(())
        return self._play(S.MESSAGE_MENU, ("invalid_option", "message_menu"), True)

    def _late_recording(self, result: tuple[Path, float, str]) -> list[Action]:
        self.ctx.store.discard(result[0])
        return []

    def _call_back(self) -> list[Action]:
        self.state = S.DONE
        self.outcome = "call_back"
        return [CallBack(self._callback)]

    # -- setup -------------------------------------------------------------------------------
    def _setup_key(self, digit: str) -> list[Action]:
        if digit in _GREETING_KEYS:
            kind, instruction = _GREETING_KEYS[digit]
            self._recording = _Recording(kind, instruction)
            return self._play(S.REC_PROMPT, (instruction, BEEP), False)
        if digit == "4":
            return self._ask(S.NEW_PIN, ("enter_new_pin",))
        if digit == "*":
            return self._main_menu(())
        return self._play(S.SETUP, ("invalid_option", "setup_menu"), True)

    def _record_greeting(self) -> list[Action]:
        self.state = S.REC_RECORDING
        self._record_id += 1
        path = self.ctx.store.new_recording_path()
        silence = self.ctx.settings.silence_seconds
        return [Record(self._record_id, path, GREETING_SECONDS, silence, True)]

    def _greeting_recorded(self, result: tuple[Path, float, str]) -> list[Action]:
        path, seconds, _why = result
        rec = self._recording
        assert rec is not None
        if seconds < self.ctx.settings.min_message_seconds:
            self.ctx.store.discard(path)
            return self._play(S.SETUP, ("nothing_recorded", "setup_menu"), True)
        rec.path = path
        return self._play(S.REVIEW, (path, "recording_review"), True)

    def _review_key(self, digit: str) -> list[Action]:
        rec = self._recording
        assert rec is not None and rec.path is not None
        if digit == "1":
            self.ctx.store.set_greeting(self.box, rec.kind, rec.path)
            self._recording = None
            return self._play(S.SETUP, ("greeting_saved", "setup_menu"), True)
        if digit == "2":
            self._discard_recording()
            self._recording = _Recording(rec.kind, rec.instruction)
            return self._play(S.REC_PROMPT, (rec.instruction, BEEP), False)
        if digit == "*":
            self._discard_recording()
            return self._play(S.SETUP, ("setup_menu",), True)
        return self._play(S.REVIEW, ("invalid_option", "recording_review"), True)

    def _discard_recording(self) -> None:
        if self._recording is not None and self._recording.path is not None:
            self.ctx.store.discard(self._recording.path)
        self._recording = None
