"""Backoff: doubling, capped, jittered within bounds, reproducible from a seed, reset on success."""

from __future__ import annotations

import random

import pytest

from gateway.sources.backoff import Backoff


def test_delays_double_up_to_the_cap_within_the_jitter() -> None:
    backoff = Backoff(0.5, 10.0, rng=random.Random(7))
    delays = [backoff.next() for _ in range(8)]
    for delay, base in zip(delays, (0.5, 1, 2, 4, 8, 10, 10, 10), strict=True):
        assert 0.8 * base <= delay <= 1.2 * base


def test_the_same_seed_gives_the_same_delays() -> None:
    def run(seed: int) -> list[float]:
        backoff = Backoff(0.5, 10.0, rng=random.Random(seed))
        return [backoff.next() for _ in range(6)]

    assert run(3) == run(3) != run(4)


def test_reset_starts_again_from_the_minimum() -> None:
    backoff = Backoff(1.0, 4.0, jitter=0.0, rng=random.Random(1))
    assert [backoff.next() for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 1.0


@pytest.mark.parametrize(("min_s", "max_s", "jitter"), [(0.0, 1.0, 0.2), (2.0, 1.0, 0.2), (1.0, 2.0, 1.0)])
def test_nonsense_settings_are_refused(min_s: float, max_s: float, jitter: float) -> None:
    with pytest.raises(ValueError, match="min_s"):
        Backoff(min_s, max_s, jitter)
