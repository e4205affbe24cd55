"""On-device retention: old audit segments and feedback rows go, and what went stays on record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway import audit
from gateway.audit import AuditLog
from gateway.audit_chain import verify_chain
from gateway.audit_files import segment_paths
from gateway.config import AuditConfig
from gateway.feedback import FeedbackStore
from gateway.retention import Retention

START = datetime(2025, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _log(tmp_path: Path, clock: Clock) -> AuditLog:
    """An audit log with a segment a day for ten days, then today's current one."""
    log = AuditLog(
        tmp_path / "audit.jsonl", clock=clock, bounds=AuditConfig(segment_mb=0.001, keep_segments=100)
    )
    for day in range(10):
        clock.now = START + timedelta(days=day)
        before = len(segment_paths(log.path))
        while len(segment_paths(log.path)) == before:
            log.append(audit.CONFIG_CHANGED, {"actor": "op", "keys": [f"day{day}"]})
    return log


def _deleted(path: Path) -> list[dict[str, object]]:
    """Every retention.deleted record in the log (it may have started a new segment since)."""
    lines = [line for file in [*segment_paths(path), path] for line in file.read_bytes().splitlines()]
    return [r for r in map(json.loads, lines) if r["kind"] == audit.RETENTION_DELETED]


def _retention(log: AuditLog, pruned: list[datetime]) -> Retention:
    def prune(before: datetime) -> int:
        pruned.append(before)
        return 0

    return Retention(log, 3.5, prune)


def test_segments_older_than_the_max_age_go_whole_and_are_on_record(tmp_path: Path) -> None:
    clock = Clock()
    log = _log(tmp_path, clock)
    segments = segment_paths(log.path)
    clock.now = START + timedelta(days=10)
    cutoff = clock.now - timedelta(days=3.5)
    kept_times = []
    for path in segments:
        last = json.loads(path.read_bytes().splitlines()[-1])
        kept_times.append((path, datetime.fromisoformat(last["time"])))
    expected_gone = [p for p, t in kept_times if t < cutoff]
    first_gone = json.loads(expected_gone[0].read_bytes().splitlines()[0])
    last_gone = json.loads(expected_gone[-1].read_bytes().splitlines()[-1])
    pruned: list[datetime] = []
    _retention(log, pruned).run(clock.now)
    assert pruned == [cutoff]
    assert segment_paths(log.path) == [p for p in segments if p not in expected_gone]
    (record,) = _deleted(log.path)
    assert record["detail"] == {
        "what": "audit",
        "segments": [p.name for p in expected_gone],
        "records": last_gone["seq"] - first_gone["seq"] + 1,
        "first_seq": first_gone["seq"],
        "first_time": first_gone["time"],
        "last_seq": last_gone["seq"],
        "last_time": last_gone["time"],
        "max_age_days": 3.5,
    }
    assert verify_chain(log.path).first_broken_seq is None
    log.close()


def test_nothing_old_nothing_deleted_and_it_runs_hourly(tmp_path: Path) -> None:
    clock = Clock()
    log = _log(tmp_path, clock)
    segments, seq = segment_paths(log.path), log.seq
    pruned: list[datetime] = []
    retention = _retention(log, pruned)
    retention.tick(START + timedelta(days=3))  # the oldest segment is 3 days old: kept
    retention.tick(START + timedelta(days=3, minutes=30))  # not due yet (hourly)
    assert segment_paths(log.path) == segments and log.seq == seq and len(pruned) == 1
    retention.tick(START + timedelta(days=3, hours=1))
    assert len(pruned) == 2
    log.close()


def test_feedback_rows_older_than_the_max_age_are_forgotten(tmp_path: Path) -> None:
    now = [START.timestamp()]
    store = FeedbackStore(tmp_path / "feedback.sqlite3", clock=lambda: now[0])
    store.remember([("ambulance", "old", "fall", "cam", "m", "b")])
    now[0] += 86_400 * 2
    store.remember([("ambulance", "new", "fall", "cam", "m", "b")])
    with AuditLog(tmp_path / "audit.jsonl") as log:
        Retention(log, 1.5, store.prune).run(START + timedelta(days=2))
        record = json.loads(log.path.read_bytes().splitlines()[-1])
    assert record["kind"] == audit.RETENTION_DELETED and record["detail"]["rows"] == 1
    assert record["detail"]["what"] == "feedback"
    rows = store._db.execute("SELECT event_id FROM sent").fetchall()
    assert rows == [("new",)]
    store.close()


def test_a_store_from_before_retention_gets_its_rows_dated_now(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "feedback.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE sent (actor TEXT NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT NULL, "
        "source TEXT NOT NULL, model TEXT NOT NULL, bundle TEXT NOT NULL, marked TEXT, PRIMARY KEY (actor, event_id));"
        "INSERT INTO sent VALUES ('a', 'e', 'fall', 's', 'm', 'b', NULL);"
    )
    db.commit()
    db.close()
    store = FeedbackStore(path, clock=lambda: START.timestamp())
    assert store.prune(START) == 0 and store.prune(START + timedelta(seconds=1)) == 1
    store.close()
