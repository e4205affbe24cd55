"""The node's /config.json from the flash options: default wiring, `--pin` moves, `--duty-cycle`.

The bounds are the firmware's own (firmware/node/config.py), checked here so that a mistake is an
option error before anything is copied, not a node that boots safe defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Settable wiring keys per sensor (firmware/node/config.py SENSORS) and each key's range.
SETTABLE: dict[str, tuple[str, ...]] = {
    "pms5003": ("uart", "tx", "rx"),
    "sds011": ("uart", "tx", "rx"),
    "bme280": ("i2c", "scl", "sda"),
    "maxbotix": ("uart", "rx", "tx"),
    "rain": ("pin",),
}
RANGE = {"uart": (0, 2), "i2c": (0, 1)}  # bus numbers; everything else is a GPIO number
GPIO = (0, 48)
GPIO_KEYS = ("tx", "rx", "scl", "sda", "pin")
PARTICULATE = ("pms5003", "sds011")
WARMUP_S = 30  # the PMS5003 and SDS011 datasheets: readings are stable 30 s after the fan starts
MAX_EVERY_S = 86_400  # firmware: duty every_s <= one day


def parse_pin(text: str, sensors: Iterable[str]) -> tuple[str, int]:
    """`pms5003.tx=25`, `rain=27` (a one-pin sensor) or `led=2` -> (name, number); ValueError why not."""
    name, sep, number = text.partition("=")
    name = name.strip()
    if not sep or not number.strip().isdigit():
        raise ValueError(f"--pin {text!r}: write NAME=NUMBER, e.g. pms5003.tx=25 or led=2")
    sensor, _, key = name.partition(".")
    if name != "led" and not key and len(SETTABLE.get(sensor, ())) == 1:
        key, name = SETTABLE[sensor][0], f"{sensor}.{SETTABLE[sensor][0]}"
    if name != "led":
        if sensor not in sensors:
            raise ValueError(f"--pin {text!r}: {sensor} is not among --sensors")
        if key not in SETTABLE[sensor]:
            raise ValueError(f"--pin {text!r}: {sensor} has {', '.join(SETTABLE[sensor])}")
    low, high = RANGE.get(key, GPIO)
    value = int(number)
    if not low <= value <= high:
        raise ValueError(f"--pin {text!r}: {key or name} is {low}..{high}")
    return name, value


def wire(defaults: dict[str, dict[str, Any]], sensors: Iterable[str], pins: Iterable[str]) -> dict[str, Any]:
    """{"sensors": {...}, "led": n?}: the board's default wiring with every `--pin` applied."""
    chosen = list(sensors)
    wiring: dict[str, dict[str, Any]] = {name: dict(defaults[name]) for name in chosen}
    out: dict[str, Any] = {"sensors": wiring}
    for text in pins:
        name, value = parse_pin(text, chosen)
        if name == "led":
            out["led"] = value
        else:
            sensor, key = name.split(".")
            wiring[sensor][key] = value
    _no_pin_twice(wiring, out.get("led"))
    return out


def _no_pin_twice(wiring: dict[str, dict[str, Any]], led: int | None) -> None:
    users: dict[tuple[str, int], list[str]] = {}
    for sensor, spec in wiring.items():
        for key, value in spec.items():
            kind = "gpio" if key in GPIO_KEYS else key if key in RANGE else None
            if kind is not None:
                users.setdefault((kind, value), []).append(f"{sensor}.{key}")
    if led is not None:
        users.setdefault(("gpio", led), []).append("led")
    for (kind, value), names in sorted(users.items()):
        if len(names) > 1:
            what = "pin" if kind == "gpio" else kind
            raise ValueError(f"{what} {value} is given to {' and '.join(names)}: move one with --pin")


def duty(duty_cycle: float | None, sensors: Iterable[str]) -> dict[str, dict[str, int]]:
    """The firmware's `duty` section for a fraction of time the particulate fan runs (1 or none: always)."""
    if duty_cycle is None or duty_cycle == 1:
        return {}
    shortest = WARMUP_S / MAX_EVERY_S
    if not shortest <= duty_cycle < 1:
        raise ValueError(
            f"--duty-cycle is a fraction of time, {shortest:.4f}..1 (e.g. 0.1), not {duty_cycle}"
        )
    fans = [s for s in sensors if s in PARTICULATE]
    if not fans:
        raise ValueError("--duty-cycle runs a particulate sensor's fan: add pms5003 or sds011 to --sensors")
    # On for the warm-up, then asleep until the period is over (the firmware wants on_s < every_s).
    every = max(WARMUP_S + 1, round(WARMUP_S / duty_cycle))
    return {fan: {"on_s": WARMUP_S, "every_s": every} for fan in fans}
