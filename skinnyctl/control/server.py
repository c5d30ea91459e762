"""The control endpoint of ``serve``: a Unix socket only its owner can open (mode 0600), and
optionally TCP on 127.0.0.1 with a token from site.toml.

One accept thread per listener, one thread per client (clients are few: the administrator's
CLI, a script following events). A bad request gets an error answer, never a crash; a client
that sends garbage or too much is dropped. Requests run via :class:`Commands`, which checks
every argument against the command's signature.

Any local user can connect to the TCP port, token or not: each listener has its own client
limit (so TCP connections can never lock the owner out of the Unix socket), a TCP client must
send a request carrying the token within TOKEN_WAIT seconds of connecting or it is closed, and
a client that sends no request for CLIENT_IDLE seconds is closed (``events --follow`` only
listens, and stays).
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import json
import logging
import os
import socket
import stat
import threading
from pathlib import Path
from typing import Any

from skinnyctl.errors import UserError

from .commands import Commands
from .interface import Served
from .protocol import MAX_REQUEST, ControlError, encode

log = logging.getLogger("skinnyctl.control")

MAX_CLIENTS = 32  # per Unix listener: the owner's CLI and scripts
MAX_TCP_CLIENTS = 8  # per TCP listener
TOKEN_WAIT = 1.0  # seconds a TCP client has to send its first (token-carrying) request
CLIENT_IDLE = 60.0  # seconds without a request before a client is closed


class ControlServer:
    def __init__(
        self,
        service: Served,
        socket_path: Path,
        tcp_port: int = 0,
        token: str = "",
        tcp_host: str = "127.0.0.1",
    ) -> None:
        if tcp_port and not token:
            raise UserError("control_tcp_port is set but control_token is empty: set a token")
        self.service = service
        self.commands = Commands(service)
        self.socket_path = socket_path
        self.tcp_port = tcp_port
        self.tcp_host = tcp_host
        self.token = token
        self._listeners: list[tuple[socket.socket, bool]] = []  # (socket, needs token)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._clients: dict[bool, set[socket.socket]] = {False: set(), True: set()}  # by TCP
        self._lock = threading.Lock()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._listeners.append((self._bind_unix(), False))
        if self.tcp_port:
            self._listeners.append((self._bind_tcp(), True))
        for sock, needs_token in self._listeners:
            t = threading.Thread(
                target=self._accept_loop, args=(sock, needs_token), name="control", daemon=True
            )
            t.start()
            self._threads.append(t)
        log.info(
            "control socket %s%s",
            self.socket_path,
            f", TCP {self.tcp_host}:{self.tcp_port}" if self.tcp_port else "",
        )

    def stop(self) -> None:
        self._stopping.set()
        for sock, _ in self._listeners:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        with self._lock:
            for c in [c for clients in self._clients.values() for c in clients]:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(2.0)
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(self.socket_path.lstat().st_mode):
                self.socket_path.unlink()

    def _bind_unix(self) -> socket.socket:
        path = self.socket_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create {path.parent} for the control socket: {e}") from None
        if path.exists() or path.is_symlink():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise UserError(
                    f"{path} exists and is not a socket: remove it or set [server] control_socket"
                )
            if _alive(path):
                raise UserError(
                    f"another skinnyctl serve answers on {path}: stop it first, or set "
                    "[server] control_socket to another path"
                )
            path.unlink()  # left over by a serve that died
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Owner-only from the first instant: bind under a umask that leaves no group/other bits.
        old = os.umask(0o177)
        try:
            sock.bind(str(path))
        except OSError as e:
            sock.close()
            raise UserError(f"cannot create the control socket {path}: {e.strerror or e}") from None
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(16)
        return sock

    def _bind_tcp(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.tcp_host, self.tcp_port))
        except OSError as e:
            sock.close()
            if e.errno == errno.EADDRINUSE:
                raise UserError(
                    f"control port {self.tcp_host}:{self.tcp_port} is in use: set another "
                    "[server] control_tcp_port"
                ) from None
            raise UserError(f"cannot listen on {self.tcp_host}:{self.tcp_port}: {e}") from None
        sock.listen(16)
        return sock

    # --- serving ------------------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket, needs_token: bool) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            limit = MAX_TCP_CLIENTS if needs_token else MAX_CLIENTS
            with self._lock:
                clients = self._clients[needs_token]
                if len(clients) >= limit:
                    log.warning(
                        "control: too many %s clients, refusing one", "TCP" if needs_token else ""
                    )
                    with contextlib.suppress(OSError):
                        client.settimeout(0.1)
                        client.sendall(encode({"ok": False, "error": "too many clients"}))
                    client.close()
                    continue
                clients.add(client)
            threading.Thread(
                target=self._serve_client,
                args=(client, needs_token),
                name="control-client",
                daemon=True,
            ).start()

    def _serve_client(self, client: socket.socket, needs_token: bool) -> None:
        try:
            with client, client.makefile("rb") as reader:
                # The token first, and soon: an idle TCP connection must not hold a slot.
                client.settimeout(TOKEN_WAIT if needs_token else CLIENT_IDLE)
                first = True
                while not self._stopping.is_set():
                    line = _read_request(reader, client, first and needs_token)
                    if line is None:
                        return
                    client.settimeout(CLIENT_IDLE)
                    request = _parse(line)
                    if isinstance(request, str):
                        if first and needs_token:
                            return  # no token in it: not one of ours
                        client.sendall(encode({"ok": False, "error": request}))
                        continue
                    if needs_token and not self._token_ok(request.get("token")):
                        log.warning("control: TCP request with a wrong token refused")
                        client.sendall(encode({"ok": False, "error": "wrong or missing token"}))
                        return
                    first = False
                    args = request.get("args")
                    if request.get("command") == "events" and isinstance(args, dict):
                        problem = self.commands.check("events", args)
                        if problem is None and args.get("follow"):
                            self._follow(client, args)
                            return
                    client.sendall(encode(self._answer(request)))
        except OSError:
            pass  # the client went away, or was idle too long
        finally:
            with self._lock:
                self._clients[needs_token].discard(client)

    def _token_ok(self, given: Any) -> bool:
        return isinstance(given, str) and hmac.compare_digest(given.encode(), self.token.encode())

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        command = request.get("command")
        args = request.get("args")
        if args is None:
            args = {}
        if not isinstance(command, str) or not isinstance(args, dict):
            return {"ok": False, "error": 'a request is {"command": NAME, "args": {...}}'}
        try:
            return {"ok": True, "result": self.commands.run(command, args)}
        except ControlError as e:
            return {"ok": False, "error": str(e), "valid": e.valid, "problems": e.problems}
        except TimeoutError:
            return {"ok": False, "error": "the call manager did not answer in time"}
        except Exception as e:
            log.exception("control: %s failed", command)
            return {"ok": False, "error": f"{command} failed: {e}"}

    def _follow(self, client: socket.socket, args: dict[str, Any]) -> None:
        kinds = args.get("kinds") or None
        sub = self.service.bus.subscribe(kinds)
        try:
            recent = list(self.service.bus.recent)
            seen = {id(e) for e in recent}
            shown = [e.to_dict() for e in recent if not kinds or e.kind in kinds]
            client.sendall(encode({"ok": True, "result": shown if args.get("recent") else []}))
            client.setblocking(True)
            while not self._stopping.is_set():
                event = sub.get(timeout=0.5)
                if event is None:
                    if _peer_closed(client):
                        return
                    continue
                if id(event) in seen:
                    seen.discard(id(event))
                    continue
                client.sendall(encode({"event": event.to_dict()}))
        finally:
            sub.close()


def _read_request(reader: Any, client: socket.socket, first_tcp: bool) -> bytes | None:
    """The next request line; None when the client is gone, sent too much, or (on TCP, the
    first line) did not send it within TOKEN_WAIT."""
    try:
        line: bytes = reader.readline(MAX_REQUEST + 1)
    except TimeoutError:
        if first_tcp:
            log.warning("control: TCP client sent no request within %.0f s; closed", TOKEN_WAIT)
        return None
    if not line:
        return None
    if len(line) > MAX_REQUEST:
        client.sendall(encode({"ok": False, "error": "request too large"}))
        return None
    return line


def _parse(line: bytes) -> dict[str, Any] | str:
    try:
        request = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"not JSON: {e}"
    except RecursionError:
        return "not JSON this program reads: nested too deeply"
    if not isinstance(request, dict):
        return "a request is a JSON object"
    return request


def _peer_closed(client: socket.socket) -> bool:
    try:
        data = client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return data == b""


def _alive(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
        except OSError:
            return False
        return True
