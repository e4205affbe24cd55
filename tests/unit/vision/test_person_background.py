"""Background subtraction's global-change guard is measured over the analysed (unmasked) area only.

Privacy-masked pixels arrive black and are never foreground; counted as analysed, they dilute the
foreground fraction so that with half the frame masked a lamp switched on can never trip the
"global change, relearn" guard, and the whole analysed half stays one huge blob for seconds.
Checked on synthetic frames and on a simulator scene (training seed) with a lamp switch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from gateway.messages import Frame, ModelRef
from gateway.vision.fall import FallDetector, FallSettings
from gateway.vision.person import BackgroundLocator, Box, Mask, PersonDetection
from gateway.vision.regions import Regions
from sim.keyframes import Keyframes
from sim.video import Renderer, random_scene

LEFT_HALF = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
W, H = 320, 240


def _textured(rng: np.random.Generator, gain: float) -> np.ndarray:
    base = np.tile(np.linspace(60, 160, W, dtype=np.float32), (H, 1))[..., None].repeat(3, axis=2)
    noisy = base * gain + rng.normal(0.0, 2.0, base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _run(analysed: Mask | None, frames: int = 40) -> list[float]:
    """Foreground share of the analysed half per frame; the light goes up by 40 % at frame 20."""
    regions, rng, locator = Regions(masks=[LEFT_HALF]), np.random.default_rng(7), BackgroundLocator()
    shares = []
    for i in range(frames):
        image = regions.black_out(_textured(rng, 1.4 if i >= 20 else 1.0))
        fg = locator.foreground(image, 0.1, analysed=analysed)
        shares.append(float(fg[:, fg.shape[1] // 2 + 1 :].mean()))
    return shares


def test_a_global_change_over_the_analysed_half_relearns() -> None:
    shares = _run(Regions(masks=[LEFT_HALF]).keep(W, H))
    assert max(shares[:20]) < 0.01
    assert max(shares[20:]) < 0.01  # the changed frame is relearnt at once, nothing reported


def test_counting_masked_pixels_as_analysed_misses_the_change() -> None:
    shares = _run(None)  # the old behaviour: half the frame black, the guard cannot trip
    assert min(shares[20:25]) > 0.9


def test_a_lamp_switch_in_a_half_masked_simulated_room_is_relearnt() -> None:
    scene = random_scene(20, "adl")  # a training seed's room, with the lamp switched on at 5.4 s
    lamp = Keyframes(((5.4, 0.0), (5.5, 0.6)))
    scene = replace(
        scene,
        camera=replace(scene.camera, resolution=(W, H), fps=10.0),
        lighting=replace(scene.lighting, ambient=Keyframes.constant(0.4), lamp=lamp),
        duration_s=8.0,
    )
    regions, renderer = Regions(masks=[LEFT_HALF]), Renderer(scene)
    shares: dict[bool, list[float]] = {True: [], False: []}
    for use in (True, False):
        locator = BackgroundLocator()
        for t, image, _ in renderer.frames():
            fg = locator.foreground(
                regions.black_out(image), 0.1, analysed=regions.keep(W, H) if use else None
            )
            if 5.5 <= t < 7.5:
                shares[use].append(float(fg[:, 81:].mean()))
    assert np.mean(shares[False]) > 0.9  # without the mask the analysed half stays foreground
    assert np.mean(shares[True]) < 0.05


class _Seen:
    """A locator that finds nobody and remembers the analysed area it was given."""

    def __init__(self) -> None:
        self.analysed: list[Mask | None] = []

    def locate(
        self, image: np.ndarray, dt_s: float, keep: Sequence[Box] = (), analysed: Mask | None = None
    ) -> list[PersonDetection]:
        self.analysed.append(analysed)
        return []


class _Never:
    ref = ModelRef("fall", "never0000000")

    def score(self, windows: np.ndarray) -> np.ndarray:
        return np.zeros(len(windows), np.float32)


def test_the_detector_hands_its_locator_the_unmasked_area() -> None:
    image = np.zeros((H, W, 3), np.uint8)
    frame = Frame("cam", datetime(2026, 11, 27, tzinfo=UTC), image, 0)
    masked, plain = _Seen(), _Seen()
    FallDetector("cam", FallSettings(), Regions(masks=[LEFT_HALF]), _Never(), locator=masked).on_frame(frame)
    FallDetector("cam", FallSettings(), Regions(), _Never(), locator=plain).on_frame(frame)
    area = masked.analysed[0]
    assert area is not None and area.shape == (H, W)
    assert not area[:, : W // 2].any() and area[:, W // 2 + 1 :].all()
    assert plain.analysed == [None]
