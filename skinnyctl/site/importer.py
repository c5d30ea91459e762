"""``skinnyctl import``: a site.toml from the configuration of the system users leave.

Two sources are read, in their documented formats:

- chan-sccp's ``sccp.conf`` (Asterisk config syntax: ``[general]``; sections with
  ``type = device`` named ``SEP<MAC>``, ``type = line``, ``type = softkeyset``; templates
  ``[name](!)`` and inheritance ``[SEP...](tmpl)``; repeated ``button = line, NAME`` /
  ``speeddial, Label, EXT[, hint]`` / ``service, Label, URL`` / ``feature, Label, TYPE`` /
  ``empty``), see chan-sccp ``conf/sccp*.conf`` and its annotated config;
- FreeSWITCH mod_skinny: profiles (``<profile><settings><param name= value=>``,
  ``<soft-key-set-sets>``, ``<device-types>``) and directory users
  (``<user id="SEP..."><skinny><buttons><button position type label value caller-name
  ring-on-idle ... />``), see mod_skinny's wiki page (the seed) and ``skinny_server.c``.

Everything is gathered in a :class:`Draft`, then written as a commented site.toml (tomlkit)
whose header lists, with ``file:line``, every setting that could not be carried over and why.
The result is validated with the loader before it is written: an import never leaves a file
``check`` refuses.
"""

from __future__ import annotations

import ipaddress
import re
import xml.parsers.expat
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import Table

from skinnyctl.errors import UserError
from skinnyctl.site import catalog
from skinnyctl.site.atomic import write_text_atomic
from skinnyctl.site.loader import SiteError, normalize_mac, parse_site
from skinnyctl.site.model import SEED_SOFTKEY_SET, SOFTKEY_NAMES, SOFTKEY_SET_NAMES, Line

_NUMBER = re.compile(r"^[0-9*#+]{1,24}$")
_FEATURES = {  # chan-sccp feature types and mod_skinny button types -> our features
    "dnd": "dnd",
    "donotdisturb": "dnd",
    "cfwdall": "forward_all",
    "forwardall": "forward_all",
    "park": "park",
    "parkinglot": "park",
    "callpark": "park",
    "pickup": "pickup",
    "callpickup": "pickup",
    "gpickup": "group_pickup",
    "groupcallpickup": "group_pickup",
    "conference": "conference",
    "lastnumberredial": "redial",
    "redial": "redial",
    "voicemail": "voicemail",
    "hold": "hold",
    "transfer": "transfer",
}
# Why common settings have no place in site.toml (the rest: "no equivalent in skinnyctl").
_WHY = {
    "context": "calls are routed by [[dialplan]] rules, not dialplan contexts",
    "dialplan": "calls are routed by [[dialplan]] rules, not dialplan contexts",
    "patterns-dialplan": "dial patterns become [[dialplan]] rules: write them by hand",
    "patterns-context": "dial patterns become [[dialplan]] rules: write them by hand",
    "allow": "codecs are negotiated with each phone",
    "disallow": "codecs are negotiated with each phone",
    "deny": "phones are admitted by MAC, not by address",
    "permit": "phones are admitted by MAC, not by address",
    "tzoffset": "set [server] time_zone instead",
    "firstdigittimeout": "one digit_timeout applies to every digit",
    "musicclass": "[server] music_on_hold is one WAV file for all",
    "hotline_enabled": "unknown phones are listed as discovered: skinnyctl adopt adds them",
    "hotline_context": "unknown phones are listed as discovered: skinnyctl adopt adds them",
    "hotline_extension": "unknown phones are listed as discovered: skinnyctl adopt adds them",
    "keepalive": "keepalive is one setting for all phones, in [server]",
    "odbc-dsn": "skinnyctl keeps its state in files, not a database",
    "cid_num": "the number other phones see is the line's number",
}
_WHY_PREFIX = {"sccp_": "no QoS marking", "audio_": "no QoS marking", "video_": "no video"}
# chan-sccp softkeyset states and keys -> ours.
_SK_STATES = {
    "onhook": "KeySetOnHook",
    "connected": "KeySetConnected",
    "onhold": "KeySetOnHold",
    "ringin": "KeySetRingIn",
    "offhook": "KeySetOffHook",
    "conntrans": "KeySetConnectedWithTransfer",
    "digitsfoll": "KeySetDigitsAfterDialingFirstDigit",
    "connconf": "KeySetConnectedWithConference",
    "ringout": "KeySetRingOut",
    "offhookfeat": "KeySetOffHookWithFeatures",
    "onhint": "KeySetInUseHint",
}
_SK_KEYS = {n.lower(): n for n in SOFTKEY_NAMES} | {
    "conf": "Confrn",
    "back": "Backspace",
    "empty": "",
    "": "",
}


