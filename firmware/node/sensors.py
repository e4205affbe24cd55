"""Adapters from the chip drivers to what the app reports: reading keys, quality flags, duty cycling.

Each adapter has `name`, `keys`, `update(now)` (every loop), `sample(now, values, flags)` (every
readings interval), `probe()` (self-test: "ok" | "no answer" | "error ...") and `errors` (health).
"""

try:  # type names only: MicroPython has no typing and never evaluates annotations
    from typing import Any

    from node.board import ClockLike
except ImportError:
    pass

POLL_MS = 1_000  # passive mode: ask for a frame this often (active mode streams about 1 Hz)
WARMUP_MS = 30_000  # PMS5003 datasheet: data is stable 30 s after the fan starts; SDS011 the same
STALE_MS = 10_000  # streaming sensors send every 1-2 s: 10 s of silence is a fault
PM_KEYS = {"pms5003": ("pm1", "pm25", "pm10"), "sds011": ("pm25", "pm10")}
OTHER_KEYS = {
    "bme280": ("temperature", "humidity", "pressure"),
    "maxbotix": ("distance_mm",),
    "rain": ("rain_mm", "rain_rate_mm_h"),
}
ERROR, WARMING_UP, SLEEPING, NO_TARGET, BLANKING = (
    "sensor_error",
    "warming_up",
    "sleeping",
    "no_target",
    "blanking",
)


def _put(values: "dict[str, Any]", keys: "tuple[str, ...]", numbers: "Any") -> None:
    for key, number in zip(keys, numbers):
        values[key] = number


def _flag(flags: "dict[str, list[str]]", keys: "tuple[str, ...]", flag: str) -> None:
    for key in keys:
        flags.setdefault(key, []).append(flag)


class Streaming:
    """A UART sensor that streams frames; remembers when the last good one came."""

    def __init__(self, name: str, driver: "Any", clock: "ClockLike", keys: "tuple[str, ...]") -> None:
        self.name = name
        self.keys = keys
        self.driver = driver
        self._clock = clock
        self.errors = 0  # failed samples
        self._seen: "int | None" = None  # ticks of the last good frame

    def update(self, now: int) -> None:
        """Drain the UART."""
        if self.driver.update():
            self._seen = now

    def fresh(self, now: int) -> bool:
        """A good frame arrived within STALE_MS."""
        return self._seen is not None and self._clock.ticks_diff(now, self._seen) < STALE_MS

    def probe(self) -> str:
        """Self-test verdict from what the sensor has been sending."""
        if self.fresh(self._clock.ticks_ms()):
            return "ok"
        if self.driver.errors:
            return "error %d bad frames" % self.driver.errors
        return "no answer"

    def _fail(self, flags: "dict[str, list[str]]") -> None:
        self.errors += 1
        _flag(flags, self.keys, ERROR)


class Particulate(Streaming):
    """PMS5003 or SDS011, optionally duty-cycled: on for on_s (warming up), sampled, asleep until every_s."""

    can_sleep = True

    def __init__(
        self, name: str, driver: "Any", clock: "ClockLike", duty: "dict[str, int] | None" = None
    ) -> None:
        super().__init__(name, driver, clock, PM_KEYS[name])
        self._duty = (duty["on_s"] * 1000, duty["every_s"] * 1000) if duty else None
        self.awake = True
        self._manual = False  # asleep by command: the duty cycle waits for `wake`
        self._woke = self._cycle = clock.ticks_ms()
        self._held: "tuple[float, ...] | str | None" = None  # the sample taken at the end of an on period
        self._asked = self._woke
        driver.wake()  # the sensor keeps its own power across our resets: it may still be asleep

    def update(self, now: int) -> None:
        """Drain the UART, poll a passive-mode sensor, and advance the duty cycle."""
        super().update(now)
        if (
            self.awake
            and getattr(self.driver, "passive", False)
            and self._clock.ticks_diff(now, self._asked) >= POLL_MS
        ):
            self._asked = now
            self.driver.request()
        if self._duty is None or self._manual:
            return
        on_ms, every_ms = self._duty
        age = self._clock.ticks_diff(now, self._cycle)
        if self.awake and age >= on_ms:
            self._held = tuple(self.driver.pm) if self._fresh_since_wake(now) else ERROR
            self._set_awake(False, now)
        elif not self.awake and age >= every_ms:
            self._cycle = now
            self._set_awake(True, now)

    def sleep(self, now: int) -> None:
        """Command `sleep`: fan off until `wake` (the duty cycle pauses)."""
        self._manual = True
        self._set_awake(False, now)

    def wake(self, now: int) -> None:
        """Command `wake`: fan on; a duty cycle restarts from now."""
        self._manual = False
        self._cycle = now
        self._set_awake(True, now)

    def probe(self) -> str:
        """While asleep the sensor is silent: judge it by its last awake period."""
        seen = self._seen
        if not self.awake and seen is not None and self._clock.ticks_diff(seen, self._woke) >= 0:
            return "ok"
        return super().probe()

    def sample(self, now: int, values: "dict[str, Any]", flags: "dict[str, list[str]]") -> None:
        """Values of the held duty-cycle sample, else live values, with warming_up/sleeping/sensor_error."""
        held, self._held = self._held, None
        if held == ERROR:
            self._fail(flags)
        elif held is not None:
            _put(values, self.keys, held)
        elif not self.awake:
            _flag(flags, self.keys, SLEEPING)
        else:
            warming = self._clock.ticks_diff(now, self._woke) < (self._duty[0] if self._duty else WARMUP_MS)
            if self._fresh_since_wake(now):
                _put(values, self.keys, self.driver.pm)
            elif not warming:
                self._fail(flags)
            if warming:  # values (if any yet) are not to be trusted
                _flag(flags, self.keys, WARMING_UP)

    def _fresh_since_wake(self, now: int) -> bool:
        seen = self._seen
        return self.fresh(now) and seen is not None and self._clock.ticks_diff(seen, self._woke) >= 0

    def _set_awake(self, awake: bool, now: int) -> None:
        if awake:
            self.driver.wake()
            self._woke = now
        else:
            self.driver.sleep()
        self.awake = awake


