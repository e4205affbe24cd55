"""Model slots: detectors hold a slot, hot reload swaps the model inside it without losing state."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.air.correction import PmCorrector
from gateway.flood.nowcast import Nowcaster
from gateway.messages import ModelRef
from gateway.vision.fall import FallModel, FloatArray


class CorrectorSlot:
    """A PmCorrector whose model can be replaced while detectors hold on to it."""

    def __init__(self, current: PmCorrector) -> None:
        self.current = current

    @property
    def model(self) -> ModelRef:
        """The current model's name and version."""
        return self.current.model

    def correct(self, pm25: float, humidity: float) -> float:
        """Corrected PM2.5 from the current model."""
        return self.current.correct(pm25, humidity)


class NowcasterSlot:
    """A Nowcaster whose model can be replaced while flood detectors hold on to it."""

    def __init__(self, current: Nowcaster) -> None:
        self.current = current

    @property
    def model(self) -> ModelRef:
        """The current model's name and version."""
        return self.current.model

    def crossing_probabilities(
        self, times_s: Sequence[float], depths_mm: Sequence[float], threshold_mm: float
    ) -> tuple[float, float]:
        """P(crossing within 15 min), P(within 30 min) from the current model."""
        return self.current.crossing_probabilities(times_s, depths_mm, threshold_mm)


class FallModelSlot:
    """A fall model that can be replaced while every camera's fall detector holds on to it."""

    def __init__(self, current: FallModel) -> None:
        self.current = current

    @property
    def ref(self) -> ModelRef:
        """The current model's name and version."""
        return self.current.ref

    def score(self, windows: FloatArray) -> FloatArray:
        """Fall probability per window from the current model."""
        return self.current.score(windows)
