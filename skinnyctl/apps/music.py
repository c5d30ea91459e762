"""The music number: the caller hears the music-on-hold source, as a held party would (to
check what callers on hold will hear). It is a play of the engine (looped), not the engine's
hold, so the caller's own hold and resume never stop it."""

from __future__ import annotations

from typing import ClassVar

from skinnyctl.calls.events import Action
from skinnyctl.calls.media import MediaPrompt, MediaStopPlay, Sound

from .base import AppChannel, Application


class Music(Application):
    kind: ClassVar[str] = "music"

    def attach(self, ch: AppChannel, key: int) -> list[Action]:
        return [MediaPrompt(key, (Sound("music"),), play_id=ch.id, loop=True)]

    def detach(self, ch: AppChannel, key: int) -> list[Action]:
        return [MediaStopPlay(key)]
