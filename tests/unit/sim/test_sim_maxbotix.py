"""The virtual MaxBotix HRXL-MaxSonar-WR: byte-exact frames, power-on header, timing, artefacts.

The device's frames are checked against PROTOCOLS.md by hand and round-tripped through the
gateway's own decoder (the encoder in sim/ never imports it, so a shared bug cannot hide).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest

from gateway.sources.protocols.base import Ack, Sample
from gateway.sources.protocols.maxbotix import MaxbotixDecoder
from sim.serial.maxbotix import FRAME_PERIOD_S, VirtualMaxbotix, WaterArtefacts, header, range_frame

QUIET = WaterArtefacts(noise_mm=0.0)
TOKEN = re.compile(rb"^R(\d{4})\r$")


def still(depth: float) -> Callable[[float], dict[str, float]]:
    return lambda t: {"depth_mm": depth}


def ranges(device: VirtualMaxbotix, seconds: float, start: float = 0.0, step: float = 0.01) -> list[int]:
    """Every range the device sends while polled every `step` s (the header skipped)."""
    out = []
    for i in range(round(seconds / step)):
        frame = device.frame_due(start + i * step)
        if frame is not None and frame.startswith(b"R"):
            match = TOKEN.match(frame)
            assert match, frame
            out.append(int(match.group(1)))
    return out


def test_frames_are_byte_exact() -> None:
    assert range_frame(1234) == b"R1234\r"
    assert range_frame(300) == b"R0300\r"
    with pytest.raises(ValueError, match="4 digits"):
        range_frame(10000)
    assert header().startswith(b"HRXL-MaxSonar-WRL\r") and header().endswith(b"TempI\r")


def test_power_on_sends_the_header_then_ranges_at_6_hz() -> None:
    device = VirtualMaxbotix(still(200), random.Random(1), 2000, artefacts=QUIET)
    first = device.frame_due(0.0)
    assert first == header()
    assert device.frame_due(0.1) is None  # ranges start a moment after the header
    assert len(ranges(device, 10.0)) == pytest.approx(10 / FRAME_PERIOD_S, abs=2)
    device.power_on(20.0)
    assert device.frame_due(20.0) == header()


def test_no_burst_after_a_stall() -> None:
    device = VirtualMaxbotix(still(200), random.Random(1), 2000, artefacts=QUIET)
    device.frame_due(0.0)
    assert device.frame_due(5.0) is not None
    assert device.frame_due(5.001) is None


def test_distance_is_mount_minus_depth_in_5_mm_steps() -> None:
    device = VirtualMaxbotix(still(123.0), random.Random(1), 2000, artefacts=WaterArtefacts(noise_mm=3.0))
    values = ranges(device, 60.0)
    assert all(v % 5 == 0 for v in values)
    assert abs(sum(values) / len(values) - 1877) <= 3
    assert max(values) - min(values) <= 25


def test_the_gateway_decodes_every_frame() -> None:
    device = VirtualMaxbotix(still(300.0), random.Random(2), 2500)
    decoder = MaxbotixDecoder()
    out = []
    for i in range(600):
        frame = device.frame_due(i / 60)
        if frame is not None:
            out += decoder.feed(frame)
    assert all(isinstance(item, Ack) for item in out[:6])
    samples = out[6:]
    assert samples and all(isinstance(s, Sample) and 2150 <= s.values["distance_mm"] <= 2250 for s in samples)


@pytest.mark.parametrize(
    ("model", "code", "expected_far", "expected_near"),
    [(5000, None, 5000, 300), (10000, None, 9999, 500), (5000, 5003, 5003, 300)],
)
def test_out_of_range_and_blanking(
    model: int, code: int | None, expected_far: int, expected_near: int
) -> None:
    art = WaterArtefacts(noise_mm=0.0, no_target_mm=code)
    far = VirtualMaxbotix(still(-200.0), random.Random(1), model - 100, model, art)
    assert set(ranges(far, 5.0)) == {expected_far}
    near = VirtualMaxbotix(still(1900.0), random.Random(1), 2000, model, art)
    assert set(ranges(near, 5.0)) == {expected_near}


def test_lost_target_windows_report_no_target() -> None:
    art = WaterArtefacts(noise_mm=0.0, lost_target=((10.0, 20.0),))
    device = VirtualMaxbotix(still(0.0), random.Random(1), 2000, artefacts=art)
    assert set(ranges(device, 9.0)) == {2000}
    assert set(ranges(device, 9.0, start=10.5)) == {5000}
    assert set(ranges(device, 5.0, start=20.5)) == {2000}


def test_waves_oscillate_around_the_still_water() -> None:
    art = WaterArtefacts(noise_mm=0.0, waves_mm=50.0, wave_period_s=4.0)
    values = ranges(VirtualMaxbotix(still(500.0), random.Random(3), 3000, artefacts=art), 40.0)
    assert 2445 <= min(values) <= 2460 and 2540 <= max(values) <= 2555
    assert abs(sum(values) / len(values) - 2500) <= 5


def test_debris_reads_short_in_about_debris_p_of_frames() -> None:
    art = WaterArtefacts(noise_mm=0.0, debris_p=0.05)
    values = ranges(VirtualMaxbotix(still(0.0), random.Random(4), 2000, artefacts=art), 600.0)
    short = [v for v in values if v < 2000]
    assert 0.03 <= len(short) / len(values) <= 0.07
    assert all(300 <= v <= 1900 for v in short)


def test_multipath_episodes_only_at_low_water() -> None:
    art = WaterArtefacts(noise_mm=0.0, multipath_below_mm=100, multipath_per_hour=60, multipath_short_mm=700)
    low = ranges(VirtualMaxbotix(still(0.0), random.Random(5), 2000, artefacts=art), 1800.0, step=1 / 6)
    assert set(low) == {2000, 1300}
    runs, current = [], 0
    for v in low:
        current = current + 1 if v == 1300 else 0
        if current == 1:
            runs.append(1)
        elif current:
            runs[-1] = current
    assert 10 <= len(runs) <= 60
    assert all(5 * 6 - 2 <= r <= 20 * 6 + 2 for r in runs)
    high = ranges(VirtualMaxbotix(still(200.0), random.Random(5), 2000, artefacts=art), 600.0, step=1 / 6)
    assert set(high) == {1800}


def test_same_seed_same_bytes() -> None:
    art = WaterArtefacts(waves_mm=20, debris_p=0.01, multipath_below_mm=500, multipath_per_hour=30)

    def play(seed: int) -> list[int]:
        return ranges(VirtualMaxbotix(still(100.0), random.Random(seed), 2000, artefacts=art), 300.0)

    assert play(7) == play(7)
    assert play(7) != play(8)


def test_the_serial_line_is_output_only_and_models_are_checked() -> None:
    device = VirtualMaxbotix(still(0.0), random.Random(1), 2000)
    assert device.on_bytes(b"anything", 1.0) == b""
    with pytest.raises(ValueError, match="5000 or 10000"):
        VirtualMaxbotix(still(0.0), random.Random(1), 2000, model_range_mm=7000)
