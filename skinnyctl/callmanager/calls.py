"""Calls between registered phones (the core's ``CallLayer``), sans-IO.

Model. A :class:`Call` is one caller leg and the callee's legs. A :class:`Leg` is one call
plane on one device: (station, line instance, callRef). Every leg has its own callRef (also
its passThruPartyId and conferenceId, and the relay's leg key) from one counter seeded with the
Unix time, so refs keep increasing across restarts (7940 quirk, sccp-protocol.md §7). A ringing
call has one RINGIN leg per registered device carrying the called line (shared lines); the
first to answer is the call's ``answered`` leg, the others become REMOTE legs ("in use
remotely"), like the caller line's other devices. Two connected legs point at each other with
``peer``; media flows between peers. When a shared line's call is held (not for a transfer),
the line's REMOTE legs on other devices become REMOTE_HOLD (CallState 17, or 8 on the old
phones of §8.1; OnHold keys; Hold prompt; lamp wink, §7.5): Resume there picks the call up
(that leg takes the held leg's place and peer; the holder's leg becomes REMOTE).

Leg state table. ``TABLE[(state, event)] -> (new state, handler)``. Rules:

1. The phone's messages (OffHook, OnHook, SoftKeyEvent, Stimulus, KeypadButton, EnblocCall)
   are turned into one event for one leg by ``message`` (which leg: the callRef the phone
   names, else the device's active leg, else its ringing or held one). Asking for a new call
   is not a leg event: it creates a DIALING leg (after holding the device's connected call and
   ending its other unfinished ones: only one active call per device, §8.7).
2. The table alone decides the leg's next state; the handler produces the messages (in the
   doc's order, §7.3-§7.11) and the events it causes on *other* legs (FAR_ANSWER, FAR_END,
   ELSEWHERE), each going through the table too.
3. A (state, event) pair missing from the table is a request that makes no sense in that
   state: it is logged and ignored; the phone keeps what it shows.
4. GONE legs are forgotten: their relay port is freed and the phone got the on-hook block.
   A call ends when its caller or its answered leg ends (or the last ringing leg refuses):
   every other leg gets FAR_END, and one call detail record is written (``WriteCdr``).
5. Transfer is two presses (§7.8): TRANSFER on a connected leg X holds it and opens a
   consultation leg Y (OffHookWithFeatures). COMPLETE on Y (Transfer again on Y or on X, or
   on-hook while Y still rings) joins X's peer with Y's peer (attended) or with Y's ringing
   callee (blind); X and Y end ("transferred").
6. Media (§7.4): each connected leg gets OpenReceiveChannel; its Ack gives the phone's RTP
   address (the SCCP peer IP when the phone is behind NAT); StartMediaTransmission names the
   relay's port for that leg (media = "relay"), or the peer phone's address once both acks
   are in (media = "direct"). The relay is driven by actions (RelayLeg, RelayLearn,
   RelayBridge, RelayHold, RelayResume, RelayClose) the edge applies to ``media.Relay``; the
   ports come from a deterministic allocator here (:class:`Ports`), so the core needs no
   answer from the edge. Hold closes the holder's media and plays music to the held peer:
   with relayed media its relay leg switches to music; with direct media (§7.7) the held
   phone gets StopMediaTransmission and a relay leg opened only for it streams music to its
   receive address (its receive channel stays open); on resume, once the holder's ack is in,
   that leg closes and both phones are pointed at each other again.
7. Early media (mod_skinny "early media supported", §7.4 "Early media"): the caller's receive
   channel is opened while the callee rings (OpenReceiveChannel right after the ring-out block,
   its Ack answered with StartMediaTransmission to the caller's relay leg, or nothing yet with
   direct media), without the Connected state/keys/prompt. The callee answering then opens only
   the callee's side: the callee's first RTP reaches the caller with no second
   OpenReceiveChannel round trip, and the caller's path to the relay is up (and counted in the
   relay's statistics) before the answer.
   The ring-back itself stays the phone's local alerting tone (§7.4 step 1 "generated
   locally"): between our own phones there is no far-end progress media, and relay-played
   ring-back on top of StartTone(Alerting) would be heard twice. A failed call (busy, reorder)
   closes that early media before its tone (the 7910 plays no tone with a stream open, §8.1).

Not implemented (logged and ignored): conference, park, pickup, call forward, DND, iDivert,
barge.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

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
from .clock import Clock
from .dialplan import Dialplan
from .events import Action, Event, Publish, Send
from .stations import Station, Stations

log = logging.getLogger("skinnyctl.callmanager.calls")

PTIME_MS = 20
FAIL_HANGUP_S = 15.0  # busy/reorder left off-hook ends after this ([CS] SCCP_HANGUP_TIMEOUT, §7.14)
RTP_PRECEDENCE = 0xB8  # DSCP EF, what CUCM and mod_skinny send


# --- actions for the edge (relay and CDR) -------------------------------------------------------


@dataclass(frozen=True)
class RelayLeg:
    """Open a relay leg bound to ``port`` (RTP; RTCP = port + 1) for relay call ``call_key``."""

    call_key: int
    leg_key: int
    port: int


@dataclass(frozen=True)
class RelayLearn:
    leg_key: int
    ip: str
    port: int


@dataclass(frozen=True)
class RelayBridge:
    """Forward between two legs; both are (re)keyed to ``call_key`` first (after a transfer
    the two legs come from different calls)."""

    a: int
    b: int
    call_key: int


@dataclass(frozen=True)
class RelayHold:
    leg_key: int
    codec: str = "ulaw"
    ptime_ms: int = PTIME_MS


@dataclass(frozen=True)
class RelayResume:
    leg_key: int


@dataclass(frozen=True)
class RelayClose:
    leg_key: int


@dataclass(frozen=True)
class WriteCdr:
    record: dict[str, Any]


CallAction = RelayLeg | RelayLearn | RelayBridge | RelayHold | RelayResume | RelayClose | WriteCdr


class Ports:
    """RTP port pairs of the site's range: even RTP port, RTCP above it; handed out round
    robin (a port just freed is reused last, so late packets of an old call find nobody)."""

    def __init__(self, low: int, high: int) -> None:
        first = low + (low & 1)
        self._all = list(range(first, high, 2))
        self._next = 0
        self.used: set[int] = set()

    def take(self) -> int | None:
        for _ in range(len(self._all)):
            port = self._all[self._next]
            self._next = (self._next + 1) % len(self._all)
            if port not in self.used:
                self.used.add(port)
                return port
        return None

    def free(self, port: int) -> None:
        self.used.discard(port)


# --- legs and calls -----------------------------------------------------------------------------


class LS(Enum):
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
    FAR_ANSWER = "far_answer"
    ELSEWHERE = "elsewhere"
    HOLD = "hold"
    RESUME = "resume"
    TRANSFER = "transfer"
    COMPLETE = "complete"
    HANGUP = "hangup"
    FAR_END = "far_end"
    TIMEOUT = "timeout"  # busy/reorder heard for FAIL_HANGUP_S
    FAR_HOLD = "far_hold"  # shared line: the device carrying the call held it
    FAR_RESUME = "far_resume"  # ... resumed it (or another device picked it up)


D, RO, RI, CO, HO, FA, RE, RH, G = (
    LS.DIALING,
    LS.RINGOUT,
    LS.RINGIN,
    LS.CONNECTED,
    LS.HOLD,
    LS.FAILED,
    LS.REMOTE,
    LS.REMOTE_HOLD,
    LS.GONE,
)

TABLE: dict[tuple[LS, Ev], tuple[LS, str]] = {
    (D, Ev.DIGIT): (D, "digit"),
    (D, Ev.BACKSPACE): (D, "backspace"),
    (D, Ev.ROUTE): (RO, "route"),  # the handler's outcome may be FAILED (busy, reorder)
    (D, Ev.HANGUP): (G, "end_call"),
    (D, Ev.FAR_END): (G, "gone"),
    (RO, Ev.FAR_ANSWER): (CO, "far_answer"),
    (RO, Ev.HANGUP): (G, "end_call"),
    (RO, Ev.COMPLETE): (G, "complete_transfer"),
    (RO, Ev.FAR_END): (FA, "far_busy"),
    (RI, Ev.ANSWER): (CO, "answer"),
    (RI, Ev.HANGUP): (G, "refuse"),
    (RI, Ev.ELSEWHERE): (RE, "elsewhere"),
    (RI, Ev.FAR_END): (G, "gone"),
    (CO, Ev.HOLD): (HO, "hold"),
    (CO, Ev.TRANSFER): (HO, "transfer"),
    (CO, Ev.COMPLETE): (G, "complete_transfer"),
    (CO, Ev.HANGUP): (G, "end_call"),
    (CO, Ev.FAR_END): (G, "gone"),
    (CO, Ev.FAR_ANSWER): (CO, "far_answer"),  # a transferee already talking (blind transfer)
    (HO, Ev.RESUME): (CO, "resume"),
    (HO, Ev.HANGUP): (G, "end_call"),
    (HO, Ev.FAR_END): (G, "gone"),
    (FA, Ev.HANGUP): (G, "end_call"),
    (FA, Ev.TIMEOUT): (G, "end_call"),
    (FA, Ev.FAR_END): (FA, "nothing"),
    (RE, Ev.FAR_END): (G, "gone"),
    (RE, Ev.FAR_HOLD): (RH, "remote_hold"),
    (RH, Ev.FAR_RESUME): (RE, "remote_resume"),
    (RH, Ev.RESUME): (CO, "pickup"),  # shared line: take over the held call here (§7.5)
    (RH, Ev.FAR_END): (G, "gone"),
    (HO, Ev.ELSEWHERE): (RE, "taken"),  # ... and the device that held it shows it remote
}

_ACTIVE = (D, RO, CO, FA)  # states in which a leg holds the device's handset/speaker
_TIMED = (D, FA)  # states whose leg.deadline is armed: digit timer, failed-call hang-up


@dataclass(eq=False)
class Leg:
    ref: int
    st: Station
    line: int  # line instance on st
    number: str  # directory number of that line
    call: Call
    state: LS
    peer: Leg | None = None
    digits: str = ""
    deadline: float | None = None  # digit timer
    transfer_from: Leg | None = None  # on a consultation leg: the held leg it transfers
    consult: Leg | None = None  # on the held leg: its consultation leg
    # media
    orc: bool = False  # OpenReceiveChannel sent, not closed since
    rx: tuple[str, int] | None = None  # the phone's RTP address (from the ack)
    relay_port: int | None = None  # relay leg bound for this leg
    relay_key: int = 0  # relay call key the relay leg belongs to
    moh: bool = False  # the relay plays music to this phone
    moh_only: bool = False  # direct media: its relay leg exists only for that music
    smt: tuple[str, int] | None = None  # where StartMediaTransmission told it to send
    codec: int = int(Codec.G711_ULAW_64K)

    @property
    def device(self) -> str:
        return self.st.name


@dataclass(eq=False)
class Call:
    id: int
    caller: Leg | None
    called: str = ""
    called_name: str = ""
    ringing: list[Leg] = field(default_factory=list)
    answered: Leg | None = None
    observers: list[Leg] = field(default_factory=list)
    start: float = 0.0  # Unix
    answer: float | None = None
    ended: bool = False
    a: Leg | None = None  # for the CDR: who called, who answered (legs move on transfer)
    b: Leg | None = None

    def legs(self) -> list[Leg]:
        out = [self.caller] if self.caller else []
        out += self.ringing
        if self.answered:
            out.append(self.answered)
        return out + self.observers


# --- the call layer ------------------------------------------------------------------------------


class Calls:
    """The CallLayer of :class:`skinnyctl.callmanager.CallManager`. Core thread only."""

    def __init__(self, site: Site, clock: Clock, stations: Stations | None = None) -> None:
        self.clock = clock
        self.stations = stations or Stations()
        self._refs = itertools.count(int(clock.wall()) & 0x3FFFFFFF or 1)
        self._legs: dict[int, Leg] = {}
        self._calls: dict[int, Call] = {}
        self._timers: list[tuple[float, int]] = []
        self._last: dict[str, str] = {}  # device name -> last number dialled (Redial)
        self.site = site
        self.dialplan = Dialplan.of(site)
        s = site.server
        self.ports = Ports(s.rtp_port_min, s.rtp_port_max)

    def attach(self, core: Any) -> Calls:
        """Share the core's stations (lines -> devices); returns self."""
        self.stations = core.stations
        return self

    def reload(self, site: Site) -> list[Action]:
        """A new site: dialplan, numbers, names, media mode apply to the next calls; calls in
        progress keep going."""
        self.site = site
        self.dialplan = Dialplan.of(site)
        s = site.server
        used = self.ports.used  # ports of calls in progress stay taken
        self.ports = Ports(s.rtp_port_min, s.rtp_port_max)
        self.ports.used = used
        return []

    # --- CallLayer ------------------------------------------------------------------------------

    def message(self, st: Station, msg: Message) -> list[Action] | None:
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            return None
        return handler(self, st, msg)

    def device_gone(self, st: Station, reason: str) -> list[Action]:
        actions: list[Action] = []
        for leg in self._on(st):
            if leg.state is G:
                continue
            if leg.state in (RI, RE, RH):
                actions += self._quiet_drop(leg)
            else:
                actions += self._end(leg.call, f"device gone: {reason}", by=leg, notify_by=False)
        return actions

    def on_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        while self._timers and self._timers[0][0] <= now:
            _, ref = heapq.heappop(self._timers)
            leg = self._legs.get(ref)
            if leg is None or leg.state not in _TIMED or leg.deadline is None:
                continue
            if leg.deadline > now:
                continue
            leg.deadline = None
            if leg.state is FA:
                log.info("%s: still off-hook after busy/reorder; ending the call", leg.st.label)
                actions += self._step(leg, Ev.TIMEOUT, "failed call left off-hook")
            elif leg.digits:
                log.info("%s: digit timeout, routing %s", leg.st.label, leg.digits)
                actions += self._step(leg, Ev.ROUTE, leg.digits)
        return actions

    def next_deadline(self) -> float | None:
        while self._timers:
            at, ref = self._timers[0]
            leg = self._legs.get(ref)
            if leg is not None and leg.state in _TIMED and leg.deadline == at:
                return at
            heapq.heappop(self._timers)
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        """Calls in progress as plain data (``status calls``)."""
        out = []
        for call in self._calls.values():
            caller = call.caller
            out.append(
                {
                    "call_id": call.id,
                    "caller": caller.number if caller else "",
                    "caller_name": _name(self.site, caller.number) if caller else "",
                    "caller_device": caller.device if caller else "",
                    "called": call.called,
                    "called_name": call.called_name,
                    "state": self._call_state(call),
                    "start": call.start,
                    "answer": call.answer,
                    "legs": [self._leg_data(leg) for leg in call.legs()],
                }
            )
        return out

    def last_dialled(self, device_name: str) -> str:
        return self._last.get(device_name, "")

    # --- the table --------------------------------------------------------------------------------

    def _step(self, leg: Leg, ev: Ev, arg: Any = None) -> list[Action]:
        entry = TABLE.get((leg.state, ev))
        if entry is None:
            log.info("%s: %s in state %s ignored", leg.st.label, ev.value, leg.state.value)
            return []
        new_state, handler = entry
        old = leg.state
        leg.state = new_state
        actions: list[Action] = getattr(self, "_on_" + handler)(leg, arg, old)
        if leg.state is not old:
            actions.append(self._event(leg))
        return actions

    # --- phone messages -> events -----------------------------------------------------------------

    def _off_hook(self, st: Station, msg: OffHook) -> list[Action]:
        leg = self._leg_of(st, msg.call_reference)
        if leg is not None and leg.state is RI and self._active(st) is None:
            return self._step(leg, Ev.ANSWER)
        if self._active(st) is not None:
            return []  # already off-hook (e.g. NewCall then the handset)
        ringing = self._first(st, RI, msg.line_instance)
        if ringing is not None:
            return self._step(ringing, Ev.ANSWER)
        return self._new_call(st, msg.line_instance, autodial=True)

    def _on_hook(self, st: Station, msg: OnHook) -> list[Action]:
        leg = self._leg_of(st, msg.call_reference)
        if leg is None or leg.state not in _ACTIVE:
            leg = self._active(st)
        if leg is None:
            return []  # the call is already gone (far end hung up first, §7.9)
        if leg.state is RO and leg.transfer_from is not None:
            return self._step(leg, Ev.COMPLETE)  # blind transfer by hanging up
        return self._step(leg, Ev.HANGUP, "onhook")

    def _softkey(self, st: Station, msg: SoftKeyEvent) -> list[Action]:
        ev = msg.soft_key_event
        line, ref = msg.line_instance, msg.call_reference
        leg = self._leg_of(st, ref)
        K = SoftKeyEventValue
        if ev == K.NEW_CALL:
            return self._new_call(st, line, autodial=True)
        if ev == K.REDIAL:
            return self._redial(st, line)
        if ev == K.HOLD:
            target = leg or self._active(st)
            return self._step(target, Ev.HOLD) if target else []
        if ev == K.RESUME:
            target = leg or self._first(st, HO, line) or self._first(st, RH, line)
            return self._step(target, Ev.RESUME) if target else []
        if ev == K.TRANSFER:
            return self._transfer(leg or self._active(st))
        if ev == K.END_CALL:
            target = leg if leg is not None and leg.state not in (RE, RH) else self._active(st)
            if target is None:
                target = self._first(st, HO, line)
            return self._step(target, Ev.HANGUP, "endcall") if target else []
        if ev == K.ANSWER:
            target = leg or self._first(st, RI, line)
            return self._step(target, Ev.ANSWER) if target else []
        if ev == K.BACKSPACE:
            target = leg or self._active(st)
            return self._step(target, Ev.BACKSPACE) if target else []
        log.info("%s: soft key %s is not implemented", st.label, _enum_name(K, ev))
        return []

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
                return []
            return self._new_call(st, inst, autodial=True)
        if s == T.NEW_CALL:
            return self._new_call(st, inst, autodial=True)
        if s == T.END_CALL:
            active = self._active(st)
            return self._step(active, Ev.HANGUP, "endcall") if active else []
        log.info("%s: stimulus %s is not implemented", st.label, _enum_name(T, s))
        return []

    def _keypad(self, st: Station, msg: KeypadButton) -> list[Action]:
        digit = _digit(msg.kp_button)
        if digit is None:
            log.info("%s: keypad button %d ignored", st.label, msg.kp_button)
            return []
        leg = self._leg_of(st, msg.call_reference)
        if leg is None or leg.state is not D:
            leg = self._active(st)
        if leg is None:
            # dialling on-hook: the phone starts the call with its first digit
            actions = self._new_call(st, msg.line_instance)
            leg = self._active(st)
            return actions + (self._step(leg, Ev.DIGIT, digit) if leg else [])
        if leg.state is CO:
            log.debug("%s: DTMF %s during a call (not forwarded)", st.label, digit)
            return []
        return self._step(leg, Ev.DIGIT, digit)

    def _enbloc(self, st: Station, msg: EnblocCall) -> list[Action]:
        number = "".join(c for c in msg.called_party if c.isprintable()).strip()
        if not number:
            return []
        return self._new_call(st, msg.line_instance, dial=number)

    def _orc_ack(self, st: Station, msg: OpenReceiveChannelAck) -> list[Action]:
        ref = msg.call_reference or msg.pass_thru_party_id
        leg = self._legs.get(ref) or self._legs.get(msg.pass_thru_party_id)
        if leg is None or leg.st is not st or not leg.orc:
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
            return self._end(leg.call, "media failure", by=leg)
        ip = msg.ip_addr
        if (st.station_ip and st.ip != st.station_ip) or ip in ("0.0.0.0", ""):
            ip = st.ip  # behind NAT: the phone's private address is useless to us (§7.4)
        if not 0 < msg.port_number < 65535:  # RTCP goes to port + 1
            log.warning(
                "%s: receive channel on unusable port %d; ending the call",
                st.label,
                msg.port_number,
            )
            return self._end(leg.call, "media failure", by=leg)
        leg.rx = (ip, int(msg.port_number))
        actions: list[Action] = []
        if self._relay_mode:
            if leg.relay_port is None:
                return actions
            actions.append(RelayLearn(leg.ref, ip, int(msg.port_number)))
            actions += self._smt(leg, (self._relay_ip, leg.relay_port))
        elif leg.peer is not None:
            actions += self._direct(leg, leg.peer)
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
    ) -> list[Action]:
        instance, number = self._line(st, line)
        if number is None:
            log.info("%s has no line to call from", st.label)
            return []
        active = self._active(st)
        if active is not None and active.state is D and not active.digits and dial:
            return self._step(active, Ev.ROUTE, dial)  # off-hook and empty: use it (§7.11)
        actions = self._make_room(st)
        leg = self._new_leg(st, instance, number, D, None)
        call = Call(leg.ref, leg, start=self.clock.wall(), a=leg)
        leg.call = call
        self._calls[call.id] = call
        keys = SoftKeySetIndex.OFF_HOOK_WITH_FEATURES if features else SoftKeySetIndex.OFF_HOOK
        L, C = leg.line, leg.ref
        actions += self._to(
            leg,
            _ringer_off(L, C),
            SetSpeakerMode(speaker_mode=SpeakerMode.ON),
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=LampMode.ON),
            self._state(leg, CallStateValue.OFF_HOOK),
            self._keys(leg, keys),
            self._prompt(leg, label(Label.ENTER_NUMBER)),
            ActivateCallPlane(line_instance=L),
            StartTone(
                tone=Tone.INSIDE_DIAL_TONE, tone_direction=0, line_instance=L, call_reference=C
            ),
        )
        actions.append(self._event(leg))
        if dial is None and autodial and self.site.server.autodial and not features:
            dial = self.site.server.autodial
        if dial:
            actions += self._step(leg, Ev.ROUTE, dial)
        return actions

    def _redial(self, st: Station, line: int) -> list[Action]:
        number = self._last.get(st.name) or self.site.server.redial
        return self._new_call(st, line, dial=number)

    def _make_room(self, st: Station, keep: Leg | None = None) -> list[Action]:
        """Only one call is active per device: hold the connected one, end unfinished ones."""
        actions: list[Action] = []
        for leg in self._on(st):
            if leg is keep or leg.state not in _ACTIVE:
                continue
            if leg.state is CO:
                actions += self._step(leg, Ev.HOLD)
            else:
                actions += self._step(leg, Ev.HANGUP, "new call")
        return actions

    # --- handlers (the table's right-hand side) -------------------------------------------------

    def _on_nothing(self, leg: Leg, arg: Any, old: LS) -> list[Action]:
        return []

    def _on_digit(self, leg: Leg, digit: str, old: LS) -> list[Action]:
        actions: list[Action] = []
        if not leg.digits:
            actions += self._to(
                leg,
                StopTone(line_instance=leg.line, call_reference=leg.ref),
                self._keys(leg, SoftKeySetIndex.DIGITS_AFTER_DIALING_FIRST_DIGIT),
            )
        leg.digits += digit
        return actions + self._decide(leg)

    def _on_backspace(self, leg: Leg, arg: Any, old: LS) -> list[Action]:
        if not leg.digits:
            return []
        leg.digits = leg.digits[:-1]
        actions = self._to(leg, BackSpaceReq(line_instance=leg.line, call_reference=leg.ref))
        if not leg.digits:
            leg.deadline = None
            keys = (
                SoftKeySetIndex.OFF_HOOK_WITH_FEATURES
                if leg.transfer_from
                else SoftKeySetIndex.OFF_HOOK
            )
            return actions + self._to(leg, self._keys(leg, keys))
        return actions + self._decide(leg)

    def _decide(self, leg: Leg) -> list[Action]:
        decision = self.dialplan.decide(leg.digits)
        if decision.action == "process":
            leg.deadline = None
            return self._step(leg, Ev.ROUTE, leg.digits)
        if decision.action == "drop":
            leg.deadline = None
            return self._step(leg, Ev.ROUTE, None)  # None = refused by the dialplan
        leg.deadline = self.clock.now() + decision.timeout
        heapq.heappush(self._timers, (leg.deadline, leg.ref))
        return []

    def _on_route(self, leg: Leg, number: str | None, old: LS) -> list[Action]:
        """Routing (§7.3 end, §7.4 ring-out, §7.10 failures). Leaves RINGOUT or FAILED."""
        leg.deadline = None
        call = leg.call
        actions: list[Action] = []
        dialled = number if number is not None else leg.digits
        leg.digits = dialled
        call.called = dialled
        if dialled:
            self._last[leg.device] = dialled
        actions += self._to(
            leg,
            StopTone(line_instance=leg.line, call_reference=leg.ref),
            DialedNumber(
                dialed_number=dialled[:24], line_instance=leg.line, call_reference=leg.ref
            ),
            self._state(leg, CallStateValue.PROCEED),
            self._info(leg, leg.number, dialled, outbound=True),
        )
        if number is None:
            return actions + self._fail(leg, "reorder", "dropped by the dialplan")
        target = self.site.line(number)
        if target is None:
            return actions + self._fail(leg, "reorder", f"{number} is not a line")
        call.called_name = target.display_name or target.number
        carriers = [(s, i) for s, i in self.stations.carriers(number) if s is not leg.st]
        if not carriers:
            if self.stations.carriers(number):
                return actions + self._fail(leg, "busy", f"{number} is this device's own line")
            return actions + self._fail(leg, "tempfail", f"no device of {number} is registered")
        if target.busy_trigger and self._calls_on(number) >= target.busy_trigger:
            return actions + self._fail(leg, "busy", f"{number} has {target.busy_trigger} calls")
        # caller side: ring-out (§7.4) with early media (the caller's receive channel opens
        # now, see the module docstring), then the callees ring, then the caller line's peers
        actions += self._ringout_block(leg)
        actions += self._open_media(leg)
        for st, instance in carriers:
            ring = self._new_leg(st, instance, number, RI, call)
            call.ringing.append(ring)
            actions += self._ringin_block(ring)
            actions.append(self._event(ring))
        actions += self._observe(call, leg.number, exclude={leg.st.conn})
        log.info(
            "call %d: %s (%s) -> %s on %d device(s)",
            call.id,
            leg.number,
            leg.device,
            number,
            len(carriers),
        )
        return actions

    def _fail(self, leg: Leg, kind: str, why: str) -> list[Action]:
        """The caller hears busy or reorder until it hangs up (§7.10)."""
        leg.state = FA
        log.info("call %d from %s: %s (%s)", leg.call.id, leg.device, kind, why)
        leg.call.ringing = []
        leg.deadline = self.clock.now() + FAIL_HANGUP_S
        heapq.heappush(self._timers, (leg.deadline, leg.ref))
        # the 7910 plays no tone while a receive channel is open (§8.1): early media goes first
        actions = self._drop_media(leg)
        L, C = leg.line, leg.ref
        if kind == "busy":
            return actions + self._to(
                leg,
                self._state(leg, CallStateValue.BUSY),
                StartTone(
                    tone=Tone.LINE_BUSY_TONE, tone_direction=0, line_instance=L, call_reference=C
                ),
                self._prompt(leg, label(Label.BUSY)),
            )
        text = label(Label.TEMP_FAIL) if kind == "tempfail" else label(Label.UNKNOWN_NUMBER)
        return actions + self._to(
            leg,
            StartTone(tone=Tone.REORDER_TONE, tone_direction=0, line_instance=L, call_reference=C),
            self._prompt(leg, text),
        )

    def _on_far_busy(self, leg: Leg, reason: Any, old: LS) -> list[Action]:
        """Every callee device refused or vanished while ringing."""
        leg.state = RO
        return self._fail(leg, "busy", str(reason or "refused"))

    def _on_answer(self, leg: Leg, arg: Any, old: LS) -> list[Action]:
        call = leg.call
        caller = call.caller
        actions = self._make_room(leg.st, keep=leg)
        actions += self._seize(leg)
        others = [r for r in call.ringing if r is not leg]
        call.ringing = []
        call.answered = call.b = leg
        call.answer = self.clock.wall()
        for other in others:
            call.observers.append(other)
            actions += self._step(other, Ev.ELSEWHERE)
        actions += self._connected_block(leg)
        if caller is not None:
            leg.peer, caller.peer = caller, leg
            actions += self._step(caller, Ev.FAR_ANSWER)
            actions += self._join_media(caller, leg)
        log.info("call %d answered on %s", call.id, leg.device)
        return actions

    def _on_far_answer(self, leg: Leg, arg: Any, old: LS) -> list[Action]:
        if old is CO:  # transferee already talking (blind transfer): new party shown only
            peer = leg.peer
            return self._to(
                leg, self._info(leg, leg.number, peer.number if peer else "", outbound=True)
            )
        return self._connected_block(leg)

    def _on_elsewhere(self, leg: Leg, arg: Any, old: LS) -> list[Action]:
        return self._remote_block(leg) + self._rering(leg.st, except_leg=leg)

    def _on_hold(self, leg: Leg, arg: Any, old: LS) -> list[Action]:
        # holding back a peer that held us first: our music stops with our receive channel
        actions = self._music(leg, False) + self._close_media(leg)
        L = leg.line
        actions += self._to(
            leg,
            answers.define_time_date(
                self.clock.wall(), answers.site_zone(self.site.server.time_zone)
            ),
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=LampMode.WINK),
            self._state(leg, CallStateValue.HOLD),
            self._keys(leg, SoftKeySetIndex.ON_HOLD),
            self._prompt(leg, label(Label.HOLD)),
            self._info_for(leg),
            SetSpeakerMode(speaker_mode=SpeakerMode.OFF),
        )
        peer = leg.peer
        if peer is not None:
            actions += self._music(peer, True)
        if arg != "transfer":  # [CS] shows no remote hold for a transfer's hold (§7.8)
            actions += self._tell_sharers(leg, Ev.FAR_HOLD)
        return actions

    def _tell_sharers(self, leg: Leg, ev: Ev) -> list[Action]:
        """Other devices showing ``leg``'s call on the same shared line get ``ev``."""
        actions: list[Action] = []
        for obs in list(leg.call.observers):
            if obs.number == leg.number and obs.st is not leg.st and (obs.state, ev) in TABLE:
                actions += self._step(obs, ev)
        return actions

    def _on_remote_hold(self, leg: Leg, arg: Any, old: LS) -> list[Action]:
        """§7.5: held on another device: CallState 17 (8 on old phones), OnHold keys (Resume
        picks it up here), prompt Hold; the line lamp winks as for a local hold (§6.7)."""
        L = leg.line
        value = CallStateValue.HOLD if _old_phone(leg.st) else CallStateValue.REMOTE_HOLD
        same_line = (x for x in self._on(leg.st) if x.line == L)
        return self._to(
            leg,
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=_lamp(same_line)),
            self._state(leg, value),
            self._keys(leg, SoftKeySetIndex.ON_HOLD),
            self._prompt(leg, label(Label.HOLD)),
            self._info_for(leg),
        )

    def _on_remote_resume(self, leg: Leg, arg: Any, old: LS) -> list[Action]:
        return self._remote_block(leg) + self._to(leg, self._info_for(leg))

    def _on_pickup(self, leg: Leg, arg: Any, old: LS) -> list[Action]:
        """Resume pressed on a call held on another device sharing the line: this device
        takes the held leg's place (mod_skinny "shared lines"); the holder shows it remote."""
        call = leg.call
        held = next(
            (
                x
                for x in (call.caller, call.answered)
                if x is not None and x.number == leg.number and x.state is HO
            ),
            None,
        )
        if held is None or held.consult is not None:
            leg.state = old
            log.info("%s: nothing to pick up on line %s", leg.st.label, leg.number)
            return []
        actions = self._make_room(leg.st, keep=leg)
        if call.caller is held:
            call.caller = leg
        else:
            call.answered = leg
        call.observers = [x for x in call.observers if x is not leg] + [held]
        peer = held.peer
        held.peer = None
        leg.peer = peer
        if peer is not None:
            peer.peer = leg
        actions += self._seize(leg)
        actions += self._connected_block(leg)
        if peer is not None:
            actions += self._join_media(leg, peer)
        actions += self._step(held, Ev.ELSEWHERE)
        actions += self._tell_sharers(leg, Ev.FAR_RESUME)
        log.info("call %d picked up on %s from %s", call.id, leg.device, held.device)
        return actions

    def _on_taken(self, leg: Leg, arg: Any, old: LS) -> list[Action]:
        """The call this device held was picked up on another one: it shows it in use."""
        return self._drop_relay(leg) + self._remote_block(leg) + self._to(leg, self._info_for(leg))

    def _on_resume(self, leg: Leg, arg: Any, old: LS) -> list[Action]:
        actions = self._make_room(leg.st, keep=leg)
        actions += self._tell_sharers(leg, Ev.FAR_RESUME)
        L = leg.line
        actions += self._to(
            leg,
            SetSpeakerMode(speaker_mode=SpeakerMode.ON),
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=LampMode.ON),
            ActivateCallPlane(line_instance=L),
        )
        actions += self._connected_block(leg)
        peer = leg.peer
        if peer is not None:
            actions += self._join_media(leg, peer)
        return actions

    def _transfer(self, leg: Leg | None) -> list[Action]:
        """Transfer pressed (softkey or stimulus) on ``leg`` (§7.8)."""
        if leg is None:
            return []
        if leg.transfer_from is not None:
            return self._step(leg, Ev.COMPLETE)
        if leg.consult is not None and leg.consult.state in (RO, CO):
            return self._step(leg.consult, Ev.COMPLETE)
        return self._step(leg, Ev.TRANSFER)

    def _on_transfer(self, leg: Leg, arg: Any, old: LS) -> list[Action]:
        actions = self._on_hold(leg, "transfer", old)
        consult = self._new_call(leg.st, leg.line, features=True)
        y = self._active(leg.st)
        if y is not None and y.state is D:
            y.transfer_from = leg
            leg.consult = y
        return actions + consult

    def _on_complete_transfer(self, y: Leg, arg: Any, old: LS) -> list[Action]:
        x = y.transfer_from
        p = x.peer if x is not None else None
        if x is None or p is None or p.state is G:
            y.state = old
            return self._to(y, self._prompt(y, label(Label.CAN_NOT_COMPLETE_TRANSFER)))
        actions: list[Action] = []
        c1, c2 = x.call, y.call
        if old is CO and y.peer is not None:
            q = y.peer
            # attended: P and Q talk in a new call; B's two legs end
            c3 = Call(
                self._next_ref(),
                p,
                called=q.number,
                called_name=_name(self.site, q.number),
                start=self.clock.wall(),
                answer=self.clock.wall(),
            )
            c3.answered = c3.b = q
            c3.a = p
            self._calls[c3.id] = c3
            for leg in (p, q):
                leg.call = c3
            self._move_observers(c1, c3, {p.number})
            self._move_observers(c2, c3, {q.number})
            _detach(c1, p)
            _detach(c2, q)
            p.peer, q.peer = q, p
            actions += self._to(p, self._info_for(p)) + self._to(q, self._info_for(q))
            actions += self._music(p, False) + self._music(q, False)
            actions += self._join_media(p, q)
            log.info(
                "call %d: %s transferred %s to %s (attended)", c3.id, y.device, p.number, q.number
            )
        else:
            # blind: P takes Y's place as the caller of the ringing consultation call
            c3 = Call(
                self._next_ref(),
                p,
                called=c2.called,
                called_name=c2.called_name,
                start=self.clock.wall(),
            )
            self._calls[c3.id] = c3
            c3.a = p
            c3.ringing = c2.ringing
            c2.ringing = []
            for leg in c3.ringing:
                leg.call = c3
                actions += self._to(leg, self._info_for(leg))
            p.call = c3
            self._move_observers(c1, c3, {p.number})
            _detach(c1, p)
            p.peer = None
            actions += self._to(p, self._info(p, p.number, c3.called, outbound=True))
            # P keeps hearing music on hold until the target answers
            log.info(
                "call %d: %s transferred %s to %s (blind)", c3.id, y.device, p.number, c3.called
            )
        x.consult = None
        y.transfer_from = None
        y.state = old
        actions += self._end(c2, "transferred", by=y)
        actions += self._end(c1, "transferred", by=x)
        return actions

    def _on_end_call(self, leg: Leg, reason: Any, old: LS) -> list[Action]:
        leg.state = old
        return self._end(leg.call, str(reason or "hangup"), by=leg)

    def _on_refuse(self, leg: Leg, arg: Any, old: LS) -> list[Action]:
        """A ringing device pressed EndCall: it stops ringing there; when none is left the
        caller hears busy."""
        call = leg.call
        if leg in call.ringing:
            call.ringing.remove(leg)
        actions = self._onhook_block(leg, active=False)
        self._forget(leg)
        if not call.ringing and call.answered is None and call.caller is not None:
            actions += self._step(call.caller, Ev.FAR_END, "refused")
        return actions

    def _on_gone(self, leg: Leg, reason: Any, old: LS) -> list[Action]:
        actions = self._onhook_block(leg, active=old in _ACTIVE or old is HO)
        self._forget(leg)
        return actions

    # --- ending ---------------------------------------------------------------------------------

    def _end(self, call: Call, reason: str, by: Leg | None, notify_by: bool = True) -> list[Action]:
        """End ``call``: ``by`` gets the on-hook block, every other leg FAR_END; one CDR."""
        if call.ended:
            return []
        call.ended = True
        actions: list[Action] = []
        for leg in call.legs():
            if leg is by:
                if notify_by:
                    actions += self._onhook_block(leg, active=True)
                leg.state = G
                actions.append(self._event(leg))
                self._forget(leg)
            elif leg.state is not G:
                if leg.state is FA:
                    leg.state = D  # a failed leg also ends when the call does
                actions += self._step(leg, Ev.FAR_END, reason)
                if leg.state is not G:  # FAILED caller of a refused call: force it
                    actions += self._onhook_block(leg, active=True)
                    leg.state = G
                    self._forget(leg)
        self._calls.pop(call.id, None)
        if call.a is not None and (call.called or call.answer):
            actions.append(WriteCdr(self._cdr(call, call.a, call.b, reason)))
        return actions

    def _quiet_drop(self, leg: Leg) -> list[Action]:
        """A ringing or in-use-remote leg of a device that left."""
        call = leg.call
        if leg in call.ringing:
            call.ringing.remove(leg)
        if leg in call.observers:
            call.observers.remove(leg)
        leg.state = G
        self._forget(leg)
        caller = call.caller
        if caller is not None and not call.ringing and call.answered is None and caller.state is RO:
            return self._step(caller, Ev.FAR_END, "callee gone")
        return []

    def _forget(self, leg: Leg) -> None:
        leg.state = G
        self._legs.pop(leg.ref, None)
        if leg.relay_port is not None:
            self.ports.free(leg.relay_port)
        if leg.consult is not None:
            leg.consult.transfer_from = None
            leg.consult = None
        if leg.transfer_from is not None:
            leg.transfer_from.consult = None
            leg.transfer_from = None
        if leg.peer is not None and leg.peer.peer is leg:
            leg.peer.peer = None

    def _cdr(self, call: Call, caller: Leg, answered: Leg | None, reason: str) -> dict[str, Any]:
        return {
            "call_id": call.id,
            "caller": caller.number,
            "caller_name": _name(self.site, caller.number),
            "caller_device": caller.device,
            "called": call.called,
            "called_name": call.called_name,
            "callee_device": answered.device if answered else "",
            "start": call.start,
            "answer": call.answer,
            "end": self.clock.wall(),
            "reason": reason,
        }

    # --- blocks of messages (§7) ----------------------------------------------------------------

    def _ringout_block(self, leg: Leg) -> list[Action]:
        return self._to(
            leg,
            StartTone(
                tone=Tone.ALERTING_TONE,
                tone_direction=0,
                line_instance=leg.line,
                call_reference=leg.ref,
            ),
            self._state(leg, CallStateValue.RING_OUT),
            self._keys(leg, SoftKeySetIndex.RING_OUT),
            self._prompt(leg, label(Label.RING_OUT)),
            self._info_for(leg),
        )

    def _ringin_block(self, leg: Leg) -> list[Action]:
        caller = leg.call.caller
        number = caller.number if caller else ""
        line = self.site.line(leg.number)
        busy = any(x.state in _ACTIVE or x.state is HO for x in self._on(leg.st) if x is not leg)
        L, C = leg.line, leg.ref
        actions = self._to(
            leg,
            self._state(leg, CallStateValue.RING_IN),
            self._keys(leg, SoftKeySetIndex.RING_IN),
            self._prompt(leg, label(Label.FROM, " " + number)),
            self._info_for(leg),
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=LampMode.BLINK),
        )
        ring = line is None or (line.ring_on_active if busy else line.ring_on_idle)
        if busy and self._active(leg.st) is not None:
            # call waiting: a tone on the active call instead of the ringer (§7.4)
            active = self._active(leg.st)
            assert active is not None
            actions += self._to(
                leg,
                StartTone(
                    tone=Tone.CALL_WAITING_TONE,
                    tone_direction=0,
                    line_instance=active.line,
                    call_reference=active.ref,
                ),
            )
            return actions
        mode = RingType.INSIDE if ring else RingType.FLASH_ONLY
        return actions + self._to(
            leg,
            SetRinger(
                ring_mode=mode, ring_duration=RingMode.NORMAL, line_instance=L, call_reference=C
            ),
        )

    def _connected_block(self, leg: Leg) -> list[Action]:
        """[FS] "start media" (§7.4 step 8): receive channel, then Connected."""
        actions = self._to(leg, StopTone(line_instance=leg.line, call_reference=leg.ref))
        actions += self._open_media(leg)
        return actions + self._to(
            leg,
            self._state(leg, CallStateValue.CONNECTED),
            self._keys(leg, SoftKeySetIndex.CONNECTED),
            self._prompt(leg, label(Label.CONNECTED)),
            self._info_for(leg),
        )

    def _remote_block(self, leg: Leg) -> list[Action]:
        L = leg.line
        return self._to(
            leg,
            answers.define_time_date(
                self.clock.wall(), answers.site_zone(self.site.server.time_zone)
            ),
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=LampMode.ON),
            self._state(leg, CallStateValue.CALL_REMOTE_MULTILINE),
            SelectSoftKeys(
                line_instance=L,
                call_reference=leg.ref,
                soft_key_set_index=SoftKeySetIndex.IN_USE_HINT,
                valid_key_mask=0x0002,
            ),
            self._prompt(leg, label(Label.IN_USE_REMOTE)),
            _ringer_off(L, leg.ref),
        )

    def _onhook_block(self, leg: Leg, active: bool) -> list[Action]:
        """§7.9, for one leg; lamps and ringer follow what stays on the device."""
        L, C = leg.line, leg.ref
        rest = [x for x in self._on(leg.st) if x is not leg and x.state is not G]
        actions = self._to(
            leg,
            StopTone(line_instance=L, call_reference=C),
            SetLamp(
                stimulus=StimulusType.LINE,
                stimulus_instance=L,
                lamp_mode=_lamp(x for x in rest if x.line == L),
            ),
            ClearPromptStatus(line_instance=L, call_reference=C),
        )
        actions += self._close_media(leg)
        if leg.relay_port is not None:
            actions.append(RelayClose(leg.ref))
        actions += self._to(
            leg,
            self._state(leg, CallStateValue.ON_HOOK),
            self._keys(leg, SoftKeySetIndex.ON_HOOK) if rest else answers.select_on_hook(),
            answers.define_time_date(
                self.clock.wall(), answers.site_zone(self.site.server.time_zone)
            ),
        )
        if active:
            actions += self._to(leg, SetSpeakerMode(speaker_mode=SpeakerMode.OFF))
        actions += self._to(
            leg,
            _ringer_off(0, 0),
        )
        return actions + self._rering(leg.st, except_leg=leg)

    def _rering(self, st: Station, except_leg: Leg) -> list[Action]:
        """Calls still ringing on the device get their ringer back (FS skinny_ring_active_calls)."""
        if self._active(st) is not None:
            return []
        for x in self._on(st):
            if x is not except_leg and x.state is RI:
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

    def _observe(self, call: Call, number: str, exclude: set[Any]) -> list[Action]:
        """Other devices carrying ``number`` show the call in use remotely (§7.3 end)."""
        actions: list[Action] = []
        for st, instance in self.stations.carriers(number):
            if st.conn in exclude or any(x.call is call for x in self._on(st)):
                continue
            obs = self._new_leg(st, instance, number, RE, call)
            call.observers.append(obs)
            actions += self._remote_block(obs)
            actions += self._to(obs, self._info_for(obs))
        return actions

    def _move_observers(self, old: Call, new: Call, numbers: set[str]) -> None:
        keep = []
        for obs in old.observers:
            if obs.number in numbers:
                obs.call = new
                new.observers.append(obs)
            else:
                keep.append(obs)
        old.observers = keep

    # --- media ----------------------------------------------------------------------------------

    @property
    def _relay_mode(self) -> bool:
        return self.site.server.media != "direct"

    @property
    def _relay_ip(self) -> str:
        s = self.site.server
        if s.listen and s.listen not in ("0.0.0.0", "::"):
            return s.listen
        return s.addresses[0] if s.addresses else "127.0.0.1"

    def _open_media(self, leg: Leg) -> list[Action]:
        actions: list[Action] = []
        if self._relay_mode and leg.relay_port is None:
            port = self.ports.take()
            if port is None:
                log.error(
                    "no free RTP port in %d-%d: call %d has no audio; widen the range",
                    self.site.server.rtp_port_min,
                    self.site.server.rtp_port_max,
                    leg.call.id,
                )
            else:
                leg.relay_port = port
                leg.relay_key = leg.call.id
                actions.append(RelayLeg(leg.call.id, leg.ref, port))
        if leg.orc:
            return actions
        leg.codec = _codec(leg.st)
        leg.orc = True
        leg.rx = None
        leg.smt = None
        return actions + self._to(
            leg,
            OpenReceiveChannel(
                conference_id=leg.ref,
                pass_thru_party_id=leg.ref,
                millisecond_packet_size=PTIME_MS,
                compression_type=leg.codec,
                echo_cancel_type=0,
                g723_bit_rate=0,
                call_reference=leg.ref,
                rfc2833_payload_type=0,
                dtmf_type=10,
            ),
        )

    def _close_media(self, leg: Leg) -> list[Action]:
        if not leg.orc:
            return []
        leg.orc = False
        leg.rx = None
        leg.smt = None
        C = leg.ref
        return self._to(
            leg,
            CloseReceiveChannel(conference_id=C, pass_thru_party_id=C, call_reference=C),
            StopMediaTransmission(conference_id=C, pass_thru_party_id=C, call_reference=C),
        )

    def _drop_media(self, leg: Leg) -> list[Action]:
        """Close the phone's media and free its relay leg (the leg itself goes on)."""
        return self._close_media(leg) + self._drop_relay(leg)

    def _drop_relay(self, leg: Leg) -> list[Action]:
        leg.moh = leg.moh_only = False
        if leg.relay_port is None:
            return []
        self.ports.free(leg.relay_port)
        leg.relay_port = None
        return [RelayClose(leg.ref)]

    def _smt(self, leg: Leg, to: tuple[str, int]) -> list[Action]:
        if leg.smt == to:
            return []
        actions: list[Action] = []
        C = leg.ref
        if leg.smt is not None:  # re-pointing (direct media after a transfer)
            actions += self._to(
                leg, StopMediaTransmission(conference_id=C, pass_thru_party_id=C, call_reference=C)
            )
        leg.smt = to
        return actions + self._to(
            leg,
            StartMediaTransmission(
                conference_id=C,
                pass_thru_party_id=C,
                remote_ip_addr=to[0],
                remote_port_number=to[1],
                millisecond_packet_size=PTIME_MS,
                compression_type=leg.codec,
                precedence_value=RTP_PRECEDENCE,
                ss_value=0,
                max_frames_per_packet=0,
                g723_bit_rate=0,
                call_reference=C,
            ),
        )

    def _join_media(self, a: Leg, b: Leg) -> list[Action]:
        """Media between peers a and b (both connected, or a's peer b held)."""
        actions: list[Action] = []
        for leg in (a, b):
            if leg.state is CO:
                actions += self._open_media(leg)
        if self._relay_mode:
            if a.relay_port is not None and b.relay_port is not None:
                actions.append(RelayBridge(a.ref, b.ref, a.call.id))
                a.relay_key = b.relay_key = a.call.id
            for leg in (a, b):
                if leg.moh and leg.peer is not None and leg.peer.state is CO:
                    actions += self._music(leg, False)
        else:
            actions += self._direct(a, b)
        return actions

    def _direct(self, a: Leg, b: Leg) -> list[Action]:
        """Direct media: once both peers are connected with acks in, each sends to the other
        (music on hold to either stops first)."""
        for x, y in ((a, b), (b, a)):
            if x.state is CO and x.rx and y.state is HO:
                return self._music(x, True)  # resumed while its peer still holds it
        if not (a.rx and b.rx and a.state is CO and b.state is CO):
            return []
        actions = self._music(a, False) + self._music(b, False)
        return actions + self._smt(a, b.rx) + self._smt(b, a.rx)

    def _music(self, leg: Leg, on: bool) -> list[Action]:
        """Music on hold to ``leg``'s phone (its peer held it), played by the relay.

        Relay media: the leg's relay leg switches to music. Direct media (§7.7): the held phone
        is told to stop sending (its peer closed its receive channel) and a relay leg opened
        for it streams music to its receive address from its last ack; its receive channel
        stays open. Music off closes that relay leg; ``_direct`` then re-points both phones.
        """
        if leg.moh == on:
            return []
        codec = "alaw" if leg.codec == Codec.G711_ALAW_64K else "ulaw"
        if leg.moh_only:  # direct media: the relay leg existed only for the music
            leg.moh_only = False
            return self._drop_relay(leg)
        if leg.relay_port is not None:  # relayed media: the same relay leg plays music
            leg.moh = on
            return [RelayHold(leg.ref, codec, PTIME_MS)] if on else [RelayResume(leg.ref)]
        if not on or self._relay_mode:
            return []
        if not leg.orc or leg.rx is None:
            log.info("%s: no receive address yet; no music on hold", leg.st.label)
            return []
        port = self.ports.take()
        if port is None:
            log.error(
                "no free RTP port in %d-%d: no music on hold for call %d; widen the range",
                self.site.server.rtp_port_min,
                self.site.server.rtp_port_max,
                leg.call.id,
            )
            return []
        leg.relay_port, leg.relay_key, leg.moh, leg.moh_only = port, leg.call.id, True, True
        actions: list[Action] = []
        if leg.smt is not None:
            C = leg.ref
            leg.smt = None
            actions += self._to(
                leg, StopMediaTransmission(conference_id=C, pass_thru_party_id=C, call_reference=C)
            )
        actions += [
            RelayLeg(leg.call.id, leg.ref, port),
            RelayLearn(leg.ref, leg.rx[0], leg.rx[1]),
            RelayHold(leg.ref, codec, PTIME_MS),
        ]
        return actions

    # --- small helpers ----------------------------------------------------------------------------

    def _next_ref(self) -> int:
        return next(self._refs)

    def _new_leg(self, st: Station, line: int, number: str, state: LS, call: Call | None) -> Leg:
        leg = Leg(self._next_ref(), st, line, number, call, state)  # type: ignore[arg-type]
        self._legs[leg.ref] = leg
        return leg

    def _on(self, st: Station) -> list[Leg]:
        return [x for x in self._legs.values() if x.st is st]

    def _active(self, st: Station) -> Leg | None:
        found = [x for x in self._on(st) if x.state in _ACTIVE]
        return found[-1] if found else None

    def _first(self, st: Station, state: LS, line: int, exact: bool = False) -> Leg | None:
        found = [x for x in self._on(st) if x.state is state]
        same = [x for x in found if x.line == line]
        if same or exact:
            return same[0] if same else None
        return found[0] if found else None

    def _leg_of(self, st: Station, ref: int) -> Leg | None:
        leg = self._legs.get(ref) if ref else None
        return leg if leg is not None and leg.st is st else None

    def _line(self, st: Station, instance: int) -> tuple[int, str | None]:
        line = st.line_at(instance) if instance else None
        if line is not None:
            return instance, line.number
        slots = st.layout.lines if st.layout else ()
        if not slots:
            return 0, None
        return slots[0].instance, slots[0].button.line

    def _calls_on(self, number: str) -> int:
        calls = {
            x.call.id
            for x in self._legs.values()
            if x.number == number and x.state in (RI, CO, HO, D, RO, FA)
        }
        return len(calls)

    def _to(self, leg: Leg, *messages: Message) -> list[Action]:
        return [Send(leg.st.conn, m) for m in messages]

    def _seize(self, leg: Leg) -> list[Action]:
        """The phone takes this leg's call: ringer off, speaker and line lamp on, OffHook,
        call plane (answer and shared-line pick-up alike)."""
        L = leg.line
        return self._to(
            leg,
            _ringer_off(L, leg.ref),
            SetSpeakerMode(speaker_mode=SpeakerMode.ON),
            SetLamp(stimulus=StimulusType.LINE, stimulus_instance=L, lamp_mode=LampMode.ON),
            self._state(leg, CallStateValue.OFF_HOOK),  # 7911: OffHook before Connected (§8.1)
            ActivateCallPlane(line_instance=L),
        )

    def _state(self, leg: Leg, value: CallStateValue) -> CallState:
        return CallState(
            call_state=value,
            line_instance=leg.line,
            call_reference=leg.ref,
            privacy=0,
            precedence_level=4,
        )

    def _keys(self, leg: Leg, index: SoftKeySetIndex) -> SelectSoftKeys:
        return SelectSoftKeys(
            line_instance=leg.line,
            call_reference=leg.ref,
            soft_key_set_index=index,
            valid_key_mask=0xFFFF,
        )

    def _prompt(self, leg: Leg, text: str) -> DisplayPromptStatus:
        return DisplayPromptStatus(
            timeout=0, prompt_status=text[:32], line_instance=leg.line, call_reference=leg.ref
        )

    def _info_for(self, leg: Leg) -> CallInfo:
        call = leg.call
        caller = call.caller
        if leg is caller:
            peer = leg.peer
            return self._info(leg, leg.number, peer.number if peer else call.called, True)
        calling = caller.number if caller else ""
        if leg.state in (RE, RH) and caller is not None and leg.number == caller.number:
            return self._info(leg, leg.number, call.called, True)
        return self._info(leg, calling, leg.number, outbound=False)

    def _info(self, leg: Leg, calling: str, called: str, outbound: bool) -> CallInfo:
        return CallInfo(
            calling_party_name=_name(self.site, calling)[:39],
            calling_party=calling[:23],
            called_party_name=_name(self.site, called)[:39],
            called_party=called[:23],
            line_instance=leg.line,
            call_reference=leg.ref,
            call_type=2 if outbound else 1,
            call_instance=1,
            call_security_status=1,
        )

    def _event(self, leg: Leg) -> Publish:
        return Publish(
            Event(
                "call_state",
                self.clock.wall(),
                {
                    "device_name": leg.device,
                    "line_instance": leg.line,
                    "call_id": leg.call.id if leg.call else 0,
                    "call_reference": leg.ref,
                    "line": leg.number,
                    "state": leg.state.value,
                },
            )
        )

    def _call_state(self, call: Call) -> str:
        if call.answered is not None:
            states = {call.answered.state, call.caller.state if call.caller else CO}
            return "held" if HO in states else "connected"
        if call.ringing:
            return "ringing"
        return call.caller.state.value if call.caller else "?"

    def _leg_data(self, leg: Leg) -> dict[str, Any]:
        return {
            "device_name": leg.device,
            "line_instance": leg.line,
            "line": leg.number,
            "call_reference": leg.ref,
            "state": leg.state.value,
            "digits": leg.digits,
            "peer": leg.peer.device if leg.peer else "",
            "rtp_phone": f"{leg.rx[0]}:{leg.rx[1]}" if leg.rx else "",
            "rtp_sends_to": f"{leg.smt[0]}:{leg.smt[1]}" if leg.smt else "",
            "relay_port": leg.relay_port,
            "music_on_hold": leg.moh,
        }


