"""An articulated body: segment lengths from stature, joint angles, and 3-D capsules to draw.

Proportions follow the usual anthropometric fractions of stature (hip joint at 0.53 H, shoulder
at 0.82 H, head top at H). A pose is a handful of joint angles in a body frame that the trunk's
pitch (forward lean) and roll (sideways lean) tilt, so falling or lying bodies are the same
skeleton rotated. The pelvis height is never keyed: it follows from what the body rests on (its
lowest point on the floor or a bed, or the pelvis on a seat), so feet stay on the floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from sim.video.geometry import F64, heading_vector, right_vector, wrap_angle


@dataclass(frozen=True, slots=True)
class Pose:
    """Joint angles in radians. Flexion is forward; pitch leans the trunk forward, roll to the right."""

    pitch: float = 0.0
    roll: float = 0.0
    hip_l: float = 0.0
    hip_r: float = 0.0
    knee_l: float = 0.0
    knee_r: float = 0.0
    sh_l: float = 0.0
    sh_r: float = 0.0
    el_l: float = 0.0
    el_r: float = 0.0
    abd_l: float = 0.1
    abd_r: float = 0.1

    def lerp(self, other: Pose, w: float) -> Pose:
        """The pose a fraction `w` of the way to `other`."""
        values = {
            f.name: (1.0 - w) * getattr(self, f.name) + w * getattr(other, f.name) for f in fields(self)
        }
        return Pose(**values)


def deg_pose(**angles_deg: float) -> Pose:
    """A Pose from angles in degrees (readable keyframes)."""
    return Pose(**{k: math.radians(v) for k, v in angles_deg.items()})


@dataclass(frozen=True, slots=True)
class Support:
    """What carries the body: blend `seat` of 0 (lowest point on a surface at `surface_z`) .. 1 (pelvis on a seat)."""

    surface_z: float = 0.0
    seat_z: float = 0.0
    seat: float = 0.0

    def lerp(self, other: Support, w: float) -> Support:
        """The support a fraction `w` of the way to `other`."""
        return Support(
            surface_z=(1 - w) * self.surface_z + w * other.surface_z,
            seat_z=(1 - w) * self.seat_z + w * other.seat_z,
            seat=(1 - w) * self.seat + w * other.seat,
        )


FLOOR = Support()


@dataclass(frozen=True, slots=True)
class BodyState:
    """Where a body is and how it is posed at one instant."""

    x: float
    y: float
    heading: float
    pose: Pose = Pose()
    support: Support = FLOOR
    visible: bool = True

    def lerp(self, other: BodyState, w: float) -> BodyState:
        """The state a fraction `w` of the way to `other` (heading along the shorter turn)."""
        dh = wrap_angle(other.heading - self.heading)
        return BodyState(
            x=(1 - w) * self.x + w * other.x,
            y=(1 - w) * self.y + w * other.y,
            heading=self.heading + w * dh,
            pose=self.pose.lerp(other.pose, w),
            support=self.support.lerp(other.support, w),
            visible=other.visible if w >= 1.0 else self.visible,
        )

    def moved(self, forward: float = 0.0, right: float = 0.0, turn: float = 0.0) -> BodyState:
        """This state displaced in its own frame (metres) and turned (radians); pose and support kept."""
        f, r = heading_vector(self.heading), right_vector(self.heading)
        return BodyState(
            x=self.x + forward * f[0] + right * r[0],
            y=self.y + forward * f[1] + right * r[1],
            heading=self.heading + turn,
            pose=self.pose,
            support=self.support,
            visible=self.visible,
        )

    def with_pose(self, pose: Pose, support: Support | None = None) -> BodyState:
        """This state with another pose (and support)."""
        return BodyState(
            self.x, self.y, self.heading, pose, self.support if support is None else support, self.visible
        )


@dataclass(frozen=True, slots=True)
class Dims:
    """Segment lengths and radii in metres, from stature `h` and girth `g`."""

    h: float
    g: float = 1.0

    @property
    def head_r(self) -> float:
        """Head radius."""
        return 0.062 * self.h


@dataclass(frozen=True, slots=True)
class Capsule:
    """A body part to draw: a segment with a radius, and which colour it takes."""

    a: tuple[float, float, float]
    b: tuple[float, float, float]
    radius: float
    part: str
    """Colour key: top, bottom, skin, hair, shoes."""
    side: int = 0
    """-1 left limb, +1 right limb, 0 centre: far-side limbs are drawn a little darker."""
    arm: bool = False
    """Arms do not carry the body: they rest on whatever is under them instead."""


def _axes(state: BodyState) -> tuple[F64, F64, F64]:
    """Body frame (forward, right, up) after the trunk's pitch and roll."""
    p, q = state.pose.pitch, state.pose.roll
    f0, r0, z = heading_vector(state.heading), right_vector(state.heading), np.array([0.0, 0.0, 1.0])
    up = math.cos(p) * z + math.sin(p) * f0
    fwd = math.cos(p) * f0 - math.sin(p) * z
    up_rolled = math.cos(q) * up + math.sin(q) * r0
    right = math.cos(q) * r0 - math.sin(q) * up
    return fwd, right, up_rolled


def _limb(up: F64, fwd: F64, lateral: F64, angle: float, abduction: float) -> F64:
    """Direction of a limb at `angle` forward from hanging down, swung out sideways by `abduction`."""
    sagittal = -math.cos(angle) * up + math.sin(angle) * fwd
    return math.cos(abduction) * sagittal + math.sin(abduction) * lateral


