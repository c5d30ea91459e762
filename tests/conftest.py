"""Fixtures shared by several test files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_calls import Rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """The in-process server of tests/test_calls.py (SCCP + media engine + records, fake
    clock), started; phones join it with ``rig.phone(mac)``."""
    with Rig(tmp_path) as r:
        yield r
