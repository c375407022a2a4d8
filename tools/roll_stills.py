"""Write a copy of a labelled still folder with every frame rolled (turned about its centre),
and optionally blurred (`--blur`) or compressed harder (`--quality`).

Why a tool: a camera mounted askew, a road's camber or a plate hung crooked turns the plate
in the picture, and the bundled photos are nearly all level, so how the reader copes with a
rolled plate can only be measured on rolled copies. `edge eval` scores the copy like any
dataset; compare it with a copy at `--degrees 0`, which is re-encoded the same way (JPEG
at quality 95) but not turned, so the difference is the roll's alone.

    .venv/bin/python tools/roll_stills.py ../shared/datasets/openalpr-us /tmp/us-roll8 --degrees 8
    .venv/bin/python tools/roll_stills.py ../shared/datasets/openalpr-us /tmp/us-roll0 --degrees 0
    .venv/bin/edge eval /tmp/us-roll8 --countries us,generic
    .venv/bin/python tools/roll_stills.py ../shared/datasets/openalpr-us /tmp/us-blur --degrees 0 --blur 0.8
    .venv/bin/python tools/roll_stills.py ../shared/datasets/openalpr-us /tmp/us-q50 --degrees 0 --quality 50

A soft lens, focus set for another distance or a vehicle's motion blurs the picture, and a
stream's encoder compresses it harder than a still camera: `--blur` (a Gaussian's sigma in
pixels) and `--quality` (JPEG quality, 95 by default) measure how the reader copes.

A camera beside the road sees plates from the side, a lower-resolution camera sees them
smaller, and an IR camera at night sees a dark scene with bright plates: `--yaw` (the camera
turned about its vertical axis, by a homography with a focal length of the frame's width;
the canvas grows to hold the whole picture, so no plate leaves it, and the frame shrinks to
the localiser's working width as a wider camera's would), `--scale` (the picture resized,
with area averaging) and `--night` (grey, the scene at NIGHT_SCENE_LIGHT of its light with
sensor noise, each labelled plate near full light, as a retro-reflective plate under the
camera's lamp; needs boxes) copy those. A camera's burnt-in date and time is warped with the
picture by `--yaw`, away from the frame's edge where a real overlay stays, so it can be read
as a plate there: count those false reads apart.

    .venv/bin/python tools/roll_stills.py ../shared/datasets/openalpr-us /tmp/us-yaw20 --degrees 0 --yaw 20
    .venv/bin/python tools/roll_stills.py ../shared/datasets/openalpr-us /tmp/us-075 --degrees 0 --scale 0.75
    .venv/bin/python tools/roll_stills.py ../shared/datasets/openalpr-us /tmp/us-night --degrees 0 --night

Labelled boxes become the upright boxes around the turned ones (detection is scored at an
IoU of 0.3, which such a box still meets around a plate turned by up to about 15 degrees).
The turn resamples with Lanczos, as sharp as a camera's own picture (bilinear blurs
small glyphs that a camera mounted askew keeps). The corners it uncovers are filled
black: a camera has no picture there, and a replicated border (each edge pixel smeared
outwards) draws rows of stripes that the localiser takes for text and ranks above real
plates. A plate turned partly or wholly out of the frame is no longer in the picture: its
label is left out, and a frame left with no plate is not written. Data marked for
evaluation only stays evaluation only in its rolled copy.
"""

from __future__ import annotations

import argparse
import csv
import zlib
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

BOX_FIELDS = ("x", "y", "w", "h")
NIGHT_SCENE_LIGHT = 0.22  # --night: the share of its light the scene keeps (the plates keep all)
NIGHT_NOISE = 4.0  # --night: sensor noise, grey levels (standard deviation)
MAX_YAW = 45.0  # past about 63 degrees a frame's far corner would lie behind the camera


