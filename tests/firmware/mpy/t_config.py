"""/config.json: the documented example loads; anything wrong boots safe defaults with a named error."""

import json
import os

from node import config

from check import eq

EXAMPLE = {  # PROTOCOL.md's node config
    "node": "node-0042",
    "interval_s": 60,
    "sensors": {
        "pms5003": {"uart": 1, "tx": 17, "rx": 16},
        "bme280": {"i2c": 0, "scl": 22, "sda": 21, "addr": 118},
        "maxbotix": {"uart": 2, "rx": 4},
        "rain": {"pin": 27, "mm_per_tip": 0.2},
    },
    "duty": {"pms5003": {"on_s": 30, "every_s": 300}},
}


def _with(**changes):
    cfg = json.loads(json.dumps(EXAMPLE))
    cfg.update(changes)
    return cfg


def test_documented_example_loads_with_defaults_filled_in():
    cfg, error = config.parse(EXAMPLE, "node-default")
    eq(error, None)
    eq(cfg.node, "node-0042")
    eq(cfg.interval_s, 60)
    eq(cfg.link, None)
    eq(sorted(cfg.sensors), ["bme280", "maxbotix", "pms5003", "rain"])
    eq(cfg.sensors["pms5003"]["mode"], "active")
    eq(
        cfg.sensors["maxbotix"],
        {"uart": 2, "rx": 4, "tx": -1, "min_mm": 300, "max_mm": 5000, "invert": False},
    )
    eq(cfg.sensors["rain"]["debounce_ms"], 100)
    eq(cfg.duty, {"pms5003": {"on_s": 30, "every_s": 300}})


def test_link_uart_and_led():
    cfg, error = config.parse(_with(uart={"uart": 1, "tx": 4, "rx": 5}, led=25), "x")
    eq(error, None)
    eq((cfg.link, cfg.led), ({"uart": 1, "tx": 4, "rx": 5}, 25))


def _defaults(cfg):
    eq((cfg.node, cfg.interval_s, cfg.sensors, cfg.duty, cfg.link), ("node-dead", 60, {}, {}, None))


def test_missing_file_boots_safe_defaults():
    cfg, error = config.load("/no/such/config.json", "node-dead")
    _defaults(cfg)
    eq(error, "/no/such/config.json: missing; booted safe defaults")


def test_bad_json_boots_safe_defaults(tmp="/tmp/bad-config.json"):
    with open(tmp, "w") as f:
        f.write('{"node": "n1", ')
    cfg, error = config.load(tmp, "node-dead")
    _defaults(cfg)
    eq(error, tmp + ": not valid JSON; booted safe defaults")


def test_each_mistake_is_named_with_its_path():
    cases = [
        (_with(interval_s=2), "interval_s: an integer 5..3600 (value: 2)"),
        (_with(interval_s=True), "interval_s: an integer 5..3600 (value: True)"),
        (_with(node="Node 42!"), "node: 1-32 characters"),
        (_with(sensors={"sds012": {}}), "sensors: unknown 'sds012'"),
        (
            _with(sensors={"bme280": {"i2c": 0, "scl": 22, "sda": 21, "addr": 120}}),
            "sensors.bme280.addr: one of 118, 119 (value: 120)",
        ),
        (_with(sensors={"bme280": {"i2c": 0, "scl": 22}}), "sensors.bme280.sda: required"),
        (_with(duty={"pms5003": {"on_s": 300, "every_s": 300}}), "duty.pms5003: on_s must be below every_s"),
        (_with(duty={"sds011": {"on_s": 30, "every_s": 300}}), "duty.sds011: sensor not configured"),
        (_with(colour="blue"), "unknown key 'colour'"),
        ([1, 2], "not a JSON object"),
    ]
    for obj, expected in cases:
        cfg, error = config.parse(obj, "node-dead")
        _defaults(cfg)
        eq(expected in (error or ""), True, "%r in %r" % (expected, error))
        eq(error.endswith("booted safe defaults"), True)


def test_secrets_and_strings_are_never_echoed():
    obj = _with(wifi={"ssid": "gemeente", "password": "hunter2-secret"}, interval_s="hunter2-secret")
    obj["sensors"]["pms5003"]["mode"] = "hunter2-secret"
    cfg, error = config.parse(obj, "node-dead")
    _defaults(cfg)
    eq("hunter2" in error, False, error)
    eq("gemeente" in error, False, error)
    eq("unknown key 'wifi'" in error, True, error)


def test_error_fits_in_hello():
    obj = _with(sensors={"k%d" % i: {} for i in range(40)})
    _cfg, error = config.parse(obj, "node-dead")
    eq(len(error) <= config.MAX_ERROR, True)


def test_save_interval_rewrites_the_file_and_it_loads(path="/tmp/save-config.json"):
    with open(path, "w") as f:
        f.write(json.dumps(EXAMPLE))
    eq(config.save_interval(path, 300), None)
    cfg, error = config.load(path, "node-dead")
    eq((error, cfg.interval_s, sorted(cfg.sensors)), (None, 300, ["bme280", "maxbotix", "pms5003", "rain"]))


def test_save_interval_names_what_went_wrong(path="/tmp/save-missing.json"):
    try:
        os.remove(path)
    except OSError:
        pass
    eq(config.save_interval(path, 300), path + " unreadable")
    with open(path, "w") as f:
        f.write("[1]")
    eq(config.save_interval(path, 300), path + " is not an object")
