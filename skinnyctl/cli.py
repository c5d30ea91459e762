"""The ``skinnyctl`` command line. Thin: each command parses its arguments, calls into the
package and prints. Errors a user can fix (:class:`UserError`, :class:`SiteError`) are printed
without a traceback and exit non-zero."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from skinnyctl import __version__
from skinnyctl.errors import UserError
from skinnyctl.site import SiteError, load_site

app = typer.Typer(
    name="skinnyctl",
    help="The whole phone system for Cisco SCCP (Skinny) IP phones, from one site.toml.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)

SiteArg = Annotated[
    Path,
    typer.Argument(
        help="The site description, or the directory holding site.toml.",
        show_default=True,
    ),
]


def site_path(path: Path) -> Path:
    """A directory means its site.toml."""
    return path / "site.toml" if path.is_dir() else path


def _version(value: bool) -> None:
    if value:
        typer.echo(f"skinnyctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    pass


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to write site.toml.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite site.toml.")] = False,
) -> None:
    """Write a commented site.toml for a two-phone office that works as is on loopback."""
    from skinnyctl.site.init import write_initial_site

    target = write_initial_site(directory, force=force)
    typer.echo(f"wrote {target}")
    typer.echo(f"next: edit it, then run: skinnyctl check {target}")


@app.command()
def check(site: SiteArg = Path("site.toml")) -> None:
    """Validate site.toml: print every problem with file:line:column, exit 1 if any."""
    loaded = load_site(site_path(site))
    typer.echo(
        f"{site_path(site)}: ok: {len(loaded.devices)} devices, {len(loaded.lines)} lines, "
        f"{len(loaded.dialplan)} dialplan rules"
    )


@app.command()
def adopt(
    mac: Annotated[str, typer.Argument(help="The phone's MAC address (any usual spelling).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Phone model, e.g. 7960.")],
    line: Annotated[
        list[str] | None,
        typer.Option("--line", "-l", help="Directory number for a line button (repeatable)."),
    ] = None,
    description: Annotated[
        str, typer.Option("--description", "-d", help="Free text describing the phone.")
    ] = "",
    site: SiteArg = Path("site.toml"),
) -> None:
    """Add a phone to site.toml, keeping the file's comments and layout."""
    from skinnyctl.site.edit import add_device

    target = site_path(site)
    add_device(target, mac, model, description=description, lines=line or ())
    typer.echo(f"{target}: added {model} {mac}" + (f" with line {', '.join(line)}" if line else ""))
    typer.echo(f"next: skinnyctl provision {target}")


@app.command()
def provision(
    site: SiteArg = Path("site.toml"),
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where to write the phone files (default: tftp_root)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Print the plan (add/change/remove) only.")
    ] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print the differences.")] = False,
    dhcp: Annotated[
        list[str] | None,
        typer.Option(
            "--dhcp", help="DHCP config to render: isc, dnsmasq, kea, udhcpd (repeatable)."
        ),
    ] = None,
    dhcp_out: Annotated[
        Path | None,
        typer.Option("--dhcp-out", help="Directory for DHCP configs (default: print them)."),
    ] = None,
) -> None:
    """Render SEP<MAC>.cnf.xml, XMLDefault.cnf.xml (and DHCP configs); write what changed."""
    from skinnyctl.provision.run import provision as run_provision

    loaded = load_site(site_path(site))
    run_provision(
        loaded,
        out=out,
        dry_run=dry_run,
        diff=diff,
        dhcp=dhcp or (),
        dhcp_out=dhcp_out,
        echo=typer.echo,
        warn=lambda text: typer.echo(text, err=True),
    )


@app.command()
def serve(
    site: SiteArg = Path("site.toml"),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every message.")] = False,
) -> None:
    """Run the phone system: SCCP call manager, TFTP and RTP relay, until Ctrl-C or SIGTERM."""
    from skinnyctl.runtime.service import run

    run(site_path(site), verbose=verbose)


@app.command()
def tftp(
    site: SiteArg = Path("site.toml"),
    root: Annotated[
        Path | None, typer.Option("--root", help="TFTP root (default: tftp_root of the site).")
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default: listen).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="UDP port (default: tftp_port, 69).")
    ] = None,
) -> None:
    """Run only the TFTP service in the foreground until Ctrl-C: files of the TFTP root plus
    device files rendered from the site, re-read when site.toml changes."""
    from skinnyctl.tftp.run import run_standalone

    run_standalone(site_path(site), root=root, host=host, port=port, echo=typer.echo)


templates_app = typer.Typer(help="Jinja2 templates for the generated files.", no_args_is_help=True)
app.add_typer(templates_app, name="templates")


@templates_app.command("export")
def templates_export(
    directory: Annotated[Path, typer.Argument(help="Where to copy the built-in templates.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Copy the built-in templates as a starting point; point templates_dir at DIRECTORY."""
    from skinnyctl.provision.run import export_templates

    written = export_templates(directory, force=force)
    typer.echo(f"wrote {len(written)} templates to {directory}")
    typer.echo(f'next: set templates_dir = "{directory}" in [server] and edit a copy')


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Argument(help="Where to keep the demo site.")
    ] = Path("skinnyctl-demo"),
) -> None:
    """Try everything at once: write a two-phone demo site, check it, provision it and serve it
    on loopback (unprivileged ports) until Ctrl-C."""
    from skinnyctl.demo import run_demo

    run_demo(directory, echo=typer.echo)


def main() -> None:
    """Entry point: run the app, turning user errors into messages and exit codes."""
    try:
        app()
    except SiteError as e:
        for problem in e.problems:
            typer.echo(f"error: {problem}", err=True)
        n = len(e.problems)
        typer.echo(f"{n} problem{'s' if n != 1 else ''} found", err=True)
        sys.exit(1)
    except UserError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
