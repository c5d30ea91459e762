"""Load ``site.toml`` (tomlkit) into a :class:`Site`, reporting every problem a user can fix.

Rules:
- Every problem is collected, none stops the others from being found; the caller gets a
  :class:`SiteError` listing all of them, each with ``file:line:column``, what is wrong and what
  to write instead.
- Unknown keys are errors (a misspelt key silently ignored is the worst kind of bug in a phone
  system), with the nearest known key as the hint.
- Defaults live in the dataclasses of :mod:`skinnyctl.site.model`, not here.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeGuard

import tomlkit
import tomlkit.exceptions

from skinnyctl.site import catalog, timezones, vendorconfig
from skinnyctl.site.files import (
    MOH_LIMIT,
    UNIX_PATH_MAX,
    FileRefused,
    kind,
    site_text,
)
from skinnyctl.site.locate import Locations
from skinnyctl.site.locate import Path as KeyPath
from skinnyctl.site.model import (
    APPLICATION_KINDS,
    DEFAULT_SOFTKEY_SET,
    SOFTKEY_NAMES,
    SOFTKEY_SET_NAMES,
    TRUNK_CODECS,
    Application,
    Button,
    Device,
    Dhcp,
    DhcpFlavour,
    DialRule,
    Inbound,
    Line,
    ModelSettings,
    Server,
    Site,
    Smtp,
    Trunk,
    Voicemail,
    VoicemailBox,
)

_MAC_RE = re.compile(r"^[0-9A-F]{12}$")
_NUMBER_RE = re.compile(r"^[0-9*#+]{1,24}$")
BUTTON_KINDS = ("line", "speed_dial", "service_url", "feature")
FEATURES = (
    "dnd",
    "forward_all",
    "park",
    "pickup",
    "group_pickup",
    "conference",
    "redial",
    "voicemail",
    "hold",
    "transfer",
)
DHCP_FLAVOURS = ("isc", "dnsmasq", "kea", "udhcpd")
# Names other systems use for our keys, for "did you mean" hints.
KEY_ALIASES = {
    "gateway": "router",
    "routers": "router",
    "dns_servers": "dns",
    "nameservers": "dns",
    "pool": "range",
    "option150": "tftp_servers",
    "tftp_server": "tftp_servers",
    "timezone": "time_zone",
    "tz": "time_zone",
    "name": "display_name",
    "extension": "number",
    "dn": "number",
    "type": "model",
    "address": "addresses",
    "callmanagers": "addresses",
    "port": "sccp_port",
}


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=0.6)
    return f"did you mean '{lower[close[0]]}'? " if close else ""


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    column: int
    message: str
    hint: str = ""

    def __str__(self) -> str:
        # Line 0 means the whole file (missing, unreadable): no position to show.
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        text = f"{where}: {self.message}"
        if self.hint:
            text += f"\n    {self.hint}"
        return text


class SiteError(Exception):
    """site.toml cannot be used; ``problems`` says everything that is wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def normalize_mac(text: str) -> str:
    """``00:11:20:aa:bb:cc``, ``0011.20aa.bbcc``, ``001120AABBCC``, ``SEP001120AABBCC`` ->
    ``001120AABBCC``. Raises ValueError with a readable reason otherwise."""
    t = text.strip().upper()
    if t.startswith("SEP"):
        t = t[3:]
    t = re.sub(r"[:.\-\s]", "", t)
    if not _MAC_RE.match(t):
        raise ValueError(
            f"{text!r} is not a MAC address: expected 12 hex digits such as "
            "00:11:20:aa:bb:cc, 0011.20aa.bbcc or SEP001120AABBCC"
        )
    return t


class _Reader:
    """Walks the parsed document, converting values and collecting problems."""

    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self.locations = Locations(text)
        self.problems: list[Problem] = []

    def problem(self, path: KeyPath, message: str, hint: str = "", key: bool = False) -> None:
        line, col = self.locations.of_key(path) if key else self.locations.of(path)
        self.problems.append(Problem(self.filename, line, col, message, hint))

    def table(self, value: Any, path: KeyPath) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"'{_dotted(path)}' must be a table", "write it as [section]")
            return {}
        return value

    def check_keys(self, tbl: dict[str, Any], path: KeyPath, allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        for key in tbl:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                if KEY_ALIASES.get(key) in allowed:
                    close = [KEY_ALIASES[key]]
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else "known keys: " + ", ".join(sorted(allowed))
                )
                self.problem((*path, key), f"unknown key '{key}' in {_where(path)}", hint, True)

    def get(
        self,
        tbl: dict[str, Any],
        path: KeyPath,
        key: str,
        kind: type | tuple[type, ...],
        default: Any,
        what: str,
    ) -> Any:
        if key not in tbl:
            return default
        value = _plain(tbl[key])
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            self.problem(
                (*path, key),
                f"'{key}' must be {what}, not {_describe(value)}",
                f"for example: {key} = {_example(kinds)}",
            )
            return default
        return value

    def get_list(self, tbl: dict[str, Any], path: KeyPath, key: str, what: str) -> list[str] | None:
        """A list of strings; a single string is accepted as a one-element list."""
        if key not in tbl:
            return None
        value = _plain(tbl[key])
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(
                (*path, key),
                f"'{key}' must be a list of {what}",
                f'for example: {key} = ["..."]',
            )
            return None
        return value


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


def _dotted(path: KeyPath) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _where(path: KeyPath) -> str:
    if not path:
        return "the top level"
    if isinstance(path[-1], int):
        return f"{path[-2]} entry {path[-1] + 1}"
    return f"[{_dotted(path)}]"


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f'a string ("{value}")'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _example(kinds: tuple[type, ...]) -> str:
    if str in kinds:
        return '"..."'
    if bool in kinds:
        return "true"
    if float in kinds:
        return "10"
    if int in kinds:
        return "30"
    return "..."


