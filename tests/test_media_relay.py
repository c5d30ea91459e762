"""RTP relay over real UDP on loopback: simulated phones are plain sockets sending paced RTP."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import struct
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from skinnyctl.media import Leg, MusicOnHold, Relay, RelayError
from tests.rtpphone import Phone, parse_rtp_streams
from tests.tshark import require_tshark

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

PTIME = 0.02


def run_call(pairs: list[tuple[Phone, tuple[str, int]]], count: int) -> None:
    """Every phone sends `count` packets to its destination, paced at 20 ms, then collects."""
    start = time.monotonic()
    for i in range(count):
        for phone, dest in pairs:
            phone.send(dest)
        for phone, _ in pairs:
            phone.drain()
        delay = start + (i + 1) * PTIME - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    wait_until(lambda: all(len(p.received) >= count for p, _ in pairs), 1.0, pairs)


def wait_until(cond: object, timeout: float, pairs: list[tuple[Phone, tuple[str, int]]]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p, _ in pairs:
            p.drain()
        if callable(cond) and cond():
            return
        time.sleep(0.005)


def collect(phone: Phone, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        phone.drain()
        time.sleep(0.002)


@pytest.fixture
def relay() -> Iterator[Relay]:
    r = Relay(host="127.0.0.1", port_min=40000, port_max=40999)
    r.start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def call(relay: Relay) -> Iterator[tuple[Phone, Phone, Leg, Leg]]:
    """Two phones in a bridged call, addresses learned as from OpenReceiveChannelAck."""
    a, b = Phone(), Phone()
    la, lb = relay.open_leg("call-1"), relay.open_leg("call-1")
    relay.learn(la, *a.addr)
    relay.learn(lb, *b.addr)
    relay.bridge(la, lb)
    try:
        yield a, b, la, lb
    finally:
        a.close()
        b.close()


def relay_addr(leg: Leg) -> tuple[str, int]:
    return ("127.0.0.1", leg.local_port)


def rtp_fields(pkt: bytes) -> tuple[int, int, int, int, int]:
    b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", pkt)
    return b0 >> 6, b1, seq, ts, ssrc


def assert_moh_stream(got: list[tuple[float, bytes]], pt: int, size: int, ptime: float) -> None:
    assert len(got) >= 15, f"only {len(got)} music-on-hold packets"
    ssrcs = set()
    for (_, prev), (_, cur) in itertools.pairwise(got):
        v, _b1, seq0, ts0, _ = rtp_fields(prev)
        v1, b1, seq1, ts1, ssrc = rtp_fields(cur)
        assert v == v1 == 2
        assert b1 & 0x7F == pt and not b1 & 0x80  # marker only on the first packet
        assert seq1 == (seq0 + 1) & 0xFFFF
        assert ts1 == (ts0 + size) & 0xFFFFFFFF
        assert len(cur) == 12 + size
        ssrcs.add(ssrc)
    assert rtp_fields(got[0][1])[1] & 0x80  # marker on the first packet
    assert len(ssrcs) == 1
    gaps = [t1 - t0 for (t0, _), (t1, _) in itertools.pairwise(got)]
    mean = sum(gaps) / len(gaps)
    assert mean == pytest.approx(ptime, abs=0.003)
    assert sorted(gaps)[len(gaps) // 2] == pytest.approx(ptime, abs=0.002)
    assert max(gaps) < ptime + 0.15  # only an overloaded (shared CI) machine stalls this long
    payload = b"".join(p[12:] for _, p in got)
    dec = audioop.ulaw2lin(payload, 2) if pt == 0 else audioop.alaw2lin(payload, 2)
    assert audioop.rms(dec, 2) > 300  # music, not silence


def test_two_phones_exchange_rtp_unmodified_in_order(relay: Relay, call: tuple) -> None:
    a, b, la, lb = call
    run_call([(a, relay_addr(la)), (b, relay_addr(lb))], 50)
    assert b.take() == a.sent  # every packet, in order, byte for byte
    assert a.take() == b.sent
    st = {s["leg"]: s for s in relay.stats()}
    for leg in (la, lb):
        s = st[leg.id]
        assert s["rx_packets"] == 50 and s["tx_packets"] == 50
        assert s["rx_bytes"] == 50 * 172
        assert s["rx_lost"] == 0 and s["rx_expected"] == 50
        assert s["dropped_unlearned"] == 0 and s["state"] == "bridged"
        assert 0 <= s["rx_jitter_ms"] < 10


def test_relay_sends_from_the_leg_port_the_phone_talks_to(relay: Relay, call: tuple) -> None:
    # symmetric RTP: what NAT boxes and phones expect
    a, b, la, lb = call
    a.send(relay_addr(la))
    deadline = time.monotonic() + 1.0
    src = None
    while src is None and time.monotonic() < deadline:
        try:
            _, src = b.sock.recvfrom(4096)
        except BlockingIOError:
            time.sleep(0.002)
    assert src == relay_addr(lb)


def test_rtcp_is_forwarded_between_rtcp_ports(relay: Relay, call: tuple) -> None:
    a, b, la, lb = call
    ra, rb = Phone(), Phone()
    try:
        # RTCP comes from RTP port + 1; emulate with a second learn on the RTCP pair
        relay.learn(la, a.addr[0], ra.addr[1] - 1)
        relay.learn(lb, b.addr[0], rb.addr[1] - 1)
        sr = struct.pack("!BBH", 0x80, 200, 6) + os.urandom(24)
        ra.sock.sendto(sr, ("127.0.0.1", la.local_rtcp_port))
        wait_until(lambda: rb.received, 1.0, [(rb, ("", 0))])
        assert rb.take() == [sr]
        assert la.local_rtcp_port == la.local_port + 1 and la.local_port % 2 == 0
    finally:
        ra.close()
        rb.close()


def test_hold_plays_music_then_resume_restores_peer(relay: Relay, call: tuple) -> None:
    a, b, la, lb = call
    run_call([(a, relay_addr(la)), (b, relay_addr(lb))], 5)
    a.take()
    b.take()
    relay.hold(lb, codec="ulaw", ptime_ms=20)
    assert relay.stats()[1]["state"] == "held"
    # during hold both phones keep sending; neither hears the other
    a_sent_before = len(a.sent)
    b_sent_before = len(b.sent)
    start = time.monotonic()
    while time.monotonic() - start < 0.8:
        a.send(relay_addr(la))
        b.send(relay_addr(lb))
        collect(b, 0.02)
    collect(b, 0.05)
    a.drain()
    moh = list(b.received)
    b.received.clear()
    a_sent_hold = set(a.sent[a_sent_before:])
    assert not any(p in a_sent_hold for _, p in moh)
    assert not set(a.take()) & set(b.sent[b_sent_before:])
    assert_moh_stream(moh, pt=0, size=160, ptime=0.02)
    relay.resume(lb)
    time.sleep(0.05)
    b.drain()
    b.received.clear()  # at most one music packet in flight at resume
    a.sent.clear()
    b.sent.clear()
    run_call([(a, relay_addr(la)), (b, relay_addr(lb))], 20)
    assert b.take() == a.sent
    assert a.take() == b.sent


def test_hold_alaw_30ms(relay: Relay, call: tuple) -> None:
    _a, b, _la, lb = call
    relay.hold(lb, codec="alaw", ptime_ms=30)
    collect(b, 0.8)
    assert_moh_stream(list(b.received), pt=8, size=240, ptime=0.03)


def test_hold_with_wav_music(tmp_path: Path) -> None:
    import wave

    path = tmp_path / "m.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(struct.pack("<8000h", *([8000, -8000] * 4000)))
    with Relay(port_min=41000, port_max=41099, moh=MusicOnHold.from_wav(path)) as r:
        b = Phone()
        leg = r.open_leg("c")
        r.learn(leg, *b.addr)
        r.hold(leg)  # a leg without a partner can be held (e.g. a parked call)
        collect(b, 0.5)
        assert len(b.received) >= 15
        b.close()


def test_hangup_frees_ports(relay: Relay, call: tuple) -> None:
    _a, _b, la, lb = call
    ports = [la.local_port, la.local_rtcp_port, lb.local_port, lb.local_rtcp_port]
    relay.close_leg(la)
    relay.close_leg(lb)
    relay.close_leg(lb)  # idempotent
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))  # succeeds: the relay let go
        s.close()
    assert relay.stats() == []
    with pytest.raises(RelayError):
        relay.hold(la)


def test_unlearned_source_is_dropped_and_counted(relay: Relay, call: tuple) -> None:
    a, b, la, lb = call
    intruder = Phone(ip="127.0.0.2")  # another host (loopback is all of 127/8)
    try:
        run_call([(a, relay_addr(la)), (b, relay_addr(lb))], 3)
        a.take()
        b.take()
        for _ in range(10):
            intruder.send(relay_addr(la))
            intruder.send(relay_addr(lb))
        collect(b, 0.2)
        intruder.drain()
        a.drain()
        assert b.received == [] and intruder.received == [] and a.received == []
        st = {s["leg"]: s for s in relay.stats()}
        assert st[la.id]["dropped_unlearned"] == 10
        assert st[lb.id]["dropped_unlearned"] == 10
        assert st[la.id]["rx_packets"] == 3 and st[lb.id]["rx_packets"] == 3
        assert la.remote == a.addr and lb.remote == b.addr  # nothing latched to the intruder
        # the legit stream still flows afterwards
        run_call([(a, relay_addr(la)), (b, relay_addr(lb))], 3)
        assert b.take() == a.sent[-3:]
    finally:
        intruder.close()


def test_asymmetric_phone_is_heard_and_hears(relay: Relay) -> None:
    """A phone sending from one socket and receiving on another (softphones, test tools):
    its packets reach the far end, and the far end's reach the port it announced."""
    rx, tx, b = Phone(), Phone(), Phone()
    try:
        la, lb = relay.open_leg("c"), relay.open_leg("c")
        relay.learn(la, *rx.addr)  # announced: the receiving socket
        relay.learn(lb, *b.addr)
        relay.bridge(la, lb)
        run_call([(tx, relay_addr(la)), (b, relay_addr(lb))], 10)
        wait_until(lambda: len(rx.received) >= 10, 1.0, [(rx, ("", 0))])
        assert b.take() == tx.sent
        assert rx.take() == b.sent  # not latched to the sending socket
        assert tx.take() == []
        assert la.remote == rx.addr
    finally:
        for p in (rx, tx, b):
            p.close()


