"""`skinnyctl init` through the real CLI, and what the written file promises."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from skinnyctl.errors import UserError
from skinnyctl.site import load_site, parse_site, vendorconfig
from skinnyctl.site.init import initial_site_text, write_initial_site
from skinnyctl.site.model import SOFTKEY_SET_NAMES
from tests.clirun import run_cli


def test_init_then_check_round_trip(tmp_path: Path) -> None:
    target = tmp_path / "office"  # does not exist yet: init creates it
    result = run_cli("init", target)
    assert result.returncode == 0, result.stderr
    assert (target / "site.toml").is_file()
    result = run_cli("check", target)
    assert result.returncode == 0, result.stderr
    assert "2 devices, 2 lines" in result.stdout
    # Nothing but site.toml: the temporary file of the atomic write is gone.
    assert [p.name for p in target.iterdir()] == ["site.toml"]


def test_init_refuses_to_overwrite_and_force_replaces(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("# my own site\n")
    result = run_cli("init", tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "--force" in result.stderr
    assert site.read_text() == "# my own site\n"
    result = run_cli("init", "--force", "--address", "192.0.2.7", tmp_path)
    assert result.returncode == 0, result.stderr
    assert site.read_text() == initial_site_text("192.0.2.7")
    site_ = load_site(site)
    assert site_.server.addresses == ("192.0.2.7",) and site_.server.listen == "0.0.0.0"
    assert site_.server.tftp_port == 69
    result = run_cli("init", "--force", "--address", "office-box", tmp_path)
    assert result.returncode == 1 and "not an IP address" in result.stderr


def test_init_into_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        write_initial_site(blocker, force=True)
    assert blocker.read_text() == "x"


def test_initial_site_works_on_loopback_unprivileged(tmp_path: Path) -> None:
    site = load_site(write_initial_site(tmp_path, force=False))
    assert site.server.listen == "127.0.0.1"
    assert site.server.addresses == ("127.0.0.1",)
    assert site.server.tftp_port > 1024 and site.server.sccp_port > 1024
    assert str(site.server.tftp_root) == "tftp"
    assert {d.model.name for d in site.devices} == {"7960", "7961"}
    assert len(site.lines) == 2
    assert any(b.kind == "speed_dial" for d in site.devices for b in d.buttons)
    assert site.dialplan


def _every_key() -> set[str]:
    """The name of every key the loader accepts (asked of the loader itself, see
    tests/test_site_keys.py), but the soft key states, which the template lists in prose."""
    from tests.test_site_keys import accepted

    keys = {k.rsplit(".", 1)[-1] for k in accepted() if "=" not in k}
    return {k for k in keys if k not in SOFTKEY_SET_NAMES} - {
        k.name
        for k in vendorconfig.KEYS  # `check` lists a model's switches, with values
    }


def test_every_state_and_value_with_an_effect_is_named_in_the_initial_site() -> None:
    """Soft key states and soft keys, button types, features, dial actions, DHCP servers,
    application kinds, media modes, trunk choices: each is named in the template."""
    from tests.test_site_keys import VALUES

    text = initial_site_text()
    words = set(re.findall(r"[A-Za-z0-9_]+", text))
    named = [*SOFTKEY_SET_NAMES, *(v for values in VALUES.values() for v in values)]
    assert not [w for w in named if w not in words], "not named in initial_site.toml"


def test_every_key_appears_in_the_initial_site() -> None:
    text = initial_site_text()
    written = set(re.findall(r"^(?:# (?:# )?)?([a-z_]+) = ", text, re.MULTILINE))
    missing = _every_key() - written
    assert not missing, f"keys not shown in initial_site.toml: {sorted(missing)}"
    # ...and each is explained: its first appearance sits under a prose comment (possibly
    # shared with the settings or the [header] right above it).
    lines = text.splitlines()
    setting = re.compile(r"^(# (# )?)?[a-z_]+ = |^(# )?\[")
    unexplained = []
    for key in sorted(_every_key()):
        i = next(n for n, ln in enumerate(lines) if re.match(rf"^(# (# )?)?{key} = ", ln))
        if re.search(r"[\]\"'0-9a-z]\s+# \w", lines[i]):
            continue  # explained on its own line
        while i > 0 and (setting.match(lines[i - 1]) or lines[i - 1] in ("#", "# " + "-" * 93)):
            i -= 1
        if not (i > 0 and lines[i - 1].startswith("#") and lines[i - 1].strip("# -")):
            unexplained.append(key)
    assert not unexplained, f"keys without an explanation: {unexplained}"


def test_commented_examples_are_valid_when_uncommented() -> None:
    out, active = [], False
    for line in initial_site_text().splitlines():
        active = active or line.startswith("[server]")
        m = re.match(r"^# (\[.*\]|[A-Za-z_]+ = .*|# .*)$", line) if active else None
        out.append(m.group(1) if m else line)
    site = parse_site("\n".join(out))
    assert "reception" in site.softkey_sets
    assert site.dhcp.flavours and site.dhcp.subnet
    assert site.models["7960"].firmware
    assert site.trunks[0].name == "provider" and site.inbound[0].target == "1001"
    assert site.server.emergency == ("112", "911")
    assert site.voicemail.boxes["1001"].email and site.voicemail.smtp.host
    assert site.conferences[0].pin == "4321" and site.conference("8000") is not None


def test_init_then_serve_starts_without_provision(tmp_path: Path) -> None:
    """`skinnyctl init d && skinnyctl serve d/site.toml`: serve creates the TFTP root and
    renders device files on request (issue 14 #11)."""
    import shutil
    import subprocess

    from tests.test_register import free_port, start_serve, stop_serve, wait_listening

    run_cli("init", tmp_path / "d")
    site = tmp_path / "d" / "site.toml"
    sccp, tftp = free_port(), free_port()
    text = site.read_text()  # ports free on this box, loopback only
    text = re.sub(r"(?m)^sccp_port = \d+", f"sccp_port = {sccp}", text)
    text = re.sub(r"(?m)^tftp_port = \d+", f"tftp_port = {tftp}", text)
    text = re.sub(r'(?m)^listen = ".*"', 'listen = "127.0.0.1"', text)
    site.write_text(text)
    assert not (tmp_path / "d" / "tftp").exists()
    proc = start_serve(site)
    try:
        wait_listening(proc, sccp)
        assert (tmp_path / "d" / "tftp").is_dir()
        if shutil.which("curl"):
            out = subprocess.run(
                ["curl", "-sS", f"tftp://127.0.0.1:{tftp}/XMLDefault.cnf.xml"],
                capture_output=True,
                timeout=10,
            )
            assert out.returncode == 0 and b"<Default>" in out.stdout
    finally:
        err = stop_serve(proc)
    assert "created the TFTP root" in err