def _server(r: _Reader, raw: Any) -> Server:
    path: KeyPath = ("server",)
    t = r.table(raw, path)
    known = [f.name for f in fields(Server) if f.name != "cisco_time_zone"]
    r.check_keys(t, path, known)
    d = Server()
    addresses = r.get_list(t, path, "addresses", "IP addresses or host names")
    if addresses is not None:
        if not addresses:
            r.problem(
                (*path, "addresses"),
                "'addresses' lists no call manager",
                'write at least one, e.g. addresses = ["192.168.1.10"]',
            )
        for i, a in enumerate(addresses):
            if not _host_ok(a):
                r.problem(
                    (*path, "addresses", i),
                    f"'{a}' is not an IP address or host name",
                    'write e.g. "192.168.1.10"',
                )
    listen = r.get(t, path, "listen", str, d.listen, "an IP address")
    if listen and not _ip_ok(listen):
        r.problem(
            (*path, "listen"),
            f"'{listen}' is not an IP address",
            'write "0.0.0.0" for all interfaces or one of the box\'s addresses',
        )

    def port(key: str, default: int) -> int:
        v: int = r.get(t, path, key, int, default, "a port number")
        if not 1 <= v <= 65535:
            r.problem(
                (*path, key),
                f"'{key}' = {v} is not a port number",
                "write a number from 1 to 65535",
            )
            return default
        return v

    sccp_port = port("sccp_port", d.sccp_port)
    tftp_port = port("tftp_port", d.tftp_port)
    rtp_min = port("rtp_port_min", d.rtp_port_min)
    rtp_max = port("rtp_port_max", d.rtp_port_max)
    if rtp_max - rtp_min < 3:
        r.problem(
            (*path, "rtp_port_max"),
            "the RTP port range holds fewer than 4 ports",
            "make rtp_port_max larger than rtp_port_min by at least 4 per call",
        )
    keepalive = r.get(t, path, "keepalive", int, d.keepalive, "a number of seconds")
    if not 5 <= keepalive <= 3600:
        r.problem(
            (*path, "keepalive"),
            f"keepalive = {keepalive} is out of range",
            "write a number of seconds from 5 to 3600 (30 is usual)",
        )
        keepalive = d.keepalive
    date_format = r.get(t, path, "date_format", str, d.date_format, "a date template")
    if not re.fullmatch(r"[DMY]([-/.][DMY]){2}A?", date_format):
        r.problem(
            (*path, "date_format"),
            f"'{date_format}' is not a Cisco date template",
            'write one of "D/M/Y", "M/D/Y", "Y/M/D", "D.M.Y", "M/D/YA" (A = 12-hour)',
        )
        date_format = d.date_format
    tz = r.get(t, path, "time_zone", str, d.time_zone, "a time zone name")
    cisco_tz = timezones.to_cisco(tz)
    if cisco_tz is None:
        near = timezones.suggest(tz)
        r.problem(
            (*path, "time_zone"),
            f"unknown time zone '{tz}'",
            ("nearest names: " + ", ".join(near))
            if near
            else 'write an IANA name such as "Europe/Paris" or a Cisco name',
        )
        cisco_tz = d.cisco_time_zone
    digit_timeout = r.get(
        t, path, "digit_timeout", (int, float), d.digit_timeout, "a number of seconds"
    )
    if not 0.5 <= digit_timeout <= 60:
        r.problem(
            (*path, "digit_timeout"),
            f"digit_timeout = {digit_timeout} is out of range",
            "write a number of seconds from 0.5 to 60 (10 is usual)",
        )
        digit_timeout = d.digit_timeout
    off_hook_timeout = _seconds_or_off(r, t, path, "off_hook_timeout", d.off_hook_timeout, 5, 300)
    hold_reversion = _seconds_or_off(r, t, path, "hold_reversion", d.hold_reversion, 5, 3600)
    transfer_on_hook = r.get(t, path, "transfer_on_hook", bool, d.transfer_on_hook, "true or false")
    media = r.get(t, path, "media", str, d.media, '"relay" or "direct"')
    if media not in ("relay", "direct"):
        r.problem(
            (*path, "media"),
            f"media = '{media}' is not a media mode",
            'write "relay" (audio through this box) or "direct" (phone to phone)',
        )
        media = d.media

    def path_value(key: str, default: str, what: str) -> str:
        value: str = r.get(t, path, key, str, default, what)
        if "\x00" in value:  # the system refuses such a path, too late and unreadably
            r.problem((*path, key), f"'{key}' contains a NUL character", "remove it")
            return default
        return value

    moh = path_value("music_on_hold", "", "a path to a WAV file")
    templates = path_value("templates_dir", "", "a directory path")
    control = path_value("control_socket", "", "a path")
    tftp_root = path_value("tftp_root", str(d.tftp_root), "a directory path")
    control_tcp = r.get(t, path, "control_tcp_port", int, 0, "a port number (0 = off)")
    if not 0 <= control_tcp <= 65535:
        r.problem(
            (*path, "control_tcp_port"),
            f"control_tcp_port = {control_tcp} is not a port number",
            "write 0 (Unix socket only) or a port from 1 to 65535",
        )
        control_tcp = 0
    control_token = r.get(t, path, "control_token", str, "", "a string")
    max_connections = r.get(
        t, path, "max_connections", int, d.max_connections, "a number of connections"
    )
    if not (max_connections == 0 or 16 <= max_connections <= 1_000_000):
        r.problem(
            (*path, "max_connections"),
            f"max_connections = {max_connections} is out of range",
            "write 0 (sized from the open-file limit) or a number from 16 to 1000000",
        )
        max_connections = d.max_connections
    if control_tcp and len(control_token) < 16:
        r.problem(
            (*path, "control_token" if "control_token" in t else "control_tcp_port"),
            "control_tcp_port needs a control_token of at least 16 characters",
            'add e.g. control_token = "' + "<output of: openssl rand -hex 16>" + '"',
        )
    strings = {
        k: r.get(t, path, k, str, getattr(d, k), "a string")
        for k in (
            "user_locale",
            "network_locale",
            "voicemail",
            "redial",
            "autodial",
            "services_url",
            "directory_url",
            "idle_url",
            "information_url",
            "authentication_url",
        )
    }
    return Server(
        addresses=tuple(addresses) if addresses else d.addresses,
        listen=listen,
        sccp_port=sccp_port,
        tftp_root=Path(tftp_root),
        tftp_port=tftp_port,
        keepalive=keepalive,
        date_format=date_format,
        time_zone=tz,
        cisco_time_zone=cisco_tz,
        digit_timeout=float(digit_timeout),
        off_hook_timeout=off_hook_timeout,
        hold_reversion=hold_reversion,
        transfer_on_hook=transfer_on_hook,
        music_on_hold=Path(moh) if moh else None,
        media=media,
        rtp_port_min=rtp_min,
        rtp_port_max=rtp_max,
        templates_dir=Path(templates) if templates else None,
        control_socket=Path(control) if control else None,
        control_tcp_port=control_tcp,
        control_token=control_token,
        max_connections=max_connections,
        **strings,
    )


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _host_ok(text: str) -> bool:
    return _ip_ok(text) or bool(
        re.fullmatch(
            r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
            r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*",
            text,
        )
    )


def _seconds_or_off(
    r: _Reader, t: dict[str, Any], path: KeyPath, key: str, default: float, low: int, high: int
) -> float:
    """A number of seconds from ``low`` to ``high``, or 0 to turn the timer off."""
    value = r.get(t, path, key, (int, float), default, "a number of seconds")
    if value != 0 and not low <= value <= high:
        r.problem(
            (*path, key),
            f"{key} = {value} is out of range",
            f"write 0 (off) or a number of seconds from {low} to {high}",
        )
        return default
    return float(value)