def test_leg_with_nothing_learned_never_latches(relay: Relay) -> None:
    a, b = Phone(), Phone()
    try:
        la, lb = relay.open_leg("c"), relay.open_leg("c")
        relay.learn(lb, *b.addr)
        relay.bridge(la, lb)
        for _ in range(5):
            a.send(relay_addr(la))
        collect(b, 0.2)
        assert b.received == []
        assert relay.stats()[0]["dropped_unlearned"] == 5
        assert la.remote is None
    finally:
        a.close()
        b.close()


def test_nat_latches_to_first_packet_from_learned_ip(relay: Relay) -> None:
    a, b = Phone(), Phone()
    try:
        la, lb = relay.open_leg("c"), relay.open_leg("c")
        # behind NAT (the call manager saw it): OpenReceiveChannelAck named a port the NAT
        # box rewrote
        relay.learn(la, a.addr[0], 9, nat=True)
        relay.learn(lb, *b.addr)
        relay.bridge(la, lb)
        run_call([(a, relay_addr(la)), (b, relay_addr(lb))], 10)
        assert la.remote == a.addr
        assert a.take() == b.sent
        assert b.take() == a.sent
    finally:
        a.close()
        b.close()


def test_rtp_from_another_ip_latches_once(relay: Relay) -> None:
    """A phone announcing one address and sending from another (a NAT the SCCP connection did
    not reveal) is latched on its first packet; a later stranger is not."""
    a, b = Phone(ip="127.0.0.3"), Phone()
    stranger = Phone(ip="127.0.0.4")
    try:
        la, lb = relay.open_leg("c"), relay.open_leg("c")
        relay.learn(la, "127.0.0.1", 9)  # what the phone announced
        relay.learn(lb, *b.addr)
        relay.bridge(la, lb)
        run_call([(a, relay_addr(la)), (b, relay_addr(lb))], 10)
        assert la.remote == a.addr
        assert a.take() == b.sent and b.take() == a.sent
        for _ in range(5):
            stranger.send(relay_addr(la))
        collect(b, 0.1)
        assert b.received == [] and la.remote == a.addr
    finally:
        for p in (a, b, stranger):
            p.close()


