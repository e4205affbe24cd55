"""Home Assistant discovery: the door announces, per actor that asked, the entities its grants feed.

A gateway with a PM sensor (`pm-1`), a CO2 sensor (`co2-1`), a water-level sensor (`kade`) and a
camera with fall detection (`hall`); a policy in which `stad` (air with `source`, discovery on),
`brandweer` (flood warnings and confirmed falls, no `source`, discovery on under its own prefix)
and `politie` (tamper, discovery off) are served. Every config is checked against the published
schema, and its template is rendered (jinja2, as Home Assistant does) against what the door
really sends that actor.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.client import topic_matches_sub

from gateway.config import GatewayConfig
from gateway.messages import Event, Publication
from gateway.privacy.door import Door
from gateway.privacy.policy import Policy, load_policy
from gateway.yamlfile import ConfigError, parse_yaml_model
from tests.contract import check_message, render_state

POLICY = """\
version: ha-1
actors:
  stad:
    purpose: Air quality on the city's own dashboard
    home_assistant: {discovery: true}
    grants:
      - events: [air.band_changed, air.summary]
        fields: [band, pm25, pm10, co2]
        include: [source]
  brandweer:
    purpose: Responding to flooding and to people who fell
    home_assistant: {discovery: true, discovery_prefix: ha}
    grants:
      - events: [flood.warning, flood.alarm, flood.cleared]
        fields: [level, depth_mm]
        round: {depth_mm: 10}
      - events: [fall.confirmed]
        fields: [zone]
  politie:
    purpose: Knowing when a camera has been covered
    grants:
      - events: [camera.tampered, camera.tamper_cleared]
        fields: [cue]
