"""``skinnyctl demo``: the whole main job on a built-in two-phone site, in one command.

Writes the site ``init`` writes (unless the directory already has one, which is then used as
is), validates it, provisions its files into the TFTP root and serves until Ctrl-C. Everything
listens on loopback with unprivileged ports, so it runs as any user on any machine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from skinnyctl.provision.run import provision
from skinnyctl.runtime.service import run
from skinnyctl.site import load_site
from skinnyctl.site.init import write_initial_site


def run_demo(directory: Path, echo: Callable[[str], None] = print) -> None:
    path = directory / "site.toml"
    if path.exists():
        echo(f"using the existing {path}")
    else:
        write_initial_site(directory)
        echo(f"wrote the demo site {path}")
    site = load_site(path)
    echo(f"checked: {len(site.devices)} devices, {len(site.lines)} lines")
    provision(site, echo=echo, warn=echo, local_only=True)  # loopback on purpose
    first = site.devices[0] if site.devices else None
    echo("")
    echo(
        f"serving on {site.server.listen}: SCCP port {site.server.sccp_port}, "
        f"TFTP port {site.server.tftp_port}. Stop with Ctrl-C."
    )
    if first is not None:
        echo("In other terminals, let one simulated phone wait for a call and another place it:")
        if len(site.devices) > 1 and site.devices[1].lines:
            second = site.devices[1]
            echo(f"    skinnyctl phone {second.mac} -m {second.model.name} --site {path} --answer")
            echo(
                f"    skinnyctl phone {first.mac} -m {first.model.name} --site {path} "
                f"--call {second.lines[0]}"
            )
        else:
            echo(f"    skinnyctl phone {first.mac} -m {first.model.name} --site {path}")
        echo(f"    skinnyctl status --site {path}")
    echo("")
    run(path)