def _aot(r: _Reader, raw: Any, name: str) -> list[tuple[KeyPath, dict[str, Any]]]:
    """An array of tables as (path, table) pairs."""
    if raw is None:
        return []
    value = raw
    if not isinstance(value, list):
        r.problem(
            (name,),
            f"'{name}' must be a list of tables",
            f"write each entry as a [[{name}]] section",
        )
        return []
    out: list[tuple[KeyPath, dict[str, Any]]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            r.problem(
                (name, i),
                f"entry {i + 1} of '{name}' must be a table",
                f"write it as a [[{name}]] section",
            )
            continue
        out.append(((name, i), item))
    return out


def _lines(r: _Reader, raw: Any) -> list[Line]:
    lines: list[Line] = []
    seen: dict[str, KeyPath] = {}
    known = [f.name for f in fields(Line)]
    for path, t in _aot(r, raw, "lines"):
        r.check_keys(t, path, known)
        if "number" not in t:
            r.problem(path, "this line has no number", 'add: number = "1001"')
            continue
        number = _plain(t["number"])
        if isinstance(number, int) and not isinstance(number, bool):
            r.problem(
                (*path, "number"),
                f"number = {number} must be a string",
                f'write number = "{number}" (quotes keep leading zeros)',
            )
            number = str(number)
        if not isinstance(number, str) or not _NUMBER_RE.match(number):
            r.problem(
                (*path, "number"),
                f"'{number}' is not a directory number",
                "use 1 to 24 digits, * # or +",
            )
            continue
        if number in seen:
            r.problem(
                (*path, "number"),
                f"line {number} is defined twice",
                f"the first is at line {r.locations.of(seen[number])[0]}; remove one",
            )
            continue
        seen[number] = (*path, "number")
        kw: dict[str, Any] = {}
        for f in fields(Line):
            if f.name == "number" or f.name not in t:
                continue
            default = f.default
            kind: type | tuple[type, ...] = type(default)
            if kind is float:
                kind = (int, float)
            kw[f.name] = r.get(t, path, f.name, kind, default, _kind_words(default))
        lines.append(Line(number=number, **kw))
    return lines


def _kind_words(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int | float):
        return "a number"
    return "a string"


def _buttons(
    r: _Reader, dpath: KeyPath, raw: Any, lines: dict[str, Line]
) -> list[tuple[int, Button]]:
    """The valid buttons, each with its index in the file (for positions)."""
    out: list[tuple[int, Button]] = []
    if raw is None:
        return out
    if not isinstance(raw, list):
        r.problem(
            (*dpath, "buttons"),
            "'buttons' must be a list of tables",
            "write each button as a [[devices.buttons]] section",
        )
        return out
    for i, b in enumerate(raw):
        path = (*dpath, "buttons", i)
        if not isinstance(b, dict):
            r.problem(path, f"button {i + 1} must be a table", '{ type = "line", line = "1001" }')
            continue
        r.check_keys(b, path, ["type", "label", "line", "number", "url", "feature"])
        kind = r.get(b, path, "type", str, "", "a button type")
        label = r.get(b, path, "label", str, "", "a string")
        if kind not in BUTTON_KINDS:
            near = difflib.get_close_matches(kind, BUTTON_KINDS, n=1)
            r.problem(
                (*path, "type") if "type" in b else path,
                f"button {i + 1} has {'type ' + repr(kind) if kind else 'no type'}",
                f"did you mean '{near[0]}'?"
                if near
                else "type is one of: " + ", ".join(BUTTON_KINDS),
            )
            continue
        if kind == "line":
            number = r.get(b, path, "line", (str, int), "", "a directory number")
            number = str(number)
            if not number:
                r.problem(path, f"line button {i + 1} names no line", 'add: line = "1001"')
                continue
            if number not in lines:
                near = difflib.get_close_matches(number, list(lines), n=3)
                r.problem(
                    (*path, "line"),
                    f"button {i + 1} names line {number}, which no [[lines]] entry defines",
                    (f"did you mean {' or '.join(near)}? " if near else "")
                    + (
                        "defined lines: " + ", ".join(lines)
                        if lines
                        else f'add a [[lines]] section with number = "{number}"'
                    ),
                )
                continue
            out.append(
                (
                    i,
                    Button(
                        "line",
                        label=label or lines[number].label or lines[number].display_name or number,
                        line=number,
                    ),
                )
            )
        elif kind == "speed_dial":
            number = str(r.get(b, path, "number", (str, int), "", "a number to dial"))
            if not number or not _NUMBER_RE.match(number):
                r.problem(
                    (*path, "number") if "number" in b else path,
                    f"speed dial {i + 1} needs a number to dial",
                    'add: number = "1002" (digits, * # +)',
                )
                continue
            out.append((i, Button("speed_dial", label=label or number, number=number)))
        elif kind == "service_url":
            url = r.get(b, path, "url", str, "", "a URL")
            if not re.match(r"^https?://", url):
                r.problem(
                    (*path, "url") if "url" in b else path,
                    f"service URL button {i + 1} needs an http:// or https:// URL",
                    'add: url = "http://192.168.1.10/services.xml"',
                )
                continue
            out.append((i, Button("service_url", label=label or "Services", url=url)))
        else:
            feature = r.get(b, path, "feature", str, "", "a feature name")
            if feature not in FEATURES:
                r.problem(
                    (*path, "feature") if "feature" in b else path,
                    f"feature button {i + 1} has unknown feature '{feature}'",
                    "feature is one of: " + ", ".join(FEATURES),
                )
                continue
            # no label: the phone shows the feature's own title ("Do Not Disturb")
            out.append((i, Button("feature", label=label, feature=feature)))
    return out


def _devices(r: _Reader, raw: Any, lines: list[Line], sets: Iterable[str]) -> list[Device]:
    devices: list[Device] = []
    seen: dict[str, KeyPath] = {}
    by_number = {ln.number: ln for ln in lines}
    known = [
        "mac",
        "model",
        "description",
        "buttons",
        "expansion_modules",
        "firmware",
        "softkeys",
        "ip",
        "vendor_config",
        "provision",
    ]
    sets = list(sets)
    for path, t in _aot(r, raw, "devices"):
        r.check_keys(t, path, known)
        mac_text = r.get(t, path, "mac", str, "", "a MAC address")
        mac = ""
        if not mac_text:
            if "mac" not in t:
                r.problem(
                    path,
                    "this device has no MAC address",
                    'add: mac = "00:11:20:aa:bb:cc" (from the label under the phone)',
                )
        else:
            try:
                mac = normalize_mac(mac_text)
            except ValueError as e:
                r.problem((*path, "mac"), str(e))
        if mac and mac in seen:
            r.problem(
                (*path, "mac"),
                f"MAC {mac} is used by two devices",
                f"the first is at line {r.locations.of(seen[mac])[0]}; "
                "each phone needs its own entry",
            )
            mac = ""
        elif mac:
            seen[mac] = (*path, "mac")
        model_text = str(r.get(t, path, "model", (str, int), "", "a model name"))
        model = catalog.find_model(model_text) if model_text else None
        if model is None:
            names = list(catalog.PHONE_MODELS)
            near = difflib.get_close_matches(model_text.upper(), names, n=3, cutoff=0.5)
            r.problem(
                (*path, "model") if "model" in t else path,
                f"unknown phone model '{model_text}'" if model_text else "this device has no model",
                (f"did you mean {' or '.join(near)}? " if near else "")
                + "known models: "
                + ", ".join(names),
            )
        modules = []
        for i, m in enumerate(r.get_list(t, path, "expansion_modules", "module names") or []):
            em = catalog.find_expansion(m)
            if em is None:
                r.problem(
                    (*path, "expansion_modules", i),
                    f"unknown expansion module '{m}'",
                    "known modules: " + ", ".join(catalog.EXPANSION_MODULES),
                )
            else:
                modules.append(em)
        if model and modules and not model.expansion:
            r.problem(
                (*path, "expansion_modules"),
                f"a {model.name} takes no expansion module",
                "remove expansion_modules, or use a 7960/7961/7962/7965/797x",
            )
            modules = []
        if len(modules) > catalog.MAX_EXPANSION_MODULES:
            r.problem(
                (*path, "expansion_modules"),
                f"{len(modules)} expansion modules; a phone takes at most "
                f"{catalog.MAX_EXPANSION_MODULES}",
                "remove the extra ones",
            )
        softkeys = r.get(t, path, "softkeys", str, "default", "a softkey set name")
        if softkeys not in sets:
            r.problem(
                (*path, "softkeys"),
                f"softkey set '{softkeys}' is not defined",
                "defined sets: " + ", ".join(sets),
            )
        ip = r.get(t, path, "ip", str, "", "an IP address")
        if ip and not _ip_ok(ip):
            r.problem((*path, "ip"), f"'{ip}' is not an IP address", 'write e.g. "192.168.1.21"')
        indexed = _buttons(r, path, t.get("buttons"), by_number)
        buttons = [b for _, b in indexed]
        if model:
            capacity = model.buttons + sum(e.buttons for e in modules)
            line_at = [i for i, b in indexed if b.kind == "line"]
            if model.max_lines and len(line_at) > model.max_lines:
                # Reported instead of the capacity problem: on a one-line phone it is the cause.
                r.problem(
                    (*path, "buttons", line_at[model.max_lines]),
                    f"{len(line_at)} line buttons but a {model.name} carries "
                    f"{model.max_lines} line",
                    f"keep {model.max_lines} line button; put other numbers on speed dials",
                )
            elif len(buttons) > capacity:
                r.problem(
                    (*path, "buttons", indexed[capacity][0]),
                    f"{len(buttons)} buttons but a {model.name}"
                    + (" with its modules" if modules else "")
                    + f" has {capacity}; this is the first that does not fit",
                    "remove buttons"
                    + (
                        ' or add an expansion module (expansion_modules = ["7914"])'
                        if model.expansion and len(modules) < catalog.MAX_EXPANSION_MODULES
                        else ""
                    ),
                )
        vendor = _vendor_config(r, t.get("vendor_config"), (*path, "vendor_config"), model)
        provision = r.get(t, path, "provision", bool, True, "true or false")
        if model and model.family == "ata" and provision:
            _refuse_ata(r, (*path, "model"), model)
        if mac and model:
            devices.append(
                Device(
                    mac=mac,
                    model=model,
                    description=r.get(t, path, "description", str, "", "a string"),
                    buttons=tuple(buttons),
                    expansion_modules=tuple(modules),
                    firmware=r.get(t, path, "firmware", str, "", "a load name"),
                    softkeys=softkeys,
                    ip=ip,
                    vendor_config=vendor,
                    provision=provision,
                )
            )
    return devices


def _refuse_ata(r: _Reader, path: KeyPath, model: catalog.PhoneModel) -> None:
    """The ATA's SCCP firmware reads a binary profile only Cisco's tool makes (the
    "ATA 186/188" section of docs/provisioning-notes.md): say so rather than write an XML
    file it ignores."""
    r.problem(
        path,
        f"skinnyctl cannot write the configuration a {model.title} reads: its SCCP firmware "
        "loads a binary ata<mac> profile that only Cisco's cfgfmt tool produces",
        "set the ATA up by hand (its web page http://<ata>/dev or voice menu: UseTftp 0, "
        "CA0orCM0 = this machine's address) and add provision = false to this device so it "
        "can register; or use a one-line phone such as a 7911",
    )


def _vendor_config(
    r: _Reader, raw: Any, path: KeyPath, model: catalog.PhoneModel | None
) -> tuple[tuple[str, str], ...]:
    """vendorConfig switches, checked against what ``model``'s family reads
    (:mod:`skinnyctl.site.vendorconfig`). Without a model (its own problem is reported) the
    switches cannot be judged and are dropped."""
    t = r.table(raw, path)
    if model is None:
        return ()
    known = vendorconfig.keys_for(model.family)
    out = []
    for k, raw_value in t.items():
        value = _plain(raw_value)
        key = known.get(k)
        if key is None:
            r.problem(
                (*path, k),
                f"unknown vendor_config key '{k}' for a {model.name}",
                _vendor_key_hint(k, model, known),
                key=True,
            )
            continue
        converted = vendorconfig.convert(key, value)
        if converted is None:
            r.problem(
                (*path, k),
                f"vendor_config.{k} = {_toml_value(value)} is not a value of {k}",
                f"{k} takes {key.allowed()}",
            )
            continue
        out.append((k, converted))
    return tuple(out)


def _vendor_key_hint(
    key: str, model: catalog.PhoneModel, known: dict[str, vendorconfig.VendorKey]
) -> str:
    if not known:
        return f"a {model.name} reads no vendorConfig switch skinnyctl knows: remove vendor_config"
    other = vendorconfig.lookup(key)
    if other is not None:
        return f"{key} is read by {', '.join(sorted(other.families))} phones, not by a {model.name}"
    close = _did_you_mean(key, known)
    if close:
        return close.rstrip()
    return f"switches a {model.name} reads: " + ", ".join(sorted(known))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, int | float):
        return str(value)
    return _describe(value)