def yaw_matrix(width: int, height: int, yaw: float) -> tuple[np.ndarray, tuple[int, int]]:
    """The homography (3x3) of a camera turned `yaw` degrees about its vertical axis, with a
    focal length of the frame's width, moved so the whole picture lies on the canvas it
    returns (width, height) beside it."""
    focal, turn = float(width), np.radians(yaw)
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    rotation = np.array([[np.cos(turn), 0, np.sin(turn)], [0, 1, 0], [-np.sin(turn), 0, np.cos(turn)]])
    homography = camera @ rotation @ np.linalg.inv(camera)
    corners = cv2.perspectiveTransform(np.array([[[0, 0], [width, 0], [width, height], [0, height]]], np.float64),
                                       homography)[0]
    low, high = corners.min(axis=0), corners.max(axis=0)
    shift = np.array([[1, 0, -low[0]], [0, 1, -low[1]], [0, 0, 1]])
    return shift @ homography, (int(np.ceil(high[0] - low[0])), int(np.ceil(high[1] - low[1])))


def rolled_box(row: dict[str, str], matrix: np.ndarray, size: tuple[int, int],
               clip: bool = False) -> dict[str, str] | None:
    """The labelled box of `row` moved by `matrix` (a 2x3 affine or 3x3 homography), as the
    upright box around it; None where any corner of the moved box leaves the frame of `size`
    (width, height), or with `clip` the box cut to the frame (a plate already known to be in it)."""
    if not all(row.get(field) for field in BOX_FIELDS):
        return row
    x, y, w, h = (float(row[field]) for field in BOX_FIELDS)
    homography = np.vstack([matrix, [0, 0, 1]]) if matrix.shape == (2, 3) else matrix
    box = np.array([[[x, y], [x + w, y], [x + w, y + h], [x, y + h]]], np.float64)
    corners = cv2.perspectiveTransform(box, homography)[0]
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    if clip:
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size[0]), min(y1, size[1])
    elif x0 < 0 or y0 < 0 or x1 > size[0] or y1 > size[1]:
        return None
    return {**row, "x": str(int(x0)), "y": str(int(y0)), "w": str(int(round(x1 - x0))), "h": str(int(round(y1 - y0)))}


class View(NamedTuple):
    """How the copy's camera sees: rolled `degrees` (counter-clockwise), turned `yaw` degrees
    about its vertical axis, resized by `scale`, blurred by a Gaussian of sigma `blur` pixels
    (0: none), saved at JPEG `quality`, and lit as an IR camera at `night`."""

    degrees: float
    yaw: float = 0.0
    scale: float = 1.0
    blur: float = 0.0
    quality: int = 95
    night: bool = False


