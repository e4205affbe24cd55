"""A full disk never stops the gateway, and an unusable outbox stops `run` with one line.

Scenario: the outbox database reaches its size cap (SQLite `max_page_count`, which fails exactly like
a full filesystem: "database or disk is full"). Events keep arriving; the gateway stores none of
them on disk but keeps them, in order, in memory; once acknowledged rows free space, the next store
writes them all. A restart on an outbox that is not a database, or not a file, is one error line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.app import Gateway
from gateway.audit import AuditLog, parse_record
from gateway.config import GatewayConfig
from gateway.messages import Event, Publication
from gateway.outbox import Outbox
from gateway.tools.cli import app
from gateway.trust import Trusted

CONFIG = """\
site: s
gateway: g
mqtt: {{host: 127.0.0.1, port: 1, prefix: city}}
storage: {storage}
"""


def build(tmp_path: Path) -> Gateway:
    config = GatewayConfig.model_validate(
        {"site": "s", "gateway": "g", "mqtt": {"host": "127.0.0.1", "port": 1}, "storage": str(tmp_path)}
    )
    trusted = Trusted.load(config.trust.public_key, config.policy, config.trust.models_dir)
    return Gateway(config, trusted, AuditLog(tmp_path / "audit.jsonl"))


def band(n: int) -> Event:
    return Event(type="air.band_changed", source="pm-1", data={"band": "good", "n": n})


def test_events_on_a_full_disk_are_kept_and_written_once_there_is_room(tmp_path: Path) -> None:
    gateway = build(tmp_path)
    gateway.outbox.close()
    full = Outbox(tmp_path / "capped.sqlite3", max_pages=16)
    gateway.outbox = gateway.publisher.outbox = full
    n = 0
    while full.put([Publication(f"F{n}", "t/fill", b"x" * 900)]):
        n += 1
    stored = len(full)

    gateway.handle(band(1))  # raised sqlite3.OperationalError here before
    gateway.handle(band(2))
    assert len(full) == stored
    held = full.held
    assert held >= 2

    for item in full.pending(limit=stored):  # the broker drains the backlog: pages are free again
        full.ack(item.seq)
    gateway.handle(band(3))
    assert full.held == 0
    stored_ids = [i.publication.event_id for i in full.pending(limit=1000)]
    audited = [parse_record(line) for line in (tmp_path / "audit.jsonl").read_bytes().splitlines()]
    published = [r.detail["event_id"] for r in audited if r.kind == "publication"]
    assert len(published) >= 3
    assert stored_ids == [f"F{n}", *published], "every event is stored once there is room, in order"
    assert gateway.audit.lost == 0
    full.close()
    gateway.audit.close()


@pytest.mark.parametrize("kind", ["garbage", "directory"])
def test_run_on_an_unusable_outbox_is_one_line_naming_it(tmp_path: Path, kind: str) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG.format(storage=tmp_path / "storage"), encoding="utf-8")
    outbox = tmp_path / "storage" / "outbox.sqlite3"
    outbox.parent.mkdir()
    if kind == "garbage":
        outbox.write_bytes(b"\x00\x13 not a database \xfe\xff" * 300)
    else:
        outbox.mkdir()
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    assert str(outbox) in lines[0]
