"""Conferences (issue 17) between simulated phones over real TCP against the in-process server,
mixed by the real media engine: Confrn, Join, cBarge, RmLstC, ConfList, MeetMe rooms with PIN
and tones, leaving (down to a plain call, the controller's rule), the size limit, direct media;
the three-tone FFT test; every SCCP frame checked with tshark, the mixer's output streams with
tshark's ``-z rtp,streams``."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skinnyctl.media import g711
from skinnyctl.phone import SimPhone
from skinnyctl.sccp import (
    CallInfo,
    CallState,
    DisplayNotify,
    EnblocCall,
    OffHook,
    OnHook,
    SelectSoftKeys,
    SetSpeakerMode,
    SoftKeyEvent,
    SoftKeySetIndex,
    SpeakerMode,
    StartTone,
    Tone,
    UserToDeviceDataVersion1,
)
from skinnyctl.sccp.enums import Label, label
from tests.rtpphone import Phone, rtp_streams, write_udp_pcap
from tests.test_calls import (
    S1,
    S2,
    A,
    B,
    C,
    K,
    Rig,
    S,
    call_a_to_b,
    clean,
    dial,
    expect,
    mark,
    media_flows,
    state,
)
from tests.test_defects import until
from tests.test_media_engine import TONES, ToneSender, assert_hears, drive, heard
from tests.tshark import dissect, require_tshark, skinny_messages

ROOMS = """
[[conferences]]
number = "8000"
name = "Meeting room"
max_parties = 3

[[conferences]]
number = "8001"
pin = "4321"

[[dialplan]]
pattern = "^800[0-9]$"
action = "process"
"""

CONNCONF = SoftKeySetIndex.CONNECTED_WITH_CONFERENCE


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """The in-process server of test_calls.py with the two rooms of ROOMS."""
    with Rig(tmp_path, tail=ROOMS) as r:
        yield r


# --- helpers -------------------------------------------------------------------------------------


def key(p: SimPhone, event: int, ref: int, line: int = 1) -> None:
    p.send(SoftKeyEvent(soft_key_event=event, line_instance=line, call_reference=ref))


def notified(p: SimPhone, since: int, what: Label) -> None:
    expect(p, since, (DisplayNotify, {"text": label(what)}))


def shows_conference(p: SimPhone, since: int) -> None:
    """The conference block of rule 16: its keys, and "Conference" as the far party."""
    expect(p, since, (SelectSoftKeys, {"soft_key_set_index": CONNCONF}))
    expect(p, since, (CallInfo, {"called_party_name": "Conference"}))


def leg_of(rig: Rig, p: SimPhone) -> dict[str, Any] | None:
    """The engine's leg facing ``p`` (by the phone's RTP address)."""
    port = p.announce_port or p.rtp_listen_port
    for s in rig.relay.stats():
        if s["remote"] == f"127.0.0.1:{port}":
            return s
    return None


def mixed(rig: Rig, *phones: SimPhone) -> None:
    """Every phone's leg is in the same conference of the engine, and no other leg is."""

    def ok() -> bool:
        legs = [leg_of(rig, p) for p in phones]
        confs = {lg["mix"]["conference"] for lg in legs if lg and lg["mix"]}
        in_mix = [s for s in rig.relay.stats() if s["mix"] is not None]
        return (
            len(confs) == 1 and all(lg and lg["mix"] for lg in legs) and len(in_mix) == len(phones)
        )

    until(ok, "phones " + ", ".join(p.name for p in phones) + " mixed together")


def not_mixed(rig: Rig, p: SimPhone) -> None:
    until(lambda: (lg := leg_of(rig, p)) is None or lg["mix"] is None, f"{p.name} not mixed")


def hears(p: SimPhone, timeout: float = 5.0) -> None:
    """The engine sends RTP to ``p`` (its mix, or a partner's packets)."""
    p.rtp_in.clear()
    p.wait_rtp(None, timeout)


