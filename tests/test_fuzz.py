"""The fuzz harness (tests/fuzz.py) in CI: a bounded campaign against ``serve`` during a live
call. Longer campaigns: ``python -m tests.fuzz --frames 3000000 --seconds 900``."""

from __future__ import annotations

from pathlib import Path

from tests.fuzz import campaign


def test_fuzzed_frames_during_a_call(tmp_path: Path) -> None:
    # ~300,000 frames sent so that the server decodes >= 100,000 (frames queued behind one
    # that breaks the stream die with their connection)
    result = campaign(tmp_path, frames=300_000, seconds=120, seed=21)
    print(result)
    for note in result.notes:
        print("  " + note)
    assert result.alive, "the server died"
    assert result.thread_died == 0
    assert result.messages >= 100_000, result
    assert result.rtp_packets > 0 and result.rtp_lost == 0, result
    assert result.keepalives > 0 and result.keepalives_missed == 0, result
    assert not result.unexplained, "\n".join(result.unexplained)
