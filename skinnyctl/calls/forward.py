"""Call forwarding per line: where a line's calls go instead of ringing its phones.

A line forwards *all* its calls (``forward_all``), or those it cannot take (``forward_busy``:
every device refuses with USER_BUSY or CALL_REJECTED: busy_trigger reached, do-not-disturb,
EndCall while ringing), or those nobody answers within ``no_answer_timeout`` seconds
(``forward_no_answer``; also at once when no device of the line is registered, as a call to
an unplugged phone goes to voicemail). site.toml gives each line's forwards; users change them
at run time (CFwdAll/CFwdBusy/CFwdNoAnswer on a phone, ``skinnyctl forward``) and those win
(``calls.userstate``).

The switch asks :class:`Forwards` at the three moments (``Switch._offer``, ``_refused``, the
no-answer timer) and sends the call on itself (``Switch.forward``). Loops are cut, not
followed: a forward to a number the call already went through (A -> B -> A), to the caller, or
beyond ``MAX_HOPS`` is ignored, so the last line reached rings (or fails) as if it had no
forward.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from skinnyctl.site.model import Site

from . import causes
from .userstate import FORWARD_KINDS, ForwardKind, UserState

log = logging.getLogger("skinnyctl.calls")

MAX_HOPS = 8  # redirections of one call (forwards, hunt groups, park reversion)

# Why a call reached where it rings, as Call.redirect_reason and the records say it (voicemail
# reads "busy" for the busy greeting, else the unavailable one)
FORWARD_ALL = "forward_all"
FORWARD_BUSY = "busy"
FORWARD_NO_ANSWER = "no_answer"
DIVERT = "divert"  # iDivert: sent to voicemail by the called user
HUNT = "hunt"
PICKUP = "pickup"
PARK = "park"
PARK_REVERSION = "park_reversion"

# CallInfo's redirect reason codes (Q.931 redirecting reason, as CUCM sends them)
REDIRECT_CODES = {
    FORWARD_BUSY: 1,
    FORWARD_NO_ANSWER: 2,
    DIVERT: 4,
    PICKUP: 5,
    PARK: 7,
    PARK_REVERSION: 11,
    FORWARD_ALL: 15,
}

# Refusals a forward_busy takes over (the caller would hear busy)
BUSY_REFUSALS = frozenset({causes.USER_BUSY, causes.CALL_REJECTED})


@dataclass(frozen=True)
class Forwarding:
    """A line's forwards as they apply now; ``changed``: those set at run time."""

    all: str = ""
    busy: str = ""
    no_answer: str = ""
    timeout: float = 0.0  # seconds of ringing before ``no_answer`` applies
    changed: frozenset[str] = frozenset()

    def target(self, kind: ForwardKind) -> str:
        return str(getattr(self, kind))

    def to_dict(self) -> dict[str, object]:
        return {
            "forward_all": self.all,
            "forward_busy": self.busy,
            "forward_no_answer": self.no_answer,
            "no_answer_timeout": self.timeout,
            "set_at_run_time": sorted(self.changed),
        }


class Forwards:
    def __init__(self, site: Site, state: UserState) -> None:
        self.site = site
        self.state = state

    def of(self, number: str) -> Forwarding:
        line = self.site.line(number)
        if line is None:
            return Forwarding()
        mine = self.state.forwards.get(number, {})
        return Forwarding(
            all=mine.get("all", line.forward_all),
            busy=mine.get("busy", line.forward_busy),
            no_answer=mine.get("no_answer", line.forward_no_answer),
            timeout=line.no_answer_timeout,
            changed=frozenset(mine),
        )

    def set(self, number: str, kind: ForwardKind, target: str | None) -> None:
        """Forward ``number``'s calls of ``kind`` to ``target`` ("" = off); None: back to what
        site.toml says."""
        assert kind in FORWARD_KINDS
        mine = self.state.forwards.setdefault(number, {})
        if target is None:
            mine.pop(kind, None)
        else:
            mine[kind] = target
        if not mine:
            del self.state.forwards[number]
        shown = "as site.toml says" if target is None else (target or "off")
        log.info("line %s: forward %s %s", number, kind, shown)

    def follow(self, number: str, target: str, hops: list[str], caller: str) -> bool:
        """Whether a forward of ``number`` to ``target`` may be followed (not a loop)."""
        if not target:
            return False
        if target in (number, caller) or target in hops or len(hops) >= MAX_HOPS:
            log.info("forward of %s to %s not followed: it would loop (%s)", number, target, hops)
            return False
        return True
