"""`edge-gateway check-config` checks what `run` will need, and reports everything at once.

Scenario: a technician writes a config with several mistakes at once (a misspelt key, an id used
twice, a camera URL without a host, a sensor correcting itself, a missing TLS key). One run of
check-config names them all, sorted by line, in words; an unplugged USB serial adapter is only a
warning (exit 0) unless --strict. Real files, real pseudo-terminals, real TLS keys: nothing mocked.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.privacy.policy import DEFAULT_POLICY
from gateway.security.signing import generate_signing_key
from gateway.tools.check_config import Report, check
from gateway.tools.cli import app
from gateway.tools.pki import create_ca, identity_gateway, make_key_and_csr, sign_csr

HEAD = """\
site: s
gateway: g
mqtt: {host: 127.0.0.1, port: 1883}
storage: STORAGE
"""


@pytest.fixture
def pty_path() -> Iterator[str]:
    """A real serial device: the follower side of a pseudo-terminal."""
    leader, follower = os.openpty()
    try:
        yield os.ttyname(follower)
    finally:
        os.close(leader)
        os.close(follower)


def write(tmp_path: Path, body: str, head: str = HEAD) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(head.replace("STORAGE", str(tmp_path / "storage")) + body, encoding="utf-8")
    return path


def found(report: Report) -> list[tuple[int, str, str, bool]]:
    return [(p.line, p.key, p.message, p.warning) for p in sorted(report.problems)]


def test_every_problem_is_reported_in_one_pass_sorted_by_line(tmp_path: Path, pty_path: str) -> None:
    path = write(
        tmp_path,
        f"""\
