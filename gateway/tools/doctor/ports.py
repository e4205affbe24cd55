"""The doctor's serial check: does the sensor the config names answer on its port?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from gateway.config import SensorConfig
from gateway.sources.protocols.registry import get_protocol
from gateway.tools.doctor.probe import Heard, Probe, probe_port
from gateway.tools.doctor.report import Finding, Status
from gateway.tools.node.session import NodeUnreachable, open_port

PMS = frozenset({"pms5003", "pms5003t"})


@dataclass(frozen=True, slots=True)
class PortResult:
    """One configured sensor's finding, and what its port said (None if it was not probed)."""

    sensor: SensorConfig
    finding: Finding
    probe: Probe | None = None


def subject(sensor: SensorConfig) -> str:
    return f"{sensor.id} on {sensor.port}"


def available_ports() -> str:
    """The serial ports this machine has, for a technician looking for the right one."""
    from serial.tools import list_ports

    return ", ".join(sorted(p.device for p in list_ports.comports())) or "none found"


def check_sensor(sensor: SensorConfig, index: int) -> PortResult:
    """Probe the sensor's port with every protocol and compare with the config."""
    key = f"sensors[{index}]"
    if "://" not in sensor.port and not Path(sensor.port).exists():
        found = f"no serial port at {sensor.port}"
        action = f"check the cable, or fix {key}.port; serial ports here: {available_ports()}"
        return PortResult(sensor, Finding("serial", subject(sensor), Status.FAIL, found, action))
    try:
        probe = probe_port(sensor.port, open_port, sensor.type, sensor.node_id)
    except NodeUnreachable as exc:
        busy = "busy" in str(exc)
        action = (
            "stop the gateway to probe it (its sources/<id>/status topic shows its health)" if busy else ""
        )
        status = Status.WARN if busy else Status.FAIL
        return PortResult(sensor, Finding("serial", subject(sensor), status, str(exc), action))
    return PortResult(sensor, verdict(sensor, key, probe), probe)


def verdict(sensor: SensorConfig, key: str, probe: Probe) -> Finding:
    """Compare what answered with what the config says."""
    heard = probe.heard
    details = {
        "heard": heard.type if heard else None,
        "bytes": probe.bytes_seen,
        "bad_frames": probe.bad_frames,
    }
    if heard is None:
        return replace(_silent(sensor, probe), details=details)
    if heard.type == "node" and sensor.type == "node":
        return replace(_node(sensor, key, heard, probe), details=details | {"node": dict(heard.detail)})
    if heard.type == sensor.type:
        return Finding("serial", subject(sensor), Status.OK, _answers(heard), details=details)
    if {heard.type, sensor.type} <= PMS:
        found = f"{_answers(heard)}; its frames look like a {heard.type}'s, the config says {sensor.type}"
        action = f"check the sensor's label; {key}.type: pms5003t only if it reports temperature and humidity"
        return Finding("serial", subject(sensor), Status.WARN, found, action, details)
    found = f"{_answers(heard)}, not the configured {sensor.type}"
    action = f"set {key}.type: {heard.type}, or this cable belongs to another sensor's port"
    return Finding("serial", subject(sensor), Status.FAIL, found, action, details)


def _answers(heard: Heard) -> str:
    keys = [k for k in get_protocol(heard.type).value_keys if k in heard.values][:3]
    values = ", ".join(f"{k} {heard.values[k]:g}" for k in keys)
    flags = heard.detail.get("flags")
    warming = ", warming up" if isinstance(flags, list) and "warming_up" in flags else ""
    frames = f"{heard.frames} valid frame{'s' if heard.frames != 1 else ''}"
    return f"{heard.type} answers ({', '.join(x for x in (frames, values) if x)}{warming})"


def _silent(sensor: SensorConfig, probe: Probe) -> Finding:
    rates = " and ".join(f"{baud}" for baud in probe.bytes_seen)
    if not any(probe.bytes_seen.values()):
        found = f"silent: nothing at {rates} baud, also when asked"
        if sensor.working_period_min:  # between its reports an SDS011 sleeps and answers nothing
            action = f"it reports once every {sensor.working_period_min} min: probe again just after a report"
            return Finding("serial", subject(sensor), Status.WARN, found, action)
        action = "check power and wiring (sensor TX to adapter RX, common ground; an MH-Z19 needs 5 V)"
        return Finding("serial", subject(sensor), Status.FAIL, found, action)
    seen = ", ".join(f"{n} bytes at {baud}" for baud, n in probe.bytes_seen.items() if n)
    found = f"bytes but no valid frame of any known sensor ({seen}, {probe.bad_frames} bad frames)"
    action = "check the wiring (RS232 level on a TTL input?) and that the sensor is one of the known types"
    return Finding("serial", subject(sensor), Status.FAIL, found, action)


def _node(sensor: SensorConfig, key: str, heard: Heard, probe: Probe) -> Finding:
    node = str(heard.detail.get("node"))
    if probe.rejected:
        return Finding("serial", subject(sensor), Status.FAIL, probe.rejected, f"set {key}.node_id: {node}")
    tests = heard.detail.get("self_test")
    verdicts = {str(k): str(v) for k, v in tests.items()} if isinstance(tests, dict) else {}
    failing = {k: v for k, v in verdicts.items() if v != "ok"}
    carried = sorted(verdicts)
    found = f"node {node} answers; sensors: " + (", ".join(carried) or "none")
    if failing:
        bad = ", ".join(f"{k}: {v}" for k, v in sorted(failing.items()))
        return Finding(
            "serial", subject(sensor), Status.WARN, f"{found}; {bad}", "check those sensors' wiring"
        )
    wired = sensor.node_sensors
    if wired is None:
        action = (
            f"add {key}.node_sensors: [{', '.join(carried)}] (the register lists every quantity until then)"
        )
        return Finding("serial", subject(sensor), Status.WARN, found, action)
    if set(wired) != set(carried):
        action = f"set {key}.node_sensors: [{', '.join(carried)}], or flash the node with --sensors {','.join(wired)}"
        return Finding(
            "serial", subject(sensor), Status.WARN, f"{found}; the config says {', '.join(wired)}", action
        )
    return Finding("serial", subject(sensor), Status.OK, found)


def cross_check(results: Sequence[PortResult]) -> list[Finding]:
    """The findings, where two sensors answer on each other's port saying to swap them."""
    heard = {r.sensor.id: r.probe.heard.type for r in results if r.probe and r.probe.heard}
    out = []
    for result in results:
        finding, mine = result.finding, result.sensor
        swapped = [
            other.sensor.id
            for other in results
            if other is not result
            and heard.get(mine.id) == other.sensor.type != mine.type
            and heard.get(other.sensor.id) == mine.type
        ]
        if finding.status is Status.FAIL and swapped:
            finding = replace(finding, action=f"{mine.id} and {swapped[0]} are swapped: exchange their ports")
        out.append(finding)
    return out
