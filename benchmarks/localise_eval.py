"""Measure the plate localiser on the labelled still-photo sets.

Prints, per data set: detection rate (a candidate within the top `max_candidates` overlaps
the labelled box with IoU >= 0.3), mean candidates per image (every candidate costs a
recogniser call, so fewer false ones is better) and the median localiser time per image.
Also times 1280x720 frames, the daemon's usual input. The sets are for measurement only.

    nice -n 10 .venv/bin/python benchmarks/localise_eval.py [--sets openalpr-eu ...]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.config import LocaliserConfig  # noqa: E402
from edge.localise import Localiser  # noqa: E402
from edge.types import Box  # noqa: E402

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SETS = ("openalpr-eu", "openalpr-us", "kaggle-carplate-uk9")
IOU = 0.3


def labelled(folder: Path) -> list[tuple[Path, Box]]:
    with open(folder / "labels.csv", newline="") as handle:
        return [(folder / row["file"], Box(*(int(row[k]) for k in "xywh"))) for row in csv.DictReader(handle)]


def timed(localiser: Localiser, image: np.ndarray, repeats: int) -> tuple[list, float]:
    """Candidates and the best-of-`repeats` time in ms (the machine is shared and noisy)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        found = localiser.find(image)
        times.append(time.perf_counter() - start)
    return found, 1000 * min(times)


def evaluate(localiser: Localiser, folder: Path, repeats: int, misses: Path | None) -> dict[str, float]:
    hits, counts, times, hd_times = 0, [], [], []
    for path, truth in labelled(folder):
        image = cv2.imread(str(path))
        found, ms = timed(localiser, image, repeats)
        times.append(ms)
        if image.shape[:2] == (720, 1280):
            hd_times.append(ms)
        counts.append(len(found))
        hit = any(c.box.iou(truth) >= IOU for c in found)
        hits += hit
        if misses is not None and not hit:
            save_miss(misses / f"{folder.name}-{path.stem}.png", image, truth, found)
    result = {"images": len(counts), "detection": hits / len(counts), "candidates": statistics.fmean(counts),
              "median_ms": statistics.median(times)}
    if hd_times:
        result["median_ms_1280x720"] = statistics.median(hd_times)
    return result


def save_miss(path: Path, image: np.ndarray, truth: Box, found: list) -> None:
    """Draw the labelled box (red) and the candidates (green) for a missed plate."""
    path.parent.mkdir(parents=True, exist_ok=True)
    vis = image.copy()
    for c in found:
        cv2.polylines(vis, [np.round(c.quad).astype(np.int32)], True, (0, 255, 0), 1)
    cv2.rectangle(vis, (truth.x, truth.y), (truth.x + truth.w, truth.y + truth.h), (0, 0, 255), 1)
    cv2.imwrite(str(path), vis)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--work-width", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3, help="time each image this many times, keep the best")
    parser.add_argument("--misses", type=Path, default=None, help="folder to draw missed plates into")
    args = parser.parse_args()
    config = LocaliserConfig() if args.work_width is None else LocaliserConfig(work_width=args.work_width)
    localiser = Localiser(config)
    for name in args.sets:
        folder = DATASETS / name
        if not folder.is_dir():
            print(f"{name}: not found under {DATASETS}")
            continue
        r = evaluate(localiser, folder, args.repeats, args.misses)
        extra = f"  median_ms_1280x720 {r['median_ms_1280x720']:.1f}" if "median_ms_1280x720" in r else ""
        print(f"{name:22s} images {r['images']:4d}  detection {r['detection']:.3f}  "
              f"candidates/image {r['candidates']:.2f}  median_ms {r['median_ms']:.1f}{extra}", flush=True)


if __name__ == "__main__":
    main()
