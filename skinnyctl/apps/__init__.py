"""Applications: ends of calls whose far end is our own code (echo test, music, voicemail, park)."""

from .base import AppChannel, Application, Apps
from .echo import Echo
from .music import Music
from .park import Park
from .voicemail.app import VoicemailApp

KINDS: dict[str, type[Application]] = {cls.kind: cls for cls in (Echo, Music, VoicemailApp, Park)}

__all__ = ["KINDS", "AppChannel", "Application", "Apps", "Echo", "Music", "Park", "VoicemailApp"]