def _softkey_sets(r: _Reader, raw: Any) -> dict[str, dict[str, tuple[str, ...]]]:
    sets: dict[str, dict[str, tuple[str, ...]]] = {"default": dict(DEFAULT_SOFTKEY_SET)}
    t = r.table(raw, ("softkey_sets",))
    lower = {n.lower(): n for n in SOFTKEY_NAMES}
    for name, body in t.items():
        path = ("softkey_sets", name)
        bt = r.table(body, path)
        r.check_keys(bt, path, SOFTKEY_SET_NAMES)
        result = dict(DEFAULT_SOFTKEY_SET)  # unlisted sets fall back to the default
        for set_name in bt:
            if set_name not in SOFTKEY_SET_NAMES:
                continue
            keys = r.get_list(bt, path, set_name, "softkey names")
            if keys is None:
                continue
            clean = []
            for i, k in enumerate(keys):
                canonical = lower.get(k.lower().removeprefix("softkey"))
                if k and canonical is None:
                    r.problem(
                        (*path, set_name, i),
                        f"unknown softkey '{k}'",
                        _did_you_mean(k, SOFTKEY_NAMES)
                        + "softkeys: "
                        + ", ".join(SOFTKEY_NAMES)
                        + ' ("" = blank)',
                    )
                    continue
                clean.append(canonical or "")
            if len(clean) > 16:
                r.problem(
                    (*path, set_name), f"{set_name} has {len(clean)} keys", "a set holds at most 16"
                )
            result[set_name] = tuple(clean)
        sets[name] = result
    return sets


def _dialplan(r: _Reader, raw: Any) -> list[DialRule]:
    rules = []
    for path, t in _aot(r, raw, "dialplan"):
        r.check_keys(t, path, ["pattern", "action", "timeout", *_DIAL_TRUNK_KEYS])
        pattern = r.get(t, path, "pattern", str, "", "a regular expression")
        if not pattern:
            r.problem(
                path,
                "this dialplan rule has no pattern",
                'add: pattern = "^1[0-9]{3}$" (a regular expression on the digits)',
            )
            continue
        try:
            re.compile(pattern)
        except re.error as e:
            r.problem(
                (*path, "pattern"),
                f"pattern '{pattern}' is not a regular expression: {e}",
                "escape special characters, e.g. ^\\*8[0-9]$",
            )
            continue
        action = r.get(t, path, "action", str, "", '"wait", "process", "drop" or "trunk"')
        if action not in ("wait", "process", "drop", "trunk"):
            r.problem(
                (*path, "action") if "action" in t else path,
                f"dialplan action '{action}' is not known",
                'action is "wait" (more digits), "process" (route now), "drop" or "trunk" '
                "(out through a SIP trunk)",
            )
            continue
        timeout = r.get(t, path, "timeout", (int, float), None, "a number of seconds")
        if timeout is not None and not 0 < timeout <= 60:
            r.problem(
                (*path, "timeout"),
                f"timeout = {timeout} is out of range",
                "write a number of seconds from 0.1 to 60",
            )
            timeout = None
        if timeout is not None and action != "wait":
            r.problem(
                (*path, "timeout"),
                "only a wait rule takes a timeout",
                'remove timeout, or use action = "wait"',
            )
        rules.append(
            DialRule(
                pattern=pattern,
                action=action,
                timeout=float(timeout) if timeout is not None else None,
                **_dial_trunk(r, t, path, action),
            )
        )
    return rules


def _dhcp(r: _Reader, raw: Any) -> Dhcp:
    path: KeyPath = ("dhcp",)
    t = r.table(raw, path)
    r.check_keys(
        t,
        path,
        [
            "servers",
            "subnet",
            "range",
            "router",
            "dns",
            "domain",
            "interface",
            "lease_time",
            "tftp_servers",
            "reservations",
        ],
    )
    d = Dhcp()
    flavours = r.get_list(t, path, "servers", "DHCP server kinds") or []
    for i, f in enumerate(flavours):
        if f not in DHCP_FLAVOURS:
            r.problem(
                (*path, "servers", i),
                f"unknown DHCP server '{f}'",
                "servers are: " + ", ".join(DHCP_FLAVOURS),
            )
    known = [f for f in flavours if _is_flavour(f)]
    subnet = r.get(t, path, "subnet", str, "", "a subnet")
    net = None
    if subnet:
        try:
            net = ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            r.problem(
                (*path, "subnet"), f"'{subnet}' is not a subnet", 'write e.g. "192.168.10.0/24"'
            )
    elif known:
        r.problem(
            path,
            "DHCP configs are asked for but no subnet is given",
            'add: subnet = "192.168.10.0/24"',
        )
    rng = r.get_list(t, path, "range", "two IP addresses") or []
    start = end = ""
    if rng:
        if (
            len(rng) != 2
            or not all(_ip_ok(a) for a in rng)
            or len({ipaddress.ip_address(a).version for a in rng}) != 1
        ):
            r.problem(
                (*path, "range"),
                "range must be two IP addresses",
                'write e.g. range = ["192.168.10.100", "192.168.10.199"]',
            )
        else:
            start, end = rng
            if int(ipaddress.ip_address(start)) > int(ipaddress.ip_address(end)):  # one version
                r.problem(
                    (*path, "range"),
                    f"the range starts at {start}, after its end {end}",
                    f'write the lower address first: range = ["{end}", "{start}"]',
                )
                start = end = ""
            elif net and not all(ipaddress.ip_address(a) in net for a in rng):
                r.problem(
                    (*path, "range"),
                    f"the range is not inside {subnet}",
                    "pick addresses of the subnet",
                )
    router = r.get(t, path, "router", str, "", "an IP address")
    if router and not _ip_ok(router):
        r.problem(
            (*path, "router"), f"'{router}' is not an IP address", 'write e.g. "192.168.10.1"'
        )
    dns = r.get_list(t, path, "dns", "IP addresses") or []
    for i, a in enumerate(dns):
        if not _ip_ok(a):
            r.problem((*path, "dns", i), f"'{a}' is not an IP address", 'write e.g. "1.1.1.1"')
    tftp = r.get_list(t, path, "tftp_servers", "IP addresses") or []
    for i, a in enumerate(tftp):
        if not _ip_ok(a):
            r.problem(
                (*path, "tftp_servers", i),
                f"'{a}' is not an IP address",
                "option 150 carries addresses, not names",
            )
    return Dhcp(
        flavours=tuple(known),
        subnet=str(net) if net else "",
        range_start=start,
        range_end=end,
        router=router,
        dns=tuple(dns),
        domain=r.get(t, path, "domain", str, "", "a domain name"),
        interface=r.get(t, path, "interface", str, "", "an interface name"),
        lease_time=_lease_time(r, t, path, d.lease_time),
        tftp_servers=tuple(tftp),
        reservations=r.get(t, path, "reservations", bool, True, "true or false"),
    )


def _is_flavour(name: str) -> TypeGuard[DhcpFlavour]:
    return name in DHCP_FLAVOURS


def _lease_time(r: _Reader, t: dict[str, Any], path: KeyPath, default: int) -> int:
    value: int = r.get(t, path, "lease_time", int, default, "a number of seconds")
    if not 60 <= value <= 31_536_000:
        r.problem(
            (*path, "lease_time"),
            f"lease_time = {value} is out of range",
            "write a number of seconds from 60 to 31536000 (86400 = one day)",
        )
        return default
    return value


def _models(r: _Reader, raw: Any) -> dict[str, ModelSettings]:
    out: dict[str, ModelSettings] = {}
    t = r.table(raw, ("models",))
    for name, body in t.items():
        path = ("models", name)
        model = catalog.find_model(name)
        if model is None:
            r.problem(
                path,
                f"unknown phone model '{name}' in [models]",
                "known models: " + ", ".join(catalog.PHONE_MODELS),
                key=True,
            )
            continue
        bt = r.table(body, path)
        r.check_keys(bt, path, ["firmware", "vendor_config"])
        out[model.name] = ModelSettings(
            firmware=r.get(bt, path, "firmware", str, "", "a load name"),
            vendor_config=_vendor_config(
                r, bt.get("vendor_config"), (*path, "vendor_config"), model
            ),
        )
    return out


