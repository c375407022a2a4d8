"""Read the characters on plate crops with the fine-tuned easyocr recogniser.

The network (models/plate_rec.*) is loaded through easyocr's custom-model mechanism so
the shipped files are a standard easyocr recogniser, but preprocessing and CTC decoding
are done here: the training tool imports `preprocess` from this module, so what the
network sees at run time is exactly what it was trained on, and the decoder keeps the
per-character probabilities that multi-frame voting needs (easyocr's API drops them).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
import yaml

from edge.config import RecogniserConfig, stage_threads
from edge.errors import ModelError
from edge.types import PlateCandidate, quad_sides

log = logging.getLogger(__name__)

MIN_CROP_SIDE = 4  # pixels; anything smaller carries no readable character


@dataclass(slots=True)
class RawRead:
    """Greedy CTC reading of one crop, before plate-format post-processing.

    `char_probs` has one row per character of `text`: the distribution over the
    recogniser's alphabet (blank excluded, rows sum to 1) at the frame that emitted it.
    `confidence` is the product of the emitted characters' probabilities, an estimate of
    the chance that the whole string is right rather than an average that hides one bad
    character.
    """

    text: str
    confidence: float
    char_probs: np.ndarray


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_model(model_dir: Path, network: str) -> dict:
    """Check the weights against MANIFEST.json before torch unpickles them.

    Returns the manifest entry. A truncated copy or a swapped file must stop start-up with
    one clear line, not load silently and misread plates.
    """
    weights = model_dir / f"{network}.pth"
    manifest_path = model_dir / "MANIFEST.json"
    for path in (weights, manifest_path, model_dir / f"{network}.yaml", model_dir / f"{network}.py"):
        if not path.is_file():
            raise ModelError(f"recogniser model file not found: {path}")
    try:
        entry = json.loads(manifest_path.read_text())["files"][weights.name]
    except (ValueError, KeyError, TypeError):
        raise ModelError(f"{manifest_path}: no valid entry for {weights.name}") from None
    actual = file_sha256(weights)
    if actual != entry.get("sha256"):
        raise ModelError(f"{weights}: sha256 {actual[:12]}... does not match MANIFEST.json "
                         f"({str(entry.get('sha256'))[:12]}...): file is corrupt or was replaced")
    return entry


def load_spec(model_dir: Path, network: str) -> tuple[int, int, str]:
    """Input height, width and alphabet from the network's easyocr YAML."""
    spec = yaml.safe_load((model_dir / f"{network}.yaml").read_text())
    return int(spec["imgH"]), int(spec["imgW"]), str(spec["character_list"])


def _grey(crop: np.ndarray) -> np.ndarray:
    """8-bit single-channel view of a BGR, BGRA or grey crop."""
    image = crop if crop.dtype == np.uint8 else np.clip(crop, 0, 255).astype(np.uint8)
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = image[:, :, 0] if image.shape[2] == 1 else cv2.cvtColor(image, code)
    return image


