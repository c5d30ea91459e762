"""The SCCP phone endpoint, sans-IO: phone messages -> channel events, indications -> §7 blocks.

This is the only place that knows what a Cisco phone shows and sends during a call; the switch
(``calls.switch``) only sees channels.

Model. A :class:`PhoneChannel` is one line's end of one call. It shows on the devices carrying
that line as *planes*: a :class:`Plane` is one call plane on one device (station, line
instance, callRef). Every plane has its own callRef (also its passThruPartyId and
conferenceId, and its media key) from the core's one counter seeded with the Unix time, so
refs keep increasing across restarts (7940 quirk, sccp-protocol.md §7). An offered channel
has a RINGIN plane on every registered device carrying the line (shared lines); the first to
answer becomes the channel's ``active`` plane and the others REMOTE ("in use remotely"), like
the other devices of a calling line. When a shared line's call is held (not for a transfer),
its REMOTE planes become REMOTE_HOLD (CallState 17, or 8 on the old phones of §8.1; OnHold
keys; Hold prompt; lamp wink, §7.5): Resume there picks the call up (that plane becomes the
active one; the holder's plane becomes REMOTE).

Plane state table. ``TABLE[(state, event)] -> (new state, handler)``. Rules:

1. The phone's messages (OffHook, OnHook, SoftKeyEvent, Stimulus, KeypadButton, EnblocCall)
   become one event for one plane (which plane: the callRef the phone names, else the device's
   active plane, else its ringing or held one). Asking for a new call is not a plane event: it
   creates a channel with a DIALING plane (after holding the device's connected call and ending
   its other unfinished ones: one active call per device, §8.7).
2. The switch's indications (ALERTING, ANSWER, HOLD, RESUME, UPDATE, HANGUP...) become events
   of the channel's planes (FAR_ALERTING, FAR_ANSWER, FAR_UPDATE, FAR_END, FAR_FAILED...).
3. The table alone decides a plane's next state and it is set before the handler runs (one
   ``call_state`` event per change); a handler moves a plane further only through
   ``_set_state`` (an event each). Handlers produce the messages in the doc's order
   (§7.3-§7.11) and the channel events the switch must hear.
4. A (state, event) pair missing from the table is a request that makes no sense in that
   state: it is logged and ignored; the phone keeps what it shows.
5. GONE planes are forgotten: their relay port is freed (closed at the edge) whatever ended
   them, and the phone got the on-hook block unless the device itself is gone. A channel
   with no plane left is released.
6. Transfer is two presses (§7.8): TRANSFER on a connected plane X holds it and opens a
   consultation channel Y (OffHookWithFeatures). COMPLETE on Y (Transfer again on Y or on X,
   or on-hook while Y still rings) asks the switch to join X's far end with Y's (attended) or
   with what Y rings (blind); X and Y then end. A refused transfer changes nothing.
7. Media (§7.4): each connected plane gets OpenReceiveChannel; its Ack gives the phone's RTP
   address (the SCCP peer IP when the phone is behind NAT); StartMediaTransmission names the
   relay port of that plane's media leg (media = "relay", or whenever the far end is not a
   phone), or the far phone's address once both acks are in (media = "direct": the switch's
   native join of two phone channels). Hold closes the holder's media; the held end is told
   HOLD and hears music: its media leg switches to music, or with direct media (§7.7) the held
   phone gets StopMediaTransmission and a media leg opened only for it streams music to its
   receive address (its receive channel stays open); on resume, once the holder's ack is in,
   that leg closes and both phones are pointed at each other again.
8. Early media (mod_skinny "early media supported", §7.4): the caller's receive channel is
   opened while the far end rings (OpenReceiveChannel right after the ring-out block), without
   the Connected state/keys/prompt, so the far end's first RTP reaches the caller with no
   second round trip. The ring-back itself stays the phone's local alerting tone (§7.4 step 1
   "generated locally"). A failed call closes that early media before its tone (the 7910
   plays no tone with a stream open, §8.1).
9. What a failure sounds like follows its cause: USER_BUSY and CALL_REJECTED give busy tone
   and "Busy"; UNALLOCATED_NUMBER and INVALID_NUMBER_FORMAT reorder and "Unknown Number";
   anything else reorder and "Temp Fail". Left off-hook that long, a failed plane is cleared
   after FAIL_HANGUP_S.
10. Timers (one deadline per plane): a DIALING plane with nothing dialled for
   ``off_hook_timeout`` hears reorder (FAILED, then cleared after FAIL_HANGUP_S, as CUCM
   does); a digit starts the dial plan's timer instead. A HOLD plane reminds its holder every
   ``hold_reversion`` seconds (a ring burst, or a tone on the call the device is busy with, and
   who is waiting), so no call stays held with nobody thinking of it.
11. Digits pressed during a connected call go to the far end (``Switch.dtmf``).
12. Every key a phone can press gets a visible answer. Softkeys, fixed feature keys (Stimulus
   with their own type) and feature buttons (Stimulus FEATURE with the button's instance, as
   declared in the ButtonTemplate, §6.2) all come to ``_feature`` by name; a feature that is
   not built yet answers DisplayNotify "Key is not active".
13. Transfer on hook (``transfer_on_hook``): hanging up a consultation completes the transfer
   while it rings (blind) and, by default, once it is answered too; EndCall only ends it.
14. Early media from the far end (PROGRESS: a trunk's 183 with SDP; the switch's rule 9): the
   local alerting tone stops, the plane shows ring-out, and its receive channel opens on a
   media leg whatever the media mode (the far end is not a phone: the engine bridges it), so
   the far end's ring-back or announcement is what the caller hears until the answer.
15. Who a call is with (CallInfo): a number of the site (line, application) is shown with the
   site's name for it; any other far end (a trunk's caller) with the name its channel carries.
16. Office features (forward, DND, pick-up, park, HLog, Barge, iDivert, intercom, auto-answer)
   live in ``features.py`` with their own rules; here they are hooks: ``_feature`` hands it
   the keys, a DIALING plane may collect digits for a feature (``PhoneChannel.collect``)
   instead of a call, offers and ring-ins ask it (DND, hunt login, auto-answer, why a
   redirected call rings), and BARGE (a REMOTE plane takes the connected call over; the
   other device's plane is ELSEWHERE) has table handlers there.
17. Conferences (Confrn, Join, cBarge, RmLstC, ConfList, MeetMe) are ``conference.py``'s,
   reached through ``_feature``. A far end that changes (UPDATE: a transfer, joining a
   conference) is shown; a connected plane then also gets the keys of what it is connected to
   (KeySetConnectedWithConference facing a conference) and a media leg when the engine now
   carries its audio (direct media to a far end that is not a phone). The speaker goes off
   when a plane goes idle only if no other call holds it on the device.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from skinnyctl.calls import causes
from skinnyctl.calls.channel import Channel, Ind, Kind, Refused
from skinnyctl.calls.clock import Clock
from skinnyctl.calls.events import Action, Event, Publish, Send
from skinnyctl.calls.media import (
    PTIME_MS,
    MediaClose,
    MediaLearn,
    MediaOpen,
    MediaPlay,
    MediaStop,
    Ports,
    media_address,
)
from skinnyctl.calls.media import (
    Codec as MediaCodec,
)
from skinnyctl.calls.routing import Route
from skinnyctl.calls.switch import Call, Switch
from skinnyctl.sccp import (
    ActivateCallPlane,
    BackSpaceReq,
    CallInfo,
    CallState,
    CallStateValue,
    ClearPromptStatus,
    CloseReceiveChannel,
    Codec,
    DialedNumber,
    DisplayNotify,
    DisplayPromptStatus,
    EnblocCall,
    HookFlash,
    KeypadButton,
    Label,
    LampMode,
    Message,
    OffHook,
    OnHook,
    OpenReceiveChannel,
    OpenReceiveChannelAck,
    RingMode,
    RingType,
    SelectSoftKeys,
    SetLamp,
    SetRinger,
    SetSpeakerMode,
    SoftKeyEvent,
    SoftKeyEventValue,
    SoftKeySetIndex,
    SpeakerMode,
    StartMediaTransmission,
    StartMediaTransmissionAck,
    StartTone,
    Stimulus,
    StimulusType,
    StopMediaTransmission,
    StopTone,
    Tone,
)
from skinnyctl.sccp.enums import label
from skinnyctl.site.catalog import MODELS_BY_DEVICE_TYPE
from skinnyctl.site.model import Site

from . import answers
from .conference import CONFERENCE_FEATURES, PhoneConferences
from .stations import Station, Stations

log = logging.getLogger("skinnyctl.endpoints.sccp")

FAIL_HANGUP_S = 15.0  # busy/reorder left off-hook ends after this ([CS] SCCP_HANGUP_TIMEOUT, §7.14)
RTP_PRECEDENCE = 0xB8  # DSCP EF, what CUCM and mod_skinny send
# Causes that clear a call rather than fail it: a plane ringing out that hears one goes idle.
_CLEARING = frozenset(
    {
        causes.NORMAL_CLEARING,
        causes.ATTENDED_TRANSFER,
        causes.BLIND_TRANSFER,
        causes.LOSE_RACE,
        causes.ORIGINATOR_CANCEL,
    }
)


class PS(Enum):
    DIALING = "dialing"
    RINGOUT = "ringout"
    RINGIN = "ringin"
    CONNECTED = "connected"
    HOLD = "hold"
    FAILED = "failed"  # busy / reorder heard until the user hangs up
    REMOTE = "remote"  # shared line in use on another device
    REMOTE_HOLD = "remote_hold"  # shared line: another device holds the call (may pick it up)
    GONE = "gone"


class Ev(Enum):
    DIGIT = "digit"
    BACKSPACE = "backspace"
    ROUTE = "route"
    ANSWER = "answer"
    HOLD = "hold"
    RESUME = "resume"
    TRANSFER = "transfer"
    COMPLETE = "complete"
    HANGUP = "hangup"
    TIMEOUT = "timeout"  # the plane's timer: off-hook, failed-call hang-up, hold reversion
    ELSEWHERE = "elsewhere"  # another device of the line answered / took the call
    FAR_ALERTING = "far_alerting"
    FAR_PROGRESS = "far_progress"  # the far end sends early media (rule 14)
    FAR_ANSWER = "far_answer"
    FAR_UPDATE = "far_update"  # the far party changed (transfer): show it
    FAR_END = "far_end"  # the call is over for this plane
    FAR_FAILED = "far_failed"  # the call failed before the answer (busy, unknown number...)
    FAR_HOLD = "far_hold"  # shared line: the device carrying the call held it
    FAR_RESUME = "far_resume"  # ... resumed it (or another device picked it up)
    BARGE = "barge"  # shared line: take over the call connected on another device (rule 16)


D, RO, RI, CO, HO, FA, RE, RH, G = (
    PS.DIALING,
    PS.RINGOUT,
    PS.RINGIN,
    PS.CONNECTED,
    PS.HOLD,
    PS.FAILED,
    PS.REMOTE,
    PS.REMOTE_HOLD,
    PS.GONE,
)

TABLE: dict[tuple[PS, Ev], tuple[PS, str]] = {
    (D, Ev.DIGIT): (D, "digit"),
    (D, Ev.BACKSPACE): (D, "backspace"),
    (D, Ev.ROUTE): (RO, "route"),  # the switch's answer may move it on (failed, connected)
    (D, Ev.HANGUP): (G, "hang_up"),
    (D, Ev.TIMEOUT): (FA, "off_hook_timeout"),  # dial tone left with nothing dialled
    (D, Ev.FAR_END): (G, "gone"),
    (RO, Ev.FAR_ALERTING): (RO, "ringout"),
    (RO, Ev.FAR_PROGRESS): (RO, "progress"),
    (RO, Ev.FAR_ANSWER): (CO, "far_answer"),
    (RO, Ev.FAR_UPDATE): (RO, "update"),
    (RO, Ev.HANGUP): (G, "hang_up"),
    (RO, Ev.COMPLETE): (RO, "complete_transfer"),
    (RO, Ev.FAR_FAILED): (FA, "far_failed"),
    (RO, Ev.FAR_END): (G, "gone"),
    (RI, Ev.ANSWER): (CO, "answer"),
    (RI, Ev.HANGUP): (G, "refuse"),
    (RI, Ev.ELSEWHERE): (RE, "elsewhere"),
    (RI, Ev.FAR_UPDATE): (RI, "update"),
    (RI, Ev.FAR_END): (G, "gone"),
    (CO, Ev.HOLD): (HO, "hold"),
    (CO, Ev.TRANSFER): (HO, "transfer"),
    (CO, Ev.COMPLETE): (CO, "complete_transfer"),
    (CO, Ev.HANGUP): (G, "hang_up"),
    (CO, Ev.FAR_END): (G, "gone"),
    (CO, Ev.FAR_ANSWER): (CO, "far_answer"),  # a transferee already talking (blind transfer)
    (CO, Ev.FAR_UPDATE): (CO, "update"),
    (CO, Ev.ELSEWHERE): (RE, "barged"),  # another device of the line barged in (rule 16)
    (HO, Ev.RESUME): (CO, "resume"),
    (HO, Ev.TIMEOUT): (HO, "hold_reminder"),
    (HO, Ev.HANGUP): (G, "hang_up"),
    (HO, Ev.FAR_END): (G, "gone"),
    (HO, Ev.FAR_UPDATE): (HO, "update"),
    (HO, Ev.ELSEWHERE): (RE, "taken"),  # picked up on another device: shown in use here
    (FA, Ev.HANGUP): (G, "hang_up"),
    (FA, Ev.TIMEOUT): (G, "hang_up"),
    (FA, Ev.FAR_END): (FA, "nothing"),
    (RE, Ev.FAR_END): (G, "gone"),
    (RE, Ev.FAR_HOLD): (RH, "remote_hold"),
    (RE, Ev.FAR_UPDATE): (RE, "update"),
    (RE, Ev.BARGE): (RE, "barge"),  # the handler takes the call (CONNECTED) or says why not
    (RH, Ev.FAR_RESUME): (RE, "remote_resume"),
    (RH, Ev.RESUME): (RH, "pickup"),  # shared line: take over the held call here (§7.5)
    (RH, Ev.FAR_END): (G, "gone"),
    (RH, Ev.FAR_UPDATE): (RH, "update"),
}

_ACTIVE = (D, RO, CO, FA)  # states in which a plane holds the device's handset/speaker
_TIMED = (D, FA, HO)  # states whose plane.deadline is armed: digits, off-hook, hang-up, reminder


@dataclass(eq=False)
class Plane:
    ref: int
    st: Station
    line: int  # line instance on st
    number: str  # directory number of that line
    ch: PhoneChannel
    state: PS
    digits: str = ""
    deadline: float | None = None  # digit timer, failed-call hang-up
    # media
    orc: bool = False  # OpenReceiveChannel sent, not closed since
    rx: tuple[str, int] | None = None  # the phone's RTP address (from the ack)
    nat: bool = False  # the phone is behind NAT (its SCCP address differs from its own)
    relay_port: int | None = None  # media leg bound for this plane (key = ref)
    relay_key: int = 0  # call key the media leg belongs to
    moh: bool = False  # the engine plays music to this phone
    moh_only: bool = False  # direct media: its media leg exists only for that music
    smt: tuple[str, int] | None = None  # where StartMediaTransmission told it to send
    codec: int = int(Codec.G711_ULAW_64K)
    muted: bool = False  # an intercom call answered one way: nothing sent until talk-back

    @property
    def device(self) -> str:
        return self.st.name


class PhoneChannel(Channel):
    """One line's end of one call, shown on every device carrying the line."""

    kind = Kind.PHONE

    def __init__(self, channel_id: int, phones: Phones, number: str, name: str) -> None:
        super().__init__(channel_id, phones, number, name)
        self.planes: list[Plane] = []
        self.active: Plane | None = None  # the plane carrying the call (calling or answering)
        self.carriers: list[tuple[Station, int]] = []  # offered: the devices to ring
        self.transfer_from: PhoneChannel | None = None  # a consultation: the held end
        self.consult: PhoneChannel | None = None  # the held end: its consultation
        self.last_device = ""
        # digits dialled on it are for a feature (a forward target...), not a call (rule 16)
        self.collect: Callable[[Plane, str | None], list[Action]] | None = None

    @property
    def media_key(self) -> int | None:
        a = self.active
        return a.ref if a is not None and a.relay_port is not None and not a.moh_only else None

    @property
    def device(self) -> str:
        return self.active.device if self.active is not None else self.last_device

    @property
    def codec(self) -> str:
        return _media_codec(self.active) if self.active is not None else "ulaw"

    def status(self) -> list[dict[str, Any]]:
        assert isinstance(self.endpoint, Phones)
        return self.endpoint.plane_status(self)

    def ringing(self) -> list[Plane]:
        return [p for p in self.planes if p.state is RI]


