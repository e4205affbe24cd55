"""What the soak delivered, against two accounts of what should have been.

1. Transport: every event publication the gateway wrote to its audit log (it audits each one as it
   stores it) reached the subscriber; a message that came twice has the same id and the same content
   (`historical` may differ: a late resend is marked so by design); every message keeps the
   published contract (docs/asyncapi.yaml and its JSON Schemas, tests/contract.py).
2. Ground truth: every required event of every play of the scenario, and the sensor and camera
   events the injected faults must cause, reached the municipality (`gemeente`, which the default
   policy grants every air, sensor and camera health event, with exact times). A required event that
   happened while the gateway could not see it (killed, or its sensor unplugged) and never came is
   counted apart, as blind, with its reason; it is not a delivery failure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sim.ground_truth import ExpectedEvent, ground_truth
from sim.scenario import Scenario
from tests.contract import ContractError, check_message
from tests.e2e.harness import matches_truth
from tests.soak.faults import DISK_UNPLUG_S, Outcome
from tests.soak.site import Arrival, audited_keys

ACTOR = "gemeente"
# Wall-clock windows below get 1 s more on each side: an event's time is rounded down to the second.
NOTICE_S = 15.0  # an injected unplug or dead camera is reported offline within this long
START_S = 120.0  # a starting gateway announces its sources online within this long
# gateway.sources.serial.RETRY_MAX_S (copied): a lost port is retried after at most this many wall
# seconds, which a simulated site's time scale does not shrink.
SERIAL_BACKOFF_S = 10.0
AIR_WINDOW_S = 300.0  # gateway.air's default window (copied): a decision needs a window of readings
LINK_EVENTS = ("sensor.offline", "sensor.online")
PERIODIC = ("air.summary",)  # windows of readings, not in the ground truth: counted, never unexpected


@dataclass(frozen=True, slots=True)
class Expectation:
    """An expected event on a clock of its own: t = (wall - origin) * scale."""

    event: ExpectedEvent
    origin: float
    scale: float
    why: str  # "play 2" or "fault 7 serial_unplug"

    def matches(self, body: dict[str, Any]) -> bool:
        """Whether a received payload is this event."""
        return matches_truth(self.event, body, (wall_time(body) - self.origin) * self.scale)

    def wall(self) -> float:
        """When it truly happened, on the wall clock."""
        return self.origin + self.event.t / self.scale

    def latest(self) -> float:
        """The wall time after which it can no longer come on time."""
        return self.origin + (self.event.t + self.event.tolerance_s) / self.scale


def wall_time(body: dict[str, Any]) -> float:
    """An event payload's `time` as a POSIX timestamp."""
    return datetime.fromisoformat(str(body["time"])).timestamp()


def transport(arrivals: Sequence[Arrival], audited: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Audited event publications vs delivered messages; duplicates and how they differ."""
    copies: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for arrival in arrivals:
        body = json.loads(arrival.payload)
        copies.setdefault((arrival.topic, str(body.get("id"))), []).append(body)
    wanted = audited_keys(audited)
    lost = sorted(wanted - copies.keys())
    duplicated = {key: bodies for key, bodies in copies.items() if len(bodies) > 1}
    changed = [key for key, bodies in duplicated.items() if len({_content(b) for b in bodies}) > 1]
    only_flag = [
        key for key, bodies in duplicated.items() if len({json.dumps(b, sort_keys=True) for b in bodies}) > 1
    ]
    return {
        "audited": len(wanted),
        "delivered": len(copies),
        "messages": len(arrivals),
        "lost": len(lost),
        "delivered_not_audited": len(copies.keys() - wanted),  # audit records a full disk refused
        "lost_examples": [f"{topic} {eid}" for topic, eid in lost[:10]],
        "duplicated": len(duplicated),
        "duplicate_messages": sum(len(b) - 1 for b in duplicated.values()),
        "duplicates_changed": len(changed),
        "duplicates_changed_examples": [f"{topic} {eid}" for topic, eid in changed[:10]],
        "duplicates_differing_only_in_historical": len(set(only_flag) - set(changed)),
        "historical": sum(1 for bodies in copies.values() if bodies[0].get("historical")),
    }


def contract(messages: Sequence[Arrival]) -> dict[str, Any]:
    """How many of these messages break the published contract, with a few examples."""
    broken = []
    for message in messages:
        try:
            check_message(message.topic, message.payload)
        except ContractError as exc:
            broken.append(str(exc)[:300])
    return {
        "contract_checked": len(messages),
        "contract_broken": len(broken),
        "contract_broken_examples": broken[:5],
    }


def _content(body: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in body.items() if k != "historical"}, sort_keys=True)


def expectations(
    scenario: Scenario,
    scale: float,
    plays: Sequence[float],
    outcomes: Sequence[Outcome],
    starts: Sequence[float],
    sources: Sequence[str],
) -> list[Expectation]:
    """Every play's required ground truth, the events each injected fault must cause, and (not
    required) the sources a starting gateway announces online."""
    found = _played(scenario, scale, plays)
    for o in outcomes:
        found += _injected(o)
    for n, began in enumerate(starts):
        for source in sources:
            kind = "camera" if source.startswith("cam") else "sensor"
            online = ExpectedEvent(
                START_S / 2, f"{kind}.online", source, {}, START_S / 2 + 1.0, required=False
            )
            found.append(Expectation(online, began, 1.0, f"gateway start {n + 1}"))
    return found


def _played(scenario: Scenario, scale: float, plays: Sequence[float]) -> list[Expectation]:
    """The scenario's ground truth, once per play (the first band announcement only once)."""
    found = []
    for n, began in enumerate(plays):
        for event in ground_truth(scenario):
            if n and event.type == "air.band_changed" and event.data.get("previous") is None:
                continue  # the band carries over from the previous play: announced once
            if event.type in LINK_EVENTS:  # a reopened port waits out a wall-clock back-off
                event = replace(event, tolerance_s=event.tolerance_s + SERIAL_BACKOFF_S * scale)
            found.append(Expectation(event, began, scale, f"play {n + 1}"))
    return found


