"""What real phones on a real network would trip on, found before they do.

A site can be valid and still not work: call-manager addresses phones cannot reach (the
loopback of a copied demo site), locale folders that are not in the TFTP root, background
folders for one screen size but not another. Each finding is a warning pointing at the
site.toml key it comes from (``file:line:column``, as the loader's errors do), with what to
write; ``--strict`` turns them into errors. The report of optional files per model says which
of the files a phone may ask for are there.

Facts from provisioning.md: §1.2 (phones reach the call manager and TFTP by address, TFTP on
port 69), §3.4 (background folders per model), §3.5 (locale files per model).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from skinnyctl.site.effects import no_effect
from skinnyctl.site.hostnet import HostNetwork
from skinnyctl.site.loader import Problem
from skinnyctl.site.locate import Locations
from skinnyctl.site.locate import Path as KeyPath
from skinnyctl.site.model import Device, Site
from skinnyctl.tftp.paths import TftpRefused, resolve

BUILTIN_USER_LOCALE = "English_United_States"
BUILTIN_NETWORK_LOCALE = "United_States"

# Desktops/<W>x<H>x<D>/ per model (§3.4). The 89xx (640x480x24 or 800x480x24) and 7906/7911
# (95x34x1, one source) entries are left out: unverified, a warning on them could mislead.
_GREY = "320x196x4"
BACKGROUND_FOLDER: dict[str, str] = {
    **dict.fromkeys(("7941", "7941GE", "7961", "7961GE", "7942", "7962"), _GREY),
    **dict.fromkeys(("7945", "7965"), "320x212x16"),
    **dict.fromkeys(("7970", "7971"), "320x212x12"),
    "7975": "320x216x16",
}

# The file each model fetches from the <user_locale>/ folder (§3.5, Cisco's CME locale table).
_JARS = {
    "mk-sccp.jar": ("7941", "7941GE", "7961", "7961GE", "7942", "7962"),
    "be-sccp.jar": ("7945", "7965"),
    "td-sccp.jar": ("7970", "7971", "7975"),
    "tc-sccp.jar": ("7906", "7911"),
    "gp-sccp.jar": ("7931",),
    "rtl-sccp.jar": ("6921", "6941", "6945", "6961"),
    "ipc-sccp.jar": ("CIPC",),
    "7960-dictionary.xml": ("7940", "7960"),
    "7905-dictionary.xml": ("7905", "7912"),
}
USER_LOCALE_FILE: dict[str, str] = {m: f for f, models in _JARS.items() for m in models}
# ...and from the <network_locale>/ folder: tones.
NETWORK_LOCALE_FILE: dict[str, str] = {
    **dict.fromkeys(("7940", "7960"), "7960-tones.xml"),
    **{m: "g3-tones.xml" for m in USER_LOCALE_FILE if m not in ("7940", "7960", "7905", "7912")},
    **dict.fromkeys(("8941", "8945"), "g3-tones.xml"),
}
_RING_LIST_FAMILIES = ("java", "legacy", "cipc")  # §3.2; others not confirmed


@dataclass(frozen=True)
class OptionalFile:
    path: str  # relative to the TFTP root, as the phone asks for it
    present: bool


@dataclass
class Audit:
    warnings: list[Problem] = field(default_factory=list)
    optional: dict[str, list[OptionalFile]] = field(default_factory=dict)  # by model name

    def report(self, site: Site) -> list[str]:
        """One line per model: the optional files its phones ask for, present or absent."""
        if not self.optional:
            return []
        lines = ["optional files the phones ask for (a phone does without an absent one):"]
        for model, files in self.optional.items():
            n = sum(d.model.name == model for d in site.devices)
            listed = "; ".join(f"{f.path} {'present' if f.present else 'absent'}" for f in files)
            lines.append(f"  {model} ({n} phone{'s' if n != 1 else ''}): {listed}")
        return lines


class _Where:
    """Positions in the site's own file (re-read: the Site keeps none)."""

    def __init__(self, site: Site) -> None:
        self.file = str(site.path) if site.path else "site.toml"
        try:
            text = site.path.read_text(encoding="utf-8") if site.path else ""
        except (OSError, UnicodeDecodeError):
            text = ""
        self.locations = Locations(text) if text else None

    def problem(self, path: KeyPath, message: str, hint: str) -> Problem:
        line, column = self.locations.of(path) if self.locations else (0, 0)
        return Problem(self.file, line, column, message, hint)


