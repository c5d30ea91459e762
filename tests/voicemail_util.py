"""Shared helpers of the voicemail tests: a site, real WAV recordings, a session driver."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from skinnyctl.apps.voicemail.session import (
    Action,
    Play,
    Record,
    VoicemailContext,
    VoicemailSession,
)
from skinnyctl.apps.voicemail.store import VoicemailStore
from skinnyctl.calls.clock import FakeClock
from skinnyctl.site import parse_site
from skinnyctl.site.model import Site

SITE = """
[server]
time_zone = "UTC"
[[lines]]
number = "1001"
voicemail_box = "1001"
[[lines]]
number = "1002"
voicemail_box = "1002"
[[lines]]
number = "2001"
voicemail_box = "1001"
[voicemail]
max_messages = {max_messages}
pin_from_own_phone = {pin_from_own_phone}
[voicemail.boxes."1001"]
pin = "{pin_hash}"
"""
PIN = "1234"


def make_site(tmp: Path, max_messages: int = 100, pin_from_own_phone: bool = True) -> Site:
    from skinnyctl.apps.voicemail.pins import hash_pin

    text = SITE.format(
        max_messages=max_messages,
        pin_from_own_phone=str(pin_from_own_phone).lower(),
        pin_hash=hash_pin(PIN, salt=bytes(16)),
    )
    (tmp / "site.toml").write_text(text)
    return parse_site(text, tmp / "site.toml")


def tone(freq: float, seconds: float, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 12000).astype("<i2").tobytes()


def write_wav(path: Path, pcm: bytes, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


def read_pcm(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def dominant_hz(path: Path) -> float:
    pcm = read_pcm(path).astype(float)
    spectrum = np.abs(np.fft.rfft(pcm))
    return float(np.argmax(spectrum) * 8000 / len(pcm))


class Driver:
    """One session with the media engine's part played by the test: plays finish when told,
    a Record is answered by writing a real WAV where the action says."""

    def __init__(self, site: Site, store: VoicemailStore, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.ctx = VoicemailContext.for_site(site, store, self.clock)
        self.session = VoicemailSession(self.ctx)
        self.actions: list[Action] = []

    def feed(self, actions: list[Action]) -> list[Action]:
        self.actions += actions
        return actions

    def start(self, *args: object, **kw: object) -> list[Action]:
        return self.feed(self.session.start(*args, **kw))  # type: ignore[arg-type]

    def last_play(self) -> Play:
        return next(a for a in reversed(self.actions) if isinstance(a, Play))

    def last_record(self) -> Record:
        return next(a for a in reversed(self.actions) if isinstance(a, Record))

    def names(self, play: Play | None = None) -> list[str]:
        """The prompts of a play as names (stems), recordings as their file name."""
        play = play or self.last_play()
        return [p.stem if p.parent.name == "prompts" else p.name for p in play.prompts]

    def finish_play(self) -> list[Action]:
        return self.feed(self.session.play_done(self.last_play().play_id))

    def keys(self, digits: str) -> list[Action]:
        out: list[Action] = []
        for d in digits:
            out += self.feed(self.session.dtmf(d))
        return out

    def record(self, pcm: bytes, why: str = "pound") -> list[Action]:
        rec = self.last_record()
        write_wav(rec.path, pcm)
        return self.feed(
            self.session.record_done(rec.record_id, rec.path, len(pcm) / 2 / 8000, why)
        )

    def login(self, pin: str = PIN) -> None:
        self.finish_play()
        self.keys(pin + "#")
