"""Call detail records, durable: one SQLite database in WAL mode, ``synchronous = FULL``.

Why SQLite/WAL: each ``append`` is one committed transaction, on disk (fsync of the WAL) before
it returns, so records survive a crash of the process or the machine; readers (``skinnyctl
calls --history``) never block the writer. Default place: ``<site dir>/state/cdr.sqlite``.

``submit`` is for the server: the record goes to a writer thread that commits whatever is
queued in one transaction (same durability, on disk a few ms later), because an fsync on the
call-control thread stalled every call being set up meanwhile (1-2 ms per record, more on a
slow disk). ``query``, ``flush`` and ``close`` first wait for what was submitted.

A full disk (or any storage error) does not stop calls and loses no record while the process
runs: the transaction is rolled back (SQLite keeps the file consistent), the records wait in
memory (at most MAX_WAITING, the oldest dropped beyond that) and are written again every RETRY
seconds or with the next record. The store says so once when writing starts failing and once
when it works again (``on_state``, one log line each), not once per call; ``failing`` and
``waiting`` show the condition meanwhile.

A record (dict) holds: call_id, caller, caller_name, caller_device, called, called_name,
callee_device, start, answer, end (Unix time; answer None when never answered), reason (what
ended it, in words: "onhook", "transferred", "device gone: ..."), cause (the Q.850 name of
what decided the call, ``calls.causes``), direction ("internal", "inbound" or "outbound":
through a trunk), trunk, did (ours on the trunk: the number called for inbound, the caller ID
presented for outbound), external_number (the outside party), duration (end - start) and talk
(end - answer, 0 when unanswered). ``query`` returns them in
start order, times as Unix floats plus ``*_iso`` UTC strings.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skinnyctl.site.model import Site

log = logging.getLogger("skinnyctl.callmanager.cdr")

FIELDS = (
    "call_id",
    "caller",
    "caller_name",
    "caller_device",
    "called",
    "called_name",
    "callee_device",
    "start",
    "answer",
    "end",
    "reason",
    "cause",
    "direction",
    "trunk",
    "did",
    "external_number",
)
# Columns added after the first schema: (name, declaration). A database written by an older
# version gets them (ALTER TABLE) when it is opened; its old rows read as the default.
_ADDED_COLUMNS = (
    ("cause", "TEXT NOT NULL DEFAULT ''"),
    ("direction", "TEXT NOT NULL DEFAULT 'internal'"),
    ("trunk", "TEXT NOT NULL DEFAULT ''"),
    ("did", "TEXT NOT NULL DEFAULT ''"),
    ("external_number", "TEXT NOT NULL DEFAULT ''"),
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cdr (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id INTEGER NOT NULL,
    caller TEXT NOT NULL DEFAULT '',
    caller_name TEXT NOT NULL DEFAULT '',
    caller_device TEXT NOT NULL DEFAULT '',
    called TEXT NOT NULL DEFAULT '',
    called_name TEXT NOT NULL DEFAULT '',
    callee_device TEXT NOT NULL DEFAULT '',
    start REAL NOT NULL,
    answer REAL,
    "end" REAL NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS cdr_start ON cdr(start);
CREATE INDEX IF NOT EXISTS cdr_caller ON cdr(caller);
CREATE INDEX IF NOT EXISTS cdr_called ON cdr(called);
"""


RETRY = 5.0  # seconds between attempts while writing fails
MAX_WAITING = 10_000  # records kept in memory while writing fails (a day of a busy office)


def cdr_path(site: Site) -> Path:
    """Where ``serve`` writes the records of ``site`` (and ``calls --history`` reads them)."""
    return site.base_dir / "state" / "cdr.sqlite"


