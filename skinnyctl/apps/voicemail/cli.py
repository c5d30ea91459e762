"""``skinnyctl voicemail ...``: mailboxes on disk, with or without a running serve.

Reading (list, play, export) opens the state directory directly (SQLite in WAL mode reads
beside a running serve). Changes go through serve when it runs, so its lamps follow at once:
``delete`` is done by serve itself (control ``voicemail-delete``); ``greeting set`` and ``pin``
write their file, then ask serve to read the mailboxes again (``voicemail-refresh``). When no
serve answers they change the disk and say so; serve reads it at its next start. The commands
never run the start-up check, which belongs to serve alone (it removes unfinished recordings).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from skinnyctl.errors import UserError

if TYPE_CHECKING:
    from skinnyctl.control import ControlClient
    from skinnyctl.site.model import Site

    from .store import Message, VoicemailStore

voicemail_app = typer.Typer(
    help="Voicemail: list, play, export and delete messages; greetings; PINs.",
    no_args_is_help=True,
)
greeting_app = typer.Typer(help="A mailbox's recorded greetings.", no_args_is_help=True)
prompts_app = typer.Typer(help="The spoken prompts.", no_args_is_help=True)
voicemail_app.add_typer(greeting_app, name="greeting")
voicemail_app.add_typer(prompts_app, name="prompts")

SiteOpt = Annotated[
    Path, typer.Option("--site", "-s", help="site.toml (or its directory) of the mailboxes.")
]
LineArg = Annotated[str, typer.Argument(help="A line number (its voicemail_box) or a box.")]


def _site(path: Path) -> Site:
    from skinnyctl.site import load_site

    return load_site(path / "site.toml" if path.is_dir() else path)


def box_of(site: Site, line_or_box: str) -> str:
    """The mailbox a command means: the line's voicemail_box, else a box by its number."""
    line = site.line(line_or_box)
    if line is not None and line.voicemail_box:
        return line.voicemail_box
    if line_or_box in site.voicemail_boxes():
        return line_or_box
    if line is not None:
        raise UserError(f"line {line_or_box} has no voicemail_box: add one in site.toml")
    raise UserError(f"{line_or_box} is neither a line with a voicemail_box nor a mailbox")


def _serve(site_file: Path) -> ControlClient | None:
    """A client of the serve running this site, or None when none answers."""
    from skinnyctl.control import ControlError, client_for, error_text

    try:
        client = client_for(site_file / "site.toml" if site_file.is_dir() else site_file)
        return client if client.reachable() else None
    except ControlError as e:
        raise UserError(error_text(e)) from None


def _ask(client: ControlClient, command: str, **args: object) -> Any:
    from skinnyctl.control import ControlError, error_text

    try:
        return client.request(command, **args)
    except ControlError as e:
        raise UserError(error_text(e)) from None


def _tell_serve(site_file: Path, what: str) -> None:
    """After a change on disk: the running serve reads the mailboxes again, or we say why
    it did not."""
    client = _serve(site_file)
    if client is None:
        typer.echo(f"serve is not running: {what} is on disk; serve reads it when it starts")
        return
    _ask(client, "voicemail-refresh")
    typer.echo(f"serve read the mailboxes again: {what} applies now")


def _store(site: Site) -> VoicemailStore:
    from .store import VoicemailStore

    return VoicemailStore.for_site(site, check=False)


def _message(store: VoicemailStore, mid: int) -> Message:
    m = store.message(mid)
    if m is None:
        raise UserError(f"no voicemail message {mid}: see skinnyctl voicemail list")
    return m


@voicemail_app.command("list")
def list_(
    line: Annotated[str | None, typer.Argument(help="Only this line's box.")] = None,
    site: SiteOpt = Path("site.toml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Messages, oldest first: id, box, new/saved, caller, time, length."""
    from .store import voicemail_dir

    s = _site(site)
    box = box_of(s, line) if line else None
    if not (voicemail_dir(s) / "voicemail.sqlite").exists():
        rows: list[Message] = []
    else:
        store = _store(s)
        rows = list(store.messages(box))
        store.close()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": m.id,
                        "box": m.box,
                        "new": m.new,
                        "caller": m.caller,
                        "caller_name": m.caller_name,
                        "received": m.received,
                        "seconds": m.seconds,
                        "path": str(m.path),
                    }
                    for m in rows
                ],
                indent=2,
            )
        )
        return
    if not rows:
        typer.echo("no messages" + (f" in box {box}" if box else ""))
        return
    typer.echo(f"{'ID':>5}  {'BOX':<8} {'STATE':<6} {'FROM':<28} {'RECEIVED':<16} {'LENGTH':>6}")
    for m in rows:
        who = (f"{m.caller_name} <{m.caller}>" if m.caller_name else m.caller) or "unknown"
        when = dt.datetime.fromtimestamp(m.received).strftime("%Y-%m-%d %H:%M")
        length = f"{int(m.seconds) // 60}:{int(m.seconds) % 60:02d}"
        state = "new" if m.new else "saved"
        typer.echo(f"{m.id:>5}  {m.box:<8} {state:<6} {who[:28]:<28} {when:<16} {length:>6}")