sensors:
  - {{id: pm-hall, type: sds011, port: {pty_path}, humidity_from: pm-hall}}
  - {{id: rh-hall, type: pms5003t, port: socket://127.0.0.1, mod: active}}
cameras:
  - {{id: pm-hall, url: "rtsp://"}}
trust: {{public_key: keys/missing.pem}}
""",
        head=HEAD.replace("port: 1883}", "port: 1883, prefx: city}"),
    )
    report = check(path, cwd=tmp_path)
    missing = tmp_path / "keys" / "missing.pem"
    assert found(report) == [
        (3, "mqtt.prefx", "unknown key (did you mean 'prefix'?)", False),
        (6, "sensors[0].humidity_from", "a sensor cannot correct itself: name another sensor that measures humidity", False),
        (7, "sensors[1].mod", "unknown key (did you mean 'mode'?)", False),
        (7, "sensors[1].port", "no port: expected socket://<host>:<port>", False),
        (9, "cameras[0].id", "id 'pm-hall' is already used by sensors[0]", False),
        (9, "cameras[0].url", "no host: expected rtsp://<host>[:<port>]/...", False),
        (10, "trust.public_key", f"{missing}: no such file", False),
    ]  # fmt: skip
    assert report.errors == 7 and report.warnings == 0
    result = CliRunner().invoke(app, ["check-config", str(path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == f"{path}:3: mqtt.prefx: unknown key (did you mean 'prefix'?)"
    assert lines[-1] == f"{path}: 7 errors, 0 warnings"
    assert [int(line.split(":")[1]) for line in lines[:-1]] == [3, 6, 7, 7, 9, 9, 10]


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        ("storag: /tmp\n", "storag", "unknown key (did you mean 'storage'?)"),
        ("cameras: [{id: c, url: '0', fall: {confirm: 5}}]\n", "cameras[0].fall.confirm", "(did you mean 'confirm_s'?)"),
        ("sensors: [{id: a, type: sds011, port: /dev/x, humidty_from: b}]\n", "sensors[0].humidty_from", "(did you mean 'humidity_from'?)"),
        ("air: {colour: red}\n", "air.colour", "unknown key; known keys: co2_levels_ppm, eaqi_table, window_s"),
    ],
)  # fmt: skip
def test_misspelt_keys_get_a_did_you_mean(tmp_path: Path, body: str, key: str, message: str) -> None:
    report = check(write(tmp_path, body), cwd=tmp_path)
    assert any(p.key == key and message in p.message for p in report.problems), found(report)


def test_patterns_are_said_in_words_not_regexes(tmp_path: Path) -> None:
    head = HEAD.replace("site: s", "site: Zoetermeer Centrum").replace(
        "port: 1883}", "port: 1883, prefix: City}"
    )
    report = check(write(tmp_path, "", head=head), cwd=tmp_path)
    assert [(p.key, p.message) for p in report.problems] == [
        ("site", ("use lowercase letters, digits, - and _, at most 64, starting with a letter or digit "
                  "(value: 'Zoetermeer Centrum')")),
        ("mqtt.prefix", "use lowercase letters, digits, - and _, starting with a letter or digit (value: 'City')"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("port", "verdict"),
    [
        ("PTY", None),
        ("socket://127.0.0.1:7001", None),
        ("rfc2217://10.0.0.7:2217", None),
        ("loop://", None),
        ("/dev/ttyUSB-unplugged", "warning: /dev/ttyUSB-unplugged does not exist now"),
        ("spy:///dev/ttyUSB-unplugged", "warning: /dev/ttyUSB-unplugged does not exist now"),
        ("hwgrep://^no-such-adapter$", "warning: no serial port matches"),
        ("socket://127.0.0.1", "no port: expected socket://<host>:<port>"),
        ("socket://:7001", "no host"),
        ("rfc2217://10.0.0.7:99999", "the port is not a number from 1 to 65535"),
        ("sockt://127.0.0.1:7001", "unknown URL scheme 'sockt' (did you mean 'socket'?)"),
        (
            "foo://bar",
            "unknown URL scheme 'foo'; pyserial knows alt, cp2110, hwgrep, loop, rfc2217, socket, spy",
        ),
        ("/etc/hostname", "/etc/hostname is no device: a serial port is a character device"),
    ],
)
def test_serial_ports(tmp_path: Path, pty_path: str, port: str, verdict: str | None) -> None:
    port = port.replace("PTY", pty_path)
    report = check(write(tmp_path, f"sensors: [{{id: a, type: sds011, port: '{port}'}}]\n"), cwd=tmp_path)
    said = [p.text(Path("f")).split(": ", 2)[-1] for p in report.problems]
    if verdict is None:
        assert said == []
    else:
        assert len(said) == 1 and said[0].startswith(verdict), said
        assert report.errors == (0 if verdict.startswith("warning") else 1)


@pytest.mark.parametrize(
    ("url", "verdict"),
    [
        ("rtsp://user:pw@10.0.0.5:554/stream1", None),
        ("https://cam.local/video.mjpg", None),
        ("clip.mp4", None),
        ("file://CLIP", None),
        ("/dev/video-unplugged", "warning: /dev/video-unplugged does not exist now"),
        ("udp://239.0.0.1:1234", "warning: udp:// is not one of a device"),
        ("missing.mp4", "TMP/missing.mp4 does not exist: a camera is a device (/dev/video0 or 0)"),
        ("rtsp://", "no host: expected rtsp://<host>[:<port>]/..."),
        ("http://10.0.0.5:99999/x.mjpg", "the port is not a number from 1 to 65535"),
        ("rstp://10.0.0.5/stream1", "unknown URL scheme 'rstp' (did you mean 'rtsp'?)"),
    ],
)
def test_camera_urls(tmp_path: Path, url: str, verdict: str | None) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"not really a video, but a file")
    url = url.replace("CLIP", str(tmp_path / "clip.mp4"))
    report = check(write(tmp_path, f"cameras: [{{id: c, url: '{url}'}}]\n"), cwd=tmp_path)
    said = [p.text(Path("f")).split(": ", 2)[-1] for p in report.problems]
    if verdict is None:
        assert said == []
    else:
        assert len(said) == 1 and said[0].startswith(verdict.replace("TMP", str(tmp_path))), said


@pytest.mark.parametrize(
    ("humidity_from", "message"),
    [
        ("rh", None),
        ("pm", "a sensor cannot correct itself"),
        ("cam", "'cam' is a camera; humidity comes from a sensor (node, pms5003t)"),
        ("rhh", "no sensor has the id 'rhh' (did you mean 'rh'?)"),
        ("zz", "no sensor has the id 'zz'; sensors: pm, rh, co2"),
        ("co2", "'co2' is a mhz19, which measures no humidity; types that do: node, pms5003t"),
    ],
)
def test_humidity_from_names_another_sensor_that_measures_humidity(
    tmp_path: Path, pty_path: str, humidity_from: str, message: str | None
) -> None:
    body = f"""\
sensors:
  - {{id: pm, type: sds011, port: {pty_path}, humidity_from: {humidity_from}}}
  - {{id: rh, type: pms5003t, port: {pty_path}}}
  - {{id: co2, type: mhz19, port: {pty_path}}}
cameras: [{{id: cam, url: 'rtsp://10.0.0.5/s'}}]
"""
    report = check(write(tmp_path, body), cwd=tmp_path)
    expected = [] if message is None else [(6, "sensors[0].humidity_from")]
    assert [(p.line, p.key) for p in report.problems] == expected
    if message is not None:
        assert report.problems[0].message.startswith(message)


def _tls(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    ca_cert, ca_key = create_ca(tmp_path / "ca")
    key, csr = make_key_and_csr(tmp_path / "gw", identity_gateway("s", "g"))
    cert = sign_csr(csr, ca_cert, ca_key, tmp_path / "gw" / "gw.crt")
    other_key, _ = make_key_and_csr(tmp_path / "other", identity_gateway("s", "other"))
    return ca_cert, cert, key, other_key


def test_tls_files_exist_load_and_match(tmp_path: Path) -> None:
    ca, cert, key, other_key = _tls(tmp_path)

    def problems(tls: str) -> list[tuple[str, str]]:
        head = HEAD.replace("mqtt: {host: 127.0.0.1, port: 1883}", f"mqtt: {{host: 127.0.0.1, tls: {tls}}}")
        return [(p.key, p.message) for p in check(write(tmp_path, "", head=head), cwd=tmp_path).problems]

    assert problems(f"{{ca: {ca}, cert: {cert}, key: {key}}}") == []
    assert problems(f"{{ca: ca/missing.crt, cert: {cert}, key: {tmp_path}}}") == [
        ("mqtt.tls.ca", f"{tmp_path / 'ca' / 'missing.crt'}: no such file"),
        ("mqtt.tls.key", f"{tmp_path}: a directory, not a file"),
    ]
    [(where, why)] = problems(f"{{ca: {ca}, cert: {cert}, key: {other_key}}}")
    assert where == "mqtt.tls"
    assert why.startswith(f"the certificate {cert} and key {other_key} do not load together: ")
    [(where, why)] = problems(f"{{ca: {key}, cert: {cert}, key: {key}}}")
    assert (where, why.split(":")[0]) == ("mqtt.tls", f"the CA {key} does not load")


def test_trust_key_policy_and_models_must_exist_and_verify(tmp_path: Path) -> None:
    policy_dir = tmp_path / "policy"
    shutil.copytree(DEFAULT_POLICY.parent, policy_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    policy = policy_dir / DEFAULT_POLICY.name
    generate_signing_key(tmp_path / "own.pem", tmp_path / "own.pub.pem")

    def problems(body: str) -> list[tuple[str, str]]:
        return [(p.key, p.message) for p in check(write(tmp_path, body), cwd=tmp_path).problems]

    assert problems(f"policy: {policy}\n") == []
    assert problems("policy: nowhere/policy.yaml\n") == [
        ("policy", f"{tmp_path / 'nowhere' / 'policy.yaml'}: no such file"),
    ]
    (tmp_path / "unsigned.yaml").write_text(DEFAULT_POLICY.read_text())
    assert problems("policy: unsigned.yaml\n") == [("policy", f"{tmp_path / 'MANIFEST.json'}: no such file")]
    assert problems("trust: {models_dir: no-models}\n") == [
        ("trust.models_dir", f"{tmp_path / 'no-models' / 'MANIFEST.json'}: no such file")
    ]
    assert problems(f"trust: {{public_key: {tmp_path}}}\n") == [
        ("trust.public_key", f"{tmp_path}: a directory, not a file")
    ]
    assert problems("trust: {operators: {beheer: keys/beheer.pub.pem}}\n") == [
        ("trust.operators.beheer", f"{tmp_path / 'keys' / 'beheer.pub.pem'}: no such file")
    ]
    # Another release key: the shipped policy and models are not signed by it, as `run` would find.
    refused = problems(f"trust: {{public_key: {tmp_path / 'own.pub.pem'}}}\n")
    assert [key for key, _ in refused] == ["trust.public_key", "trust.public_key"]
    assert "signature does not match" in refused[0][1] and refused[1][1].startswith("models refused: ")
    unknown_model = problems(
        "cameras: [{id: c, url: 'rtsp://h/s', fall: {person_model: person/nope.json}}]\n"
    )
    assert unknown_model == [
        ("cameras[0].fall.person_model", unknown_model[0][1]),
    ]
    assert unknown_model[0][1].startswith("person/nope.json is not in the signed models manifest ")


def test_storage_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "storage").write_text("")
    report = check(write(tmp_path, ""), cwd=tmp_path)
    assert [(p.key, p.message) for p in report.problems] == [
        ("storage", f"{tmp_path / 'storage'} is not a directory")
    ]


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    path = write(tmp_path, "sensors: [{id: a, type: sds011, port: /dev/ttyUSB-unplugged}]\n")
    runner = CliRunner()
    relaxed = runner.invoke(app, ["check-config", str(path)])
    assert relaxed.exit_code == 0, relaxed.output
    assert f"{path}:5: sensors[0].port: warning: /dev/ttyUSB-unplugged does not exist now" in relaxed.output
    assert "OK (1 sensors, 0 cameras, site s, gateway g" in relaxed.output and "1 warning)" in relaxed.output
    strict = runner.invoke(app, ["check-config", "--strict", str(path)])
    assert strict.exit_code == 1
    assert strict.output.strip().splitlines()[-1] == f"{path}: 0 errors, 1 warning (--strict)"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (None, "gateway.yaml: cannot read: No such file or directory"),
        ("policy: gone/policy.yaml\n", "policy: TMP/gone/policy.yaml: no such file"),
        ("trust: {public_key: keys/gone.pem}\n", "trust.public_key: TMP/keys/gone.pem: no such file"),
        ("trust: {public_key: keys}\n", "trust.public_key: TMP/keys: a directory, not a file"),
        ("trust: {models_dir: gone}\n", "trust.models_dir: TMP/gone/MANIFEST.json: no such file"),
        ("mqtt: {host: 127.0.0.1, tls: {ca: ca.crt, cert: gw.crt, key: gw.key}}\n", "mqtt.tls.ca: TMP/ca.crt: no such file"),
    ],
)  # fmt: skip
def test_run_names_a_missing_or_unreadable_file_in_one_line(
    tmp_path: Path, body: str | None, named: str
) -> None:
    (tmp_path / "keys").mkdir()
    path = tmp_path / "gateway.yaml"
    if body is not None:
        head = (
            HEAD
            if not body.startswith("mqtt:")
            else HEAD.replace("mqtt: {host: 127.0.0.1, port: 1883}\n", "")
        )
        path = write(tmp_path, body, head=head)
    result = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()  # one line per missing file (here: up to the 3 TLS files)
    assert lines[0].startswith(str(path)) and lines[0].endswith(named.replace("TMP", str(tmp_path))), lines
    assert all(line.endswith("no such file") for line in lines[1:]), lines