def _ts(value: dt.datetime | float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # naive = local time, as a user typing a date means it
            value = value.astimezone()
        return value.timestamp()
    return float(value)


_COLUMNS = ", ".join(f'"{f}"' for f in FIELDS)  # "end" is an SQL keyword
_INSERT = f"INSERT INTO cdr ({_COLUMNS}) VALUES ({', '.join(f':{f}' for f in FIELDS)})"
_NOT_TEXT = ("call_id", "start", "answer", "end")


def _row(record: dict[str, Any]) -> dict[str, Any]:
    row = {k: record.get(k) for k in FIELDS}
    for k in FIELDS:
        if k not in _NOT_TEXT:
            row[k] = str(row[k] or "")
    row["direction"] = row["direction"] or "internal"
    row["call_id"] = int(row["call_id"] or 0)
    row["start"] = _ts(row["start"]) or 0.0
    row["answer"] = _ts(row["answer"])
    row["end"] = _ts(row["end"]) or row["start"]
    return row


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


class CdrStore:
    """Thread-safe; one connection per store, serialised by a lock."""

    def __init__(
        self, path: str | Path, on_state: Callable[[str, dict[str, Any]], None] | None = None
    ) -> None:
        """``on_state(kind, fields)``: "storage_full" when writing starts failing (fields:
        ``reason``, ``waiting``), "storage_ok" when records are written again (``written``,
        ``dropped``); called on the writer thread."""
        self.path = Path(path)
        self.on_state = on_state
        self.failing = ""  # why writing fails, while it does
        self.dropped = 0  # records given up while failing (beyond MAX_WAITING)
        # Call records are nobody else's business: the state directory 0700, the database
        # 0600 (SQLite gives its -wal and -shm files the database's mode), whatever the umask.
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600))
        self._lock = threading.Lock()
        self._cond = threading.Condition()  # the submit queue and the writer thread
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._busy = False  # the writer holds a batch
        self._closing = False
        self._writer: threading.Thread | None = None
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        have = {r[1] for r in self._db.execute("PRAGMA table_info(cdr)")}
        for name, declaration in _ADDED_COLUMNS:
            if name not in have:
                self._db.execute(f'ALTER TABLE cdr ADD COLUMN "{name}" {declaration}')
        self._db.commit()

    def append(self, record: dict[str, Any]) -> None:
        """Write one record; on disk when this returns."""
        row = _row(record)
        with self._lock:
            self._db.execute(_INSERT, row)
            self._db.commit()

    def submit(self, record: dict[str, Any]) -> None:
        """Queue one record for the writer thread; returns at once (never waits for the disk).
        Records are written in submission order."""
        with self._cond:
            self._queue.append(record)
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="cdr", daemon=True)
                self._writer.start()
            self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """Records submitted and not written yet."""
        return len(self._queue)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted record is written, or writing fails (they wait then);
        False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._busy and (not self._queue or bool(self.failing)), timeout
            )

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                if self.failing and not self._closing:
                    self._cond.wait(RETRY)  # a new record, or the time to try again
                else:
                    self._cond.wait_for(lambda: self._queue or self._closing)
                if not self._queue:
                    if self._closing:
                        return
                    continue
                batch = list(self._queue)
                self._busy = True
            problem = self._write(batch)
            with self._cond:
                self._busy = False
                if not problem:
                    for _ in batch:
                        self._queue.popleft()
                self._cond.notify_all()
            self._state(problem, len(batch))
            if problem and self._closing:
                log.error(
                    "%d call record(s) could not be written to %s (%s) and are lost",
                    self.waiting,
                    self.path,
                    problem,
                )
                return

    def _write(self, batch: list[dict[str, Any]]) -> str:
        """Write ``batch`` in one transaction; why it failed, or ""."""
        rows = []
        for record in batch:
            try:
                rows.append(_row(record))
            except Exception:  # a bug in the record, not the disk: skip it, say so
                log.exception("call record not written: %r", record)
        try:
            with self._lock:
                try:
                    self._db.executemany(_INSERT, rows)
                    self._db.commit()  # one fsync for the whole batch
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.rollback()  # the file stays as it was: SQLite is atomic
                    raise
        except (sqlite3.Error, OSError) as e:
            return str(e) or type(e).__name__
        return ""

    def _state(self, problem: str, count: int) -> None:
        """One line and one state change per episode, not one per record."""
        if problem:
            with self._cond:
                while len(self._queue) > MAX_WAITING:
                    self._queue.popleft()
                    self.dropped += 1
            if not self.failing:
                self.failing = problem
                log.error(
                    "cannot write call records to %s: %s; calls go on, their records wait in "
                    "memory (tried again every %.0f s)",
                    self.path,
                    problem,
                    RETRY,
                )
                if self.on_state is not None:
                    self.on_state("storage_full", {"reason": problem, "waiting": self.waiting})
        elif self.failing:
            self.failing = ""
            log.info(
                "call records written to %s again (%d waited%s)",
                self.path,
                count,
                f", {self.dropped} dropped" if self.dropped else "",
            )
            if self.on_state is not None:
                self.on_state("storage_ok", {"written": count, "dropped": self.dropped})

    def query(
        self,
        number: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Records where ``number`` called or was called, started in [since, until]."""
        self.flush()
        where: list[str] = []
        args: list[str | float | None] = []
        if number:
            where.append("(caller = ? OR called = ? OR external_number = ? OR did = ?)")
            args += [number] * 4
        if since is not None:
            where.append("start >= ?")
            args.append(_ts(since))
        if until is not None:
            where.append("start <= ?")
            args.append(_ts(until))
        sql = f"SELECT {_COLUMNS} FROM cdr"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start, id"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        out = []
        for r in rows:
            rec = dict(zip(FIELDS, r, strict=True))
            rec["duration"] = round(rec["end"] - rec["start"], 3)
            rec["talk"] = round(rec["end"] - rec["answer"], 3) if rec["answer"] else 0.0
            for k in ("start", "answer", "end"):
                rec[k + "_iso"] = _iso(rec[k])
            out.append(rec)
        return out

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._writer is not None:
            self._writer.join()  # it writes what is queued first
        with self._lock:
            self._db.close()

    stop = close  # Service stops its parts with stop()
