"""The spoken prompts and the composer turning numbers, dates and digits into prompt sequences.

Each prompt is one WAV file, 8 kHz mono 16-bit, in ``prompts/`` beside this module, named
``<name>.wav`` after the keys of :data:`PROMPTS` (whose values are the words spoken). They were
made once by ``packaging/make_prompts.py`` with espeak-ng and sox; see ``prompts/README.md``
for the licence. A site's ``[voicemail] prompts_dir`` holding a file of the same name replaces
that prompt (file by file, like ``templates_dir``); the directory is listed once when
:class:`Prompts` is built, so the call-control thread never waits for the disk to find one.
"""

from __future__ import annotations

import datetime as dt
import shutil
import zoneinfo
from importlib import resources
from pathlib import Path

# name -> words. Numbers are composed from the number words; "beep" is a tone, not speech.
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEEN_WORDS = (
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
TENS_WORDS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)

PROMPTS: dict[str, str] = {
    **{w: w for w in (*DIGIT_WORDS, *TEEN_WORDS, *TENS_WORDS, *DAYS, *MONTHS)},
    "hundred": "hundred",
    "thousand": "thousand",
    "million": "million",
    "star": "star",
    "pound": "pound",
    "oh": "oh",
    "am": "A M",
    "pm": "P M",
    "today": "today",
    "yesterday": "yesterday",
    "at": "at",
    "and": "and",
    "no": "no",
    "you_have": "you have",
    "new_message": "new message",
    "new_messages": "new messages",
    "saved_message": "saved message",
    "saved_messages": "saved messages",
    "message": "message",
    "message_from": "message from",
    "unknown_caller": "an unknown caller",
    "received": "received",
    "no_more_messages": "no more messages.",
    "main_menu": (
        "to listen to your new messages, press 1. to review your saved messages, press 3. "
        "for setup options, press 4. to end this call, press star."
    ),
    "message_menu": (
        "to repeat this message, press 1. to save it, press 2. to delete it, press 3. "
        "for the previous message, press 4. for the next message, press 6. "
        "to call the caller back, press 8. for the main menu, press star."
    ),
    "setup_menu": (
        "to record your unavailable greeting, press 1. to record your busy greeting, press 2. "
        "to record your name, press 3. to change your PIN, press 4. "
        "to go back to the main menu, press star."
    ),
    "please_leave_message": (
        "please leave a message after the tone. when you are done, hang up, or press pound."
    ),
    "person_at_extension": "the person at extension",
    "is_not_available": "is not available.",
    "is_busy": "is on the phone.",
    "mailbox_full": "this mailbox is full, and cannot take a message.",
    "message_saved": "message saved.",
    "message_deleted": "message deleted.",
    "message_sent": "your message has been recorded. thank you.",
    "goodbye": "goodbye.",
    "invalid_pin": "that PIN is not valid.",
    "invalid_option": "that option is not valid.",
    "enter_pin": "please enter your PIN, then press pound.",
    "enter_mailbox": "please enter your mailbox number, then press pound.",
    "record_unavailable_greeting": (
        "record your greeting for when you cannot answer after the tone. "
        "when you are done, press pound."
    ),
    "record_busy_greeting": (
        "record your greeting for when you are on the phone after the tone. "
        "when you are done, press pound."
    ),
    "record_name": "say your name after the tone. when you are done, press pound.",
    "recording_review": (
        "to keep this recording, press 1. to record it again, press 2. to cancel, press star."
    ),
    "greeting_saved": "your recording has been saved.",
    "nothing_recorded": "nothing was recorded.",
    "enter_new_pin": "enter your new PIN, four to ten digits, then press pound.",
    "enter_new_pin_again": "enter your new PIN again, then press pound.",
    "pins_do_not_match": "the two PINs are not the same. your PIN was not changed.",
    "pin_changed": "your PIN has been changed.",
    "number_unknown": "the caller's number is not known.",
    "calling_back": "calling back.",
    "beep": "",  # a 1 kHz tone, generated
}

BEEP = "beep"


def builtin_dir() -> Path:
    """The prompts shipped in the package (a real directory in the wheel and the bundle)."""
    return Path(str(resources.files("skinnyctl.apps.voicemail").joinpath("prompts")))


