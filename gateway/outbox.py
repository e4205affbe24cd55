"""Durable, bounded outbox between the privacy door and MQTT (SQLite in WAL mode).

A publication is committed to disk before it is handed to the broker and deleted only when
the broker acknowledges it (PUBACK), so events survive broker outages and gateway crashes.
Acknowledged rows are deleted in batches: a crash may resend a few (same id), never lose one.

Every row has a class (`events.Priority`): life-safety first, telemetry last. The publisher sends
the most urgent class first, oldest first within it (`due`), so a new alarm overtakes a backlog.
Each class is bounded by size and age (config `outbox:`); past its bound the class's oldest rows go.
A full disk gives a more urgent class the room of the least urgent stored rows. Every drop is
counted by class and reported (`outbox_drops`), never silent.

Late deliveries are marked by connection, never by wall time: the publisher opens a numbered
session on every CONNACK, each row records the session it was stored in (none while disconnected),
and a row sent in any other session goes out marked `historical: true`. A clock step changes nothing.

A full (or failing) disk is transient: publications that cannot be written are held in memory,
bounded by `held_limit` (the least urgent class's oldest go first), and written by the next `put`
(an empty one retries). The failure is logged once, and the recovery once. A database that cannot
be opened at all is `OutboxError`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.config import OutboxConfig
from gateway.events import Priority, priority
from gateway.messages import JsonValue, Publication
from gateway.outbox_drops import DropLedger, Reason, trim_oldest
from gateway.outbox_sql import count_drops, delete_acked, delete_expired, delete_oldest, open_database
from gateway.privacy.projection import mark_historical

log = logging.getLogger(__name__)

HELD_LIMIT = OutboxConfig().held_limit  # publications held in memory while the disk refuses writes
EXPIRE_EVERY_S = 60.0  # how often `put` looks for rows past their class's max age
# A wall clock before this is not set yet (a Pi without RTC boots in 1970): ages are not judged by it.
CLOCK_FLOOR = 1_700_000_000.0  # 2023-11-14
# A full disk frees whole pages only: rows are evicted for at least this much (a few 4 KiB pages).
EVICT_AT_LEAST = 16 * 1024
_TRIM_TO = 0.99  # a class past its size bound is trimmed a little below it, not by one row a put
_SELECT = "SELECT seq, event_id, topic, payload, session, priority FROM outbox"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A stored publication awaiting its PUBACK."""

    seq: int
    session: int | None  # the broker session it was stored in; None: stored while disconnected
    publication: Publication
    priority: Priority = Priority.EVENTS

    def delivered(self, session: int) -> Publication:
        """What to send in `session`: the publication if it was stored in that same session, else
        the same one marked as a late delivery (same id, `historical: true`). Only event payloads
        carry the flag."""
        if self.session == session:
            return self.publication
        p = self.publication
        marked = mark_historical(p.payload)
        return p if marked is None else Publication(p.event_id, p.topic, marked, p.retain, p.actor)


class OutboxError(Exception):
    """The outbox database cannot be opened (not a database, not a file, not writable)."""


_Held = tuple[Publication, float, int | None]  # publication, created, session


