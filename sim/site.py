"""A simulated site: a scenario's sensors as virtual devices on pseudo-terminals, on one clock.

A gateway config for the site differs from a real site's only in the port addresses and in
`sim_time_scale`, which tells the gateway's detectors that the scenario runs N times faster.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ruamel.yaml import YAML

from sim.ground_truth import ground_truth
from sim.scenario import Scenario, WaterSpec
from sim.serial.devices import (
    FaultInjector,
    Faults,
    FaultSchedule,
    VirtualDevice,
    VirtualMhz19,
    VirtualPms5003,
    VirtualSds011,
)
from sim.serial.maxbotix import VirtualMaxbotix
from sim.serial.pty import VirtualPort
from sim.serial.runner import DeviceRunner, ScenarioClock

Truth = Callable[[float], dict[str, float]]
Frozen = Callable[[float], bool]


# Transport fault kinds of a scenario -> the Faults field that injects them.
def make_device(
    kind: str, truth: Truth, rng: random.Random, frozen: Frozen, water: WaterSpec | None = None
) -> VirtualDevice:
    """A virtual sensor of one of the simulated types."""
    if kind == "maxbotix":
        if water is None:
            raise ValueError("a maxbotix device needs the scenario's water settings")
        return VirtualMaxbotix(truth, rng, water.mount_height_mm, water.model_range_mm, water.artefacts)
    if kind == "sds011":
        return VirtualSds011(truth, rng, frozen=frozen)
    if kind in ("pms5003", "pms5003t"):
        return VirtualPms5003(truth, rng, t_variant=kind == "pms5003t", frozen=frozen)
    if kind == "mhz19":
        return VirtualMhz19(truth, rng, frozen=frozen)
    raise ValueError(f"the simulator has no device of type {kind!r}")


class SimulatedSite:
    """Every sensor of a scenario, served on `<workdir>/dev/<sensor id>`."""

    def __init__(self, scenario: Scenario, workdir: Path, time_scale: float = 1.0, pace: bool = True) -> None:
        self.scenario = scenario
        self.workdir = workdir
        self.time_scale = time_scale
        self.pace = pace
        self.devdir = workdir / "dev"
        self.devdir.mkdir(parents=True, exist_ok=True)
        self.ports: dict[str, VirtualPort] = {}
        self.runners: dict[str, DeviceRunner] = {}
        self.schedules: dict[str, FaultSchedule] = {}  # each running device's frame faults
        self.clock = ScenarioClock(time_scale)
        self.started_at = time.time()  # wall time of scenario second 0

    def port_path(self, sensor_id: str) -> Path:
        """Where the gateway finds a sensor's port."""
        return self.devdir / sensor_id

    def open_ports(self) -> SimulatedSite:
        """Create every sensor's port (idempotent); devices stay off until `start`."""
        for spec in self.scenario.sensors:
            if spec.id not in self.ports:
                self.ports[spec.id] = VirtualPort(self.port_path(spec.id), pace=self.pace)
        return self

    def wait_until_opened(self, timeout: float) -> bool:
        """Wait (bounded) until a gateway has every port open."""
        deadline = time.monotonic() + timeout
        while not all(port.in_use for port in self.ports.values()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def start(self) -> SimulatedSite:
        """Power every device on, on a fresh scenario clock."""
        self.open_ports()
        self.clock = ScenarioClock(self.time_scale)
        self.started_at = time.time()
        for index, spec in enumerate(self.scenario.sensors):
            rng = random.Random(self.scenario.seed * 1000 + index)
            truth, frozen = self.scenario.truth_fn(spec.id), self.scenario.frozen_fn(spec.id)
            device = make_device(spec.type, truth, rng, frozen, spec.water)
            self.schedules[spec.id] = self._faults(spec.id, rng)
            runner = DeviceRunner(device, self.ports[spec.id], self.clock, self.schedules[spec.id])
            for window in self.scenario.transport_faults(spec.id):
                if window.kind == "unplug":
                    runner.schedule_unplug(window.at, window.until)
            self.runners[spec.id] = runner.start()
        return self

    def _faults(self, sensor_id: str, rng: random.Random) -> FaultSchedule:
        injectors = []
        for window in self.scenario.transport_faults(sensor_id):
            rate, span = window.rate, ((window.at, window.until),)
            if window.kind == "garbage":
                faults = Faults(garbage_p=rate, windows=span)
            elif window.kind == "bad_checksum":
                faults = Faults(corrupt_p=rate, windows=span)
            elif window.kind == "truncated":
                faults = Faults(truncate_p=rate, windows=span)
            else:
                continue  # unplug: the runner's, not a frame fault
            injectors.append(FaultInjector(faults, random.Random(rng.random())))
        return FaultSchedule(injectors)

    def unplug(self, sensor_id: str, seconds: float) -> None:
        """Unplug a running sensor now for `seconds` of wall time; its runner plugs it back in."""
        self.runners[sensor_id].unplug_for(seconds * self.time_scale)

    def garble(self, sensor_id: str, seconds: float, faults: Faults, rng: random.Random) -> FaultInjector:
        """Garble a running sensor's frames as `faults` says, from now for `seconds` of wall time."""
        now = self.clock.now()
        injector = FaultInjector(replace(faults, windows=((now, now + seconds * self.time_scale),)), rng)
        self.schedules[sensor_id].add(injector)
        return injector

    @property
    def finished(self) -> bool:
        """Whether the scenario's duration has been played."""
        return self.clock.now() >= self.scenario.duration_s

    def stop_devices(self) -> None:
        """Stop the device threads; the ports stay."""
        for runner in self.runners.values():
            runner.stop()
        self.runners.clear()

    def close(self) -> None:
        """Stop everything and remove the ports."""
        self.stop_devices()
        for port in self.ports.values():
            port.close()
        self.ports.clear()

    def gateway_config(
        self, mqtt_host: str, mqtt_port: int, storage: Path, **extra: object
    ) -> dict[str, object]:
        """A gateway config for this site (extra top-level keys override the defaults)."""
        sensors = []
        for spec in self.scenario.sensors:
            sensor: dict[str, object] = {
                "id": spec.id,
                "type": spec.type,
                "port": str(self.port_path(spec.id)),
            }
            if spec.water is not None:
                sensor.update(spec.water.config())
            if spec.humidity_from:
                sensor["humidity_from"] = spec.humidity_from
            sensors.append(sensor)
        config: dict[str, object] = {
            "site": "sim-" + self.scenario.name.replace("_", "-"),
            "gateway": "gw-sim",
            "mqtt": {"host": mqtt_host, "port": mqtt_port, "prefix": "city"},
            "storage": str(storage),
            "sim_time_scale": self.time_scale,
            "sensors": sensors,
            "cameras": [],
        }
        config.update(extra)
        return config

    def write_gateway_config(
        self, path: Path, mqtt_host: str, mqtt_port: int, storage: Path, **extra: object
    ) -> Path:
        """Write `gateway_config` as YAML."""
        with path.open("w") as fh:
            YAML(typ="safe", pure=True).dump(self.gateway_config(mqtt_host, mqtt_port, storage, **extra), fh)
        return path

    def write_ground_truth(self, path: Path) -> Path:
        """The events a perfect gateway would publish, as JSON."""
        events = [
            {
                "t": e.t,
                "type": e.type,
                "source": e.source,
                "data": dict(e.data),
                "tolerance_s": e.tolerance_s,
                "required": e.required,
            }
            for e in ground_truth(self.scenario)
        ]
        path.write_text(json.dumps(events, indent=1, default=str))
        return path