def _tuple(v: F64) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def _legs(pelvis: F64, axes: tuple[F64, F64, F64], pose: Pose, d: Dims) -> list[Capsule]:
    fwd, right, up = axes
    h, g = d.h, d.g
    parts: list[Capsule] = []
    for side, hip, knee in ((-1, pose.hip_l, pose.knee_l), (1, pose.hip_r, pose.knee_r)):
        lateral = side * right
        hip_j = pelvis + lateral * 0.05 * h * g
        knee_j = hip_j + _limb(up, fwd, lateral, hip, 0.03) * 0.245 * h
        ankle = knee_j + _limb(up, fwd, lateral, hip - knee, 0.03) * 0.263 * h
        # toes point forward while the shin is near vertical, along the shin when it points backwards (prone)
        shin_world = hip - knee - pose.pitch
        plantar = min(max((-shin_world - math.pi / 4) / (math.pi / 4), 0.0), 1.0)
        toe = ankle + _limb(up, fwd, lateral, hip - knee + (1.0 - plantar) * math.pi / 2, 0.05) * 0.12 * h
        parts += [
            Capsule(_tuple(hip_j), _tuple(knee_j), 0.04 * h * g, "bottom", side),
            Capsule(_tuple(knee_j), _tuple(ankle), 0.029 * h, "bottom", side),
            Capsule(_tuple(ankle), _tuple(toe), 0.022 * h, "shoes", side),
        ]
    return parts


def _arms(shoulder_c: F64, axes: tuple[F64, F64, F64], pose: Pose, d: Dims) -> list[Capsule]:
    fwd, right, up = axes
    h, g = d.h, d.g
    parts: list[Capsule] = []
    arms = ((-1, pose.sh_l, pose.el_l, pose.abd_l), (1, pose.sh_r, pose.el_r, pose.abd_r))
    for side, shoulder, elbow, abduction in arms:
        lateral = side * right
        sh_j = shoulder_c + lateral * (0.085 + 0.02 * g) * h - up * 0.02 * h
        el_j = sh_j + _limb(up, fwd, lateral, shoulder, abduction) * 0.186 * h
        hand = el_j + _limb(up, fwd, lateral, shoulder + elbow, abduction * 0.7) * 0.15 * h
        parts += [
            Capsule(_tuple(sh_j), _tuple(el_j), 0.028 * h * g, "top", side, arm=True),
            Capsule(_tuple(el_j), _tuple(hand), 0.022 * h, "top", side, arm=True),
            Capsule(_tuple(hand), _tuple(hand + (hand - el_j) * 0.25), 0.02 * h, "skin", side, arm=True),
        ]
    return parts


def _trunk(pelvis: F64, axes: tuple[F64, F64, F64], d: Dims) -> list[Capsule]:
    fwd, right, up = axes
    h, g = d.h, d.g
    top = pelvis + up * 0.27 * h
    neck_top = pelvis + up * 0.34 * h
    head = pelvis + up * 0.405 * h
    hair = head + up * 0.012 * h - fwd * 0.018 * h
    parts = [
        Capsule(
            _tuple(pelvis - right * 0.05 * h * g),
            _tuple(pelvis + right * 0.05 * h * g),
            0.065 * h * g,
            "bottom",
        )
    ]
    for side in (-1, 1):
        offset = right * side * 0.05 * h * g
        parts.append(
            Capsule(_tuple(pelvis + up * 0.04 * h + offset), _tuple(top + offset), 0.06 * h * g, "top")
        )
    parts += [
        Capsule(_tuple(top), _tuple(neck_top), 0.026 * h, "skin"),
        Capsule(_tuple(hair), _tuple(hair), d.head_r * 0.98, "hair"),
        Capsule(_tuple(head), _tuple(head), d.head_r, "skin"),
    ]
    return parts


def _unplaced(state: BodyState, d: Dims) -> list[Capsule]:
    """The body's capsules with the pelvis at height 0."""
    axes = _axes(state)
    pelvis = np.array([state.x, state.y, 0.0])
    shoulder_c = pelvis + axes[2] * 0.288 * d.h
    return (
        _trunk(pelvis, axes, d) + _legs(pelvis, axes, state.pose, d) + _arms(shoulder_c, axes, state.pose, d)
    )


def pelvis_height(state: BodyState, d: Dims, parts: list[Capsule]) -> float:
    """The pelvis height that rests the body (already built at pelvis height 0) on its support."""
    lowest = min(min(c.a[2], c.b[2]) - c.radius for c in parts if not c.arm)
    s = state.support
    on_surface = s.surface_z - lowest
    on_seat = s.seat_z + 0.065 * d.h * d.g
    return (1.0 - s.seat) * on_surface + s.seat * on_seat


def capsules(state: BodyState, d: Dims) -> tuple[list[Capsule], float]:
    """The body's capsules in world coordinates, and the pelvis height."""
    parts = _unplaced(state, d)
    z = pelvis_height(state, d, parts)
    ground = state.support.surface_z * (1.0 - state.support.seat)

    def lift(p: tuple[float, float, float], c: Capsule) -> tuple[float, float, float]:
        height = p[2] + z
        return (p[0], p[1], max(height, ground + c.radius) if c.arm else height)

    placed = [Capsule(lift(c.a, c), lift(c.b, c), c.radius, c.part, c.side, c.arm) for c in parts]
    return placed, z


def trunk_tilt(pose: Pose) -> float:
    """Angle of the trunk from vertical, radians (0 upright, pi/2 lying)."""
    return math.acos(max(-1.0, min(1.0, math.cos(pose.pitch) * math.cos(pose.roll))))