def _grey_resized(crop: np.ndarray, height: int, width: int) -> np.ndarray:
    image = _grey(crop)
    shrink = image.shape[1] > width and image.shape[0] > height
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def preprocess(crops: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Crops (BGR or grey, any size) -> float32 batch (N, 1, height, width) in about [-1, 1].

    Every crop is stretched to the same fixed size rather than padded: plates are 2:1 (US)
    to 4.7:1 (EU), so stretching gives short US plates as many CTC frames as long EU ones,
    and a crop's result cannot depend on which other crops share its batch. Contrast is
    stretched per crop (2nd-98th percentile) so dim, hazy and IR crops look alike.
    """
    grey = np.stack([_grey_resized(crop, height, width) for crop in crops]).astype(np.float32)
    low = np.percentile(grey, 2, axis=(1, 2), keepdims=True)
    high = np.percentile(grey, 98, axis=(1, 2), keepdims=True)
    scaled = (grey - low) / np.maximum(high - low, 32.0)
    return (np.clip(scaled, -0.25, 1.25) * 2.0 - 1.0)[:, None]


def ctc_greedy(probs: np.ndarray, characters: list[str]) -> RawRead:
    """Greedy CTC decode of one crop's (frames, classes) softmax; class 0 is the blank.

    The best class per frame is taken, then repeats and blanks are dropped; each kept
    character remembers its frame's distribution for `char_probs`.
    """
    best = probs.argmax(axis=1)
    emitted = np.flatnonzero((best != 0) & (best != np.concatenate(([0], best[:-1]))))
    classes = best[emitted]
    chars = probs[emitted, 1:]
    char_probs = chars / np.maximum(chars.sum(axis=1, keepdims=True), 1e-12)
    confidence = float(np.prod(probs[emitted, classes])) if len(classes) else 0.0
    return RawRead("".join(characters[c] for c in classes), confidence, char_probs.astype(np.float32))


CROP_PAD = 0.08  # rectify's margin around the localiser's plate outline, x its size per side


class CropPads(NamedTuple):
    """The margins of a unit's looks at a plate: `first` for every candidate, `second` for
    the candidates whose first reading could be a plate, `third` for those the two looks
    leave unsure (edge.pipeline.PlateReader). `end_reach`: how far the end look's cut runs
    on past each end of a row, in outline heights; 0 for no end look. `plate_look`: whether
    rows read unsurely are read again cut as wide as the plate around them (`plate_outline`)."""

    first: float
    second: float
    third: float
    end_reach: float = 0.0
    plate_look: bool = False


THIRD_LOOK_PAD = 0.16  # see crop_pads
END_LOOK_REACH = 0.35  # see crop_pads
UNIT_PADS = CropPads(CROP_PAD, CROP_PAD + 0.04, THIRD_LOOK_PAD)
# US plates: first at the outline itself, and an end look (see crop_pads)
US_UNIT_PADS = CropPads(0.0, 0.08, THIRD_LOOK_PAD, END_LOOK_REACH, plate_look=True)


def crop_pads(countries: Sequence[str]) -> CropPads:
    """The margins `rectify` adds around a candidate for a unit reading these countries' plates.

    First look: the localiser estimates a plate's outline from its text (plus _SIDE_MARGIN
    glyph heights each side), which suits European plates. US plates carry their text close
    to their edges: set in a plain background, the 188 training crops tried come out with an
    outline 7% wider than the plate (median), so the usual margin adds car body beside the
    plate, a framing the recogniser never saw in training (plates cut at their edges, give or
    take a few percent). The 73 held-out crops, set in a car and cut by the localiser in 17
    random draws (1,229 reads), read 892 exactly at the outline against 860 with the margin,
    so a unit that reads only US plates cuts at the outline itself.

    Second look: a little wider, so the glyphs fall on other columns of the network's input
    and a misread rarely repeats; a cut tighter than the first drops edge glyphs (synthetic
    GB/EU stills from tools/tuning_stills.py: 150/192 exact with a second look at the
    outline, 166 with wider ones). The held-out US crops set in roadside frames (the same
    tool) read best with a second look 0.08 wider (of 0.04, 0.08, 0.12: 219, 219, 216 exact
    at 0.13, 0.10, 0.10 false reads per image at a 0.5 threshold). On the synthetic stills
    0.04 and 0.08 wider read the same (166; 0.07 and 0.05 false reads). The smaller is kept
    for other units: a long continental plate squeezed into the network's 160 columns has
    the narrowest glyphs, and a wider cut narrows them further; on the evaluation photos,
    the UK and PL sets each lost a plate at 0.08 to a thin 1 merged into its neighbour or a
    dropped glyph.

    Third look: wider again, the same for every unit. Of 0.12, 0.16 and 0.20 on the US
    roadside tuning stills (at a 0.4 threshold): 230, 232 and 230 exact at 0.13, 0.13 and
    0.11 false reads per image; on the synthetic stills 168, 169 and 169 exact at 0.08,
    0.07 and 0.07.

    End look (edge.pipeline.PlateReader._longer_row): the first look's cut, run on by
    END_LOOK_REACH outline heights (about a glyph and its space) past each end of the row.
    On the US roadside tuning stills a reach of 0.25 lost the distant plates' gain that 0.35
    and 0.5 made alike. Only US units look so: a European or British plate's band holds a
    letter (NL, GB, the country code) about a glyph beyond its row, and the end look read it
    as the plate's (the Dutch clips' I7859AM read LI7859AM, 19 -> 18 vehicles).

    Plate look (edge.pipeline.PlateReader._plate_look, `plate_outline`): US units only, since
    the plate-wide cut drawn around a row follows a US plate's shape, and the plate-framed
    crops the recogniser learnt real plates from are US ones.
    """
    return US_UNIT_PADS if reads_us_plates_only(countries) else UNIT_PADS


def reads_us_plates_only(countries: Sequence[str]) -> bool:
    """Whether a unit set to these countries reads US plates and no others: such a unit cuts,
    looks at and reads its crops the US way (`crop_pads`, `look_network_for`)."""
    return "us" in countries and set(countries) <= {"us", "generic"}


US_LOOK_NETWORK = "plate_rec_look_us"
LOOK_NETWORK = "plate_rec_look"


def look_network_for(countries: Sequence[str]) -> str:
    """The shipped network that reads the later looks (`recogniser.look_network: auto`).

    US units: `plate_rec_look_us`, the looks' network fine-tuned further on real US plates
    cut from cars by our own localiser (`--real-framed-share`), as a US unit cuts them. On
    data we may tune on (the US roadside, distant and shaded tuning stills) it reads more
    plates at fewer false reads than `plate_rec_look`. Other units' sets read worse with it
    (the EU photos' false reads rise, the PL close-ups and synthetic stills lose plates),
    since the only real plates it learnt from are US ones: docs/reading.md, "A looks'
    network for US units"."""
    return US_LOOK_NETWORK if reads_us_plates_only(countries) else LOOK_NETWORK


def rectify(image: np.ndarray, candidate: PlateCandidate, pad: float = CROP_PAD, slant: float = 0.0,
            reach: float = 0.0) -> np.ndarray:
    """Cut the candidate out of the frame with a margin of `pad` x its size on each side.

    With a `quad` the plate is warped to a front-on rectangle (skewed plates read better
    when their rows are horizontal); otherwise the axis-aligned box is cropped. `slant`
    (see `glyph_slant`) shears the cut so leaning glyphs stand upright, in the same warp.
    `reach` lengthens a quad's cut along its row by that many quad heights at each end
    (the end look of edge.pipeline.PlateReader); a box has no row to follow and ignores it.
    """
    if candidate.quad is not None:
        return _warp_quad(image, np.asarray(candidate.quad, np.float32).reshape(4, 2), pad, slant, reach)
    box = candidate.box
    mx, my = int(round(box.w * pad)), int(round(box.h * pad))
    x0, y0 = max(0, box.x - mx), max(0, box.y - my)
    x1 = min(image.shape[1], box.x + box.w + mx)
    y1 = min(image.shape[0], box.y + box.h + my)
    crop = image[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)].copy()
    if not slant:
        return crop
    return cv2.warpAffine(crop, _shear(slant, crop.shape[0])[:2], (crop.shape[1], crop.shape[0]),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def upright(image: np.ndarray, candidate: PlateCandidate, pad: float) -> tuple[np.ndarray, float]:
    """`rectify`, then once more sheared by the crop's `glyph_slant` where its glyphs lean:
    (the crop, its slant). The slant is the candidate's, so later looks reuse it."""
    crop = rectify(image, candidate, pad)
    slant = glyph_slant(crop) if min(crop.shape[:2]) >= MIN_CROP_SIDE else 0.0
    return (rectify(image, candidate, pad, slant) if slant else crop), slant


SLANTS = np.linspace(-0.25, 0.25, 11)  # shears tried (columns per row): up to 14 degrees of lean
# A shear must line the strokes up this much better than none to be taken. The clutter roadside
# tuning stills rolled 6 degrees either way read 214 and 223 exact at 0.1 (211 and 221 with
# no shear, 216 and 222 at 0.05), level ones 240 at both; 0.1 shears half as many level
# photos' crops (14 of 217 against 26), so a level plate is least often disturbed.
SLANT_GAIN = 0.1
_SLANT_ROWS = 24  # the text band's height while its slant is measured
_SLANT_BAND = (0.25, 0.75)  # the crop's rows that hold the text (the quad is 1.75 text heights tall)
_SLANT_PAD = int(np.ceil(SLANTS.max() * _SLANT_ROWS / 2)) + 1
_SLANT_SHIFTS = np.rint(SLANTS[:, None] * (np.arange(_SLANT_ROWS) - (_SLANT_ROWS - 1) / 2)).astype(np.intp)


def glyph_slant(crop: np.ndarray) -> float:
    """The horizontal shear (columns per row, about the crop's middle row) that stands the
    crop's glyphs upright; 0 unless one clearly does.

    Why: the localiser's quads keep vertical sides, which is right for a plate seen
    obliquely (its verticals stay vertical in the picture). A plate rolled in the picture
    (a camera mounted askew, a road's camber, a plate hung crooked) comes out of that warp
    with its text line level but its glyphs leaning by the roll, and the recogniser,
    trained on upright glyphs, misreads them: the US evaluation photos turned 8 degrees
    either way read 141 and 149 of 222 plates exact against 178 level, 152 and 161 with
    the upright cut (docs/history.md, tools/roll_stills.py). The slant is measured on the
    crop's middle rows, its text band: a state's name in script above the number leans even
    on a level plate.

    How: upright strokes pile their horizontal gradient into few columns. Each trial
    shear's column profile of |d/dx| (one gather over all trials at once) is scored by its
    peakiness (sum of squares over square of sum); the best wins if it beats no shear by
    SLANT_GAIN. Round glyphs and noise favour no shear, so level plates keep their crop.
    """
    top, bottom = (int(crop.shape[0] * share) for share in _SLANT_BAND)
    grey = _grey(crop[top:max(bottom, top + 1)])
    width = max(8, int(round(grey.shape[1] * _SLANT_ROWS / grey.shape[0])))
    small = cv2.resize(grey, (width, _SLANT_ROWS), interpolation=cv2.INTER_AREA)
    edges = np.abs(cv2.Sobel(small, cv2.CV_16S, 1, 0, ksize=3)).astype(np.float32)
    edges[edges < edges.mean()] = 0
    padded = np.zeros((_SLANT_ROWS, width + 2 * _SLANT_PAD), np.float32)
    padded[:, _SLANT_PAD:_SLANT_PAD + width] = edges
    columns = _SLANT_PAD + np.arange(width)[None, None, :] - _SLANT_SHIFTS[:, :, None]
    profiles = padded[np.arange(_SLANT_ROWS)[None, :, None], columns].sum(axis=1)
    totals = profiles.sum(axis=1)
    level = len(SLANTS) // 2
    if totals[level] <= 0:
        return 0.0
    peakiness = (profiles * profiles).sum(axis=1) / np.maximum(totals * totals, 1e-12)
    best = int(np.argmax(peakiness))
    return float(SLANTS[best]) if peakiness[best] > peakiness[level] * (1 + SLANT_GAIN) else 0.0


def _shear(slant: float, height: int) -> np.ndarray:
    """3x3 map of a crop's pixels that shifts each row by `slant` x its offset from the middle row."""
    return np.array([[1.0, slant, -slant * (height - 1) / 2], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def _warp_quad(image: np.ndarray, quad: np.ndarray, pad: float, slant: float = 0.0, reach: float = 0.0) -> np.ndarray:
    tl, tr, br, bl = quad
    across, down = quad_sides(quad)
    height = np.linalg.norm(down)
    along = reach * height * across / max(float(np.linalg.norm(across)), 1e-6)
    out_w = max(2, int(round(np.linalg.norm(across) * (1 + 2 * pad) + 2 * reach * height)))
    out_h = max(2, int(round(height * (1 + 2 * pad))))
    grown = np.array([tl - pad * (across + down) - along, tr + pad * (across - down) + along,
                      br + pad * (across + down) + along, bl - pad * (across - down) - along], np.float32)
    target = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    matrix = cv2.getPerspectiveTransform(grown, target)
    if slant:
        matrix = _shear(slant, out_h) @ matrix
    return cv2.warpPerspective(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


# The plate-wide cut around a US text row (edge.pipeline.PlateReader._plate_look): as wide
# as this share of the row's outline, the tuning stills' median plate width (tools/tuning_stills.py,
# the training-allowed crops set in frames and found by the localiser), PLATE_ASPECT times as wide
# as high, centred on the row and raised by PLATE_RISE outline heights (the row sits a little
# low on most plates). See plate_outline for how the aspect was set.
PLATE_WIDTH_SHARE = 0.92
PLATE_ASPECT = 2.75
PLATE_RISE = 0.02


def plate_outline(quad: np.ndarray) -> np.ndarray:
    """The corners (tl, tr, br, bl) of the plate-wide cut around a US text row's outline
    `quad`: PLATE_WIDTH_SHARE of the row's width, PLATE_ASPECT times as wide as high, turned
    with the row and centred on it (raised by PLATE_RISE row heights).

    Why: the recogniser learnt real plates from crops cut at the plate's edges (the
    training-allowed US crops), and reads some plates surely at about that framing that it
    reads unsurely or wrongly at their row's outline. The cut spans the plate's width but
    less than its height (a whole US plate is 2:1): the state's name and slogan above and
    below the row are left out. The aspect was set on the US tuning stills (exact at 0.4,
    clutter roadside / distant / shaded, false reads per image in brackets): 2.0 (the whole
    plate) 255/248/252 (0.421/0.086/0.065), 2.2 257/249/252, 2.4 256/249/254, 2.6 260/250/254,
    2.75 260/250/253 (0.421/0.075/0.072), 2.9 260/248/253, 3.3 258/248/253. Widths of 0.85 and
    1.05 (at 2.0) and 0.85 and 1.0 (at 2.75) read fewer.
    """
    quad = np.asarray(quad, np.float32).reshape(4, 2)
    across, down = quad_sides(quad)
    half_across = across * (PLATE_WIDTH_SHARE / 2)
    plate_height = PLATE_WIDTH_SHARE * float(np.linalg.norm(across)) / PLATE_ASPECT
    half_down = down * (plate_height / 2 / max(float(np.linalg.norm(down)), 1e-6))
    centre = quad.mean(axis=0) - PLATE_RISE * down
    return np.array([centre - half_across - half_down, centre + half_across - half_down,
                     centre + half_across + half_down, centre - half_across + half_down], np.float32)


class PlateRecogniser:
    """The plate-text network, verified against its manifest and loaded once."""

    def __init__(self, config: RecogniserConfig, streams: int = 1) -> None:
        model_dir = Path(config.model_dir)
        self.manifest = verify_model(model_dir, config.network)
        self.height, self.width, _ = load_spec(model_dir, config.network)
        self.batch_size = config.batch_size
        threads = stage_threads(config.threads, streams)
        torch.set_num_threads(threads)
        self._model, self._characters = _load_easyocr(model_dir, config.network)
        self.alphabet = "".join(self._characters[1:])
        self.backend, self._forward = _inference_backend(config.backend, self._model, self.height, self.width, threads)
        log.info("recogniser %s loaded from %s, runs on %s with %d threads", config.network, model_dir,
                 self.backend, threads)

    def recognise(self, crops: list[np.ndarray]) -> list[RawRead]:
        """Read every crop of a frame; one forward pass per `batch_size` crops."""
        usable = [i for i, crop in enumerate(crops) if min(crop.shape[:2]) >= MIN_CROP_SIDE]
        reads = [RawRead("", 0.0, np.zeros((0, len(self.alphabet)), np.float32)) for _ in crops]
        for start in range(0, len(usable), self.batch_size):
            chunk = usable[start:start + self.batch_size]
            probs = self._forward(preprocess([crops[i] for i in chunk], self.height, self.width))
            for index, row in zip(chunk, probs):
                reads[index] = ctc_greedy(row, self._characters)
        return reads


Forward = Callable[[np.ndarray], np.ndarray]


def _inference_backend(choice: str, model: torch.nn.Module, height: int, width: int,
                       threads: int) -> tuple[str, Forward]:
    """The function that turns a preprocessed batch into per-column class probabilities.

    easyocr loads the network; ONNX Runtime, where installed, then runs it: the same
    weights and the same probabilities (to 1e-5), but about 1.4x faster a crop on two
    CPU cores (docs/history.md, "recogniser backend"), and the network is most of a
    frame's cost. "auto" falls back to torch with one log line when onnxruntime is missing
    or the network will not export; "onnxruntime" makes either a start-up error instead.
    """
    if choice != "torch":
        try:
            return "onnxruntime", _onnx_forward(model, height, width, threads)
        except Exception as exc:  # any export or runtime failure means "use torch"
            if choice == "onnxruntime":
                raise ModelError(f"recogniser backend onnxruntime unavailable: {exc}") from None
            log.info("recogniser runs on torch (onnxruntime unavailable: %s)", str(exc).splitlines()[0])
    return "torch", _torch_forward(model)


def _torch_forward(model: torch.nn.Module) -> Forward:
    probabilities = _WithSoftmax(model).eval()

    def forward(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return probabilities(torch.from_numpy(batch)).numpy()
    return forward


def _onnx_forward(model: torch.nn.Module, height: int, width: int, threads: int) -> Forward:
    """Export the loaded network (softmax included) to ONNX in memory and open it in ONNX
    Runtime. Its threads do not spin between calls: spinning would take the cores the
    localiser and the other cameras need."""
    import onnxruntime

    exported = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on LSTMs and batch sizes
        torch.onnx.export(_WithSoftmax(model).eval(), (torch.zeros(2, 1, height, width),), exported,
                          input_names=["crops"], output_names=["probs"], opset_version=17, dynamo=False,
                          dynamic_axes={"crops": {0: "batch"}, "probs": {0: "batch"}})
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(exported.getvalue(), options, providers=["CPUExecutionProvider"])

    def forward(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {"crops": batch})[0]
    return forward


class _WithSoftmax(torch.nn.Module):
    """The recogniser with its softmax, so the exported graph returns probabilities."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(crops).float(), dim=2)


def _load_easyocr(model_dir: Path, network: str) -> tuple[torch.nn.Module, list[str]]:
    """Build the network the way easyocr does for a custom `recog_network`, offline."""
    import easyocr  # heavy import (torchvision, scipy); only when a recogniser is built

    try:
        reader = easyocr.Reader(["en"], gpu=False, recog_network=network, detector=False,
                                download_enabled=False, model_storage_directory=str(model_dir),
                                user_network_directory=str(model_dir), verbose=False, quantize=False)
    except (OSError, RuntimeError, KeyError, ValueError, ImportError) as exc:
        raise ModelError(f"{model_dir / (network + '.pth')}: cannot load recogniser: {exc}") from None
    return reader.recognizer.eval(), list(reader.converter.character)
