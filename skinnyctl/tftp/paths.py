"""Safe resolution of a TFTP file name to a file inside the TFTP root.

Phones ask for names in whatever case and with whatever separators their firmware uses
(provisioning.md §1.6), and anyone on the network can ask for anything. The rules, in order:

1. A NUL byte, an empty name or a name longer than :data:`MAX_NAME` is refused.
2. ``\\`` reads as ``/`` (CIPC asks for ``Communicator\\...``).
3. A drive letter (``C:...``) is refused. A leading ``/`` is stripped: the root acts as ``/``,
   as with ``in.tftpd -s`` — so ``/etc/passwd`` is looked up as ``<root>/etc/passwd`` and never
   outside. If nothing of that name exists in the root the request is refused as an absolute path
   (not merely "not found") so the log says what was tried.
4. Empty and ``.`` components are dropped; any ``..`` component is refused (never resolved, even
   when it would stay inside the root).
5. Each component is looked up exactly, then case-insensitively within its directory (the first
   match in sorted order when several differ only in case, so the answer is stable).
6. The result, with every symlink followed, must still be inside the root (a link to another file
   in the root is fine: ``Ringlist.xml -> RINGLIST.XML``), must be a regular file (no directory,
   FIFO or device: a FIFO would hang the transfer) and must be readable.

:func:`resolve` is pure apart from reading the file system; it raises :class:`TftpRefused` (or its
subclass :class:`TftpNotFound`) with a reason for the log and the TFTP error code to answer.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

MAX_NAME = 512  # longer than any name a phone uses; an RRQ fits one datagram anyway

# TFTP error codes (RFC 1350).
ERR_UNDEFINED = 0
ERR_NOT_FOUND = 1
ERR_ACCESS = 2
ERR_ILLEGAL = 4
ERR_OPTIONS = 8

_DRIVE_RE = re.compile(r"^[A-Za-z]:")


class TftpRefused(Exception):
    """A request we will not serve: ``reason`` goes to the log, ``code`` is the TFTP error code."""

    code = ERR_ACCESS

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if code is not None:
            self.code = code


class TftpNotFound(TftpRefused):
    """Nothing of that name (in any case) in the root: answered at once with error 1."""

    code = ERR_NOT_FOUND


def normalize(requested: str) -> tuple[str, bool]:
    """``requested`` -> (relative POSIX name, whether it was absolute). Raises TftpRefused for a
    name that can never be served (NUL, ``..``, drive letter, empty, too long)."""
    if "\x00" in requested:
        raise TftpRefused("NUL byte in file name")
    if len(requested) > MAX_NAME:
        raise TftpRefused(f"file name longer than {MAX_NAME} characters")
    name = requested.replace("\\", "/")
    if _DRIVE_RE.match(name):
        raise TftpRefused("absolute path with a drive letter")
    absolute = name.startswith("/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise TftpRefused("path traversal ('..' in the file name)")
    if not parts:
        raise TftpNotFound("empty file name")
    return "/".join(parts), absolute


def _find_entry(directory: Path, part: str) -> Path | None:
    exact = directory / part
    if os.path.lexists(exact):
        return exact
    folded = part.casefold()
    try:
        names = sorted(n for n in os.listdir(directory) if n.casefold() == folded)
    except OSError:
        return None
    return directory / names[0] if names else None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve(root: Path, requested: str) -> Path:
    """The file in ``root`` that ``requested`` names (see the module docstring), as a resolved
    path. Raises TftpNotFound or TftpRefused."""
    name, absolute = normalize(requested)
    real_root = os.path.realpath(root)
    current = Path(real_root)
    for i, part in enumerate(name.split("/")):
        found = _find_entry(current, part)
        if found is None:
            if absolute:
                raise TftpRefused(f"absolute path: no {name!r} inside the TFTP root")
            raise TftpNotFound("file not found")
        # Follow symlinks as we go so that a directory link out of the root is caught here.
        real = os.path.realpath(found)
        if not _inside(real, real_root):
            raise TftpRefused("symlink points outside the TFTP root")
        current = Path(real)
        if i < name.count("/") and not current.is_dir():
            raise TftpNotFound("file not found")
    try:
        st = os.stat(current)
    except OSError as e:  # a dangling link inside the root
        raise TftpNotFound(f"file not found ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise TftpRefused("is a directory (directories are not listed)")
    if not stat.S_ISREG(st.st_mode):
        raise TftpRefused("not a regular file")
    if not os.access(current, os.R_OK):
        raise TftpRefused("file not readable by the server")
    return current
