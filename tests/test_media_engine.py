"""The media engine over real UDP on loopback: G.711 conversion, plays, recording, echo,
RFC 4733 DTMF and conference mixing. Phones are plain sockets (tests/rtpphone.py); what they
receive is checked byte by byte, by FFT, and by tshark."""

from __future__ import annotations

import itertools
import json
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
import warnings
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from skinnyctl.media import Leg, Music, Prompt, Relay, RelayError, Silence, Tone, g711
from tests.rtpphone import (
    Phone,
    collect,
    rtp_fields,
    rtp_streams,
    sine,
    spectrum_peaks,
    tshark_run,
    wait_for,
    write_udp_pcap,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)

PT = {"ulaw": 0, "alaw": 8}
LAW_OF_PT = {0: "ulaw", 8: "alaw"}


@pytest.fixture
def relay() -> Iterator[Relay]:
    r = Relay(host="127.0.0.1", port_min=43000, port_max=43999)
    r.start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def phones() -> Iterator[Callable[[], Phone]]:
    made: list[Phone] = []

    def make() -> Phone:
        p = Phone()
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def addr(leg: Leg) -> tuple[str, int]:
    return ("127.0.0.1", leg.local_port)


def leg_for(relay: Relay, phone: Phone, call: object = "c", codec: str | None = None) -> Leg:
    leg = relay.open_leg(call)
    relay.learn(leg, *phone.addr)
    if codec is not None:
        relay.set_codec(leg, codec)
    return leg


def decode(pkts: list[bytes]) -> np.ndarray:
    """Audio of received RTP packets (G.711 by payload type; others skipped)."""
    parts = [
        g711.decode(p[12:], LAW_OF_PT[p[1] & 0x7F]) for p in pkts if p[1] & 0x7F in PT.values()
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.int16)


def dominant_hz(pcm: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / 8000)[int(np.argmax(spec))])


class ToneSender:
    """A phone sending a continuous tone as G.711 RTP, one 20 ms packet per call."""

    def __init__(self, phone: Phone, dest: tuple[str, int], freq: float, codec: str = "ulaw"):
        self.phone, self.dest, self.freq, self.codec = phone, dest, freq, codec
        self.n = 0

    def packet(self) -> bytes:
        pcm = sine(self.freq, 160, start=self.n * 160)
        self.n += 1
        return self.phone.packet(PT[self.codec], g711.encode(pcm, self.codec))

    def send(self) -> None:
        self.phone.send(self.dest, self.packet())


def drive(steps: int, each: Callable[[int], None], listeners: list[Phone]) -> float:
    """Call `each(i)` every 20 ms on an absolute schedule, collecting what arrives; returns the
    wall-clock time of the last call (what arrives after it is the senders' silence)."""
    start = time.monotonic()
    last = 0.0
    for i in range(steps):
        last = time.time()
        each(i)
        for p in listeners:
            p.drain()
        delay = start + (i + 1) * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    collect(listeners, 0.1)
    return last


def assert_one_stream(pkts: list[bytes], pt: int | None = None) -> None:
    """One SSRC, consecutive sequence numbers, timestamps in 160-sample steps."""
    assert pkts
    assert len({rtp_fields(p)[4] for p in pkts}) == 1
    for a, b in itertools.pairwise(pkts):
        _, _, s0, t0, _ = rtp_fields(a)
        _, b1, s1, t1, _ = rtp_fields(b)
        assert s1 == (s0 + 1) & 0xFFFF
        assert (t1 - t0) & 0xFFFFFFFF >= 160 and ((t1 - t0) & 0xFFFFFFFF) % 160 == 0
        if pt is not None:
            assert b1 & 0x7F == pt


# -- bridging: µ-law <-> A-law ---------------------------------------------------------------------


@pytest.mark.parametrize(("law_a", "law_b"), [("ulaw", "alaw"), ("alaw", "ulaw")])
def test_bridge_converts_between_laws_both_ways(
    relay: Relay, phones: Callable[[], Phone], law_a: str, law_b: str
) -> None:
    a, b = phones(), phones()
    la, lb = leg_for(relay, a, codec=law_a), leg_for(relay, b, codec=law_b)
    relay.bridge(la, lb)
    ta, tb = ToneSender(a, addr(la), 1000, law_a), ToneSender(b, addr(lb), 600, law_b)
    drive(25, lambda i: (ta.send(), tb.send()), [a, b])
    got_b, got_a = b.take(), a.take()
    assert len(got_b) == len(a.sent) == 25 and len(got_a) == len(b.sent) == 25
    table = {("ulaw", "alaw"): g711.ULAW_TO_ALAW, ("alaw", "ulaw"): g711.ALAW_TO_ULAW}
    for sent, got, src, dst in ((a.sent, got_b, law_a, law_b), (b.sent, got_a, law_b, law_a)):
        for s, g in zip(sent, got, strict=True):
            # header unchanged but the payload type; payload converted code by code
            assert g[0] == s[0] and g[2:12] == s[2:12]
            assert g[1] == (s[1] & 0x80) | PT[dst]
            assert g[12:] == s[12:].translate(table[src, dst])
    assert dominant_hz(decode(got_b)) == pytest.approx(1000, abs=10)
    assert dominant_hz(decode(got_a)) == pytest.approx(600, abs=10)
    st = {s["leg"]: s for s in relay.stats()}
    assert st[la.id]["transcoded"] == 25 and st[lb.id]["transcoded"] == 25


