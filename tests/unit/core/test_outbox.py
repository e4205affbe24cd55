"""The outbox keeps publications across restarts until they are acknowledged."""

from __future__ import annotations

from pathlib import Path

from gateway.messages import Publication
from gateway.outbox import Outbox


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
