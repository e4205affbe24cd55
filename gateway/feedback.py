"""Feedback from the actors: an actor marks an event it received as a true or a false alarm.

A mark arrives on `<prefix>/v1/<site>/<gateway>/feedback/<actor>` (the broker lets only that actor
write there) signed with the actor's Ed25519 key (config `trust.actors`)::

    {"feedback_id": "...", "actor": "ambulance", "site": "...", "gateway": "...",
     "issued": "2026-11-27T10:00:00Z", "event_id": "<the id the actor received>",
     "verdict": "false_alarm", "reason": "no_person", "signature": "<base64>"}

The gateway remembers (bounded, on disk) which id each actor received for which event: ids are made
per actor (privacy/projection.actor_id), so an actor can only name events it received, and nothing
about another actor's view can be learnt from a mark or its answer (the same "unknown event id"
whether the event does not exist or went to someone else). Counts per event type, model version,
source and rollout bundle are kept on disk and reported to operators only.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from gateway import audit
from gateway.audit import AuditLog
from gateway.commands import SeenCommands
from gateway.messages import Event, JsonValue, Publication
from gateway.privacy.projection import actor_id
from gateway.signed_inbox import Refused, SignedInbox, check_fresh, parse_signed, verify_signature

log = logging.getLogger(__name__)

REASONS: Final = {
    "true_alarm": frozenset({"confirmed_on_scene", "help_given", "other"}),
    "false_alarm": frozenset(
        {"no_person", "person_ok", "lying_on_purpose", "object_or_pet", "duplicate", "other"}
    ),
}
FIELDS: Final = frozenset(
    {"feedback_id", "actor", "site", "gateway", "issued", "event_id", "verdict", "reason", "signature"}
)
KEEP_SENT: Final = 50_000  # ids remembered per gateway; older events can no longer be marked
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS sent (
    actor TEXT NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT NULL, source TEXT NOT NULL,
    model TEXT NOT NULL, bundle TEXT NOT NULL, marked TEXT, at REAL, PRIMARY KEY (actor, event_id));
CREATE TABLE IF NOT EXISTS counts (
    event_type TEXT NOT NULL, model TEXT NOT NULL, source TEXT NOT NULL, bundle TEXT NOT NULL,
    verdict TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (event_type, model, source, bundle, verdict));
"""


@dataclass(frozen=True, slots=True)
class Mark:
    """A verified mark: which actor, which of its event ids, which verdict and why."""

    feedback_id: str
    actor: str
    event_id: str
    verdict: str
    reason: str


