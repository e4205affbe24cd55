"""Durable outbox between the privacy door and MQTT (SQLite in WAL mode).

A publication is committed to disk before it is handed to the broker and deleted only when
the broker acknowledges it (PUBACK), so events survive broker outages and gateway crashes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.messages import Publication, dump_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT    NOT NULL,
    topic    TEXT    NOT NULL,
    payload  BLOB    NOT NULL,
    created  REAL    NOT NULL,
    UNIQUE (event_id, topic)
)
"""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A stored publication awaiting its PUBACK."""

    seq: int
    created: float  # wall-clock seconds when it was stored
    publication: Publication

    def delivered(self, live_since: float) -> Publication:
        """What to send: the publication, or, if stored before `live_since`, the same one marked
        as a late delivery (same id, `historical: true`). Only event payloads carry the flag."""
        if self.created >= live_since:
            return self.publication
        try:
            body = json.loads(self.publication.payload)
        except ValueError:
            return self.publication
        if not isinstance(body, dict) or "historical" not in body:
            return self.publication
        p = self.publication
        return Publication(p.event_id, p.topic, dump_json({**body, "historical": True}), p.retain, p.actor)


class Outbox:
    """A thread-safe, crash-safe FIFO of publications."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a PUBACK-deleted row may be lost on power failure (a duplicate, same id), a new row never.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def put(self, publications: Sequence[Publication]) -> None:
        """Store publications atomically; a publication already stored is kept once."""
        now = time.time()
        rows = [(p.event_id, p.topic, p.payload, now) for p in publications]
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR IGNORE INTO outbox (event_id, topic, payload, created) VALUES (?, ?, ?, ?)", rows
            )

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[OutboxItem]:
        """The oldest stored publications with seq > after_seq."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, topic, payload, created FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [
            OutboxItem(seq, created, Publication(eid, topic, bytes(payload)))
            for seq, eid, topic, payload, created in rows
        ]

    def ack(self, seq: int) -> None:
        """The broker has the publication: forget it."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
