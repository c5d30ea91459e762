"""The ``skinnyctl`` command line. Thin: each command parses its arguments, calls into the
package and prints. Errors a user can fix (:class:`UserError`, :class:`SiteError`) are printed
without a traceback and exit non-zero."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from skinnyctl import __version__
from skinnyctl.apps.voicemail.cli import voicemail_app
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


StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Treat warnings (unreachable addresses...) as errors.")
]


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to write site.toml.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite site.toml.")] = False,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="This machine's address phones reach (default: the default route's).",
        ),
    ] = None,
) -> None:
    """Write a commented site.toml for a two-phone office on this machine's LAN address."""
    from skinnyctl.site.init import init_address, write_initial_site

    chosen, why = init_address(address)
    target = write_initial_site(directory, force=force, address=chosen)
    typer.echo(f"wrote {target}: {why}")
    typer.echo(f"next: edit it, then run: skinnyctl check {target}")


@app.command()
def check(site: SiteArg = Path("site.toml"), strict: StrictOpt = False) -> None:
    """Validate site.toml: print every problem with file:line:column, exit 1 if any."""
    from skinnyctl.provision.run import check as check_site
    from skinnyctl.site.warnings import site_warnings

    loaded = load_site(site_path(site))
    check_site(loaded, strict=strict, warn=lambda text: typer.echo(text, err=True))
    for warning in site_warnings(loaded):
        typer.echo(f"warning: {warning}", err=True)
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
    strict: StrictOpt = False,
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
        strict=strict,
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
    """Run only the TFTP service in the foreground until Ctrl-C.

    Serves the files of the TFTP root plus device files rendered from the site, re-read when
    site.toml changes."""
    from skinnyctl.tftp.run import run_standalone

    run_standalone(site_path(site), root=root, host=host, port=port, echo=typer.echo)


@app.command()
def phone(
    mac: Annotated[str, typer.Argument(help="MAC of the phone to simulate, as in site.toml.")],
    model: Annotated[str, typer.Option("--model", "-m", help="7960, 7940, 7961 or 7941.")] = "7960",
    server: Annotated[
        str | None,
        typer.Option("--server", help="HOST[:PORT] of the call manager (default: from the site)."),
    ] = None,
    call: Annotated[
        str | None, typer.Option("--call", help="After registering, dial this number.")
    ] = None,
    answer: Annotated[
        bool, typer.Option("--answer", help="After registering, wait for a call and answer it.")
    ] = False,
    count: Annotated[
        int, typer.Option("--count", "-n", help="Register this many phones (MACs counting up).")
    ] = 1,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for ring/answer.")] = 30.0,
    hold: Annotated[float, typer.Option("--hold", help="Seconds to stay in the call.")] = 2.0,
    site: Annotated[
        Path, typer.Option("--site", help="site.toml giving the server address.")
    ] = Path("site.toml"),
    no_reconnect: Annotated[
        bool,
        typer.Option(
            "--no-reconnect",
            help="Stop when the connection is lost (default: connect and register again, "
            "with back-off, like a real phone).",
        ),
    ] = False,
) -> None:
    """Simulate phones against a running server: register, show what it sent, call, answer."""
    from skinnyctl.phone.cli import run_many, run_phone, server_address

    host, port = server_address(server, site_path(site))
    if count > 1:
        if run_many(host, port, mac, count, model, echo=typer.echo):
            raise typer.Exit(1)
        return
    run_phone(
        host,
        port,
        mac,
        model,
        call=call,
        answer=answer,
        wait=wait,
        hold=hold,
        reconnect=not no_reconnect,
        echo=typer.echo,
    )


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


