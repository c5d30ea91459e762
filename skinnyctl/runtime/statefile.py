"""The users' run-time settings on disk (``calls.userstate``): ``state/features.json``.

Written atomically (a temporary file in the same directory, fsync, rename, then the directory
fsync'd) with mode 0600, on the core thread: a write follows a key press or a control command,
a few per day, each a few hundred bytes. A file that cannot be read or parsed at start is
logged and ignored (set aside as ``features.json.bad`` so the next write does not destroy the
evidence); a write that fails is logged and the server goes on with the settings in memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from skinnyctl.calls.userstate import UserState

log = logging.getLogger("skinnyctl.runtime.state")


def load(path: Path) -> UserState:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UserState()
    except OSError as e:
        log.error("cannot read %s (%s): run-time forwards, DND and HLog start empty", path, e)
        return UserState()
    try:
        data = json.loads(text)
    except ValueError as e:
        log.error("%s is not JSON (%s); set aside as %s.bad, starting without it", path, e, path)
        with contextlib.suppress(OSError):
            path.replace(path.with_name(path.name + ".bad"))
        return UserState()
    return UserState.from_json(data)


def save(path: Path, data: dict[str, Any]) -> bool:
    """Write ``data`` to ``path`` atomically; False (logged) when it could not be written."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return True
    except OSError as e:
        log.error("cannot write %s (%s): the change holds until the server stops", path, e)
        return False
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
