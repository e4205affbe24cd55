"""The audit log stays bounded: numbered segments, each continuing the chain of the one before.

Scenario: a gateway appends for years. Past `segment_mb` the log moves to `audit.NNNNNN.jsonl` and a
new one starts with a `log.continued` record chained to the last line before it; only the newest
`keep_segments` files stay. What is kept verifies from its oldest record on; a removed, edited or
reordered segment breaks the chain where it happened; a crash in the middle of starting a segment
is finished on the next open; a second writer is still refused across segments. Real files.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from gateway.audit import LOG_CONTINUED, PUBLICATION, AuditLog, AuditLogBusy, parse_record, sha256_hex
from gateway.audit_chain import verify_chain
from gateway.audit_files import segment_paths
from gateway.config import AuditConfig
from tests.unit.core.test_audit import publication

# About 330 bytes a record: a 2 kB segment holds six or seven.
SMALL = AuditConfig(segment_mb=0.002, keep_segments=3)


def append(path: Path, first: int, count: int, bounds: AuditConfig = SMALL) -> None:
    with AuditLog(path, bounds=bounds) as log:
        for n in range(first, first + count):
            log.append(PUBLICATION, publication(n))


def first_record(path: Path) -> dict[str, object]:
    record = parse_record(path.read_bytes().splitlines()[0])
    return {"seq": record.seq, "kind": record.kind, "prev": record.prev, **record.detail}


def test_segments_are_bounded_and_what_is_kept_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    append(path, 1, 40)
    older = segment_paths(path)
    assert len(older) == SMALL.keep_segments - 1, "the oldest segments are removed"
    numbers = [int(p.name.split(".")[1]) for p in older]
    assert numbers == list(range(numbers[0], numbers[0] + len(older))) and numbers[0] > 1
    assert all(p.stat().st_size < 2000 + 700 for p in [*older, path])
    report = verify_chain(path)
    assert report.intact, report.reason
    assert report.segments == SMALL.keep_segments
    assert report.first_seq > 1  # the chain is verified from the oldest record kept
    last = parse_record(path.read_bytes().splitlines()[-1])
    assert report.records_ok == last.seq - report.first_seq + 1
    assert report.head == sha256_hex(path.read_bytes().splitlines()[-1])


def test_each_segment_begins_by_continuing_the_one_before(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    append(path, 1, 20, AuditConfig(segment_mb=0.002, keep_segments=100))
    files = [*segment_paths(path), path]
    assert first_record(files[0])["seq"] == 1
    for before, after in itertools.pairwise(files):
        last = before.read_bytes().splitlines()[-1]
        start = first_record(after)
        assert start["kind"] == LOG_CONTINUED
        assert start["previous"] == before.name
        assert start["previous_seq"] == parse_record(last).seq
        assert start["prev"] == sha256_hex(last)
        assert start["seq"] == parse_record(last).seq + 1


def test_reopening_continues_in_the_current_segment(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    append(path, 1, 10)
    append(path, 11, 10)
    report = verify_chain(path)
    assert report.intact, report.reason
    events = [
        parse_record(line).detail.get("event_id")
        for f in [*segment_paths(path), path]
        for line in f.read_bytes().splitlines()
    ]
    assert events[-1] == "E20"


@pytest.mark.parametrize("tamper", ["remove a middle segment", "swap two segments", "edit a continuation"])
def test_a_changed_segment_breaks_the_chain_there(tmp_path: Path, tamper: str) -> None:
    path = tmp_path / "audit.jsonl"
    append(path, 1, 30, AuditConfig(segment_mb=0.002, keep_segments=100))
    files = segment_paths(path)
    if tamper == "remove a middle segment":
        files[2].unlink()
    elif tamper == "swap two segments":
        one, two = files[1].read_bytes(), files[2].read_bytes()
        files[1].write_bytes(two)
        files[2].write_bytes(one)
    else:
        lines = files[2].read_bytes().splitlines(keepends=True)
        files[2].write_bytes(lines[0].replace(b'"previous_seq":', b'"previous_seq":1') + b"".join(lines[1:]))
    report = verify_chain(path)
    assert not report.intact
    assert report.path in files[1:4]


BIG = AuditConfig(segment_mb=0.002, keep_segments=10)


def rotated_once(path: Path) -> tuple[bytes, bytes]:
    """A log that has started its second segment: (first line of the current segment, the rest)."""
    append(path, 1, 8, BIG)
    assert len(segment_paths(path)) == 1
    current = path.read_bytes()
    start = current.splitlines(keepends=True)[0]
    assert parse_record(start.rstrip(b"\n")).kind == LOG_CONTINUED
    return start, current[len(start) :]


def test_a_crash_before_the_renames_leaves_a_stale_start_that_is_discarded(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    start, _ = rotated_once(path)
    pending = path.with_name("audit.jsonl.next")
    pending.write_bytes(start[:40])  # written, maybe not even synced, when the power went
    append(path, 100, 1, BIG)
    assert not pending.exists()
    report = verify_chain(path)
    assert report.intact and report.segments == 2


def test_a_crash_between_the_renames_is_finished_on_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    start, _ = rotated_once(path)
    path.unlink()  # the old segment has its number; the new one, synced, waits under its temporary name
    path.with_name("audit.jsonl.next").write_bytes(start)
    append(path, 100, 1, BIG)
    assert path.read_bytes().startswith(start)
    report = verify_chain(path)
    assert report.intact and report.segments == 2


def test_a_lost_current_segment_is_started_again_from_the_newest_kept(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    start, _ = rotated_once(path)
    path.unlink()  # gone (by hand): what it held is lost, the chain goes on from what is kept
    append(path, 100, 1, BIG)
    again, before = first_record(path), parse_record(start.rstrip(b"\n"))
    assert (again["seq"], again["prev"], again["previous"]) == (before.seq, before.prev, "audit.000001.jsonl")
    assert verify_chain(path).intact


def test_one_writer_across_segments(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, bounds=SMALL) as log:
        for n in range(20):
            log.append(PUBLICATION, publication(n))
        with pytest.raises(AuditLogBusy):
            AuditLog(path)
    AuditLog(path).close()


def test_a_segment_that_cannot_start_keeps_the_current_one_growing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.jsonl"
    blocker = path.with_name("audit.jsonl.next")
    with AuditLog(path, bounds=SMALL) as log:
        blocker.mkdir()  # the new segment cannot be written: like a full disk, the current one grows
        for n in range(15):
            assert log.append(PUBLICATION, publication(n)) is not None
        assert log.lost == 0
        blocker.rmdir()
        log.append(PUBLICATION, publication(99))
    assert len([r for r in caplog.records if "cannot start a new segment" in r.getMessage()]) == 1
    assert verify_chain(path).intact
    assert segment_paths(path)
    assert path.stat().st_size < 2000
