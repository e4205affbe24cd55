"""The committed flood nowcast, through the gateway's OnnxNowcaster and the signed models manifest.

Scenario: one water-level sensor's filtered history (depth in mm above the dry reference, oldest first)
and a threshold. Water rising steadily just below the threshold must look more urgent than a flat
level far below it, and a faster rise never less urgent; a history too short for a rate gives no
nowcast, and NaN is refused. Training reads its features through the very function the gateway uses.
"""

from __future__ import annotations

import hashlib

import numpy as np
import onnxruntime as ort
import pytest

from gateway.flood import nowcast
from gateway.flood.detector import Nowcaster as DetectorNowcaster
from gateway.flood.nowcast import (
    FEATURE_NAMES,
    MODEL_FILE,
    N_FEATURES,
    Nowcaster,
    OnnxNowcaster,
    load_signed,
    nowcast_features,
)
from gateway.inference.runner import ModelIntegrityError, OnnxModel
from gateway.security.signing import verify_manifest
from gateway.shipped import models_dir
from models.flood import data

MODELS = models_dir()


@pytest.fixture(scope="module")
def nowcaster() -> OnnxNowcaster:
    verified = verify_manifest(MODELS / "MANIFEST.json", MODELS / "release.pub.pem", kind="models")
    return load_signed(verified)


def steady(
    rate_mm_per_min: float, end_depth: float, minutes: int = 60, step_s: float = 60.0
) -> tuple[list[float], list[float]]:
    times = np.arange(0.0, minutes * 60.0 + 1.0, step_s)
    depths = end_depth - rate_mm_per_min * (times[-1] - times) / 60.0
    return times.tolist(), depths.tolist()


def test_committed_model_loads_from_the_signed_manifest(nowcaster: OnnxNowcaster) -> None:
    as_protocol: Nowcaster = nowcaster
    as_detector_sees_it: DetectorNowcaster = nowcaster
    digest = hashlib.sha256((MODELS / MODEL_FILE).read_bytes()).hexdigest()

    assert as_protocol.model.name == as_detector_sees_it.model.name == "flood_nowcast"
    assert as_protocol.model.version == digest[:12]


def test_rising_near_the_threshold_beats_flat_far_below(nowcaster: OnnxNowcaster) -> None:
    rising = nowcaster.crossing_probabilities(*steady(3.0, end_depth=170.0), threshold_mm=200.0)
    flat = nowcaster.crossing_probabilities(*steady(0.0, end_depth=50.0), threshold_mm=200.0)

    assert rising[0] > 0.5
    assert rising[1] > 0.5
    assert flat[0] < 0.05
    assert flat[1] < 0.05
    assert rising[0] > flat[0]
    assert rising[1] > flat[1]


def test_faster_rise_is_never_less_urgent(nowcaster: OnnxNowcaster) -> None:
    rates = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    p = np.array([nowcaster.crossing_probabilities(*steady(r, end_depth=140.0), 200.0) for r in rates])

    assert np.all(np.diff(p, axis=0) >= -1e-6)
    assert p[-1, 1] - p[0, 1] > 0.5


@pytest.mark.parametrize(
    ("times", "depths"),
    [
        ([], []),
        ([0.0], [100.0]),
        ([0.0, 60.0], [100.0, 110.0]),
        ([0.0, 60.0, 120.0, 180.0, 240.0], [100.0, 110.0, 120.0, 130.0, 140.0]),  # 4 minutes only
        ([0.0, 3600.0, 3660.0, 3720.0], [10.0, 150.0, 160.0, 170.0]),  # old readings do not count
    ],
)
def test_too_little_history_gives_no_nowcast(
    nowcaster: OnnxNowcaster, times: list[float], depths: list[float]
) -> None:
    assert nowcaster.crossing_probabilities(times, depths, 180.0) == (0.0, 0.0)


def test_a_reached_threshold_is_certain(nowcaster: OnnxNowcaster) -> None:
    assert nowcaster.crossing_probabilities(*steady(1.0, end_depth=200.0), threshold_mm=200.0) == (1.0, 1.0)


@pytest.mark.parametrize(
    ("times", "depths", "threshold"),
    [
        ([0.0, 60.0, float("nan")], [1.0, 2.0, 3.0], 100.0),
        ([0.0, 60.0, 120.0], [1.0, float("nan"), 3.0], 100.0),
        ([0.0, 60.0, 120.0], [1.0, 2.0, float("inf")], 100.0),
        ([0.0, 60.0, 120.0], [1.0, 2.0, 3.0], float("nan")),
    ],
)
def test_nan_is_refused(
    nowcaster: OnnxNowcaster, times: list[float], depths: list[float], threshold: float
) -> None:
    with pytest.raises(ValueError, match="finite"):
        nowcaster.crossing_probabilities(times, depths, threshold)


def test_malformed_histories_are_refused() -> None:
    with pytest.raises(ValueError, match="order"):
        nowcast_features([0.0, 120.0, 60.0], [1.0, 2.0, 3.0], 100.0)
    with pytest.raises(ValueError, match="one length"):
        nowcast_features([0.0, 60.0], [1.0], 100.0)
    with pytest.raises(ValueError, match="now_s"):
        nowcast_features([0.0, 60.0], [1.0, 2.0], 100.0, now_s=30.0)


def test_probabilities_are_bounded_and_ordered(nowcaster: OnnxNowcaster) -> None:
    rng = np.random.default_rng(5)
    for _ in range(100):
        times = np.cumsum(rng.uniform(10.0, 400.0, 40))
        depths = np.cumsum(rng.normal(rng.uniform(-20.0, 40.0), rng.uniform(0.0, 30.0), 40))
        p15, p30 = nowcaster.crossing_probabilities(times.tolist(), depths.tolist(), float(depths.max() + 50))
        assert 0.0 <= p15 <= p30 <= 1.0


def test_training_reads_features_through_the_serving_function() -> None:
    assert vars(data)["nowcast_features"] is nowcast.nowcast_features
    times, depths = steady(2.0, end_depth=100.0, minutes=180, step_s=45.0)
    level = data.Level(np.asarray(times), np.asarray(depths))
    now = times[-41]  # the training path slices the history; the result must not depend on it

    row = data.window_rows(level, 150.0, np.asarray([now])).features[0]
    served = nowcast_features(times[:-40], depths[:-40], 150.0)

    assert served is not None
    assert np.array_equal(row, served)


def test_committed_model_was_trained_on_these_features() -> None:
    session = ort.InferenceSession(MODELS / MODEL_FILE, providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    (model_input,) = session.get_inputs()

    assert props["feature_names"].split(",") == list(FEATURE_NAMES)
    assert model_input.shape == ["N", N_FEATURES]
    assert (MODELS / MODEL_FILE).stat().st_size < 200_000


def test_a_model_for_other_inputs_is_refused() -> None:
    other = OnnxModel(MODELS / "air_quality" / "pm_humidity.onnx", MODELS / "MANIFEST.sha256")
    with pytest.raises(ModelIntegrityError, match="features"):
        OnnxNowcaster(other)
