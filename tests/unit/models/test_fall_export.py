"""The fall model's export: every candidate family becomes the gateway's ONNX contract and quantises.

Tiny synthetic windows (seeded), so this pins the conversion (input "windows" [N, 180], output
"fall_probability" [N, 1] = p ** gamma), not the trained model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

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

THRESHOLD = 0.8


def _data() -> Dataset:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(600, 180)).astype(np.float32)
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
    assert onnx_scorer(int8)(data.x[:3]).shape == (3,)
