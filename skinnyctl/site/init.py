"""``skinnyctl init``: write the commented starting site.toml."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from skinnyctl.errors import UserError
from skinnyctl.site.atomic import write_text_atomic

TEMPLATE = "initial_site.toml"


def initial_site_text() -> str:
    """The text `init` writes: a two-phone office working as is on loopback."""
    return resources.files("skinnyctl.site").joinpath(TEMPLATE).read_text(encoding="utf-8")


def write_initial_site(directory: Path, force: bool = False) -> Path:
    """Write ``site.toml`` in ``directory`` (created if missing) and return its path.

    A path ending in ``.toml`` names the file itself. An existing file is only replaced with
    ``force``; the write is atomic, so an interrupted init never leaves half a file.
    """
    directory = Path(directory)
    if directory.suffix == ".toml" and not directory.is_dir():
        target, directory = directory, directory.parent
    else:
        target = directory / "site.toml"
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory} is a file, not a directory: give a directory for site.toml")
    if target.exists() and not force:
        raise UserError(
            f"{target} already exists; not overwriting it. "
            "Use --force to replace it, or give another directory."
        )
    if target.is_dir():
        raise UserError(f"{target} is a directory; remove it or give another directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # 0600: it may hold control_token (and later trunk passwords)
        write_text_atomic(target, initial_site_text(), mode=0o600)
    except OSError as e:
        raise UserError(f"cannot write {target}: {e.strerror or e}") from None
    return target
