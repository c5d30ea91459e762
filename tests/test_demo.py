"""README's main job: `skinnyctl demo` writes, checks, provisions and serves the built-in site,
and a phone of that site registers against it over real TCP."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skinnyctl.phone.sim import SimPhone
from skinnyctl.sccp import RegisterAck
from skinnyctl.site import load_site


def _port_free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_demo_serves_the_built_in_site(tmp_path: Path) -> None:
    if not (_port_free(2000, socket.SOCK_STREAM) and _port_free(6969, socket.SOCK_DGRAM)):
        pytest.skip("the demo's fixed ports 2000/6969 are taken on this machine")
    directory = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "skinnyctl", "demo", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if "SCCP call manager listening" in line:
                break
        else:
            pytest.fail("demo did not start:\n" + "".join(output))
        assert any("listening" in ln for ln in output), "".join(output)
        site = load_site(directory / "site.toml")
        assert (directory / "tftp" / f"SEP{site.devices[0].mac}.cnf.xml").is_file()
        phone = SimPhone(
            "127.0.0.1",
            site.server.sccp_port,
            site.devices[0].mac,
            model=site.devices[0].model.name,
        )
        with phone:
            phone.connect()
            registration = phone.register()
            assert phone.count(RegisterAck) == 1
            assert registration.lines[1].line_dir_number == site.devices[0].lines[0]
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(output) + rest
    assert "Traceback" not in "".join(output) + rest
