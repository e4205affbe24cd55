"""Node link state: gaps, reboots (hello, seq reset, uptime backwards), foreign nodes, commands.

Each test is a script of packets as the decoder hands them over, and the events that must follow.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest

from gateway.events import EVENT_TYPES
from gateway.messages import Event, JsonValue
from gateway.sources.node_link import NodeLink
from gateway.sources.protocols.node import Info, NodeDecoder, NodeSample, cobs_decode

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def reading(seq: int, uptime: float, node: str = "node-0042") -> NodeSample:
    return NodeSample(MappingProxyType({"pm25": 5.0}), frozenset(), seq, node, uptime)


def info(kind: Any, seq: int, **body: JsonValue) -> Info:
    return Info(b"", kind, seq, MappingProxyType(body))


def hello(seq: int = 0, cause: str = "power_on", node: str = "node-0042") -> Info:
    return info("hello", seq, node=node, fw="1.0.0", board="esp32", reset_cause=cause, sensors=["pms5003"])


def run(link: NodeLink, packets: list[NodeSample | Info]) -> list[tuple[str, dict[str, JsonValue]]]:
    events: list[Event] = []
    for p in packets:
        events += link.on_packet(p, T0).events
    return [(e.type, dict(e.data)) for e in events]


def test_event_types_are_in_the_catalogue() -> None:
    assert {"node.rebooted", "node.gap"} <= EVENT_TYPES


def test_steady_stream_raises_nothing() -> None:
    link = NodeLink("pm-kade")
    assert run(link, [reading(s, 60.0 * s) for s in range(5)]) == []
    assert (link.state.last_seq, link.state.packets, link.state.missing) == (4, 5, 0)


def test_gap_counts_missing_packets() -> None:
    link = NodeLink("pm-kade")
    events = run(link, [reading(10, 10), reading(11, 11), reading(15, 15)])
    assert events == [("node.gap", {"node": "node-0042", "missing": 3, "expected_seq": 12, "seq": 15})]
    assert link.state.missing == 3


def test_gap_across_the_seq_wrap() -> None:
    link = NodeLink("pm-kade")
    events = run(link, [reading(65534, 100), reading(65535, 101), reading(0, 102), reading(3, 105)])
    assert events == [("node.gap", {"node": "node-0042", "missing": 2, "expected_seq": 1, "seq": 3})]


def test_hello_is_a_reboot_with_its_cause() -> None:
    link = NodeLink("pm-kade")
    events = run(link, [reading(40, 4000), hello(0, "watchdog"), reading(1, 1)])
    assert events == [
        (
            "node.rebooted",
            {
                "node": "node-0042",
                "reset_cause": "watchdog",
                "detected_by": "hello",
                "previous_uptime_s": 4000.0,
                "fw": "1.0.0",
                "config_error": None,
            },
        )
    ]
    assert (link.state.reboots, link.state.board, link.state.sensors) == (1, "esp32", ("pms5003",))


def test_hello_after_lost_packets_reports_the_gap_of_the_new_boot() -> None:
    link = NodeLink("pm-kade")
    events = run(link, [hello(2)])
    assert [t for t, _ in events] == ["node.rebooted", "node.gap"]
    assert events[1][1]["missing"] == 2


def test_uptime_backwards_is_a_reboot_even_without_hello() -> None:
    link = NodeLink("pm-kade")
    events = run(link, [reading(100, 6000), reading(101, 6060), reading(1, 3)])  # hello (seq 0) lost
    assert [(t, d.get("detected_by"), d.get("reset_cause"), d.get("missing")) for t, d in events] == [
        ("node.rebooted", "uptime", "unknown", None),
        ("node.gap", None, None, 1),
    ]
    assert events[0][1]["previous_uptime_s"] == 6060.0


def test_seq_reset_without_uptime_is_a_reboot() -> None:
    link = NodeLink("pm-kade")
    reply = info("reply", 3, cmd_id=99, ok=True)
    events = run(link, [reading(5000, 9000), reply])
    assert [(t, d.get("detected_by"), d.get("missing")) for t, d in events] == [
        ("node.rebooted", "seq_reset", None),
        ("node.gap", None, 3),
    ]


def test_health_after_reboot_gives_the_cause() -> None:
    link = NodeLink("pm-kade")
    health = info("health", 0, node="node-0042", uptime_s=2, reset_cause="hard", free_mem=1000, interval_s=30)
    events = run(link, [reading(7, 700), health])
    assert events[0][0] == "node.rebooted" and events[0][1]["reset_cause"] == "hard"
    assert (link.state.interval_s, link.state.free_mem) == (30.0, 1000)


def test_duplicate_is_not_accepted() -> None:
    link = NodeLink("pm-kade")
    link.on_packet(reading(8, 80), T0)
    update = link.on_packet(reading(8, 80), T0)
    assert (update.events, update.accept) == ([], False)


def test_foreign_node_is_ignored() -> None:
    link = NodeLink("pm-kade", expected_node="node-0042")
    update = link.on_packet(reading(1, 1, node="node-0999"), T0)
    assert (update.events, update.accept, link.state.foreign) == ([], False, 1)
    assert link.on_packet(reading(2, 2), T0).accept


def test_first_node_heard_is_adopted_without_configured_id() -> None:
    link = NodeLink("pm-kade")
    assert link.on_packet(reading(1, 1, node="node-7"), T0).accept
    assert not link.on_packet(reading(2, 2, node="node-8"), T0).accept


def decode_command(wire: bytes) -> tuple[int, int, dict[str, Any]]:
    assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]
    packet = cobs_decode(wire[:-1])
    assert packet[0] == 1
    return packet[1], int.from_bytes(packet[2:4], "big"), json.loads(packet[4:-2])


@pytest.mark.parametrize(
    ("cmd", "args"),
    [
        ("set_interval", {"seconds": 5}),
        ("set_interval", {"seconds": 3600}),
        ("set_interval", {"seconds": 300, "persist": True}),
        ("identify", None),
        ("health", None),
        ("self_test", {}),
        ("sleep", {"sensor": "pms5003"}),
        ("wake", {"sensor": "pms5003"}),
        ("reboot", None),
    ],
)
def test_commands_encode_with_ids_and_seq(cmd: str, args: dict[str, JsonValue] | None) -> None:
    link = NodeLink("pm-kade")
    first_id, first = link.command("identify")
    cmd_id, wire = link.command(cmd, args)
    kind, seq, body = decode_command(wire)
    assert (kind, seq, cmd_id) == (0x10, 1, first_id + 1)
    assert body == {"cmd_id": cmd_id, "cmd": cmd, "args": args or {}}
    assert decode_command(first)[1] == 0
    assert link.pending == [first_id, cmd_id]


@pytest.mark.parametrize(
    ("cmd", "args", "match"),
    [
        ("format", None, "unknown node command"),
        ("set_interval", {"seconds": 4}, "5..3600"),
        ("set_interval", {"seconds": 3601}, "5..3600"),
        ("set_interval", {"seconds": True}, "int"),
        ("set_interval", {"seconds": 60, "x": 1}, "int"),
        ("set_interval", {"seconds": 60, "persist": 1}, "persist"),
        ("set_interval", {"persist": True}, "int"),
        ("sleep", {}, "sensor"),
        ("identify", {"seconds": 3}, "no arguments"),
    ],
)
def test_bad_commands_are_refused_before_sending(
    cmd: str, args: dict[str, JsonValue] | None, match: str
) -> None:
    link = NodeLink("pm-kade")
    with pytest.raises(ValueError, match=match):
        link.command(cmd, args)
    assert link.pending == []


def test_sleep_names_a_sensor_the_node_has() -> None:
    link = NodeLink("pm-kade")
    link.on_packet(hello(), T0)
    with pytest.raises(ValueError, match="no sensor 'sds011'"):
        link.command("sleep", {"sensor": "sds011"})


def test_reply_is_matched_to_its_command() -> None:
    link = NodeLink("pm-kade")
    link.on_packet(hello(), T0)
    cmd_id, _ = link.command("self_test")
    reply = info("reply", 1, cmd_id=cmd_id, ok=True, detail="", sensors={"pms5003": "ok"})
    assert link.on_packet(reply, T0).events == []
    result = link.result(cmd_id)
    assert result is not None and (result.cmd, result.ok, result.body["sensors"]) == (
        "self_test",
        True,
        {"pms5003": "ok"},
    )
    assert link.pending == []
    assert link.result(cmd_id + 1) is None


def test_decoder_and_link_together_on_bytes() -> None:
    """The gateway's decoder feeding the link, as the transport will."""
    from tests.unit.sources.test_protocol_node import HELLO, packet, readings

    link = NodeLink("pm-kade")
    decoder = NodeDecoder()
    wire = packet(0x01, 0, HELLO) + readings(1, {"pm25": 4}) + readings(4, {"pm25": 5})
    events = []
    for item in decoder.feed(wire):
        assert isinstance(item, NodeSample | Info)
        events += link.on_packet(item, T0).events
    assert [(e.type, e.source) for e in events] == [("node.rebooted", "pm-kade"), ("node.gap", "pm-kade")]
