"""The shipped plate recogniser: integrity checks, reading accuracy, batching, odd input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import RecogniserConfig
from edge.errors import ModelError
from edge.read import (CROP_PAD, LOOK_NETWORK, PLATE_ASPECT, PLATE_RISE, PLATE_WIDTH_SHARE, US_LOOK_NETWORK,
                       PlateRecogniser, RawRead, crop_pads, glyph_slant, look_network_for, plate_outline, rectify,
                       upright)
from edge.synth.render import degrade, random_plate
from edge.types import Box, PlateCandidate

MODELS = Path(__file__).parents[1] / "models"
DATASETS = Path(__file__).parents[1].parent / "shared/datasets"
MODEL_FILES = ("plate_rec.pth", "plate_rec.yaml", "plate_rec.py", "MANIFEST.json")


@pytest.fixture(scope="module")
def recogniser() -> PlateRecogniser:
    return PlateRecogniser(RecogniserConfig(model_dir=MODELS, threads=2))


def synthetic_plates(count: int, seed: int, strength: float) -> tuple[list[np.ndarray], list[str]]:
    rng = np.random.default_rng(seed)
    crops, texts = [], []
    for _ in range(count):
        image, text, _style = random_plate(rng)
        crops.append(degrade(image, rng, strength))
        texts.append(text)
    return crops, texts


def copy_models(target: Path) -> Path:
    for name in MODEL_FILES:
        shutil.copy(MODELS / name, target / name)
    return target


def test_reads_synthetic_plates(recogniser: PlateRecogniser) -> None:
    crops, texts = synthetic_plates(50, seed=20240601, strength=0.4)
    reads = recogniser.recognise(crops)
    exact = sum(read.text == text for read, text in zip(reads, texts)) / len(texts)
    assert exact >= 0.9, f"only {exact:.0%} of synthetic plates read exactly"


def test_read_carries_per_character_distributions(recogniser: PlateRecogniser) -> None:
    crops, _ = synthetic_plates(4, seed=7, strength=0.2)
    for read in recogniser.recognise(crops):
        assert read.char_probs.shape == (len(read.text), len(recogniser.alphabet))
        np.testing.assert_allclose(read.char_probs.sum(axis=1), 1.0, rtol=1e-4)
        best = "".join(recogniser.alphabet[i] for i in read.char_probs.argmax(axis=1))
        assert best == read.text
        assert 0.0 < read.confidence <= 1.0


@pytest.mark.skipif(not (DATASETS / "openalpr-us-platecrops").is_dir(), reason="shared datasets not present")
def test_reads_held_out_real_crops(recogniser: PlateRecogniser) -> None:
    """The 10% of the training-allowed crops the training tool holds out (file-hash split)."""
    import hashlib

    folder = DATASETS / "openalpr-us-platecrops"
    with (folder / "labels.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle)
                if int(hashlib.sha1(row["file"].encode()).hexdigest(), 16) % 10 == 0]
    reads = recogniser.recognise([cv2.imread(str(folder / row["file"])) for row in rows])
    exact = sum(read.text == row["plate"] for read, row in zip(reads, rows)) / len(rows)
    assert exact >= 0.75, f"only {exact:.0%} of held-out real crops read exactly"


def test_batch_of_one_matches_batch_of_eight(recogniser: PlateRecogniser) -> None:
    crops, _ = synthetic_plates(8, seed=11, strength=0.6)
    together = recogniser.recognise(crops)
    alone = [recogniser.recognise([crop])[0] for crop in crops]
    assert [read.text for read in together] == [read.text for read in alone]
    np.testing.assert_allclose([r.confidence for r in together], [r.confidence for r in alone], rtol=1e-4, atol=1e-6)


def test_onnxruntime_and_torch_read_alike(recogniser: PlateRecogniser) -> None:
    """The default backend is ONNX Runtime (a dependency); it must read what torch reads."""
    on_torch = PlateRecogniser(RecogniserConfig(model_dir=MODELS, threads=2, backend="torch"))
    assert (recogniser.backend, on_torch.backend) == ("onnxruntime", "torch")
    crops, _ = synthetic_plates(12, seed=29, strength=0.6)
    fast, reference = recogniser.recognise(crops), on_torch.recognise(crops)
    assert [read.text for read in fast] == [read.text for read in reference]
    for a, b in zip(fast, reference):
        np.testing.assert_allclose(a.char_probs, b.char_probs, atol=1e-4)


def test_a_network_that_will_not_export_runs_on_torch(tmp_path: Path) -> None:
    """An adaptive pool with a free dimension has no ONNX form: "auto" falls back to torch,
    while a unit that insists on onnxruntime stops with a clear model error. (A new network
    name, because Python caches an imported plate_rec module.)"""
    source = (MODELS / "plate_rec.py").read_text()
    unexportable = source.replace("features.permute(0, 3, 1, 2).mean(dim=3)",
                                  "nn.AdaptiveAvgPool2d((None, 1))(features.permute(0, 3, 1, 2)).squeeze(3)")
    assert unexportable != source
    (tmp_path / "pooled.py").write_text(unexportable)
    shutil.copy(MODELS / "plate_rec.yaml", tmp_path / "pooled.yaml")
    shutil.copy(MODELS / "plate_rec.pth", tmp_path / "pooled.pth")
    entry = json.loads((MODELS / "MANIFEST.json").read_text())["files"]["plate_rec.pth"]
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"files": {"pooled.pth": entry}}))
    config = RecogniserConfig(model_dir=tmp_path, network="pooled", threads=1)
    assert PlateRecogniser(config).backend == "torch"
    with pytest.raises(ModelError, match="onnxruntime unavailable"):
        PlateRecogniser(config.model_copy(update={"backend": "onnxruntime"}))


def test_odd_crops_do_not_crash(recogniser: PlateRecogniser) -> None:
    crops, _ = synthetic_plates(1, seed=3, strength=0.3)
    grey = cv2.cvtColor(crops[0], cv2.COLOR_BGR2GRAY)
    odd = [grey, cv2.cvtColor(crops[0], cv2.COLOR_BGR2BGRA), grey[..., None], crops[0].astype(np.float32),
           np.zeros((0, 0, 3), np.uint8), np.zeros((1, 1), np.uint8), np.full((3, 400, 3), 200, np.uint8),
           np.full((500, 6, 3), 90, np.uint8), crops[0][:12, :30]]
    reads = recogniser.recognise(odd)
    assert len(reads) == len(odd) and all(isinstance(read, RawRead) for read in reads)
    assert reads[0].text == reads[1].text == reads[2].text == reads[3].text
    assert reads[4].text == reads[5].text == "" and reads[4].confidence == 0.0
    assert recogniser.recognise([]) == []


def test_checksum_mismatch_is_a_model_error(tmp_path: Path) -> None:
    weights = copy_models(tmp_path) / "plate_rec.pth"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match MANIFEST"):
        PlateRecogniser(RecogniserConfig(model_dir=tmp_path))


@pytest.mark.parametrize("missing", MODEL_FILES)
def test_missing_file_is_a_model_error(tmp_path: Path, missing: str) -> None:
    (copy_models(tmp_path) / missing).unlink()
    with pytest.raises(ModelError, match="not found"):
        PlateRecogniser(RecogniserConfig(model_dir=tmp_path))


def test_manifest_without_entry_is_a_model_error(tmp_path: Path) -> None:
    (copy_models(tmp_path) / "MANIFEST.json").write_text(json.dumps({"files": {}}))
    with pytest.raises(ModelError, match="no valid entry"):
        PlateRecogniser(RecogniserConfig(model_dir=tmp_path))


def test_rectify_box_adds_margin_and_clips_to_frame() -> None:
    frame = np.arange(100 * 200, dtype=np.uint32).reshape(100, 200).astype(np.uint8)
    inside = rectify(frame, PlateCandidate(Box(50, 40, 100, 20), 0.9), pad=0.1)
    assert inside.shape == (24, 120)
    np.testing.assert_array_equal(inside, frame[38:62, 40:160])
    edge = rectify(frame, PlateCandidate(Box(150, 90, 60, 20), 0.9), pad=0.1)
    assert edge.shape == (12, 56)  # right and bottom margins cut off by the frame edge


def test_a_unit_reading_only_us_plates_cuts_at_the_localisers_outline() -> None:
    """US plates carry their text near their edges, so the outline estimated from the text
    already reaches the plate's edge; units that may see other plates keep the margin."""
    assert crop_pads(["us"]).first == crop_pads(["us", "generic"]).first == 0.0
    for countries in (["generic"], ["gb", "generic"], ["eu", "generic"], ["us", "eu", "generic"], ["pl", "eu"]):
        assert crop_pads(countries).first == CROP_PAD > 0


