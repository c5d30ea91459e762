"""A SIP trunk's call as a conference party (issue 17 item 5), end to end: ``serve``'s Service
with simulated phones over TCP, SIPp as the provider, the far end's RTP (A-law) through the
media engine. The trunk party hears the phones' mix in its own law and they hear it; when the
phone that joined leaves, the phone and the trunk are a plain call again.
Run inside a network namespace (HELPERS.md): SIPp's and our fixed ports."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from skinnyctl.media import g711
from skinnyctl.sccp import CallInfo, OffHook, OnHook
from tests.rtpphone import sine, spectrum_peaks
from tests.test_conference import key
from tests.test_sip_edge import free_udp_port
from tests.test_trunk_calls import (  # noqa: F401  (its fixtures: office_factory, peer, sipp)
    K,
    S,
    connected_out,
    engine_stream,
    office_factory,
    peer,
    sipp,
    talking,
)
from tests.trunkrig import B, MediaPeer, dial, state

FAR_HZ, PHONE_HZ = 400.0, 1000.0  # whole periods in 20 ms: one payload repeated is a tone


def test_a_trunk_call_joins_a_conference_and_leaves_it(
    office_factory: Any,  # noqa: F811
    sipp: Any,  # noqa: F811
    peer: MediaPeer,  # noqa: F811
) -> None:
    sp = free_udp_port()
    run = sipp("provider_media.xml", sp, subst={"MEDIA_PORT": str(peer.port)})
    office = office_factory(sp)
    b = office.phone(B, "7961")
    a, ref = connected_out(office)
    talking(office, peer, a)
    key(a, K.CONFERENCE, ref)  # the trunk party is held (music), A consults B
    state(a, S.HOLD)
    consult = state(a, S.OFF_HOOK).call_reference
    dial(a, "1002", consult)
    rb = state(b, S.RING_IN).call_reference
    b.send(OffHook(line_instance=1, call_reference=rb))
    state(b, S.CONNECTED)
    key(a, K.CONFERENCE, consult)
    b.wait_for(CallInfo, 5, lambda m: m.called_party_name == "Conference")
    a.wait_for(CallInfo, 5, lambda m: m.called_party_name == "Conference")
    state(a, S.ON_HOOK)  # the held plane
    # the far end says 400 Hz (A-law), A says 1000 Hz (µ-law), B listens
    leg = office.trunk_leg()
    far = threading.Thread(
        target=peer.send, args=(leg, 75, 8, g711.encode(sine(FAR_HZ, 160), "alaw"))
    )
    mine = g711.encode(sine(PHONE_HZ, 160), "ulaw")
    b.rtp_in.clear()
    peer.clear()
    far.start()
    for _ in range(75):
        a.send_rtp(1, mine)
        time.sleep(0.02)
    far.join()
    heard_b = np.concatenate([g711.decode(p.payload, "ulaw") for p in b.rtp_in[-25:]])
    peaks_b = spectrum_peaks(heard_b, [FAR_HZ, PHONE_HZ])
    assert peaks_b[FAR_HZ] > 0.3 and peaks_b[PHONE_HZ] > 0.3, peaks_b  # the mix of the two
    mixed = engine_stream(peer.packets(), {a.rtp_ssrc, b.rtp_ssrc})
    assert len({p.ssrc for p in mixed}) == 1 and all(p.pt == 8 for p in mixed)  # its law
    heard_far = np.concatenate([g711.decode(p.payload, "alaw") for p in mixed[-25:]])
    peaks_far = spectrum_peaks(heard_far, [FAR_HZ, PHONE_HZ])
    assert peaks_far[PHONE_HZ] > 0.5 and peaks_far[FAR_HZ] < 0.05, peaks_far  # not itself
    # B leaves: A and the trunk party are a plain call again
    b.send(OnHook(line_instance=1, call_reference=rb))
    a.wait_for(CallInfo, 5, lambda m: m.called_party_name != "Conference")
    talking(office, peer, a)
    a.send(OnHook(line_instance=1, call_reference=0))
    assert run.finish() == 0, run.errors()  # one dialog from start to end: our BYE
    office.wait(lambda: office.calls() == [], what="the calls gone")
    office.service.cdr.flush()
    records = office.records()
    party = [r for r in records if r["callee_device"].startswith("conference:")]
    assert any(r["trunk"] == "provider" for r in party), records  # the trunk's own record
    office.clean()
