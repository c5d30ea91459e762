"""The message store: atomic writes, kill -9 mid-recording, reconciliation, limits, the view.

The crash test runs the store in a real subprocess that keeps leaving messages and recording
into tmp/, and kills it with SIGKILL at random moments; the store reopened afterwards must list
every message the child had confirmed, each with a complete WAV holding its own tone, and
nothing else broken (integrity_check, every row has its file, no leftover in tmp/).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from skinnyctl.apps.voicemail.store import MailboxFull, VoicemailStore, wav_seconds
from tests.clirun import ROOT
from tests.voicemail_util import dominant_hz, tone, write_wav


def rec(store: VoicemailStore, freq: float = 440, seconds: float = 1.0) -> Path:
    return write_wav(store.new_recording_path(), tone(freq, seconds))


def test_add_is_in_the_view_at_once_and_on_disk_after_flush(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    m = store.add_message("1001", rec(store), "1002", "Bob", 1000.0, 1.0)
    assert store.counts("1001") == (1, 0) and store.message(m.id) == m
    assert store.waiting() == {"1001": True}
    store.flush()
    assert m.path.is_file() and not list((tmp_path / "tmp").iterdir())
    store.mark_saved(m.id)
    assert store.counts("1001") == (0, 1) and store.waiting() == {"1001": False}
    store.close()
    again = VoicemailStore(tmp_path)
    assert again.messages("1001")[0].new is False and again.report["recovered"] == 0
    again.delete(m.id)
    again.close()
    assert not m.path.exists()
    assert VoicemailStore(tmp_path).messages() == ()


def test_the_view_never_waits_for_the_disk(tmp_path: Path) -> None:
    """The core reads and changes the view while the writer is stuck in a commit (a slow
    fsync) and while another thread re-reads the index: neither holds the view's lock."""
    store = VoicemailStore(tmp_path)
    m = store.add_message("1001", rec(store))
    store.flush()
    inside, release = threading.Event(), threading.Event()

    def slow_disk() -> None:
        with store._db_lock:  # what the writer holds through a commit, the mail thread too
            inside.set()
            release.wait(10)

    stuck = threading.Thread(target=slow_disk)
    stuck.start()
    inside.wait()
    refresher = threading.Thread(target=store.refresh)  # waits for the disk, not the core
    refresher.start()
    t0 = time.monotonic()
    assert store.counts("1001") == (1, 0) and store.message(m.id) == m
    store.mark_saved(m.id)
    assert store.counts("1001") == (0, 1) and store.check_pin("1001", "1234") is False
    second = store.add_message("1001", rec(store, 600))
    assert [x.id for x in store.messages("1001")] == [m.id, second.id]
    assert time.monotonic() - t0 < 0.5
    release.set()
    stuck.join()
    refresher.join(10)
    store.flush()
    assert store.counts("1001") == (1, 1)  # the re-read kept what changed meanwhile
    store.close()
    again = VoicemailStore(tmp_path)
    assert [(x.id, x.new) for x in again.messages("1001")] == [(m.id, False), (second.id, True)]
    again.close()


def test_max_messages_makes_the_box_full(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path, max_messages=2)
    store.add_message("1001", rec(store))
    store.add_message("1001", rec(store))
    third = rec(store)
    with pytest.raises(MailboxFull):
        store.add_message("1001", third)
    store.add_message("1002", rec(store))  # per box
    store.flush()
    assert not third.exists() and store.counts("1001") == (2, 0)
    store.close()


