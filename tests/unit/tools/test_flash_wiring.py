"""`edge-gateway flash --pin/--interval/--duty-cycle`: the node's /config.json they produce, checked
by the firmware's own config parser, and every mistake named before anything is copied."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from gateway.tools.flash import FIRMWARE_DIR, FlashOptions
from gateway.tools.flash.build import node_config


@pytest.fixture(scope="module")
def firmware_config() -> Iterator[ModuleType]:
    """firmware/node/config.py, as the board runs it (it is plain Python that CPython runs too)."""
    sys.path.insert(0, str(FIRMWARE_DIR))
    try:
        yield importlib.import_module("node.config")
    finally:
        sys.path.remove(str(FIRMWARE_DIR))
        for name in [n for n in sys.modules if n == "node" or n.startswith("node.")]:
            del sys.modules[name]


def config_for(**options: Any) -> dict[str, Any]:
    opts = FlashOptions("/dev/null", options.pop("board", "esp32"), "node-0042", **options)
    opts.check()
    return node_config(opts)


def test_defaults_are_the_boards_wiring_and_sixty_seconds(firmware_config: ModuleType) -> None:
    config = config_for(sensors=("pms5003", "bme280"))
    assert config == {
        "node": "node-0042",
        "interval_s": 60,
        "sensors": {
            "pms5003": {"uart": 1, "tx": 17, "rx": 16},
            "bme280": {"i2c": 0, "scl": 22, "sda": 21, "addr": 118},
        },
    }
    assert firmware_config.parse(config, "node-x")[1] is None


def test_pins_interval_and_duty_cycle_reach_the_node_config(firmware_config: ModuleType) -> None:
    config = config_for(
        board="rp2",
        sensors=("sds011", "rain", "maxbotix"),
        interval_s=300,
        pins=("sds011.tx=8", "sds011.rx=9", "rain=22", "maxbotix.rx=13", "led=25"),
        duty_cycle=0.1,
    )
    assert config["interval_s"] == 300
    assert config["sensors"]["sds011"] == {"uart": 1, "tx": 8, "rx": 9}
    assert config["sensors"]["rain"]["pin"] == 22
    assert config["led"] == 25
    assert config["duty"] == {"sds011": {"on_s": 30, "every_s": 300}}
    parsed, error = firmware_config.parse(config, "node-x")
    assert error is None
    assert (parsed.interval_s, parsed.led, parsed.duty) == (300, 25, config["duty"])


@pytest.mark.parametrize(("cycle", "every"), [(1.0, None), (0.5, 60), (0.99, 31), (0.01, 3000)])
def test_duty_cycle_is_thirty_seconds_on_per_period(cycle: float, every: int | None) -> None:
    config = config_for(sensors=("pms5003",), duty_cycle=cycle)
    assert config.get("duty") == (None if every is None else {"pms5003": {"on_s": 30, "every_s": every}})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"interval_s": 4}, "--interval is 5..3600 seconds, not 4"),
        ({"pins": ("pms5003.tx=25",)}, "pms5003 is not among --sensors"),
        ({"sensors": ("bme280",), "pins": ("bme280.tx=3",)}, "bme280 has i2c, scl, sda"),
        ({"sensors": ("bme280",), "pins": ("bme280.sda",)}, "write NAME=NUMBER"),
        ({"sensors": ("bme280",), "pins": ("bme280.sda=49",)}, "sda is 0..48"),
        ({"sensors": ("bme280",), "pins": ("bme280.i2c=2",)}, "i2c is 0..1"),
        ({"sensors": ("bme280", "rain"), "pins": ("rain=21",)}, "pin 21 is given to bme280.sda and rain.pin"),
        ({"sensors": ("pms5003", "maxbotix"), "pins": ("maxbotix.uart=1",)}, "uart 1 is given to"),
        ({"sensors": ("rain",), "pins": ("led=27",)}, "pin 27 is given to rain.pin and led"),
        ({"sensors": ("bme280",), "duty_cycle": 0.1}, "add pms5003 or sds011"),
        ({"sensors": ("pms5003",), "duty_cycle": 0.0}, "a fraction of time"),
        ({"sensors": ("pms5003",), "duty_cycle": 1.5}, "a fraction of time"),
    ],
)
def test_mistakes_are_named(options: dict[str, Any], message: str) -> None:
    options.setdefault("sensors", ())
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        config_for(**options)
