"""The outbox is bounded per class and sends the most urgent class first; every drop is counted and said.

Scenario: a gateway whose broker is away keeps storing. Life-safety events (falls, flood warnings and
alarms) are sent first and kept longest; telemetry (summaries, availability) goes first when a
class reaches its size or age bound, when memory holds what a full disk refused, or when a full
disk must make room for something more urgent. Each episode of dropping is one error line at its
start and one summary at its end; the counts survive a restart. Real SQLite files in tmp dirs.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import OutboxConfig
from gateway.events import Priority, priority
from gateway.messages import Publication, dump_json
from gateway.outbox import CLOCK_FLOOR, Outbox, OutboxItem
from gateway.outbox_drops import EPISODE_QUIET_S

NOW = 1_800_000_000.0  # 2027-01-15: a set clock
TYPES = {
    Priority.LIFE_SAFETY: "fall.confirmed",
    Priority.EVENTS: "air.band_changed",
    Priority.TELEMETRY: "air.summary",
}


def pub(n: int, cls: Priority, size: int = 100) -> Publication:
    event_type = TYPES[cls]
    body = {"id": f"{cls.key}-{n}", "historical": False, "pad": "x" * size}
    return Publication(
        f"{cls.key}-{n}", f"city/v1/a/s/g/events/{event_type}", dump_json(body), event_type=event_type
    )


def ids(items: list[OutboxItem]) -> list[str]:
    return [i.publication.event_id for i in items]


def bounded(**classes: dict[str, float]) -> OutboxConfig:
    return OutboxConfig.model_validate(classes)


def rows_in(path: Path) -> dict[int, int]:
    with sqlite3.connect(path) as db:
        counted = dict(db.execute("SELECT priority, COUNT(*) FROM outbox GROUP BY priority").fetchall())
    db.close()
    return counted


@pytest.mark.parametrize(
    ("event_type", "cls"),
    [
        ("fall.detected", Priority.LIFE_SAFETY),
        ("fall.recovered", Priority.LIFE_SAFETY),
        ("flood.warning", Priority.LIFE_SAFETY),
        ("flood.alarm", Priority.LIFE_SAFETY),
        ("flood.cleared", Priority.LIFE_SAFETY),
        ("flood.watch", Priority.EVENTS),
        ("air.band_changed", Priority.EVENTS),
        ("camera.tampered", Priority.EVENTS),
        ("command.reply", Priority.EVENTS),
        ("", Priority.EVENTS),
        ("air.summary", Priority.TELEMETRY),
        ("sensor.offline", Priority.TELEMETRY),
        ("camera.online", Priority.TELEMETRY),
    ],
)
def test_each_event_type_has_its_class(event_type: str, cls: Priority) -> None:
    assert priority(event_type) is cls


def test_the_most_urgent_class_is_due_first_and_a_new_alarm_jumps_the_backlog(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.put([pub(1, Priority.TELEMETRY), pub(2, Priority.EVENTS), pub(3, Priority.LIFE_SAFETY)])
    box.put([pub(4, Priority.EVENTS), pub(5, Priority.TELEMETRY), pub(6, Priority.LIFE_SAFETY)])
    first = box.due({}, 3)
    assert ids(first) == ["life_safety-3", "life_safety-6", "events-2"]
    after = {i.priority: i.seq for i in first}
    box.put([pub(7, Priority.LIFE_SAFETY)])  # raised while the backlog drains
    assert ids(box.due(after, 2)) == ["life_safety-7", "events-4"]
    # One put is stored class by class, the most urgent first (on a full disk it is the one that gets in).
    assert ids(box.pending(limit=3)) == ["life_safety-3", "events-2", "telemetry-1"]
    box.close()


def test_a_class_past_its_size_drops_its_oldest_only_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = Outbox(tmp_path / "o.sqlite3", bounded(telemetry={"max_mb": 0.002}), clock=lambda: NOW)
    box.put([pub(n, Priority.LIFE_SAFETY) for n in range(30)] + [pub(n, Priority.EVENTS) for n in range(30)])
    for n in range(60):
        box.put([pub(n, Priority.TELEMETRY)])
    report = box.report()
    assert report["stored"] == {"life_safety": 30, "events": 30, "telemetry": report["stored"]["telemetry"]}
    assert 0 < report["stored_bytes"]["telemetry"] <= 2000
    kept = [i for i in box.pending(limit=1000) if i.priority is Priority.TELEMETRY]
    assert ids(kept) == [f"telemetry-{n}" for n in range(60 - len(kept), 60)], "the oldest go first"
    assert report["dropped"] == {"life_safety": 0, "events": 0, "telemetry": 60 - len(kept)}
    assert box.dropped == 60 - len(kept)
    episode = report["episode"]
    assert isinstance(episode, dict) and episode["reasons"] == ["size"] and episode["until"] is None
    said = [r for r in caplog.records if ": dropping" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.ERROR, "one line per episode, not per drop"
    assert rows_in(tmp_path / "o.sqlite3") == {0: 30, 1: 30, 2: len(kept)}

    box.drops.quiet_s = 0.0  # the episode ends after a quiet spell; the next put notices
    box.put([])
    ended = [r for r in caplog.records if "no longer dropping" in r.getMessage()]
    assert len(ended) == 1 and f"telemetry {60 - len(kept)}" in ended[0].getMessage()
    assert box.report()["episode"]["until"] is not None  # type: ignore[index]
    turns, box.drops.quiet_s = box.drops.turns, EPISODE_QUIET_S
    box.put([pub(n, Priority.TELEMETRY) for n in range(100, 120)])
    assert box.drops.turns == turns + 1, "a new episode"
    assert len([r for r in caplog.records if ": dropping" in r.getMessage()]) == 2
    box.close()


def test_rows_past_their_class_age_expire_and_life_safety_stays_longest(tmp_path: Path) -> None:
    clock = [NOW]
    box = Outbox(tmp_path / "o.sqlite3", clock=lambda: clock[0])
    box.put([pub(1, Priority.LIFE_SAFETY), pub(1, Priority.EVENTS), pub(1, Priority.TELEMETRY)])
    clock[0] += 49 * 3600  # past telemetry's 48 h
    box.expire()
    assert ids(box.pending()) == ["life_safety-1", "events-1"]
    clock[0] += 7 * 24 * 3600  # past the events' week
    box.expire()
    assert ids(box.pending()) == ["life_safety-1"]
    clock[0] += 23 * 24 * 3600  # 30 days and a bit: the responders' retention
    box.expire()
    assert ids(box.pending()) == []
    report = box.report()
    assert report["dropped"] == {"life_safety": 1, "events": 1, "telemetry": 1}
    assert report["episode"]["reasons"] == ["age"]  # type: ignore[index]
    box.close()


def test_an_unset_clock_never_expires_anything_and_its_rows_age_from_when_it_is_set(tmp_path: Path) -> None:
    clock = [86_400.0]  # a Pi without RTC, booted in 1970
    box = Outbox(tmp_path / "o.sqlite3", clock=lambda: clock[0])
    box.put([pub(1, Priority.TELEMETRY)])
    box.expire()
    assert len(box) == 1
    clock[0] = NOW  # NTP sets the clock: the row is not 56 years old, its age starts now
    box.expire()
    assert len(box) == 1
    clock[0] = NOW + 49 * 3600
    box.expire()
    assert len(box) == 0
    assert CLOCK_FLOOR < NOW
    box.close()


def fill(box: Outbox, cls: Priority) -> int:
    """Store publications of `cls` until the page cap refuses one (held); how many were stored."""
    n = 0
    while box.put([pub(n, cls, size=800)]):
        n += 1
        assert n < 10_000, "the page cap never filled the database"
    return n


def test_memory_holds_what_a_full_disk_refuses_dropping_the_least_urgent_first(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", OutboxConfig(held_limit=6), max_pages=16, clock=lambda: NOW)
    stored = fill(box, Priority.LIFE_SAFETY)  # a disk full of alarms: nothing may give them up
    box.put([pub(n, Priority.TELEMETRY) for n in range(100, 104)])
    box.put([pub(n, Priority.EVENTS) for n in range(100, 104)])
    box.put([pub(n, Priority.LIFE_SAFETY) for n in range(100, 102)])
    assert box.held == 6
    assert box.report()["dropped"] == {"life_safety": 0, "events": 1, "telemetry": 4}
    assert box.backlog() == (stored + 6, 0.0)  # what waits, held in memory included (metrics)
    for item in box.pending(limit=stored):
        box.ack(item.seq)
    assert box.put([]) is True
    assert ids(box.due({}, 10)) == [f"life_safety-{stored}", "life_safety-100", "life_safety-101"] + [
        f"events-{n}" for n in (101, 102, 103)
    ]
    box.close()
    reopened = Outbox(tmp_path / "o.sqlite3")  # counted in the file once written: a restart keeps them
    assert reopened.report()["dropped"] == {"life_safety": 0, "events": 1, "telemetry": 4}
    assert reopened.drops.version > 0 and reopened.drops.episode is None
    reopened.close()


def test_a_full_disk_gives_an_alarm_the_room_of_the_oldest_telemetry(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", max_pages=16)
    fill(box, Priority.TELEMETRY)
    assert box.held == 1
    box.put([pub(1, Priority.EVENTS, size=800)])  # events take telemetry's room too
    box.put([pub(1, Priority.LIFE_SAFETY, size=800)])
    stored = ids(box.pending(limit=1000))
    assert {"events-1", "life_safety-1"} <= set(stored)
    assert "telemetry-0" not in stored
    report = box.report()
    assert report["episode"]["reasons"] == ["disk_full"]  # type: ignore[index]
    dropped = report["dropped"]
    assert isinstance(dropped, dict) and dropped["telemetry"] >= 2 and dropped["events"] == 0
    assert report["stored"]["telemetry"] == len(stored) - 2  # type: ignore[index]
    box.close()


def test_a_full_disk_never_evicts_the_same_class(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", max_pages=16)
    stored = fill(box, Priority.EVENTS)
    assert box.put([pub(999, Priority.EVENTS)]) is False
    assert box.held == 2 and len(box) == stored and box.dropped == 0
    box.close()


def test_acknowledged_rows_go_in_one_batch_and_the_counts_match_the_file(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path, bounded(events={"max_mb": 0.01}), clock=lambda: NOW)
    box.put([pub(n, Priority(n % 3)) for n in range(300)])  # the events class trims itself to 10 kB
    stored = sum(rows_in(path).values())
    for item in box.due({}, 50):
        box.ack(item.seq)
    assert sum(rows_in(path).values()) == stored, "acknowledged rows wait for the batch"
    box.flush()
    assert sum(rows_in(path).values()) == stored - 50
    report = box.report()
    assert rows_in(path) == {int(p): report["stored"][p.key] for p in Priority}  # type: ignore[index]
    with sqlite3.connect(path) as db:
        for cls, size in db.execute(
            "SELECT priority, SUM(LENGTH(event_id) + LENGTH(topic) + LENGTH(payload)) FROM outbox GROUP BY priority"
        ):
            assert report["stored_bytes"][Priority(cls).key] == size  # type: ignore[index]
    db.close()
    for item in box.pending(limit=1000)[:10]:
        box.ack(item.seq)
    box.close()  # deletes what was acknowledged
    assert sum(rows_in(path).values()) == stored - 60


def test_rows_of_an_outbox_from_before_classes_get_their_class_from_the_topic(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, "
            "topic TEXT NOT NULL, payload BLOB NOT NULL, created REAL NOT NULL, session INTEGER, "
            "UNIQUE (event_id, topic))"
        )
        for n, event_type in enumerate(["air.summary", "air.band_changed", "flood.alarm"]):
            db.execute(
                "INSERT INTO outbox (event_id, topic, payload, created) VALUES (?, ?, X'7b7d', 1e9)",
                (f"E{n}", f"city/v1/brandweer/s/g/events/{event_type}"),
            )
        db.execute(
            "INSERT INTO outbox (event_id, topic, payload, created) VALUES ('R', 'city/v1/s/g/replies/config', X'7b7d', 1e9)"
        )
    db.close()
    box = Outbox(path)
    assert [(i.publication.event_id, i.priority) for i in box.due({}, 10)] == [
        ("E2", Priority.LIFE_SAFETY),
        ("E1", Priority.EVENTS),
        ("R", Priority.EVENTS),
        ("E0", Priority.TELEMETRY),
    ]
    box.put([Publication("E1", "city/v1/brandweer/s/g/events/air.band_changed", b"{}")])
    assert len(box) == 4, "stored by the older gateway already: kept once"
    box.close()


def test_the_outbox_config_is_per_class_with_defaults() -> None:
    config = OutboxConfig.model_validate({"telemetry": {"max_mb": 8}})
    assert (config.telemetry.max_mb, config.telemetry.max_age_h) == (8, 48)
    assert (config.life_safety.max_mb, config.life_safety.max_age_h) == (64, 720)
    assert config.events.max_age_h < config.life_safety.max_age_h
    with pytest.raises(ValueError, match="greater than 0"):
        OutboxConfig.model_validate({"events": {"max_mb": 0}})
    with pytest.raises(ValueError, match="Extra inputs"):
        OutboxConfig.model_validate({"alarms": {"max_mb": 1}})


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(TEXT | st.just("historical"), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    before=st.dictionaries(st.sampled_from(["schema_version", "id", "type", "actor", "time"]), JSON_VALUES),
    after=st.dictionaries(TEXT, JSON_VALUES, max_size=4),
)
def test_marking_without_parsing_is_exactly_marking_by_parsing(
    before: dict[str, object], after: dict[str, object]
) -> None:
    body = {
        **before,
        "historical": False,
        **{k: v for k, v in after.items() if k not in {*before, "historical"}},
    }
    payload = dump_json(body)
    item = OutboxItem(1, None, Publication("E", "t", payload))
    marked = json.loads(item.delivered(session=2).payload)
    assert marked == {**body, "historical": True}
    assert list(marked) == list(body)
