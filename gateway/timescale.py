"""Simulated sites run faster than real time; the gateway's durations follow."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

S = TypeVar("S")


def scale_durations(settings: S, factor: float) -> S:
    """A copy of a frozen settings dataclass with every `*_s` duration (recursively) times `factor`.

    A simulator that plays a scenario N times faster than real time runs its sensors' frame
    periods N times faster; the gateway's durations shrink by the same factor, so every
    decision sees the same number of readings as on a real site.
    """
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(settings):  # type: ignore[arg-type]
        value = getattr(settings, f.name)
        if f.name.endswith("_s") and isinstance(value, int | float):
            changes[f.name] = value * factor
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes[f.name] = scale_durations(value, factor)
    return dataclasses.replace(settings, **changes)  # type: ignore[type-var]
