"""The edge side of the call layer's actions: relay commands and call detail records.

The call core (``callmanager.calls``) chooses relay ports itself and emits RelayLeg, RelayLearn,
RelayBridge, RelayHold, RelayResume, RelayClose and WriteCdr; this applies them to the
``media.Relay`` and the ``CdrStore``. Failures are logged (a call without audio, a record not
written) and never stop the server.
"""

from __future__ import annotations

import logging
from typing import Any

from skinnyctl.callmanager.calls import (
    CallAction,
    RelayBridge,
    RelayClose,
    RelayHold,
    RelayLearn,
    RelayLeg,
    RelayResume,
    WriteCdr,
)
from skinnyctl.callmanager.events import Input, RelayFailed

log = logging.getLogger("skinnyctl.runtime.calls")


class CallEdge:
    def __init__(self, relay: Any = None, cdr: Any = None) -> None:
        self.relay = relay
        self.cdr = cdr
        self._legs: dict[int, Any] = {}  # leg key (callRef) -> media.Leg

    def apply(self, a: CallAction) -> Input | None:
        """Carry out ``a``; what the core must hear back (a relay leg that could not be
        opened), else None."""
        try:
            self._apply(a)
        except Exception as e:
            if isinstance(a, RelayLeg):
                log.warning("cannot open relay leg %d on port %d: %s", a.leg_key, a.port, e)
                return RelayFailed(a.leg_key, a.port, str(e))
            log.exception("cannot carry out %r", a)
        return None

    def _apply(self, a: CallAction) -> None:
        if isinstance(a, WriteCdr):
            if self.cdr is not None:
                submit = getattr(self.cdr, "submit", None)  # a writer thread: no fsync here
                (submit or self.cdr.append)(a.record)
            return
        relay = self.relay
        if relay is None:
            return
        if isinstance(a, RelayLeg):
            old = self._legs.pop(a.leg_key, None)
            if old is not None:
                relay.close_leg(old)
            self._legs[a.leg_key] = relay.open_leg(a.call_key, port=a.port)
            return
        leg = self._legs.get(a.leg_key) if hasattr(a, "leg_key") else None
        if isinstance(a, RelayLearn) and leg is not None:
            relay.learn(leg, a.ip, a.port, a.nat)
        elif isinstance(a, RelayHold) and leg is not None:
            relay.hold(leg, a.codec, a.ptime_ms)
        elif isinstance(a, RelayResume) and leg is not None:
            relay.resume(leg)
        elif isinstance(a, RelayClose):
            leg = self._legs.pop(a.leg_key, None)
            if leg is not None:
                relay.close_leg(leg)
        elif isinstance(a, RelayBridge):
            la, lb = self._legs.get(a.a), self._legs.get(a.b)
            if la is None or lb is None:
                return
            relay.rekey(la, a.call_key)
            relay.rekey(lb, a.call_key)
            relay.bridge(la, lb)
