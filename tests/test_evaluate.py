"""Scoring of `edge eval` on photos: the operating curve over plates.min_confidence."""

from __future__ import annotations

from edge.evaluate import OPERATING_POINTS, StillScore
from edge.pipeline import SECOND_LOOK_FLOOR


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
