"""Keyframes at its edges: before, after and on the points, steps, and segments of no length."""

from __future__ import annotations

import pytest

from sim.keyframes import Keyframes


def test_constant_outside_the_points_and_linear_between() -> None:
    f = Keyframes(((10.0, 1.0), (20.0, 3.0)))
    assert [f.at(t) for t in (0.0, 10.0, 15.0, 20.0, 99.0)] == [1.0, 1.0, 2.0, 3.0, 3.0]


def test_a_single_point_is_constant() -> None:
    assert Keyframes.constant(0.4).at(-5.0) == Keyframes.constant(0.4).at(1e9) == 0.4


def test_two_points_at_one_time_make_a_step() -> None:
    f = Keyframes(((0.0, 0.0), (5.0, 0.0), (5.0, 1.0), (10.0, 1.0)))
    assert (f.at(4.999), f.at(5.0), f.at(7.5)) == (0.0, 1.0, 1.0)


@pytest.mark.parametrize("t", [-1.0, 0.0, 0.5, 1.0, 2.0])
def test_a_reversed_segment_never_divides_by_zero(t: float) -> None:
    f = Keyframes(((1.0, 2.0), (0.0, 4.0)))  # loaders refuse this order; the function still answers
    assert f.at(t) in (2.0, 4.0)
