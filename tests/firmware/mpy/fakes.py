"""Fakes with behaviour for the node's hardware: a clock, the gateway link, and sensor devices that
stream the datasheets' frames and obey their commands."""

import gw

PERIOD = 1 << 30  # MicroPython's ticks period
# PyPMS capture (shared/datasets/serial/pypms_captures/PMSx003.hexdump, first frame): PM 0/8/8.
PMS_FRAME = bytes.fromhex("424d001c00000008000800000008000800d20046002d001e00000000970002c5")
# The same capture's SDS01x.hexdump, first frame: PM2.5 0.6, PM10 0.6.
SDS_FRAME = bytes.fromhex("aac00600060058d93dab")


class Clock:
    """Wrapping millisecond ticks that move only when the code under test sleeps (or a test says)."""

    def __init__(self, start=PERIOD - 5000):  # starts just before the wrap, so the wrap is tested
        self.now = start

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, new, old):
        return (new - old + PERIOD // 2) % PERIOD - PERIOD // 2

    def ticks_add(self, ticks, delta):
        return (ticks + delta) % PERIOD

    def sleep_ms(self, ms):
        self.now = (self.now + ms) % PERIOD


class Link:
    """The gateway's end of the node's serial link."""

    def __init__(self):
        self.to_node = bytearray()
        self.from_node = bytearray()
        self.seq = 0

    def read(self):
        if not self.to_node:
            return None
        data = bytes(self.to_node)
        self.to_node = bytearray()
        return data

    def write(self, data):
        self.from_node.extend(data)
        return len(data)

    def command(self, cmd, args=None, cmd_id=None):
        """Queue a command for the node; returns its cmd_id."""
        cmd_id = self.seq + 100 if cmd_id is None else cmd_id
        self.to_node.extend(gw.command(self.seq, cmd_id, cmd, args))
        self.seq += 1
        return cmd_id

    def packets(self):
        """Everything the node sent, decoded by the gateway-side code."""
        return gw.parse(self.from_node)


class PmsDevice:
    """A PMS5003 on the far end of a fake UART: one frame a second while awake and in active mode."""

    def __init__(self, clock, frame=PMS_FRAME, period_ms=1000):
        self.clock = clock
        self.frame = frame
        self.period_ms = period_ms
        self.awake = True
        self.active = True
        self.commands = []  # (cmd, data) as received
        self.pending = 0  # passive-mode frames requested
        self._last = clock.ticks_ms()

    def on_write(self, data):
        for i in range(0, len(data) - 6, 7):
            c = data[i : i + 7]
            if c[0] == 0x42 and c[1] == 0x4D and sum(c[:5]) == c[5] << 8 | c[6]:
                self.commands.append((c[2], c[4]))
                if c[2] == 0xE4:
                    self.awake = c[4] == 1
                elif c[2] == 0xE1:
                    self.active = c[4] == 1
                elif c[2] == 0xE2:
                    self.pending += 1

    def stream(self):
        if not self.awake:
            return b""
        if not self.active:
            n, self.pending = self.pending, 0
            return self.frame * n
        now = self.clock.ticks_ms()
        if self.clock.ticks_diff(now, self._last) < self.period_ms:
            return b""
        self._last = now
        return self.frame


class Script:
    """A UART device that only sends what a test gives it (MaxBotix lines, SDS011 frames, noise)."""

    def __init__(self, data=b""):
        self.pending = bytearray(data)
        self.received = bytearray()

    def on_write(self, data):
        self.received.extend(data)

    def stream(self):
        data = bytes(self.pending)
        self.pending = bytearray()
        return data


# BMP280 datasheet section 3.12 worked example (the BME280's T and P compensation is identical);
# humidity coefficients typical of a real BME280 (the datasheet gives no humidity example).
CAL_T = (27504, 26435, -1000)
CAL_P = (36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
CAL_H = (75, 362, 0, 313, 50, 30)
ADC_T, ADC_P, ADC_H = 519888, 415148, 30000


def _le16(regs, at, value):
    value &= 0xFFFF
    regs[at] = value & 0xFF
    regs[at + 1] = value >> 8


def bme280_registers(chip_id=0x60, adc=(ADC_T, ADC_P, ADC_H)):
    """A BME280's register map holding the example calibration and one finished measurement."""
    regs = bytearray(256)
    regs[0xD0] = chip_id
    for i, value in enumerate(CAL_T + CAL_P):
        _le16(regs, 0x88 + 2 * i, value)
    h1, h2, h3, h4, h5, h6 = CAL_H
    regs[0xA1] = h1
    _le16(regs, 0xE1, h2)
    regs[0xE3] = h3
    regs[0xE4] = (h4 >> 4) & 0xFF
    regs[0xE5] = (h4 & 0x0F) | ((h5 & 0x0F) << 4)
    regs[0xE6] = (h5 >> 4) & 0xFF
    regs[0xE7] = h6 & 0xFF
    adc_t, adc_p, adc_h = adc
    for at, raw in ((0xF7, adc_p), (0xFA, adc_t)):
        regs[at], regs[at + 1], regs[at + 2] = raw >> 12, (raw >> 4) & 0xFF, (raw & 0x0F) << 4
    regs[0xFD], regs[0xFE] = adc_h >> 8, adc_h & 0xFF
    return regs
