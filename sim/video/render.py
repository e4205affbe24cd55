"""Frame renderer: people as shaded capsules over the ray-cast room, with shadows, light and noise.

`Renderer(scene).render(t, index)` draws one frame at scene time `t` and its ground truth; the
same (scene, t, index) always gives the same pixels. People are drawn far to near; each body
part is z-tested against the furniture depth map, so a table hides legs and a sofa back hides a
person behind it. The lamp casts a soft shadow of the body on the floor. Lighting multiplies
the whole image (ambient and lamp levels follow the scene's keyframes), then a slight optical
blur and Gaussian sensor noise from a seeded bank are applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from sim.video.background import F32, U8, Background, lamp_position, render_background
from sim.video.body import Capsule, Dims, capsules
from sim.video.geometry import F64, NEAR_M, Camera
from sim.video.motion import Timeline
from sim.video.scene import Color, PersonSpec, Scene
from sim.video.script import TruthEvent, compile_person, script_end
from sim.video.truth import FrameContext, FrameTruth, Visibility, person_truth

NOISE_BANK = 12
TAIL_S = 5.0  # a scene without a duration runs this long after the last script ends
SHIFT = 2  # sub-pixel bits for OpenCV drawing
Rect = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class _Person:
    index: int
    spec: PersonSpec
    dims: Dims
    timeline: Timeline
    palette: dict[str, Color]


@dataclass(frozen=True, slots=True)
class _Piece:
    """A capsule in the image: end points, end radii (px), end depths and its radius in metres."""

    a: F64
    b: F64
    ra: float
    rb: float
    da: float
    db: float
    radius: float
    colour: tuple[float, ...]


@dataclass(slots=True)
class _Canvas:
    """The frame being drawn, which person owns each pixel, the shadow map and its windows."""

    frame: U8
    owner: U8
    shadow: U8
    shadow_rects: list[Rect] = field(default_factory=list)


@dataclass(slots=True)
class _Drawn:
    """One person's pixels in a frame, for the ground truth."""

    rect: Rect
    full: U8


def _rect(uv: F64, radii: F64, cam: Camera, pad: int = 2) -> Rect:
    x0 = int(np.floor((uv[:, 0] - radii).min())) - pad
    y0 = int(np.floor((uv[:, 1] - radii).min())) - pad
    x1 = int(np.ceil((uv[:, 0] + radii).max())) + pad
    y1 = int(np.ceil((uv[:, 1] + radii).max())) + pad
    return max(x0, 0), max(y0, 0), min(x1, cam.width), min(y1, cam.height)


def _draw_capsule(mask: U8, a: F64, b: F64, ra: float, rb: float) -> None:
    """A tapered capsule (two discs and the quad between them) into `mask`, anti-aliased."""
    s = float(1 << SHIFT)
    d = b - a
    n = np.array([-d[1], d[0]]) / max(float(np.hypot(d[0], d[1])), 1e-6)
    quad = np.array([a + n * ra, b + n * rb, b - n * rb, a - n * ra]) * s
    cv2.fillConvexPoly(mask, quad.astype(np.int32), 255, cv2.LINE_AA, SHIFT)
    for centre, r in ((a, ra), (b, rb)):
        c = (round(centre[0] * s), round(centre[1] * s))
        cv2.circle(mask, c, max(round(r * s), 1), 255, -1, cv2.LINE_AA, SHIFT)