# ---- SIP trunks (issue 18): [[trunks]], [[inbound]], [server] emergency, dial action "trunk",
# per-line external_number. Kept together so the rest of the loader reads as before.

_TRUNK_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_DIAL_TRUNK_KEYS = ("trunk", "strip", "prefix")
_TRUNK_KEYS = [f.name for f in fields(Trunk)]


def _trunk_port(r: _Reader, t: dict[str, Any], path: KeyPath, key: str, default: int) -> int:
    v: int = r.get(t, path, key, int, default, "a port number")
    if not 1 <= v <= 65535:
        r.problem((*path, key), f"'{key}' = {v} is not a port number", "write 1 to 65535")
        return default
    return v


def _trunk_password(
    r: _Reader, t: dict[str, Any], path: KeyPath, base_dir: Path
) -> tuple[str, Path | None]:
    """The password, from the file or the key. Never put the password in a message."""
    password = r.get(t, path, "password", str, "", "a string")
    file_text = r.get(t, path, "password_file", str, "", "a file path")
    if not file_text:
        return password, None
    if "password" in t:
        r.problem(
            (*path, "password_file"),
            "both password and password_file are given",
            "keep one: password_file keeps the secret out of site.toml",
        )
    pf = Path(file_text)
    full = pf if pf.is_absolute() else base_dir / pf
    try:
        secret = full.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        r.problem((*path, "password_file"), f"no such file: {full}", "create it (mode 0600)")
        return "", pf
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        r.problem((*path, "password_file"), f"cannot read {full}: {why}", "check its mode")
        return "", pf
    if not secret:
        r.problem(
            (*path, "password_file"), f"{full} is empty", "write the password on its first line"
        )
    return secret, pf


def _trunk_codecs(r: _Reader, t: dict[str, Any], path: KeyPath) -> tuple[str, ...]:
    codecs = r.get_list(t, path, "codecs", "codec names")
    if codecs is None:
        return TRUNK_CODECS
    out: list[str] = []
    for i, c in enumerate(codecs):
        name = c.upper()
        if name not in TRUNK_CODECS:
            r.problem(
                (*path, "codecs", i),
                f"codec '{c}' is not offered on trunks",
                'codecs are "PCMU" (G.711 µ-law) and "PCMA" (G.711 A-law)',
            )
        elif name in out:
            r.problem((*path, "codecs", i), f"codec '{c}' is listed twice", "remove one")
        else:
            out.append(name)
    if not codecs:
        r.problem((*path, "codecs"), "codecs lists no codec", 'write e.g. ["PCMA", "PCMU"]')
    return tuple(out) or TRUNK_CODECS


def _trunk_allow(r: _Reader, t: dict[str, Any], path: KeyPath) -> tuple[str, ...]:
    allow = r.get_list(t, path, "allow", "addresses or networks") or []
    out = []
    for i, a in enumerate(allow):
        try:
            out.append(str(ipaddress.ip_network(a, strict=False)))
        except ValueError:
            r.problem(
                (*path, "allow", i),
                f"'{a}' is not an address or network",
                'write e.g. "203.0.113.5" or "203.0.113.0/24"',
            )
    return tuple(out)


def _trunk_choice(
    r: _Reader, t: dict[str, Any], path: KeyPath, key: str, choices: dict[str, str], default: str
) -> str:
    value: str = r.get(t, path, key, str, default, " or ".join(f'"{c}"' for c in choices))
    if value not in choices:
        r.problem(
            (*path, key),
            f"{key} = '{value}' is not known",
            _did_you_mean(value, choices)
            + "; ".join(f'"{c}" = {what}' for c, what in choices.items()),
        )
        return default
    return value


def _trunks(r: _Reader, raw: Any, base_dir: Path) -> list[Trunk]:
    trunks: list[Trunk] = []
    seen: dict[str, KeyPath] = {}
    d = Trunk(name="", host="")
    for path, t in _aot(r, raw, "trunks"):
        r.check_keys(t, path, _TRUNK_KEYS)
        name = r.get(t, path, "name", str, "", "a name")
        if not name:
            r.problem(path, "this trunk has no name", 'add: name = "provider"')
            continue
        if not _TRUNK_NAME_RE.match(name):
            r.problem(
                (*path, "name"),
                f"'{name}' is not a trunk name",
                "use up to 32 letters, digits, - and _",
            )
            continue
        if name in seen:
            r.problem(
                (*path, "name"),
                f"trunk '{name}' is defined twice",
                f"the first is at line {r.locations.of(seen[name])[0]}; give each its own name",
            )
            continue
        seen[name] = (*path, "name")
        host = r.get(t, path, "host", str, "", "a host name or IP address")
        if not host:
            r.problem(path, f"trunk '{name}' has no host", 'add: host = "sip.provider.example"')
        elif not _host_ok(host):
            r.problem(
                (*path, "host"),
                f"'{host}' is not an IP address or host name",
                'write the provider\'s proxy, e.g. "sip.provider.example"',
            )
            host = ""
        transport = r.get(t, path, "transport", str, d.transport, '"udp"')
        if transport != "udp":
            r.problem(
                (*path, "transport"),
                f"transport '{transport}' is not supported",
                'write "udp": the SIP stack (sippy) carries trunks over UDP only',
            )
        from_domain = r.get(t, path, "from_domain", str, "", "a domain name")
        if from_domain and not _host_ok(from_domain):
            r.problem(
                (*path, "from_domain"),
                f"'{from_domain}' is not a domain name",
                'write e.g. "provider.example" (the domain your provider gave you)',
            )
        username = r.get(t, path, "username", str, "", "a string")
        password, password_file = _trunk_password(r, t, path, base_dir)
        register = r.get(t, path, "register", bool, d.register, "true or false")
        if register and not (username and (password or password_file)):
            r.problem(
                path,
                f"trunk '{name}' registers but has no "
                + ("username" if not username else "password"),
                "add username and password (or password_file), or register = false for a "
                "provider that knows you by your address",
            )
        expires = r.get(t, path, "register_expires", int, d.register_expires, "a number of seconds")
        if not 60 <= expires <= 86400:
            r.problem(
                (*path, "register_expires"),
                f"register_expires = {expires} is out of range",
                "write a number of seconds from 60 to 86400 (3600 is usual)",
            )
            expires = d.register_expires
        caller_id = r.get(t, path, "caller_id", (str, int), "", "a phone number")
        caller_id = str(caller_id)
        if caller_id and not _NUMBER_RE.match(caller_id):
            r.problem(
                (*path, "caller_id"),
                f"'{caller_id}' is not a phone number",
                'write digits, optionally with a leading +, e.g. "+33123456789"',
            )
        hold = _trunk_choice(
            r,
            t,
            path,
            "hold",
            {"music": "the far end hears our music", "reinvite": "re-INVITE a=sendonly"},
            d.hold,
        )
        dtmf = _trunk_choice(r, t, path, "dtmf", {"rfc4733": "RTP telephone-events"}, d.dtmf)
        ping = r.get(t, path, "ping", int, d.ping, "a number of seconds")
        if ping != 0 and not 10 <= ping <= 3600:
            r.problem(
                (*path, "ping"),
                f"ping = {ping} is out of range",
                "write seconds between OPTIONS pings, 10 to 3600, or 0 for none",
            )
            ping = d.ping
        if host:
            trunks.append(
                Trunk(
                    name=name,
                    host=host,
                    port=_trunk_port(r, t, path, "port", d.port),
                    username=username,
                    password=password,
                    password_file=password_file,
                    from_domain=from_domain,
                    register=register,
                    register_expires=expires,
                    codecs=_trunk_codecs(r, t, path),
                    caller_id=caller_id,
                    allow=_trunk_allow(r, t, path),
                    hold=hold,  # type: ignore[arg-type]
                    dtmf=dtmf,  # type: ignore[arg-type]
                    local_port=_trunk_port(r, t, path, "local_port", d.local_port),
                    ping=ping,
                )
            )
    return trunks


