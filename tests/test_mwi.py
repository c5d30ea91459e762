"""Message waiting in the sans-IO core: lamps per sccp-protocol.md §7.12 on every device that
carries the line (not only the first line of one device, as mod_skinny does)."""

from __future__ import annotations

from pathlib import Path

from skinnyctl.calls import Connected, FakeClock, Received, Send
from skinnyctl.calls.events import Action
from skinnyctl.calls.manager import CallManager
from skinnyctl.sccp import (
    ButtonTemplateReq,
    LampMode,
    Register,
    SetLamp,
    StimulusType,
    decode,
    encode,
)
from skinnyctl.site import load_site

SITE = """
[server]
listen = "127.0.0.1"
sccp_port = 2000

[[lines]]
number = "1001"
mwi = {mwi}

[[lines]]
number = "1002"

[[devices]]
mac = "001120AABB01"
model = "7960"
[[devices.buttons]]
type = "line"
line = "1001"

[[devices]]
mac = "001120AABB02"
model = "7961"
[[devices.buttons]]
type = "line"
line = "1002"
[[devices.buttons]]
type = "line"
line = "1001"

[[devices]]
mac = "001120AABB03"
model = "7961"
[[devices.buttons]]
type = "line"
line = "1002"
"""

A, B, C = "SEP001120AABB01", "SEP001120AABB02", "SEP001120AABB03"
TYPES = {A: 7, B: 30018, C: 30018}


def make(tmp_path: Path, mwi: bool = False) -> CallManager:
    path = tmp_path / "site.toml"
    path.write_text(SITE.format(mwi=str(mwi).lower()))
    return CallManager(load_site(path), FakeClock())


def register(cm: CallManager, conn: int, name: str) -> list[Action]:
    cm.handle(Connected(conn, "127.0.0.1", 40000 + conn))
    reg = Register(device_name=name, device_type=TYPES[name], protocol_version=11)
    out = cm.handle(Received(conn, reg))
    assert any(type(a.message).__name__ == "RegisterAck" for a in out if isinstance(a, Send))
    return cm.handle(Received(conn, ButtonTemplateReq()))


def lamps(actions: list[Action]) -> list[tuple[int, int, int, int]]:
    """(conn, stimulus, instance, mode) of every SetLamp, through the codec (wire-exact)."""
    out = []
    for a in actions:
        if isinstance(a, Send) and isinstance(a.message, SetLamp):
            m = decode(SetLamp.MESSAGE_ID, encode(a.message, 11)[12:], 11)
            assert isinstance(m, SetLamp)
            out.append((a.conn, int(m.stimulus), m.stimulus_instance, int(m.lamp_mode)))
    return out


VM, ON, OFF = int(StimulusType.VOICEMAIL), int(LampMode.ON), int(LampMode.OFF)


def test_mwi_on_lights_every_carrier_at_its_own_instance(tmp_path: Path) -> None:
    cm = make(tmp_path)
    for conn, name in ((1, A), (2, B), (3, C)):
        assert lamps(register(cm, conn, name)) == []  # nothing waits: no lamp traffic
    out = cm.set_mwi("1001", True)
    # A carries 1001 as line 1, B as line 2; C does not carry it. Handset lamp (instance 0) too.
    assert sorted(lamps(out)) == [(1, VM, 0, ON), (1, VM, 1, ON), (2, VM, 0, ON), (2, VM, 2, ON)]
    # B's other line waits too: handset stays on when 1001 clears on B
    out = cm.set_mwi("1002", True)
    assert sorted(lamps(out)) == [(2, VM, 0, ON), (2, VM, 1, ON), (3, VM, 0, ON), (3, VM, 1, ON)]
    out = cm.set_mwi("1001", False)
    assert sorted(lamps(out)) == [(1, VM, 0, OFF), (1, VM, 1, OFF), (2, VM, 0, ON), (2, VM, 2, OFF)]


def test_site_mwi_is_shown_when_a_device_registers_and_again_on_re_registration(
    tmp_path: Path,
) -> None:
    cm = make(tmp_path, mwi=True)
    assert sorted(lamps(register(cm, 1, B))) == [(1, VM, 0, ON), (1, VM, 1, OFF), (1, VM, 2, ON)]
    assert lamps(register(cm, 2, C)) == []  # C does not carry 1001
    # turned off at run time, then the device comes back on a new connection: lamps stay off
    cm.set_mwi("1001", False)
    assert lamps(register(cm, 3, B)) == []
    cm.set_mwi("1001", True)
    assert sorted(lamps(register(cm, 4, A))) == [(4, VM, 0, ON), (4, VM, 1, ON)]


def test_mwi_for_a_line_nobody_registered_carries_is_remembered(tmp_path: Path) -> None:
    cm = make(tmp_path)
    assert cm.set_mwi("1001", True) == []
    assert cm.mwi["1001"] is True
    assert sorted(lamps(register(cm, 1, A))) == [(1, VM, 0, ON), (1, VM, 1, ON)]


def test_reload_applies_a_changed_site_mwi(tmp_path: Path) -> None:
    cm = make(tmp_path)
    register(cm, 1, A)
    path = tmp_path / "site.toml"
    path.write_text(SITE.format(mwi="true"))
    out = cm.reload(load_site(path))
    assert sorted(lamps(out)) == [(1, VM, 0, ON), (1, VM, 1, ON)]
    assert cm.reload(load_site(path)) == []  # unchanged file: nothing sent
