"""Virtual sensors as byte scripts: host command bytes in, exact reply bytes out, at scenario times.

Commands are written out from PROTOCOLS.md rather than built by gateway/ code, so these tests
check the simulator against the datasheet, not against the parser.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

import pytest

from gateway.sources.protocols.base import ChecksumError, Decoded, MalformedFrame, Sample, StreamDecoder
from gateway.sources.protocols.mhz19 import Mhz19Decoder
from gateway.sources.protocols.pms5003 import Pms5003Decoder
from gateway.sources.protocols.sds011 import Sds011Decoder
from sim.serial.devices import FaultInjector, Faults, VirtualMhz19, VirtualPms5003, VirtualSds011

H = bytes.fromhex
SDS_ACTIVE = H("aa b4 02 01 00 00000000000000000000 ff ff 01 ab")
SDS_QUERY_MODE = H("aa b4 02 01 01 00000000000000000000 ff ff 02 ab")
SDS_QUERY = H("aa b4 04 00 00 00000000000000000000 ff ff 02 ab")
SDS_SLEEP = H("aa b4 06 01 00 00000000000000000000 ff ff 05 ab")
SDS_WAKE = H("aa b4 06 01 01 00000000000000000000 ff ff 06 ab")
SDS_PERIOD_1 = H("aa b4 08 01 01 00000000000000000000 ff ff 08 ab")
PMS_ACTIVE, PMS_PASSIVE = H("42 4D E1 00 01 01 71"), H("42 4D E1 00 00 01 70")
PMS_READ, PMS_SLEEP, PMS_WAKE = (
    H("42 4D E2 00 00 01 71"),
    H("42 4D E4 00 00 01 73"),
    H("42 4D E4 00 01 01 74"),
)
MHZ_READ, MHZ_ABC_OFF = H("FF 01 86 00 00 00 00 00 79"), H("FF 01 79 00 00 00 00 00 86")
MHZ_SPAN_1000 = H("FF 01 88 03 E8 00 00 00 8C")

TRUTH = {"pm1": 6.0, "pm25": 12.3, "pm10": 20.0, "co2": 636.0, "temperature": 26.0, "humidity": 45.0}


def truth(t: float) -> Mapping[str, float]:
    """Constant air, whatever the time."""
    return TRUTH


def samples(decoded: list[Decoded]) -> list[Sample]:
    """Only the readings."""
    return [d for d in decoded if isinstance(d, Sample)]


def frames_between(
    device: VirtualSds011 | VirtualPms5003, start: float, end: float, step: float = 0.1
) -> list[bytes]:
    """Every periodic frame the device emits when polled every `step` s in [start, end)."""
    out = []
    for i in range(round((end - start) / step)):
        frame = device.frame_due(start + i * step)
        if frame is not None:
            out.append(frame)
    return out


# --- SDS011 --------------------------------------------------------------------------------------


def test_sds011_active_frames_every_second_zero_while_starting() -> None:
    sds = VirtualSds011(truth, random.Random(1), device_id=0xA160)
    frames = frames_between(sds, 0.0, 10.0)
    assert len(frames) == 9  # t = 1, 2, ..., 9
    assert frames[0] == H("aa c0 00 00 00 00 a1 60 01 ab")  # all zero for the first seconds
    decoded = samples(Sds011Decoder().feed(b"".join(frames)))
    assert [d.flags for d in decoded[:2]] == [frozenset({"warming_up"})] * 2
    for sample in decoded[3:]:
        assert sample.values["pm25"] == pytest.approx(12.3, abs=1.5)
        assert sample.values["pm10"] == pytest.approx(20.0, abs=2.0)


def test_sds011_query_mode_script() -> None:
    sds = VirtualSds011(truth, random.Random(2), device_id=0xA160)
    assert sds.on_bytes(SDS_QUERY_MODE, 5.0) == H("aa c5 02 01 01 00 a1 60 05 ab")
    assert frames_between(sds, 5.0, 10.0) == []
    reply = sds.on_bytes(SDS_QUERY, 10.0)
    assert len(reply) == 10 and reply[:2] == H("aa c0")
    assert samples(Sds011Decoder().feed(reply))[0].values["pm25"] == pytest.approx(12.3, abs=1.5)
    assert sds.on_bytes(SDS_ACTIVE, 11.0) == H("aa c5 02 01 00 00 a1 60 04 ab")
    assert len(frames_between(sds, 11.0, 14.5)) == 3  # t = 12, 13, 14


def test_sds011_sleep_answers_only_wake() -> None:
    sds = VirtualSds011(truth, random.Random(3), device_id=0xA160)
    assert sds.on_bytes(SDS_SLEEP, 5.0) == H("aa c5 06 01 00 00 a1 60 08 ab")
    assert frames_between(sds, 5.0, 20.0) == []
    assert sds.on_bytes(SDS_QUERY + SDS_QUERY_MODE, 20.0) == b""
    assert sds.on_bytes(SDS_WAKE, 21.0) == H("aa c5 06 01 01 00 a1 60 09 ab")
    frames = frames_between(sds, 21.0, 30.0)
    assert len(frames) == 8
    flags = [s.flags for s in samples(Sds011Decoder().feed(b"".join(frames)))]
    assert flags[:2] == [frozenset({"warming_up"})] * 2  # fan restarting after wake
    assert flags[-1] == frozenset()


def test_sds011_command_split_across_reads() -> None:
    sds = VirtualSds011(truth, random.Random(4), device_id=0xA160)
    replies = [sds.on_bytes(bytes([b]), 5.0) for b in b"\x00\x13" + SDS_QUERY_MODE]
    assert replies[:-1] == [b""] * (len(replies) - 1)
    assert replies[-1] == H("aa c5 02 01 01 00 a1 60 05 ab")


def test_sds011_ignores_other_device_and_bad_checksum() -> None:
    sds = VirtualSds011(truth, random.Random(5), device_id=0xA160)
    other = H("aa b4 02 01 01 00000000000000000000 12 34 49 ab")
    assert sds.on_bytes(other, 1.0) == b""
    assert sds.on_bytes(SDS_QUERY_MODE[:-2] + b"\x00\xab", 1.0) == b""
    assert not sds.query_mode


def test_sds011_working_period() -> None:
    sds = VirtualSds011(truth, random.Random(6), device_id=0xA160)
    assert sds.on_bytes(SDS_PERIOD_1, 0.0) == H("aa c5 08 01 01 00 a1 60 0b ab")
    assert len(frames_between(sds, 0.0, 180.0, step=0.5)) == 2  # t = 60, 120
    sds.power_on(200.0)  # power cycle: active and awake again, period kept as the sensor stores it
    assert sds.working_period_min == 1
    assert not sds.query_mode and sds.awake


def test_sds011_power_on_resets_mode() -> None:
    sds = VirtualSds011(truth, random.Random(7))
    sds.on_bytes(SDS_QUERY_MODE + SDS_SLEEP, 1.0)
    assert (sds.query_mode, sds.awake) == (True, False)
    sds.power_on(2.0)
    assert (sds.query_mode, sds.awake) == (False, True)
    assert len(frames_between(sds, 2.0, 5.0)) == 2


# --- PMS5003 -------------------------------------------------------------------------------------


def test_pms5003_active_then_passive_script() -> None:
    pms = VirtualPms5003(truth, random.Random(8))
    frames = frames_between(pms, 0.0, 6.0)
    assert len(frames) == 5 and all(len(f) == 32 for f in frames)
    assert pms.on_bytes(PMS_PASSIVE, 6.0) == H("42 4d 00 04 e1 00 01 74")
    assert frames_between(pms, 6.0, 10.0) == []
    reply = pms.on_bytes(PMS_READ, 10.0)
    (sample,) = samples(Pms5003Decoder().feed(reply))
    assert sample.values["pm25"] == pytest.approx(12.3, abs=1.5)
    assert sample.values["pm1"] <= sample.values["pm25"] <= sample.values["pm10"]
    assert pms.on_bytes(PMS_ACTIVE, 11.0) == H("42 4d 00 04 e1 01 01 75")
    assert len(frames_between(pms, 11.0, 13.5)) == 2  # t = 12, 13


def test_pms5003_sleep_and_wake() -> None:
    pms = VirtualPms5003(truth, random.Random(9))
    assert pms.on_bytes(PMS_SLEEP, 5.0) == H("42 4d 00 04 e4 00 01 77")
    assert frames_between(pms, 5.0, 10.0) == []
    assert pms.on_bytes(PMS_PASSIVE + PMS_READ, 10.0) == b""  # asleep: only wake is heard
    assert pms.on_bytes(PMS_WAKE, 10.0) == b""  # wake is not acknowledged; frames follow
    decoded = samples(Pms5003Decoder().feed(b"".join(frames_between(pms, 10.0, 16.0))))
    assert len(decoded) == 5
    assert decoded[0].flags == frozenset({"warming_up"})
    assert decoded[-1].flags == frozenset()


def test_pms5003t_reports_temperature_and_humidity() -> None:
    pms = VirtualPms5003(truth, random.Random(10), t_variant=True)
    frames = frames_between(pms, 0.0, 6.0)
    last = samples(Pms5003Decoder(t_variant=True).feed(b"".join(frames)))[-1]
    assert last.values["temperature"] == pytest.approx(26.0, abs=1.5)
    assert last.values["humidity"] == pytest.approx(45.0, abs=3.0)
    assert "n5_0" not in last.values


# --- MH-Z19B -------------------------------------------------------------------------------------


def test_mhz19_read_is_byte_exact_with_the_capture() -> None:
    mhz = VirtualMhz19(truth, random.Random(11), noise=0.0)
    assert mhz.on_bytes(MHZ_READ, 1.0) == H("ff 86 02 7c 42 00 00 00 ba")  # 636 ppm, 26 °C
    assert mhz.frame_due(2.0) is None


def test_mhz19_settings_have_no_reply() -> None:
    mhz = VirtualMhz19(truth, random.Random(12))
    assert mhz.on_bytes(MHZ_ABC_OFF[:4], 1.0) == b""
    assert mhz.on_bytes(MHZ_ABC_OFF[4:] + MHZ_SPAN_1000, 1.0) == b""
    assert not mhz.abc
    assert mhz.calibrations == [("span", 1000)]
    reply = mhz.on_bytes(MHZ_READ[:5], 2.0) + mhz.on_bytes(MHZ_READ[5:], 2.0)
    (sample,) = samples(Mhz19Decoder().feed(reply))
    assert sample.values["co2"] == pytest.approx(636, abs=30)


# --- Stuck sensors ------------------------------------------------------------------------------


def rising(t: float) -> Mapping[str, float]:
    """Air that gets steadily worse, so a live sensor never repeats an old frame."""
    return {k: v * (1.0 + 0.05 * t) for k, v in TRUTH.items()}


def stuck(t: float) -> bool:
    """Stuck from t = 10 s to 20 s."""
    return 10.0 <= t < 20.0


def stuck_device(kind: str) -> tuple[Callable[[float], bytes], StreamDecoder]:
    """How to get one frame at t from a stuck virtual `kind`, and the gateway decoder for it."""
    rng = random.Random(13)
    if kind == "sds011":
        sds = VirtualSds011(rising, rng, frozen=stuck)
        return lambda t: sds.frame_due(t) or b"", Sds011Decoder()
    if kind == "pms5003t":
        pms = VirtualPms5003(rising, rng, t_variant=True, frozen=stuck)
        return lambda t: pms.frame_due(t) or b"", Pms5003Decoder(t_variant=True)
    mhz = VirtualMhz19(rising, rng, frozen=stuck)
    return lambda t: mhz.on_bytes(MHZ_READ, t), Mhz19Decoder()


@pytest.mark.parametrize("kind", ["sds011", "pms5003t", "mhz19"])
def test_stuck_device_repeats_its_last_frame_exactly(kind: str) -> None:
    frame_at, decoder = stuck_device(kind)
    frames = {t: frame_at(float(t)) for t in range(5, 30)}  # one frame a second, past the zero frames
    assert len({frames[t] for t in range(5, 10)}) == 5  # live: every frame differs
    assert {frames[t] for t in range(10, 20)} == {frames[9]}  # stuck: the last frame before, byte for byte
    assert len({frames[t] for t in range(20, 30)} | {frames[9]}) == 11  # live again
    decoded = decoder.feed(b"".join(frames.values()))
    assert len(samples(decoded)) == len(decoded) == len(frames)  # valid checksums throughout
    readings = [dict(s.values) for s in samples(decoded)]
    assert readings[5:15] == [readings[4]] * 10  # t = 10-19 read exactly as t = 9


def test_device_stuck_before_its_first_frame_holds_that_frame() -> None:
    sds = VirtualSds011(rising, random.Random(14), frozen=lambda t: t >= 5.0)
    frames = [sds.frame_due(float(t)) for t in range(5, 15)]
    assert frames[0] is not None and set(frames) == {frames[0]}


# --- Faults --------------------------------------------------------------------------------------


def _pms_stream(faults: Faults, seed: int) -> tuple[list[Decoded], int, FaultInjector]:
    pms = VirtualPms5003(truth, random.Random(seed))
    injector = FaultInjector(faults, random.Random(seed))
    stream, clean = b"", 0
    for frame in frames_between(pms, 0.0, 300.0, step=0.5):
        before = injector.counts["corrupt"] + injector.counts["truncate"]
        stream += injector.apply(frame, 0.0)
        clean += injector.counts["corrupt"] + injector.counts["truncate"] == before
    return Pms5003Decoder().feed(stream), clean, injector


def test_faults_with_fixed_seed_cost_exactly_the_faulted_frames() -> None:
    decoded, clean, injector = _pms_stream(Faults(garbage_p=0.3, corrupt_p=0.1, truncate_p=0.1), seed=42)
    assert min(injector.counts.values()) > 5  # every kind of fault happened
    assert len(samples(decoded)) == clean
    checksum_errors = [d for d in decoded if isinstance(d, ChecksumError)]
    assert len(checksum_errors) >= injector.counts["corrupt"]
    malformed = [d for d in decoded if isinstance(d, MalformedFrame)]
    assert len(malformed) <= injector.counts["garbage"] + injector.counts["truncate"]


def test_faults_are_deterministic() -> None:
    faults = Faults(garbage_p=0.5, corrupt_p=0.2, truncate_p=0.2)
    a, b = _pms_stream(faults, seed=7), _pms_stream(faults, seed=7)
    assert a[1] == b[1]
    assert a[2].counts == b[2].counts
    assert [type(x) for x in a[0]] == [type(x) for x in b[0]]


def test_faults_only_inside_windows() -> None:
    injector = FaultInjector(Faults(garbage_p=1.0, windows=((10.0, 20.0),)), random.Random(0))
    frame = H("ff 86 02 7c 42 00 00 00 ba")
    assert injector.apply(frame, 5.0) == frame
    garbled = injector.apply(frame, 15.0)
    assert garbled != frame and garbled.endswith(frame)
    assert injector.apply(frame, 20.0) == frame
