"""The soak's own arithmetic, in milliseconds: the schedule is seeded and complete, a lost or altered
message is caught, a late resend differing only in `historical` is not an alteration."""

from __future__ import annotations

import itertools
import json

from gateway.privacy.projection import actor_id
from tests.soak.accounting import transport
from tests.soak.schedule import KINDS, plan
from tests.soak.site import Arrival, audited_keys

TOPIC = "city/v1/gemeente/s/gw/events/air.band_changed"


def test_the_schedule_is_seeded_and_brings_every_kind_once_a_cycle() -> None:
    first = list(itertools.islice(plan(3, KINDS, ["a", "b"], ["cam"]), 2 * len(KINDS)))
    again = list(itertools.islice(plan(3, KINDS, ["a", "b"], ["cam"]), 2 * len(KINDS)))
    assert first == again
    for cycle in (first[: len(KINDS)], first[len(KINDS) :]):
        assert sorted(p.kind for p in cycle) == sorted(KINDS)
    assert all(p.target == "cam" for p in first if p.kind.startswith("camera"))
    assert all(p.target in ("a", "b") for p in first if p.kind.startswith("serial"))


def test_a_rare_fault_comes_in_the_first_cycle_and_every_nth_after_it() -> None:
    cycles = 7
    planned = list(
        itertools.islice(plan(3, KINDS, ["a"], ["c"], {"gateway_kill": 3}), cycles * len(KINDS) - 4)
    )
    assert [p.kind for p in planned].count("gateway_kill") == 3  # cycles 0, 3 and 6


def arrival(event_id: str, historical: bool = False, band: str = "poor") -> Arrival:
    body = {
        "id": actor_id("gemeente", event_id),
        "type": "air.band_changed",
        "historical": historical,
        "band": band,
    }
    return Arrival(0.0, 0.0, TOPIC, json.dumps(body).encode())


def audited(*event_ids: str) -> list[dict[str, str]]:
    return [
        {"actor": "gemeente", "topic": TOPIC, "event_id": e, "event_type": "air.band_changed"}
        for e in event_ids
    ]


def test_a_lost_event_and_an_altered_duplicate_are_counted() -> None:
    got = transport([arrival("e1"), arrival("e2"), arrival("e2", band="good")], audited("e1", "e2", "e3"))
    assert (got["audited"], got["delivered"], got["lost"]) == (3, 2, 1)
    assert (got["duplicated"], got["duplicates_changed"]) == (1, 1)


def test_a_late_resend_may_differ_only_in_historical() -> None:
    got = transport([arrival("e1"), arrival("e1", historical=True)], audited("e1"))
    assert (got["lost"], got["duplicated"], got["duplicates_changed"]) == (0, 1, 0)
    assert got["duplicates_differing_only_in_historical"] == 1


def test_an_aggregate_is_audited_under_the_actor_id_it_carries() -> None:
    own = actor_id("bewoners", "zone", "3600")
    keys = audited_keys([{"actor": "bewoners", "topic": TOPIC, "event_id": own}])
    assert keys == {(TOPIC, own)}