def test_only_a_unit_reading_only_us_plates_takes_an_end_look() -> None:
    """A European or British plate's band holds a letter about a glyph beyond its row, which
    the end look would read as the plate's (edge.read.crop_pads)."""
    assert crop_pads(["us"]).end_reach == crop_pads(["us", "generic"]).end_reach > 0
    for countries in (["generic"], ["gb", "generic"], ["us", "eu", "generic"], ["nl", "eu"]):
        assert crop_pads(countries).end_reach == 0.0


def test_only_a_unit_reading_only_us_plates_takes_a_plate_look() -> None:
    """The plate drawn around a row is a US plate's shape (edge.read.plate_outline)."""
    assert crop_pads(["us"]).plate_look and crop_pads(["us", "generic"]).plate_look
    for countries in (["generic"], ["gb", "generic"], ["us", "eu", "generic"], ["nl", "eu"]):
        assert not crop_pads(countries).plate_look


def test_only_a_unit_reading_only_us_plates_reads_its_looks_with_the_us_network() -> None:
    """The US looks' network learnt real plates from US ones only, and reads other
    countries' plates worse than the general one (edge.read.look_network_for)."""
    assert look_network_for(["us"]) == look_network_for(["us", "generic"]) == US_LOOK_NETWORK
    for countries in (["generic"], ["gb", "generic"], ["us", "eu", "generic"], ["nl", "eu"]):
        assert look_network_for(countries) == LOOK_NETWORK != US_LOOK_NETWORK
    for network in (LOOK_NETWORK, US_LOOK_NETWORK):
        assert (MODELS / f"{network}.pth").is_file()


