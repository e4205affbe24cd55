"""Retry delays for reopening a source: exponential with jitter, capped, back to the start on success."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double per failure up to `max_s`, each scaled by a random factor in 1 +- `jitter`."""

    def __init__(
        self, min_s: float, max_s: float, jitter: float = 0.2, rng: random.Random | None = None
    ) -> None:
        if not 0 < min_s <= max_s or not 0 <= jitter < 1:
            raise ValueError("need 0 < min_s <= max_s and 0 <= jitter < 1")
        self.min_s, self.max_s, self.jitter = min_s, max_s, jitter
        # Jitter keeps gateways that lost one network from retrying in lockstep (aiomqtt's reconnect loop).
        self._rng = rng if rng is not None else random.Random()
        self._delay = min_s

    def next(self) -> float:
        """The delay to wait after this failure; the one after it is twice as long, up to `max_s`."""
        delay = self._delay * self._rng.uniform(1 - self.jitter, 1 + self.jitter)
        self._delay = min(self._delay * 2, self.max_s)
        return delay

    def reset(self) -> None:
        """Start again from `min_s` (the source worked)."""
        self._delay = self.min_s
