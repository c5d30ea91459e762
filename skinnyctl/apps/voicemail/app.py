"""Voicemail as an application: the menu session (``session.py``) wired to the call core.

Which numbers reach it (``calls.routing``, ``Site.voicemail_application``): ``[server]
voicemail`` (the Messages key), ``[[applications]]`` of kind ``voicemail``, and
``deposit_prefix`` + a box. What a call does there is decided when the app first attaches to
its caller's media:

- the call was sent on by a line (``Call.redirected_from``: forwarded on no answer, busy...):
  leave a message in that line's box (``redirect_reason`` "busy": the busy greeting);
- it dialled ``deposit_prefix`` + a box: leave a message in that box;
- otherwise listen: from a phone carrying a line with a box, that box (PIN unless
  ``pin_from_own_phone = false``); from anywhere else the mailbox number, then the PIN.

Like every application it works on its far end's media leg (``apps/base.py``). The session's
actions become::

    Play(prompts, id)         MediaPrompt(key, prompt(*files), engine id)
    Record(path, limits)      MediaRecord(key, path in the store's tmp/, engine id, limits)
    StopMedia                 MediaStopPlay(key)
    Hangup(cause)             Apps.hangup(channel, NORMAL_CLEARING, "voicemail: cause")
    Mwi(line, on)             the registrar's MWI (every device carrying the line)
    CallBack(number)          Switch.redirect(channel, number, "callback")

and its inputs come from the core: the caller's digits (``dtmf``: keypad or RFC 4733), the
engine's reports about the far leg (``Switch.listen``: MediaPlayDone -> play_done,
MediaRecordDone -> record_done), the end of the call (``gone`` -> hangup) and the timers.

Rules.

1. One session per far end: a transfer that gives the channel another far end ends the old
   session (a recording in progress is stopped and kept, rule 4) and starts a new one for the
   new caller; the same far end on another leg hears what was playing again (``replay``).
2. Engine ids are the core's references, never the session's own counters: several parties
   may listen to one leg (``Switch`` rule 10), and a report is matched to its session by id.
3. A play with no leg to go to (the far end has none) is done at once; a recording with none
   is done at once, empty. The first play of a call starts with a little silence: the phone's
   receive address arrives a moment after its leg opens, and the start of the first prompt
   would be lost.
4. ``#`` while recording with ``stop_on_pound`` stops the recording ("pound"); the recording
   ending otherwise maps the engine's reasons: "stopped"/"closed" -> "hangup", "limit",
   "silence", "error" (no file). A session whose caller went keeps listening to its leg until
   the recording it waits for is reported (``VoicemailSession`` AWAIT_RECORDING), then goes.
5. Hold by the caller changes nothing: prompts play to nobody, a recording hears silence, the
   menu's timers run; on resume the caller hears what plays then.
6. Nothing here waits for the disk or the network: the store's changes are queued to its
   writer thread, mail to the notifier's; prompt lists were read when the service started;
   the engine reads the files it plays on its own thread (``MediaPrompt`` plays of files are
   rendered in the background).
7. A session that is over while its caller is still there (a recording ended by its leg
   closing) ends the call: the caller never waits on a silent line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from skinnyctl.calls import causes
from skinnyctl.calls.channel import Channel, Kind, Refused
from skinnyctl.calls.events import Action, Event, Publish
from skinnyctl.calls.media import (
    MediaEvent,
    MediaPlayDone,
    MediaPrompt,
    MediaRecord,
    MediaRecordDone,
    MediaStopPlay,
    MediaStopRecord,
    Sound,
    prompt,
    silence,
)
from skinnyctl.calls.switch import Call
from skinnyctl.site.model import Application as AppConfig
from skinnyctl.site.model import Site

from ..base import AppChannel, Application, Apps
from .session import Action as SessionAction
from .session import Hangup, Mwi, Play, Record, StopMedia, VoicemailSession

if TYPE_CHECKING:
    from .service import VoicemailService

log = logging.getLogger("skinnyctl.apps.voicemail")

LEAD_SILENCE = 0.3  # seconds before a call's first prompt (rule 3)
# the engine's reasons for a recording's end -> the session's (rule 4)
_WHY = {"stopped": "hangup", "closed": "hangup", "limit": "limit", "silence": "silence"}

Lamp = Callable[[str, bool], list[Action]]


@dataclass(eq=False)
class _Caller:
    """One session: the app channel, the far end it serves and the engine ids it waits for."""

    ch: AppChannel
    apps: Apps  # the channel's endpoint
    session: VoicemailSession
    far_id: int
    key: int | None = None  # the far leg its media goes to
    keys: set[int] = field(default_factory=set)  # legs it listens to
    plays: dict[int, int] = field(default_factory=dict)  # engine play id -> session play id
    playing: int | None = None  # engine id of the play in progress
    records: dict[int, Record] = field(default_factory=dict)  # engine record id -> Record
    recording: int | None = None  # engine id of the recording in progress
    pound: bool = False  # the recording in progress was stopped by #
    played: bool = False  # a first play went out (rule 3)
    ended: bool = False  # the call is over for the channel
    published: bool = False  # its message's event went out
    handler: Callable[[MediaEvent], list[Action]] | None = None


class VoicemailApp(Application):
    kind: ClassVar[str] = "voicemail"

    def __init__(self) -> None:
        self.service: VoicemailService | None = None  # set by serve once the store is open
        self.lamp: Lamp | None = None  # the registrar's set_mwi (CallManager sets it)
        self.lamps_now: Callable[[], dict[str, bool]] = dict  # the registrar's MWI table
        self.site: Site | None = None
        self._by_channel: dict[int, _Caller] = {}  # app channel id -> its current session
        self._finishing: list[_Caller] = []  # caller gone, a recording still to be reported

    # --- lamps -----------------------------------------------------------------------------

    def lamps(self) -> list[Action]:
        """Every box line's lamp as its mailbox says, where the registrar shows otherwise
        (at start, after a reload, after another process changed the mailboxes)."""
        if self.service is None or self.lamp is None:
            return []
        shown = self.lamps_now()
        actions: list[Action] = []
        for m in self.service.mwi():
            if shown.get(m.line, False) != m.on:
                actions += self.lamp(m.line, m.on)
        return actions

    # --- Application ------------------------------------------------------------------------

    def reload(self, site: Site) -> None:
        self.site = site

    def refuse(self, call: Call, config: AppConfig) -> Refused | None:
        if self.service is None:
            return Refused(causes.NORMAL_TEMPORARY_FAILURE, "voicemail is not running")
        return None

    def attach(self, ch: AppChannel, key: int) -> list[Action]:
        far = _far(ch)
        if far is None:
            return []
        vc = self._by_channel.get(ch.id)
        if vc is not None and vc.far_id == far.id:
            if key == vc.key:
                return []  # resumed (rule 5)
            vc.key = key  # the same caller on another leg: say it again there (rule 1)
            self._listen(vc, key)
            vc.playing = None
            return self._run(vc, vc.session.replay())
        actions: list[Action] = []
        if vc is not None:  # another far end (a transfer): the old session ends (rule 1)
            actions += self._leave(vc)
        return actions + self._start(ch, far, key)

    def detach(self, ch: AppChannel, key: int) -> list[Action]:
        return []  # rule 5: holding or going, the session decides what follows

    def dtmf(self, ch: AppChannel, digit: str) -> list[Action]:
        vc = self._by_channel.get(ch.id)
        if vc is None:
            return []
        if vc.recording is not None and digit == "#":  # rule 4
            rec = vc.records.get(vc.recording)
            if rec is not None and rec.stop_on_pound and vc.key is not None and not vc.pound:
                vc.pound = True
                return [MediaStopRecord(vc.key)]
            return []
        return self._run(vc, vc.session.dtmf(digit))

    def gone(self, ch: AppChannel) -> list[Action]:
        vc = self._by_channel.get(ch.id)
        if vc is None:
            return []
        return self._leave(vc)

    def next_deadline(self) -> float | None:
        due = [
            d for vc in self._by_channel.values() if (d := vc.session.next_deadline()) is not None
        ]
        return min(due) if due else None

    def on_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for vc in list(self._by_channel.values()):
            due = vc.session.next_deadline()
            if due is not None and due <= now:
                actions += self._run(vc, vc.session.on_timer(now))
        return actions

    # --- sessions ---------------------------------------------------------------------------

    def _start(self, ch: AppChannel, far: Channel, key: int) -> list[Action]:
        assert self.service is not None
        site = self.site
        call = ch.call
        apps = ch.endpoint
        assert isinstance(apps, Apps)
        vc = _Caller(ch, apps, self.service.session(), far.id, key)
        vc.handler = lambda event: self._media(vc, event)
        self._by_channel[ch.id] = vc
        self._listen(vc, key)
        if call is not None and call.redirected_from:
            box = _box_of(site, call.redirected_from)
            reason = call.redirect_reason or "no_answer"
            log.info("voicemail: %s leaves a message in box %r (%s)", far.number, box, reason)
            actions = vc.session.start("deposit", box, far.number, far.name, False, reason)
        elif box := (site.voicemail_deposit_box(ch.config.number) if site else ""):
            log.info("voicemail: %s leaves a message in box %s (dialled)", far.number, box)
            actions = vc.session.start("deposit", box, far.number, far.name, False, "dialled")
        else:
            own = _box_of(site, far.number) if far.kind is Kind.PHONE else ""
            log.info("voicemail: %s listens%s", far.number, f" to box {own}" if own else "")
            actions = vc.session.start("retrieve", own, far.number, far.name, bool(own))
        return self._run(vc, actions)

    def _leave(self, vc: _Caller) -> list[Action]:
        """The session's caller is gone (hung up, or another far end took its place)."""
        if vc.ended:
            return []
        vc.ended = True
        if self._by_channel.get(vc.ch.id) is vc:
            del self._by_channel[vc.ch.id]
        actions: list[Action] = []
        if vc.key is not None and vc.playing is not None:
            actions.append(MediaStopPlay(vc.key))  # a far end that stays hears us no more
            vc.playing = None
        if vc.key is not None and vc.recording is not None:
            actions.append(MediaStopRecord(vc.key))  # ends "stopped": kept (rule 4)
        actions += self._run(vc, vc.session.hangup())
        if not vc.session.done:
            self._finishing.append(vc)
        return actions + self._done(vc)

    def _done(self, vc: _Caller) -> list[Action]:
        """Forget a session that is over: it listens no more."""
        if not (vc.ended and vc.session.done):
            return []
        if vc.handler is not None:
            for key in vc.keys:
                vc.apps.switch.unlisten(key, vc.handler)
        vc.keys.clear()
        if vc in self._finishing:
            self._finishing.remove(vc)
        return []

    def _listen(self, vc: _Caller, key: int) -> None:
        if key in vc.keys or vc.handler is None:
            return
        vc.keys.add(key)
        vc.apps.switch.listen(key, vc.handler)

    # --- the engine's reports ---------------------------------------------------------------

    def _media(self, vc: _Caller, event: MediaEvent) -> list[Action]:
        if isinstance(event, MediaPlayDone):
            sid = vc.plays.pop(event.play_id, None)
            if sid is None:
                return []  # not ours (another listener's play on this leg)
            if vc.playing == event.play_id:
                vc.playing = None
            return self._run(vc, vc.session.play_done(sid))
        if isinstance(event, MediaRecordDone):
            rec = vc.records.pop(event.record_id, None)
            if rec is None:
                return []
            why = _WHY.get(event.why, "error")
            if event.why == "stopped" and vc.pound:
                why = "pound"
            if vc.recording == event.record_id:
                vc.recording = None
                vc.pound = False
            seconds = event.seconds if event.why != "error" else 0.0
            actions = self._run(vc, vc.session.record_done(rec.record_id, rec.path, seconds, why))
            return actions + self._published(vc)
        return []

    def _published(self, vc: _Caller) -> list[Action]:
        """A message just kept is an event (``skinnyctl events``), once."""
        m = vc.session.message
        if m is None or vc.published:
            return []
        vc.published = True
        return [
            Publish(
                Event(
                    "voicemail",
                    m.received,
                    {
                        "box": m.box,
                        "message_id": m.id,
                        "caller": m.caller,
                        "caller_name": m.caller_name,
                        "seconds": round(m.seconds, 1),
                    },
                )
            )
        ]

    # --- the session's actions -> the core's ------------------------------------------------

    def _run(self, vc: _Caller, todo: list[SessionAction]) -> list[Action]:
        actions: list[Action] = []
        while todo:
            a = todo.pop(0)
            if isinstance(a, Play):
                actions += self._play(vc, a, todo)
            elif isinstance(a, Record):
                actions += self._record(vc, a, todo)
            elif isinstance(a, StopMedia):
                if vc.key is not None and vc.playing is not None:
                    actions.append(MediaStopPlay(vc.key))
                vc.playing = None
            elif isinstance(a, Mwi):
                actions += self.lamp(a.line, a.on) if self.lamp is not None else []
            elif isinstance(a, Hangup):
                if not vc.ended:
                    log.info("voicemail: call of %s ends (%s)", vc.ch.number, a.cause)
                    reason = f"voicemail: {a.cause}"
                    actions += vc.apps.hangup(vc.ch, causes.NORMAL_CLEARING, reason)
            elif not vc.ended:  # CallBack: the caller's call goes on to the number
                actions += vc.apps.switch.redirect(vc.ch, a.number, "callback")
        if vc.session.done and not vc.ended:  # rule 7: nothing more to say
            reason = f"voicemail: {vc.session.outcome or 'done'}"
            actions += vc.apps.hangup(vc.ch, causes.NORMAL_CLEARING, reason)
        return actions + self._done(vc)

    def _play(self, vc: _Caller, a: Play, todo: list[SessionAction]) -> list[Action]:
        if vc.key is None or vc.ended:
            todo[:0] = vc.session.play_done(a.play_id)  # nobody to hear it (rule 3)
            return []
        engine_id = self._ref(vc)
        vc.plays[engine_id] = a.play_id
        vc.playing = engine_id
        sounds: tuple[Sound, ...] = (prompt(*a.prompts),)
        if not vc.played:
            vc.played = True
            sounds = (silence(LEAD_SILENCE), *sounds)
        return [MediaPrompt(vc.key, sounds, engine_id)]

    def _record(self, vc: _Caller, a: Record, todo: list[SessionAction]) -> list[Action]:
        if vc.key is None or vc.ended:
            todo[:0] = vc.session.record_done(a.record_id, a.path, 0.0, "hangup")
            return []
        engine_id = self._ref(vc)
        vc.records[engine_id] = a
        vc.recording = engine_id
        vc.pound = False
        return [MediaRecord(vc.key, a.path, engine_id, a.max_seconds, a.silence_seconds or None)]

    @staticmethod
    def _ref(vc: _Caller) -> int:
        return vc.apps.switch.refs()


def _far(ch: AppChannel) -> Channel | None:
    return ch.call.far(ch) if ch.call is not None else None


def _box_of(site: Site | None, number: str) -> str:
    line = site.line(number) if site is not None else None
    return line.voicemail_box if line is not None else ""
