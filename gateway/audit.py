"""Append-only, hash-chained audit log: what was sent to which actor, and every policy, model and config change.

One JSON object per line (JSON Lines), written as canonical JSON (sorted keys, compact separators,
ASCII) and fsynced before ``append`` returns::

    {"detail":{...},"hash":"<hex>","kind":"publication","prev":"<hex>","seq":1,"time":"2026-11-27T18:04:05.123Z"}

- ``seq`` counts from 1; ``prev`` is the sha256 of the previous record's line (without its newline), 64
  zeros for the first; ``hash`` is the sha256 of the canonical JSON of the record without ``hash``.
  Editing, deleting, reordering or inserting a line therefore breaks the chain at that seq, and
  ``audit_chain.verify_chain`` names it. Truncating the newest records cannot be seen from the file alone: anchor the
  head (``AuditLog.head``) somewhere else, e.g. in a periodic signed status, to detect that too.
- The file only ever grows. Bytes torn by a crash during an append stay where they are; on reopen they are
  logged as a warning and accounted for by a ``log.recovered`` record (their length and sha256), which
  ``audit_chain.verify_chain`` accepts in place of nothing at all. The log can therefore live under ``chattr +a``.
- One writer per file: ``AuditLog`` takes an exclusive ``flock`` and raises ``AuditLogBusy`` otherwise.

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
- ``log.recovered``: written by this module only, see above.
- ``log.gap``: written by this module only: ``lost`` records could not be written (a full disk) between
  the previous record and this one, the first of them at ``since``.

A disk that refuses an append (full, failing) does not stop the gateway: the records are counted in
``lost``, logged once, and the next append that succeeds writes a ``log.gap`` record first.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Self

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
ESCALATION_REQUESTED: Final = "escalation.requested"
ESCALATION_REFUSED: Final = "escalation.refused"
ESCALATION_OPENED: Final = "escalation.opened"
ESCALATION_CLOSED: Final = "escalation.closed"
FEEDBACK_MARKED: Final = "feedback.marked"
FEEDBACK_REFUSED: Final = "feedback.refused"
BUNDLE_CHANGED: Final = "bundle.changed"
BUNDLE_REFUSED: Final = "bundle.refused"
KINDS: Final = frozenset(
    {PUBLICATION, POLICY_LOADED, POLICY_REFUSED, MODEL_LOADED, MODEL_REFUSED, CONFIG_CHANGED, CONFIG_REFUSED}
    | {COMMAND_RECEIVED, UPDATE, LOG_RECOVERED, LOG_GAP}
    | {ESCALATION_REQUESTED, ESCALATION_REFUSED, ESCALATION_OPENED, ESCALATION_CLOSED}
    | {FEEDBACK_MARKED, FEEDBACK_REFUSED, BUNDLE_CHANGED, BUNDLE_REFUSED}
)
PUBLICATION_FIELDS: Final = frozenset({"actor", "topic", "event_id", "event_type"})

GENESIS: Final = "0" * 64
MAX_LINE: Final = 64 * 1024  # one record; bounds what reopening has to read back
_ORDER: Final = ("seq", "time", "kind", "detail", "prev", "hash")
_FIELDS: Final = frozenset(_ORDER)
# Reopening reads at most this much of the tail: a torn record, our recovery record, and the head.
_TAIL_WINDOW: Final = 4 * (MAX_LINE + 1)


class AuditLogError(Exception):
    """The audit log cannot be continued as it is found."""


class RecordInvalid(ValueError):
    """A line is not a well-formed record whose hash matches its content."""


class AuditLogBusy(AuditLogError):
    """Another writer (process or object) holds the log."""


class AuditLogCorrupt(AuditLogError):
    """The newest complete record does not verify: history was changed, not torn. Run verify_chain."""


def canonical(value: Mapping[str, object]) -> bytes:
    """Canonical JSON bytes: sorted keys, compact separators, ASCII, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode()


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One record, as written; ``line`` is its exact bytes in the file (without the newline)."""

    seq: int
    time: str
    kind: str
    detail: Mapping[str, JsonValue]
    prev: str
    hash: str

    @property
    def line(self) -> bytes:
        """The canonical line, whose sha256 is the next record's ``prev``."""
        return canonical(asdict(self))


@dataclass(frozen=True, slots=True)
class Recovery:
    """Torn bytes found after the newest good record on reopen, and the record that notes them."""

    after_seq: int
    torn_bytes: int
    torn_sha256: str
    record: AuditRecord


