"""Board wiring only: read /config.json, build UARTs, I2C, pins and the watchdog, hand them to node.app.

Runs at boot on ESP32 and RP2040 MicroPython. Board layout: /main.py, /config.json, /lib/node/,
/lib/<driver>.py (or .mpy). See README.md for the config reference and the maintenance mode.
"""

import gc
import json
import os
import sys

import machine
import micropython
from bme280 import BME280
from maxbotix import MaxBotix
from node import config
from node import sensors as adapters
from node.app import FW_VERSION, App
from node.board import Board, reset_cause
from node.clock import Clock
from node.rain import RainGauge
from pms5003 import PMS5003
from sds011 import SDS011

try:
    from typing import Any
except ImportError:
    pass

CONFIG = "/config.json"
MAINTENANCE = "/maintenance"  # present: this boot stays in the REPL (no firmware, no watchdog)
WDT_MS = 8000  # the RP2040's maximum is 8388 ms
LINK_BAUD = 115200  # PROTOCOL.md
SENSOR_BAUD = 9600  # PMS5003, SDS011 and MaxBotix alike


class UsbLink:
    """The USB serial port (MicroPython's REPL stream) as a non-blocking byte link."""

    def __init__(self) -> None:
        import select

        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer

    def read(self) -> "bytes | None":
        data = b""
        while len(data) < 256 and self._poll.poll(0):
            data += self._in.read(1)
        return data or None

    def write(self, data: bytes) -> None:
        self._out.write(data)


def default_id() -> str:
    """node-<the chip's unique id in hex>: PROTOCOL.md's safe-default id."""
    return "node-" + "".join("%02x" % b for b in machine.unique_id())


def _pin(n: int) -> "machine.Pin":
    return machine.Pin(n)


def _uart(spec: "dict[str, Any]", baud: int) -> "machine.UART":
    return machine.UART(spec["uart"], baudrate=baud, tx=_pin(spec["tx"]), rx=_pin(spec["rx"]), timeout=0)


def build_sensor(name: str, spec: "dict[str, Any]", cfg: "config.Config", clock: "Clock") -> "Any":
    """One sensor adapter with its driver on its bus."""
    if name == "pms5003":
        pms = PMS5003(_uart(spec, SENSOR_BAUD), passive=spec["mode"] == "passive")
        return adapters.Particulate(name, pms, clock, cfg.duty.get(name))
    if name == "sds011":
        return adapters.Particulate(name, SDS011(_uart(spec, SENSOR_BAUD)), clock, cfg.duty.get(name))
    if name == "bme280":
        i2c = machine.I2C(spec["i2c"], scl=_pin(spec["scl"]), sda=_pin(spec["sda"]), freq=100_000)
        return adapters.Climate(BME280(i2c, spec["addr"]))
    if name == "maxbotix":
        wiring: "dict[str, Any]" = {"baudrate": SENSOR_BAUD, "rx": _pin(spec["rx"]), "timeout": 0}
        if spec["tx"] >= 0:
            wiring["tx"] = _pin(spec["tx"])
        if spec["invert"]:
            wiring["invert"] = machine.UART.INV_RX  # RS232-level output
        return adapters.Distance(
            MaxBotix(machine.UART(spec["uart"], **wiring), spec["min_mm"], spec["max_mm"]), clock
        )
    gauge = RainGauge(clock, spec["mm_per_tip"], spec["debounce_ms"])
    pin = machine.Pin(spec["pin"], machine.Pin.IN, machine.Pin.PULL_UP)
    pin.irq(trigger=machine.Pin.IRQ_FALLING, handler=gauge.irq)  # soft IRQ (the default)
    gauge.pin = pin  # type: ignore[attr-defined]  # keep the pin object alive with its IRQ
    return adapters.Rain(gauge)


def build_sensors(cfg: "config.Config", clock: "Clock") -> "list[Any]":
    """Every configured sensor; one whose bus or chip fails to start reports sensor_error."""
    built = []
    for name, spec in cfg.sensors.items():
        try:
            built.append(build_sensor(name, spec, cfg, clock))
        except (OSError, ValueError) as e:
            built.append(adapters.Broken(name, "init: %s" % e))
    return built


def build_led(cfg: "config.Config") -> "machine.Pin | None":
    """The status LED: config `led`, else the board's own (RP2 "LED", ESP32 GPIO 2)."""
    pin = cfg.led if cfg.led is not None else ("LED" if sys.platform == "rp2" else 2)
    try:
        return machine.Pin(pin, machine.Pin.OUT)
    except (ValueError, TypeError):
        return None


def mem_free() -> int:
    """Free heap after a collection."""
    gc.collect()
    return gc.mem_free()


def self_test(listen_ms: int = 3000) -> None:
    """For the flash tool (`mpremote exec "import main; main.self_test()"`): one JSON line."""
    cfg, error = config.load(CONFIG, default_id())
    clock = Clock()
    sensors = build_sensors(cfg, clock)
    start = clock.ticks_ms()
    while clock.ticks_diff(clock.ticks_ms(), start) < listen_ms:  # streaming sensors send within ~2.3 s
        for s in sensors:
            s.update(clock.ticks_ms())
        clock.sleep_ms(50)
    verdicts = {s.name: s.probe() for s in sensors}
    print(json.dumps({"node": cfg.node, "fw": FW_VERSION, "config_error": error, "sensors": verdicts}))


def _maintenance() -> bool:
    try:
        os.remove(MAINTENANCE)
    except OSError:
        return False
    print("maintenance boot: firmware not started; reset to run it")
    return True


def _link(cfg: "config.Config", error: "str | None") -> "tuple[Any, str | None]":
    """The gateway link: the configured UART, else (or if its pins are wrong) USB serial."""
    if cfg.link is not None:
        try:
            return _uart(cfg.link, LINK_BAUD), error
        except (ValueError, OSError) as e:
            error = "%suart: %s; using USB" % (error + "; " if error else "", e)
    micropython.kbd_intr(-1)  # frames may hold 0x03; the app itself recognises a host's Ctrl-C
    return UsbLink(), error


def main() -> None:
    """Boot: config, hardware, watchdog, then the app loop until a host asks for the REPL."""
    cause = reset_cause(machine)  # before anything else can change it
    if _maintenance():
        return
    clock = Clock()
    cfg, error = config.load(CONFIG, default_id())
    link, error = _link(cfg, error)
    led = build_led(cfg)
    if led is not None:
        led.value(1)  # steady on while booting
    sensors = build_sensors(cfg, clock)
    wdt = machine.WDT(timeout=WDT_MS)
    board = Board(
        sys.platform if sys.platform == "rp2" else "esp32",
        link,
        clock,
        wdt=wdt,
        led=led,
        reset=machine.reset,
        reset_cause=cause,
        mem_free=mem_free,
        save_interval=lambda seconds: config.save_interval(CONFIG, seconds),
    )
    try:
        App(cfg, board, sensors, error).run()
    except KeyboardInterrupt:
        pass
    # A host wants the REPL (mpremote, the flash tool). The watchdog cannot be stopped, so reboot once
    # into maintenance mode: no firmware, no watchdog, until the next reset.
    with open(MAINTENANCE, "w") as f:
        f.write("1")
    machine.reset()


if __name__ == "__main__":
    main()
