"""The integrators' contract: docs/asyncapi.yaml and the JSON Schemas under gateway/publish/schemas/.

The document parses, every reference in it resolves, every event type of the catalogue has a data
schema and a message, each actor's channel lists exactly what the shipped policy grants it, every
schema is a valid schema, the examples validate, and what the door really builds validates too.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jsonschema import Draft7Validator, Draft202012Validator

from gateway.commands import sign_command
from gateway.config import OutboxConfig
from gateway.events import EVENT_TYPES, matching_types
from gateway.messages import Event, JsonValue, Publication, SourceHealth
from gateway.outbox import Outbox
from gateway.privacy.door import Door
from gateway.privacy.policy import load_policy
from gateway.privacy.projection import Location
from gateway.topics import Topics
from tests.contract import (
    ASYNCAPI,
    SCHEMAS,
    ContractError,
    asyncapi,
    check_message,
    load_json,
    payload_validator,
    schema_files,
    validator,
)

EVENT_MESSAGES = sorted(EVENT_TYPES)
TOPICS = Topics("city", "zoetermeer-centrum", "gw-0001")
WHEN = datetime(2026, 11, 27, 18, 4, 5, tzinfo=UTC)


def refs(node: object) -> Iterator[str]:
    """Every `$ref` in a parsed document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def pointer(doc: dict[str, Any], ref: str) -> Any:
    """The node a local `#/...` reference names (KeyError if none)."""
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def examples() -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(message name, message, example payload) for every example in the document."""
    for name, message in asyncapi()["components"]["messages"].items():
        for example in message.get("examples", []):
            yield name, message, example["payload"]


def test_the_document_is_asyncapi_3_and_every_reference_resolves() -> None:
    doc = asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["version"].startswith("1.")
    for ref in refs(doc):
        if ref.startswith("#/"):
            pointer(doc, ref)
        else:
            assert (ASYNCAPI.parent / ref).resolve().is_file(), ref


def test_every_event_type_has_a_data_schema_and_a_message() -> None:
    doc = asyncapi()
    messages = doc["components"]["messages"]
    data_schemas = {p.name.removesuffix("-v1.json") for p in (SCHEMAS / "data").glob("*-v1.json")}
    assert data_schemas == EVENT_TYPES
    assert {m for m in messages if "." in m} == EVENT_TYPES
    assert set(doc["channels"]["actorEvents"]["messages"]) == EVENT_TYPES
    for event_type in EVENT_TYPES:
        payload = messages[event_type]["payload"]["allOf"][1]["properties"]
        assert payload["type"] == {"const": event_type}
        assert payload["data"]["$ref"].endswith(f"/data/{event_type}-v1.json")


def test_each_actor_channel_is_what_the_shipped_policy_grants() -> None:
    doc, policy = asyncapi(), load_policy()
    for actor, spec in policy.actors.items():
        granted = {t for grant in spec.grants for p in grant.events for t in matching_types(p)}
        channel = doc["channels"][f"{actor}Events"]
        assert channel["address"] == f"{{prefix}}/v1/{actor}/{{site}}/{{gateway}}/events/{{type}}"
        assert set(channel["messages"]) == granted, actor
        operation = next(
            o for o in doc["operations"].values() if o["channel"]["$ref"].endswith(f"/{actor}Events")
        )
        assert operation["action"] == "send"
        assert {m["$ref"].rsplit("/", 1)[1] for m in operation["messages"]} == granted


def test_operation_messages_belong_to_their_channel() -> None:
    doc = asyncapi()
    for name, operation in doc["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel}/messages/"), name
        if "reply" in operation:
            reply_channel = operation["reply"]["channel"]["$ref"]
            for message in operation["reply"]["messages"]:
                assert message["$ref"].startswith(f"{reply_channel}/messages/"), name


def test_topic_addresses_match_the_topics_module() -> None:
    channels = {name: c["address"] for name, c in asyncapi()["channels"].items()}
    filled = Topics("{prefix}", "{site}", "{gateway}")
    assert channels["actorEvents"] == filled.actor_event("{actor}", "{type}")
    assert channels["gatewayStatus"] == filled.status
    assert channels["sourceStatus"] == filled.source_status("{source}")
    assert channels["configCommands"] == filled.commands
    assert channels["configReplies"] == filled.command_results
    assert channels["feedbackMarks"] == filled.feedback("{actor}")
    assert channels["feedbackReplies"] == filled.feedback_reply("{actor}")
    assert channels["rolloutCommands"] == filled.rollout_commands
    assert channels["rolloutReplies"] == filled.rollout_results
    for report in ("feedback", "shadow", "rollout"):
        assert channels[f"operator{report.title()}"] == filled.operator(report)
    assert channels["outboxDropped"] == filled.outbox_dropped


@pytest.mark.parametrize("path", list(schema_files()), ids=lambda p: p.name)
def test_every_schema_file_is_a_valid_schema(path: Path) -> None:
    schema = load_json(path)
    Draft202012Validator.check_schema(schema)
    Draft7Validator.check_schema(schema)  # the document promises draft-07 tools read them the same
    assert schema["$id"].endswith(path.relative_to(SCHEMAS).as_posix())


@pytest.mark.parametrize("name", sorted({n for n, _, _ in examples()}))
def test_the_examples_validate(name: str) -> None:
    found = [(message, payload) for n, message, payload in examples() if n == name]
    assert found, name
    for message, payload in found:
        errors = list(payload_validator(message["payload"]).iter_errors(payload))
        assert not errors, [e.message for e in errors]
        if name in EVENT_TYPES:
            topic = TOPICS.actor_event(payload["actor"], payload["type"])
            assert check_message(topic, json.dumps(payload).encode()).event_type == name


def test_every_event_message_has_an_example() -> None:
    named = {"gatewayStatus", "sourceStatus", "configReply", "outboxDropped"}
    assert {n for n, _, _ in examples()} >= EVENT_TYPES | named


def test_what_the_door_builds_validates(tmp_path: Path) -> None:
    door = Door(TOPICS, load_policy(), {"": Location("centrum", 52.0601, 4.4942)})
    data = {"band": "poor", "previous": None, "pm25": 31.2, "pm10": None, "corrected": False}
    publications = door.event(Event("air.band_changed", "pm-hall", data, WHEN, frozenset({"uncorrected"})))
    publications += [
        door.command_reply("6f1c2d0e", "applied", "air"),
        door.command_reply("", "refused", "bad signature"),
        door.rollout_reply("6f1c2d0e", "applied", "fall-2 promoted"),
        door.feedback_reply("ambulance", "3b0f", "accepted", "false_alarm recorded"),
        door.gateway_status(True),
        door.gateway_status(False),
        door.source_health(SourceHealth("pm-hall", False, 0, 3, 1, 2, None), WHEN),
        door.outbox_dropped(outbox_report(tmp_path)),
    ]
    kinds = [check_message(p.topic, p.payload).kind for p in publications]
    assert kinds == [
        "event",
        "reply",
        "reply",
        "reply",
        "feedback_reply",
        "status",
        "status",
        "source_status",
        "outbox_dropped",
    ]


def outbox_report(tmp_path: Path) -> dict[str, JsonValue]:
    """A real outbox's report after its telemetry class went past its bound (one episode)."""
    bounds = OutboxConfig.model_validate({"telemetry": {"max_mb": 0.001}})
    outbox = Outbox(tmp_path / "outbox.sqlite3", bounds)
    outbox.put([Publication(f"S{n}", "t/s", b"x" * 400, event_type="air.summary") for n in range(5)])
    report = outbox.report()
    outbox.close()
    assert report["episode"] is not None
    return report


