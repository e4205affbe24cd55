"""Home Assistant MQTT discovery: the entities an actor's grants already feed, as retained configs.

For an actor whose policy entry says `home_assistant: {discovery: true}`, each entity below that its
grants can drive becomes one retained config on
`<prefix>/v1/<actor>/<discovery_prefix>/<component>/<node_id>/<object_id>/config`, inside the actor's
own namespace, so the broker ACL keeps every actor's entities (and their names) from the others.
Nothing here grants anything: an entity reads only the actor's own event topics, exists only for
event types and data fields its grants name, and names a source only where they include `source`
(otherwise it is one entity per gateway). Its availability is the gateway's retained status.

The value templates use only plain Jinja (`value_json`, comparisons, `in`), so what Home Assistant
renders can be checked with jinja2 alone; a message that is not for an entity renders empty, which
Home Assistant ignores (binary and numeric sensors silently, enum sensors with a warning).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.air.eaqi import BANDS
from gateway.config import GatewayConfig
from gateway.flood.detector import LEVEL_NAMES
from gateway.messages import JsonValue
from gateway.privacy.policy import Grant, Policy
from gateway.sources.protocols.registry import PROTOCOLS
from gateway.topics import Topics

FLOOD = ("flood.watch", "flood.warning", "flood.alarm", "flood.cleared")
# An alert whose end the actor is not granted (the fire brigade gets fall.confirmed, never
# fall.recovered) turns itself off after this long rather than staying on for good.
OFF_DELAY_S = 600
NAME = "edge-gateway"
Kind = Literal["pm", "co2", "water", "fall", "camera"]  # an Inventory field


@dataclass(frozen=True, slots=True)
class Inventory:
    """Which of this gateway's sources feed which kind of entity, from its config."""

    pm: tuple[str, ...] = ()  # sensors that measure particulate matter
    co2: tuple[str, ...] = ()
    water: tuple[str, ...] = ()  # water-level sensors with flood levels
    fall: tuple[str, ...] = ()  # cameras with fall detection
    camera: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: GatewayConfig) -> Inventory:
        """The sources of a config, by kind (a node may carry any of its sensors: counted for all)."""
        keys = {s.id: PROTOCOLS[s.type].value_keys for s in config.sensors}
        return cls(
            pm=tuple(s for s, k in keys.items() if "pm25" in k),
            co2=tuple(s for s, k in keys.items() if "co2" in k),
            water=tuple(s.id for s in config.sensors if s.levels is not None),
            fall=tuple(c.id for c in config.cameras if c.fall.enabled),
            camera=tuple(c.id for c in config.cameras),
        )


@dataclass(frozen=True, slots=True)
class Entity:
    """One kind of Home Assistant entity and the events that drive it."""

    key: str  # in unique_id and object_id: never renamed (Home Assistant keys its registry on them)
    name: str
    sources: Kind
    types: tuple[str, ...]  # binary: the types that turn it on; sensor: the types that carry `data_field`
    off: tuple[str, ...] = ()  # binary: the types that turn it off
    data_field: str = ""  # a sensor's state; none: a binary sensor
    extra: Mapping[str, JsonValue] = field(default_factory=dict)  # device_class, unit, options

    @property
    def component(self) -> Literal["binary_sensor", "sensor"]:
        """Home Assistant's name for its kind of entity."""
        return "sensor" if self.data_field else "binary_sensor"


def _is(device_class: str) -> dict[str, JsonValue]:
    return {"device_class": device_class}


def _options(options: tuple[str, ...]) -> dict[str, JsonValue]:
    return {"device_class": "enum", "options": list(options)}


def _measured(device_class: str, unit: str) -> dict[str, JsonValue]:
    return {"device_class": device_class, "unit_of_measurement": unit, "state_class": "measurement"}


# Each tuple: the types that turn a state on, then the one that turns it off.
FALL = ("fall.detected", "fall.confirmed", "fall.recovered")
TAMPER = ("camera.tampered", "camera.tamper_cleared")
HOUR = ("air.summary",)
ENTITIES = (
    Entity("fall", "Fall", "fall", FALL[:2], FALL[2:], extra=_is("safety")),
    Entity("flood", "Flood", "water", FLOOD[:3], FLOOD[3:], extra=_is("moisture")),
    Entity("tamper", "Camera tampered", "camera", TAMPER[:1], TAMPER[1:], extra=_is("tamper")),
    Entity("flood_level", "Flood level", "water", FLOOD, data_field="level", extra=_options(LEVEL_NAMES)),
    Entity(
        "depth_mm", "Water depth", "water", FLOOD, data_field="depth_mm", extra=_measured("distance", "mm")
    ),
    Entity(
        "air_quality", "Air quality", "pm", ("air.band_changed",), data_field="band", extra=_options(BANDS)
    ),
    Entity("air_quality_hour", "Air quality (hour)", "pm", HOUR, data_field="band", extra=_options(BANDS)),
    Entity("pm25", "PM2.5 (hour)", "pm", HOUR, data_field="pm25", extra=_measured("pm25", "µg/m³")),
    Entity("pm10", "PM10 (hour)", "pm", HOUR, data_field="pm10", extra=_measured("pm10", "µg/m³")),
    Entity("co2", "CO2 (hour)", "co2", HOUR, data_field="co2", extra=_measured("carbon_dioxide", "ppm")),
)


