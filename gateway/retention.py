"""On-device retention: audit segments and feedback rows older than `audit.max_age_days` are deleted.

The outbox has its own per-class age bounds (config `outbox:`); escalation counts are kept for the
current month only (escalation/monthly.py); the `*_seen.json` files hold ids, bounded by count. What is
left to age out is the audit log and the feedback store's memory of which ids each actor received.

An audit segment goes whole, once its newest record is older than the maximum age (the current segment
never goes). What was deleted stays on record: a hash-chained `retention.deleted` record names the
segments, how many records they held, and their first and last seq and time. It is chained, not
signed: the gateway has no key of its own to sign with that would be worth more than the chain.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from gateway import audit
from gateway.audit import AuditLog, fsync_dir, parse_record
from gateway.audit_files import read_tail, segment_paths
from gateway.audit_record import MAX_LINE, AuditLogError, AuditRecord, RecordInvalid
from gateway.messages import JsonValue

log = logging.getLogger(__name__)

EVERY: Final = timedelta(hours=1)  # retention is a matter of days: checking hourly is plenty


@dataclass(frozen=True, slots=True)
class _Segment:
    path: Path
    first: AuditRecord
    last_seq: int
    last_time: str


def _read_segment(path: Path) -> _Segment:
    """Its first and its newest record (a segment ends on a newline; torn bytes after it are skipped)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        first = parse_record(os.pread(fd, MAX_LINE + 1, 0).split(b"\n", 1)[0])
        end = os.fstat(fd).st_size - len(read_tail(fd, path).torn)
        start = max(0, end - MAX_LINE - 1)
        last = parse_record(os.pread(fd, end - start, start).rstrip(b"\n").rsplit(b"\n", 1)[-1])
    finally:
        os.close(fd)
    return _Segment(path, first, last.seq, last.time)


def _time(record_time: str) -> datetime:
    return datetime.fromisoformat(record_time)


class Retention:
    """Deletes what is older than `max_age_days`, at most once per `EVERY`, from the gateway's loop."""

    def __init__(
        self, audit_log: AuditLog, max_age_days: float, prune_feedback: Callable[[datetime], int]
    ) -> None:
        self._audit, self._max_age = audit_log, timedelta(days=max_age_days)
        self._prune_feedback = prune_feedback
        self._next: datetime | None = None
        self._failing = False

    def tick(self, now: datetime) -> None:
        """Run when due (the first time at once)."""
        if self._next is not None and now < self._next:
            return
        self._next = now + EVERY
        self.run(now)

    def run(self, now: datetime) -> None:
        """Delete audit segments and feedback rows older than the maximum age; audit what went."""
        cutoff = now - self._max_age
        try:
            self._prune_audit(cutoff)
            pruned = self._prune_feedback(cutoff)
        except (OSError, AuditLogError, RecordInvalid, ValueError) as exc:
            if not self._failing:
                log.error("retention: cannot delete old records (%s); tried again in an hour", exc)
            self._failing = True
            return
        self._failing = False
        if pruned:
            detail: dict[str, JsonValue] = {"what": "feedback", "rows": pruned, "before": cutoff.isoformat()}
            self._audit.append(audit.RETENTION_DELETED, detail)

    def _prune_audit(self, cutoff: datetime) -> None:
        gone: list[_Segment] = []
        for path in segment_paths(self._audit.path):  # oldest first; the current segment is not listed
            segment = _read_segment(path)
            if _time(segment.last_time) >= cutoff:
                break
            gone.append(segment)
        if not gone:
            return
        for segment in gone:
            segment.path.unlink()
        fsync_dir(self._audit.path.parent)
        first, last = gone[0], gone[-1]
        self._audit.append(
            audit.RETENTION_DELETED,
            {
                "what": "audit",
                "segments": [s.path.name for s in gone],
                "records": last.last_seq - first.first.seq + 1,
                "first_seq": first.first.seq,
                "first_time": first.first.time,
                "last_seq": last.last_seq,
                "last_time": last.last_time,
                "max_age_days": self._max_age / timedelta(days=1),
            },
        )
        log.info("retention: %d audit segments older than %s deleted", len(gone), cutoff.isoformat())
