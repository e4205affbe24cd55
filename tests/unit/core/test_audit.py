"""The audit log: a chain that verifies, breaks exactly where history was changed, and survives crashes."""

from __future__ import annotations

import errno
import json
import logging
import os
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.audit import (
    COMMAND_RECEIVED,
    CONFIG_CHANGED,
    GENESIS,
    LOG_GAP,
    LOG_RECOVERED,
    POLICY_LOADED,
    PUBLICATION,
    AuditLog,
    AuditLogBusy,
    AuditLogCorrupt,
    canonical,
    parse_record,
    sha256_hex,
)
from gateway.audit_chain import verify_chain
from gateway.messages import JsonValue


def publication(n: int) -> dict[str, JsonValue]:
    return {
        "actor": "brandweer",
        "topic": f"city/v1/brandweer/s/gw/events/t{n}",
        "event_id": f"E{n}",
        "event_type": "t",
    }


def written(path: Path, count: int) -> list[bytes]:
    """A log of ``count`` publication records at ``path``; returns its lines (with newlines)."""
    with AuditLog(path) as log:
        for n in range(1, count + 1):
            log.append(PUBLICATION, publication(n))
    return path.read_bytes().splitlines(keepends=True)


def test_chain_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        first = log.append(POLICY_LOADED, {"version": "2026.11.1", "sha256": "ab" * 32})
        second = log.append(PUBLICATION, publication(1))
        assert (first.seq, first.prev) == (1, GENESIS)
        assert second.prev == sha256_hex(first.line) == sha256_hex(path.read_bytes().splitlines()[0])
        head = log.head
    report = verify_chain(path)
    assert report.intact
    assert (report.records_ok, report.head, report.torn_tail) == (2, head, False)
    assert parse_record(path.read_bytes().splitlines()[1]) == second
    assert second.time.endswith("Z")


