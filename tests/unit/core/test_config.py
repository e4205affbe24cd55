"""Config validation: valid files load; bad ones name the line, the key and the bad value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.config import ConfigError, load_config
from gateway.tools.cli import app

VALID = """\
site: zoetermeer-centrum
gateway: gw-0001
mqtt: {host: 127.0.0.1, port: 1883, prefix: city}   # topics start with <prefix>/v1/<site>/<gateway>/
storage: /var/lib/edge-gateway                      # outbox and state
sensors:
  - {id: pm-hall, type: sds011, port: /dev/ttyUSB0}
cameras: []
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return path


def test_issue_example_is_valid(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert config.site == "zoetermeer-centrum"
    assert config.mqtt.prefix == "city"
    assert config.sensors[0].type == "sds011"
    assert config.sensors[0].port == "/dev/ttyUSB0"


def test_pyserial_urls_are_ports(tmp_path: Path) -> None:
    text = VALID.replace("/dev/ttyUSB0", "socket://127.0.0.1:7001")
    assert load_config(write(tmp_path, text)).sensors[0].port == "socket://127.0.0.1:7001"


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "value"),
    [
        ("type: sds011", "type: sds012", 6, "sensors[0].type", "sds012"),
        ("port: 1883", "port: 99999", 3, "mqtt.port", "99999"),
        ("gateway: gw-0001", "gateway: gw/0001", 2, "gateway", "gw/0001"),
        ("storage:", "storag:", 4, "storag", None),
    ],
)
def test_errors_name_line_key_and_value(
    tmp_path: Path, old: str, new: str, line: int, key: str, value: str | None
) -> None:
    path = write(tmp_path, VALID.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = "\n".join(info.value.errors)
    assert f"{path}:{line}: {key}" in text
    if value is not None:
        assert value in text


def test_broken_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "sensors: [\n")
    with pytest.raises(ConfigError, match=r"gateway.yaml:\d+: invalid YAML"):
        load_config(path)


def test_duplicate_and_dangling_references(tmp_path: Path) -> None:
    text = VALID + "  - {id: pm-hall, type: pms5003, port: /dev/ttyUSB1, humidity_from: nope}\n"
    text = text.replace("cameras: []\n", "") + "cameras: []\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.errors == [
        (
            f"{tmp_path / 'gateway.yaml'}:1: (top level): sensors[1].id: id 'pm-hall' is already used by "
            "sensors[0]; sensors[1].humidity_from: no sensor has the id 'nope'; sensors: pm-hall"
        )
    ]


def test_check_config_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["check-config", str(write(tmp_path, VALID))])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["check-config", str(write(tmp_path, VALID.replace("sds011", "nope")))])
    assert bad.exit_code == 1
    assert "sensors[0].type" in bad.output
    missing = runner.invoke(app, ["check-config", str(tmp_path / "absent.yaml")])
    assert missing.exit_code == 1


@pytest.mark.parametrize(
    ("mqtt", "ok"),
    [
        ("{host: broker.example.nl, port: 8883, prefix: city}", False),
        ("{host: broker.example.nl, port: 1883, prefix: city, insecure: true}", True),
        ("{host: localhost, prefix: city}", True),
        ("{host: '::1', prefix: city}", True),
        ("{host: broker.example.nl, prefix: city, tls: {ca: ca.crt, cert: gw.crt, key: gw.key}}", True),
    ],
)
def test_remote_brokers_need_tls_or_an_explicit_insecure(tmp_path: Path, mqtt: str, ok: bool) -> None:
    text = VALID.replace("{host: 127.0.0.1, port: 1883, prefix: city}", mqtt)
    path = write(tmp_path, text)
    if ok:
        config = load_config(path)
        if config.mqtt.tls is not None:
            assert config.mqtt.tls.ca == tmp_path / "ca.crt"  # relative to the config file
    else:
        with pytest.raises(
            ConfigError, match=r"plain MQTT to the remote broker 'broker\.example\.nl' is refused"
        ):
            load_config(path)


def test_register_entry_names_purposes_and_resolutions(tmp_path: Path) -> None:
    text = VALID.replace("cameras: []", "cameras: []\nlocation: {zone: centrum, lat: 52.06, lon: 4.49}")
    result = CliRunner().invoke(app, ["register", "--config", str(write(tmp_path, text))])
    assert result.exit_code == 0, result.output
    entry = json.loads(result.output)
    assert entry["device"] == {"site": "zoetermeer-centrum", "gateway": "gw-0001", "zone": "centrum"}
    assert entry["measures"][0]["quantities"] == ["pm25", "pm10"]
    actors = {r["actor"]: r for r in entry["recipients"]}
    assert set(actors) == {"gemeente", "bewoners"}  # one PM sensor: nothing for police, fire, water
    assert set(entry["policy_actors_receiving_nothing_from_this_device"]) == {
        "politie",
        "brandweer",
        "ambulance",
        "rijkswaterstaat",
    }
    assert all(r["purpose"] and r["legal_basis"] for r in actors.values())
    assert actors["bewoners"]["receives"][0]["aggregated"] == {"window_s": 3600.0, "min_count": 1}
    assert "never leave" in entry["processing"]["where"]


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_config_that_is_not_utf8_is_one_line_naming_the_file(tmp_path: Path, command: str) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_bytes(VALID.replace("zoetermeer-centrum", "zoetermeer").encode() + b"# caf\xe9 latin-1\n")
    args = [command, str(path)] if command == "check-config" else [command, "--config", str(path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.output.strip().splitlines() == [f"{path}:8: not UTF-8 text (byte 0xe9)"]
