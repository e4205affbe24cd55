"""A virtual MaxBotix HRXL-MaxSonar-WR water-level sensor, and its own frame encoder.

Written from shared/datasets/PROTOCOLS.md ("MaxBotix HRXL-MaxSonar-WR"), never from gateway/ code:
free-running `R` + 4 digits (mm) + CR at ~6 Hz, a header burst after power-on, 5000 (5-m models) or
9999 (10-m models) for no target, the blanking distance for anything closer, 5 mm steps.

The device plays a scenario's TRUE depth (distance = mount height - depth) and adds, from its own
seeded random stream, what makes real water-level data hard: wind waves, debris (single short
readings), multipath echoes at low water (episodes of falsely short distances) and windows
without any echo. No I/O and no threads: `sim.serial.runner` moves the bytes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Truth = Callable[[float], Mapping[str, float]]  # scenario time -> {"depth_mm": true depth}

FRAME_PERIOD_S = 1 / 6  # free-running at ~6 Hz
QUANTUM_MM = 5  # readings move in 5 mm steps (House Mill MB7389)
# The power-on header of an MB7389 as EnviroDIY's MaxBotixSonar.cpp documents the family's.
HEADER_LINES = (
    b"HRXL-MaxSonar-WRL",
    b"PN:MB7389",
    b"Copyright 2011-2013",
    b"MaxBotix Inc.",
    b"RoHS 1.8b090  0713",
    b"TempI",
)
HEADER_S = 0.3  # the header takes a few hundred ms before the first range


def range_frame(distance_mm: int) -> bytes:
    """One range frame: `R`, four ASCII digits (mm), CR."""
    if not 0 <= distance_mm <= 9999:
        raise ValueError(f"a MaxBotix range has 4 digits, got {distance_mm}")
    return b"R%04d\r" % distance_mm


def header() -> bytes:
    """The CR-terminated header lines a sensor prints after power-on."""
    return b"".join(line + b"\r" for line in HEADER_LINES)


@dataclass(frozen=True, slots=True)
class WaterArtefacts:
    """How the sensor misreads the water; probabilities are seeded per device."""

    noise_mm: float = 3.0
    """Gaussian range noise per frame, before 5 mm quantisation."""
    waves_mm: float = 0.0
    """Amplitude of wind waves on the surface (the true depth is the still-water level)."""
    wave_period_s: float = 5.0
    debris_p: float = 0.0
    """Probability per frame that something (leaf, insect, floating litter) reads short."""
    multipath_below_mm: float = 0.0
    """Multipath echoes happen only while the true depth is below this (low water)."""
    multipath_per_hour: float = 0.0
    """Expected multipath episodes per hour of low water."""
    multipath_short_mm: float = 600.0
    """How much too short an episode reads (an echo off a wall or a ledge)."""
    multipath_max_s: float = 20.0
    """Longest multipath episode (each lasts 5 s up to this)."""
    no_target_mm: int | None = None
    """Code for no target: None = the datasheet's (5000 or 9999); House Mill's sensor sent 5003."""
    lost_target: tuple[tuple[float, float], ...] = ()
    """Scenario-time windows [start, end) without any echo (misaligned, condensation, foam)."""


class VirtualMaxbotix:
    """A free-running HRXL-MaxSonar-WR above water of a scenario's true depth."""

    def __init__(
        self,
        truth: Truth,
        rng: random.Random,
        mount_height_mm: float,
        model_range_mm: int = 5000,
        artefacts: WaterArtefacts | None = None,
    ) -> None:
        if model_range_mm not in (5000, 10000):
            raise ValueError("HRXL-MaxSonar-WR models range 5000 or 10000 mm")
        self._truth, self._rng = truth, rng
        self.mount_height_mm = mount_height_mm
        self.model_range_mm = model_range_mm
        self.artefacts = artefacts or WaterArtefacts()
        self.blanking_mm = 300 if model_range_mm == 5000 else 500
        default_code = 5000 if model_range_mm == 5000 else 9999
        self.no_target_mm = self.artefacts.no_target_mm or default_code
        self._wave_phase = rng.uniform(0.0, 2 * math.pi)
        self._multipath_until = -math.inf
        self._header_due = False
        self._next_t = math.inf
        self.power_on(0.0)

    def power_on(self, t: float) -> None:
        """Power cycle: the header burst first, ranges a moment later."""
        self._header_due = True
        self._next_t = t + HEADER_S

    def on_bytes(self, data: bytes, t: float) -> bytes:
        """Nothing: the sensor's serial line is output only."""
        return b""

    def frame_due(self, t: float) -> bytes | None:
        """The header after power-on, then one range every ~1/6 s (no burst after a stall)."""
        if self._header_due:
            self._header_due = False
            return header()
        if t < self._next_t:
            return None
        self._next_t = (
            self._next_t + FRAME_PERIOD_S if self._next_t + FRAME_PERIOD_S > t else t + FRAME_PERIOD_S
        )
        return range_frame(self.measure(t))

    def measure(self, t: float) -> int:
        """The range the sensor reports at scenario time t [mm]."""
        a = self.artefacts
        if any(start <= t < end for start, end in a.lost_target):
            return self.no_target_mm
        depth = self._truth(t)["depth_mm"]
        surface = depth + a.waves_mm * math.sin(2 * math.pi * t / a.wave_period_s + self._wave_phase)
        distance = self.mount_height_mm - surface + self._rng.gauss(0.0, a.noise_mm)
        if self._multipath(t, depth):
            distance -= a.multipath_short_mm
        elif self._rng.random() < a.debris_p:
            distance = self._rng.uniform(self.blanking_mm, max(self.blanking_mm, distance - 100))
        return self._encode(distance)

    def _multipath(self, t: float, depth: float) -> bool:
        a = self.artefacts
        if t < self._multipath_until:
            return True
        if depth >= a.multipath_below_mm or a.multipath_per_hour <= 0:
            return False
        if self._rng.random() < a.multipath_per_hour * FRAME_PERIOD_S / 3600:
            self._multipath_until = t + self._rng.uniform(5.0, max(5.0, a.multipath_max_s))
            return True
        return False

    def _encode(self, distance: float) -> int:
        if distance >= self.model_range_mm:
            return self.no_target_mm  # the surface is beyond range: no echo
        if distance <= self.blanking_mm:
            return self.blanking_mm
        return QUANTUM_MM * round(distance / QUANTUM_MM)