@voicemail_app.command()
def play(
    message_id: Annotated[int, typer.Argument(metavar="ID", help="Message id (see list).")],
    site: SiteOpt = Path("site.toml"),
) -> None:
    """Play a message with sox's `play`; piped, write the WAV to stdout (| aplay)."""
    store = _store(_site(site))
    m = _message(store, message_id)
    store.close()
    if not sys.stdout.isatty():
        sys.stdout.buffer.write(m.path.read_bytes())
        sys.stdout.flush()
        return
    player = shutil.which("play")
    if player is None:
        raise UserError(
            "no `play` command (Debian package sox): pipe the message to a player, e.g. "
            f"skinnyctl voicemail play {message_id} | aplay, or export it"
        )
    subprocess.run([player, "-q", str(m.path)], check=False)


@voicemail_app.command()
def export(
    message_id: Annotated[int, typer.Argument(metavar="ID", help="Message id (see list).")],
    target: Annotated[Path, typer.Argument(metavar="FILE.wav", help="Where to write it.")],
    site: SiteOpt = Path("site.toml"),
) -> None:
    """Copy a message to a WAV file (8 kHz mono)."""
    store = _store(_site(site))
    m = _message(store, message_id)
    store.close()
    try:
        shutil.copyfile(m.path, target)
    except OSError as e:
        raise UserError(f"cannot write {target}: {e.strerror or e}") from None
    typer.echo(f"wrote message {m.id} of box {m.box} to {target}")


@voicemail_app.command()
def delete(
    message_id: Annotated[int, typer.Argument(metavar="ID", help="Message id (see list).")],
    site: SiteOpt = Path("site.toml"),
) -> None:
    """Delete a message (its file, then its index entry); a running serve does it itself."""
    s = _site(site)
    client = _serve(site)
    if client is not None:
        done = _ask(client, "voicemail-delete", message_id=message_id)
        lamps = ", ".join(f"{ln} {'on' if on else 'off'}" for ln, on in done["lamps"].items())
        typer.echo(f"serve deleted message {done['id']} of box {done['box']} (lamps: {lamps})")
        return
    store = _store(s)
    m = _message(store, message_id)
    store.delete(m.id)
    store.close()  # waits for the writer
    typer.echo(f"deleted message {m.id} of box {m.box} on disk (serve is not running)")


@greeting_app.command("set")
def greeting_set(
    line: LineArg,
    wav: Annotated[Path, typer.Argument(metavar="FILE.wav", help="Any WAV; made 8 kHz mono.")],
    kind: Annotated[
        str, typer.Option("--kind", "-k", help="unavailable, busy or name.")
    ] = "unavailable",
    site: SiteOpt = Path("site.toml"),
) -> None:
    """Make a WAV file a mailbox's greeting (converted like music on hold)."""
    from .store import GREETINGS

    if kind not in GREETINGS:
        raise UserError(f"--kind {kind}: write one of {', '.join(GREETINGS)}")
    s = _site(site)
    box = box_of(s, line)
    store = _store(s)
    try:
        recording = store.new_recording_path()
        seconds = write_8k_wav(wav, recording)
        store.set_greeting(box, kind, recording)
    finally:
        store.close()
    typer.echo(f"box {box}: {kind} greeting set from {wav} ({seconds:.1f} s)")
    _tell_serve(site, f"the {kind} greeting of box {box}")


def write_8k_wav(source: Path, target: Path) -> float:
    """Any WAV music on hold accepts -> 8 kHz mono 16-bit at ``target``; returns seconds."""
    import wave

    from skinnyctl.media.moh import SAMPLE_RATE, MusicOnHold, WavError

    try:
        pcm = MusicOnHold.from_wav(source).pcm
    except WavError as e:
        raise UserError(str(e).replace("music-on-hold file", "file")) from None
    with wave.open(str(target), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm)
    return len(pcm) / 2 / SAMPLE_RATE


@voicemail_app.command()
def pin(
    line: LineArg,
    site: SiteOpt = Path("site.toml"),
) -> None:
    """Set a mailbox's PIN: asked twice (read from stdin when piped), stored hashed."""
    from . import pins

    s = _site(site)
    box = box_of(s, line)
    if sys.stdin.isatty():
        value = typer.prompt(f"new PIN for box {box}", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.readline().strip()
    if (why := pins.pin_problem(value)) is not None:
        raise UserError(f"PIN not changed: {why}")
    path = s.resolve(s.voicemail.pin_file)
    try:
        current = pins.read_pin_file(path)
    except pins.PinFileError as e:
        raise UserError(str(e)) from None
    current[box] = pins.hash_pin(value)
    pins.write_pin_file(path, current)
    typer.echo(f"box {box}: PIN set (hashed in {path})")
    _tell_serve(site, f"the PIN of box {box}")


@prompts_app.command("export")
def prompts_export(
    directory: Annotated[Path, typer.Argument(help="Where to copy the built-in prompts.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Copy the built-in prompts as a starting point; point prompts_dir at DIRECTORY."""
    from .prompts import export_prompts

    written = export_prompts(directory, force=force)
    typer.echo(f"wrote {len(written)} prompts to {directory}")
    typer.echo(f'next: set prompts_dir = "{directory}" in [voicemail] and replace files')
