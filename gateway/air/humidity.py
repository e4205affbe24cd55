"""The PM2.5 humidity correction (a PmCorrector) backed by ``models/air_quality/pm_humidity.onnx``.

The model, its training data and its limits are described in models/air_quality/MODEL_CARD.md.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Final

import numpy as np

from gateway.inference.runner import OnnxModel
from gateway.messages import ModelRef
from gateway.security.signing import VerifiedManifest
from gateway.shipped import models_dir

MODEL_NAME: Final = "pm_humidity"
MODEL_FILE: Final = Path("air_quality") / "pm_humidity.onnx"
MANIFEST_FILE: Final = "MANIFEST.sha256"


class OnnxHumidityCorrector:
    """Corrects raw PM2.5 for hygroscopic growth with the verified ``pm_humidity`` ONNX model."""

    def __init__(self, model: OnnxModel) -> None:
        self._model = model
        self._ref = ModelRef(name=MODEL_NAME, version=model.version)

    @property
    def model(self) -> ModelRef:
        """Name and version (sha256 prefix of the file) of the model, reported on events."""
        return self._ref

    def correct(self, pm25: float, humidity: float) -> float:
        """Corrected PM2.5 [ug/m3] (>= 0) from raw PM2.5 [ug/m3] and the sensor's relative humidity [%].

        Raises ValueError for NaN or infinite inputs: a missing humidity must be handled by the
        caller (e.g. by flagging the reading), not silently turned into a number here.
        """
        if not (math.isfinite(pm25) and math.isfinite(humidity)):
            raise ValueError(f"pm25 and humidity must be finite, got pm25={pm25!r}, humidity={humidity!r}")
        out = self._model.run(np.array([[pm25, humidity]], dtype=np.float32))
        return float(out.reshape(-1)[0])


def load_default(model_dir: Path | None = None) -> OnnxHumidityCorrector:
    """The corrector from ``model_dir`` (default: the repository's models/), verified by its manifest."""
    root = models_dir() if model_dir is None else model_dir
    return OnnxHumidityCorrector(OnnxModel(root / MODEL_FILE, manifest=root / MANIFEST_FILE, name=MODEL_NAME))


def load_signed(manifest: VerifiedManifest) -> OnnxHumidityCorrector:
    """The corrector from a verified, signed models manifest (what a running gateway uses)."""
    return OnnxHumidityCorrector(OnnxModel.from_signed(manifest, MODEL_FILE.as_posix(), MODEL_NAME))