def three_way(
    rig: Rig, a: SimPhone, b: SimPhone, c: SimPhone, talk: bool = True
) -> tuple[int, int, int, int]:
    """A calls B, Confrn (B held, hears music; A dial tone), calls C (1003), C answers, Confrn:
    the three are mixed, each shows "Conference". (A's held plane, A's consultation plane, now
    the one facing the conference; B's; C's). ``talk``: the phones' own sockets exchange RTP
    (False: their RTP goes to other sockets)."""
    ra, rb = call_a_to_b(rig, a, b)
    if talk:
        media_flows(a, b)
    m = mark(a)
    key(a, K.CONFERENCE, ra)
    expect(
        a,
        m,
        (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.ON_HOLD, "call_reference": ra}),
        (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.OFF_HOOK_WITH_FEATURES}),
        (StartTone, {"tone": Tone.INSIDE_DIAL_TONE}),
    )
    ry = state(a, S.OFF_HOOK).call_reference
    assert ry != ra
    until(lambda: (lg := leg_of(rig, b)) is not None and lg["state"] == "held", "B hears music")
    dial(a, "1003", ry)
    rc = state(c, S.RING_IN).call_reference
    # ringing: too early to join
    m = mark(a)
    key(a, K.CONFERENCE, ry)
    notified(a, m, Label.CAN_NOT_COMPLETE_CONFERENCE)
    c.send(OffHook(line_instance=1, call_reference=rc))
    state(c, S.CONNECTED)
    ma, mb, mc = mark(a), mark(b), mark(c)
    key(a, K.CONFERENCE, ry)
    for p, since in ((a, ma), (b, mb), (c, mc)):
        shows_conference(p, since)
    mixed(rig, a, b, c)
    expect(a, ma, (CallInfo, {"call_reference": ry, "called_party_name": "Conference"}))
    state(a, S.ON_HOOK)  # the held plane ra goes idle...
    assert not any(  # ...without the speaker going off under the conference call
        isinstance(x, SetSpeakerMode) and x.speaker_mode == SpeakerMode.OFF for x in a.received[ma:]
    )
    return ra, ry, rb, rc


# --- Confrn, and leaving ------------------------------------------------------------------------


def test_confrn_then_a_party_leaves_and_two_talk_directly(rig: Rig) -> None:
    """Item 2 Confrn and item 3: the three hear the mix; A's held plane goes idle without its
    speaker going off (its consultation holds it); B hangs up: A and C are a plain call again,
    bridged in the engine, each showing the other."""
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    ra, ry, _rb, _rc = three_way(rig, a, b, c)
    for p in (a, b, c):
        hears(p)
    ma, mc = mark(a), mark(c)
    b.send(OnHook(line_instance=1, call_reference=0))
    state(b, S.ON_HOOK)
    expect(a, ma, (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.CONNECTED}))
    expect(a, ma, (CallInfo, {"call_reference": ry, "called_party": "1003"}))
    expect(c, mc, (CallInfo, {"calling_party": "1001"}))
    not_mixed(rig, a)
    not_mixed(rig, c)
    until(lambda: leg_of(rig, a)["state"] == "bridged", "A bridged to C")  # type: ignore[index]
    a.rtp_in.clear()
    c.rtp_in.clear()
    media_flows(a, c)  # payloads forwarded untouched: a plain bridge, not a mix
    assert ra != ry
    clean(rig, a, b, c)


def test_join_gathers_the_held_calls_and_a_holding_party_is_unmixed(rig: Rig) -> None:
    """Item 2 Join: A talks to C with B on hold on the same line; Join makes the three a
    conference (B off hold, mixed). Item 1/3: B holding its conference call is unmixed while
    A and C go on; resuming mixes it again."""
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    ra, _rb = call_a_to_b(rig, a, b)
    m = mark(a)
    key(a, K.JOIN, ra)  # nothing on hold yet: said so
    notified(a, m, Label.CAN_NOT_JOIN_CALLS)
    key(a, K.HOLD, ra)
    state(a, S.HOLD)
    a.send(SoftKeyEvent(soft_key_event=K.NEW_CALL, line_instance=1, call_reference=0))
    ry = state(a, S.OFF_HOOK).call_reference
    dial(a, "1003", ry)
    rc = state(c, S.RING_IN).call_reference
    c.send(OffHook(line_instance=1, call_reference=rc))
    state(c, S.CONNECTED)
    media_flows(a, c)
    ma, mb, mc = mark(a), mark(b), mark(c)
    key(a, K.JOIN, ry)
    for p, since in ((a, ma), (b, mb), (c, mc)):
        shows_conference(p, since)
    expect(a, ma, (CallInfo, {"call_reference": ry, "called_party_name": "Conference"}))
    mixed(rig, a, b, c)
    until(lambda: leg_of(rig, b)["state"] == "conference", "B off hold")  # type: ignore[index]
    # B holds the conference: unmixed, the others still mixed together
    rb = b.wait_for(CallInfo, 5, lambda x: x.called_party_name == "Conference").call_reference
    key(b, K.HOLD, rb)
    state(b, S.HOLD)
    mixed(rig, a, c)
    key(b, K.RESUME, rb)
    state(b, S.CONNECTED)
    mixed(rig, a, b, c)
    for p in (a, b, c):
        hears(p)
    clean(rig, a, b, c)


