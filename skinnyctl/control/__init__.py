"""Local control API of ``serve`` (``status``, ``send``, ``mwi``, ``set``, ``reload``,
``events``, ``calls``): protocol in docs/control-api.md."""

from __future__ import annotations

from .client import ControlClient
from .endpoint import client_for
from .protocol import ControlError


def error_text(e: Exception) -> str:
    """A refusal as the CLI prints it: the message, then the valid choices or problems."""
    text = str(e)
    problems = getattr(e, "problems", None) or []
    valid = getattr(e, "valid", None) or []
    if problems:
        text += "\n" + "\n".join(f"  {p}" for p in problems)
    if valid:
        text += "\nvalid: " + (
            "\n  " + "\n  ".join(valid) if any(len(v) > 30 for v in valid) else ", ".join(valid)
        )
    return text


__all__ = ["ControlClient", "ControlError", "client_for", "error_text"]