def test_same_law_bridge_forwards_unchanged(relay: Relay, phones: Callable[[], Phone]) -> None:
    a, b = phones(), phones()
    la, lb = leg_for(relay, a, codec="alaw"), leg_for(relay, b, codec="alaw")
    relay.bridge(la, lb)
    ta = ToneSender(a, addr(la), 1000, "alaw")
    drive(10, lambda i: ta.send(), [b])
    assert b.take() == a.sent
    assert {s["leg"]: s for s in relay.stats()}[la.id]["transcoded"] == 0


# -- plays: prompts, tones, music, silence ---------------------------------------------------------


def _write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def _sine_at(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.round(8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


class Done:
    """Collects callback calls; `wait` blocks until `n` arrived."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.cond = threading.Condition()
        self.threads: set[str] = set()

    def __call__(self, *args: object) -> None:
        with self.cond:
            self.calls.append(args)
            self.threads.add(threading.current_thread().name)
            self.cond.notify_all()

    def wait(self, n: int = 1, timeout: float = 5.0) -> list[tuple[object, ...]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.calls) >= n, timeout)
            return list(self.calls)


def test_play_wav_sequence_then_on_done(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    a_wav, b_wav = tmp_path / "a.wav", tmp_path / "b.wav"
    _write_wav(a_wav, _sine_at(440, 0.3, 8000), 8000)  # 15 frames
    _write_wav(b_wav, _sine_at(880, 0.2, 16000), 16000)  # resampled: 10 frames
    p = phones()
    leg = leg_for(relay, p)
    done = Done()
    pid = relay.play(leg, Prompt(a_wav, b_wav), on_done=done)
    calls = done.wait()
    p.drain()
    assert calls == [(leg, pid, True)]
    assert done.threads == {"skinnyctl-media-notify"}
    got = p.take()
    assert len(got) == 25  # every frame had gone out when on_done ran
    assert_one_stream(got, pt=0)
    assert rtp_fields(got[0])[1] & 0x80 and not any(rtp_fields(x)[1] & 0x80 for x in got[1:])
    pcm = decode(got)
    assert dominant_hz(pcm[: 15 * 160]) == pytest.approx(440, abs=10)
    assert dominant_hz(pcm[15 * 160 :]) == pytest.approx(880, abs=10)
    collect(p, 0.1)
    assert p.received == []  # nothing after the prompt
    st = relay.stats()[0]
    assert st["play"] is None and st["generated_packets"] == 25
    # the decoded files are cached: playing again decodes nothing, a changed file is re-read
    decoded = relay._renderer.decoded
    relay.play(leg, Prompt(a_wav), on_done=done)
    done.wait(2)
    assert relay._renderer.decoded == decoded
    _write_wav(a_wav, _sine_at(440, 0.1, 8000), 8000)
    relay.play(leg, Prompt(a_wav), on_done=done)
    done.wait(3)
    assert relay._renderer.decoded == decoded + 1


def test_play_tone_and_dual_tone(relay: Relay, phones: Callable[[], Phone]) -> None:
    p = phones()
    leg = leg_for(relay, p, codec="alaw")
    done = Done()
    relay.play(leg, [Tone(1000, 0.2), Silence(0.1), Tone((350, 440), 0.4)], on_done=done)
    done.wait()
    collect(p, 0.05)
    got = p.take()
    assert len(got) == 35
    assert_one_stream(got, pt=8)
    pcm = decode(got)
    beep, quiet, dual = pcm[:1600], pcm[1600:2400], pcm[2400:]
    assert dominant_hz(beep) == pytest.approx(1000, abs=10)
    assert np.abs(quiet).max() <= 8  # A-law's silence decodes to +-8
    peaks = spectrum_peaks(dual, [350, 440, 1000])
    assert peaks[350] > 0.8 and peaks[440] > 0.8 and peaks[1000] < 0.01


def test_prompt_errors_are_refused_clearly(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    leg = leg_for(relay, phones())
    with pytest.raises(RelayError, match="cannot read"):
        relay.play(leg, Prompt(tmp_path / "missing.wav"))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    with pytest.raises(RelayError, match="sox"):
        relay.play(leg, Prompt(bad))
    with pytest.raises(RelayError, match="sources"):
        relay.play(leg, "hello.wav")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="frequencies"):
        Tone(5000, 1)


def test_stop_play_and_replacing_play_report_not_completed(
    relay: Relay, phones: Callable[[], Phone]
) -> None:
    p = phones()
    leg = leg_for(relay, p)
    done = Done()
    first = relay.play(leg, Music(), loop=True, on_done=done)
    collect(p, 0.2)
    second = relay.play(leg, Tone(500, 5), on_done=done)
    assert done.wait(1) == [(leg, first, False)]
    collect(p, 0.2)
    relay.stop_play(leg)
    assert done.wait(2) == [(leg, first, False), (leg, second, False)]
    collect(p, 0.1)
    got = p.take()
    assert_one_stream(got)  # music then tone: one stream, no sequence break
    p.received.clear()
    collect(p, 0.1)
    assert p.received == []


def test_one_stream_per_leg_across_sources_and_idle(
    relay: Relay, phones: Callable[[], Phone]
) -> None:
    """SSRC kept, sequence numbers consecutive, timestamps following the clock across a
    prompt, a pause, hold music and another tone."""
    p = phones()
    leg = leg_for(relay, p)
    done = Done()
    relay.play(leg, Tone(800, 0.2), on_done=done)
    done.wait()
    collect(p, 0.3)  # idle
    relay.hold(leg)
    collect(p, 0.3)
    relay.resume(leg)
    relay.play(leg, Tone(800, 0.2), on_done=done)
    done.wait(2)
    collect(p, 0.05)
    got = list(p.received)
    pkts = [d for _, d in got]
    assert len({rtp_fields(x)[4] for x in pkts}) == 1
    for (t0, a), (t1, b) in itertools.pairwise(got):
        assert rtp_fields(b)[2] == (rtp_fields(a)[2] + 1) & 0xFFFF
        dts = ((rtp_fields(b)[3] - rtp_fields(a)[3]) & 0xFFFFFFFF) / 8000
        assert dts == pytest.approx(t1 - t0, abs=0.03)  # timestamps follow real time
    markers = [i for i, x in enumerate(pkts) if rtp_fields(x)[1] & 0x80]
    assert markers[0] == 0 and len(markers) >= 3  # each source (and the spurt after idle)


def test_partner_is_not_heard_while_a_play_runs(relay: Relay, phones: Callable[[], Phone]) -> None:
    a, b = phones(), phones()
    la, lb = leg_for(relay, a), leg_for(relay, b)
    relay.bridge(la, lb)
    done = Done()
    pid = relay.play(lb, Tone(1000, 0.3), on_done=done)
    drive(30, lambda i: a.send(addr(la)), [b])  # 0.6 s: 0.3 s tone, then A again
    got = b.take()
    ssrcs = [rtp_fields(x)[4] for x in got]
    first_a = ssrcs.index(a.ssrc)
    assert a.ssrc not in ssrcs[:15]  # during the tone only the tone
    assert set(ssrcs[first_a:]) == {a.ssrc}  # then A's packets, forwarded as they are
    assert got[-1] == a.sent[-1]
    assert done.wait() == [(lb, pid, True)]


# -- recording -------------------------------------------------------------------------------------


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def _parts(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.endswith(".part")]


def test_record_tone_to_wav_atomically(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    p = phones()
    leg = leg_for(relay, p, codec="alaw")
    target = tmp_path / "msg.wav"
    done = Done()
    rid = relay.record(leg, target, max_seconds=30, on_done=done)
    tone = ToneSender(p, addr(leg), 1000, "alaw")
    drive(25, lambda i: tone.send(), [])
    # while recording: only the temporary file, never a partial file under the final name
    assert not target.exists() and len(_parts(tmp_path)) == 1
    st = relay.stats()[0]
    assert st["record"]["id"] == rid and st["record"]["seconds"] > 0.2
    relay.stop_record(leg)
    (_leg, got_id, path, seconds, why) = done.wait()[0]
    assert (got_id, path, why) == (rid, target, "stopped")
    assert seconds == pytest.approx(0.5, abs=0.001)
    assert _parts(tmp_path) == []
    pcm = _read_wav(target)
    assert len(pcm) == 25 * 160
    assert dominant_hz(pcm) == pytest.approx(1000, abs=5)
    sent = decode(p.sent)
    assert np.array_equal(pcm, sent)  # sample for sample what was sent
    assert relay.stats()[0]["record"] is None


def test_record_places_packets_by_timestamp(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    """Reordered packets are written in timestamp order; a lost one becomes silence."""
    p = phones()
    leg = leg_for(relay, p)
    done = Done()
    relay.record(leg, tmp_path / "r.wav", max_seconds=10, on_done=done)
    tone = ToneSender(p, addr(leg), 700)
    pkts = [tone.packet() for _ in range(30)]
    order = list(range(30))
    order[10], order[11] = order[11], order[10]  # swapped pair
    del order[20]  # lost
    drive(len(order), lambda i: p.send(addr(leg), pkts[order[i]]), [])
    relay.stop_record(leg)
    done.wait()
    pcm = _read_wav(tmp_path / "r.wav")
    expected = decode(pkts)
    expected[20 * 160 : 21 * 160] = 0
    assert np.array_equal(pcm, expected)


def test_record_ends_at_the_limit(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    p = phones()
    leg = leg_for(relay, p)
    done = Done()
    relay.record(leg, tmp_path / "lim.wav", max_seconds=0.5, on_done=done)
    tone = ToneSender(p, addr(leg), 440)
    drive(40, lambda i: tone.send(), [])
    (_l, _id, path, seconds, why) = done.wait()[0]
    assert why == "limit" and seconds == 0.5
    assert len(_read_wav(path)) == 4000


def test_record_limit_by_wall_clock_when_nothing_arrives(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    leg = leg_for(relay, phones())
    done = Done()
    t0 = time.monotonic()
    relay.record(leg, tmp_path / "empty.wav", max_seconds=0.3, on_done=done)
    (_l, _id, path, seconds, why) = done.wait()[0]
    assert why == "limit" and seconds == 0 and 0.3 <= time.monotonic() - t0 < 1.5
    assert len(_read_wav(path)) == 0


def test_record_ends_on_silence_after_speech(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    p = phones()
    leg = leg_for(relay, p)
    done = Done()
    relay.record(leg, tmp_path / "s.wav", max_seconds=10, silence_seconds=0.4, on_done=done)
    tone = ToneSender(p, addr(leg), 440)
    quiet = g711.encode(np.zeros(160, np.int16), "ulaw")

    def each(i: int) -> None:
        # silence first (not speech yet: must not end it), then speech, then silence
        if 10 <= i < 30:
            tone.n = i
            p.send(addr(leg), tone.packet())
        else:
            p.send(addr(leg), p.packet(0, quiet))

    drive(80, each, [])
    (_l, _id, path, seconds, why) = done.wait()[0]
    assert why == "silence"
    assert seconds == pytest.approx(0.6, abs=0.001)  # up to the end of speech
    pcm = _read_wav(path)
    assert np.abs(pcm[: 10 * 160]).max() == 0 and dominant_hz(pcm[10 * 160 :]) == 440


def test_record_closed_keeps_what_was_recorded(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    p = phones()
    leg = leg_for(relay, p)
    done = Done()
    relay.record(leg, tmp_path / "c.wav", max_seconds=10, on_done=done)
    tone = ToneSender(p, addr(leg), 440)
    drive(10, lambda i: tone.send(), [])
    relay.close_leg(leg)
    (_l, _id, path, seconds, why) = done.wait()[0]
    assert why == "closed" and seconds == pytest.approx(0.2, abs=0.001)
    assert len(_read_wav(path)) == 1600 and _parts(tmp_path) == []


def test_record_refuses_an_unwritable_directory(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    leg = leg_for(relay, phones())
    with pytest.raises(RelayError, match="directory exists"):
        relay.record(leg, tmp_path / "nowhere" / "x.wav", max_seconds=5)


_FULL_DISK = textwrap.dedent(
    """
    import json, logging, sys, threading, time
    sys.path.insert(0, sys.argv[2])
    from skinnyctl.media import Relay, g711
    from tests.rtpphone import Phone, sine
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    got = []
    ev = threading.Event()
    with Relay(port_min=44000, port_max=44099) as r:
        p = Phone()
        leg = r.open_leg("c")
        r.learn(leg, *p.addr)
        r.record(leg, sys.argv[1] + "/msg.wav", max_seconds=20,
                 on_done=lambda *a: (got.append(a[3:]), ev.set()))
        for i in range(200):  # 4 s, 64 KB of samples: more than the disk holds
            p.send(("127.0.0.1", leg.local_port), p.packet(0, g711.encode(sine(440, 160), "ulaw")))
            time.sleep(0.02)
            if ev.is_set():
                break
        ev.wait(5)
        forwarding = r.stats()[0]["rx_packets"]
    print(json.dumps({"done": got, "rx": forwarding}))
    """
)


def test_full_disk_ends_the_recording_with_error(tmp_path: Path) -> None:
    """On a 16 KiB tmpfs (its own mount namespace): why "error", a log line, no file, and the
    engine keeps working."""
    disk = tmp_path / "disk"
    disk.mkdir()
    script = tmp_path / "full.py"
    script.write_text(_FULL_DISK)
    root = str(Path(__file__).resolve().parent.parent)
    cmd = (
        f"mount -t tmpfs -o size=16k tmpfs {disk} && "
        f"{sys.executable} {script} {disk} {root}; rc=$?; ls -a {disk}; exit $rc"
    )
    try:
        proc = subprocess.run(
            ["unshare", "-m", "sh", "-c", cmd], capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError:
        pytest.skip("unshare not available")
    if ("mount" in proc.stderr and "permission" in proc.stderr.lower()) or proc.returncode == 32:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs in a mount namespace: {proc.stderr}")
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    result = json.loads(lines[0])
    assert [why for _secs, why in result["done"]] == ["error"]
    assert "No space left on device" in proc.stderr and "msg.wav" in proc.stderr
    assert set(lines[1:]) <= {".", ".."}  # neither the file nor its temporary remain
    assert result["rx"] > 30  # forwarding went on


# -- echo ------------------------------------------------------------------------------------------


def test_echo_returns_packets_unchanged_and_in_order(
    relay: Relay, phones: Callable[[], Phone]
) -> None:
    p, partner = phones(), phones()
    leg, other = leg_for(relay, p), leg_for(relay, partner)
    relay.bridge(leg, other)
    relay.echo(leg, True)
    sent_at: list[float] = []

    def each(i: int) -> None:
        sent_at.append(time.time())
        p.send(addr(leg))
        partner.send(addr(other))  # not forwarded to the echo leg meanwhile

    drive(50, each, [p, partner])
    assert [d for _, d in p.received] == p.sent
    assert partner.received == []
    rtt = [t - s for (t, _), s in zip(p.received, sent_at, strict=True)]
    assert max(rtt) < 0.06
    assert relay.stats()[0]["state"] == "echo"
    relay.echo(leg, False)  # back to the bridge
    p.received.clear()
    p.sent.clear()
    drive(5, lambda i: p.send(addr(leg)), [p, partner])
    assert p.received == [] and partner.take() == p.sent


# -- RFC 4733 DTMF ---------------------------------------------------------------------------------


def _event(
    phone: Phone, code: int, ts: int, duration: int, end: bool, marker: bool, pt: int = 101
) -> bytes:
    payload = struct.pack("!BBH", code, (0x80 if end else 0) | 10, duration)
    pkt = struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), phone.seq, ts, phone.ssrc)
    phone.seq = (phone.seq + 1) & 0xFFFF
    return pkt + payload


def _digit_packets(phone: Phone, code: int, start_ts: int, updates: int = 3) -> list[bytes]:
    """Start, updates and three retransmitted end packets, all with the event's timestamp."""
    pkts = [_event(phone, code, start_ts, 160 * (k + 1), False, k == 0) for k in range(updates)]
    pkts += [_event(phone, code, start_ts, 160 * (updates + 1), True, False) for _ in range(3)]
    return pkts


def test_rfc4733_digits_are_reported_once_and_not_forwarded(
    relay: Relay, phones: Callable[[], Phone]
) -> None:
    a, b = phones(), phones()
    la, lb = leg_for(relay, a), leg_for(relay, b)
    relay.set_codec(la, "ulaw", dtmf_pt=101)
    relay.bridge(la, lb)
    digits = Done()
    relay.set_dtmf(la, digits)
    five = _digit_packets(a, 5, 1000)
    pound = _digit_packets(a, 11, 3000)[-3:]  # start and updates lost: only the end packets
    late = _digit_packets(a, 5, 1000)[-1:]  # a straggler of the first event
    star_long = [  # a long event in two segments (RFC 4733 §2.5.1.3): one digit
        _event(a, 10, 5000, 0xFFFF, False, True),
        _event(a, 10, 5000 + 0xFFFF, 800, False, False),
        _event(a, 10, 5000 + 0xFFFF, 960, True, False),
    ]
    audio = [a.packet(0) for _ in range(3)]
    seq = [audio[0], *five, audio[1], *pound, *late, *star_long, audio[2]]
    drive(len(seq), lambda i: a.send(addr(la), seq[i]), [b])
    digits.wait(3)
    time.sleep(0.1)  # a wrongly reported retransmission would arrive by now
    assert [c[1] for c in digits.calls] == ["5", "#", "*"]
    assert {c[0] for c in digits.calls} == {la}
    assert b.take() == audio  # audio forwarded unchanged, events consumed
    assert relay.stats()[0]["dtmf_rx_digits"] == 3


def test_rfc4733_flood_is_not_reported_as_digits(relay: Relay, phones: Callable[[], Phone]) -> None:
    a = phones()
    la = leg_for(relay, a)
    relay.set_codec(la, "ulaw", dtmf_pt=101)
    digits = Done()
    relay.set_dtmf(la, digits)
    for k in range(50):  # fifty events back to back, each its own timestamp
        a.send(addr(la), _event(a, k % 10, 1000 + 800 * k, 800, True, True))
    wait_for(lambda: relay.stats()[0]["rx_packets"] == 50, 2.0)
    time.sleep(0.1)
    st = relay.stats()[0]
    assert len(digits.calls) == st["dtmf_rx_digits"] <= 2
    assert st["dtmf_rx_digits"] + st["dtmf_rx_ignored"] == 50


def test_rfc4733_forwarded_when_asked_with_the_partners_payload_type(
    relay: Relay, phones: Callable[[], Phone]
) -> None:
    a, b = phones(), phones()
    la, lb = leg_for(relay, a), leg_for(relay, b)
    relay.set_codec(la, "ulaw", dtmf_pt=101)
    relay.set_codec(lb, "ulaw", dtmf_pt=96)
    relay.bridge(la, lb)
    digits = Done()
    relay.set_dtmf(la, digits, forward=True)
    pkts = _digit_packets(a, 9, 7000)
    drive(len(pkts), lambda i: a.send(addr(la), pkts[i]), [b])
    got = b.take()
    assert [c[1] for c in digits.wait()] == ["9"]
    assert len(got) == len(pkts)
    for s, g in zip(pkts, got, strict=True):
        assert g[1] == (s[1] & 0x80) | 96 and g[2:] == s[2:]


def test_send_dtmf_packets_and_tshark_decodes_rtpevent(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    p = phones()
    leg = leg_for(relay, p)
    relay.set_codec(leg, "ulaw", dtmf_pt=101)
    with pytest.raises(RelayError, match="DTMF digit"):
        relay.send_dtmf(leg, "x")
    relay.send_dtmf(leg, "7", 100)
    relay.send_dtmf(leg, "#", 60)  # queued behind the first
    collect(p, 0.6)
    got = list(p.received)
    assert len(got) == 7 + 5
    events = [(t, rtp_fields(d), struct.unpack("!BBH", d[12:16])) for t, d in got]
    assert all(f[1] & 0x7F == 101 for _, f, _ in events)
    assert len({f[4] for _, f, _ in events}) == 1
    for (_, f0, _), (_, f1, _) in itertools.pairwise(events):
        assert f1[2] == (f0[2] + 1) & 0xFFFF
    seven, pound = events[:7], events[7:]
    for ev, code, durations in (
        (seven, 7, [160, 320, 480, 640, 800, 800, 800]),
        (pound, 11, [160, 320, 480, 480, 480]),
    ):
        assert [e[2][0] for e in ev] == [code] * len(ev)
        assert [e[2][2] for e in ev] == durations
        assert [bool(e[2][1] & 0x80) for e in ev] == [False] * (len(ev) - 3) + [True] * 3
        assert [e[2][1] & 0x3F for e in ev] == [10] * len(ev)  # volume
        assert len({e[1][3] for e in ev}) == 1  # one timestamp per event
        assert [bool(e[1][1] & 0x80) for e in ev] == [True] + [False] * (len(ev) - 1)
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(ev)]
        assert sum(gaps) / len(gaps) == pytest.approx(0.02, abs=0.004)  # paced, not a burst
    assert (pound[0][1][3] - seven[0][1][3]) & 0xFFFFFFFF >= 800
    st = relay.stats()[0]
    assert st["dtmf_tx_digits"] == 2 and st["dtmf_tx_packets"] == 12
    pcap = tmp_path / "dtmf.pcap"
    write_udp_pcap(pcap, got, addr(leg), p.addr)
    fields = tshark_run(
        pcap,
        p.addr[1],
        "-T",
        "fields",
        "-e",
        "rtpevent.event_id",
        "-e",
        "rtpevent.end_of_event",
        "-e",
        "rtpevent.duration",
        "-Y",
        "rtpevent",
    ).split("\n")
    rows = [r.split("\t") for r in fields if r]
    assert len(rows) == 12
    assert [int(r[0]) for r in rows] == [7] * 7 + [11] * 5
    assert [int(r[2]) for r in rows] == [160, 320, 480, 640, 800, 800, 800, 160, 320, 480, 480, 480]
    assert [r[1] in ("1", "True") for r in rows] == [False] * 4 + [True] * 3 + [False] * 2 + [
        True
    ] * 3
    bad = tshark_run(pcap, p.addr[1], "-Y", "_ws.malformed || _ws.expert.severity >= error")
    assert bad.strip() == ""


def test_send_dtmf_needs_a_payload_type(relay: Relay, phones: Callable[[], Phone]) -> None:
    leg = leg_for(relay, phones())
    with pytest.raises(RelayError, match="dtmf_pt"):
        relay.send_dtmf(leg, "1")


# -- conferences -----------------------------------------------------------------------------------

TONES = (400.0, 700.0, 1100.0)


def tone_levels(pcm: np.ndarray, freq: float) -> np.ndarray:
    """Amplitude of `freq` in each 20 ms frame (Hann-windowed correlation)."""
    n = len(pcm) // 160
    win = np.hanning(160)
    x = pcm[: n * 160].reshape(n, 160).astype(np.float64) * win
    c = np.exp(-2j * np.pi * freq * np.arange(160) / 8000)
    return np.abs(x @ c) * 2 / win.sum()


def longest_gap(levels: np.ndarray, floor: float = 2500.0) -> int:
    """Longest run of frames in which a tone (sent at 8000) is missing."""
    run = best = 0
    for v in levels:
        run = run + 1 if v < floor else 0
        best = max(best, run)
    return best


def heard(phone: Phone, since: float, until: float) -> tuple[np.ndarray, list[float]]:
    """Audio a phone received between two wall-clock times, and its packets' arrival gaps."""
    window = [(t, d) for t, d in phone.received if since <= t <= until]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(window)]
    return decode([d for _, d in window]), gaps


def assert_hears(pcm: np.ndarray, hears: list[float], not_: list[float]) -> None:
    peaks = spectrum_peaks(pcm, [*hears, *not_])
    for f in hears:
        assert peaks[f] > 0.5, (f, peaks)
        assert longest_gap(tone_levels(pcm, f)) <= 2, f"{f} Hz missing for more than 40 ms"
    for f in not_:
        assert peaks[f] < 0.02, (f, peaks)


def conference(
    relay: Relay, phones: Callable[[], Phone], laws: list[str]
) -> list[tuple[Phone, Leg, ToneSender]]:
    out = []
    for law, freq in zip(laws, TONES, strict=False):
        p = phones()
        leg = leg_for(relay, p, call=f"call-{freq}", codec=law)
        relay.mix_add("room", leg)
        out.append((p, leg, ToneSender(p, addr(leg), freq, law)))
    return out


def test_three_parties_each_hear_the_other_two_and_not_themselves(
    relay: Relay, phones: Callable[[], Phone], tmp_path: Path
) -> None:
    parties = conference(relay, phones, ["ulaw"] * 3)
    silent = phones()  # a fourth party that never sends
    ls = leg_for(relay, silent, call="quiet", codec="ulaw")
    relay.mix_add("room", ls)
    listeners = [p for p, _, _ in parties] + [silent]
    t0 = time.time()
    t1 = drive(100, lambda i: [t.send() for _, _, t in parties], listeners)
    for k, (p, _leg, _t) in enumerate(parties):
        pcm, gaps = heard(p, t0 + 0.3, t1)
        own = TONES[k]
        assert_hears(pcm, [f for f in TONES if f != own], [own])
        assert max(gaps) <= 0.04, f"{own} Hz party: a {max(gaps) * 1000:.0f} ms gap"
    pcm, gaps = heard(silent, t0 + 0.3, t1)
    assert_hears(pcm, list(TONES), [])
    st = {s["leg"]: s for s in relay.stats()}
    for _, leg, _ in parties:
        mix = st[leg.id]["mix"]
        assert st[leg.id]["state"] == "conference" and mix["conference"] == "room"
        assert mix["parties"] == 4 and mix["frames_mixed"] > 80 and mix["late"] == 0
        assert mix["latency_p99_ms"] is not None and mix["latency_p99_ms"] < 100
    # the 1100 Hz party leaves: the other two still hear each other, and not it
    (pa, la, ta), (pb, lb, tb), (pc, lc, _tc) = parties
    relay.mix_remove(lc)
    assert relay.stats()[2]["mix"] is None
    collect(listeners, 0.05)  # what was in flight before the removal
    for p in listeners:
        p.received.clear()
    t2 = time.time()
    t3 = drive(50, lambda i: (ta.send(), tb.send()), [pa, pb, pc])
    pcm_a, gaps_a = heard(pa, t2 + 0.1, t3)
    pcm_b, gaps_b = heard(pb, t2 + 0.1, t3)
    assert_hears(pcm_a, [700], [400, 1100])
    assert_hears(pcm_b, [400], [700, 1100])
    assert max(gaps_a + gaps_b) <= 0.04
    assert pc.received == []  # out of the conference: nothing mixed for it any more
    # tshark: each mixed output is one clean stream: no loss, no sequence or timestamp problem
    # (its "Problems?" column flags both)
    for p, leg in ((pa, la), (pb, lb)):
        pcap = tmp_path / f"mix-{leg.id}.pcap"
        write_udp_pcap(pcap, p.received, addr(leg), p.addr)
        rows = rtp_streams(pcap, p.addr[1])
        assert len(rows) == 1, rows
        assert rows[0]["lost"] == 0 and rows[0]["problem"] == "", rows[0]["line"]
        assert rows[0]["packets"] == len(p.received)


def test_alaw_and_ulaw_parties_in_one_conference(relay: Relay, phones: Callable[[], Phone]) -> None:
    parties = conference(relay, phones, ["ulaw", "alaw", "ulaw"])
    listeners = [p for p, _, _ in parties]
    t0 = time.time()
    t1 = drive(60, lambda i: [t.send() for _, _, t in parties], listeners)
    for k, (p, _leg, _t) in enumerate(parties):
        window = [d for t, d in p.received if t0 + 0.3 <= t <= t1]
        assert {x[1] & 0x7F for x in window} == {8 if k == 1 else 0}  # each hears its own law
        own = TONES[k]
        assert_hears(decode(window), [f for f in TONES if f != own], [own])


def test_mix_saturates_instead_of_wrapping(relay: Relay, phones: Callable[[], Phone]) -> None:
    """Two parties at full positive scale: the sum heard by a third is clipped at the top,
    not wrapped round to a negative value."""
    loud, other, listener = phones(), phones(), phones()
    legs = [leg_for(relay, p, call=str(i)) for i, p in enumerate((loud, other, listener))]
    for leg in legs:
        relay.mix_add("clip", leg)
    full = b"\x80" * 160  # µ-law +32124
    t0 = time.time()
    t1 = drive(
        45,  # 0.9 s: the window after the first 0.2 s holds well over 3000 samples under load
        lambda i: [
            p.send(addr(leg), p.packet(0, full))
            for p, leg in zip((loud, other), legs, strict=False)
        ],
        [listener],
    )
    pcm, _ = heard(listener, t0 + 0.2, t1)
    assert len(pcm) > 3000 and set(pcm.tolist()) == {32124}


def test_jitter_buffer_places_reordered_packets_by_timestamp(
    relay: Relay, phones: Callable[[], Phone]
) -> None:
    """A sends noise with a pair swapped every 200 ms; B (the only other party) hears A's
    frames exactly, in timestamp order, whatever the arrival order."""
    (pa, la, _ta), (pb, _lb, tb) = conference(relay, phones, ["ulaw", "ulaw"])
    rng = np.random.default_rng(7)
    pkts = [pa.packet(0, rng.integers(0, 256, 160, dtype=np.uint8).tobytes()) for _ in range(150)]
    # what a party hears of another is decoded, summed and re-encoded: µ-law's -0 becomes +0
    expected = {g711.encode(g711.decode(x[12:], "ulaw"), "ulaw"): k for k, x in enumerate(pkts)}
    order = list(range(150))
    for k in range(20, 140, 10):  # every 200 ms a pair arrives swapped: one 20 ms late
        order[k], order[k + 1] = order[k + 1], order[k]
    drive(150, lambda i: (pa.send(addr(la), pkts[order[i]]), tb.send()), [pb])
    heard_idx = [expected.get(d[12:]) for _, d in pb.received]
    frames = [k for k in heard_idx if k is not None]
    assert frames == sorted(frames)  # in timestamp order, never in arrival order
    # the first swap's late packet is lost (and deepens the buffer by a frame); every later
    # swap is placed by timestamp and heard whole
    assert set(range(150)) - set(frames) <= {order[21]}
    mix = {s["leg"]: s for s in relay.stats()}[la.id]["mix"]
    assert mix["late"] <= 1 and mix["reordered"] >= 10


def test_party_that_stops_sending_is_silence_not_a_stall(
    relay: Relay, phones: Callable[[], Phone]
) -> None:
    (pa, _la, ta), (pb, lb, tb), (pc, _lc, tc) = conference(relay, phones, ["ulaw"] * 3)

    def each(i: int) -> None:
        ta.send()
        tc.send()
        if i < 30 or i >= 60:  # B pauses 600 ms, its timestamps jumping (silence suppression)
            tb.n = i
            tb.phone.ts = (tb.phone.ts + (0 if i != 60 else 30 * 160)) & 0xFFFFFFFF
            tb.send()

    t0 = time.time()
    t1 = drive(100, each, [pa, pb, pc])
    pcm, gaps = heard(pc, t0 + 0.3, t1)
    assert max(gaps) <= 0.04  # C's stream never stalls
    assert longest_gap(tone_levels(pcm, 400)) <= 2  # A heard throughout
    b = tone_levels(pcm, 700)
    frames = len(b)
    assert (b[: frames // 5] > 2500).all() or longest_gap(b[: frames // 5]) <= 2
    assert longest_gap(b) >= 25  # B's pause is silence ...
    assert longest_gap(b[-frames // 4 :]) <= 2  # ... and B is heard again straight after
    mix = {s["leg"]: s for s in relay.stats()}[lb.id]["mix"]
    assert mix["latency_p99_ms"] < 60  # the pause did not become latency


def test_held_party_leaves_the_mix_and_hears_music(
    relay: Relay, phones: Callable[[], Phone]
) -> None:
    (pa, _la, ta), (pb, _lb, tb), (pc, lc, tc) = conference(relay, phones, ["ulaw"] * 3)
    relay.hold(lc)
    t0 = time.time()
    t1 = drive(60, lambda i: [t.send() for t in (ta, tb, tc)], [pa, pb, pc])
    pcm_a, _ = heard(pa, t0 + 0.2, t1)
    assert_hears(pcm_a, [700], [400, 1100])  # C is not mixed while held
    music = [d for t, d in pc.received if t0 + 0.2 <= t <= t1]
    assert_one_stream(music, pt=0) if music else pytest.fail("no music")
    assert dominant_hz(decode(music)) not in (400.0, 700.0)  # music, not the conference
    assert relay.stats()[2]["state"] == "held"
    relay.resume(lc)
    for p in (pa, pb, pc):
        p.received.clear()
    t2 = time.time()
    t3 = drive(50, lambda i: [t.send() for t in (ta, tb, tc)], [pa, pb, pc])
    pcm_c, _ = heard(pc, t2 + 0.2, t3)
    assert_hears(pcm_c, [400, 700], [1100])  # back in the conference
    got = [d for _, d in pc.received]
    assert len({rtp_fields(x)[4] for x in got}) == 1  # music and mix: one stream


def test_bridge_takes_legs_out_of_a_conference(relay: Relay, phones: Callable[[], Phone]) -> None:
    a, b = phones(), phones()
    la, lb = leg_for(relay, a), leg_for(relay, b)
    relay.mix_add("k", la)
    relay.mix_add("k", lb)
    relay.bridge(la, lb)  # two parties left: joined directly
    assert [s["state"] for s in relay.stats()] == ["bridged", "bridged"]
    collect(b, 0.05)  # mixed silence in flight before the bridge
    b.received.clear()
    drive(10, lambda i: a.send(addr(la)), [b])
    assert b.take() == a.sent
