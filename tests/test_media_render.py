"""Background plays (``Relay.play(..., background=True)``): the caller returns at once while the
engine's render thread reads, decodes and encodes the files, so the call core never waits for
the disk to play a long recording; cancelled by another play, stop_play, hold or the leg
closing; a WAV that cannot be used ends it instead of raising. Over real UDP on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from skinnyctl.media import Prompt, Relay, Tone
from tests.rtpphone import Phone, collect
from tests.test_media_engine import (
    Done,
    _sine_at,
    _write_wav,
    assert_one_stream,
    decode,
    dominant_hz,
    leg_for,
)


def wav(path: Path, freq: float, seconds: float) -> Path:
    _write_wav(path, _sine_at(freq, seconds, 8000), 8000)
    return path


@pytest.fixture
def relay() -> Iterator[Relay]:
    r = Relay(host="127.0.0.1", port_min=44000, port_max=44999)  # not test_media_engine's
    r.start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def phones() -> Iterator[Callable[[], Phone]]:
    made: list[Phone] = []

    def make() -> Phone:
        made.append(Phone())
        return made[-1]

    yield make
    for p in made:
        p.close()


def test_a_long_recording_plays_without_the_caller_waiting_for_it(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    long = wav(tmp_path / "long.wav", 440, 180.0)
    p = phones()
    leg = leg_for(relay, p)
    done = Done()
    renderer = relay._renderer
    render, rendered_on = renderer.frames, []

    def spy(*args: object, **kw: object) -> tuple[bytes, ...]:
        rendered_on.append(threading.current_thread().name)
        return render(*args, **kw)  # type: ignore[arg-type]

    renderer.frames = spy  # type: ignore[method-assign]
    pid = relay.play(leg, Prompt(long), on_done=done, background=True)
    deadline = time.monotonic() + 5
    while not (relay.stats()[0]["play"] or {}).get("frames_sent"):
        assert time.monotonic() < deadline, "the play never started"
        time.sleep(0.01)
    assert rendered_on == ["skinnyctl-media-render"]  # read and encoded there, not here
    collect(p, 0.3)
    relay.stop_play(leg)
    assert done.wait() == [(leg, pid, False)]
    got = p.take()
    assert_one_stream(got, pt=0)
    assert dominant_hz(decode(got)) == pytest.approx(440, abs=10)


def test_a_background_play_not_started_yet_is_cancelled_like_a_play(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    a = wav(tmp_path / "a.wav", 440, 2.0)
    leg = leg_for(relay, phones())
    done = Done()
    # the render thread is kept busy with a long file, so the next plays wait behind it
    busy = wav(tmp_path / "busy.wav", 300, 600.0)
    first = relay.play(leg, Prompt(busy), on_done=done, background=True)
    second = relay.play(leg, Prompt(a), on_done=done, background=True)  # replaces the first
    relay.stop_play(leg)  # and is stopped before it starts
    third = relay.play(leg, Prompt(a), on_done=done, background=True)
    relay.hold(leg)  # music on hold wins over a play still being rendered
    calls = done.wait(3)
    assert calls == [(leg, first, False), (leg, second, False), (leg, third, False)]
    time.sleep(1.0)  # the renders finish meanwhile: nothing starts
    assert relay.stats()[0]["play"]["source"] == "music"
    relay.resume(leg)
    fourth = relay.play(leg, Prompt(a), on_done=done, background=True)
    relay.close_leg(leg)
    assert done.wait(4)[3] == (leg, fourth, False)


def test_a_bad_file_ends_a_background_play_instead_of_raising(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    leg = leg_for(relay, phones())
    done = Done()
    pid = relay.play(leg, Prompt(tmp_path / "missing.wav"), on_done=done, background=True)
    assert done.wait() == [(leg, pid, False)]
    ok = relay.play(leg, Tone(800, 0.1), on_done=done)  # the leg plays on
    assert done.wait(2)[1] == (leg, ok, True)