def test_loss_is_counted_from_sequence_gaps(relay: Relay, call: tuple) -> None:
    a, b, la, _lb = call
    for i in range(30):
        pkt = a.packet()
        if i % 10 != 5:  # drop 3 packets at the sender
            a.send(relay_addr(la), pkt)
    wait_until(lambda: len(b.received) >= 27, 1.0, [(b, ("", 0))])
    s = next(s for s in relay.stats() if s["leg"] == la.id)
    assert s["rx_packets"] == 27 and s["rx_expected"] == 30 and s["rx_lost"] == 3


def test_stats_are_plain_json_and_stop_is_idempotent() -> None:
    r = Relay(port_min=41300, port_max=41399)
    r.start()
    leg = r.open_leg("k")
    r.learn(leg, "127.0.0.1", 5000)
    assert json.loads(json.dumps(r.stats()))[0]["remote"] == "127.0.0.1:5000"
    r.stop()
    r.stop()
    with pytest.raises(RelayError, match="stopped"):
        r.open_leg("k")


def test_bridge_refuses_legs_of_different_calls(relay: Relay) -> None:
    x, y = relay.open_leg("call-x"), relay.open_leg("call-y")
    with pytest.raises(RelayError, match="same call"):
        relay.bridge(x, y)


def test_port_range_exhaustion_says_what_to_do() -> None:
    # two pairs only, so above the kernel's ephemeral range (32768-60999): a socket of another
    # test the kernel placed there would leave one pair, not two
    with Relay(port_min=61200, port_max=61203) as r:
        legs = [r.open_leg("c"), r.open_leg("c")]
        with pytest.raises(RelayError, match="widen"):
            r.open_leg("c")
        r.close_call("c")
        assert r.open_leg("d").local_port in (61200, 61202)
        assert all(leg.local_port in (61200, 61202) for leg in legs)


