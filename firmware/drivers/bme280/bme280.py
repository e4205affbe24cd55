"""Bosch BME280 temperature, humidity and pressure sensor on I2C, in forced mode.

Compensation is the datasheet's integer code (BST-BME280-DS002, section 4.2.3 and 8.2: 32-bit
temperature and humidity, 64-bit pressure), so results are exact and the same on every port, including
ports with single-precision floats. Usage:

    bme = BME280(I2C(0, scl=Pin(22), sda=Pin(21)), addr=0x76)
    t_c, p_hpa, rh = bme.read()
"""

import struct

try:
    from micropython import const
except ImportError:  # CPython (host tests): const() is an identity at run time

    def const(x: int) -> int:  # type: ignore[misc]
        return x


try:
    from time import sleep_ms, ticks_diff, ticks_ms
except ImportError:  # CPython (host tests): the firmware's clock has the same functions
    from node.clock import sleep_ms, ticks_diff, ticks_ms

try:  # type names for annotations, which MicroPython never evaluates (and it has no typing)
    import typing  # noqa: F401

    from machine import I2C
except ImportError:
    pass

_REG_CALIB_TP = const(0x88)  # 24 bytes: dig_T1..dig_P9
_REG_CALIB_H1 = const(0xA1)
_REG_CHIP_ID = const(0xD0)
_REG_CALIB_H2 = const(0xE1)  # 7 bytes: dig_H2..dig_H6
_REG_CTRL_HUM = const(0xF2)
_REG_STATUS = const(0xF3)
_REG_CTRL_MEAS = const(0xF4)
_REG_DATA = const(0xF7)  # 8 bytes: press (20 bit), temp (20 bit), hum (16 bit)
CHIP_ID = const(0x60)
_OSRS_H_X1 = const(0x01)
_FORCED_X1 = const(0x25)  # osrs_t x1, osrs_p x1, forced mode
_MEASURING = const(0x08)
_TIMEOUT_MS = const(50)  # x1/x1/x1 takes at most 9.3 ms (datasheet 9.1)
_SKIPPED = const(0x80000)  # what a data register holds when its measurement did not run


class ChipIdError(OSError):
    """The device at the address is not a BME280 (0x58 is a BMP280, which has no humidity)."""


def _s8(b: int) -> int:
    return b - 256 if b > 127 else b


class BME280:
    """One sensor on `i2c` (any object with readfrom_mem_into and writeto_mem)."""

    def __init__(self, i2c: "I2C", addr: int = 0x76) -> None:
        self._i2c = i2c
        self._addr = addr
        self._buf = bytearray(24)
        self._data = memoryview(self._buf)[:8]
        self._one = bytearray(1)
        chip = self.chip_id()
        if chip != CHIP_ID:
            raise ChipIdError("chip id 0x%02x" % chip)
        self._i2c.readfrom_mem_into(addr, _REG_CALIB_TP, self._buf)
        cal = struct.unpack("<HhhHhhhhhhhh", self._buf)
        self._t: "tuple[int, ...]" = cal[0:3]
        self._p: "tuple[int, ...]" = cal[3:12]
        h1 = self._reg(_REG_CALIB_H1)
        self._i2c.readfrom_mem_into(addr, _REG_CALIB_H2, memoryview(self._buf)[:7])
        e = self._buf
        h2 = e[0] | _s8(e[1]) << 8
        self._h: "tuple[int, ...]" = (
            h1,
            h2,
            e[2],
            _s8(e[3]) << 4 | e[4] & 0x0F,
            _s8(e[5]) << 4 | e[4] >> 4,
            _s8(e[6]),
        )

    def chip_id(self) -> int:
        """The chip id register (0x60 for a BME280)."""
        return self._reg(_REG_CHIP_ID)

    def read(self) -> "tuple[float, float, float]":
        """One forced measurement: (temperature degC, pressure hPa, humidity %RH)."""
        t, p, h = self.read_compensated()
        return t / 100, p / 25600, h / 1024

    def read_compensated(self) -> "tuple[int, int, int]":
        """One forced measurement as the datasheet's integers: 0.01 degC, Pa Q24.8, %RH Q22.10."""
        self._write(_REG_CTRL_HUM, _OSRS_H_X1)  # takes effect with the next ctrl_meas write
        self._write(_REG_CTRL_MEAS, _FORCED_X1)
        start = ticks_ms()
        sleep_ms(10)
        while self._reg(_REG_STATUS) & _MEASURING:
            if ticks_diff(ticks_ms(), start) > _TIMEOUT_MS:
                raise OSError(110)  # ETIMEDOUT
            sleep_ms(2)
        self._i2c.readfrom_mem_into(self._addr, _REG_DATA, self._data)
        d = self._data
        adc_p = d[0] << 12 | d[1] << 4 | d[2] >> 4
        adc_t = d[3] << 12 | d[4] << 4 | d[5] >> 4
        if adc_t == _SKIPPED or adc_p == _SKIPPED:
            raise OSError(5)  # EIO: no measurement ran
        return self.compensate(adc_t, adc_p, d[6] << 8 | d[7])

    def compensate(self, adc_t: int, adc_p: int, adc_h: int) -> "tuple[int, int, int]":
        """Raw ADC values to (0.01 degC, Pa Q24.8, %RH Q22.10) with this chip's calibration."""
        t1, t2, t3 = self._t
        var1 = (((adc_t >> 3) - (t1 << 1)) * t2) >> 11
        var2 = (((((adc_t >> 4) - t1) * ((adc_t >> 4) - t1)) >> 12) * t3) >> 14
        t_fine = var1 + var2
        return (t_fine * 5 + 128) >> 8, self._pressure(t_fine, adc_p), self._humidity(t_fine, adc_h)

    def _pressure(self, t_fine: int, adc_p: int) -> int:
        p1, p2, p3, p4, p5, p6, p7, p8, p9 = self._p
        var1 = t_fine - 128000
        var2 = var1 * var1 * p6 + ((var1 * p5) << 17) + (p4 << 35)
        var1 = ((var1 * var1 * p3) >> 8) + ((var1 * p2) << 12)
        var1 = (((1 << 47) + var1) * p1) >> 33
        if var1 == 0:
            return 0  # the datasheet's guard against division by zero
        num = (((1048576 - adc_p) << 31) - var2) * 3125
        p = abs(num) // var1 * (1 if num >= 0 else -1)  # C's division truncates toward zero
        var1 = (p9 * (p >> 13) * (p >> 13)) >> 25
        var2 = (p8 * p) >> 19
        return ((p + var1 + var2) >> 8) + (p7 << 4)

    def _humidity(self, t_fine: int, adc_h: int) -> int:
        h1, h2, h3, h4, h5, h6 = self._h
        v = t_fine - 76800
        v = ((((adc_h << 14) - (h4 << 20) - (h5 * v)) + 16384) >> 15) * (
            ((((((v * h6) >> 10) * (((v * h3) >> 11) + 32768)) >> 10) + 2097152) * h2 + 8192) >> 14
        )
        v -= ((((v >> 15) * (v >> 15)) >> 7) * h1) >> 4
        return min(max(v, 0), 419430400) >> 12

    def _reg(self, reg: int) -> int:
        self._i2c.readfrom_mem_into(self._addr, reg, self._one)
        return int(self._one[0])

    def _write(self, reg: int, value: int) -> None:
        self._one[0] = value
        self._i2c.writeto_mem(self._addr, reg, self._one)
