"""`edge-sim video ...`: list, render and serve simulated camera scenes (mounted by sim/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.stopping import stop_on_signals
from sim.video.generate import random_scene
from sim.video.loader import SceneError, list_scenes, load_scene, scene_path
from sim.video.output import render_to_file
from sim.video.rtsp import RtspServer, RtspServerError
from sim.video.scene import Scene
from sim.video.server import MjpegServer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


def _scene(name: str) -> Scene:
    """A packaged scene name, a YAML file, or random:<fall|adl>:<seed>."""
    if name.startswith("random:"):
        _, kind, seed = name.split(":")
        return random_scene(int(seed), kind)
    path = Path(name) if name.endswith((".yaml", ".yml")) else scene_path(name)
    try:
        return load_scene(path)
    except (SceneError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command("list")
def list_cmd() -> None:
    """List the packaged scenes."""
    for name in list_scenes():
        typer.echo(f"{name:26s} {load_scene(scene_path(name)).description[:90]}")


@app.command()
def render(
    scene: Annotated[list[str], typer.Argument(help="Scene names, files or random:<kind>:<seed>")],
    out: Annotated[Path, typer.Option(help="Output directory")] = Path("run/video"),
    ext: Annotated[str, typer.Option(help=".avi (MJPEG) or .mp4 (mp4v)")] = ".avi",
) -> None:
    """Render scenes to video files with ground truth JSON beside them."""
    for name in scene:
        loaded = _scene(name)
        truth = render_to_file(loaded, out / f"{loaded.name}{ext}")
        typer.echo(f"{out / (loaded.name + ext)}  {truth}")


@app.command()
def serve(
    cam: Annotated[
        list[str],
        typer.Option(metavar="ID=SCENE", help="A camera id and its scene (as for render); repeat per camera"),
    ],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port)")] = 8080,
    time_scale: Annotated[float, typer.Option(help="Scene seconds per wall second")] = 1.0,
    rtsp: Annotated[bool, typer.Option(help="Also serve each camera over RTSP (GStreamer)")] = False,
) -> None:
    """Serve scenes as live MJPEG cameras at http://127.0.0.1:PORT/cam/<id>.mjpg until Ctrl-C."""
    cameras = {spec.split("=", 1)[0]: _scene(spec.split("=", 1)[1]) for spec in cam}
    server = MjpegServer(cameras, port=port, time_scale=time_scale).start()
    try:
        relay = RtspServer(server).start() if rtsp else None
    except RtspServerError as exc:
        server.stop()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for cam_id in cameras:
        typer.echo(f"{cam_id:12s} {server.url(cam_id)}" + (f"  {relay.url(cam_id)}" if relay else ""))
    with stop_on_signals() as stop:
        try:
            stop.wait()
        finally:
            if relay is not None:
                relay.stop()
            server.stop()


if __name__ == "__main__":
    app()
