"""Write labelled still folders to tune whole-frame reading on, from data we may tune on.

Why a tool: settings that act on a whole frame (how a candidate is found and cut, the looks,
`plates.min_confidence`) must be chosen on frames, not on the tight crops the recogniser
trains on, and never on the evaluation photos. This writes three kinds of folder that
`edge eval` scores like any dataset:

- `us-roadside`: the held-out 10% of the training-allowed US crops (the file-hash split
  train_recogniser.py holds out), each shrunk to a roadside width (ROADSIDE_WIDTHS, 70-240 px) and set in a
  car body on a noisy 1280x720 frame, a few draws per crop (blur and JPEG vary);
- `us-shade`: the same crops on cars in deep shade (the car, plate and all, at 15-35% of
  its light) in a frame lit as usual: the dim plates a camera facing the low sun sees;
- `synthetic`: the bundled still scenes (edge.synth.samples) rendered from other seeds.

`--widths 50 140` draws farther plates, as small as a real roadside camera's smallest: the
evaluation photos' plates are 63-140 px wide (10th-90th percentile), the default set's 79-208.

    .venv/bin/python tools/tuning_stills.py us-roadside /tmp/usroad --draws 4
    .venv/bin/python tools/tuning_stills.py us-shade /tmp/usshade --draws 4
    .venv/bin/python tools/tuning_stills.py us-roadside /tmp/usfar --draws 4 --widths 50 140
    .venv/bin/python tools/tuning_stills.py synthetic /tmp/synstills --seeds 8
    .venv/bin/edge eval /tmp/usroad --countries us,generic
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from train_recogniser import REAL_DIR, load_real  # noqa: E402

from edge.synth.samples import generate_stills  # noqa: E402

FRAME_W, FRAME_H = 1280, 720
ROADSIDE_STREAM = 777  # its own random stream: no draw is shared with training
SHADE_STREAM = 778
SHADE_LIGHT = (0.15, 0.35)  # share of its light a shaded car keeps
ROADSIDE_WIDTHS = (70, 240)  # plate widths drawn from, log-uniform (px); --widths overrides
MAX_PLATE_WIDTH = FRAME_W // 5 - 1  # a plate's car is five plates wide and must fit in the frame


def roadside_still(plate: np.ndarray, rng: np.random.Generator, shaded: bool = False,
                   widths: tuple[int, int] = ROADSIDE_WIDTHS) -> tuple[np.ndarray, list[int]]:
    """One frame with `plate` on a car (in shade if `shaded`): the frame and the plate's box [x, y, w, h]."""
    width = int(np.exp(rng.uniform(np.log(widths[0]), np.log(widths[1]))))
    height = max(8, round(plate.shape[0] * width / plate.shape[1]))
    small = cv2.resize(plate, (width, height), interpolation=cv2.INTER_AREA)
    frame = rng.uniform(40, 200, 3) + rng.normal(0, 12, (FRAME_H, FRAME_W, 3))
    car_w, car_h = 5 * width, min(4 * height, FRAME_H - FRAME_H // 4 - 1)  # a tall plate's car fills the road
    car_x, car_y = int(rng.integers(0, FRAME_W - car_w)), int(rng.integers(FRAME_H // 4, FRAME_H - car_h))
    body = rng.uniform(0, 255) * rng.uniform(0.7, 1.0, 3)
    shade = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0), car_h)[:, None, None]
    frame[car_y:car_y + car_h, car_x:car_x + car_w] = body * shade + rng.normal(0, rng.uniform(2, 8), (car_h, car_w, 3))
    x = car_x + 2 * width + int(rng.integers(-width // 4, width // 4))
    y = car_y + min(2 * height, car_h - height)
    frame[y:y + height, x:x + width] = small
    if shaded:
        frame[car_y:car_y + car_h, car_x:car_x + car_w] *= rng.uniform(*SHADE_LIGHT)
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.5, 1.2))
    return frame, [x, y, width, height]


def write_us_roadside(out: Path, draws: int, real_dir: Path = REAL_DIR, shaded: bool = False,
                      widths: tuple[int, int] = ROADSIDE_WIDTHS) -> list[list[object]]:
    _train, held_out = load_real(real_dir)
    rows: list[list[object]] = []
    for index, (plate, text) in enumerate(held_out):
        for draw in range(draws):
            rng = np.random.default_rng([SHADE_STREAM if shaded else ROADSIDE_STREAM, index, draw])
            frame, box = roadside_still(plate, rng, shaded, widths)
            name = f"h{index:03d}_{draw}.jpg"
            cv2.imwrite(str(out / name), frame, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 92))])
            rows.append([name, text, *box])
    return rows


def write_synthetic(out: Path, seeds: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for seed in range(seeds):
        folder = out / f"s{seed}"
        folder.mkdir(exist_ok=True)
        for row in generate_stills(folder, np.random.SeedSequence(1000 + seed)):
            rows.append([f"s{seed}/{row[0]}", *row[1:]])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["us-roadside", "us-shade", "synthetic"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--draws", type=int, default=4, help="us-roadside, us-shade: frames per held-out crop")
    parser.add_argument("--seeds", type=int, default=8, help="synthetic: scene sets (24 stills each)")
    parser.add_argument("--real-dir", type=Path, default=REAL_DIR)
    parser.add_argument("--widths", type=int, nargs=2, default=ROADSIDE_WIDTHS, metavar=("MIN", "MAX"),
                        help="us-roadside, us-shade: plate widths drawn from (log-uniform, px)")
    args = parser.parse_args(argv)
    if not 8 <= args.widths[0] <= args.widths[1] <= MAX_PLATE_WIDTH:
        parser.error(f"--widths must satisfy 8 <= MIN <= MAX <= {MAX_PLATE_WIDTH} (px in a {FRAME_W} px frame), "
                     f"got {args.widths[0]} {args.widths[1]}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.kind == "synthetic":
        rows = write_synthetic(args.out, args.seeds)
    else:
        rows = write_us_roadside(args.out, args.draws, args.real_dir, args.kind == "us-shade", tuple(args.widths))
    with (args.out / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "plate", "x", "y", "w", "h"])
        writer.writerows(rows)
    print(f"{len(rows)} plates in {args.out}")


if __name__ == "__main__":
    main()
