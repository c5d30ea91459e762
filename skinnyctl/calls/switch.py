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
7. Media: once a call is answered the switch joins its two ends: an application or a
   conference's end (no media leg of its own) attaches to its far end's media; two phones an
   endpoint can join natively (direct media) are left to it; anything else is a bridge of the
   two media legs in the media engine.
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
   offered, is transferred or regrouped into it), so a record keeps them whoever left the call
   first.
11. Forwarding (``calls.forward``) happens here, before and instead of ringing: a line whose
   forward_all is set is not offered the call at all; a refusal by USER_BUSY or CALL_REJECTED
   (at once, or EndCall while ringing) goes to forward_busy; no answer within the line's
   no_answer_timeout (a timer of this switch), or no device registered, goes to
   forward_no_answer. ``forward`` sends the call on and records why on the call
   (``original_called``, ``redirected_from``, ``redirect_reason``: what the far display and
   voicemail read: the mailbox, and the busy or unavailable greeting); numbers already visited
   are not visited again (the last one rings).
12. A hunt group (``calls.hunt``) is offered member by member or all at once; while it hunts,
   the members' own forwards do not apply and a member's refusal or silence moves the hunt on.
13. Pick-up (``pickup``): another end takes a ringing offer's place (the offer is hung up with
   PICKED_OFF) and answers; the record names the picker. ``divert`` sends an answered call's
   far end to another number in a new call (park, park reversion, iDivert, voicemail's call
   back), ending the old one; the far end hears music until the new end answers, and if that
   new call fails it ends at once (a caller who was talking is not left on a dead line).
   ``redirect`` is what an end that is not the originator uses: ``forward`` while it rings,
   ``divert`` once it answered.
14. Timers (no answer, hunting, park) are the switch's own (``timers``, merged by CallManager);
   a timer that fires after its call moved on does nothing.
15. Media reports: several parties may listen to one media leg (``listen``): the owner of the
   leg and an application working on it; each gets every report of that leg.
16. Regrouping (conferences): ``connect(pairs)`` puts each pair of channels in an answered
   call of its own, taking them out of the calls they were in; those calls end, for whoever
   is left in them (told HANGUP with the cause given) or quietly when nobody is, each with
   its record. Both ends are then told UPDATE and joined (rule 7). A conference
   (``apps.conference``) is such calls, one per party, each party facing one of the
   conference's ends.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any

from skinnyctl.site.model import Site

from . import causes, forward
from .channel import Channel, ChState, Endpoint, Ind, Kind, Refused, who
from .clock import Clock
from .events import Action, Event, Publish
from .forward import Forwards
from .hunt import Hunting, Hunts
from .media import MediaBridge, MediaEvent, Ports, WriteCdr
from .routing import Route, Router
from .timers import Timers
from .userstate import UserState

log = logging.getLogger("skinnyctl.calls")


