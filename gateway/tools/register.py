"""The device's register entry (a municipal sensor register / GDPR art. 30 record): what is wired.

Everything is derived from the config, the same way the gateway builds its pipelines: a node
measures what its `node_sensors` carry, a camera is listed as one, a detector or model appears only
if a configured source feeds it, and an actor appears only for event types this device can raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.config import CameraConfig, GatewayConfig, SensorConfig
from gateway.events import matching_types
from gateway.privacy.policy import Grant, Policy
from gateway.rollout.store import describe as describe_rollout
from gateway.sources.protocols.node import NODE_SENSORS, VALUE_KEYS
from gateway.sources.protocols.registry import get_protocol

PM_KEYS = frozenset({"pm1", "pm25", "pm10"})
AVAILABILITY = {"sensor.online", "sensor.offline"}
AIR_DETECTOR = "air quality: EEA EAQI bands, sensor faults, hourly summaries"
CO2_DETECTOR = "CO2 ventilation levels"
FLOOD_DETECTOR = "water level: flood watch/warning/alarm levels, 15 and 30 min nowcast, sensor faults"
TAMPER_DETECTOR = "camera tamper: covered lens, moved view, frozen image"
FALL_DETECTOR = "falls: people found by motion, posed, a fall model on 3 s of keypoints"
CORRECTOR = "pm_humidity (humidity correction of PM2.5), see models/air_quality/MODEL_CARD.md"
NOWCAST = "flood nowcast (probability of reaching each level), see models/flood/MODEL_CARD.md"
FALL_MODEL = "fall model (keypoint features over 3 s), see models/fall/MODEL_CARD.md"
POSE_MODEL = "MoveNet Lightning (pose of a tracked person), see models/pose/MODEL_CARD.md"


@dataclass
class Wired:
    """What the configured sources feed: detectors, models, and the event types they can raise."""

    detectors: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    events: set[str] = field(default_factory=set)

    def add(self, detector: str, models: list[str], events: set[str]) -> None:
        """One source's share (kept in first-seen order, each once)."""
        self.detectors += [detector] if detector not in self.detectors else []
        self.models += [m for m in models if m not in self.models]
        self.events |= events


def quantities(sensor: SensorConfig) -> list[str]:
    """What a sensor measures: a node only what its wired sensors report (all it could, if undeclared)."""
    if sensor.type != "node":
        return list(get_protocol(sensor.type).value_keys)
    if sensor.node_sensors is None:
        return list(VALUE_KEYS)
    keys = {key for name in sensor.node_sensors for key in NODE_SENSORS[name]}
    return [key for key in VALUE_KEYS if key in keys]


def _sensor(sensor: SensorConfig, wired: Wired) -> None:
    keys = set(quantities(sensor))
    wired.events |= AVAILABILITY | ({"node.rebooted", "node.gap"} if sensor.type == "node" else set())
    faults = {"sensor.fault", "sensor.recovered"}
    if sensor.levels is not None:
        wired.add(FLOOD_DETECTOR, [NOWCAST], {"flood.watch", "flood.warning", "flood.alarm", "flood.cleared"})
        wired.events |= faults
    if sensor.type != "node" and sensor.levels is not None:
        return  # a level sensor feeds the flood detector only (sensors.reading_detectors)
    if keys & PM_KEYS:
        wired.add(AIR_DETECTOR, [CORRECTOR], {"air.band_changed", "air.summary"} | faults)
    if "co2" in keys:
        wired.add(CO2_DETECTOR, [], {"air.co2_high", "air.co2_normal", "air.summary"} | faults)


def _camera(camera: CameraConfig, wired: Wired) -> None:
    wired.events |= {"camera.online", "camera.offline"}
    wired.add(TAMPER_DETECTOR, [], {"camera.tampered", "camera.tamper_cleared"})
    if camera.fall.enabled:
        from gateway.vision.pipeline import DEFAULT_POSE_MODEL  # OpenCV and onnxruntime: only with cameras

        named = camera.fall.person_model
        pose = POSE_MODEL if named in (None, DEFAULT_POSE_MODEL) else f"{named} (the integrator's, signed)"
        wired.add(FALL_DETECTOR, [FALL_MODEL, pose], {"fall.detected", "fall.confirmed", "fall.recovered"})


def wired_processing(config: GatewayConfig) -> Wired:
    """The detectors, models and event types the configured sources feed."""
    wired = Wired()
    for sensor in config.sensors:
        _sensor(sensor, wired)
    for camera in config.cameras:
        _camera(camera, wired)
    return wired


def _measure(sensor: SensorConfig, zone: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": sensor.id, "type": sensor.type, "quantities": quantities(sensor)}
    if sensor.type == "node":
        undeclared = "not declared (node_sensors): every quantity a node can report"
        entry["wired"] = undeclared if sensor.node_sensors is None else sensor.node_sensors
    return entry | {"zone": (sensor.location.zone if sensor.location else None) or zone}


def _camera_entry(camera: CameraConfig, zone: str | None) -> dict[str, Any]:
    return {
        "id": camera.id,
        "type": "camera",
        "quantities": ["video, analysed on the device; frames are never stored or sent"],
        "privacy_masks": len(camera.masks),
        "zone": zone,
    }


def _flow(grant: Grant, types: list[str]) -> dict[str, Any]:
    location = {"none": "none", "zone": "zone name only", "exact": "exact coordinates"}.get(
        grant.location, f"{grant.grid_m:g} m grid cell"
    )
    flow: dict[str, Any] = {
        "event_types": types,
        "fields": grant.fields,
        "envelope": grant.include,
        "time_resolution_s": grant.time_round_s,
        "location_resolution": location,
        "rounding": grant.round,
    }
    if grant.aggregate is not None:
        flow["aggregated"] = {"window_s": grant.aggregate.window_s, "min_count": grant.aggregate.min_count}
    return flow


def _recipients(policy: Policy, events: set[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Actors with the flows this device can really send them; the actors it sends nothing."""
    recipients, nothing = [], []
    for name, actor in policy.actors.items():
        flows = []
        for grant in actor.grants:
            types = sorted({t for p in grant.events for t in matching_types(p)} & events)
            flows += [_flow(grant, types)] if types else []
        if not flows:
            nothing.append(name)
            continue
        recipients.append(
            {
                "actor": name,
                "purpose": actor.purpose,
                "legal_basis": actor.legal_basis,
                "retention_days": actor.retention_days,
                "receives": flows,
            }
        )
    return recipients, nothing


def register_entry(config: GatewayConfig, policy: Policy, policy_version: str) -> dict[str, Any]:
    """The device's entry for a municipal sensor register / GDPR art. 30 record of processing."""
    zone = config.location.zone
    wired = wired_processing(config)
    recipients, nothing = _recipients(policy, wired.events)
    return {
        "register_version": 1,
        "device": {"site": config.site, "gateway": config.gateway, "zone": zone},
        "measures": [_measure(s, zone) for s in config.sensors]
        + [_camera_entry(c, zone) for c in config.cameras],
        "processing": {
            "where": "on the device only; raw readings, images and video never leave it",
            "detectors": wired.detectors,
            "models": wired.models,
        },
        "policy_version": policy_version,
        "recipients": recipients,
        "policy_actors_receiving_nothing_from_this_device": nothing,
        "device_retention": "events are kept on the device only until the broker acknowledges them",
        "model_rollout": describe_rollout(config.storage),
    }
