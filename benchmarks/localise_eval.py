"""Measure the plate localiser on the labelled still-photo sets.

Prints, per data set: detection rate (a candidate within the top `max_candidates` overlaps
the labelled box with IoU >= 0.3), mean candidates per image (every candidate costs a
recogniser call, so fewer false ones is better) and the median localiser time per image,
wall clock and process CPU, over all images and over the 1280x720 ones (the daemon's usual
input). The sets are for measurement only: never tune on their individual images.

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


def timed(localiser: Localiser, image: np.ndarray, repeats: int) -> tuple[list, float, float]:
    """Candidates, and the best-of-`repeats` wall and process-CPU times in ms. CPU time is
    reported beside wall time because the shared machine's load swings the wall time."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        found = localiser.find(image)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return found, 1000 * min(walls), 1000 * min(cpus)


def evaluate(localiser: Localiser, folder: Path, repeats: int, misses: Path | None) -> dict[str, float]:
    hits, counts, walls, cpus, hd_walls, hd_cpus = 0, [], [], [], [], []
    for path, truth in labelled(folder):
        image = cv2.imread(str(path))
        found, wall, cpu = timed(localiser, image, repeats)
        walls.append(wall)
        cpus.append(cpu)
        if image.shape[:2] == (720, 1280):
            hd_walls.append(wall)
            hd_cpus.append(cpu)
        counts.append(len(found))
        hit = any(c.box.iou(truth) >= IOU for c in found)
        hits += hit
        if misses is not None and not hit:
            save_miss(misses / f"{folder.name}-{path.stem}.png", image, truth, found)
    result = {"images": len(counts), "detection": hits / len(counts), "candidates": statistics.fmean(counts),
              "median_ms": statistics.median(walls), "median_cpu_ms": statistics.median(cpus)}
    if hd_walls:
        result["median_ms_1280x720"] = statistics.median(hd_walls)
        result["median_cpu_ms_1280x720"] = statistics.median(hd_cpus)
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
    parser.add_argument("--repeats", type=int, default=1, help="time each image this many times, keep the best")
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
        hd = (f"  1280x720: median_ms {r['median_ms_1280x720']:.1f} cpu {r['median_cpu_ms_1280x720']:.1f}"
              if "median_ms_1280x720" in r else "")
        print(f"{name:22s} images {r['images']:4d}  detection {r['detection']:.3f}  "
              f"candidates/image {r['candidates']:.2f}  median_ms {r['median_ms']:.1f} "
              f"cpu {r['median_cpu_ms']:.1f}{hd}", flush=True)


if __name__ == "__main__":
    main()
