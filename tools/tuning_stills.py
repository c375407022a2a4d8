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

`--clutter N` paints N texts that are no plate into each roadside frame (`draw_clutter`):
a sign beside the road, a fleet or phone number on the car's body, a dealer's line under
the plate. Real roadside frames hold such text and the plain frames do not, so without it
the false reads a rule against non-plate text should remove cannot be counted on data we
may tune on. The clutter has its own random stream: the plates and frames are drawn as
without it, draw for draw.

`--holders` sets every plate in a dealer's holder (edge.synth.render.add_holder), its print
just above and below the number, as most US cars carry their plates; the holders too have
their own stream.

    .venv/bin/python tools/tuning_stills.py us-roadside /tmp/usroad --draws 4
    .venv/bin/python tools/tuning_stills.py us-shade /tmp/usshade --draws 4
    .venv/bin/python tools/tuning_stills.py us-roadside /tmp/usfar --draws 4 --widths 50 140
    .venv/bin/python tools/tuning_stills.py us-roadside /tmp/usclutter --draws 4 --clutter 3
    .venv/bin/python tools/tuning_stills.py us-roadside /tmp/usholder --draws 4 --holders
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

from edge.synth import render  # noqa: E402
from edge.synth.samples import generate_stills  # noqa: E402

FRAME_W, FRAME_H = 1280, 720
ROADSIDE_STREAM = 777  # its own random stream: no draw is shared with training
SHADE_STREAM = 778
SHADE_LIGHT = (0.15, 0.35)  # share of its light a shaded car keeps
ROADSIDE_WIDTHS = (70, 240)  # plate widths drawn from, log-uniform (px); --widths overrides
MAX_PLATE_WIDTH = FRAME_W // 5 - 1  # a plate's car is five plates wide and must fit in the frame
CLUTTER_STREAM = 779  # non-plate text draws from its own stream (see --clutter)
CLUTTER_KINDS = ("sign", "fleet", "dealer")
HOLDER_STREAM = 780  # dealers' holders draw from their own stream (see --holders)
GLYPH_SHARE = 0.45  # a US plate's glyph height / its plate height
CLUTTER_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX)


def roadside_still(plate: np.ndarray, rng: np.random.Generator, shaded: bool = False,
                   widths: tuple[int, int] = ROADSIDE_WIDTHS, clutter: int = 0,
                   clutter_rng: np.random.Generator | None = None,
                   holder_rng: np.random.Generator | None = None) -> tuple[np.ndarray, list[int]]:
    """One frame with `plate` on a car (in shade if `shaded`; in a dealer's holder drawn with
    `holder_rng` if given) and `clutter` texts that are no plate (drawn with `clutter_rng`):
    the frame and the plate's box [x, y, w, h]."""
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
    if holder_rng is not None:
        _paste_in_holder(frame, plate, (x, y, width, height), holder_rng)
    if clutter:
        draw_clutter(frame, (car_x, car_y, car_w, car_h), (x, y, width, height), clutter_rng, clutter)
    if shaded:
        frame[car_y:car_y + car_h, car_x:car_x + car_w] *= rng.uniform(*SHADE_LIGHT)
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.5, 1.2))
    return frame, [x, y, width, height]


def _paste_in_holder(frame: np.ndarray, plate: np.ndarray, box: tuple[int, int, int, int],
                     rng: np.random.Generator) -> None:
    """Paint `plate` in a dealer's holder (edge.synth.render.add_holder) over `frame` (float
    BGR, in place) so that the plate itself fills `box`; the holder is cut at the frame's edges."""
    held, inner = render.add_holder(plate, rng)
    x, y, width, height = box
    scale_x, scale_y = width / inner.w, height / inner.h
    size = (round(held.shape[1] * scale_x), round(held.shape[0] * scale_y))
    small = cv2.resize(held, size, interpolation=cv2.INTER_AREA)
    left, top = x - round(inner.x * scale_x), y - round(inner.y * scale_y)
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(FRAME_W, left + size[0]), min(FRAME_H, top + size[1])
    frame[y0:y1, x0:x1] = small[y0 - top:y1 - top, x0 - left:x1 - left]


