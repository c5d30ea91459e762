"""The edge side of the call layer's actions: relay commands and call detail records.

The call core (``callmanager.calls``) chooses relay ports itself and emits RelayLeg, RelayLearn,
RelayBridge, RelayHold, RelayResume, RelayClose and WriteCdr; this applies them to the
``media.Relay`` and the ``CdrStore``. Failures are logged (a call without audio, a record not
written) and never stop the server.
"""

from __future__ import annotations

import logging
from typing import assert_never

from skinnyctl.callmanager.cdr import CdrStore
from skinnyctl.callmanager.events import (
    CallAction,
    RelayBridge,
    RelayClose,
    RelayHold,
    RelayLearn,
    RelayLeg,
    RelayResume,
    WriteCdr,
)
from skinnyctl.media import Leg, Relay

log = logging.getLogger("skinnyctl.runtime.calls")


class CallEdge:
    def __init__(self, relay: Relay | None = None, cdr: CdrStore | None = None) -> None:
        self.relay = relay
        self.cdr = cdr
        self._legs: dict[int, Leg] = {}  # leg key (callRef) -> relay leg

    def apply(self, a: CallAction) -> None:
        try:
            self._apply(a)
        except Exception:
            log.exception("cannot carry out %r", a)

    def _apply(self, a: CallAction) -> None:
        if isinstance(a, WriteCdr):
            if self.cdr is not None:
                self.cdr.submit(a.record)  # to its writer thread: no fsync on the core thread
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
        if isinstance(a, RelayBridge):
            la, lb = self._legs.get(a.a), self._legs.get(a.b)
            if la is None or lb is None:
                return
            relay.rekey(la, a.call_key)
            relay.rekey(lb, a.call_key)
            relay.bridge(la, lb)
            return
        if isinstance(a, RelayClose):
            closed = self._legs.pop(a.leg_key, None)
            if closed is not None:
                relay.close_leg(closed)
            return
        leg = self._legs.get(a.leg_key)
        if leg is None:
            return
        if isinstance(a, RelayLearn):
            relay.learn(leg, a.ip, a.port)
        elif isinstance(a, RelayHold):
            relay.hold(leg, a.codec, a.ptime_ms)
        elif isinstance(a, RelayResume):
            relay.resume(leg)
        else:
            assert_never(a)  # a new call action: the checker asks for its case here
