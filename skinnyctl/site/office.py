"""The office features' keys in site.toml (issue 16), checked like the rest of the loader: every
problem with its file:line:column and what to write instead.

- ``[[lines]]``: ``forward_all``, ``forward_busy``, ``forward_no_answer`` (a number that leads
  somewhere: a line, an application, a hunt group, the voicemail number, or a dial plan rule
  that sends it out through a trunk; never the line itself), ``no_answer_timeout`` (5-300 s,
  or 0: never), ``pickup_group`` (a number of its own), ``intercom`` (another line),
  ``auto_answer``.
- ``[[devices]]``: ``dnd`` ("reject" or "silent"), ``auto_answer`` (read by the loader's
  device section; checked there).
- ``[[hunt_groups]]``: number, name, members, strategy, member_timeout, hunt_timeout, final.
- ``[park]``: slots ("701-709" or a list), timeout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from skinnyctl.site.locate import Path as KeyPath
from skinnyctl.site.model import (
    HUNT_STRATEGIES,
    Application,
    ConferenceRoom,
    DialRule,
    HuntGroup,
    Line,
    Park,
    Server,
)

if TYPE_CHECKING:
    from skinnyctl.site.loader import _Reader

_NUMBER_RE = re.compile(r"^[0-9*#+]{1,24}$")
_SLOTS_RE = re.compile(r"^\s*([0-9]{1,24})\s*-\s*([0-9]{1,24})\s*$")
MAX_SLOTS = 100
FORWARD_KEYS = ("forward_all", "forward_busy", "forward_no_answer")
HUNT_KEYS = tuple(f.name for f in fields(HuntGroup))
PARK_KEYS = ("slots", "timeout")


def hunt_groups(r: _Reader, raw: Any, lines: list[Line]) -> list[HuntGroup]:
    from skinnyctl.site.loader import _aot, _did_you_mean, _own_number

    out: list[HuntGroup] = []
    numbers = {ln.number for ln in lines}
    taken = dict.fromkeys(numbers, "a line")
    seen: dict[str, KeyPath] = {}
    d = HuntGroup("", ())
    for path, t in _aot(r, raw, "hunt_groups"):
        r.check_keys(t, path, HUNT_KEYS)
        number = r.get(t, path, "number", str, "", "a number in quotes")
        if not number:
            r.problem(path, "this hunt group has no number", 'add e.g. number = "300"')
            continue
        number = _own_number(r, t, path, taken, seen, "hunt group")
        if number is None:
            continue
        members = r.get_list(t, path, "members", "line numbers") or []
        if not members:
            r.problem(
                (*path, "members") if "members" in t else path,
                f"hunt group {number} has no members",
                'list the lines it rings: members = ["1001", "1002"]',
            )
            continue
        ok = True
        for i, m in enumerate(members):
            if m not in numbers:
                r.problem(
                    (*path, "members", i),
                    f"member {m} of hunt group {number} is not a line",
                    _did_you_mean(m, numbers) + "members are numbers of [[lines]]",
                )
                ok = False
            elif members.index(m) != i:
                r.problem((*path, "members", i), f"{m} is listed twice", "remove one")
                ok = False
        strategy = r.get(t, path, "strategy", str, d.strategy, "a strategy name")
        if strategy not in HUNT_STRATEGIES:
            r.problem(
                (*path, "strategy"),
                f"unknown hunt strategy '{strategy}'",
                _did_you_mean(strategy, HUNT_STRATEGIES) + "one of: " + ", ".join(HUNT_STRATEGIES),
            )
            ok = False
        member_timeout = _seconds(r, t, path, "member_timeout", d.member_timeout, 3, 300)
        if strategy == "ring_all" and "member_timeout" in t:
            r.problem(
                (*path, "member_timeout"),
                'member_timeout has no effect with strategy = "ring_all" (every member rings '
                "until hunt_timeout)",
                "remove it, or choose linear, round_robin or longest_idle",
            )
            ok = False
        hunt_timeout = _seconds(r, t, path, "hunt_timeout", d.hunt_timeout, 5, 3600)
        final = r.get(t, path, "final", str, "", "a number")
        name = r.get(t, path, "name", str, "", "a display name")
        if ok:
            out.append(
                HuntGroup(
                    number=number,
                    members=tuple(members),
                    name=name,
                    strategy=strategy,
                    member_timeout=member_timeout,
                    hunt_timeout=hunt_timeout,
                    final=final,
                )
            )
    return out


def park(r: _Reader, raw: Any) -> Park:
    path: KeyPath = ("park",)
    t = r.table(raw, path)
    r.check_keys(t, path, PARK_KEYS)
    d = Park()
    slots: list[str] = []
    value = _plain(t.get("slots"))
    if isinstance(value, str):
        m = _SLOTS_RE.match(value)
        first, last = (m.group(1), m.group(2)) if m else ("", "")
        if not m or len(first) != len(last) or int(first) > int(last):
            r.problem(
                (*path, "slots"),
                f'slots = "{value}" is not a range of numbers',
                'write the first and last slot, of as many digits: slots = "701-709"',
            )
        elif int(last) - int(first) + 1 > MAX_SLOTS:
            r.problem(
                (*path, "slots"),
                f"{int(last) - int(first) + 1} park slots; at most {MAX_SLOTS}",
                "a smaller range",
            )
        else:
            slots = [str(n).zfill(len(first)) for n in range(int(first), int(last) + 1)]
    elif value is not None:
        listed = r.get_list(t, path, "slots", "slot numbers") or []
        for i, s in enumerate(listed):
            if not _NUMBER_RE.match(s):
                r.problem((*path, "slots", i), f"'{s}' is not a number", "use 1 to 24 digits")
            elif s in slots:
                r.problem((*path, "slots", i), f"slot {s} is listed twice", "remove one")
            else:
                slots.append(s)
    timeout = r.get(t, path, "timeout", (int, float), d.timeout, "a number of seconds")
    if timeout != 0 and not 10 <= timeout <= 3600:
        r.problem(
            (*path, "timeout"),
            f"timeout = {timeout} is out of range",
            "write 0 (never ring the parker back) or a number of seconds from 10 to 3600",
        )
        timeout = d.timeout
    if "timeout" in t and "slots" not in t:
        r.problem(
            (*path, "timeout"),
            "[park] timeout has no effect without slots",
            'add slots = "701-709"',
        )
    return Park(slots=tuple(slots), timeout=float(timeout))


def check(
    r: _Reader,
    doc: Any,
    server: Server,
    lines: list[Line],
    applications: list[Application],
    groups: list[HuntGroup],
    parking: Park,
    dialplan: list[DialRule],
    rooms: list[ConferenceRoom],
) -> None:
    """What links the keys above to the rest: targets that lead somewhere, numbers that do
    not clash."""
    line_numbers = {ln.number for ln in lines}
    apps = {a.number for a in applications} | {c.number for c in rooms}  # rooms: [[conferences]]
    group_numbers = {g.number for g in groups}
    local = line_numbers | apps | group_numbers | {server.voicemail}

    def leads_somewhere(number: str) -> bool:
        return number in local or _trunk_rule(dialplan, number)

    for i, slot in enumerate(parking.slots):
        if slot in line_numbers | apps | group_numbers:
            r.problem(
                ("park", "slots", i) if _is_list(doc, "park", "slots") else ("park", "slots"),
                f"park slot {slot} is already a line, an application, a room or a hunt group",
                "choose slots no other number uses",
            )
    raw_groups = doc.get("hunt_groups")
    for i, t in enumerate(raw_groups if isinstance(raw_groups, list) else []):
        g = next(
            (g for g in groups if isinstance(t, dict) and g.number == _plain(t.get("number"))), None
        )
        if g is None:
            continue  # refused already
        if g.number in apps or g.number in parking.slots:
            r.problem(
                ("hunt_groups", i, "number"),
                f"hunt group {g.number} is also an application, a meet-me room or a park slot",
                "give it a number of its own",
            )
        if g.final and (g.final == g.number or not leads_somewhere(g.final)):
            r.problem(
                ("hunt_groups", i, "final"),
                f'final = "{g.final}" '
                + ("is the group itself" if g.final == g.number else "leads nowhere"),
                "a line, the voicemail number, another hunt group or a number a trunk rule "
                "of [[dialplan]] takes",
            )
    raw_lines = doc.get("lines")
    if not isinstance(raw_lines, list):
        return
    for i, t in enumerate(raw_lines):
        if not isinstance(t, dict):
            continue
        path: KeyPath = ("lines", i)
        number = _plain(t.get("number"))
        number = str(number) if number is not None else ""
        for key in FORWARD_KEYS:
            target = _plain(t.get(key, ""))
            if not isinstance(target, str) or not target:
                continue
            if target == number:
                r.problem((*path, key), f"{key} forwards line {number} to itself", "remove it")
            elif not (_NUMBER_RE.match(target) or target == server.voicemail):
                r.problem(
                    (*path, key),
                    f'{key} = "{target}" is not a number',
                    "use 1 to 24 digits, * # + (or the voicemail number)",
                )
            elif not leads_somewhere(target):
                r.problem(
                    (*path, key),
                    f'{key} = "{target}" leads nowhere: no line, application or hunt group '
                    "has that number and no trunk rule of [[dialplan]] takes it",
                    _near(target, local),
                )
        timeout = _plain(t.get("no_answer_timeout", Line.no_answer_timeout))
        if isinstance(timeout, int | float) and not isinstance(timeout, bool):
            if timeout != 0 and not 5 <= timeout <= 300:
                r.problem(
                    (*path, "no_answer_timeout"),
                    f"no_answer_timeout = {timeout} is out of range",
                    "write 0 (calls are never forwarded on no answer) or 5 to 300 seconds",
                )
            elif timeout == 0 and _plain(t.get("forward_no_answer", "")):
                r.problem(
                    (*path, "no_answer_timeout"),
                    "forward_no_answer has no effect with no_answer_timeout = 0",
                    "write the seconds of ringing before the call is forwarded, e.g. 20",
                )
        group = _plain(t.get("pickup_group", ""))
        if isinstance(group, str) and group:
            if not _NUMBER_RE.match(group):
                r.problem(
                    (*path, "pickup_group"),
                    f'pickup_group = "{group}" is not a number',
                    "a group is a number users dial after GPickUp: 1 to 24 digits",
                )
            elif group in line_numbers:
                r.problem(
                    (*path, "pickup_group"),
                    f"pickup group {group} is also a line number",
                    "GPickUp then the number would be ambiguous: choose one no line uses",
                )
        intercom = _plain(t.get("intercom", ""))
        bad = intercom == number or intercom not in line_numbers
        if isinstance(intercom, str) and intercom and bad:
            r.problem(
                (*path, "intercom"),
                f'intercom = "{intercom}" is '
                + ("the line itself" if intercom == number else "not a line"),
                "an intercom line dials another line of [[lines]]",
            )


def _trunk_rule(dialplan: list[DialRule], number: str) -> bool:
    """Whether the dial plan sends ``number`` out through a trunk (its first matching rule, as
    ``calls.routing.Dialplan`` decides; the loader checked the patterns)."""
    for rule in dialplan:
        try:
            if re.search(rule.pattern, number):
                return rule.action == "trunk"
        except re.error:
            continue
    return False


def _seconds(
    r: _Reader, t: dict[str, Any], path: KeyPath, key: str, default: float, low: int, high: int
) -> float:
    value = r.get(t, path, key, (int, float), default, "a number of seconds")
    if not low <= value <= high:
        r.problem(
            (*path, key),
            f"{key} = {value} is out of range",
            f"write a number of seconds from {low} to {high}",
        )
        return default
    return float(value)


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


def _is_list(doc: Any, table: str, key: str) -> bool:
    t = doc.get(table)
    return isinstance(t, dict) and isinstance(_plain(t.get(key)), list)


def _near(target: str, numbers: Iterable[str]) -> str:
    from skinnyctl.site.loader import _did_you_mean

    return _did_you_mean(target, numbers) + "check the number, or add it to [[lines]]"
