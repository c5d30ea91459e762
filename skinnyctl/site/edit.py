"""Change site.toml from commands (``skinnyctl adopt`` ...) without losing the user's comments.

How: the new entry is rendered with tomlkit (so quoting and escaping are right) and inserted as
text right after the last entry of its section, before the comment block that introduces the
next section. Everything else in the file stays byte for byte. (Appending through tomlkit's
document model instead puts the entry after the comments that belong to the following
section, because tomlkit attaches them to the previous table.)

Every edit is checked twice: the file must be valid before (so problems are reported at their
real positions), and the result is validated with :func:`parse_site` before it replaces the
file atomically. An invalid result raises :class:`SiteError` and leaves the file untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

import tomlkit
from tomlkit.items import AoT

from skinnyctl.errors import UserError
from skinnyctl.site import catalog
from skinnyctl.site.atomic import write_text_atomic
from skinnyctl.site.files import FileRefused, site_text
from skinnyctl.site.loader import Problem, SiteError, normalize_mac, parse_site
from skinnyctl.site.locate import Locations
from skinnyctl.site.model import Site

# A table or array-of-tables header alone on its line, possibly followed by a comment.
_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\[\]#]+?)\s*\]\]?\s*(#.*)?$")


def _read(path: Path) -> tuple[str, Site]:
    """The file's text and the valid site it describes (SiteError when it is not valid)."""
    try:
        text = site_text(path)
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; create it with: skinnyctl init") from None
    except FileRefused as e:
        raise UserError(f"cannot read {path}: it {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    return text, parse_site(text, path)


def _commit(path: Path, new_text: str) -> Site:
    """Validate ``new_text`` and only then replace ``path`` with it."""
    try:
        site = parse_site(new_text, path)
    except SiteError as e:
        # Positions refer to the edited text, which is not on disk: say so.
        raise SiteError(
            [
                Problem(
                    p.file,
                    p.line,
                    p.column,
                    f"the edit would make the site invalid: {p.message}",
                    p.hint,
                )
                for p in e.problems
            ]
        ) from None
    try:
        write_text_atomic(path, new_text)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    return site


def edit_site(path: Path, change: Callable[[str, Site], str]) -> Site:
    """Apply ``change(text, site) -> new_text`` to the site file, validated and atomic."""
    path = Path(path)
    text, site = _read(path)
    return _commit(path, change(text, site))


def _headers(text: str) -> list[tuple[int, str]]:
    """(0-based line index, dotted header name) of every real header, in order.

    The position check against the TOML scanner skips look-alikes inside multi-line strings.
    """
    starts = set(Locations(text).values.values())
    out = []
    for i, line in enumerate(text.splitlines()):
        m = _HEADER_RE.match(line)
        if m and (i + 1, m.start(1) + 1) in starts:
            name = re.sub(r"\s*\.\s*", ".", m.group(2)).replace('"', "").replace("'", "")
            out.append((i, name))
    return out


def _in_section(name: str, section: str) -> bool:
    return name == section or name.startswith(section + ".")


def _insert_entry(text: str, section: str, snippet: str) -> str:
    """Insert ``snippet`` (an ``[[section]]`` entry) after the last entry of ``section``."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    headers = _headers(text)
    last = max((i for i, name in headers if _in_section(name, section)), default=None)
    if last is None:
        body = "".join(lines).rstrip("\n")
        return (body + "\n\n" if body else "") + snippet
    stop = next((i for i, name in headers if i > last and not _in_section(name, section)), None)
    if stop is None:
        body = "".join(lines).rstrip("\n")
        return body + "\n\n" + snippet
    j = stop
    # Keep the comment block introducing the next section with it, and the blank lines too.
    while j - 1 > last and lines[j - 1].lstrip().startswith("#"):
        j -= 1
    while j - 1 > last and not lines[j - 1].strip():
        j -= 1
    return "".join(lines[:j]) + "\n" + snippet + "".join(lines[j:])


def _render(section: str, entry: dict[str, object]) -> str:
    doc = tomlkit.document()
    aot = tomlkit.aot()
    table = tomlkit.table()
    for key, value in entry.items():
        table.add(key, value)
    aot.append(table)
    doc.add(section, aot)
    return tomlkit.dumps(doc).strip("\n") + "\n"


def _check_array_of_tables(text: str, section: str) -> None:
    doc = tomlkit.parse(text)
    if section in doc and not isinstance(doc[section], AoT):
        raise UserError(
            f"'{section}' is not written as [[{section}]] sections in this file; "
            "add the entry by hand"
        )


def _mac_text(mac: str) -> str:
    return ":".join(mac[i : i + 2] for i in range(0, 12, 2)).lower()


def add_device(
    path: Path,
    mac: str,
    model: str,
    description: str = "",
    lines: Iterable[str] = (),
) -> None:
    """Add a ``[[devices]]`` entry for a phone, one line button per number in ``lines``.

    Raises UserError for a bad MAC, an unknown model, a MAC already present or a line no
    ``[[lines]]`` entry defines; SiteError when the file or the result is invalid.
    """
    try:
        norm = normalize_mac(mac)
    except ValueError as e:
        raise UserError(str(e)) from None
    phone = catalog.find_model(model)
    if phone is None:
        raise UserError(
            f"unknown phone model '{model}'; known models: " + ", ".join(catalog.PHONE_MODELS)
        )
    numbers = [str(n) for n in lines]

    def change(text: str, site: Site) -> str:
        existing = site.device(norm)
        if existing is not None:
            raise UserError(
                f"{path}: a device with MAC {_mac_text(norm)} is already described"
                + (f" ({existing.description})" if existing.description else "")
                + "; edit that entry instead"
            )
        for n in numbers:
            if site.line(n) is None:
                defined = ", ".join(ln.number for ln in site.lines) or "none"
                raise UserError(
                    f"line {n} is not defined in {path} (defined lines: {defined}); "
                    "add a [[lines]] entry for it first"
                )
        _check_array_of_tables(text, "devices")
        entry: dict[str, object] = {"mac": _mac_text(norm), "model": phone.name}
        if description:
            entry["description"] = description
        if numbers:
            buttons = tomlkit.aot()
            for n in numbers:
                b = tomlkit.table()
                b.add("type", "line")
                b.add("line", n)
                buttons.append(b)
            entry["buttons"] = buttons
        return _insert_entry(text, "devices", _render("devices", entry))

    edit_site(Path(path), change)


def add_line(path: Path, number: str, display_name: str = "") -> None:
    """Add a ``[[lines]]`` entry. Raises UserError when the number already exists."""

    def change(text: str, site: Site) -> str:
        if site.line(number) is not None:
            raise UserError(f"line {number} is already defined in {path}")
        _check_array_of_tables(text, "lines")
        entry: dict[str, object] = {"number": number}
        if display_name:
            entry["display_name"] = display_name
        return _insert_entry(text, "lines", _render("lines", entry))

    edit_site(Path(path), change)
