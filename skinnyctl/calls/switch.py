"""The switch, sans-IO: calls between channels, whatever their endpoints speak.

Model. A :class:`Call` joins an originating channel ``a`` to the channel(s) it was offered to
(``offers``; several when a number rings more than one end) and, once one answers, ``b``.
Channels belong to endpoints (``calls.channel``); the switch never sees a protocol message.
Call ids come from the same counter as every other reference (``Refs``), seeded with the Unix
time so they keep increasing across restarts.

Call state table. ``TABLE[(state, event)] -> (new state, handler)``. Rules:

1. A call exists from the moment its originating channel does (off-hook): DIALING. The
   endpoint collects what is dialled and calls ``dial``; routing (``Router``) finds the
   number's endpoint, which may refuse (busy, not registered...) or take it: ROUTING.
2. The offered end rings (ALERTING) or answers at once (applications): CONNECTED. The first
   offer to answer is ``b``; the others are hung up with LOSE_RACE. An end that sends early
   media before answering (PROGRESS: a trunk's 183) is *early joined* (rule 9).
3. A refusal, or every offer gone before the answer, makes the call FAILED: the originating
   end is told HANGUP(cause) and hears busy or reorder until it hangs up; the call ends then.
4. Hanging up a connected call ends it for the other end. The originator hanging up before
   the answer cancels it (ORIGINATOR_CANCEL).
5. A call record is written when a call ends, if a number was dialled or it was answered. It
   keeps the first cause that decided the call (``calls.causes``) and the reason text of the
   end that finished it.
6. Hold, resume and digits are not state changes: they go to the far end (HOLD means "you
   hear music"). Transfer joins the far ends of two calls of one endpoint into a new call and
   ends the two (ATTENDED_TRANSFER / BLIND_TRANSFER).
7. Media: once a call is answered the switch joins its two ends: an application attaches to
   its far end's media; two phones an endpoint can join natively (direct media) are left to
   it; anything else is a bridge of the two media legs in the media engine.
8. A pair missing from the table is a request that makes no sense in that state: logged and
   ignored.
9. Early media: an offered end calling ``progress`` (the call is then ringing) is joined to
   the originator before the answer: the originator is told PROGRESS (it stops its own
   ring-back and keeps its receive channel open) and the two media legs are bridged both
   ways, so what the far end plays (ring-back, announcements) is heard. The answer joins the
   call as in rule 7 (the same bridge, or the answering end's); a failure ends the early
   media with the call. Only one offer at a time is early joined (the latest).
10. Records: an end may add fields to its calls' records (``Channel.record``: a trunk's
   direction, trunk, DID and external number), taken when it joins the call (originates, is
   offered, or is transferred into it), so a record keeps them whoever left the call first.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from skinnyctl.site.model import Site

from . import causes
from .channel import Channel, ChState, Endpoint, Ind, Kind, Refused
from .clock import Clock
from .events import Action, Event, Publish
from .media import MediaBridge, MediaEvent, Ports, WriteCdr
from .routing import Route, Router

log = logging.getLogger("skinnyctl.calls")


class Refs:
    """One counter for call ids, channel ids and every endpoint's references (SCCP callRefs,
    media keys): unique across all of them, increasing across restarts."""

    def __init__(self, clock: Clock) -> None:
        self._next = itertools.count(int(clock.wall()) & 0x3FFFFFFF or 1)

    def __call__(self) -> int:
        return next(self._next)


class CS(Enum):
    DIALING = "dialing"
    ROUTING = "routing"
    ALERTING = "ringing"
    CONNECTED = "connected"
    FAILED = "failed"
    ENDED = "ended"


class CE(Enum):
    DIAL = "dial"
    ALERTING = "alerting"
    PROGRESS = "progress"  # an offered end sends early media (rule 9)
    ANSWER = "answer"
    REFUSED = "refused"  # the offer was refused, or every offered end went before answering
    HANGUP_A = "hangup_a"
    HANGUP_B = "hangup_b"


TABLE: dict[tuple[CS, CE], tuple[CS, str]] = {
    (CS.DIALING, CE.DIAL): (CS.ROUTING, "route"),  # the handler may fail it at once
    (CS.DIALING, CE.HANGUP_A): (CS.ENDED, "end"),
    (CS.ROUTING, CE.ALERTING): (CS.ALERTING, "alerting"),
    (CS.ROUTING, CE.PROGRESS): (CS.ALERTING, "progress"),
    (CS.ALERTING, CE.PROGRESS): (CS.ALERTING, "progress"),
    (CS.ROUTING, CE.ANSWER): (CS.CONNECTED, "answer"),
    (CS.ROUTING, CE.REFUSED): (CS.FAILED, "fail"),
    (CS.ROUTING, CE.HANGUP_A): (CS.ENDED, "cancel"),
    (CS.ALERTING, CE.ALERTING): (CS.ALERTING, "alerting"),  # rung again (after a transfer)
    (CS.ALERTING, CE.ANSWER): (CS.CONNECTED, "answer"),
    (CS.ALERTING, CE.REFUSED): (CS.FAILED, "fail"),
    (CS.ALERTING, CE.HANGUP_A): (CS.ENDED, "cancel"),
    (CS.CONNECTED, CE.HANGUP_A): (CS.ENDED, "end"),
    (CS.CONNECTED, CE.HANGUP_B): (CS.ENDED, "end"),
    (CS.FAILED, CE.HANGUP_A): (CS.ENDED, "end"),
}


@dataclass(eq=False)
class Call:
    id: int
    a: Channel | None
    state: CS = CS.DIALING
    offers: list[Channel] = field(default_factory=list)
    b: Channel | None = None
    called: str = ""  # what was dialled
    called_name: str = ""
    start: float = 0.0  # Unix
    answer: float | None = None
    cause: str = ""  # the first cause that decided the call's fate
    # who called, for the record (an end may move to another call on transfer)
    caller: tuple[str, str, str] = ("", "", "")  # number, name, device
    record: dict[str, str] = field(default_factory=dict)  # what its ends add (rule 10)

    def ends(self) -> list[Channel]:
        """Every channel of the call: the originator, the offered ends, the answered one."""
        out = [self.a] if self.a is not None else []
        out += [x for x in self.offers if x is not self.b]
        if self.b is not None:
            out.append(self.b)
        return out

    def far(self, ch: Channel) -> Channel | None:
        """The other end of an answered call (None before the answer)."""
        if ch is self.a:
            return self.b
        if ch is self.b:
            return self.a
        return None


@dataclass(frozen=True)
class Transferred:
    """What ``Switch.transfer`` did: ``ok`` False means nothing changed (``why`` says why)."""

    ok: bool
    actions: list[Action]
    why: str = ""


class Switch:
    """Owns every call; endpoints own their channels. Core thread only."""

    def __init__(self, site: Site, clock: Clock, refs: Refs | None = None) -> None:
        self.site = site
        self.clock = clock
        self.refs = refs or Refs(clock)
        self.router = Router(site)
        s = site.server
        self.ports = Ports(s.rtp_port_min, s.rtp_port_max)  # every endpoint's media legs
        self.endpoints: dict[Kind, Endpoint] = {}
        self.calls: dict[int, Call] = {}
        # a native bridge between two ends of one endpoint (direct phone-to-phone media)
        self.native: dict[Kind, Callable[[Channel, Channel], list[Action] | None]] = {}
        # who hears what the media engine reports about a leg (a play ended, a digit came)
        self._listeners: dict[int, Callable[[MediaEvent], list[Action]]] = {}

    def reload(self, site: Site) -> None:
        self.site = site
        self.router = Router(site)
        self.ports = self.ports.renew(site.server.rtp_port_min, site.server.rtp_port_max)

    # --- from endpoints -----------------------------------------------------------------------

    def originate(self, ch: Channel) -> Call:
        """A new originating end (off-hook): its call exists from now, DIALING."""
        call = Call(self.refs(), ch, start=self.clock.wall())
        call.caller = (ch.number, ch.name, ch.device)
        call.record.update(ch.record())
        ch.call = call
        ch.state = ChState.DOWN
        self.calls[call.id] = call
        return call

    def dial(self, ch: Channel, number: str | None, route: Route | None = None) -> list[Action]:
        """Route ``number`` for the originating ``ch``; None: its dial plan refused what was
        dialled (``ch.call.called`` holds it). ``route``: already known (a DID's target, from
        ``Router.inbound``), else the router finds it."""
        call = ch.call
        if call is None or call.a is not ch:
            return []
        return self._step(call, CE.DIAL, (number, route))

    def alerting(self, ch: Channel) -> list[Action]:
        call = ch.call
        return self._step(call, CE.ALERTING, ch) if call is not None else []

    def progress(self, ch: Channel) -> list[Action]:
        """The offered ``ch`` sends early media (rule 9)."""
        call = ch.call
        if call is None or ch not in call.offers or call.b is not None:
            return []
        return self._step(call, CE.PROGRESS, ch)

    def answer(self, ch: Channel) -> list[Action]:
        call = ch.call
        if call is None or ch not in call.offers or call.b is not None:
            return []
        return self._step(call, CE.ANSWER, ch)

    def hangup(self, ch: Channel, cause: str, reason: str) -> list[Action]:
        """``ch`` is gone (hung up, refused, its device vanished): the call goes on without it
        or ends."""
        call = ch.call
        ch.state = ChState.GONE
        if call is None:
            return []
        if ch is call.a:
            return self._step(call, CE.HANGUP_A, (ch, cause, reason))
        if ch is call.b:
            return self._step(call, CE.HANGUP_B, (ch, cause, reason))
        if ch in call.offers:
            call.offers.remove(ch)
            ch.call = None
            if call.b is None and not call.offers:
                return self._step(call, CE.REFUSED, Refused(cause, reason))
        return []

    def hold(self, ch: Channel) -> list[Action]:
        """``ch`` puts its far end on hold: the far end hears music."""
        ch.holding = True
        far = self.far(ch)
        return self._tell_held(far, True) if far is not None else []

    def resume(self, ch: Channel) -> list[Action]:
        """``ch`` takes its far end back."""
        ch.holding = False
        far = self.far(ch)
        if far is None or ch.call is None:
            return []
        return self._tell_held(far, False) + self._join(ch.call)

    def media_changed(self, ch: Channel) -> list[Action]:
        """``ch`` carries its audio on another media leg now (a shared line picked up on
        another device): join it to its far end again."""
        call = ch.call
        if call is None or call.state is not CS.CONNECTED:
            return []
        return self._join(call)

    def dtmf(self, ch: Channel, digit: str) -> list[Action]:
        """A digit pressed during the call: the far end consumes it."""
        call = ch.call
        far = self.far(ch)
        actions: list[Action] = [
            Publish(
                Event(
                    "dtmf",
                    self.clock.wall(),
                    {
                        "call_id": call.id if call else 0,
                        "digit": digit,
                        "from": ch.device or ch.number,
                        "line": ch.number,
                    },
                )
            )
        ]
        if far is not None:
            actions += far.indicate(Ind.DTMF, digit)
        return actions

    def transfer(self, x: Channel, y: Channel, blind_if_ringing: bool = True) -> Transferred:
        """Join ``x``'s far end with ``y``'s far end (``y`` answered: attended) or with what
        ``y`` is ringing (blind); ``x`` and ``y`` end. Refused, with nothing changed, when
        either call is not in a state to be joined or the far end would reach itself."""
        c1, c2 = x.call, y.call
        p = self.far(x)
        if c1 is None or c2 is None or c1 is c2 or p is None:
            return Transferred(False, [], "nothing to transfer")
        attended = c2.state is CS.CONNECTED and c2.far(y) is not None
        if not attended and not (blind_if_ringing and c2.state is CS.ALERTING and y is c2.a):
            return Transferred(False, [], "the consultation is not connected or ringing")
        q = c2.far(y) if attended else None
        target = q.number if q is not None else c2.called
        if target == p.number:
            return Transferred(False, [], f"{p.number} would be transferred to itself")
        now = self.clock.wall()
        c3 = Call(self.refs(), p, start=now)
        c3.caller = (p.number, p.name, p.device)
        c3.record.update(p.record())
        self.calls[c3.id] = c3
        self._detach(c1, p)
        p.call = c3
        actions: list[Action] = []
        if q is not None:
            self._detach(c2, q)
            q.call = c3
            c3.offers = [q]
            c3.b = q
            c3.record.update(q.record())
            c3.called, c3.called_name = q.number, q.name
            c3.state = CS.CONNECTED
            c3.answer = now
            cause = causes.ATTENDED_TRANSFER
            actions += p.indicate(Ind.UPDATE) + q.indicate(Ind.UPDATE)
            actions += self._join(c3)
            log.info("call %d: %s transferred %s to %s (attended)", c3.id, x, p.number, q.number)
        else:
            c3.offers, c2.offers = c2.offers, []
            c3.called, c3.called_name = c2.called, c2.called_name
            c3.state = CS.ALERTING
            for o in c3.offers:
                o.call = c3
                c3.record.update(o.record())
                actions += o.indicate(Ind.UPDATE)
            actions += p.indicate(Ind.UPDATE)  # it keeps hearing music until the answer
            cause = causes.BLIND_TRANSFER
            log.info("call %d: %s transferred %s to %s (blind)", c3.id, x, p.number, c3.called)
        actions += self._end(c2, cause, "transferred", by=None)
        actions += self._end(c1, cause, "transferred", by=None)
        return Transferred(True, actions)

    # --- media events -------------------------------------------------------------------------

    def listen(self, key: int, handler: Callable[[MediaEvent], list[Action]]) -> None:
        """``handler`` gets what the engine reports about media leg ``key`` (an application
        working on its far end's leg, a trunk for its own) until ``unlisten``."""
        self._listeners[key] = handler

    def unlisten(self, key: int, handler: Callable[[MediaEvent], list[Action]]) -> None:
        if self._listeners.get(key) == handler:
            del self._listeners[key]

    def media_event(self, event: MediaEvent) -> list[Action]:
        handler = self._listeners.get(event.key)
        if handler is None:
            log.debug("media event for leg %d nobody listens to: %r", event.key, event)
            return []
        return handler(event)

    # --- queries ------------------------------------------------------------------------------

    def far(self, ch: Channel) -> Channel | None:
        return ch.call.far(ch) if ch.call is not None else None

    def snapshot(self) -> list[dict[str, Any]]:
        """Calls in progress as plain data (``status calls``)."""
        out = []
        for call in self.calls.values():
            a = call.a
            out.append(
                {
                    "call_id": call.id,
                    "caller": call.caller[0],
                    "caller_name": call.caller[1],
                    "caller_device": a.device if a is not None else call.caller[2],
                    "called": call.called,
                    "called_name": call.called_name,
                    "state": self._state_name(call),
                    "start": call.start,
                    "answer": call.answer,
                    "legs": [entry for ch in call.ends() for entry in ch.status()],
                }
            )
        return out

    def _state_name(self, call: Call) -> str:
        if call.state is CS.CONNECTED:
            held = any(x is not None and x.holding for x in (call.a, call.b))
            return "held" if held else "connected"
        if call.state in (CS.ROUTING, CS.ALERTING):
            return "ringing"
        return str(call.state.value)

    # --- the table ------------------------------------------------------------------------------

    def _step(self, call: Call, ev: CE, arg: Any = None) -> list[Action]:
        entry = TABLE.get((call.state, ev))
        if entry is None:
            log.info("call %d: %s in state %s ignored", call.id, ev.value, call.state.value)
            return []
        new_state, handler = entry
        old = call.state
        call.state = new_state
        actions: list[Action] = getattr(self, "_on_" + handler)(call, arg, old)
        return actions

    def _on_route(self, call: Call, arg: tuple[str | None, Route | None], old: CS) -> list[Action]:
        number, route = arg
        a = call.a
        assert a is not None
        a.state = ChState.UP
        if number is None:
            return self._refuse(call, causes.INVALID_NUMBER_FORMAT, "dropped by the dialplan")
        call.called = number
        route = route or self.router.resolve(number)
        if route is None:
            return self._refuse(call, causes.UNALLOCATED_NUMBER, f"{number} is not a line")
        call.called_name = route.name
        endpoint = self.endpoints.get(route.kind)
        if endpoint is None:
            return self._refuse(call, causes.UNALLOCATED_NUMBER, f"no {route.kind.value} here")
        offered = endpoint.offer(call, route)
        if isinstance(offered, Refused):
            return self._refuse(call, offered.cause, offered.reason)
        offered.call = call
        offered.state = ChState.RINGING
        call.offers.append(offered)
        call.record.update(offered.record())
        log.info("call %d: %s (%s) -> %s", call.id, a.number, a.device or a.kind.value, number)
        return endpoint.start(offered)

    def _refuse(self, call: Call, cause: str, reason: str) -> list[Action]:
        return self._step(call, CE.REFUSED, Refused(cause, reason))

    def _on_alerting(self, call: Call, ch: Channel, old: CS) -> list[Action]:
        a = call.a
        return a.indicate(Ind.ALERTING) if a is not None and old is not CS.ALERTING else []

    def _on_progress(self, call: Call, ch: Channel, old: CS) -> list[Action]:
        """Rule 9: the originator stops its ring-back and hears ``ch``'s early media."""
        a = call.a
        if a is None:
            return []
        actions = a.indicate(Ind.PROGRESS)
        ka, kb = a.media_key, ch.media_key
        if ka is not None and kb is not None:
            actions.append(MediaBridge(ka, kb, call.id))
        return actions

    def _on_answer(self, call: Call, ch: Channel, old: CS) -> list[Action]:
        call.b = ch
        call.answer = self.clock.wall()
        ch.state = ChState.UP
        actions: list[Action] = []
        for other in [x for x in call.offers if x is not ch]:
            call.offers.remove(other)
            other.call = None
            other.state = ChState.GONE
            actions += other.indicate(Ind.HANGUP, causes.LOSE_RACE)
        if call.a is not None:
            actions += call.a.indicate(Ind.ANSWER)
        log.info("call %d answered by %s", call.id, ch.device or ch.number)
        return actions + self._join(call)

    def _on_fail(self, call: Call, refused: Refused, old: CS) -> list[Action]:
        call.cause = call.cause or refused.cause
        for o in call.offers:
            o.call = None
        call.offers = []
        log.info(
            "call %d from %s: %s (%s)",
            call.id,
            call.caller[2] or call.caller[0],
            refused.cause,
            refused.reason,
        )
        return call.a.indicate(Ind.HANGUP, refused.cause) if call.a is not None else []

    def _on_cancel(self, call: Call, arg: tuple[Channel, str, str], old: CS) -> list[Action]:
        ch, _cause, reason = arg
        return self._end(call, causes.ORIGINATOR_CANCEL, reason, by=ch)

    def _on_end(self, call: Call, arg: tuple[Channel, str, str], old: CS) -> list[Action]:
        ch, cause, reason = arg
        return self._end(call, cause, reason, by=ch)

    # --- ending -------------------------------------------------------------------------------

    def _end(self, call: Call, cause: str, reason: str, by: Channel | None) -> list[Action]:
        """End ``call``: every end but ``by`` is told HANGUP; one call record."""
        if call.state is CS.ENDED and call.id not in self.calls:
            return []
        call.state = CS.ENDED
        call.cause = call.cause or cause
        actions: list[Action] = []
        for ch in call.ends():
            if ch.call is call:
                ch.call = None
            if ch is not by and ch.state is not ChState.GONE:
                ch.state = ChState.GONE
                actions += ch.indicate(Ind.HANGUP, call.cause)
        self.calls.pop(call.id, None)
        if call.called or call.answer:
            actions.append(WriteCdr(self._cdr(call, reason)))
        return actions

    def _detach(self, call: Call, ch: Channel) -> None:
        """Take ``ch`` out of ``call`` (it moves to another call)."""
        if call.a is ch:
            call.a = None
        if call.b is ch:
            call.b = None
        if ch in call.offers:
            call.offers.remove(ch)
        if ch.call is call:
            ch.call = None

    def _cdr(self, call: Call, reason: str) -> dict[str, Any]:
        number, name, device = call.caller
        b = call.b
        return {
            "call_id": call.id,
            "caller": number,
            "caller_name": name,
            "caller_device": device,
            "called": call.called,
            "called_name": call.called_name,
            "callee_device": (b.device or b.number) if b is not None else "",
            "start": call.start,
            "answer": call.answer,
            "end": self.clock.wall(),
            "reason": reason,
            "cause": call.cause or causes.NORMAL_CLEARING,
            "direction": "internal",
            **call.record,
        }

    # --- media ----------------------------------------------------------------------------------

    def _tell_held(self, ch: Channel, held: bool) -> list[Action]:
        if ch.held == held:
            return []
        ch.held = held
        return ch.indicate(Ind.HOLD if held else Ind.RESUME)

    def _join(self, call: Call) -> list[Action]:
        """Join an answered call's two ends (rule 7), and make each hear music exactly when
        the other holds it."""
        a, b = call.a, call.b
        if a is None or b is None or call.state is not CS.CONNECTED:
            return []
        actions: list[Action] = []
        for x, y in ((a, b), (b, a)):
            actions += self._tell_held(x, y.holding)
        if a.kind is Kind.APP or b.kind is Kind.APP:
            # an application works on its far end's leg (apps/): tell it where that is now
            for x in (a, b):
                if x.kind is Kind.APP:
                    actions += x.indicate(Ind.UPDATE)
            return actions
        native = self.native.get(a.kind) if a.kind is b.kind else None
        joined = native(a, b) if native is not None else None
        if joined is not None:
            return actions + joined
        ka, kb = a.media_key, b.media_key
        if ka is not None and kb is not None:
            actions.append(MediaBridge(ka, kb, call.id))
        return actions
