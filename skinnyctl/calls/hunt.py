"""Hunt groups: one number that rings a list of lines (``[[hunt_groups]]``), sans-IO.

Strategies, i.e. the order in which members are tried (CUCM's and CME's names):

- ``ring_all``: every member at once; the first to answer takes the call, the others stop
  ringing (LOSE_RACE).
- ``linear``: the members in the order listed, each for ``member_timeout`` seconds.
- ``round_robin``: like linear, starting with the member after the one who answered the
  group's last call (the first member before any call was answered).
- ``longest_idle``: the member whose line has been idle longest first (its last call ended
  the longest ago; a line that had no call since the server started counts as idle longest,
  in the order listed), then the next longest, each for ``member_timeout``.

Rules:

1. A member that cannot take the call now is skipped at once, without waiting: logged out of
   hunt groups (HLog) on every device of its line, do-not-disturb, already in a call, no
   device registered. The phone endpoint says so by refusing the offer (``Route.hunt`` tells
   it the offer comes from a group).
2. A member that does not answer within ``member_timeout``, or refuses while ringing
   (EndCall), stops ringing and the next one is tried; with ``ring_all`` the others go on.
3. After the last member, when every member of ``ring_all`` is gone, or after
   ``hunt_timeout`` (whichever comes first) the call goes to the group's ``final`` number (a
   line, voicemail, another group); without one it fails with NO_ANSWER.
4. While a group hunts, its members' own forwards do not apply (the group decides where an
   unanswered call goes); once at ``final``, that number's do.
5. The call keeps the group's number as what was dialled; ``redirected_from`` is the group and
   ``redirect_reason`` "hunt", so a member's phone shows whose call it is and voicemail
   (as ``final``) knows it came through the group.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

from skinnyctl.site.model import HuntGroup

from . import causes
from .channel import Channel, Kind, Refused
from .events import Action
from .forward import HUNT, MAX_HOPS
from .routing import Route

if TYPE_CHECKING:
    from .switch import Call, Switch

log = logging.getLogger("skinnyctl.calls")


@dataclass(eq=False)
class Hunting:
    """One call looking for a member of ``group``."""

    group: HuntGroup
    order: list[str]  # members, in the order this call tries them
    next: int = 0  # index in ``order`` of the member to try next
    member_timer: int | None = None
    hunt_timer: int | None = None


class Hunts:
    def __init__(self, switch: Switch) -> None:
        self.switch = switch
        self._last: dict[str, str] = {}  # group number -> member that answered its last call
        self.idle_since: dict[str, float] = {}  # line -> clock.now() when its last call ended

    def start(self, call: Call, route: Route) -> list[Action]:
        group = route.group
        assert group is not None
        sw = self.switch
        if group.number in call.hops or len(call.hops) >= MAX_HOPS:
            return sw._refuse(call, causes.NO_ANSWER, f"hunt group {group.number} loops")
        hunting = Hunting(group, self.order(group))
        call.hunt = hunting
        call.hops.append(group.number)
        call.original_called = call.original_called or group.number
        call.redirected_from = group.number
        call.redirect_reason = HUNT
        hunting.hunt_timer = sw.timers.at(
            sw.clock.now() + group.hunt_timeout, partial(self._hunt_timeout, call, hunting)
        )
        log.info(
            "call %d: hunt group %s (%s): %s",
            call.id,
            group.number,
            group.strategy,
            ", ".join(hunting.order),
        )
        if group.strategy != "ring_all":
            return self._next(call, hunting)
        offered = [ch for ch in (self._take(call, group, m) for m in hunting.order) if ch]
        if not offered:
            return self._final(call, hunting)
        actions: list[Action] = []
        for ch in offered:
            if ch.call is call:  # not already answered by another (auto answer)
                actions += ch.endpoint.start(ch)
        return actions

    def order(self, group: HuntGroup) -> list[str]:
        """The members in the order the group's next call tries them."""
        members = list(group.members)
        if group.strategy == "round_robin":
            last = self._last.get(group.number)
            if last in members:
                i = members.index(last) + 1
                members = members[i:] + members[:i]
        elif group.strategy == "longest_idle":
            members.sort(key=lambda m: self.idle_since.get(m, float("-inf")))  # stable
        return members

    def gone(self, call: Call, refused: Refused) -> list[Action]:
        """Every member offered the call refused it or went (rule 2)."""
        hunting = call.hunt
        assert hunting is not None
        if hunting.group.strategy == "ring_all":
            return self._final(call, hunting)
        self.switch.timers.cancel(hunting.member_timer)
        return self._next(call, hunting)

    def answered(self, call: Call, ch: Channel) -> None:
        hunting = call.hunt
        if hunting is None:
            return
        self.stop(call)
        self._last[hunting.group.number] = ch.number

    def ended(self, call: Call) -> None:
        """``call`` is over: its lines are idle from now (longest_idle)."""
        self.stop(call)
        now = self.switch.clock.now()
        for ch in call.ends():
            if ch.kind is Kind.PHONE:
                self.idle_since[ch.number] = now

    # --- machinery ------------------------------------------------------------------------------

    def _take(self, call: Call, group: HuntGroup, member: str) -> Channel | None:
        route = self.switch.router.resolve(member)
        if route is None or route.kind is not Kind.PHONE:
            log.warning("hunt group %s: member %s is not a line", group.number, member)
            return None
        got = self.switch.take(call, replace(route, hunt=group.number))
        if isinstance(got, Refused):
            log.info("hunt group %s: %s skipped (%s)", group.number, member, got.reason)
            return None
        return got

    def _next(self, call: Call, hunting: Hunting) -> list[Action]:
        sw = self.switch
        while hunting.next < len(hunting.order):
            member = hunting.order[hunting.next]
            hunting.next += 1
            ch = self._take(call, hunting.group, member)
            if ch is None:
                continue  # rule 1
            hunting.member_timer = sw.timers.at(
                sw.clock.now() + hunting.group.member_timeout,
                partial(self._member_timeout, call, hunting, ch),
            )
            return ch.endpoint.start(ch)
        return self._final(call, hunting)

    def _member_timeout(self, call: Call, hunting: Hunting, ch: Channel) -> list[Action]:
        if call.hunt is not hunting or ch not in call.offers:
            return []
        return self.switch.withdraw(call, ch, causes.NO_ANSWER) + self._next(call, hunting)

    def _hunt_timeout(self, call: Call, hunting: Hunting) -> list[Action]:
        if call.hunt is not hunting or call.b is not None:
            return []
        return self._final(call, hunting)

    def _final(self, call: Call, hunting: Hunting) -> list[Action]:
        """Rule 3: nobody took it."""
        sw = self.switch
        self.stop(call)
        actions: list[Action] = []
        for ch in list(call.offers):
            actions += sw.withdraw(call, ch, causes.NO_ANSWER)
        group = hunting.group
        if group.final:
            return actions + sw.forward(call, group.number, group.final, HUNT)
        why = f"nobody in hunt group {group.number} answered"
        return actions + sw._refuse(call, causes.NO_ANSWER, why)

    def stop(self, call: Call) -> None:
        """``call`` hunts no more (answered, ended, sent elsewhere)."""
        hunting, call.hunt = call.hunt, None
        if hunting is not None:
            self.switch.timers.cancel(hunting.member_timer)
            self.switch.timers.cancel(hunting.hunt_timer)
