"""Render the files phones fetch over TFTP from the site description (provisioning.md §2–§4).

Templates are Jinja2 files: the user's ``templates_dir`` is searched first, then the built-ins
in ``skinnyctl/templates/``. A device's config uses the first of ``SEP-<model>.cnf.xml.j2``,
``SEP-<family>.cnf.xml.j2``, ``SEP.cnf.xml.j2``. Everything is rendered in memory; nothing here
writes files (see :mod:`skinnyctl.provision.writer`). Rendering is deterministic: the
``versionStamp`` is a hash of the rendered file itself, so it changes exactly when the file does.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from skinnyctl.errors import UserError
from skinnyctl.provision.firmware import FirmwareIndex, scan_firmware
from skinnyctl.site.catalog import PHONE_MODELS, PhoneModel
from skinnyctl.site.model import Device, Site

BUILTIN_TEMPLATES = Path(str(resources.files("skinnyctl") / "templates"))

XMLDEFAULT = "XMLDefault.cnf.xml"
RINGLIST = "RingList.xml"
DISTINCTIVE_RINGLIST = "DistinctiveRingList.xml"
_STAMP_PLACEHOLDER = "SKINNYCTL-VERSIONSTAMP-PLACEHOLDER"
_SEP_RE = re.compile(r"^SEP([0-9A-F]{12})\.cnf\.xml$", re.IGNORECASE)

# Safe vendorConfig defaults per family (provisioning.md §2.7). Polarity differs per key: the
# port/access keys are 0 = enabled. PC port on, settings reachable, web page on (read access
# helps troubleshooting), SSH off, speaker on, GARP off (ignore gratuitous ARP: safer).
_COMMON_VENDOR: tuple[tuple[str, str], ...] = (
    ("disableSpeaker", "false"),
    ("disableSpeakerAndHeadset", "false"),
    ("forwardingDelay", "1"),
    ("pcPort", "0"),
    ("settingsAccess", "1"),
    ("garp", "0"),
    ("voiceVlanAccess", "0"),
    ("autoSelectLineEnable", "0"),
    ("webAccess", "0"),
)
FAMILY_VENDOR_DEFAULTS: dict[str, tuple[tuple[str, str], ...]] = {
    "legacy": _COMMON_VENDOR,
    "java": (
        *_COMMON_VENDOR,
        ("sshAccess", "1"),
        ("detectCMConnectionFailure", "0"),
        ("peerFirmwareSharing", "0"),
        ("enableCdpSwPort", "1"),
        ("enableCdpPcPort", "0"),
        ("spanToPCPort", "1"),
    ),
    # alwaysUsePrimeLine true as chan-sccp's 69xx template has it: going off-hook then also
    # sends the stimulus for the prime line, not only the accessory message.
    "69xx": (
        *_COMMON_VENDOR,
        ("alwaysUsePrimeLine", "true"),
        ("alwaysUsePrimeLineVoiceMail", "false"),
    ),
    "89xx": (*_COMMON_VENDOR, ("sshAccess", "1")),
    "790x": (),
    "ata": (),
    "cipc": (),
    "wireless": (),
}

# userLocale langCode per Cisco folder name; unknown folders get their own best guess.
LANG_CODES: dict[str, str] = {
    "English_United_States": "en_US",
    "English_United_Kingdom": "en_GB",
    "German_Germany": "de_DE",
    "German_Austria": "de_AT",
    "German_Switzerland": "de_CH",
    "French_France": "fr_FR",
    "French_Canada": "fr_CA",
    "Spanish_Spain": "es_ES",
    "Italian_Italy": "it_IT",
    "Dutch_Netherlands": "nl_NL",
    "Portuguese_Portugal": "pt_PT",
    "Portuguese_Brazil": "pt_BR",
    "Swedish_Sweden": "sv_SE",
    "Danish_Denmark": "da_DK",
    "Norwegian_Norway": "no_NO",
    "Finnish_Finland": "fi_FI",
    "Polish_Poland": "pl_PL",
    "Russian_Russian_Federation": "ru_RU",
    "Japanese_Japan": "ja_JP",
    "Chinese_China": "zh_CN",
}
LOCALE_VERSION = "1.0.0.0-1"  # bump when imported locale files change (phones re-fetch)

# KEM firmware (provisioning.md §4) by expansion-module name prefix.
_KEM_LOAD_PREFIX = {"7914": "S00105", "7915": "B015", "7916": "B016"}


def version_stamp(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:32]


def _finish(text: str) -> bytes:
    """Replace the stamp placeholder by a hash of the file with the placeholder in it."""
    data = text.encode("utf-8")
    stamp = version_stamp(data)
    return data.replace(_STAMP_PLACEHOLDER.encode(), stamp.encode())


class _MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates kept in memory across renderers. TFTP renders a device file per
    request with a fresh Renderer (so template lookups and edits are seen at once); compiling the
    templates again was ~10 of its ~12 ms. Jinja2 reuses an entry only while the source's
    checksum matches, so an edited template is compiled afresh."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}  # one entry per (template name, file)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_BYTECODE = _MemoryBytecodeCache()


class Renderer:
    """A Jinja2 environment bound to one site: the user's templates first, then ours."""

    def __init__(self, site: Site, *, root: Path | None = None) -> None:
        self.site = site
        self.root = root if root is not None else site.resolve(site.server.tftp_root)
        loaders: list[jinja2.BaseLoader] = []
        user_dir = site.server.templates_dir
        if user_dir is not None:
            path = site.resolve(user_dir)
            if not path.is_dir():
                raise UserError(
                    f"templates_dir {path} is not a directory: create it with "
                    f"'skinnyctl templates export {path}' or remove templates_dir from site.toml"
                )
            loaders.append(jinja2.FileSystemLoader(str(path)))
        loaders.append(jinja2.FileSystemLoader(str(BUILTIN_TEMPLATES)))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=lambda name: bool(name and name.endswith(".xml.j2")),
            keep_trailing_newline=True,
            trim_blocks=False,
            bytecode_cache=_BYTECODE,
        )
        self._firmware: FirmwareIndex | None = None
        self.warnings: list[str] = []

    # -- shared context -------------------------------------------------------------------
    @property
    def firmware(self) -> FirmwareIndex:
        if self._firmware is None:
            self._firmware = scan_firmware(self.root)
        return self._firmware

    def _common(self) -> dict[str, Any]:
        s = self.site.server
        return {
            "call_managers": [
                {"priority": i, "address": a, "port": s.sccp_port}
                for i, a in enumerate(s.addresses[:5])  # phones take at most five members
            ],
            "date_template": s.date_format,
            "time_zone": s.cisco_time_zone,
            # Watch a recovered primary for 0.75 × keepalive before reverting (§2.2).
            "connection_monitor_duration": max(1, int(s.keepalive * 3 // 4)),
            "user_locale": {
                "name": s.user_locale,
                "lang_code": LANG_CODES.get(s.user_locale, _guess_lang(s.user_locale)),
                "charset": "utf-8",
                "version": LOCALE_VERSION,
            },
            "network_locale": {"name": s.network_locale, "version": LOCALE_VERSION},
            "urls": {
                "services": s.services_url,
                "directory": s.directory_url,
                "idle": s.idle_url,
                "information": s.information_url,
                "authentication": s.authentication_url,
            },
            "idle_timeout": 60 if s.idle_url else 0,
            "version_stamp": _STAMP_PLACEHOLDER,
        }

    def render_template(self, names: list[str], context: dict[str, Any]) -> bytes:
        try:
            template = self.env.select_template(names)
            return _finish(template.render(**context))
        except jinja2.TemplateNotFound as e:
            raise UserError(f"template not found: {e.name}") from None
        except jinja2.TemplatesNotFound as e:
            names_ = ", ".join(map(str, e.templates))
            raise UserError(f"none of the templates {names_} exists") from None
        except jinja2.TemplateSyntaxError as e:
            raise UserError(f"template {e.filename or e.name}:{e.lineno}: {e.message}") from None
        except jinja2.UndefinedError as e:
            raise UserError(f"template {names[0]}: {e.message}") from None
        except jinja2.TemplateError as e:
            raise UserError(f"template {names[0]}: {e}") from None

    # -- per file -----------------------------------------------------------------------
    def vendor_config(self, device: Device) -> list[tuple[str, str]]:
        """Family defaults, then [models."X"].vendor_config, then the device's own."""
        merged: dict[str, str] = dict(FAMILY_VENDOR_DEFAULTS.get(device.model.family, ()))
        settings = self.site.models.get(device.model.name)
        for source in (settings.vendor_config if settings else (), device.vendor_config):
            merged.update(source)  # keys and values checked by the loader (site/vendorconfig.py)
        return list(merged.items())

    def load_for(self, device: Device) -> str:
        """Configured firmware (device, then model), else the newest load found on disk."""
        configured = self.site.firmware_for(device)
        if configured:
            if not self.firmware.has_load(configured):
                self.warnings.append(
                    f"{device.name}: firmware {configured} is configured but no "
                    f"{configured}.* file is under {self.root} (the phone keeps its load)"
                )
            return configured
        return self.firmware.load_for(device.model.device_type)

    def device_config(self, device: Device) -> bytes:
        model = device.model
        addons = []
        for i, kem in enumerate(device.expansion_modules, start=1):
            prefix = _KEM_LOAD_PREFIX.get(kem.name.split("-")[0], "")
            load = next(
                (n for n in sorted(self.firmware.names) if prefix and n.startswith(prefix.lower())),
                "",
            )
            addons.append({"index": i, "load": _original_case(self.firmware, load)})
        context = {
            **self._common(),
            "device": {
                "name": device.name,
                "mac": device.mac,
                "description": device.description,
                "model": model.name,
                "title": model.title,
                "device_type": model.device_type,
                "family": model.family,
            },
            "load_information": self.load_for(device),
            "addon_modules": addons,
            "vendor_config": self.vendor_config(device),
            "backgrounds": bool(self.backgrounds()),
            "rings": bool(self.rings()),
        }
        names = [
            f"SEP-{model.name}.cnf.xml.j2",
            f"SEP-{model.family}.cnf.xml.j2",
            "SEP.cnf.xml.j2",
        ]
        return self.render_template(names, context)

    def xmldefault(self) -> bytes:
        loads = []
        seen: set[int] = set()
        for model in sorted(PHONE_MODELS.values(), key=lambda m: m.device_type):
            if model.device_type in seen:
                continue
            seen.add(model.device_type)
            name = self._present_load(model)
            if name:
                loads.append({"device_type": model.device_type, "model": model.title, "name": name})
        return self.render_template(["XMLDefault.cnf.xml.j2"], {**self._common(), "loads": loads})

    def _present_load(self, model: PhoneModel) -> str:
        settings = self.site.models.get(model.name)
        if settings and settings.firmware and self.firmware.has_load(settings.firmware):
            return settings.firmware
        return self.firmware.load_for(model.device_type)

    def rings(self) -> list[dict[str, str]]:
        """Ring files under ringtones/ that a phone accepts (§3.2, §3.3)."""
        folder = _child_dir(self.root, "ringtones")
        if folder is None:
            return []
        out: list[dict[str, str]] = []
        for f in sorted(folder.iterdir(), key=lambda p: p.name.lower()):
            if not f.is_file() or f.suffix.lower() not in (".raw", ".pcm"):
                continue
            rel = f"{folder.name}/{f.name}"
            size = f.stat().st_size
            if len(rel) > 25:
                self.warnings.append(f"ring {rel}: path longer than 25 characters, left out")
            elif not (240 <= size <= 16080 and size % 240 == 0):
                self.warnings.append(
                    f"ring {rel}: {size} bytes; phones take 240..16080 bytes in steps of 240 "
                    "(8 kHz µ-law), left out"
                )
            elif len(out) == 50:
                self.warnings.append(f"ring {rel}: a ring list holds at most 50, left out")
            else:
                display = re.sub(r"[_-]+", " ", f.stem).strip()[:25] or f.stem[:25]
                out.append({"display_name": display, "file_name": rel})
        return out

    def backgrounds(self) -> dict[str, list[dict[str, str]]]:
        """Desktops/<W>x<H>x<D>/ folders holding PNGs → their image list (§3.4)."""
        desktops = _child_dir(self.root, "Desktops")
        if desktops is None:
            return {}
        out: dict[str, list[dict[str, str]]] = {}
        for sub in sorted(desktops.iterdir()):
            if not sub.is_dir() or not re.fullmatch(r"\d+x\d+x\d+", sub.name):
                continue
            pngs = sorted(p.name for p in sub.iterdir() if p.suffix.lower() == ".png")
            thumbs = {n.lower(): n for n in pngs if n.lower().startswith("tn-")}
            images = []
            for name in pngs:
                if name.lower().startswith("tn-"):
                    continue
                base = f"{desktops.name}/{sub.name}"
                thumb = thumbs.get(f"tn-{name}".lower(), name)
                images.append({"thumbnail": f"{base}/{thumb}", "url": f"{base}/{name}"})
            if images:
                out[f"{desktops.name}/{sub.name}"] = images[:50]
        return out

    def render_all(self) -> dict[str, bytes]:
        if self.firmware.clashes:
            raise UserError(
                f"firmware files under {self.root} share a name but differ: "
                f"{self.firmware.clash_text()}. Phones ask for the bare name, so the TFTP "
                "server cannot tell which one is meant: keep one of them"
            )
        files: dict[str, bytes] = {XMLDEFAULT: self.xmldefault()}
        for device in self.site.devices:
            if device.provision:
                files[f"SEP{device.mac.upper()}.cnf.xml"] = self.device_config(device)
        rings = self.rings()
        if rings:
            ring_list = self.render_template(["RingList.xml.j2"], {"rings": rings})
            files[RINGLIST] = ring_list
            files[DISTINCTIVE_RINGLIST] = ring_list
        for folder, images in self.backgrounds().items():
            files[f"{folder}/List.xml"] = self.render_template(["List.xml.j2"], {"images": images})
        return files


def _guess_lang(folder: str) -> str:
    return "en_US" if not folder else folder.split("_", 1)[0][:2].lower()


def _child_dir(root: Path, name: str) -> Path | None:
    """``root/name`` matched case-insensitively (phones and users disagree on case)."""
    if not root.is_dir():
        return None
    exact = root / name
    if exact.is_dir():
        return exact
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name.lower() == name.lower():
            return child
    return None


def _original_case(index: FirmwareIndex, lowered: str) -> str:
    for rel in index.files:
        stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if stem.lower() == lowered:
            return stem
    return ""


def render_all(site: Site, *, root: Path | None = None) -> dict[str, bytes]:
    """Every file for the TFTP root: relative path → content."""
    return Renderer(site, root=root).render_all()


def render_device_file(site: Site, filename: str) -> bytes | None:
    """``SEP<MAC>.cnf.xml`` of a configured device or ``XMLDefault.cnf.xml``, rendered now from
    ``site`` (case-insensitive name; None if the name is not one of ours)."""
    name = filename.replace("\\", "/").lstrip("/")
    if name.lower() == XMLDEFAULT.lower():
        return Renderer(site).xmldefault()
    m = _SEP_RE.match(name)
    if not m:
        return None
    device = site.device(m.group(1))
    if device is None or not device.provision:
        return None
    return Renderer(site).device_config(device)
