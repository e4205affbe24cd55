"""`edge-sim`: simulated hardware for a gateway, on the same interfaces as real hardware."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.stopping import stop_on_signals
from gateway.tools.options import add_version_option
from sim.board import board
from sim.scenario import ScenarioError, list_scenarios, load_scenario, scenario_path
from sim.site import SimulatedSite
from sim.video.cli import app as video_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
add_version_option(app)
app.command("board")(board)
app.add_typer(video_app, name="video", help="Simulated cameras: rendered scenes as files or MJPEG over HTTP")


@app.command("list")
def list_cmd() -> None:
    """List the packaged scenarios."""
    for name in list_scenarios():
        scenario = load_scenario(scenario_path(name))
        typer.echo(f"{name:22s} {scenario.duration_s / 60:5.0f} min  {len(scenario.sensors)} sensors")


@app.command()
def serial(
    scenario: Annotated[str, typer.Option(help="Packaged scenario name or a scenario file")] = "default",
    workdir: Annotated[Path, typer.Option("--dir", help="Where ports and files are created")] = Path(
        "run/sim"
    ),
    time_scale: Annotated[float, typer.Option(help="Scenario seconds per wall second")] = 1.0,
    loop: Annotated[bool, typer.Option(help="Replay the scenario when it ends")] = False,
    gateway_config: Annotated[Path | None, typer.Option(help="Also write a gateway config here")] = None,
    mqtt_port: Annotated[int, typer.Option(help="Broker port for the written gateway config")] = 1883,
    storage: Annotated[Path, typer.Option(help="Gateway storage for the written config")] = Path(
        "run/gateway"
    ),
) -> None:
    """Serve a scenario's sensors on pseudo-terminals until it ends (or Ctrl-C)."""
    path = Path(scenario) if scenario.endswith((".yaml", ".yml")) else scenario_path(scenario)
    try:
        loaded = load_scenario(path)
    except (ScenarioError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    site = SimulatedSite(loaded, workdir.resolve(), time_scale=time_scale)
    with stop_on_signals() as stop:
        site.start()
        site.write_ground_truth(workdir / "ground_truth.json")
        for spec in loaded.sensors:
            typer.echo(f"{spec.id:12s} {spec.type:9s} {site.port_path(spec.id)}")
        if gateway_config is not None:
            site.write_gateway_config(gateway_config, "127.0.0.1", mqtt_port, storage.resolve())
            typer.echo(f"gateway config: {gateway_config}")
        try:
            while not stop.wait(0.2):
                if site.finished:
                    if not loop:
                        break
                    site.stop_devices()
                    site.start()
        finally:
            site.close()


if __name__ == "__main__":
    app()
