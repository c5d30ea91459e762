"""The load client (``Swarm``) against ``python -m skinnyctl serve``: phones on one loop
register, then call each other through the real call flow, with RTP through the relay."""

from __future__ import annotations

import time
from pathlib import Path

from skinnyctl.phone.swarm import Swarm
from tests.test_phone_cli import site  # noqa: F401  (the fixture: serve with four phones)

PHONES = [
    ("001122334401", "7960"),
    ("001122334402", "7961"),
    ("001122334403", "7960"),
    ("001122334404", "7960"),
]


def _port(site_path: Path) -> int:
    for line in site_path.read_text().splitlines():
        if line.startswith("sccp_port"):
            return int(line.split("=")[1])
    raise AssertionError("no sccp_port")


def test_swarm_registers_and_calls_with_media(site: Path) -> None:  # noqa: F811
    with Swarm("127.0.0.1", _port(site), PHONES) as swarm:
        storm = swarm.register_all(timeout=30)
        assert storm.registered == 4, storm.failures
        assert all(p.keepalive_interval > 0 for p in swarm.phones)  # from RegisterAck
        a, b, c, d = swarm.phones
        swarm.rtp_pps = 50
        keypad = swarm.place_call(a, b, "2002", hold=0.5)
        enbloc = swarm.place_call(c, d, "2004", hold=0.5, dial="enbloc")
        deadline = time.monotonic() + 30  # a guard against hanging, not a measurement
        while not (keypad.done and enbloc.done) and time.monotonic() < deadline:
            swarm.poll(0.05)
        for call in (keypad, enbloc):
            assert call.done and not call.error, call
            assert call.off_hook < call.dial_tone < call.ring_in < call.connected < call.ended
            assert call.caller_rtp > 0 and call.callee_rtp > 0  # relayed both ways
            assert call.ok
        assert not any(p.busy or p.rtp for p in swarm.phones)  # hung up, sockets closed
        # a phone can be called again once its call is over
        again = swarm.place_call(b, a, "2001", hold=0.2)
        deadline = time.monotonic() + 30
        while not again.done and time.monotonic() < deadline:
            swarm.poll(0.05)
        assert again.ok, again
