"""The node's /config.json: load, validate, fall back to safe defaults with an error that names no secret.

Reference: firmware/README.md ("config.json"). A missing or invalid file boots the safe defaults of
PROTOCOL.md (id from the board's unique id, 60 s, no sensors, USB link) and the reason goes to `hello`.
Error messages show key paths and numbers only, never strings, so a secret can never be echoed.
"""

import json
import os

try:
    from typing import Any
except ImportError:  # MicroPython: annotations are never evaluated
    pass

REQUIRED = None
PIN = ("int", 0, 48, REQUIRED)
INTERVALS = (5, 3600)  # seconds; the same bounds as the set_interval command
_UART_SENSOR: "dict[str, tuple[Any, ...]]" = {"uart": ("int", 0, 2, REQUIRED), "tx": PIN, "rx": PIN}
SENSORS: "dict[str, dict[str, tuple[Any, ...]]]" = {
    "pms5003": dict(_UART_SENSOR, mode=("choice", ("active", "passive"), "active")),
    "sds011": _UART_SENSOR,
    "bme280": {"i2c": ("int", 0, 1, REQUIRED), "scl": PIN, "sda": PIN, "addr": ("choice", (118, 119), 118)},
    "maxbotix": {
        "uart": ("int", 0, 2, REQUIRED),
        "rx": PIN,
        "tx": ("int", 0, 48, -1),  # -1: not wired (the sensor only talks)
        "min_mm": ("int", 0, 10000, 300),  # MB7389: 300 mm blanking ... 5000 mm = no target
        "max_mm": ("int", 1, 10000, 5000),
        "invert": ("choice", (False, True), False),  # RS232-level models need the RX inverted
    },
    "rain": {
        "pin": PIN,
        "mm_per_tip": ("num", 0.01, 10, 0.2),
        "debounce_ms": ("int", 1, 1000, 100),
    },
}
PARTICULATE = ("pms5003", "sds011")
_LINK = {"uart": ("int", 0, 2, REQUIRED), "tx": PIN, "rx": PIN}
_DUTY: "dict[str, tuple[Any, ...]]" = {
    "on_s": ("int", 1, 3600, REQUIRED),
    "every_s": ("int", 2, 86400, REQUIRED),
}
_TOP = ("node", "interval_s", "uart", "led", "sensors", "duty")
MAX_ERROR = 200  # characters: the error travels in `hello`, whose body is at most 512 bytes


class Config:
    """A validated node configuration (plain values, ready for main.py and node.app)."""

    def __init__(self, node: str, interval_s: int = 60) -> None:
        self.node = node
        self.interval_s = interval_s
        self.link: "dict[str, int] | None" = None  # None: the USB serial port (the REPL's)
        self.led: "int | str | None" = None  # None: the board's own LED
        self.sensors: "dict[str, dict[str, Any]]" = {}
        self.duty: "dict[str, dict[str, int]]" = {}


