"""A simulated BME280 on I2C: its register map and the datasheet's compensation maths.

Measurements are made by inverting the datasheet's integer formulas (section 4.2.3) by bisection,
so a driver that compensates correctly reads back the true temperature, pressure and humidity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.board.cpu import Cpu
from sim.serial.devices import Truth


def _s16(value: int) -> bytes:
    return value.to_bytes(2, "little", signed=True)


@dataclass(frozen=True, slots=True)
class _Calib:
    """BME280 trimming values, typical of a real part (datasheet section 4.2.2 layout)."""

    t1: int = 27504
    t2: int = 26435
    t3: int = -1000
    p: tuple[int, ...] = (36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
    h1: int = 75
    h2: int = 370
    h3: int = 0
    h4: int = 304
    h5: int = 50
    h6: int = 30


def bme280_temperature(adc: int, c: _Calib) -> tuple[int, int]:
    """Datasheet 4.2.3 (int32): (t_fine, temperature in 0.01 degC)."""
    var1 = (((adc >> 3) - (c.t1 << 1)) * c.t2) >> 11
    var2 = (((((adc >> 4) - c.t1) * ((adc >> 4) - c.t1)) >> 12) * c.t3) >> 14
    t_fine = var1 + var2
    return t_fine, (t_fine * 5 + 128) >> 8


def bme280_pressure(adc: int, t_fine: int, c: _Calib) -> int:
    """Datasheet 4.2.3 (int64): pressure in Pa as Q24.8."""
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = c.p
    var1 = t_fine - 128000
    var2 = var1 * var1 * p6 + ((var1 * p5) << 17) + (p4 << 35)
    var1 = ((var1 * var1 * p3) >> 8) + ((var1 * p2) << 12)
    var1 = (((1 << 47) + var1) * p1) >> 33
    if var1 == 0:
        return 0
    p = 1048576 - adc
    p = int((((p << 31) - var2) * 3125) / var1)
    var1 = (p9 * (p >> 13) * (p >> 13)) >> 25
    var2 = (p8 * p) >> 19
    return ((p + var1 + var2) >> 8) + (p7 << 4)


def bme280_humidity(adc: int, t_fine: int, c: _Calib) -> int:
    """Datasheet 4.2.3 (int32): relative humidity in %RH as Q22.10."""
    v = t_fine - 76800
    a = ((adc << 14) - (c.h4 << 20) - (c.h5 * v) + 16384) >> 15
    b = (((((v * c.h6) >> 10) * (((v * c.h3) >> 11) + 32768)) >> 10) + 2097152) * c.h2 + 8192
    v = a * (b >> 14)
    v -= ((((v >> 15) * (v >> 15)) >> 7) * c.h1) >> 4
    return max(0, min(v, 419430400)) >> 12


def _bisect(lo: int, hi: int, rising: bool, value: Callable[[int], float], target: float) -> int:
    while lo < hi:
        mid = (lo + hi) // 2
        if (value(mid) < target) == rising:
            lo = mid + 1
        else:
            hi = mid
    return lo


class Bme280:
    """A BME280 at the register level: chip id 0x60, trimming registers, forced/normal mode."""

    def __init__(self, truth: Truth, cpu: Cpu) -> None:
        self._truth, self._cpu, self._c = truth, cpu, _Calib()
        self.regs = bytearray(256)
        self.pointer = 0
        self._reset()

    def _reset(self) -> None:
        c, regs = self._c, self.regs
        regs[:] = bytes(256)
        regs[0xD0] = 0x60
        calib = c.t1.to_bytes(2, "little") + _s16(c.t2) + _s16(c.t3) + c.p[0].to_bytes(2, "little")
        calib += b"".join(_s16(v) for v in c.p[1:])
        regs[0x88 : 0x88 + len(calib)] = calib
        regs[0xA1] = c.h1
        regs[0xE1:0xE4] = _s16(c.h2) + bytes([c.h3])
        regs[0xE4] = (c.h4 >> 4) & 0xFF
        regs[0xE5] = (c.h4 & 0x0F) | ((c.h5 & 0x0F) << 4)
        regs[0xE6] = (c.h5 >> 4) & 0xFF
        regs[0xE7] = c.h6 & 0xFF
        regs[0xF7:0xFF] = bytes([0x80, 0, 0, 0x80, 0, 0, 0x80, 0])  # "skipped" until a measurement

    def write(self, reg: int, data: bytes) -> None:
        """Register writes: reset (0xE0 = 0xB6), ctrl_hum, ctrl_meas (mode), config."""
        for i, byte in enumerate(data):
            r = (reg + i) & 0xFF
            if r == 0xE0 and byte == 0xB6:
                self._reset()
            elif r in (0xF2, 0xF4, 0xF5):
                self.regs[r] = byte
        if (self.regs[0xF4] & 0x03) in (1, 2):  # forced mode: one measurement, then sleep
            self._measure()
            self.regs[0xF4] &= 0xFC

    def read(self, reg: int, n: int) -> bytes:
        """Register reads; normal mode measures continuously."""
        if (self.regs[0xF4] & 0x03) == 3 and reg <= 0xFE and reg + n > 0xF7:
            self._measure()
        return bytes(self.regs[(reg + i) & 0xFF] for i in range(n))

    def _measure(self) -> None:
        c, truth = self._c, self._truth(self._cpu.now())
        temp = truth.get("temperature", 20.0) * 100
        adc_t = _bisect(0, (1 << 20) - 1, True, lambda a: bme280_temperature(a, c)[1], temp)
        t_fine = bme280_temperature(adc_t, c)[0]
        pressure = truth.get("pressure", 1013.25) * 100 * 256
        adc_p = _bisect(0, (1 << 20) - 1, False, lambda a: bme280_pressure(a, t_fine, c), pressure)
        humidity = truth.get("humidity", 50.0) * 1024
        adc_h = _bisect(0, (1 << 16) - 1, True, lambda a: bme280_humidity(a, t_fine, c), humidity)
        osrs_t, osrs_p, osrs_h = self.regs[0xF4] >> 5, (self.regs[0xF4] >> 2) & 7, self.regs[0xF2] & 7
        adc_p, adc_t = (adc_p if osrs_p else 0x80000), (adc_t if osrs_t else 0x80000)
        adc_h = adc_h if osrs_h else 0x8000
        data = [adc_p >> 12, (adc_p >> 4) & 0xFF, (adc_p & 0xF) << 4, adc_t >> 12, (adc_t >> 4) & 0xFF]
        self.regs[0xF7:0xFF] = bytes([*data, (adc_t & 0xF) << 4, adc_h >> 8, adc_h & 0xFF])
