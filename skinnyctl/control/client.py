"""Talking to a running ``serve``: one request, one answer (or a stream of events)."""

from __future__ import annotations

import errno
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .protocol import MAX_REQUEST, ControlError, encode


class NotRunning(ControlError):
    """No serve listens where the client looked (no socket, connection refused)."""


class ControlClient:
    """``ControlClient(socket_path=PATH)`` or ``ControlClient(tcp=(HOST, PORT), token=...)``."""

    def __init__(
        self,
        socket_path: Path | None = None,
        tcp: tuple[str, int] | None = None,
        token: str = "",
        timeout: float = 15.0,
    ) -> None:
        if socket_path is None and tcp is None:
            raise ValueError("give socket_path or tcp")
        self.socket_path = socket_path
        self.tcp = tcp
        self.token = token
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        if self.tcp is not None:
            where = f"{self.tcp[0]}:{self.tcp[1]}"
            try:
                return socket.create_connection(self.tcp, timeout=self.timeout)
            except OSError as e:
                raise NotRunning(
                    f"cannot reach skinnyctl serve at {where}: {e.strerror or e} "
                    "(is it running, with control_tcp_port set?)"
                ) from None
        assert self.socket_path is not None
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(str(self.socket_path))
        except OSError as e:
            s.close()
            if e.errno in (errno.ENOENT, errno.ECONNREFUSED):
                raise NotRunning(
                    f"no skinnyctl serve answers on {self.socket_path}: start it with "
                    "`skinnyctl serve SITE`, or give --socket PATH"
                ) from None
            if e.errno == errno.EACCES:
                raise ControlError(
                    f"permission denied on {self.socket_path}: the control socket is only for "
                    "the user running serve (use sudo -u that user)"
                ) from None
            raise ControlError(f"cannot connect to {self.socket_path}: {e.strerror}") from None
        return s

    def reachable(self) -> bool:
        """Whether a serve answers here: False when none listens; a server we may not talk
        to (permission) raises ControlError, as a request would."""
        try:
            self._connect().close()
        except NotRunning:
            return False
        return True

    def _request(self, command: str, args: dict[str, Any]) -> bytes:
        req: dict[str, Any] = {"command": command, "args": args}
        if self.tcp is not None:
            req["token"] = self.token
        return encode(req)

    def request(self, command: str, **args: Any) -> Any:
        """The result of ``command``; a refusal raises ControlError (with valid choices)."""
        with self._connect() as s, s.makefile("rb") as reader:
            s.sendall(self._request(command, args))
            line = reader.readline(MAX_REQUEST * 64)
        return _result(line)

    def events(self, kinds: list[str] | None = None, recent: bool = False) -> Iterator[Any]:
        """Recent events (if asked), then each new event as it happens; forever."""
        s = self._connect()
        try:
            s.sendall(self._request("events", {"follow": True, "kinds": kinds, "recent": recent}))
            s.settimeout(None)
            with s.makefile("rb") as reader:
                yield from _result(reader.readline(MAX_REQUEST * 64))
                for line in reader:
                    msg = json.loads(line)
                    if "event" in msg:
                        yield msg["event"]
        finally:
            s.close()


def _result(line: bytes) -> Any:
    if not line:
        raise ControlError("the server closed the connection without answering")
    try:
        answer = json.loads(line)
    except json.JSONDecodeError:
        raise ControlError("the server sent something that is not JSON") from None
    if not answer.get("ok"):
        raise ControlError(
            answer.get("error", "refused"), answer.get("valid"), answer.get("problems")
        )
    return answer.get("result")
