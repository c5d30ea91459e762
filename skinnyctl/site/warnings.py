"""What ``skinnyctl check`` warns about in a valid site: legal, but probably not meant."""

from __future__ import annotations

from skinnyctl.site.model import Site


def site_warnings(site: Site) -> list[str]:
    """Readable warnings about ``site`` (each names the file)."""
    where = str(site.path) if site.path else "site.toml"
    out = []
    if not site.devices:
        what = "is empty" if not site.lines else "describes no devices"
        out.append(
            f"{where} {what}: serve refuses every phone (a truncated file?); `reload` refuses "
            "it unless --force"
        )
    return out
