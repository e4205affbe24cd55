"""Room geometry a script or a scene generator needs: doors, free floor, clear walking paths."""

from __future__ import annotations

import math

from sim.video.furniture import inside
from sim.video.scene import Door, Room

DOOR_HEIGHT_M = 2.05


def door_centre(room: Room, door: Door) -> tuple[tuple[float, float], tuple[float, float]]:
    """A door's centre on the floor and the unit normal pointing into the room."""
    w, d = room.size
    if door.wall == "left":
        return (0.0, door.at), (1.0, 0.0)
    if door.wall == "right":
        return (w, door.at), (-1.0, 0.0)
    return (door.at, d), (0.0, -1.0)


def door_points(room: Room, x: float, y: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """For the door nearest (x, y): a point 0.6 m inside the room and one 1.0 m outside it."""
    if not room.doors:
        raise ValueError("the room has no door to leave or enter by")
    best = min(room.doors, key=lambda dr: math.dist(door_centre(room, dr)[0], (x, y)))
    (cx, cy), (nx, ny) = door_centre(room, best)
    return (cx + 0.6 * nx, cy + 0.6 * ny), (cx - 1.0 * nx, cy - 1.0 * ny)


def free(room: Room, x: float, y: float, margin: float = 0.3) -> bool:
    """Whether someone can stand at (x, y): inside the walls and clear of furniture by `margin`."""
    w, d = room.size
    if not (margin <= x <= w - margin and margin <= y <= d - margin):
        return False
    return not any(inside(item, x, y, margin) for item in room.furniture)


def path_clear(room: Room, a: tuple[float, float], b: tuple[float, float], margin: float = 0.25) -> bool:
    """Whether a straight walk from `a` to `b` stays clear of furniture (checked every 10 cm)."""
    n = max(int(math.dist(a, b) / 0.1), 1)
    for i in range(n + 1):
        x = a[0] + (b[0] - a[0]) * i / n
        y = a[1] + (b[1] - a[1]) * i / n
        if any(inside(item, x, y, margin) for item in room.furniture):
            return False
    return True