@app.command("import")
def import_(
    sources: Annotated[
        list[Path],
        typer.Argument(help="chan-sccp sccp.conf, FreeSWITCH mod_skinny profile/directory XML."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The site.toml to write.")] = Path(
        "site.toml"
    ),
    address: Annotated[
        str | None,
        typer.Option("--address", help="This machine's address phones reach (as for init)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model of phones the source does not name (7961...)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out.")] = False,
) -> None:
    """Write a commented site.toml from chan-sccp or FreeSWITCH mod_skinny configuration."""
    from skinnyctl.site.importer import import_sites

    draft = import_sites(sources, out, address=address, default_model=model, force=force)
    typer.echo(
        f"wrote {out}: {len(draft.lines)} lines, {len(draft.devices)} devices, "
        f"{len(draft.dropped)} settings not carried over (listed at the top of the file)"
    )
    typer.echo(f"next: skinnyctl check {out}")


firmware_app = typer.Typer(help="Phone firmware in the TFTP root.", no_args_is_help=True)
app.add_typer(firmware_app, name="firmware")
FirmwareSiteOpt = Annotated[
    Path, typer.Option("--site", "-s", help="site.toml: firmware goes into its tftp_root.")
]
RootOpt = Annotated[
    Path | None, typer.Option("--root", help="TFTP root (default: tftp_root of the site).")
]


@firmware_app.command("import")
def firmware_import(
    files: Annotated[
        list[Path], typer.Argument(help="Cisco firmware archives (.zip, .tar, .cop.sgn).")
    ],
    site: FirmwareSiteOpt = Path("site.toml"),
    root: RootOpt = None,
    flat: Annotated[
        bool, typer.Option("--flat", help="Into the TFTP root itself, not a sub-folder.")
    ] = False,
    into: Annotated[
        str | None,
        typer.Option("--into", help="Sub-folder of the TFTP root (default: firmware/<archive>)."),
    ] = None,
) -> None:
    """Extract the load files of firmware archives into the TFTP root and check them."""
    from skinnyctl.provision.fwimport import import_firmware, tftp_root_of

    result = import_firmware(
        files, tftp_root_of(site_path(site), root), flat=flat, into=into, progress=sys.stderr
    )
    for line in result.lines():
        typer.echo(line)
    if not result.ok:
        raise typer.Exit(1)


@firmware_app.command("list")
def firmware_list(site: FirmwareSiteOpt = Path("site.toml"), root: RootOpt = None) -> None:
    """Per model: the load its phones will get, from where, and whether all its files are there."""
    from skinnyctl.provision.fwimport import firmware_table, tftp_root_of

    loaded = load_site(site_path(site))
    for line in firmware_table(loaded, tftp_root_of(site_path(site), root, loaded)):
        typer.echo(line)


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to keep the demo site.")] = Path(
        "skinnyctl-demo"
    ),
) -> None:
    """Try everything at once on a built-in two-phone site, on loopback, until Ctrl-C.

    Writes the demo site (unless DIRECTORY has one), checks it, provisions it and serves it on
    unprivileged ports."""
    from skinnyctl.demo import run_demo

    run_demo(directory, echo=typer.echo)


app.add_typer(voicemail_app, name="voicemail")  # skinnyctl voicemail ... (apps/voicemail/cli.py)


# --- control of a running serve (skinnyctl.control) --------------------------------------------

