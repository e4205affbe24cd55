"""The seam between the air-quality detector and its humidity-correction model."""

from __future__ import annotations

from typing import Protocol

from gateway.messages import ModelRef


class PmCorrector(Protocol):
    """Corrects a low-cost optical PM2.5 reading for particle growth at high humidity."""

    @property
    def model(self) -> ModelRef:
        """Name and version of the model, reported on events it decided."""
        ...

    def correct(self, pm25: float, humidity: float) -> float:
        """Corrected PM2.5 [ug/m3] from a raw PM2.5 [ug/m3] and relative humidity [%]."""
        ...
