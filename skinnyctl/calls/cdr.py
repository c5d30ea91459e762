"""Call detail records, durable: one SQLite database in WAL mode, ``synchronous = FULL``.

Why SQLite/WAL: each ``append`` is one committed transaction, on disk (fsync of the WAL) before
it returns, so records survive a crash of the process or the machine; readers (``skinnyctl
calls --history``) never block the writer. Default place: ``<site dir>/state/cdr.sqlite``.

``submit`` is for the server: the record goes to a writer thread that commits whatever is
queued in one transaction (same durability, on disk a few ms later), because an fsync on the
call-control thread stalled every call being set up meanwhile (1-2 ms per record, more on a
slow disk). ``query``, ``flush`` and ``close`` first wait for what was submitted.

A record (dict) holds: call_id, caller, caller_name, caller_device, called, called_name,
callee_device, start, answer, end (Unix time; answer None when never answered), reason,
direction ("internal", "inbound" or "outbound": through a trunk), trunk, did (ours on the
trunk: the number called for inbound, the caller ID presented for outbound), external_number
(the outside party), duration (end - start) and talk (end - answer, 0 when unanswered).
A database written before a column existed gets it on open (ALTER TABLE ADD COLUMN; old
records read as internal calls with empty trunk fields). ``query`` returns them in
start order, times as Unix floats plus ``*_iso`` UTC strings.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import sqlite3
import threading
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
    "direction",
    "trunk",
    "did",
    "external_number",
)
# Columns added after the first schema: (name, type and default). Added to old databases on open.
_ADDED = (
    ("direction", "TEXT NOT NULL DEFAULT 'internal'"),
    ("trunk", "TEXT NOT NULL DEFAULT ''"),
    ("did", "TEXT NOT NULL DEFAULT ''"),
    ("external_number", "TEXT NOT NULL DEFAULT ''"),
)
_TEXT = (
    "caller",
    "caller_name",
    "caller_device",
    "called",
    "called_name",
    "callee_device",
    "reason",
    "trunk",
    "did",
    "external_number",
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


_COLUMNS = ", ".join('"' + f + '"' for f in FIELDS)  # "end" is an SQL keyword
_INSERT = f"INSERT INTO cdr ({_COLUMNS}) VALUES ({', '.join(':' + f for f in FIELDS)})"


def _row(record: dict[str, Any]) -> dict[str, Any]:
    row = {k: record.get(k) for k in FIELDS}
    for k in _TEXT:
        row[k] = str(row[k] or "")
    row["direction"] = str(row["direction"] or "internal")
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

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
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
        self._migrate()
        self._db.commit()

    def _migrate(self) -> None:
        """Columns of later versions, added to a database an older version created."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(cdr)")}
        for name, decl in _ADDED:
            if name not in have:
                self._db.execute(f'ALTER TABLE cdr ADD COLUMN "{name}" {decl}')
                log.info("call records %s: column %s added", self.path, name)

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

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted record is written (or failed, logged); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closing)
                if not self._queue:
                    return
                batch = list(self._queue)
                self._queue.clear()
                self._busy = True
            try:
                rows = [_row(r) for r in batch]
                with self._lock:
                    self._db.executemany(_INSERT, rows)
                    self._db.commit()  # one fsync for the whole batch
            except Exception:
                log.exception("cannot write %d call record(s): %r", len(batch), batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

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
