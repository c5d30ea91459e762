"""The site loader against a corpus of broken files, MAC spellings and the examples.

Each file in tests/broken_sites/ states what must be reported, in header comments:
``# expect: LINE:COLUMN message fragment`` (one per problem, in file order). The test demands
exactly those problems, so a rule that stops firing, fires twice or points elsewhere fails.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from skinnyctl.site import SiteError, load_site, normalize_mac, parse_site
from tests.clirun import ROOT, run_cli

BROKEN = sorted((Path(__file__).parent / "broken_sites").glob("*.toml"))
EXAMPLES = sorted((ROOT / "examples").glob("**/site.toml"))
_EXPECT_RE = re.compile(r"^# expect: (\d+):(\d+) (.+)$", re.MULTILINE)


def expectations(path: Path) -> list[tuple[int, int, str]]:
    return [
        (int(m.group(1)), int(m.group(2)), m.group(3))
        for m in _EXPECT_RE.finditer(path.read_text(encoding="utf-8"))
    ]


def test_corpus_is_large_enough() -> None:
    assert len(BROKEN) >= 30
    assert all(expectations(p) for p in BROKEN), "every corpus file states what to expect"


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_site_reports_each_problem_where_it_is(path: Path) -> None:
    expected = expectations(path)
    with pytest.raises(SiteError) as info:
        load_site(path)
    got = info.value.problems
    assert len(got) == len(expected), "\n".join(str(p) for p in got)
    for problem, (line, column, fragment) in zip(got, expected, strict=True):
        assert (problem.line, problem.column) == (line, column), str(problem)
        assert fragment in problem.message, str(problem)
        assert problem.file == str(path.resolve())
        # The printed form is what editors jump to: file:line:column: message
        assert str(problem).startswith(f"{path.resolve()}:{line}:{column}: ")


def test_several_problems_are_all_reported_at_once() -> None:
    path = Path(__file__).parent / "broken_sites" / "several_problems.toml"
    with pytest.raises(SiteError) as info:
        load_site(path)
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 6
    for fragment in ("port number", "time zone", "phone model", "two devices", "1009", "(("):
        assert any(fragment in m for m in messages), (fragment, messages)
    assert [p.line for p in info.value.problems] == sorted(p.line for p in info.value.problems)


def test_unknown_time_zone_suggests_names() -> None:
    with pytest.raises(SiteError) as info:
        parse_site('[server]\ntime_zone = "Europe/Pariss"\n')
    assert "Europe/Paris" in info.value.problems[0].hint


def test_unknown_model_suggests_close_models() -> None:
    text = '[[devices]]\nmac = "001120AABBCC"\nmodel = "7690"\n'
    with pytest.raises(SiteError) as info:
        parse_site(text)
    assert "did you mean" in info.value.problems[0].hint
    assert "7960" in info.value.problems[0].hint


def _check_failure(path: Path) -> str | None:
    """Why `skinnyctl check path` misbehaves, or None when it reports cleanly."""
    result = run_cli("check", path)
    line, column, fragment = expectations(path)[0]
    if result.returncode != 1:
        return f"{path.name}: exit code {result.returncode}"
    if "Traceback" in result.stderr:
        return f"{path.name}: traceback\n{result.stderr}"
    if f":{line}:{column}: " not in result.stderr or fragment not in result.stderr:
        return f"{path.name}: expected {line}:{column} {fragment!r}, got\n{result.stderr}"
    if not re.search(r"\d+ problems? found", result.stderr):
        return f"{path.name}: no summary line"
    return None


@pytest.mark.slow
def test_check_prints_every_corpus_file_without_traceback() -> None:
    # One real CLI process per file; run side by side since each spends most of its time
    # importing.
    with ThreadPoolExecutor(max_workers=max(4, (os.cpu_count() or 1) * 2)) as pool:
        failures = [f for f in pool.map(_check_failure, BROKEN) if f]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "spelling",
    [
        "00:11:20:aa:bb:cc",
        "00-11-20-AA-BB-CC",
        "0011.20aa.bbcc",
        "001120AABBCC",
        "001120aabbcc",
        "SEP001120AABBCC",
        "sep001120aabbcc",
        " 00:11:20:AA:BB:CC ",
    ],
)
def test_mac_spellings_normalise_to_twelve_uppercase_digits(spelling: str) -> None:
    assert normalize_mac(spelling) == "001120AABBCC"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "SEP",
        "00:11:20:aa:bb",
        "00:11:20:aa:bb:cc:dd",
        "00:11:20:aa:bb:cg",
        "hello",
        "0x001120aabbcc",
    ],
)
def test_malformed_macs_are_refused_with_the_accepted_forms(bad: str) -> None:
    with pytest.raises(ValueError, match="12 hex digits"):
        normalize_mac(bad)


def test_mac_spellings_are_the_same_device_in_a_site() -> None:
    text = (
        '[[devices]]\nmac = "0011.20aa.bbcc"\nmodel = "7960"\n'
        '[[devices]]\nmac = "SEP001120AABBCC"\nmodel = "7961"\n'
    )
    with pytest.raises(SiteError, match="used by two devices"):
        parse_site(text)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_loads(path: Path) -> None:
    site = load_site(path)
    assert site.devices
    result = run_cli("check", path)
    assert result.returncode == 0, result.stderr
    assert "ok:" in result.stdout


def test_small_office_example_shows_what_it_promises() -> None:
    site = load_site(ROOT / "examples" / "small-office" / "site.toml")
    assert len({d.model.name for d in site.devices}) == 4
    assert len(site.devices_with_line("200")) == 3
    assert set(site.dhcp.flavours) == {"isc", "dnsmasq", "kea", "udhcpd"}
    assert site.models["7961"].firmware
    kinds = {b.kind for d in site.devices for b in d.buttons}
    assert {"line", "speed_dial", "service_url", "feature"} <= kinds
    assert {r.action for r in site.dialplan} == {"wait", "process", "drop"}


def test_examples_exist() -> None:
    assert {p.parent.name for p in EXAMPLES} >= {"small-office", "one-phone"}


def test_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="no such file"):
        load_site(tmp_path / "nope.toml")
    result = run_cli("check", tmp_path / "nope.toml")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "no such file" in result.stderr
    assert "skinnyctl init" in result.stderr


def test_unreadable_file_is_a_clean_error(tmp_path: Path) -> None:
    # A directory where the file should be cannot be read, even by root.
    (tmp_path / "site.toml").mkdir()
    with pytest.raises(SiteError, match="cannot read"):
        load_site(tmp_path / "site.toml")
    # Through the CLI (which looks for site.toml inside a directory): a symlink loop.
    loop = tmp_path / "loop.toml"
    loop.symlink_to(loop)
    result = run_cli("check", loop)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot read" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_file_without_read_permission_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text("[server]\n")
    path.chmod(0)
    result = run_cli("check", path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot read" in result.stderr


def test_file_that_is_not_utf8_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_bytes(b'[server]\nlisten = "\xff\xfe"\n')
    result = run_cli("check", path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "UTF-8" in result.stderr
