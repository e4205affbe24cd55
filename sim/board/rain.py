"""A simulated tipping-bucket rain gauge: falling edges on a pin, as many as the true rain gives."""

from __future__ import annotations

from sim.serial.devices import Truth


class RainGauge:
    """A tipping bucket: one falling edge per `mm_per_tip` of rain, from the true rain rate."""

    def __init__(self, truth: Truth, mm_per_tip: float) -> None:
        self._truth, self.mm_per_tip = truth, mm_per_tip
        self._last: float | None = None
        self._bucket = 0.0

    def tips(self, now: float) -> int:
        """Tips since the last call."""
        if self._last is None:
            self._last = now
        rate = self._truth(now).get("rain_rate_mm_h", 0.0)
        self._bucket += max(0.0, rate) * (now - self._last) / 3600
        self._last = now
        count = int(self._bucket / self.mm_per_tip)
        self._bucket -= count * self.mm_per_tip
        return count