def _detach(call: Call, leg: Leg) -> None:
    """Take ``leg`` out of ``call`` (it moves to another call)."""
    if call.caller is leg:
        call.caller = None
    if call.answered is leg:
        call.answered = None
    if leg in call.ringing:
        call.ringing.remove(leg)
    if leg in call.observers:
        call.observers.remove(leg)


def _lamp(legs: Iterable[Leg]) -> LampMode:
    states = {x.state for x in legs}
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


def _codec(st: Station) -> int:
    if not st.codecs or Codec.G711_ULAW_64K in st.codecs:
        return int(Codec.G711_ULAW_64K)
    if Codec.G711_ALAW_64K in st.codecs:
        return int(Codec.G711_ALAW_64K)
    return int(Codec.G711_ULAW_64K)


def _name(site: Site, number: str) -> str:
    line = site.line(number)
    return line.shown_caller_name if line else number


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


_HANDLERS: dict[type[Message], Any] = {
    OffHook: Calls._off_hook,
    OnHook: Calls._on_hook,
    SoftKeyEvent: Calls._softkey,
    Stimulus: Calls._stimulus,
    KeypadButton: Calls._keypad,
    EnblocCall: Calls._enbloc,
    OpenReceiveChannelAck: Calls._orc_ack,
    StartMediaTransmissionAck: Calls._ignore,
    HookFlash: Calls._ignore,
}


def _ringer_off(line_instance: int = 0, call_reference: int = 0) -> SetRinger:
    return SetRinger(
        ring_mode=RingType.OFF,
        ring_duration=RingMode.NORMAL,
        line_instance=line_instance,
        call_reference=call_reference,
    )
