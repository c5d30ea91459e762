"""Applications: ends of calls whose far end is our own code (echo test, music, park...)."""

from .base import AppChannel, Application, Apps
from .echo import Echo
from .music import Music
from .park import Park

KINDS: dict[str, type[Application]] = {cls.kind: cls for cls in (Echo, Music, Park)}

__all__ = ["KINDS", "AppChannel", "Application", "Apps", "Echo", "Music", "Park"]
