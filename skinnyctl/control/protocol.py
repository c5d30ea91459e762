"""The control protocol: one JSON object per line, both ways (docs/control-api.md).

Request::   {"command": "status", "args": {...}, "token": "..."}      (token: TCP only)
Response::  {"ok": true, "result": ...}
            {"ok": false, "error": "what went wrong", "valid": ["..."], "problems": ["..."]}

``events`` with ``follow`` keeps the connection: after the response, one ``{"event": ...}``
line per event until the client closes. Requests and responses are UTF-8; a request line is at
most MAX_REQUEST bytes.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

MAX_REQUEST = 1 << 20
SOCKET_NAME = "skinnyctl.sock"


class ControlError(Exception):
    """An error answer of the server (or no server to ask)."""

    def __init__(
        self, message: str, valid: list[str] | None = None, problems: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.valid = valid or []
        self.problems = problems or []


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n"


def default_socket(site_path: Path, configured: Path | None) -> Path:
    """``[server] control_socket`` (relative to the site's directory), else
    ``<site dir>/skinnyctl.sock``."""
    base = site_path.resolve().parent
    if configured is None:
        return base / SOCKET_NAME
    return configured if configured.is_absolute() else base / configured


def endpoint_from_site_file(site_path: Path) -> tuple[Path, int, str]:
    """(socket path, TCP port or 0, token) read from site.toml without validating it: the CLI
    must reach a running server even while the file is broken (that is what reload refuses)."""
    server: dict[str, Any] = {}
    from skinnyctl.site.files import FileRefused, site_text

    try:
        data = tomllib.loads(site_text(site_path))
        raw = data.get("server", {})
        server = raw if isinstance(raw, dict) else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, FileRefused):
        pass
    sock = server.get("control_socket")
    port = server.get("control_tcp_port", 0)
    token = server.get("control_token", "")
    return (
        default_socket(site_path, Path(sock) if isinstance(sock, str) and sock else None),
        port if isinstance(port, int) else 0,
        token if isinstance(token, str) else "",
    )
