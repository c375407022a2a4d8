"""Synthetic roadside scenes: plates mounted on drawn vehicles on a drawn road.

Why: the localiser, the tracker and the zone logic need whole frames and short clips with
known plate positions and known direction of travel, in every format we ship for, and the
repository must carry its own demo footage (the real data sets cannot be redistributed).
The camera model is a pole-mounted camera looking down a road: a vehicle lower in the frame
is nearer, so its plate is wider; vehicles coming towards the camera show their front plate,
vehicles going away their rear plate. All drawing is deterministic given the Generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from edge.synth import render
from edge.types import Box

End = Literal["front", "rear"]
_SHIFT = 4  # cv2 fixed-point bits: sub-pixel drawing keeps slow motion smooth
_ONE = 1 << _SHIFT
_HORIZON = -0.15  # vanishing line, as a fraction of frame height (above the top edge)
_PLATE_SCALE = 0.30  # GB plate width / frame height at the bottom edge of the frame


@dataclass(frozen=True, slots=True)
class Vehicle:
    """Everything needed to draw one vehicle the same way in every frame of a clip."""

    text: str
    style: str
    plate: np.ndarray  # flat plate image, BGR uint8
    plate_quad: np.ndarray  # plate corners around its centre, in plate widths (tl, tr, br, bl)
    plate_mm: float  # real plate width: vehicle size follows from it
    width_mm: float
    body: tuple[float, float, float]
    kind: Literal["car", "van"]
    end: End


@dataclass(slots=True)
class PlacedPlate:
    """Where a plate landed in an image: `box` is the quad's bounds clipped to the image."""

    text: str
    style: str
    box: Box
    quad: np.ndarray


@dataclass(slots=True)
class Scene:
    image: np.ndarray
    plates: list[PlacedPlate]


@dataclass(frozen=True, slots=True)
class Trajectory:
    """Plate-centre path of one vehicle: keyframe times (s) and positions as frame fractions."""

    vehicle: Vehicle
    times: tuple[float, ...]
    xs: tuple[float, ...]
    ys: tuple[float, ...]

    def at(self, t: float) -> tuple[float, float]:
        return float(np.interp(t, self.times, self.xs)), float(np.interp(t, self.times, self.ys))


