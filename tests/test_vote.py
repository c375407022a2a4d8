"""Voting a track's per-frame reads into one plate."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from edge.config import PlatesConfig, TrackingConfig
from edge.formats import best_candidates
from edge.types import Box, Detection, PlateRead, ScoredText
from edge.vote import ALPHABET, ReadTally, same_plate, text_distance, vote

TRACKING = TrackingConfig()
PLATES = PlatesConfig()


def read(text: str, confidence: float, *alternatives: tuple[str, float],
         char_probs: np.ndarray | None = None) -> PlateRead:
    candidates = [ScoredText(text, confidence)] + [ScoredText(t, c) for t, c in alternatives]
    return PlateRead(text, confidence, candidates, raw=text, char_probs=char_probs)


def detections(*reads: PlateRead | None) -> list[Detection]:
    return [Detection(Box(10 * i, 0, 100, 25), 0.9, r, i, 100.0 + 0.1 * i)
            for i, r in enumerate(reads)]


def one_hot_probs(text: str, wrong_at: int, wrong_char: str, p_true: float) -> np.ndarray:
    """char_probs that favour `text` except at one position, where `wrong_char` wins."""
    probs = np.full((len(text), len(ALPHABET)), 0.05 / (len(ALPHABET) - 1))
    for i, ch in enumerate(text):
        probs[i, ALPHABET.index(ch)] = 0.95
    probs[wrong_at] = 0.0
    probs[wrong_at, ALPHABET.index(text[wrong_at])] = p_true
    probs[wrong_at, ALPHABET.index(wrong_char)] = 1.0 - p_true
    return probs


def test_majority_wins_over_fewer_more_confident_misreads() -> None:
    reads = [read("AB12CDE", 0.8)] * 5 + [read("AB12C0E", 0.9)] * 2
    result = vote(detections(*reads), TRACKING, PLATES)
    assert result is not None
    assert result.plate == "AB12CDE"
    assert result.frames_agreeing == 5
    assert result.reads == result.frames == 7
    assert [c.text for c in result.candidates] == ["AB12CDE", "AB12C0E"]


def test_equal_counts_go_to_the_more_confident_text() -> None:
    reads = [read("XY98ZZZ", 0.45), read("XY98ZZ2", 0.95)] * 2
    result = vote(detections(*reads), TRACKING, PLATES)
    assert result is not None and result.plate == "XY98ZZ2"


def test_confidence_is_the_frames_own_for_one_read_and_grows_with_agreement() -> None:
    one_frame = TrackingConfig(min_frames=1)
    single = vote(detections(read("AB12CDE", 0.8)), one_frame, PLATES)
    assert single is not None and single.confidence == pytest.approx(0.8)
    four = vote(detections(*[read("AB12CDE", 0.8)] * 4), TRACKING, PLATES)
    assert four is not None and 0.9 < four.confidence < 1.0
    split = vote(detections(read("AB12CDE", 0.8), read("KL34MNO", 0.8)), TRACKING, PLATES)
    assert split is not None and split.confidence < 0.5


def test_candidates_are_ranked_probabilities_led_by_the_plate() -> None:
    reads = [read("AB12CDE", 0.7, ("AB12COE", 0.2)), read("AB12CDE", 0.6, ("A812CDE", 0.3))]
    result = vote(detections(*reads), TRACKING, PLATES)
    assert result is not None
    scores = [c.confidence for c in result.candidates]
    assert result.candidates[0] == ScoredText("AB12CDE", result.confidence)
    assert scores == sorted(scores, reverse=True) and sum(scores) <= 1.0 + 1e-9
    assert {"AB12COE", "A812CDE"} <= {c.text for c in result.candidates}
    many = vote(detections(*[read(f"AB12CD{i}", 0.6) for i in range(9)]), TRACKING, PLATES)
    assert many is not None and len(many.candidates) == PLATES.candidates


def test_too_few_reads_or_none_confident_is_not_a_pass() -> None:
    assert vote(detections(read("AB12CDE", 0.9), None, None), TRACKING, PLATES) is None
    floor = PLATES.min_confidence
    assert vote(detections(read("AB12CDE", floor - 0.1), read("AB12CDE", floor - 0.05)), TRACKING, PLATES) is None
    assert vote(detections(read("AB12CDE", floor - 0.1), read("AB12CDE", floor + 0.05)), TRACKING, PLATES)


def test_best_frame_is_the_most_confident_agreeing_read() -> None:
    reads = [None, read("AB12CDE", 0.7), read("AB12CDF", 0.99), read("AB12CDE", 0.9),
             read("AB12CDE", 0.8)]
    result = vote(detections(*reads), TRACKING, PLATES)
    assert result is not None and result.plate == "AB12CDE"
    assert result.best == 3 and result.frames == 5 and result.reads == 4


def test_aligned_char_probs_recover_a_plate_no_frame_read_right() -> None:
    truth = "AB12CDE"
    reads = []
    for position, wrong in ((1, "8"), (4, "G"), (6, "F")):
        probs = one_hot_probs(truth, position, wrong, 0.45)
        misread = truth[:position] + wrong + truth[position + 1:]
        reads.append(read(misread, 0.6, char_probs=probs))
    result = vote(detections(*reads), TRACKING, PLATES)
    assert result is not None
    assert result.plate == truth and result.frames_agreeing == 0
    assert result.country is None and result.format is None


def test_rescorer_supplies_format_and_country_of_a_consensus_plate() -> None:
    truth = "AB12CDE"
    seen_shapes = []

    def rescore(probs: np.ndarray) -> list[tuple[str, str | None, str | None, float]]:
        seen_shapes.append(probs.shape)
        text = "".join(ALPHABET[i] for i in probs.argmax(axis=1))
        return [(text, "gb-current", "gb", float(probs.max(axis=1).prod()))]

    reads = [read(truth[:p] + w + truth[p + 1:], 0.6, char_probs=one_hot_probs(truth, p, w, 0.45))
             for p, w in ((1, "8"), (4, "G"))]
    result = vote(detections(*reads), TRACKING, PLATES, rescore)
    assert seen_shapes == [(7, len(ALPHABET))]
    assert result is not None
    assert (result.plate, result.country, result.format) == (truth, "gb", "gb-current")


def test_country_and_format_come_from_agreeing_reads() -> None:
    agreeing = [PlateRead("AB12CDE", 0.9, country="gb", format="gb-current") for _ in range(2)]
    other = PlateRead("AB12CDF", 0.6, country="nl", format="nl-6")
    result = vote(detections(*agreeing, other), TRACKING, PLATES)
    assert result is not None and (result.country, result.format) == ("gb", "gb-current")


def test_tally_is_confident_only_with_a_clear_margin_of_strong_reads() -> None:
    tally = ReadTally(strong_at=0.85)
    for _ in range(4):
        tally.add(read("AB12CDE", 0.9))
    tally.add(read("AB12CDE", 0.5))
    assert tally.strong_margin() == 4 and tally.leaders[0] == "AB12CDE"
    tally.add(read("AB12C0E", 0.95))
    assert tally.strong_margin() == 3
    assert tally.leaders == ("AB12CDE", "AB12C0E")


def test_text_distance() -> None:
    assert text_distance("AB12CDE", "AB12CDE") == 0.0
    assert text_distance("AB12CDE", "AB12C0E") == pytest.approx(1 / 7)
    assert text_distance("AB12CDE", "B12CDE") == pytest.approx(1 / 7)
    assert text_distance("ABC", "XYZ") == 1.0
    assert text_distance("", "") == 0.0


def test_consensus_through_the_real_format_model() -> None:
    truth = "AB12CDE"
    rescore = partial(best_candidates, alphabet=ALPHABET, countries=["gb"], top_n=5)
    reads = [read(truth[:p] + w + truth[p + 1:], 0.6, char_probs=one_hot_probs(truth, p, w, 0.45))
             for p, w in ((1, "8"), (4, "G"), (6, "F"))]
    result = vote(detections(*reads), TRACKING, PLATES, rescore)
    assert result is not None and result.plate == truth
    assert result.country == "gb" and result.format


def test_reads_of_pieces_of_the_plate_strengthen_the_whole() -> None:
    """The localiser boxed halves of the plate in most frames: their reads are substrings
    of the plate, not rivals, so the pass is the whole plate and confident."""
    reads = ([read("MA4844CC", 0.92)] * 3 + [read("4844CC", 0.98)] * 3
             + [read("MA484", 0.95)] * 2 + [read("844CC", 0.9)])
    result = vote(detections(*reads), TRACKING, PLATES)
    assert result is not None and result.plate == "MA4844CC"
    assert result.confidence >= PLATES.min_confidence
    assert result.frames_agreeing == 3


def test_a_piece_does_not_outvote_a_longer_misread() -> None:
    """Support goes only to texts containing the piece: an unrelated text gains nothing."""
    reads = [read("AB12CDE", 0.9)] * 3 + [read("KL34MNO", 0.9)] * 3 + [read("12CDE", 0.9)] * 2
    result = vote(detections(*reads), TRACKING, PLATES)
    assert result is not None and result.plate == "AB12CDE"


def test_same_plate_is_one_misread_character_or_a_piece_of_half_or_more() -> None:
    assert same_plate("AB12CDE", "AB12C0E") and same_plate("MA4844CC", "4844CC")
    assert same_plate("AB12CDE", "B12CDE")
    assert not same_plate("MA4844CC", "844")  # too short: matches by chance
    assert not same_plate("AB12CDE", "KL34MNO") and not same_plate("AB12CDE", "AB12XYZ")
    assert not same_plate("ABCDEFGHIJ", "CDEF")  # under half the whole
