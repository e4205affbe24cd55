"""Valid inputs each fuzz target starts from: frames from the simulator's own encoders, the shipped
policy, a sample config, a signed command. Mutating valid inputs reaches past the first check."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.commands import sign_command
from gateway.privacy.policy import DEFAULT_POLICY
from gateway.sources.protocols.node import HEALTH, HELLO, READINGS, REPLY, encode_packet
from sim.serial import encoders
from tests.fuzz.targets import VALID_COMMAND

CONFIG = b"""# a site with every kind of section
site: site-a
gateway: gw-1
mqtt: {host: 127.0.0.1, port: 1883, prefix: city, keepalive_s: 30}
storage: /tmp/edge-fuzz-storage
location: {lat: 52.09, lon: 5.12}
policy: policy.yaml
sensors:
  - {id: pm, type: sds011, port: /dev/ttyUSB0, mode: query, working_period_min: 5}
  - {id: co2, type: mhz19, port: "socket://127.0.0.1:7001", humidity_from: pm}
  - id: water
    type: maxbotix
    port: /dev/ttyAMA0
    mount_height_mm: 3000
    levels: {watch: 500, warning: 1000, alarm: 1500}
  - {id: node-1, type: node, port: /dev/ttyACM0, node_id: node-0042}
cameras:
  - id: hall
    url: rtsp://127.0.0.1:8554/hall
    fps: 2
    zones: [{name: door, polygon: [[0, 0], [0.5, 0], [0.5, 1]]}]
    masks: [[[0.6, 0], [1, 0], [1, 0.4]]]
    fall: {enabled: true, confirm_s: 5}
air: {window_s: 600, co2_levels_ppm: [800, 1200]}
health_interval_s: 60
"""


def _node_packets() -> list[bytes]:
    hello = {
        "node": "node-0042",
        "fw": "1.0.0",
        "board": "esp32",
        "reset_cause": "watchdog",
        "sensors": ["pms5003"],
    }
    readings = {
        "node": "node-0042",
        "uptime_s": 61,
        "values": {"pm25": 12.5, "temperature": 21.0, "humidity": 55.0, "distance_mm": 1200},
        "flags": {"pm25": ["warming_up"]},
    }
    health = {
        "node": "node-0042",
        "uptime_s": 600,
        "free_mem": 40000,
        "interval_s": 60,
        "errors": {"pms5003": 1},
    }
    return [
        encode_packet(HELLO, 0, hello) + encode_packet(READINGS, 1, readings),
        encode_packet(READINGS, 7, readings) + encode_packet(HEALTH, 8, health),
        encode_packet(REPLY, 9, {"cmd_id": 1, "ok": True, "detail": ""}),
    ]


def _decoder_seeds() -> dict[str, list[bytes]]:
    pms = encoders.pms5003_data((10, 25, 30), (10, 25, 30), (900, 300, 50, 10, 2, 1))
    return {
        "sds011": [
            encoders.sds011_data(125, 300, 0xA1B2) * 2,
            encoders.sds011_reply(2, b"\x01\x01", 0xA1B2) + encoders.sds011_data(0, 0, 1),
        ],
        "pms5003": [pms + encoders.pms5003_ack(0xE1, 0), b"BM\x00\x1c" + pms],
        "pms5003t": [encoders.pms5003t_data((5, 12, 20), (800, 200, 40, 5), -35, 655)],
        "mhz19": [encoders.mhz19_response(612, 21) + encoders.mhz19_response(5000, -10, 1)],
        "maxbotix": [b"RoHS 1.8b090  0713\rR1234\rR0300\rR9999\r", b"R0501\r\x00R12"],
        "node": _node_packets(),
    }


def seeds(target: str) -> list[bytes]:
    """Valid inputs for one target (decoders: the first byte picks how the rest is split)."""
    if target.startswith("decode_"):
        return [bytes([split]) + frames for frames in _decoder_seeds()[target[7:]] for split in (0, 3)]
    if target == "config_file":
        return [CONFIG]
    if target == "policy_file":
        return [Path(DEFAULT_POLICY).read_bytes()]
    if target == "command_payload":
        return [sign_command(VALID_COMMAND, Ed25519PrivateKey.generate())]
    if target == "command_signed":
        return [
            json.dumps({"set": {"air": {"window_s": 900}}}).encode(),
            json.dumps({"set": {"health_interval_s": 30}, "command_id": "c-2"}).encode(),
            json.dumps({"issued": "2026-11-27T10:01:00+01:00"}).encode(),
        ]
    raise KeyError(target)
