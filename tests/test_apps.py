"""Applications as ends of calls (issue 15): the echo test and the music number, over real TCP
with simulated phones and real RTP through the media engine; every SCCP frame clean in tshark.
Also the media engine's reports (a play ended, a digit arrived) coming back to the core."""

from __future__ import annotations

import itertools
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skinnyctl.calls.media import MediaCodec, MediaListenDtmf, MediaPrompt, tone
from skinnyctl.phone import SimPhone
from skinnyctl.sccp import CallInfo, CallState, EnblocCall, OnHook, SoftKeyEvent
from tests.test_calls import A, B, K, Rig, S, call_a_to_b, clean, state
from tests.test_defects import consultation, on_hook, until

APPS = """
[[applications]]
number = "*43"
kind = "echo"
name = "Echo test"

[[applications]]
number = "*44"
kind = "music"

[[dialplan]]
pattern = '^\\*4[34]$'
action = "process"
"""


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with Rig(tmp_path, tail=APPS) as r:
        yield r


def call_app(rig: Rig, p: SimPhone, number: str) -> int:
    """``p`` dials ``number`` en bloc; the application answers at once. Its call reference."""
    p.send(EnblocCall(called_party=number))
    ref = state(p, S.CONNECTED).call_reference
    until(lambda: p.media_to is not None, "StartMediaTransmission")
    return ref


def echo_round_trips(p: SimPhone, count: int = 50) -> list[float]:
    """Send ``count`` packets 20 ms apart; what came back must be them, unchanged and in
    order. The round trip of each, in ms."""
    with p._cond:
        p.rtp_in.clear()
    sent: dict[int, tuple[float, bytes]] = {}
    for i in range(count):
        body = struct.pack("!H", i) * 80
        p.send_rtp(1, payload=body)
        sent[p.last_seq] = (time.monotonic(), body)
        time.sleep(0.02)
    until(lambda: sum(x.ssrc == p.rtp_ssrc for x in p.rtp_in) >= count, "echoed packets")
    back = [x for x in p.rtp_in if x.ssrc == p.rtp_ssrc]
    assert [x.seq for x in back] == list(sent), "out of order or not every packet"
    assert all(x.payload == sent[x.seq][1] for x in back), "changed on the way"
    return [1000 * (x.at - sent[x.seq][0]) for x in back]


def no_echo(p: SimPhone) -> None:
    with p._cond:
        p.rtp_in.clear()
    p.send_rtp(10)
    time.sleep(0.3)
    assert not any(x.ssrc == p.rtp_ssrc for x in p.rtp_in)


def music_stream(p: SimPhone, seconds: float = 1.0) -> None:
    """A valid 20 ms µ-law stream: payload type 0, 160-byte frames, one SSRC, consecutive
    sequence numbers, about 50 packets a second, and not silence."""
    with p._cond:
        p.rtp_in.clear()
    time.sleep(seconds)
    got = [x for x in p.rtp_in if x.ssrc != p.rtp_ssrc]
    assert len(got) >= 0.8 * 50 * seconds, f"only {len(got)} packets in {seconds} s"
    assert {x.payload_type for x in got} == {0}
    assert {len(x.payload) for x in got} == {160}
    assert len({x.ssrc for x in got}) == 1
    seqs = [x.seq for x in got]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert statistics.median(gaps) == pytest.approx(0.02, abs=0.004)
    payload = b"".join(x.payload for x in got)
    assert len(set(payload)) > 20  # music, not a constant (µ-law silence is 0xFF/0x7F)


def test_echo_number_returns_rtp_unchanged_in_order_within_60_ms(rig: Rig) -> None:
    a = rig.phone(A)
    ref = call_app(rig, a, "*43")
    info = a.wait_for(CallInfo, 5, lambda m: m.called_party == "*43")
    assert info.called_party_name == "Echo test"
    rtts = echo_round_trips(a)
    assert max(rtts) < 60, f"round trips up to {max(rtts):.1f} ms"
    snap = rig.snapshot()
    assert snap[0]["state"] == "connected"
    assert {x["device_name"] for x in snap[0]["legs"]} == {a.name, "app:echo"}
    a.send(OnHook(line_instance=1, call_reference=ref))
    on_hook(a, ref)
    until(lambda: rig.snapshot() == [] and rig.relay.stats() == [], "everything closed")
    until(lambda: len(rig.cdr.query()) == 1, "a record")
    record = rig.cdr.query()[0]
    assert (record["called"], record["callee_device"], record["cause"]) == (
        "*43",
        "app:echo",
        "NORMAL_CLEARING",
    )
    clean(rig, a)


def test_music_number_streams_valid_20ms_ulaw(rig: Rig) -> None:
    a = rig.phone(A)
    ref = call_app(rig, a, "*44")
    music_stream(a)
    a.send(OnHook(line_instance=1, call_reference=ref))
    on_hook(a, ref)
    until(lambda: rig.relay.stats() == [], "the leg closed")
    clean(rig, a)


def test_hold_pauses_an_application_and_resume_brings_it_back(rig: Rig) -> None:
    a = rig.phone(A)
    ref = call_app(rig, a, "*43")
    echo_round_trips(a, 10)
    a.send(SoftKeyEvent(soft_key_event=K.HOLD, line_instance=1, call_reference=ref))
    state(a, S.HOLD)
    until(lambda: rig.relay.stats()[0]["echo"] is False, "echo off while held")
    a.send(SoftKeyEvent(soft_key_event=K.RESUME, line_instance=1, call_reference=ref))
    a.wait_for(CallState, 5, lambda m: m.call_state == S.CONNECTED and m.call_reference == ref)
    until(lambda: a.media_to is not None, "media again")
    assert max(echo_round_trips(a, 20)) < 60
    a.send(OnHook(line_instance=1, call_reference=ref))
    on_hook(a, ref)
    clean(rig, a)


