"""The media engine's vocabulary, sans-IO: what the call core asks of it, and its port pairs.

The engine itself (``skinnyctl.media``: relay, music, later prompts, recording, mixing) runs
at the edge; the core only emits these actions, keyed by a *media key* (one relay leg: an
RTP/RTCP port pair facing one phone, trunk or application) and a *call key* (legs forward to
each other only within one call key). ``runtime.calledge`` carries them out in order.

Ports are chosen here, not at the edge, so the core can name a port in a phone message
(StartMediaTransmission) in the same step it opens the leg; a port the edge then cannot bind
comes back as :class:`MediaFailed` and the core takes another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from skinnyctl.site.model import Server

PTIME_MS = 20
Codec = Literal["ulaw", "alaw"]


@dataclass(frozen=True)
class MediaOpen:
    """Open an RTP endpoint: bind ``port`` (RTP) and ``port + 1`` (RTCP) as leg ``key`` of
    call ``call_key``. ``codec``: the G.711 law its far side speaks, when known (a bridge
    between legs of different laws converts); None: not yet (a trunk learns it from SDP and
    says it with :class:`MediaCodec`)."""

    call_key: int
    key: int
    port: int
    codec: Codec | None = None


@dataclass(frozen=True)
class MediaLearn:
    """Where leg ``key`` sends (and whom it accepts): the far side's RTP address. ``nat``: it is
    behind NAT, so the engine latches the port of its first packet."""

    key: int
    ip: str
    port: int
    nat: bool = False


@dataclass(frozen=True)
class MediaBridge:
    """Forward between legs ``a`` and ``b`` both ways; both are (re)keyed to ``call_key``
    first (after a transfer the two legs come from different calls)."""

    a: int
    b: int
    call_key: int


@dataclass(frozen=True)
class MediaPlay:
    """Play ``source`` to leg ``key`` ("music": the music-on-hold source, looping); forwarding
    from its partner pauses meanwhile."""

    key: int
    source: str = "music"
    codec: Codec = "ulaw"
    ptime_ms: int = PTIME_MS


@dataclass(frozen=True)
class MediaStop:
    """Stop what is played to leg ``key``; forwarding with its partner resumes."""

    key: int


@dataclass(frozen=True)
class MediaEcho:
    """What arrives on leg ``key`` goes straight back to its sender (``on``), or no longer."""

    key: int
    on: bool


@dataclass(frozen=True)
class MediaClose:
    """Close leg ``key`` and free its ports."""

    key: int


@dataclass(frozen=True)
class Sound:
    """One item of what :class:`MediaPrompt` plays: ``prompt`` (WAV files, in order), ``tone``
    (frequencies in Hz for ``seconds``), ``silence`` (``seconds``) or ``music`` (the
    music-on-hold source, ``seconds`` of it or, 0, until stopped)."""

    kind: Literal["prompt", "tone", "silence", "music"]
    files: tuple[Path, ...] = ()
    freqs: tuple[float, ...] = ()
    seconds: float = 0.0


def prompt(*files: Path | str) -> Sound:
    return Sound("prompt", files=tuple(Path(f) for f in files))


def tone(freqs: float | tuple[float, ...], seconds: float) -> Sound:
    return Sound(
        "tone", freqs=freqs if isinstance(freqs, tuple) else (float(freqs),), seconds=seconds
    )


def silence(seconds: float) -> Sound:
    return Sound("silence", seconds=seconds)


@dataclass(frozen=True)
class MediaPrompt:
    """Play ``sounds`` to leg ``key`` back to back (replacing what plays), then report
    :class:`MediaPlayDone` with ``play_id``; ``loop`` repeats until stopped. The leg does not
    hear its partner or conference meanwhile."""

    key: int
    sounds: tuple[Sound, ...]
    play_id: int
    loop: bool = False


@dataclass(frozen=True)
class MediaStopPlay:
    key: int


@dataclass(frozen=True)
class MediaRecord:
    """Record what leg ``key``'s far side sends to ``path`` (8 kHz WAV, written atomically)
    until :class:`MediaStopRecord`, ``max_seconds`` or ``silence_seconds`` of silence; then
    :class:`MediaRecordDone`."""

    key: int
    path: Path
    record_id: int
    max_seconds: float
    silence_seconds: float | None = None


@dataclass(frozen=True)
class MediaStopRecord:
    key: int


@dataclass(frozen=True)
class MediaMix:
    """Put leg ``key`` into conference ``conf_key`` (each party hears the others)."""

    key: int
    conf_key: int


@dataclass(frozen=True)
class MediaUnmix:
    key: int


@dataclass(frozen=True)
class MediaCodec:
    """What leg ``key``'s far side speaks: its G.711 law and RFC 4733 payload type (None: no
    telephone-events)."""

    key: int
    codec: Codec
    dtmf_pt: int | None = None


@dataclass(frozen=True)
class MediaListenDtmf:
    """Report RFC 4733 digits arriving on leg ``key`` as :class:`MediaDtmf` (or stop)."""

    key: int
    on: bool = True


@dataclass(frozen=True)
class MediaSendDtmf:
    """Send one digit to leg ``key``'s far side as RFC 4733 telephone-events."""

    key: int
    digit: str


