"""``skinnyctl tftp``: the TFTP service alone, in the foreground, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from skinnyctl.errors import UserError
from skinnyctl.site.discovered import DiscoveredDevices
from skinnyctl.site.model import Site
from skinnyctl.tftp.server import TftpService, watch_site_file


def run_standalone(
    site_file: Path,
    root: Path | None = None,
    host: str | None = None,
    port: int | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """Serve ``root`` (default: the site's tftp_root) with device files rendered from
    ``site_file``, which is re-read when it changes. Without a site file, ``root`` is served
    alone (static files only)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    provider: Callable[[], Site | None]
    site: Site | None = None
    if site_file.is_file():
        from skinnyctl.site import load_site

        site = load_site(site_file)  # a broken site at start is an error, later edits are not
        provider = watch_site_file(site_file)
        provider()
    elif root is None:
        raise UserError(
            f"no site description at {site_file}: give its path (skinnyctl tftp path/to/site.toml) "
            "or serve a directory without one (skinnyctl tftp --root DIR)"
        )
    else:
        provider = lambda: None  # noqa: E731
    if root is None:
        assert site is not None
        root = site.resolve(site.server.tftp_root)
    if host is None:
        host = site.server.listen if site else "0.0.0.0"
    if port is None:
        port = site.server.tftp_port if site else 69
    discovered = DiscoveredDevices()
    service = TftpService(root, host, port, provider, discovered)
    service.start()
    what = f" with device files from {site_file}" if site else ""
    echo(f"serving {root} over TFTP on {host}:{service.port}{what}; Ctrl-C to stop")
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        service.stop()
    for dev in discovered.list():
        echo(f"discovered {dev.name} at {dev.ip}: skinnyctl adopt {dev.mac} --model MODEL")
