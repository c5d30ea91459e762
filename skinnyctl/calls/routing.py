"""The site's patterns dialplan (mod_skinny "skinny-patterns"), decided after every digit.

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
from typing import Literal

from skinnyctl.site.model import DialRule, Site

log = logging.getLogger("skinnyctl.callmanager.dialplan")

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Decision:
    action: Literal["wait", "process", "drop"]
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
