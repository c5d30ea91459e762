"""The server's core thread under a backlog: every input queued is handled, however many are
waiting (a full batch used to drop one input, so phones in a registration storm hung)."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

from skinnyctl.calls import FakeClock
from skinnyctl.calls.manager import CallManager
from skinnyctl.runtime import SccpServer
from skinnyctl.runtime.server import CORE_BATCH
from skinnyctl.site import load_site
from tests.test_register import write_site


def test_core_handles_every_queued_input_past_a_batch(tmp_path: Path) -> None:
    site = load_site(write_site(tmp_path))
    srv = SccpServer(site, "127.0.0.1", 0, clock=FakeClock())
    # Queued before the core thread runs: it meets them all at once, several batches' worth.
    count = 3 * CORE_BATCH + 7
    futures: list[Future[int]] = []
    for i in range(count):
        fut: Future[int] = Future()
        srv._inbox.put((lambda core, i=i: _echo(core, i), fut))
        futures.append(fut)
    srv.start()
    try:
        results = [f.result(30) for f in futures]  # a dropped input never resolves
    finally:
        srv.stop()
    assert results == list(range(count))


def _echo(core: CallManager, i: int) -> int:
    assert isinstance(core, CallManager)
    return i
