"""Both command lines, as a technician meets them: --version, a help that lists every command, option
types a person can read, and a log level that refuses what it does not know."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from gateway.tools.cli import app as gateway_app
from sim.cli import app as sim_app

CLIS = {"edge-gateway": gateway_app, "edge-sim": sim_app}


def commands(app: typer.Typer) -> list[list[str]]:
    """Every command path of an app, groups included, e.g. ["video", "render"]."""
    paths: list[list[str]] = []

    def walk(group: object, prefix: list[str]) -> None:
        for name, command in getattr(group, "commands", {}).items():
            paths.append([*prefix, name])
            walk(command, [*prefix, name])

    walk(get_command(app), [])
    return paths


@pytest.mark.parametrize("name", CLIS)
def test_version_comes_from_the_package_metadata(name: str) -> None:
    result = CliRunner().invoke(CLIS[name], ["--version"], prog_name=name)
    assert result.exit_code == 0, result.output
    assert result.output == f"{name} {metadata.version('edge-gateway')}\n"


@pytest.mark.parametrize("name", CLIS)
def test_the_help_lists_every_command(name: str) -> None:
    runner = CliRunner()
    paths = commands(CLIS[name])
    assert len(paths) >= 4
    for path in [[], *paths]:
        result = runner.invoke(CLIS[name], [*path, "--help"], prog_name=name)
        assert result.exit_code == 0, (path, result.output)
        below = [p[-1] for p in paths if p[:-1] == path]
        missing = [sub for sub in below if f" {sub} " not in result.output]
        assert not missing, f"{name} {' '.join(path)} --help hides {missing}:\n{result.output}"


@pytest.mark.parametrize("name", CLIS)
def test_options_show_a_metavar_not_a_python_type(name: str) -> None:
    runner = CliRunner()
    for path in commands(CLIS[name]):
        result = runner.invoke(CLIS[name], [*path, "--help"], prog_name=name, terminal_width=200)
        options = [line for line in result.output.splitlines() if " --" in line]
        shown = [line.strip(" │") for line in options if "list[" in line or "Path" in line]
        assert not shown, f"{name} {' '.join(path)}: {shown}"


def test_flash_and_broker_acl_name_their_repeated_values() -> None:
    runner = CliRunner()
    acl = runner.invoke(gateway_app, ["broker-acl", "--help"], terminal_width=200).output
    assert "--config" in acl and "FILE" in acl and "NAME" in acl
    assert "SENSOR" in runner.invoke(gateway_app, ["flash", "--help"], terminal_width=200).output
    assert "ID=SCENE" in runner.invoke(sim_app, ["video", "serve", "--help"], terminal_width=200).output


def test_log_level_refuses_an_unknown_level_and_lists_the_valid_ones(tmp_path: Path) -> None:
    result = CliRunner().invoke(gateway_app, ["run", "-c", str(tmp_path / "gw.yaml"), "--log-level", "loud"])
    assert result.exit_code == 2  # a usage error, before any config is read
    for level in ("debug", "info", "warning", "error"):
        assert f"'{level}'" in result.output


@pytest.mark.parametrize("level", ["debug", "Warning", "ERROR"])
def test_log_level_is_case_insensitive(tmp_path: Path, level: str) -> None:
    result = CliRunner().invoke(
        gateway_app, ["run", "-c", str(tmp_path / "absent.yaml"), "--log-level", level]
    )
    assert result.exit_code == 1, result.output  # accepted; then the missing config file stops it
    assert "absent.yaml" in result.output
