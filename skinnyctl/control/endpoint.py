"""How the CLI finds a running serve: ``--socket``, ``--tcp HOST:PORT`` (+ token), else the
socket named by the site file (``[server] control_socket``, default ``<site dir>/skinnyctl.sock``).
Also the names shell completion offers (from the site file and, if one runs, the server)."""

from __future__ import annotations

import contextlib
import os
import tomllib
from pathlib import Path

from skinnyctl.site.files import FileRefused, site_text
from skinnyctl.site.loader import normalize_mac

from .build import fields_of, find_message, sendable
from .client import ControlClient
from .protocol import ControlError, endpoint_from_site_file


def client_for(
    site: Path, socket_path: Path | None = None, tcp: str | None = None, token: str | None = None
) -> ControlClient:
    sock, _port, site_token = endpoint_from_site_file(site)
    if tcp:
        host, _, port_text = tcp.rpartition(":")
        if not port_text.isdigit():
            raise ControlError(f"--tcp {tcp!r}: write HOST:PORT, e.g. 127.0.0.1:7002")
        secret = token or os.environ.get("SKINNYCTL_TOKEN") or site_token
        return ControlClient(tcp=(host or "127.0.0.1", int(port_text)), token=secret)
    return ControlClient(socket_path=socket_path or sock)


def site_device_names(site: Path) -> list[str]:
    try:
        data = tomllib.loads(site_text(site))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, FileRefused):
        return []
    names = []
    for d in data.get("devices", []) if isinstance(data.get("devices"), list) else []:
        mac = d.get("mac") if isinstance(d, dict) else None
        if isinstance(mac, str):
            with contextlib.suppress(ValueError):  # a broken MAC names no device
                names.append("SEP" + normalize_mac(mac))
    return names


def complete_devices(site: Path, incomplete: str) -> list[str]:
    names = set(site_device_names(site))
    try:
        client = client_for(site)
        client.timeout = 1.0
        names.update(client.request("names")["devices"])
    except (ControlError, OSError, KeyError, TypeError):
        pass  # no server: the site file's names are enough
    return sorted(n for n in names if n.upper().startswith(incomplete.upper()))


def complete_messages(incomplete: str) -> list[str]:
    return [n for n in sendable() if n.lower().startswith(incomplete.lower())]


def complete_fields(message: str | None, incomplete: str) -> list[str]:
    if not message:
        return []
    try:
        infos = fields_of(find_message(message))
    except ValueError:
        return []
    name, eq, value = incomplete.partition("=")
    if not eq:
        return [f.name + "=" for f in infos if f.name.startswith(name)]
    for f in infos:
        if f.name == name and f.enum is not None:
            return [
                f"{name}={m.lower()}"
                for m in f.enum.__members__
                if m.lower().startswith(value.lower())
            ]
    return []
