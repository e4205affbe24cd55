"""Named poses and the keyframed motions between them: sitting, lying down, bending, falls, getting up.

A motion is a list of phases relative to its start: at a fraction of its duration, a pose, a
displacement in the body's own frame (forward, right; in body heights, so tall people fall
further), a turn and a support. Falls are shaped after the fall literature's phases -- loss of
balance, an accelerating descent ending at impact, a short settling on the floor -- with descent
times of 0.6-1.3 s for falls from standing and several seconds for a slow collapse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.video.body import FLOOR, BodyState, Pose, Support, deg_pose
from sim.video.motion import Key

STAND = deg_pose(el_l=8, el_r=8, abd_l=6, abd_r=6)
SIT = deg_pose(pitch=-6, hip_l=88, hip_r=92, knee_l=85, knee_r=88, sh_l=25, sh_r=25, el_l=55, el_r=50)
LIE_BACK = deg_pose(pitch=-90, hip_l=2, hip_r=6, knee_l=8, knee_r=14, sh_l=8, sh_r=8, abd_l=14, abd_r=14)
BEND = deg_pose(pitch=72, hip_l=68, hip_r=70, knee_l=18, knee_r=14, sh_l=78, sh_r=70, el_l=10, el_r=14)
CROUCH = deg_pose(pitch=28, hip_l=118, hip_r=112, knee_l=138, knee_r=132, sh_l=55, sh_r=45, el_l=40, el_r=45)
SIT_FLOOR = deg_pose(
    pitch=-12, hip_l=85, hip_r=80, knee_l=40, knee_r=70, sh_l=-25, sh_r=-25, abd_l=15, abd_r=15
)
KNEEL = deg_pose(pitch=22, hip_l=45, hip_r=5, knee_l=95, knee_r=95, sh_l=40, sh_r=40, el_l=20, el_r=20)


def seated(z: float) -> Support:
    """Pelvis on a seat at height `z`."""
    return Support(surface_z=0.0, seat_z=z, seat=1.0)


def resting_on(z: float) -> Support:
    """Lowest point of the body on a surface at height `z`."""
    return Support(surface_z=z)


@dataclass(frozen=True, slots=True)
class Phase:
    """A keyframe of a motion, relative to its start: fraction of duration, pose, displacement."""

    at: float
    pose: Pose
    forward: float = 0.0
    right: float = 0.0
    turn_deg: float = 0.0
    support: Support = FLOOR
    ease: str = "smooth"


def _mirror(p: Pose, side: int) -> Pose:
    """Swap left and right (side -1) so sideways motions work both ways."""
    if side >= 0:
        return p
    return Pose(
        p.pitch,
        -p.roll,
        p.hip_r,
        p.hip_l,
        p.knee_r,
        p.knee_l,
        p.sh_r,
        p.sh_l,
        p.el_r,
        p.el_l,
        p.abd_r,
        p.abd_l,
    )


def keys(
    start: BodyState, span: tuple[float, float], phases: tuple[Phase, ...], scale: float = 1.0, side: int = 1
) -> list[Key]:
    """Keyframes of a motion over `span` = (start, seconds); displacements times `scale`, mirrored by `side`."""
    t0, duration = span
    out = [Key(t0, start)]
    for ph in phases:
        moved = start.moved(ph.forward * scale, side * ph.right * scale, side * math.radians(ph.turn_deg))
        out.append(Key(t0 + ph.at * duration, moved.with_pose(_mirror(ph.pose, side), ph.support), ph.ease))
    return out


# --- falls (support FLOOR at the end; the last phase ending at 1.0 is the impact) ------------------

FALLS: dict[str, tuple[Phase, ...]] = {
    "forward": (
        Phase(
            0.3,
            deg_pose(pitch=14, hip_l=28, hip_r=-6, knee_l=22, knee_r=10, sh_l=45, sh_r=35, el_l=20, el_r=20),
            forward=0.08,
        ),
        Phase(
            1.0,
            deg_pose(
                pitch=86,
                hip_l=6,
                hip_r=10,
                knee_l=18,
                knee_r=28,
                sh_l=180,
                sh_r=178,
                el_l=0,
                el_r=4,
                abd_l=35,
                abd_r=28,
            ),
            forward=0.5,
            ease="in",
        ),
    ),
    "backward": (
        Phase(
            0.35,
            deg_pose(pitch=-10, hip_l=38, hip_r=34, knee_l=52, knee_r=48, sh_l=55, sh_r=50, el_l=20, el_r=20),
            forward=-0.05,
        ),
        Phase(
            1.0,
            deg_pose(
                pitch=-86, hip_l=22, hip_r=14, knee_l=30, knee_r=20, sh_l=8, sh_r=12, abd_l=70, abd_r=62
            ),
            forward=-0.28,
            ease="in",
        ),
    ),
    "sideways": (
        Phase(0.3, deg_pose(roll=12, hip_l=6, knee_l=14, knee_r=18, sh_l=20, sh_r=10, abd_l=35, abd_r=25)),
        Phase(
            1.0,
            deg_pose(
                roll=84,
                pitch=8,
                hip_l=20,
                hip_r=12,
                knee_l=30,
                knee_r=20,
                sh_l=30,
                sh_r=100,
                abd_l=5,
                abd_r=0,
            ),
            right=0.3,
            ease="in",
        ),
    ),
    "collapse": (
        Phase(
            0.35,
            deg_pose(pitch=22, hip_l=70, hip_r=64, knee_l=110, knee_r=104, sh_l=8, sh_r=10),
            forward=0.04,
        ),
        Phase(
            0.65,
            deg_pose(pitch=30, roll=12, hip_l=22, hip_r=18, knee_l=112, knee_r=108, sh_l=15, sh_r=20),
            forward=0.06,
        ),
        Phase(
            1.0,
            deg_pose(
                pitch=8, roll=82, hip_l=55, hip_r=65, knee_l=80, knee_r=90, sh_l=40, sh_r=80, abd_l=5, abd_r=0
            ),
            forward=0.12,
            right=0.15,
            ease="in",
        ),
    ),
}
SLIDE_FROM = "slide"  # needs a seated start: the support changes from the seat to the floor


def slide_phases(seat_z: float) -> tuple[Phase, ...]:
    """Sliding off a chair or sofa seat: the pelvis slips forward and down, the trunk lies back."""
    return (
        Phase(
            0.4,
            deg_pose(pitch=-24, hip_l=70, hip_r=74, knee_l=62, knee_r=58, sh_l=40, sh_r=30, el_l=30, el_r=30),
            forward=0.1,
            support=Support(0.0, seat_z - 0.12, 1.0),
        ),
        Phase(
            1.0,
            deg_pose(
                pitch=-80, hip_l=62, hip_r=70, knee_l=50, knee_r=62, sh_l=5, sh_r=10, abd_l=45, abd_r=35
            ),
            forward=0.42,
            ease="in",
        ),
    )


def settle(pose: Pose) -> Pose:
    """The pose a moment after impact: the body flattens out a little more on the floor."""
    return Pose(
        pose.pitch * 1.04 if abs(pose.pitch) > 1.0 else pose.pitch,
        pose.roll * 1.06 if abs(pose.roll) > 1.0 else pose.roll,
        pose.hip_l * 0.8,
        pose.hip_r * 0.8,
        pose.knee_l * 0.9,
        pose.knee_r * 0.9,
        pose.sh_l,
        pose.sh_r,
        pose.el_l,
        pose.el_r,
        pose.abd_l,
        pose.abd_r,
    )


# --- everyday transitions -------------------------------------------------------------------------

GET_UP = (
    Phase(0.3, SIT_FLOOR),
    Phase(0.6, KNEEL, forward=0.05),
    Phase(0.82, deg_pose(pitch=35, hip_l=60, hip_r=30, knee_l=70, knee_r=40, sh_l=30, sh_r=30), forward=0.08),
    Phase(1.0, STAND, forward=0.1),
)


# Lying down on the floor on purpose (to exercise, to look under furniture): kneel, sit, lie back;
# the body goes where a backward fall would, but held up by the arms at every moment.
LIE_FLOOR = (
    Phase(0.3, KNEEL),
    Phase(0.6, SIT_FLOOR, forward=-0.05),
    Phase(1.0, LIE_BACK, forward=-0.35),
)


def bend_down(pose: Pose) -> tuple[Phase, ...]:
    """From standing down to `pose` (bend or crouch)."""
    return (Phase(1.0, pose),)


def sit_down(seat_z: float, back_m: float) -> tuple[Phase, ...]:
    """From standing in front of a seat to sitting on it, `back_m` behind."""
    mid = deg_pose(pitch=28, hip_l=55, hip_r=55, knee_l=55, knee_r=55, sh_l=30, sh_r=30, el_l=20, el_r=20)
    return (Phase(0.5, mid, forward=-0.6 * back_m), Phase(1.0, SIT, forward=-back_m, support=seated(seat_z)))


def stand_up(seat_z: float, forward_m: float) -> tuple[Phase, ...]:
    """From sitting to standing `forward_m` in front of the seat."""
    mid = deg_pose(pitch=35, hip_l=75, hip_r=75, knee_l=72, knee_r=72, sh_l=35, sh_r=35, el_l=20, el_r=20)
    return (
        Phase(0.45, mid, forward=0.35 * forward_m, support=Support(0.0, seat_z + 0.05, 0.6)),
        Phase(1.0, STAND, forward=forward_m),
    )
