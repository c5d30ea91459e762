"""The edge side of the core's media and record actions (``calls.media``).

The core chooses media ports itself and emits MediaOpen, MediaLearn, MediaBridge, MediaPlay,
MediaStop, MediaEcho, MediaClose and WriteCdr; this applies them to the media engine
(``media.Relay``) and the ``CdrStore``, on the core thread, in order. Failures are logged (a
call without audio, a record not written) and never stop the server; a leg that cannot be
opened is reported back to the core (``MediaFailed``) so it can take another port.
"""

from __future__ import annotations

import logging

from skinnyctl.calls.cdr import CdrStore
from skinnyctl.calls.media import (
    EdgeAction,
    MediaBridge,
    MediaClose,
    MediaEcho,
    MediaFailed,
    MediaLearn,
    MediaOpen,
    MediaPlay,
    MediaStop,
    WriteCdr,
)
from skinnyctl.media import Leg, Relay

log = logging.getLogger("skinnyctl.runtime.calls")


class CallEdge:
    def __init__(self, relay: Relay | None = None, cdr: CdrStore | None = None) -> None:
        self.relay = relay
        self.cdr = cdr
        self._legs: dict[int, Leg] = {}  # media key -> the engine's leg

    def apply(self, a: EdgeAction) -> MediaFailed | None:
        """Carry out ``a``; what the core must hear back (a leg that could not be opened),
        else None."""
        try:
            self._apply(a)
        except Exception as e:
            if isinstance(a, MediaOpen):
                log.warning("cannot open media leg %d on port %d: %s", a.key, a.port, e)
                return MediaFailed(a.key, a.port, str(e))
            log.exception("cannot carry out %r", a)
        return None

    def _apply(self, a: EdgeAction) -> None:
        if isinstance(a, WriteCdr):
            if self.cdr is not None:
                self.cdr.submit(a.record)  # a writer thread: no fsync on the core thread
            return
        relay = self.relay
        if relay is None:
            return
        if isinstance(a, MediaOpen):
            old = self._legs.pop(a.key, None)
            if old is not None:
                relay.close_leg(old)
            self._legs[a.key] = relay.open_leg(a.call_key, port=a.port)
        elif isinstance(a, MediaClose):
            leg = self._legs.pop(a.key, None)
            if leg is not None:
                relay.close_leg(leg)
        elif isinstance(a, MediaBridge):
            la, lb = self._legs.get(a.a), self._legs.get(a.b)
            if la is None or lb is None:
                return
            relay.rekey(la, a.call_key)
            relay.rekey(lb, a.call_key)
            relay.bridge(la, lb)
        else:
            leg = self._legs.get(a.key)
            if leg is None:
                return
            if isinstance(a, MediaLearn):
                relay.learn(leg, a.ip, a.port, a.nat)
            elif isinstance(a, MediaPlay):
                relay.hold(leg, a.codec, a.ptime_ms)  # the engine's one source today: music
            elif isinstance(a, MediaStop):
                relay.resume(leg)
            elif isinstance(a, MediaEcho):
                relay.echo(leg, a.on)
