"""Phones register against ``python -m skinnyctl serve`` over real TCP on loopback.

The server is the real program started as a subprocess from a site.toml; the phones are
``SimPhone``s making the whole request sequence of sccp-protocol.md §7.1; every frame is
checked with Wireshark's dissector (tshark).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skinnyctl.phone import Rejected, SimPhone
from skinnyctl.sccp import KeepAliveAck, SoftKeySetIndex, StimulusType
from skinnyctl.sccp.enums import label
from tests.tshark import assert_clean

REPO = Path(__file__).resolve().parent.parent

# Two phones of different models, a shared line, every kind of button, an expansion module,
# a custom softkey set, firmware per model.
SITE_TOML = """
[server]
addresses = ["127.0.0.1"]
listen = "127.0.0.1"
sccp_port = {sccp_port}
tftp_root = "tftp"
tftp_port = {tftp_port}
keepalive = {keepalive}
date_format = "M/D/Y"
time_zone = "Europe/Paris"
rtp_port_min = {rtp_min}
rtp_port_max = {rtp_max}

[[lines]]
number = "1001"
display_name = "Reception"
label = "Front"

[[lines]]
number = "1002"
display_name = "Office"
forward_busy = "1001"

[[lines]]
number = "1003"
display_name = "Sales"

[[devices]]
mac = "00:11:20:aa:bb:01"
model = "7960"
description = "Front desk"

[[devices.buttons]]
type = "line"
line = "1001"

[[devices.buttons]]
type = "line"
line = "1003"
label = "Sales (shared)"

[[devices.buttons]]
type = "speed_dial"
number = "1002"
label = "Office"

[[devices.buttons]]
type = "service_url"
url = "http://127.0.0.1/services.xml"
label = "Directory"

[[devices.buttons]]
type = "feature"
feature = "dnd"

[[devices]]
mac = "00:11:20:aa:bb:02"
model = "7961"
description = "Back office"
softkeys = "office"
expansion_modules = ["7914"]

[[devices.buttons]]
type = "line"
line = "1002"

[[devices.buttons]]
type = "line"
line = "1003"

[[devices.buttons]]
type = "speed_dial"
number = "1001"
label = "Reception"

[[devices.buttons]]
type = "speed_dial"
number = "*97"
label = "Voicemail"

[softkey_sets.office]
KeySetOnHook = ["NewCall", "CFwdAll", "DND"]

[models."7960"]
firmware = "P0030801SR02"
"""


# Ports for the servers tests start (SCCP, TFTP, SIP, control, SMTP) come from a band below
# the kernel's ephemeral range (32768-60999 by default) and below every RTP range the tests
# give (20000 and up): a port the kernel picked could land inside a site's RTP range, which
# the loader refuses for tftp_port, or be taken by a phone's RTP socket meanwhile.
SERVER_PORTS = range(10000, 16384)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port of :data:`SERVER_PORTS` nothing is bound to now (``kind``: TCP or UDP)."""
    for _ in range(200):
        port = random.choice(SERVER_PORTS)
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {SERVER_PORTS}")


def write_site(directory: Path, keepalive: int = 30, sccp_port: int | None = None) -> Path:
    (directory / "tftp").mkdir(exist_ok=True)
    rtp_min = 40000 + (os.getpid() % 500) * 40
    text = SITE_TOML.format(
        sccp_port=sccp_port or free_port(),
        tftp_port=free_port(socket.SOCK_DGRAM),
        keepalive=keepalive,
        rtp_min=rtp_min,
        rtp_max=rtp_min + 39,
    )
    path = directory / "site.toml"
    path.write_text(text)
    return path


