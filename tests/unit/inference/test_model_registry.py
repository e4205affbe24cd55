"""The model registry: every shipped kind loads from the signed manifest and hot-swaps into its slot.

Scenario: a gateway starts with the shipped models; a newly verified set arrives; each slot a
detector holds now serves the new model while the slot object stays the same.
"""

from __future__ import annotations

from dataclasses import replace

from gateway.messages import Publication, dump_json
from gateway.outbox import OutboxItem
from gateway.registry import CORRECTOR, FALL, KINDS, NOWCASTER, ModelSet, ModelSlots
from gateway.trust import load_models


def test_every_shipped_kind_is_loaded_and_named() -> None:
    models = load_models().value
    assert {kind.name for kind in KINDS} == {"corrector", "nowcaster", "fall"}
    assert all(models.get(kind) is not None for kind in KINDS)
    assert {ref.name for ref in models.refs()} >= {"pm_humidity", "fall"}


def test_swap_replaces_the_model_inside_the_same_slot() -> None:
    old = load_models().value
    slots = ModelSlots(old)
    held = slots.slot(CORRECTOR)
    fresh = load_models().value
    assert slots.swap(fresh) == ["corrector", "nowcaster", "fall"]
    assert slots.slot(CORRECTOR) is held and held is not None and held.current is fresh.corrector
    partial = ModelSet({k: v for k, v in fresh.by_kind.items() if k != FALL.name})
    assert slots.swap(partial) == ["corrector", "nowcaster"]
    assert slots.slot(NOWCASTER) is not None


def test_a_late_event_is_marked_historical_and_a_reply_is_left_alone() -> None:
    event = Publication("e1", "t/e", dump_json({"id": "e1", "historical": False}))
    reply = Publication("r1", "t/r", dump_json({"command_id": "r1", "status": "applied"}))
    late = OutboxItem(1, session=3, publication=event)
    assert late.delivered(session=3) == event  # sent in the connection it was stored in
    assert b'"historical":true' in late.delivered(session=4).payload
    assert replace(late, publication=reply).delivered(session=4) == reply
