"""Voicemail PINs, never kept in clear: ``pbkdf2-sha256$iterations$salt$hash`` (hex salt/hash).

Why modest iterations (20,000, about 5 ms): the hash is checked on the call-control thread,
and no iteration count protects a 4-digit PIN from an offline search anyway; what the hash
buys is that neither site.toml nor the pin file shows a PIN someone may reuse elsewhere. The
real protections are the pin file's mode (0600) and three tries per call. The count is part of
each hash, so a stronger one can be written without breaking existing ones.

The pin file (``[voicemail] pin_file``) is TOML, one ``"BOX" = "hash"`` per line, written by
``skinnyctl voicemail pin`` and by the phone menu's "change PIN"; its entry for a box wins
over ``pin`` in site.toml.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import tomllib
from pathlib import Path

from skinnyctl.site.atomic import write_text_atomic

SCHEME = "pbkdf2-sha256"
ITERATIONS = 20_000
MIN_DIGITS = 4
MAX_DIGITS = 10
_HASH_RE = re.compile(r"^pbkdf2-sha256\$([0-9]{1,9})\$([0-9a-f]{16,128})\$([0-9a-f]{64})$")


class PinFileError(ValueError):
    """The pin file cannot be read; the message says why and where."""


def pin_problem(pin: str) -> str | None:
    """Why ``pin`` cannot be a PIN, or None when it can."""
    if not pin.isdigit() or not pin.isascii():
        return "a PIN is made of digits only"
    if not MIN_DIGITS <= len(pin) <= MAX_DIGITS:
        return f"a PIN has {MIN_DIGITS} to {MAX_DIGITS} digits"
    return None


def hash_pin(pin: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def hash_problem(text: str) -> str | None:
    """Why ``text`` is not a PIN hash we can check, or None when it is one."""
    m = _HASH_RE.match(text)
    if not m:
        if text.isdigit():
            return "this is a PIN in clear, not its hash"
        return "not a PIN hash (pbkdf2-sha256$iterations$salt$hash)"
    if not 1_000 <= int(m.group(1)) <= 10_000_000:
        return "the iteration count is out of range (1000 to 10000000)"
    if len(m.group(2)) % 2:
        return "the salt has an odd number of hex digits"
    return None


def verify(pin: str, hashed: str) -> bool:
    """Does ``pin`` match ``hashed``? False for a malformed hash (never raises)."""
    m = _HASH_RE.match(hashed)
    if not m or hash_problem(hashed):
        return False
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(m.group(2)), int(m[1]))
    return hmac.compare_digest(digest.hex(), m.group(3))


def read_pin_file(path: Path) -> dict[str, str]:
    """The box -> hash entries of a pin file; {} when it does not exist."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise PinFileError(f"{path}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise PinFileError(f"{path}: not TOML: {e}") from None
    out = {}
    for box, value in data.items():
        if not isinstance(value, str) or hash_problem(value):
            raise PinFileError(f"{path}: box {box}: not a PIN hash")
        out[box] = value
    return out


def write_pin_file(path: Path, pins: dict[str, str]) -> None:
    """Write every entry, atomically, readable by its owner only."""
    lines = [
        "# Voicemail PINs, hashed (pbkdf2-sha256$iterations$salt$hash), one per mailbox.",
        "# Written by `skinnyctl voicemail pin BOX` and the phone menu; an entry here wins",
        "# over pin in site.toml. Remove a line to fall back to site.toml.",
    ]
    lines += [f'"{box}" = "{pins[box]}"' for box in sorted(pins)]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "\n".join(lines) + "\n", mode=0o600)