@dataclass
class Draft:
    """What was understood so far; written out by :func:`render`."""

    sources: list[str] = field(default_factory=list)
    server: dict[str, Any] = field(default_factory=dict)
    server_notes: dict[str, str] = field(default_factory=dict)
    lines: dict[str, dict[str, Any]] = field(default_factory=dict)  # number -> fields
    devices: list[dict[str, Any]] = field(default_factory=list)
    softkey_sets: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    _said: dict[tuple[str, str], int] = field(default_factory=dict)

    def drop(self, where: str, what: str, why: str = "", *, key: str = "", group: str = "") -> None:
        """Record a setting not carried over. ``key`` picks the usual reason; with ``group``, the
        same key in many sections is listed once ("and N more")."""
        if group:
            seen = self._said.get((group, key))
            if seen is not None:
                m = re.search(r" \(and (\d+) more\)$", self.dropped[seen])
                n = int(m.group(1)) + 1 if m else 1
                base = self.dropped[seen][: m.start()] if m else self.dropped[seen]
                self.dropped[seen] = f"{base} (and {n} more)"
                return
            self._said[(group, key)] = len(self.dropped)
        reason = (
            why
            or _WHY.get(key)
            or next(
                (w for p, w in _WHY_PREFIX.items() if key.startswith(p)),
                "no equivalent in skinnyctl",
            )
        )
        self.dropped.append(f"{where}: {what}: {reason}")

    def line(self, number: str) -> dict[str, Any]:
        return self.lines.setdefault(number, {})


# -- chan-sccp sccp.conf -------------------------------------------------------------------------


@dataclass
class _Section:
    name: str
    line: int
    templates: list[str]
    is_template: bool
    entries: list[tuple[str, str, int]] = field(default_factory=list)


def _asterisk_sections(text: str, where: str, draft: Draft) -> list[_Section]:
    sections: list[_Section] = []
    in_block = False
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw
        if in_block:  # ;-- block comment --;
            if "--;" not in line:
                continue
            line, in_block = line.split("--;", 1)[1], False
        if ";--" in line:
            line, rest = line.split(";--", 1)
            in_block = "--;" not in rest
        line = re.split(r"(?<!\\);", line, maxsplit=1)[0].replace("\\;", ";").strip()
        if not line:
            continue
        if line.startswith("#"):
            draft.drop(f"{where}:{n}", line, "included files are not followed: import them too")
            continue
        m = re.match(r"^\[([^\]]+)\]\s*(?:\(([^)]*)\))?$", line)
        if m:
            opts = [o.strip() for o in (m.group(2) or "").split(",") if o.strip()]
            name = m.group(1).strip()
            if "+" in opts:  # [name](+): more settings for a section already begun
                old = next((s for s in reversed(sections) if s.name == name), None)
                if old is not None:
                    sections.append(old)  # keep adding to it
                    continue
            sections.append(
                _Section(name, n, [o for o in opts if o not in ("!", "+")], "!" in opts)
            )
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*=>?\s*(.*)$", line)
        if not m or not sections:
            draft.drop(f"{where}:{n}", line, "not a setting of sccp.conf's syntax")
            continue
        sections[-1].entries.append((m.group(1).lower(), m.group(2).strip(), n))
    unique: dict[int, _Section] = {id(s): s for s in sections}
    return list(unique.values())


