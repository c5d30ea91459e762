"""Office features on SCCP phones: what the keys for forwarding, do-not-disturb, pick-up,
park, hunt-group login, barge, iDivert, intercom and auto-answer do, and how a phone shows
them. The phone endpoint (``phone.py``) hands every feature key to :meth:`PhoneFeatures.press`
and asks this module at a few moments (offer, ring-in, answer, idle); the switch does the
call-level work (``calls.forward``, ``calls.hunt``, ``Switch.pickup``/``divert``, the park
application in ``apps/park.py``).

Rules (the "Office features" page, docs/office-features.md, says the same for administrators):

1. Forwards (CFwdAll, CFwdBusy, CFwdNoAnswer softkeys or fixed keys, ``forward_*`` feature
   buttons) are per line: the key's line, else the device's first line. Pressed while that
   forward is on, it goes off. Otherwise the phone goes off-hook to collect the target like a
   number (the dial plan decides when it is complete; the Messages key gives the voicemail
   number); a target that leads nowhere is refused ("Unknown Number"). Every registered device
   of the line then shows the line's forwards: ForwardStat, the forward lamp, the
   "Forwarded to" prompt when idle, the status of forward feature buttons. The setting is kept
   across restarts (``calls.userstate``) and wins over site.toml.
2. Do not disturb (DND softkey, ``dnd`` feature button) is per device and toggles. ``dnd =
   "reject"`` (the device's site.toml key): the device is not offered calls; when no device
   of the line is left the line refuses with USER_BUSY (forward_busy, else busy tone).
   ``"silent"``: it rings without a ringer (the line lamp and the screen only). Other
   devices sharing the line ring as usual. The phone shows "Do Not Disturb" while idle and
   the feature button's status.
3. Pick-up: PickUp takes the oldest call ringing on a line of the picker's pick-up group
   (``pickup_group`` of the key's line, else of any of its lines); GPickUp (and the other-
   pickup key) collects a number: a group's number picks from that group, a line's number
   picks that line (directed pick-up). The call is answered on the picker's line at once;
   the phones that rang stop (PICKED_OFF). Nothing to pick: "No Call Available For Pickup".
4. Park (Park softkey or key, ``park`` button) on a connected call parks the far party on
   the first free ``[park]`` slot (apps/park.py) and shows "Call Park At <slot>" for 20 s.
5. HLog (softkey, ``hlog`` button, hunt-group key) logs the device out of its hunt groups, or
   back in; a logged-out device is not offered hunt calls (direct calls still ring). It shows
   "Logged out of Hunt Group" while idle.
6. Barge (softkey, ``barge`` button) on a shared line's call connected on another device: this
   device takes the call over (the other shows it in use remotely with a "Barge" notice).
7. iDivert on a ringing call sends the caller to voicemail (``[server] voicemail``) with this
   line as the one it was for; on a connected call it sends the far party there.
8. Auto-answer: a call to an idle device is answered at once on its speaker when the line or
   the device has ``auto_answer``, or when it comes from an intercom line; intercom calls are
   answered with the microphone off and nothing sent (one way) until the user lifts the
   handset or presses the line, as CME's intercom does. Off-hook on an intercom line dials
   its ``intercom`` number at once.
9. Redirected calls show why on the phone that rings: CallInfo call type "forward" with the
   original called and last redirecting parties, and a prompt naming the reason.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from skinnyctl.calls import causes
from skinnyctl.calls.channel import Refused
from skinnyctl.calls.events import Action, Send
from skinnyctl.calls.forward import (
    DIVERT,
    FORWARD_ALL,
    FORWARD_BUSY,
    FORWARD_NO_ANSWER,
    HUNT,
    PARK_REVERSION,
    REDIRECT_CODES,
    Forwarding,
)
from skinnyctl.calls.routing import Route
from skinnyctl.calls.switch import Call
from skinnyctl.calls.userstate import ForwardKind, UserState
from skinnyctl.sccp import (
    ClearPromptStatus,
    DisplayNotify,
    DisplayPriNotify,
    DisplayPromptStatus,
    LampMode,
    Message,
    SetLamp,
    SetMicroMode,
    SetSpeakerMode,
    SpeakerMode,
    StartTone,
    StimulusType,
    Tone,
)
from skinnyctl.sccp.enums import Label, label

from . import answers
from .phone import PS, Ev, PhoneChannel, Plane
from .stations import Station

if TYPE_CHECKING:
    from skinnyctl.apps.park import Park

    from .phone import Phones

log = logging.getLogger("skinnyctl.endpoints.sccp")

_FORWARD_KEYS: dict[str, ForwardKind] = {
    "forward_all": "all",
    "forward_busy": "busy",
    "forward_no_answer": "no_answer",
}
_FORWARD_STIMULUS: dict[ForwardKind, StimulusType] = {
    "all": StimulusType.FORWARD_ALL,
    "busy": StimulusType.FORWARD_BUSY,
    "no_answer": StimulusType.FORWARD_NO_ANSWER,
}
_FORWARD_WORDS: dict[ForwardKind, str] = {
    "all": "Forward all to",
    "busy": "Forward busy to",
    "no_answer": "Forward no answer to",
}
NOTIFY_S = 5  # seconds a feature's notice stays


class PhoneFeatures:
    def __init__(self, phones: Phones) -> None:
        self.phones = phones
        self.parking: Park | None = None  # apps/park.py, set by CallManager

    @property
    def _state(self) -> UserState:
        return self.phones.switch.state

    # --- what registration answers and shows (rules 1, 2, 5) ---------------------------------

    def forwarding(self, number: str) -> Forwarding:
        return self.phones.switch.forwards.of(number)

    def dnd(self, st: Station) -> bool:
        return st.name in self._state.dnd

    def hunt_logged_in(self, st: Station) -> bool:
        return st.name not in self._state.hunt_logged_out

    def feature_status(self, st: Station, feature: str) -> int:
        """FeatureStat's status of ``st``'s ``feature`` button: 1 lit."""
        if feature == "dnd":
            return int(self.dnd(st))
        if feature == "hlog":
            return int(self.hunt_logged_in(st))
        kind = _FORWARD_KEYS.get(feature)
        if kind is not None:
            _, number = self.phones._line(st, 0)
            return int(bool(number and self.forwarding(number).target(kind)))
        return 0

    def shown(self, st: Station) -> list[Message]:
        """What a device shows of its features once it registered (its lamps and the idle
        prompt; ForwardStat and FeatureStat it asks for itself)."""
        out: list[Message] = []
        for slot in st.layout.lines if st.layout else ():
            fwd = self.forwarding(slot.button.line)
            out += [
                lamp
                for lamp in self._forward_lamps(fwd, slot.instance)
                if lamp.lamp_mode == LampMode.ON
            ]
        prompt = self.idle_prompt(st)
        return out + ([prompt] if isinstance(prompt, DisplayPromptStatus) else [])

    def idle(self, plane: Plane) -> list[Message]:
        """What ``plane``'s device shows once it is idle again: the idle prompt, and the
        forward lamps of its line after a forward entry (they flashed meanwhile)."""
        out: list[Message] = []
        if plane.ch.collect is not None:
            out += self._forward_lamps(self.forwarding(plane.number), plane.line)
        prompt = self.idle_prompt(plane.st)
        return out + ([prompt] if isinstance(prompt, DisplayPromptStatus) else [])

    @staticmethod
    def _forward_lamps(fwd: Forwarding, instance: int) -> list[SetLamp]:
        return [
            _lamp(stimulus, instance, bool(fwd.target(kind)))
            for kind, stimulus in _FORWARD_STIMULUS.items()
        ]

    def idle_prompt(self, st: Station) -> DisplayPromptStatus | ClearPromptStatus:
        """The status line of an idle device: DND, else a forward-all, else HLog."""
        text = ""
        if self.dnd(st):
            text = "Do Not Disturb"
        else:
            for slot in st.layout.lines if st.layout else ():
                target = self.forwarding(slot.button.line).all
                if target:
                    text = label(Label.FORWARDED_TO, " " + target)
                    break
            else:
                if not self.hunt_logged_in(st):
                    text = label(Label.LOGGED_OUT_OF_HUNT_GROUP)
        if not text:
            return ClearPromptStatus(line_instance=0, call_reference=0)
        return DisplayPromptStatus(
            timeout=0, prompt_status=text[:32], line_instance=0, call_reference=0
        )

    def show_line(self, number: str) -> list[Action]:
        """Every registered device of line ``number`` shows its forwards now (rule 1)."""
        fwd = self.forwarding(number)
        actions: list[Action] = []
        for st, instance in self.phones.stations.carriers(number):
            stat = answers.forward_stat(st, instance, fwd)
            actions.append(Send(st.conn, stat))
            actions += [Send(st.conn, lamp) for lamp in self._forward_lamps(fwd, instance)]
            actions += self._show_device(st, tuple(_FORWARD_KEYS))
        return actions

    def _show_device(self, st: Station, features: tuple[str, ...]) -> list[Action]:
        out: list[Action] = []
        for slot in st.layout.of_kind("feature") if st.layout else ():
            if slot.button.feature in features:
                stat = answers.feature_stat(st, slot.instance, self.feature_status)
                out.append(Send(st.conn, stat))
        if self.phones._active(st) is None:
            out.append(Send(st.conn, self.idle_prompt(st)))
        return out

    # --- keys (rule 1-7) -----------------------------------------------------------------------

    def press(self, st: Station, name: str, line: int, plane: Plane | None) -> list[Action] | None:
        """What the feature key ``name`` does; None: not one of these features."""
        kind = _FORWARD_KEYS.get(name)
        if kind is not None:
            return self._forward_key(st, kind, line)
        handler = {
            "dnd": self._dnd_key,
            "pickup": self._pickup_key,
            "group_pickup": self._group_pickup_key,
            "other_pickup": self._group_pickup_key,
            "park": self._park_key,
            "hlog": self._hlog_key,
            "barge": self._barge_key,
            "idivert": self._idivert_key,
        }.get(name)
        return handler(st, line, plane) if handler is not None else None

    def set_forward(self, number: str, kind: ForwardKind, target: str | None) -> list[Action]:
        """Change a line's forward (a phone's key or the control API) and show it (rule 1)."""
        self.phones.switch.forwards.set(number, kind, target)
        return [self._state.save(), *self.show_line(number)]

    def _forward_key(self, st: Station, kind: ForwardKind, line: int) -> list[Action]:
        ph = self.phones
        active = ph._active(st)
        if active is not None and active.state is PS.DIALING and active.ch.collect is not None:
            return ph._step(active, Ev.HANGUP, "forward entry cancelled")  # pressed again
        instance, number = ph._line(st, line)
        if number is None:
            return _notify(st, label(Label.KEY_IS_NOT_ACTIVE))
        if self.forwarding(number).target(kind):
            log.info("%s: forward %s of %s off", st.label, kind, number)
            return self.set_forward(number, kind, "") + _notify(
                st, _FORWARD_WORDS[kind].replace(" to", "") + " off"
            )
        actions = ph._new_call(st, instance, collect=partial(self._forward_to, kind))
        entry = ph._active(st)
        if entry is None or entry.ch.collect is None:
            return actions
        return actions + ph._to(
            entry,
            _lamp(_FORWARD_STIMULUS[kind], instance, True, LampMode.FLASH),
            ph._prompt(entry, _FORWARD_WORDS[kind] + ":"),
        )

    def _forward_to(self, kind: ForwardKind, plane: Plane, target: str | None) -> list[Action]:
        """The number collected after a forward key (rule 1)."""
        ph = self.phones
        if not target or ph.switch.router.resolve(target) is None or target == plane.number:
            log.info("%s: forward to %r refused", plane.st.label, target)
            return ph._set_state(plane, PS.FAILED) + ph._fail(
                plane, causes.UNALLOCATED_NUMBER, "no such forward target"
            )
        actions = ph._step(plane, Ev.HANGUP, "forward set")
        actions += self.set_forward(plane.number, kind, target)
        return actions + _notify(plane.st, label(Label.FORWARDED_TO, " " + target))

    def _dnd_key(self, st: Station, line: int, plane: Plane | None) -> list[Action]:
        on = st.name not in self._state.dnd
        if on:
            self._state.dnd.add(st.name)
        else:
            self._state.dnd.discard(st.name)
        mode = st.device.dnd if st.device is not None else "reject"
        log.info("%s: do not disturb %s (%s)", st.label, "on" if on else "off", mode)
        text = ("Do Not Disturb" + (" (silent)" if mode == "silent" else "")) if on else "DND off"
        return [self._state.save(), *self._show_device(st, ("dnd",)), *_notify(st, text)]

    def _hlog_key(self, st: Station, line: int, plane: Plane | None) -> list[Action]:
        out = st.name not in self._state.hunt_logged_out
        if out:
            self._state.hunt_logged_out.add(st.name)
        else:
            self._state.hunt_logged_out.discard(st.name)
        log.info("%s: hunt groups: logged %s", st.label, "out" if out else "in")
        text = label(Label.LOGGED_OUT_OF_HUNT_GROUP) if out else "Logged into Hunt Group"
        return [self._state.save(), *self._show_device(st, ("hlog",)), *_notify(st, text)]

    # --- pick-up (rule 3) ----------------------------------------------------------------------

    def _pickup_key(self, st: Station, line: int, plane: Plane | None) -> list[Action]:
        _, number = self.phones._line(st, line)
        mine = self.phones.site.line(number) if number else None
        groups = {mine.pickup_group} if mine is not None and mine.pickup_group else set()
        if not groups:
            groups = {
                ln.pickup_group
                for slot in (st.layout.lines if st.layout else ())
                if (ln := slot.line) is not None and ln.pickup_group
            }
        lines = {ln.number for ln in self.phones.site.lines if ln.pickup_group in groups}
        return self._pick(st, line, lines)

    def _group_pickup_key(self, st: Station, line: int, plane: Plane | None) -> list[Action]:
        instance, _ = self.phones._line(st, line)
        actions = self.phones._new_call(st, instance, collect=self._group_pickup_to)
        entry = self.phones._active(st)
        if entry is not None and entry.ch.collect is not None:
            actions += self.phones._to(entry, self.phones._prompt(entry, "Pick up group/ext:"))
        return actions

    def _group_pickup_to(self, plane: Plane, number: str | None) -> list[Action]:
        site = self.phones.site
        lines = {ln.number for ln in site.lines if number and ln.pickup_group == number}
        if number and not lines and site.line(number) is not None:
            lines = {number}  # directed pick-up
        actions = self.phones._step(plane, Ev.HANGUP, "pick-up number entered")
        return actions + self._pick(plane.st, plane.line, lines)

    def _pick(self, st: Station, line: int, lines: set[str]) -> list[Action]:
        ph = self.phones
        found = self._ringing(st, lines)
        if found is None:
            log.info("%s: nothing to pick up on %s", st.label, sorted(lines) or "no group")
            return _notify(st, label(Label.NO_CALL_AVAILABLE_FOR_PICKUP))
        instance, number = ph._line(st, line)
        assert number is not None
        line_cfg = ph.site.line(number)
        by = PhoneChannel(
            ph.switch.refs(), ph, number, line_cfg.shown_caller_name if line_cfg else number
        )
        actions = ph.switch.pickup(found, by)
        plane = ph._new_plane(st, instance, number, PS.RINGIN, by)
        actions.append(ph._event(plane))
        return actions + ph._step(plane, Ev.ANSWER)

    def _ringing(self, st: Station, lines: set[str]) -> PhoneChannel | None:
        """The oldest call ringing on one of ``lines`` that ``st`` did not make itself."""
        found: list[tuple[float, int, PhoneChannel]] = []
        for p in self.phones._planes.values():
            call = p.ch.call
            if p.state is not PS.RINGIN or p.number not in lines or call is None:
                continue
            caller = call.a
            if isinstance(caller, PhoneChannel) and any(x.st is st for x in caller.planes):
                continue
            found.append((call.start, call.id, p.ch))
        return min(found, key=lambda f: (f[0], f[1]))[2] if found else None

    # --- park, barge, iDivert (rules 4, 6, 7) ----------------------------------------------

    def _park_key(self, st: Station, line: int, plane: Plane | None) -> list[Action]:
        target = plane if plane is not None and plane.state is PS.CONNECTED else None
        target = target or self.phones._active(st)
        if target is None or target.state is not PS.CONNECTED or self.parking is None:
            return _notify(st, label(Label.PARK, ": no call to park"))
        slot, actions = self.parking.park(self.phones.switch, target.ch)
        if slot is None:
            return actions + _notify(st, label(Label.NO_PARK_NUMBER_AVAILABLE))
        text = label(Label.CALL_PARK_AT, " " + slot)
        return [*actions, Send(st.conn, DisplayPriNotify(timeout=20, priority=1, text=text))]

    def _barge_key(self, st: Station, line: int, plane: Plane | None) -> list[Action]:
        ph = self.phones
        target = plane if plane is not None and plane.state in (PS.REMOTE, PS.REMOTE_HOLD) else None
        target = target or ph._first(st, PS.REMOTE, line) or ph._first(st, PS.REMOTE_HOLD, line)
        if target is None:
            return _notify(st, label(Label.FAILED_TO_SETUP_BARGE))
        if target.state is PS.REMOTE_HOLD:
            return ph._step(target, Ev.RESUME)  # held elsewhere: the shared-line pick-up
        return ph._step(target, Ev.BARGE)

    def _on_barge(self, plane: Plane, arg: Any, old: PS) -> list[Action]:
        """Barge: this device takes over the call the line's other device is talking on."""
        ph = self.phones
        ch = plane.ch
        barged = ch.active
        if barged is None or barged.state is not PS.CONNECTED or ch.consult is not None:
            log.info("%s: nothing to barge into on %s", plane.st.label, plane.number)
            return _notify(plane.st, label(Label.FAILED_TO_SETUP_BARGE))
        actions = ph._take_over(plane)
        actions += ph.switch.media_changed(ch)
        actions += ph._step(barged, Ev.ELSEWHERE, plane)
        log.info("%s barged into line %s from %s", plane.st.label, ch.number, barged.device)
        return actions

    def _on_barged(self, plane: Plane, by: Any, old: PS) -> list[Action]:
        """Another device of the line took this device's call over (rule 6)."""
        ph = self.phones
        who = ""
        if isinstance(by, Plane):
            who = " " + ((by.st.device.description if by.st.device else "") or by.device)
        actions = ph._drop_media(plane) + ph._remote_block(plane)
        return actions + ph._to(
            plane,
            ph._info_for(plane),
            SetSpeakerMode(speaker_mode=SpeakerMode.OFF),
            DisplayNotify(timeout=10, text=label(Label.BARGE, who)[:32]),
        )

    def _idivert_key(self, st: Station, line: int, plane: Plane | None) -> list[Action]:
        ph = self.phones
        target = plane if plane is not None and plane.state in (PS.RINGIN, PS.CONNECTED) else None
        target = target or ph._active(st) or ph._first(st, PS.RINGIN, line)
        voicemail = ph.site.server.voicemail
        call = target.ch.call if target is not None else None
        if target is None or call is None:
            return _notify(st, label(Label.IDIVERT, ": no call"))
        if ph.switch.router.resolve(voicemail) is None:
            return _notify(st, label(Label.IDIVERT, ": no voicemail"))
        ch = target.ch
        if (target.state is PS.RINGIN and call.b is None) or target.state is PS.CONNECTED:
            log.info("%s: iDivert of the call on %s (%s)", st.label, ch.number, target.state.value)
            return ph.switch.redirect(ch, voicemail, DIVERT)
        return _notify(st, label(Label.IDIVERT, ": no call"))

    # --- offers, ringing, answering (rules 2, 5, 8, 9) ---------------------------------------

    def carriers(
        self, route: Route, carriers: list[tuple[Station, int]]
    ) -> list[tuple[Station, int]] | Refused:
        """The devices ``route``'s call may ring (rules 2, 5); a refusal when none."""
        state = self._state
        kept = [(s, i) for s, i in carriers if not (s.name in state.dnd and _rejects(s))]
        if route.hunt:
            if self.phones._calls_on(route.number):
                return Refused(causes.USER_BUSY, f"{route.number} is in a call")
            kept = [(s, i) for s, i in kept if s.name not in state.hunt_logged_out]
        if kept:
            return kept
        why = "do not disturb" if len(kept) < len(carriers) else "no device"
        if route.hunt:
            why = "logged out of hunt groups, or do not disturb"
        return Refused(causes.USER_BUSY, f"{route.number}: {why}")

    def silent(self, st: Station) -> bool:
        """DND in silent mode: rings without a ringer (rule 2)."""
        return st.name in self._state.dnd and not _rejects(st)

    def auto_answer(self, ch: PhoneChannel) -> tuple[Station | None, bool]:
        """The device that answers ``ch``'s call at once, if any, and whether muted (rule 8)."""
        call = ch.call
        caller = call.a if call is not None else None
        from_line = self.phones.site.line(caller.number) if caller is not None else None
        intercom = (
            caller is not None
            and caller.kind is ch.kind
            and bool(from_line is not None and from_line.intercom)
        )
        line = self.phones.site.line(ch.number)
        for st, _ in ch.carriers:
            if self.phones._active(st) is not None or self.silent(st):
                continue
            device_auto = st.device is not None and st.device.auto_answer
            if intercom or (line is not None and line.auto_answer) or device_auto:
                return st, intercom
        return None, False

    def answered_muted(self, plane: Plane) -> list[Action]:
        """An intercom call answered: microphone off and nothing sent until the user talks
        back (rule 8)."""
        plane.muted = True
        return self.phones._to(
            plane,
            SetMicroMode(mic_mode=SpeakerMode.OFF),
            StartTone(
                tone=Tone.ZIP, tone_direction=0, line_instance=plane.line, call_reference=plane.ref
            ),
            self.phones._prompt(plane, "Intercom"),
        )

    def talk_back(self, plane: Plane) -> list[Action]:
        """The user of a muted intercom call lifted the handset or pressed the line."""
        if not plane.muted:
            return []
        ph = self.phones
        plane.muted = False
        log.info("%s talks back on intercom line %s", plane.st.label, plane.number)
        actions = ph._to(
            plane, SetMicroMode(mic_mode=SpeakerMode.ON), ph._prompt(plane, label(Label.CONNECTED))
        )
        if plane.relay_port is not None and plane.rx is not None and not plane.moh_only:
            return actions + ph._smt(plane, (ph._relay_ip, plane.relay_port))
        far = ph._far_plane(plane)
        return actions + (ph._direct(plane, far) if far is not None else [])

    def intercom_target(self, number: str) -> str:
        line = self.phones.site.line(number)
        return line.intercom if line is not None else ""

    def ringin_prompt(self, plane: Plane) -> str | None:
        """Why a redirected call rings here (rule 9), or None: an ordinary call."""
        call = plane.ch.call
        if call is None or not call.redirect_reason or plane.ch is call.a:
            return None
        caller = call.a.number if call.a is not None else ""
        frm, why = call.redirected_from, call.redirect_reason
        text = {
            FORWARD_ALL: f"{caller} fwd by {frm}",
            FORWARD_BUSY: f"{caller} for {frm} (busy)",
            FORWARD_NO_ANSWER: f"{caller} for {frm} (no answer)",
            DIVERT: f"{caller} diverted by {frm}",
            HUNT: f"{caller} for {self._group_name(frm)}",
            PARK_REVERSION: label(Label.CALLPARK_REVERSION, f" {frm}"),
        }.get(why)
        return text[:32] if text else None

    def redirect_fields(self, call: Call | None) -> dict[str, Any]:
        """CallInfo's redirect fields for a call that did not ring where it was dialled
        (rule 9); none for one that did."""
        if call is None or not call.original_called:
            return {}
        code = REDIRECT_CODES.get(call.redirect_reason, 0)
        name = self.phones._name
        return {
            "original_called_party_name": name(call.original_called)[:39],
            "original_called_party": call.original_called[:23],
            "last_redirecting_party_name": name(call.redirected_from)[:39],
            "last_redirecting_party": call.redirected_from[:23],
            "original_cdpn_redirect_reason": code,
            "last_redirecting_reason": code,
        }

    def _group_name(self, number: str) -> str:
        group = self.phones.site.hunt_group(number)
        return (group.name or number) if group is not None else number


def _rejects(st: Station) -> bool:
    return st.device is None or st.device.dnd == "reject"


def _lamp(stimulus: StimulusType, instance: int, on: bool, mode: LampMode | None = None) -> SetLamp:
    lit = mode or (LampMode.ON if on else LampMode.OFF)
    return SetLamp(stimulus=stimulus, stimulus_instance=instance, lamp_mode=lit)


def _notify(st: Station, text: str) -> list[Action]:
    return [Send(st.conn, DisplayNotify(timeout=NOTIFY_S, text=text[:32]))]


__all__ = ["PhoneFeatures"]
