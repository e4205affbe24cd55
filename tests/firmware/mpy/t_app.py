"""The node's main loop against fake hardware with behaviour: a conversation with the gateway.

Each test builds a node (fake clock, link, watchdog, LED and sensor devices), runs it for some node
time, and reads what the gateway would have received, decoded by the gateway-side code in gw.py.
"""

from bme280 import BME280
from maxbotix import MaxBotix
from node import config, sensors
from node.app import TICK_MS, App
from node.board import Board
from node.rain import RainGauge
from pms5003 import PMS5003

import fakes
import gw
import machine
from check import eq, near

HELLO, READINGS, HEALTH, REPLY = 1, 2, 3, 4


class Node:
    """One node on the bench: the app plus the fakes a test pokes."""

    def __init__(
        self, interval_s=60, duty=None, with_led=True, config_error=None, parts=("pms5003", "bme280")
    ):
        self.clock = fakes.Clock()
        self.link = fakes.Link()
        self.wdt = machine.WDT(timeout=8000)
        self.led = machine.Pin(2, machine.Pin.OUT) if with_led else None
        self.resets = []
        cfg, error = config.parse({"node": "node-0042", "interval_s": interval_s}, "node-x")
        eq(error, None)
        board = Board(
            "esp32",
            self.link,
            self.clock,
            wdt=self.wdt,
            led=self.led,
            reset=self._reset,
            reset_cause="watchdog",
            mem_free=lambda: 123456,
        )
        self.adapters = [self._sensor(name, duty) for name in parts]
        self.app = App(cfg, board, self.adapters, config_error)
        self.app.start()

    def _sensor(self, name, duty):
        if name == "pms5003":
            self.pms = fakes.PmsDevice(self.clock)
            port = machine.UART(1)
            port.device = self.pms
            return sensors.Particulate("pms5003", PMS5003(port), self.clock, duty)
        if name == "bme280":
            machine.i2c_devices[0x76] = fakes.bme280_registers()
            return sensors.Climate(BME280(machine.I2C(0), 0x76))
        if name == "maxbotix":
            self.sonar = fakes.Script()
            port = machine.UART(2)
            port.device = self.sonar
            return sensors.Distance(MaxBotix(port), self.clock)
        self.gauge = RainGauge(self.clock, 0.2, 100)
        self.rain_pin = machine.Pin(27, machine.Pin.IN, machine.Pin.PULL_UP)
        self.rain_pin.irq(handler=self.gauge.irq)
        return sensors.Rain(self.gauge)

    def _reset(self):
        self.resets.append(len(self.link.packets()))

    def run(self, seconds):
        for _ in range(int(seconds * 1000) // TICK_MS):
            self.app.step()

    def packets(self, ptype=None):
        return [p for p in self.link.packets() if ptype is None or p[0] == ptype]

    def bodies(self, ptype):
        return [body for _, _, body in self.packets(ptype)]

    def reply(self, cmd, args=None):
        """Send one command, run a step, return the reply's body."""
        cmd_id = self.link.command(cmd, args)
        before = len(self.packets(REPLY))
        self.app.step()
        replies = self.bodies(REPLY)
        eq(len(replies), before + 1, "one reply per command")
        eq(replies[-1]["cmd_id"], cmd_id)
        return replies[-1]


def test_hello_then_readings_with_increasing_seq():
    node = Node()
    node.run(181)
    packets = node.packets()
    eq([p[0] for p in packets], [HELLO, READINGS, READINGS, READINGS])
    eq([p[1] for p in packets], [0, 1, 2, 3])
    eq(
        packets[0][2],
        {
            "node": "node-0042",
            "fw": "1.1.0",
            "board": "esp32",
            "reset_cause": "watchdog",
            "sensors": ["pms5003", "bme280"],
            "config_error": None,
        },
    )
    first = packets[1][2]
    eq(first["node"], "node-0042")
    eq([body["uptime_s"] for body in node.bodies(READINGS)], [60, 120, 180])
    eq(
        first["values"],
        {"pm1": 0, "pm25": 8, "pm10": 8, "temperature": 25.08, "humidity": 55.0, "pressure": 1006.53},
    )
    eq(first["flags"], {})


# What an ESP32's ROM prints at 115200 baud on UART0 (the USB link) after a software reset.
ROM_BANNER = (
    b"ets Jul 29 2019 12:21:46\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
    b"configsip: 0, SPIWP:0xee\r\nmode:DIO, clock div:2\r\nload:0x3fff0030,len:4540\r\nentry 0x40080680\r\n"
)


def test_hello_survives_the_boot_banner_before_it():
    """The node's first byte is a frame delimiter: the ROM banner the gateway read just before it
    becomes one bad frame of its own, and hello (with its reset cause) decodes."""
    node = Node()
    wire = bytes(node.link.from_node)
    eq(wire[:1], b"\x00")
    packets, bad = gw.parse_after_noise(ROM_BANNER + wire)
    eq(bad, 1)
    eq((packets[0][0], packets[0][2]["reset_cause"]), (HELLO, "watchdog"))
    packets, bad = gw.parse_after_noise(ROM_BANNER + wire[1:])  # without it: banner and hello are one
    eq((bad, packets), (1, []))


def test_warming_up_after_boot_and_sensor_error_when_silent():
    node = Node(interval_s=10)
    node.run(10.1)
    eq(
        node.bodies(READINGS)[0]["flags"],
        {"pm1": ["warming_up"], "pm25": ["warming_up"], "pm10": ["warming_up"]},
    )
    eq(node.bodies(READINGS)[0]["values"]["pm25"], 8)
    node.pms.awake = False  # the sensor stops sending (unplugged)
    node.run(20)
    last = node.bodies(READINGS)[-1]
    eq("pm25" in last["values"], False)
    eq(last["flags"]["pm25"], ["sensor_error"])


def test_health_every_tenth_readings():
    node = Node(interval_s=5)
    node.run(50.1)
    kinds = [p[0] for p in node.packets()]
    eq(kinds, [HELLO] + [READINGS] * 10 + [HEALTH])
    health = node.bodies(HEALTH)[0]
    eq(
        health,
        {
            "node": "node-0042",
            "uptime_s": 50,
            "reset_cause": "watchdog",
            "free_mem": 123456,
            "interval_s": 5,
            "errors": {"pms5003": 0, "bme280": 0},
            "bad_frames": 0,
        },
    )


def test_watchdog_fed_every_step():
    node = Node()
    node.run(10)
    eq(node.wdt.feeds, 10_000 // TICK_MS)


def test_set_interval_changes_the_interval():
    node = Node(interval_s=60)
    reply = node.reply("set_interval", {"seconds": 10})
    eq((reply["ok"], reply["detail"]), (True, "interval 10 s"))
    node.run(35)
    eq(len(node.bodies(READINGS)), 3)
    eq(node.app.interval_s, 10)


def test_set_interval_persist_asks_the_board_to_keep_it():
    node = Node(interval_s=60)
    saved = []
    node.app.board.save_interval = lambda seconds: saved.append(seconds)
    reply = node.reply("set_interval", {"seconds": 300, "persist": True})
    eq((reply["ok"], reply["detail"], reply["saved"]), (True, "interval 300 s, saved", True))
    eq((saved, node.app.interval_s), ([300], 300))
    node.app.board.save_interval = lambda seconds: "disk full"
    reply = node.reply("set_interval", {"seconds": 120, "persist": True})
    eq((reply["ok"], reply["saved"], node.app.interval_s), (True, False, 120))
    eq(reply["detail"], "interval 120 s until the next restart; not saved: disk full")
    node.app.board.save_interval = None
    eq(node.reply("set_interval", {"seconds": 90, "persist": True})["saved"], False)


def test_safe_defaults_are_never_saved_over_the_config():
    node = Node(interval_s=60, config_error="config.json: missing; booted safe defaults")
    node.app.board.save_interval = lambda seconds: 1 / 0  # must not be called
    reply = node.reply("set_interval", {"seconds": 300, "persist": True})
    eq(reply["saved"], False)
    eq("safe defaults" in reply["detail"], True)


def test_health_command_sends_a_health_packet_now():
    node = Node(interval_s=60)
    reply = node.reply("health")
    eq((reply["ok"], reply["detail"]), (True, "health follows"))
    node.app.step()
    [health] = node.bodies(HEALTH)
    eq((health["interval_s"], health["free_mem"]), (60, 123456))


def test_bad_arguments_and_unknown_commands_get_ok_false_and_change_nothing():
    node = Node(interval_s=60)
    for cmd, args in (
        ("set_interval", {"seconds": 2}),
        ("set_interval", {"seconds": "10"}),
        ("set_interval", {"seconds": True}),
        ("set_interval", {}),
        ("set_interval", {"seconds": 10, "persist": 1}),
        ("sleep", {"sensor": "bme280"}),
        ("sleep", {"sensor": "nope"}),
        ("wake", {}),
        ("format_flash", None),
        ("update_firmware", {"manifest": "...", "signature": "..."}),  # firmware comes only by flash
        ("write_file", {"path": "/main.py", "data": "import evil"}),
    ):
        eq(node.reply(cmd, args)["ok"], False, cmd)
    eq(node.reply("format_flash")["detail"], "unknown command")
    eq(node.app.interval_s, 60)
    eq(node.pms.awake, True)


def test_reboot_replies_first_then_resets():
    node = Node()
    node.link.command("reboot")
    node.app.step()
    reply = node.bodies(REPLY)[-1]
    eq((reply["ok"], reply["detail"]), (True, "rebooting"))
    eq(node.resets, [2], "reset came after hello and the reply were written")


def test_mistyped_and_corrupt_commands_are_counted_not_answered():
    node = Node(interval_s=5)
    node.link.to_node.extend(b"noise\x00")
    node.link.to_node.extend(fakes.gw.packet(0x10, 9, {"cmd_id": "7", "cmd": "reboot"}))
    node.run(50.1)
    eq(node.bodies(REPLY), [])
    eq(node.resets, [])
    eq(node.bodies(HEALTH)[0]["bad_frames"], 2)


def test_duty_cycle_puts_the_fan_to_sleep_between_samples():
    node = Node(interval_s=60, duty={"on_s": 30, "every_s": 300})
    node.run(361)
    eq(
        node.pms.commands,
        [(0xE1, 1), (0xE4, 1), (0xE4, 0), (0xE4, 1), (0xE4, 0)],
        "active mode, wake, sleep at 30 s, wake at 300 s, sleep at 330 s",
    )
    readings = node.bodies(READINGS)
    eq(len(readings), 6)
    eq(readings[0]["values"]["pm25"], 8)
    eq(readings[0]["flags"], {}, "the sample held from the end of the on period is clean")
    for r in readings[1:4]:
        eq(r["flags"]["pm25"], ["sleeping"])
        eq("pm25" in r["values"], False)
    eq(readings[4]["flags"]["pm25"], ["warming_up"], "at 300 s the fan has just started")
    eq(readings[5]["values"]["pm25"], 8)
    eq(readings[5]["flags"], {})
    eq(node.reply("self_test")["sensors"]["pms5003"], "ok", "asleep, but it answered while awake")


def test_sleep_and_wake_commands():
    node = Node(interval_s=10)
    eq(node.reply("sleep", {"sensor": "pms5003"}), {"cmd_id": 100, "ok": True, "detail": "pms5003 asleep", "node": "node-0042"})
    eq(node.pms.awake, False)
    node.run(10)
    eq(node.bodies(READINGS)[-1]["flags"]["pm10"], ["sleeping"])
    eq(node.reply("wake", {"sensor": "pms5003"})["ok"], True)
    eq(node.pms.awake, True)
    node.run(10)
    eq(node.bodies(READINGS)[-1]["flags"]["pm10"], ["warming_up"])


def test_self_test_reports_every_sensor():
    node = Node(parts=("pms5003", "bme280", "maxbotix", "rain"))
    node.run(3)
    reply = node.reply("self_test")
    eq(reply["sensors"], {"pms5003": "ok", "bme280": "ok", "maxbotix": "no answer", "rain": "ok"})
    eq((reply["ok"], reply["detail"]), (False, "failing: maxbotix"))
    node.sonar.pending.extend(b"R1500\r")
    node.app.step()
    eq(node.reply("self_test")["ok"], True)


def test_identify_blinks_the_led_for_ten_seconds():
    node = Node(interval_s=3600)
    eq(node.reply("identify")["ok"], True)
    node.run(12)
    eq(node.led.levels.count(1), 40, "40 flashes at 4 Hz")
    eq(node.led.value(), 0)
    eq(Node(with_led=False).reply("identify")["ok"], False)


def test_led_flashes_once_per_readings_three_times_on_safe_defaults():
    node = Node(interval_s=5, config_error="config.json: missing; booted safe defaults")
    eq(node.bodies(HELLO)[0]["config_error"], "config.json: missing; booted safe defaults")
    node.led.levels.clear()
    node.run(6)
    eq(node.led.levels.count(1), 3)


def test_distance_flags():
    node = Node(interval_s=5, parts=("maxbotix",))
    for line, values, flags in (
        (b"R1234\r", {"distance_mm": 1234}, {}),
        (b"R0250\r", {"distance_mm": 250}, {"distance_mm": ["blanking"]}),
        (b"R5000\r", {}, {"distance_mm": ["no_target"]}),
    ):
        node.sonar.pending.extend(line)
        node.run(5.05)
        last = node.bodies(READINGS)[-1]
        eq((last["values"], last["flags"]), (values, flags), line)


def test_rain_tips_are_debounced_and_reported_per_interval():
    node = Node(interval_s=60, parts=("rain",))
    node.run(10)
    node.rain_pin.edge()
    node.clock.sleep_ms(20)
    node.rain_pin.edge()  # reed-switch bounce: not a tip
    node.clock.sleep_ms(500)
    node.rain_pin.edge()
    node.run(50)
    values = node.bodies(READINGS)[0]["values"]
    eq(values["rain_mm"], 0.4)
    near(values["rain_rate_mm_h"], 24.0, 0.02, "0.4 mm in 60 s")
    eq(node.gauge.bounces, 1)
    node.run(60.1)
    eq(node.bodies(READINGS)[1]["values"], {"rain_mm": 0.0, "rain_rate_mm_h": 0.0})


def test_a_hosts_ctrl_c_ends_the_loop():
    node = Node()
    node.link.to_node.extend(b"\r\x03")
    node.app.run(steps=100)  # returns at once: the host wants the REPL
    eq(node.wdt.feeds, 1)


def test_seq_wraps_after_65535():
    node = Node(interval_s=5)
    node.app.seq = 65535
    node.run(10.1)
    eq([p[1] for p in node.packets(READINGS)], [65535, 0])


def test_a_passive_mode_pms5003_is_polled_once_a_second():
    clock = fakes.Clock()
    device = fakes.PmsDevice(clock)
    port = machine.UART(1)
    port.device = device
    adapter = sensors.Particulate("pms5003", PMS5003(port, passive=True), clock)
    for _ in range(100):
        adapter.update(clock.ticks_ms())
        clock.sleep_ms(TICK_MS)
    values, flags = {}, {}
    adapter.sample(clock.ticks_ms(), values, flags)
    eq(values, {"pm1": 0, "pm25": 8, "pm10": 8})
    eq(flags["pm25"], ["warming_up"])
    eq(device.commands.count((0xE2, 0)), 4, "one request a second: at 1, 2, 3 and 4 s")


def test_long_errors_are_cut_to_fit_a_packet():
    node = Node(config_error="x" * 600, parts=("pms5003", "bme280", "maxbotix", "rain"))
    eq(len(node.bodies(HELLO)[0]["config_error"]), 200)
    node.adapters.append(sensors.Broken("sds011", "init: " + "y" * 600))
    reply = node.reply("self_test")
    eq(len(reply["sensors"]["sds011"]), 48)
