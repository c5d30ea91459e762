"""The rule: every key site.toml accepts has an effect. This module lists the exceptions.

A key may be accepted before the feature behind it is built (so a site written for it stays
valid when it lands), but then ``check`` and ``provision`` say so, at the key's file:line, and
it is listed here with what is missing. Remove an entry in the change that gives the key its
effect; ``tests/test_site_keys.py`` holds every accepted key to one of the two: listed here,
or named by a test that shows its effect.

Entries of :data:`NOT_YET` are dotted key paths without list indexes (``lines.forward_all``),
``*`` standing for a name the user chooses (``voicemail.boxes.*.pin``). A key is warned about
where it is set to something other than its default; an entry naming a whole table
(``trunks``) is warned about once per entry of that table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, is_dataclass

from skinnyctl.site.locate import Path as KeyPath
from skinnyctl.site.model import (
    DEFAULT_SOFTKEY_SET,
    Application,
    Device,
    Dhcp,
    DialRule,
    Line,
    ModelSettings,
    Server,
    Site,
    Smtp,
    Voicemail,
    VoicemailBox,
)

# key (dotted, list indexes left out) -> why it does nothing yet
NOT_YET: dict[str, str] = {
    # Phones show the set the call manager selects; no call state selects this one yet.
    "softkey_sets.*.KeySetConnectedWithTransfer": "no call state shows this set yet",
}

# feature button values and softkey names the phones show but that answer "Key is not active"
FEATURES_NOT_YET: dict[str, str] = {}
SOFTKEYS_NOT_YET: dict[str, str] = {
    "Info": "the Info key has nothing to show",
}

# TOML key -> attribute of the model object, where the two differ
_ATTRIBUTE = {"voicemail.smtp.from": "sender", "dhcp.servers": "flavours"}


@dataclass(frozen=True)
class _Entry:
    """One table of the site as loaded: where it is, what to call it, and its defaults."""

    table: str  # dotted, as in NOT_YET ("lines", "voicemail.boxes.*")
    path: KeyPath
    what: str  # "line 1001", "[server]"
    value: object
    default: object | None  # None: the table has no defaults, any entry counts as set


def _entries(site: Site) -> Iterator[_Entry]:
    yield _Entry("server", ("server",), "[server]", site.server, Server())
    for i, ln in enumerate(site.lines):
        yield _Entry("lines", ("lines", i), f"line {ln.number}", ln, Line(ln.number))
    for i, d in enumerate(site.devices):
        yield _Entry("devices", ("devices", i), d.name, d, Device(d.mac, d.model))
    for i, rule in enumerate(site.dialplan):
        plain = DialRule(rule.pattern, rule.action)
        yield _Entry("dialplan", ("dialplan", i), f"dialplan rule {i + 1}", rule, plain)
    yield _Entry("dhcp", ("dhcp",), "[dhcp]", site.dhcp, Dhcp())
    for name, states in site.softkey_sets.items():
        path = ("softkey_sets", name)
        yield _Entry("softkey_sets.*", path, f"soft key set {name}", states, DEFAULT_SOFTKEY_SET)
    for name, settings in site.models.items():
        where = f"[models.{name}]"
        yield _Entry("models.*", ("models", name), where, settings, ModelSettings())
    for i, app in enumerate(site.applications):
        bare = Application(app.number, app.kind)
        yield _Entry("applications", ("applications", i), f"application {app.number}", app, bare)
    for i, trunk in enumerate(site.trunks):
        yield _Entry("trunks", ("trunks", i), f"trunk '{trunk.name}'", trunk, None)
    for i, inbound in enumerate(site.inbound):
        yield _Entry("inbound", ("inbound", i), f"inbound number {inbound.did}", inbound, None)
    vm = site.voicemail
    yield _Entry("voicemail", ("voicemail",), "[voicemail]", vm, Voicemail())
    yield _Entry("voicemail.smtp", ("voicemail", "smtp"), "[voicemail.smtp]", vm.smtp, Smtp())
    for box, own in vm.boxes.items():
        box_path = ("voicemail", "boxes", box)
        yield _Entry("voicemail.boxes.*", box_path, f"mailbox {box}", own, VoicemailBox())


def _get(table: object, key: str) -> object:
    return table.get(key) if isinstance(table, dict) else getattr(table, key, None)


def _not_yet(site: Site) -> list[tuple[KeyPath, str, str]]:
    """The :data:`NOT_YET` keys (and tables) ``site`` sets."""
    out: list[tuple[KeyPath, str, str]] = []
    for entry in _entries(site):
        why = NOT_YET.get(entry.table)
        if why is not None:  # the whole table
            if entry.default is None or entry.value != entry.default:
                out.append((entry.path, f"{entry.what} has no effect: {why}", ""))
            continue
        for key, why in NOT_YET.items():
            table, _, name = key.rpartition(".")
            if table != entry.table:
                continue
            attribute = _ATTRIBUTE.get(key, name)
            value, default = (_get(x, attribute) for x in (entry.value, entry.default))
            if is_dataclass(value):
                continue  # a table of its own ([voicemail.smtp]): an entry of its own
            if entry.default is None or value != default:
                out.append(
                    ((*entry.path, name), f"{name} of {entry.what} has no effect: {why}", "")
                )
    return out


def no_effect(site: Site) -> list[tuple[KeyPath, str, str]]:
    """Where ``site`` sets something that does nothing yet: (key path, message, hint)."""
    out = _not_yet(site)
    for d, device in enumerate(site.devices):
        for b, button in enumerate(device.buttons):
            why = FEATURES_NOT_YET.get(button.feature) if button.kind == "feature" else None
            if why:
                out.append(
                    (
                        ("devices", d, "buttons", b, "feature"),
                        f"feature button '{button.feature}' of {device.name} answers "
                        f'"Key is not active": {why}',
                        "",
                    )
                )
    for name, sets in site.softkey_sets.items():
        for state, keys in sets.items():
            for key in keys:
                why = SOFTKEYS_NOT_YET.get(key)
                if why:
                    out.append(
                        (
                            ("softkey_sets", name, state),
                            f'soft key {key} in set {name} answers "Key is not active": {why}',
                            "",
                        )
                    )
    return out
