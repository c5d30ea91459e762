"""Call park: a connected call's far party waits on a slot (``[park] slots``) hearing music,
until someone dials the slot or ``[park] timeout`` brings it back to the parker.

A slot is an application number: the parked party's call is a call to the slot, answered by
this application, which plays music on the parked party's media leg (like the music number).

Rules:

1. Park (``park``): the parker's far end is diverted (``Switch.divert``) to the first free
   slot, in the order of ``[park] slots``; the parker's call ends (BLIND_TRANSFER) and its
   phone shows the slot. No free slot: nothing changes and the caller of ``park`` says so.
2. A slot holds one call. Dialling an occupied slot retrieves it: the dialling party and the
   parked party are joined in a new call (``Switch.transfer``; the two park calls end with
   PICKED_OFF). Dialling a free slot is refused (UNALLOCATED_NUMBER: "Unknown Number").
3. ``timeout`` seconds after parking (0: never), a call still parked is diverted back to the
   parker's line (``redirect_reason`` "park_reversion", ``redirected_from`` the slot): every
   phone of that line rings and shows why; the parked party hears music until it is answered.
4. The parked party hanging up frees the slot; so does any end of the parked call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from skinnyctl.calls import causes
from skinnyctl.calls.channel import Channel, Refused
from skinnyctl.calls.events import Action
from skinnyctl.calls.forward import PARK, PARK_REVERSION
from skinnyctl.calls.media import MediaPlay, MediaStop
from skinnyctl.calls.switch import Call, Switch
from skinnyctl.site.model import Application as AppConfig

from .base import AppChannel, Application

log = logging.getLogger("skinnyctl.apps.park")


@dataclass(eq=False)
class Parked:
    parker: str  # the parker's line: where the call returns (rule 3)
    parker_device: str
    since: float  # Unix time
    ch: AppChannel | None = None  # the slot's end of the parked call, once it answered
    timer: int | None = None


class Park(Application):
    kind: ClassVar[str] = "park"

    def __init__(self) -> None:
        self.slots: dict[str, Parked] = {}  # slot number -> what is parked there

    # --- from the phones ------------------------------------------------------------------------

    def park(self, switch: Switch, ch: Channel) -> tuple[str | None, list[Action]]:
        """Park ``ch``'s far end (rule 1): (the slot, actions), or (None, []) when no slot is
        free or ``ch`` has nobody to park."""
        slot = next((n for n in switch.site.park.slots if n not in self.slots), None)
        if slot is None or switch.far(ch) is None:
            return None, []
        self.slots[slot] = Parked(ch.number, ch.device, switch.clock.wall())
        actions = switch.divert(ch, slot, PARK)
        parked = self.slots.get(slot)
        if parked is None or parked.ch is None:  # the slot did not take it
            self.slots.pop(slot, None)
            return None, actions
        log.info("%s parked a call at %s", ch.device or ch.number, slot)
        return slot, actions

    def parked(self) -> list[dict[str, object]]:
        """``status``: what waits on which slot."""
        out: list[dict[str, object]] = []
        for slot, p in sorted(self.slots.items()):
            call = p.ch.call if p.ch is not None else None
            far = call.a if call is not None else None
            out.append(
                {
                    "slot": slot,
                    "parked": far.number if far is not None else "",
                    "parker": p.parker,
                    "parker_device": p.parker_device,
                    "since": p.since,
                    "call_id": call.id if call is not None else 0,
                }
            )
        return out

    # --- the application ------------------------------------------------------------------------

    def refuse(self, call: Call, config: AppConfig) -> Refused | None:
        if config.number not in self.slots:
            return Refused(causes.UNALLOCATED_NUMBER, f"nothing is parked at {config.number}")
        return None

    def start(self, ch: AppChannel) -> list[Action] | None:
        sw = ch.apps.switch
        slot = ch.number
        parked = self.slots[slot]
        if parked.ch is None:  # the call being parked (rule 1): answer, music
            parked.ch = ch
            timeout = sw.site.park.timeout
            if timeout:
                parked.timer = sw.timers.at(
                    sw.clock.now() + timeout, partial(self._revert, sw, slot, parked)
                )
            return None
        # rule 2: someone dialled the slot
        actions = sw.answer(ch)
        self._free(sw, slot, parked)
        waiting = sw.far(parked.ch)
        result = sw.transfer(
            parked.ch, ch, cause=causes.PICKED_OFF, reason=f"retrieved from park {slot}"
        )
        if not result.ok or waiting is None or waiting.call is None:
            log.warning("park %s: retrieval failed: %s", slot, result.why)
            return actions + sw.hangup(ch, causes.NORMAL_TEMPORARY_FAILURE, result.why)
        joined = waiting.call  # its display and record say it came off the slot
        joined.original_called = joined.redirected_from = slot
        joined.redirect_reason = PARK
        log.info("park %s retrieved by %s", slot, joined.b.number if joined.b else "?")
        return actions + result.actions

    def attach(self, ch: AppChannel, key: int) -> list[Action]:
        parked = self.slots.get(ch.number)
        if parked is None or parked.ch is not ch:
            return []
        far = ch.call.far(ch) if ch.call is not None else None
        alaw = far is not None and far.codec == "alaw"
        return [MediaPlay(key, "music", "alaw" if alaw else "ulaw")]

    def detach(self, ch: AppChannel, key: int) -> list[Action]:
        return [MediaStop(key)]

    def gone(self, ch: AppChannel) -> list[Action]:
        parked = self.slots.get(ch.number)
        if parked is not None and parked.ch is ch:  # rule 4
            self._free(ch.apps.switch, ch.number, parked)
        return []

    # --- machinery ------------------------------------------------------------------------------

    def _revert(self, sw: Switch, slot: str, parked: Parked) -> list[Action]:
        """Rule 3."""
        if self.slots.get(slot) is not parked or parked.ch is None:
            return []
        self._free(sw, slot, parked)
        log.info("park %s: nobody retrieved it; back to %s", slot, parked.parker)
        return sw.divert(
            parked.ch, parked.parker, PARK_REVERSION, cause=causes.RECOVERY_ON_TIMER_EXPIRE
        )

    def _free(self, sw: Switch, slot: str, parked: Parked) -> None:
        if self.slots.get(slot) is parked:
            del self.slots[slot]
        sw.timers.cancel(parked.timer)
