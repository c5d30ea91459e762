"""What the control API needs of the running ``serve``, as an interface.

:class:`ControlServer` and :class:`Commands` take any object shaped like :class:`Served`;
``runtime.service.Service`` is the one that runs (the type checker verifies it where ``serve``
creates its ControlServer). So ``control`` does not import the service that imports it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from skinnyctl.calls import Action
from skinnyctl.calls.cdr import CdrStore
from skinnyctl.calls.manager import CallManager
from skinnyctl.runtime.bus import EventBus
from skinnyctl.site.discovered import DiscoveredDevices
from skinnyctl.site.model import Site

T = TypeVar("T")


class Listening(Protocol):
    """Where the SCCP server listens (``status``)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def max_connections(self) -> int: ...

    @property
    def stats(self) -> Counter[str]: ...

    def refusals(self) -> dict[str, int]:
        """Connections the edge closed by its rules, by reason."""
        ...


class RelayStats(Protocol):
    def stats(self) -> list[dict[str, Any]]:
        """One entry per relay leg (``status calls``)."""
        ...


class TrunkStatus(Protocol):
    def status(self) -> list[dict[str, Any]]:
        """One entry per trunk, never its password (``status trunks``)."""
        ...


class Served(Protocol):
    """The running service, as seen by control requests (any thread)."""

    @property
    def site(self) -> Site: ...

    @property
    def started_at(self) -> float: ...

    @property
    def sccp(self) -> Listening: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def discovered(self) -> DiscoveredDevices: ...

    @property
    def relay(self) -> RelayStats | None: ...

    @property
    def cdr(self) -> CdrStore | None: ...

    @property
    def sip(self) -> TrunkStatus | None: ...

    def on_core(self, fn: Callable[[CallManager], T]) -> T:
        """``fn(core)`` on the core thread: a consistent view, no race with the phones."""
        ...

    def command(self, fn: Callable[[CallManager], list[Action]]) -> None:
        """Run ``fn(core)`` on the core thread and carry out the actions it returns there."""
        ...

    def apply_site(self, site: Site) -> list[str]:
        """Switch to a validated site; the registered devices whose description changed."""
        ...

    def reload(self, force: bool = False) -> dict[str, Any]:
        """Re-read site.toml (ControlError when it is invalid; the running site stays)."""
        ...
