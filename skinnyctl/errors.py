"""Errors a user can cause and fix. The CLI prints them without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: the message says what happened and what to do."""

    exit_code = 1