SiteOpt = Annotated[
    Path,
    typer.Option("--site", "-s", help="site.toml of the running serve (finds its socket)."),
]
SocketOpt = Annotated[
    Path | None, typer.Option("--socket", help="Control socket (default: from the site).")
]
TcpOpt = Annotated[
    str | None,
    typer.Option("--tcp", help="HOST:PORT of the TCP control endpoint (needs the token)."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", help="Token for --tcp (default: $SKINNYCTL_TOKEN, then the site)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _ask(
    site: Path, sock: Path | None, tcp: str | None, token: str | None, command: str, **args: object
) -> Any:
    """The server's answer: decoded JSON, shaped as docs/control-api.md says per command."""
    from skinnyctl.control import ControlError, client_for, error_text

    try:
        return client_for(site_path(site), sock, tcp, token).request(command, **args)
    except ControlError as e:
        raise UserError(error_text(e)) from None


def _complete_device(ctx: typer.Context, incomplete: str) -> list[str]:
    from skinnyctl.control.endpoint import complete_devices

    return complete_devices(site_path(ctx.params.get("site") or Path("site.toml")), incomplete)


def _complete_message(incomplete: str) -> list[str]:
    from skinnyctl.control.endpoint import complete_messages

    return complete_messages(incomplete)


def _complete_field(ctx: typer.Context, incomplete: str) -> list[str]:
    from skinnyctl.control.endpoint import complete_fields

    return complete_fields(ctx.params.get("message"), incomplete)


@app.command()
def status(
    what: Annotated[
        str, typer.Argument(help="summary, devices, device NAME, lines, calls or trunks.")
    ] = "summary",
    name: Annotated[
        str | None,
        typer.Argument(help="Device name (status device NAME).", autocompletion=_complete_device),
    ] = None,
    site: SiteOpt = Path("site.toml"),
    socket: SocketOpt = None,
    tcp: TcpOpt = None,
    token: TokenOpt = None,
    json: JsonOpt = False,
) -> None:
    """Inspect a running serve: uptime and counts, devices, one device's buttons, lines, calls,
    SIP trunks (registration state, never the password)."""
    from skinnyctl.control import format as fmt

    commands = {
        "summary": "status",
        "devices": "devices",
        "device": "device",
        "lines": "lines",
        "calls": "calls",
        "trunks": "trunks",
    }
    if what not in commands:
        raise UserError(f"status {what!r}: write one of {', '.join(commands)}")
    if what == "device" and not name:
        raise UserError("status device NAME: which device? (e.g. SEP001120AABBCC)")
    args = {"name": name} if what == "device" else {}
    result = _ask(site, socket, tcp, token, commands[what], **args)
    printers: dict[str, Callable[[Any], str]] = {
        "summary": fmt.status,
        "devices": fmt.devices,
        "device": fmt.device,
        "lines": fmt.lines,
        "calls": fmt.calls,
        "trunks": fmt.trunks,
    }
    printer = printers[what]
    typer.echo(fmt.as_json(result) if json else printer(result))


@app.command()
def send(
    device: Annotated[
        str,
        typer.Argument(help="Device name, e.g. SEP001120AABBCC.", autocompletion=_complete_device),
    ],
    message: Annotated[
        str,
        typer.Argument(
            help="Message, e.g. SetLamp, Reset, UserToDeviceDataVersion1.",
            autocompletion=_complete_message,
        ),
    ],
    fields: Annotated[
        list[str] | None,
        typer.Argument(
            help="field=value ... (data=@FILE reads a file; a bare last argument "
            "is the data payload).",
            autocompletion=_complete_field,
        ),
    ] = None,
    site: SiteOpt = Path("site.toml"),
    socket: SocketOpt = None,
    tcp: TcpOpt = None,
    token: TokenOpt = None,
    json: JsonOpt = False,
) -> None:
    """Send an SCCP message to a registered phone (mod_skinny's `device ... send`)."""
    from skinnyctl.control import ControlError, error_text
    from skinnyctl.control import format as fmt
    from skinnyctl.control.build import parse_args, read_data_files

    try:
        values = read_data_files(parse_args(message, fields or []))
    except (ControlError, ValueError) as e:
        raise UserError(error_text(e)) from None
    result = _ask(site, socket, tcp, token, "send", device=device, message=message, fields=values)
    typer.echo(fmt.as_json(result) if json else f"sent {result['message']} to {result['device']}")


@app.command()
def mwi(
    line: Annotated[str, typer.Argument(help="Directory number, e.g. 1001.")],
    state: Annotated[str, typer.Argument(help="on or off.")],
    site: SiteOpt = Path("site.toml"),
    socket: SocketOpt = None,
    tcp: TcpOpt = None,
    token: TokenOpt = None,
) -> None:
    """Message waiting on a line: its lamp on every device carrying it."""
    if state.lower() not in ("on", "off"):
        raise UserError(f"mwi {line} {state}: write on or off")
    result = _ask(site, socket, tcp, token, "mwi", line=line, on=state.lower() == "on")
    devices = result["devices"] or ["no registered device"]
    typer.echo(f"line {line}: message waiting {state.lower()} ({', '.join(devices)})")


@app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="keepalive, digit_timeout or log_level.")],
    value: Annotated[str, typer.Argument(help="The new value.")],
    site: SiteOpt = Path("site.toml"),
    socket: SocketOpt = None,
    tcp: TcpOpt = None,
    token: TokenOpt = None,
) -> None:
    """Change a runtime setting of a running serve (not written to site.toml)."""
    from skinnyctl.control import format as fmt

    typer.echo(fmt.settings(_ask(site, socket, tcp, token, "set", name=name, value=value)))


