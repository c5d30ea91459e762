"""The threaded SCCP server in-process, over real TCP on loopback: discovery, expiry with a
controlled clock, unregister, reconnect, and misbehaving connections that must not disturb a
registered phone."""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skinnyctl.calls import FakeClock
from skinnyctl.phone import Rejected, SimPhone
from skinnyctl.runtime import SccpServer
from skinnyctl.sccp import KeepAlive, KeepAliveAck, SoftKeySetReq, SoftKeySetRes, encode
from skinnyctl.site import load_site
from tests.test_register import write_site

FRONT = "001120AABB01"
BACK = "001120AABB02"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(tmp_path: Path, clock: FakeClock) -> Iterator[SccpServer]:
    site = load_site(write_site(tmp_path))
    srv = SccpServer(site, "127.0.0.1", 0, clock=clock, out_limit=64 * 1024)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def phone(server: SccpServer, mac: str = FRONT, model: str = "7960", **kw: object) -> SimPhone:
    return SimPhone("127.0.0.1", server.port, mac, model, **kw).connect()  # type: ignore[arg-type]


def test_unknown_mac_rejected_and_discovered(server: SccpServer) -> None:
    with phone(server, "0011209999AA", "7941") as p:
        with pytest.raises(Rejected) as exc:
            p.register()
        assert "SEP0011209999AA" in exc.value.text
        assert p.wait_closed(5)
    found = server.discovered.get("0011209999AA")
    assert found is not None
    assert found.model == "7941"
    assert found.ip == "127.0.0.1"
    assert "sccp" in found.sources
    assert server.devices() == []


def test_keepalive_expiry_with_controlled_clock(server: SccpServer, clock: FakeClock) -> None:
    events = server.bus.subscribe({"register", "expire"})
    with phone(server) as p:
        p.register(keepalive=False)
        assert events.get(5).kind == "register"  # type: ignore[union-attr]
        clock.advance(59)  # within 2 x 30 s: still there
        server.poke()
        p.send(KeepAlive())
        p.wait_for(KeepAliveAck, 5)
        clock.advance(59)  # the keepalive refreshed it
        server.poke()
        assert [d["device_name"] for d in server.devices()] == ["SEP" + FRONT]
        clock.advance(2)  # now 61 s of silence
        server.poke()
        assert p.wait_closed(5)
        ev = events.get(5)
        assert ev is not None and ev.kind == "expire"
        assert ev.fields["device_name"] == "SEP" + FRONT
        assert ev.fields["codecs"]  # CapabilitiesRes was recorded
        assert "no keepalive" in ev.fields["reason"]
    assert server.devices() == []


def test_unregister_then_reconnect(server: SccpServer) -> None:
    events = server.bus.subscribe({"register", "unregister", "expire"})
    with phone(server) as p:
        p.register()
        ack = p.unregister()
        assert ack.status == 0
        assert p.wait_closed(5)
    kinds = [events.get(5).kind for _ in range(2)]  # type: ignore[union-attr]
    assert kinds == ["register", "unregister"]
    with phone(server) as again:
        again.register()
        again.send(KeepAlive())
        again.wait_for(KeepAliveAck, 5)
        assert [d["device_name"] for d in server.devices()] == ["SEP" + FRONT]


def test_second_registration_replaces_old_connection(server: SccpServer) -> None:
    events = server.bus.subscribe({"unregister"})
    with phone(server) as old, phone(server) as new:
        old.register()
        new.register()
        assert old.wait_closed(5)  # the old connection is closed...
        ev = events.get(5)
        assert ev is not None and "replaced" in ev.fields["reason"]
        new.send(KeepAlive())  # ...the new one works
        new.wait_for(KeepAliveAck, 5)
        devices = server.devices()
        assert len(devices) == 1 and devices[0]["port"] == new.rtp_port


def _raw(server: SccpServer) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return s


def _closed_by_server(s: socket.socket) -> bool:
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_garbage_connection_closed_while_phone_keeps_its_acks(server: SccpServer) -> None:
    with phone(server, BACK, "7961") as p:
        p.register(keepalive=False)
        garbage = _raw(server)
        garbage.sendall(os.urandom(8192))
        oversized = _raw(server)
        oversized.sendall(struct.pack("<III", 1_000_000, 0, 1) + bytes(1000))
        n = 50
        for _ in range(n):
            p.send(KeepAlive())
        assert _closed_by_server(garbage)
        assert _closed_by_server(oversized)
        for _ in range(n):
            p.send(KeepAlive())
        for _ in range(2 * n):
            p.wait_for(KeepAliveAck, 10)
        assert p.count(KeepAliveAck) == 2 * n
        assert server.stats["protocol_errors"] >= 2
        garbage.close()
        oversized.close()


def test_client_that_never_reads_is_closed(server: SccpServer) -> None:
    with phone(server, BACK, "7961") as p:
        p.register(keepalive=False)
        lazy = socket.socket()
        lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        lazy.settimeout(30)
        lazy.connect(("127.0.0.1", server.port))
        lazy.sendall(encode(SimPhone("127.0.0.1", 1, FRONT, "7960").register_message()))
        # ~800-byte answers to 12-byte requests, never read: the server must give up on it
        request = encode(SoftKeySetReq(), 11)
        sent_ka = 0
        try:
            for _ in range(100):
                lazy.sendall(request * 200)
                p.send(KeepAlive())
                sent_ka += 1
        except OSError:
            pass  # the server closed it while we were still sending
        # Wait (without reading: that would make it a good client) until the server gives up;
        # it reads a connection no faster than it answers it, so this takes a moment.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if server.stats["overflows"]:
                break
            p.send(KeepAlive())
            sent_ka += 1
            p.wait_for(KeepAliveAck, 10)
        assert server.stats["overflows"] == 1
        assert _closed_by_server(lazy)
        lazy.close()
        # the well-behaved phone got an answer to every keepalive it sent, and still works
        while p.count(KeepAliveAck) < sent_ka:
            p.wait_for(KeepAliveAck, 10)
        assert p.count(KeepAliveAck) == sent_ka
        p.send(SoftKeySetReq())
        p.wait_for(SoftKeySetRes, 5)
