"""README's promises: CI runs exactly the test command README gives; dev/check runs CI's checks."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_block_after(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1]
    match = re.search(r"```\n(.+?)\n```", section, re.S)
    assert match, f"no command block under {heading!r}"
    return match.group(1).strip()


def test_ci_runs_readmes_test_command() -> None:
    command = _readme_block_after("## Run the tests")
    assert "\n" not in command, "README's test command must be one command"
    ci_lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines


def test_readme_demo_is_one_command() -> None:
    command = _readme_block_after("## Try it")
    assert "\n" not in command
    assert "skinnyctl demo" in command


def test_dev_check_runs_cis_static_checks() -> None:
    # dev/check is "what CI does, quickly": its checks are CI's, and it runs the tests.
    ci_lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    dev = [ln.strip() for ln in (ROOT / "dev" / "check").read_text().splitlines()]
    static = [ln for ln in dev if ln.startswith("python3 -m ") and "pytest" not in ln]
    assert {
        "python3 -m ruff check .",
        "python3 -m ruff format --check .",
        "python3 -m mypy",
    } <= set(static)
    assert all(ln in ci_lines for ln in static)
    assert any(ln.startswith('python3 -m pytest -m "not slow"') for ln in dev)
    assert "dev/check" in _readme_block_after("## Development")