"""
CONFIG = {
    "site": "site-a",
    "gateway": "gw-1",
    "mqtt": {"host": "127.0.0.1"},
    "storage": "/nonexistent",
    "sensors": [
        {"id": "pm-1", "type": "sds011", "port": "/dev/null"},
        {"id": "co2-1", "type": "mhz19", "port": "/dev/null"},
        {
            "id": "kade",
            "type": "maxbotix",
            "port": "/dev/null",
            "mount_height_mm": 2000,
            "levels": {"watch": 100, "warning": 300, "alarm": 500},
        },
    ],
    "cameras": [{"id": "hall", "url": "/dev/video0"}],
}
T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
# Home Assistant's own topic matcher (components/mqtt/discovery.py), applied below the prefix.
HA_TOPIC = re.compile(
    r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config"
)


def policy(text: str = POLICY) -> Policy:
    return parse_yaml_model(text, Policy, Path("policy.yaml"))


def door(text: str = POLICY) -> Door:
    return Door.of(GatewayConfig.model_validate(CONFIG), policy(text))


def configs(publications: list[Publication]) -> dict[str, dict[str, Any]]:
    return {p.topic: json.loads(p.payload) for p in publications}


def test_each_actor_that_asked_gets_the_entities_its_grants_feed_and_no_other() -> None:
    announced = door().discovery()
    assert all(p.retain and p.event_id == "" for p in announced)
    for p in announced:
        assert check_message(p.topic, p.payload).kind == "discovery"
    stad = "city/v1/stad/homeassistant"
    brandweer = "city/v1/brandweer/ha"
    assert sorted(p.topic for p in announced) == sorted(
        [
            f"{stad}/sensor/site-a__gw-1/pm-1__air_quality/config",
            f"{stad}/sensor/site-a__gw-1/pm-1__air_quality_hour/config",
            f"{stad}/sensor/site-a__gw-1/pm-1__pm25/config",
            f"{stad}/sensor/site-a__gw-1/pm-1__pm10/config",
            f"{stad}/sensor/site-a__gw-1/co2-1__co2/config",
            f"{brandweer}/binary_sensor/site-a__gw-1/fall/config",
            f"{brandweer}/binary_sensor/site-a__gw-1/flood/config",
            f"{brandweer}/sensor/site-a__gw-1/flood_level/config",
            f"{brandweer}/sensor/site-a__gw-1/depth_mm/config",
        ]
    )
    for topic in (p.topic for p in announced):
        prefix = "/".join(topic.split("/")[:4])
        assert HA_TOPIC.fullmatch(topic.removeprefix(prefix + "/")), topic


def test_a_config_names_the_gateway_its_availability_and_only_the_actors_own_topics() -> None:
    bodies = configs(door().discovery())
    unique_ids = [b["unique_id"] for b in bodies.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    for topic, body in bodies.items():
        actor = topic.split("/")[2]
        assert body["state_topic"].startswith(f"city/v1/{actor}/site-a/gw-1/events/")
        assert body["availability"] == [
            {
                "topic": "city/v1/site-a/gw-1/status",
                "payload_available": "online",
                "payload_not_available": "offline",
            }
        ]
        assert body["device"]["identifiers"] == ["edge-gateway:site-a:gw-1"]
        assert body["device"]["name"] == "site-a gw-1"
        assert body["device"]["sw_version"]
    fall = bodies["city/v1/brandweer/ha/binary_sensor/site-a__gw-1/fall/config"]
    assert fall["device_class"] == "safety"
    assert fall["off_delay"] == 600  # brandweer is never told the person got up
    assert "off_delay" not in bodies["city/v1/brandweer/ha/binary_sensor/site-a__gw-1/flood/config"]
    assert "pm-1" not in json.dumps([b for t, b in bodies.items() if "/brandweer/" in t])
    pm25 = bodies["city/v1/stad/homeassistant/sensor/site-a__gw-1/pm-1__pm25/config"]
    assert (pm25["unit_of_measurement"], pm25["device_class"], pm25["state_class"]) == (
        "µg/m³",
        "pm25",
        "measurement",
    )
    assert pm25["state_topic"] == "city/v1/stad/site-a/gw-1/events/air.summary"


def event(type_: str, source: str, **data: Any) -> Event:
    return Event(type_, source, data, T0)


FALL = event("fall.confirmed", "hall", zone="hall", confidence=0.9)
WARNING = event("flood.warning", "kade", level="warning", previous="watch", depth_mm=312)
ALARM = event("flood.alarm", "kade", level="alarm", previous="warning", depth_mm=530)
CLEARED = event("flood.cleared", "kade", level="none", previous="watch", depth_mm=40)
BAND = event("air.band_changed", "pm-1", band="poor", previous="fair")
PM_HOUR = event("air.summary", "pm-1", band="fair", pm25=14.2, pm10=20.1)
CO2_HOUR = event("air.summary", "co2-1", co2=812.0)
STATES = [
    # (event, actor, object id, state the entity takes; "" when the message is not for it)
    (FALL, "brandweer", "fall", "ON"),
    (WARNING, "brandweer", "flood", "ON"),
    (WARNING, "brandweer", "depth_mm", "310.0"),  # as granted: rounded to 10 mm
    (ALARM, "brandweer", "flood_level", "alarm"),
    (CLEARED, "brandweer", "flood", "OFF"),
    (CLEARED, "brandweer", "flood_level", "none"),
    (FALL, "brandweer", "flood", ""),
    (BAND, "stad", "pm-1__air_quality", "poor"),
    (PM_HOUR, "stad", "pm-1__pm25", "14.2"),
    (PM_HOUR, "stad", "pm-1__air_quality_hour", "fair"),
    (CO2_HOUR, "stad", "co2-1__co2", "812.0"),
    (CO2_HOUR, "stad", "pm-1__pm25", ""),  # another sensor's summary
]


@pytest.mark.parametrize(("sent", "actor", "object_id", "state"), STATES)
def test_the_template_turns_what_the_actor_receives_into_the_state(
    sent: Event, actor: str, object_id: str, state: str
) -> None:
    gate = door()
    (config,) = [
        b
        for t, b in configs(gate.discovery()).items()
        if f"/{actor}/" in t and t.endswith(f"/{object_id}/config")
    ]
    (message,) = [p for p in gate.event(sent) if p.actor == actor]
    assert topic_matches_sub(config["state_topic"], message.topic)
    assert render_state(config["value_template"], message.payload) == state
    if state and "options" in config:
        assert state in config["options"]


def test_unchanged_configs_are_not_sent_again_and_a_policy_change_removes_entities() -> None:
    gate = door()
    first = gate.discovery()
    assert first and gate.discovery() == []
    gate.policy = policy(POLICY.replace("home_assistant: {discovery: true, discovery_prefix: ha}", ""))
    removed = gate.discovery()
    assert {p.topic for p in removed} == {p.topic for p in first if "/brandweer/" in p.topic}
    assert all(p.payload == b"" and p.retain for p in removed)
    assert [check_message(p.topic, p.payload).kind for p in removed] == ["discovery"] * len(removed)


def test_without_source_in_the_grant_there_is_one_entity_per_gateway() -> None:
    text = POLICY.replace("        include: [source]\n", "")
    topics = [p.topic for p in door(text).discovery() if "/stad/" in p.topic]
    assert sorted(t.split("/")[-2] for t in topics) == [
        "air_quality",
        "air_quality_hour",
        "co2",
        "pm10",
        "pm25",
    ]


def test_the_shipped_policy_announces_nothing() -> None:
    gate = Door.of(GatewayConfig.model_validate(CONFIG), load_policy())
    assert gate.discovery() == []


def test_a_bad_discovery_prefix_is_refused() -> None:
    with pytest.raises(ConfigError, match="discovery_prefix"):
        policy(POLICY.replace("discovery_prefix: ha", "discovery_prefix: 'ha/#'"))
