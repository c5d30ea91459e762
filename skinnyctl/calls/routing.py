"""Where a number goes: the site's patterns dialplan, then the number's owner.

:class:`Router` is the one place that says where a number goes. ``resolve`` turns a dialled
number into a :class:`Route`, in this order:

1. an emergency number (``[server] emergency``): out through the first trunk, whatever the
   dial plan says (it is not even asked);
2. a dial plan rule with ``action = "trunk"`` matching the whole number: out through the
   rule's trunk, ``strip`` leading digits removed and ``prefix`` put in front;
3. a line (its phones), then an application (``[[applications]]``): an application cannot
   shadow a directory number (the loader refuses the clash anyway);
4. nothing (unallocated).

``inbound`` turns a number the outside world called (a DID of ``[[inbound]]``) into the route
of its target; the dial plan and the trunks are not consulted (a DID never goes out again).

The dialplan (mod_skinny "skinny-patterns") is decided after every digit.

Rules are tried in order against every digit dialled so far; the first whose pattern matches
(``re.search``; rules anchor with ^ and $) decides: ``process`` and ``trunk`` route now,
``drop`` refuses (reorder), ``wait`` waits
for more digits for the rule's own timeout, else the site's ``digit_timeout``, else 10 s. With
no matching rule the phone waits ``digit_timeout``. When a wait runs out, what was dialled is
routed (variable-length numbers). An emergency number routes at once, before any rule, and
what can still become one (its first digits) waits for more whatever the rules say.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from skinnyctl.site.model import Application, DialAction, DialRule, Line, Site, Trunk

from .channel import Kind

log = logging.getLogger("skinnyctl.callmanager.dialplan")

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Decision:
    action: DialAction  # "trunk": route now, out through the rule's trunk
    timeout: float = DEFAULT_TIMEOUT  # for "wait"
    rule: str = ""  # the pattern that decided ("" = no rule matched, "emergency")
    dial_rule: DialRule | None = None  # the rule itself (a trunk rule's trunk, strip, prefix)


EMERGENCY = "emergency"  # Decision.rule of an emergency number


class Dialplan:
    def __init__(
        self,
        rules: tuple[DialRule, ...],
        digit_timeout: float | None,
        emergency: tuple[str, ...] = (),
    ) -> None:
        self.default = digit_timeout if digit_timeout and digit_timeout > 0 else DEFAULT_TIMEOUT
        self.emergency = frozenset(emergency)
        # what can still become an emergency number: no rule may drop or route it early
        self._emergency_prefixes = frozenset(n[:i] for n in emergency for i in range(1, len(n)))
        self._rules: list[tuple[re.Pattern[str], DialRule]] = []
        for rule in rules:
            try:
                self._rules.append((re.compile(rule.pattern), rule))
            except re.error as e:  # the loader validates; a bad one must not stop calls
                log.error("dialplan pattern %r ignored: %s", rule.pattern, e)

    @classmethod
    def of(cls, site: Site) -> Dialplan:
        return cls(site.dialplan, site.server.digit_timeout, site.server.emergency)

    def decide(self, digits: str) -> Decision:
        if digits in self.emergency:
            return Decision("trunk", rule=EMERGENCY)  # whatever the rules would say
        if digits in self._emergency_prefixes:
            return Decision("wait", self.default, EMERGENCY)
        for pattern, rule in self._rules:
            if pattern.search(digits):  # the rules anchor themselves (^...$), as in site.toml
                timeout = rule.timeout if rule.timeout and rule.timeout > 0 else self.default
                return Decision(rule.action, timeout, rule.pattern, rule)
        return Decision("wait", self.default)


@dataclass(frozen=True)
class Route:
    """A number's owner: which kind of endpoint takes the call, and what it is there."""

    kind: Kind
    number: str
    name: str
    line: Line | None = None
    application: Application | None = None
    trunk: Trunk | None = None  # Kind.TRUNK: the trunk; ``number`` is what goes out


class Router:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.dialplan = Dialplan.of(site)
        self._inbound = {i.did: i.target for i in site.inbound}

    def resolve(self, number: str) -> Route | None:
        decision = self.dialplan.decide(number)
        if decision.action == "trunk":
            return self._out(number, decision)
        return self._local(number)

    def inbound(self, did: str) -> Route | None:
        """Where a call from outside to ``did`` goes (``[[inbound]]``), or None: not ours."""
        target = self._inbound.get(did)
        return self._local(target) if target is not None else None

    def _out(self, number: str, decision: Decision) -> Route | None:
        rule = decision.dial_rule
        if rule is None:  # an emergency number: the first trunk (the loader requires one)
            trunk = self.site.trunks[0] if self.site.trunks else None
            out = number
        else:
            trunk = self.site.trunk(rule.trunk)
            out = rule.prefix + number[rule.strip :]
        if trunk is None or not out:
            log.error("%s: no trunk to route it out through (%s)", number, decision.rule)
            return None
        return Route(Kind.TRUNK, out, out, trunk=trunk)

    def _local(self, number: str) -> Route | None:
        line = self.site.line(number)
        if line is not None:
            return Route(Kind.PHONE, number, line.display_name or number, line=line)
        app = self.site.application(number)
        if app is not None:
            return Route(Kind.APP, number, app.name or app.kind, application=app)
        return None