def roll_folder(source: Path, target: Path, view: View) -> tuple[int, int]:
    """Write `source`'s labelled frames as `view`'s camera sees them to `target`: (frames
    written, labels left out because their plate was turned out of the frame)."""
    with (source / "labels.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = list(reader.fieldnames or []), list(reader)
    frames: dict[str, list[dict[str, str]]] = {}  # each frame's labels: a frame may label several plates
    for row in rows:
        frames.setdefault(row["file"], []).append(row)
    labels, left_out = [], 0
    for name, frame_rows in frames.items():
        image = cv2.imread(str(source / name), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"{source / name}: unreadable image")
        copy, kept = camera_copy(image, frame_rows, view, name)
        left_out += len(frame_rows) - len(kept)
        if not kept:
            continue
        out = (target / name).with_suffix(".jpg")
        out.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(out), copy, [cv2.IMWRITE_JPEG_QUALITY, view.quality]):
            raise SystemExit(f"{out}: cannot write")
        labels += [{**row, "file": str(Path(name).with_suffix(".jpg"))} for row in kept]
    with (target / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(labels)
    return len({row["file"] for row in labels}), left_out


def camera_copy(image: np.ndarray, rows: list[dict[str, str]], view: View,
                name: str) -> tuple[np.ndarray, list[dict[str, str]]]:
    """One frame as `view`'s camera sees it, and the labels of the plates still in it, their
    boxes moved with the picture (the frame's `name` seeds its night noise)."""
    height, width = image.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), view.degrees, 1.0)
    inside = [row for row in rows if rolled_box(row, turn, (width, height)) is not None]
    copy = cv2.warpAffine(image, turn, (width, height), flags=cv2.INTER_LANCZOS4,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    moved = np.vstack([turn, [0, 0, 1]])
    if view.yaw:
        homography, size = yaw_matrix(width, height, view.yaw)
        copy = cv2.warpPerspective(copy, homography, size, flags=cv2.INTER_LANCZOS4,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        moved = homography @ moved
    if view.scale != 1.0:
        size = (max(1, round(copy.shape[1] * view.scale)), max(1, round(copy.shape[0] * view.scale)))
        copy = cv2.resize(copy, size, interpolation=cv2.INTER_AREA if view.scale < 1 else cv2.INTER_LINEAR)
        moved = np.diag([view.scale, view.scale, 1.0]) @ moved
    kept = [rolled_box(row, moved, (copy.shape[1], copy.shape[0]), clip=True) for row in inside]
    if view.blur > 0:
        copy = cv2.GaussianBlur(copy, (0, 0), view.blur)
    if view.night:
        copy = night_copy(copy, kept, name)
    return copy, kept


def night_copy(image: np.ndarray, rows: list[dict[str, str]], name: str) -> np.ndarray:
    """`image` as an IR camera sees it at night: grey, the scene dim and noisy, each labelled
    plate near full light (softened at its edge, as a lamp's reflection is)."""
    if not all(all(row.get(field) for field in BOX_FIELDS) for row in rows):
        raise SystemExit(f"{name}: --night needs every plate's box (x, y, w, h) to keep it lit")
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    light = np.full(grey.shape, NIGHT_SCENE_LIGHT, np.float32)
    for row in rows:
        x, y, w, h = (int(float(row[field])) for field in BOX_FIELDS)
        light[max(0, y - h // 6):y + h + h // 6, max(0, x - w // 12):x + w + w // 12] = 1.0
    light = cv2.GaussianBlur(light, (0, 0), 3)
    noise = np.random.default_rng(zlib.crc32(name.encode())).normal(0, NIGHT_NOISE, grey.shape)
    return np.clip(grey * light + noise, 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a labelled still folder (labels.csv: file, plate[, x, y, w, h])")
    parser.add_argument("target", type=Path)
    parser.add_argument("--degrees", type=float, required=True, help="roll, counter-clockwise (negative: clockwise)")
    parser.add_argument("--blur", type=float, default=0.0, help="Gaussian blur sigma in pixels (default 0: none)")
    parser.add_argument("--quality", type=int, default=95, choices=range(5, 101), metavar="5-100",
                        help="JPEG quality of the copies (default 95)")
    parser.add_argument("--yaw", type=float, default=0.0,
                        help=f"the camera turned about its vertical axis, degrees (at most {MAX_YAW:g} either way)")
    parser.add_argument("--scale", type=float, default=1.0, help="the picture resized by this factor (default 1)")
    parser.add_argument("--night", action="store_true", help="an IR camera at night: dim noisy scene, lit plates")
    args = parser.parse_args(argv)
    if args.blur < 0:
        parser.error("--blur must be 0 or more")
    if abs(args.yaw) > MAX_YAW:
        parser.error(f"--yaw must lie within {MAX_YAW:g} degrees either way")
    if not 0.05 <= args.scale <= 4:
        parser.error("--scale must lie between 0.05 and 4")
    args.target.mkdir(parents=True, exist_ok=True)
    view = View(args.degrees, args.yaw, args.scale, args.blur, args.quality, args.night)
    written, left_out = roll_folder(args.source, args.target, view)
    print(f"{written} frames rolled by {args.degrees:g} degrees (yaw {args.yaw:g}, scale {args.scale:g}, "
          f"blur {args.blur:g}, JPEG quality {args.quality}{', at night' if args.night else ''}) "
          f"in {args.target}; {left_out} plates turned out of the frame left out")


if __name__ == "__main__":
    main()