# Ends with no media leg of their own: they work on their far end's (rule 7).
_FAR_MEDIA = frozenset({Kind.APP, Kind.CONFERENCE})


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
    # redirection (rules 11-13): where it is offered now, and why it is not where it was dialled
    routed_to: str = ""
    original_called: str = ""  # the first number that sent it elsewhere ("": never redirected)
    redirected_from: str = ""  # the last one (a line: the mailbox voicemail should open)
    redirect_reason: str = ""  # calls.forward's: forward_all, busy, no_answer, hunt, park...
    hops: list[str] = field(default_factory=list)  # numbers it was redirected from (loops)
    hunt: Hunting | None = None  # a hunt group is looking for a member to take it
    record: dict[str, str] = field(default_factory=dict)  # what its ends add (rule 10)
    after_answer: bool = False  # rule 13: carries on a caller whose call had been answered

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

    def __init__(
        self,
        site: Site,
        clock: Clock,
        refs: Refs | None = None,
        state: UserState | None = None,
    ) -> None:
        """``state``: what users set at run time (forwards...), as kept by the edge."""
        self.site = site
        self.clock = clock
        self.refs = refs or Refs(clock)
        self.router = Router(site)
        self.state = state or UserState()
        self.timers = Timers()
        self.forwards = Forwards(site, self.state)
        self.hunts = Hunts(self)
        s = site.server
        self.ports = Ports(s.rtp_port_min, s.rtp_port_max)  # every endpoint's media legs
        self.endpoints: dict[Kind, Endpoint] = {}
        self.calls: dict[int, Call] = {}
        # a native bridge between two ends of one endpoint (direct phone-to-phone media)
        self.native: dict[Kind, Callable[[Channel, Channel], list[Action] | None]] = {}
        # who hears what the media engine reports about a leg (a play ended, a digit came)
        self._listeners: dict[int, list[Callable[[MediaEvent], list[Action]]]] = {}

    def reload(self, site: Site) -> None:
        self.site = site
        self.router = Router(site)
        self.forwards.site = site
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
                return self._offers_gone(call, ch, Refused(cause, reason))
        return []

    # --- redirection (rules 11-14) -------------------------------------------------------------

    def forward(
        self, call: Call, frm: str, target: str, reason: str, withdraw: bool = False
    ) -> list[Action]:
        """Offer the unanswered ``call`` to ``target`` instead, because of ``frm`` (a line, a
        hunt group...) for ``reason`` (``calls.forward``); the caller's display follows.
        ``withdraw``: every end it rings now stops first (and a hunt group stops hunting)."""
        actions: list[Action] = []
        if withdraw:
            if call.hunt is not None:
                self.hunts.stop(call)
            for o in list(call.offers):
                actions += self.withdraw(call, o, causes.NORMAL_CLEARING)
        if frm not in call.hops:
            call.hops.append(frm)
        call.original_called = call.original_called or frm
        call.redirected_from = frm
        call.redirect_reason = reason
        route = self.router.resolve(target)
        log.info("call %d: %s -> %s (%s)", call.id, frm, target, reason)
        if route is None:
            why = f"{target} ({reason}) is unknown"
            return actions + self._refuse(call, causes.UNALLOCATED_NUMBER, why)
        call.routed_to = route.number
        if call.a is not None:
            actions += call.a.indicate(Ind.UPDATE)
        return actions + self._offer(call, route)

    def pickup(self, picked: Channel, by: Channel) -> list[Action]:
        """``by`` (a new end: another phone's) takes the place of the ringing offer ``picked``
        (rule 13), which is hung up with PICKED_OFF; ``by``'s endpoint answers it next."""
        call = picked.call
        if call is None or picked not in call.offers or call.b is not None:
            return []
        call.original_called = call.original_called or picked.number
        call.redirected_from = picked.number
        call.redirect_reason = forward.PICKUP
        actions = self.withdraw(call, picked, causes.PICKED_OFF)
        by.call = call
        by.state = ChState.RINGING
        call.offers.append(by)
        call.record.update(by.record())
        log.info("call %d: %s picked up by %s", call.id, picked.number, by.device or by.number)
        return actions

    def divert(
        self, ch: Channel, number: str, reason: str, cause: str = causes.BLIND_TRANSFER
    ) -> list[Action]:
        """``ch``'s far end leaves ``ch``'s call for a new call to ``number`` (rule 13: park,
        park reversion, iDivert); ``ch``'s call ends. Nothing happens when ``number`` is
        unknown or ``ch`` has no far end (the caller checks the result)."""
        c1, p = ch.call, self.far(ch)
        route = self.router.resolve(number)
        if c1 is None or p is None or route is None:
            return []
        c3 = Call(self.refs(), p, start=self.clock.wall(), state=CS.ROUTING)
        c3.caller = (p.number, p.name, p.device)
        c3.record.update(p.record())
        c3.called, c3.called_name, c3.routed_to = number, route.name, route.number
        c3.original_called = c3.redirected_from = ch.number
        c3.redirect_reason = reason
        c3.after_answer = True
        self.calls[c3.id] = c3
        self._detach(c1, p)
        p.call = c3
        log.info("call %d: %s sent %s to %s (%s)", c3.id, ch.number, p.number, number, reason)
        actions = self._end(c1, cause, reason, by=None)
        actions += self._tell_held(p, True)  # music until its new far end answers
        actions += p.indicate(Ind.UPDATE)
        return actions + self._offer(c3, route)

    def redirect(self, ch: Channel, number: str, reason: str) -> list[Action]:
        """``ch``, an offered or answered end (not the originator), sends its call on to
        ``number`` as if the originator had dialled it (rule 13: iDivert, voicemail's call
        back): still ringing, the same call is forwarded (every end it rings stops); answered,
        the originator is diverted into a new call. Nothing happens otherwise."""
        call = ch.call
        if call is None or ch is call.a or call.a is None:
            log.info("redirect of %s to %s: not an offered or answered end", ch, number)
            return []
        if call.b is None and ch in call.offers:
            return self.forward(call, ch.number, number, reason, withdraw=True)
        if call.b is ch and call.state is CS.CONNECTED:
            return self.divert(ch, number, reason, causes.REDIRECTION_TO_NEW_DESTINATION)
        return []

    def _offer(self, call: Call, route: Route) -> list[Action]:
        """Offer ``call`` to ``route``, or where a forward sends it first (rule 11); a hunt
        group hunts (rule 12)."""
        call.routed_to = route.number
        if route.kind is Kind.HUNT:
            return self.hunts.start(call, route)
        if route.kind is Kind.PHONE and not route.hunt:
            to = self.forwards.of(route.number).all
            if self._may_forward(call, route.number, to):
                return self.forward(call, route.number, to, forward.FORWARD_ALL)
        offered = self.take(call, route)
        if isinstance(offered, Refused):
            return self._refused(call, route.number, offered, route)
        if route.kind is Kind.PHONE and not route.hunt:
            fwd = self.forwards.of(route.number)
            if fwd.no_answer and fwd.timeout:
                self.timers.at(self.clock.now() + fwd.timeout, partial(self._no_answer, offered))
        return offered.endpoint.start(offered)

    def take(self, call: Call, route: Route) -> Channel | Refused:
        """``route``'s endpoint's channel for ``call``, now one of its offers (not started)."""
        endpoint = self.endpoints.get(route.kind)
        if endpoint is None:
            return Refused(causes.UNALLOCATED_NUMBER, f"no {route.kind.value} here")
        offered = endpoint.offer(call, route)
        if isinstance(offered, Refused):
            return offered
        offered.call = call
        offered.state = ChState.RINGING
        call.offers.append(offered)
        call.record.update(offered.record())
        a = call.a
        if a is not None:
            log.info("call %d: %s (%s) -> %s", call.id, a.number, a.device or "?", route.number)
        return offered

    def _may_forward(self, call: Call, frm: str, to: str) -> bool:
        caller = call.a.number if call.a is not None else ""
        return self.forwards.follow(frm, to, call.hops, caller)

    def _refused(
        self, call: Call, number: str, refused: Refused, route: Route | None = None
    ) -> list[Action]:
        """``number`` cannot take ``call``: its forward_busy or forward_no_answer (rule 11),
        else the call fails with the refusal's cause."""
        if route is None or (route.kind is Kind.PHONE and not route.hunt):
            fwd = self.forwards.of(number)
            if refused.cause in forward.BUSY_REFUSALS and self._may_forward(call, number, fwd.busy):
                return self.forward(call, number, fwd.busy, forward.FORWARD_BUSY)
            unregistered = refused.cause == causes.USER_NOT_REGISTERED
            if unregistered and self._may_forward(call, number, fwd.no_answer):
                return self.forward(call, number, fwd.no_answer, forward.FORWARD_NO_ANSWER)
        return self._refuse(call, refused.cause, refused.reason)

    def _offers_gone(self, call: Call, last: Channel, refused: Refused) -> list[Action]:
        """Every offer of the unanswered ``call`` went (the last, ``last``, refused it)."""
        if call.hunt is not None:
            return self.hunts.gone(call, refused)
        if last.kind is Kind.PHONE:
            return self._refused(call, last.number, refused)
        return self._refuse(call, refused.cause, refused.reason)

    def _no_answer(self, ch: Channel) -> list[Action]:
        """The no-answer timer of ``ch``'s line (rule 11): ``ch`` still rings (in the call it
        was offered, or the one a blind transfer moved it to)."""
        call = ch.call
        if call is None or call.b is not None or ch not in call.offers or call.hunt is not None:
            return []
        to = self.forwards.of(ch.number).no_answer
        if not self._may_forward(call, ch.number, to):
            return []  # the last hop rings on
        return self.withdraw(call, ch, causes.NO_ANSWER) + self.forward(
            call, ch.number, to, forward.FORWARD_NO_ANSWER
        )

    def withdraw(self, call: Call, ch: Channel, cause: str) -> list[Action]:
        """Stop offering ``call`` to ``ch`` (it stops ringing), whatever happens next."""
        if ch not in call.offers:
            return []
        call.offers.remove(ch)
        ch.call = None
        ch.state = ChState.GONE
        return ch.indicate(Ind.HANGUP, cause)

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def on_timer(self, now: float) -> list[Action]:
        return self.timers.fire(now)

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

    def transfer(
        self,
        x: Channel,
        y: Channel,
        blind_if_ringing: bool = True,
        cause: str | None = None,
        reason: str = "transferred",
    ) -> Transferred:
        """Join ``x``'s far end with ``y``'s far end (``y`` answered: attended) or with what
        ``y`` is ringing (blind); ``x`` and ``y`` end (with ``cause``, else the transfer's
        kind). Refused, with nothing changed, when either call is not in a state to be joined
        or the far end would reach itself."""
        override = cause
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
        cause = override or cause
        actions += self._end(c2, cause, reason, by=None)
        actions += self._end(c1, cause, reason, by=None)
        return Transferred(True, actions)

    def connect(
        self, pairs: list[tuple[Channel, Channel]], cause: str, reason: str
    ) -> list[Action]:
        """Put each pair ``(p, q)`` in an answered call of its own (rule 11): ``p`` is its
        originator, ``q`` (a conference's end, a party for a direct call again) what it
        reached. Channels leave the calls they are in; those end with ``cause``."""
        now = self.clock.wall()
        old: list[Call] = []
        new: list[Call] = []
        for p, q in pairs:
            for ch in (p, q):
                was = ch.call
                if was is not None:
                    if was not in old:
                        old.append(was)
                    self._detach(was, ch)
            call = Call(self.refs(), p, CS.CONNECTED, offers=[q], b=q, start=now, answer=now)
            call.called, call.called_name = q.number, q.name
            call.caller = (p.number, p.name, p.device)
            for ch in (p, q):
                ch.call = call
                ch.state = ChState.UP
                call.record.update(ch.record())
            self.calls[call.id] = call
            new.append(call)
        actions: list[Action] = []
        for call in old:
            actions += self._end(call, cause, reason, by=None)
        for call in new:
            for ch in call.ends():
                actions += ch.indicate(Ind.UPDATE)
            actions += self._join(call)
            log.info("call %d: %s with %s (%s)", call.id, who(call.a), who(call.b), reason)
        return actions

    # --- media events -------------------------------------------------------------------------

    def listen(self, key: int, handler: Callable[[MediaEvent], list[Action]]) -> None:
        """``handler`` gets what the engine reports about media leg ``key`` (an application
        working on its far end's leg, a trunk for its own) until ``unlisten`` (rule 15: each
        of several listeners gets every report)."""
        handlers = self._listeners.setdefault(key, [])
        if handler not in handlers:
            handlers.append(handler)

    def unlisten(self, key: int, handler: Callable[[MediaEvent], list[Action]]) -> None:
        handlers = self._listeners.get(key, [])
        if handler in handlers:
            handlers.remove(handler)
        if not handlers:
            self._listeners.pop(key, None)

    def media_event(self, event: MediaEvent) -> list[Action]:
        handlers = self._listeners.get(event.key)
        if not handlers:
            log.debug("media event for leg %d nobody listens to: %r", event.key, event)
            return []
        actions: list[Action] = []
        for handler in list(handlers):
            actions += handler(event)
        return actions

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
            if (
                call.redirect_reason == forward.PARK
                and call.b is not None
                and call.b.kind is Kind.APP
            ):
                return "parked"  # waiting on a park slot (apps/park.py)
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
        return self._offer(call, route)

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
        if call.hunt is not None:
            self.hunts.answered(call, ch)
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
        a = call.a
        if a is None:
            return []
        actions = a.indicate(Ind.HANGUP, refused.cause)
        if call.after_answer:  # rule 13: told; the call ends now, not when it hangs up
            actions += self._end(call, refused.cause, refused.reason, by=a)
        return actions

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
        self.hunts.ended(call)
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
            "redirected_from": call.redirected_from,
            "redirect_reason": call.redirect_reason,
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
        if a.kind in _FAR_MEDIA or b.kind in _FAR_MEDIA:
            # an application works on its far end's leg (apps/): tell it where that is now
            for x in (a, b):
                if x.kind in _FAR_MEDIA:
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
