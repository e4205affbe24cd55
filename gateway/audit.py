"""Append-only, hash-chained audit log: what was sent to which actor, and every policy, model and config change.

One JSON object per line (JSON Lines), written as canonical JSON (sorted keys, compact separators,
ASCII) and fsynced before ``append`` returns::

    {"detail":{...},"hash":"<hex>","kind":"publication","prev":"<hex>","seq":1,"time":"2026-11-27T18:04:05.123Z"}

- ``seq`` counts from 1; ``prev`` is the sha256 of the previous record's line (without its newline), 64
  zeros for the first; ``hash`` is the sha256 of the canonical JSON of the record without ``hash``.
  Editing, deleting, reordering or inserting a line therefore breaks the chain at that seq, and
  ``audit_chain.verify_chain`` names it. Truncating the newest records cannot be seen from the file alone: anchor the
  head (``AuditLog.head``) somewhere else, e.g. in a periodic signed status, to detect that too.
- A segment only ever grows. Bytes torn by a crash during an append stay where they are; on reopen they
  are logged as a warning and accounted for by a ``log.recovered`` record (their length and sha256), which
  ``audit_chain.verify_chain`` accepts in place of nothing at all.
- Bounded (config ``audit:``): past ``segment_mb`` the file becomes ``audit.NNNNNN.jsonl`` and a new one
  starts with a ``log.continued`` record, the next seq, chained to the last line before it; only the newest
  ``keep_segments`` files are kept. ``verify_chain`` walks what is kept, from the oldest segment's first
  record on. Unbounded (no ``bounds``), the one file can live under ``chattr +a``.
- One writer per log: ``AuditLog`` takes an exclusive ``flock`` on ``<log>.lock`` and raises
  ``AuditLogBusy`` otherwise.

Record kinds (``detail`` fields), one constant each below:

- ``publication``: exactly ``actor``, ``topic``, ``event_id``, ``event_type`` of one outbound message.
  Never the payload values: ``append`` refuses any other field for this kind.
- ``policy.loaded`` / ``policy.refused``: the manifest ``version`` and ``sha256``; for a refusal the
  ``error`` (the exception's message) and the version kept running.
- ``model.loaded`` / ``model.refused``: model ``name``, ``version``, ``sha256``; ``error`` on refusal.
- ``config.changed`` / ``config.refused``: who (``actor``, ``command_id``), which ``keys`` changed (or the
  ``error``); never secret values.
- ``command.received``: ``topic``, ``bytes``; just before its outcome (refusals past a rate limit: only counted).
- ``escalation.requested`` / ``.refused`` / ``.opened`` / ``.closed``: a break-glass message received (``actor``,
  ``kind``, ``request_id``, ``bytes``), why it was refused (``error``), who opened an escalation, who co-signed
  and for how long, and at its end what was sent (``messages``, ``people``, ``fields``, ``open_s``); no keypoint.
- ``update``: ``edge-gateway update``'s ``step`` (started/refused/completed/rolled_back), ``from``, ``to`` (audit_spool).
- ``feedback.marked`` / ``feedback.refused``: an actor's mark of an event it received (``actor``, the
  actor's ``event_id``, ``verdict``, ``reason``) or why one was refused (``actor``, ``error``).
- ``bundle.changed`` / ``bundle.refused``: a rollout bundle's ``action`` (installed, promoted, rolled_back,
  discarded), ``version``, who or which rule (``by``), and why; or why a bundle was refused.
- ``retention.deleted``: what on-device retention deleted (gateway/retention.py): for ``what`` audit, the
  ``segments``, how many ``records``, their ``first_seq``/``first_time`` and ``last_seq``/``last_time``; for
  ``what`` feedback, the ``rows`` received ``before`` the cutoff.
- ``log.recovered``: written by this module only, see above.
- ``log.continued``: written by this module only, first in each new segment: the ``previous`` segment's
  file name and its last record's seq (``previous_seq``).
- ``log.gap``: written by this module only: ``lost`` records could not be written (a full disk) between
  the previous record and this one, the first of them at ``since``.

A disk that refuses an append (full, failing) does not stop the gateway: the records are counted in
``lost``, logged once, and the next append that succeeds writes a ``log.gap`` record first.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from gateway.audit_files import (
    Tail,
    finish_rotation,
    fsync_dir,
    lock,
    next_segment,
    prune_segments,
    read_tail,
    segment_paths,
    start_segment,
    write_all,
)
from gateway.audit_record import (
    GENESIS,
    MAX_LINE,
    AuditLogBusy,
    AuditLogCorrupt,
    AuditLogError,
    AuditRecord,
    RecordInvalid,
    canonical,
    is_record,
    parse_record,
    record_hash,
    sha256_hex,
)
from gateway.config import AuditConfig
from gateway.messages import JsonValue, utc_iso, utc_now

log = logging.getLogger(__name__)

PUBLICATION: Final = "publication"
POLICY_LOADED: Final = "policy.loaded"
POLICY_REFUSED: Final = "policy.refused"
MODEL_LOADED: Final = "model.loaded"
MODEL_REFUSED: Final = "model.refused"
CONFIG_CHANGED: Final = "config.changed"
CONFIG_REFUSED: Final = "config.refused"
COMMAND_RECEIVED: Final = "command.received"
UPDATE: Final = "update"
LOG_RECOVERED: Final = "log.recovered"
LOG_GAP: Final = "log.gap"
LOG_CONTINUED: Final = "log.continued"
ESCALATION_REQUESTED: Final = "escalation.requested"
ESCALATION_REFUSED: Final = "escalation.refused"
ESCALATION_OPENED: Final = "escalation.opened"
ESCALATION_CLOSED: Final = "escalation.closed"
FEEDBACK_MARKED: Final = "feedback.marked"
FEEDBACK_REFUSED: Final = "feedback.refused"
BUNDLE_CHANGED: Final = "bundle.changed"
BUNDLE_REFUSED: Final = "bundle.refused"
RETENTION_DELETED: Final = "retention.deleted"
KINDS: Final = frozenset(
    {PUBLICATION, POLICY_LOADED, POLICY_REFUSED, MODEL_LOADED, MODEL_REFUSED, CONFIG_CHANGED, CONFIG_REFUSED}
    | {COMMAND_RECEIVED, UPDATE, LOG_RECOVERED, LOG_GAP, LOG_CONTINUED}
    | {ESCALATION_REQUESTED, ESCALATION_REFUSED, ESCALATION_OPENED, ESCALATION_CLOSED}
    | {FEEDBACK_MARKED, FEEDBACK_REFUSED, BUNDLE_CHANGED, BUNDLE_REFUSED, RETENTION_DELETED}
)
PUBLICATION_FIELDS: Final = frozenset({"actor", "topic", "event_id", "event_type"})
__all__ = [  # the record's own names live in audit_record; callers find them here
    "GENESIS",
    "AuditLog",
    "AuditLogBusy",
    "AuditLogCorrupt",
    "AuditLogError",
    "AuditRecord",
    "RecordInvalid",
    "canonical",
    "fsync_dir",
    "parse_record",
    "sha256_hex",
]


@dataclass(frozen=True, slots=True)
class Recovery:
    """Torn bytes found after the newest good record on reopen, and the record that notes them."""

    after_seq: int
    torn_bytes: int
    torn_sha256: str
    record: AuditRecord


def _check_detail(kind: str, detail: Mapping[str, JsonValue]) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown audit kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    if kind == PUBLICATION and set(detail) != PUBLICATION_FIELDS:
        raise ValueError(
            f"a publication record names exactly {sorted(PUBLICATION_FIELDS)} (never payload values), "
            f"not {sorted(detail)}"
        )


# --- writing ----------------------------------------------------------------------------------------


class AuditLog:
    """The writer: appends chained records, fsynced, from any thread; continues an existing file."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        write: Callable[[int, bytes], int] = os.write,
        bounds: AuditConfig | None = None,
    ) -> None:
        """Open or create ``path``; a torn tail is recovered (see the module docstring).

        Raises AuditLogBusy if another writer holds it, AuditLogCorrupt if its newest complete record
        does not verify. ``write`` is ``os.write`` (a seam: a disk that fails on demand). With
        ``bounds`` the log is kept in numbered segments of about ``segment_mb``, the newest
        ``keep_segments`` of them (without: one file that only grows).
        """
        self.path: Final = path
        self._clock = clock
        self._os_write = write
        self._bounds = bounds
        self.lost = 0  # records not written because the disk refused them since the last good append
        self._lost_since = ""
        self._torn_seen: tuple[int, bytes] | None = None
        self._rotate_failing = False
        self._lock = threading.Lock()
        try:
            self._lock_fd = lock(path)
        except BlockingIOError as exc:
            raise AuditLogBusy(f"{path} is already open for writing elsewhere") from exc
        self._fd = -1
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        path = self.path
        finish_rotation(path)
        older = segment_paths(path)
        if older and (not path.exists() or path.stat().st_size == 0):
            self._continue(older[-1], retire=None)  # the current segment went missing: start one
        created = not path.exists()
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        if created:
            fsync_dir(path.parent)
        self._seq = 0
        self._head = GENESIS
        self._dirty = True
        self.recovery: Recovery | None = None  # set when torn bytes were found (at open or later)
        self._resume()

    @property
    def head(self) -> str:
        """The sha256 of the newest record's line (GENESIS when empty): the chain head to anchor."""
        return self._head

    @property
    def seq(self) -> int:
        """The newest record's seq (0 when empty)."""
        return self._seq

    def append(self, kind: str, detail: Mapping[str, JsonValue]) -> AuditRecord | None:
        """One record, fsynced; ValueError for a bad kind or detail; None if the disk refused it (``lost``)."""
        records = self.append_many(kind, [detail])
        return records[0] if records else None

    def append_many(self, kind: str, details: Sequence[Mapping[str, JsonValue]]) -> list[AuditRecord]:
        """Write one chained record per detail with a single fsync (a batch of publications); [] if
        the disk refused them (OSError, never raised): they are counted in ``lost``."""
        for detail in details:
            _check_detail(kind, detail)
        if not details:
            return []
        with self._lock:
            if self._fd < 0:
                raise ValueError(f"{self.path}: append to a closed audit log")
            try:
                if self._dirty:
                    self._resume()
                if self.lost:
                    self._write(LOG_GAP, [{"lost": self.lost, "since": self._lost_since}])
                    log.warning(
                        "audit log %s: writable again after %d records were lost", self.path, self.lost
                    )
                    self.lost = 0
                return self._write(kind, details)
            except OSError as exc:
                if not self.lost:
                    self._lost_since = utc_iso(self._clock())
                    log.error("audit log %s: cannot append (%s); counting the records lost", self.path, exc)
                self.lost += len(details)
                return []

    def close(self) -> None:
        """Release the file; appending afterwards is an error."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            if self._lock_fd >= 0:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _build(self, kind: str, detail: Mapping[str, JsonValue], seq: int, prev: str) -> AuditRecord:
        # Round-trip the detail: the record holds exactly what the file holds, not the caller's objects.
        frozen = json.loads(canonical(detail))
        draft = AuditRecord(seq, utc_iso(self._clock()), kind, frozen, prev, "")
        record = AuditRecord(draft.seq, draft.time, kind, frozen, draft.prev, record_hash(draft))
        if len(record.line) > MAX_LINE:
            raise ValueError(f"audit record of {len(record.line)} bytes exceeds {MAX_LINE}: detail too large")
        return record

    def _write(
        self, kind: str, details: Sequence[Mapping[str, JsonValue]], prefix: bytes = b""
    ) -> list[AuditRecord]:
        records, seq, head = [], self._seq, self._head
        for detail in details:
            record = self._build(kind, detail, seq + 1, head)
            records.append(record)
            seq, head = record.seq, sha256_hex(record.line)
        # Until the bytes are down and synced, a failure leaves an unknown tail: re-read it next time.
        self._dirty = True
        write_all(self._fd, prefix + b"".join(r.line + b"\n" for r in records), self._os_write)
        os.fsync(self._fd)
        self._dirty = False
        self._seq, self._head = seq, head
        if self._bounds is not None and os.fstat(self._fd).st_size >= self._bounds.segment_mb * 1e6:
            self._rotate(self._bounds.keep_segments)
        return records

    def _rotate(self, keep: int) -> None:
        """Start a new segment whose first record continues this one; drop the oldest past `keep`.
        A failure (a full disk) keeps this segment growing, said once, tried again next append."""
        try:
            older = next_segment(self.path)
            self._start(older.name, self._seq, self._head, retire=older)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
            os.close(self._fd)
            self._fd = fd
            for gone in prune_segments(self.path, keep - 1):
                log.info(
                    "audit log %s: oldest segment %s removed (keep_segments %d)", self.path, gone.name, keep
                )
        except OSError as exc:
            if not self._rotate_failing:
                log.error("audit log %s: cannot start a new segment (%s); this one grows", self.path, exc)
            self._rotate_failing = True
            return
        self._rotate_failing = False

    def _continue(self, segment: Path, retire: Path | None) -> None:
        fd = os.open(segment, os.O_RDONLY | os.O_CLOEXEC)
        try:
            tail = read_tail(fd, segment)
        finally:
            os.close(fd)
        self._start(segment.name, tail.seq, tail.head, retire)

    def _start(self, previous: str, seq: int, head: str, retire: Path | None) -> None:
        """A new segment whose first record names the one before it and chains to its last record."""
        detail: dict[str, JsonValue] = {"previous": previous, "previous_seq": seq}
        record = self._build(LOG_CONTINUED, detail, seq + 1, head)
        start_segment(self.path, record.line + b"\n", retire)
        self._seq, self._head = record.seq, sha256_hex(record.line)

    def _resume(self) -> None:
        tail = read_tail(self._fd, self.path)
        if is_record(tail.torn.rpartition(b"\n")[2]):
            # The whole record reached the disk, only its newline did not: complete it, nothing is lost.
            log.warning("audit log %s: newest record lacked its newline; completed", self.path)
            write_all(self._fd, b"\n", self._os_write)
            os.fsync(self._fd)
            tail = read_tail(self._fd, self.path)
        self._seq, self._head = tail.seq, tail.head
        self._dirty = False
        if tail.torn:
            self._recover(tail)

    def _recover(self, tail: Tail) -> None:
        # The torn bytes stay; a newline ends them, and the record names their length and hash.
        prefix = b"" if tail.torn.endswith(b"\n") else b"\n"
        torn = tail.torn + prefix
        if self._torn_seen != (tail.seq, tail.torn):  # retried while the disk is full: warned once
            self._torn_seen = (tail.seq, tail.torn)
            log.warning(
                "audit log %s: %d torn bytes after seq %d (a crash during an append?); kept in place and "
                "noted by a log.recovered record",
                self.path,
                len(tail.torn),
                tail.seq,
            )
        detail: dict[str, JsonValue] = {
            "after_seq": tail.seq,
            "torn_bytes": len(torn),
            "torn_sha256": sha256_hex(torn),
        }
        (record,) = self._write(LOG_RECOVERED, [detail], prefix)
        self.recovery = Recovery(tail.seq, len(torn), sha256_hex(torn), record)
