"""The rule: every key site.toml accepts has an effect. This module lists the exceptions.

A key may be accepted before the feature behind it is built (so a site written for it stays
valid when it lands), but then ``check`` and ``provision`` say so, at the key's file:line, and
it is listed here with what is missing. Remove an entry in the change that gives the key its
effect; ``tests/test_site_keys.py`` holds every accepted key to one of the two: listed here,
or named by a test that shows its effect.
"""

from __future__ import annotations

from skinnyctl.site.locate import Path as KeyPath
from skinnyctl.site.model import Site

# key (dotted, list indexes left out) -> why it does nothing yet
NOT_YET: dict[str, str] = {
    "lines.forward_all": "call forwarding is not built yet",
    "lines.forward_busy": "call forwarding is not built yet",
    "lines.forward_no_answer": "call forwarding is not built yet",
    "lines.no_answer_timeout": "call forwarding is not built yet",
}

# feature button values and softkey names the phones show but that answer "Key is not active"
FEATURES_NOT_YET: dict[str, str] = {
    "dnd": "do not disturb is not built yet",
    "forward_all": "call forwarding is not built yet",
    "park": "call park is not built yet",
    "pickup": "call pick-up is not built yet",
    "group_pickup": "call pick-up is not built yet",
}
SOFTKEYS_NOT_YET: dict[str, str] = {
    "CFwdAll": "call forwarding is not built yet",
    "CFwdBusy": "call forwarding is not built yet",
    "CFwdNoAnswer": "call forwarding is not built yet",
    "Info": "the Info key has nothing to show",
    "Park": "call park is not built yet",
    "PickUp": "call pick-up is not built yet",
    "GPickUp": "call pick-up is not built yet",
    "DND": "do not disturb is not built yet",
    "iDivert": "divert to voicemail is not built yet",
}


def no_effect(site: Site) -> list[tuple[KeyPath, str, str]]:
    """Where ``site`` sets something that does nothing yet: (key path, message, hint)."""
    out: list[tuple[KeyPath, str, str]] = []
    defaults = {
        "forward_all": "",
        "forward_busy": "",
        "forward_no_answer": "",
        "no_answer_timeout": 0.0,
    }
    for i, line in enumerate(site.lines):
        for key, default in defaults.items():
            why = NOT_YET.get(f"lines.{key}")
            if why and getattr(line, key) != default:
                out.append(
                    (("lines", i, key), f"{key} of line {line.number} has no effect: {why}", "")
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