def test_a_broken_recording_is_never_listed(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    bad = store.new_recording_path()
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")  # a header cut short
    store.add_message("1001", bad)
    store.flush()
    assert store.messages() == () and not bad.exists()
    store.close()


def test_start_up_check_reconciles_index_and_files(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    keep = store.add_message("1001", rec(store, 500))
    lost = store.add_message("1001", rec(store, 600))
    orphan = store.add_message("1002", rec(store, 700))
    store.close()
    lost.path.unlink()  # a row whose file went (crash between the two steps of a delete)
    db = __import__("sqlite3").connect(tmp_path / "voicemail.sqlite")
    db.execute("DELETE FROM messages WHERE id = ?", (orphan.id,))  # a file whose row was lost
    db.commit()
    db.close()
    (tmp_path / "tmp" / "rec-half.wav").write_bytes(b"RIFF")  # an unfinished recording
    (tmp_path / "messages" / "1002" / "99.wav").write_bytes(b"garbage")
    store = VoicemailStore(tmp_path)
    assert store.report == {
        "rebuilt_index": 0,
        "unfinished": 1,
        "rows_without_file": 1,
        "recovered": 1,
        "damaged": 1,
        "mail_dropped": 0,
        "outbox_orphans": 0,
    }
    assert [m.id for m in store.messages()] == [keep.id, orphan.id]
    assert abs(dominant_hz(store.message(orphan.id).path) - 700) < 5  # type: ignore[union-attr]
    assert (tmp_path / "damaged" / "1002-99.wav").exists()
    assert store.integrity() == "ok"
    nxt = store.add_message("1001", rec(store))
    assert nxt.id > orphan.id  # ids are never reused
    store.close()


def test_a_damaged_index_is_rebuilt_from_the_files(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    ids = [store.add_message("1001", rec(store, 300 + 100 * i)).id for i in range(3)]
    store.close()
    db = tmp_path / "voicemail.sqlite"
    data = bytearray(db.read_bytes())
    data[100:4096] = os.urandom(4096 - 100)  # the first page: schema and header garbage
    db.write_bytes(bytes(data))
    try:
        store = VoicemailStore(tmp_path)
    except Exception as e:  # pragma: no cover - what the test is against
        pytest.fail(f"a damaged index stopped the store: {e!r}")
    assert store.report["rebuilt_index"] == 1 and store.report["recovered"] == 3
    assert [m.id for m in store.messages()] == ids and store.integrity() == "ok"
    store.close()


CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from skinnyctl.apps.voicemail.store import VoicemailStore
from tests.voicemail_util import tone, write_wav

store = VoicemailStore(Path(sys.argv[1]), max_messages=10_000)
n = 0
while True:
    n += 1
    freq = 200 + (n % 30) * 100
    m = store.add_message("1001", write_wav(store.new_recording_path(), tone(freq, 0.3)),
                          str(freq))
    if n % 3 == 0:
        store.flush()
        print("stored", m.id, freq, flush=True)
    # a recording in progress, written slowly as the media engine would
    with open(store.new_recording_path(), "wb") as f:
        f.write(b"RIFF\xff\xff\xff\xffWAVE")
        for _ in range(5):
            f.write(tone(freq, 0.02))
            f.flush()
            time.sleep(0.001)
"""


@pytest.mark.parametrize("delay", [0.3, 0.5, 0.8, 1.1])
def test_kill_9_mid_recording_loses_no_finished_message(tmp_path: Path, delay: float) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), str(ROOT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    confirmed: dict[int, int] = {}
    deadline = time.monotonic() + 30
    while not confirmed and time.monotonic() < deadline:
        line = child.stdout.readline()
        if line.startswith("stored"):
            _, mid, freq = line.split()
            confirmed[int(mid)] = int(freq)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    for line in child.stdout:  # what was confirmed before the kill
        if line.startswith("stored"):
            _, mid, freq = line.split()
            confirmed[int(mid)] = int(freq)
    child.wait()
    assert confirmed, "the child stored nothing"
    store = VoicemailStore(tmp_path)
    try:
        assert store.integrity() == "ok"
        listed = {m.id: m for m in store.messages("1001")}
        assert set(confirmed) <= set(listed)
        for m in listed.values():  # every listed message: a complete WAV with its own tone
            assert wav_seconds(m.path) == pytest.approx(0.3)
            expected = confirmed.get(m.id, int(m.caller or 0))
            if expected:
                assert abs(dominant_hz(m.path) - expected) < 5, m
        assert list((tmp_path / "tmp").iterdir()) == []  # the recording in progress is gone
        assert store.report["unfinished"] >= 1
        files = {p.name for p in (tmp_path / "messages" / "1001").iterdir()}
        assert files == {f"{i}.wav" for i in listed}
    finally:
        store.close()


def test_refresh_sees_another_process_and_says_which_lamps_change(tmp_path: Path) -> None:
    serve = VoicemailStore(tmp_path)
    m = serve.add_message("1001", rec(serve))
    serve.add_message("1002", rec(serve))
    serve.flush()
    cli = VoicemailStore(tmp_path, check=False)
    cli.delete(m.id)
    cli.close()
    assert serve.counts("1001") == (1, 0)  # not yet known
    assert serve.refresh() == {"1001": False}
    assert serve.counts("1001") == (0, 0) and serve.counts("1002") == (1, 0)
    serve.close()
