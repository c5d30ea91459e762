"""Editing site.toml from commands keeps the user's text, validates, and is all-or-nothing."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from skinnyctl.errors import UserError
from skinnyctl.site import SiteError, load_site
from skinnyctl.site.edit import add_device, add_line
from skinnyctl.site.init import initial_site_text
from tests.clirun import run_cli


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(initial_site_text())
    return path


def only_insertions(before: str, after: str) -> list[str]:
    """The lines added; fails if any line of ``before`` was changed or removed."""
    a, b = before.splitlines(), after.splitlines()
    added = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        assert op in ("equal", "insert"), (op, a[i1:i2], b[j1:j2])
        if op == "insert":
            added += b[j1:j2]
    return added


def test_add_device_keeps_every_comment_and_line(site_file: Path) -> None:
    before = site_file.read_text()
    add_device(site_file, "SEP001120AABB03", "cp-7940g", 'Lab "bench" é', ["1002", "1001"])
    after = site_file.read_text()
    added = only_insertions(before, after)
    assert "[[devices]]" in added and 'mac = "00:11:20:aa:bb:03"' in added
    # Inserted after the last device, before the comment block that introduces [[dialplan]].
    assert after.index('mac = "00:11:20:aa:bb:03"') < after.index("# [[dialplan]]: when")
    assert after.index('mac = "00:11:20:aa:bb:02"') < after.index('mac = "00:11:20:aa:bb:03"')
    device = load_site(site_file).device("001120AABB03")
    assert device is not None
    assert device.model.name == "7940"
    assert device.description == 'Lab "bench" é'
    assert device.lines == ("1002", "1001")


def test_add_device_to_a_site_without_devices(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        '# mine\n[server]\nlisten = "127.0.0.1"  # loopback\n\n[[lines]]\nnumber = "7"\n'
    )
    add_device(path, "00:11:20:aa:bb:cc", "7960", lines=["7"])
    text = path.read_text()
    assert text.startswith('# mine\n[server]\nlisten = "127.0.0.1"  # loopback\n')
    assert load_site(path).device("SEP001120AABBCC") is not None


def test_add_line_then_adopt_a_phone_on_it(site_file: Path) -> None:
    before = site_file.read_text()
    add_line(site_file, "1003", "Lab")
    add_device(site_file, "0011.20aa.bb04", "7911", lines=["1003"])
    only_insertions(before, site_file.read_text())
    site = load_site(site_file)
    assert [d.name for d in site.devices_with_line("1003")] == ["SEP001120AABB04"]
    # The new line sits with the other lines, before the devices.
    text = site_file.read_text()
    assert text.index('number = "1003"') < text.index("[[devices]]")


@pytest.mark.parametrize(
    ("mac", "model", "lines", "error", "match"),
    [
        ("00:11:20:aa:bb:01", "7960", [], UserError, "already described"),
        ("0011.20AA.BB01", "7961", [], UserError, "already described"),
        ("00:11:20:aa:bb", "7960", [], UserError, "12 hex digits"),
        ("00:11:20:aa:bb:09", "7690", [], UserError, "unknown phone model"),
        ("00:11:20:aa:bb:09", "7960", ["4242"], UserError, "line 4242 is not defined"),
        ("00:11:20:aa:bb:09", "7910", ["1001", "1002"], SiteError, "carries 1 line"),
    ],
)
def test_a_refused_edit_leaves_the_file_untouched(
    site_file: Path,
    mac: str,
    model: str,
    lines: list[str],
    error: type[Exception],
    match: str,
) -> None:
    before = site_file.read_bytes()
    with pytest.raises(error, match=match):
        add_device(site_file, mac, model, lines=lines)
    assert site_file.read_bytes() == before
    assert [p.name for p in site_file.parent.iterdir()] == ["site.toml"]


def test_an_invalid_site_is_not_edited(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text("[server]\ntftp_port = 99999\n")
    with pytest.raises(SiteError) as info:
        add_device(path, "00:11:20:aa:bb:cc", "7960")
    assert info.value.problems[0].line == 2  # the real position in the file on disk
    assert path.read_text() == "[server]\ntftp_port = 99999\n"


def test_edit_keeps_file_permissions(site_file: Path) -> None:
    site_file.chmod(0o600)
    add_device(site_file, "00:11:20:aa:bb:0f", "7960")
    assert site_file.stat().st_mode & 0o777 == 0o600


def test_adopt_command(site_file: Path) -> None:
    result = run_cli("adopt", "00-11-20-AA-BB-05", "--model", "7961", "--line", "1001", site_file)
    assert result.returncode == 0, result.stderr
    site = load_site(site_file)
    assert site.device("001120AABB05") is not None
    assert len(site.devices_with_line("1001")) == 2
    # A directory argument means its site.toml; a bad MAC is a clean refusal.
    result = run_cli("adopt", "nonsense", "--model", "7961", site_file.parent)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "12 hex digits" in result.stderr
