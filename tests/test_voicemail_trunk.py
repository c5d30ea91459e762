"""A caller from outside (SIP trunk, SIPp as the provider) reaches voicemail: phone A, talking
to the provider, transfers the call to deposit_prefix + a box; the outside caller hears the
greeting, skips it with an RFC 4733 ``#``, speaks (A-law), ends the message with ``#``: the
message keeps the outside number and the caller's tone."""

from __future__ import annotations

import time
from typing import Any

import pytest

from skinnyctl.media import g711
from skinnyctl.sccp import CallStateValue as S
from skinnyctl.sccp import SoftKeyEvent, SoftKeyEventValue
from tests import test_trunk_calls as trunk
from tests.test_sip_edge import free_udp_port
from tests.trunkrig import MediaPeer, Office, dial, state
from tests.vmrig import dominant_hz, tone, wav_pcm

# the trunk tests' fixtures (SIPp as the provider, its media socket, serve's Service)
office_factory = trunk.office_factory
sipp = trunk.sipp
peer = trunk.peer

VOICEMAIL = """
[[lines]]
number = "1003"
display_name = "Carol"
voicemail_box = "1003"
[[dialplan]]
pattern = '^\\*1[0-9]{3}$'
action = "process"
"""


def recording(office: Office, peer: MediaPeer) -> bool:
    relay = office.service.relay
    assert relay is not None
    me = f"127.0.0.1:{peer.port}"
    return any(leg.get("remote") == me and leg.get("record") for leg in relay.stats())


def playing(office: Office, peer: MediaPeer) -> str:
    """What the engine plays to the outside caller ("silence:0.3s,prompt:a.wav+b.wav")."""
    relay = office.service.relay
    assert relay is not None
    me = f"127.0.0.1:{peer.port}"
    for leg in relay.stats():
        if leg.get("remote") == me and leg.get("play"):
            return str(leg["play"]["source"])
    return ""


def test_an_outside_caller_transferred_to_a_box_leaves_a_message_with_rfc4733_keys(
    office_factory: Any, sipp: Any, peer: MediaPeer
) -> None:
    sp = free_udp_port()
    run = sipp("provider_media.xml", sp, subst={"MEDIA_PORT": str(peer.port)})
    office = office_factory(sp, extra=VOICEMAIL)
    a, ref = trunk.connected_out(office)
    trunk.talking(office, peer, a)
    K = SoftKeyEventValue
    a.send(SoftKeyEvent(soft_key_event=K.TRANSFER, line_instance=1, call_reference=ref))
    state(a, S.HOLD)
    consult = state(a, S.OFF_HOOK).call_reference
    dial(a, "*1003", consult)
    state(a, S.CONNECTED)
    a.send(SoftKeyEvent(soft_key_event=K.TRANSFER, line_instance=1, call_reference=consult))
    state(a, S.ON_HOOK)
    leg = office.trunk_leg()
    office.wait(lambda: "person_at_extension.wav" in playing(office, peer), 10, "the greeting")
    peer.send_digit(leg, "#")  # skips to the beep
    office.wait(lambda: recording(office, peer), 10, "the recording")
    audio = g711.encode(tone(500, 0.02), "alaw")  # 500 Hz: whole periods in each packet
    peer.send(leg, 75, pt=8, payload=audio)
    peer.send_digit(leg, "#")  # the message ends
    store = office.service.voicemail.store  # type: ignore[union-attr]
    office.wait(lambda: store.messages("1003"), 10, "the message kept")
    (m,) = store.messages("1003")
    assert m.caller == "+33123456789", m  # the outside number, as the trunk shows it
    store.flush()
    pcm = wav_pcm(m.path)
    assert 1.2 <= len(pcm) / 8000 <= 1.8
    assert dominant_hz(pcm) == pytest.approx(500, abs=5)
    time.sleep(0.2)
    office.wait(lambda: not office.calls(), 15, "the call ended after goodbye")
    assert run.finish() == 0, run.errors()
    office.clean()
