"""The scene model of the video simulator: camera, room, furniture, lighting and scripted people.

Plain frozen dataclasses; `sim.video.loader` builds them from YAML and validates them,
`sim.video.generate` samples them from a seed. Colours are BGR tuples (OpenCV's order); YAML
files write them as "#rrggbb".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.keyframes import Keyframes
from sim.video.geometry import Camera

Color = tuple[int, int, int]

FURNITURE_TYPES = ("bed", "sofa", "chair", "table")
SEATS = ("chair", "sofa", "bed")
LIE_ON = ("bed", "sofa")
FLOOR_PATTERNS = ("plain", "planks", "tiles")
WALLS = ("left", "right", "back")
FALL_KINDS = ("forward", "backward", "sideways", "slide", "collapse")
ACTIONS = (
    "walk",
    "stand",
    "turn",
    "sit",
    "stand_up",
    "lie",
    "lie_floor",
    "bend",
    "crouch",
    "leave",
    "absent",
    "enter",
    "fall",
    "down",
    "get_up",
)


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """Where the camera hangs and how it sees: pinhole, fixed, with sensor noise."""

    resolution: tuple[int, int] = (640, 480)
    position: tuple[float, float] = (2.5, 0.05)
    height_m: float = 2.5
    tilt_deg: float = 30.0
    pan_deg: float = 90.0
    hfov_deg: float = 70.0
    fps: float = 15.0
    noise: float = 3.0
    """Standard deviation of the per-pixel Gaussian sensor noise, in 8-bit grey levels."""

    def camera(self) -> Camera:
        """The projection this spec describes."""
        x, y = self.position
        return Camera(
            width=self.resolution[0],
            height=self.resolution[1],
            position=(x, y, self.height_m),
            pan_deg=self.pan_deg,
            tilt_deg=self.tilt_deg,
            hfov_deg=self.hfov_deg,
        )


@dataclass(frozen=True, slots=True)
class Furniture:
    """A piece of furniture: its footprint centre, size (width, depth), front heading and colour.

    The front is the way a sitter faces; for a bed, `heading_deg` points from the head end to the
    foot end and `size` is (width, length).
    """

    id: str
    type: str
    at: tuple[float, float]
    size: tuple[float, float]
    heading_deg: float = 0.0
    color: Color = (60, 90, 120)


@dataclass(frozen=True, slots=True)
class Door:
    """An open doorway in a wall: people can leave and enter through it and stay visible in it."""

    wall: str
    at: float
    """Centre along the wall, metres from the wall's start (x for the back wall, y for the sides)."""
    width: float = 0.9


@dataclass(frozen=True, slots=True)
class Rug:
    """A coloured rectangle on the floor (axis-aligned)."""

    at: tuple[float, float]
    size: tuple[float, float]
    color: Color


@dataclass(frozen=True, slots=True)
class Room:
    """A box-shaped room with a floor pattern, walls, doors, a window and furniture."""

    size: tuple[float, float] = (5.0, 6.0)
    ceiling_m: float = 2.8
    floor: Color = (96, 128, 150)
    floor_pattern: str = "planks"
    wall: Color = (200, 210, 215)
    window: bool = True
    rug: Rug | None = None
    doors: tuple[Door, ...] = ()
    furniture: tuple[Furniture, ...] = ()

    def item(self, furniture_id: str) -> Furniture:
        """The furniture with this id (KeyError if none)."""
        for piece in self.furniture:
            if piece.id == furniture_id:
                return piece
        raise KeyError(furniture_id)


@dataclass(frozen=True, slots=True)
class Lighting:
    """Ambient (daylight) and lamp levels over time; the lamp casts the shadows."""

    ambient: Keyframes = field(default_factory=lambda: Keyframes.constant(0.45))
    lamp: Keyframes = field(default_factory=lambda: Keyframes.constant(0.6))
    lamp_position: tuple[float, float, float] | None = None
    """Lamp position in metres; None: the ceiling above the room's centre."""
    shadow: float = 0.45
    """How much of the lamp's light a body blocks on the floor (0..1)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One activity of a person's script; which fields matter depends on `action`."""

    action: str
    target: tuple[float, float] | None = None
    """walk / leave / enter: a floor point; None with `on="door"` means the first door."""
    on: str | None = None
    """sit / lie: furniture id; leave / enter: "door"."""
    seconds: float | None = None
    """How long to hold (stand, sit, lie, bend, crouch, absent, down) or how long the motion takes (fall)."""
    speed: float | None = None
    kind: str | None = None
    """fall: one of FALL_KINDS."""
    heading_deg: float | None = None
    """turn: the new heading."""
    side: int = 1
    """sideways and collapse falls, lying down on a bed or sofa: +1 right, -1 left."""


@dataclass(frozen=True, slots=True)
class PersonSpec:
    """A person: body, clothing and the script of what they do."""

    id: str
    start: tuple[float, float]
    heading_deg: float = 90.0
    height_m: float = 1.75
    girth: float = 1.0
    """Body width and depth relative to an average adult (0.8 slim .. 1.4 heavy)."""
    speed: float = 1.1
    top: Color = (140, 80, 40)
    bottom: Color = (50, 50, 50)
    skin: Color = (140, 170, 215)
    hair: Color = (30, 40, 60)
    shoes: Color = (25, 25, 25)
    script: tuple[Step, ...] = ()


@dataclass(frozen=True, slots=True)
class Scene:
    """A camera looking at a room with people doing scripted things, for `duration_s` seconds."""

    name: str
    seed: int
    camera: CameraSpec = CameraSpec()
    room: Room = Room()
    lighting: Lighting = field(default_factory=Lighting)
    people: tuple[PersonSpec, ...] = ()
    duration_s: float | None = None
    """None: until every script has ended, plus a few seconds."""
    description: str = ""