class FeedbackStore:
    """What was sent to whom (bounded) and the counts of marks, in one SQLite file."""

    def __init__(self, path: Path, keep: int = KEEP_SENT, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        if "at" not in {row[1] for row in self._db.execute("PRAGMA table_info(sent)")}:
            # A store from before retention: its rows count as sent now, so they age out in their turn.
            self._db.execute("ALTER TABLE sent ADD COLUMN at REAL")
            self._db.execute("UPDATE sent SET at = ?", (clock(),))
        self._keep, self._clock = keep, clock
        self._lock = threading.Lock()

    def remember(self, rows: Iterable[tuple[str, str, str, str, str, str]]) -> None:
        """(actor, actor's event id, type, source, model, bundle) of what was just published."""
        with self._lock, self._db:
            now = self._clock()
            self._db.executemany(
                "INSERT OR IGNORE INTO sent VALUES (?, ?, ?, ?, ?, ?, NULL, ?)", [(*row, now) for row in rows]
            )
            self._db.execute(
                "DELETE FROM sent WHERE rowid <= (SELECT MAX(rowid) FROM sent) - ?", (self._keep,)
            )

    def mark(self, mark: Mark) -> tuple[str, str, str, str]:
        """Record `mark`: (event type, model, source, bundle) of its event, or Refused."""
        with self._lock, self._db:
            row = self._db.execute(
                "SELECT event_type, model, source, bundle, marked FROM sent WHERE actor = ? AND event_id = ?",
                (mark.actor, mark.event_id),
            ).fetchone()
            if row is None:
                raise Refused("unknown event id (not one you received, or too old)")
            if row[4] is not None:
                raise Refused(f"already marked as {row[4]}")
            self._db.execute(
                "UPDATE sent SET marked = ? WHERE actor = ? AND event_id = ?",
                (mark.verdict, mark.actor, mark.event_id),
            )
            self._db.execute(
                "INSERT INTO counts VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT DO UPDATE SET n = n + 1",
                (*row[:4], mark.verdict),
            )
            return row[0], row[1], row[2], row[3]

    def prune(self, before: datetime) -> int:
        """Forget what was sent before `before` (retention): those events can no longer be marked.
        The counts stay: they name no event. How many rows went."""
        with self._lock, self._db:
            return self._db.execute("DELETE FROM sent WHERE at < ?", (before.timestamp(),)).rowcount

    def counts(self) -> list[tuple[str, str, str, str, str, int]]:
        """Every (event type, model, source, bundle, verdict, count)."""
        with self._lock:
            return list(self._db.execute("SELECT * FROM counts ORDER BY 1, 2, 3, 4, 5"))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


@dataclass(frozen=True, slots=True)
class Checks:
    """What a mark is checked against: actors' keys, this gateway, the time, the ids already seen."""

    keys: dict[str, Path]
    here: tuple[str, str]  # (site, gateway)
    now: datetime
    seen: Container[str]


def verify_mark(payload: bytes, sender: str, checks: Checks) -> Mark:
    """The mark in `payload` from the actor whose topic it came on, or Refused."""
    body = parse_signed(payload, FIELDS)
    if body["actor"] != sender:
        raise Refused("a mark names the actor whose topic it is sent on")
    verify_signature(body, checks.keys.get(sender), f"actor {sender!r}")
    if (body["site"], body["gateway"]) != checks.here:
        raise Refused("the mark is for another gateway")
    check_fresh(body, checks.now, checks.seen, "feedback_id")
    reasons = REASONS.get(body["verdict"])
    if reasons is None:
        raise Refused(f"verdict is one of {sorted(REASONS)}")
    if body["reason"] not in reasons:
        raise Refused(f"reason for {body['verdict']} is one of {sorted(reasons)}")
    return Mark(body["feedback_id"], sender, body["event_id"], body["verdict"], body["reason"])


Reply = Callable[[str, str, str, str], Publication]  # (actor, feedback id, status, detail)


class Feedback:
    """Actors' marks: verified in the gateway's loop, counted, audited, answered to the actor alone."""

    def __init__(
        self, keys: dict[str, Path], here: tuple[str, str], storage: Path, audit_log: AuditLog
    ) -> None:
        self.keys = keys
        self._here = here
        self._audit = audit_log
        self.store = FeedbackStore(storage / "feedback.sqlite3")
        self._seen = SeenCommands(storage / "feedback_seen.json", keep=5000)
        self.inbox = SignedInbox("feedback", "feedback_id", self._process, self._answer)
        self.replies: list[tuple[str, str, str, str]] = []  # answers waiting to go through the door
        self.changed = bool(keys)  # counts to report (none while no actor may mark anything)
        self.marked = 0  # marks accepted since start

    def remember(self, event: Event, publications: Iterable[Publication], bundle: str) -> None:
        """Which id each actor received for `event` (aggregated summaries are not markable)."""
        model = "" if event.model is None else f"{event.model.name}@{event.model.version}"
        rows = [
            (p.actor, actor_id(p.actor, event.id), event.type, event.source, model, bundle)
            for p in publications
            if p.actor in self.keys
        ]
        if rows:
            self.store.remember(rows)

    def handle_pending(self, now: datetime) -> None:
        """Process the queued marks."""
        self.inbox.handle_pending(now)

    def _process(self, sender: str, payload: bytes, now: datetime) -> str:
        try:
            mark = verify_mark(payload, sender, Checks(self.keys, self._here, now, self._seen))
            event_type, _, source, bundle = self.store.mark(mark)
        except Refused as exc:
            self._audit.append(audit.FEEDBACK_REFUSED, {"actor": sender, "error": str(exc)[:300]})
            raise
        self._seen.add(mark.feedback_id)
        self.changed, self.marked = True, self.marked + 1
        detail: dict[str, JsonValue] = {
            "actor": sender,
            "event_id": mark.event_id,
            "event_type": event_type,
            "source": source,
            "bundle": bundle,
            "verdict": mark.verdict,
            "reason": mark.reason,
        }
        self._audit.append(audit.FEEDBACK_MARKED, detail)
        log.info("feedback: %s marked %s from %s (%s) %s", sender, event_type, source, bundle, mark.verdict)
        return f"{mark.verdict} recorded"

    def _answer(self, actor: str, feedback_id: str, status: str, detail: str) -> None:
        self.replies.append((actor, feedback_id, status, detail))

    def false_alarms(self, bundle: str) -> int:
        """Confirmed false alarms on events published while `bundle` was active."""
        return sum(
            n for _, _, _, b, verdict, n in self.store.counts() if b == bundle and verdict == "false_alarm"
        )

    def report(self) -> dict[str, JsonValue]:
        """Counts by event type, model version, source and bundle: `{key: {verdict: n}}` each."""
        names = ("by_type", "by_model", "by_source", "by_bundle")
        views: dict[str, dict[str, dict[str, int]]] = {name: {} for name in names}
        marks = 0
        for event_type, model, source, bundle, verdict, n in self.store.counts():
            marks += n
            for name, key in zip(names, (event_type, model or "none", source, bundle or "none"), strict=True):
                cell = views[name].setdefault(key, {"true_alarm": 0, "false_alarm": 0})
                cell[verdict] += n
        out: dict[str, JsonValue] = {"marks": marks}
        for name, view in views.items():
            out[name] = {key: dict[str, JsonValue](cell) for key, cell in view.items()}
        return out

    def close(self) -> None:
        """Close the store."""
        self.store.close()
