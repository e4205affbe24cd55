"""What is connected to the board's UARTs, I2C buses and pins, built from its /config.json.

The sensors measure a "truth" (scenario seconds -> true values); `default_truth` is a plausible
outdoor day for a board that runs without a scenario.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.board.bme280 import Bme280
from sim.board.cpu import Cpu
from sim.board.rain import RainGauge
from sim.serial.devices import Truth, VirtualDevice, VirtualPms5003, VirtualSds011
from sim.serial.maxbotix import VirtualMaxbotix

UART_SENSOR_BAUD = 9600  # PMS5003, SDS011 and MaxBotix all talk at 9600 baud


def default_truth(t: float) -> dict[str, float]:
    """A gentle, plausible outdoor day for the board's sensors (scenario seconds -> true values)."""
    wave = math.sin(2 * math.pi * t / 3600)
    return {
        "pm1": 6.0 + 2 * wave,
        "pm25": 9.0 + 3 * wave,
        "pm10": 14.0 + 4 * wave,
        "temperature": 11.5 + 1.5 * wave,
        "humidity": 82.0 - 5 * wave,
        "pressure": 1012.8,
        "depth_mm": 150.0 + 20 * wave,
        "rain_rate_mm_h": 0.0,
    }


@dataclass
class Wiring:
    """What is physically connected to the board, as its /config.json says and the sim attaches."""

    uarts: dict[int, VirtualDevice] = field(default_factory=dict)
    i2c: dict[tuple[str, int], Bme280] = field(default_factory=dict)  # (bus key, addr) -> device
    rain: dict[int, RainGauge] = field(default_factory=dict)  # pin -> gauge
    uart_baud: dict[int, int] = field(default_factory=dict)


def build_wiring(config: Mapping[str, Any], attached: set[str] | None, truth: Truth, cpu: Cpu) -> Wiring:
    """Wire simulated sensors where the config says they are (only those `attached`, if given)."""
    wiring = Wiring()
    sensors = config.get("sensors")
    if not isinstance(sensors, dict):
        return wiring
    bench = _Bench(truth, cpu, random.Random(7))
    for name, spec in sensors.items():
        if isinstance(spec, dict) and (attached is None or name in attached):
            _attach(wiring, name, spec, bench)
    return wiring


@dataclass(frozen=True, slots=True)
class _Bench:
    """What every simulated sensor needs: the truth, the board's clock and a seeded noise source."""

    truth: Truth
    cpu: Cpu
    rng: random.Random


def _uart_sensor(name: str, spec: Mapping[str, Any], bench: _Bench) -> VirtualDevice | None:
    truth, rng = bench.truth, bench.rng
    if name in ("pms5003", "pms5003t"):
        return VirtualPms5003(truth, rng, t_variant=name == "pms5003t")
    if name == "sds011":
        return VirtualSds011(truth, rng)
    if name == "maxbotix":
        return VirtualMaxbotix(truth, rng, float(spec.get("mount_height_mm", 2000)))
    return None


def _attach(wiring: Wiring, name: str, spec: Mapping[str, Any], bench: _Bench) -> None:
    uart = spec.get("uart")
    if isinstance(uart, int) and (device := _uart_sensor(name, spec, bench)) is not None:
        wiring.uarts[uart] = device
        wiring.uart_baud[uart] = UART_SENSOR_BAUD
    elif name == "bme280":
        bme280 = Bme280(bench.truth, bench.cpu)
        addr = int(spec.get("addr", 0x76))
        wiring.i2c[(f"hw{spec.get('i2c', 0)}", addr)] = bme280
        wiring.i2c[(f"sw{spec.get('scl')}/{spec.get('sda')}", addr)] = bme280
    elif name == "rain" and isinstance(spec.get("pin"), int):
        wiring.rain[int(spec["pin"])] = RainGauge(bench.truth, float(spec.get("mm_per_tip", 0.2)))
