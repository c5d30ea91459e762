"""Channels: the ends of a call, whatever is behind them (a phone line, a trunk, our own code).

A :class:`Channel` is one end of one call, owned by an *endpoint* (the SCCP phones, an
application, later a SIP trunk). The switch (``calls.switch``) joins channels into calls and
speaks to them in a small, protocol-free vocabulary; each endpoint turns it into its own
protocol and turns its protocol back into switch calls. No message of any protocol appears
here or in the switch.

Switch -> channel (:class:`Ind`, through ``Endpoint.indicate``)::

    ALERTING  your far end rings               PROGRESS  your far end sends early media
    ANSWER    your far end answered            HOLD      your far end holds you (music)
    RESUME    your far end took you back       DTMF      a digit from your far end (arg)
    UPDATE    your far end is now another party (transfer, pick-up): show it
    HANGUP    the call is over for you, or failed (arg: the cause, ``calls.causes``)

Channel -> switch (methods of ``Switch``): ``dial(ch, number)``, ``alerting(ch)``,
``progress(ch)`` (early media), ``answer(ch)``, ``hold(ch)``, ``resume(ch)``, ``dtmf(ch,
digit)``, ``hangup(ch, cause, reason)``, ``transfer(x, y)``, ``media_changed(ch)``. Offering a
call to an endpoint is ``Endpoint.offer`` (may refuse with a cause) then ``Endpoint.start``
(ring, or answer at once).

This is FreeSWITCH's core/endpoint split and Asterisk's channel/bridge split reduced to what a
small office needs: an endpoint never sees another endpoint's protocol, so a phone, a trunk and
voicemail are interchangeable ends of the same call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from .events import Action
    from .routing import Route
    from .switch import Call


class Kind(Enum):
    PHONE = "phone"  # a line of SCCP phones (endpoints/sccp)
    APP = "app"  # our own code: echo test, music, ... (apps/)
    TRUNK = "trunk"  # the outside world (SIP)


class Ind(Enum):
    ALERTING = "alerting"
    PROGRESS = "progress"
    ANSWER = "answer"
    HOLD = "hold"
    RESUME = "resume"
    DTMF = "dtmf"
    UPDATE = "update"
    HANGUP = "hangup"


class ChState(Enum):
    DOWN = "down"  # an originating end collecting what to dial
    RINGING = "ringing"  # offered, not answered
    UP = "up"  # in a call that was answered (or calling out)
    GONE = "gone"


@dataclass(frozen=True)
class Party:
    """Who an end is, for the other end's display and the call records."""

    number: str
    name: str


@dataclass(frozen=True)
class Refused:
    """An endpoint cannot take an offered call."""

    cause: str
    reason: str


class Endpoint(Protocol):
    """What the switch needs of an endpoint. Every method runs on the core thread and returns
    the actions its side needs (phone messages, media actions...)."""

    def offer(self, call: Call, route: Route) -> Channel | Refused:
        """A channel for ``call`` towards ``route`` (no action yet), or why not."""
        ...

    def start(self, ch: Channel) -> list[Action]:
        """Ring (then ``Switch.alerting``) or answer at once (``Switch.answer``)."""
        ...

    def indicate(self, ch: Channel, ind: Ind, arg: Any = None) -> list[Action]:
        """Tell the end behind ``ch`` what its far end did."""
        ...


class Channel:
    """One end of a call. Endpoints subclass it with what their protocol needs."""

    kind: ClassVar[Kind]

    def __init__(self, channel_id: int, endpoint: Endpoint, number: str, name: str) -> None:
        self.id = channel_id
        self.endpoint = endpoint
        self.number = number  # directory number, application number, external number
        self.name = name
        self.call: Call | None = None
        self.state = ChState.DOWN
        self.holding = False  # it put its far end on hold
        self.held = False  # it was told its far end holds it (it hears music)

    @property
    def media_key(self) -> int | None:
        """The media engine leg carrying this end's audio, if it has one."""
        return None

    @property
    def device(self) -> str:
        """What the records and ``status`` name as this end (a phone's device name...)."""
        return ""

    @property
    def codec(self) -> str:
        """The G.711 law its audio uses ("ulaw" or "alaw")."""
        return "ulaw"

    @property
    def party(self) -> Party:
        return Party(self.number, self.name)

    def record(self) -> dict[str, str]:
        """Fields this end adds to the records of the calls it joins (a trunk: direction,
        trunk, DID, external number); none by default."""
        return {}

    def status(self) -> list[dict[str, Any]]:
        """``status calls`` data: one entry per place the end shows (a phone line: one per
        device plane)."""
        return [
            {
                "device_name": self.device,
                "line_instance": 0,
                "line": self.number,
                "call_reference": self.id,
                "state": self.state.value,
                "digits": "",
                "peer": "",
                "rtp_phone": "",
                "rtp_sends_to": "",
                "relay_port": None,
                "music_on_hold": False,
            }
        ]

    def indicate(self, ind: Ind, arg: Any = None) -> list[Action]:
        return self.endpoint.indicate(self, ind, arg)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id}, {self.number!r}, {self.state.value})"
