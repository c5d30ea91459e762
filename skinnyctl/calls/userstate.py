"""What users set at run time, from their phones or the control API, kept across restarts:
forwards per line, do-not-disturb per device, hunt-group log-out per device.

site.toml is never written by the server: these settings live in the state directory
(``state/features.json`` next to the call records). The core changes :class:`UserState` on its
thread and emits :class:`SaveState` with the whole of it after each change; the edge writes
the file atomically (``runtime.statefile``) and reads it back at start. A forward set here wins
over the line's site.toml value; ``""`` means "off", even when site.toml sets one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from skinnyctl.site.model import Site

log = logging.getLogger("skinnyctl.calls")

ForwardKind = Literal["all", "busy", "no_answer"]
FORWARD_KINDS: tuple[ForwardKind, ...] = ("all", "busy", "no_answer")
VERSION = 1


def state_path(site: Site) -> Path:
    """Where a site's run-time settings are kept."""
    return site.base_dir / "state" / "features.json"


@dataclass(frozen=True)
class SaveState:
    """Store the users' run-time settings (``data``, JSON-able) in the state directory."""

    data: dict[str, Any]


@dataclass
class UserState:
    forwards: dict[str, dict[str, str]] = field(default_factory=dict)  # line -> kind -> target
    dnd: set[str] = field(default_factory=set)  # device names with do-not-disturb on
    hunt_logged_out: set[str] = field(default_factory=set)  # device names

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "forwards": {n: dict(sorted(k.items())) for n, k in sorted(self.forwards.items())},
            "dnd": sorted(self.dnd),
            "hunt_logged_out": sorted(self.hunt_logged_out),
        }

    def save(self) -> SaveState:
        return SaveState(self.to_json())

    @classmethod
    def from_json(cls, data: Any) -> UserState:
        """What a state file says; anything malformed in it is left out (and logged), so a
        damaged file never stops the server."""
        state = cls()
        if not isinstance(data, dict):
            if data is not None:
                log.warning("run-time settings: not a JSON object; starting without them")
            return state
        forwards = data.get("forwards", {})
        if isinstance(forwards, dict):
            for number, kinds in forwards.items():
                if not isinstance(number, str) or not isinstance(kinds, dict):
                    continue
                ok = {
                    k: v
                    for k, v in kinds.items()
                    if k in FORWARD_KINDS and isinstance(v, str) and len(v) <= 24
                }
                if ok:
                    state.forwards[number] = ok
        for key in ("dnd", "hunt_logged_out"):
            names = data.get(key, [])
            if isinstance(names, list):
                getattr(state, key).update(n for n in names if isinstance(n, str))
        return state
