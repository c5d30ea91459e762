"""The edge side of the core's media, record and SIP actions (``calls.media``, ``sip.events``).

The core chooses media ports itself and emits media actions (open, learn, bridge, music, echo,
plays, recordings, conference mixing, codecs, DTMF) and WriteCdr; this applies them to the
media engine (``media.Relay``) and the ``CdrStore``, on the core thread, in order, and hands
the SIP commands to the SIP edge (``sip.edge.SipEdge.apply`` only queues them for its own
thread: the core never waits on the network). Failures are
logged (a call without audio, a record not written) and never stop the server; a leg that
cannot be opened is reported back to the core (``MediaFailed``) so it can take another port.
What the engine reports later (a play or a recording ended, a digit arrived) comes from its
notifier thread and is posted to the core's queue (``post``), never handled here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Protocol

from skinnyctl.calls.cdr import CdrStore
from skinnyctl.calls.media import (
    EdgeAction,
    MediaBridge,
    MediaClose,
    MediaCodec,
    MediaDtmf,
    MediaEcho,
    MediaEvent,
    MediaFailed,
    MediaLearn,
    MediaListenDtmf,
    MediaMix,
    MediaOpen,
    MediaPlay,
    MediaPlayDone,
    MediaPrompt,
    MediaRecord,
    MediaRecordDone,
    MediaSendDtmf,
    MediaStop,
    MediaStopPlay,
    MediaStopRecord,
    MediaUnmix,
    Sound,
    WriteCdr,
)
from skinnyctl.media import Leg, Music, Prompt, Relay, Silence, Source, Tone
from skinnyctl.sip.events import SipCommand

log = logging.getLogger("skinnyctl.runtime.calls")


def _source(sound: Sound) -> Source:
    if sound.kind == "prompt":
        return Prompt(*sound.files)
    if sound.kind == "tone":
        return Tone(sound.freqs, sound.seconds)
    if sound.kind == "silence":
        return Silence(sound.seconds)
    return Music()


class SipEdgeLike(Protocol):
    """What carries the SIP commands out (``sip.edge.SipEdge``)."""

    def apply(self, cmd: SipCommand) -> None: ...


class CallEdge:
    def __init__(
        self,
        relay: Relay | None = None,
        cdr: CdrStore | None = None,
        post: Callable[[MediaEvent], None] | None = None,
        sip: SipEdgeLike | None = None,
    ) -> None:
        self.relay = relay
        self.cdr = cdr
        self.post = post  # to the core's queue, from the engine's notifier thread
        self.sip = sip  # the SIP trunks' edge, when the site has trunks
        self._legs: dict[int, Leg] = {}  # media key -> the engine's leg
        self._keys: dict[int, int] = {}  # the engine's leg id -> media key

    def apply(self, a: EdgeAction | SipCommand) -> MediaFailed | None:
        """Carry out ``a``; what the core must hear back at once (a leg that could not be
        opened), else None."""
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
                self._keys.pop(old.id, None)
                relay.close_leg(old)
            opened = relay.open_leg(a.call_key, port=a.port)
            self._legs[a.key] = opened
            self._keys[opened.id] = a.key
            if a.codec is not None:
                relay.set_codec(opened, a.codec)
            return
        if isinstance(a, MediaClose):
            gone = self._legs.pop(a.key, None)
            if gone is not None:
                self._keys.pop(gone.id, None)
                relay.close_leg(gone)
            return
        if isinstance(a, MediaBridge):
            la, lb = self._legs.get(a.a), self._legs.get(a.b)
            if la is None or lb is None:
                return
            relay.rekey(la, a.call_key)
            relay.rekey(lb, a.call_key)
            relay.bridge(la, lb)
            return
        leg = self._legs.get(a.key)
        if leg is None:
            return
        if isinstance(a, MediaLearn):
            relay.learn(leg, a.ip, a.port, a.nat)
        elif isinstance(a, MediaPlay):
            relay.hold(leg, a.codec, a.ptime_ms)  # music on hold: looped, no forwarding
        elif isinstance(a, MediaStop):
            relay.resume(leg)
        elif isinstance(a, MediaEcho):
            relay.echo(leg, a.on)
        elif isinstance(a, MediaPrompt):
            relay.play(
                leg,
                [_source(s) for s in a.sounds],
                loop=a.loop,
                on_done=partial(self._played, a.key, a.play_id),
            )
        elif isinstance(a, MediaStopPlay):
            relay.stop_play(leg)
        elif isinstance(a, MediaRecord):
            relay.record(
                leg,
                a.path,
                max_seconds=a.max_seconds,
                silence_seconds=a.silence_seconds,
                on_done=partial(self._recorded, a.key, a.record_id),
            )
        elif isinstance(a, MediaStopRecord):
            relay.stop_record(leg)
        elif isinstance(a, MediaMix):
            relay.mix_add(a.conf_key, leg)
        elif isinstance(a, MediaUnmix):
            relay.mix_remove(leg)
        elif isinstance(a, MediaCodec):
            relay.set_codec(leg, a.codec, dtmf_pt=a.dtmf_pt)
        elif isinstance(a, MediaListenDtmf):
            relay.set_dtmf(leg, self._on_dtmf if a.on else None)
        elif isinstance(a, MediaSendDtmf):
            relay.send_dtmf(leg, a.digit)

    def _played(self, key: int, play_id: int, _leg: Leg, _engine_id: int, completed: bool) -> None:
        self._tell(MediaPlayDone(key, play_id, completed))

    def _recorded(
        self, key: int, record_id: int, _leg: Leg, _rid: int, path: Path, seconds: float, why: str
    ) -> None:
        self._tell(MediaRecordDone(key, record_id, Path(path), seconds, why))

    def _on_dtmf(self, leg: Leg, digit: str) -> None:
        key = self._keys.get(leg.id)
        if key is not None:
            self._tell(MediaDtmf(key, digit))

    def _tell(self, event: MediaEvent) -> None:
        """From the engine's notifier thread: to the core's queue."""
        if self.post is not None:
            self.post(event)
