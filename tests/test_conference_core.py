"""Conferences in the sans-IO core with parties that are not phones (issue 17 item 5): a
stand-in for the SIP trunk's channel (Kind.TRUNK, a media leg of its own, no SCCP) dials a
room, is brought into an ad-hoc conference, leaves; the actions the core emits for the media
engine are checked. The same flows between simulated phones are in test_conference.py."""

from __future__ import annotations

from typing import Any

from skinnyctl.apps.conference import Conferences
from skinnyctl.calls import FakeClock, causes
from skinnyctl.calls.channel import Channel, ChState, Ind, Kind, Refused
from skinnyctl.calls.events import Action
from skinnyctl.calls.media import MediaBridge, MediaMix, MediaPrompt, MediaUnmix
from skinnyctl.calls.routing import Route
from skinnyctl.calls.switch import Call, Switch
from skinnyctl.site import parse_site

SITE = """
[server]
conference_max = 4
[[conferences]]
number = "8000"
max_parties = 2
[[dialplan]]
pattern = "^8000$"
action = "process"
"""


class Trunk(Channel):
    """A far party the way a trunk is one: its own media leg (key = its id), no phone."""

    kind = Kind.TRUNK

    @property
    def media_key(self) -> int | None:
        return self.id


class Trunks:
    def __init__(self) -> None:
        self.told: list[tuple[Channel, Ind, Any]] = []

    def offer(self, call: Call, route: Route) -> Channel | Refused:
        return Refused(causes.UNALLOCATED_NUMBER, "not used here")

    def start(self, ch: Channel) -> list[Action]:
        return []

    def indicate(self, ch: Channel, ind: Ind, arg: Any = None) -> list[Action]:
        self.told.append((ch, ind, arg))
        return []


def core() -> tuple[Switch, Conferences, Trunks]:
    site = parse_site(SITE)
    switch = Switch(site, FakeClock())
    trunks = Trunks()
    switch.endpoints[Kind.TRUNK] = trunks
    return switch, Conferences(site, switch), trunks


def caller(switch: Switch, trunks: Trunks, number: str) -> Trunk:
    ch = Trunk(switch.refs(), trunks, number, f"outside {number}")
    switch.originate(ch)
    return ch


def of(actions: list[Action], kind: type) -> list[Any]:
    return [a for a in actions if isinstance(a, kind)]


def test_trunk_callers_share_a_room() -> None:
    switch, rooms, trunks = core()
    t1, t2, t3 = (caller(switch, trunks, n) for n in ("+331", "+332", "+333"))
    first = switch.dial(t1, "8000")
    assert (t1, Ind.ANSWER, None) in trunks.told
    (mix1,) = of(first, MediaMix)
    assert mix1.key == t1.id
    second = switch.dial(t2, "8000")
    (mix2,) = of(second, MediaMix)
    assert (mix2.key, mix2.conf_key) == (t2.id, mix1.conf_key)
    assert {p.key for p in of(second, MediaPrompt)} == {t1.id, t2.id}  # the join tone
    switch.dial(t3, "8000")  # max_parties = 2: refused busy, the room unchanged
    assert (t3, Ind.HANGUP, causes.USER_BUSY) in trunks.told
    assert len(rooms.rooms["8000"].ends) == 2
    left = switch.hangup(t1, causes.NORMAL_CLEARING, "far end hung up")
    assert of(left, MediaUnmix) == [MediaUnmix(t1.id)]
    assert [p.key for p in of(left, MediaPrompt)] == [t2.id]  # the leave tone
    switch.hangup(t2, causes.NORMAL_CLEARING, "far end hung up")
    assert rooms.rooms == {} and rooms.bridges == {}


def test_trunk_parties_in_an_ad_hoc_conference_then_bridged_again() -> None:
    switch, rooms, trunks = core()
    t1, t2, t3 = (caller(switch, trunks, n) for n in ("+331", "+332", "+333"))
    switch.connect([(t1, t2)], causes.NORMAL_CLEARING, "a call")
    brought = rooms.bring([t1, t2, t3], controller=t1)
    assert brought.ok and brought.bridge is not None
    assert {m.key for m in of(brought.actions, MediaMix)} == {t1.id, t2.id, t3.id}
    assert all(rooms.facing(t) is not None for t in (t1, t2, t3))
    assert all(t.state is ChState.UP for t in (t1, t2, t3))
    # no end of a conference, nor an application, is a party
    assert not rooms.bring([rooms.facing(t1)], brought.bridge).ok  # type: ignore[list-item]
    # t3 leaves: two remain, bridged directly in the engine
    left = switch.hangup(t3, causes.NORMAL_CLEARING, "far end hung up")
    assert set(of(left, MediaUnmix)) >= {MediaUnmix(t1.id), MediaUnmix(t2.id)}
    (bridge,) = of(left, MediaBridge)
    assert {bridge.a, bridge.b} == {t1.id, t2.id}
    assert switch.far(t1) is t2 and rooms.bridges == {}
