"""EAQI band tables and the band hysteresis: boundaries, versions, the worse-of rule, no flapping."""

from __future__ import annotations

from itertools import pairwise

import pytest

from gateway.air.eaqi import (
    BANDS,
    EAQI_2017,
    EAQI_2024,
    BandHysteresis,
    band_index,
    eaqi_table,
    lower_bound,
    overall_band,
)


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0.0, "good"),
        (9.9, "good"),
        (10.0, "fair"),
        (24.9, "moderate"),
        (25.0, "poor"),
        (50.0, "very_poor"),
        (75.0, "extremely_poor"),
        (5000.0, "extremely_poor"),
    ],
)
def test_pm25_bands_2017(value: float, band: str) -> None:
    assert BANDS[band_index(value, EAQI_2017.pm25)] == band


@pytest.mark.parametrize(("value", "band"), [(19.9, "good"), (20.0, "fair"), (100.0, "very_poor")])
def test_pm10_bands_2017(value: float, band: str) -> None:
    assert BANDS[band_index(value, EAQI_2017.pm10)] == band


def test_tables_are_versioned_and_selectable() -> None:
    assert eaqi_table("2017") is EAQI_2017
    assert eaqi_table("2024") is EAQI_2024
    assert EAQI_2024.version == "2024"
    assert BANDS[band_index(6.0, EAQI_2024.pm25)] == "fair"
    with pytest.raises(ValueError, match="unknown EAQI table"):
        eaqi_table("2013")


def test_overall_band_is_the_worse_and_names_the_pollutant() -> None:
    assert overall_band(12.0, 45.0, EAQI_2017) == (2, "pm10")
    assert overall_band(30.0, 45.0, EAQI_2017) == (3, "pm25")
    assert overall_band(12.0, 25.0, EAQI_2017) == (1, "pm25")  # a tie goes to PM2.5
    assert overall_band(None, 25.0, EAQI_2017) == (1, "pm10")
    with pytest.raises(ValueError, match="at least one"):
        overall_band(None, None, EAQI_2017)


def test_lower_bound() -> None:
    assert lower_bound(0, EAQI_2017.pm25) == 0.0
    assert lower_bound(3, EAQI_2017.pm25) == 25.0


def test_hysteresis_rises_at_once_and_falls_past_the_margin() -> None:
    band = BandHysteresis(EAQI_2017.pm25, margin=0.10)
    assert band.update(20.0) == 2
    assert band.update(25.0) == 3  # rises as soon as the boundary is reached
    assert band.update(23.0) == 3  # below 25 but not below 25 * 0.9
    assert band.update(22.6) == 3
    assert band.update(22.4) == 2


def test_hysteresis_a_large_drop_lands_where_the_margin_puts_it() -> None:
    band = BandHysteresis(EAQI_2017.pm25, margin=0.10)
    band.update(60.0)
    assert band.update(19.5) == 2  # raw "fair", but 19.5 >= 20 * 0.9 still holds "moderate"
    assert band.update(3.0) == 0


def test_value_oscillating_at_a_boundary_changes_band_once() -> None:
    band = BandHysteresis(EAQI_2017.pm25, margin=0.10)
    seen = [band.update(25.0 + (0.5 if i % 2 else -0.5)) for i in range(100)]
    changes = sum(a != b for a, b in pairwise(seen))
    assert changes == 1
    assert seen[-1] == 3


def test_zero_margin_is_plain_banding() -> None:
    band = BandHysteresis(EAQI_2017.pm25, margin=0.0)
    band.update(25.0)
    assert band.update(24.9) == 2


@pytest.mark.parametrize("margin", [-0.1, 1.0])
def test_margin_outside_range_is_rejected(margin: float) -> None:
    with pytest.raises(ValueError, match="margin"):
        BandHysteresis(EAQI_2017.pm25, margin)