def _resolved(
    section: _Section, by_name: dict[str, _Section], seen: tuple[str, ...] = ()
) -> list[tuple[str, str, int]]:
    """The section's settings after its templates' (Asterisk copies those first)."""
    out: list[tuple[str, str, int]] = []
    for t in section.templates:
        base = by_name.get(t)
        if base is not None and t not in seen:
            out += _resolved(base, by_name, (*seen, section.name))
    return out + section.entries


def _last(entries: list[tuple[str, str, int]], key: str) -> tuple[str, int] | None:
    found = [(v, n) for k, v, n in entries if k == key]
    return found[-1] if found else None


def from_chan_sccp(text: str, where: str, draft: Draft, default_model: str | None) -> None:
    draft.sources.append(f"{where} (chan-sccp)")
    sections = _asterisk_sections(text, where, draft)
    by_name = {s.name: s for s in sections}
    concrete = [s for s in sections if not s.is_template]
    kinds = {s.name: (_last(_resolved(s, by_name), "type") or ("", 0))[0].lower() for s in concrete}
    line_numbers: dict[str, str] = {}
    for s in concrete:
        if kinds[s.name] == "line":
            number = _sccp_line(s, _resolved(s, by_name), where, draft)
            if number:
                line_numbers[s.name.lower()] = number
    for s in concrete:
        entries = _resolved(s, by_name)
        kind = kinds[s.name]
        if s.name.lower() == "general":
            _sccp_general(entries, where, draft)
        elif kind == "device":
            _sccp_device(s, entries, where, draft, line_numbers, default_model)
        elif kind == "softkeyset":
            _sccp_softkeys(s, entries, where, draft)
        elif kind != "line":
            draft.drop(f"{where}:{s.line}", f"[{s.name}]", "a section with no known type")


def _sccp_general(entries: list[tuple[str, str, int]], where: str, draft: Draft) -> None:
    for key, value, n in entries:
        at = f"{where}:{n}"
        if key == "bindaddr":
            _listen(draft, value, at)
        elif key == "port" and value.isdigit():
            draft.server["sccp_port"] = int(value)
        elif key == "keepalive" and value.isdigit() and 5 <= int(value) <= 3600:
            draft.server["keepalive"] = int(value)
        elif key == "dateformat" and re.fullmatch(r"[DMY]([-/.][DMY]){2}A?", value):
            draft.server["date_format"] = value
        elif key == "digittimeout" and _seconds(value) is not None:
            draft.server["digit_timeout"] = _seconds(value)
        else:
            draft.drop(at, f"[general] {key} = {value}", key=key, group="general")


