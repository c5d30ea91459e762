"""The SIP trunk endpoint, sans-IO: the SIP edge's inputs -> channel events, indications -> SIP
commands and media actions.

This is the only place that knows how a call to or from the outside world maps onto SIP; the
switch (``calls.switch``) sees a :class:`TrunkChannel` like any other end, and the SIP edge
(``skinnyctl.sip.edge``) carries the commands out (``skinnyctl.sip.events``).

Model. A :class:`TrunkChannel` is one SIP dialog on one trunk, with its own media leg (a port
pair from the switch's ``ports``; media key = the channel id) facing the far end's SDP
address. Outbound dialogs get the id ``sip-out-<channel id>``; inbound ones keep the edge's.

Rules:

1. Outbound (a Route of Kind.TRUNK: the dial plan's "trunk" action or an emergency number):
   ``offer`` takes a port (none: NORMAL_TEMPORARY_FAILURE); ``start`` opens the leg and sends
   SipCall with an SDP offer of our media address, the trunk's codecs and telephone-event 101.
   Caller ID: the calling line's ``external_number``, else the trunk's ``caller_id`` (the edge
   falls back to the username). The far end's 180 without SDP is ALERTING (the phone plays its
   ring-back); a 180/183 with SDP is PROGRESS (early media: the leg learns the address and
   law, the switch joins it to the caller before the answer); 200 is the answer (its SDP, or
   the early one's); a final failure hangs the channel up with the cause of its status
   (``cause_of``: the phone then hears busy, or reorder with "Unknown Number" / "Temp Fail").
2. Inbound (SipIncoming): the DID is resolved by the router (``Router.inbound``); none: 404,
   no call. An offer without a usable audio stream (no SDP, no G.711): 488. Otherwise a new
   call with the trunk channel as its originator, dialled to the DID's target: the target
   ringing sends 180, its answer 200 with our SDP (the offer's first codec we accept and its
   telephone-event type); a refusal (busy, not registered...) is a final status
   (``status_of``) and ends the call; the caller's CANCEL ends it (the phones stop ringing).
3. Our side hanging up sends SipHangup (the edge sends CANCEL before the answer, BYE after);
   the far end's BYE or CANCEL hangs the channel up (NORMAL_CLEARING, ORIGINATOR_CANCEL). The
   channel's leg closes and its port is freed whichever side ended it.
4. Hold from our side (HOLD: the phone put the outside party on hold): ``hold = "music"``
   plays music on the trunk leg; ``"reinvite"`` also sends a re-INVITE with a=sendonly
   (RESUME: sendrecv again, music stops). A far-end re-INVITE (SipUpdated) is followed: a new
   address is learned, a new law declared, a=sendonly/inactive holds the channel's far end
   (``Switch.hold``: the phone hears music), sendrecv/recvonly again resumes it.
5. DTMF: digits of the far end (the phone's keypad, DTMF) go out as RFC 4733 telephone-events
   on the leg (when the far end offered telephone-event; else logged); RFC 4733 digits
   arriving on the leg (the engine's ``MediaDtmf``, for the leg's listener) are the
   channel's ``Switch.dtmf``.
6. Records: the channel adds direction (inbound/outbound), trunk, DID (the number called for
   inbound, the caller ID presented for outbound) and the external number (the outside party)
   to its calls' records.
7. A media leg the edge cannot bind (MediaFailed): before our SDP went out (inbound, not yet
   answered) another port is taken; after it, the call fails (NORMAL_TEMPORARY_FAILURE).
8. Registration changes (TrunkState) are published: ``trunk_registered`` / ``trunk_failed``
   with the SIP status.
"""

from __future__ import annotations

import logging
from typing import Any

from skinnyctl.calls import causes
from skinnyctl.calls.channel import Channel, Ind, Kind, Refused
from skinnyctl.calls.clock import Clock
from skinnyctl.calls.events import Action, Event, Publish
from skinnyctl.calls.media import (
    PTIME_MS,
    Codec,
    MediaClose,
    MediaCodec,
    MediaDtmf,
    MediaEvent,
    MediaLearn,
    MediaListenDtmf,
    MediaOpen,
    MediaPlay,
    MediaSendDtmf,
    MediaStop,
    media_address,
)
from skinnyctl.calls.routing import Route
from skinnyctl.calls.switch import Call, Switch
from skinnyctl.sip.events import (
    MediaDesc,
    SipAnswer,
    SipAnswered,
    SipCall,
    SipEnded,
    SipFailed,
    SipHangup,
    SipHold,
    SipIncoming,
    SipInput,
    SipReject,
    SipRing,
    SipRinging,
    TrunkState,
)
from skinnyctl.site.model import Site, Trunk