def draw_clutter(frame: np.ndarray, car: tuple[int, int, int, int], plate: tuple[int, int, int, int],
                 rng: np.random.Generator, count: int) -> None:
    """Paint `count` texts that are no plate into `frame` (float BGR, in place), each a sign,
    a number on the car's body or a dealer's line under the plate, never over the plate.

    Their glyphs are sized from the plate's: signs and painted numbers as tall as a plate's
    glyphs or up to twice as tall, a dealer's line a third to a half of them. A text that
    finds no room where it belongs is left out, and a plate gets one dealer's line at most.
    """
    glyph_h = GLYPH_SHARE * plate[3]
    dealer = False
    for _ in range(count):
        kind = CLUTTER_KINDS[int(rng.integers(len(CLUTTER_KINDS)))]
        if kind == "dealer":
            if not dealer:  # a plate frame has one dealer's line
                _draw_dealer_line(frame, plate, glyph_h, rng)
            dealer = True
        else:
            _draw_text_block(frame, car, plate, glyph_h, rng, on_car=kind == "fleet")


def _clutter_words(rng: np.random.Generator, kind: str) -> str:
    """A fleet number (a letter or two, then digits), a phone number or one or two made-up words."""
    if kind in ("fleet", "phone"):
        letters = int(rng.integers(0, 3)) if kind == "fleet" else 0
        prefix = "".join(rng.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ"), letters))
        groups = [int(rng.integers(3, 5)) for _ in range(1 if kind == "fleet" else 2)]
        numbers = " ".join("".join(rng.choice(list("0123456789"), n)) for n in groups)
        return (prefix + " " if prefix else "") + numbers
    words = ["".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), int(rng.integers(3, 9))))
             for _ in range(int(rng.integers(1, 3)))]
    return " ".join(words)


def _text_size(text: str, font: int, height: float) -> tuple[float, int, int, int]:
    """Font scale, thickness, width and height that draw `text` with glyphs `height` px tall."""
    (_, unit_h), _ = cv2.getTextSize(text, font, 1.0, 2)
    scale = height / max(unit_h, 1)
    thickness = max(1, round(height / 8))
    (width, drawn_h), _ = cv2.getTextSize(text, font, scale, thickness)
    return scale, thickness, width, drawn_h


def _ink_on(ground: np.ndarray) -> tuple[float, float, float]:
    """Dark ink on a light ground, light ink on a dark one."""
    level = 20.0 if ground.mean() > 110 else 235.0
    return level, level, level


def _overlaps(box: tuple[int, int, int, int], other: tuple[int, int, int, int], margin: float = 0.0) -> bool:
    x, y, w, h = box
    ox, oy, ow, oh = other
    return x < ox + ow + margin and ox < x + w + margin and y < oy + oh + margin and oy < y + h + margin


def _draw_text_block(frame: np.ndarray, car: tuple[int, int, int, int], plate: tuple[int, int, int, int],
                     glyph_h: float, rng: np.random.Generator, on_car: bool) -> None:
    """A sign beside the road (a panel with one or two lines of words or a phone number, off
    the car) or a fleet number painted on the car's body (no panel, clear of the plate)."""
    font = CLUTTER_FONTS[int(rng.integers(len(CLUTTER_FONTS)))]
    count = 1 if on_car else int(rng.integers(1, 3))
    lines = [_clutter_words(rng, "fleet" if on_car else "phone" if rng.random() < 0.3 else "words")
             for _ in range(count)]
    scale, thick, text_w, text_h = _text_size(max(lines, key=len), font, glyph_h * rng.uniform(1.0, 2.0))
    pad = 0 if on_car else int(0.5 * text_h)
    block_w, block_h = text_w + 2 * pad, int(len(lines) * 1.6 * text_h) + 2 * pad
    area = car if on_car else (0, 0, FRAME_W, FRAME_H)
    if block_w >= area[2] or block_h >= area[3]:
        return
    for _attempt in range(20):
        x = area[0] + int(rng.integers(0, area[2] - block_w))
        y = area[1] + int(rng.integers(0, area[3] - block_h))
        if not _overlaps((x, y, block_w, block_h), plate if on_car else car, margin=plate[3] if on_car else 0):
            break
    else:
        return
    if not on_car:  # a sign's panel: light or dark
        panel = 235.0 if rng.random() < 0.7 else 30.0
        frame[y:y + block_h, x:x + block_w] = panel + rng.normal(0, 3, (block_h, block_w, 3))
    ink = _ink_on(frame[y:y + block_h, x:x + block_w])
    canvas = np.ascontiguousarray(frame[y:y + block_h, x:x + block_w])
    for row, line in enumerate(lines):
        baseline = pad + int((row + 1) * 1.6 * text_h - 0.3 * text_h)
        cv2.putText(canvas, line, (pad, baseline), font, scale, ink, thick, cv2.LINE_AA)
    frame[y:y + block_h, x:x + block_w] = canvas


