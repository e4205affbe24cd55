"""main.py on MicroPython with the fake `machine`: wiring from config, boot, and maintenance mode."""

import json
import os

from node import config

import fakes
import gw
import machine
from check import eq

WIRED = {
    "node": "node-0042",
    "uart": {"uart": 0, "tx": 4, "rx": 5},
    "sensors": {
        "pms5003": {"uart": 1, "tx": 17, "rx": 16},
        "bme280": {"i2c": 0, "scl": 22, "sda": 21},
        "maxbotix": {"uart": 2, "rx": 4, "invert": True},
        "rain": {"pin": 27},
    },
}


def _write(obj):
    with open("/config.json", "w") as f:
        f.write(json.dumps(obj))


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def test_default_id_is_the_unique_id():
    import main

    eq(main.default_id(), "node-deadbeef0042")


def test_sensors_are_wired_from_config():
    import main

    machine.i2c_devices[0x76] = fakes.bme280_registers()
    cfg, error = config.parse(WIRED, "x")
    eq(error, None)
    built = {s.name: s for s in main.build_sensors(cfg, fakes.Clock())}
    eq(sorted(built), ["bme280", "maxbotix", "pms5003", "rain"])
    pms_port, sonar_port = machine.uarts[1], machine.uarts[2]
    eq((pms_port.baudrate, pms_port.tx.id, pms_port.rx.id), (9600, 17, 16))
    eq(bytes(pms_port.written).hex(), "424de100010171424de400010174", "active mode, then wake")
    eq((sonar_port.rx.id, sonar_port.tx, sonar_port.invert), (4, None, machine.UART.INV_RX))
    built["rain"].gauge.pin.edge()
    eq(built["rain"].gauge.tips, 1)
    eq(built["bme280"].probe(), "ok")


def test_a_sensor_that_fails_to_start_is_reported_not_fatal():
    import main

    machine.i2c_devices.pop(0x77, None)
    cfg, _ = config.parse(
        {"node": "n", "sensors": {"bme280": {"i2c": 0, "scl": 22, "sda": 21, "addr": 119}}}, "x"
    )
    (sensor,) = main.build_sensors(cfg, fakes.Clock())
    eq(sensor.probe().startswith("error init:"), True, sensor.probe())
    values, flags = {}, {}
    sensor.sample(0, values, flags)
    eq(flags["humidity"], ["sensor_error"])


def test_self_test_prints_one_json_line():
    import main

    machine.i2c_devices[0x76] = fakes.bme280_registers()
    _write({"node": "node-0042", "sensors": {"bme280": {"i2c": 0, "scl": 22, "sda": 21}}})
    lines = []
    main.print = lines.append
    try:
        main.self_test(listen_ms=100)
    finally:
        del main.print
    eq(
        json.loads(lines[0]),
        {"node": "node-0042", "fw": "1.1.0", "config_error": None, "sensors": {"bme280": "ok"}},
    )


def test_boot_says_hello_and_a_hosts_ctrl_c_reboots_into_maintenance():
    import main

    _remove(main.MAINTENANCE)
    _write({"node": "node-0042", "uart": {"uart": 0, "tx": 4, "rx": 5}})
    machine.state.update(reset_cause=machine.WDT_RESET, resets=0, wdt=None)
    machine.attach[0] = fakes.Script(b"\r\x03")  # mpremote interrupting, right after boot
    main.main()
    (hello,) = gw.parse(machine.uarts[0].written)
    eq(hello[:2], (1, 0))
    eq((hello[2]["node"], hello[2]["reset_cause"], hello[2]["config_error"]), ("node-0042", "watchdog", None))
    eq(machine.uarts[0].baudrate, 115200)
    eq(machine.state["wdt"].timeout, 8000)
    eq(machine.state["resets"], 1)
    os.stat(main.MAINTENANCE)  # the flag for the next boot

    machine.state["wdt"] = None
    lines = []
    main.print = lines.append
    try:
        main.main()  # the maintenance boot: REPL only
    finally:
        del main.print
    eq(machine.state["wdt"], None, "no watchdog in maintenance mode")
    eq(machine.state["resets"], 1)
    eq(lines, ["maintenance boot: firmware not started; reset to run it"])
    _remove("/config.json")
