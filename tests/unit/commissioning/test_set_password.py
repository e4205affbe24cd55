"""`edge-gateway commissioning set-password`: the hash goes into the config, comments and mode kept.

Scenarios: a technician sets a password (from stdin here; typed twice without echo at a terminal)
and the config then holds a hash that verifies it, its comments and file mode untouched; a short
password changes nothing; `--print` only prints the line to paste; a broken config is reported,
not rewritten.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.commissioning import password
from gateway.config import load_config
from gateway.tools.cli import app

CONFIG = """\
# the hall gateway
site: s
gateway: g
mqtt: {host: 127.0.0.1}   # the local broker
storage: /tmp/x
commissioning:
  enabled: true   # for the visit on Tuesday
"""


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(password, "LOG2_N", 14)  # the cheapest cost allowed; the default is 17


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    path.chmod(0o640)
    return path


def test_the_hash_is_written_with_comments_and_mode_kept(config: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["commissioning", "set-password", "-c", str(config), "--password-stdin"],
        input="a ladder and a torch\n",
    )
    assert result.exit_code == 0, result.output
    text = config.read_text(encoding="utf-8")
    assert "# the hall gateway" in text and "# for the visit on Tuesday" in text
    assert config.stat().st_mode & 0o777 == 0o640
    stored = load_config(config).commissioning.password_hash
    assert stored is not None and password.verify("a ladder and a torch", password.parse(stored))
    assert not list(config.parent.glob(".*.tmp"))


def test_a_short_password_changes_nothing(config: Path) -> None:
    result = CliRunner().invoke(
        app, ["commissioning", "set-password", "-c", str(config), "--password-stdin"], input="short\n"
    )
    assert result.exit_code == 1
    assert "at least 10 characters" in result.output
    assert config.read_text(encoding="utf-8") == CONFIG


def test_print_only_prints(config: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["commissioning", "set-password", "-c", str(config), "--password-stdin", "--print"],
        input="a ladder and a torch\n",
    )
    assert result.exit_code == 0
    assert result.output.startswith("commissioning:\n  password_hash: '$scrypt$ln=14,r=8,p=1$")
    assert config.read_text(encoding="utf-8") == CONFIG


def test_a_broken_config_is_reported_not_rewritten(config: Path) -> None:
    config.write_text(CONFIG.replace("site: s", "site: S!"), encoding="utf-8")
    before = config.read_text(encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["commissioning", "set-password", "-c", str(config), "--password-stdin"],
        input="a ladder and a torch\n",
    )
    assert result.exit_code == 1
    assert f"{config}:2: site:" in result.output
    assert config.read_text(encoding="utf-8") == before
