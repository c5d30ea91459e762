"""Where a number goes: the site's patterns dialplan, then the number's owner.

:class:`Router` turns a dialled number into a :class:`Route`: a line (its phones), an
application (``[[applications]]``), a meet-me room (``[[conferences]]``), or nothing
(unallocated). Lines come first: an application or a room cannot shadow a directory number
(the loader refuses the clash anyway).

The dialplan (mod_skinny "skinny-patterns") is decided after every digit.

Rules are tried in order against every digit dialled so far; the first whose pattern matches
(``re.search``; rules anchor with ^ and $) decides: ``process`` routes now, ``drop``
refuses (reorder), ``wait`` waits
for more digits for the rule's own timeout, else the site's ``digit_timeout``, else 10 s. With
no matching rule the phone waits ``digit_timeout``. When a wait runs out, what was dialled is
routed (variable-length numbers).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from skinnyctl.site.model import Application, ConferenceRoom, DialAction, DialRule, Line, Site

from .channel import Kind

log = logging.getLogger("skinnyctl.callmanager.dialplan")

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Decision:
    action: DialAction  # "trunk": route now, out through the rule's trunk
    timeout: float = DEFAULT_TIMEOUT  # for "wait"
    rule: str = ""  # the pattern that decided ("" = no rule matched)


class Dialplan:
    def __init__(self, rules: tuple[DialRule, ...], digit_timeout: float | None) -> None:
        self.default = digit_timeout if digit_timeout and digit_timeout > 0 else DEFAULT_TIMEOUT
        self._rules: list[tuple[re.Pattern[str], DialRule]] = []
        for rule in rules:
            try:
                self._rules.append((re.compile(rule.pattern), rule))
            except re.error as e:  # the loader validates; a bad one must not stop calls
                log.error("dialplan pattern %r ignored: %s", rule.pattern, e)

    @classmethod
    def of(cls, site: Site) -> Dialplan:
        return cls(site.dialplan, site.server.digit_timeout)

    def decide(self, digits: str) -> Decision:
        for pattern, rule in self._rules:
            if pattern.search(digits):  # the rules anchor themselves (^...$), as in site.toml
                timeout = rule.timeout if rule.timeout and rule.timeout > 0 else self.default
                return Decision(rule.action, timeout, rule.pattern)
        return Decision("wait", self.default)


@dataclass(frozen=True)
class Route:
    """A number's owner: which kind of endpoint takes the call, and what it is there."""

    kind: Kind
    number: str
    name: str
    line: Line | None = None
    application: Application | None = None
    conference: ConferenceRoom | None = None


class Router:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.dialplan = Dialplan.of(site)

    def resolve(self, number: str) -> Route | None:
        line = self.site.line(number)
        if line is not None:
            return Route(Kind.PHONE, number, line.display_name or number, line=line)
        app = self.site.application(number)
        if app is not None:
            return Route(Kind.APP, number, app.name or app.kind, application=app)
        room = self.site.conference(number)
        if room is not None:
            return Route(Kind.CONFERENCE, number, room.name or "Conference", conference=room)
        return None
