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