def _inbound(r: _Reader, raw: Any, lines: list[Line]) -> list[Inbound]:
    numbers = [ln.number for ln in lines]
    out: list[Inbound] = []
    seen: dict[str, KeyPath] = {}
    for path, t in _aot(r, raw, "inbound"):
        r.check_keys(t, path, ["did", "target"])
        did = str(r.get(t, path, "did", (str, int), "", "a phone number"))
        target = str(r.get(t, path, "target", (str, int), "", "a line number"))
        if not did or not _NUMBER_RE.match(did):
            r.problem(
                (*path, "did") if "did" in t else path,
                f"'{did}' is not a phone number" if did else "this inbound entry has no did",
                'write the number the provider delivers, e.g. did = "+33123456789"',
            )
            continue
        if did in seen:
            r.problem(
                (*path, "did"),
                f"did {did} is routed twice",
                f"the first is at line {r.locations.of(seen[did])[0]}; remove one",
            )
            continue
        seen[did] = (*path, "did")
        if target not in numbers:
            near = difflib.get_close_matches(target, numbers, n=3)
            r.problem(
                (*path, "target") if "target" in t else path,
                f"target {target} is not a line" if target else "this inbound entry has no target",
                (f"did you mean {' or '.join(near)}? " if near else "")
                + ("defined lines: " + ", ".join(numbers) if numbers else "define [[lines]]"),
            )
            continue
        out.append(Inbound(did=did, target=target))
    return out


def _emergency(r: _Reader, raw_server: Any, trunks: list[Trunk]) -> tuple[str, ...]:
    path: KeyPath = ("server",)
    t = raw_server if isinstance(raw_server, dict) else {}
    numbers = r.get_list(t, path, "emergency", "numbers") or []
    for i, n in enumerate(numbers):
        if not _NUMBER_RE.match(n):
            r.problem((*path, "emergency", i), f"'{n}' is not a number", 'write e.g. "112"')
    if numbers and not trunks:
        r.problem(
            (*path, "emergency"),
            "emergency numbers are given but no [[trunks]] entry can carry them",
            "add a [[trunks]] section (they go out through the first one)",
        )
    return tuple(n for n in numbers if _NUMBER_RE.match(n))


def _dial_trunk(r: _Reader, t: dict[str, Any], path: KeyPath, action: str) -> dict[str, Any]:
    """trunk/strip/prefix of a dial rule; their names are checked against [[trunks]] later."""
    if action != "trunk":
        for key in _DIAL_TRUNK_KEYS:
            if key in t:
                r.problem(
                    (*path, key),
                    f"only a trunk rule takes {key}",
                    f'remove {key}, or use action = "trunk"',
                )
        return {}
    trunk = r.get(t, path, "trunk", str, "", "a trunk name")
    if not trunk:
        r.problem(path, "this trunk rule names no trunk", 'add: trunk = "provider"')
    strip = r.get(t, path, "strip", int, 0, "a number of digits")
    if not 0 <= strip <= 24:
        r.problem(
            (*path, "strip"),
            f"strip = {strip} is out of range",
            "write how many leading digits to remove, 0 to 24 (1 drops an outside-line 9)",
        )
        strip = 0
    prefix = r.get(t, path, "prefix", str, "", "digits")
    if prefix and not _NUMBER_RE.match(prefix):
        r.problem(
            (*path, "prefix"),
            f"prefix '{prefix}' is not digits",
            'write digits, * # or a leading +, e.g. "+33"',
        )
        prefix = ""
    return {"trunk": trunk, "strip": strip, "prefix": prefix}


def _check_trunk_references(r: _Reader, raw_dialplan: Any, trunks: list[Trunk]) -> None:
    names = [tr.name for tr in trunks]
    if not isinstance(raw_dialplan, list):
        return
    for i, t in enumerate(raw_dialplan):
        if not isinstance(t, dict) or _plain(t.get("action")) != "trunk":
            continue
        name = _plain(t.get("trunk"))
        if isinstance(name, str) and name and name not in names:
            r.problem(
                ("dialplan", i, "trunk"),
                f"trunk '{name}' is not defined",
                _did_you_mean(name, names)
                + ("defined trunks: " + ", ".join(names) if names else "add a [[trunks]] section"),
            )


def _check_external_numbers(r: _Reader, raw_lines: Any) -> None:
    if not isinstance(raw_lines, list):
        return
    for i, t in enumerate(raw_lines):
        value = _plain(t.get("external_number")) if isinstance(t, dict) else None
        if isinstance(value, str) and value and not _NUMBER_RE.match(value):
            r.problem(
                ("lines", i, "external_number"),
                f"external_number '{value}' is not a phone number",
                'write digits, optionally with a leading +, e.g. "+33123456789"',
            )


def _trunk_port_checks(r: _Reader, server: Server, raw_trunks: Any) -> None:
    """Our SIP sockets are UDP, like TFTP and RTP: they must not collide."""
    if not isinstance(raw_trunks, list):
        return
    for i, t in enumerate(raw_trunks):
        port = _plain(t.get("local_port", 5060)) if isinstance(t, dict) else None
        if not isinstance(port, int) or isinstance(port, bool):
            continue
        path: KeyPath = ("trunks", i, "local_port") if "local_port" in t else ("trunks", i)
        if server.rtp_port_min <= port <= server.rtp_port_max:
            r.problem(
                path,
                f"local_port {port} lies inside the RTP port range "
                f"{server.rtp_port_min}-{server.rtp_port_max}",
                "both are UDP: pick a port outside the range (5060 is usual)",
            )
        elif port == server.tftp_port:
            r.problem(
                path,
                f"local_port {port} is the TFTP port",
                "both are UDP: pick another port (5060 is usual)",
            )


_DUPLICATE_RE = re.compile(r'Key "(.+)" already exists')
_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY_LINE_RE = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")
_HEADER_LINE_RE = re.compile(r"^\s*(\[\[?)\s*([^\[\]#]+?)\s*\]\]?\s*(#.*)?$")


def _key_name(text: str) -> str:
    return re.sub(r"\s*\.\s*", ".", text.strip()).replace('"', "").replace("'", "")


def _duplicate_position(text: str, key: str) -> tuple[int, int] | None:
    """Where ``key`` is written the second time in the same table (tomlkit does not say)."""
    scope: tuple[str, int] = ("", 0)
    seen_keys: set[tuple[tuple[str, int], str]] = set()
    seen_tables: set[str] = set()
    for i, line in enumerate(text.splitlines()):
        header = _HEADER_LINE_RE.match(line)
        if header:
            name = _key_name(header.group(2))
            if header.group(1) == "[[":
                scope = (name, i + 1)  # every [[x]] starts a new table
                continue
            if name in seen_tables and name.split(".")[-1] == key:
                return i + 1, header.start(1) + 1
            seen_tables.add(name)
            scope = (name, 0)
            continue
        m = _KEY_LINE_RE.match(line)
        if m:
            name = _key_name(m.group(1))
            if (scope, name) in seen_keys and name.split(".")[-1] == key:
                return i + 1, m.start(1) + 1
            seen_keys.add((scope, name))
    return None


def _syntax_problem(text: str, filename: str, e: Exception) -> Problem:
    """One Problem for a document tomlkit refuses, at the place to fix, in plain words."""
    message = re.sub(r" at line \d+ col \d+$", "", str(e))
    hint = "check quotes, brackets and '=' on that line"
    line = getattr(e, "line", 1) or 1
    # tomlkit counts columns from 0; we (and editors) count from 1.
    column = (getattr(e, "col", 0) or 0) + 1
    dup = _DUPLICATE_RE.search(message)
    if dup:
        key = dup.group(1)
        message = f"'{key}' is written twice"
        hint = "a key or [table] may appear once; remove or merge one of them"
        pos = _duplicate_position(text, key)
        if pos:
            line, column = pos
    elif "Control characters" in message and "\\u000a" in message:
        message = "this string is not closed before the end of the line"
        hint = 'close it with the same quote it opens with; use """...""" for several lines'
    elif message.startswith("Unexpected character: '\\n'"):
        message = "the line ends too early"
        hint = "a [table] header needs its closing ], a key needs = and a value"
    return Problem(filename, line, column, f"TOML syntax error: {message}", hint)