class Distance(Streaming):
    """MaxBotix level sensor: distance_mm, flagged no_target (no value) or blanking (an upper bound)."""

    can_sleep = False

    def __init__(self, driver: "Any", clock: "ClockLike") -> None:
        super().__init__("maxbotix", driver, clock, ("distance_mm",))

    def sample(self, now: int, values: "dict[str, Any]", flags: "dict[str, list[str]]") -> None:
        """The latest distance, if fresh."""
        if not self.fresh(now):
            self._fail(flags)
        elif self.driver.status == 2:  # maxbotix.NO_TARGET
            _flag(flags, self.keys, NO_TARGET)
        else:
            values["distance_mm"] = self.driver.mm
            if self.driver.status == 1:  # maxbotix.BLANKING
                _flag(flags, self.keys, BLANKING)


class Climate:
    """BME280: one forced measurement per readings interval."""

    can_sleep = False

    def __init__(self, driver: "Any") -> None:
        self.name = "bme280"
        self.keys = OTHER_KEYS["bme280"]
        self.driver = driver
        self.errors = 0

    def update(self, now: int) -> None:
        """Nothing to do between samples (forced mode)."""

    def sample(self, now: int, values: "dict[str, Any]", flags: "dict[str, list[str]]") -> None:
        """Measure now; an I2C failure flags sensor_error."""
        try:
            t, p, h = self.driver.read()
        except OSError:
            self.errors += 1
            _flag(flags, self.keys, ERROR)
            return
        values["temperature"] = round(t, 2)
        values["humidity"] = round(h, 1)
        values["pressure"] = round(p, 2)

    def probe(self) -> str:
        """Chip id check, then one measurement."""
        try:
            chip = self.driver.chip_id()
            if chip != 0x60:
                return "error chip id 0x%02x" % chip
            self.driver.read()
        except OSError:
            return "no answer"
        return "ok"


class Rain:
    """Tipping bucket: rain_mm in the interval and its mean rate."""

    can_sleep = False

    def __init__(self, gauge: "Any") -> None:
        self.name = "rain"
        self.keys = OTHER_KEYS["rain"]
        self.gauge = gauge
        self.errors = 0

    def update(self, now: int) -> None:
        """Tips are counted by the pin IRQ."""

    def sample(self, now: int, values: "dict[str, Any]", flags: "dict[str, list[str]]") -> None:
        """mm and mm/h since the previous sample."""
        values["rain_mm"], values["rain_rate_mm_h"] = self.gauge.take(now)

    def probe(self) -> str:
        """A reed switch cannot answer: always ok."""
        return "ok"


class Broken:
    """A configured sensor whose driver could not start: every sample is a sensor_error."""

    can_sleep = False

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.keys = PM_KEYS.get(name) or OTHER_KEYS.get(name, (name,))
        self.reason = reason
        self.errors = 0

    def update(self, now: int) -> None:
        """Nothing runs."""

    def sample(self, now: int, values: "dict[str, Any]", flags: "dict[str, list[str]]") -> None:
        """Always sensor_error."""
        self.errors += 1
        _flag(flags, self.keys, ERROR)

    def probe(self) -> str:
        """Why it could not start."""
        return "error " + self.reason
