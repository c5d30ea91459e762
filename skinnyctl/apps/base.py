"""Applications as channels: numbers answered by our own code.

An application is a channel whose far end is code here, not a device. It has no media leg of
its own: it works on its far end's leg in the media engine (echo it back, play music to it,
later prompts and recordings), so a phone talking to an application costs one leg, and a
transfer simply hands the application another far end (UPDATE: it re-attaches).

:class:`Apps` is the endpoint (``calls.channel.Endpoint``) for every ``[[applications]]``
number (and the park slots); each kind is a small :class:`Application` with these moments:
``refuse`` (may it take this call?), ``start`` (answer; by default at once, then attach),
``attach`` (a far end's media is there: start), ``detach`` (stop working on that leg; the far
end holding and resuming detach and attach again), ``dtmf`` (a digit from the far end),
``gone`` (the call is over for the channel). An application with timers gives
``next_deadline``/``on_timer`` (merged by the call manager like every part's). An application
ends its call with ``Apps.hangup`` (the switch is told, then ``detach`` and ``gone`` as for a
far-end hang-up).

Rules:
1. An application answers at once (no ringing), so the caller is connected immediately,
   unless its ``start`` does something else (park: a retrieval joins the caller to the parked
   call).
2. It works on exactly one far media leg at a time: the one of the far end it is connected to.
3. When the far end changes (transfer), it detaches from the old leg and attaches to the new.
4. Hold by the far end pauses it (detach); resume attaches again.
5. Hang-up from either side detaches it, then ``gone``; the switch writes the call record like
   any call's.
6. Digits the far end presses (keypad, RFC 4733 from a trunk) come as ``dtmf``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from skinnyctl.calls.channel import Channel, Ind, Kind, Refused
from skinnyctl.calls.events import Action
from skinnyctl.calls.routing import Route
from skinnyctl.calls.switch import Call, Switch
from skinnyctl.site.model import Application as AppConfig
from skinnyctl.site.model import Site

log = logging.getLogger("skinnyctl.apps")


class Application:
    """One kind of application; subclasses say what to do with their far end's media."""

    kind: ClassVar[str] = ""

    def attach(self, ch: AppChannel, key: int) -> list[Action]:
        return []

    def detach(self, ch: AppChannel, key: int) -> list[Action]:
        return []

    def refuse(self, call: Call, config: AppConfig) -> Refused | None:
        """Why this application cannot take ``call`` now (None: it answers)."""
        return None

    def start(self, ch: AppChannel) -> list[Action] | None:
        """What answering ``ch`` takes; None: answer at once and attach (rule 1)."""
        return None

    def dtmf(self, ch: AppChannel, digit: str) -> list[Action]:
        return []

    def gone(self, ch: AppChannel) -> list[Action]:
        """The call is over for ``ch`` (either side hung up); it is detached already."""
        return []

    def next_deadline(self) -> float | None:
        return None

    def on_timer(self, now: float) -> list[Action]:
        return []

    def reload(self, site: Site) -> None:
        pass


class AppChannel(Channel):
    kind = Kind.APP

    def __init__(
        self, channel_id: int, apps: Apps, config: AppConfig, application: Application
    ) -> None:
        super().__init__(channel_id, apps, config.number, config.name or config.kind)
        self.apps = apps
        self.config = config
        self.application = application
        self.attached: int | None = None  # the far media leg it works on

    @property
    def device(self) -> str:
        return f"app:{self.config.kind}"


class Apps:
    """The endpoint of every application number."""

    def __init__(self, site: Site, switch: Switch, kinds: dict[str, Application]) -> None:
        self.site = site
        self.switch = switch
        self.kinds = kinds
        switch.endpoints[Kind.APP] = self
        for app in kinds.values():
            app.reload(site)

    def reload(self, site: Site) -> None:
        self.site = site
        for app in self.kinds.values():
            app.reload(site)

    def next_deadline(self) -> float | None:
        due = [d for app in self.kinds.values() if (d := app.next_deadline()) is not None]
        return min(due) if due else None

    def on_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for app in self.kinds.values():
            actions += app.on_timer(now)
        return actions

    def offer(self, call: Call, route: Route) -> AppChannel | Refused:
        config = route.application
        app = self.kinds.get(config.kind) if config is not None else None
        if config is None or app is None:
            return Refused("UNALLOCATED_NUMBER", f"no application {route.number}")
        refused = app.refuse(call, config)
        if refused is not None:
            return refused
        return AppChannel(self.switch.refs(), self, config, app)

    def hangup(self, ch: AppChannel, cause: str, reason: str) -> list[Action]:
        """The application ends its call (rule 5)."""
        actions = self.switch.hangup(ch, cause, reason)
        return actions + self._detach(ch) + ch.application.gone(ch)

    def start(self, ch: Channel) -> list[Action]:
        assert isinstance(ch, AppChannel)
        log.info("%s answers call %d", ch.device, ch.call.id if ch.call else 0)
        started = ch.application.start(ch)
        if started is not None:
            return started
        return self.switch.answer(ch) + self._attach(ch)  # rule 1

    def indicate(self, ch: Channel, ind: Ind, arg: Any = None) -> list[Action]:
        assert isinstance(ch, AppChannel)
        if ind is Ind.UPDATE:  # rule 3: another far end, or its audio on another leg
            far = self.switch.far(ch)
            if far is not None and far.media_key == ch.attached:
                return []
            return self._detach(ch) + self._attach(ch)
        if ind is Ind.HOLD:  # rule 4 (the far end holds: nobody listens)
            return self._detach(ch)
        if ind is Ind.RESUME:
            return self._attach(ch)
        if ind is Ind.HANGUP:  # rule 5
            return self._detach(ch) + ch.application.gone(ch)
        if ind is Ind.DTMF:  # rule 6
            return ch.application.dtmf(ch, str(arg))
        return []

    def _attach(self, ch: AppChannel) -> list[Action]:
        far = self.switch.far(ch)
        key = far.media_key if far is not None else None
        if key is None or key == ch.attached or ch.held:
            return []
        ch.attached = key
        return ch.application.attach(ch, key)

    def _detach(self, ch: AppChannel) -> list[Action]:
        key = ch.attached
        if key is None:
            return []
        ch.attached = None
        return ch.application.detach(ch, key)
