"""The doctor's judgements from what it saw: frames from the datasheets (as the simulator encodes
them) through the probe's decoders, and the clock, disk and report verdicts from given facts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gateway.config import SensorConfig
from gateway.tools.doctor import Finding, Status
from gateway.tools.doctor.ports import verdict
from gateway.tools.doctor.probe import Heard, Probe, _Ear, baud_rates
from gateway.tools.doctor.report import as_json, exit_code
from gateway.tools.doctor.system import clock_finding, disk_finding
from sim.serial import encoders

PMS = encoders.pms5003_data((9, 10, 11), (8, 9, 10), (900, 300, 60, 8, 2, 1))
PMS_T = encoders.pms5003t_data((8, 9, 10), (900, 300, 60, 8), 115, 820)  # 11.5 °C, 82 %RH
SDS = encoders.sds011_data(91, 140, 0xA160)
MHZ = encoders.mhz19_response(650, 12)


@pytest.mark.parametrize(
    ("stream", "heard"),
    [
        (SDS * 2, "sds011"),
        (b"\x07garbage" + PMS + PMS[:10] + PMS, "pms5003"),
        (PMS_T * 2, "pms5003t"),
        (MHZ, "mhz19"),
        (b"PN:MB7389\rR1850\rR1851\r", "maxbotix"),
    ],
)
def test_the_ear_names_the_protocol_that_decodes(stream: bytes, heard: str) -> None:
    ear = _Ear(9600)
    for i in range(0, len(stream), 7):  # in pieces, as a port delivers them
        ear.feed(stream[i : i + 7])
    best = ear.best(1)
    assert best is not None and best.type == heard


def test_noise_is_no_sensor() -> None:
    ear = _Ear(9600)
    ear.feed(bytes(range(256)) * 4)
    assert ear.best(1) is None and ear.bad > 0


def test_the_configured_types_baud_rate_comes_first() -> None:
    assert baud_rates("node") == [115200, 9600]
    assert baud_rates("sds011") == baud_rates(None) == [9600, 115200]


def sensor(kind: str, **more: object) -> SensorConfig:
    return SensorConfig.model_validate({"id": "pm-hall", "type": kind, "port": "/dev/ttyUSB0", **more})


@pytest.mark.parametrize(
    ("configured", "heard", "status", "words"),
    [
        (
            "sds011",
            Heard("sds011", 2, {"pm25": 9.1, "pm10": 14.0}),
            Status.OK,
            "sds011 answers (2 valid frames, pm25 9.1",
        ),
        (
            "sds011",
            Heard("mhz19", 1, {"co2": 650.0}),
            Status.FAIL,
            "mhz19 answers (1 valid frame, co2 650), not",
        ),
        ("pms5003", Heard("pms5003t", 2, {}), Status.WARN, "look like a pms5003t's"),
        ("sds011", None, Status.FAIL, "silent"),
    ],
)
def test_serial_verdicts(configured: str, heard: Heard | None, status: Status, words: str) -> None:
    found = verdict(sensor(configured), "sensors[0]", Probe(heard, {9600: 0, 115200: 0}))
    assert found.status is status and words in found.found


def test_a_duty_cycled_sds011_may_be_asleep() -> None:
    found = verdict(sensor("sds011", working_period_min=5), "sensors[0]", Probe(None, {9600: 0, 115200: 0}))
    assert found.status is Status.WARN and "once every 5 min" in found.action


def test_bytes_without_frames_are_not_silence() -> None:
    found = verdict(sensor("sds011"), "sensors[0]", Probe(None, {9600: 300, 115200: 40}, 12))
    assert (
        found.found
        == "bytes but no valid frame of any known sensor (300 bytes at 9600, 40 bytes at 115200, 12 bad frames)"
    )


NOW = time.time()


def test_a_file_from_the_future_means_the_clock_is_behind() -> None:
    found = clock_finding(True, "timedatectl", NOW, (Path("/var/lib/edge-gateway/audit.jsonl"), NOW + 86400))
    assert found.status is Status.FAIL and "the clock is behind" in found.found
    assert "timedatectl set-ntp true" in found.action


@pytest.mark.parametrize(
    ("synced", "status", "words"),
    [
        (True, Status.OK, "synchronised (according to adjtimex)"),
        (False, Status.WARN, "not synchronised"),
        (None, Status.WARN, "cannot be known"),
    ],
)
def test_clock_says_what_it_can_know(synced: bool | None, status: Status, words: str) -> None:
    found = clock_finding(synced, "adjtimex", NOW, (Path("outbox.sqlite3"), NOW - 60))
    assert found.status is status and words in found.found


@pytest.mark.parametrize(
    ("free", "writable", "status"),
    [
        (10 * 1024**3, True, Status.OK),
        (200 * 1024**2, True, Status.WARN),
        (10 * 1024**2, True, Status.FAIL),
        (10 * 1024**3, False, Status.FAIL),
    ],
)
def test_disk(free: int, writable: bool, status: Status) -> None:
    assert disk_finding(Path("/var/lib/edge-gateway"), free, 32 * 1024**3, writable).status is status


def test_report_json_and_exit_code() -> None:
    findings = [Finding("clock", "system clock", Status.WARN, "not synchronised", "enable NTP")]
    assert exit_code(findings) == 0
    assert json.loads(as_json(findings))["ok"] is True
    findings.append(Finding("disk", "/x", Status.FAIL, "full", "free space"))
    report = json.loads(as_json(findings))
    assert exit_code(findings) == 1 and report["ok"] is False
    assert report["checks"][1] == {
        "check": "disk",
        "subject": "/x",
        "status": "fail",
        "found": "full",
        "action": "free space",
        "details": {},
    }