def test_cbarge_joins_a_shared_lines_call_from_another_device(rig: Rig) -> None:
    """Item 2 cBarge: A calls the shared line 2000, S1 answers, S2 shows it in use with cBarge
    enabled; cBarge on S2 gives it a new connected plane in a conference with A and S1; S2
    hanging up leaves A and S1 a plain call again."""
    a, s1, s2 = rig.phone(A), rig.phone(S1, "7961"), rig.phone(S2, "7961")
    m2 = mark(s2)
    key(s2, K.CBARGE, 0)  # nothing to barge into
    notified(s2, m2, Label.FAILED_TO_SETUP_BARGE)
    a.send(EnblocCall(called_party="2000", line_instance=1))
    r1 = state(s1, S.RING_IN).call_reference
    state(s2, S.RING_IN)
    s1.send(OffHook(line_instance=1, call_reference=r1))
    state(a, S.CONNECTED)
    remote = state(s2, S.CALL_REMOTE_MULTILINE).call_reference
    # the in-use plane enables Redial and cBarge (slots 1, 2), not NewCall (slot 0)
    expect(
        s2,
        m2,
        (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.IN_USE_HINT, "valid_key_mask": 6}),
    )
    ma, m1, m2 = mark(a), mark(s1), mark(s2)
    key(s2, K.CBARGE, remote)
    barge = s2.wait_for(CallState, 5, lambda x: x.call_state == S.CONNECTED)
    assert barge.call_reference != remote  # a plane of its own, beside the in-use one
    expect(
        s2,
        m2,
        (CallInfo, {"call_reference": barge.call_reference, "called_party_name": "Conference"}),
    )
    for p, since in ((a, ma), (s1, m1), (s2, m2)):
        shows_conference(p, since)
    mixed(rig, a, s1, s2)
    for p in (a, s1, s2):
        hears(p)
    ma, m1 = mark(a), mark(s1)
    s2.send(OnHook(line_instance=1, call_reference=barge.call_reference))
    expect(s2, m2, (CallState, {"call_state": S.ON_HOOK, "call_reference": barge.call_reference}))
    expect(a, ma, (CallInfo, {"called_party": "2000"}))  # A called 2000: it still shows so
    not_mixed(rig, a)
    not_mixed(rig, s1)
    media_flows(a, s1)
    clean(rig, a, s1, s2)


def test_rmlstc_removes_the_last_added_party(rig: Rig) -> None:
    """Item 2: Confrn again from the conference adds a fourth party (the others keep talking
    while A consults); RmLstC, the controller's only, hangs up whoever joined last: the fourth,
    then the third; down to two, A and B talk directly."""
    a, b, c, s1 = rig.phone(A), rig.phone(B, "7961"), rig.phone(C), rig.phone(S1, "7961")
    _ra, ry, rb, _rc = three_way(rig, a, b, c)
    m = mark(b)
    key(b, K.RMLSTC, rb)  # not the controller
    notified(b, m, Label.KEY_IS_NOT_ACTIVE)
    key(a, K.CONFERENCE, ry)  # the conference call is held: A consults, B and C go on
    rz = state(a, S.OFF_HOOK).call_reference
    mixed(rig, b, c)
    dial(a, "2000", rz)
    r1 = state(s1, S.RING_IN).call_reference
    s1.send(OffHook(line_instance=1, call_reference=r1))
    state(s1, S.CONNECTED)
    ma, m1 = mark(a), mark(s1)
    key(a, K.CONFERENCE, rz)
    shows_conference(s1, m1)
    expect(a, ma, (CallInfo, {"call_reference": rz, "called_party_name": "Conference"}))
    expect(a, ma, (CallState, {"call_state": S.ON_HOOK, "call_reference": ry}))
    mixed(rig, a, b, c, s1)
    key(a, K.RMLSTC, rz)
    state(s1, S.ON_HOOK)
    mixed(rig, a, b, c)
    ma, mb = mark(a), mark(b)
    key(a, K.RMLSTC, rz)
    state(c, S.ON_HOOK)
    expect(a, ma, (CallInfo, {"call_reference": rz, "called_party": "1002"}))
    expect(b, mb, (SelectSoftKeys, {"soft_key_set_index": SoftKeySetIndex.CONNECTED}))
    not_mixed(rig, a)
    media_flows(a, b)
    clean(rig, a, b, c, s1)


