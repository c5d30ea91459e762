"""Reading files a user names (site.toml, music on hold): regular files only, bounded in size.

A site.toml that is a FIFO made ``check`` hang; one linked to /dev/zero, or
``music_on_hold = "/dev/zero"``, read until MemoryError. :func:`read_bounded` opens without
blocking, refuses anything but a regular file, and reads at most ``limit`` bytes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SITE_LIMIT = 8 * 1024 * 1024  # a site.toml of 10,000 phones is about 2 MB
# Music on hold: six minutes of CD-quality stereo, an hour of 8 kHz mono. A loop on hold is
# shorter, and a bigger file would cost its size several times over in memory while converted.
MOH_LIMIT = 64 * 1024 * 1024
UNIX_PATH_MAX = 107  # bytes of an AF_UNIX socket path (sun_path holds 108 with the NUL)
BOM = "\ufeff"  # what Windows editors put before UTF-8 text


class FileRefused(Exception):
    """The file cannot be used; the message says why (without the path)."""


def kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of ``path``; FileRefused when it is not a regular file or is larger than
    ``limit``; OSError (FileNotFoundError...) when it cannot be opened."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused right after).
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(f"is {kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise FileRefused(f"is {st.st_size:,} bytes; at most {limit:,} are read")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew while we read
            raise FileRefused(f"is larger than {limit:,} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def site_text(path: Path) -> str:
    """site.toml as text: bounded, UTF-8, without the byte-order mark some editors write.
    Raises FileRefused, OSError or UnicodeDecodeError."""
    text = read_bounded(path, SITE_LIMIT).decode("utf-8")
    return text.removeprefix(BOM)
