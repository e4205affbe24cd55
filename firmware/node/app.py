"""The node's main loop: sample, report, obey the gateway, feed the watchdog.

One `step` every TICK_MS: feed the watchdog, read commands from the link, service the sensors (UART
draining, duty cycles), and when the interval is due send `readings` (plus `health` every 10th time).
Everything with a clock goes through board.clock, so tests run hours of node time in milliseconds.
"""

from node import commands, protocol
from node.config import MAX_ERROR
from node.led import Led

try:  # type names only: MicroPython has no typing and never evaluates annotations
    from typing import Any

    from node.board import Board, Sensor
    from node.config import Config
except ImportError:
    pass

FW_VERSION = "1.1.0"  # 1.1.0: a 0x00 before hello
TICK_MS = 50  # loop period: LED patterns and command latency; far below the watchdog timeout
HEALTH_EVERY = 10  # readings intervals
REBOOT_FLUSH_MS = 100  # let the reply leave the UART before the reset
MAX_VERDICT = 48  # characters per sensor in a self_test reply: five sensors fit in 512 bytes


class App:
    """One node: configuration, the board's hardware, and sensor adapters (node.sensors)."""

    def __init__(
        self, cfg: "Config", board: "Board", sensors: "list[Sensor]", config_error: "str | None" = None
    ) -> None:
        self.cfg = cfg
        self.board = board
        self.sensors = sensors
        self.config_error = config_error[:MAX_ERROR] if config_error else None  # hello must stay <= 512 bytes
        self.interval_s = cfg.interval_s
        self.clock = board.clock
        self.led = Led(board.led, board.clock)
        self.reader = protocol.FrameReader()
        self.seq = 0
        self.readings_sent = 0
        self.reboot_requested = False
        self.health_requested = False
        self._uptime_s = 0
        self._uptime_ms = 0
        self._last = self._next = self.clock.ticks_ms()

    def run(self, steps: int = -1) -> None:
        """Say hello, then loop (for `steps` steps, or until a host asks for the REPL)."""
        self.start()
        while steps and not self.reader.host_break:
            self.step()
            steps -= 1

    def start(self) -> None:
        """Send `hello` and schedule the first readings one interval from now."""
        now = self.clock.ticks_ms()
        self._next = self.clock.ticks_add(now, self.interval_s * 1000)
        # A delimiter first: whatever the board printed since reset (the ESP32 ROM's "ets ... rst:0xc
        # (SW_CPU_RESET) ..." banner) ends here as one bad frame, instead of running into hello and
        # taking the reset cause down with it (PROTOCOL.md, Framing).
        self.board.link.write(b"\x00")
        self.send(
            protocol.HELLO,
            {
                "node": self.cfg.node,
                "fw": FW_VERSION,
                "board": self.board.name,
                "reset_cause": self.board.reset_cause,
                "sensors": [s.name for s in self.sensors],
                "config_error": self.config_error,
            },
        )

    def step(self) -> None:
        """One pass of the loop."""
        now = self.clock.ticks_ms()
        self._count_uptime(now)
        if self.board.wdt is not None:
            self.board.wdt.feed()
        self._poll_link(now)
        for sensor in self.sensors:
            sensor.update(now)
        if self.clock.ticks_diff(now, self._next) >= 0:
            self._next = self.clock.ticks_add(now, self.interval_s * 1000)
            self.send_readings(now)
        if self.health_requested:
            self.health_requested = False
            self.send_health()
        self.led.tick(now)
        self.clock.sleep_ms(TICK_MS)

    def send(self, ptype: int, body: "dict[str, Any]") -> None:
        """Frame and write one packet; seq counts every packet since boot, wrapping at 65536."""
        self.board.link.write(protocol.encode(ptype, self.seq, body))
        self.seq = (self.seq + 1) & 0xFFFF

    def send_readings(self, now: int) -> None:
        """Sample every sensor and report; health follows every HEALTH_EVERY-th time."""
        values: "dict[str, Any]" = {}
        flags: "dict[str, list[str]]" = {}
        for sensor in self.sensors:
            sensor.sample(now, values, flags)
        for key in list(values):
            value = values[key]
            if value != value or value in (float("inf"), float("-inf")):  # NaN or inf is no JSON
                del values[key]
                flags.setdefault(key, []).append("sensor_error")
        self.send(
            protocol.READINGS,
            {"node": self.cfg.node, "uptime_s": self._uptime_s, "values": values, "flags": flags},
        )
        self.readings_sent += 1
        if not self.led.busy():  # an identify in progress wins
            self.led.flash(3 if self.config_error else 2 if flags_have_error(flags) else 1)
        if self.readings_sent % HEALTH_EVERY == 0:
            self.health_requested = True

    def send_health(self) -> None:
        """Uptime, reset cause, free memory, interval and error counts."""
        mem_free = self.board.mem_free() if self.board.mem_free else 0
        errors = {s.name: s.errors for s in self.sensors}
        self.send(
            protocol.HEALTH,
            {
                "node": self.cfg.node,
                "uptime_s": self._uptime_s,
                "reset_cause": self.board.reset_cause,
                "free_mem": mem_free,
                "interval_s": self.interval_s,
                "errors": errors,
                "bad_frames": self.reader.bad,
            },
        )

    def set_interval(self, seconds: int, now: int) -> None:
        """New readings interval; the next readings come one interval from now."""
        self.interval_s = seconds
        self._next = self.clock.ticks_add(now, seconds * 1000)

    def save_interval(self, seconds: int) -> "str | None":
        """Keep the interval over restarts (the board writes its config); None, or why not."""
        if self.config_error:
            return "the node runs safe defaults (flash it again)"
        if self.board.save_interval is None:
            return "this board has no config file"
        return self.board.save_interval(seconds)

    def sensor(self, name: str) -> "Any":  # Any: sleep/wake exist on the particulate adapters only
        """The adapter called `name`, or None."""
        for sensor in self.sensors:
            if sensor.name == name:
                return sensor
        return None

    def self_test(self) -> "dict[str, str]":
        """Every sensor's verdict ("ok", "no answer", "error ...")."""
        self.led.set(True)
        results = {s.name: s.probe()[:MAX_VERDICT] for s in self.sensors}
        self.led.set(False)
        return results

    def _poll_link(self, now: int) -> None:
        data = self.board.link.read()
        if not data:
            return
        for packet in self.reader.feed(data):
            try:
                cmd_id, cmd, args = protocol.command(packet)
            except protocol.BadFrame as e:
                self.reader.bad += 1
                self.reader.last_error = str(e)
                continue
            reply = commands.handle(self, cmd, args, now)
            reply["cmd_id"] = cmd_id
            reply["node"] = self.cfg.node  # who answered: a gateway may not have heard it yet
            self.send(protocol.REPLY, reply)
            if self.reboot_requested and self.board.reset is not None:
                self.clock.sleep_ms(REBOOT_FLUSH_MS)
                self.board.reset()

    def _count_uptime(self, now: int) -> None:
        # Ticks wrap after 2**30 ms (12.4 days); uptime must not, so it is summed step by step.
        self._uptime_ms += self.clock.ticks_diff(now, self._last)
        self._last = now
        if self._uptime_ms >= 1000:
            self._uptime_s += self._uptime_ms // 1000
            self._uptime_ms %= 1000


def flags_have_error(flags: "dict[str, list[str]]") -> bool:
    """True if any reading is flagged sensor_error."""
    for reasons in flags.values():
        if "sensor_error" in reasons:
            return True
    return False
