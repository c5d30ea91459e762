"""The echo test (FreeSWITCH's 9196): what the caller says comes back, unchanged and in order.
The media engine sends every packet of the caller's leg straight back to the caller."""

from __future__ import annotations

from typing import ClassVar

from skinnyctl.calls.events import Action
from skinnyctl.calls.media import MediaEcho

from .base import AppChannel, Application


class Echo(Application):
    kind: ClassVar[str] = "echo"

    def attach(self, ch: AppChannel, key: int) -> list[Action]:
        return [MediaEcho(key, True)]

    def detach(self, ch: AppChannel, key: int) -> list[Action]:
        return [MediaEcho(key, False)]
