"""tools/tuning_stills.py: labelled frames to tune whole-frame reading on, built from data we may tune on."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.evaluate import load_labels
from edge.synth import render

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def tool():
    pytest.importorskip("torch")  # the tool shares train_recogniser's held-out split
    spec = importlib.util.spec_from_file_location("tuning_stills", ROOT / "tools" / "tuning_stills.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", range(5))
def test_the_plate_sits_in_a_roadside_frame_where_its_label_says(tool, seed) -> None:
    plate, _text, _style = render.random_plate(np.random.default_rng(seed))
    frame, (x, y, w, h) = tool.roadside_still(plate, np.random.default_rng([tool.ROADSIDE_STREAM, seed]))
    assert frame.shape == (tool.FRAME_H, tool.FRAME_W, 3) and frame.dtype == np.uint8
    assert 70 <= w <= 240 and 0 <= x and x + w <= tool.FRAME_W and 0 <= y and y + h <= tool.FRAME_H
    shrunk = cv2.resize(plate, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    placed = frame[y:y + h, x:x + w].astype(np.float32)
    assert np.corrcoef(shrunk.ravel(), placed.ravel())[0, 1] > 0.8  # blur may soften it, nothing more


@pytest.mark.parametrize("seed", range(3))
def test_a_shaded_car_dims_its_plate_in_a_frame_lit_as_usual(tool, seed) -> None:
    plate = render.random_plate(np.random.default_rng(seed))[0]
    lit, box = tool.roadside_still(plate, np.random.default_rng([tool.SHADE_STREAM, seed]))
    shaded, same_box = tool.roadside_still(plate, np.random.default_rng([tool.SHADE_STREAM, seed]), shaded=True)
    x, y, w, h = box
    assert same_box == box
    ratio = shaded[y:y + h, x:x + w].mean() / lit[y:y + h, x:x + w].mean()
    assert tool.SHADE_LIGHT[0] - 0.05 <= ratio <= tool.SHADE_LIGHT[1] + 0.05
    outside = np.ones(lit.shape[:2], bool)
    outside[max(0, y - 4 * h):y + 4 * h, max(0, x - 3 * w):x + 4 * w] = False  # well clear of the car
    assert shaded[outside].mean() == pytest.approx(lit[outside].mean(), rel=0.02)  # the street keeps its light


@pytest.mark.parametrize("seed", range(5))
def test_far_plates_are_drawn_at_the_widths_asked_for(tool, seed) -> None:
    plate = render.random_plate(np.random.default_rng(seed))[0]
    frame, (x, y, w, h) = tool.roadside_still(plate, np.random.default_rng([tool.ROADSIDE_STREAM, seed]),
                                              widths=(50, 60))
    assert 50 <= w <= 60 and x + w <= tool.FRAME_W and y + h <= tool.FRAME_H


def test_the_same_seed_draws_the_same_frame(tool) -> None:
    plate = render.random_plate(np.random.default_rng(1))[0]
    first = tool.roadside_still(plate, np.random.default_rng([tool.ROADSIDE_STREAM, 3, 1]))
    again = tool.roadside_still(plate, np.random.default_rng([tool.ROADSIDE_STREAM, 3, 1]))
    np.testing.assert_array_equal(first[0], again[0])
    assert first[1] == again[1]


def test_synthetic_folder_is_an_eval_dataset(tool, tmp_path) -> None:
    tool.main(["synthetic", str(tmp_path), "--seeds", "1"])
    with (tmp_path / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 24 and all((tmp_path / row["file"]).is_file() for row in rows)
    labels = load_labels(tmp_path)
    assert sum(len(plates) for plates in labels.values()) == len(rows)
    assert all(label.box is not None for plates in labels.values() for label in plates)


@pytest.mark.parametrize("seed", range(5))
def test_the_widest_plates_allowed_still_fit_their_car_in_the_frame(tool, seed) -> None:
    plate = render.random_plate(np.random.default_rng(seed))[0]
    tall = cv2.resize(plate, (plate.shape[1], plate.shape[1] * 2 // 3))  # a US crop cut loose: 1.5:1
    frame, (x, y, w, h) = tool.roadside_still(tall, np.random.default_rng([tool.ROADSIDE_STREAM, seed]),
                                              widths=(tool.MAX_PLATE_WIDTH - 10, tool.MAX_PLATE_WIDTH))
    assert w >= tool.MAX_PLATE_WIDTH - 10 and 0 <= x and x + w <= tool.FRAME_W and 0 <= y and y + h <= tool.FRAME_H


@pytest.mark.parametrize("widths", [["300", "400"], ["50", "40"], ["2", "60"]])
def test_plate_widths_the_frame_cannot_hold_are_refused_by_name(tool, tmp_path, capsys, widths) -> None:
    with pytest.raises(SystemExit) as refused:
        tool.main(["us-roadside", str(tmp_path / "out"), "--widths", *widths])
    assert refused.value.code == 2
    assert "--widths must satisfy" in capsys.readouterr().err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("seed", range(4))
def test_clutter_is_painted_around_the_plate_never_over_it(tool, seed) -> None:
    plate = render.random_plate(np.random.default_rng(seed))[0]
    plain, box = tool.roadside_still(plate, np.random.default_rng([tool.ROADSIDE_STREAM, seed]))
    cluttered, same_box = tool.roadside_still(plate, np.random.default_rng([tool.ROADSIDE_STREAM, seed]), clutter=3,
                                              clutter_rng=np.random.default_rng([tool.CLUTTER_STREAM, seed]))
    x, y, w, h = box
    assert same_box == box  # the plate and its frame are drawn as without clutter
    border = 5  # a blur reaches this far in from text painted next to the plate
    inner = (slice(y + border, y + h - border), slice(x + border, x + w - border))
    np.testing.assert_array_equal(cluttered[inner], plain[inner])
    assert np.abs(cluttered.astype(int) - plain.astype(int)).max() > 100  # text was painted somewhere


def test_clutter_draws_are_repeatable_and_differ_by_seed(tool) -> None:
    plate = render.random_plate(np.random.default_rng(2))[0]

    def draw(clutter_seed: int) -> np.ndarray:
        return tool.roadside_still(plate, np.random.default_rng([tool.ROADSIDE_STREAM, 2]), clutter=2,
                                   clutter_rng=np.random.default_rng([tool.CLUTTER_STREAM, clutter_seed]))[0]

    np.testing.assert_array_equal(draw(1), draw(1))
    assert not np.array_equal(draw(1), draw(2))


def test_clutter_words_are_what_each_kind_paints(tool) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        fleet = tool._clutter_words(rng, "fleet").split(" ")
        assert fleet[-1].isdigit() and 3 <= len(fleet[-1]) <= 4 and all(part.isalpha() for part in fleet[:-1])
        phone = tool._clutter_words(rng, "phone").split(" ")
        assert len(phone) == 2 and all(part.isdigit() for part in phone)
        words = tool._clutter_words(rng, "words").split(" ")
        assert 1 <= len(words) <= 2 and all(word.isalpha() and 3 <= len(word) <= 8 for word in words)


def test_a_negative_clutter_count_is_refused(tool, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        tool.main(["us-roadside", str(tmp_path), "--clutter", "-1"])
    assert "--clutter must be 0 or more, got -1" in capsys.readouterr().err


@pytest.mark.parametrize("seed", range(4))
def test_a_holder_frames_the_plate_where_its_label_says(tool, seed) -> None:
    """With a holder the plate still fills its labelled box (the holder's bands reach over
    its top and bottom edges only), the frame is drawn as without one, and the holder
    changes the pixels just around the plate."""
    plate = render.random_plate(np.random.default_rng(seed))[0]
    bare, box = tool.roadside_still(plate, np.random.default_rng([tool.ROADSIDE_STREAM, seed]))
    held, same_box = tool.roadside_still(plate, np.random.default_rng([tool.ROADSIDE_STREAM, seed]),
                                         holder_rng=np.random.default_rng([tool.HOLDER_STREAM, seed]))
    x, y, w, h = box
    assert same_box == box
    middle = (slice(y + round(0.3 * h), y + round(0.85 * h)), slice(x + 3, x + w - 3))
    assert np.corrcoef(held[middle].astype(np.float32).ravel(), bare[middle].astype(np.float32).ravel())[0, 1] > 0.9
    around = (slice(max(0, y - h // 4), y), slice(x, x + w))
    assert np.abs(held[around].astype(int) - bare[around].astype(int)).mean() > 5
