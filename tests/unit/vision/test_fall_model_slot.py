"""A re-signed fall model reaches running cameras without resetting them.

Scenario: a camera's fall detector holds a slot; hot reload puts another model in the slot. The
detector's next scores and the model named on its events come from the new model, while its
tracks and background model (the detector object itself) stay as they were.
"""

from __future__ import annotations

import numpy as np

from gateway.inference.slots import FallModelSlot
from gateway.messages import ModelRef
from gateway.vision.fall import FallDetector, FallSettings, FloatArray
from gateway.vision.regions import Regions


class Constant:
    """A fall model that scores every window the same."""

    def __init__(self, version: str, probability: float) -> None:
        self.ref = ModelRef("fall", version)
        self.probability = probability

    def score(self, windows: FloatArray) -> FloatArray:
        return np.full(len(windows), self.probability, np.float32)


def test_swapping_the_slot_changes_scores_and_version_not_the_detector() -> None:
    slot = FallModelSlot(Constant("aaaaaaaaaaaa", 0.1))
    detector = FallDetector("hall", FallSettings(), Regions(), slot)
    windows = np.zeros((2, 180), np.float32)
    assert slot.score(windows).tolist() == [np.float32(0.1)] * 2 and slot.ref.version == "aaaaaaaaaaaa"
    slot.current = Constant("bbbbbbbbbbbb", 0.9)
    assert slot.score(windows).tolist() == [np.float32(0.9)] * 2
    assert detector._model is slot and detector._model.ref.version == "bbbbbbbbbbbb"