def test_conflist_and_the_others_go_on_when_the_controller_leaves(rig: Rig) -> None:
    """Item 2 ConfList: a 7961 (protocol 17) gets the parties as an XML menu of application
    9081, a 7960 (protocol 11) a notice; item 3: the controller hangs up, B and C go on (two:
    a plain call). A party left alone with one holding it hears music."""
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    _ra, ry, rb, _rc = three_way(rig, a, b, c)
    key(b, K.CONFLIST, rb)
    pushed = b.wait_for(UserToDeviceDataVersion1, 5)
    assert pushed.application_id == 9081 and pushed.call_reference == rb
    menu = ET.fromstring(pushed.data)
    assert menu.tag == "CiscoIPPhoneIconFileMenu" and menu.findtext("Title") == "Conference"
    names = [i.findtext("Name") for i in menu.iter("MenuItem")]
    assert names == ["Alice A. (1001)", "Bob (1002)", "Carol (1003)"], names
    m = mark(a)
    key(a, K.CONFLIST, ry)
    expect(a, m, (DisplayNotify, {"text": "3: 1001 1002 1003"}))
    mb, mc = mark(b), mark(c)
    a.send(OnHook(line_instance=1, call_reference=ry))
    expect(b, mb, (CallInfo, {"called_party": "1003"}))  # C is B's far end now
    expect(c, mc, (CallInfo, {"calling_party": "1002"}))
    media_flows(b, c)
    clean(rig, a, b, c)
    # tshark reads the pushed list as what it is
    pdus = [x for pkt in dissect(list(b.frames)) for x in skinny_messages(pkt)]
    pushed_pdus = [x for x in pdus if x.message_id == UserToDeviceDataVersion1.MESSAGE_ID]
    assert pushed_pdus and pushed_pdus[0].get("skinny.applicationId") == ["9081"]


def test_a_holding_party_left_with_one_other_plays_it_music(rig: Rig) -> None:
    """Item 1/3: A consults for a fourth party (its conference call held, unmixed); B leaves:
    A and C are a plain call again, held by A, so C hears music until A comes back."""
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    _ra, ry, _rb, _rc = three_way(rig, a, b, c)
    key(a, K.CONFERENCE, ry)
    rz = state(a, S.OFF_HOOK).call_reference
    mixed(rig, b, c)
    b.send(OnHook(line_instance=1, call_reference=0))
    until(lambda: leg_of(rig, c)["state"] == "held", "C hears music")  # type: ignore[index]
    a.send(OnHook(line_instance=1, call_reference=rz))  # the consultation ends, ry stays held
    key(a, K.RESUME, ry)
    state(a, S.CONNECTED)
    until(lambda: leg_of(rig, c)["state"] == "bridged", "A and C talk")  # type: ignore[index]
    media_flows(a, c)
    clean(rig, a, b, c)


@pytest.fixture
def strict_rig(tmp_path: Path) -> Iterator[Rig]:
    extra = "conference_max = 3\nconference_end_with_controller = true\n"
    with Rig(tmp_path, tail=ROOMS, extra=extra) as r:
        yield r


def test_conference_max_and_the_controller_ending_it(strict_rig: Rig) -> None:
    """conference_max = 3: Confrn in a full conference is refused and changes nothing;
    conference_end_with_controller: the controller hanging up ends it for everyone."""
    rig = strict_rig
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    _ra, ry, _rb, _rc = three_way(rig, a, b, c)
    m = mark(a)
    key(a, K.CONFERENCE, ry)
    notified(a, m, Label.EXCEED_MAXIMUM_PARTIES)
    mixed(rig, a, b, c)  # nothing was held
    mb, mc = mark(b), mark(c)
    a.send(OnHook(line_instance=1, call_reference=ry))
    expect(b, mb, (CallState, {"call_state": S.ON_HOOK}))
    expect(c, mc, (CallState, {"call_state": S.ON_HOOK}))
    until(lambda: rig.relay.stats() == [], "every leg closed")
    clean(rig, a, b, c)


# --- meet-me rooms (item 4) ----------------------------------------------------------------------


