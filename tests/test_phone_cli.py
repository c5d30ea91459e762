"""``skinnyctl phone`` against ``python -m skinnyctl serve``: both real programs, over loopback.

One simulated phone answers, another calls it: ring, answer and RTP both ways through the
server's relay are reported; a MAC the site does not know is refused with a readable error;
many phones register at once; bad arguments are refused without a traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_register import free_port, start_serve, stop_serve, wait_listening

REPO = Path(__file__).resolve().parent.parent

SITE = """
[server]
addresses = ["127.0.0.1"]
listen = "127.0.0.1"
sccp_port = {sccp}
tftp_root = "tftp"
tftp_port = {tftp}
media = "relay"
rtp_port_min = {rtp}
rtp_port_max = {rtp_max}

[[lines]]
number = "2001"
display_name = "Alice"

[[lines]]
number = "2002"
display_name = "Bob"

[[lines]]
number = "2003"
display_name = "Carol"

[[lines]]
number = "2004"
display_name = "Dave"

[[dialplan]]
pattern = "^20\\\\d\\\\d$"
action = "process"

[[devices]]
mac = "00:11:22:33:44:01"
model = "7960"
[[devices.buttons]]
type = "line"
line = "2001"
[[devices.buttons]]
type = "speed_dial"
number = "2002"
label = "Bob"

[[devices]]
mac = "00:11:22:33:44:02"
model = "7961"
[[devices.buttons]]
type = "line"
line = "2002"

[[devices]]
mac = "00:11:22:33:44:03"
model = "7960"
[[devices.buttons]]
type = "line"
line = "2003"

[[devices]]
mac = "00:11:22:33:44:04"
model = "7960"
[[devices.buttons]]
type = "line"
line = "2004"
"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "tftp").mkdir()
    sccp = free_port()
    rtp = 42000 + (os.getpid() % 400) * 40
    path = tmp_path / "site.toml"
    path.write_text(
        SITE.format(sccp=sccp, tftp=free_port(socket.SOCK_DGRAM), rtp=rtp, rtp_max=rtp + 39)
    )
    proc = start_serve(path)
    try:
        wait_listening(proc, sccp)
        yield path
    finally:
        stop_serve(proc)


def phone(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "skinnyctl", "phone", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def finish(p: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=60)
    return p.returncode, out, err


def test_register_shows_what_the_server_sent(site: Path) -> None:
    rc, out, err = finish(phone("00:11:22:33:44:01", "--site", str(site)))
    assert rc == 0, err
    assert "SEP001122334401 (7960) registered" in out
    assert "line 1: 2001 name 'Alice'" in out
    assert "speed dial 1: 2002 'Bob'" in out
    assert "keepalive 30 s" in out


def test_call_and_answer_with_media(site: Path) -> None:
    callee = phone("001122334402", "-m", "7961", "--answer", "--hold", "3", "--site", str(site))
    # the callee must be registered before the call; its first line says so
    assert callee.stdout is not None
    first = callee.stdout.readline()
    assert "registered" in first, first + (callee.stderr.read() if callee.stderr else "")
    time.sleep(0.5)  # rest of its report and the 'waiting' line
    caller = phone(
        "0011.2233.4401", "--call", "2002", "--hold", "1", "--wait", "10", "--site", str(site)
    )
    rc, out, err = finish(caller)
    assert rc == 0, out + err
    assert "dialled 2002" in out
    assert "ringing the far end" in out
    assert "answered after" in out
    assert "media: sending RTP to 127.0.0.1:" in out
    assert "media: RTP received back" in out
    assert "hung up" in out
    rc, out2, err2 = finish(callee)
    assert rc == 0, out2 + err2
    assert "ringing from Alice <2001>" in out2
    assert "answered" in out2
    assert "media: RTP received back" in out2


def test_unknown_number_and_unknown_mac_are_refused(site: Path) -> None:
    rc, out, err = finish(phone("00:11:22:33:44:99", "--site", str(site)))
    assert rc == 1
    assert "rejected by the server" in err
    assert "Traceback" not in err
    rc, out, err = finish(
        phone("001122334403", "--call", "2999", "--wait", "5", "--site", str(site))
    )
    assert rc == 1, out
    assert "Traceback" not in err
    assert "2999" in err


def test_many_phones_at_once(site: Path) -> None:
    rc, out, err = finish(phone("00:11:22:33:44:01", "-n", "4", "--site", str(site)))
    assert rc == 0, out + err
    assert "4/4 phones registered" in out
    rc, out, err = finish(phone("00:11:22:33:44:03", "-n", "3", "--site", str(site)))
    assert rc == 1  # ...:05 is not in the site
    assert "2/3 phones registered" in out
    assert "rejected" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nonsense"], "is not a MAC address"),
        (["001122334401", "-m", "9999"], "no simulated profile"),
        (["001122334401", "--server", "127.0.0.1:99999"], "port must be"),
        (["001122334401", "--call", "12a"], "cannot dial"),
    ],
)
def test_bad_arguments(site: Path, args: list[str], message: str) -> None:
    rc, _out, err = finish(phone(*args, "--site", str(site)))
    assert rc != 0
    assert message in err
    assert "Traceback" not in err


def test_no_server_listening(tmp_path: Path) -> None:
    rc, _out, err = finish(phone("001122334401", "--server", f"127.0.0.1:{free_port()}"))
    assert rc == 1
    assert "cannot connect" in err and "Traceback" not in err
