"""Records of `edge-gateway update` reach the gateway's audit log through the spool, in order, once.

The updater cannot open the log while the gateway holds it (one writer, flock), so it spools; the
gateway appends and deletes. A file that is not a spooled update record is set aside, never appended.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gateway import audit
from gateway.audit import AuditLog, AuditLogBusy
from gateway.audit_chain import verify_chain
from gateway.audit_spool import drain, spool, spool_dir


def test_spooled_records_are_appended_in_order_and_removed(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.jsonl") as log_:
        with pytest.raises(AuditLogBusy):  # why the updater spools: the gateway holds the log
            AuditLog(tmp_path / "audit.jsonl")
        for step in ("started", "completed"):
            spool(tmp_path, audit.UPDATE, {"step": step, "from": "0.1.0", "to": "0.2.0"})
        assert drain(tmp_path, log_) == 2
        assert drain(tmp_path, log_) == 0
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["detail"]["step"]) for r in records] == [
        ("update", "started"),
        ("update", "completed"),
    ]
    assert all(r["detail"]["at"].endswith("Z") for r in records)
    assert not list(spool_dir(tmp_path).iterdir())
    assert verify_chain(tmp_path / "audit.jsonl").intact


def test_only_update_records_may_be_spooled(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match="cannot be spooled"):
        spool(tmp_path, audit.PUBLICATION, {"actor": "x", "topic": "t", "event_id": "e", "event_type": "t"})
    forged = spool(tmp_path, audit.UPDATE, {"step": "started"})
    forged.write_text('{"kind": "policy.loaded", "detail": {"version": "evil"}}')
    (spool_dir(tmp_path) / "0-garbage.json").write_bytes(b"\xff\x00")
    with caplog.at_level(logging.ERROR), AuditLog(tmp_path / "audit.jsonl") as log_:
        assert drain(tmp_path, log_) == 0
    assert not (tmp_path / "audit.jsonl").read_text()
    assert sorted(p.name.split(".")[-1] for p in spool_dir(tmp_path).iterdir()) == ["bad", "bad"]
    assert "is not a spooled record" in caplog.text


def test_no_spool_no_work(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.jsonl") as log_:
        assert drain(tmp_path, log_) == 0
