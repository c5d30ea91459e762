"""Conferences: ad-hoc (Confrn, Join, cBarge) and meet-me rooms, mixed in the media engine.

Model. A conference (:class:`Bridge`) is not one call with many ends: it is one ordinary
two-ended call per party, between the party's channel and one of the conference's own ends
(:class:`ConfEnd`, a channel of Kind.CONFERENCE owned by the :class:`Conferences` endpoint).
Why this and not one call with several ends: every rule of the switch is written for two
ends, and with one call per party each of them still holds. A party hanging up ends its own
call only (its end then leaves the bridge); hold is HOLD to its end (unmixed); digits are DTMF
to its end (a room's PIN); a transfer hands the end another far party; every party gets its
own call record; and a phone, a trunk or any later endpoint is a party without the switch or
this module knowing which. The switch needed one operation more: ``Switch.connect``, which
regroups channels into new two-ended calls (parties moving in; the last two joined again).

Media. Like an application, a conference's end has no media leg: it works on its far end's,
which it puts in the engine's conference (``MediaMix`` with the bridge's key) while it is
admitted and not held, and takes out (``MediaUnmix``) otherwise. The engine mixes each party
the sum of the others in 20 ms frames (``skinnyctl.media.mixer``).

Rules:
1. A room (``[[conferences]]``) has a bridge while somebody is in it. A caller of its number
   is offered an end, or refused USER_BUSY when the room holds ``max_parties``; it is
   answered at once. With a ``pin`` it hears "please enter your PIN, then press pound" and is
   admitted once the digits match (at the PIN's length, or on #); three wrong tries hang it
   up (CALL_REJECTED). Until admitted it is not mixed.
2. An ad-hoc bridge is made by :meth:`Conferences.bring` from channels a phone gathers
   (Confrn, Join, cBarge: ``endpoints.sccp.conference``): each channel brought faces a new end
   (or one it is handed), in one ``Switch.connect``; the calls they leave end. The end facing
   whoever set it up is the controller. Neither a conference's end nor an application can be
   brought (no media leg of its own to mix).
3. Size: at most ``max_parties`` (a room) or ``[server] conference_max`` (ad-hoc) ends;
   ``bring`` refuses beyond, changing nothing.
4. In a room, someone joining or leaving sounds a tone to everyone in it (a play replaces a
   party's mix for its third of a second).
5. Hold: a party holding its conference call is unmixed until it resumes (its end hears
   HOLD/RESUME); the others go on.
6. Leaving: a party hangs up, or is removed (RmLstC: :meth:`remove`): its end leaves. An
   ad-hoc bridge left with two parties joins them in a plain call (``Switch.connect``: the
   media engine bridges them again, or they talk directly) and ends; left with one, it hangs
   that one up. When the controller leaves, the others go on (CME), unless
   ``conference_end_with_controller``: then every party is hung up. A room goes on down to its
   last caller and ends with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skinnyctl.calls import causes
from skinnyctl.calls.channel import Channel, Ind, Kind, Refused, who
from skinnyctl.calls.events import Action
from skinnyctl.calls.media import (
    MediaMix,
    MediaPrompt,
    MediaStopPlay,
    MediaUnmix,
    Sound,
    prompt,
    silence,
    tone,
)
from skinnyctl.calls.routing import Route
from skinnyctl.calls.switch import Call, Switch
from skinnyctl.site.model import ConferenceRoom, Site

from .voicemail.prompts import Prompts

log = logging.getLogger("skinnyctl.apps.conference")

NAME = "Conference"  # what a party's phone shows as its far end (CallInfo)
PIN_TRIES = 3
JOIN_TONE = (tone(880, 0.12), silence(0.04), tone(1320, 0.16))  # rising: someone came in
LEAVE_TONE = (tone(1320, 0.12), silence(0.04), tone(880, 0.16))  # falling: someone left


@dataclass(eq=False)
class Bridge:
    """One conference: its ends in the order they joined, and its key in the media engine."""

    key: int
    number: str  # the room's number; "" for an ad-hoc conference
    name: str
    max_parties: int
    room: ConferenceRoom | None = None
    ends: list[ConfEnd] = field(default_factory=list)
    controller: ConfEnd | None = None  # ad-hoc: the end facing whoever set it up
    closing: bool = False  # being taken apart: its ends leave without the rules of leaving

    @property
    def label(self) -> str:
        return f"conference {self.number or self.key}"


class ConfEnd(Channel):
    """A conference's end facing one party."""

    kind = Kind.CONFERENCE

    def __init__(self, channel_id: int, endpoint: Conferences, bridge: Bridge) -> None:
        super().__init__(channel_id, endpoint, bridge.number, bridge.name)
        self.bridge = bridge
        self.attached: int | None = None  # the party's media leg, mixed
        self.admitted = True  # False while a room's PIN is awaited
        self.digits = ""  # PIN keyed so far
        self.tries = 0

    @property
    def device(self) -> str:
        return f"conference:{self.bridge.number or self.bridge.key}"