def start_serve(site: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "skinnyctl", "serve", str(site)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_listening(
    proc: subprocess.Popen[str], port: int, timeout: float = 20.0, host: str = "127.0.0.1"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read()}")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("serve did not start listening")


def stop_serve(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    site = write_site(tmp_path)
    port = int(site.read_text().split("sccp_port = ")[1].split()[0])
    proc = start_serve(site)
    try:
        wait_listening(proc, port)
        yield port, proc
    finally:
        if proc.poll() is None:
            stop_serve(proc)


def test_two_models_register_and_get_what_site_toml_says(
    served: tuple[int, subprocess.Popen[str]],
) -> None:
    port, proc = served
    with (
        SimPhone("127.0.0.1", port, "001120AABB01", "7960") as front,
        SimPhone("127.0.0.1", port, "001120AABB02", "7961") as back,
    ):
        front.connect()
        back.connect()
        r1 = front.register()
        r2 = back.register()

        # RegisterAck from [server]; protocol capped at 11 (7960 announces 11, 7961 17)
        for reg in (r1, r2):
            assert reg.ack.keep_alive_interval == 30
            assert reg.ack.secondary_keep_alive_interval == 30
            assert reg.ack.date_template == "M/D/Y"
            assert reg.ack.protocol_version == 11

        # 7960: line, line, speed dial, service URL, feature, in that order
        assert r1.buttons is not None
        assert [(d.instance_number, d.button_definition) for d in r1.buttons.definitions] == [
            (1, StimulusType.LINE),
            (2, StimulusType.LINE),
            (1, StimulusType.SPEED_DIAL),
            (1, StimulusType.SERVICE_URL),
            (1, StimulusType.FEATURE),
        ]
        assert (
            r1.lines[1].line_dir_number,
            r1.lines[1].line_fully_qualified_display_name,
            r1.lines[1].line_text_label,
        ) == ("1001", "Reception", "Front")
        assert (r1.lines[2].line_dir_number, r1.lines[2].line_text_label) == (
            "1003",
            "Sales (shared)",
        )
        assert (
            r1.speed_dials[1].speed_dial_dir_number,
            r1.speed_dials[1].speed_dial_display_name,
        ) == ("1002", "Office")
        assert r1.service_urls[1].service_url == "http://127.0.0.1/services.xml"
        assert r1.service_urls[1].service_url_display_name == "Directory"
        assert r1.features[1].feature_id == StimulusType.DO_NOT_DISTURB
        assert r1.version is not None and r1.version.version == "P0030801SR02"
        assert r1.config is not None and r1.config.device_name == "SEP001120AABB01"
        assert (r1.config.number_lines, r1.config.number_speed_dials) == (2, 1)
        assert r1.time is not None and r1.time.year >= 2024

        # 7961 (+7914): its own lines, forward from site.toml, its own softkey set
        assert r2.buttons is not None
        assert [d.button_definition for d in r2.buttons.definitions] == [
            StimulusType.LINE,
            StimulusType.LINE,
            StimulusType.SPEED_DIAL,
            StimulusType.SPEED_DIAL,
        ]
        assert r2.lines[1].line_dir_number == "1002"
        assert r2.lines[2].line_dir_number == "1003"
        assert r2.forwards[1].forward_busy_active == 1
        assert r2.forwards[1].forward_busy_dirnum == "1001"
        assert r2.forwards[2].active_forward == 0
        assert [
            (s.speed_dial_dir_number, s.speed_dial_display_name) for s in r2.speed_dials.values()
        ] == [("1001", "Reception"), ("*97", "Voicemail")]

        # Softkeys: template of 20 built-in labels; sets per device
        assert r2.softkeys is not None
        assert r2.softkeys.definitions[0].soft_key_label == label(1)  # Redial
        events = {d.soft_key_event: d.soft_key_label for d in r2.softkeys.definitions}
        assert r1.softkey_sets is not None and r2.softkey_sets is not None
        on_hook_front = r1.softkey_sets.sets[SoftKeySetIndex.ON_HOOK].soft_key_template_index
        on_hook_back = r2.softkey_sets.sets[SoftKeySetIndex.ON_HOOK].soft_key_template_index
        assert [events.get(i) for i in on_hook_front[:2]] == [label(2), label(1)]  # NewCall Redial
        assert [events.get(i) for i in on_hook_back[:3]] == [label(2), label(5), label(63)]
        assert r2.select is not None and r2.select.soft_key_set_index == SoftKeySetIndex.ON_HOOK

        # Keepalive answered
        from skinnyctl.sccp import KeepAlive

        back.send(KeepAlive())
        back.wait_for(KeepAliveAck, 5)

        # Every frame, both directions, dissects cleanly
        for phone in (front, back):
            frames = list(phone.frames)
            assert sum(1 for d, _ in frames if d == "from_cm") >= 10
            assert_clean(frames)

        # An unknown MAC is rejected with a readable reason
        with SimPhone("127.0.0.1", port, "001120FFFF99", "7941") as stranger:
            stranger.connect()
            with pytest.raises(Rejected, match="SEP001120FFFF99"):
                stranger.register()
            assert stranger.wait_closed(5)
            assert_clean(stranger.frames)

    err = stop_serve(proc)
    assert "registered SEP001120AABB01" in err
    assert "registered SEP001120AABB02" in err
    assert "rejected SEP001120FFFF99" in err


def test_port_taken_is_a_user_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        site = write_site(tmp_path, sccp_port=port)
        proc = start_serve(site)
        try:
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 1
    assert "already in use" in err
    assert "Traceback" not in err
