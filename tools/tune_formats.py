"""Measure the plate-format post-processing's free constants on data we may tune on.

Why a tool: the formatter's class-prior exponent (edge.formats.CLASS_PRIOR_POWER) and its
window priors trade exact reads against rewriting correct characters. They must be chosen
on data the project is allowed to tune on, never on the evaluation photos: here that is the
held-out split of the training-allowed real crops (openalpr-us-platecrops, read with
`us,generic`) and synthetic plates of every style from their own random stream (read with
the countries a unit for that style would configure). The recogniser runs once; each
setting then only re-runs the formatter. Caveat: these crops are tight and the recogniser
learned to skip their synthetic blue strips, so they cannot measure how a real strip or a
localiser's loose margin is cut (see edge.formats).

    .venv/bin/python tools/tune_formats.py --synthetic 1200 --class-power 1 0.6 0.3 0
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from train_recogniser import REAL_DIR, jitter_crop, load_real  # noqa: E402

from edge import formats  # noqa: E402
from edge.config import PlatesConfig, RecogniserConfig  # noqa: E402
from edge.read import PlateRecogniser  # noqa: E402
from edge.synth import render  # noqa: E402

MIN_CONFIDENCE = PlatesConfig().min_confidence
TUNE_STREAM = 2  # training uses stream 0 and validation stream 1
COUNTRIES = {"gb": ["gb", "generic"], "eu": ["eu", "generic"], "pl": ["pl", "eu", "generic"],
             "nl": ["nl", "eu", "generic"], "us": ["us", "generic"], "us_real": ["us", "generic"]}


def synthetic_set(seed: int, count: int) -> list[tuple[np.ndarray, str, str]]:
    """(crop, text, group) for `count` random plates, group = the style's country family."""
    samples = []
    for index in range(count):
        rng = np.random.default_rng([seed, TUNE_STREAM, index])
        image, text, style = render.random_plate(rng)
        seen = render.degrade(image, rng, rng.uniform(0.1, 1.0))
        samples.append((jitter_crop(seen, rng, cut=0.03, pad=0.06, roll=1.5), text, style.split("_")[0]))
    return samples


def exact_rates(reads: list, truths: list[str], groups: list[str], alphabet: str, min_length: int) -> dict[str, float]:
    """Exact whole-plate rate per group under the formatter's current constants; as in the
    product, a read under plates.min_confidence does not count (a split between two
    look-alike readings loses both)."""
    hits: dict[str, list[bool]] = {}
    for raw, truth, group in zip(reads, truths, groups):
        ranked = formats.best_candidates(raw.char_probs, alphabet, COUNTRIES[group], 1, min_length) if raw.text else []
        hits.setdefault(group, []).append(bool(ranked) and ranked[0][0] == truth and ranked[0][3] >= MIN_CONFIDENCE)
    rates = {group: round(float(np.mean(values)), 4) for group, values in sorted(hits.items())}
    rates["all"] = round(float(np.mean([v for values in hits.values() for v in values])), 4)
    return rates


def observed_shapes(train: list[tuple[np.ndarray, str]], min_count: int = 3) -> dict[str, int]:
    """Letter/digit shapes ('LLDDDD') of the training crops' plates seen at least `min_count`
    times, most common first: the observed half of the US layout prior."""
    counts = Counter(formats.plate_shape(text) for _, text in train)
    return {shape: count for shape, count in counts.most_common() if count >= min_count}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--eu-drop-first", type=float, nargs="+",
                        default=[formats.COUNTRY_WINDOW_PRIORS["eu"]["drop_first"]],
                        help="prior that a continental read starts with a character made of the blue strip")
    parser.add_argument("--drop-first", type=float, nargs="+", default=[formats.WINDOW_PRIORS["drop_first"]],
                        help="prior that a read starts with a stray character that is no strip (a border, a bolt): "
                             "any crisp first row, and any first row outside eu")
    parser.add_argument("--class-power", type=float, nargs="+", default=[formats.CLASS_PRIOR_POWER],
                        help="exponent of the layouts' class-mass correction")
    parser.add_argument("--no-digit-factor", type=float, nargs="+", default=[formats.NO_DIGIT_FACTOR],
                        help="factor on digit-free readings of the layouts that need a digit")
    parser.add_argument("--min-length", type=int, default=4)
    parser.add_argument("--us-layouts", action="store_true",
                        help="print the plate shapes of the real training split (edge.formats._US_OBSERVED) and stop")
    args = parser.parse_args(argv)
    if args.us_layouts:
        print(json.dumps(observed_shapes(load_real(REAL_DIR)[0])))
        return

    recogniser = PlateRecogniser(RecogniserConfig(model_dir=ROOT / "models"))
    synthetic = synthetic_set(args.seed, args.synthetic)
    real = load_real(REAL_DIR)[1] if REAL_DIR.is_dir() else []
    crops = [crop for crop, _, _ in synthetic] + [crop for crop, _ in real]
    truths = [text for _, text, _ in synthetic] + [text for _, text in real]
    groups = [group for _, _, group in synthetic] + ["us_real"] * len(real)
    reads = recogniser.recognise(crops)
    grid = itertools.product(args.drop_first, args.eu_drop_first, args.class_power, args.no_digit_factor)
    for drop_first, eu_drop_first, class_power, no_digit_factor in grid:
        formats.CLASS_PRIOR_POWER = class_power
        formats.NO_DIGIT_FACTOR = no_digit_factor
        _set_plain_first_cut(drop_first)
        _set_drop_first(formats.COUNTRY_WINDOW_PRIORS["eu"], eu_drop_first)
        formats._compile.cache_clear()
        rates = exact_rates(reads, truths, groups, recogniser.alphabet, args.min_length)
        print(json.dumps({"drop_first": drop_first, "eu_drop_first": eu_drop_first, "class_power": class_power,
                          "no_digit_factor": no_digit_factor, "exact": rates}))


def _set_plain_first_cut(value: float) -> None:
    """Set the prior of cutting a first character that is not a strip: every country's
    crisp first row and the non-continental countries' unsure one (edge.formats.CRISP_FIRST)."""
    _set_drop_first(formats.WINDOW_PRIORS, value)
    formats.WINDOW_PRIORS["drop_crisp_first"] = value
    formats.COUNTRY_WINDOW_PRIORS["eu"]["drop_crisp_first"] = value


def _set_drop_first(priors: dict[str, float], value: float) -> None:
    """Move prior mass between the whole read and its first-character cut."""
    priors["full"] += priors["drop_first"] - value
    priors["drop_first"] = value


if __name__ == "__main__":
    main()