def parse_record(line: bytes) -> AuditRecord:
    """The record on ``line`` if it is canonical and its ``hash`` matches; RecordInvalid saying why not."""
    try:
        data = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RecordInvalid(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or set(data) != _FIELDS:
        raise RecordInvalid(f"fields must be exactly {sorted(_FIELDS)}")
    seq, time, kind, detail, prev, digest = (data[k] for k in _ORDER)
    if not (isinstance(seq, int) and isinstance(detail, dict) and isinstance(prev, str)):
        raise RecordInvalid("seq, detail or prev has the wrong type")
    if not (isinstance(time, str) and isinstance(kind, str) and isinstance(digest, str)):
        raise RecordInvalid("time, kind or hash has the wrong type")
    record = AuditRecord(seq=seq, time=time, kind=kind, detail=detail, prev=prev, hash=digest)
    if record.line != line:
        raise RecordInvalid("not in canonical form (edited by hand?)")
    if record_hash(record) != digest:
        raise RecordInvalid("hash does not match the record's content")
    return record


def record_hash(record: AuditRecord) -> str:
    body = asdict(record)
    del body["hash"]
    return sha256_hex(canonical(body))


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
    ) -> None:
        """Open or create ``path``; a torn tail is recovered (see the module docstring).

        Raises AuditLogBusy if another writer holds it, AuditLogCorrupt if its newest complete record
        does not verify. ``write`` is ``os.write`` (a seam: a disk that fails on demand).
        """
        self.path: Final = path
        self._clock = clock
        self._os_write = write
        self.lost = 0  # records not written because the disk refused them since the last good append
        self._lost_since = ""
        self._torn_seen: tuple[int, bytes] | None = None
        self._lock = threading.Lock()
        created = not path.exists()
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._fd)
            raise AuditLogBusy(f"{path} is already open for writing elsewhere") from exc
        if created:
            fsync_dir(path.parent)
        self._seq = 0
        self._head = GENESIS
        self._dirty = True
        self.recovery: Recovery | None = None  # set when torn bytes were found (at open or later)
        try:
            self._resume()
        except BaseException:
            self.close()
            raise

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
                os.close(self._fd)  # also releases the flock
                self._fd = -1

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
        _write_all(self._fd, prefix + b"".join(r.line + b"\n" for r in records), self._os_write)
        os.fsync(self._fd)
        self._dirty = False
        self._seq, self._head = seq, head
        return records

    def _resume(self) -> None:
        tail = _read_tail(self._fd, self.path)
        if _is_record(tail.torn.rpartition(b"\n")[2]):
            # The whole record reached the disk, only its newline did not: complete it, nothing is lost.
            log.warning("audit log %s: newest record lacked its newline; completed", self.path)
            _write_all(self._fd, b"\n", self._os_write)
            os.fsync(self._fd)
            tail = _read_tail(self._fd, self.path)
        self._seq, self._head = tail.seq, tail.head
        self._dirty = False
        if tail.torn:
            self._recover(tail)

    def _recover(self, tail: _Tail) -> None:
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


def _is_record(line: bytes) -> bool:
    try:
        parse_record(line)
    except RecordInvalid:
        return False
    return True


def _write_all(fd: int, data: bytes, write: Callable[[int, bytes], int] = os.write) -> None:
    view = memoryview(data)
    while view:
        written = write(fd, bytes(view))
        view = view[written:]


def fsync_dir(directory: Path) -> None:
    """fsync a directory: a new entry in it survives a power cut too, not just the file's content."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class _Tail:
    seq: int
    head: str
    torn: bytes  # everything after the newest good record's newline


def _read_tail(fd: int, path: Path) -> _Tail:
    """The newest good record and any torn bytes after it, from the end of the file."""
    size = os.fstat(fd).st_size
    start = max(0, size - _TAIL_WINDOW)
    chunk = os.pread(fd, size - start, start)
    torn_from = chunk.rfind(b"\n") + 1  # == len(chunk) when the file ends with a newline
    # Torn bytes may span complete lines (a recovery torn in its turn), but only if the file ends torn:
    # a complete newest line that fails is an edit, not a crash, and is never papered over.
    end = torn_from
    while end > 0:
        begin = chunk.rfind(b"\n", 0, end - 1) + 1
        if begin == 0 and start > 0:
            break
        try:
            record = parse_record(chunk[begin : end - 1])
        except RecordInvalid as exc:
            if torn_from == len(chunk):
                raise AuditLogCorrupt(f"{path}: newest record does not verify: {exc}") from exc
            end = begin
            continue
        return _Tail(record.seq, sha256_hex(chunk[begin : end - 1]), chunk[end:])
    if start > 0:
        raise AuditLogCorrupt(f"{path}: no verifiable record in the last {_TAIL_WINDOW} bytes")
    return _Tail(0, GENESIS, chunk)