def audio(p: SimPhone) -> np.ndarray:
    """What ``p`` received so far, decoded (µ-law)."""
    return np.concatenate([g711.decode(x.payload, "ulaw") for x in p.rtp_in]).astype(np.int16)


def notes(p: SimPhone, seconds: float = 1.0) -> list[int]:
    """The dominant frequency of each run of sound in what ``p`` receives over the next
    ``seconds``, in order (nobody speaks: tones are all there is)."""
    time.sleep(seconds)
    pcm = audio(p)
    frames = pcm[: len(pcm) // 160 * 160].reshape(-1, 160).astype(np.float64)
    loud = np.sqrt((frames**2).mean(axis=1)) > 1000
    runs: list[list[np.ndarray]] = []
    for i, on in enumerate(loud):
        if on and (i == 0 or not loud[i - 1]):
            runs.append([])
        if on:
            runs[-1].append(frames[i])
    out = []
    for run in runs:
        x = np.concatenate(run)
        spec = np.abs(np.fft.rfft(x))
        out.append(round(float(np.fft.rfftfreq(len(x), 1 / 8000)[int(np.argmax(spec))]) / 10) * 10)
    return out


def test_meetme_room_tones_and_size(rig: Rig) -> None:
    """Item 4: MeetMe (two rooms: dial tone, then the room's number) and dialling the room
    join it, showing its name; a join and a leave each sound a tone to whoever is in; the room
    holds max_parties (3): the next caller hears busy."""
    a, b, c, s1 = rig.phone(A), rig.phone(B, "7961"), rig.phone(C), rig.phone(S1, "7961")
    m = mark(a)
    key(a, K.MEET_ME, 0)
    expect(a, m, (StartTone, {"tone": Tone.INSIDE_DIAL_TONE}))
    ra = state(a, S.OFF_HOOK).call_reference
    dial(a, "8000", ra)
    state(a, S.CONNECTED)
    expect(a, m, (CallInfo, {"called_party": "8000", "called_party_name": "Meeting room"}))
    expect(a, m, (SelectSoftKeys, {"soft_key_set_index": CONNCONF}))
    mixed(rig, a)
    time.sleep(0.5)  # A's own join tone is over
    a.rtp_in.clear()
    b.send(EnblocCall(called_party="8000", line_instance=1))
    state(b, S.CONNECTED)
    mixed(rig, a, b)
    assert notes(a) == [880, 1320]  # rising: someone came in
    c.send(EnblocCall(called_party="8000", line_instance=1))
    state(c, S.CONNECTED)
    mixed(rig, a, b, c)
    m1 = mark(s1)
    s1.send(EnblocCall(called_party="8000", line_instance=1))  # a fourth: the room is full
    expect(s1, m1, (StartTone, {"tone": Tone.LINE_BUSY_TONE}))
    s1.send(OnHook(line_instance=1, call_reference=0))
    time.sleep(0.5)
    a.rtp_in.clear()
    c.send(OnHook(line_instance=1, call_reference=0))
    state(c, S.ON_HOOK)
    mixed(rig, a, b)  # a room does not become a plain call
    assert notes(a) == [1320, 880]  # falling: someone left
    b.send(OnHook(line_instance=1, call_reference=0))
    mixed(rig, a)
    clean(rig, a, b, c, s1)


def test_meetme_room_with_a_pin(rig: Rig) -> None:
    """Item 4: a room with a PIN asks for it (a spoken prompt) and mixes a caller only once
    its digits match, with or without #; three wrong tries hang the caller up."""
    a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
    c.send(EnblocCall(called_party="8001", line_instance=1))
    rc = state(c, S.CONNECTED).call_reference
    expect(c, 0, (CallInfo, {"called_party": "8001", "called_party_name": "Conference"}))
    hears(c)  # "please enter your PIN, then press pound"
    until(lambda: (lg := leg_of(rig, c)) is not None and lg["play"] is not None, "a prompt")
    not_mixed(rig, c)
    dial(c, "4321", rc)  # the right digits: admitted at the PIN's length
    mixed(rig, c)
    b.send(EnblocCall(called_party="8001", line_instance=1))
    rb = state(b, S.CONNECTED).call_reference
    for wrong in ("1111", "12#", "9"):
        dial(b, wrong, rb)
        not_mixed(rig, b)
    dial(b, "9#", rb)  # the third wrong try
    state(b, S.ON_HOOK)
    a.send(EnblocCall(called_party="8001", line_instance=1))
    ra = state(a, S.CONNECTED).call_reference
    dial(a, "43", ra)
    not_mixed(rig, a)
    dial(a, "21#", ra)
    mixed(rig, a, c)
    clean(rig, a, b, c)


def test_conference_with_direct_media(tmp_path: Path) -> None:
    """media = "direct": phones talking to each other (or held, hearing music) are pointed at
    their legs in the engine once in a conference, and at each other again when two are left."""
    with Rig(tmp_path, tail=ROOMS, media="direct") as rig:
        a, b, c = rig.phone(A), rig.phone(B, "7961"), rig.phone(C)
        three_way(rig, a, b, c)
        relay_ports = {leg_of(rig, p)["local_port"] for p in (a, b, c)}  # type: ignore[index]
        until(
            lambda: {p.media_to[1] for p in (a, b, c) if p.media_to} == relay_ports,
            "every phone sends to its leg",
        )
        for p in (a, b, c):
            hears(p)
        b.send(OnHook(line_instance=1, call_reference=0))
        until(
            lambda: (
                a.media_to == ("127.0.0.1", c.rtp_listen_port)
                and c.media_to == ("127.0.0.1", a.rtp_listen_port)
            ),
            "A and C send to each other",
        )
        media_flows(a, c)
        clean(rig, a, b, c)


# --- must show: three tones, FFT, tshark on the mixer's outputs ----------------------------------


def test_three_tones_each_hears_the_other_two_then_one_leaves(rig: Rig, tmp_path: Path) -> None:
    """Three phones over TCP build a conference with Confrn; each sends a pure tone as µ-law
    RTP (400, 700, 1100 Hz) and receives the other two and not its own (FFT), with no gap
    over 40 ms; tshark finds each mixed stream clean (one SSRC, no loss, no sequence or
    timestamp problem). C leaves: A and B still hear each other (now bridged), no gap."""
    require_tshark()
    rtp = [Phone() for _ in range(3)]
    try:
        sims = [
            rig.phone(mac, model, announce_port=r.addr[1])
            for mac, model, r in zip((A, B, C), ("7960", "7961", "7960"), rtp, strict=True)
        ]
        a, b, c = sims
        three_way(rig, a, b, c, talk=False)
        until(lambda: all(s.media_to for s in sims), "StartMediaTransmission to every phone")
        senders = [
            ToneSender(r, s.media_to, f)  # type: ignore[arg-type]
            for r, s, f in zip(rtp, sims, TONES, strict=True)
        ]
        for r in rtp:
            r.drain()
            r.received.clear()
        t0 = time.time()
        t1 = drive(100, lambda i: [t.send() for t in senders], rtp)
        for k, r in enumerate(rtp):
            pcm, gaps = heard(r, t0 + 0.3, t1)
            own = TONES[k]
            assert_hears(pcm, [f for f in TONES if f != own], [own])
            assert max(gaps) <= 0.04, f"{own} Hz party: a {max(gaps) * 1000:.0f} ms gap"
            pcap = tmp_path / f"mix-{k}.pcap"
            window = [(t, d) for t, d in r.received if t0 <= t <= t1]
            write_udp_pcap(pcap, window, ("127.0.0.1", 40000), r.addr)
            rows = rtp_streams(pcap, r.addr[1])
            assert len(rows) == 1, rows
            assert rows[0]["lost"] == 0 and rows[0]["problem"] == "", rows[0]["line"]
            assert rows[0]["packets"] == len(window)
        # C leaves: the two others still hear each other (a plain bridge now)
        c.send(OnHook(line_instance=1, call_reference=0))
        state(c, S.ON_HOOK)
        until(lambda: leg_of(rig, a)["state"] == "bridged", "A and B bridged")  # type: ignore[index]
        for r in rtp:
            r.drain()
            r.received.clear()
        t2 = time.time()
        t3 = drive(50, lambda i: (senders[0].send(), senders[1].send()), rtp)
        pcm_a, gaps_a = heard(rtp[0], t2 + 0.1, t3)
        pcm_b, gaps_b = heard(rtp[1], t2 + 0.1, t3)
        assert_hears(pcm_a, [700.0], [400.0, 1100.0])
        assert_hears(pcm_b, [400.0], [700.0, 1100.0])
        assert max(gaps_a + gaps_b) <= 0.04
        assert [d for t, d in rtp[2].received if t > t2 + 0.1] == []  # C hears nothing more
        clean(rig, a, b, c)
    finally:
        for r in rtp:
            r.close()