@pytest.mark.parametrize("degrees", [0.0, 12.0, -7.0])
def test_the_plate_outline_is_a_us_plate_turned_with_its_row(degrees: float) -> None:
    """Around a row's outline (200 x 40, rolled by `degrees`): PLATE_WIDTH_SHARE of its width,
    PLATE_ASPECT times as wide as high, its sides along the row's, its centre the row's
    raised by PLATE_RISE row heights."""
    turn = np.radians(degrees)
    along, down = np.array([np.cos(turn), np.sin(turn)]), np.array([-np.sin(turn), np.cos(turn)])
    tl = np.array([300.0, 200.0])
    quad = np.array([tl, tl + 200 * along, tl + 200 * along + 40 * down, tl + 40 * down], np.float32)
    corners = plate_outline(quad)
    width, height = np.linalg.norm(corners[1] - corners[0]), np.linalg.norm(corners[3] - corners[0])
    assert width == pytest.approx(PLATE_WIDTH_SHARE * 200, rel=1e-4)
    assert width / height == pytest.approx(PLATE_ASPECT, rel=1e-4)
    assert np.dot(corners[1] - corners[0], along) == pytest.approx(width, rel=1e-4)
    assert np.dot(corners[3] - corners[0], down) == pytest.approx(height, rel=1e-4)
    raised = quad.mean(axis=0) - PLATE_RISE * 40 * down
    assert np.allclose(corners.mean(axis=0), raised, atol=1e-3)


def test_rectify_reaches_along_a_rolled_row_and_not_across_it() -> None:
    """`reach` runs a quad's cut on along its row's line, `reach` quad heights past each end:
    the cut is that much longer and as high, and its middle is the plain cut."""
    frame = np.random.default_rng(3).integers(0, 255, (300, 400), np.uint8)
    frame = cv2.resize(frame, (800, 600), interpolation=cv2.INTER_LINEAR)
    tilt = np.tan(np.radians(10))
    quad = np.array([[300, 300], [500, 300 + 200 * tilt], [500, 340 + 200 * tilt], [300, 340]], np.float32)
    candidate = PlateCandidate(Box(300, 300, 200, 75), 0.9, quad=quad)
    plain, longer = rectify(frame, candidate, 0.0), rectify(frame, candidate, 0.0, reach=0.5)
    height = 40  # the quad's sides, which run straight down
    assert longer.shape[0] == plain.shape[0]
    assert longer.shape[1] - plain.shape[1] == 2 * 0.5 * height
    inner = longer[:, int(round(0.5 * height)):][:, :plain.shape[1]]
    assert np.abs(inner.astype(int) - plain.astype(int)).mean() < 1
    assert rectify(frame, PlateCandidate(Box(300, 300, 200, 40), 0.9), 0.0, reach=0.5).shape == (40, 200)


@pytest.mark.parametrize("countries", [["us"], ["us", "generic"], ["gb", "generic"], ["pl", "eu", "generic"]])
def test_each_look_is_a_little_wider_than_the_one_before(countries: list[str]) -> None:
    """A tighter later cut would drop edge glyphs; much wider shrinks thin glyphs into their
    neighbours (edge.read.crop_pads)."""
    pads = crop_pads(countries)
    assert pads.first < pads.second <= pads.first + 0.1
    assert pads.second < pads.third <= pads.second + 0.1


def test_rectify_quad_unwarps_a_skewed_plate(recogniser: PlateRecogniser) -> None:
    rng = np.random.default_rng(5)
    plate, text, _style = random_plate(rng)
    h, w = plate.shape[:2]
    quad = np.array([[120, 90], [120 + w * 0.8, 60], [120 + w * 0.8, 60 + h * 0.95], [120, 90 + h * 0.8]], np.float32)
    matrix = cv2.getPerspectiveTransform(np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32), quad)
    frame = cv2.warpPerspective(plate, matrix, (720, 400), borderValue=(60, 70, 80))
    crop = rectify(frame, PlateCandidate(Box(120, 60, int(w * 0.8), int(h * 0.95) + 30), 0.9, quad=quad), pad=0.05)
    assert abs(crop.shape[1] / crop.shape[0] - (w * 0.8) / (h * 0.875)) < 0.1
    assert recogniser.recognise([crop])[0].text == text


