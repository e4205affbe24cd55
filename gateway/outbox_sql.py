"""The outbox's SQLite file: its tables, upgrades of older files, what it holds at open, and the
statements that delete rows (acknowledged, expired, past a bound)."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.events import Priority, priority

_OUTBOX = """
CREATE TABLE IF NOT EXISTS outbox (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT    NOT NULL,
    topic    TEXT    NOT NULL,
    payload  BLOB    NOT NULL,
    created  REAL    NOT NULL,
    session  INTEGER,
    priority INTEGER NOT NULL DEFAULT 1,
    UNIQUE (event_id, topic)
)
"""
# Publications dropped since the file was created, per class (reported, never reset by a restart).
_DROPPED = "CREATE TABLE IF NOT EXISTS dropped (priority INTEGER PRIMARY KEY, count INTEGER NOT NULL)"
_BY_PRIORITY = "CREATE INDEX IF NOT EXISTS outbox_by_priority ON outbox (priority, seq)"
ROW_BYTES = "LENGTH(event_id) + LENGTH(topic) + LENGTH(payload)"  # what a class's max_mb counts
WAL_LIMIT = 8 * 1024 * 1024  # the write-ahead log is cut back to this after a checkpoint


@dataclass(frozen=True, slots=True)
class Stored:
    """What an outbox file holds when opened."""

    last_session: int
    rows: Counter[Priority]
    bytes: Counter[Priority]
    dropped: dict[Priority, int]


def open_database(path: Path, max_pages: int | None) -> tuple[sqlite3.Connection, Stored]:
    """Open (creating or upgrading) the outbox at `path`; sqlite3.Error or OSError if it cannot be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        if max_pages is not None:
            db.execute(f"PRAGMA max_page_count={int(max_pages)}")
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a PUBACK-deleted row may be lost on power failure (a duplicate, same id), a new row never.
        db.execute("PRAGMA synchronous=FULL")
        db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        db.execute(_OUTBOX)
        _upgrade(db)
        db.execute(_BY_PRIORITY)
        db.execute(_DROPPED)
        return db, _stored(db)
    except sqlite3.Error:
        db.close()
        raise


def _upgrade(db: sqlite3.Connection) -> None:
    columns = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
    if "session" not in columns:  # an outbox from before sessions: its rows are all late
        db.execute("ALTER TABLE outbox ADD COLUMN session INTEGER")
    if "priority" not in columns:  # from before classes: each row's class from its topic's event type
        db.execute("ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1")
        rows = db.execute("SELECT seq, topic FROM outbox").fetchall()
        db.executemany(
            "UPDATE outbox SET priority = ? WHERE seq = ?",
            [
                (int(priority(topic.rpartition("/events/")[2])), seq)
                for seq, topic in rows
                if "/events/" in topic
            ],
        )


def _stored(db: sqlite3.Connection) -> Stored:
    (last,) = db.execute("SELECT COALESCE(MAX(session), 0) FROM outbox").fetchone()
    rows: Counter[Priority] = Counter()
    size: Counter[Priority] = Counter()
    for cls, count, total in db.execute(
        f"SELECT priority, COUNT(*), COALESCE(SUM({ROW_BYTES}), 0) FROM outbox GROUP BY priority"
    ):
        rows[Priority(cls)], size[Priority(cls)] = count, total
    dropped = {Priority(cls): count for cls, count in db.execute("SELECT priority, count FROM dropped")}
    return Stored(int(last), rows, size, dropped)


def delete_oldest(db: sqlite3.Connection, cls: Priority, at_least: int) -> tuple[int, int]:
    """Delete the class's oldest rows holding at least `at_least` bytes: (rows, bytes) deleted."""
    if at_least <= 0:
        return 0, 0
    rows = freed = 0
    last = None
    query = f"SELECT seq, {ROW_BYTES} FROM outbox WHERE priority = ? ORDER BY seq"
    for seq, size in db.execute(query, (int(cls),)):
        rows, freed, last = rows + 1, freed + size, seq
        if freed >= at_least:
            break
    if last is not None:
        db.execute("DELETE FROM outbox WHERE priority = ? AND seq <= ?", (int(cls), last))
    return rows, freed


def delete_expired(
    db: sqlite3.Connection, now: float, max_age_s: Mapping[Priority, float], clock_floor: float
) -> tuple[Counter[Priority], Counter[Priority]]:
    """Delete each class's rows older than its max age: (rows, bytes) deleted per class. A row stamped
    before `clock_floor` was stored before the clock was set: its age is unknown, so it starts now."""
    db.execute("UPDATE outbox SET created = ? WHERE created < ?", (now, clock_floor))
    rows: Counter[Priority] = Counter()
    size: Counter[Priority] = Counter()
    for cls in Priority:
        deleted = db.execute(
            f"DELETE FROM outbox WHERE priority = ? AND created < ? RETURNING {ROW_BYTES}",
            (int(cls), now - max_age_s[cls]),
        ).fetchall()
        rows[cls], size[cls] = len(deleted), sum(s for (s,) in deleted)
    return +rows, +size


def delete_acked(db: sqlite3.Connection, seqs: Sequence[int]) -> dict[Priority, tuple[int, int]]:
    """Delete the rows with these seqs: (rows, bytes) deleted per class."""
    deleted: dict[int, tuple[int, int]] = {}
    for cls, size in db.execute(
        f"DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?)) RETURNING priority, {ROW_BYTES}",
        (json.dumps(list(seqs)),),
    ):
        rows, total = deleted.get(cls, (0, 0))
        deleted[cls] = (rows + 1, total + size)
    return {Priority(cls): counts for cls, counts in deleted.items()}


def count_drops(db: sqlite3.Connection, counts: Mapping[Priority, int]) -> None:
    """Add to the dropped totals."""
    db.executemany(
        "INSERT INTO dropped (priority, count) VALUES (?, ?) "
        "ON CONFLICT (priority) DO UPDATE SET count = count + excluded.count",
        [(int(p), n) for p, n in counts.items() if n],
    )
