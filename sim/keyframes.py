"""Piecewise-linear functions of time, the one shape scenarios and video scenes script values with."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keyframes:
    """A piecewise-linear function of time, constant outside the points; two points at one time make a step."""

    points: tuple[tuple[float, float], ...]

    def at(self, t: float) -> float:
        """The value at time `t` (constant before the first point and after the last)."""
        times = [p[0] for p in self.points]
        i = bisect_right(times, t)
        if i == 0:
            return self.points[0][1]
        if i == len(self.points):
            return self.points[-1][1]
        (t0, v0), (t1, v1) = self.points[i - 1], self.points[i]
        # bisect gives t0 <= t < t1 on sorted points; `<=` keeps unsorted ones from dividing by zero too.
        return v0 if t1 <= t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)

    @staticmethod
    def constant(value: float) -> Keyframes:
        """A constant function."""
        return Keyframes(((0.0, value),))
