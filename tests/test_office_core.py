"""Office features without sockets: the run-time settings file (a damaged one never stops the
server), forward loop rules and hunt orders, in addition to the scenarios of test_office.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from skinnyctl.calls import FakeClock
from skinnyctl.calls.forward import MAX_HOPS, Forwards
from skinnyctl.calls.manager import CallManager
from skinnyctl.calls.userstate import UserState
from skinnyctl.runtime import statefile
from skinnyctl.site import parse_site

SITE = """
[[lines]]
number = "1001"
forward_all = "1002"
[[lines]]
number = "1002"
[[lines]]
number = "1003"

[[hunt_groups]]
number = "300"
members = ["1001", "1002", "1003"]
strategy = "round_robin"

[[hunt_groups]]
number = "301"
members = ["1001", "1002", "1003"]
strategy = "longest_idle"
"""


def test_state_file_round_trip_atomic_and_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "features.json"
    state = UserState(forwards={"1001": {"all": "1002"}}, dnd={"SEP001120AABB01"})
    assert statefile.save(path, state.to_json())
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["features.json"]  # no temporary left
    again = statefile.load(path)
    assert (again.forwards, again.dnd, again.hunt_logged_out) == (
        {"1001": {"all": "1002"}},
        {"SEP001120AABB01"},
        set(),
    )


@pytest.mark.parametrize(
    "text",
    [
        "",  # truncated to nothing
        "{not json",
        "[1, 2]",
        '{"forwards": {"1001": {"all": 7, "busy": "1003", "sideways": "1"}, "1002": "x"},'
        ' "dnd": [3, "SEP1"], "hunt_logged_out": "SEP2"}',
    ],
)
def test_a_damaged_state_file_never_stops_the_server(
    tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "features.json"
    path.write_text(text)
    with caplog.at_level(logging.WARNING):
        state = statefile.load(path)
    if text.startswith('{"forwards"'):  # what is usable of it is kept
        assert (state.forwards, state.dnd, state.hunt_logged_out) == (
            {"1001": {"busy": "1003"}},
            {"SEP1"},
            set(),
        )
    else:
        assert state == UserState()
        assert caplog.records  # said so in the log
    if text in ("", "{not json"):
        assert (tmp_path / "features.json.bad").read_text() == text  # set aside, not lost


def test_an_unwritable_state_directory_is_logged_and_calls_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the directory should be")
    with caplog.at_level(logging.ERROR):
        assert not statefile.save(blocker / "features.json", {"version": 1})
    assert "cannot write" in caplog.text


def test_forward_loops_are_cut_and_run_time_settings_win() -> None:
    site = parse_site(SITE)
    state = UserState()
    fwd = Forwards(site, state)
    assert fwd.of("1001").all == "1002"
    assert not fwd.follow("1002", "1001", ["1001"], "1003")  # back where it came from
    assert not fwd.follow("1002", "1003", [], "1003")  # to the caller
    assert not fwd.follow("1002", "1003", [str(n) for n in range(MAX_HOPS)], "")
    assert fwd.follow("1002", "1003", ["1001"], "1000")
    fwd.set("1001", "all", "")  # off at run time, whatever site.toml says
    assert fwd.of("1001").all == "" and fwd.of("1001").changed == {"all"}
    fwd.set("1001", "all", None)  # back to site.toml
    assert fwd.of("1001").all == "1002" and state.forwards == {}


def test_hunt_orders_round_robin_and_longest_idle() -> None:
    core = CallManager(parse_site(SITE), FakeClock())
    hunts = core.switch.hunts
    rr = core.site.hunt_group("300")
    li = core.site.hunt_group("301")
    assert rr is not None and li is not None
    assert hunts.order(rr) == ["1001", "1002", "1003"]
    hunts._last["300"] = "1002"  # 1002 took the last call
    assert hunts.order(rr) == ["1003", "1001", "1002"]
    hunts.idle_since.update({"1001": 30.0, "1002": 10.0})  # 1003 never had a call
    assert hunts.order(li) == ["1003", "1002", "1001"]


def test_state_json_is_what_the_file_holds() -> None:
    state = UserState({"1002": {"no_answer": "1003", "all": ""}}, {"B", "A"}, {"C"})
    assert json.loads(json.dumps(state.to_json())) == {
        "version": 1,
        "forwards": {"1002": {"all": "", "no_answer": "1003"}},
        "dnd": ["A", "B"],
        "hunt_logged_out": ["C"],
    }
