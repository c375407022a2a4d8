"""Write a copy of a labelled still folder with every frame rolled (turned about its centre).

Why a tool: a camera mounted askew, a road's camber or a plate hung crooked turns the plate
in the picture, and the bundled photos are nearly all level, so how the reader copes with a
rolled plate can only be measured on rolled copies. `edge eval` scores the copy like any
dataset; compare it with a copy at `--degrees 0`, which is re-encoded the same way (JPEG
at quality 95) but not turned, so the difference is the roll's alone.

    .venv/bin/python tools/roll_stills.py ../shared/datasets/openalpr-us /tmp/us-roll8 --degrees 8
    .venv/bin/python tools/roll_stills.py ../shared/datasets/openalpr-us /tmp/us-roll0 --degrees 0
    .venv/bin/edge eval /tmp/us-roll8 --countries us,generic

Labelled boxes become the upright boxes around the turned ones (detection is scored at an
IoU of 0.3, which such a box still meets around a plate turned by up to about 15 degrees).
Data marked for evaluation only stays evaluation only in its rolled copy.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np

BOX_FIELDS = ("x", "y", "w", "h")


def rolled_box(row: dict[str, str], matrix: np.ndarray) -> dict[str, str]:
    """The labelled box of `row` turned by `matrix`, as the upright box around it."""
    if not all(row.get(field) for field in BOX_FIELDS):
        return row
    x, y, w, h = (float(row[field]) for field in BOX_FIELDS)
    corners = np.array([[x, y, 1], [x + w, y, 1], [x + w, y + h, 1], [x, y + h, 1]]) @ matrix.T
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    return {**row, "x": str(int(x0)), "y": str(int(y0)), "w": str(int(round(x1 - x0))), "h": str(int(round(y1 - y0)))}


def roll_folder(source: Path, target: Path, degrees: float) -> int:
    """Write `source`'s labelled frames turned by `degrees` (counter-clockwise) to `target`;
    returns how many frames were written."""
    with (source / "labels.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = list(reader.fieldnames or []), list(reader)
    turns: dict[str, np.ndarray] = {}  # each frame's roll, by file: a frame may label several plates
    labels = []
    for row in rows:
        if row["file"] not in turns:
            image = cv2.imread(str(source / row["file"]), cv2.IMREAD_COLOR)
            if image is None:
                raise SystemExit(f"{source / row['file']}: unreadable image")
            height, width = image.shape[:2]
            turns[row["file"]] = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
            turned = cv2.warpAffine(image, turns[row["file"]], (width, height), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
            out = target / row["file"]
            out.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(out.with_suffix(".jpg")), turned, [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise SystemExit(f"{out}: cannot write")
        labels.append({**rolled_box(row, turns[row["file"]]), "file": str(Path(row["file"]).with_suffix(".jpg"))})
    with (target / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(labels)
    return len(turns)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a labelled still folder (labels.csv: file, plate[, x, y, w, h])")
    parser.add_argument("target", type=Path)
    parser.add_argument("--degrees", type=float, required=True, help="roll, counter-clockwise (negative: clockwise)")
    args = parser.parse_args(argv)
    args.target.mkdir(parents=True, exist_ok=True)
    print(f"{roll_folder(args.source, args.target, args.degrees)} frames rolled by {args.degrees:g} degrees "
          f"in {args.target}")


if __name__ == "__main__":
    main()
