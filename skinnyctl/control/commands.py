"""What each control request does, against the running service.

Every query or command that touches call-control state runs on the core thread
(``Served.on_core``), so it sees a consistent picture and never races the core. Results are
plain JSON-able data; formatting for people is ``format.py``'s job, on the client side.
"""

from __future__ import annotations

import inspect
import logging
import time
import types
import typing
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from skinnyctl import __version__
from skinnyctl.calls import Action
from skinnyctl.calls.cdr import CdrStore, cdr_path
from skinnyctl.calls.manager import CallManager
from skinnyctl.endpoints.sccp.stations import ButtonSlot
from skinnyctl.site.model import Device, Site

from .build import BuildError, build, describe, sendable, to_plain
from .interface import Served
from .protocol import ControlError

log = logging.getLogger("skinnyctl.control")

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
SETTINGS = {
    "keepalive": "seconds between keepalives, told to phones at registration (5..3600)",
    "digit_timeout": "seconds to wait for the next digit (0.5..60)",
    "log_level": "one of " + ", ".join(LOG_LEVELS),
}


T = TypeVar("T")


class Commands:
    def __init__(self, service: Served) -> None:
        self.service = service

    def run(self, command: str, args: dict[str, Any]) -> Any:
        handler = getattr(self, "cmd_" + command.replace("-", "_"), None)
        if handler is None:
            raise ControlError(f"unknown command {command!r}", valid=self.names())
        problem = self.check(command, args)
        if problem is not None:
            raise ControlError(problem, valid=[_usage(command, handler)])
        return handler(**args)

    def check(self, command: str, args: dict[str, Any]) -> str | None:
        """What is wrong with ``args`` for ``command`` (against the signature of its
        ``cmd_`` method), or None. A request's values come from any JSON a client sends."""
        handler = getattr(self, "cmd_" + command.replace("-", "_"), None)
        if handler is None:
            return f"unknown command {command!r}"
        params = inspect.signature(handler).parameters
        hints = typing.get_type_hints(handler)
        for name in args:
            if name not in params:
                return f"{command} takes no argument {name!r}"
        for name, param in params.items():
            if name not in args:
                if param.default is inspect.Parameter.empty:
                    return f"{command} needs {name} ({_describe(hints[name])})"
            elif not _matches(args[name], hints[name]):
                value = args[name]
                return (
                    f"{command}: {name} must be {_describe(hints[name])}, not {_json_type(value)}"
                )
        return None

    @classmethod
    def names(cls) -> list[str]:
        return sorted(n[4:] for n in dir(cls) if n.startswith("cmd_"))

    # --- helpers ------------------------------------------------------------------------------

    def _core(self, fn: Callable[[CallManager], T]) -> T:
        return self.service.on_core(fn)

    def _calls(self, core: CallManager) -> list[dict[str, Any]]:
        return core.calls_snapshot()

    # --- status -------------------------------------------------------------------------------

    def cmd_status(self) -> dict[str, Any]:
        svc = self.service

        def q(core: CallManager) -> dict[str, Any]:
            return {
                "registered": len(core.stations.registered()),
                "connections": len(core.stations),
                "calls": len(self._calls(core)),
                "refused": dict(core.counters),
            }

        counts = self._core(q)
        site = svc.site
        return {
            "version": __version__,
            "site": str(site.path) if site.path else None,
            "started_at": svc.started_at,
            "uptime": round(time.time() - svc.started_at, 1),
            "sccp": f"{svc.sccp.host}:{svc.sccp.port}",
            "devices": {
                "registered": counts["registered"],
                "configured": len(site.devices),
                "discovered": len(svc.discovered),
            },
            "discovered_dropped": svc.discovered.dropped,
            "connections": counts["connections"],
            "max_connections": svc.sccp.max_connections,
            "max_connections_reached": svc.sccp.stats.get("at_max_connections", 0),
            # connections closed by the rules (core.py 2, 3; runtime/server.py), by reason
            "refused": {**counts["refused"], **svc.sccp.refusals()},
            "lines": len(site.lines),
            "calls": counts["calls"],
            "relay_legs": len(svc.relay.stats()) if svc.relay is not None else None,
            "call_records": _store_state(svc.cdr),
        }

    def cmd_devices(self) -> dict[str, Any]:
        svc = self.service
        registered = self._core(lambda core: core.snapshot())
        names = {d["device_name"] for d in registered}
        configured = [
            {
                "device_name": d.name,
                "model": d.model.name,
                "description": d.description,
                "lines": list(d.lines),
                "registered": d.name in names,
            }
            for d in svc.site.devices
        ]
        discovered = [
            {
                "device_name": d.name,
                "mac": d.mac,
                "ip": d.ip,
                "model": d.model,
                "sources": list(d.sources),
                "first_seen": d.first_seen.isoformat(),
                "last_seen": d.last_seen.isoformat(),
                "count": d.count,
            }
            for d in svc.discovered.list()
        ]
        return {
            "registered": registered,
            "configured": configured,
            "discovered": discovered,
            "discovered_dropped": svc.discovered.dropped,
        }

    def cmd_device(self, name: str) -> dict[str, Any]:
        site = self.service.site
        key = name.strip().upper()

        def q(core: CallManager) -> dict[str, Any] | None:
            st = core.stations.by_name(key)
            if st is None:
                return None
            calls = self._calls(core)
            out = st.snapshot()
            out["registered"] = True
            out["buttons"] = (
                [_button(slot, core.mwi, calls) for slot in st.layout.slots] if (st.layout) else []
            )
            return out

        found = self._core(q)
        if found is not None:
            return found
        device = site.device(key[3:] if key.startswith("SEP") else key)
        if device is None:
            valid = [d.name for d in site.devices]
            raise ControlError(f"no device {name!r} in the site", valid=valid)
        return _configured_device(site, device)

    def cmd_lines(self) -> list[dict[str, Any]]:
        site = self.service.site

        def q(core: CallManager) -> list[dict[str, Any]]:
            calls = self._calls(core)
            out = []
            for line in site.lines:
                carriers = core.stations.carriers(line.number)
                out.append(
                    {
                        "number": line.number,
                        "display_name": line.display_name,
                        "mwi": core.mwi.get(line.number, False),
                        "state": _line_state(line.number, calls),
                        "configured_on": [d.name for d in site.devices_with_line(line.number)],
                        "registered_on": [
                            {"device_name": st.name, "instance": inst} for st, inst in carriers
                        ],
                    }
                )
            return out

        return self._core(q)

    def cmd_calls(self) -> dict[str, Any]:
        calls = self._core(self._calls)
        relay = self.service.relay
        return {"calls": calls, "rtp": relay.stats() if relay is not None else []}

    def cmd_trunks(self) -> list[dict[str, Any]]:
        sip = self.service.sip
        return sip.status() if sip is not None else []

    def cmd_history(
        self, number: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[dict[str, Any]]:
        return query_history(self.service.site, number, since, until, self.service.cdr)

    # --- driving phones -----------------------------------------------------------------------

    def cmd_messages(self) -> list[dict[str, Any]]:
        return [describe(cls) for cls in sendable().values()]

    def cmd_send(self, device: str, message: str, fields: dict[str, str] | None = None) -> Any:
        try:
            msg = build(message, {str(k): str(v) for k, v in (fields or {}).items()})
        except BuildError as e:
            raise ControlError(str(e), valid=e.valid) from None

        def act(core: CallManager) -> list[Action]:
            try:
                return core.send_to(device, msg)
            except KeyError:
                raise ControlError(
                    f"device {device!r} is not registered",
                    valid=sorted(st.name for st in core.stations.registered()),
                ) from None

        self.service.command(act)
        return {"device": device.upper(), **to_plain(msg)}

    def cmd_mwi(self, line: str, on: bool) -> dict[str, Any]:
        if self.service.site.line(line) is None:
            raise ControlError(
                f"no line {line!r} in the site", valid=[ln.number for ln in self.service.site.lines]
            )
        devices: list[str] = []

        def act(core: CallManager) -> list[Action]:
            devices.extend(st.name for st, _ in core.stations.carriers(line))
            return core.set_mwi(line, bool(on))

        self.service.command(act)
        return {"line": line, "mwi": bool(on), "devices": devices}

    # --- settings and reload ------------------------------------------------------------------

    def cmd_settings(self) -> dict[str, Any]:
        s = self.service.site.server
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
        return {"keepalive": s.keepalive, "digit_timeout": s.digit_timeout, "log_level": level}

    def cmd_set(self, name: str, value: str) -> dict[str, Any]:
        key = name.replace("-", "_").lower()
        if key not in SETTINGS:
            raise ControlError(
                f"unknown setting {name!r}", valid=[f"{k}: {v}" for k, v in SETTINGS.items()]
            )
        if key == "log_level":
            level = str(value).lower()
            if level not in LOG_LEVELS:
                raise ControlError(f"log_level {value!r} is not a level", valid=list(LOG_LEVELS))
            logging.getLogger().setLevel(level.upper())
            log.info("log level set to %s", level)
            return self.cmd_settings()
        try:
            number = float(value)
        except ValueError:
            raise ControlError(f"{key} = {value!r} is not a number") from None
        server = self.service.site.server
        if key == "keepalive":
            if not (number.is_integer() and 5 <= number <= 3600):
                raise ControlError(f"keepalive = {value} is out of range: write 5 to 3600")
            server = replace(server, keepalive=int(number))
        else:
            if not 0.5 <= number <= 60:
                raise ControlError(f"digit_timeout = {value} is out of range: write 0.5 to 60")
            server = replace(server, digit_timeout=number)
        self.service.apply_site(replace(self.service.site, server=server))
        log.info("setting %s = %s", key, value)
        return self.cmd_settings()

    def cmd_reload(self, force: bool = False) -> dict[str, Any]:
        return self.service.reload(force=bool(force))

    # --- events and completion ----------------------------------------------------------------

    def cmd_events(
        self, follow: bool = False, kinds: list[str] | None = None, recent: bool = False
    ) -> Any:
        # the server answers this one itself (it streams); here only the recent history
        history = list(self.service.bus.recent)
        return [e.to_dict() for e in history if not kinds or e.kind in kinds]

    def cmd_names(self) -> dict[str, list[str]]:
        registered = self._core(lambda core: [st.name for st in core.stations.registered()])
        configured = [d.name for d in self.service.site.devices]
        return {
            "devices": sorted(set(registered) | set(configured)),
            "lines": [ln.number for ln in self.service.site.lines],
            "messages": list(sendable()),
        }


def _store_state(store: CdrStore | None) -> dict[str, Any] | None:
    """Whether call records are being written (a full disk: they wait in memory)."""
    if store is None:
        return None
    return {
        "path": str(store.path),
        "ok": not store.failing,
        "problem": store.failing,
        "waiting": store.waiting if store.failing else 0,
        "dropped": store.dropped,
    }


# --- checking arguments -----------------------------------------------------------------------


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a parameter annotation (str, bool, int, float, None, unions,
    list[...] and dict[str, ...])."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        _, item = typing.get_args(hint)
        return isinstance(value, dict) and all(
            isinstance(k, str) and _matches(v, item) for k, v in value.items()
        )
    return False


def _describe(hint: Any, plural: bool = False) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(h, plural) for h in typing.get_args(hint))
    if origin is list:
        return f"{'lists' if plural else 'a list'} of {_describe(typing.get_args(hint)[0], True)}"
    if origin is dict:
        item = _describe(typing.get_args(hint)[1], True)
        return f"{'objects' if plural else 'an object'} of {item}"
    names = {str: "string", bool: "boolean", int: "whole number", float: "number"}
    if hint is type(None):
        return "null"
    if hint in names:
        return (
            names[hint] + "s"
            if plural
            else ("true or false" if hint is bool else "a " + names[hint])
        )
    return str(hint)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _usage(command: str, handler: Callable[..., Any]) -> str:
    hints = typing.get_type_hints(handler)
    params = inspect.signature(handler).parameters
    parts = [
        f"{n}: {_describe(hints[n])}" + ("" if p.default is inspect.Parameter.empty else "?")
        for n, p in params.items()
    ]
    return f"{command} {{{', '.join(parts)}}}" if parts else f"{command} (no arguments)"


