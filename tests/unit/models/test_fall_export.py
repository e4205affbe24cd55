"""The fall model's export: every candidate family becomes the gateway's ONNX contract and quantises.

Tiny synthetic windows (seeded), so this pins the conversion (input "windows" [N, WINDOW_STEPS x FEATURES], output
"fall_probability" [N, 1] = p ** gamma), not the trained model. The INT8 file must score what the
float one does: within INT8_TOLERANCE on every window, and on the same side of the threshold. Only
weight matrices are quantised (MatMul/Gemm: the MLP); a linear or tree model has none, so its INT8
file is exact. The committed pair in models/fall/ is held to the same tolerance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from gateway.vision.pose_features import FEATURES, WINDOW_STEPS
from models.fall.scoring import onnx_scorer
from models.fall.train import (
    Dataset,
    build_onnx,
    calibration_exponent,
    candidates,
    fit,
    quantize,
    sklearn_scorer,
)

WIDTH = WINDOW_STEPS * len(FEATURES)  # the model's input width

THRESHOLD = 0.8
INT8_TOLERANCE = 0.02
"""Largest |INT8 - float| fall probability accepted on any window. Measured on these windows: 0.008
for mlp-64-32 (signed 8-bit weights, float activations), exactly 0 for logistic and boosted trees."""
MODELS = Path(__file__).resolve().parents[3] / "models" / "fall"


def _data() -> Dataset:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(600, WIDTH)).astype(np.float32)
    y = (x[:, 5] - x[:, 179] > 0.5).astype(np.int64)
    return Dataset(x, y, np.ones(len(y)))


@pytest.mark.parametrize("name", ["logistic", "mlp-64-32", "boosted-trees-d3"])
def test_each_family_exports_quantises_and_agrees_with_scikit_learn(name: str, tmp_path: Path) -> None:
    data = _data()
    model = candidates()[name]
    if name.startswith("boosted"):
        model.steps[-1][1].set_params(n_estimators=5)  # the conversion, not the fit, is under test
    model = fit(model, data)
    path, int8 = tmp_path / "m.onnx", tmp_path / "m8.onnx"
    onnx.save_model(build_onnx(model, THRESHOLD, "test"), path)
    expected = sklearn_scorer(model)(data.x) ** calibration_exponent(THRESHOLD)
    assert np.max(np.abs(onnx_scorer(path)(data.x) - expected)) < 1e-4
    quantize(path, int8)  # used to fail on "logistic": the default domain was declared twice
    assert_int8_agrees(onnx_scorer(path)(data.x), onnx_scorer(int8)(data.x))


def assert_int8_agrees(float_scores: np.ndarray, int8_scores: np.ndarray) -> None:
    assert int8_scores.shape == float_scores.shape
    assert np.all((int8_scores >= 0.0) & (int8_scores <= 1.0))
    assert np.max(np.abs(int8_scores - float_scores)) <= INT8_TOLERANCE
    assert np.array_equal(int8_scores >= THRESHOLD, float_scores >= THRESHOLD)


def test_quantising_the_mlp_changes_its_scores_but_within_tolerance(tmp_path: Path) -> None:
    """The one family with weight matrices: its INT8 file really is quantised, and still agrees."""
    data = _data()
    model = fit(candidates()["mlp-64-32"], data)
    path, int8 = tmp_path / "m.onnx", tmp_path / "m8.onnx"
    onnx.save_model(build_onnx(model, THRESHOLD, "test"), path)
    quantize(path, int8)
    assert any("Integer" in node.op_type for node in onnx.load(int8).graph.node)
    float_scores, int8_scores = onnx_scorer(path)(data.x), onnx_scorer(int8)(data.x)
    assert not np.array_equal(float_scores, int8_scores)
    assert_int8_agrees(float_scores, int8_scores)


def test_committed_int8_model_scores_what_the_float_model_does() -> None:
    windows = np.random.default_rng(11).normal(size=(2000, WIDTH)).astype(np.float32)
    float_scores = onnx_scorer(MODELS / "fall_model.onnx")(windows)
    int8_scores = onnx_scorer(MODELS / "fall_model.int8.onnx")(windows)
    assert_int8_agrees(float_scores, int8_scores)