@app.command()
def reload(
    site: SiteOpt = Path("site.toml"),
    socket: SocketOpt = None,
    tcp: TcpOpt = None,
    token: TokenOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Apply a site that describes no devices.")
    ] = False,
) -> None:
    """Re-read site.toml in a running serve, keeping calls; a broken file is refused, and so is
    one describing no devices unless --force."""
    r = _ask(site, socket, tcp, token, "reload", **({"force": True} if force else {}))
    assert isinstance(r, dict)
    typer.echo(f"reloaded {r['site']}: {r['devices']} devices, {r['lines']} lines")
    if r["changed_devices"]:
        typer.echo(
            "changed, registered devices (apply with: skinnyctl send NAME Reset "
            "reset_type=restart): " + ", ".join(r["changed_devices"])
        )
    if r["restart_needed"]:
        typer.echo("need a restart of serve to change: " + ", ".join(r["restart_needed"]))


@app.command()
def events(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events.")
    ] = False,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            "-k",
            help="Only this kind "
            "(repeatable): register, unregister, expire, alarm, xml_alarm, call_state, "
            "user_to_device, device_to_user, storage_full, storage_ok.",
        ),
    ] = None,
    site: SiteOpt = Path("site.toml"),
    socket: SocketOpt = None,
    tcp: TcpOpt = None,
    token: TokenOpt = None,
    json: JsonOpt = False,
) -> None:
    """The event stream: recent events, and with --follow every new one until Ctrl-C."""
    from skinnyctl.control import ControlError, client_for, error_text
    from skinnyctl.control import format as fmt

    def show(e: dict[str, object]) -> None:
        import json as json_

        typer.echo(json_.dumps(e, default=str) if json else fmt.event(e))

    if not follow:
        for e in _ask(site, socket, tcp, token, "events", kinds=kind):
            show(e)
        return
    try:
        for e in client_for(site_path(site), socket, tcp, token).events(kind, recent=True):
            show(e)
    except ControlError as e:
        raise UserError(error_text(e)) from None


@app.command()
def calls(
    history: Annotated[bool, typer.Option("--history", help="Call detail records.")] = False,
    number: Annotated[
        str | None, typer.Option("--number", "-n", help="Only calls from or to this number.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="From this date (2024-05-01[T13:30]).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this date (inclusive).")] = None,
    site: SiteOpt = Path("site.toml"),
    socket: SocketOpt = None,
    tcp: TcpOpt = None,
    token: TokenOpt = None,
    json: JsonOpt = False,
) -> None:
    """Active calls of a running serve, or with --history the recorded calls.

    The history needs no running server: it is read from the store next to site.toml."""
    from skinnyctl.control import ControlError, error_text
    from skinnyctl.control import format as fmt
    from skinnyctl.control.commands import query_history

    if not history:
        result = _ask(site, socket, tcp, token, "calls")
        typer.echo(fmt.as_json(result) if json else fmt.calls(result))
        return
    try:
        rows = query_history(load_site(site_path(site)), number, since, until)
    except ControlError as e:
        raise UserError(error_text(e)) from None
    typer.echo(fmt.as_json(rows) if json else fmt.history(rows))


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