def _granted(policy: Policy, actor: str, types: tuple[str, ...], data_field: str) -> dict[str, Grant]:
    """The types of `types` the actor is granted (with `data_field`, if one is named), and their grants."""
    out = {}
    for event_type in types:
        grant = policy.grant_of(actor, event_type)
        if grant is not None and (not data_field or data_field in grant.fields):
            out[event_type] = grant
    return out


def _condition(source: str | None, types: list[str], by_type: bool) -> str:
    parts = [] if source is None else [f"value_json.source == '{source}'"]
    if by_type:
        parts.append(f"value_json.type in {types!r}")
    return " and ".join(parts)


def value_template(entity: Entity, on: list[str], off: list[str], source: str | None) -> str:
    """The Jinja template that turns one of the actor's event messages into the entity's state.

    A binary sensor reads all the actor's event topics (its on and off come by different types); a
    sensor fed by one type reads that type's topic alone, so only the source may need checking."""
    if entity.component == "binary_sensor":
        template = f"{{% if {_condition(source, on, True)} %}}ON"
        if off:
            template += f"{{% elif {_condition(source, off, True)} %}}OFF"
        return template + "{% endif %}"
    value = f"{{{{ value_json.data.{entity.data_field} }}}}"
    condition = _condition(source, on, len(on) > 1)
    return f"{{% if {condition} %}}{value}{{% endif %}}" if condition else value


@dataclass(frozen=True, slots=True)
class Discovery:
    """Builds one gateway's discovery configs for the actors that asked for them."""

    topics: Topics
    inventory: Inventory
    version: str

    def configs(self, policy: Policy) -> dict[str, dict[str, Any]]:
        """Topic -> retained config, for every actor with discovery on and every entity it can see."""
        out: dict[str, dict[str, Any]] = {}
        for actor, discovery_prefix in policy.discovery_prefixes().items():
            for entity in ENTITIES:
                for object_id, body in self._entity(policy, actor, entity):
                    out[self.topics.discovery(actor, discovery_prefix, entity.component, object_id)] = body
        return out

    def _entity(self, policy: Policy, actor: str, entity: Entity) -> list[tuple[str, dict[str, Any]]]:
        sources = getattr(self.inventory, entity.sources)
        on = _granted(policy, actor, entity.types, entity.data_field)
        off = _granted(policy, actor, entity.off, "")
        if not sources or not on:
            return []
        per_source = all("source" in g.include for g in (on | off).values())
        out = []
        for source in sources if per_source else [None]:
            body = self._body(actor, entity, source, list(on), list(off))
            out.append((entity.key if source is None else f"{source}__{entity.key}", body))
        return out

    def _body(
        self, actor: str, entity: Entity, source: str | None, on: list[str], off: list[str]
    ) -> dict[str, Any]:
        topics, site, gateway = self.topics, self.topics.site, self.topics.gateway
        single = entity.component == "sensor" and len(on) == 1
        body: dict[str, Any] = {
            "name": entity.name if source is None else f"{source} {entity.name}",
            "unique_id": f"{NAME}:{site}:{gateway}:{source or ''}:{entity.key}",
            "state_topic": topics.actor_event(actor, on[0]) if single else topics.actor_events(actor),
            "value_template": value_template(entity, on, off, source),
            "qos": 1,
            "availability": [
                {"topic": topics.status, "payload_available": "online", "payload_not_available": "offline"}
            ],
            "device": {
                "identifiers": [f"{NAME}:{site}:{gateway}"],
                "name": f"{site} {gateway}",
                "manufacturer": NAME,
                "model": "edge gateway",
                "sw_version": self.version,
            },
            "origin": {"name": NAME, "sw_version": self.version},
            **entity.extra,
        }
        if entity.component == "binary_sensor" and not off:
            body["off_delay"] = OFF_DELAY_S
        return body
