"""``skinnyctl init``: write the commented starting site.toml."""

from __future__ import annotations

import ipaddress
import re
from importlib import resources
from pathlib import Path

from skinnyctl.errors import UserError
from skinnyctl.site.atomic import write_text_atomic
from skinnyctl.site.hostnet import lan_address

TEMPLATE = "initial_site.toml"

# The template's loopback lines, and what a site real phones reach has instead.
_LAN_LINES = (
    (r'^addresses = \["127\.0\.0\.1"\]$', 'addresses = ["{address}"]'),
    (r'^listen = "127\.0\.0\.1"$', 'listen = "0.0.0.0"'),
    (r"^tftp_port = 6969$", "tftp_port = 69"),
)


def initial_site_text(address: str | None = None) -> str:
    """The text `init` writes: a two-phone office. Without ``address`` it works as is on
    loopback (the demo); with one, phones on the LAN reach this machine at ``address``."""
    text = resources.files("skinnyctl.site").joinpath(TEMPLATE).read_text(encoding="utf-8")
    if address is None:
        return text
    for pattern, replacement in _LAN_LINES:
        text, n = re.subn(pattern, replacement.format(address=address), text, flags=re.M)
        assert n == 1, pattern  # the template and this list go together
    return text


def init_address(given: str | None) -> tuple[str | None, str]:
    """The address ``init`` writes (None: the loopback demo site) and a sentence saying why:
    ``--address`` as given, else the address of the default route's interface."""
    if given is not None:
        try:
            ip = ipaddress.ip_address(given)
        except ValueError:
            raise UserError(
                f"--address {given}: not an IP address; give the address phones reach this "
                "machine at, e.g. --address 192.168.1.10"
            ) from None
        return str(ip), f"phones are told to reach this machine at {ip}"
    found = lan_address()
    if found:
        return found, (
            f"detected this machine's LAN address {found} (the default route's); "
            "give --address to use another"
        )
    return None, (
        "found no default route, hence no LAN address: wrote the loopback demo site "
        "(127.0.0.1); for real phones run init again with --force --address ADDRESS"
    )


def write_initial_site(directory: Path, force: bool = False, address: str | None = None) -> Path:
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
        # 0600: it may hold control_token and trunk passwords
        write_text_atomic(target, initial_site_text(address), mode=0o600)
    except OSError as e:
        raise UserError(f"cannot write {target}: {e.strerror or e}") from None
    return target