# --- shaping data ---------------------------------------------------------------------------


def _button(slot: ButtonSlot, mwi: dict[str, bool], calls: list[dict[str, Any]]) -> dict[str, Any]:
    b = slot.button
    value = {"line": b.line, "speed_dial": b.number, "service_url": b.url, "feature": b.feature}
    out: dict[str, Any] = {
        "position": slot.position,
        "type": b.kind,
        "instance": slot.instance,
        "label": b.label or (slot.line.label if slot.line else "") or "",
        "value": value.get(b.kind, ""),
    }
    if b.kind == "line":
        out["mwi"] = mwi.get(b.line, False)
        out["state"] = _line_state(b.line, calls)
    return out


def _configured_device(site: Site, device: Device) -> dict[str, Any]:
    from skinnyctl.endpoints.sccp.stations import layout_for

    layout = layout_for(site, device)
    return {
        "device_name": device.name,
        "registered": False,
        "model": device.model.name,
        "device_type": device.model.device_type,
        "description": device.description,
        "firmware": site.firmware_for(device),
        "lines": list(device.lines),
        "buttons": [_button(slot, {}, []) | {"state": None} for slot in layout.slots],
    }


def _line_state(number: str, calls: list[dict[str, Any]]) -> str:
    """ "idle", else the states of the calls on the line (CallLayer.snapshot's legs)."""
    states = []
    for call in calls:
        for leg in call.get("legs", []) or [call]:
            if str(leg.get("line", leg.get("number", ""))) == number:
                states.append(str(leg.get("state", "active")))
    return ",".join(states) if states else "idle"


def parse_when(text: str | None, end: bool = False) -> datetime | None:
    """A date (2024-05-01: the whole day) or date-time in ISO form; naive = local time."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ControlError(
            f"{text!r} is not a date: write 2024-05-01 or 2024-05-01T13:30"
        ) from None
    if end and len(text) <= 10:
        when = when.replace(hour=23, minute=59, second=59, microsecond=999999)
    if when.tzinfo is None:
        when = when.astimezone()
    return when


def query_history(
    site: Site,
    number: str | None,
    since: str | None,
    until: str | None,
    store: CdrStore | None = None,
) -> list[dict[str, Any]]:
    """Call detail records: from ``store`` (the running serve's), else from the site's file (no
    server needed)."""
    start, end = parse_when(since), parse_when(until, end=True)
    if store is not None:
        return [dict(r) for r in store.query(number=number or None, since=start, until=end)]
    path = cdr_path(site)
    if not path.exists():
        return []  # no call yet: nothing to read, and nothing to create
    store = CdrStore(path)
    try:
        return [dict(r) for r in store.query(number=number or None, since=start, until=end)]
    finally:
        store.close()