@pytest.mark.parametrize(("number", "kind"), [("*43", "echo"), ("*44", "music")])
def test_a_caller_transferred_to_an_application_then_hangs_up(
    rig: Rig, number: str, kind: str
) -> None:
    """A calls B; B transfers A to the application (consultation answered at once, then
    Transfer): A now talks to it; A, the other side of the original call, ends it."""
    a, b = rig.phone(A), rig.phone(B, "7961")
    ra, rb = call_a_to_b(rig, a, b)
    b.send(SoftKeyEvent(soft_key_event=K.TRANSFER, line_instance=1, call_reference=rb))
    state(b, S.HOLD)
    ry = consultation(b, rb)
    b.send(EnblocCall(called_party=number, line_instance=1))
    b.wait_for(CallState, 5, lambda m: m.call_state == S.CONNECTED and m.call_reference == ry)
    b.send(SoftKeyEvent(soft_key_event=K.TRANSFER, line_instance=1, call_reference=ry))
    on_hook(b, ry)
    on_hook(b, rb)
    a.wait_for(CallInfo, 5, lambda m: number in (m.called_party, m.calling_party))
    snap = rig.snapshot()
    assert len(snap) == 1 and {x["device_name"] for x in snap[0]["legs"]} == {a.name, f"app:{kind}"}
    if kind == "echo":
        assert max(echo_round_trips(a)) < 60
    else:
        music_stream(a)
    a.send(OnHook(line_instance=1, call_reference=ra))
    on_hook(a, ra)
    until(lambda: rig.snapshot() == [] and rig.relay.stats() == [], "everything closed")
    causes = sorted(r["cause"] for r in rig.cdr.query())
    assert causes == ["ATTENDED_TRANSFER", "ATTENDED_TRANSFER", "NORMAL_CLEARING"]
    clean(rig, a, b)


def test_the_echo_number_from_the_phone_command(rig: Rig) -> None:
    """`skinnyctl phone ... --call *43` reports the round trip."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "skinnyctl",
            "phone",
            "00:11:20:ca:00:01",
            "--server",
            f"127.0.0.1:{rig.server.port}",
            "--call",
            "*43",
            "--no-reconnect",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    line = next((x for x in out.stdout.splitlines() if x.startswith("echo:")), out.stdout)
    assert "50/50 packets came back, in order, unchanged" in line, line
    assert "round trip p50" in line


def test_engine_reports_come_back_to_whoever_listens(rig: Rig) -> None:
    """A play that ends and an RFC 4733 digit travel from the engine's thread to the core,
    to the listener of that leg (what voicemail and trunks build on)."""
    a = rig.phone(A)
    call_app(rig, a, "*43")
    heard: list[object] = []
    key = rig.server.call(lambda core: next(iter(core.switch.calls.values())).a.media_key)

    def listen(core: object) -> None:
        rig.core.switch.listen(key, lambda ev: heard.append(ev) or [])
        rig.server._dispatch(
            [
                MediaCodec(key, "ulaw", dtmf_pt=101),
                MediaListenDtmf(key),
                MediaPrompt(key, (tone(1000, 0.1),), play_id=7),
            ]
        )

    rig.server.call(listen)
    until(lambda: any(getattr(e, "play_id", 0) == 7 for e in heard), "the play's end")
    # the phone sends an RFC 4733 "5": start (marker), update, three end packets, all with the
    # event's one timestamp
    assert a.media_to is not None and a._rtp is not None
    for i, end in enumerate((False, False, True, True, True)):
        header = struct.pack("!BBHII", 0x80, 101 | (0x80 if i == 0 else 0), 900 + i, 48000, 77)
        event = struct.pack("!BBH", 5, (0x80 if end else 0) | 10, 160 * min(i + 1, 3))
        a._rtp.sendto(header + event, a.media_to)
        time.sleep(0.02)
    until(lambda: any(getattr(e, "digit", "") == "5" for e in heard), "the digit")
    assert sum(getattr(e, "digit", "") == "5" for e in heard) == 1


def test_serve_with_direct_media_still_runs_the_media_engine(tmp_path: Path) -> None:
    """``media = "direct"`` points phones at each other, but what only the engine can carry
    (applications, music, conferences, park) must still work: ``skinnyctl serve`` starts the
    engine whatever the mode. Before, a direct-media site without trunks or voicemail had no
    engine, and the echo number answered in silence."""
    from tests import hostile

    site, port = hostile.write_site(tmp_path, server_extra='media = "direct"')
    with site.open("a") as f:
        f.write(
            '\n[[dialplan]]\npattern = "^\\\\*43$"\naction = "process"\n'
            '\n[[applications]]\nnumber = "*43"\nkind = "echo"\n'
        )
    mac = ":".join(hostile.A[i : i + 2] for i in range(0, 12, 2)).lower()
    with hostile.Served(site, port, tmp_path / "serve.log"):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "skinnyctl",
                "phone",
                mac,
                "--server",
                f"127.0.0.1:{port}",
                "--call",
                "*43",
                "--no-reconnect",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 0, out.stderr
    line = next((x for x in out.stdout.splitlines() if x.startswith("echo:")), out.stdout)
    assert "50/50 packets came back, in order, unchanged" in line, line