def test_a_signed_command_validates() -> None:
    body = {
        "command_id": "6f1c2d0e-8b3a-4f7e-9a51-2c4d6e8f0a1b",
        "operator": "beheer",
        "site": TOPICS.site,
        "gateway": TOPICS.gateway,
        "issued": WHEN.isoformat(),
        "set": {"air": {"window_s": 600}, "health_interval_s": 5},
    }
    signed = json.loads(sign_command(body, Ed25519PrivateKey.generate()))
    assert not list(validator("command-config-v1.json").iter_errors(signed))
    assert list(validator("command-config-v1.json").iter_errors({**signed, "set": {"sensors": []}}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data": {"band": "poor", "colour": "red"}}, "missing from"),  # undocumented field
        ({"data": {"band": "awful"}}, "data/band"),  # outside the enum
        ({"data": {"pm25": "31"}}, "data/pm25"),  # wrong type
        ({"actor": "politie"}, "carries actor"),  # another actor's topic
        ({"secret": 1}, "Additional properties"),  # the envelope is closed
    ],
)
def test_the_check_rejects_what_breaks_the_contract(change: dict[str, Any], message: str) -> None:
    body = {
        "schema_version": 1,
        "id": "0" * 32,
        "type": "air.band_changed",
        "actor": "gemeente",
        "time": "2026-11-27T18:04:05Z",
        "historical": False,
        "data": {},
        **change,
    }
    with pytest.raises(ContractError, match=re.escape(message)):
        check_message(TOPICS.actor_event("gemeente", "air.band_changed"), json.dumps(body).encode())


def test_unknown_topics_and_bad_status_are_rejected() -> None:
    with pytest.raises(ContractError, match="not a topic"):
        check_message("city/v1/zoetermeer-centrum/gw-0001/debug", b"{}")
    with pytest.raises(ContractError, match="neither online nor offline"):
        check_message(TOPICS.status, b"up")


def test_every_schema_ships_with_the_package() -> None:
    pyproject = tomllib.loads((SCHEMAS.parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["gateway"]
    for path in schema_files():
        shipped = path.relative_to(SCHEMAS.parents[1]).as_posix()
        assert any(_setuptools_glob(g).fullmatch(shipped) for g in globs), path


def _setuptools_glob(glob: str) -> re.Pattern[str]:
    """setuptools' package-data glob: `*` stays within one directory, `**/` spans any number."""
    parts = [re.escape(part).replace(r"\*", "[^/]*") for part in glob.split("**/")]
    return re.compile("(?:.*/)?".join(parts))


def test_the_discovery_channel_is_where_the_topics_module_puts_configs() -> None:
    address = asyncapi()["channels"]["homeAssistantDiscovery"]["address"]
    filled = Topics("{prefix}", "{site}", "{gateway}")
    assert address == filled.discovery("{actor}", "{discoveryPrefix}", "{component}", "{objectId}")