def _capsule_depth(piece: _Piece, off: F64, shape: tuple[int, ...]) -> F32:
    """Per-pixel depth along a capsule's axis (linear in image space: close enough for occlusion)."""
    a, b = piece.a - off, piece.b - off
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    d = b - a
    s = ((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / max(float(d @ d), 1e-9)
    depth: F32 = (piece.da + np.clip(s, 0.0, 1.0) * (piece.db - piece.da)).astype(np.float32)
    return depth


class Renderer:
    """Renders one scene: the room once, then any frame on demand."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.camera = scene.camera.camera()
        self.background: Background = render_background(scene, self.camera)
        self.people: list[_Person] = []
        self.events: list[TruthEvent] = []
        for i, spec in enumerate(scene.people):
            timeline, events = compile_person(scene, i)
            palette = {
                "top": spec.top,
                "bottom": spec.bottom,
                "skin": spec.skin,
                "hair": spec.hair,
                "shoes": spec.shoes,
            }
            self.people.append(_Person(i, spec, Dims(spec.height_m, spec.girth), timeline, palette))
            self.events.extend(events)
        self.events.sort(key=lambda e: e.start_t)
        ends = [script_end(p.timeline) for p in self.people]
        self.duration_s = scene.duration_s or max([*ends, 5.0]) + TAIL_S
        self.fps = scene.camera.fps
        self.n_frames = round(self.duration_s * self.fps)
        self._noise = self._noise_bank()
        self._gain_cache: tuple[tuple[float, float], np.ndarray] | None = None

    def _noise_bank(self) -> list[tuple[U8, U8]]:
        rng = np.random.default_rng([self.scene.seed, 0x9015E])
        shape = (self.camera.height, self.camera.width, 3)
        bank = []
        for _ in range(NOISE_BANK):
            n = rng.normal(0.0, self.scene.camera.noise, size=shape)
            bank.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))
        return bank

    # --- people --------------------------------------------------------------------------------

    def _draw_person(self, canvas: _Canvas, person: _Person, parts: list[Capsule]) -> _Drawn | None:
        cam = self.camera
        ends = np.array([p for c in parts for p in (c.a, c.b)], dtype=np.float64)
        uv, depth = cam.project(ends)
        if np.any(depth <= NEAR_M):
            return None
        radii = np.repeat([c.radius for c in parts], 2) * cam.focal_px / depth
        rect = _rect(uv, radii, cam)
        if rect[0] >= rect[2] or rect[1] >= rect[3]:
            return None
        shadow_rect = self._shadow(canvas.shadow, parts)
        if shadow_rect is not None:
            canvas.shadow_rects.append(shadow_rect)
        full = np.zeros((rect[3] - rect[1], rect[2] - rect[0]), np.uint8)
        side_depth = {s: np.mean([depth[2 * i] for i, c in enumerate(parts) if c.side == s]) for s in (-1, 1)}
        far_side = -1 if side_depth[-1] > side_depth[1] else 1
        for i in sorted(range(len(parts)), key=lambda i: -(depth[2 * i] + depth[2 * i + 1])):
            c = parts[i]
            k = 0.8 if c.side == far_side else 1.0
            piece = _Piece(
                uv[2 * i],
                uv[2 * i + 1],
                radii[2 * i],
                radii[2 * i + 1],
                depth[2 * i],
                depth[2 * i + 1],
                c.radius,
                tuple(v * k for v in person.palette[c.part]),
            )
            self._paint(canvas, full, rect, piece, person.index + 1)
        return _Drawn(rect, full)

    def _paint(self, canvas: _Canvas, full: U8, rect: Rect, piece: _Piece, label: int) -> None:
        """Draw one capsule where no furniture is in front of it; record it in the person's masks."""
        x0, y0, x1, y1 = rect
        lo = np.minimum(piece.a - piece.ra, piece.b - piece.rb).astype(int) - 1
        hi = np.maximum(piece.a + piece.ra, piece.b + piece.rb).astype(int) + 2
        cx0, cy0 = max(int(lo[0]), x0), max(int(lo[1]), y0)
        cx1, cy1 = min(int(hi[0]), x1), min(int(hi[1]), y1)
        if cx0 >= cx1 or cy0 >= cy1:
            return
        mask = np.zeros((cy1 - cy0, cx1 - cx0), np.uint8)
        off = np.array([cx0, cy0], dtype=np.float64)
        _draw_capsule(mask, piece.a - off, piece.b - off, piece.ra, piece.rb)
        sub_full = full[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        np.maximum(sub_full, mask, out=sub_full)
        scene_depth = self.background.depth[cy0:cy1, cx0:cx1]
        if float(scene_depth.min()) < max(piece.da, piece.db) + piece.radius:
            depth = _capsule_depth(piece, off, mask.shape) - piece.radius
            mask = np.where(depth < scene_depth, mask, 0).astype(np.uint8)
        alpha = mask.astype(np.float32)[..., None] / 255.0
        roi = canvas.frame[cy0:cy1, cx0:cx1]
        roi[:] = (roi * (1.0 - alpha) + np.asarray(piece.colour, np.float32) * alpha).astype(np.uint8)
        canvas.owner[cy0:cy1, cx0:cx1][mask > 127] = label

    def _shadow(self, shadow: U8, parts: list[Capsule]) -> Rect | None:
        """Project the body from the lamp onto the floor, draw it into the shadow map; its window."""
        lamp = np.asarray(lamp_position(self.scene))
        pts = np.array([p for c in parts for p in (c.a, c.b)], dtype=np.float64)
        z = np.minimum(pts[:, 2], lamp[2] - 0.3)
        floor = lamp + (pts - lamp) * (lamp[2] / (lamp[2] - z))[:, None]
        floor[:, 2] = 0.0
        uv, depth = self.camera.project(floor)
        if np.any(depth <= NEAR_M):
            return None
        radii = np.repeat([c.radius for c in parts], 2) * self.camera.focal_px / depth * 1.1
        for i in range(len(parts)):
            _draw_capsule(shadow, uv[2 * i], uv[2 * i + 1], radii[2 * i], radii[2 * i + 1])
        x0, y0, x1, y1 = rect = _rect(uv, radii, self.camera, pad=14)
        # A shadow cast wholly outside the view (lamp low behind a person at the frame's edge)
        # clips to an empty window, which cv2.GaussianBlur refuses.
        return rect if x1 > x0 and y1 > y0 else None

    # --- the frame -----------------------------------------------------------------------------

    def _gain(self, t: float) -> np.ndarray:
        light = self.scene.lighting
        levels = (round(light.ambient.at(t), 4), round(light.lamp.at(t), 4))
        if self._gain_cache is None or self._gain_cache[0] != levels:
            bg = self.background
            gain = bg.vignette * (levels[0] + levels[1] * bg.lamp)
            self._gain_cache = (levels, gain.astype(np.float32))
        return self._gain_cache[1]

    def render(self, t: float, index: int = 0) -> tuple[U8, FrameTruth]:
        """The frame at scene time `t` (noise pattern chosen by `index`) and its ground truth."""
        cam = self.camera
        canvas = _Canvas(
            self.background.albedo.copy(),
            np.zeros((cam.height, cam.width), np.uint8),
            np.zeros((cam.height, cam.width), np.uint8),
        )
        placed = []
        for person in self.people:
            moment = person.timeline.at(t)
            parts, pelvis_z = capsules(moment.state, person.dims)
            depth = float(cam.to_camera(np.array([[moment.state.x, moment.state.y, 0.9]]))[0, 2])
            placed.append((depth, person, moment, parts, pelvis_z))
        drawn: dict[int, Visibility | None] = {}
        for _, person, moment, parts, _ in sorted(placed, key=lambda item: -item[0]):
            d = self._draw_person(canvas, person, parts) if moment.state.visible else None
            drawn[person.index] = None if d is None else (d.rect, d.full, np.zeros(0, bool))
        frame = self._light(canvas, t, index)
        truths = []
        context = FrameContext(cam, tuple(self.events), t)
        for _, person, moment, _, pelvis_z in sorted(placed, key=lambda item: item[1].index):
            vis = drawn[person.index]
            if vis is not None:
                x0, y0, x1, y1 = vis[0]
                vis = (vis[0], vis[1], canvas.owner[y0:y1, x0:x1] == person.index + 1)
            truths.append(person_truth(person.spec, moment, pelvis_z, vis, context))
        return frame, FrameTruth(index, t, tuple(truths))

    def _light(self, canvas: _Canvas, t: float, index: int) -> U8:
        """Lamp and ambient light with the people's shadows, optics blur, sensor noise."""
        bg = self.background
        gain = self._gain(t)
        lamp_level = self.scene.lighting.lamp.at(t)
        if lamp_level > 0 and canvas.shadow_rects:
            gain = gain.copy()
            rects = np.array(canvas.shadow_rects)
            x0, y0 = rects[:, :2].min(axis=0)
            x1, y1 = rects[:, 2:].max(axis=0)
            win = np.s_[y0:y1, x0:x1]
            soft = cv2.GaussianBlur(canvas.shadow[win], (0, 0), 4.0).astype(np.float32) / 255.0
            soft *= bg.floor[win] & (canvas.owner[win] == 0)
            gain[win] -= soft * (self.scene.lighting.shadow * lamp_level) * bg.lamp[win] * bg.vignette[win]
        lit = cv2.multiply(canvas.frame.astype(np.float32), cv2.merge([gain, gain, gain]))
        out = cv2.GaussianBlur(np.clip(lit, 0, 255).astype(np.uint8), (3, 3), 0.7)
        pos, neg = self._noise[(index * 7919 + self.scene.seed) % NOISE_BANK]
        noisy: U8 = cv2.subtract(cv2.add(out, pos), neg).astype(np.uint8)
        return noisy

    def frames(self) -> Iterator[tuple[float, U8, FrameTruth]]:
        """Every frame of the scene in order: (time, BGR image, ground truth)."""
        for i in range(self.n_frames):
            t = i / self.fps
            frame, truth = self.render(t, i)
            yield t, frame, truth


def render_frames(scene: Scene) -> Iterator[tuple[float, U8, FrameTruth]]:
    """The offline fast path for training: (t, frame_bgr, truth) for every frame, nothing encoded."""
    return Renderer(scene).frames()