def test_a_batch_is_chained_like_single_appends(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.append(POLICY_LOADED, {"version": "2026.11.1", "sha256": "ab" * 32})
        batch = log.append_many(PUBLICATION, [publication(n) for n in range(1, 4)])
        assert [r.seq for r in batch] == [2, 3, 4]
        assert log.head == sha256_hex(batch[-1].line)
        with pytest.raises(ValueError):  # one bad detail refuses the whole batch, nothing written
            log.append_many(PUBLICATION, [publication(5), {"payload": "x"}])
        last = log.append(PUBLICATION, publication(5))
    assert last.seq == 5 and last.prev == sha256_hex(batch[-1].line)
    report = verify_chain(path)
    assert report.intact and report.records_ok == 5


def test_edited_line_breaks_at_its_seq(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = written(path, 6)
    lines[3] = lines[3].replace(b"brandweer", b"politie")
    path.write_bytes(b"".join(lines))
    report = verify_chain(path)
    assert (report.first_broken_seq, report.line, report.records_ok) == (4, 4, 3)
    assert "hash" in report.reason


def test_edit_with_recomputed_hash_breaks_at_the_next_seq(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = written(path, 6)
    record = json.loads(lines[3])
    record["detail"]["actor"] = "politie"
    del record["hash"]
    record["hash"] = sha256_hex(canonical(record))
    lines[3] = canonical(record) + b"\n"
    path.write_bytes(b"".join(lines))
    report = verify_chain(path)
    assert (report.first_broken_seq, report.records_ok) == (5, 4)
    assert "prev" in report.reason


def test_reformatted_line_is_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = written(path, 3)
    lines[1] = json.dumps(json.loads(lines[1]), indent=None).encode() + b"\n"
    path.write_bytes(b"".join(lines))
    assert verify_chain(path).first_broken_seq == 2


@pytest.mark.parametrize(
    ("change", "broken"),
    [
        (lambda ls: ls[:2] + ls[3:], 3),  # deleted
        (lambda ls: [*ls[:2], ls[3], ls[2], *ls[4:]], 3),  # reordered
        (lambda ls: [*ls[:2], ls[0], *ls[2:]], 3),  # inserted (a replayed record)
        (lambda ls: ls[1:], 1),  # first record deleted
        (lambda ls: [*ls[:-1], ls[-1], ls[-1]], 7),  # last record duplicated
    ],
)
def test_removed_moved_or_added_line(tmp_path: Path, change: object, broken: int) -> None:
    path = tmp_path / "audit.jsonl"
    lines = written(path, 6)
    assert callable(change)
    path.write_bytes(b"".join(change(lines)))
    report = verify_chain(path)
    assert report.first_broken_seq == broken
    assert report.records_ok == broken - 1


def test_reopen_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    written(path, 3)
    with AuditLog(path) as log:
        assert log.seq == 3
        record = log.append(
            CONFIG_CHANGED, {"actor": "gemeente", "command_id": "c1", "keys": ["air.window_s"]}
        )
    assert record.seq == 4
    report = verify_chain(path)
    assert (report.intact, report.records_ok, report.recovered) == (True, 4, 0)


def test_torn_last_line_is_reported_and_recovered(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "audit.jsonl"
    lines = written(path, 3)
    torn = lines[2][:40]  # a crash in the middle of writing record 4
    with path.open("ab") as handle:
        handle.write(torn)
    before = verify_chain(path)
    assert (before.intact, before.torn_tail, before.records_ok) == (True, True, 3)

    with caplog.at_level(logging.WARNING, logger="gateway.audit"), AuditLog(path) as log:
        assert log.recovery is not None
        assert (log.recovery.after_seq, log.recovery.torn_bytes) == (3, len(torn) + 1)
        assert log.recovery.record.kind == LOG_RECOVERED
        assert log.recovery.record.seq == 4
        log.append(
            COMMAND_RECEIVED, {"actor": "gemeente", "command_id": "c2", "command": "set", "topic": "t"}
        )
    assert "torn bytes after seq 3" in caplog.text
    assert torn + b"\n" in path.read_bytes()  # never rewritten: the torn bytes stay
    report = verify_chain(path)
    assert (report.intact, report.records_ok, report.recovered, report.torn_tail) == (True, 5, 1, False)


def test_a_torn_recovery_is_recovered_again(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = written(path, 2)
    with path.open("ab") as handle:
        handle.write(lines[1][:30] + b"\n" + lines[0][:25])  # torn, then the recovery torn too
    with AuditLog(path) as log:
        assert log.recovery is not None
        assert log.recovery.after_seq == 2
    report = verify_chain(path)
    assert (report.intact, report.records_ok, report.recovered) == (True, 3, 1)


def test_record_missing_only_its_newline_is_completed(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    written(path, 2)
    path.write_bytes(path.read_bytes()[:-1])
    with AuditLog(path) as log:
        assert (log.recovery, log.seq) == (None, 2)
        log.append(PUBLICATION, publication(3))
    assert verify_chain(path).records_ok == 3


def test_edited_newest_record_is_not_papered_over(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = written(path, 3)
    path.write_bytes(b"".join([*lines[:2], lines[2].replace(b"E3", b"E9")]))
    with pytest.raises(AuditLogCorrupt, match="newest record"):
        AuditLog(path)
    assert verify_chain(path).first_broken_seq == 3


def test_one_writer_only(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path), pytest.raises(AuditLogBusy):
        AuditLog(path)
    with AuditLog(path) as log:
        log.close()
        with pytest.raises(ValueError, match="closed"):
            log.append(PUBLICATION, publication(1))


def test_unknown_kinds_and_payload_values_are_refused(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.jsonl") as log:
        with pytest.raises(ValueError, match="unknown audit kind"):
            log.append("publication.sent", publication(1))
        with pytest.raises(ValueError, match="never payload values"):
            log.append(PUBLICATION, {**publication(1), "data": {"pm25": 31.2}})
        with pytest.raises(ValueError, match="too large"):
            log.append(CONFIG_CHANGED, {"keys": "x" * 70_000})
        assert log.seq == 0
    assert verify_chain(tmp_path / "audit.jsonl").records_ok == 0


def test_concurrent_appends_keep_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    threads = 8
    per_thread = 40
    with AuditLog(path) as log:
        barrier = threading.Barrier(threads)

        def work(worker: int) -> None:
            barrier.wait()
            for n in range(per_thread):
                log.append(PUBLICATION, publication(worker * 1000 + n))

        pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    report = verify_chain(path)
    assert (report.intact, report.records_ok) == (True, threads * per_thread)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=30, deadline=None)
@given(
    details=st.lists(st.dictionaries(st.text(max_size=8), JSON, max_size=4), min_size=2, max_size=5),
    data=st.data(),
)
def test_any_changed_byte_is_detected_in_its_record(
    details: list[dict[str, JsonValue]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as name:
        path = Path(name) / "audit.jsonl"
        with AuditLog(path) as log:
            for detail in details:
                log.append(CONFIG_CHANGED, detail)
        original = path.read_bytes()
        assert verify_chain(path).records_ok == len(details)
        # Every byte but the final newline (removing that only looks like a torn tail).
        position = data.draw(st.integers(min_value=0, max_value=len(original) - 2))
        value = data.draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != original[position]))
        changed = bytearray(original)
        changed[position] = value
        path.write_bytes(bytes(changed))
        expected_seq = original[:position].count(b"\n") + 1
        assert verify_chain(path).first_broken_seq == expected_seq


class FillingDisk:
    """os.write on a disk that can be made full: ENOSPC after `room` more bytes, like a real one."""

    def __init__(self) -> None:
        self.room: int | None = None  # None: unlimited

    def write(self, fd: int, data: bytes) -> int:
        if self.room is None:
            return os.write(fd, data)
        if self.room == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = os.write(fd, data[: self.room])  # a short write, then the disk is full
        self.room -= written
        return written


def test_a_full_disk_loses_records_counted_never_raises_and_the_chain_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.jsonl"
    disk = FillingDisk()
    with AuditLog(path, write=disk.write) as log:
        log.append(PUBLICATION, publication(1))
        disk.room = 40  # part of the next record fits, then nothing
        assert log.append_many(PUBLICATION, [publication(2), publication(3)]) == []
        assert log.append(PUBLICATION, publication(4)) is None  # torn tail, disk full: still no exception
        assert log.append(PUBLICATION, publication(5)) is None
        assert log.lost == 4
        disk.room = None
        (record,) = log.append_many(PUBLICATION, [publication(6)])
        assert log.lost == 0
    lines = path.read_bytes().splitlines()
    assert len(lines) == 5  # the torn bytes stay where they are
    records = [parse_record(line) for line in lines[:1] + lines[2:]]
    assert [r.kind for r in records] == [PUBLICATION, LOG_RECOVERED, LOG_GAP, PUBLICATION]
    assert records[2].detail["lost"] == 4
    assert record.detail["event_id"] == "E6"
    report = verify_chain(path)
    assert report.intact, report.reason
    assert report.recovered == 1
    assert len([r for r in caplog.records if "cannot append" in r.getMessage()]) == 1
    assert len([r for r in caplog.records if "torn bytes" in r.getMessage()]) == 1
    assert len([r for r in caplog.records if "writable again" in r.getMessage()]) == 1
