"""Motion over time: keyframed segments, a walking gait, and a person's timeline of segments.

Every segment is an analytic function of time, so a frame at any time can be rendered without
replaying the ones before it (the live server seeks freely when it loops or is time-scaled).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from sim.video.body import BodyState, Pose, Support


def _smooth(s: float) -> float:
    return s * s * (3.0 - 2.0 * s)


EASES: Mapping[str, Callable[[float], float]] = {
    "linear": lambda s: s,
    "smooth": _smooth,
    "in": lambda s: s * s,  # accelerating: a body falling under gravity
    "out": lambda s: 1.0 - (1.0 - s) ** 2,
}


class Segment(Protocol):
    """A stretch of a person's timeline with one activity label."""

    @property
    def t0(self) -> float:
        """Start time."""
        ...

    @property
    def t1(self) -> float:
        """End time."""
        ...

    @property
    def label(self) -> str:
        """Activity label for the ground truth."""
        ...

    @property
    def on(self) -> str | None:
        """Furniture the person sits or lies on, if any."""
        ...

    def state(self, t: float) -> BodyState:
        """The body at time `t` (t0 <= t <= t1)."""
        ...


@dataclass(frozen=True, slots=True)
class Key:
    """A keyframe; `ease` shapes the interval that ends here."""

    t: float
    state: BodyState
    ease: str = "smooth"


@dataclass(frozen=True, slots=True)
class KeySegment:
    """Motion interpolated between keyframes, with an optional idle sway (radians)."""

    label: str
    keys: tuple[Key, ...]
    on: str | None = None
    sway: float = 0.0

    @property
    def t0(self) -> float:
        """Start time."""
        return self.keys[0].t

    @property
    def t1(self) -> float:
        """End time."""
        return self.keys[-1].t

    def state(self, t: float) -> BodyState:
        """Interpolated state at `t`."""
        times = [k.t for k in self.keys]
        i = bisect_right(times, t)
        if i == 0:
            s = self.keys[0].state
        elif i == len(self.keys):
            s = self.keys[-1].state
        else:
            a, b = self.keys[i - 1], self.keys[i]
            w = 1.0 if b.t <= a.t else EASES[b.ease]((t - a.t) / (b.t - a.t))
            s = a.state.lerp(b.state, w)
        if self.sway == 0.0:
            return s
        p = s.pose
        wobble = self.sway * math.sin(2.0 * math.pi * (t - self.t0) / 3.7)
        arm = self.sway * 2.0 * math.sin(2.0 * math.pi * (t - self.t0) / 5.3)
        return s.with_pose(
            Pose(
                p.pitch + wobble,
                p.roll + 0.5 * wobble,
                p.hip_l,
                p.hip_r,
                p.knee_l,
                p.knee_r,
                p.sh_l + arm,
                p.sh_r - arm,
                p.el_l,
                p.el_r,
                p.abd_l,
                p.abd_r,
            )
        )


def hold(
    label: str, state: BodyState, span: tuple[float, float], on: str | None = None, sway: float = 0.01
) -> KeySegment:
    """A segment that keeps `state` (with a little sway) over `span` = (start, seconds)."""
    t0, seconds = span
    return KeySegment(label, (Key(t0, state), Key(t0 + seconds, state)), on=on, sway=sway)


@dataclass(frozen=True, slots=True)
class Gait:
    """How someone walks: speed (m/s), stride (m per two steps) and swing amplitudes (radians)."""

    speed: float
    stride: float
    hip_amp: float
    knee_amp: float

    @staticmethod
    def for_person(height_m: float, speed: float) -> Gait:
        """A plausible gait: slower walkers take shorter strides and swing less."""
        stride = min(0.85 * height_m, 0.45 + 0.7 * speed)
        amp = 0.22 + 0.18 * min(speed, 1.6) / 1.6
        return Gait(speed=speed, stride=stride, hip_amp=amp, knee_amp=2.0 * amp)


@dataclass(frozen=True, slots=True)
class WalkSegment:
    """Walking in a straight line from `start` to (x1, y1) along `start.heading`."""

    label: str
    t0: float
    t1: float
    start: BodyState
    x1: float
    y1: float
    gait: Gait
    phase0: float = 0.0
    on: str | None = None

    def state(self, t: float) -> BodyState:
        """Position along the line and the gait pose at `t`."""
        span = max(self.t1 - self.t0, 1e-6)
        w = min(max((t - self.t0) / span, 0.0), 1.0)
        dist = w * math.hypot(self.x1 - self.start.x, self.y1 - self.start.y)
        phase = self.phase0 + 2.0 * math.pi * dist / self.gait.stride
        ramp = min(1.0, (t - self.t0) / 0.4, (self.t1 - t) / 0.4)
        ramp = max(ramp, 0.0)
        a, k = self.gait.hip_amp * ramp, self.gait.knee_amp * ramp
        sin_p, cos_p = math.sin(phase), math.cos(phase)
        pose = Pose(
            pitch=0.05 * ramp,
            hip_l=a * sin_p,
            hip_r=-a * sin_p,
            knee_l=0.1 + k * max(0.0, cos_p),
            knee_r=0.1 + k * max(0.0, -cos_p),
            sh_l=-0.7 * a * sin_p,
            sh_r=0.7 * a * sin_p,
            el_l=0.25,
            el_r=0.25,
        )
        x = (1 - w) * self.start.x + w * self.x1
        y = (1 - w) * self.start.y + w * self.y1
        return BodyState(x, y, self.start.heading, pose, Support(), self.start.visible)


@dataclass(frozen=True, slots=True)
class Moment:
    """A person at one instant: body, activity label and the furniture they are on."""

    state: BodyState
    label: str
    on: str | None


@dataclass(frozen=True, slots=True)
class Timeline:
    """A person's segments in time order; before the first and after the last, the ends are held."""

    segments: tuple[Segment, ...]

    @property
    def end(self) -> float:
        """When the last segment ends."""
        return self.segments[-1].t1 if self.segments else 0.0

    def at(self, t: float) -> Moment:
        """The person at time `t`."""
        starts = [s.t0 for s in self.segments]
        i = max(bisect_right(starts, t) - 1, 0)
        seg = self.segments[i]
        clamped = min(max(t, seg.t0), seg.t1)
        return Moment(seg.state(clamped), seg.label, seg.on)
