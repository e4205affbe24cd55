"""The published contract (docs/asyncapi.yaml and gateway/publish/schemas/), as a test helper.

`check_message(topic, payload)` validates one MQTT message against the schema of its topic: an
event's envelope and, by type, its `data`; gateway status; source status; command, feedback and
escalation replies; escalation feeds; operator reports (feedback counts, shadow comparisons, rollout
notices); the outbox's drop report. Beyond
the schemas it holds the gateway to what the documents name: every `data` field of a known type is
declared by its data schema (the schemas allow more, for integrators' forward compatibility; the
gateway must not send more than it documents). Commands, actors' feedback marks and escalation requests
are input, not the gateway's output: they are recognised but not checked here (tests send hostile ones
on purpose).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "gateway" / "publish" / "schemas"
ASYNCAPI = REPO / "docs" / "asyncapi.yaml"

SEGMENT = "[a-z0-9][a-z0-9_-]*"
EVENT_TOPIC = re.compile(
    rf"(?P<prefix>{SEGMENT})/v1/(?P<actor>{SEGMENT})/{SEGMENT}/{SEGMENT}/events/(?P<type>[^/]+)"
)
SOURCE_TOPIC = re.compile(rf"{SEGMENT}/v1/{SEGMENT}/{SEGMENT}/sources/(?P<source>{SEGMENT})/status")
STATUS_TOPIC = re.compile(rf"{SEGMENT}/v1/{SEGMENT}/{SEGMENT}/status")
COMMAND_TOPIC = re.compile(
    rf"{SEGMENT}/v1/{SEGMENT}/{SEGMENT}/(commands/(config|rollout)|feedback/{SEGMENT})"
)
REPLY_TOPIC = re.compile(rf"{SEGMENT}/v1/{SEGMENT}/{SEGMENT}/replies/(config|rollout)")
FEEDBACK_REPLY_TOPIC = re.compile(rf"{SEGMENT}/v1/{SEGMENT}/{SEGMENT}/{SEGMENT}/replies/feedback")
OPERATOR_BASE = rf"{SEGMENT}/v1/{SEGMENT}/{SEGMENT}/operator"
# Break-glass escalations: actors' signed requests and co-signatures (inputs), and the gateway's answers
# and derived feeds in each actor's namespace.
ESCALATION_INPUT = re.compile(rf"{SEGMENT}/v1/{SEGMENT}/{SEGMENT}/escalation/{SEGMENT}/(request|cosign)")
ESCALATION_FEED = re.compile(rf"{SEGMENT}/v1/{SEGMENT}/{SEGMENT}/{SEGMENT}/escalation/feed")
ESCALATION_REPLY = re.compile(rf"{SEGMENT}/v1/{SEGMENT}/{SEGMENT}/{SEGMENT}/replies/escalation")
INPUT_TOPIC = re.compile(f"{COMMAND_TOPIC.pattern}|{ESCALATION_INPUT.pattern}")  # others' input
# Topics whose whole payload one schema describes: (topic, schema file, kind).
ANSWERS = (
    (REPLY_TOPIC, "command-reply-v1.json", "reply"),
    (FEEDBACK_REPLY_TOPIC, "feedback-reply-v1.json", "feedback_reply"),
    (ESCALATION_FEED, "escalation-feed-v1.json", "escalation_feed"),
    (ESCALATION_REPLY, "escalation-reply-v1.json", "escalation_reply"),
    (
        re.compile(rf"{SEGMENT}/v1/{SEGMENT}/{SEGMENT}/outbox/dropped"),
        "outbox-dropped-v1.json",
        "outbox_dropped",
    ),
    *(
        (re.compile(f"{OPERATOR_BASE}/{report}"), f"operator-{report}-v1.json", f"operator_{report}")
        for report in ("feedback", "shadow", "rollout")
    ),
)
# Home Assistant discovery, in an actor's namespace; node and object ids as Home Assistant accepts them.
DISCOVERY_TOPIC = re.compile(
    rf"{SEGMENT}/v1/{SEGMENT}/{SEGMENT}/(?P<component>binary_sensor|sensor)/[a-zA-Z0-9_-]+/[a-zA-Z0-9_-]+/config"
)


class ContractError(AssertionError):
    """A message that breaks the published contract."""


def schema_files() -> Iterator[Path]:
    """Every shipped JSON Schema file."""
    yield from sorted(SCHEMAS.rglob("*.json"))


def load_json(path: Path) -> dict[str, Any]:
    """One schema file."""
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@cache
def registry() -> Registry[Any]:
    """Every schema by its `$id`, and by its file URI (the AsyncAPI document refers to files)."""
    resources = []
    for path in schema_files():
        resource = Resource.from_contents(load_json(path), default_specification=DRAFT202012)
        resources += [(resource.id() or path.as_uri(), resource), (path.as_uri(), resource)]
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    """A validator for a schema file under gateway/publish/schemas/, refs resolved."""
    schema = load_json(SCHEMAS / name)
    return Draft202012Validator(
        schema, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


@cache
def asyncapi() -> dict[str, Any]:
    """The AsyncAPI document."""
    loaded: dict[str, Any] = YAML(typ="safe").load(ASYNCAPI.read_text(encoding="utf-8"))
    return loaded


def payload_validator(payload_schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for a payload schema written in the AsyncAPI document (file refs resolved)."""
    schema = {"$id": ASYNCAPI.as_uri(), **payload_schema}
    return Draft202012Validator(
        schema, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _validate(checker: Draft202012Validator, body: object, topic: str) -> None:
    errors = sorted(checker.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        raise ContractError(f"{topic}: " + "; ".join(_describe(e) for e in errors[:5]) + f"\n{body}")


def _describe(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(payload)"
    return f"{where}: {error.message[:200]}"


@dataclass(frozen=True)
class Checked:
    """What a message was: its kind (event, status, source_status, reply, command) and event type."""

    kind: str
    event_type: str = ""


def check_event(topic: str, body: Any) -> Checked:
    """An actor's event: envelope + data schema, on the actor's own topic, no undocumented data field."""
    match = EVENT_TOPIC.fullmatch(topic)
    assert match is not None
    _validate(validator("event-v1.json"), body, topic)
    if (body["actor"], body["type"]) != (match["actor"], match["type"]):
        raise ContractError(f"{topic}: carries actor {body['actor']!r}, type {body['type']!r}")
    data_schema = SCHEMAS / "data" / f"{body['type']}-v1.json"
    if not data_schema.exists():
        raise ContractError(f"{topic}: event type {body['type']!r} has no data schema")
    undocumented = sorted(set(body["data"]) - set(load_json(data_schema)["properties"]))
    if undocumented:
        raise ContractError(f"{topic}: data fields missing from {data_schema.name}: {undocumented}")
    return Checked("event", body["type"])


def check_discovery(topic: str, payload: bytes) -> Checked:
    """A Home Assistant discovery config (or an empty payload, which removes the entity)."""
    match = DISCOVERY_TOPIC.fullmatch(topic)
    assert match is not None
    if not payload:
        return Checked("discovery")
    body = json.loads(payload)
    _validate(validator("ha-discovery-v1.json"), body, topic)
    binary = match["component"] == "binary_sensor"
    if binary != (body.get("device_class") in BINARY_CLASSES) or (binary and "unit_of_measurement" in body):
        raise ContractError(f"{topic}: keys of the other component: {sorted(body)}")
    return Checked("discovery")


BINARY_CLASSES = {"safety", "moisture", "tamper"}  # gateway/privacy/discovery.py's binary sensors


def render_state(template: str, payload: bytes) -> str:
    """What Home Assistant's `value_template` renders for one MQTT message (`value_json`: its JSON).

    Sandboxed like Home Assistant's; undefined names are errors here, so a template that reads a
    field the message lacks fails the test rather than rendering nothing."""
    environment = SandboxedEnvironment(undefined=StrictUndefined)
    value = payload.decode()
    return environment.from_string(template).render(value=value, value_json=json.loads(value)).strip()


def check_message(topic: str, payload: bytes) -> Checked:
    """Validate one message the gateway published (ContractError if it breaks the contract)."""
    if INPUT_TOPIC.fullmatch(topic):
        return Checked("command")
    if DISCOVERY_TOPIC.fullmatch(topic):
        return check_discovery(topic, payload)
    if STATUS_TOPIC.fullmatch(topic):
        if payload not in (b"online", b"offline"):
            raise ContractError(f"{topic}: {payload[:80]!r} is neither online nor offline")
        return Checked("status")
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise ContractError(f"{topic}: not JSON: {payload[:80]!r}") from exc
    if EVENT_TOPIC.fullmatch(topic):
        return check_event(topic, body)
    if source := SOURCE_TOPIC.fullmatch(topic):
        _validate(validator("source-status-v1.json"), body, topic)
        if body["source"] != source["source"]:
            raise ContractError(f"{topic}: status of {body['source']!r}")
        return Checked("source_status")
    return check_answer(topic, body)


def check_answer(topic: str, body: Any) -> Checked:
    """A reply or feed whose whole payload one schema describes (ANSWERS)."""
    for pattern, schema, kind in ANSWERS:
        if pattern.fullmatch(topic):
            _validate(validator(schema), body, topic)
            return Checked(kind)
    raise ContractError(f"{topic}: not a topic of the contract (docs/asyncapi.yaml)")
