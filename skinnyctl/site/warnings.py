"""What ``skinnyctl check`` warns about in a valid site: legal, but probably not meant."""

from __future__ import annotations

import stat

from skinnyctl.site.model import Site


def secrets(site: Site) -> list[str]:
    """The keys of ``site`` that hold secrets and are set."""
    return ["control_token"] if site.server.control_token else []


def site_warnings(site: Site) -> list[str]:
    """Readable warnings about ``site`` (each names the file)."""
    where = str(site.path) if site.path else "site.toml"
    out = []
    if not site.devices:
        out.append(
            f"{where} describes no devices: serve refuses every phone (an empty or truncated "
            "file?); `reload` refuses it unless --force"
        )
    held = secrets(site)
    if held and site.path is not None:
        try:
            mode = stat.S_IMODE(site.path.stat().st_mode)
        except OSError:
            mode = 0
        if mode & 0o044:  # group or others may read it
            out.append(
                f"{where} holds {', '.join(held)} and other users can read it (mode "
                f"{mode:04o}): chmod 600 {where}"
            )
    return out
