"""The shipped prompts (every one present, 8 kHz mono 16-bit, audible, speech-like) and the
composer (numbers, dates, digits, counts), and prompts_dir overriding file by file."""

from __future__ import annotations

import datetime as dt
import wave
import zoneinfo
from pathlib import Path

import numpy as np
import pytest

from skinnyctl.apps.voicemail.prompts import (
    PROMPTS,
    Prompts,
    builtin_dir,
    count_words,
    digit_words,
    number_words,
    site_zone,
    when_words,
)
from tests.voicemail_util import read_pcm, tone, write_wav


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_every_prompt_is_an_audible_8k_mono_wav(name: str) -> None:
    path = builtin_dir() / f"{name}.wav"
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    pcm = read_pcm(path).astype(float)
    seconds = len(pcm) / 8000
    assert 0.2 < seconds < 15, seconds
    rms = np.sqrt(np.mean(pcm**2))
    assert rms > 800, f"{name} is (nearly) silent: rms {rms:.0f}"
    if name != "beep":  # speech: most energy in the telephone band, not one pure tone
        spectrum = np.abs(np.fft.rfft(pcm))
        freqs = np.fft.rfftfreq(len(pcm), 1 / 8000)
        band = spectrum[(freqs > 250) & (freqs < 3400)].sum() / spectrum.sum()
        assert band > 0.6, band
        assert spectrum.max() / spectrum.sum() < 0.05


def test_beep_is_a_1khz_tone() -> None:
    pcm = read_pcm(builtin_dir() / "beep.wav").astype(float)
    peak = np.argmax(np.abs(np.fft.rfft(pcm))) * 8000 / len(pcm)
    assert abs(peak - 1000) < 5


def test_no_stray_files_and_a_licence() -> None:
    assert {p.stem for p in builtin_dir().glob("*.wav")} == set(PROMPTS)
    assert "Licence" in (builtin_dir() / "README.md").read_text()


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (20, "twenty"),
        (42, "forty two"),
        (100, "one hundred"),
        (115, "one hundred fifteen"),
        (2001, "two thousand one"),
        (999_999, "nine hundred ninety nine thousand nine hundred ninety nine"),
        (1_000_000, "one million"),
    ],
)
def test_numbers(n: int, words: str) -> None:
    assert " ".join(number_words(n)) == words
    assert all(w in PROMPTS for w in number_words(n))


def test_caller_number_read_digit_by_digit() -> None:
    assert digit_words("+33 1*0#") == ["three", "three", "one", "star", "zero", "pound"]


def test_dates_relative_to_now_in_the_site_zone() -> None:
    tz = zoneinfo.ZoneInfo("Europe/Paris")
    now = dt.datetime(2025, 3, 14, 18, 0, tzinfo=tz).timestamp()  # a Friday

    def at(*args: int) -> str:
        return " ".join(when_words(dt.datetime(*args, tzinfo=tz).timestamp(), now, tz))

    assert at(2025, 3, 14, 15, 15) == "today at three fifteen pm"
    assert at(2025, 3, 13, 9, 5) == "yesterday at nine oh five am"
    assert at(2025, 3, 10, 0, 0) == "monday at twelve am"
    assert at(2025, 3, 4, 12, 30) == "march four at twelve thirty pm"
    # the same instant in UTC is an hour earlier on the clock
    utc = when_words(dt.datetime(2025, 3, 14, 15, 15, tzinfo=tz).timestamp(), now, dt.UTC)
    assert " ".join(utc) == "today at two fifteen pm"


def test_counts() -> None:
    assert count_words(1, 2) == [
        "you_have", "one", "new_message", "and", "two", "saved_messages",
    ]  # fmt: skip
    assert count_words(0, 0)[1:3] == ["no", "new_messages"]


def test_site_zone_understands_iana_and_cisco_names() -> None:
    assert site_zone("Europe/Paris") == zoneinfo.ZoneInfo("Europe/Paris")
    paris = dt.datetime(2025, 7, 1, 12, tzinfo=dt.UTC)
    cisco = site_zone("W. Europe Standard/Daylight Time")
    assert paris.astimezone(cisco).utcoffset() == dt.timedelta(hours=2)
    assert site_zone("Nowhere/Else") == dt.UTC


def test_prompts_dir_overrides_file_by_file(tmp_path: Path) -> None:
    write_wav(tmp_path / "goodbye.wav", tone(300, 0.5))
    write_wav(tmp_path / "not_a_prompt.wav", tone(300, 0.5))
    p = Prompts(tmp_path)
    assert p.path("goodbye") == tmp_path / "goodbye.wav"
    assert p.path("hundred") == builtin_dir() / "hundred.wav"
    assert p.overridden == ("goodbye",)
    assert p.number(21) == (builtin_dir() / "twenty.wav", builtin_dir() / "one.wav")