def _cross_checks(r: _Reader, doc: Any, server: Server, dhcp: Dhcp) -> None:
    """Rules linking sections: ports that would collide, fixed addresses the DHCP configs
    could not hand out or would hand out twice."""
    if server.rtp_port_min <= server.tftp_port <= server.rtp_port_max:
        r.problem(
            ("server", "tftp_port"),
            f"tftp_port {server.tftp_port} lies inside the RTP port range "
            f"{server.rtp_port_min}-{server.rtp_port_max}",
            "both are UDP: move tftp_port out of the range or shrink the range",
        )
    raw_devices = doc.get("devices")
    if not isinstance(raw_devices, list):
        return
    net = ipaddress.ip_network(dhcp.subnet) if dhcp.subnet else None
    pool = (
        (ipaddress.ip_address(dhcp.range_start), ipaddress.ip_address(dhcp.range_end))
        if dhcp.range_start
        else None
    )
    seen: dict[str, int] = {}
    for i, t in enumerate(raw_devices):
        ip = _plain(t.get("ip")) if isinstance(t, dict) else None
        if not isinstance(ip, str) or not _ip_ok(ip):
            continue
        path: KeyPath = ("devices", i, "ip")
        addr = ipaddress.ip_address(ip)
        if ip in seen:
            r.problem(
                path,
                f"ip {ip} is given to two devices",
                f"the first is at line {seen[ip]}; give each phone its own address",
            )
            continue
        seen[ip] = r.locations.of(path)[0]
        if net is not None and addr not in net:
            r.problem(
                path,
                f"ip {ip} is outside the [dhcp] subnet {dhcp.subnet}",
                "pick an address of the subnet, or remove ip",
            )
        elif (
            pool is not None
            and pool[0].version == addr.version
            and int(pool[0]) <= int(addr) <= int(pool[1])  # one version: int order
        ):
            r.problem(
                path,
                f"ip {ip} lies inside the dynamic range {dhcp.range_start}-{dhcp.range_end}",
                "the DHCP server could hand it to another machine: pick one outside the range",
            )


def _applications(r: _Reader, raw: Any, lines: list[Line]) -> list[Application]:
    """``[[applications]]``: numbers our own code answers (echo test, music)."""
    out: list[Application] = []
    taken = {ln.number for ln in lines}
    seen: dict[str, KeyPath] = {}
    for path, t in _aot(r, raw, "applications"):
        r.check_keys(t, path, [f.name for f in fields(Application)])
        if "number" not in t or "kind" not in t:
            r.problem(
                path,
                "an application needs a number and a kind",
                'add e.g. number = "9196" and kind = "echo"',
            )
            continue
        number = r.get(t, path, "number", str, "", "a number in quotes")
        if not _NUMBER_RE.match(number):
            r.problem(
                (*path, "number"), f"'{number}' is not a number", "use 1 to 24 digits, * # or +"
            )
            continue
        if number in taken:
            r.problem(
                (*path, "number"),
                f"{number} is already a line",
                "give the application a number of its own",
            )
            continue
        if number in seen:
            r.problem(
                (*path, "number"),
                f"application {number} is defined twice",
                f"the first is at line {r.locations.of(seen[number])[0]}; remove one",
            )
            continue
        seen[number] = (*path, "number")
        kind = r.get(t, path, "kind", str, "", "an application kind")
        if kind not in APPLICATION_KINDS:
            r.problem(
                (*path, "kind"),
                f"unknown application kind '{kind}'",
                _did_you_mean(kind, APPLICATION_KINDS) + "known: " + ", ".join(APPLICATION_KINDS),
            )
            continue
        name = r.get(t, path, "name", str, "", "a display name")
        out.append(Application(number, kind, name))
    return out


# --- [voicemail] -------------------------------------------------------------------------------

_BOX_RE = re.compile(r"^[0-9]{1,24}$")
_EMAIL_RE = re.compile(r"^[^@\s<>,;\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")
VOICEMAIL_KEYS = (
    "pin_file",
    "max_messages",
    "max_message_seconds",
    "silence_seconds",
    "min_message_seconds",
    "pin_from_own_phone",
    "prompts_dir",
    "boxes",
    "smtp",
)
SMTP_KEYS = ("host", "port", "starttls", "username", "password", "password_file", "from")


def _voicemail(r: _Reader, raw: Any, raw_lines: Any, base_dir: Path) -> Voicemail:
    """[voicemail], its boxes and smtp relay, and each line's voicemail_box."""
    from skinnyctl.apps.voicemail.pins import hash_problem

    path: KeyPath = ("voicemail",)
    t = r.table(raw, path)
    r.check_keys(t, path, VOICEMAIL_KEYS)
    d = Voicemail()
    line_boxes: set[str] = set()
    if isinstance(raw_lines, list):
        for i, ln in enumerate(raw_lines):
            box = _plain(ln.get("voicemail_box")) if isinstance(ln, dict) else None
            if not isinstance(box, str) or not box:
                continue  # absent, or a wrong type _lines already reported
            if not _BOX_RE.match(box):
                r.problem(
                    ("lines", i, "voicemail_box"),
                    f"voicemail_box '{box}' is not a mailbox number",
                    "a caller types it on a keypad: write 1 to 24 digits 0-9, e.g. the line number",
                )
                continue
            line_boxes.add(box)

    def bounded(key: str, kind: type | tuple[type, ...], lo: float, hi: float, words: str) -> Any:
        default = getattr(d, key)
        value = r.get(t, path, key, kind, default, words)
        if not lo <= value <= hi:
            r.problem((*path, key), f"{key} = {value} is out of range", f"write {words}")
            return default
        return value

    max_messages = bounded("max_messages", int, 1, 10_000, "a number of messages from 1 to 10000")
    max_seconds = bounded(
        "max_message_seconds", int, 5, 3600, "a number of seconds from 5 to 3600 (180 is usual)"
    )
    silence = bounded("silence_seconds", int, 0, 60, "a number of seconds from 0 (never) to 60")
    min_seconds = bounded(
        "min_message_seconds", (int, float), 0, 10, "a number of seconds from 0 to 10 (1 is usual)"
    )
    if min_seconds >= max_seconds:
        r.problem(
            (*path, "min_message_seconds"),
            "min_message_seconds is not below max_message_seconds",
            "every message would be dropped: lower min_message_seconds",
        )
    pin_file = r.get(t, path, "pin_file", str, str(d.pin_file), "a file path")
    prompts_dir = r.get(t, path, "prompts_dir", str, "", "a directory path")
    if prompts_dir and not (base_dir / prompts_dir).is_dir():
        r.problem(
            (*path, "prompts_dir"),
            f"prompts_dir '{prompts_dir}' is not a directory",
            "create it and put WAV files named like the built-in prompts there "
            "(see skinnyctl/apps/voicemail/prompts/), or remove the key",
        )
    boxes: dict[str, VoicemailBox] = {}
    bt = r.table(t.get("boxes"), (*path, "boxes"))
    for box, body in bt.items():
        bpath: KeyPath = (*path, "boxes", box)
        if box not in line_boxes:
            near = difflib.get_close_matches(box, sorted(line_boxes), n=1)
            r.problem(
                bpath,
                f"mailbox {box} is the voicemail_box of no line",
                (f"did you mean {near[0]}? " if near else "")
                + f'add voicemail_box = "{box}" to a [[lines]] entry, or remove this table',
                key=True,
            )
        b = r.table(body, bpath)
        r.check_keys(b, bpath, ("pin", "email"))
        pin = r.get(b, bpath, "pin", str, "", "a PIN hash")
        if pin and (why := hash_problem(pin)):
            r.problem(
                (*bpath, "pin"),
                f"pin of mailbox {box}: {why}",
                f"never write the PIN itself: run `skinnyctl voicemail pin {box}`, "
                "which writes its hash to the pin file",
            )
            pin = ""
        email = r.get(b, bpath, "email", str, "", "an e-mail address")
        if email and not _EMAIL_RE.match(email):
            r.problem(
                (*bpath, "email"),
                f"'{email}' is not an e-mail address",
                'write e.g. email = "alice@example.com"',
            )
            email = ""
        boxes[box] = VoicemailBox(pin=pin, email=email)
    smtp = _smtp(r, t.get("smtp"), (*path, "smtp"), base_dir)
    mailed = [b for b, v in boxes.items() if v.email]
    if mailed and not smtp.host:
        r.problem(
            (*path, "boxes", mailed[0], "email"),
            f"mailbox {mailed[0]} has an email but [voicemail.smtp] names no relay",
            'add [voicemail.smtp] with host = "smtp.example.com" and from = "..."',
        )
    elif mailed and not smtp.sender:
        r.problem(
            (*path, "smtp"),
            "[voicemail.smtp] has no from address",
            'add: from = "voicemail@example.com"',
        )
    _pin_file_problems(r, base_dir / pin_file, line_boxes)
    return Voicemail(
        pin_file=Path(pin_file),
        max_messages=max_messages,
        max_message_seconds=max_seconds,
        silence_seconds=silence,
        min_message_seconds=float(min_seconds),
        pin_from_own_phone=r.get(t, path, "pin_from_own_phone", bool, True, "true or false"),
        prompts_dir=Path(prompts_dir) if prompts_dir else None,
        boxes=boxes,
        smtp=smtp,
    )


