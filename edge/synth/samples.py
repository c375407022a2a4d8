"""The bundled demo footage in sample_images/, regenerated deterministically from a seed.

Why: a fresh clone must be able to run the whole pipeline end to end (`edge samples`,
demos, smoke tests) without the real data sets, which cannot be redistributed. Stills
cover UK current/prefix/suffix/dateless plates (white front, yellow rear), EU/NL/PL/US,
skew, blur, noise, glare and grey IR night frames; clips cover the zone events (entry,
exit, two at once, a vehicle stopping on the line, one leaving sideways) against the line
in sequences/zone.yaml. Labels use the same CSV layout as ../shared/datasets.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.synth import render
from edge.synth.scenes import (
    End,
    PlacedPlate,
    Scene,
    Sequence,
    Trajectory,
    make_vehicle,
    render_scene,
    render_sequence,
)

log = logging.getLogger(__name__)

JPEG_QUALITY = 82
CLIP_SIZE = (960, 540)
CLIP_SECONDS = 3.5
FPS = 25.0
ZONE_Y = 0.55  # the zone line's row, as a fraction of the clip height; inside is below it


@dataclass(frozen=True, slots=True)
class StillSpec:
    """One still: plate style, which end of the vehicle, frame size and camera effects."""

    style: str
    end: End = "front"
    size: tuple[int, int] = (1280, 720)
    night: bool = False
    tilt: float = 0.5
    blur: int = 0  # motion-blur length in pixels
    noise: float = 0.0  # sensor noise sigma
    glare: float = 0.0  # highlight strength over the plate
    plate_frac: float | None = None  # plate width / frame width


STILLS: tuple[StillSpec, ...] = (
    StillSpec("gb_current", "front"),
    StillSpec("gb_current", "rear"),
    StillSpec("gb_current", "front", tilt=1.0),
    StillSpec("gb_current", "rear", tilt=1.0, blur=7),
    StillSpec("gb_current", "front", glare=0.6),
    StillSpec("gb_current", "rear", noise=5.0, plate_frac=0.07),
    StillSpec("gb_current", "front", plate_frac=0.17),
    StillSpec("gb_prefix", "front"),
    StillSpec("gb_prefix", "rear", blur=5),
    StillSpec("gb_suffix", "front", tilt=0.9),
    StillSpec("gb_suffix", "rear", glare=0.5),
    StillSpec("gb_dateless", "rear"),
    StillSpec("gb_current", "front", night=True),
    StillSpec("gb_current", "rear", night=True, noise=5.0),
    StillSpec("gb_prefix", "front", night=True),
    StillSpec("gb_suffix", "rear", night=True, blur=4),
    StillSpec("eu", "front"),
    StillSpec("nl", "rear"),
    StillSpec("pl", "front"),
    StillSpec("us", "rear"),
    StillSpec("us", "front", size=(640, 480)),
    StillSpec("gb_current", "rear", size=(640, 480), noise=5.0),
    StillSpec("gb_current", "front", size=(1920, 1080), tilt=0.8),
    StillSpec("gb_suffix", "front", size=(1920, 1080), glare=0.4),
)


def _still_name(index: int, spec: StillSpec) -> str:
    tags = [f"{index + 1:02d}", spec.style, spec.end]
    tags += [
        tag
        for tag, on in (
            ("night", spec.night),
            ("skew", spec.tilt > 0.7),
            ("blur", spec.blur > 0),
            ("noise", spec.noise > 0),
            ("glare", spec.glare > 0),
        )
        if on
    ]
    return "_".join(tags) + ".jpg"


def _apply_effects(scene: Scene, spec: StillSpec, rng: np.random.Generator) -> np.ndarray:
    """Camera effects on a whole still: glare over the plate, motion blur, sensor noise."""
    img = scene.image.astype(np.float32)
    if spec.glare > 0:
        box = scene.plates[0].box
        pad_x, pad_y = box.w, box.h * 2
        y0, x0 = max(0, box.y - pad_y), max(0, box.x - pad_x)
        render.add_glare(
            img[y0 : box.y + box.h + pad_y, x0 : box.x + box.w + pad_x], rng, spec.glare
        )
    if spec.blur > 1:
        img = render.motion_blur(img, rng, spec.blur)
    if spec.noise > 0:
        img += rng.normal(0, spec.noise, img.shape[:2] + (1,)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"could not encode {path.name} as JPEG")
    path.write_bytes(buf.tobytes())


def _label_row(file: str, placed: PlacedPlate) -> list[object]:
    return [file, placed.text, *placed.box.as_list()]


def generate_stills(out_dir: Path, seeds: np.random.SeedSequence) -> list[list[object]]:
    """Write the still JPEGs; returns their label rows (file, plate, x, y, w, h)."""
    rows: list[list[object]] = []
    for index, (spec, child) in enumerate(zip(STILLS, seeds.spawn(len(STILLS)))):
        rng = np.random.default_rng(child)
        w = spec.size[0]
        plate_px = None if spec.plate_frac is None else spec.plate_frac * w
        scene = render_scene(rng, spec.size, spec.style, spec.end, spec.night, plate_px, spec.tilt)
        name = _still_name(index, spec)
        _write_jpeg(out_dir / name, _apply_effects(scene, spec, rng))
        rows.extend(_label_row(name, placed) for placed in scene.plates)
    return rows


# ---------------------------------------------------------------------------------------
# Clips
# ---------------------------------------------------------------------------------------


def _straight(
    vehicle_rng: np.random.Generator,
    end: End,
    x: tuple[float, float],
    y: tuple[float, float],
    style: str,
    t: tuple[float, float] = (0.0, CLIP_SECONDS),
) -> Trajectory:
    vehicle = make_vehicle(vehicle_rng, end, style, tilt=0.3)
    return Trajectory(vehicle, t, x, y)


def _stopping(
    rng: np.random.Generator, style: str, x: float, y0: float, y_stop: float, stop_at: float
) -> Trajectory:
    """Brakes evenly (position eases out quadratically) and stands still from `stop_at` s."""
    times = np.linspace(0.0, stop_at, 14)
    ys = y0 + (y_stop - y0) * (1 - (1 - times / stop_at) ** 2)
    vehicle = make_vehicle(rng, "front", style, tilt=0.3)
    return Trajectory(vehicle, tuple(times) + (CLIP_SECONDS,), (x,) * 15, tuple(ys) + (y_stop,))


def _stop_short_of_line(height: int) -> float:
    """Plate-centre row for the stopping vehicle: 8 px before the line, its box over the line."""
    return (ZONE_Y * height - 8.0) / height


@dataclass(frozen=True, slots=True)
class ClipSpec:
    name: str
    events: tuple[str, ...]  # expected event per trajectory, same order
    note: str


CLIPS: tuple[ClipSpec, ...] = (
    ClipSpec("seq01_entry", ("entry",), "front plate approaches and crosses the line downward"),
    ClipSpec("seq02_exit", ("exit",), "rear plate moves away, crossing the line upward"),
    ClipSpec("seq03_two_way", ("entry", "exit"), "one vehicle in each direction at once"),
    ClipSpec(
        "seq04_stop_on_line",
        ("unknown",),
        "stops with the plate box over the line but its centre 8 px short: no crossing",
    ),
    ClipSpec(
        "seq05_leave_sideways",
        ("unknown",),
        "turns away and leaves the frame sideways, never crossing",
    ),
)


def clip_trajectories(name: str, rng: np.random.Generator) -> list[Trajectory]:
    if name == "seq01_entry":
        return [_straight(rng, "front", (0.42, 0.45), (0.2, 0.9), "gb_current")]
    if name == "seq02_exit":
        return [_straight(rng, "rear", (0.55, 0.52), (0.92, 0.22), "gb_current")]
    if name == "seq03_two_way":
        return [
            _straight(rng, "front", (0.3, 0.26), (0.18, 0.9), "gb_prefix"),
            _straight(rng, "rear", (0.72, 0.68), (0.92, 0.25), "gb_suffix"),
        ]
    if name == "seq04_stop_on_line":
        return [_stopping(rng, "gb_current", 0.45, 0.18, _stop_short_of_line(CLIP_SIZE[1]), 2.4)]
    vehicle = make_vehicle(rng, "front", "gb_current", tilt=0.3)
    return [
        Trajectory(
            vehicle, (0.0, 1.2, 1.8, CLIP_SECONDS), (0.45, 0.47, 0.6, 1.4), (0.15, 0.32, 0.38, 0.42)
        )
    ]


def _write_clip(path: Path, sequence: Sequence) -> Path:
    """Write mp4 (mp4v); fall back to MJPG .avi where this OpenCV build lacks an mp4 encoder."""
    h, w = sequence.frames[0].shape[:2]
    for fourcc, suffix in (("mp4v", ".mp4"), ("MJPG", ".avi")):
        target = path.with_suffix(suffix)
        writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*fourcc), sequence.fps, (w, h))
        if writer.isOpened():
            for frame in sequence.frames:
                writer.write(frame)
            writer.release()
            return target
        writer.release()
    raise RuntimeError("OpenCV can write neither mp4v nor MJPG video here")


def _visible_span(boxes: list) -> tuple[int, int]:
    seen = [i for i, box in enumerate(boxes) if box is not None]
    return (seen[0], seen[-1]) if seen else (-1, -1)


def zone_yaml(width: int, height: int) -> str:
    y = int(round(ZONE_Y * height))
    return (
        "# Zone for every clip in this folder (a ZoneConfig: cameras[].zone in a site file).\n"
        "# Rule the labels assume: an event needs the plate centre to move from one side of the\n"
        "# line to the other (beyond deadband_px). Crossing downward into `inside` is an entry,\n"
        "# upward an exit. seq04 stops with its plate box over the line but its centre 8 px\n"
        "# short of it, and seq05 turns off and leaves the frame sideways above the line, so\n"
        "# neither crosses: both are `unknown` (a pass seen but not known to enter or leave).\n"
        "name: site\n"
        "outside_name: road\n"
        f"line: [[0, {y}], [{width}, {y}]]\n"
        "inside: below\n"
        "basis: crossing\n"
    )


def generate_clips(out_dir: Path, seeds: np.random.SeedSequence) -> list[list[object]]:
    """Write the clips and zone.yaml; returns label rows (file, plate, event, first/last frame)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "zone.yaml").write_text(zone_yaml(*CLIP_SIZE))
    rows: list[list[object]] = []
    for spec, child in zip(CLIPS, seeds.spawn(len(CLIPS))):
        rng = np.random.default_rng(child)
        trajectories = clip_trajectories(spec.name, rng)
        sequence = render_sequence(rng, trajectories, CLIP_SIZE, CLIP_SECONDS, FPS)
        target = _write_clip(out_dir / spec.name, sequence)
        for vehicle, boxes, event in zip(sequence.vehicles, sequence.boxes, spec.events):
            rows.append([target.name, vehicle.text, event, *_visible_span(boxes)])
    return rows


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def sample_seeds(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The seed sequences for the stills and for the clips, both derived from `seed`."""
    stills, clips = np.random.SeedSequence(seed).spawn(2)
    return stills, clips


def generate_samples(out_dir: Path, seed: int = 2026) -> None:
    """Write the stills, clips, labels and zone into `out_dir` (created if missing).

    Every still and clip draws from its own generator spawned from `seed`, so editing
    one entry of STILLS or CLIPS leaves the others' output unchanged.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    still_seeds, clip_seeds = sample_seeds(seed)
    still_rows = generate_stills(out_dir, still_seeds)
    _write_csv(out_dir / "labels.csv", ["file", "plate", "x", "y", "w", "h"], still_rows)
    clip_rows = generate_clips(out_dir / "sequences", clip_seeds)
    _write_csv(
        out_dir / "sequences" / "labels.csv",
        ["file", "plate", "event", "first_frame", "last_frame"],
        clip_rows,
    )
    log.info("wrote %d stills and %d clips to %s", len(still_rows), len(CLIPS), out_dir)
