"""The edge side of the core's media, record and SIP actions (``calls.media``, ``sip.events``).

The core chooses media ports itself and emits MediaOpen, MediaLearn, MediaCodec, MediaBridge,
MediaPlay, MediaStop, MediaEcho, MediaDtmf, MediaClose and WriteCdr; this applies them to the
media engine (``media.Relay``) and the ``CdrStore``, on the core thread, in order, and hands
the SIP commands to the SIP edge (``sip.edge.SipEdge.apply``: it only queues them for its own
thread, so the core never waits on the network). Failures are logged (a call without audio, a
record not written) and never stop the server; a leg that cannot be opened is reported back
to the core (``MediaFailed``) so it can take another port. RFC 4733 digits the engine decodes
on a leg with a telephone-event type arrive on its notifier thread and go to the core's queue
(``submit``) as ``MediaDigit``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from skinnyctl.calls.cdr import CdrStore
from skinnyctl.calls.media import (
    EdgeAction,
    MediaBridge,
    MediaClose,
    MediaCodec,
    MediaDigit,
    MediaDtmf,
    MediaEcho,
    MediaFailed,
    MediaLearn,
    MediaOpen,
    MediaPlay,
    MediaStop,
    WriteCdr,
)
from skinnyctl.media import Leg, Relay
from skinnyctl.sip.events import SipCommand

log = logging.getLogger("skinnyctl.runtime.calls")


class SipEdgeLike(Protocol):
    """What carries the SIP commands out (``sip.edge.SipEdge``)."""

    def apply(self, cmd: SipCommand) -> None: ...


class CallEdge:
    def __init__(
        self,
        relay: Relay | None = None,
        cdr: CdrStore | None = None,
        *,
        sip: SipEdgeLike | None = None,
        submit: Callable[[Any], None] | None = None,
    ) -> None:
        self.relay = relay
        self.cdr = cdr
        self.sip = sip
        self.submit = submit  # puts an input on the core's queue (any thread)
        self._legs: dict[int, Leg] = {}  # media key -> the engine's leg

    def apply(self, a: EdgeAction | SipCommand) -> MediaFailed | None:
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

    def _apply(self, a: EdgeAction | SipCommand) -> None:
        if isinstance(a, SipCommand):
            if self.sip is None:
                log.warning("no SIP trunk is running: %s dropped", type(a).__name__)
            else:
                self.sip.apply(a)
            return
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
            opened = relay.open_leg(a.call_key, port=a.port)
            self._legs[a.key] = opened
            if a.codec is not None:
                relay.set_codec(opened, a.codec)
        elif isinstance(a, MediaClose):
            closed = self._legs.pop(a.key, None)
            if closed is not None:
                relay.close_leg(closed)
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
            elif isinstance(a, MediaCodec):
                relay.set_codec(leg, a.codec, dtmf_pt=a.dtmf_pt, ptime_ms=a.ptime_ms)
                if a.dtmf_pt is not None and self.submit is not None:
                    relay.set_dtmf(leg, self._digits_to_core(a.key))
            elif isinstance(a, MediaDtmf):
                relay.send_dtmf(leg, a.digit)
            elif isinstance(a, MediaPlay):
                relay.hold(leg, a.codec, a.ptime_ms)  # the engine's one source today: music
            elif isinstance(a, MediaStop):
                relay.resume(leg)
            elif isinstance(a, MediaEcho):
                relay.echo(leg, a.on)

    def _digits_to_core(self, key: int) -> Callable[[Leg, str], None]:
        submit = self.submit
        assert submit is not None

        def on_dtmf(leg: Leg, digit: str) -> None:  # the engine's notifier thread
            submit(MediaDigit(key, digit))

        return on_dtmf