def _listen(draft: Draft, value: str, at: str) -> None:
    """A bind address: a specific one is where phones reach the call manager."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        draft.drop(at, f"bind address {value}", "not an IP address")
        return
    if not ip.is_unspecified:
        draft.server["listen"] = str(ip)
        draft.server["addresses"] = [str(ip)]
        draft.server_notes["addresses"] = f"the address the old system listened on ({at})"


def _seconds(value: str, scale: float = 1.0) -> float | None:
    try:
        s = float(value) / scale
    except ValueError:
        return None
    return s if 0.5 <= s <= 60 else None


def _sccp_line(
    s: _Section, entries: list[tuple[str, str, int]], where: str, draft: Draft
) -> str | None:
    at = f"{where}:{s.line}"
    cid = _last(entries, "cid_num")
    number = s.name if _NUMBER.match(s.name) else (cid[0] if cid and _NUMBER.match(cid[0]) else "")
    if not number:
        draft.drop(at, f"line [{s.name}]", "neither its name nor cid_num is a dialable number")
        return None
    line = draft.line(number)
    line["_from"] = f"{at} [{s.name}]"
    for key, value, n in entries:
        if key in ("type", "id") or not value:
            continue  # id: chan-sccp's internal index
        if key == "label":
            line["label"] = value
        elif key == "description":
            line["display_name"] = value
        elif key == "cid_name":
            line["caller_name"] = value
        elif key == "cid_num" and value == number:
            continue
        elif key == "cid_num":
            draft.drop(f"{where}:{n}", f"cid_num = {value} of line {number}", key=key)
        elif key == "mailbox":
            line["voicemail_box"] = value.split("@", 1)[0]
        elif key == "incominglimit" and value.isdigit():
            line["busy_trigger"] = int(value)
        elif key == "vmnum":
            draft.server.setdefault("voicemail", value)
            if draft.server["voicemail"] != value:
                draft.drop(f"{where}:{n}", f"vmnum = {value}", "one voicemail number for all")
        else:
            draft.drop(f"{where}:{n}", f"line setting {key} = {value}", key=key, group="line")
    return number


def _model_for(text: str, at: str, draft: Draft, default_model: str | None) -> Any:
    model = catalog.find_model(text) if text else None
    if model is None and default_model:
        model = catalog.find_model(default_model)
        if model is None:
            raise UserError(f"--model {default_model}: not a phone model skinnyctl knows")
        if text:
            draft.drop(at, f"devicetype = {text}", f"unknown model: {model.name} used (--model)")
    return model


def _sccp_device(
    s: _Section,
    entries: list[tuple[str, str, int]],
    where: str,
    draft: Draft,
    line_numbers: dict[str, str],
    default_model: str | None,
) -> None:
    at = f"{where}:{s.line}"
    try:
        mac = normalize_mac(s.name)
    except ValueError:
        draft.drop(at, f"device [{s.name}]", "not a SEP<MAC> device name")
        return
    devicetype = _last(entries, "devicetype") or _last(entries, "device") or ("", s.line)
    model = _model_for(devicetype[0], f"{where}:{devicetype[1]}", draft, default_model)
    if model is None:
        draft.drop(at, f"device [{s.name}]", "no devicetype: give --model to import it")
        return
    dev: dict[str, Any] = {"mac": mac, "model": model.name, "_from": f"{at} [{s.name}]"}
    buttons: list[dict[str, Any]] = []
    modules: list[str] = []
    for key, value, n in entries:
        here = f"{where}:{n}"
        if key in ("type", "devicetype", "device"):
            continue
        if key == "description" and value:
            dev["description"] = value
        elif key == "addon":
            modules.append(value)
        elif key == "imageversion" and value:
            dev["firmware"] = value
        elif key == "softkeyset" and value:
            dev["softkeys"] = value
        elif key == "button":
            button = _sccp_button(value, here, draft, line_numbers)
            if button:
                buttons.append(button)
        else:
            draft.drop(here, f"device setting {key} = {value}", key=key, group="device")
    _finish_device(dev, model, buttons, modules, at, draft)


def _sccp_button(
    value: str, at: str, draft: Draft, line_numbers: dict[str, str]
) -> dict[str, Any] | None:
    parts = [p.strip() for p in value.split(",")]
    kind = parts[0].lower()
    if kind == "line" and len(parts) > 1 and parts[1].lower() != "empty":
        name = re.split(r"[@!#:]", parts[1], maxsplit=1)[0]
        number = line_numbers.get(name.lower())
        if number is None:
            draft.drop(at, f"button = {value}", f"no line [{name}] with a dialable number")
            return None
        if parts[1] != name:
            draft.drop(at, f"button = {value}", "subscriber/label options after the line name")
        return {"type": "line", "line": number}
    if kind in ("empty", "line"):
        draft.drop(at, f"button = {value}", "no empty buttons: the ones after it move up")
        return None
    if kind == "speeddial" and len(parts) >= 3:
        number = parts[2].split("@", 1)[0]
        if _NUMBER.match(number):
            return {"type": "speed_dial", "number": number, "label": parts[1]}
        draft.drop(at, f"button = {value}", "the speed dial's number is not dialable digits")
        return None
    if kind == "service" and len(parts) >= 3 and re.match(r"^https?://", parts[2]):
        return {"type": "service_url", "url": parts[2], "label": parts[1]}
    if kind == "feature" and len(parts) >= 3:
        feature = _FEATURES.get(parts[2].lower())
        if feature:
            if len(parts) > 3:
                draft.drop(
                    at, f"button = {value}", f"the options after {parts[2]} (kept: {feature})"
                )
            return {"type": "feature", "feature": feature, "label": parts[1]}
    draft.drop(at, f"button = {value}", "no such button in skinnyctl")
    return None


def _finish_device(
    dev: dict[str, Any],
    model: catalog.PhoneModel,
    buttons: list[dict[str, Any]],
    modules: list[str],
    at: str,
    draft: Draft,
) -> None:
    """Fit what was read to what the model holds, saying what does not fit."""
    kept: list[str] = []
    for m in modules:
        em = catalog.find_expansion(m)
        if em is None or not model.expansion or len(kept) == catalog.MAX_EXPANSION_MODULES:
            draft.drop(at, f"expansion module {m}", f"a {model.name} cannot take it")
        else:
            kept.append(em.name)
    if kept:
        dev["expansion_modules"] = kept
    capacity = model.buttons + sum(
        e.buttons for e in (catalog.find_expansion(k) for k in kept) if e is not None
    )
    lines_seen = 0
    fitted: list[dict[str, Any]] = []
    for b in buttons:
        if b["type"] == "line":
            lines_seen += 1
            if model.max_lines and lines_seen > model.max_lines:
                draft.drop(at, f"line button {b['line']}", f"a {model.name} carries one line")
                continue
        if len(fitted) == capacity:
            draft.drop(
                at,
                f"{b['type']} button {b.get('line') or b.get('number') or ''}",
                f"a {model.name} has {capacity} buttons",
            )
            continue
        fitted.append(b)
    dev["buttons"] = fitted
    if model.family == "ata":
        dev["provision"] = False
        dev["_note"] = "an ATA is set up by hand (its binary profile cannot be written)"
    draft.devices.append(dev)


def _sccp_softkeys(
    s: _Section, entries: list[tuple[str, str, int]], where: str, draft: Draft
) -> None:
    sets: dict[str, list[str]] = {}
    for key, value, n in entries:
        if key == "type":
            continue
        state = _SK_STATES.get(key)
        if state is None:
            draft.drop(f"{where}:{n}", f"[{s.name}] {key}", "no such key set here")
            continue
        sets[state] = _softkey_list(value, f"{where}:{n}", draft)
    draft.softkey_sets[s.name] = sets


def _softkey_list(value: str, at: str, draft: Draft) -> list[str]:
    """``redial,newcall`` (chan-sccp) or ``SoftkeyRedial,SoftkeyNewcall`` (mod_skinny) in our
    names; a key skinnyctl does not have is left out and said so."""
    keys = []
    for k in value.split(","):
        ours = _SK_KEYS.get(k.strip().lower().removeprefix("softkey"))
        if ours is None:
            draft.drop(at, f"soft key {k.strip()}", "no such soft key here", key=k, group="sk")
        else:
            keys.append(ours)
    return keys[:16]  # a set holds at most 16


# -- FreeSWITCH mod_skinny XML -------------------------------------------------------------------


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[_Node] = field(default_factory=list)

    def iter(self, tag: str) -> list[_Node]:
        found = [self] if self.tag == tag else []
        for c in self.children:
            found += c.iter(tag)
        return found

    def child(self, tag: str) -> _Node | None:
        return next((c for c in self.children if c.tag == tag), None)


def _parse_xml(text: str, where: str) -> _Node:
    """A small tree that keeps line numbers (ElementTree does not)."""
    parser = xml.parsers.expat.ParserCreate()
    root = _Node("", {}, 0)
    stack = [root]

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = _Node(tag, attrs, parser.CurrentLineNumber)
        stack[-1].children.append(node)
        stack.append(node)

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda _tag: stack.pop()
    try:
        parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as e:
        raise UserError(f"{where}:{e.lineno}: not well-formed XML ({e})") from None
    return root


def from_mod_skinny(text: str, where: str, draft: Draft, default_model: str | None) -> None:
    root = _parse_xml(text, where)
    draft.sources.append(f"{where} (FreeSWITCH mod_skinny)")
    for inc in root.iter("X-PRE-PROCESS"):
        draft.drop(
            f"{where}:{inc.line}",
            f"X-PRE-PROCESS {inc.attrs.get('data', '')}",
            "included files are not followed: import them too",
        )
    for profile in root.iter("profile"):
        _fs_profile(profile, where, draft)
    users = [u for u in root.iter("user") if u.child("skinny") is not None]
    others = [u for u in root.iter("user") if u.child("skinny") is None]
    if others:
        draft.drop(
            f"{where}:{others[0].line}",
            f"{len(others)} directory user(s) without a <skinny> section",
            "not Skinny phones",
        )
    for user in users:
        _fs_user(user, where, draft, default_model)


def _fs_profile(profile: _Node, where: str, draft: Draft) -> None:
    settings = profile.child("settings")
    for p in settings.iter("param") if settings else []:
        name, value, at = p.attrs.get("name", ""), p.attrs.get("value", ""), f"{where}:{p.line}"
        if "$${" in value or "${" in value:
            draft.drop(at, f'param {name} = "{value}"', "a FreeSWITCH variable, not a value")
        elif name == "ip":
            if value:
                _listen(draft, value, at)
        elif name == "port" and value.isdigit():
            draft.server["sccp_port"] = int(value)
        elif name == "keep-alive" and value.isdigit() and 5 <= int(value) <= 3600:
            draft.server["keepalive"] = int(value)
        elif name == "date-format" and re.fullmatch(r"[DMY]([-/.][DMY]){2}A?", value):
            draft.server["date_format"] = value
        elif name == "digit-timeout" and _seconds(value, 1000) is not None:
            draft.server["digit_timeout"] = _seconds(value, 1000)
        elif name in ("ext-voicemail", "ext-redial", "ext-autodial"):
            draft.server[name.removeprefix("ext-").replace("-", "_")] = value
        else:
            draft.drop(at, f'param {name} = "{value}"', key=name, group="param")
    for kss in profile.iter("soft-key-set-set"):
        name = kss.attrs.get("name", "")
        sets = {}
        for ks in kss.iter("soft-key-set"):
            state = ks.attrs.get("name", "")
            if state not in SOFTKEY_SET_NAMES:
                draft.drop(f"{where}:{ks.line}", f"soft-key-set {state}", "no such key set")
                continue
            sets[state] = _softkey_list(ks.attrs.get("value", ""), f"{where}:{ks.line}", draft)
        if name == "default" and all(tuple(v) == SEED_SOFTKEY_SET[k] for k, v in sets.items()):
            continue  # mod_skinny's default is skinnyctl's built-in "default" (plus its keys)
        draft.softkey_sets[name] = sets
    for dt in profile.iter("device-type"):
        model = catalog.find_model(dt.attrs.get("id", ""))
        firmware = next(
            (
                p.attrs.get("value", "")
                for p in dt.iter("param")
                if p.attrs.get("name") == "firmware-version"
            ),
            "",
        )
        if model is None or not firmware:
            draft.drop(f"{where}:{dt.line}", f"device-type {dt.attrs.get('id', '')}", "unknown")
        else:
            draft.models.setdefault(model.name, {})["firmware"] = firmware


def _fs_user(user: _Node, where: str, draft: Draft, default_model: str | None) -> None:
    at = f"{where}:{user.line}"
    name = user.attrs.get("id", "")
    try:
        mac = normalize_mac(name)
    except ValueError:
        draft.drop(at, f'user id="{name}"', "not a SEP<MAC> device name")
        return
    model = _model_for("", at, draft, default_model)
    if model is None:
        raise UserError(
            f"{at}: mod_skinny's directory does not say which model {name} is: give --model "
            "(e.g. --model 7961), then correct the model of each phone in the site.toml"
        )
    dev: dict[str, Any] = {"mac": mac, "model": model.name, "_from": f"{at} user {name}"}
    params = user.child("params")
    for p in params.iter("param") if params else []:
        pname, value = p.attrs.get("name", ""), p.attrs.get("value", "")
        if pname == "skinny-firmware-version" and value:
            dev["firmware"] = value
        elif pname == "skinny-soft-key-set-set" and value:
            dev["softkeys"] = value
        else:
            draft.drop(f"{where}:{p.line}", f'user param {pname} = "{value}"', key=pname, group="u")
    skinny = user.child("skinny")
    found = skinny.iter("button") if skinny else []
    ordered = sorted(found, key=lambda b: int(b.attrs.get("position", "0") or 0))
    buttons: list[dict[str, Any]] = []
    expected = 1
    for b in ordered:
        buttons += _fs_button(b, where, draft, expected)
        expected = int(b.attrs.get("position", "0") or 0) + 1
    _finish_device(dev, model, buttons, [], at, draft)


def _fs_button(b: _Node, where: str, draft: Draft, expected: int) -> list[dict[str, Any]]:
    at = f"{where}:{b.line}"
    a = b.attrs
    position = int(a.get("position", "0") or 0)
    if position > expected:
        gap = f" {expected}" if position == expected + 1 else f"s {expected}-{position - 1}"
        draft.drop(at, f"position{gap} left empty", "the buttons after it move up")
    kind, label, value = a.get("type", "").lower(), a.get("label", ""), a.get("value", "")
    if kind == "line":
        if not _NUMBER.match(value):
            draft.drop(at, f'line button value="{value}"', "not a dialable number")
            return []
        line = draft.line(value)
        line.setdefault("_from", f"{at} line {value}")
        _fs_line_fields(line, a, at, draft)
        button: dict[str, Any] = {"type": "line", "line": value}
    elif kind == "speeddial":
        if not _NUMBER.match(value):
            draft.drop(at, f'speed dial value="{value}"', "not dialable digits")
            return []
        button = {"type": "speed_dial", "number": value}
    elif kind == "serviceurl" and re.match(r"^https?://", value):
        button = {"type": "service_url", "url": value}
    elif kind in _FEATURES:
        button = {"type": "feature", "feature": _FEATURES[kind]}
    else:
        draft.drop(at, f'button type="{a.get("type", "")}"', "no such button in skinnyctl")
        return []
    if label:
        button["label"] = label
    return [button]


def _fs_line_fields(line: dict[str, Any], a: dict[str, str], at: str, draft: Draft) -> None:
    """mod_skinny keeps line settings on each button; site.toml on the line (first wins)."""
    if a.get("label"):  # each button keeps its own label; the line's is only a default
        line.setdefault("label", a["label"])
    wanted: dict[str, Any] = {}
    if a.get("caller-name"):
        wanted["caller_name"] = a["caller-name"]
    for attr, key in (("ring-on-idle", "ring_on_idle"), ("ring-on-active", "ring_on_active")):
        if a.get(attr, "") in ("0", "1"):
            wanted[key] = a[attr] == "1"
    if a.get("busy-trigger", "").isdigit():
        wanted["busy_trigger"] = int(a["busy-trigger"])
    for attr, key in (
        ("forward-all", "forward_all"),
        ("forward-busy", "forward_busy"),
        ("forward-noanswer", "forward_no_answer"),
    ):
        if _NUMBER.match(a.get(attr, "")):
            wanted[key] = a[attr]
    if a.get("noanswer-duration", "").isdigit() and int(a["noanswer-duration"]) > 0:
        wanted["no_answer_timeout"] = int(a["noanswer-duration"])
    for key, value in wanted.items():
        if line.setdefault(key, value) != value:
            draft.drop(
                at, f"{key} = {value!r} of line {a.get('value')}", "differs from its first button"
            )


# -- writing -------------------------------------------------------------------------------------

_LINE_KEYS = [f.name for f in fields(Line) if f.name != "number"]


def render(draft: Draft) -> str:
    """The commented site.toml for ``draft``."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment("site.toml written by `skinnyctl import` from:"))
    for s in draft.sources:
        doc.add(tomlkit.comment(f"  {s}"))
    doc.add(tomlkit.comment("Every key is explained in the file `skinnyctl init` writes."))
    doc.add(tomlkit.nl())
    if draft.dropped:
        doc.add(tomlkit.comment("Not carried over (no equivalent here, or not usable as written):"))
        for d in sorted(draft.dropped, key=_position):
            doc.add(tomlkit.comment(f"  {d}"))
    else:
        doc.add(tomlkit.comment("Everything in the sources was carried over."))
    doc.add(tomlkit.nl())
    server = tomlkit.table()
    for key, value in draft.server.items():
        server.add(key, value)
        if key in draft.server_notes:
            server[key].comment(draft.server_notes[key])
    doc.add("server", server)
    if draft.lines:
        lines = tomlkit.aot()
        for number, fields in draft.lines.items():
            t = tomlkit.table()
            t.add(tomlkit.comment(f"from {fields['_from']}"))
            t.add("number", number)
            for key in _LINE_KEYS:
                if key in fields:
                    t.add(key, fields[key])
            lines.append(t)
        doc.add("lines", lines)
    if draft.devices:
        devices = tomlkit.aot()
        for dev in draft.devices:
            t = tomlkit.table()
            t.add(tomlkit.comment(f"from {dev['_from']}"))
            if "_note" in dev:
                t.add(tomlkit.comment(dev["_note"]))
            for key in (
                "mac",
                "model",
                "description",
                "expansion_modules",
                "firmware",
                "softkeys",
                "provision",
            ):
                if key in dev:
                    t.add(key, dev[key])
            if dev["buttons"]:
                buttons = tomlkit.aot()
                for b in dev["buttons"]:
                    bt = tomlkit.table()
                    for k, v in b.items():
                        bt.add(k, v)
                    buttons.append(bt)
                t.add("buttons", buttons)
            devices.append(t)
        doc.add("devices", devices)
    if draft.softkey_sets:
        sets = tomlkit.table(is_super_table=True)
        for name, body in draft.softkey_sets.items():
            st = tomlkit.table()
            for state, keys in body.items():
                st.add(state, keys)
            sets.add(name, st)
        doc.add("softkey_sets", sets)
    if draft.models:
        models = tomlkit.table(is_super_table=True)
        for name, body in draft.models.items():
            mt: Table = tomlkit.table()
            for k, v in body.items():
                mt.add(k, v)
            models.add(name, mt)
        doc.add("models", models)
    return tomlkit.dumps(doc)


