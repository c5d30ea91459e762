"""Messages and greetings on disk: WAV files under the state directory, indexed in SQLite.

Layout (``<site dir>/state/voicemail/``, beside the call records of ``state/cdr.sqlite``)::

    voicemail.sqlite           index (WAL, synchronous = FULL) and the mail queue
    messages/<box>/<id>.wav    one file per message
    greetings/<box>/<kind>.wav unavailable, busy, name
    tmp/                       recordings being made (the media engine writes here)
    outbox/<id>.wav            hard links to messages waiting to be mailed

Atomicity. A recording is made in ``tmp/`` (by the media engine, itself atomically), then
renamed into ``messages/`` and only then indexed; a delete unlinks the file first, then the
row. So a crash at any point leaves either a row whose file is gone (the row is dropped at the
next start) or a complete file without a row (it is indexed again, as a message from an unknown
caller received at the file's time): never a listed message with a broken file. Whatever was
left in ``tmp/`` was not finished and is removed. :meth:`VoicemailStore.check` runs at start:
``PRAGMA integrity_check`` (a damaged index is moved aside and rebuilt from the files), then
that reconciliation; it returns what it did.

Threads. The call-control thread calls the methods that change something; they update the
in-memory view at once (so the next read, on the same thread, sees the change) and queue the
disk work for one writer thread, which does it in order and commits each batch in one
transaction (one fsync), like the call records. Reads (:meth:`messages`, :meth:`counts`,
:meth:`greeting`, :meth:`check_pin`) only read that view: the core never waits for the disk.
Two locks keep it so: ``_lock`` guards the view only and is never held across disk work;
``_db_lock`` guards the SQLite connection (the writer's commits, the mail thread's queue).
Another process (``skinnyctl voicemail delete``) may change the files meanwhile (WAL lets it
write beside a running serve); :meth:`refresh` re-reads everything from disk (on the caller's
thread, not the core's) and says which boxes' message-waiting state changed. A change the
view took meanwhile is never lost: a re-read is installed only if the view did not change
while it was read and nothing waits for the writer, else it is read again.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skinnyctl.site.model import Site

from . import pins

log = logging.getLogger("skinnyctl.apps.voicemail.store")

GREETINGS = ("unavailable", "busy", "name")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    box TEXT NOT NULL,
    caller TEXT NOT NULL DEFAULT '',
    caller_name TEXT NOT NULL DEFAULT '',
    received REAL NOT NULL,
    seconds REAL NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('new', 'saved')),
    path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_box ON messages(box, received);
CREATE TABLE IF NOT EXISTS mail_queue (
    id INTEGER PRIMARY KEY,
    box TEXT NOT NULL,
    recipient TEXT NOT NULL,
    caller TEXT NOT NULL DEFAULT '',
    caller_name TEXT NOT NULL DEFAULT '',
    received REAL NOT NULL,
    seconds REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT ''
);
"""


class MailboxFull(Exception):
    """The box holds max_messages already: the caller is told so and nothing is kept."""


@dataclass(frozen=True)
class Message:
    id: int
    box: str
    caller: str  # number, "" when unknown
    caller_name: str
    received: float  # Unix time
    seconds: float
    new: bool
    path: Path  # absolute


@dataclass(frozen=True)
class MailJob:
    id: int  # the message's id (its WAV is outbox/<id>.wav, kept even if the message goes)
    box: str
    recipient: str
    caller: str
    caller_name: str
    received: float
    seconds: float
    attempts: int
    wav: Path


def voicemail_dir(site: Site) -> Path:
    """Where ``serve`` keeps the site's mailboxes (and ``skinnyctl voicemail`` finds them)."""
    return site.base_dir / "state" / "voicemail"


