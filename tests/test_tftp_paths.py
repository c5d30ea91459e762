"""The TFTP path resolver on a real directory tree: what it finds and what it refuses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skinnyctl.tftp.paths import TftpNotFound, TftpRefused, normalize, resolve


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "Desktops" / "320x212x12").mkdir(parents=True)
    (root / "Desktops" / "320x212x12" / "List.xml").write_text("<list/>")
    (root / "RINGLIST.XML").write_text("rings")
    (root / "Jar41sip.sbn").write_text("J")
    (root / "jar41sip.sbn").write_text("j")
    (root / "Ringlist.xml").symlink_to("RINGLIST.XML")  # a link inside the root is fine
    (tmp_path / "secret.txt").write_text("secret")
    (root / "evil").symlink_to(tmp_path / "secret.txt")
    (root / "evildir").symlink_to(tmp_path)
    (root / "dangling").symlink_to(root / "nothing")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("inside")
    os.mkfifo(root / "fifo")
    return root


def test_exact_name(tree: Path) -> None:
    assert resolve(tree, "RINGLIST.XML") == tree.resolve() / "RINGLIST.XML"


def test_exact_match_wins_over_case_insensitive(tree: Path) -> None:
    assert resolve(tree, "Jar41sip.sbn").read_text() == "J"
    assert resolve(tree, "jar41sip.sbn").read_text() == "j"


def test_case_insensitive_per_component(tree: Path) -> None:
    assert resolve(tree, "desktops/320X212X12/list.XML").read_text() == "<list/>"
    assert resolve(tree, "ringlist.xml").read_text() == "rings"


def test_backslashes_are_slashes(tree: Path) -> None:
    assert resolve(tree, "Desktops\\320x212x12\\List.xml").read_text() == "<list/>"


def test_symlink_inside_root_followed(tree: Path) -> None:
    assert resolve(tree, "Ringlist.xml") == tree.resolve() / "RINGLIST.XML"


def test_leading_slash_means_the_root(tree: Path) -> None:
    assert resolve(tree, "/etc/passwd").read_text() == "inside"
    assert resolve(tree, "/RINGLIST.XML").read_text() == "rings"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../secret.txt", "traversal"),
        ("Desktops/../../secret.txt", "traversal"),
        ("..\\secret.txt", "traversal"),
        ("Desktops/..", "traversal"),
        ("/../secret.txt", "traversal"),
        ("RINGLIST.XML\x00.png", "NUL"),
        ("C:\\Windows\\win.ini", "drive letter"),
        ("/no/such/file", "absolute path"),
        ("evil", "symlink"),
        ("evildir/secret.txt", "symlink"),
        ("Desktops", "directory"),
        ("fifo", "not a regular file"),
        ("x" * 600, "longer"),
    ],
)
def test_refused(tree: Path, name: str, reason: str) -> None:
    with pytest.raises(TftpRefused) as e:
        resolve(tree, name)
    assert not isinstance(e.value, TftpNotFound)
    assert reason in e.value.reason


@pytest.mark.parametrize("name", ["nothing.xml", "Desktops/none/List.xml", "dangling", "", "/"])
def test_not_found(tree: Path, name: str) -> None:
    with pytest.raises(TftpNotFound) as e:
        resolve(tree, name)
    assert e.value.code == 1


def test_normalize() -> None:
    assert normalize("a//./b\\c") == ("a/b/c", False)
    assert normalize("/a") == ("a", True)
