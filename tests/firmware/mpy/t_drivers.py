"""Drivers parse the datasheets' byte strings and real captures, and send byte-exact commands."""

import bme280
import maxbotix
from pms5003 import PMS5003
from sds011 import SDS011

import fakes
import machine
from check import eq, near, raises

H = bytes.fromhex
# PyPMS captures (shared/datasets/serial/pypms_captures/PMSx003.hexdump), atmospheric PM1/2.5/10
# as PMSx003.csv decoded them.
PMS_CAPTURE = [
    (H("424d001c00000008000800000008000800d20046002d001e00000000970002c5"), (0, 8, 8)),
    (H("424d001c00000007000700000007000700d20046002d001e00000000970002c1"), (0, 7, 7)),
    (H("424d001c00000007000700000007000700bd003f002a001b000000009700029f"), (0, 7, 7)),
]
PMS_ACK = H("424d0004e1000174")  # acknowledgement of "passive mode"
SDS_CAPTURE = [(H("aac00600060058d93dab"), (0.6, 0.6)), (H("aac00900090058d943ab"), (0.9, 0.9))]


def _uart(data=b""):
    port = machine.UART(9)
    port.device = fakes.Script(data)
    return port


def test_pms5003_reads_captured_frames_split_anywhere():
    port = _uart()
    pms = PMS5003(port)
    eq(bytes(port.written), H("424de100010171"), "active mode on start")
    stream = b"\x00\x42junk" + PMS_ACK + b"".join(frame for frame, _ in PMS_CAPTURE)
    seen = []
    for i in range(0, len(stream), 5):
        port.device.pending.extend(stream[i : i + 5])
        if pms.update():
            seen.append(pms.pm)
    eq(seen, [pm for _, pm in PMS_CAPTURE])
    eq((pms.frames, pms.errors), (3, 0))


def test_pms5003_counts_bad_checksums_and_lengths():
    frame = bytearray(PMS_CAPTURE[0][0])
    frame[12] ^= 0x10
    port = _uart(bytes(frame) + H("424d00ff") + PMS_CAPTURE[1][0])
    pms = PMS5003(port)
    eq(pms.update(), True)
    eq(pms.pm, (0, 7, 7))
    eq(pms.errors, 2)


def test_pms5003_commands_are_byte_exact():
    port = _uart()
    pms = PMS5003(port, passive=True)
    pms.sleep()
    pms.wake()
    pms.request()
    eq(bytes(port.written).hex(), "424de100000170424de400000173424de400010174424de200000171")


def test_pms5003_passive_read_and_timeout():
    clock = fakes.Clock()
    device = fakes.PmsDevice(clock)
    port = machine.UART(8)
    port.device = device
    pms = PMS5003(port, passive=True)
    eq(pms.read(), (0, 8, 8))
    device.awake = False
    e = raises(OSError, pms.read, 30)
    eq(e.args[0], 110)


def test_sds011_reads_captured_frames_and_skips_replies():
    reply = bytes([0xAA, 0xC5, 6, 1, 1, 0, 0x58, 0xD9, (6 + 1 + 1 + 0x58 + 0xD9) & 0xFF, 0xAB])
    port = _uart(b"\xaa" + reply + SDS_CAPTURE[0][0] + b"\x01\x02" + SDS_CAPTURE[1][0])
    sds = SDS011(port)
    eq(sds.update(), True)
    eq(sds.pm, (0.9, 0.9))
    eq((sds.frames, sds.errors), (2, 0))
    port.device.pending.extend(SDS_CAPTURE[0][0][:8] + b"\x00\xab")
    eq(sds.update(), False)
    eq(sds.errors, 1, "bad checksum")


def test_sds011_commands_are_byte_exact():
    port = _uart()
    sds = SDS011(port)
    sds.sleep()
    sds.wake()
    sds.query()
    zeros = "00" * 10
    eq(
        bytes(port.written).hex(),
        "aab4060100"
        + zeros
        + "ffff05ab"
        + "aab4060101"
        + zeros
        + "ffff06ab"
        + "aab4040000"
        + zeros
        + "ffff02ab",
    )