def _smtp(r: _Reader, raw: Any, path: KeyPath, base_dir: Path) -> Smtp:
    t = r.table(raw, path)
    r.check_keys(t, path, SMTP_KEYS)
    d = Smtp()
    host = r.get(t, path, "host", str, "", "a host name or IP address")
    if host and not _host_ok(host):
        r.problem((*path, "host"), f"'{host}' is not a host name", 'write e.g. "smtp.example.com"')
    port = r.get(t, path, "port", int, d.port, "a port number")
    if not 1 <= port <= 65535:
        r.problem(
            (*path, "port"),
            f"port = {port} is not a port number",
            "write 587 (submission, with starttls), 25 (relay) or another port 1-65535",
        )
        port = d.port
    sender = r.get(t, path, "from", str, "", "an e-mail address")
    if sender and not _EMAIL_RE.match(sender):
        r.problem(
            (*path, "from"), f"'{sender}' is not an e-mail address", 'write e.g. "pbx@example.com"'
        )
    username = r.get(t, path, "username", str, "", "a user name")
    password = r.get(t, path, "password", str, "", "a password")
    password_file = r.get(t, path, "password_file", str, "", "a file path")
    if password and password_file:
        r.problem(
            (*path, "password"),
            "both password and password_file are given",
            "keep password_file (the secret stays out of site.toml) and remove password",
        )
    elif password_file and not (base_dir / password_file).is_file():
        r.problem(
            (*path, "password_file"),
            f"password_file '{password_file}' is not a readable file",
            "create it holding the password on its first line (chmod 600)",
        )
    elif (password or password_file) and not username:
        r.problem(
            (*path, "password" if password else "password_file"),
            "a password without a username",
            'add: username = "..." (the relay\'s login)',
        )
    elif username and not (password or password_file):
        r.problem(
            (*path, "username"),
            "a username without a password",
            'add: password_file = "smtp-password" (a file holding it, chmod 600)',
        )
    return Smtp(
        host=host,
        port=port,
        starttls=r.get(t, path, "starttls", bool, d.starttls, "true or false"),
        username=username,
        password=password,
        password_file=Path(password_file) if password_file else None,
        sender=sender,
    )


def _pin_file_problems(r: _Reader, pin_file: Path, boxes: set[str]) -> None:
    """The pin file's problems, at their own file:line:column (it exists only once a PIN was
    set from a phone or the CLI)."""
    from skinnyctl.apps.voicemail.pins import hash_problem

    try:
        text = pin_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as e:
        r.problems.append(Problem(str(pin_file), 0, 0, f"cannot read the pin file: {e}"))
        return
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError as e:
        r.problems.append(_syntax_problem(text, str(pin_file), e))
        return
    pr = _Reader(text, str(pin_file))
    for box, value in doc.items():
        value = _plain(value)
        why = hash_problem(value) if isinstance(value, str) else "not a string"
        if why:
            pr.problem(
                (box,),
                f"PIN of mailbox {box}: {why}",
                f"set it again with `skinnyctl voicemail pin {box}`",
            )
        elif box not in boxes:
            pr.problem(
                (box,),
                f"mailbox {box} is the voicemail_box of no line",
                "remove this line, or give a line this voicemail_box",
                key=True,
            )
    r.problems.extend(pr.problems)


TOP_LEVEL = (
    "server",
    "lines",
    "devices",
    "softkey_sets",
    "dialplan",
    "dhcp",
    "models",
    "applications",
    "trunks",
    "inbound",
    "voicemail",
)


def _files(r: _Reader, server: Server, base: Path) -> None:
    """The files and directories [server] names, as serve will meet them: what exists but is
    the wrong kind, what is missing but must exist, what cannot be used at all."""
    key: KeyPath = ("server",)

    def at(*names: str) -> KeyPath:
        return (*key, *names)

    def resolve(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    root = resolve(server.tftp_root)
    if root.exists() and not root.is_dir():
        r.problem(
            at("tftp_root"),
            f"tftp_root {root} is {_kind(root)}, not a directory",
            "point tftp_root at a directory (serve and provision create it when missing)",
        )
    if server.templates_dir is not None:
        templates = resolve(server.templates_dir)
        if not templates.is_dir():
            r.problem(
                at("templates_dir"),
                f"templates_dir {templates} "
                + (f"is {_kind(templates)}" if templates.exists() else "does not exist"),
                f"create it with: skinnyctl templates export {templates}, or remove the key",
            )
    if server.music_on_hold is not None:
        moh = resolve(server.music_on_hold)
        why = _unusable_wav(moh)
        if why:
            r.problem(
                at("music_on_hold"),
                f"music_on_hold {moh} {why}",
                "name a WAV file (convert with: sox IN -r 8000 -c 1 moh.wav), or remove the key",
            )
    sock = resolve(server.control_socket or Path("skinnyctl.sock"))
    if len(os.fsencode(str(sock))) > UNIX_PATH_MAX:
        r.problem(
            at("control_socket"),
            f"the control socket path {sock} is {len(os.fsencode(str(sock)))} bytes; a Unix "
            f"socket path holds at most {UNIX_PATH_MAX}",
            'set a shorter control_socket, e.g. "/run/skinnyctl/control.sock"',
        )


def _kind(p: Path) -> str:
    try:
        return kind(p.stat().st_mode) if not p.is_file() else "a file"
    except OSError:
        return "unreadable"


def _unusable_wav(p: Path) -> str:
    """Why ``p`` cannot be music on hold ("" when it looks like a WAV file)."""
    try:
        st = p.stat()
    except FileNotFoundError:
        return "does not exist"
    except OSError as e:
        return f"cannot be read: {e.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return f"is {kind(st.st_mode)}, not a file"
    if st.st_size > MOH_LIMIT:
        return f"is {st.st_size:,} bytes; at most {MOH_LIMIT:,} are read"
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            head = os.read(fd, 12)
        finally:
            os.close(fd)
    except OSError as e:
        return f"cannot be read: {e.strerror}"
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return "is not a WAV file (no RIFF/WAVE header)"
    return ""


def parse_site(text: str, path: Path | None = None) -> Site:
    """Parse and validate site.toml text. Raises :class:`SiteError` listing every problem."""
    filename = str(path) if path else "site.toml"
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as e:
        raise SiteError([_syntax_problem(text, filename, e)]) from None
    except tomlkit.exceptions.TOMLKitError as e:
        raise SiteError([_syntax_problem(text, filename, e)]) from None
    r = _Reader(text, filename)
    r.check_keys(doc, (), TOP_LEVEL)
    server = _server(r, doc.get("server"))
    lines = _lines(r, doc.get("lines"))
    softkey_sets = _softkey_sets(r, doc.get("softkey_sets"))
    devices = _devices(r, doc.get("devices"), lines, softkey_sets)
    dialplan = _dialplan(r, doc.get("dialplan"))
    dhcp = _dhcp(r, doc.get("dhcp"))
    models = _models(r, doc.get("models"))
    applications = _applications(r, doc.get("applications"), lines)
    base_dir = path.parent if path else Path.cwd()
    trunks = _trunks(r, doc.get("trunks"), base_dir)
    inbound = _inbound(r, doc.get("inbound"), lines)
    server = replace(server, emergency=_emergency(r, doc.get("server"), trunks))
    _check_external_numbers(r, doc.get("lines"))
    _check_trunk_references(r, doc.get("dialplan"), trunks)
    voicemail = _voicemail(
        r, doc.get("voicemail"), doc.get("lines"), path.parent if path else Path.cwd()
    )
    _cross_checks(r, doc, server, dhcp)
    _trunk_port_checks(r, server, doc.get("trunks"))
    if path is not None:
        _files(r, server, path.parent)
    if r.problems:
        r.problems.sort(key=lambda p: (p.line, p.column))
        raise SiteError(r.problems)
    return Site(
        path=path,
        server=server,
        lines=tuple(lines),
        devices=tuple(devices),
        softkey_sets=softkey_sets,
        dialplan=tuple(dialplan),
        dhcp=dhcp,
        models=models,
        applications=tuple(applications),
        trunks=tuple(trunks),
        inbound=tuple(inbound),
        voicemail=voicemail,
    )


def load_site(path: str | Path) -> Site:
    """Read and validate a site file. Raises :class:`SiteError` (with positions) on problems."""
    p = Path(path)
    try:
        text = site_text(p)
    except FileRefused as e:
        raise SiteError(
            [Problem(str(p), 0, 0, f"cannot read: it {e}", "name the site.toml file itself")]
        ) from None
    except FileNotFoundError:
        raise SiteError(
            [Problem(str(p), 0, 0, "no such file", "create one with: skinnyctl init")]
        ) from None
    except UnicodeDecodeError as e:
        raise SiteError(
            [Problem(str(p), 1, 1, f"not UTF-8 text: {e.reason}", "save the file as UTF-8")]
        ) from None
    except OSError as e:
        raise SiteError([Problem(str(p), 0, 0, f"cannot read: {e.strerror}")]) from None
    return parse_site(text, p.resolve())