def wav_seconds(path: Path) -> float | None:
    """The length of a complete WAV file, or None when it is not one (truncated, no header)."""
    try:
        with wave.open(str(path), "rb") as w:
            frames, rate, width, channels = (
                w.getnframes(),
                w.getframerate(),
                w.getsampwidth(),
                w.getnchannels(),
            )
            data = w.readframes(frames)
    except (OSError, EOFError, wave.Error):
        return None
    if rate <= 0 or len(data) != frames * width * channels:
        return None
    return frames / rate


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class VoicemailStore:
    def __init__(
        self,
        root: Path,
        *,
        max_messages: int = 100,
        pin_file: Path | None = None,
        site_pins: dict[str, str] | None = None,
        emails: dict[str, str] | None = None,
        on_mail: Callable[[], None] | None = None,
        check: bool = True,
    ) -> None:
        self.root = Path(root)
        for sub in ("messages", "greetings", "tmp", "outbox"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "voicemail.sqlite"
        self.max_messages = max_messages
        self.pin_file = pin_file
        self.site_pins = dict(site_pins or {})
        self.emails = dict(emails or {})
        self.on_mail = on_mail  # the notifier's wake-up, called after a mail is queued
        self.report: dict[str, int] = {}
        self._lock = threading.RLock()  # the view (never held across disk work)
        self._db_lock = threading.RLock()  # the SQLite connection
        self._gen = 0  # changes of the view: a re-read from disk installs only if unchanged
        self._stale = False  # a write failed and the view is not read back yet
        self._next_id = 1
        self._cond = threading.Condition()  # the writer's queue
        self._ops: collections.deque[Callable[[], None]] = collections.deque()
        self._busy = False
        self._closing = False
        self._writer: threading.Thread | None = None
        self._rebuilt = 0
        self._db = self._open(check)
        if check:
            self.report = self.check()
        self._load()

    @classmethod
    def for_site(cls, site: Site, **kw: Any) -> VoicemailStore:
        store = cls(voicemail_dir(site), **kw)
        store.configure(site)
        return store

    def configure(self, site: Site) -> None:
        """The site's limits, PINs and addresses (again after a reload; messages stay)."""
        vm = site.voicemail
        pin_file = site.resolve(vm.pin_file)
        site_pins = {b: v.pin for b, v in vm.boxes.items() if v.pin}
        pins_ = self._read_pins(pin_file, site_pins)  # the disk, before taking the lock
        with self._lock:
            self.max_messages = vm.max_messages
            self.pin_file = pin_file
            self.site_pins = site_pins
            self.emails = {b: v.email for b, v in vm.boxes.items() if v.email}
            self._pins = pins_

    def _open(self, check: bool) -> sqlite3.Connection:
        """The index, checked when ``check``: a damaged one (its header, its schema or any page)
        is moved aside and a new one made, to be filled again from the files."""
        try:
            db = self._connect()
            if not check:
                return db
            ok = db.execute("PRAGMA integrity_check").fetchone()[0]
            if ok == "ok":
                return db
            db.close()
        except sqlite3.DatabaseError as e:
            ok = str(e)
        log.error("voicemail index %s is damaged (%s); rebuilding it", self.db_path, ok)
        aside = self.db_path.with_name(f"voicemail.sqlite.damaged-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.db_path) + suffix)
            if src.exists():
                os.replace(src, Path(str(aside) + suffix))
        self._rebuilt = 1
        return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.db_path), check_same_thread=False, timeout=10.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        db.commit()
        return db

    # -- start-up check --------------------------------------------------------------------
    def check(self) -> dict[str, int]:
        """Reconciliation of index and files (after the integrity check of :meth:`_open`);
        returns counts of what was done (all zero on a clean start). Runs before the writer
        starts."""
        report = dict.fromkeys(
            ("rebuilt_index", "unfinished", "rows_without_file", "recovered", "damaged"), 0
        )
        report |= {"mail_dropped": 0, "outbox_orphans": 0}
        report["rebuilt_index"] = self._rebuilt
        with self._db_lock:
            for p in (self.root / "tmp").iterdir():
                log.warning("removing an unfinished recording %s", p)
                with contextlib.suppress(OSError):
                    p.unlink() if not p.is_dir() else shutil.rmtree(p)
                report["unfinished"] += 1
            rows = self._db.execute("SELECT id, path FROM messages").fetchall()
            known = set()
            for mid, rel in rows:
                if not (self.root / rel).is_file():
                    log.warning("message %d lost its file %s; dropping it", mid, rel)
                    self._db.execute("DELETE FROM messages WHERE id = ?", (mid,))
                    report["rows_without_file"] += 1
                else:
                    known.add(rel)
            ids = {r[0] for r in rows}
            for box_dir in sorted((self.root / "messages").iterdir()):
                for f in sorted(box_dir.iterdir()) if box_dir.is_dir() else ():
                    rel = f.relative_to(self.root).as_posix()
                    if rel in known:
                        continue
                    seconds = wav_seconds(f)
                    if seconds is None or not f.stem.isdigit() or int(f.stem) in ids:
                        damaged = self.root / "damaged"
                        damaged.mkdir(exist_ok=True)
                        os.replace(f, damaged / f"{box_dir.name}-{f.name}")
                        log.error("moved unreadable voicemail file %s to %s", f, damaged)
                        report["damaged"] += 1
                        continue
                    self._db.execute(
                        "INSERT INTO messages (id, box, received, seconds, state, path) "
                        "VALUES (?, ?, ?, ?, 'new', ?)",
                        (int(f.stem), box_dir.name, f.stat().st_mtime, seconds, rel),
                    )
                    ids.add(int(f.stem))
                    log.warning("indexed message file %s again (its row was lost)", rel)
                    report["recovered"] += 1
            queued = {r[0] for r in self._db.execute("SELECT id FROM mail_queue")}
            for mid in queued:
                if not (self.root / "outbox" / f"{mid}.wav").is_file():
                    self._db.execute("DELETE FROM mail_queue WHERE id = ?", (mid,))
                    report["mail_dropped"] += 1
            for f in (self.root / "outbox").iterdir():
                if not (f.stem.isdigit() and int(f.stem) in queued):
                    f.unlink()
                    report["outbox_orphans"] += 1
            self._db.commit()
        if any(report.values()):
            log.warning("voicemail start-up check: %s", report)
        return report

    def integrity(self) -> str:
        with self._db_lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    # -- the in-memory view ------------------------------------------------------------------
    def _load(self) -> None:
        """Read the view from disk and install it (rules in the module's docstring)."""
        while True:
            self.flush()
            if self._reload_view(writer=False):
                return
            # the view changed while it was read: read again (changes are rare and quick)

    def _reload_view(self, writer: bool) -> bool:
        """One try: read the view (holding no view lock: the core goes on reading) and install
        it if the view did not change meanwhile and no change waits for the disk (``writer``:
        called by the writer between batches, itself busy)."""
        with self._lock:
            gen = self._gen
        view = self._read_view()
        with self._lock, self._cond:
            if gen == self._gen and not self._ops and (writer or not self._busy):
                self._install(*view)
                return True
        return False

    def _read_view(
        self,
    ) -> tuple[
        dict[str, list[Message]], dict[int, Message], int, set[tuple[str, str]], dict[str, str]
    ]:
        with self._db_lock:
            rows = self._db.execute(
                "SELECT id, box, caller, caller_name, received, seconds, state, path "
                "FROM messages ORDER BY received, id"
            ).fetchall()
            seq = self._db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'messages'"
            ).fetchall()
        by_box: dict[str, list[Message]] = {}
        by_id: dict[int, Message] = {}
        for mid, box, caller, name, received, seconds, state, rel in rows:
            m = Message(mid, box, caller, name, received, seconds, state == "new", self.root / rel)
            by_box.setdefault(box, []).append(m)
            by_id[mid] = m
        top = max([0, *by_id, *(r[0] for r in seq)])
        greetings = {
            (d.name, f.stem)
            for d in (self.root / "greetings").iterdir()
            if d.is_dir()
            for f in d.glob("*.wav")
            if f.stem in GREETINGS
        }
        return by_box, by_id, top, greetings, self._read_pins(self.pin_file, self.site_pins)

    def _install(
        self,
        by_box: dict[str, list[Message]],
        by_id: dict[int, Message],
        top: int,
        greetings: set[tuple[str, str]],
        pins_: dict[str, str],
    ) -> None:
        self._by_box, self._by_id = by_box, by_id
        self._next_id = max(self._next_id, top + 1)
        self._greetings = greetings
        self._pins = pins_

    @staticmethod
    def _read_pins(pin_file: Path | None, site_pins: dict[str, str]) -> dict[str, str]:
        pins_ = dict(site_pins)
        if pin_file is not None:
            try:
                pins_.update(pins.read_pin_file(pin_file))
            except pins.PinFileError as e:
                log.error("%s; using the PINs of site.toml", e)
        return pins_

    def refresh(self) -> dict[str, bool]:
        """Re-read index, greetings and PINs from disk (after another process changed them);
        returns {box: has new messages} for each box whose message-waiting state changed.
        Never on the core thread: it reads the disk."""
        before = self.waiting()
        self._load()
        after = self.waiting()
        boxes = set(before) | set(after)
        return {
            b: after.get(b, False) for b in boxes if before.get(b, False) != after.get(b, False)
        }

    def messages(self, box: str | None = None) -> tuple[Message, ...]:
        """A box's messages (every box's with None), oldest first."""
        with self._lock:
            if box is not None:
                return tuple(self._by_box.get(box, ()))
            return tuple(sorted(self._by_id.values(), key=lambda m: (m.received, m.id)))

    def message(self, mid: int) -> Message | None:
        with self._lock:
            return self._by_id.get(mid)

    def counts(self, box: str) -> tuple[int, int]:
        """(new, saved) messages of ``box``."""
        ms = self.messages(box)
        new = sum(m.new for m in ms)
        return new, len(ms) - new

    def waiting(self) -> dict[str, bool]:
        """{box: has new messages} for every box holding messages."""
        with self._lock:
            return {b: any(m.new for m in ms) for b, ms in self._by_box.items() if ms}

    def is_full(self, box: str) -> bool:
        return len(self.messages(box)) >= self.max_messages

    def greeting(self, box: str, kind: str) -> Path | None:
        with self._lock:
            if (box, kind) in self._greetings:
                return self.root / "greetings" / box / f"{kind}.wav"
        return None

    def has_pin(self, box: str) -> bool:
        return bool(self._pins.get(box))

    def check_pin(self, box: str, pin: str) -> bool:
        hashed = self._pins.get(box)
        return bool(hashed) and pins.verify(pin, hashed or "")

    # -- changes: view now, disk on the writer thread ----------------------------------------
    def new_recording_path(self) -> Path:
        """A fresh path in tmp/ for the media engine to record to."""
        return self.root / "tmp" / f"rec-{uuid.uuid4().hex}.wav"

    def discard(self, recording: Path) -> None:
        """A recording not kept (too short, cancelled): removed by the writer."""
        self._submit(lambda: recording.unlink(missing_ok=True))

    def add_message(
        self,
        box: str,
        recording: Path,
        caller: str = "",
        caller_name: str = "",
        received: float | None = None,
        seconds: float = 0.0,
    ) -> Message:
        """Keep ``recording`` (a finished WAV in tmp/) as a new message of ``box``. Raises
        :class:`MailboxFull` (and removes the recording) when the box is full."""
        with self._lock:
            if self.is_full(box):
                self.discard(recording)
                raise MailboxFull(box)
            mid = self._next_id
            self._next_id += 1
            rel = f"messages/{box}/{mid}.wav"
            m = Message(
                mid,
                box,
                caller,
                caller_name,
                time.time() if received is None else received,
                seconds,
                True,
                self.root / rel,
            )
            self._by_box.setdefault(box, []).append(m)
            self._by_id[mid] = m
            self._gen += 1
            recipient = self.emails.get(box, "")
        self._submit(lambda: self._write_message(m, recording, rel, recipient))
        return m

    def _write_message(self, m: Message, recording: Path, rel: str, recipient: str) -> None:
        seconds = wav_seconds(recording)
        if seconds is None:
            recording.unlink(missing_ok=True)
            raise ValueError(f"recording {recording} is not a complete WAV file; dropped")
        final = self.root / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(recording, final)
        _fsync_dir(final.parent)
        if recipient:
            with contextlib.suppress(FileExistsError):
                os.link(final, self.root / "outbox" / f"{m.id}.wav")
        with self._db_lock:
            self._db.execute(
                "INSERT INTO messages (id, box, caller, caller_name, received, seconds, state, "
                "path) VALUES (?, ?, ?, ?, ?, ?, 'new', ?)",
                (m.id, m.box, m.caller, m.caller_name, m.received, m.seconds, rel),
            )
            if recipient:
                self._db.execute(
                    "INSERT INTO mail_queue (id, box, recipient, caller, caller_name, received, "
                    "seconds, next_try) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                    (m.id, m.box, recipient, m.caller, m.caller_name, m.received, m.seconds),
                )

    def mark_saved(self, mid: int) -> None:
        """A message heard (or kept with "save") is no longer new."""
        with self._lock:
            m = self._by_id.get(mid)
            if m is None or not m.new:
                return
            self._replace(dataclasses.replace(m, new=False))
            self._gen += 1
        self._submit(lambda: self._execute("UPDATE messages SET state = 'saved' WHERE id = ?", mid))

    def delete(self, mid: int) -> Message | None:
        """Remove a message (file first, then its row); None when there is no such message."""
        with self._lock:
            m = self._by_id.pop(mid, None)
            if m is None:
                return None
            self._by_box[m.box] = [x for x in self._by_box[m.box] if x.id != mid]
            if not self._by_box[m.box]:
                del self._by_box[m.box]
            self._gen += 1

        def write() -> None:
            m.path.unlink(missing_ok=True)
            self._execute("DELETE FROM messages WHERE id = ?", mid)

        self._submit(write)
        return m

    def set_greeting(self, box: str, kind: str, recording: Path) -> Path:
        """Make ``recording`` (a finished WAV) the box's greeting of ``kind``."""
        if kind not in GREETINGS:
            raise ValueError(f"unknown greeting {kind!r}: one of {', '.join(GREETINGS)}")
        final = self.root / "greetings" / box / f"{kind}.wav"
        with self._lock:
            self._greetings.add((box, kind))
            self._gen += 1

        def write() -> None:
            if wav_seconds(recording) is None:
                recording.unlink(missing_ok=True)
                raise ValueError(f"greeting {recording} is not a complete WAV file; dropped")
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(recording, final)
            _fsync_dir(final.parent)

        self._submit(write)
        return final

    def delete_greeting(self, box: str, kind: str) -> None:
        with self._lock:
            self._greetings.discard((box, kind))
            self._gen += 1
        path = self.root / "greetings" / box / f"{kind}.wav"
        self._submit(lambda: path.unlink(missing_ok=True))

    def set_pin(self, box: str, pin: str) -> None:
        """Hash ``pin`` and write it to the pin file (the PIN itself is never stored)."""
        if (why := pins.pin_problem(pin)) is not None:
            raise ValueError(why)
        hashed = pins.hash_pin(pin)
        with self._lock:
            self._pins[box] = hashed
            self._gen += 1
        path = self.pin_file
        if path is None:
            return

        def write() -> None:
            current = pins.read_pin_file(path)
            current[box] = hashed
            pins.write_pin_file(path, current)

        self._submit(write)

    def _replace(self, m: Message) -> None:
        self._by_id[m.id] = m
        self._by_box[m.box] = [m if x.id == m.id else x for x in self._by_box[m.box]]

    def _execute(self, sql: str, *args: object) -> None:
        with self._db_lock:
            self._db.execute(sql, args)

    # -- the writer thread -------------------------------------------------------------------
    def _submit(self, op: Callable[[], None]) -> None:
        with self._cond:
            if self._closing:
                raise RuntimeError("voicemail store is closed")
            self._ops.append(op)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name="voicemail-store", daemon=True
                )
                self._writer.start()
            self._cond.notify_all()

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._ops or self._closing)
                if not self._ops:
                    return
                batch = list(self._ops)
                self._ops.clear()
                self._busy = True
            failed = False
            for op in batch:
                try:
                    op()
                except Exception:
                    failed = True
                    log.exception("voicemail store: a write failed")
            try:
                with self._db_lock:
                    self._db.commit()  # one fsync for the batch
            except sqlite3.Error:
                failed = True
                log.exception("voicemail store: commit failed")
            if failed or self._stale:  # the view follows what is really on disk
                try:
                    self._stale = not self._reload_view(writer=True)  # else after the next batch
                except (OSError, sqlite3.Error):
                    self._stale = True
                    log.exception("voicemail store: cannot read the index back")
            with self._cond:
                self._busy = False
                self._cond.notify_all()
            if self.on_mail is not None:
                self.on_mail()  # a queued mail may be among the batch: cheap when not

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued change is on disk; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._ops and not self._busy, timeout)

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._writer is not None:
            self._writer.join()
        with self._db_lock:
            self._db.close()

    stop = close

    # -- the mail queue (read and updated by the notifier's thread) --------------------------
    def mail_due(self, now: float, limit: int = 20) -> list[MailJob]:
        with self._db_lock:
            rows = self._db.execute(
                "SELECT id, box, recipient, caller, caller_name, received, seconds, attempts "
                "FROM mail_queue WHERE next_try <= ? ORDER BY next_try, id LIMIT ?",
                (now, limit),
            ).fetchall()
        return [
            MailJob(
                id=r[0],
                box=r[1],
                recipient=r[2],
                caller=r[3],
                caller_name=r[4],
                received=r[5],
                seconds=r[6],
                attempts=r[7],
                wav=self.root / "outbox" / f"{r[0]}.wav",
            )
            for r in rows
        ]

    def mail_next_try(self) -> float | None:
        with self._db_lock:
            row = self._db.execute("SELECT min(next_try) FROM mail_queue").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def mail_done(self, job: MailJob) -> None:
        with self._db_lock:
            self._db.execute("DELETE FROM mail_queue WHERE id = ?", (job.id,))
            self._db.commit()
        job.wav.unlink(missing_ok=True)

    def mail_failed(self, job: MailJob, error: str, next_try: float) -> None:
        with self._db_lock:
            self._db.execute(
                "UPDATE mail_queue SET attempts = attempts + 1, last_error = ?, next_try = ? "
                "WHERE id = ?",
                (error[:500], next_try, job.id),
            )
            self._db.commit()

    def mail_pending(self) -> list[dict[str, Any]]:
        with self._db_lock:
            cur = self._db.execute("SELECT * FROM mail_queue ORDER BY id")
            names = [c[0] for c in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