log = logging.getLogger("skinnyctl.endpoints.sip")

DTMF_PT = 101  # the telephone-event payload type we offer
OUT_PREFIX = "sip-out-"
_LAW: dict[str, Codec] = {"PCMU": "ulaw", "PCMA": "alaw"}
_HELD = ("sendonly", "inactive")  # a far end offering these holds us (RFC 3264 §8.4)

# A final SIP status of our INVITE -> the cause the caller hears (RFC 3398 §8.2.6.1, as
# FreeSWITCH names them). Statuses not listed: 4xx NORMAL_TEMPORARY_FAILURE, 6xx CALL_REJECTED.
_CAUSE_OF_STATUS: dict[int, str] = {
    401: causes.OUTGOING_CALL_BARRED,  # our credentials were refused
    403: causes.OUTGOING_CALL_BARRED,
    404: causes.UNALLOCATED_NUMBER,
    407: causes.OUTGOING_CALL_BARRED,
    408: causes.NORMAL_TEMPORARY_FAILURE,
    480: causes.NO_ANSWER,
    484: causes.INVALID_NUMBER_FORMAT,
    485: causes.INVALID_NUMBER_FORMAT,
    486: causes.USER_BUSY,
    487: causes.ORIGINATOR_CANCEL,
    600: causes.USER_BUSY,
    603: causes.CALL_REJECTED,
    604: causes.UNALLOCATED_NUMBER,
}

# A cause refusing an inbound call -> the final status the caller's side gets (RFC 3398 §7.2.4.1).
_STATUS_OF_CAUSE: dict[str, int] = {
    causes.USER_BUSY: 486,
    causes.CALL_REJECTED: 603,
    causes.UNALLOCATED_NUMBER: 404,
    causes.INVALID_NUMBER_FORMAT: 484,
    causes.NO_ANSWER: 480,
    causes.USER_NOT_REGISTERED: 480,
    causes.NORMAL_TEMPORARY_FAILURE: 503,
    causes.OUTGOING_CALL_BARRED: 403,
}

_CAUSE_OF_ENDING = {
    "bye": causes.NORMAL_CLEARING,
    "cancel": causes.ORIGINATOR_CANCEL,
    "timeout": causes.NORMAL_TEMPORARY_FAILURE,
}


def cause_of(status: int) -> str:
    """The cause of a final SIP status for our INVITE."""
    if status in _CAUSE_OF_STATUS:
        return _CAUSE_OF_STATUS[status]
    return causes.CALL_REJECTED if status >= 600 else causes.NORMAL_TEMPORARY_FAILURE


def status_of(cause: str) -> int:
    """The final SIP status refusing an inbound INVITE for ``cause``."""
    return _STATUS_OF_CAUSE.get(cause, 480)


class TrunkChannel(Channel):
    """One SIP dialog on one trunk: a call's end in the outside world."""

    kind = Kind.TRUNK

    def __init__(
        self,
        channel_id: int,
        trunks: Trunks,
        trunk: Trunk,
        *,
        inbound: bool,
        number: str,
        name: str,
        did: str,
        dialog: str = "",
    ) -> None:
        super().__init__(channel_id, trunks, number, name)  # number: the outside party's
        self.trunk = trunk
        self.inbound = inbound
        self.did = did  # ours: the DID called (inbound), the caller ID presented (outbound)
        self.dialog = dialog or f"{OUT_PREFIX}{channel_id}"
        self.port: int | None = None  # our media leg's RTP port (key = the channel id)
        self.remote: MediaDesc | None = None  # the far end's media, from its SDP
        self.sdp_sent = False  # our SDP is out (offer sent, or answer given): the port stays
        self.answered = False  # 200 OK sent or received
        self.rung = False  # inbound: 180 sent
        self.music = False  # we play music to the far end (our side holds it)

    @property
    def media_key(self) -> int | None:
        return self.id if self.port is not None else None

    @property
    def device(self) -> str:
        return f"trunk:{self.trunk.name}"

    @property
    def codec(self) -> Codec:
        return _LAW.get(self.remote.codecs[0], "ulaw") if self.remote else "ulaw"

    @property
    def dtmf_pt(self) -> int | None:
        """The far end's telephone-event payload type, None when it offered none we can use."""
        return _dtmf_pt(self.remote) if self.remote is not None else None

    def record(self) -> dict[str, str]:
        return {
            "direction": "inbound" if self.inbound else "outbound",
            "trunk": self.trunk.name,
            "did": self.did,
            "external_number": self.number,
        }

    def status(self) -> list[dict[str, Any]]:
        far = self.call.far(self) if self.call is not None else None
        r = self.remote
        (entry,) = super().status()
        entry.update(
            peer=far.device if far is not None else "",
            rtp_phone=f"{r.ip}:{r.port}" if r is not None else "",  # the far end's RTP
            relay_port=self.port,
            music_on_hold=self.music,
            dialog=self.dialog,
            direction="inbound" if self.inbound else "outbound",
        )
        return [entry]


