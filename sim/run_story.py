"""What `make run` tells a new user: what is being played, and what happened when it stops."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Sequence

from sim.scenario import ScenarioError, load_scenario, scenario_path
from sim.video.loader import SceneError, load_scene, scene_path


def elapsed(seconds: float) -> str:
    """A duration as a person says it: "45 s", "3 min 5 s", "1 h 2 min"."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, seconds = divmod(whole, 60)
        return f"{minutes} min" + (f" {seconds} s" if seconds else "")
    hours, minutes = divmod(whole // 60, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


class Story:
    """The scenario and scenes being played, and where in its timeline the air scenario is."""

    def __init__(self, scenario: str, time_scale: float, cameras: Sequence[str]) -> None:
        self.scenario, self.time_scale = scenario, time_scale
        try:
            loaded = load_scenario(
                scenario_path(scenario) if not scenario.endswith((".yaml", ".yml")) else scenario
            )
            self.duration_s: float | None = loaded.duration_s
            self.description = " ".join(loaded.description.split())
        except (ScenarioError, OSError):
            self.duration_s, self.description = None, "(a scenario the simulator will describe in sim.log)"
        self.cameras = [_camera_line(spec) for spec in cameras]

    def lines(self, played_s: float) -> list[str]:
        """The title lines: the air scenario (with its scenario time now) and each camera's scene."""
        where = ""
        if self.duration_s:
            now = played_s * self.time_scale % self.duration_s
            where = f", now at {elapsed(now)} of {elapsed(self.duration_s)}"
        air = f"air: scenario {self.scenario!r} at x{self.time_scale:g}, looping{where}: {self.description}"
        return [*textwrap.wrap(air, 160, subsequent_indent="     "), *self.cameras]


def _camera_line(spec: str) -> str:
    cam, _, scene = spec.partition("=")
    if scene.startswith("random:"):
        what = f"a random {scene.split(':')[1]} scene"
    else:
        try:
            what = " ".join(load_scene(scene_path(scene)).description.split()) or scene
        except (SceneError, OSError):
            what = scene
    return f"camera {cam}: {scene}, looping: {what}"


def summary(played_s: float, counts: Counter[str], gateway_exit: int | None, logs: str) -> str:
    """The one line said after everything stopped."""
    total = sum(counts.values())
    seen = f" ({', '.join(f'{k} {n}' for k, n in counts.most_common())})" if counts else ""
    if gateway_exit == 0:
        ended = "the gateway stopped cleanly"
    elif gateway_exit is None:
        ended = "the gateway did not stop in time and was killed"
    else:
        ended = f"the gateway exited with {gateway_exit}"
    return f"stopped after {elapsed(played_s)}: {total} event messages{seen}; {ended}; logs in {logs}"
