"""Actors' feedback marks: only an actor's own, signed, fresh marks of events it received count.

Scenario: a fall event went to the ambulance and the fire brigade, each under its own id. The
ambulance marks its id as a false alarm: counted by type, model, source and bundle, audited,
answered. Marks with another key, another actor's id, a replayed or stale mark, an unknown verdict or
reason, garbage and oversize payloads are refused with an answer that names nothing but the actor's
own mark; a flood is summed up once a minute; the counts survive a restart.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit import AuditLog
from gateway.audit_chain import verify_chain
from gateway.feedback import Feedback, FeedbackStore, Mark
from gateway.messages import Event, ModelRef, Publication
from gateway.privacy.projection import actor_id
from gateway.security.signing import generate_signing_key, load_private_key
from gateway.signed_inbox import QUEUED, REFUSALS_PER_MINUTE, Refused, sign_message
from tests.contract import validator

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
HERE = ("site-a", "gw-1")
FALL = Event("fall.detected", "hall", {"zone": "hall"}, time=NOW, model=ModelRef("fall", "abc123"))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def key(tmp_path: Path) -> Ed25519PrivateKey:
    generate_signing_key(tmp_path / "ambulance.pem", tmp_path / "ambulance.pub.pem")
    return load_private_key(tmp_path / "ambulance.pem")


@pytest.fixture
def desk(tmp_path: Path, key: Ed25519PrivateKey) -> Iterator[Feedback]:
    audit_log = AuditLog(tmp_path / "audit.jsonl")
    keys = {"ambulance": tmp_path / "ambulance.pub.pem"}
    feedback = Feedback(keys, HERE, tmp_path / "storage", audit_log)
    sent = [Publication(FALL.id, f"t/{actor}", b"{}", actor=actor) for actor in ("ambulance", "brandweer")]
    feedback.remember(FALL, sent, "baseline")
    yield feedback
    feedback.close()
    audit_log.close()


def mark(key: Ed25519PrivateKey, event_id: str, **override: str) -> bytes:
    body = {
        "feedback_id": str(uuid.uuid4()),
        "actor": "ambulance",
        "site": HERE[0],
        "gateway": HERE[1],
        "issued": NOW.isoformat(),
        "event_id": event_id,
        "verdict": "false_alarm",
        "reason": "no_person",
    }
    return sign_message(body | override, key)


def answers(desk: Feedback, *payloads: bytes, sender: str = "ambulance") -> list[tuple[str, str, str, str]]:
    for payload in payloads:
        desk.inbox.receive(sender, payload)
    desk.handle_pending(NOW)
    out, desk.replies = desk.replies, []
    return out


def test_a_mark_of_an_event_the_actor_received_is_counted_audited_and_answered(
    desk: Feedback, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    payload = mark(key, actor_id("ambulance", FALL.id))
    [(actor, feedback_id, status, _)] = answers(desk, payload)
    assert (actor, feedback_id, status) == ("ambulance", json.loads(payload)["feedback_id"], "accepted")
    report = desk.report()
    assert report["marks"] == 1
    assert report["by_type"] == {"fall.detected": {"true_alarm": 0, "false_alarm": 1}}
    assert report["by_model"] == {"fall@abc123": {"true_alarm": 0, "false_alarm": 1}}
    assert report["by_source"] == {"hall": {"true_alarm": 0, "false_alarm": 1}}
    assert report["by_bundle"] == {"baseline": {"true_alarm": 0, "false_alarm": 1}}
    assert desk.false_alarms("baseline") == 1 and desk.false_alarms("other") == 0
    body = {"schema_version": 1, "report": "feedback", **report}
    assert not list(validator("operator-feedback-v1.json").iter_errors(body))
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["feedback.marked"]
    assert records[0]["detail"]["verdict"] == "false_alarm"


def test_hostile_marks_are_refused_and_answered_with_nothing_about_other_actors(
    desk: Feedback, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    mine, theirs = actor_id("ambulance", FALL.id), actor_id("brandweer", FALL.id)
    accepted = mark(key, mine, verdict="true_alarm", reason="confirmed_on_scene")
    assert [a[2] for a in answers(desk, accepted)] == ["accepted"]
    hostile = {
        "stranger's key": mark(Ed25519PrivateKey.generate(), mine),
        "another actor's id": mark(key, theirs),
        "the raw event id": mark(key, FALL.id),
        "already marked": mark(key, mine),
        "replay": accepted,
        "stale": mark(key, mine, issued=(NOW - timedelta(hours=1)).isoformat()),
        "unknown verdict": mark(key, mine, verdict="maybe"),
        "reason of the other verdict": mark(key, mine, reason="help_given"),
        "other gateway": mark(key, mine, gateway="gw-2"),
        "names another actor": mark(key, mine, actor="brandweer"),
        "garbage": b"\xff\xfe",
        "a list": b"[1]",
        "extra field": sign_message({"x": "1"}, key),
        "oversize": b"{" * 100_000,
    }
    replies = answers(desk, *hostile.values())
    assert [r[2] for r in replies] == ["refused"] * len(hostile), replies
    assert all(r[0] == "ambulance" for r in replies)
    details = [r[3] for r in replies]
    assert details[1] == details[2] == "unknown event id (not one you received, or too old)"
    assert "brandweer" not in " ".join(details[:2]) and theirs not in " ".join(details)
    assert desk.report()["marks"] == 1
    assert verify_chain(tmp_path / "audit.jsonl").intact


def test_a_flood_is_summed_up_once_a_minute_and_a_full_queue_drops(desk: Feedback) -> None:
    clock = Clock()
    desk.inbox.clock = clock
    desk.handle_pending(NOW)
    replies = answers(desk, *[b"junk"] * 60)
    assert len(replies) == REFUSALS_PER_MINUTE
    clock.t += 61
    summary = answers(desk)
    assert summary == [
        ("ambulance", "", "refused", f"{60 - REFUSALS_PER_MINUTE} more messages refused in the last minute")
    ]
    for _ in range(QUEUED + 5):
        desk.inbox.receive("ambulance", b"junk")
    assert desk.inbox.dropped == 5


def test_counts_and_seen_ids_survive_a_restart(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    keys = {"ambulance": tmp_path / "ambulance.pub.pem"}
    payload = mark(key, actor_id("ambulance", FALL.id))
    with AuditLog(tmp_path / "audit.jsonl") as audit_log:
        first = Feedback(keys, HERE, tmp_path / "storage", audit_log)
        first.remember(FALL, [Publication(FALL.id, "t", b"{}", actor="ambulance")], "b1")
        assert [a[2] for a in answers(first, payload)] == ["accepted"]
        first.close()
        second = Feedback(keys, HERE, tmp_path / "storage", audit_log)
        assert second.false_alarms("b1") == 1
        [reply] = answers(second, payload)
        assert reply[2:] == ("refused", "replayed feedback_id")
        second.close()


def test_the_store_remembers_a_bounded_number_of_publications(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite3", keep=10)
    store.remember([("ambulance", f"id-{i}", "fall.detected", "hall", "", "") for i in range(25)])
    with pytest.raises(Refused):
        store.mark(Mark("f", "ambulance", "id-0", "false_alarm", "no_person"))
    assert store.mark(Mark("f", "ambulance", "id-24", "false_alarm", "no_person"))[0] == "fall.detected"
    store.close()


def test_aggregated_or_untrusted_actors_publications_are_not_remembered(desk: Feedback) -> None:
    event = Event("fall.confirmed", "hall", {}, time=NOW)
    desk.remember(event, [Publication(event.id, "t", b"{}", actor="politie")], "baseline")
    rows: list[Any] = desk.store.counts()
    assert rows == []
    with pytest.raises(Refused):
        desk.store.mark(Mark("f", "politie", actor_id("politie", event.id), "false_alarm", "no_person"))
