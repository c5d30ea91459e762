"""The rule: every key site.toml accepts has an effect. This module lists the exceptions.

A key may be accepted before the feature behind it is built (so a site written for it stays
valid when it lands), but then ``check`` and ``provision`` say so, at the key's file:line, and
it is listed here with what is missing. Remove an entry in the change that gives the key its
effect; ``tests/test_site_keys.py`` holds every accepted key to one of the two: listed here,
or named by a test that shows its effect.
"""

from __future__ import annotations

from dataclasses import fields

from skinnyctl.site.locate import Path as KeyPath
from skinnyctl.site.model import Line, Site

# key of [[lines]] (dotted, list indexes left out) -> why it does nothing yet
NOT_YET: dict[str, str] = {}

# feature button values and softkey names the phones show but that answer "Key is not active"
FEATURES_NOT_YET: dict[str, str] = {}
SOFTKEYS_NOT_YET: dict[str, str] = {
    "Info": "the Info key has nothing to show",
}


def no_effect(site: Site) -> list[tuple[KeyPath, str, str]]:
    """Where ``site`` sets something that does nothing yet: (key path, message, hint)."""
    out: list[tuple[KeyPath, str, str]] = []
    defaults = {f.name: f.default for f in fields(Line)}
    unbuilt = [(d.partition(".")[2], w) for d, w in NOT_YET.items() if d.startswith("lines.")]
    for i, line in enumerate(site.lines):
        for key, because in unbuilt:
            if getattr(line, key) != defaults[key]:
                out.append(
                    (("lines", i, key), f"{key} of line {line.number} has no effect: {because}", "")
                )
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