def _position(text: str) -> tuple[str, int]:
    m = re.match(r"^(.*?):(\d+)", text)
    return (m.group(1), int(m.group(2))) if m else (text, 0)


def import_sites(
    sources: list[Path],
    out: Path,
    *,
    address: str | None,
    default_model: str | None = None,
    force: bool = False,
) -> Draft:
    """Read ``sources`` (format told by content), write ``out``; returns what was read."""
    if not sources:
        raise UserError("nothing to import: give sccp.conf, or mod_skinny profile/directory XML")
    if out.exists() and not force:
        raise UserError(f"{out} exists; not overwriting it (use --force, or another --out)")
    draft = Draft()
    for path in sources:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise UserError(f"cannot read {path}: {e.strerror}") from None
        if text.lstrip().startswith("<"):
            from_mod_skinny(text, path.name, draft, default_model)
        else:
            from_chan_sccp(text, path.name, draft, default_model)
    _softkeys_exist(draft)
    _addresses(draft, address)
    text = render(draft)
    try:
        parse_site(text, out)
    except SiteError as e:  # a bug here: say what, write nothing
        raise UserError(f"the imported site would not load (please report):\n{e}") from None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out, text)
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}") from None
    return draft


def _softkeys_exist(draft: Draft) -> None:
    for dev in draft.devices:
        name = dev.get("softkeys")
        if name and name != "default" and name not in draft.softkey_sets:
            draft.drop(dev["_from"], f'softkeys = "{name}"', "no such soft key set was imported")
            del dev["softkeys"]


def _addresses(draft: Draft, address: str | None) -> None:
    """Where phones reach this machine: --address, else what the source listened on, else this
    machine's LAN address (as init does)."""
    from skinnyctl.site.init import init_address

    if address is not None or "addresses" not in draft.server:
        chosen, why = init_address(address)
        draft.server["addresses"] = [chosen or "127.0.0.1"]
        draft.server_notes["addresses"] = why
    draft.server = {"addresses": draft.server.pop("addresses"), **draft.server}
