"""A flood of junk commands is counted, not answered, audited and logged one by one.

Scenario: 500 garbage payloads arrive on the commands topic within a minute (the broker lets only
operators write there, so this is a compromised or broken operator tool). The first
REFUSALS_PER_MINUTE are refused as usual; the rest are counted, and a minute later one audit record,
one reply and one log line carry the count. A full queue is logged at most once a minute.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway import commands
from gateway.audit import AuditLog
from gateway.audit_chain import verify_chain
from gateway.commands import QUEUED_COMMANDS, REFUSALS_PER_MINUTE, RemoteConfig, SeenCommands
from gateway.config import GatewayConfig

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def remote(tmp_path: Path) -> tuple[RemoteConfig, AuditLog, list[tuple[str, str, str]], Clock]:
    config = GatewayConfig.model_validate(
        {"site": "s", "gateway": "g", "mqtt": {"host": "127.0.0.1", "port": 1}, "storage": str(tmp_path)}
    )
    audit_log = AuditLog(tmp_path / "audit.jsonl")
    answers: list[tuple[str, str, str]] = []
    rc = RemoteConfig(config, None, audit_log, lambda _c: None, lambda *a: answers.append(a))
    clock = Clock()
    rc.clock = clock
    return rc, audit_log, answers, clock


def kinds(path: Path) -> list[str]:
    return [json.loads(line)["kind"] for line in path.read_text().splitlines()]


def test_refusals_beyond_the_limit_are_summed_up_once_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rc, audit_log, answers, clock = remote(tmp_path)
    flood = 500
    for burst in range(flood // 50):  # as fast as the queue is emptied
        for n in range(50):
            rc.receive(b"junk %d" % (burst * 50 + n))
        rc.handle_pending(NOW)
    assert len(answers) == REFUSALS_PER_MINUTE
    assert kinds(audit_log.path).count("config.refused") == REFUSALS_PER_MINUTE
    assert kinds(audit_log.path).count("command.received") == REFUSALS_PER_MINUTE
    refused_logs = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused_logs) == REFUSALS_PER_MINUTE

    clock.t += 30
    rc.handle_pending(NOW)
    assert len(answers) == REFUSALS_PER_MINUTE, "nothing more within the minute"
    clock.t += 30
    rc.handle_pending(NOW)
    rest = flood - REFUSALS_PER_MINUTE
    assert len(answers) == REFUSALS_PER_MINUTE + 1
    assert answers[-1][1] == "refused" and str(rest) in answers[-1][2]
    summary = json.loads(audit_log.path.read_text().splitlines()[-1])
    assert (summary["kind"], summary["detail"]["count"]) == ("config.refused", rest)
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == REFUSALS_PER_MINUTE + 1
    assert rc.refused == flood

    clock.t += 120  # a quiet minute sums up nothing; the next refusal is answered again
    rc.handle_pending(NOW)
    rc.receive(b"junk again")
    rc.handle_pending(NOW)
    assert len(answers) == REFUSALS_PER_MINUTE + 2
    audit_log.close()
    assert verify_chain(audit_log.path).intact


def test_a_full_queue_is_logged_at_most_once_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rc, audit_log, _answers, clock = remote(tmp_path)
    caplog.set_level(logging.WARNING, logger=commands.__name__)
    for n in range(QUEUED_COMMANDS + 1000):
        rc.receive(b"junk %d" % n)
    clock.t += 59
    rc.receive(b"one more")
    assert rc.dropped == 1001
    full = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(full) == 1
    clock.t += 1
    rc.receive(b"and one more")
    assert len([r for r in caplog.records if "queue full" in r.getMessage()]) == 2
    audit_log.close()


def test_the_ids_of_commands_seen_are_bounded(tmp_path: Path) -> None:
    seen = SeenCommands(tmp_path / "commands_seen.json", keep=3)
    for n in range(5):
        seen.add(f"c{n}")
    assert json.loads((tmp_path / "commands_seen.json").read_text()) == ["c2", "c3", "c4"]
    assert "c4" in SeenCommands(tmp_path / "commands_seen.json", keep=3)