@dataclass(frozen=True)
class Brought:
    """What :meth:`Conferences.bring` did: ``ok`` False means nothing changed (``why``)."""

    ok: bool
    actions: list[Action]
    why: str = ""  # "full", "participant", "" (ok)
    bridge: Bridge | None = None


class Conferences:
    """The endpoint of every conference's ends (``calls.channel.Endpoint``). Core thread."""

    def __init__(self, site: Site, switch: Switch) -> None:
        self.switch = switch
        self.bridges: dict[int, Bridge] = {}
        self.rooms: dict[str, Bridge] = {}  # room number -> its bridge, while somebody is in
        self.site = site
        self._prompts = _prompts(site)
        switch.endpoints[Kind.CONFERENCE] = self

    def reload(self, site: Site) -> None:
        """Rooms in progress keep going; sizes and PINs apply to the next callers."""
        self.site = site
        self._prompts = _prompts(site)

    # --- queries --------------------------------------------------------------------------------

    def facing(self, ch: Channel) -> ConfEnd | None:
        """The conference's end ``ch`` is in a call with, if it is."""
        far = self.switch.far(ch)
        return far if isinstance(far, ConfEnd) else None

    def parties(self, bridge: Bridge) -> list[tuple[Channel, bool]]:
        """Each party of ``bridge`` in the order they joined, and whether it is the controller."""
        out = []
        for end in bridge.ends:
            far = self.switch.far(end)
            if far is not None:
                out.append((far, end is bridge.controller))
        return out

    # --- the channel endpoint: a room's callers -------------------------------------------------

    def offer(self, call: Call, route: Route) -> ConfEnd | Refused:
        room = route.conference
        if room is None:
            return Refused(causes.UNALLOCATED_NUMBER, f"{route.number} is not a conference room")
        bridge = self.rooms.get(room.number)
        size = room.max_parties or self.site.server.conference_max
        if bridge is not None and len(bridge.ends) >= size:
            return Refused(causes.USER_BUSY, f"room {room.number} is full ({size} parties)")
        if bridge is None:
            bridge = self._new_bridge(room.number, room.name or NAME, size, room)
            self.rooms[room.number] = bridge
        bridge.max_parties = size
        end = self._new_end(bridge)
        end.admitted = not room.pin
        return end

    def start(self, ch: Channel) -> list[Action]:
        """Rule 1: answered at once; mixed, or asked for the PIN."""
        assert isinstance(ch, ConfEnd)
        log.info("%s: %s calls in", ch.bridge.label, who(self.switch.far(ch)))
        actions = self.switch.answer(ch)  # the switch joins it: UPDATE attaches it
        if ch.admitted:
            return actions + self._tones(ch.bridge, JOIN_TONE)
        return actions + self._ask_pin(ch, first=True)

    def indicate(self, ch: Channel, ind: Ind, arg: Any = None) -> list[Action]:
        assert isinstance(ch, ConfEnd)
        if ind is Ind.UPDATE:  # another party, or its audio on another leg
            far = self.switch.far(ch)
            if far is not None and far.media_key == ch.attached:
                return []
            return self._detach(ch) + self._attach(ch)
        if ind is Ind.HOLD:  # rule 5
            return self._detach(ch)
        if ind is Ind.RESUME:
            return self._attach(ch)
        if ind is Ind.DTMF:
            return self._digit(ch, str(arg))
        if ind is Ind.HANGUP:  # rule 6
            return self._left(ch)
        return []

    # --- ad-hoc conferences (rule 2) -----------------------------------------------------------

    def bring(
        self,
        joiners: list[Channel],
        bridge: Bridge | None = None,
        reuse: dict[int, ConfEnd] | None = None,
        controller: Channel | None = None,
    ) -> Brought:
        """Put every channel of ``joiners`` in ``bridge`` (a new ad-hoc one if None): each
        faces a new end, the end ``reuse`` names for it (by channel id), or the end of
        ``bridge`` it faces already. ``controller``: the channel whose end controls a new
        bridge. Refused, changing nothing, beyond the size (rule 3) or for a channel that
        cannot be mixed."""
        reuse = reuse or {}
        for ch in joiners:
            if ch.kind in (Kind.APP, Kind.CONFERENCE):
                return Brought(False, [], "participant")
        max_parties = self.site.server.conference_max if bridge is None else bridge.max_parties
        new = [
            ch
            for ch in joiners
            if ch.id not in reuse and (bridge is None or self._end_of(ch, bridge) is None)
        ]
        if (len(bridge.ends) if bridge else 0) + len(new) > max_parties:
            return Brought(False, [], "full")
        if bridge is None:
            bridge = self._new_bridge("", NAME, max_parties)
        pairs: list[tuple[Channel, Channel]] = []
        for ch in joiners:
            end = reuse.get(ch.id)
            if end is None:
                if ch not in new:
                    continue
                end = self._new_end(bridge)
            pairs.append((ch, end))
            if ch is controller and bridge.controller is None:
                bridge.controller = end
        log.info("%s: %d parties join", bridge.label, len(pairs))
        actions = self.switch.connect(pairs, causes.NORMAL_CLEARING, "joined a conference")
        if bridge.room is not None:
            actions += self._tones(bridge, JOIN_TONE)
        return Brought(True, actions, bridge=bridge)

    def remove(
        self, end: ConfEnd, reason: str, cause: str = causes.NORMAL_CLEARING
    ) -> list[Action]:
        """Hang up the party facing ``end`` (RmLstC); the bridge follows rule 6."""
        log.info("%s: %s removed (%s)", end.bridge.label, who(self.switch.far(end)), reason)
        actions = self._detach(end)
        actions += self.switch.hangup(end, cause, reason)
        return actions + self._left(end)

    # --- rule 1: the PIN -----------------------------------------------------------------------

    def _ask_pin(self, end: ConfEnd, first: bool) -> list[Action]:
        names = ("enter_pin",) if first else ("invalid_pin", "enter_pin")
        return self._play(end, (prompt(*self._prompts.seq(*names)),))

    def _digit(self, end: ConfEnd, digit: str) -> list[Action]:
        room = end.bridge.room
        if end.admitted or room is None:
            return []
        if digit != "#":
            end.digits += digit
            if len(end.digits) < len(room.pin):
                return []
        if end.digits == room.pin:
            end.admitted = True
            end.digits = ""
            log.info("%s: %s admitted", end.bridge.label, who(self.switch.far(end)))
            actions = self._stop_play(end) + self._attach(end)
            return actions + self._tones(end.bridge, JOIN_TONE)
        end.tries += 1
        end.digits = ""
        far = who(self.switch.far(end))
        log.info("%s: wrong PIN from %s (%d)", end.bridge.label, far, end.tries)
        if end.tries < PIN_TRIES:
            return self._ask_pin(end, first=False)
        return self.remove(end, "wrong PIN", causes.CALL_REJECTED)

    # --- rule 6: leaving ----------------------------------------------------------------------

    def _left(self, end: ConfEnd) -> list[Action]:
        bridge = end.bridge
        actions = self._detach(end)
        if end not in bridge.ends:
            return actions
        bridge.ends.remove(end)
        was_controller = end is bridge.controller
        if was_controller:
            bridge.controller = None
        if bridge.closing:
            return actions
        log.info("%s: a party left, %d remain", bridge.label, len(bridge.ends))
        if not bridge.ends:
            self._drop(bridge)
            return actions
        if bridge.room is not None:
            return actions + self._tones(bridge, LEAVE_TONE)
        if was_controller and self.site.server.conference_end_with_controller:
            return actions + self._end_all(bridge, "the conference's controller left")
        if len(bridge.ends) == 2:
            return actions + self._collapse(bridge)
        if len(bridge.ends) == 1:
            return actions + self._end_all(bridge, "alone in the conference")
        return actions

    def _collapse(self, bridge: Bridge) -> list[Action]:
        """Two parties left: a plain call between them (rule 6)."""
        bridge.closing = True
        ends = list(bridge.ends)
        parties = [self.switch.far(e) for e in ends]
        self._drop(bridge)
        p, q = parties
        if p is None or q is None:
            return self._end_all(bridge, "conference down to one")
        log.info("%s: down to %s and %s, joined directly", bridge.label, who(p), who(q))
        return self.switch.connect([(p, q)], causes.NORMAL_CLEARING, "conference down to two")

    def _end_all(self, bridge: Bridge, reason: str) -> list[Action]:
        bridge.closing = True
        self._drop(bridge)
        actions: list[Action] = []
        for end in list(bridge.ends):
            bridge.ends.remove(end)
            actions += self._detach(end)
            actions += self.switch.hangup(end, causes.NORMAL_CLEARING, reason)
        return actions

    # --- media ----------------------------------------------------------------------------------

    def _attach(self, end: ConfEnd) -> list[Action]:
        far = self.switch.far(end)
        key = far.media_key if far is not None else None
        if key is None or key == end.attached or not end.admitted or end.held:
            return []
        end.attached = key
        return [MediaMix(key, end.bridge.key)]

    def _detach(self, end: ConfEnd) -> list[Action]:
        key = end.attached
        if key is None:
            return []
        end.attached = None
        return [MediaUnmix(key)]

    def _play(self, end: ConfEnd, sounds: tuple[Sound, ...]) -> list[Action]:
        far = self.switch.far(end)
        key = far.media_key if far is not None else None
        return [] if key is None else [MediaPrompt(key, sounds, self.switch.refs())]

    def _stop_play(self, end: ConfEnd) -> list[Action]:
        far = self.switch.far(end)
        key = far.media_key if far is not None else None
        return [] if key is None else [MediaStopPlay(key)]

    def _tones(self, bridge: Bridge, sounds: tuple[Sound, ...]) -> list[Action]:
        """Rule 4: to every party being mixed."""
        return [
            MediaPrompt(e.attached, sounds, self.switch.refs())
            for e in bridge.ends
            if e.attached is not None
        ]

    # --- helpers --------------------------------------------------------------------------------

    def _new_bridge(
        self, number: str, name: str, max_parties: int, room: ConferenceRoom | None = None
    ) -> Bridge:
        bridge = Bridge(self.switch.refs(), number, name, max_parties, room)
        self.bridges[bridge.key] = bridge
        return bridge

    def _new_end(self, bridge: Bridge) -> ConfEnd:
        end = ConfEnd(self.switch.refs(), self, bridge)
        bridge.ends.append(end)
        return end

    def _end_of(self, ch: Channel, bridge: Bridge) -> ConfEnd | None:
        end = self.facing(ch)
        return end if end is not None and end.bridge is bridge else None

    def _drop(self, bridge: Bridge) -> None:
        self.bridges.pop(bridge.key, None)
        if bridge.room is not None and self.rooms.get(bridge.number) is bridge:
            del self.rooms[bridge.number]


def _prompts(site: Site) -> Prompts:
    """The voicemail prompts (a site's prompts_dir first): the PIN prompts are theirs."""
    own = site.voicemail.prompts_dir
    return Prompts(site.resolve(Path(own)) if own is not None else None)


__all__ = ["NAME", "Bridge", "Brought", "ConfEnd", "Conferences"]