class Trunks:
    """The channel endpoint of every ``[[trunks]]`` entry (``calls.channel.Endpoint``), and the
    core side of the SIP edge (``handle``). Core thread only."""

    def __init__(self, site: Site, clock: Clock, switch: Switch) -> None:
        self.site = site
        self.clock = clock
        self.switch = switch
        self._dialogs: dict[str, TrunkChannel] = {}
        self._keys: dict[int, TrunkChannel] = {}  # media key -> channel
        switch.endpoints[Kind.TRUNK] = self

    def reload(self, site: Site) -> None:
        """New calls use the new trunks' settings; calls in progress keep theirs."""
        self.site = site

    def owns(self, key: int) -> bool:
        """Whether media leg ``key`` is one of ours."""
        return key in self._keys

    # --- inputs from the SIP edge ---------------------------------------------------------------

    def handle(self, x: SipInput) -> list[Action]:
        if isinstance(x, TrunkState):
            return self._trunk_state(x)
        if isinstance(x, SipIncoming):
            return self._incoming(x)
        ch = self._dialogs.get(x.dialog)
        if ch is None:
            log.info("SIP %s for a dialog no call has (%s)", type(x).__name__, x.dialog)
            return [SipHangup(x.dialog)] if isinstance(x, SipAnswered) else []
        if isinstance(x, SipRinging):
            if x.remote is None:
                return self.switch.alerting(ch)
            return self._learn(ch, x.remote) + self.switch.progress(ch)
        if isinstance(x, SipAnswered):
            actions = self._learn(ch, x.remote) if x.remote is not None else []
            if ch.remote is None:
                log.warning("%s answered %s without usable SDP: no audio", ch.device, ch.number)
            ch.answered = True
            return actions + self.switch.answer(ch)
        if isinstance(x, SipFailed):
            cause = cause_of(x.status)
            log.info("%s: call to %s failed: %d %s", ch.device, ch.number, x.status, x.reason)
            return self._release(ch) + self.switch.hangup(ch, cause, f"{x.status} {x.reason}")
        if isinstance(x, SipEnded):
            reason = {"bye": "far end hung up", "cancel": "caller cancelled"}.get(x.why, x.why)
            return self._release(ch) + self.switch.hangup(ch, _CAUSE_OF_ENDING[x.why], reason)
        return self._updated(ch, x.remote)  # SipUpdated

    def _media_event(self, event: MediaEvent) -> list[Action]:
        """What the engine reports about one of our legs: an RFC 4733 digit (rule 5)."""
        ch = self._keys.get(event.key)
        if ch is None or ch.call is None or not isinstance(event, MediaDtmf):
            return []
        return self.switch.dtmf(ch, event.digit)

    def media_failed(self, key: int, port: int, reason: str) -> list[Action]:
        """Rule 7."""
        ports = self.switch.ports
        ports.quarantine(port)
        ch = self._keys.get(key)
        if ch is None or ch.port != port:
            log.warning("RTP ports %d/%d cannot be bound (%s)", port, port + 1, reason)
            return []
        if not ch.sdp_sent and ch.call is not None:
            new = ports.take()
            log.warning(
                "RTP ports %d/%d cannot be bound (%s); %s takes %s",
                port,
                port + 1,
                reason,
                ch.device,
                new,
            )
            if new is not None:
                ch.port = new
                return self._open(ch, ch.call)
        log.error("%s: no RTP port for the call with %s (%s)", ch.device, ch.number, reason)
        actions = self._release(ch, cause=causes.NORMAL_TEMPORARY_FAILURE)
        return actions + self.switch.hangup(ch, causes.NORMAL_TEMPORARY_FAILURE, "no RTP port")

    # --- the channel endpoint -------------------------------------------------------------------

    def offer(self, call: Call, route: Route) -> TrunkChannel | Refused:
        """An outbound call (rule 1)."""
        trunk = route.trunk
        if trunk is None:
            return Refused(causes.UNALLOCATED_NUMBER, f"no trunk for {route.number}")
        port = self.switch.ports.take()
        if port is None:
            log.error("no free RTP port for a call out through %s; widen the range", trunk.name)
            return Refused(causes.NORMAL_TEMPORARY_FAILURE, "no RTP port")
        caller = call.a
        line = self.site.line(caller.number) if caller is not None else None
        presented = (line.external_number if line is not None else "") or trunk.caller_id
        ch = TrunkChannel(
            self.switch.refs(),
            self,
            trunk,
            inbound=False,
            number=route.number,
            name=route.name,
            did=presented,
        )
        ch.port = port
        self._keep(ch)
        return ch

    def start(self, ch: Channel) -> list[Action]:
        assert isinstance(ch, TrunkChannel) and ch.call is not None
        caller = ch.call.a
        ch.sdp_sent = True
        log.info("call %d: out through %s to %s", ch.call.id, ch.trunk.name, ch.number)
        local = self._local(ch, ch.trunk.codecs, DTMF_PT)
        name = caller.name if caller is not None else ""
        invite = SipCall(ch.dialog, ch.trunk.name, ch.number, ch.did, name, local)
        return [*self._open(ch, ch.call), invite]

    def indicate(self, ch: Channel, ind: Ind, arg: Any = None) -> list[Action]:
        assert isinstance(ch, TrunkChannel)
        if ind is Ind.HANGUP:
            return self._hung_up(ch, str(arg or causes.NORMAL_CLEARING))
        if ch.dialog not in self._dialogs:
            return []
        if ind is Ind.ALERTING and ch.inbound and not ch.rung and not ch.answered:
            ch.rung = True
            return [SipRing(ch.dialog)]
        if ind is Ind.ANSWER and ch.inbound and not ch.answered:
            ch.answered = ch.sdp_sent = True
            remote = ch.remote
            assert remote is not None  # rule 2: no call without one
            return [SipAnswer(ch.dialog, self._local(ch, remote.codecs[:1], ch.dtmf_pt))]
        if ind is Ind.HOLD or ind is Ind.RESUME:
            return self._hold(ch, ind is Ind.HOLD)
        if ind is Ind.DTMF:
            if ch.port is None or ch.dtmf_pt is None:
                log.info(
                    "%s: digit %s not sent: %s has no telephone-event", ch.device, arg, ch.number
                )
                return []
            return [MediaSendDtmf(ch.id, str(arg))]
        return []  # PROGRESS, UPDATE: nothing to tell the far end

    # --- rules -------------------------------------------------------------------------------

    def _incoming(self, x: SipIncoming) -> list[Action]:
        """Rule 2."""
        route = self.switch.router.inbound(x.did)
        if route is None:
            log.info("SIP call from %s to %s refused (404): no such DID", x.caller_number, x.did)
            return [SipReject(x.dialog, 404)]
        trunk = self.site.trunk(x.trunk)
        if trunk is None:  # reloaded away while the INVITE was on its way
            return [SipReject(x.dialog, 503)]
        if x.remote is None:
            log.info("SIP call from %s to %s refused (488): no G.711 offer", x.caller_number, x.did)
            return [SipReject(x.dialog, 488)]
        port = self.switch.ports.take()
        if port is None:
            log.error("no free RTP port for a call from %s; widen the range", x.caller_number)
            return [SipReject(x.dialog, 503)]
        ch = TrunkChannel(
            self.switch.refs(),
            self,
            trunk,
            inbound=True,
            number=x.caller_number,
            name=x.caller_name,
            did=x.did,
            dialog=x.dialog,
        )
        ch.port = port
        ch.remote = x.remote
        self._keep(ch)
        call = self.switch.originate(ch)
        log.info(
            "call %d: %s (%s) calls %s through %s -> %s",
            call.id,
            x.caller_number,
            x.caller_name,
            x.did,
            trunk.name,
            route.number,
        )
        return self._open(ch, call) + self.switch.dial(ch, route.number, route)

    def _hung_up(self, ch: TrunkChannel, cause: str) -> list[Action]:
        """Rule 3 (our side), and rule 2's refusals."""
        if ch.dialog not in self._dialogs:
            return []
        actions = self._release(ch, cause)
        call = ch.call
        if call is not None and call.a is ch:  # the call failed: the switch waits for us
            actions += self.switch.hangup(ch, cause, "refused")
        return actions

    def _hold(self, ch: TrunkChannel, on: bool) -> list[Action]:
        """Rule 4, our side."""
        if ch.port is None or ch.music == on:
            return []
        ch.music = on
        actions: list[Action] = []
        if ch.trunk.hold == "reinvite" and ch.answered and ch.remote is not None:
            codecs = ch.remote.codecs[:1]
            actions.append(SipHold(ch.dialog, on, self._local(ch, codecs, ch.dtmf_pt)))
        actions.append(MediaPlay(ch.id, "music", ch.codec, PTIME_MS) if on else MediaStop(ch.id))
        return actions

    def _updated(self, ch: TrunkChannel, remote: MediaDesc | None) -> list[Action]:
        """Rule 4, the far end's re-INVITE."""
        if remote is None:
            return []
        actions = self._learn(ch, remote)
        holds = remote.direction in _HELD
        if holds and not ch.holding:
            log.info("%s: %s holds the call", ch.device, ch.number)
            actions += self.switch.hold(ch)
        elif not holds and ch.holding:
            log.info("%s: %s resumes the call", ch.device, ch.number)
            actions += self.switch.resume(ch)
        return actions

    def _learn(self, ch: TrunkChannel, remote: MediaDesc) -> list[Action]:
        """The far end's SDP: where the leg sends, what it speaks (only what changed)."""
        old = ch.remote
        ch.remote = remote
        if ch.port is None:
            return []
        actions: list[Action] = []
        if old is None or (old.ip, old.port) != (remote.ip, remote.port):
            actions.append(MediaLearn(ch.id, remote.ip, remote.port))
        if old is None or (old.codecs[:1], old.dtmf_pt) != (remote.codecs[:1], remote.dtmf_pt):
            actions += self._codec(ch)
        return actions

    def _trunk_state(self, x: TrunkState) -> list[Action]:
        """Rule 8."""
        kind = {"registered": "trunk_registered", "failed": "trunk_failed"}.get(x.state)
        if kind is None:
            return []
        if kind == "trunk_failed":
            log.warning("trunk %s: %s (%d %s)", x.trunk, x.state, x.status, x.reason)
        fields = {"trunk": x.trunk, "status": x.status, "reason": x.reason, "expires": x.expires}
        return [Publish(Event(kind, self.clock.wall(), fields))]

    # --- helpers -------------------------------------------------------------------------------

    def _keep(self, ch: TrunkChannel) -> None:
        self._dialogs[ch.dialog] = ch
        self._keys[ch.id] = ch
        self.switch.listen(ch.id, self._media_event)

    def _open(self, ch: TrunkChannel, call: Call) -> list[Action]:
        """The channel's media leg, and what is known of the far end's media."""
        assert ch.port is not None
        actions: list[Action] = [MediaOpen(call.id, ch.id, ch.port)]
        r = ch.remote
        if r is not None:
            actions += self._codec(ch)
            actions.append(MediaLearn(ch.id, r.ip, r.port))
        return actions

    def _codec(self, ch: TrunkChannel) -> list[Action]:
        """The leg's law and telephone-event type, from the far end's SDP; its digits are
        reported to us when it has one."""
        pt = ch.dtmf_pt
        return [MediaCodec(ch.id, ch.codec, pt), MediaListenDtmf(ch.id, pt is not None)]

    def _release(self, ch: TrunkChannel, cause: str = "") -> list[Action]:
        """The dialog is over: its leg closes, its port is free (rule 3)."""
        self._dialogs.pop(ch.dialog, None)
        self._keys.pop(ch.id, None)
        self.switch.unlisten(ch.id, self._media_event)
        actions: list[Action] = []
        if cause and ch.inbound and not ch.answered:  # we end the dialog ourselves
            actions.append(SipReject(ch.dialog, status_of(cause)))
        elif cause:
            actions.append(SipHangup(ch.dialog))
        if ch.port is not None:
            self.switch.ports.free(ch.port)
            ch.port = None
            actions.append(MediaClose(ch.id))
        return actions

    def _local(self, ch: TrunkChannel, codecs: tuple[str, ...], dtmf_pt: int | None) -> MediaDesc:
        assert ch.port is not None
        return MediaDesc(media_address(self.site.server), ch.port, codecs, PTIME_MS, dtmf_pt)


def _dtmf_pt(remote: MediaDesc) -> int | None:
    """The far end's telephone-event type, if the engine can use it (dynamic, 96-127)."""
    pt = remote.dtmf_pt
    return pt if pt is not None and 96 <= pt <= 127 else None
