"""A model slot: detectors hold one, hot reload swaps the model inside it without losing their state."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Slot(Generic[T]):
    """A model that can be replaced while every detector using it holds on to the slot."""

    def __init__(self, current: T) -> None:
        self.current = current


def current(model: T | Slot[T]) -> T:
    """The model itself, or the one a slot holds now (detectors accept either)."""
    return model.current if isinstance(model, Slot) else model