def _present(root: Path, rel: str, generated: Collection[str]) -> bool:
    if rel in generated:
        return True
    try:
        resolve(root, rel)
    except TftpRefused:  # TftpNotFound included
        return False
    return True


def _folder_present(root: Path, name: str) -> bool:
    """A folder right under the root, in any case (the TFTP server matches case-insensitively)."""
    try:
        return any(e.name.casefold() == name.casefold() and e.is_dir() for e in root.iterdir())
    except OSError:
        return False


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None  # a host name: nothing to say about it without DNS


def _lan_hint(key: str, net: HostNetwork) -> str:
    if net.lan_address:
        return f'write this machine\'s LAN address: {key} = ["{net.lan_address}"]'
    return (
        f'write the address phones reach this machine at, e.g. {key} = ["192.168.1.10"] '
        "(skinnyctl init --address ADDRESS writes it for you)"
    )


def _address_list(
    where: _Where, net: HostNetwork, path: KeyPath, name: str, entries: tuple[str, ...]
) -> list[Problem]:
    out: list[Problem] = []
    ips = [(i, _ip(a)) for i, a in enumerate(entries)]
    for i, ip in ips:
        if ip is not None and (ip.is_loopback or ip.is_unspecified):
            kind = "a loopback address" if ip.is_loopback else "no address anyone can reach"
            out.append(
                where.problem(
                    (*path, i),
                    f"{name} lists {ip}, {kind}: phones on the LAN cannot reach it",
                    _lan_hint(str(path[-1]), net),
                )
            )
    usable = [ip for _, ip in ips if ip is not None and not (ip.is_loopback or ip.is_unspecified)]
    # One of them must be this machine; host names cannot be told without DNS, so any one
    # of those (or an unknown host network) leaves the question open.
    if usable and len(usable) == len(entries) and all(net.has(str(ip)) is False for ip in usable):
        out.append(
            where.problem(
                (*path, 0),
                f"none of {name} ({', '.join(map(str, usable))}) is an address of this machine",
                _lan_hint(str(path[-1]), net) + " (another machine may follow it)",
            )
        )
    return out


def check_addresses(site: Site, net: HostNetwork) -> list[Problem]:
    """Addresses phones must reach: loopback, unspecified, or not this machine's (§1.2)."""
    where = _Where(site)
    s = site.server
    out = _address_list(where, net, ("server", "addresses"), "[server] addresses", s.addresses)
    if site.dhcp.tftp_servers:
        out += _address_list(
            where, net, ("dhcp", "tftp_servers"), "[dhcp] tftp_servers", site.dhcp.tftp_servers
        )
    listen = _ip(s.listen)
    if listen is not None and listen.is_loopback:
        out.append(
            where.problem(
                ("server", "listen"),
                f'[server] listen = "{s.listen}" answers on this machine only',
                'write listen = "0.0.0.0" (every interface) or this machine\'s LAN address',
            )
        )
    reachable = [ip for ip in map(_ip, s.addresses) if ip is None or not ip.is_loopback]
    if reachable and s.tftp_port != 69:
        out.append(
            where.problem(
                ("server", "tftp_port"),
                f"[server] tftp_port = {s.tftp_port}: phones only ever ask TFTP port 69",
                "write tftp_port = 69 (serve then needs root or CAP_NET_BIND_SERVICE), or "
                f"forward UDP port 69 to {s.tftp_port}",
            )
        )
    return out


def _models(site: Site) -> dict[str, tuple[int, Device]]:
    """Each model of the site with its first device (and that device's index in the file)."""
    out: dict[str, tuple[int, Device]] = {}
    for i, d in enumerate(site.devices):
        out.setdefault(d.model.name, (i, d))
    return out