def _draw_dealer_line(frame: np.ndarray, plate: tuple[int, int, int, int], glyph_h: float,
                      rng: np.random.Generator) -> None:
    """A dealer's small print just under the plate, as on a plate frame, not over the plate."""
    x, y, w, h = plate
    font = CLUTTER_FONTS[int(rng.integers(len(CLUTTER_FONTS)))]
    text = _clutter_words(rng, "phone" if rng.random() < 0.3 else "words")
    scale, thick, text_w, text_h = _text_size(text, font, glyph_h * rng.uniform(0.33, 0.5))
    top = y + h + 1
    if text_w > 1.2 * w or top + text_h + 2 >= FRAME_H:
        return
    left = max(0, x + (w - text_w) // 2)
    band = np.ascontiguousarray(frame[top:top + text_h + 2, left:left + text_w])
    ink = _ink_on(band)
    cv2.putText(band, text, (0, text_h), font, scale, ink, thick, cv2.LINE_AA)
    frame[top:top + text_h + 2, left:left + text_w] = band


def write_us_roadside(out: Path, draws: int, real_dir: Path = REAL_DIR, shaded: bool = False,
                      widths: tuple[int, int] = ROADSIDE_WIDTHS, clutter: int = 0,
                      holders: bool = False) -> list[list[object]]:
    _train, held_out = load_real(real_dir)
    rows: list[list[object]] = []
    for index, (plate, text) in enumerate(held_out):
        for draw in range(draws):
            rng = np.random.default_rng([SHADE_STREAM if shaded else ROADSIDE_STREAM, index, draw])
            clutter_rng = np.random.default_rng([CLUTTER_STREAM, int(shaded), index, draw])
            holder_rng = np.random.default_rng([HOLDER_STREAM, int(shaded), index, draw]) if holders else None
            frame, box = roadside_still(plate, rng, shaded, widths, clutter, clutter_rng, holder_rng)
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
    parser.add_argument("--clutter", type=int, default=0,
                        help="us-roadside, us-shade: texts that are no plate painted into each frame")
    parser.add_argument("--holders", action="store_true",
                        help="us-roadside, us-shade: every plate in a dealer's holder (edge.synth.render.add_holder)")
    args = parser.parse_args(argv)
    if not 8 <= args.widths[0] <= args.widths[1] <= MAX_PLATE_WIDTH:
        parser.error(f"--widths must satisfy 8 <= MIN <= MAX <= {MAX_PLATE_WIDTH} (px in a {FRAME_W} px frame), "
                     f"got {args.widths[0]} {args.widths[1]}")
    if args.clutter < 0:
        parser.error(f"--clutter must be 0 or more, got {args.clutter}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.kind == "synthetic":
        rows = write_synthetic(args.out, args.seeds)
    else:
        rows = write_us_roadside(args.out, args.draws, args.real_dir, args.kind == "us-shade", tuple(args.widths),
                                 args.clutter, args.holders)
    with (args.out / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "plate", "x", "y", "w", "h"])
        writer.writerows(rows)
    print(f"{len(rows)} plates in {args.out}")


if __name__ == "__main__":
    main()
