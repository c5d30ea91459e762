"""What the SIP edge and the call core say to each other: plain frozen dataclasses.

The core imports this module only; it never imports the SIP library. Inputs travel from the
edge to the core through the ``on_input`` callback (the core puts them on its queue); commands
travel the other way through :meth:`skinnyctl.sip.edge.SipEdge.apply`, which never blocks on the
network.

Dialog ids are strings: the core chooses them for outgoing calls, the edge for incoming ones
(always starting with ``INCOMING_PREFIX``), so the two never clash. A core-chosen id must not
start with that prefix; ``apply`` refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

INCOMING_PREFIX = "sip-in-"

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
RegState = Literal["registered", "failed", "unregistered"]


@dataclass(frozen=True)
class MediaDesc:
    """One audio stream of an SDP offer or answer, in the words the media engine uses."""

    ip: str
    port: int
    codecs: tuple[str, ...] = ("PCMU",)  # "PCMU", "PCMA", in preference order
    ptime: int = 20  # milliseconds per packet
    dtmf_pt: int | None = 101  # RFC 4733 telephone-event payload type; None = none offered
    direction: Direction = "sendrecv"


# ---- inputs: edge -> core ---------------------------------------------------------------


@dataclass(frozen=True)
class SipIncoming:
    """A new INVITE from an allowed address. The core answers with SipRing, SipProgress,
    SipAnswer or SipReject (404 for an unknown DID)."""

    dialog: str
    trunk: str
    did: str  # the Request-URI user part: the number called
    caller_number: str
    caller_name: str  # P-Asserted-Identity display name, else the From display name
    remote: MediaDesc | None  # None: no SDP offer (late offer) or none we can use
    source: tuple[str, int]  # where the INVITE came from


@dataclass(frozen=True)
class SipRinging:
    """180 or 183 for our INVITE; ``remote`` is set when it carries SDP (early media)."""

    dialog: str
    status: int
    remote: MediaDesc | None


@dataclass(frozen=True)
class SipAnswered:
    dialog: str
    remote: MediaDesc | None


@dataclass(frozen=True)
class SipFailed:
    """Our INVITE ended without a call: the final non-2xx status (after auth retries), 408 on
    timeout, 503 when the request could not be sent."""

    dialog: str
    status: int
    reason: str


@dataclass(frozen=True)
class SipEnded:
    """The far end ended an established or ringing dialog: BYE, or CANCEL of its INVITE."""

    dialog: str
    why: Literal["bye", "cancel", "timeout"]


@dataclass(frozen=True)
class SipUpdated:
    """A far-end re-INVITE (hold, resume, a new media address); the edge already answered it
    with our current local description (direction mirrored)."""

    dialog: str
    remote: MediaDesc | None


@dataclass(frozen=True)
class TrunkState:
    trunk: str
    state: RegState
    status: int = 0  # the SIP status that caused the change (0: none, e.g. no answer)
    reason: str = ""
    expires: int = 0  # seconds the registration holds, when registered


SipInput = SipIncoming | SipRinging | SipAnswered | SipFailed | SipEnded | SipUpdated | TrunkState


# ---- commands: core -> edge -------------------------------------------------------------


@dataclass(frozen=True)
class SipCall:
    """Send an INVITE to ``number`` through ``trunk``, offering ``local``."""

    dialog: str
    trunk: str
    number: str
    caller_number: str
    caller_name: str
    local: MediaDesc


@dataclass(frozen=True)
class SipRing:
    """180 Ringing for an incoming dialog."""

    dialog: str


@dataclass(frozen=True)
class SipProgress:
    """183 Session Progress with our SDP (early media) for an incoming dialog."""

    dialog: str
    local: MediaDesc


@dataclass(frozen=True)
class SipAnswer:
    """200 OK with our SDP for an incoming dialog."""

    dialog: str
    local: MediaDesc


@dataclass(frozen=True)
class SipReject:
    """A final non-2xx answer to an incoming INVITE (404, 486, 480, 603...)."""

    dialog: str
    status: int


@dataclass(frozen=True)
class SipHangup:
    """End a dialog: CANCEL before the answer, BYE after it, either direction."""

    dialog: str


@dataclass(frozen=True)
class SipHold:
    """re-INVITE: ``on`` offers ``local`` as sendonly, off as sendrecv."""

    dialog: str
    on: bool
    local: MediaDesc


SipCommand = SipCall | SipRing | SipProgress | SipAnswer | SipReject | SipHangup | SipHold
