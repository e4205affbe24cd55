"""Verifying an audit log's hash chain (gateway/audit.py writes it): where, if anywhere, it breaks.

A log kept in segments is walked oldest segment first. The oldest one kept may begin with a
`log.continued` record (its predecessors were removed): the chain is verified from there, and the
report says where it starts. Every later segment must begin with the `log.continued` record that
names the segment before it and chains to its last line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from gateway.audit import (
    GENESIS,
    LOG_CONTINUED,
    LOG_RECOVERED,
    AuditRecord,
    RecordInvalid,
    parse_record,
    sha256_hex,
)
from gateway.audit_files import segment_paths


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What ``verify_chain`` found: ``records_ok`` verified before ``first_broken_seq`` (None if intact)."""

    path: Path
    records_ok: int
    first_broken_seq: int | None = None
    line: int | None = None  # 1-based line number of the first bad line
    reason: str = ""
    head: str = GENESIS  # sha256 of the newest verified line
    recovered: int = 0  # torn spans accounted for by log.recovered records
    torn_tail: bool = False  # the file ends in a torn, not yet recovered write
    first_seq: int = 1  # the oldest record kept (older segments removed: where verification starts)
    segments: int = 1  # files walked

    @property
    def intact(self) -> bool:
        """True when no record was changed, removed, reordered or inserted."""
        return self.first_broken_seq is None


class _Walker:
    """The state of one pass over a log, line by line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seq = 0
        self.head = GENESIS
        self.ok = 0
        self.recovered = 0
        self.junk = hashlib.sha256()
        self.junk_bytes = 0
        self.junk_line = 0
        self.junk_reason = ""
        self.first_seq = 1
        self.segments = 0
        self.previous: str | None = None  # the segment before this file; None: this is the oldest kept
        self.at_start = True  # no record of this file seen yet

    def feed(self, number: int, raw: bytes) -> ChainReport | None:
        """Check one line (with its newline, if any); a report if the chain breaks here."""
        line = raw.removesuffix(b"\n")
        try:
            record = parse_record(line)
        except RecordInvalid as exc:
            # Possibly torn bytes: fine only if a log.recovered record accounts for them next.
            if not self.junk_bytes:
                self.junk_line, self.junk_reason = number, str(exc)
            self.junk.update(raw)
            self.junk_bytes += len(raw)
            return None
        if self.junk_bytes:
            if not self._accounts_for_junk(record):
                return self.broken(self.junk_line, self.junk_reason)
            self.recovered += 1
            self.junk, self.junk_bytes, self.junk_line, self.junk_reason = hashlib.sha256(), 0, 0, ""
        if self.at_start:
            self.at_start = False
            reason = self._start(record)
            if reason:
                return self.broken(number, reason)
        if record.seq != self.seq + 1:
            return self.broken(number, f"seq {record.seq} where {self.seq + 1} was expected")
        if record.prev != self.head:
            return self.broken(number, "prev is not the hash of the previous line")
        self.seq, self.head, self.ok = record.seq, sha256_hex(line), self.ok + 1
        return None

    def begin(self, path: Path) -> None:
        """The next file: its first record must continue the one walked before (if any)."""
        if self.segments:
            self.previous = self.path.name
        self.path, self.at_start, self.segments = path, True, self.segments + 1

    def _start(self, record: AuditRecord) -> str:
        """Check a file's first record; why it cannot start here, or ""."""
        continued = record.kind == LOG_CONTINUED
        if self.previous is None:
            if continued and self.seq == 0:  # the oldest kept segment: the chain is verified from here
                self.seq, self.head, self.first_seq = record.seq - 1, record.prev, record.seq
            return ""
        if not continued or record.detail.get("previous") != self.previous:
            return f"{self.path.name} does not begin by continuing {self.previous}"
        return ""

    def _accounts_for_junk(self, record: AuditRecord) -> bool:
        detail = record.detail
        return (
            record.kind == LOG_RECOVERED
            and detail.get("torn_bytes") == self.junk_bytes
            and detail.get("torn_sha256") == self.junk.hexdigest()
        )

    def broken(self, number: int, reason: str) -> ChainReport:
        """The report for a chain broken at line ``number``."""
        return ChainReport(
            self.path,
            self.ok,
            self.seq + 1,
            number,
            reason,
            self.head,
            self.recovered,
            first_seq=self.first_seq,
            segments=self.segments,
        )

    def finish(self, torn_tail: bool) -> ChainReport:
        """The report at the end of the file; ``torn_tail`` if its last line has no newline."""
        if self.junk_bytes and not torn_tail:
            return self.broken(self.junk_line, self.junk_reason)
        return ChainReport(
            self.path,
            self.ok,
            head=self.head,
            recovered=self.recovered,
            torn_tail=torn_tail,
            first_seq=self.first_seq,
            segments=self.segments,
        )


def verify_chain(path: Path) -> ChainReport:
    """Walk the whole log (its older segments kept beside it first) and report the first record that
    was changed, removed, reordered or inserted."""
    walker = _Walker(path)
    torn_tail = False
    for file in [*segment_paths(path), path]:
        if torn_tail:  # only the newest segment may end torn
            return walker.broken(0, f"{walker.path.name} ends torn")
        walker.begin(file)
        with file.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                report = walker.feed(number, raw)
                if report is not None:
                    return report
                torn_tail = not raw.endswith(b"\n")
    return walker.finish(torn_tail)