class Prompts:
    """Name -> WAV path, a site's prompts_dir first; and the composer's sequences."""

    def __init__(self, override_dir: Path | None = None, tz: dt.tzinfo = dt.UTC) -> None:
        self.tz = tz
        base = builtin_dir()
        self._paths = {name: base / f"{name}.wav" for name in PROMPTS}
        self.overridden: tuple[str, ...] = ()
        if override_dir is not None and override_dir.is_dir():
            mine = {p.stem: p for p in override_dir.glob("*.wav") if p.stem in PROMPTS}
            self._paths.update(mine)
            self.overridden = tuple(sorted(mine))

    def path(self, name: str) -> Path:
        return self._paths[name]

    def seq(self, *names: str) -> tuple[Path, ...]:
        return tuple(self._paths[n] for n in names)

    # -- the composer: names first (testable as words), then paths --------------------------
    def number(self, n: int) -> tuple[Path, ...]:
        return self.seq(*number_words(n))

    def digits(self, text: str) -> tuple[Path, ...]:
        return self.seq(*digit_words(text))

    def when(self, unix: float, now: float) -> tuple[Path, ...]:
        return self.seq(*when_words(unix, now, self.tz))


def number_words(n: int) -> list[str]:
    """21 -> twenty one; 105 -> one hundred five; 2001 -> two thousand one (0..999,999,999)."""
    if n < 0 or n >= 1_000_000_000:
        raise ValueError(f"{n} is out of range")
    if n < 10:
        return [DIGIT_WORDS[n]]
    if n < 20:
        return [TEEN_WORDS[n - 10]]
    if n < 100:
        tens, ones = divmod(n, 10)
        return [TENS_WORDS[tens - 2]] + ([DIGIT_WORDS[ones]] if ones else [])
    for size, word in ((1_000_000, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            head, rest = divmod(n, size)
            return [*number_words(head), word] + (number_words(rest) if rest else [])
    raise AssertionError(n)  # pragma: no cover


def digit_words(text: str) -> list[str]:
    """A phone number read digit by digit: "1002" -> one zero zero two; * and # by name,
    anything else (a + or a letter) skipped."""
    names = {str(i): w for i, w in enumerate(DIGIT_WORDS)} | {"*": "star", "#": "pound"}
    return [names[c] for c in text if c in names]


def when_words(unix: float, now: float, tz: dt.tzinfo) -> list[str]:
    """When a message came: "today at 3 15 PM", "yesterday at ...", "monday at ..." within
    the week, else "march 4 at ...". Times in the site's time zone, 12-hour like US voicemail."""
    t = dt.datetime.fromtimestamp(unix, tz)
    today = dt.datetime.fromtimestamp(now, tz).date()
    age = (today - t.date()).days
    if age == 0:
        day = ["today"]
    elif age == 1:
        day = ["yesterday"]
    elif 1 < age < 7:
        day = [DAYS[t.weekday()]]
    else:
        day = [MONTHS[t.month - 1], *number_words(t.day)]
    hour = t.hour % 12 or 12
    minute = []
    if t.minute:
        minute = (["oh"] if t.minute < 10 else []) + number_words(t.minute)
    return [*day, "at", *number_words(hour), *minute, "am" if t.hour < 12 else "pm"]


def count_words(new: int, saved: int) -> list[str]:
    """ "you have two new messages and one saved message" (no for zero)."""

    def part(n: int, one: str, many: str) -> list[str]:
        return [*(number_words(n) if n else ["no"]), one if n == 1 else many]

    return [
        "you_have",
        *part(new, "new_message", "new_messages"),
        "and",
        *part(saved, "saved_message", "saved_messages"),
    ]


def site_zone(name: str) -> dt.tzinfo:
    """The tzinfo for [server] time_zone: an IANA name as is; a Cisco name through a zone the
    mapping gives it; UTC when neither works (the words then say UTC times)."""
    from skinnyctl.site import timezones

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    cisco = timezones.to_cisco(name)
    reference = timezones.DST_REFERENCE.get(cisco or "")
    zones = [reference] if reference else []
    zones += [iana for iana, c in timezones.IANA_TO_CISCO.items() if c == cisco]
    for zone in zones:
        try:
            return zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
    return dt.UTC


def export_prompts(directory: Path, force: bool = False) -> list[Path]:
    """Copy the built-in prompts to ``directory`` (a starting point for prompts_dir)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PROMPTS:
        target = directory / f"{name}.wav"
        if target.exists() and not force:
            continue
        shutil.copyfile(builtin_dir() / f"{name}.wav", target)
        written.append(target)
    return written
