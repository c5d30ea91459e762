"""The music number: the caller hears the music-on-hold source, as a held party would (to
check what callers on hold will hear)."""

from __future__ import annotations

from typing import ClassVar

from skinnyctl.calls.events import Action
from skinnyctl.calls.media import MediaPlay, MediaStop

from .base import AppChannel, Application


class Music(Application):
    kind: ClassVar[str] = "music"

    def attach(self, ch: AppChannel, key: int) -> list[Action]:
        far = ch.call.far(ch) if ch.call is not None else None
        alaw = far is not None and far.codec == "alaw"
        return [MediaPlay(key, "music", "alaw" if alaw else "ulaw")]

    def detach(self, ch: AppChannel, key: int) -> list[Action]:
        return [MediaStop(key)]
