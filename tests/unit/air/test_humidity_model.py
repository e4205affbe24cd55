"""The committed pm_humidity model, through the gateway's OnnxHumidityCorrector.

Scenario: damp air inflates optical PM2.5, so at high RH the corrected value must fall well below the
raw one; in dry air the correction must stay small; and no input may give a negative concentration.
Thresholds here are properties of the physics, not of the fitted numbers (see MODEL_CARD.md).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gateway.air.correction import PmCorrector
from gateway.air.humidity import MODEL_NAME, OnnxHumidityCorrector, load_default
from gateway.inference.runner import OnnxModel
from gateway.shipped import models_dir


@pytest.fixture(scope="module")
def corrector() -> OnnxHumidityCorrector:
    return load_default()


def test_satisfies_pm_corrector_and_names_the_verified_file(corrector: OnnxHumidityCorrector) -> None:
    as_protocol: PmCorrector = corrector
    model = OnnxModel(models_dir() / "air_quality" / "pm_humidity.onnx")

    assert as_protocol.model.name == MODEL_NAME == "pm_humidity"
    assert as_protocol.model.version == model.version
    assert len(as_protocol.model.version) == 12


def test_default_model_dir_is_the_repository_models_directory() -> None:
    assert (models_dir() / "MANIFEST.sha256").is_file()
    assert models_dir().name == "models"


@pytest.mark.parametrize("pm25", [10.0, 20.0, 50.0, 150.0])
@pytest.mark.parametrize("humidity", [85.0, 90.0, 95.0])
def test_high_humidity_lowers_the_reading(
    corrector: OnnxHumidityCorrector, pm25: float, humidity: float
) -> None:
    assert corrector.correct(pm25, humidity) < 0.8 * pm25


@pytest.mark.parametrize("humidity", [30.0, 40.0])
def test_low_humidity_leaves_a_typical_reading_nearly_unchanged(
    corrector: OnnxHumidityCorrector, humidity: float
) -> None:
    assert corrector.correct(20.0, humidity) == pytest.approx(20.0, rel=0.10)


def test_correction_grows_with_humidity(corrector: OnnxHumidityCorrector) -> None:
    values = [corrector.correct(30.0, rh) for rh in (50.0, 70.0, 80.0, 90.0, 95.0)]
    assert values == sorted(values, reverse=True)


def test_output_is_never_negative(corrector: OnnxHumidityCorrector) -> None:
    pm = [0.0, 0.1, 1.0, 5.0, 50.0, 1000.0]
    rh = [-10.0, 0.0, 50.0, 95.0, 99.0, 100.0, 150.0]
    for pm25, humidity in itertools.product(pm, rh):
        assert corrector.correct(pm25, humidity) >= 0.0


def test_batch_output_is_never_negative() -> None:
    model = OnnxModel(models_dir() / "air_quality" / "pm_humidity.onnx")
    rng = np.random.default_rng(0)
    batch = np.column_stack([rng.uniform(0, 500, 10_000), rng.uniform(-20, 120, 10_000)])
    out = model.run(batch)
    assert out.shape == (10_000, 1)
    assert np.all(np.asarray(out, dtype=np.float32) >= 0.0)


@pytest.mark.parametrize(
    ("pm25", "humidity"), [(float("nan"), 50.0), (10.0, float("nan")), (10.0, float("inf"))]
)
def test_non_finite_input_is_refused(corrector: OnnxHumidityCorrector, pm25: float, humidity: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        corrector.correct(pm25, humidity)
