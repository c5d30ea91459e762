"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def write_text_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path``; see :func:`write_bytes_atomic`."""
    write_bytes_atomic(path, text.encode("utf-8"), mode)


def write_bytes_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename.

    The new file keeps the permissions of the file it replaces (or ``mode``, else 0o644), so an
    edit does not widen or narrow who may read the file (provision passes 0o644).
    """
    write_chunks_atomic(path, (data,), mode)


def write_chunks_atomic(path: Path, chunks: Iterable[bytes], mode: int | None = None) -> None:
    """:func:`write_bytes_atomic` for data that arrives in pieces (a file from an archive)."""
    path = Path(path)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
