"""Durable outbox between the privacy door and MQTT (SQLite in WAL mode).

A publication is committed to disk before it is handed to the broker and deleted only when
the broker acknowledges it (PUBACK), so events survive broker outages and gateway crashes.

Late deliveries are marked by connection, never by wall time: the publisher opens a numbered
session on every CONNACK, each row records the session it was stored in (none while disconnected),
and a row sent in any other session goes out marked `historical: true`. A clock step changes nothing.

A full (or failing) disk is transient: publications that cannot be written are held in memory,
bounded by `HELD_LIMIT`, and written in order by the next `put` (an empty one retries). The failure
is logged once, and the recovery once. A database that cannot be opened at all is `OutboxError`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.messages import Publication, dump_json

log = logging.getLogger(__name__)

# Publications held in memory while the disk refuses writes: at ~1 kB each, 10 MB; hours of a busy site.
HELD_LIMIT = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT    NOT NULL,
    topic    TEXT    NOT NULL,
    payload  BLOB    NOT NULL,
    created  REAL    NOT NULL,
    session  INTEGER,
    UNIQUE (event_id, topic)
)
"""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A stored publication awaiting its PUBACK."""

    seq: int
    session: int | None  # the broker session it was stored in; None: stored while disconnected
    publication: Publication

    def delivered(self, session: int) -> Publication:
        """What to send in `session`: the publication if it was stored in that same session, else
        the same one marked as a late delivery (same id, `historical: true`). Only event payloads
        carry the flag."""
        if self.session == session:
            return self.publication
        try:
            body = json.loads(self.publication.payload)
        except ValueError:
            return self.publication
        if not isinstance(body, dict) or "historical" not in body:
            return self.publication
        p = self.publication
        return Publication(p.event_id, p.topic, dump_json({**body, "historical": True}), p.retain, p.actor)


class OutboxError(Exception):
    """The outbox database cannot be opened (not a database, not a file, not writable)."""


class Outbox:
    """A thread-safe, crash-safe FIFO of publications."""

    def __init__(
        self,
        path: Path,
        held_limit: int = HELD_LIMIT,
        max_pages: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open or create the database; OutboxError naming `path` if it cannot be used.

        `max_pages` caps the database size in pages (SQLite `max_page_count`): a disk quota, and a
        way to make the disk full on purpose."""
        self.path = path
        self.held_limit = held_limit
        self.dropped = 0  # held publications lost because the disk stayed full past held_limit
        self._held: deque[tuple[Publication, float, int | None]] = deque()
        self._clock = clock  # only for the `created` column, which nothing decides on
        self._session: int | None = None
        self._failing = False
        self._closed = False
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"outbox {path}: {exc}") from exc
        try:
            if max_pages is not None:
                self._db.execute(f"PRAGMA max_page_count={int(max_pages)}")
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a PUBACK-deleted row may be lost on power failure (a duplicate, same id), a new row never.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
            if "session" not in columns:  # an outbox from before sessions: its rows are all late
                self._db.execute("ALTER TABLE outbox ADD COLUMN session INTEGER")
            (last,) = self._db.execute("SELECT COALESCE(MAX(session), 0) FROM outbox").fetchone()
            self._sessions = int(last)  # a new session is newer than any stored row's
        except sqlite3.Error as exc:
            self._db.close()
            raise OutboxError(f"outbox {path}: {exc}") from exc

    def begin_session(self) -> int:
        """A broker connection is up: its number; rows stored from now on belong to it."""
        with self._lock:
            self._sessions += 1
            self._session = self._sessions
            return self._sessions

    def end_session(self) -> None:
        """The connection is gone: rows stored from now on are late wherever they are sent."""
        with self._lock:
            self._session = None

    @property
    def held(self) -> int:
        """Publications waiting in memory for the disk to take them."""
        with self._lock:
            return len(self._held)

    def put(self, publications: Sequence[Publication]) -> bool:
        """Store publications atomically (one already stored is kept once), after any held ones.

        True if rows were written; False if the disk refused them, and they (and the ones before)
        are held in memory until a later `put` succeeds. Never raises for a full or failing disk."""
        now = self._clock()
        with self._lock:
            if self._closed:
                raise ValueError(f"{self.path}: put to a closed outbox")
            self._held.extend((p, now, self._session) for p in publications)
            if not self._held:
                return False
            rows = [(p.event_id, p.topic, p.payload, created, s) for p, created, s in self._held]
            try:
                with self._db:
                    self._db.execute("BEGIN IMMEDIATE")
                    self._db.executemany(
                        "INSERT OR IGNORE INTO outbox (event_id, topic, payload, created, session) VALUES (?, ?, ?, ?, ?)",
                        rows,
                    )
            except sqlite3.OperationalError as exc:
                self._hold(exc)
                return False
            if self._failing:
                log.warning("outbox %s: writable again, %d held publications stored", self.path, len(rows))
            self._held.clear()
            self._failing = False
            return True

    def _hold(self, exc: sqlite3.OperationalError) -> None:
        """The write failed: keep the publications in memory, the oldest going first past the limit."""
        if not self._failing:
            log.error(
                "outbox %s: cannot write (%s); holding publications in memory (at most %d) until it can",
                self.path,
                exc,
                self.held_limit,
            )
        self._failing = True
        excess = len(self._held) - self.held_limit
        if excess > 0:
            if self.dropped == 0:
                log.error("outbox %s: %d publications held; dropping the oldest", self.path, self.held_limit)
            for _ in range(excess):
                self._held.popleft()
            self.dropped += excess

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[OutboxItem]:
        """The oldest stored publications with seq > after_seq."""
        with self._lock:
            if self._closed:
                return []
            rows = self._db.execute(
                "SELECT seq, event_id, topic, payload, session FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [
            OutboxItem(seq, session, Publication(eid, topic, bytes(payload)))
            for seq, eid, topic, payload, session in rows
        ]

    def ack(self, seq: int) -> None:
        """The broker has the publication: forget it (if the disk refuses, it is sent again later)."""
        with self._lock:
            if self._closed:
                return
            try:
                self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            except sqlite3.OperationalError as exc:
                if not self._failing:
                    log.error("outbox %s: cannot delete acknowledged row %d (%s)", self.path, seq, exc)
                self._failing = True

    def backlog(self) -> tuple[int, float | None]:
        """How many publications wait for their PUBACK (stored or held), and the age in seconds of the
        oldest by the wall clock (None when none waits). A closed outbox has none."""
        with self._lock:
            if self._closed:
                return 0, None
            count, oldest = self._db.execute("SELECT COUNT(*), MIN(created) FROM outbox").fetchone()
            times = [t for t in (oldest, *(created for _, created, _ in self._held)) if t is not None]
            held = len(self._held)
        return int(count) + held, (self._clock() - min(times)) if times else None

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the database; publications still held in memory are lost, and logged."""
        with self._lock:
            if self._held:
                log.error("outbox %s: closed with %d publications never written", self.path, len(self._held))
            self._closed = True
            self._db.close()
