"""deploy/: the install script parses, the example config is valid, and the script, the README and
the systemd unit agree on where the gateway lives. (The scripts themselves run only on a Pi.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from gateway.config import load_config

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
UNIT = DEPLOY / "edge-gateway.service"


def script_value(name: str) -> str:
    """A top-level assignment of install.sh, its `$VARIABLES` expanded from the script's own."""
    match = re.search(rf"^{name}=(\S+)", (DEPLOY / "install.sh").read_text(), re.MULTILINE)
    assert match, name
    return re.sub(r"\$(\w+)", lambda m: script_value(m.group(1)), match.group(1))


@pytest.mark.parametrize("script", ["install.sh", "check_aarch64.sh"])
def test_the_scripts_parse(script: str) -> None:
    result = subprocess.run(["bash", "-n", DEPLOY / script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_example_config_is_valid_and_stores_where_the_service_may_write() -> None:
    config = load_config(DEPLOY / "gateway.example.yaml")
    assert config.storage == Path(script_value("STATE")) == Path("/var/lib/edge-gateway")


def test_the_readme_names_the_paths_the_script_uses() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for name in ("VENV", "CONFIG", "STATE", "USER_NAME"):
        assert script_value(name) in readme, name


@pytest.mark.skipif(not UNIT.exists(), reason="deploy/edge-gateway.service comes from the service branch")
def test_the_unit_runs_what_the_script_installs() -> None:
    unit = UNIT.read_text()
    assert f"ExecStart={script_value('VENV')}/bin/edge-gateway run --config {script_value('CONFIG')}" in unit
    assert f"User={script_value('USER_NAME')}" in unit