class Outbox:
    """A thread-safe, crash-safe, bounded store of publications, most urgent class first."""

    def __init__(
        self,
        path: Path,
        bounds: OutboxConfig | None = None,
        *,
        max_pages: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open or create the database; OutboxError naming `path` if it cannot be used.

        `max_pages` caps the database size in pages (SQLite `max_page_count`): a disk quota, and a
        way to make the disk full on purpose. `clock` stamps rows for their age bound."""
        bounds = bounds or OutboxConfig()
        self.path = path
        self.held_limit = bounds.held_limit
        self.max_bytes = {p: int(getattr(bounds, p.key).max_mb * 1e6) for p in Priority}
        self.max_age_s = {p: getattr(bounds, p.key).max_age_h * 3600.0 for p in Priority}
        self._held: dict[Priority, deque[_Held]] = {p: deque() for p in Priority}
        self._clock = clock
        self._session: int | None = None
        self._failing = False
        self._closed = False
        self._acked: deque[int] = deque()  # appended by paho's thread without the lock
        self._next_expiry = 0.0  # monotonic: the first put looks at ages at once
        self._lock = threading.Lock()
        try:
            self._db, stats = open_database(path, max_pages)
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"outbox {path}: {exc}") from exc
        self._sessions = stats.last_session  # a new session is newer than any stored row's
        self._rows, self._bytes = stats.rows, stats.bytes
        self.drops = DropLedger(str(path), stats.dropped, clock)
        self.dropped = 0  # publications this process dropped, for any reason

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
            return sum(len(q) for q in self._held.values())

    # --- storing ---

    def put(self, publications: Sequence[Publication]) -> bool:
        """Store publications (one already stored is kept once), after any held ones of their class.

        True if everything held was written; False if the disk refused some, which stay held in
        memory until a later `put` succeeds. Never raises for a full or failing disk. Now and then
        it also drops rows past their class's age."""
        now = self._clock()
        with self._lock:
            if self._closed:
                raise ValueError(f"{self.path}: put to a closed outbox")
            for publication in publications:
                self._held[priority(publication.event_type)].append((publication, now, self._session))
            wrote = self._write_held()
            if time.monotonic() >= self._next_expiry:
                self._expire(now)
            self.drops.quiet()
            return wrote

    def _write_held(self) -> bool:
        if not any(self._held.values()):
            return False
        written = 0
        for cls in Priority:  # the most urgent first: on a full disk it is the one that gets in
            queue = self._held[cls]
            if not queue:
                continue
            try:
                self._insert(cls, queue)
            except sqlite3.OperationalError as exc:
                if not self._made_room(cls, queue, exc):
                    self._hold(exc)
                    return False
            written += len(queue)
            queue.clear()
        if self._failing:
            log.warning("outbox %s: writable again, %d held publications stored", self.path, written)
        self._failing = False
        return True

    def _made_room(self, cls: Priority, queue: deque[_Held], exc: sqlite3.OperationalError) -> bool:
        """The disk is full: delete what was acknowledged, then (if it is not enough) the oldest rows
        of the least urgent class below `cls`, retrying after each. Whether `queue` got in."""
        if not _is_full(exc):
            return False
        for make_room in (self._flush, lambda: self._evict_below(cls, queue)):
            if make_room():
                try:
                    self._insert(cls, queue)
                except sqlite3.OperationalError:
                    continue
                return True
        return False

    def _insert(self, cls: Priority, queue: Iterable[_Held]) -> None:
        """One transaction: the rows, the class trimmed to its size bound, drops not yet counted."""
        added_rows = added_bytes = 0
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for p, created, session in queue:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (event_id, topic, payload, created, session, priority) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (p.event_id, p.topic, p.payload, created, session, int(cls)),
                )
                if cursor.rowcount:
                    added_rows, added_bytes = added_rows + 1, added_bytes + _size(p)
            excess = self._bytes[cls] + added_bytes - self.max_bytes[cls]
            trimmed = (0, 0)
            if excess > 0:
                trimmed = delete_oldest(self._db, cls, excess + int(self.max_bytes[cls] * (1 - _TRIM_TO)))
            counts = Counter(self.drops.unsaved)
            counts[cls] += trimmed[0]
            count_drops(self._db, counts)
        self._rows[cls] += added_rows - trimmed[0]
        self._bytes[cls] += added_bytes - trimmed[1]
        self.drops.unsaved.clear()
        self._dropped(cls, trimmed[0], Reason.SIZE)

    def _dropped(self, cls: Priority, count: int, reason: Reason, saved: bool = True) -> None:
        self.dropped += count
        self.drops.drop(cls, count, reason, saved=saved)

    def _evict_below(self, cls: Priority, queue: Iterable[_Held]) -> bool:
        """Give `cls` the room of the oldest rows of the least urgent stored class below it."""
        lower = [p for p in Priority if p > cls and self._rows[p]]
        if not lower:
            return False
        needed = max(EVICT_AT_LEAST, 2 * sum(_size(p) for p, _, _ in queue))
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                rows, freed = delete_oldest(self._db, lower[-1], needed)
                count_drops(self._db, {lower[-1]: rows})
        except sqlite3.OperationalError:
            return False
        self._rows[lower[-1]] -= rows
        self._bytes[lower[-1]] -= freed
        self._dropped(lower[-1], rows, Reason.DISK_FULL)
        return True

    def _hold(self, exc: sqlite3.OperationalError) -> None:
        """The write failed: keep what is held in memory, the least urgent class's oldest going first
        past the limit."""
        if not self._failing:
            log.error(
                "outbox %s: cannot write (%s); holding publications in memory (at most %d) until it can",
                self.path,
                exc,
                self.held_limit,
            )
        self._failing = True
        for cls, gone in trim_oldest(self._held, self.held_limit).items():
            self._dropped(cls, gone, Reason.MEMORY, saved=False)

    # --- age ---

    def expire(self) -> None:
        """Drop the rows older than their class's max age now (`put` does it every EXPIRE_EVERY_S)."""
        with self._lock:
            self._expire(self._clock())

    def _expire(self, now: float) -> None:
        self._next_expiry = time.monotonic() + EXPIRE_EVERY_S
        if now < CLOCK_FLOOR:
            return  # the clock is not set: every age would be wrong
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                gone, freed = delete_expired(self._db, now, self.max_age_s, CLOCK_FLOOR)
                count_drops(self._db, gone)
        except sqlite3.OperationalError as exc:
            if not self._failing:
                log.error("outbox %s: cannot drop expired rows (%s)", self.path, exc)
            self._failing = True
            return
        for cls, count in gone.items():
            self._rows[cls] -= count
            self._bytes[cls] -= freed[cls]
            self._dropped(cls, count, Reason.AGE)

    # --- sending ---

    def due(self, after: Mapping[Priority, int], limit: int) -> list[OutboxItem]:
        """The next rows to send: the most urgent class first, oldest first within it; per class only
        rows with seq > after[class]."""
        with self._lock:
            if self._closed:
                return []
            self._flush()
            rows: list[_Row] = []
            for cls in Priority:
                if len(rows) < limit and self._rows[cls]:
                    rows += self._db.execute(
                        f"{_SELECT} WHERE priority = ? AND seq > ? ORDER BY seq LIMIT ?",
                        (int(cls), after.get(cls, 0), limit - len(rows)),
                    ).fetchall()
            return [_item(row) for row in rows]

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[OutboxItem]:
        """The oldest stored publications with seq > after_seq, whatever their class."""
        with self._lock:
            if self._closed:
                return []
            self._flush()
            rows = self._db.execute(f"{_SELECT} WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit))
            return [_item(row) for row in rows.fetchall()]

    def ack(self, seq: int) -> None:
        """The broker has the publication: forget it. Called from paho's thread, so it only notes the
        seq; the rows go in one transaction by the next `due`, `put`, `flush` or `len` (a crash
        before that sends them again: the same ids, never a loss)."""
        if not self._closed:
            self._acked.append(seq)

    def flush(self) -> None:
        """Delete the acknowledged rows now."""
        with self._lock:
            if not self._closed:
                self._flush()

    def _flush(self) -> bool:
        """Delete the acknowledged rows; whether any were. Not synced on its own: losing a delete to
        a power cut resends a row (same id), and the next insert's sync covers it anyway."""
        seqs = [self._acked.popleft() for _ in range(len(self._acked))]
        if not seqs:
            return False
        try:
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                deleted = delete_acked(self._db, seqs)
        except sqlite3.OperationalError as exc:
            if not self._failing:
                log.error("outbox %s: cannot delete %d acknowledged rows (%s)", self.path, len(seqs), exc)
            self._failing = True
            return False
        finally:
            self._db.execute("PRAGMA synchronous=FULL")
        for cls, (rows, size) in deleted.items():
            self._rows[cls] -= rows
            self._bytes[cls] -= size
        return bool(deleted)

    # --- reporting ---

    def report(self) -> dict[str, JsonValue]:
        """The outbox/dropped status body: drops by class (ever, and this episode), what is stored."""
        with self._lock:
            self._flush()
            held = sum(len(q) for q in self._held.values())
            return self.drops.report(self._rows, self._bytes, held)

    def backlog(self) -> tuple[int, float | None]:
        """How many publications wait for their PUBACK (stored or held), and the age in seconds of the
        oldest by the wall clock (None when none waits). A closed outbox has none."""
        with self._lock:
            if self._closed:
                return 0, None
            self._flush()
            count, oldest = self._db.execute("SELECT COUNT(*), MIN(created) FROM outbox").fetchone()
            held = [created for queue in self._held.values() for _, created, _ in queue]
        times = [t for t in (oldest, *held) if t is not None]
        return int(count) + len(held), (self._clock() - min(times)) if times else None

    def __len__(self) -> int:
        with self._lock:
            self._flush()
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(count)

    def close(self) -> None:
        """Delete what was acknowledged, close; publications still held in memory are lost, and logged."""
        with self._lock:
            if self._closed:
                return
            self._flush()
            held = sum(len(q) for q in self._held.values())
            if held:
                log.error("outbox %s: closed with %d publications never written", self.path, held)
            self._closed = True
            self._db.close()


def _size(p: Publication) -> int:
    return len(p.event_id) + len(p.topic) + len(p.payload)


_Row = tuple[int, str, str, bytes, int | None, int]


def _item(row: _Row) -> OutboxItem:
    seq, event_id, topic, payload, session, cls = row
    return OutboxItem(seq, session, Publication(event_id, topic, bytes(payload)), Priority(cls))


def _is_full(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
