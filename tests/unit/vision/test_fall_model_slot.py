"""A re-signed fall model reaches running cameras without resetting them.

Scenario: a camera's fall detector holds a slot and watches the synthetic walk-fall-lie-get-up scene of
test_fall_detector.py (real background subtraction, tracking and keypoint features). It starts on a
re-trained model (a logistic regression exported by models/fall/train.py, in a sha256sum manifest of
its own). While the person is still walking, hot reload puts the shipped float model in the slot;
after the fall is detected, the shipped INT8 model. Every score and event is compared with runs of
the same frames through a detector that held one model throughout:

- before the first swap the scores are the re-trained model's, after it the shipped model's;
- each event names the model that was in the slot when it was raised;
- the track and the fall in progress survive both swaps: the same person, one fall id, confirmed
  10 s after detection and recovered exactly as in the unswapped run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest

from gateway.inference.slots import Slot
from gateway.messages import Event
from gateway.vision.fall import (
    FALL_CONFIRMED,
    FALL_DETECTED,
    FALL_RECOVERED,
    FallDetector,
    FallModel,
    FallSettings,
    OnnxFallModel,
    load_file,
)
from gateway.vision.pose_features import FEATURES, WINDOW_STEPS
from gateway.vision.regions import Regions
from models.fall.train import Dataset, build_onnx, candidates, fit
from tests.unit.vision.test_fall_detector import SeesTheBody, fall_script, frames

MODELS = Path(__file__).resolve().parents[3] / "models"
SECONDS = 28.0
FIRST_SCORED = 31  # frame: 2 s of empty room, then 1 s of history before the walker is scored
TO_SHIPPED = 45  # frame: walking, scored since FIRST_SCORED; the fall begins at frame 60
TO_INT8 = 100  # frame: after fall.detected (about frame 68), long before fall.confirmed


@dataclass
class Run:
    """Per frame, the (track, probability) pairs the detector scored; and its events by frame."""

    scores: list[list[tuple[int, float]]]
    events: list[tuple[int, Event]]


def watch(model: FallModel, swaps: dict[int, FallModel] | None = None) -> Run:
    """The fall scene through one detector holding a slot; ``swaps`` puts a model in it at a frame."""
    slot = Slot(model)
    eyes = SeesTheBody()
    detector = FallDetector("hall-cam", FallSettings(), Regions(), slot, pose=eyes)
    run = Run([], [])
    for i, frame in enumerate(frames(fall_script(down_s=15.0), SECONDS, eyes)):
        if swaps and i in swaps:
            slot.current = swaps[i]
        run.events += [(i, event) for event in detector.on_frame(frame)]
        run.scores.append(
            [(o.track, o.probability) for o in detector.observations if o.probability is not None]
        )
    return run


@pytest.fixture(scope="module")
def retrained(tmp_path_factory: pytest.TempPathFactory) -> OnnxFallModel:
    """A different, real fall model: the export pipeline on seeded windows, checked against its manifest."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, WINDOW_STEPS * len(FEATURES))).astype(np.float32)
    y = (x[:, 0] + x[:, -1] > 0.0).astype(np.int64)
    model = fit(candidates()["logistic"], Dataset(x, y, np.ones(len(y))))
    root = tmp_path_factory.mktemp("models")
    (root / "fall").mkdir()
    path = root / "fall" / "fall_model.onnx"
    onnx.save_model(build_onnx(model, 0.8, "re-trained for the slot test"), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (root / "MANIFEST.sha256").write_text(f"{digest}  fall/fall_model.onnx\n", encoding="utf-8")
    return load_file(path, root / "MANIFEST.sha256")


@pytest.fixture(scope="module")
def shipped() -> OnnxFallModel:
    return load_file(MODELS / "fall" / "fall_model.onnx", MODELS / "MANIFEST.sha256")


@pytest.fixture(scope="module")
def shipped_int8() -> OnnxFallModel:
    return load_file(MODELS / "fall" / "fall_model.int8.onnx", MODELS / "MANIFEST.sha256")


def test_swapping_the_slot_changes_scores_and_versions_not_the_detector(
    retrained: OnnxFallModel, shipped: OnnxFallModel, shipped_int8: OnnxFallModel
) -> None:
    assert len({retrained.ref.version, shipped.ref.version, shipped_int8.ref.version}) == 3
    only_retrained, only_shipped = watch(retrained), watch(shipped)
    swapped = watch(retrained, {TO_SHIPPED: shipped, TO_INT8: shipped_int8})

    # Scores: the re-trained model's until the swap, the shipped model's from it on.
    assert all(swapped.scores[i] for i in range(FIRST_SCORED, TO_SHIPPED))
    assert swapped.scores[:TO_SHIPPED] == only_retrained.scores[:TO_SHIPPED]
    assert swapped.scores[:TO_SHIPPED] != only_shipped.scores[:TO_SHIPPED]
    assert swapped.scores[TO_SHIPPED:] == only_shipped.scores[TO_SHIPPED:]
    assert swapped.scores[TO_SHIPPED:TO_INT8] != only_retrained.scores[TO_SHIPPED:TO_INT8]

    # One person, one track, across both swaps.
    assert {track for frame in swapped.scores for track, _ in frame} == {swapped.scores[FIRST_SCORED][0][0]}

    # Events: raised when the unswapped shipped model raises them, the fall kept across the INT8 swap,
    # each naming the model in the slot at that moment.
    assert [(i, e.type) for i, e in swapped.events] == [(i, e.type) for i, e in only_shipped.events]
    assert [e.type for _, e in swapped.events] == [FALL_DETECTED, FALL_CONFIRMED, FALL_RECOVERED]
    (detected_at, detected), (_, confirmed), (_, recovered) = swapped.events
    assert TO_SHIPPED < detected_at < TO_INT8
    assert detected.model == shipped.ref
    assert confirmed.model == recovered.model == shipped_int8.ref
    assert {e.data["fall_id"] for e in (detected, confirmed, recovered)} == {detected.id}
    assert recovered.data["confirmed"] is True
    assert [e.data["confidence"] for _, e in swapped.events] == [
        e.data["confidence"] for _, e in only_shipped.events
    ]
