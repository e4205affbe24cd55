"""Commands from the gateway (PROTOCOL.md): each checks its arguments, acts, and says what it did.

An unknown command or bad arguments get ok: false and change nothing.
"""

from node.config import INTERVALS

try:  # type names only: MicroPython has no typing and never evaluates annotations
    from typing import TYPE_CHECKING, Any

    if TYPE_CHECKING:
        from node.app import App
except ImportError:
    pass


def _refuse(detail: str) -> "dict[str, Any]":
    return {"ok": False, "detail": detail}


def set_interval(app: "App", args: "dict[str, Any]", now: int) -> "dict[str, Any]":
    """Change the readings interval; the next readings come one new interval from now.

    With persist: true it is also written to /config.json, so it outlives a restart."""
    seconds, persist = args.get("seconds"), args.get("persist", False)
    if type(seconds) is not int or not INTERVALS[0] <= seconds <= INTERVALS[1]:
        return _refuse("seconds: an integer %d..%d" % INTERVALS)
    if type(persist) is not bool:
        return _refuse("persist: true or false")
    app.set_interval(seconds, now)
    if not persist:
        return {"ok": True, "detail": "interval %d s" % app.interval_s}
    why = app.save_interval(seconds)
    if why:
        detail = "interval %d s until the next restart; not saved: %s" % (seconds, why)
        return {"ok": True, "detail": detail, "saved": False}
    return {"ok": True, "detail": "interval %d s, saved" % seconds, "saved": True}


def identify(app: "App", args: "dict[str, Any]", now: int) -> "dict[str, Any]":
    """Blink the LED fast for 10 s."""
    if app.board.led is None:
        return _refuse("no LED")
    app.led.identify()
    return {"ok": True, "detail": "blinking for 10 s"}


def self_test(app: "App", args: "dict[str, Any]", now: int) -> "dict[str, Any]":
    """Ask every sensor: {"sensors": {name: "ok" | "no answer" | "error ..."}}."""
    results = app.self_test()
    bad = [name for name, verdict in results.items() if verdict != "ok"]
    detail = "all sensors ok" if not bad else "failing: " + ", ".join(bad)
    return {"ok": not bad, "detail": detail, "sensors": results}


def _sleepable(app: "App", args: "dict[str, Any]") -> "tuple[Any, str]":
    name = args.get("sensor")
    sensor = app.sensor(name) if type(name) is str else None
    if sensor is None:
        return None, "sensor: not one of this node's sensors"
    if not sensor.can_sleep:
        return None, "%s cannot sleep" % sensor.name
    return sensor, ""


def sleep(app: "App", args: "dict[str, Any]", now: int) -> "dict[str, Any]":
    """Put a particulate sensor's fan to sleep until `wake`."""
    sensor, why = _sleepable(app, args)
    if sensor is None:
        return _refuse(why)
    sensor.sleep(now)
    return {"ok": True, "detail": "%s asleep" % sensor.name}


def wake(app: "App", args: "dict[str, Any]", now: int) -> "dict[str, Any]":
    """Wake a particulate sensor; its duty cycle (if any) restarts."""
    sensor, why = _sleepable(app, args)
    if sensor is None:
        return _refuse(why)
    sensor.wake(now)
    return {"ok": True, "detail": "%s awake, warming up" % sensor.name}


def reboot(app: "App", args: "dict[str, Any]", now: int) -> "dict[str, Any]":
    """Reboot once this reply is on the wire."""
    app.reboot_requested = True
    return {"ok": True, "detail": "rebooting"}


def health(app: "App", args: "dict[str, Any]", now: int) -> "dict[str, Any]":
    """Send a health packet now (PROTOCOL.md: health "on request")."""
    app.health_requested = True
    return {"ok": True, "detail": "health follows"}


COMMANDS = {
    "set_interval": set_interval,
    "identify": identify,
    "self_test": self_test,
    "sleep": sleep,
    "wake": wake,
    "reboot": reboot,
    "health": health,
}


def handle(app: "App", cmd: str, args: "dict[str, Any]", now: int) -> "dict[str, Any]":
    """The reply fields (ok, detail, ...) for one command."""
    action = COMMANDS.get(cmd)
    if action is None:
        return _refuse("unknown command")
    return action(app, args, now)