@dataclass(frozen=True)
class WriteCdr:
    """Store one call detail record (``calls.cdr``)."""

    record: dict[str, Any]


MediaAction = (
    MediaOpen
    | MediaLearn
    | MediaBridge
    | MediaPlay
    | MediaStop
    | MediaEcho
    | MediaClose
    | MediaPrompt
    | MediaStopPlay
    | MediaRecord
    | MediaStopRecord
    | MediaMix
    | MediaUnmix
    | MediaCodec
    | MediaListenDtmf
    | MediaSendDtmf
)
EdgeAction = MediaAction | WriteCdr


# --- inputs: what the engine reports back ------------------------------------------------------


@dataclass(frozen=True)
class MediaFailed:
    """Input: the edge could not open leg ``key`` on ``port`` (bound by another process, out of
    range): the core takes another port or fails the call audibly."""

    key: int
    port: int
    reason: str


@dataclass(frozen=True)
class MediaPlayDone:
    """Input: what :class:`MediaPrompt` ``play_id`` played on leg ``key`` ended (``completed``
    False: stopped, replaced, or the leg closed)."""

    key: int
    play_id: int
    completed: bool


@dataclass(frozen=True)
class MediaRecordDone:
    """Input: recording ``record_id`` of leg ``key`` ended: ``why`` is "stopped", "limit",
    "silence", "closed" or "error" (no file)."""

    key: int
    record_id: int
    path: Path
    seconds: float
    why: str


@dataclass(frozen=True)
class MediaDtmf:
    """Input: a digit arrived on leg ``key`` as RFC 4733 telephone-events."""

    key: int
    digit: str


MediaEvent = MediaPlayDone | MediaRecordDone | MediaDtmf


def media_address(server: Server) -> str:
    """The address our media legs are reached at (named in StartMediaTransmission and SDP)."""
    if server.listen and server.listen not in ("0.0.0.0", "::"):
        return server.listen
    return server.addresses[0] if server.addresses else "127.0.0.1"


class Ports:
    """RTP port pairs of the site's range: even RTP port, RTCP above it; handed out round
    robin (a port just freed is reused last, so late packets of an old call find nobody)."""

    def __init__(self, low: int, high: int) -> None:
        first = low + (low & 1)
        self._all = list(range(first, high, 2))
        self._next = 0
        self.used: set[int] = set()
        self.unusable: set[int] = set()  # the edge could not bind them (another process?)

    def take(self) -> int | None:
        for _ in range(len(self._all)):
            port = self._all[self._next]
            self._next = (self._next + 1) % len(self._all)
            if port not in self.used and port not in self.unusable:
                self.used.add(port)
                return port
        return None

    def free(self, port: int) -> None:
        self.used.discard(port)

    def quarantine(self, port: int) -> None:
        """Never hand ``port`` out again (until a reload builds a new allocator)."""
        self.used.discard(port)
        self.unusable.add(port)

    def renew(self, low: int, high: int) -> Ports:
        """The allocator for a new range (reload): ports of calls in progress stay taken."""
        fresh = Ports(low, high)
        fresh.used = self.used
        return fresh
