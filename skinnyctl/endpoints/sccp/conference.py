"""The phones' conference keys, sans-IO: Confrn, Join, cBarge, RmLstC, ConfList, MeetMe.

The phone endpoint (``phone.py``, rule 17) sends these features here by name from
``_feature``; what a conference is and does with calls is ``apps.conference``
(protocol-free). This is the phone's side: which calls a key gathers, Confrn's consultation,
the barging device's new call plane, what the display says when a key cannot act, the list.

Rules:
1. Confrn on a connected call holds it (the line's other devices show no remote hold, as for a
   transfer) and opens a consultation with dial tone (OffHookWithFeatures keys). Confrn again,
   on the consultation or the held call, once the consultation is answered, gathers the two
   (rule 2). Refused while the consultation dials or rings ("Can Not Complete Conference"),
   and at the start when the conference the call is in is full ("Exceed Maximum Parties").
2. Gathering: the device keeps its connected call (the consultation, or the active call for
   Join), now facing the conference; the far end of every gathered call joins the
   conference; the device's other gathered calls end (their planes go idle). When one of the
   calls is already in a conference, the others join that one; calls in two different
   conferences are refused. A far end that cannot be mixed (an application) is refused
   ("Invalid Conference Participant").
3. Join gathers the device's connected call and its calls on hold on the same line ("Can Not
   Join Calls" without both).
4. cBarge, on a plane showing the shared line's call connected on another device (REMOTE):
   this device gets a new call plane on the line, connected to a conference made of that
   call's two ends, or to the conference that call is in, and itself ("Failed to Setup Barge"
   otherwise). The device whose call was barged is its controller.
5. RmLstC: only the controller's phone; the party that joined last (not itself) is hung up.
6. ConfList: phones whose firmware announced protocol 15 or later (whatever version we speak
   with them) get the parties as an XML menu in UserToDeviceDataVersion1 (application 9081, as
   chan-sccp); older ones a notice with the count and numbers (32 characters).
7. MeetMe: a new call to the site's room when it has one; with several, dial tone (the user
   dials the room); with none, "Number Not Configured".
8. A plane connected to a conference shows the KeySetConnectedWithConference keys.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from skinnyctl.apps.conference import Brought, Conferences
from skinnyctl.calls.channel import Channel, Kind
from skinnyctl.calls.events import Action, Send
from skinnyctl.sccp import (
    DisplayNotify,
    Label,
    SequenceFlag,
    SoftKeySetIndex,
    UserToDeviceDataVersion1,
)
from skinnyctl.sccp.enums import label

from .stations import Station

if TYPE_CHECKING:
    from .phone import PhoneChannel, Phones, Plane

log = logging.getLogger("skinnyctl.endpoints.sccp.conference")

CONFERENCE_FEATURES = frozenset(
    {"conference", "join", "cbarge", "remove_last_participant", "conference_list", "meetme"}
)
CONFLIST_APP_ID = 9081  # chan-sccp's application id of the conference list (§6.18)
CONFLIST_PROTOCOL = 15  # phones from this protocol version show pushed XML menus
MAX_XML = 2000  # UserToDeviceData carries at most this much (§3.16)


class PhoneConferences:
    """The conference features of one ``Phones`` endpoint (rule 17 of ``phone.py``)."""

    def __init__(self, phones: Phones) -> None:
        self.phones = phones
        # Confrn's consultations: consultation channel id -> (consultation, the held call)
        self._consults: dict[int, tuple[PhoneChannel, PhoneChannel]] = {}

    @property
    def rooms(self) -> Conferences:
        rooms = self.phones.switch.endpoints.get(Kind.CONFERENCE)
        assert isinstance(rooms, Conferences), "no conference endpoint"
        return rooms

    def feature(self, st: Station, name: str, line: int, plane: Plane | None) -> list[Action]:
        self._prune()
        if name == "conference":
            return self._conference(st, plane or self.phones._active(st))
        if name == "join":
            return self._join(st)
        if name == "cbarge":
            return self._barge(st, plane)
        if name == "remove_last_participant":
            return self._remove_last(st, plane or self.phones._active(st))
        if name == "conference_list":
            return self._list(st, plane or self.phones._active(st))
        return self._meetme(st, line)

    def connected_keys(self, plane: Plane) -> SoftKeySetIndex:
        """Rule 8."""
        if self.rooms.facing(plane.ch) is not None:
            return SoftKeySetIndex.CONNECTED_WITH_CONFERENCE
        return SoftKeySetIndex.CONNECTED

    # --- rule 1: Confrn -----------------------------------------------------------------------

    def _conference(self, st: Station, plane: Plane | None) -> list[Action]:
        from .phone import PS, Ev

        p = self.phones
        if plane is None:
            return _notify(st, Label.CAN_NOT_COMPLETE_CONFERENCE)
        pair = self._consultation_of(plane.ch)
        if pair is not None:
            consult, held = pair
            cp = consult.active
            if cp is None or cp.state is not PS.CONNECTED or cp.st is not st:
                log.info("%s: conference: the consultation is not answered", st.label)
                return _notify(st, Label.CAN_NOT_COMPLETE_CONFERENCE)
            done, actions = self._gather(st, consult, [held], Label.CAN_NOT_COMPLETE_CONFERENCE)
            if done:
                self._consults.pop(consult.id, None)
            return actions
        if plane.state is not PS.CONNECTED:
            return _notify(st, Label.CAN_NOT_COMPLETE_CONFERENCE)
        end = self.rooms.facing(plane.ch)
        if end is not None and len(end.bridge.ends) >= end.bridge.max_parties:
            return _notify(st, Label.EXCEED_MAXIMUM_PARTIES)
        actions = p._step(plane, Ev.HOLD, "conference")
        actions += p._new_call(st, plane.line, features=True)
        y = p._active(st)
        if y is not None and y.state is PS.DIALING:
            self._consults[y.ch.id] = (y.ch, plane.ch)
            log.info("%s: conference: consulting, %s held", st.label, plane.ch.number)
        return actions

    def _consultation_of(self, ch: PhoneChannel) -> tuple[PhoneChannel, PhoneChannel] | None:
        """The (consultation, held call) pair ``ch`` is either of."""
        pair = self._consults.get(ch.id)
        if pair is not None:
            return pair
        return next((x for x in self._consults.values() if x[1] is ch), None)

    def _prune(self) -> None:
        """Forget consultations whose calls are gone (hung up, transferred...)."""
        for key, (consult, held) in list(self._consults.items()):
            if consult.call is None or held.call is None or consult.active is None:
                del self._consults[key]

    # --- rules 2, 3: gathering, Join -----------------------------------------------------------

    def _gather(
        self, st: Station, keep: PhoneChannel, others: list[PhoneChannel], refusal: Label
    ) -> tuple[bool, list[Action]]:
        """Rule 2: ``keep`` faces the conference; the far ends of ``keep`` and ``others`` join
        it. (done, actions): refused, the actions tell the phone why (``refusal`` unless the
        conference is full or a party cannot be mixed)."""
        rooms, switch = self.rooms, self.phones.switch
        facing = [rooms.facing(ch) for ch in (keep, *others)]
        bridges = {e.bridge for e in facing if e is not None}
        if len(bridges) > 1:
            log.info("%s: conference: calls in two conferences", st.label)
            return False, _notify(st, refusal)
        bridge = next(iter(bridges), None)
        mine = next((e for e in facing if e is not None), None)
        joiners: list[Channel] = []
        reuse = {}
        if facing[0] is None:
            joiners.append(keep)
            if mine is not None:
                reuse[keep.id] = mine
        # the far ends in the order they came: the held calls', then the consultation's (the
        # party RmLstC removes first)
        for ch, end in zip((*others, keep), (*facing[1:], facing[0]), strict=True):
            if end is None:
                far = switch.far(ch)
                if far is None:
                    return False, _notify(st, refusal)
                joiners.append(far)
        result = rooms.bring(joiners, bridge, reuse, controller=keep)
        return result.ok, self._brought(st, result)

    def _brought(self, st: Station, result: Brought) -> list[Action]:
        if result.ok:
            return result.actions
        log.info("%s: conference refused (%s)", st.label, result.why)
        if result.why == "full":
            return _notify(st, Label.EXCEED_MAXIMUM_PARTIES)
        return _notify(st, Label.INVALID_CONFERENCE_PARTICIPANT)

    def _join(self, st: Station) -> list[Action]:
        from .phone import PS

        p = self.phones
        keep = p._active(st)
        if keep is None or keep.state is not PS.CONNECTED:
            return _notify(st, Label.CAN_NOT_JOIN_CALLS)
        held = [
            x.ch
            for x in p._on(st)
            if x.state is PS.HOLD and x.number == keep.number and x.ch is not keep.ch
        ]
        if not held:
            return _notify(st, Label.CAN_NOT_JOIN_CALLS)
        return self._gather(st, keep.ch, held, Label.CAN_NOT_JOIN_CALLS)[1]

    # --- rule 4: cBarge ------------------------------------------------------------------------

    def _barge(self, st: Station, plane: Plane | None) -> list[Action]:
        from .phone import PS, PhoneChannel

        p, rooms = self.phones, self.rooms
        ch = plane.ch if plane is not None and plane.state is PS.REMOTE else None
        far = p.switch.far(ch) if ch is not None else None
        if plane is None or ch is None or far is None or far.kind is Kind.APP:
            log.info("%s: nothing to barge into", st.label)
            return _notify(st, Label.FAILED_TO_SETUP_BARGE)
        end = rooms.facing(ch)
        bridge = end.bridge if end is not None else None
        newcomers = 1 if bridge is not None else 3
        size = bridge.max_parties if bridge is not None else p.site.server.conference_max
        if (len(bridge.ends) if bridge is not None else 0) + newcomers > size:
            return _notify(st, Label.EXCEED_MAXIMUM_PARTIES)
        line_cfg = p.site.line(ch.number)
        mine = PhoneChannel(
            p.switch.refs(), p, ch.number, line_cfg.shown_caller_name if line_cfg else ch.number
        )
        bp = p._new_plane(st, plane.line, ch.number, PS.CONNECTED, mine)
        mine.active = bp
        mine.last_device = st.name
        actions: list[Action] = [p._event(bp)]
        actions += p._make_room(st, keep=bp)
        actions += p._seize(bp)
        # the call's originator first: it is the caller again if the barger leaves
        first, second = (ch, far) if _originator(ch) is ch else (far, ch)
        joiners: list[Channel] = [mine] if bridge is not None else [first, second, mine]
        result = rooms.bring(joiners, bridge, controller=ch)
        assert result.ok, result.why  # its size and parties were checked above
        log.info("%s barged into %s's call on %s", st.label, ch.device, ch.number)
        return actions + result.actions + p._connected_block(bp)

    # --- rules 5, 6: RmLstC, ConfList ----------------------------------------------------------

    def _remove_last(self, st: Station, plane: Plane | None) -> list[Action]:
        end = self.rooms.facing(plane.ch) if plane is not None else None
        if end is None or end.bridge.controller is not end:
            return _notify(st, Label.KEY_IS_NOT_ACTIVE)
        last = next((e for e in reversed(end.bridge.ends) if e is not end), None)
        if last is None:
            return _notify(st, Label.KEY_IS_NOT_ACTIVE)
        return self.rooms.remove(last, f"removed by {st.name} (RmLstC)")

    def _list(self, st: Station, plane: Plane | None) -> list[Action]:
        end = self.rooms.facing(plane.ch) if plane is not None else None
        if plane is None or end is None:
            return _notify(st, Label.KEY_IS_NOT_ACTIVE)
        parties = self.rooms.parties(end.bridge)
        if st.phone_protocol < CONFLIST_PROTOCOL:
            text = f"{len(parties)}: " + " ".join(ch.number for ch, _ in parties)
            return [Send(st.conn, DisplayNotify(timeout=10, text=text[:32]))]
        xml = conference_list_xml(end.bridge.name, parties, icons=st.phone_protocol >= 17)
        return [
            Send(
                st.conn,
                UserToDeviceDataVersion1(
                    application_id=CONFLIST_APP_ID,
                    line_instance=plane.line,
                    call_reference=plane.ref,
                    transaction_id=plane.ref,
                    sequence_flag=SequenceFlag.LAST,
                    display_priority=2,
                    conference_id=end.bridge.key,
                    app_instance_id=0,
                    routing_id=0,
                    data=xml,
                ),
            )
        ]

    # --- rule 7: MeetMe ------------------------------------------------------------------------

    def _meetme(self, st: Station, line: int) -> list[Action]:
        rooms = self.phones.site.conferences
        if not rooms:
            return _notify(st, Label.NUMBER_NOT_CONFIGURED)
        if len(rooms) == 1:
            return self.phones._new_call(st, line, dial=rooms[0].number)
        return self.phones._new_call(st, line)


def conference_list_xml(title: str, parties: list[tuple[Channel, bool]], icons: bool) -> bytes:
    """The conference list as a Cisco XML menu (rule 6): a CiscoIPPhoneIconFileMenu with the
    phone's own icons (protocol 17+), else a plain CiscoIPPhoneMenu; parties beyond what one
    message carries are left out."""
    root = "CiscoIPPhoneIconFileMenu" if icons else "CiscoIPPhoneMenu"
    head = f'<{root} appId="{CONFLIST_APP_ID}"><Title>{escape(title)}</Title>'
    head += "<Prompt>Parties</Prompt>"
    tail = "<SoftKeyItem><Name>Exit</Name><Position>1</Position><URL>SoftKey:Exit</URL>"
    tail += "</SoftKeyItem>"
    if icons:
        tail += "<IconItem><Index>0</Index><URL>Resource:Icon.Connected</URL></IconItem>"
        tail += "<IconItem><Index>1</Index><URL>Resource:AnimatedIcon.StreamRxTx</URL></IconItem>"
    tail += f"</{root}>"
    items = ""
    for ch, controller in parties:
        icon = f"<IconIndex>{0 if controller else 1}</IconIndex>" if icons else ""
        name = escape(f"{ch.name} ({ch.number})" if ch.number else ch.name)
        item = f"<MenuItem>{icon}<Name>{name}</Name><URL>SoftKey:Exit</URL></MenuItem>"
        if len((head + items + item + tail).encode()) > MAX_XML:
            break
        items += item
    return (head + items + tail).encode()


def _originator(ch: Channel) -> Channel | None:
    return ch.call.a if ch.call is not None else None


def _notify(st: Station, what: Label) -> list[Action]:
    """The display says why a key did nothing (rule 12 of phone.py: every key answers)."""
    return [Send(st.conn, DisplayNotify(timeout=5, text=label(what)))]


__all__ = ["CONFERENCE_FEATURES", "PhoneConferences", "conference_list_xml"]
