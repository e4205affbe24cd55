"""The outbox keeps publications across restarts until they are acknowledged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.config import OutboxConfig
from gateway.messages import Publication
from gateway.outbox import Outbox, OutboxError


def pub(n: int) -> Publication:
    return Publication(event_id=f"E{n:04d}", topic=f"t/{n}", payload=b"{}")


def test_fifo_ack_and_restart(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite3"
    box = Outbox(db)
    box.put([pub(1), pub(2)])
    box.put([pub(3)])
    items = box.pending()
    assert [i.publication.event_id for i in items] == ["E0001", "E0002", "E0003"]
    box.ack(items[0].seq)
    box.close()

    reopened = Outbox(db)
    assert [i.publication.event_id for i in reopened.pending()] == ["E0002", "E0003"]
    assert [i.publication.event_id for i in reopened.pending(after_seq=items[1].seq)] == ["E0003"]
    assert len(reopened) == 2
    reopened.close()


def test_same_publication_is_stored_once(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.put([pub(1)])
    box.put([pub(1)])
    assert len(box) == 1
    box.close()


# --- A full disk --------------------------------------------------------------------------------------------
# SQLite's max_page_count caps the database like a full filesystem does, with the same error
# ("database or disk is full"); deleting acknowledged rows frees pages, as a broker draining the
# outbox does on site.


def big(n: int, prefix: str = "E") -> Publication:
    return Publication(f"{prefix}{n:04d}", f"t/{n}", b"x" * 900)


def fill(box: Outbox) -> int:
    """Store publications until the database is full; how many were written."""
    n = 0
    while box.put([big(n, "F")]):
        n += 1
        assert n < 10_000, "the page cap never filled the database"
    return n


def test_a_full_disk_holds_publications_in_memory_until_it_has_room(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = Outbox(tmp_path / "o.sqlite3", max_pages=16)
    written = fill(box)  # the publication that did not fit is held
    for n in range(1, 6):
        assert box.put([pub(n)]) is False  # never raises
    assert box.held == 6
    assert len(box) == written
    failures = [r for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(failures) == 1, "the failure is logged once, not per publication"
    assert "database or disk is full" in failures[0].getMessage()

    for item in box.pending(limit=written):  # the broker acknowledges everything: pages are free again
        box.ack(item.seq)
    assert box.put([]) is True  # the next store (or tick) writes what was held, in order
    assert box.held == 0
    assert [i.publication.event_id for i in box.pending()] == [f"F{written:04d}"] + [
        f"E{n:04d}" for n in range(1, 6)
    ]
    recoveries = [r for r in caplog.records if "writable again" in r.getMessage()]
    assert len(recoveries) == 1
    assert box.dropped == 0
    box.close()


def test_held_publications_are_bounded_oldest_dropped_first(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", OutboxConfig(held_limit=4), max_pages=16)
    fill(box)
    for n in range(1, 8):
        box.put([big(n)])
    assert box.held == 4
    assert box.dropped == 4  # the unfitting fill publication, E0001, E0002, E0003
    for item in box.pending(limit=10_000):
        box.ack(item.seq)
    assert box.put([]) is True
    assert [i.publication.event_id for i in box.pending()] == ["E0004", "E0005", "E0006", "E0007"]
    box.close()


def test_an_empty_put_with_nothing_held_writes_nothing(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    assert box.put([]) is False
    assert len(box) == 0
    box.close()


@pytest.mark.parametrize("kind", ["garbage", "directory"])
def test_an_unusable_outbox_file_is_one_error_naming_it(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "outbox.sqlite3"
    if kind == "garbage":
        path.write_bytes(b"\x00garbage, not a database\xff" * 200)
    else:
        path.mkdir()
    with pytest.raises(OutboxError, match=r"outbox .*outbox\.sqlite3: "):
        Outbox(path)


def event_pub(n: int) -> Publication:
    return Publication(f"E{n:04d}", f"t/{n}", b'{"historical":false,"n":%d}' % n)


def test_only_a_row_sent_in_the_session_it_was_stored_in_is_live(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", clock=lambda: 0.0)
    box.put([event_pub(0)])  # before any connection
    first = box.begin_session()
    box.put([event_pub(1)])
    box.end_session()
    box.put([event_pub(2)])  # while disconnected
    second = box.begin_session()
    box.put([event_pub(3)])
    marks = {
        i.publication.event_id: b'"historical":true' in i.delivered(second).payload for i in box.pending()
    }
    assert marks == {"E0000": True, "E0001": True, "E0002": True, "E0003": False}
    assert b'"historical":false' in box.pending()[1].delivered(first).payload
    box.close()
    reopened = Outbox(tmp_path / "o.sqlite3")
    assert reopened.begin_session() > second, "a restart's sessions are newer than any stored row's"
    reopened.close()


def test_rows_of_an_outbox_from_before_sessions_are_late(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, "
            "topic TEXT NOT NULL, payload BLOB NOT NULL, created REAL NOT NULL, UNIQUE (event_id, topic))"
        )
        db.execute(
            "INSERT INTO outbox (event_id, topic, payload, created) VALUES ('E1', 't', ?, 1e12)",
            (b'{"historical":false}',),
        )
    db.close()
    box = Outbox(path)
    session = box.begin_session()
    (item,) = box.pending()
    assert item.delivered(session).payload == b'{"historical":true}'
    box.close()