@dataclass(slots=True)
class Sequence:
    """Frames of a clip and, per vehicle, the plate box in each frame (None when not visible)."""

    frames: list[np.ndarray]
    boxes: list[list[Box | None]]
    vehicles: list[Vehicle]
    fps: float = 25.0
    quads: list[list[np.ndarray | None]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# Road
# ---------------------------------------------------------------------------------------


def _smooth_noise(
    h: int, w: int, rng: np.random.Generator, cells: int, amplitude: float
) -> np.ndarray:
    field_ = rng.normal(0, amplitude, (cells, max(2, cells * w // max(h, 1)))).astype(np.float32)
    return cv2.resize(field_, (w, h), interpolation=cv2.INTER_CUBIC)


def road_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Asphalt seen from a pole: haze gradient, verges, edge lines and a dashed centre line."""
    h, w = height, width
    img = np.empty((h, w, 3), np.float32)
    tone = rng.uniform(75, 125)
    ramp = np.linspace(1.15, 0.9, h, dtype=np.float32)[:, None]
    grey = tone * ramp + _smooth_noise(h, w, rng, 6, 6.0) + _smooth_noise(h, w, rng, 40, 2.0)
    img[:] = grey[..., None]
    img += np.asarray(rng.normal(0, 3, 3), np.float32)  # slight colour cast
    vx, vy = w * rng.uniform(0.4, 0.6), _HORIZON * h
    half = w * rng.uniform(0.42, 0.55)  # road half-width at the bottom edge
    left, right = (w / 2 - half, h), (w / 2 + half, h)
    base = np.asarray((90, 130, 110) if rng.random() < 0.5 else (150, 150, 150), np.float64)
    verge = np.clip(base + rng.normal(0, 12) + rng.normal(0, 3, 3), 0, 255)
    for edge, corner in ((left, (-w, h)), (right, (2 * w, h))):
        pts = np.array([[vx, vy], edge, corner, [corner[0], vy]], np.float64)
        cv2.fillPoly(
            img,
            [(pts * _ONE).astype(np.int32)],
            tuple(float(c) for c in verge),
            cv2.LINE_AA,
            _SHIFT,
        )
    paint = (215.0, 215.0, 210.0)
    for edge in (left, right):
        inner = (edge[0] + np.sign(w / 2 - edge[0]) * w * 0.02, h)
        _line(img, (vx, vy), inner, max(2, w // 200), paint)
    _dashes(img, (vx, vy), (w * rng.uniform(0.45, 0.55), h), max(2, w // 180), paint)
    return img


def _line(
    img: np.ndarray,
    p0: tuple[float, float],
    p1: tuple[float, float],
    thick: int,
    colour: tuple[float, float, float],
) -> None:
    pts = [(int(round(p[0] * _ONE)), int(round(p[1] * _ONE))) for p in (p0, p1)]
    cv2.line(img, pts[0], pts[1], colour, thick, cv2.LINE_AA, _SHIFT)


def _dashes(
    img: np.ndarray,
    vanish: tuple[float, float],
    bottom: tuple[float, float],
    thick: int,
    colour: tuple[float, float, float],
) -> None:
    """Dashes equally spaced on the ground, so they shorten towards the vanishing point."""
    h = img.shape[0]
    span = bottom[1] - vanish[1]
    for depth in np.arange(1.0, 12.0, 1.0):  # ground distance in dash periods
        f0, f1 = 1.0 / depth, 1.0 / (depth + 0.45)  # image position ~ 1 / distance
        p0 = (vanish[0] + (bottom[0] - vanish[0]) * f0, vanish[1] + span * f0)
        p1 = (vanish[0] + (bottom[0] - vanish[0]) * f1, vanish[1] + span * f1)
        if p1[1] < h:
            _line(img, p0, p1, max(1, int(thick * f0 * 1.5)), colour)


# ---------------------------------------------------------------------------------------
# Vehicles
# ---------------------------------------------------------------------------------------

_PAINTS = (
    (235, 235, 235),
    (20, 20, 22),
    (150, 150, 152),
    (100, 100, 104),
    (40, 40, 150),
    (120, 60, 20),
    (40, 90, 40),
    (170, 175, 180),
    (30, 45, 70),
)


def make_vehicle(
    rng: np.random.Generator,
    end: End = "front",
    style: str | None = None,
    text: str | None = None,
    tilt: float = 0.5,
) -> Vehicle:
    """A vehicle with a plate: GB fronts carry white plates and GB rears yellow ones.

    `tilt` (0..1) sets how skewed the plate looks from the camera.
    """
    style = style or str(rng.choice(render.STYLES))
    layout = render.random_plate_layout(style, rng) if text is None else None
    colour, strip = render.random_colour_and_strip(style, rng)
    if style.startswith("gb") and colour != "dark":
        colour = "white" if end == "front" else "yellow"
    plate_text = layout.replace("-", "") if layout is not None else str(text)
    plate, _boxes = render.render_plate(plate_text, style, rng, colour, strip, layout=layout)
    ph, pw = plate.shape[:2]
    quad = render.perspective_quad(pw, ph, rng, tilt)
    quad = (quad - quad.mean(axis=0)) / pw
    paint = np.clip(
        np.asarray(_PAINTS[int(rng.integers(0, len(_PAINTS)))], np.float64) + rng.normal(0, 8, 3),
        0,
        255,
    )
    return Vehicle(
        text=plate_text,
        style=style,
        plate=plate,
        plate_quad=quad.astype(np.float32),
        plate_mm=305.0 if style == "us" else 520.0,
        width_mm=float(rng.uniform(1700, 1950)),
        body=(float(paint[0]), float(paint[1]), float(paint[2])),
        kind="van" if rng.random() < 0.2 else "car",
        end=end,
    )


def _fill(img: np.ndarray, pts: list[tuple[float, float]], colour: tuple[float, ...]) -> None:
    arr = (np.asarray(pts, np.float64) * _ONE).round().astype(np.int32)
    cv2.fillPoly(img, [arr], colour, cv2.LINE_AA, _SHIFT)


def _rounded(
    img: np.ndarray, x0: float, y0: float, x1: float, y1: float, r: float, colour: tuple[float, ...]
) -> None:
    """Filled rectangle with rounded corners (polygon of arcs, sub-pixel accurate)."""
    corners = (
        (x1 - r, y0 + r, -90),
        (x1 - r, y1 - r, 0),
        (x0 + r, y1 - r, 90),
        (x0 + r, y0 + r, 180),
    )
    pts: list[tuple[float, float]] = []
    for cx, cy, start in corners:
        for a in np.radians(np.linspace(start, start + 90, 5)):
            pts.append((cx + r * np.cos(a), cy + r * np.sin(a)))
    _fill(img, pts, colour)


def _ellipse(img: np.ndarray, centre: tuple[float, float], axes: tuple[float, float],
             colour: tuple[float, ...]) -> None:
    """A filled, anti-aliased ellipse drawn in sub-pixel (fixed-point) coordinates."""
    cv2.ellipse(img, (int(centre[0] * _ONE), int(centre[1] * _ONE)), (int(axes[0] * _ONE), int(axes[1] * _ONE)),
                0, 0, 360, colour, -1, cv2.LINE_AA, _SHIFT)


def _scaled(colour: tuple[float, float, float], k: float) -> tuple[float, float, float]:
    b, g, r = (float(min(255.0, c * k)) for c in colour)
    return b, g, r


def draw_vehicle(
    img: np.ndarray, vehicle: Vehicle, centre: tuple[float, float], plate_w: float
) -> PlacedPlate:
    """Draw `vehicle` (front or rear view) so its plate centre lands at `centre`, `plate_w` px wide.

    `img` is float32 BGR and is drawn on in place; returns where the plate went.
    """
    px, py = centre
    v = plate_w * vehicle.width_mm / vehicle.plate_mm  # vehicle width in pixels
    body = vehicle.body
    top = 0.95 if vehicle.kind == "van" else 0.72
    _ellipse(img, (px, py + 0.2 * v), (0.62 * v, 0.07 * v), (25, 25, 25))  # shadow on the road
    for side in (-1, 1):  # tyres
        _rounded(
            img,
            px + side * 0.43 * v - 0.07 * v,
            py + 0.02 * v,
            px + side * 0.43 * v + 0.07 * v,
            py + 0.22 * v,
            0.02 * v,
            (18, 18, 18),
        )
    _fill(
        img,
        [
            (px - 0.47 * v, py - 0.36 * v),
            (px - 0.39 * v, py - (top + 0.06) * v),
            (px + 0.39 * v, py - (top + 0.06) * v),
            (px + 0.47 * v, py - 0.36 * v),
        ],
        _scaled(body, 0.9),
    )
    glass = (70.0, 55.0, 45.0) if vehicle.end == "front" else (45.0, 40.0, 38.0)
    _fill(
        img,
        [
            (px - 0.43 * v, py - 0.4 * v),
            (px - 0.35 * v, py - top * v),
            (px + 0.35 * v, py - top * v),
            (px + 0.43 * v, py - 0.4 * v),
        ],
        glass,
    )
    _fill(
        img,
        [
            (px - 0.1 * v, py - top * v),
            (px + 0.05 * v, py - top * v),
            (px - 0.15 * v, py - 0.4 * v),
            (px - 0.3 * v, py - 0.4 * v),
        ],
        _scaled(glass, 1.6),
    )  # reflection
    for side in (-1, 1):  # door mirrors
        _rounded(
            img,
            px + side * 0.53 * v - 0.05 * v,
            py - 0.47 * v,
            px + side * 0.53 * v + 0.05 * v,
            py - 0.4 * v,
            0.015 * v,
            _scaled(body, 0.8),
        )
    _rounded(img, px - 0.5 * v, py - 0.42 * v, px + 0.5 * v, py + 0.12 * v, 0.07 * v, body)
    _rounded(
        img, px - 0.5 * v, py - 0.2 * v, px + 0.5 * v, py + 0.12 * v, 0.07 * v, _scaled(body, 0.85)
    )  # shade
    _rounded(
        img,
        px - 0.49 * v,
        py - 0.07 * v,
        px + 0.49 * v,
        py + 0.16 * v,
        0.05 * v,
        _scaled(body, 0.55),
    )
    lamp = (225.0, 230.0, 235.0) if vehicle.end == "front" else (40.0, 30.0, 190.0)
    for side in (-1, 1):
        _rounded(
            img,
            px + side * 0.36 * v - 0.1 * v,
            py - 0.32 * v,
            px + side * 0.36 * v + 0.1 * v,
            py - 0.21 * v,
            0.03 * v,
            lamp,
        )
    slat = max(1, int(v / 150))
    if vehicle.end == "front":  # grille with slats: plate-like texture the localiser must reject
        _rounded(
            img, px - 0.2 * v, py - 0.3 * v, px + 0.2 * v, py - 0.14 * v, 0.03 * v, (35, 35, 38)
        )
        for y in np.linspace(py - 0.27 * v, py - 0.17 * v, 4):
            _line(img, (px - 0.18 * v, y), (px + 0.18 * v, y), slat, (75.0, 75.0, 78.0))
    else:
        _line(
            img,
            (px - 0.44 * v, py - 0.38 * v),
            (px + 0.44 * v, py - 0.38 * v),
            slat,
            _scaled(body, 0.6),
        )
    _ellipse(img, (px, py - 0.1 * v), (0.035 * v, 0.02 * v), (190, 190, 195))  # maker's badge
    return _paste_plate(img, vehicle, centre, plate_w)


def _paste_plate(
    img: np.ndarray, vehicle: Vehicle, centre: tuple[float, float], plate_w: float
) -> PlacedPlate:
    """Warp the flat plate onto its quad, working only inside the quad's bounding box."""
    h, w = img.shape[:2]
    quad = (vehicle.plate_quad * plate_w + np.asarray(centre, np.float32)).astype(np.float32)
    x0, y0 = np.floor(quad.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    box = Box(int(cx0), int(cy0), int(max(0, cx1 - cx0)), int(max(0, cy1 - cy0)))
    placed = PlacedPlate(vehicle.text, vehicle.style, box, quad)
    if box.w == 0 or box.h == 0:
        return placed
    ph, pw = vehicle.plate.shape[:2]
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, quad - np.array([cx0, cy0], np.float32))
    size = (cx1 - cx0, cy1 - cy0)
    warped = cv2.warpPerspective(
        vehicle.plate, matrix, size, flags=cv2.INTER_AREA if plate_w < pw else cv2.INTER_LINEAR
    )
    alpha = cv2.warpPerspective(
        np.full((ph, pw), 1.0, np.float32), matrix, size, flags=cv2.INTER_LINEAR
    )
    roi = img[cy0:cy1, cx0:cx1]
    roi[:] = cv2.blendLinear(roi, warped.astype(np.float32), 1.0 - alpha, alpha)
    return placed


def plate_width_at(y: float, height: int, vehicle: Vehicle) -> float:
    """Plate width in pixels for a plate centred at image row `y` (nearer rows: wider)."""
    return (
        _PLATE_SCALE * height * (y / height - _HORIZON) / (1 - _HORIZON) * vehicle.plate_mm / 520.0
    )


# ---------------------------------------------------------------------------------------
# Still scenes and clips
# ---------------------------------------------------------------------------------------


def plate_mask(shape: tuple[int, int], plates: list[PlacedPlate]) -> np.ndarray:
    """Float 0..1 mask of the plate quads (used for the bright-plate IR look)."""
    mask = np.zeros(shape, np.float32)
    for placed in plates:
        cv2.fillPoly(
            mask, [(placed.quad * _ONE).round().astype(np.int32)], 1.0, cv2.LINE_AA, _SHIFT
        )
    return mask


def render_scene(
    rng: np.random.Generator,
    size: tuple[int, int] = (1280, 720),
    style: str | None = None,
    end: End | None = None,
    night: bool = False,
    plate_px: float | None = None,
    tilt: float = 0.5,
) -> Scene:
    """One vehicle on the road; `plate_px` is how wide a 520 mm plate would be (default: 6-17%
    of the frame width, at least 80 px); a US plate is proportionally narrower.

    `size` is (width, height). Night renders the grey IR look: dark scene, bright plate.
    """
    w, h = size
    img = road_background(w, h, rng)
    vehicle = make_vehicle(
        rng, end or ("front" if rng.random() < 0.5 else "rear"), style, tilt=tilt
    )
    default_w = max(80.0, w * rng.uniform(0.06, 0.17))  # narrower plates are below reading size
    plate_w = (plate_px if plate_px is not None else default_w) * vehicle.plate_mm / 520.0
    v = plate_w * vehicle.width_mm / vehicle.plate_mm
    cx = rng.uniform(max(0.5 * v, 0.1 * w), min(w - 0.5 * v, 0.9 * w)) if v < w else w / 2
    top_room = (1.05 if vehicle.kind == "van" else 0.8) * v
    cy = rng.uniform(min(top_room, 0.8 * h), max(min(top_room, 0.8 * h), h - 0.25 * v))
    placed = draw_vehicle(img, vehicle, (cx, cy), plate_w)
    if night:
        img = render.to_night_ir(img, rng, plate_mask((h, w), [placed]))
    return Scene(np.clip(img, 0, 255).astype(np.uint8), [placed])


def render_sequence(
    rng: np.random.Generator,
    trajectories: list[Trajectory],
    size: tuple[int, int] = (960, 540),
    seconds: float = 3.5,
    fps: float = 25.0,
    noise: float = 0.8,
) -> Sequence:
    """A fixed camera clip: each trajectory's vehicle drawn at its position in every frame.

    Nearer vehicles (lower plate centre) are drawn last so they occlude farther ones. Plate
    width follows the camera model, so plates grow as vehicles approach. `noise` is the
    sensor noise sigma in grey levels (kept small so the clips compress well).
    """
    w, h = size
    background = road_background(w, h, rng)
    count = int(round(seconds * fps))
    sequence = Sequence(
        [],
        [[] for _ in trajectories],
        [t.vehicle for t in trajectories],
        fps,
        [[] for _ in trajectories],
    )
    for index in range(count):
        t = index / fps
        frame = background.copy()
        spots = [(traj.at(t), i) for i, traj in enumerate(trajectories)]
        for (fx, fy), i in sorted(spots, key=lambda s: s[0][1]):
            vehicle = trajectories[i].vehicle
            y = fy * h
            placed = draw_vehicle(frame, vehicle, (fx * w, y), plate_width_at(y, h, vehicle))
            visible = placed.box.w * placed.box.h > 0
            sequence.boxes[i].append(placed.box if visible else None)
            sequence.quads[i].append(placed.quad if visible else None)
        frame += rng.normal(0, noise, (h, w, 1)).astype(np.float32)
        sequence.frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return sequence
