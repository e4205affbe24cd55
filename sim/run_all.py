"""`make run`: a private Mosquitto, the simulator, a gateway, and a live view of its events.

The simulator plays serial sensors on ptys and, unless ``--cameras ""``, live MJPEG cameras (by
default a looping fall in a hall and someone lying down on a bed on purpose) that the gateway reads
over HTTP on 127.0.0.1 exactly as it would read an IP camera.

The order tells the story without false alarms: the broker, the simulated sensors and cameras
(waited for until they answer), the view (subscribed before the gateway starts, so it shows every
event since start), then the gateway. Ctrl-C reaches only this process (the children run in
sessions of their own): it stops the gateway first, so no simulated device vanishes under a running
gateway, then the simulator and the broker, and says in one line what happened.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from ruamel.yaml import YAML

from gateway.config import ConfigError, load_config
from gateway.stopping import stop_on_signals
from gateway.tools.watch import BrokerLink, show
from gateway.tools.watch_view import GatewayView
from gateway.topics import Topics
from sim.broker import BrokerError, Mosquitto, free_port
from sim.run_story import Story, summary

BIN = Path(sys.executable).parent
DEFAULT_CAMERAS = "hall=fall_forward,bedroom=adl_lie_bed"
START_TIMEOUT_S = 90.0  # a loaded 2-core machine needs about a minute to render the first scenes
STOP_TIMEOUT_S = 10.0


class Abort(Exception):
    """Something did not start; the message says what and where to look."""


def _add_cameras(config: Path, cameras: list[str], port: int) -> None:
    """Point the simulator's gateway config at the simulated cameras (``id=scene`` each)."""
    yaml = YAML()
    data = yaml.load(config)
    data["cameras"] = [
        {
            "id": cam,
            "url": f"http://127.0.0.1:{port}/cam/{cam}.mjpg",
            "zones": [{"name": cam, "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
        }
        for cam in (spec.split("=", 1)[0] for spec in cameras)
    ]
    yaml.dump(data, config)


def wait_for(
    ready: Callable[[], bool], proc: subprocess.Popen[bytes], stop: threading.Event, what: str
) -> None:
    """Wait (bounded) until `ready()`; Abort if `proc` dies or it takes too long, return early on stop."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise Abort(f"{what} did not start")
        if stop.wait(0.05):
            return


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:`port` now."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Children:
    """The processes `make run` starts, each in a session of its own (Ctrl-C is ours to pass on)."""

    def __init__(self, run: Path) -> None:
        self.run = run
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env = dict(os.environ, PYTHONUNBUFFERED="1")

    def start(self, name: str, args: list[str], log: str) -> subprocess.Popen[bytes]:
        """Start `args` with stdout and stderr appended to `log` in the run directory."""
        with (self.run / log).open("ab") as out:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> int | None:
        """SIGTERM, a bounded wait, then SIGKILL; the exit code, or None if it had to be killed."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.terminate()
        try:
            return proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None

    def stop_all(self) -> None:
        """The rest, newest first."""
        for name in reversed(list(self.procs)):
            self.stop(name)


def start_site(
    args: argparse.Namespace,
    cameras: list[str],
    children: Children,
    stop: threading.Event,
    say: Callable[[str], None],
) -> tuple[Path, float]:
    """The simulated sensors and cameras, answering; the gateway config that points at them, and when
    the scenario started playing (monotonic)."""
    run, config = children.run, children.run / "gateway.yaml"
    sim = [
        "serial", "--scenario", args.scenario, "--dir", str(run / "sim"), "--time-scale", str(args.time_scale),
        "--loop", "--gateway-config", str(config), "--storage", str(run / "gateway"),
        "--mqtt-port", str(args.broker_port),
    ]  # fmt: skip
    say(f"broker on 127.0.0.1:{args.broker_port}; starting the simulated sensors")
    proc = children.start("simulator", [str(BIN / "edge-sim"), *sim], "sim.log")
    wait_for(config.exists, proc, stop, f"the simulator (see {run}/sim.log)")
    played = time.monotonic()
    if cameras and not stop.is_set():
        say(f"starting the simulated cameras ({', '.join(cameras)}); the gateway opens them once they answer")
        port = free_port()
        video = ["video", "serve", "--port", str(port), *[a for c in cameras for a in ("--cam", c)]]
        proc = children.start("cameras", [str(BIN / "edge-sim"), *video], "sim.log")
        wait_for(lambda: listening(port), proc, stop, f"the simulated cameras (see {run}/sim.log)")
        _add_cameras(config, cameras, port)
    return config, played


def main() -> int:
    """Start everything, show the live view, and stop everything on Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--time-scale", type=float, default=5.0, help="scenario seconds per wall second")
    parser.add_argument("--dir", type=Path, default=Path("run/live"), help="working dir, emptied first")
    parser.add_argument(
        "--cameras", default=DEFAULT_CAMERAS, help='simulated cameras as id=scene,... ("" for none)'
    )
    args = parser.parse_args()
    cameras = [spec for spec in args.cameras.split(",") if spec]
    run = args.dir.resolve()
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    try:
        broker = Mosquitto(run / "broker").start()
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args.broker_port = broker.port
    children = Children(run)
    try:
        with stop_on_signals() as stop:
            return play(args, cameras, children, stop)
    except Abort as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        children.stop_all()
        broker.stop()


def _stop_when_done(proc: subprocess.Popen[bytes], stop: threading.Event) -> None:
    proc.wait()
    stop.set()


def play(args: argparse.Namespace, cameras: list[str], children: Children, stop: threading.Event) -> int:
    """From a started broker to the summary line."""
    console = Console()

    def say(line: str) -> None:
        console.print(line, highlight=False, markup=False, soft_wrap=True)

    config_path, played = start_site(args, cameras, children, stop, say)
    if stop.is_set():
        say("stopped while starting")
        return 0
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise Abort(f"the simulator's gateway config is not valid: {exc}") from exc
    story = Story(args.scenario, args.time_scale, cameras)
    view = GatewayView(Topics(config.mqtt.prefix, config.site, config.gateway))
    view.about = lambda: story.lines(time.monotonic() - played)
    view.since_label = "since the gateway started"
    link = BrokerLink(config, view.on_message).start()
    view.broker = link.describe
    try:
        if not link.subscribed.wait(START_TIMEOUT_S):
            raise Abort(f"the view could not subscribe on the broker: {link.describe()}")
        say("starting the gateway")
        began = time.monotonic()
        gateway = children.start(
            "gateway", [str(BIN / "edge-gateway"), "run", "--config", str(config_path)], "gateway.log"
        )
        threading.Thread(
            target=_stop_when_done, args=(gateway, stop), name="gateway-exit", daemon=True
        ).start()
        say(f"logs in {children.run}/  (Ctrl-C stops everything)")
        if not stop.is_set():
            show(view, stop, console)
            if not console.is_terminal:
                console.line()  # rich ends its last render without one when not on a terminal
        ran_by_itself = gateway.poll() is not None
        say(
            "the gateway stopped by itself: stopping the rest"
            if ran_by_itself
            else "stopping: the gateway first (so no simulated device vanishes under it), then the simulator and the broker"
        )
        code = children.stop("gateway")
        children.stop_all()
    finally:
        link.stop()
    say(summary(time.monotonic() - began, view.counts, code, f"{children.run}/"))
    if ran_by_itself:
        say("\n".join((children.run / "gateway.log").read_text(errors="replace").splitlines()[-5:]))
    return 0 if code == 0 and not ran_by_itself else 1


if __name__ == "__main__":
    sys.exit(main())