def _float_reference(adc_t, adc_p, adc_h):
    """The datasheet's double-precision formulas (BME280 datasheet 8.1), written out independently."""
    t1, t2, t3 = fakes.CAL_T
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = fakes.CAL_P
    h1, h2, h3, h4, h5, h6 = fakes.CAL_H
    v1 = (adc_t / 16384.0 - t1 / 1024.0) * t2
    v2 = (adc_t / 131072.0 - t1 / 8192.0) * (adc_t / 131072.0 - t1 / 8192.0) * t3
    t_fine = v1 + v2
    v1 = t_fine / 2.0 - 64000.0
    v2 = v1 * v1 * p6 / 32768.0 + v1 * p5 * 2.0
    v2 = v2 / 4.0 + p4 * 65536.0
    v1 = (p3 * v1 * v1 / 524288.0 + p2 * v1) / 524288.0
    v1 = (1.0 + v1 / 32768.0) * p1
    p = 1048576.0 - adc_p
    p = (p - v2 / 4096.0) * 6250.0 / v1
    p = p + (p9 * p * p / 2147483648.0 + p * p8 / 32768.0 + p7) / 16.0
    h = t_fine - 76800.0
    h = (adc_h - (h4 * 64.0 + h5 / 16384.0 * h)) * (
        h2 / 65536.0 * (1.0 + h6 / 67108864.0 * h * (1.0 + h3 / 67108864.0 * h))
    )
    h = h * (1.0 - h1 * h / 524288.0)
    return t_fine / 5120.0, p, min(max(h, 0.0), 100.0)


def _bme(adc=(fakes.ADC_T, fakes.ADC_P, fakes.ADC_H), chip_id=0x60):
    machine.i2c_devices[0x76] = fakes.bme280_registers(chip_id, adc)
    bus = machine.I2C(0)
    return bme280.BME280(bus, 0x76), bus


def test_bme280_matches_the_datasheet_example():
    sensor, _ = _bme()
    t, p, h = sensor.compensate(fakes.ADC_T, fakes.ADC_P, fakes.ADC_H)
    eq(t, 2508, "BMP280 datasheet 3.12: 25.08 degC")
    eq(p, 25767233, "the int64 code's Q24.8 result")
    near(p / 256, 100653.27, 0.05, "datasheet: 100653.27 Pa")
    t_ref, p_ref, h_ref = _float_reference(fakes.ADC_T, fakes.ADC_P, fakes.ADC_H)
    near(t / 100, t_ref, 0.01)
    near(p / 256, p_ref, 0.05)
    near(h / 1024, h_ref, 0.05, "humidity against the float formula")


def test_bme280_integer_code_tracks_the_float_formula_over_the_range():
    sensor, _ = _bme()
    for adc_t in (400000, 519888, 600000):
        for adc_h in (20000, 30000, 40000):
            t, p, h = sensor.compensate(adc_t, 350000, adc_h)
            t_ref, p_ref, h_ref = _float_reference(adc_t, 350000, adc_h)
            near(t / 100, t_ref, 0.01)
            near(p / 256, p_ref, 0.5)
            near(h / 1024, h_ref, 0.05)


def test_bme280_forced_measurement_over_i2c():
    sensor, bus = _bme()
    t, p, h = sensor.read()
    near(t, 25.08, 1e-9)
    near(p, 1006.53, 0.01)
    near(h, _float_reference(fakes.ADC_T, fakes.ADC_P, fakes.ADC_H)[2], 0.05)
    eq(
        [(reg, data) for _, reg, data in bus.writes],
        [(0xF2, b"\x01"), (0xF4, b"\x25")],
        "ctrl_hum before ctrl_meas (it takes effect on that write), forced mode x1",
    )


def test_bme280_wrong_chip_and_missing_chip():
    e = raises(bme280.ChipIdError, _bme, (fakes.ADC_T, fakes.ADC_P, fakes.ADC_H), 0x58)
    eq(str(e), "chip id 0x58")
    machine.i2c_devices.pop(0x77, None)
    raises(OSError, bme280.BME280, machine.I2C(0), 0x77)


def test_bme280_skipped_measurement_is_an_error():
    sensor, _ = _bme(adc=(0x80000, fakes.ADC_P, fakes.ADC_H))
    raises(OSError, sensor.read)


def test_maxbotix_lines_blanking_and_no_target():
    port = _uart(b"HRXL-MaxSonar-WRLT\rPN:MB7389\rCopyright 2011-2013\rR1234\r")
    sonar = maxbotix.MaxBotix(port)
    eq(sonar.update(), True)
    eq((sonar.mm, sonar.status, sonar.errors), (1234, maxbotix.OK, 0))
    for line, mm, status in (
        (b"R0300\r", 300, maxbotix.BLANKING),
        (b"R5000\r", 5000, maxbotix.NO_TARGET),
        (b"R0301\r", 301, maxbotix.OK),
    ):
        port.device.pending.extend(line)
        eq(sonar.update(), True)
        eq((sonar.mm, sonar.status), (mm, status), line)


def test_maxbotix_malformed_lines_are_counted():
    port = _uart(b"R12\rR0456\rR12R0789\rR12345\rRoHS 1.8b090\r")
    sonar = maxbotix.MaxBotix(port)
    eq(sonar.update(), True)
    eq(sonar.mm, 789)
    eq(sonar.errors, 3, "R12<CR>, R12 cut by R, five digits; banner text is no error")