def load(path: str, default_id: str) -> "tuple[Config, str | None]":
    """Read and validate `path`; on any problem the safe defaults and a one-line error."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return Config(default_id), "%s: missing; booted safe defaults" % path
    try:
        obj = json.loads(text)
    except ValueError:
        return Config(default_id), "%s: not valid JSON; booted safe defaults" % path
    return parse(obj, default_id, path)


def save_interval(path: str, seconds: int) -> "str | None":
    """Write a new interval_s into the config file, so it outlives a restart; None, or why not.

    The new file is written beside the old one and renamed over it: a reset half-way leaves the
    old config (or, where rename cannot replace, none: safe defaults), never half a file."""
    try:
        with open(path) as f:
            obj = json.loads(f.read())
    except (OSError, ValueError):
        return "%s unreadable" % path
    if type(obj) is not dict:
        return "%s is not an object" % path
    obj["interval_s"] = seconds
    new = path + ".new"
    try:
        with open(new, "w") as f:
            f.write(json.dumps(obj))
        try:
            os.rename(new, path)
        except OSError:  # a file system whose rename does not replace (FAT)
            os.remove(path)
            os.rename(new, path)
    except OSError as e:
        return "cannot write %s (%s)" % (path, e)
    return None


def parse(obj: object, default_id: str, name: str = "config.json") -> "tuple[Config, str | None]":
    """Validate a decoded config object: (config, None), or (safe defaults, error)."""
    errors: "list[str]" = []
    cfg = _build(obj, errors)
    if cfg is None or errors:
        text = "%s: %s; booted safe defaults" % (name, "; ".join(errors) or "invalid")
        return Config(default_id), text[:MAX_ERROR]
    return cfg, None


def _build(obj: object, errors: "list[str]") -> "Config | None":
    if type(obj) is not dict:
        errors.append("not a JSON object")
        return None
    assert isinstance(obj, dict)  # for the type checker; type() above is the runtime check
    for key in obj:
        if key not in _TOP:
            errors.append("unknown key %s" % _name(key))
    node = obj.get("node")
    if not _valid_id(node):
        errors.append("node: 1-32 characters a-z 0-9 - _")
        return None
    cfg = Config(str(node), _field("interval_s", obj.get("interval_s"), ("int",) + INTERVALS + (60,), errors))
    if obj.get("uart") is not None:
        cfg.link = _object("uart", obj["uart"], _LINK, errors)
    led = obj.get("led")
    if led is not None and not (type(led) is int and 0 <= led <= 48) and type(led) is not str:
        errors.append("led: a pin number or name")
    cfg.led = led
    cfg.sensors = _named("sensors", obj.get("sensors", {}), SENSORS, errors)
    cfg.duty = _named("duty", obj.get("duty", {}), {name: _DUTY for name in PARTICULATE}, errors)
    for name, duty in cfg.duty.items():
        if name not in cfg.sensors:
            errors.append("duty.%s: sensor not configured" % name)
        elif duty["on_s"] >= duty["every_s"]:
            errors.append("duty.%s: on_s must be below every_s" % name)
    return cfg


def _named(
    path: str, obj: object, specs: "dict[str, dict[str, tuple[Any, ...]]]", errors: "list[str]"
) -> "dict[str, Any]":
    if type(obj) is not dict:
        errors.append("%s: must be an object" % path)
        return {}
    assert isinstance(obj, dict)
    out = {}
    for key, value in obj.items():
        if key in specs:
            out[key] = _object("%s.%s" % (path, key), value, specs[key], errors)
        else:
            errors.append("%s: unknown %s" % (path, _name(key)))
    return out


def _object(
    path: str, obj: object, spec: "dict[str, tuple[Any, ...]]", errors: "list[str]"
) -> "dict[str, Any]":
    if type(obj) is not dict:
        errors.append("%s: must be an object" % path)
        return {}
    assert isinstance(obj, dict)
    for key in obj:
        if key not in spec:
            errors.append("%s: unknown key %s" % (path, _name(key)))
    return {key: _field("%s.%s" % (path, key), obj.get(key), rule, errors) for key, rule in spec.items()}


def _field(path: str, value: object, rule: "tuple[Any, ...]", errors: "list[str]") -> "Any":
    kind, default = rule[0], rule[-1]
    if value is None:
        if default is REQUIRED:
            errors.append("%s: required" % path)
        return default
    if kind == "choice":
        if value in rule[1] and type(value) is type(rule[2]):
            return value
        errors.append("%s: one of %s%s" % (path, ", ".join(str(c) for c in rule[1]), _shown(value)))
        return default
    ok_types = (int, float) if kind == "num" else (int,)
    if type(value) in ok_types and rule[1] <= value <= rule[2]:
        return value
    what = "a number" if kind == "num" else "an integer"
    errors.append("%s: %s %s..%s%s" % (path, what, rule[1], rule[2], _shown(value)))
    return default


def _valid_id(node: object) -> bool:
    if type(node) is not str or not 1 <= len(node) <= 32:
        return False
    return all(c in "abcdefghijklmnopqrstuvwxyz0123456789-_" for c in str(node))


def _shown(value: object) -> str:
    """Numbers are shown; strings and anything else never are (they could be secrets)."""
    return " (value: %s)" % value if type(value) in (int, float, bool) else ""


def _name(key: object) -> str:
    """A key from the file, repeated in an error only when it is short and plain."""
    if type(key) is str and len(str(key)) <= 20 and _valid_id(str(key).lower()):
        return "'%s'" % key
    return "(a key)"