def sheared(image: np.ndarray, slant: float) -> np.ndarray:
    """`image` with each row shifted by `slant` x its offset from the middle row."""
    h, w = image.shape[:2]
    matrix = np.float32([[1, slant, -slant * (h - 1) / 2], [0, 1, 0]])
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


def rolled_plate_frame(plate: np.ndarray, degrees: float) -> tuple[np.ndarray, PlateCandidate]:
    """A frame holding `plate` rolled by `degrees`, and the candidate the localiser makes of
    it: a quad along the plate's text line with vertical sides."""
    h, w = plate.shape[:2]
    x0, y0 = 200, 150
    frame = np.full((400, 720, 3), (60, 70, 80), np.uint8)
    frame[y0:y0 + h, x0:x0 + w] = plate
    roll = cv2.getRotationMatrix2D((x0 + w / 2, y0 + h / 2), degrees, 1.0)
    frame = cv2.warpAffine(frame, roll, (720, 400), borderValue=(60, 70, 80))
    corners = np.array([[x0, y0, 1], [x0 + w, y0, 1], [x0 + w, y0 + h, 1], [x0, y0 + h, 1]], np.float32) @ roll.T
    left, right = corners[[0, 3], 0].mean(), corners[[1, 2], 0].mean()
    slope = (corners[1, 1] - corners[0, 1]) / (corners[1, 0] - corners[0, 0])
    cx, cy = corners.mean(axis=0)
    half = h / 2 / np.cos(np.radians(degrees))
    y_left, y_right = cy + slope * (left - cx), cy + slope * (right - cx)
    quad = np.array([[left, y_left - half], [right, y_right - half], [right, y_right + half], [left, y_left + half]],
                    np.float32)
    box = Box(int(left), int(min(y_left, y_right) - half), int(right - left), int(2 * half + abs(y_right - y_left)))
    return frame, PlateCandidate(box, 0.9, quad=quad)


def test_glyph_slant_measures_how_far_glyphs_lean() -> None:
    """Level plates are left alone; leaning ones are mostly measured, never the wrong way
    (the estimate is cautious by design: SLANT_GAIN)."""
    measured = 0
    for seed in range(12):
        plate, _text, _style = random_plate(np.random.default_rng(seed))
        assert glyph_slant(plate) == 0.0
        for lean in (0.15, -0.15):
            slant = glyph_slant(sheared(plate, lean))
            assert slant * lean <= 0
            measured += slant == pytest.approx(-lean, abs=0.051)
    assert measured >= 18  # of 24


@pytest.mark.parametrize("seed", [0, 1, 5, 6, 8])  # PL, EU, US, NL, GB plates whose lean is measured
def test_upright_stands_a_rolled_plates_glyphs_up(recogniser: PlateRecogniser, seed: int) -> None:
    """A rolled plate warped level along its text line leans by the roll; `upright` shears it
    back in the same warp, and the later looks reuse the slant through `rectify`."""
    plate, text, _style = random_plate(np.random.default_rng(seed))
    frame, candidate = rolled_plate_frame(plate, 8.0)
    leaning = rectify(frame, candidate, 0.05)
    assert glyph_slant(leaning) < -0.05
    crop, slant = upright(frame, candidate, 0.05)
    assert slant == glyph_slant(leaning)
    assert glyph_slant(crop) == 0.0
    np.testing.assert_array_equal(crop, rectify(frame, candidate, 0.05, slant))
    assert recogniser.recognise([crop])[0].text == text


def test_upright_leaves_a_level_plate_as_cut(recogniser: PlateRecogniser) -> None:
    plate, _text, _style = random_plate(np.random.default_rng(3))
    frame, candidate = rolled_plate_frame(plate, 0.0)
    crop, slant = upright(frame, candidate, 0.05)
    assert slant == 0.0
    np.testing.assert_array_equal(crop, rectify(frame, candidate, 0.05))


def test_rectify_shears_a_box_cut_by_its_slant() -> None:
    frame = np.zeros((100, 200), np.uint8)
    frame[20:80, 98:102] = 255  # an upright bar
    leaning = rectify(frame, PlateCandidate(Box(50, 20, 100, 60), 0.9), pad=0.0, slant=0.2)
    columns = [int(np.flatnonzero(leaning[row] > 127).mean()) for row in (5, 55)]
    assert columns[1] - columns[0] == pytest.approx(10, abs=1)  # 0.2 columns per row over 50 rows
