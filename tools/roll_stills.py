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
from pathlib import Path

import cv2
import numpy as np

BOX_FIELDS = ("x", "y", "w", "h")


def rolled_box(row: dict[str, str], matrix: np.ndarray, size: tuple[int, int]) -> dict[str, str] | None:
    """The labelled box of `row` turned by `matrix`, as the upright box around it; None where
    any corner of the turned box leaves the frame of `size` (width, height)."""
    if not all(row.get(field) for field in BOX_FIELDS):
        return row
    x, y, w, h = (float(row[field]) for field in BOX_FIELDS)
    corners = np.array([[x, y, 1], [x + w, y, 1], [x + w, y + h, 1], [x, y + h, 1]]) @ matrix.T
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    if x0 < 0 or y0 < 0 or x1 > size[0] or y1 > size[1]:
        return None
    return {**row, "x": str(int(x0)), "y": str(int(y0)), "w": str(int(round(x1 - x0))), "h": str(int(round(y1 - y0)))}


def roll_folder(source: Path, target: Path, degrees: float, blur: float = 0.0, quality: int = 95) -> tuple[int, int]:
    """Write `source`'s labelled frames turned by `degrees` (counter-clockwise), blurred by a
    Gaussian of sigma `blur` pixels (0: none) and saved at JPEG `quality` to `target`:
    (frames written, labels left out because their plate was turned out of the frame)."""
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
        height, width = image.shape[:2]
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
        turned_rows = [rolled_box(row, turn, (width, height)) for row in frame_rows]
        kept = [{**row, "file": str(Path(name).with_suffix(".jpg"))} for row in turned_rows if row is not None]
        left_out += len(turned_rows) - len(kept)
        if not kept:
            continue
        turned = cv2.warpAffine(image, turn, (width, height), flags=cv2.INTER_LANCZOS4,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        if blur > 0:
            turned = cv2.GaussianBlur(turned, (0, 0), blur)
        out = (target / name).with_suffix(".jpg")
        out.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(out), turned, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise SystemExit(f"{out}: cannot write")
        labels += kept
    with (target / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(labels)
    return len({row["file"] for row in labels}), left_out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a labelled still folder (labels.csv: file, plate[, x, y, w, h])")
    parser.add_argument("target", type=Path)
    parser.add_argument("--degrees", type=float, required=True, help="roll, counter-clockwise (negative: clockwise)")
    parser.add_argument("--blur", type=float, default=0.0, help="Gaussian blur sigma in pixels (default 0: none)")
    parser.add_argument("--quality", type=int, default=95, choices=range(5, 101), metavar="5-100",
                        help="JPEG quality of the copies (default 95)")
    args = parser.parse_args(argv)
    if args.blur < 0:
        parser.error("--blur must be 0 or more")
    args.target.mkdir(parents=True, exist_ok=True)
    written, left_out = roll_folder(args.source, args.target, args.degrees, args.blur, args.quality)
    print(f"{written} frames rolled by {args.degrees:g} degrees (blur {args.blur:g}, JPEG quality {args.quality}) "
          f"in {args.target}; {left_out} plates turned out of the frame left out")


if __name__ == "__main__":
    main()