class Phones:
    """The channel endpoint of SCCP phone lines (``calls.channel.Endpoint``), and the call
    part of the registration core (``message``/``device_gone``). Core thread only."""

    def __init__(self, site: Site, clock: Clock, switch: Switch, stations: Stations) -> None:
        self.site = site
        self.clock = clock
        self.switch = switch
        self.stations = stations
        self._planes: dict[int, Plane] = {}
        self._by_station: dict[int, list[Plane]] = {}  # conn -> its planes, oldest first
        self._timers: list[tuple[float, int]] = []
        self._last: dict[str, str] = {}  # device name -> last number dialled (Redial)
        switch.endpoints[Kind.PHONE] = self
        switch.native[Kind.PHONE] = self._native_join
        from .features import PhoneFeatures  # it builds on this module

        self.features: PhoneFeatures = PhoneFeatures(self)
        self.conference = PhoneConferences(self)  # rule 17

    def reload(self, site: Site) -> list[Action]:
        """A new site: dialplan, numbers, names, media mode apply to the next calls; calls in
        progress keep going."""
        self.site = site
        return []

    @property
    def ports(self) -> Ports:
        """The site's RTP port pairs, shared by every endpoint (the switch's)."""
        return self.switch.ports

    # --- the registration core's call layer ----------------------------------------------------

    def message(self, st: Station, msg: Message) -> list[Action] | None:
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            return None
        actions: list[Action] = handler(self, st, msg)
        return actions

    def device_gone(self, st: Station, reason: str) -> list[Action]:
        """A device left (unregister, expiry, lost, replaced): its planes go without a word to
        it; the calls it carried go on without it or end for the others."""
        actions: list[Action] = []
        for plane in list(self._on(st)):
            if plane.state is G:
                continue
            ch = plane.ch
            if plane is not ch.active:
                was_ringing = plane.state is RI
                actions += self._forget(plane)
                if was_ringing and not ch.ringing() and ch.active is None:
                    actions += self._release(ch)
                    actions += self.switch.hangup(ch, causes.USER_NOT_REGISTERED, "callee gone")
                continue
            actions += self._set_state(plane, G)
            actions += self._forget(plane)
            actions += self._release(ch)
            actions += self.switch.hangup(
                ch, causes.NORMAL_TEMPORARY_FAILURE, f"device gone: {reason}"
            )
        return actions

    def on_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        while self._timers and self._timers[0][0] <= now:
            _, ref = heapq.heappop(self._timers)
            plane = self._planes.get(ref)
            if plane is None or plane.state not in _TIMED or plane.deadline is None:
                continue
            if plane.deadline > now:
                continue
            plane.deadline = None
            if plane.state is FA:
                log.info("%s: still off-hook after busy/reorder; ending the call", plane.st.label)
                actions += self._step(plane, Ev.TIMEOUT, "failed call left off-hook")
            elif plane.state is D and plane.digits:
                log.info("%s: digit timeout, routing %s", plane.st.label, plane.digits)
                actions += self._step(plane, Ev.ROUTE, plane.digits)
            else:
                actions += self._step(plane, Ev.TIMEOUT)
        return actions

    def next_deadline(self) -> float | None:
        while self._timers:
            at, ref = self._timers[0]
            plane = self._planes.get(ref)
            if plane is not None and plane.state in _TIMED and plane.deadline == at:
                return at
            heapq.heappop(self._timers)
        return None

    def last_dialled(self, device_name: str) -> str:
        return self._last.get(device_name, "")

    def media_failed(self, key: int, port: int, reason: str) -> list[Action]:
        """The edge could not bind ``port`` for a plane's media leg: take another pair
        (re-pointing the phone if it was already told the old one); with none left, the call
        fails audibly instead of going on silent."""
        self.ports.quarantine(port)
        plane = self._planes.get(key)
        if plane is None or plane.relay_port != port:
            log.warning("RTP ports %d/%d cannot be bound (%s)", port, port + 1, reason)
            return []
        new = self.ports.take()
        log.warning(
            "RTP ports %d/%d cannot be bound (%s); %s",
            port,
            port + 1,
            reason,
            f"{plane.st.label} takes {new}/{new + 1}" if new else "no other pair is free",
        )
        if new is None:
            plane.relay_port = None
            return self._media_lost(plane)
        plane.relay_port = new
        actions: list[Action] = [MediaOpen(plane.relay_key, plane.ref, new, _media_codec(plane))]
        if plane.rx is not None:
            actions.append(MediaLearn(plane.ref, plane.rx[0], plane.rx[1], plane.nat))
        if plane.moh:
            actions.append(MediaPlay(plane.ref, "music", _media_codec(plane), PTIME_MS))
        if not plane.moh_only:
            actions += self.switch.media_changed(plane.ch)
            if plane.smt is not None:
                actions += self._smt(plane, (self._relay_ip, new))
        return actions

    def _media_lost(self, plane: Plane) -> list[Action]:
        """No RTP port for ``plane``: its phone hears reorder with "Temp Fail" until it hangs
        up rather than silence, and the call ends for the far end."""
        ch = plane.ch
        actions = self._release(ch, keep=plane)
        actions += self.switch.hangup(ch, causes.NORMAL_TEMPORARY_FAILURE, "no RTP port")
        if plane.state is not FA:
            actions += self._set_state(plane, FA)
            actions += self._fail(plane, causes.NORMAL_TEMPORARY_FAILURE, "no RTP port")
        return actions

    # --- the channel endpoint -------------------------------------------------------------------

    def offer(self, call: Call, route: Route) -> PhoneChannel | Refused:
        number = route.number
        line = route.line
        a = call.a
        caller_st = a.active.st if isinstance(a, PhoneChannel) and a.active else None
        every = self.stations.carriers(number)
        carriers = [(s, i) for s, i in every if s is not caller_st]
        if not carriers:
            if every:
                return Refused(causes.USER_BUSY, f"{number} is this device's own line")
            return Refused(causes.USER_NOT_REGISTERED, f"no device of {number} is registered")
        if line is not None and line.busy_trigger and self._calls_on(number) >= line.busy_trigger:
            return Refused(causes.USER_BUSY, f"{number} has {line.busy_trigger} calls")
        kept = self.features.carriers(route, carriers)  # DND, hunt login (rule 16)
        if isinstance(kept, Refused):
            return kept
        ch = PhoneChannel(self.switch.refs(), self, number, route.name)
        ch.carriers = kept
        return ch

    def start(self, ch: Channel) -> list[Action]:
        assert isinstance(ch, PhoneChannel)
        actions: list[Action] = []
        auto, muted = self.features.auto_answer(ch)  # it answers at once, unrung (rule 16)
        answering = None
        for st, instance in ch.carriers:
            plane = self._new_plane(st, instance, ch.number, RI, ch)
            if st is auto:
                answering = plane
            else:
                actions += self._ringin_block(plane)
            actions.append(self._event(plane))
        ch.carriers = []
        actions += self.switch.alerting(ch)
        if answering is not None and answering.state is RI:
            log.info("%s answers %s automatically", answering.st.label, ch.number)
            if muted:
                actions += self.features.answered_muted(answering)
            actions += self._step(answering, Ev.ANSWER)
        return actions

    def indicate(self, ch: Channel, ind: Ind, arg: Any = None) -> list[Action]:
        assert isinstance(ch, PhoneChannel)
        plane = ch.active
        if ind is Ind.HANGUP:
            return self._far_end(ch, str(arg or causes.NORMAL_CLEARING))
        if ind is Ind.UPDATE:
            actions: list[Action] = []
            for p in list(ch.planes):
                actions += self._step(p, Ev.FAR_UPDATE)
            return actions
        if plane is None:
            return []
        if ind is Ind.ALERTING:
            return self._step(plane, Ev.FAR_ALERTING)
        if ind is Ind.PROGRESS:
            return self._step(plane, Ev.FAR_PROGRESS)
        if ind is Ind.ANSWER:
            return self._step(plane, Ev.FAR_ANSWER)
        if ind is Ind.HOLD:
            return self._music(plane, True)
        if ind is Ind.RESUME:
            # direct media: the music goes on until both phones can be pointed at each other
            return [] if plane.moh_only else self._music(plane, False)
        if ind is Ind.DTMF:
            log.debug("%s: far end sent DTMF %s", plane.st.label, arg)
        return []

    def _far_end(self, ch: PhoneChannel, cause: str) -> list[Action]:
        """The call is over (or failed) for ``ch``: its planes follow (rule 2, 9)."""
        actions: list[Action] = []
        for p in list(ch.planes):
            if p is ch.active and p.state is RO and cause not in _CLEARING:
                actions += self._step(p, Ev.FAR_FAILED, cause)
            else:
                actions += self._step(p, Ev.FAR_END, cause)
        return actions

    def _native_join(self, a: Channel, b: Channel) -> list[Action] | None:
        """Two phone channels: direct media points the phones at each other; relayed media is
        the engine's bridge (None)."""
        if self._relay_mode:
            return None
        assert isinstance(a, PhoneChannel) and isinstance(b, PhoneChannel)
        if a.active is None or b.active is None:
            return []
        return self._direct(a.active, b.active)

    # --- the table ------------------------------------------------------------------------------

    def _step(self, plane: Plane, ev: Ev, arg: Any = None) -> list[Action]:
        entry = TABLE.get((plane.state, ev))
        if entry is None:
            log.info("%s: %s in state %s ignored", plane.st.label, ev.value, plane.state.value)
            return []
        new_state, handler = entry
        old = plane.state
        actions = self._set_state(plane, new_state)
        run = getattr(self, "_on_" + handler, None) or getattr(self.features, "_on_" + handler)
        actions += run(plane, arg, old)
        return actions

    def _set_state(self, plane: Plane, state: PS) -> list[Action]:
        """Every change of a plane's state is published once (``call_state``)."""
        if plane.state is state:
            return []
        plane.state = state
        return [self._event(plane)]

    # --- phone messages -> events -----------------------------------------------------------------

    def _off_hook(self, st: Station, msg: OffHook) -> list[Action]:
        plane = self._plane_of(st, msg.call_reference)
        if plane is not None and plane.state is RI and self._active(st) is None:
            return self._step(plane, Ev.ANSWER)
        active = self._active(st)
        if active is not None:  # already off-hook (NewCall then the handset), or intercom
            return self.features.talk_back(active)
        ringing = self._first(st, RI, msg.line_instance)
        if ringing is not None:
            return self._step(ringing, Ev.ANSWER)
        return self._new_call(st, msg.line_instance, autodial=True)

    def _on_hook(self, st: Station, msg: OnHook) -> list[Action]:
        plane = self._plane_of(st, msg.call_reference)
        if plane is None or plane.state not in _ACTIVE:
            plane = self._active(st)
        if plane is None:
            return []  # the call is already gone (far end hung up first, §7.9)
        if plane.ch.transfer_from is not None and (  # rule 13
            plane.state is RO or (plane.state is CO and self.site.server.transfer_on_hook)
        ):
            return self._step(plane, Ev.COMPLETE, "onhook")
        return self._step(plane, Ev.HANGUP, "onhook")

    def _softkey(self, st: Station, msg: SoftKeyEvent) -> list[Action]:
        ev = msg.soft_key_event
        line, ref = msg.line_instance, msg.call_reference
        plane = self._plane_of(st, ref)
        K = SoftKeyEventValue
        if ev == K.NEW_CALL:
            return self._new_call(st, line, autodial=True)
        if ev == K.REDIAL:
            return self._redial(st, line)
        if ev == K.HOLD:
            target = plane or self._active(st)
            return self._step(target, Ev.HOLD) if target else []
        if ev == K.RESUME:
            target = plane or self._first(st, HO, line) or self._first(st, RH, line)
            return self._step(target, Ev.RESUME) if target else []
        if ev == K.TRANSFER:
            return self._transfer(plane or self._active(st))
        if ev == K.END_CALL:
            target = plane if plane is not None and plane.state not in (RE, RH) else None
            target = target or self._active(st) or self._first(st, HO, line)
            return self._step(target, Ev.HANGUP, "endcall") if target else []
        if ev == K.ANSWER:
            target = plane or self._first(st, RI, line)
            return self._step(target, Ev.ANSWER) if target else []
        if ev == K.BACKSPACE:
            target = plane or self._active(st)
            return self._step(target, Ev.BACKSPACE) if target else []
        return self._feature(st, _SOFTKEY_FEATURES.get(ev, f"softkey {ev}"), line, plane)

    def _stimulus(self, st: Station, msg: Stimulus) -> list[Action]:
        s, inst = msg.stimulus, msg.stimulus_instance
        T = StimulusType
        if s == T.LAST_NUMBER_REDIAL:
            return self._redial(st, 0)
        if s == T.SPEED_DIAL or s == T.BLF_SPEED_DIAL:
            slot = st.slot("speed_dial", inst)
            if slot is None or not slot.button.number:
                log.info("%s: speed dial %d has no number", st.label, inst)
                return []
            return self._new_call(st, 0, dial=slot.button.number)
        if s == T.VOICEMAIL or s == T.MESSAGES:
            return self._new_call(st, 0, dial=self.site.server.voicemail)
        if s == T.HOLD:
            active = self._active(st)
            if active is not None and active.state is CO:
                return self._step(active, Ev.HOLD)
            held = self._first(st, HO, 0)
            if active is None and held is not None:
                return self._step(held, Ev.RESUME)
            return []
        if s == T.TRANSFER:
            return self._transfer(self._active(st))
        if s == T.LINE:
            ringing = self._first(st, RI, inst, exact=True)
            if ringing is not None:
                return self._step(ringing, Ev.ANSWER)
            active = self._active(st)
            held = self._first(st, HO, inst, exact=True) or self._first(st, RH, inst, exact=True)
            if active is None and held is not None:
                return self._step(held, Ev.RESUME)
            if active is not None and active.line == inst:
                return self.features.talk_back(active)
            return self._new_call(st, inst, autodial=True)
        if s == T.NEW_CALL:
            return self._new_call(st, inst, autodial=True)
        if s == T.END_CALL:
            active = self._active(st)
            return self._step(active, Ev.HANGUP, "endcall") if active else []
        if s == T.FEATURE:  # a feature button: what it does is the site's (rule 12)
            slot = st.slot("feature", inst)
            name = slot.button.feature if slot is not None else f"feature button {inst}"
            return self._feature(st, name, 0, None)
        name = _STIMULUS_FEATURES.get(s, f"stimulus {_enum_name(T, s)}")
        return self._feature(st, name, inst, None)

    def _feature(self, st: Station, name: str, line: int, plane: Plane | None) -> list[Action]:
        """A feature asked for by name, from a softkey, a fixed key or a feature button."""
        target = plane or self._active(st)
        if name == "redial":
            return self._redial(st, line)
        if name == "voicemail":
            return self._new_call(st, 0, dial=self.site.server.voicemail)
        if name == "hold":
            if target is not None and target.state is CO:
                return self._step(target, Ev.HOLD)
            held = self._first(st, HO, line)
            return self._step(held, Ev.RESUME) if held and target is None else []
        if name == "transfer":
            return self._transfer(target)
        done = self.features.press(st, name, line, plane)  # rule 16
        if done is not None:
            return done
        if name in CONFERENCE_FEATURES:  # rule 17
            return self.conference.feature(st, name, line, plane)
        log.info("%s: %s is not active", st.label, name)
        return [Send(st.conn, DisplayNotify(timeout=5, text=label(Label.KEY_IS_NOT_ACTIVE)))]

    def _keypad(self, st: Station, msg: KeypadButton) -> list[Action]:
        digit = _digit(msg.kp_button)
        if digit is None:
            log.info("%s: keypad button %d ignored", st.label, msg.kp_button)
            return []
        plane = self._plane_of(st, msg.call_reference)
        if plane is None or plane.state is not D:
            plane = self._active(st)
        if plane is None:
            # dialling on-hook: the phone starts the call with its first digit
            actions = self._new_call(st, msg.line_instance)
            plane = self._active(st)
            return actions + (self._step(plane, Ev.DIGIT, digit) if plane else [])
        if plane.state is CO:
            return self.switch.dtmf(plane.ch, digit)  # rule 11
        if plane.state is not D:
            return []
        return self._step(plane, Ev.DIGIT, digit)

    def _enbloc(self, st: Station, msg: EnblocCall) -> list[Action]:
        number = "".join(c for c in msg.called_party if c.isprintable()).strip()
        if not number:
            return []
        return self._new_call(st, msg.line_instance, dial=number)

    def _orc_ack(self, st: Station, msg: OpenReceiveChannelAck) -> list[Action]:
        ref = msg.call_reference or msg.pass_thru_party_id
        plane = self._planes.get(ref) or self._planes.get(msg.pass_thru_party_id)
        if plane is None or plane.st is not st or not plane.orc:
            log.info("%s: OpenReceiveChannelAck for unknown call %d; closing it", st.label, ref)
            p = msg.pass_thru_party_id
            return [
                Send(
                    st.conn,
                    CloseReceiveChannel(conference_id=p, pass_thru_party_id=p, call_reference=ref),
                )
            ]
        if msg.media_reception_status != 0:
            log.warning(
                "%s: receive channel failed (status %d); ending the call",
                st.label,
                msg.media_reception_status,
            )
            return self._step(plane, Ev.HANGUP, "media failure")
        ip = msg.ip_addr
        plane.nat = bool(st.station_ip and st.ip != st.station_ip)
        if plane.nat or ip in ("0.0.0.0", ""):
            ip = st.ip  # behind NAT: the phone's private address is useless to us (§7.4)
        if not 0 < msg.port_number < 65535:  # RTCP goes to port + 1
            log.warning(
                "%s: receive channel on unusable port %d; ending the call",
                st.label,
                msg.port_number,
            )
            return self._step(plane, Ev.HANGUP, "media failure")
        plane.rx = (ip, int(msg.port_number))
        actions: list[Action] = []
        if plane.relay_port is not None and not plane.moh_only:
            actions.append(MediaLearn(plane.ref, ip, int(msg.port_number), plane.nat))
            actions += self._smt(plane, (self._relay_ip, plane.relay_port))
            return actions
        far = self._far_plane(plane)
        if far is not None and not self._relay_mode:
            actions += self._direct(plane, far)
        return actions

    def _ignore(self, st: Station, msg: Message) -> list[Action]:
        return []

    # --- new calls ----------------------------------------------------------------------------

    def _new_call(
        self,
        st: Station,
        line: int,
        *,
        dial: str | None = None,
        autodial: bool = False,
        features: bool = False,
        collect: Callable[[Plane, str | None], list[Action]] | None = None,
    ) -> list[Action]:
        instance, number = self._line(st, line)
        if number is None:
            log.info("%s has no line to call from", st.label)
            return []
        active = self._active(st)
        if active is not None and active.state is D and not active.digits and dial:
            return self._step(active, Ev.ROUTE, dial)  # off-hook and empty: use it (§7.11)
        if active is not None and active.state is D and not active.digits and collect:
            active.ch.collect = collect  # off-hook and empty: collect on it
            return []
        actions = self._make_room(st)
        line_cfg = self.site.line(number)
        ch = PhoneChannel(
            self.switch.refs(), self, number, line_cfg.shown_caller_name if line_cfg else number
        )
        plane = self._new_plane(st, instance, number, D, ch)
        ch.active = plane
        ch.last_device = st.name
        ch.collect = collect
        self.switch.originate(ch)
        keys = SoftKeySetIndex.OFF_HOOK_WITH_FEATURES if features else SoftKeySetIndex.OFF_HOOK
        L, C = plane.line, plane.ref
        actions += self._to(
            plane,
            _ringer_off(L, C),
            SetSpeakerMode(speaker_mode=SpeakerMode.ON),
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=LampMode.ON),
            self._state(plane, CallStateValue.OFF_HOOK),
            self._keys(plane, keys),
            self._prompt(plane, label(Label.ENTER_NUMBER)),
            ActivateCallPlane(line_instance=L),
            StartTone(
                tone=Tone.INSIDE_DIAL_TONE, tone_direction=0, line_instance=L, call_reference=C
            ),
        )
        actions.append(self._event(plane))
        if dial is None and autodial and not features and not collect:
            dial = self.features.intercom_target(number) or self.site.server.autodial or None
        if dial:
            return actions + self._step(plane, Ev.ROUTE, dial)
        self._arm_off_hook(plane)
        return actions

    def _redial(self, st: Station, line: int) -> list[Action]:
        number = self._last.get(st.name) or self.site.server.redial
        return self._new_call(st, line, dial=number)

    def _make_room(self, st: Station, keep: Plane | None = None) -> list[Action]:
        """Only one call is active per device: hold the connected one, end unfinished ones."""
        actions: list[Action] = []
        for plane in list(self._on(st)):
            if plane is keep or plane.state not in _ACTIVE:
                continue
            if plane.state is CO:
                actions += self._step(plane, Ev.HOLD)
            else:
                actions += self._step(plane, Ev.HANGUP, "new call")
        return actions

    # --- handlers (the table's right-hand side) -------------------------------------------------

    def _on_nothing(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        return []

    def _on_digit(self, plane: Plane, digit: str, old: PS) -> list[Action]:
        actions: list[Action] = []
        if not plane.digits:
            actions += self._to(
                plane,
                StopTone(line_instance=plane.line, call_reference=plane.ref),
                self._keys(plane, SoftKeySetIndex.DIGITS_AFTER_DIALING_FIRST_DIGIT),
            )
        plane.digits += digit
        return actions + self._decide(plane)

    def _on_backspace(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        if not plane.digits:
            return []
        plane.digits = plane.digits[:-1]
        actions = self._to(plane, BackSpaceReq(line_instance=plane.line, call_reference=plane.ref))
        if not plane.digits:
            self._arm_off_hook(plane)
            keys = (
                SoftKeySetIndex.OFF_HOOK_WITH_FEATURES
                if plane.ch.transfer_from
                else SoftKeySetIndex.OFF_HOOK
            )
            return actions + self._to(plane, self._keys(plane, keys))
        return actions + self._decide(plane)

    def _decide(self, plane: Plane) -> list[Action]:
        decision = self.switch.router.dialplan.decide(plane.digits)
        if decision.action in ("process", "trunk"):
            plane.deadline = None
            return self._step(plane, Ev.ROUTE, plane.digits)
        if decision.action == "drop":
            plane.deadline = None
            return self._step(plane, Ev.ROUTE, None)  # None = refused by the dialplan
        self._arm(plane, self.clock.now() + decision.timeout)
        return []

    def _on_route(self, plane: Plane, number: str | None, old: PS) -> list[Action]:
        """Routing (§7.3 end, then the switch): the phone shows what was dialled; the switch's
        answer (ALERTING, ANSWER or HANGUP with a cause) moves the plane on."""
        plane.deadline = None
        if plane.ch.collect is not None:  # digits for a feature, not a call (rule 16)
            return plane.ch.collect(plane, number)
        dialled = number if number is not None else plane.digits
        plane.digits = dialled
        call = plane.ch.call
        if call is not None:
            call.called = dialled
        if dialled:
            self._last[plane.device] = dialled
        actions = self._to(
            plane,
            StopTone(line_instance=plane.line, call_reference=plane.ref),
            DialedNumber(
                dialed_number=dialled[:24], line_instance=plane.line, call_reference=plane.ref
            ),
            self._state(plane, CallStateValue.PROCEED),
            self._info(plane, plane.number, dialled, outbound=True),
        )
        return actions + self.switch.dial(plane.ch, number)

    def _on_ringout(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        """The far end rings (§7.4 ring-out): early media (rule 8), then the calling line's
        other devices show the call in use."""
        actions = self._ringout_block(plane)
        actions += self._open_media(plane)
        return actions + self._observe(plane.ch, exclude=plane.st)

    def _on_progress(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        """The far end sends early media (rule 14): its audio replaces the local ring-back."""
        actions = self._to(plane, StopTone(line_instance=plane.line, call_reference=plane.ref))
        actions += self._ringout_block(plane, tone=False)
        actions += self._open_media(plane, relay=True)
        return actions + self._observe(plane.ch, exclude=plane.st)

    def _on_far_failed(self, plane: Plane, cause: str, old: PS) -> list[Action]:
        return self._fail(plane, cause, cause)

    def _on_off_hook_timeout(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        """Dial tone left with nothing dialled (rule 10): reorder, then cleared like a failed
        call (the switch's call, still DIALING, ends with no record when the plane goes)."""
        return self._fail(plane, causes.RECOVERY_ON_TIMER_EXPIRE, "off-hook, nothing dialled")

    def _on_hold_reminder(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        """Hold reversion (rule 10): the holder is reminded who waits, by a ring burst on an
        idle phone or a tone on the call it is busy with; again after the same delay."""
        self._arm(plane, self.clock.now() + self.site.server.hold_reversion)
        log.info("%s: hold reversion on line %s", plane.st.label, plane.number)
        L, C = plane.line, plane.ref
        actions = self._to(
            plane,
            self._info_for(plane),
            DisplayPromptStatus(
                timeout=10, prompt_status="Hold reversion", line_instance=L, call_reference=C
            ),
        )
        active = self._active(plane.st)
        if active is not None:
            return actions + self._call_waiting_tone(active)
        return actions + self._to(
            plane,
            SetRinger(
                ring_mode=RingType.INSIDE,
                ring_duration=RingMode.SINGLE,
                line_instance=L,
                call_reference=C,
            ),
        )

    def _fail(self, plane: Plane, cause: str, why: str) -> list[Action]:
        """The caller hears busy or reorder until it hangs up (§7.10, rule 9)."""
        log.info("%s: call failed, %s (%s)", plane.st.label, cause, why)
        self._arm(plane, self.clock.now() + FAIL_HANGUP_S)
        # the 7910 plays no tone while a receive channel is open (§8.1): early media goes first
        actions = self._drop_media(plane)
        L, C = plane.line, plane.ref
        if cause in causes.BUSY_CAUSES:
            return actions + self._to(
                plane,
                self._state(plane, CallStateValue.BUSY),
                StartTone(
                    tone=Tone.LINE_BUSY_TONE, tone_direction=0, line_instance=L, call_reference=C
                ),
                self._prompt(plane, label(Label.BUSY)),
            )
        text = (
            label(Label.UNKNOWN_NUMBER)
            if cause in causes.UNKNOWN_NUMBER_CAUSES
            else label(Label.TEMP_FAIL)
        )
        return actions + self._to(
            plane,
            StartTone(tone=Tone.REORDER_TONE, tone_direction=0, line_instance=L, call_reference=C),
            self._prompt(plane, text),
        )

    def _on_answer(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        ch = plane.ch
        actions = self._make_room(plane.st, keep=plane)
        actions += self._seize(plane)
        ch.active = plane
        ch.last_device = plane.device
        for other in ch.ringing():
            actions += self._step(other, Ev.ELSEWHERE)
        actions += self._connected_block(plane)
        log.info("%s answered %s", plane.st.label, ch.number)
        return actions + self.switch.answer(ch)

    def _on_far_answer(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        if old is CO:  # transferee already talking (blind transfer): new party shown only
            return self._to(plane, self._info_for(plane))
        return self._connected_block(plane)

    def _on_update(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        """Another far end (rule 17): shown; connected, its keys and, if need be, media."""
        if plane.state is not CO:
            return self._to(plane, self._info_for(plane))
        actions = self._open_media(plane)
        return actions + self._to(
            plane, self._keys(plane, self.conference.connected_keys(plane)), self._info_for(plane)
        )

    def _on_elsewhere(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        return self._remote_block(plane) + self._rering(plane.st, except_plane=plane)

    def _on_hold(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        # holding back a peer that held us first: our music stops with our receive channel
        actions = self._music(plane, False) + self._close_media(plane)
        L = plane.line
        actions += self._to(
            plane,
            answers.define_time_date(
                self.clock.wall(), answers.site_zone(self.site.server.time_zone)
            ),
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=LampMode.WINK),
            self._state(plane, CallStateValue.HOLD),
            self._keys(plane, SoftKeySetIndex.ON_HOLD),
            self._prompt(plane, label(Label.HOLD)),
            self._info_for(plane),
            SetSpeakerMode(speaker_mode=SpeakerMode.OFF),
        )
        actions += self.switch.hold(plane.ch)
        if self.site.server.hold_reversion:
            self._arm(plane, self.clock.now() + self.site.server.hold_reversion)
        if arg not in ("transfer", "conference"):  # [CS]: no remote hold for these (§7.8)
            actions += self._tell_sharers(plane, Ev.FAR_HOLD)
        return actions

    def _tell_sharers(self, plane: Plane, ev: Ev) -> list[Action]:
        """The other devices showing ``plane``'s channel (same line) get ``ev``."""
        actions: list[Action] = []
        for obs in list(plane.ch.planes):
            if obs is not plane and obs.st is not plane.st and (obs.state, ev) in TABLE:
                actions += self._step(obs, ev)
        return actions

    def _on_remote_hold(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        """§7.5: held on another device: CallState 17 (8 on old phones), OnHold keys (Resume
        picks it up here), prompt Hold; the line lamp winks as for a local hold (§6.7)."""
        L = plane.line
        value = CallStateValue.HOLD if _old_phone(plane.st) else CallStateValue.REMOTE_HOLD
        same_line = (x for x in self._on(plane.st) if x.line == L)
        return self._to(
            plane,
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=_lamp(same_line)),
            self._state(plane, value),
            self._keys(plane, SoftKeySetIndex.ON_HOLD),
            self._prompt(plane, label(Label.HOLD)),
            self._info_for(plane),
        )

    def _on_remote_resume(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        return self._remote_block(plane) + self._to(plane, self._info_for(plane))

    def _on_pickup(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        """Resume pressed on a call held on another device sharing the line: this device
        takes the held plane's place (mod_skinny "shared lines"); the holder shows it remote."""
        ch = plane.ch
        held = ch.active
        if held is None or held.state is not HO or ch.consult is not None:
            log.info("%s: nothing to pick up on line %s", plane.st.label, plane.number)
            return []
        actions = self._take_over(plane)
        actions += self.switch.resume(ch)
        actions += self._step(held, Ev.ELSEWHERE)
        actions += self._tell_sharers(plane, Ev.FAR_RESUME)
        log.info("%s picked up line %s from %s", plane.st.label, ch.number, held.device)
        return actions

    def _take_over(self, plane: Plane) -> list[Action]:
        """``plane``'s device carries its channel's call from now (a shared line's call picked
        up or barged into here): connected, with its own media."""
        ch = plane.ch
        actions = self._set_state(plane, CO)
        actions += self._make_room(plane.st, keep=plane)
        ch.active = plane
        ch.last_device = plane.device
        actions += self._seize(plane)
        return actions + self._connected_block(plane)

    def _on_taken(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        """The call this device held was picked up on another one: it shows it in use."""
        return (
            self._drop_relay(plane)
            + self._remote_block(plane)
            + self._to(plane, self._info_for(plane))
        )

    def _on_resume(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        actions = self._make_room(plane.st, keep=plane)
        actions += self._tell_sharers(plane, Ev.FAR_RESUME)
        L = plane.line
        actions += self._to(
            plane,
            SetSpeakerMode(speaker_mode=SpeakerMode.ON),
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=LampMode.ON),
            ActivateCallPlane(line_instance=L),
        )
        actions += self._connected_block(plane)
        return actions + self.switch.resume(plane.ch)

    def _transfer(self, plane: Plane | None) -> list[Action]:
        """Transfer pressed (softkey or stimulus) on ``plane`` (§7.8)."""
        if plane is None:
            return []
        ch = plane.ch
        if ch.transfer_from is not None:
            return self._step(plane, Ev.COMPLETE)
        consult = ch.consult.active if ch.consult is not None else None
        if consult is not None and consult.state in (RO, CO):
            return self._step(consult, Ev.COMPLETE)
        if plane.state is not CO:  # nothing to transfer yet (ringing out, dialling)
            return self._feature(plane.st, "transfer while " + plane.state.value, 0, plane)
        return self._step(plane, Ev.TRANSFER)

    def _on_transfer(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        actions = self._on_hold(plane, "transfer", old)
        consult = self._new_call(plane.st, plane.line, features=True)
        y = self._active(plane.st)
        if y is not None and y.state is D:
            y.ch.transfer_from = plane.ch
            plane.ch.consult = y.ch
        return actions + consult

    def _on_complete_transfer(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        y = plane.ch
        x = y.transfer_from
        result = self.switch.transfer(x, y) if x is not None else None
        if result is None or not result.ok:
            why = result.why if result is not None else "no held call"
            log.info("%s: transfer refused: %s", plane.st.label, why)
            if arg == "onhook":  # the handset is down: only the consultation ends
                return self._step(plane, Ev.HANGUP, "transfer refused")
            return self._to(plane, self._prompt(plane, label(Label.CAN_NOT_COMPLETE_TRANSFER)))
        return result.actions

    def _on_hang_up(self, plane: Plane, reason: Any, old: PS) -> list[Action]:
        """The user ends the call on this plane: on-hook block here, the line's other devices
        go idle, the switch ends the call for the far end."""
        ch = plane.ch
        actions = self._onhook_block(plane, active=True)
        actions += self._forget(plane)
        actions += self._release(ch)
        return actions + self.switch.hangup(ch, causes.NORMAL_CLEARING, str(reason or "hangup"))

    def _on_refuse(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        """A ringing device pressed EndCall: it stops ringing there; when none is left the
        line refuses the call (the caller hears busy)."""
        ch = plane.ch
        actions = self._onhook_block(plane, active=False)
        actions += self._forget(plane)
        if not ch.ringing() and ch.active is None:
            actions += self._release(ch)
            actions += self.switch.hangup(ch, causes.CALL_REJECTED, "refused")
        return actions

    def _on_gone(self, plane: Plane, cause: Any, old: PS) -> list[Action]:
        actions = self._onhook_block(plane, active=old in _ACTIVE or old is HO)
        actions += self._forget(plane)
        if not plane.ch.planes:
            actions += self._release(plane.ch)
        return actions

    # --- ending ---------------------------------------------------------------------------------

    def _forget(self, plane: Plane) -> list[Action]:
        """The plane is gone: every way a plane ends comes here, so its media leg is freed
        (closed at the edge, released in the allocator) whatever ended it."""
        plane.state = G
        self._planes.pop(plane.ref, None)
        on = self._by_station.get(plane.st.conn)
        if on is not None and plane in on:
            on.remove(plane)
            if not on:
                del self._by_station[plane.st.conn]
        ch = plane.ch
        if plane in ch.planes:
            ch.planes.remove(plane)
        if ch.active is plane:
            ch.last_device = plane.device
            ch.active = None
        actions: list[Action] = []
        if plane.relay_port is not None:
            self.ports.free(plane.relay_port)
            plane.relay_port = None
            actions.append(MediaClose(plane.ref))
        return actions

    def _release(self, ch: PhoneChannel, keep: Plane | None = None) -> list[Action]:
        """``ch`` leaves its call: its remaining planes (the line's other devices) go idle and
        its transfer links are cut."""
        actions: list[Action] = []
        for p in list(ch.planes):
            if p is not keep:
                actions += self._set_state(p, G)
                actions += self._on_gone(p, None, RE)
        if ch.consult is not None:
            ch.consult.transfer_from = None
            ch.consult = None
        if ch.transfer_from is not None:
            ch.transfer_from.consult = None
            ch.transfer_from = None
        return actions

    # --- blocks of messages (§7) ----------------------------------------------------------------

    def _ringout_block(self, plane: Plane, tone: bool = True) -> list[Action]:
        actions = self._to(
            plane,
            StartTone(
                tone=Tone.ALERTING_TONE,
                tone_direction=0,
                line_instance=plane.line,
                call_reference=plane.ref,
            ),
        )
        return (actions if tone else []) + self._to(
            plane,
            self._state(plane, CallStateValue.RING_OUT),
            self._keys(plane, SoftKeySetIndex.RING_OUT),
            self._prompt(plane, label(Label.RING_OUT)),
            self._info_for(plane),
        )

    def _ringin_block(self, plane: Plane) -> list[Action]:
        call = plane.ch.call
        caller = call.a if call is not None else None
        number = caller.number if caller else ""
        line = self.site.line(plane.number)
        busy = any(
            x.state in _ACTIVE or x.state is HO for x in self._on(plane.st) if x is not plane
        )
        L, C = plane.line, plane.ref
        why = self.features.ringin_prompt(plane)  # a redirected call says why (rule 16)
        actions = self._to(
            plane,
            self._state(plane, CallStateValue.RING_IN),
            self._keys(plane, SoftKeySetIndex.RING_IN),
            self._prompt(plane, why or label(Label.FROM, " " + number)),
            self._info_for(plane),
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=LampMode.BLINK),
        )
        ring = line is None or (line.ring_on_active if busy else line.ring_on_idle)
        silent = self.features.silent(plane.st)  # do not disturb, silent mode
        ring = ring and not silent
        active = self._active(plane.st)
        if busy and active is not None and not silent:
            # call waiting: a tone on the active call instead of the ringer (§7.4); none with
            # ring_on_active off (mod_skinny's ring-on-active: "no call waiting beep")
            return actions + (self._call_waiting_tone(active) if ring else [])
        mode = RingType.INSIDE if ring else RingType.FLASH_ONLY
        return actions + self._to(
            plane,
            SetRinger(
                ring_mode=mode, ring_duration=RingMode.NORMAL, line_instance=L, call_reference=C
            ),
        )

    def _call_waiting_tone(self, active: Plane) -> list[Action]:
        """A tone on the call the device is busy with: something else wants it (§7.4)."""
        return self._to(
            active,
            StartTone(
                tone=Tone.CALL_WAITING_TONE,
                tone_direction=0,
                line_instance=active.line,
                call_reference=active.ref,
            ),
        )

    def _connected_block(self, plane: Plane) -> list[Action]:
        """[FS] "start media" (§7.4 step 8): receive channel, then Connected."""
        actions = self._to(plane, StopTone(line_instance=plane.line, call_reference=plane.ref))
        actions += self._open_media(plane)
        return actions + self._to(
            plane,
            self._state(plane, CallStateValue.CONNECTED),
            self._keys(plane, self.conference.connected_keys(plane)),
            self._prompt(plane, label(Label.CONNECTED)),
            self._info_for(plane),
        )

    def _remote_block(self, plane: Plane) -> list[Action]:
        L = plane.line
        return self._to(
            plane,
            answers.define_time_date(
                self.clock.wall(), answers.site_zone(self.site.server.time_zone)
            ),
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=LampMode.ON),
            self._state(plane, CallStateValue.CALL_REMOTE_MULTILINE),
            SelectSoftKeys(
                line_instance=L,
                call_reference=plane.ref,
                soft_key_set_index=SoftKeySetIndex.IN_USE_HINT,
                valid_key_mask=answers.in_use_key_mask(self.site, _softkeys(plane.st)),
            ),
            self._prompt(plane, label(Label.IN_USE_REMOTE)),
            _ringer_off(L, plane.ref),
        )

    def _onhook_block(self, plane: Plane, active: bool) -> list[Action]:
        """§7.9, for one plane; lamps and ringer follow what stays on the device."""
        L, C = plane.line, plane.ref
        rest = [x for x in self._on(plane.st) if x is not plane and x.state is not G]
        actions = self._to(
            plane,
            StopTone(line_instance=L, call_reference=C),
            SetLamp(
                stimulus=StimulusType.LINE,
                stimulus_instance=L,
                lamp_mode=_lamp(x for x in rest if x.line == L),
            ),
            ClearPromptStatus(line_instance=L, call_reference=C),
        )
        actions += self._close_media(plane)
        actions += self._to(
            plane,
            self._state(plane, CallStateValue.ON_HOOK),
            self._keys(plane, SoftKeySetIndex.ON_HOOK) if rest else answers.select_on_hook(),
            answers.define_time_date(
                self.clock.wall(), answers.site_zone(self.site.server.time_zone)
            ),
        )
        if active and self._active(plane.st) is None:  # rule 17: not under another call
            actions += self._to(plane, SetSpeakerMode(speaker_mode=SpeakerMode.OFF))
        actions += self._to(plane, _ringer_off(0, 0))
        if not rest:  # idle again: what its features show (DND, forwarded...)
            actions += self._to(plane, *self.features.idle(plane))
        return actions + self._rering(plane.st, except_plane=plane)

    def _rering(self, st: Station, except_plane: Plane) -> list[Action]:
        """Calls still ringing on the device get their ringer back (FS skinny_ring_active_calls)."""
        if self._active(st) is not None:
            return []
        for x in self._on(st):
            if x is not except_plane and x.state is RI:
                return self._to(
                    x,
                    SetRinger(
                        ring_mode=RingType.INSIDE,
                        ring_duration=RingMode.NORMAL,
                        line_instance=x.line,
                        call_reference=x.ref,
                    ),
                )
        return []

    def _observe(self, ch: PhoneChannel, exclude: Station) -> list[Action]:
        """Other devices carrying ``ch``'s line show the call in use remotely (§7.3 end),
        unless they show it already (the called line on the same device)."""
        actions: list[Action] = []
        for st, instance in self.stations.carriers(ch.number):
            if st is exclude or any(x.ch is ch or x.ch.call is ch.call for x in self._on(st)):
                continue
            obs = self._new_plane(st, instance, ch.number, RE, ch)
            actions += self._remote_block(obs)
            actions += self._to(obs, self._info_for(obs))
        return actions

    # --- media ----------------------------------------------------------------------------------

    @property
    def _relay_mode(self) -> bool:
        return self.site.server.media != "direct"

    @property
    def _relay_ip(self) -> str:
        return media_address(self.site.server)

    def _far(self, plane: Plane) -> Channel | None:
        return self.switch.far(plane.ch)

    def _far_plane(self, plane: Plane) -> Plane | None:
        far = self._far(plane)
        return far.active if isinstance(far, PhoneChannel) else None

    def _needs_relay(self, plane: Plane) -> bool:
        """Relayed media, or a far end that is not a phone (it has no RTP address of its
        own to point the phone at: the engine is the far end)."""
        if self._relay_mode:
            return True
        far = self._far(plane)
        return far is not None and far.kind is not Kind.PHONE

    def _open_media(self, plane: Plane, relay: bool = False) -> list[Action]:
        """The plane's receive channel, and its media leg when the engine carries its audio
        (``relay``: whatever the media mode, for early media)."""
        actions: list[Action] = []
        if (relay or self._needs_relay(plane)) and (plane.relay_port is None or plane.moh_only):
            if plane.moh_only:  # direct media's music leg becomes the talking leg
                plane.moh = plane.moh_only = False
                actions.append(MediaStop(plane.ref))
                if plane.rx is not None and plane.relay_port is not None:  # receive channel open
                    actions += self._smt(plane, (self._relay_ip, plane.relay_port))
            else:
                port = self.ports.take()
                if port is None:
                    log.error(
                        "no free RTP port in %d-%d: %s has no audio; widen the range",
                        self.site.server.rtp_port_min,
                        self.site.server.rtp_port_max,
                        plane.st.label,
                    )
                else:
                    plane.relay_port = port
                    plane.relay_key = self._call_key(plane)
                    alaw = _codec(plane.st) == Codec.G711_ALAW_64K
                    codec: MediaCodec = "alaw" if alaw else "ulaw"
                    actions.append(MediaOpen(plane.relay_key, plane.ref, port, codec))
                    if plane.rx is not None:  # its receive channel was opened before
                        actions.append(MediaLearn(plane.ref, plane.rx[0], plane.rx[1], plane.nat))
                        actions += self._smt(plane, (self._relay_ip, port))
        if plane.orc:
            return actions
        plane.codec = _codec(plane.st)
        plane.orc = True
        plane.rx = None
        plane.smt = None
        return actions + self._to(
            plane,
            OpenReceiveChannel(
                conference_id=plane.ref,
                pass_thru_party_id=plane.ref,
                millisecond_packet_size=PTIME_MS,
                compression_type=plane.codec,
                echo_cancel_type=0,
                g723_bit_rate=0,
                call_reference=plane.ref,
                rfc2833_payload_type=0,
                dtmf_type=10,
            ),
        )

    def _close_media(self, plane: Plane) -> list[Action]:
        if not plane.orc:
            return []
        plane.orc = False
        plane.rx = None
        plane.smt = None
        C = plane.ref
        return self._to(
            plane,
            CloseReceiveChannel(conference_id=C, pass_thru_party_id=C, call_reference=C),
            StopMediaTransmission(conference_id=C, pass_thru_party_id=C, call_reference=C),
        )

    def _drop_media(self, plane: Plane) -> list[Action]:
        """Close the phone's media and free its media leg (the plane itself goes on)."""
        return self._close_media(plane) + self._drop_relay(plane)

    def _drop_relay(self, plane: Plane) -> list[Action]:
        plane.moh = plane.moh_only = False
        if plane.relay_port is None:
            return []
        self.ports.free(plane.relay_port)
        plane.relay_port = None
        return [MediaClose(plane.ref)]

    def _smt(self, plane: Plane, to: tuple[str, int]) -> list[Action]:
        if plane.smt == to or plane.muted:  # a muted intercom call sends nothing (rule 16)
            return []
        actions: list[Action] = []
        C = plane.ref
        if plane.smt is not None:  # re-pointing (direct media after a transfer)
            actions += self._to(
                plane,
                StopMediaTransmission(conference_id=C, pass_thru_party_id=C, call_reference=C),
            )
        plane.smt = to
        return actions + self._to(
            plane,
            StartMediaTransmission(
                conference_id=C,
                pass_thru_party_id=C,
                remote_ip_addr=to[0],
                remote_port_number=to[1],
                millisecond_packet_size=PTIME_MS,
                compression_type=plane.codec,
                precedence_value=RTP_PRECEDENCE,
                ss_value=0,
                max_frames_per_packet=0,
                g723_bit_rate=0,
                call_reference=C,
            ),
        )

    def _direct(self, a: Plane, b: Plane) -> list[Action]:
        """Direct media: once both phones are connected with acks in, each sends to the other
        (music on hold to either stops first)."""
        for x, y in ((a, b), (b, a)):
            if x.state is CO and x.rx and y.state is HO:
                return self._music(x, True)  # resumed while its far end still holds it
        if not (a.rx and b.rx and a.state is CO and b.state is CO):
            return []
        actions = self._music(a, False) + self._music(b, False)
        return actions + self._smt(a, b.rx) + self._smt(b, a.rx)

    def _music(self, plane: Plane, on: bool) -> list[Action]:
        """Music on hold to ``plane``'s phone (its far end held it), played by the engine.

        Relayed media: the plane's media leg switches to music. Direct media (§7.7): the held
        phone is told to stop sending (its far end closed its receive channel) and a media leg
        opened for it streams music to its receive address from its last ack; its receive
        channel stays open. Music off closes that leg; ``_direct`` then re-points both phones.
        """
        if plane.moh == on:
            return []
        if plane.moh_only:  # direct media: the leg existed only for the music
            return self._drop_relay(plane)
        if plane.relay_port is not None:  # relayed media: the same leg plays music
            plane.moh = on
            if on:
                return [MediaPlay(plane.ref, "music", _media_codec(plane), PTIME_MS)]
            return [MediaStop(plane.ref)]
        if not on or self._relay_mode:
            return []
        if not plane.orc or plane.rx is None:
            log.info("%s: no receive address yet; no music on hold", plane.st.label)
            return []
        port = self.ports.take()
        if port is None:
            log.error(
                "no free RTP port in %d-%d: no music on hold for %s; widen the range",
                self.site.server.rtp_port_min,
                self.site.server.rtp_port_max,
                plane.st.label,
            )
            return []
        plane.relay_port, plane.relay_key = port, self._call_key(plane)
        plane.moh = plane.moh_only = True
        actions: list[Action] = []
        if plane.smt is not None:
            C = plane.ref
            plane.smt = None
            actions += self._to(
                plane,
                StopMediaTransmission(conference_id=C, pass_thru_party_id=C, call_reference=C),
            )
        actions += [
            MediaOpen(plane.relay_key, plane.ref, port),
            MediaLearn(plane.ref, plane.rx[0], plane.rx[1], plane.nat),
            MediaPlay(plane.ref, "music", _media_codec(plane), PTIME_MS),
        ]
        return actions

    def _call_key(self, plane: Plane) -> int:
        call = plane.ch.call
        return call.id if call is not None else plane.ref

    # --- small helpers ----------------------------------------------------------------------------

    def _new_plane(self, st: Station, line: int, number: str, state: PS, ch: PhoneChannel) -> Plane:
        plane = Plane(self.switch.refs(), st, line, number, ch, state)
        self._planes[plane.ref] = plane
        self._by_station.setdefault(st.conn, []).append(plane)
        ch.planes.append(plane)
        return plane

    def _arm(self, plane: Plane, at: float) -> None:
        plane.deadline = at
        heapq.heappush(self._timers, (at, plane.ref))

    def _arm_off_hook(self, plane: Plane) -> None:
        timeout = self.site.server.off_hook_timeout
        plane.deadline = None
        if timeout:
            self._arm(plane, self.clock.now() + timeout)

    def _on(self, st: Station) -> list[Plane]:
        return list(self._by_station.get(st.conn, ()))

    def _active(self, st: Station) -> Plane | None:
        found = [x for x in self._on(st) if x.state in _ACTIVE]
        return found[-1] if found else None

    def _first(self, st: Station, state: PS, line: int, exact: bool = False) -> Plane | None:
        found = [x for x in self._on(st) if x.state is state]
        same = [x for x in found if x.line == line]
        if same or exact:
            return same[0] if same else None
        return found[0] if found else None

    def _plane_of(self, st: Station, ref: int) -> Plane | None:
        plane = self._planes.get(ref) if ref else None
        return plane if plane is not None and plane.st is st else None

    def _line(self, st: Station, instance: int) -> tuple[int, str | None]:
        line = st.line_at(instance) if instance else None
        if line is not None:
            return instance, line.number
        slots = st.layout.lines if st.layout else ()
        if not slots:
            return 0, None
        return slots[0].instance, slots[0].button.line

    def _calls_on(self, number: str) -> int:
        """Calls in progress on line ``number`` (ringing, talking, held, being dialled)."""
        calls = {
            x.ch.id
            for x in self._planes.values()
            if x.number == number and x.state in (RI, CO, HO, D, RO, FA)
        }
        return len(calls)

    def _to(self, plane: Plane, *messages: Message) -> list[Action]:
        return [Send(plane.st.conn, m) for m in messages]

    def _seize(self, plane: Plane) -> list[Action]:
        """The phone takes this plane's call: ringer off, speaker and line lamp on, OffHook,
        call plane (answer and shared-line pick-up alike)."""
        L = plane.line
        return self._to(
            plane,
            _ringer_off(L, plane.ref),
            SetSpeakerMode(speaker_mode=SpeakerMode.ON),
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=LampMode.ON),
            self._state(plane, CallStateValue.OFF_HOOK),  # 7911: OffHook before Connected (§8.1)
            ActivateCallPlane(line_instance=L),
        )

    def _state(self, plane: Plane, value: CallStateValue) -> CallState:
        return CallState(
            call_state=value,
            line_instance=plane.line,
            call_reference=plane.ref,
            privacy=0,
            precedence_level=4,
        )

    def _keys(self, plane: Plane, index: SoftKeySetIndex) -> SelectSoftKeys:
        return SelectSoftKeys(
            line_instance=plane.line,
            call_reference=plane.ref,
            soft_key_set_index=index,
            valid_key_mask=0xFFFF,
        )

    def _prompt(self, plane: Plane, text: str) -> DisplayPromptStatus:
        return DisplayPromptStatus(
            timeout=0, prompt_status=text[:32], line_instance=plane.line, call_reference=plane.ref
        )

    def _info_for(self, plane: Plane) -> CallInfo:
        """Who is calling whom, as this plane shows it: its channel's role in its call
        (originating: outbound, to the far end or what was dialled; else inbound)."""
        ch = plane.ch
        call = ch.call
        if call is None:
            return self._info(plane, plane.number, "", outbound=True)
        if ch is call.a:
            far = call.far(ch)
            if far is None:
                called = call.routed_to or call.called  # where it rings now (forwarded...)
                return self._info(plane, plane.number, called, True, via=call)
            return self._info(plane, plane.number, far.number, True, called_name=far.name, via=call)
        caller = call.a
        if caller is None:
            return self._info(plane, "", plane.number, outbound=False, via=call)
        return self._info(
            plane, caller.number, plane.number, False, calling_name=caller.name, via=call
        )

    def _info(
        self,
        plane: Plane,
        calling: str,
        called: str,
        outbound: bool,
        calling_name: str = "",
        called_name: str = "",
        via: Call | None = None,
    ) -> CallInfo:
        """``*_name``: what the far channel calls itself, for a number not of the site
        (rule 15). ``via``: the call, when it was redirected (forwarded, hunt group, pick-up,
        park): its redirect fields are shown, an inbound one as a forwarded call (rule 16)."""
        redirect = self.features.redirect_fields(via)
        call_type = 2 if outbound else (3 if redirect else 1)
        return CallInfo(
            calling_party_name=self._name(calling, calling_name)[:39],
            calling_party=calling[:23],
            called_party_name=self._name(called, called_name)[:39],
            called_party=called[:23],
            line_instance=plane.line,
            call_reference=plane.ref,
            call_type=call_type,
            call_instance=1,
            call_security_status=1,
            **redirect,
        )

    def _name(self, number: str, given: str = "") -> str:
        line = self.site.line(number)
        if line is not None:
            return line.shown_caller_name
        app = self.site.application(number) or self.site.voicemail_application(number)
        if app is not None:
            return app.name or app.kind
        return given or number

    def _event(self, plane: Plane) -> Publish:
        call = plane.ch.call
        return Publish(
            Event(
                "call_state",
                self.clock.wall(),
                {
                    "device_name": plane.device,
                    "line_instance": plane.line,
                    "call_id": call.id if call else 0,
                    "call_reference": plane.ref,
                    "line": plane.number,
                    "state": plane.state.value,
                },
            )
        )

    def plane_status(self, ch: PhoneChannel) -> list[dict[str, Any]]:
        """``status calls`` data of a channel's planes."""
        far = self.switch.far(ch)
        return [
            {
                "device_name": p.device,
                "line_instance": p.line,
                "line": p.number,
                "call_reference": p.ref,
                "state": p.state.value,
                "digits": p.digits,
                "peer": far.device if far is not None and p is ch.active else "",
                "rtp_phone": f"{p.rx[0]}:{p.rx[1]}" if p.rx else "",
                "rtp_sends_to": f"{p.smt[0]}:{p.smt[1]}" if p.smt else "",
                "relay_port": p.relay_port,
                "music_on_hold": p.moh,
            }
            for p in ch.planes
        ]


def _lamp(planes: Iterable[Plane]) -> LampMode:
    states = {x.state for x in planes}
    if states & {D, RO, CO, FA, RE}:
        return LampMode.ON
    if RI in states:
        return LampMode.BLINK
    if HO in states or RH in states:
        return LampMode.WINK
    return LampMode.OFF


def _old_phone(st: Station) -> bool:
    """The "old" SCCP firmware list of §8.1 (CallState 8 instead of 17 for remote hold)."""
    model = st.device.model if st.device is not None else MODELS_BY_DEVICE_TYPE.get(st.device_type)
    if model is None:
        return False
    return model.family in ("legacy", "790x", "ata") or model.name in ("7920", "7935", "7936")


def _softkeys(st: Station) -> str:
    """The name of the device's softkey set."""
    return st.device.softkeys if st.device is not None else "default"


def _codec(st: Station) -> int:
    if not st.codecs or Codec.G711_ULAW_64K in st.codecs:
        return int(Codec.G711_ULAW_64K)
    if Codec.G711_ALAW_64K in st.codecs:
        return int(Codec.G711_ALAW_64K)
    return int(Codec.G711_ULAW_64K)


def _media_codec(plane: Plane) -> MediaCodec:
    return "alaw" if plane.codec == Codec.G711_ALAW_64K else "ulaw"


def _digit(button: int) -> str | None:
    if 0 <= button <= 9:
        return str(button)
    if button == 10:  # some firmwares send 10 for "0" (the DTMF tone numbering)
        return "0"
    return {14: "*", 15: "#", 16: "+"}.get(button)


def _enum_name(enum: Any, value: int) -> str:
    try:
        return str(enum(value).name)
    except ValueError:
        return str(value)


# Features a softkey or a fixed feature key asks for (rule 12); feature buttons name theirs.
_SOFTKEY_FEATURES: dict[int, str] = {
    SoftKeyEventValue.CFWD_ALL: "forward_all",
    SoftKeyEventValue.CFWD_BUSY: "forward_busy",
    SoftKeyEventValue.CFWD_NO_ANSWER: "forward_no_answer",
    SoftKeyEventValue.INFO: "info",
    SoftKeyEventValue.CONFERENCE: "conference",
    SoftKeyEventValue.PARK: "park",
    SoftKeyEventValue.JOIN: "join",
    SoftKeyEventValue.MEET_ME: "meetme",
    SoftKeyEventValue.PICKUP: "pickup",
    SoftKeyEventValue.GROUP_PICKUP: "group_pickup",
    SoftKeyEventValue.DND: "dnd",
    SoftKeyEventValue.IDIVERT: "idivert",
    SoftKeyEventValue.BARGE: "barge",
    SoftKeyEventValue.HLOG: "hlog",
    SoftKeyEventValue.CBARGE: "cbarge",
    SoftKeyEventValue.RMLSTC: "remove_last_participant",
    SoftKeyEventValue.CONFLIST: "conference_list",
}
_STIMULUS_FEATURES: dict[int, str] = {
    StimulusType.FORWARD_ALL: "forward_all",
    StimulusType.FORWARD_BUSY: "forward_busy",
    StimulusType.FORWARD_NO_ANSWER: "forward_no_answer",
    StimulusType.CONFERENCE: "conference",
    StimulusType.MEET_ME_CONFERENCE: "meetme",
    StimulusType.CALL_PARK: "park",
    StimulusType.CALL_PICKUP: "pickup",
    StimulusType.GROUP_CALL_PICKUP: "group_pickup",
    StimulusType.OTHER_PICKUP: "other_pickup",
    StimulusType.DO_NOT_DISTURB: "dnd",
    StimulusType.CONF_LIST: "conference_list",
    StimulusType.REMOVE_LAST_PARTICIPANT: "remove_last_participant",
    StimulusType.CALLBACK: "callback",
    StimulusType.HUNT_GROUP: "hlog",
    StimulusType.PARKING_LOT: "parking_lot",
}


_HANDLERS: dict[type[Message], Callable[[Phones, Station, Any], list[Action]]] = {
    OffHook: Phones._off_hook,
    OnHook: Phones._on_hook,
    SoftKeyEvent: Phones._softkey,
    Stimulus: Phones._stimulus,
    KeypadButton: Phones._keypad,
    EnblocCall: Phones._enbloc,
    OpenReceiveChannelAck: Phones._orc_ack,
    StartMediaTransmissionAck: Phones._ignore,
    HookFlash: Phones._ignore,
}


def _ringer_off(line_instance: int = 0, call_reference: int = 0) -> SetRinger:
    return SetRinger(
        ring_mode=RingType.OFF,
        ring_duration=RingMode.NORMAL,
        line_instance=line_instance,
        call_reference=call_reference,
    )


__all__ = ["FAIL_HANGUP_S", "PS", "TABLE", "Ev", "PhoneChannel", "Phones", "Plane"]