# -- tshark -------------------------------------------------------------------------------------


def test_tshark_dissects_relayed_rtp_without_loss_or_malformed(tmp_path: Path) -> None:
    tshark = require_tshark()
    lo, hi = 42000, 42099
    cap = tmp_path / "rtp.pcapng"
    proc = subprocess.Popen(
        [tshark, "-i", "lo", "-w", str(cap), "-f", f"udp portrange {lo}-{hi}", "-a", "duration:30"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 15
        line = ""
        while time.monotonic() < deadline and "Capturing on" not in line:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"tshark exited with {proc.returncode}")
        time.sleep(1.0)  # "Capturing on" is printed a moment before the filter is live
        with Relay(port_min=lo, port_max=hi) as r:
            a, b = Phone(), Phone()
            la, lb = r.open_leg("c"), r.open_leg("c")
            r.learn(la, *a.addr)
            r.learn(lb, *b.addr)
            r.bridge(la, lb)
            run_call([(a, relay_addr(la)), (b, relay_addr(lb))], 100)
            assert len(a.received) == len(b.received) == 100
            r.hold(lb)
            collect(b, 0.5)
            r.resume(lb)
            ports = (la.local_port, lb.local_port)
            a.close()
            b.close()
        time.sleep(0.3)  # let dumpcap write the last packets
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    decode = [arg for p in ports for arg in ("-d", f"udp.port=={p},rtp")]
    malformed = subprocess.run(
        [tshark, "-r", str(cap), *decode, "-Y", "_ws.malformed || _ws.expert.severity >= error"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert malformed.strip() == ""
    streams = subprocess.run(
        [tshark, "-r", str(cap), *decode, "-q", "-z", "rtp,streams"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rows = parse_rtp_streams(streams)
    # A->relay, relay->B, B->relay, relay->A: 100 each; then the music stream to B
    assert sorted(r["packets"] for r in rows)[-4:] == [100] * 4, streams
    assert len(rows) == 5 and min(r["packets"] for r in rows) >= 20, streams
    for row in rows:
        assert row["lost"] == 0, streams
