"""Scoring of `edge eval` on photos: the operating curve over plates.min_confidence."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.errors import ConfigError
from edge.evaluate import (OPERATING_POINTS, Label, StillScore, clip_problems, evaluate_clips, evaluate_stills,
                           false_read_kind, load_labels, miss_kind, write_clip_report, write_report)
from edge.pipeline import SECOND_LOOK_FLOOR, FrameReading, SetAside
from edge.types import Box, Detection, PlateCandidate, PlateRead


def score_of(images: list[tuple[list[str], list[tuple[str, float]]]]) -> StillScore:
    score = StillScore(images=len(images))
    score.scored_reads = images
    return score


def test_each_threshold_keeps_only_the_reads_at_or_above_it() -> None:
    score = score_of([
        (["AB12CDE"], [("AB12CDE", 0.95), ("SALE", 0.45)]),   # right and sure; a sign, unsure
        (["KX07ABC"], [("KX07ABO", 0.62)]),                  # wrong, middling
        (["LM65XYZ", "CD34EFG"], [("LM65XYZ", 0.35), ("CD34EFG", 0.8)]),
    ])
    assert score.at_min_confidence(0.3) == {"min_confidence": 0.3, "exact": 3, "false_reads_per_image": 0.667}
    assert score.at_min_confidence(0.5) == {"min_confidence": 0.5, "exact": 2, "false_reads_per_image": 0.333}
    assert score.at_min_confidence(0.9) == {"min_confidence": 0.9, "exact": 1, "false_reads_per_image": 0.0}


def test_summary_lists_every_operating_point_in_order() -> None:
    summary = score_of([(["AB12CDE"], [("AB12CDE", 0.75)])]).summary("tiny")
    points = summary["by_min_confidence"]
    assert [p["min_confidence"] for p in points] == list(OPERATING_POINTS)
    assert [p["exact"] for p in points] == [1 if t <= 0.75 else 0 for t in OPERATING_POINTS]


def test_every_scored_threshold_sees_the_reads_a_unit_set_to_it_would_report() -> None:
    """Reads under the second look's floor keep their one-look confidence; the curve must
    start at or above it, or its lowest points would mix one-look and two-look reads."""
    assert min(OPERATING_POINTS) >= SECOND_LOOK_FLOOR


def test_calibration_bins_reads_by_confidence_and_weighs_each_bins_gap() -> None:
    score = score_of([
        (["AB12CDE"], [("AB12CDE", 0.95), ("SALE", 0.45), ("NOISE", 0.1)]),
        (["KX07ABC"], [("KX07ABO", 0.92), ("KX07ABC", 0.41)]),
        (["LM65XYZ"], [("LM65XYZ", 1.0)]),
    ])
    calibration = score.calibration()
    assert calibration["reads"] == 5  # the read under the lowest operating point is no report
    assert calibration["bins"] == [
        {"from": 0.4, "to": 0.5, "reads": 2, "right": 0.5, "mean_confidence": 0.43},
        {"from": 0.9, "to": 1.0, "reads": 3, "right": 0.667, "mean_confidence": 0.957},
    ]
    assert calibration["expected_error"] == round((2 * abs(0.5 - 0.43) + 3 * abs(2 / 3 - 2.87 / 3)) / 5, 3)


def test_calibration_of_a_run_without_reads_is_empty_not_an_error() -> None:
    assert score_of([(["AB12CDE"], [])]).calibration() == {"reads": 0, "expected_error": None, "bins": []}
    assert score_of([(["AB12CDE"], [])]).summary("empty")["calibration"]["reads"] == 0


def _reading(*found: tuple[Box, str | None, float], aside=()) -> FrameReading:
    """A frame's reading: a candidate per (box, read text or None, confidence), and the reads
    set aside, each (box, text, confidence, rule)."""
    candidates = [PlateCandidate(box, 1.0) for box, _, _ in found]
    detections = [Detection(box, 1.0, PlateRead(text, confidence), 0, 0.0)
                  for box, text, confidence in found if text is not None]
    set_aside = [SetAside(box, PlateRead(text, confidence), rule) for box, text, confidence, rule in aside]
    return FrameReading(detections, candidates, set_aside=set_aside)


PLATE = Box(100, 100, 80, 20)
ELSEWHERE = Box(400, 300, 80, 20)


@pytest.mark.parametrize(("reading", "kind", "detail"), [
    (_reading((ELSEWHERE, "SALE1", 0.9)), "not found", ""),
    (_reading((PLATE, None, 0.0), (ELSEWHERE, "SALE1", 0.9)), "no read", ""),
    (_reading((PLATE, "AB12CDE", 0.31)), "under threshold", "AB12CDE at 0.31"),
    (_reading((PLATE, "AB12CDF", 0.93), (ELSEWHERE, "SALE1", 0.99)), "misread", "AB12CDF at 0.93"),
    (_reading((PLATE, None, 0.0), aside=[(PLATE, "AB12CDE", 0.6, "unframed text"),
                                         (PLATE, "AB12CDE", 0.9, "small print"),
                                         (ELSEWHERE, "SALE1", 0.99, "scene text")]),
     "set aside", "AB12CDE at 0.90 as small print"),
])
def test_a_miss_is_put_down_to_the_stage_that_lost_the_plate(reading, kind, detail) -> None:
    assert miss_kind(Label("AB12CDE", PLATE), reading) == (kind, detail)


def test_without_a_box_any_wrong_read_is_a_misread() -> None:
    assert miss_kind(Label("AB12CDE", None), _reading((ELSEWHERE, "SALE1", 0.9))) == ("misread", "SALE1 at 0.90")
    assert miss_kind(Label("AB12CDE", None), _reading((ELSEWHERE, None, 0.0))) == ("no read", "")


def test_the_summary_counts_misses_by_kind() -> None:
    score = score_of([(["AB12CDE"], [])])
    score.misses = [{"kind": "not found"}, {"kind": "misread"}, {"kind": "misread"}]
    assert score.summary("s")["misses_by_kind"] == {"not found": 1, "no read": 0, "set aside": 0, "under threshold": 0,
                                                    "misread": 2}


def test_the_summary_counts_false_reads_by_where_they_lie() -> None:
    """Over a labelled plate's box a false read is a misread, away from every box it is
    elsewhere, and in a photo labelled without boxes it cannot be told."""
    score = score_of([(["AB12CDE"], [])])
    score.false_reads = [{"box": PLATE, "labelled": [PLATE]}, {"box": ELSEWHERE, "labelled": [PLATE]},
                         {"box": ELSEWHERE, "labelled": [PLATE, ELSEWHERE]}, {"box": PLATE, "labelled": []}]
    assert [false_read_kind(f) for f in score.false_reads] == ["misread", "elsewhere", "misread", "unboxed"]
    assert score.summary("s")["false_reads_by_kind"] == {"misread": 2, "elsewhere": 1, "unboxed": 1}


def test_the_report_shows_each_miss_with_its_cause_and_a_picture(tmp_path) -> None:
    image = np.full((480, 640, 3), 128, np.uint8)
    reading = _reading((PLATE, "AB12CDF", 0.93))
    score = score_of([(["AB12CDE"], [("AB12CDF", 0.93)])])
    score.misses = [{"file": "a.jpg", "truth": "AB12CDE", "reads": ["AB12CDF"], "kind": "misread",
                     "detail": "AB12CDF at 0.93", "box": PLATE, "at_box": "AB12CDE at 0.88", "image": image,
                     "reading": reading}]
    page = write_report(tmp_path, "tiny", score).read_text()
    assert "misread (AB12CDF at 0.93)" in page and "1 misread" in page
    assert "<td>AB12CDE at 0.88</td>" in page  # what the plate reads as where its label puts it
    picture = cv2.imread(str(tmp_path / "miss0000.jpg"))
    assert picture is not None and picture.shape[0] == PLATE.h + 2 * (PLATE.w // 2)


def test_the_report_pictures_each_false_read_beside_the_photos_labelled_plates(tmp_path) -> None:
    image = np.full((480, 640, 3), 128, np.uint8)
    score = score_of([(["AB12CDE"], [("AB12CDE", 0.97), ("SALE1", 0.91)])])
    score.false_reads = [{"file": "a.jpg", "plate": "SALE1", "confidence": 0.91, "box": ELSEWHERE,
                          "labelled": [PLATE], "image": image}]
    page = write_report(tmp_path, "tiny", score).read_text()
    assert "1 false reads" in page and "<b>SALE1</b></td><td>0.91</td><td>elsewhere</td>" in page
    assert "0 misread, 1 elsewhere, 0 unboxed" in page and "false0000.jpg" in page
    picture = cv2.imread(str(tmp_path / "false0000.jpg"))
    pad = max(ELSEWHERE.w, ELSEWHERE.h) // 2
    assert picture is not None and picture.shape[0] == min(ELSEWHERE.h + 2 * pad, 480 - ELSEWHERE.y + pad)
    top_edge = picture[pad, pad + 4:pad + ELSEWHERE.w - 4].astype(int).mean(axis=0)  # its box, drawn in red
    assert top_edge[2] > top_edge[0] + 60 and top_edge[2] > top_edge[1] + 60, top_edge  # JPEG softens, keeps the hue
    assert '"details"' not in page  # the per-photo lists are for --json, not for people


def test_a_clips_problems_name_each_missed_repeated_and_false_pass() -> None:
    assert clip_problems(["AB12CDE", "XY34ZZZ"], ["AB12CDE", "AB12CDE", "AB12CDF"]) == [
        "missed XY34ZZZ", "2 passes of AB12CDE", "false pass AB12CDF"]
    assert clip_problems(["AB12CDE"], ["AB12CDE"]) == []


def test_the_clip_report_lists_the_clips_with_problems_first(tmp_path) -> None:
    summary = {"dataset": "clips", "exact_once": 1, "vehicles": 2, "details": [
        {"file": "good.mp4", "truth": ["AB12CDE"], "passes": ["AB12CDE"]},
        {"file": "bad.mp4", "truth": ["XY34ZZZ"], "passes": []},
    ]}
    page = write_clip_report(tmp_path, summary).read_text()
    assert page.index("bad.mp4") < page.index("good.mp4") and "missed XY34ZZZ" in page


def test_each_plate_is_also_read_at_its_labelled_box(tmp_path) -> None:
    """The perfect-localiser figure reads a plate where its label puts it, not where the
    localiser looked: a label whose box misses its plate is not read there, though the
    whole frame's read finds the plate."""
    from edge.cli import DEFAULT_CONFIG
    from edge.config import load_config

    samples = Path(__file__).resolve().parents[1] / "sample_images"
    with (samples / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:2]
    for row in rows:
        shutil.copy(samples / row["file"], tmp_path)
    rows[1] = {**rows[1], "x": "0", "y": "0"}  # the second box moved off its plate, into the sky
    with (tmp_path / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    score = evaluate_stills(load_config(DEFAULT_CONFIG), tmp_path, load_labels(tmp_path), None, False)
    assert score.exact == 2
    assert score.summary("two")["exact_at_labelled_boxes"] == 1
    assert score.misses == []  # the plate whose box was moved is still read from the whole frame


@pytest.mark.parametrize("text, problem", [
    ("file,plate,x,y,w,h\na.jpg,AB12CDE,1,2,abc,4\n", "line 2: x, y, w, h must be numbers, got 1, 2, abc, 4"),
    ("file,plate,x,y,w,h\na.jpg,AB12CDE,1,2,3,4\nb.jpg,XY34ZZZ,5,6,0,8\n", "line 3: a box needs a positive width"),
    ("file,plate\na.jpg,\n", "line 2: a row needs a file and a plate"),
    ("name,text\na.jpg,AB12CDE\n", "no file or plate column"),
    ("file,text\na.jpg,AB12CDE\n", "no plate column"),
    ("", "no file or plate column"),
    ("file,plate\n", "no labelled rows"),
])
def test_a_malformed_labels_file_is_refused_with_its_line_named(tmp_path, text, problem) -> None:
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(ConfigError, match="labels.csv") as refused:
        load_labels(tmp_path)
    assert problem in str(refused.value)


def test_labels_keep_boxes_where_given_and_none_where_not(tmp_path) -> None:
    (tmp_path / "labels.csv").write_text("file,plate,x,y,w,h\na.jpg,ab12cde,1,2.0,30,8\na.jpg,XY34ZZZ,,,,\n")
    assert load_labels(tmp_path) == {"a.jpg": [Label("AB12CDE", Box(1, 2, 30, 8)), Label("XY34ZZZ", None)]}


def test_a_clip_that_cannot_be_read_is_named_and_the_run_goes_on(tmp_path, capsys) -> None:
    """A corrupt and a missing clip each get their line; the good clip is still scored."""
    from edge.cli import DEFAULT_CONFIG
    from edge.config import load_config

    clip = Path(__file__).resolve().parents[1] / "sample_images" / "sequences" / "seq01_entry.mp4"
    shutil.copy(clip, tmp_path / "good.mp4")
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00not a video" * 64)
    labels = {"corrupt.mp4": [Label("AB12CDE", None)], "good.mp4": [Label("FH71ZVE", None)],
              "missing.mp4": [Label("XY34ZZZ", None)]}
    summary = evaluate_clips(load_config(DEFAULT_CONFIG), tmp_path, labels, None, False)
    errors = capsys.readouterr().err
    assert "corrupt.mp4" in errors and "missing.mp4" in errors
    assert summary["failed_files"] == 2 and [d["file"] for d in summary["details"]] == ["good.mp4"]
    assert (summary["vehicles"], summary["exact_once"]) == (1, 1)
