"""The audit log's files: whole writes, synced directories, the tail read back on reopen, the lock,
and the numbered segments that keep it bounded."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gateway.audit_record import GENESIS, MAX_LINE, AuditLogCorrupt, RecordInvalid, parse_record, sha256_hex

# Reopening reads at most this much of the tail: a torn record, our recovery record, and the head.
_TAIL_WINDOW: Final = 4 * (MAX_LINE + 1)


def write_all(fd: int, data: bytes, write: Callable[[int, bytes], int] = os.write) -> None:
    view = memoryview(data)
    while view:
        written = write(fd, bytes(view))
        view = view[written:]


def fsync_dir(directory: Path) -> None:
    # The new file's directory entry must survive a power cut too, not just its content.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Tail:
    seq: int
    head: str
    torn: bytes  # everything after the newest good record's newline


def read_tail(fd: int, path: Path) -> Tail:
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
        return Tail(record.seq, sha256_hex(chunk[begin : end - 1]), chunk[end:])
    if start > 0:
        raise AuditLogCorrupt(f"{path}: no verifiable record in the last {_TAIL_WINDOW} bytes")
    return Tail(0, GENESIS, chunk)


# --- segments ---------------------------------------------------------------------------------------
# `audit.jsonl` is the segment being written; `audit.000001.jsonl`, `audit.000002.jsonl`, ... are the
# older ones, numbered oldest first. A new segment is built beside the log as `audit.jsonl.next`
# (its first record already in it, synced), then two renames put it in place: a crash leaves either
# the old log and a stale `.next`, or a numbered segment and a complete `.next`, never a torn start.


def _numbered(active: Path) -> list[tuple[int, Path]]:
    stem, suffix = active.stem, active.suffix
    found = []
    for path in active.parent.glob(f"{stem}.*{suffix}"):
        number = path.name[len(stem) + 1 : len(path.name) - len(suffix)]
        if len(number) == 6 and number.isdigit():
            found.append((int(number), path))
    return sorted(found)


def segment_paths(active: Path) -> list[Path]:
    """The older segments of the log `active`, oldest first."""
    return [path for _, path in _numbered(active)]


def next_segment(active: Path) -> Path:
    """The name the current segment gets when a new one starts."""
    older = _numbered(active)
    number = older[-1][0] + 1 if older else 1
    return active.with_name(f"{active.stem}.{number:06d}{active.suffix}")


def _pending(active: Path) -> Path:
    return active.with_name(active.name + ".next")


def finish_rotation(active: Path) -> None:
    """Complete a new segment a crash left half in place, or discard one that never was."""
    pending = _pending(active)
    if not pending.exists():
        return
    if active.exists():
        pending.unlink()  # the log was never renamed: this start is stale, the next append retries
    else:
        pending.rename(active)
    fsync_dir(active.parent)


def start_segment(active: Path, first: bytes, retire: Path | None) -> None:
    """Put a new segment beginning with the line `first` in place of `active`, which (if it exists)
    becomes `retire`. On failure the old log stays the current one."""
    pending = _pending(active)
    fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
    try:
        write_all(fd, first)
        os.fsync(fd)
    finally:
        os.close(fd)
    if retire is not None:
        try:
            active.rename(retire)
        except OSError:
            pending.unlink()
            raise
    try:
        pending.rename(active)
    except OSError:
        if retire is not None:
            retire.rename(active)
        raise
    fsync_dir(active.parent)


def prune_segments(active: Path, keep: int) -> list[Path]:
    """Remove the oldest segments beyond the newest `keep`: the ones removed."""
    older = segment_paths(active)
    gone = older[: max(0, len(older) - keep)]
    for path in gone:
        path.unlink()
    if gone:
        fsync_dir(active.parent)
    return gone


def lock(active: Path) -> int:
    """An exclusive lock on `<log>.lock` (one writer per log, across its segments): its fd, or
    BlockingIOError if another writer holds it."""
    fd = os.open(active.with_name(active.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise
    return fd