def check_locales(site: Site, root: Path) -> list[Problem]:
    """A locale other than the built-in English/US needs its folder in the TFTP root (§3.5)."""
    where = _Where(site)
    out: list[Problem] = []
    s = site.server
    models = _models(site)
    checks = (
        ("user_locale", s.user_locale, BUILTIN_USER_LOCALE, USER_LOCALE_FILE, "English menus"),
        (
            "network_locale",
            s.network_locale,
            BUILTIN_NETWORK_LOCALE,
            NETWORK_LOCALE_FILE,
            "US tones",
        ),
    )
    for key, name, builtin, files, effect in checks:
        if not name or name == builtin or _folder_present(root, name):
            continue
        asked = sorted({f"{name}/{files[m]}" for m in models if m in files})
        what = f"the phones will ask for {', '.join(asked)}" if asked else "the phones will ask"
        out.append(
            where.problem(
                ("server", key),
                f'[server] {key} = "{name}": there is no folder {name}/ in {root}',
                f"{what} and keep {effect}; unpack Cisco's locale installer for {name} into "
                f'{root / name}/, or write {key} = "{builtin}"',
            )
        )
    return out


def optional_files(
    site: Site, root: Path, generated: Collection[str]
) -> dict[str, list[OptionalFile]]:
    """Per model of the site: the optional files its phones ask for, and whether each is there."""
    s = site.server
    out: dict[str, list[OptionalFile]] = {}
    for name, (_i, device) in _models(site).items():
        wanted: list[str] = []
        if device.model.family in _RING_LIST_FAMILIES:
            wanted.append("RingList.xml")
        if device.model.family == "java":
            wanted.append("DistinctiveRingList.xml")
        if name in BACKGROUND_FOLDER:
            wanted.append(f"Desktops/{BACKGROUND_FOLDER[name]}/List.xml")
        if s.user_locale != BUILTIN_USER_LOCALE and name in USER_LOCALE_FILE:
            wanted.append(f"{s.user_locale}/{USER_LOCALE_FILE[name]}")
        if s.network_locale != BUILTIN_NETWORK_LOCALE and name in NETWORK_LOCALE_FILE:
            wanted.append(f"{s.network_locale}/{NETWORK_LOCALE_FILE[name]}")
        if wanted:
            out[name] = [OptionalFile(p, _present(root, p, generated)) for p in wanted]
    return out


def check_backgrounds(site: Site, root: Path, generated: Collection[str]) -> list[Problem]:
    """Backgrounds offered for some screen sizes of the site but not for another (§3.4)."""
    where = _Where(site)
    have = {
        p.split("/")[1]
        for p in generated
        if p.startswith("Desktops/") and p.endswith("/List.xml") and p.count("/") == 2
    }
    have |= {
        size
        for size in set(BACKGROUND_FOLDER.values())
        if _present(root, f"Desktops/{size}/List.xml", ())
    }
    if not have:
        return []  # no backgrounds at all: a choice, and the phones hide the menu
    out = []
    for name, (i, _device) in _models(site).items():
        size = BACKGROUND_FOLDER.get(name)
        if size and size not in have:
            w, h, _d = size.split("x")
            out.append(
                where.problem(
                    ("devices", i, "model"),
                    f"{name} phones ask for Desktops/{size}/List.xml, which is absent "
                    f"(backgrounds exist for {', '.join(sorted(have))})",
                    f"put {w}x{h} PNG images in {root / 'Desktops' / size}/ (thumbnails named "
                    "TN-<name>.png) and provision again",
                )
            )
    return out


def check_no_effect(site: Site) -> list[Problem]:
    """Keys set in the site that do nothing yet (``site.effects``): said, at the key."""
    where = _Where(site)
    return [where.problem(path, message, hint) for path, message, hint in no_effect(site)]


def audit(
    site: Site,
    root: Path,
    generated: Collection[str] = (),
    *,
    network: HostNetwork | None = None,
    local_only: bool = False,
) -> Audit:
    """Every check above. ``generated``: the files provision renders (they count as present).
    ``local_only``: the site is meant for this machine alone (the demo): no address checks."""
    result = Audit()
    if not local_only:
        result.warnings += check_addresses(site, network or HostNetwork.probe())
    result.warnings += check_no_effect(site)
    result.warnings += check_locales(site, root)
    result.warnings += check_backgrounds(site, root, generated)
    result.warnings.sort(key=lambda p: (p.line, p.column))
    result.optional = optional_files(site, root, generated)
    return result