def _injected(o: Outcome) -> list[Expectation]:
    """The offline and online events an injected fault causes."""
    why = f"fault {o.index} {o.kind}"
    if o.kind in ("serial_unplug", "disk_full"):
        off_for = o.duration_s if o.kind == "serial_unplug" else DISK_UNPLUG_S
        return _pair(o, "sensor", off_for, SERIAL_BACKOFF_S + 5.0, why)
    if o.kind in ("camera_stall", "camera_down"):
        return _pair(o, "camera", o.duration_s, o.bound_s, why)
    if o.kind == "serial_garbage":  # a line garbled enough may go silent: allowed, not required
        pair = _pair(o, "sensor", o.duration_s, SERIAL_BACKOFF_S, why)
        return [replace(x, event=replace(x.event, required=False)) for x in pair]
    return []


def _pair(o: Outcome, kind: str, off_for: float, back_within: float, why: str) -> list[Expectation]:
    """`<kind>.offline` soon after the fault began, `<kind>.online` once it is over, on the wall clock."""
    offline = ExpectedEvent(NOTICE_S / 2, f"{kind}.offline", o.target, {}, NOTICE_S / 2 + 1.0)
    online = ExpectedEvent(off_for + back_within / 2, f"{kind}.online", o.target, {}, back_within / 2 + 1.0)
    return [Expectation(offline, o.started_wall, 1.0, why), Expectation(online, o.started_wall, 1.0, why)]


def blind_spells(outcomes: Sequence[Outcome], scale: float) -> list[tuple[float, float, str, str]]:
    """(from, to, source or "*", why): when the gateway could not see a source's events, until one
    detector window of readings after the source came back."""
    window = AIR_WINDOW_S / scale
    spells = []
    for o in outcomes:
        back = o.cleared_mono - o.started_mono + (o.recovered_s if o.recovered_s is not None else o.bound_s)
        if o.kind == "disk_full":
            back = DISK_UNPLUG_S + SERIAL_BACKOFF_S
        source = {"gateway_kill": "*", "serial_unplug": o.target, "disk_full": o.target}.get(o.kind)
        if source is not None:
            spells.append(
                (o.started_wall, o.started_wall + back + window, source, f"fault {o.index} {o.kind}")
            )
    return spells


def truth(
    arrivals: Sequence[Arrival],
    expected: Sequence[Expectation],
    outcomes: Sequence[Outcome],
    until: float,
    scale: float,
) -> dict[str, Any]:
    """Which required expectations due by `until` arrived, which were blind, and what nothing explains."""
    bodies = [b for b in (json.loads(a.payload) for a in arrivals) if b.get("actor") == ACTOR]
    first = list({b["id"]: b for b in reversed(bodies)}.values())  # one copy of each event
    due = [x for x in expected if x.event.required and x.latest() <= until]
    spells = blind_spells(outcomes, scale)
    missing: list[str] = []
    blind: list[str] = []
    for x in due:
        if any(x.matches(b) for b in first):
            continue
        why = next(
            (w for lo, hi, src, w in spells if lo <= x.wall() <= hi and src in ("*", x.event.source)), None
        )
        (missing if why is None else blind).append(
            f"{x.why}: {x.event.type} {x.event.source} {dict(x.event.data)} at {x.event.t:.0f}"
            + (f" ({why})" if why else "")
        )
    periodic = [b for b in first if b["type"] in PERIODIC]
    unexpected = [b for b in first if b["type"] not in PERIODIC and not any(x.matches(b) for x in expected)]
    return {
        "expected": len(due),
        "arrived": len(due) - len(missing) - len(blind),
        "missing": missing,
        "blind": blind,
        "periodic": len(periodic),
        "unexpected": len(unexpected),
        "unexpected_examples": [
            f"{b['type']} {b.get('source')} {b['time']} {b.get('data')}" for b in unexpected[:15]
        ],
    }


def delays(arrivals: Sequence[Arrival], began: float) -> list[tuple[float, float]]:
    """(seconds since the soak began, delivery delay [s]) of each municipality event's first copy."""
    seen: set[str] = set()
    points = []
    for arrival in arrivals:
        body = json.loads(arrival.payload)
        if body.get("actor") != ACTOR or body["id"] in seen:
            continue
        seen.add(body["id"])
        points.append((round(arrival.wall - began, 2), round(arrival.wall - wall_time(body), 3)))
    return points
