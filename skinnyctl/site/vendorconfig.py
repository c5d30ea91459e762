"""The ``vendorConfig`` switches each phone family reads, with the values each one takes.

A misspelt switch is ignored by the phone without a word, and polarity is not uniform (the
port and access switches are 0 = on, most others 0 = off, the speaker ones take true/false),
so site.toml accepts only the keys below, for the families that read them, with their values.
Sources: provisioning.md §2.7, the peers' per-family templates (chan-sccp
``conf/tftp/SEP0000000000.cnf.xml_*_template`` and its annotated template, sccp_manager's
annotated template, provision_sccp's XMLDefault). A key known to the phones but not listed here
can still be written with a template of one's own (``templates_dir``).

Families (catalog.py): legacy 7940/7960/7910, java 79x1/79x2/79x5/797x/7906/7911/7931, 69xx,
89xx, wireless 792x. The 790x, ATA and IP Communicator read none that we know of.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["choice", "bool", "int", "hhmm", "days", "host", "text", "url"]

PHONES = frozenset({"legacy", "java", "69xx", "89xx"})
_J89 = frozenset({"java", "89xx"})
_W = frozenset({"wireless"})


@dataclass(frozen=True)
class VendorKey:
    name: str
    families: frozenset[str]
    kind: Kind
    choices: tuple[tuple[str, str], ...] = ()  # (value, meaning) for kind "choice"
    low: int = 0  # kind "int"
    high: int = 0
    max_len: int = 64  # kind "text"

    def allowed(self) -> str:
        """The allowed values, in words, for a hint."""
        if self.kind == "choice":
            return ", ".join(f"{v} ({meaning})" for v, meaning in self.choices)
        return {
            "bool": "true or false",
            "int": f"a whole number from {self.low} to {self.high}",
            "hhmm": 'a time "HH:MM", e.g. "07:30"',
            "days": 'days of the week, 1 = Sunday ... 7 = Saturday, e.g. "1,7"',
            "host": 'a host name or IP address, optionally with :port, e.g. "192.168.1.10"',
            "text": f"text of at most {self.max_len} characters",
            "url": 'an http:// or https:// URL, e.g. "http://192.168.1.10/ptt.xml"',
        }[self.kind]


ON_OFF = (("0", "off"), ("1", "on"))
ENABLED_DISABLED = (("0", "enabled"), ("1", "disabled"))  # the port/access polarity


def _k(name: str, families: frozenset[str], kind: Kind, **kw: object) -> VendorKey:
    return VendorKey(name, families, kind, **kw)  # type: ignore[arg-type]


def _c(name: str, families: frozenset[str], *choices: tuple[str, str]) -> VendorKey:
    return VendorKey(name, families, "choice", choices=choices)


KEYS: tuple[VendorKey, ...] = (
    # All desk phones (legacy, Java, 69xx, 89xx); some also on the 792x.
    _k("disableSpeaker", PHONES | _W, "bool"),
    _k("disableSpeakerAndHeadset", PHONES, "bool"),
    _c("forwardingDelay", PHONES, *ON_OFF),
    _c("pcPort", PHONES, ("0", "PC port enabled"), ("1", "disabled")),
    _c("settingsAccess", PHONES, ("0", "disabled"), ("1", "enabled"), ("2", "restricted")),
    _c("garp", PHONES | _W, ("0", "ignore gratuitous ARP"), ("1", "learn from it")),
    _c("voiceVlanAccess", PHONES, *ENABLED_DISABLED),
    _c("videoCapability", PHONES, *ON_OFF),
    _c("autoSelectLineEnable", PHONES | _W, *ON_OFF),
    _c("autoCallSelect", PHONES, *ON_OFF),
    _c("webAccess", PHONES | _W, ("0", "enabled"), ("1", "disabled"), ("2", "read-only")),
    _k("daysDisplayNotActive", PHONES, "days"),
    _k("displayOnTime", PHONES, "hhmm"),
    _k("displayOnDuration", PHONES, "hhmm"),
    _k("displayIdleTimeout", PHONES, "hhmm"),
    _c("displayOnWhenIncomingCall", frozenset({"legacy", "java", "89xx"}), *ON_OFF),
    # Java family and 89xx.
    _c("spanToPCPort", _J89, *ENABLED_DISABLED),
    _c("sshAccess", _J89 | _W, *ENABLED_DISABLED),
    _k("sshPort", _J89 | _W, "int", low=1, high=65535),
    _k("daysBacklightNotActive", _J89, "days"),
    _k("backlightOnTime", _J89, "hhmm"),
    _k("backlightOnDuration", _J89, "hhmm"),
    _k("backlightIdleTimeout", _J89, "hhmm"),
    _c("backlightOnWhenIncomingCall", _J89, *ON_OFF),
    _k("logServer", _J89, "host"),
    _k("loadServer", _J89 | _W, "host"),
    _c("peerFirmwareSharing", _J89, *ON_OFF),
    _c("enableCdpSwPort", _J89, *ON_OFF),
    _c("enableCdpPcPort", _J89, *ON_OFF),
    _c("enableLldpSwPort", _J89, *ON_OFF),
    _c("enableLldpPcPort", _J89, *ON_OFF),
    _k("lldpAssetId", _J89, "text", max_len=32),
    _c("powerPriority", _J89, ("0", "unknown"), ("1", "critical"), ("2", "high"), ("3", "low")),
    _c(
        "g722CodecSupport",
        _J89 | _W,
        ("0", "phone default"),
        ("1", "disabled"),
        ("2", "enabled"),
    ),
    _c("ehookEnable", _J89, *ON_OFF),
    _k("enableGroupListen", _J89, "bool"),
    # Java family only.
    _c("loggingDisplay", frozenset({"java"}), *ON_OFF),
    _c("detectCMConnectionFailure", frozenset({"java"}), ("0", "normal"), ("1", "delayed")),
    _c("headsetWidebandUIControl", frozenset({"java"}), *ENABLED_DISABLED),
    _c("handsetWidebandUIControl", frozenset({"java"}), *ENABLED_DISABLED),
    _c("headsetWidebandEnable", frozenset({"java"}), *ENABLED_DISABLED),
    _c(
        "handsetWidebandEnable",
        frozenset({"java"}),
        ("0", "phone default"),
        ("1", "enabled"),
        ("2", "disabled"),
    ),
    _c("useEnblocDialing", frozenset({"java"}), *ON_OFF),
    _k("ipv6LogServer", frozenset({"java"}), "host"),
    _k("ipv6LoadServer", frozenset({"java"}), "host"),
    _k("adminPassword", frozenset({"java"}), "text", max_len=32),
    # 69xx.
    _k("alwaysUsePrimeLine", frozenset({"69xx"}), "bool"),
    _k("alwaysUsePrimeLineVoiceMail", frozenset({"69xx"}), "bool"),
    # 792x wireless (values of the last three not documented in the sources: any short text).
    *(
        _c(f"WlanProfile{n}", _W, ("0", "unlocked"), ("1", "locked"), ("2", "restricted"))
        for n in range(1, 5)
    ),
    _k("specialNumbers", _W, "text"),
    _k("PushToTalkURL", _W, "url"),
    _k("outOfRangeAlert", _W, "text"),
    _k("scanningMode", _W, "text"),
    _k("powerOffWhenCharging", _W, "text"),
)

_BY_NAME = {k.name: k for k in KEYS}


def keys_for(family: str) -> dict[str, VendorKey]:
    """The switches a family reads, by name."""
    return {k.name: k for k in KEYS if family in k.families}


def lookup(name: str) -> VendorKey | None:
    return _BY_NAME.get(name)


_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
_DAYS = re.compile(r"^[1-7](,[1-7])*$")
_HOST = re.compile(
    r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)"
    r"(:[0-9]{1,5})?$"
)


def convert(key: VendorKey, value: object) -> str | None:
    """``value`` (as TOML gave it) in the spelling the phone reads, or None if not allowed.

    A TOML boolean is accepted only where the phone reads true/false: on a 0/1 switch it would
    be a guess, and half of those are 0 = on."""
    if key.kind == "bool":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower()
        return None
    if isinstance(value, bool):
        return None
    if key.kind in ("choice", "int"):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int):
            return None
        if key.kind == "int":
            return str(value) if key.low <= value <= key.high else None
        return str(value) if str(value) in dict(key.choices) else None
    if not isinstance(value, str):
        return None
    checks: dict[str, Callable[[str], bool]] = {
        "hhmm": lambda v: bool(_HHMM.match(v)),
        "days": lambda v: bool(_DAYS.match(v)),
        "host": lambda v: bool(_HOST.match(v)),
        "text": lambda v: len(v) <= key.max_len and v.isprintable(),
        "url": lambda v: bool(re.match(r"^https?://\S+$", v)),
    }
    ok = checks[key.kind](value)
    return value if ok else None
