"""The reading path's rules for text that is no plate: the frame's furniture (clocks,
fences) and a plate's own small print (state names, dealer lines, stickers)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge import pipeline
from edge.clutter import (is_bare_text, is_on_screen_clock, is_row_of_bars, is_stacked_text, is_unframed_text,
                          plate_furniture, repeated_reads)
from edge.config import load_config, with_countries
from edge.imageio import load_image
from edge.pipeline import PlateReader
from edge.synth.render import STYLES, random_plate_text
from edge.types import Box, Detection, PlateCandidate, PlateRead

ROOT = Path(__file__).resolve().parents[1]
TRAINING_CROPS = ROOT.parent / "shared" / "datasets" / "openalpr-us-platecrops" / "labels.csv"


@pytest.mark.parametrize("y", [0, 3, 700 - 35 + 2])
def test_digits_against_the_top_or_bottom_edge_are_a_clock(y):
    assert is_on_screen_clock("1708382", Box(20, y, 74, 35), 700)
    assert is_on_screen_clock("2O1405", Box(20, y, 74, 35), 700)  # a clock's 0 read as O
    assert is_on_screen_clock("O9O7385", Box(20, y, 74, 35), 700)  # ... every 0 of it
    assert is_on_screen_clock("O9O738S", Box(20, y, 74, 35), 700)  # ... and one more misread digit


@pytest.mark.parametrize("text, box, frame_height", [
    ("1708382", Box(20, 12, 74, 35), 700),  # a third of the box clear of the edge
    ("1708382", Box(20, 300, 74, 35), 700),
    ("6788075", Box(0, 0, 320, 160), 160),  # a tight crop of a plate: it fills the frame
    ("6788075", Box(40, 0, 300, 180), 700),  # a close-up: over a quarter of the frame's height
    ("6NZT067", Box(20, 0, 74, 35), 700),  # a plate against the edge keeps its letters
    ("20CDI", Box(20, 0, 74, 35), 700),
    ("O9O73SB", Box(20, 0, 74, 35), 700),  # two letters besides O
])
def test_plates_and_text_away_from_the_edge_are_no_clock(text, box, frame_height):
    assert not is_on_screen_clock(text, box, frame_height)


@pytest.mark.parametrize("text", ["1111111", "LL11111", "LLLLLLLL1", "L117111F1J", "LLP111", "I1I1I"])
def test_rows_of_strokes_are_bars(text):
    assert is_row_of_bars(text)


@pytest.mark.parametrize("text", ["1111", "L111", "4141119", "LLY441", "QUILLS", "PGN141GR", "L11AB"])
def test_plates_with_many_strokes_are_not_bars(text):
    assert not is_row_of_bars(text)


@pytest.mark.parametrize("style", STYLES)
def test_generated_plates_are_almost_never_bars(style):
    """Uniformly drawn registrations of every style: at most 1 in 5,000 looks like bars
    (real plates draw their letters less evenly, and none of the labelled ones does)."""
    rng = np.random.default_rng(7)
    flagged = sum(is_row_of_bars(random_plate_text(style, rng)) for _ in range(20000))
    assert flagged <= 4, flagged


def test_no_training_plate_is_bars():
    if not TRAINING_CROPS.exists():
        pytest.skip("../shared/datasets/openalpr-us-platecrops is absent")
    with TRAINING_CROPS.open(newline="") as handle:
        plates = [row["plate"] for row in csv.DictReader(handle)]
    assert len(plates) > 700
    assert [p for p in plates if is_row_of_bars(p)] == []


@pytest.fixture(scope="module")
def us_reader() -> PlateReader:
    return PlateReader(with_countries(load_config(ROOT / "config" / "default.yaml"), ["us", "generic"]))


@pytest.fixture(scope="module")
def us_still(us_reader) -> tuple[np.ndarray, Box]:
    """The bundled US still (plate 6788075) and the box its plate is read in."""
    image = load_image(ROOT / "sample_images" / "20_us_rear.jpg")
    plate = max(us_reader.read(image).detections, key=lambda d: d.read.confidence if d.read else 0.0)
    return image, plate.box


def _read(box: Box, confidence: float | None, text: str = "AB12CDE") -> Detection:
    read = None if confidence is None else PlateRead(text, confidence)
    return Detection(box, 1.0, read, 0, 0.0)


PLATE = Box(100, 100, 245, 94)  # text 54 px tall
UPRIGHT = [None, None]  # no quads: the boxes are the plates


@pytest.mark.parametrize("small_print", [
    Box(225, 196, 86, 37),  # a dealer's line under the plate
    Box(200, 104, 70, 20),  # a state name across the plate's top
    Box(150, 210, 60, 30),  # a sticker just clear of the box (the plate runs past it)
])
def test_small_print_on_a_reported_plate_is_dropped(small_print):
    assert plate_furniture([_read(PLATE, 0.9), _read(small_print, 1.0)], UPRIGHT, 0.5).tolist() == [False, True]


@pytest.mark.parametrize("other", [
    Box(150, 130, 90, 36),  # on the registration's line: a plate inside a wrong, larger box
    Box(225, 196, 86, 60),  # too tall to be small print
    Box(225, 260, 86, 37),  # too far below the plate
    Box(600, 196, 86, 37),  # beside another car
])
def test_plates_near_a_plate_are_kept(other):
    assert not plate_furniture([_read(PLATE, 0.9), _read(other, 1.0)], UPRIGHT, 0.5).any()


# A plate rising 60 px to the right: its box (100, 70, 245, 154) is far taller than the
# plate (94 px along its sides), and its text line runs from y 177 on the left to 117 on the right.
TILTED = np.array([[100, 130], [345, 70], [345, 164], [100, 224]], np.float32)
TILTED_BOX = Box(100, 70, 245, 154)


@pytest.mark.parametrize("other, dropped", [
    (Box(270, 158, 60, 20), True),  # a dealer's line under the high end, inside the box's middle band
    (Box(270, 118, 60, 20), False),  # on the tilted line: not small print
])
def test_small_print_follows_a_tilted_plate_line(other, dropped):
    reads = [_read(TILTED_BOX, 0.9), _read(other, 1.0)]
    assert plate_furniture(reads, [TILTED, None], 0.5).tolist() == [False, dropped]


def test_only_a_reported_read_has_small_print():
    """A large box of clutter read as nothing sure must not hide the real plate under it;
    boxes not read at all (tracks already sure) hide nothing either."""
    small = _read(Box(225, 196, 86, 37), 0.98)
    assert not plate_furniture([_read(PLATE, 0.3), small], UPRIGHT, 0.5).any()
    assert not plate_furniture([_read(PLATE, None), small], UPRIGHT, 0.5).any()
    assert plate_furniture([_read(PLATE, 0.3), small], UPRIGHT, 0.2).tolist() == [False, True]


@pytest.mark.slow
@pytest.mark.parametrize("tilt", [0.0, 5.0, -8.0])
def test_a_dealer_line_under_a_plate_is_not_read_as_a_plate(us_reader, us_still, monkeypatch, tilt):
    """The bundled US plate, enlarged, with a dealer's line printed on its holder, upright
    and tilted both ways: only the registration is read. With the rule off the line is
    read as a plate of its own."""
    image, box = us_still
    x, y, w, h = box.as_list()
    close = cv2.resize(image[y - h:y + 2 * h, x - w // 2:x + w + w // 2], None, fx=4, fy=4,
                       interpolation=cv2.INTER_CUBIC)
    cv2.rectangle(close, (130, 196), (356, 228), (235, 235, 235), -1)  # the holder, under the plate
    cv2.putText(close, "44 SEA 217", (150, 222), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (110, 110, 110), 2, cv2.LINE_AA)
    turn = cv2.getRotationMatrix2D((close.shape[1] / 2, close.shape[0] / 2), tilt, 1.0)
    close = cv2.warpAffine(close, turn, close.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    reading = us_reader.read(close)
    assert [d.read.text for d in us_reader.plates(reading)] == ["6788075"]
    assert pipeline.SMALL_PRINT in {a.rule for a in reading.set_aside}
    monkeypatch.setattr(pipeline, "plate_furniture", lambda detections, *_: np.zeros(len(detections), bool))
    assert len(us_reader.plates(us_reader.read(close))) == 2


def _with_clock(image: np.ndarray, baseline: int) -> np.ndarray:
    """`image` with a camera's date-time line, white on a dark bar, at the left."""
    image = image.copy()
    cv2.rectangle(image, (0, baseline - 22), (330, baseline + 6), (30, 30, 30), -1)
    cv2.putText(image, "2014-05-09 07:38:50", (4, baseline), cv2.FONT_HERSHEY_SIMPLEX, 0.75, (255, 255, 255), 2)
    return image


@pytest.mark.slow
def test_a_clock_along_the_frame_edge_is_not_read_as_a_plate(us_reader, us_still):
    """The bundled US still with a burned-in clock: along the top or bottom edge only the
    plate is read; the same clock mid-frame is read as plates, so the edge rule is what
    drops it."""
    image = us_still[0]
    height = image.shape[0]

    def reads(baseline: int) -> list[str]:
        return [d.read.text for d in us_reader.plates(us_reader.read(_with_clock(image, baseline)), 0.0)]

    assert reads(22) == ["6788075"]
    assert reads(height - 8) == ["6788075"]
    assert len(reads(200)) > 1 and "6788075" in reads(200)


@pytest.mark.slow
def test_a_tight_crop_of_a_digits_only_plate_is_read(us_reader, us_still):
    """A plate cut to its own outline touches both frame edges; it is no clock."""
    image, box = us_still
    x, y, w, h = box.as_list()
    crop = image[y:y + h, x - w // 20:x + w + w // 20]
    assert [d.read.text for d in us_reader.plates(us_reader.read(crop))] == ["6788075"]


@pytest.mark.parametrize("text, plate_format", [
    ("3768750", "us_1234567"), ("1056", "us_1234"), ("0NLY", "generic"), ("THISARE", "us_abcdefg"),
    ("C0UGAR", "us_abcdef"), ("4MILE", "generic"), ("1NF0R", "eu_generic"), ("8E7", "us_generic"), ("AB12", None),
])
def test_digits_only_letters_only_and_catch_all_reads_are_bare_text(text, plate_format):
    assert is_bare_text(text, plate_format)


@pytest.mark.parametrize("text, plate_format", [
    ("AB12CDE", "gb_current"), ("7ABC123", "us_1abc234"), ("RK875AE", "eu_fr_it_sk"), ("3479CH", "us_1234ab"),
])
def test_structured_reads_are_not_bare_text(text, plate_format):
    assert not is_bare_text(text, plate_format)


def test_only_bare_text_without_plate_edges_is_unframed():
    assert is_unframed_text("3768750", "us_1234567", 0.01)
    assert not is_unframed_text("3768750", "us_1234567", 0.2)  # a digits-only plate, edges and all
    assert not is_unframed_text("AB12CDE", "gb_current", 0.0)  # a plate the colour of its car
    assert not is_unframed_text("0NLY", "generic", float("inf"))  # too small to tell


@pytest.mark.slow
def test_a_fleet_number_painted_on_the_car_is_not_read_as_a_plate(us_reader, us_still):
    """The bundled US plate (6788075: digits only, like the fleet number) with a fleet number
    painted on the body above it: only the plate, whose card has edges, is read. With
    plates.drop_unframed_text off the painted number is read as a plate too."""
    image, box = us_still
    x, y, w, h = box.as_list()
    painted = image.copy()
    body = tuple(int(c) for c in np.median(image[y - 3 * h:y - 2 * h, x:x + w].reshape(-1, 3), axis=0))
    cv2.rectangle(painted, (x - w // 2, y - 3 * h), (x + w + w // 2, y - h // 2), body, -1)
    cv2.putText(painted, "4817265", (x - w // 4, y - h), cv2.FONT_HERSHEY_DUPLEX, h / 26, (20, 20, 20), 2, cv2.LINE_AA)
    reading = us_reader.read(painted)
    assert [d.read.text for d in us_reader.plates(reading)] == ["6788075"]
    assert [(a.read.text, a.rule) for a in reading.set_aside] == [("4817265", pipeline.UNFRAMED_TEXT)]
    config = with_countries(load_config(ROOT / "config" / "default.yaml"), ["us", "generic"])
    keeping = PlateReader(config.model_copy(update={"plates": config.plates.model_copy(
        update={"drop_unframed_text": False})}))
    assert sorted(d.read.text for d in keeping.plates(keeping.read(painted))) == ["4817265", "6788075"]


def test_only_bare_text_with_a_like_high_line_stacked_on_it_is_a_signs():
    assert is_stacked_text("PR0PERTY", "generic", 0.7)
    assert is_stacked_text("3768750", "us_1234567", 0.4)
    assert not is_stacked_text("3768750", "us_1234567", 0.3)  # a line over a corner of it
    assert not is_stacked_text("7ABC123", "us_1abc234", 0.9)  # structured: a plate under a fleet number


def _signpost(image: np.ndarray, lines: tuple[str, str]) -> np.ndarray:
    """`image` with a framed roadside sign of two lines, glyphs half again as tall as the
    bundled plate's, in its top left corner."""
    sign = image.copy()
    cv2.rectangle(sign, (60, 40), (330, 160), (235, 235, 235), -1)
    cv2.rectangle(sign, (60, 40), (330, 160), (40, 40, 40), 3)
    for row, line in enumerate(lines):
        cv2.putText(sign, line, (80, 90 + 40 * row), cv2.FONT_HERSHEY_DUPLEX, 1.1, (20, 20, 20), 2, cv2.LINE_AA)
    return sign


@pytest.mark.slow
@pytest.mark.parametrize("lines", [("PRIVATE", "PROPERTY"), ("4817265", "3376402")], ids=["words", "phone numbers"])
def test_a_signs_stacked_lines_are_not_read_as_plates(us_reader, us_still, lines):
    """A framed sign's lines have edges around them, so the unframed-text rule keeps them;
    stacked on each other they are a sign's. With plates.drop_stacked_text off they are
    kept as reads (confident or not, as the recogniser finds them)."""
    image, _ = us_still
    signpost = _signpost(image, lines)
    reading = us_reader.read(signpost)
    assert [d.read.text for d in us_reader.plates(reading)] == ["6788075"]
    assert [a.rule for a in reading.set_aside] == [pipeline.STACKED_TEXT] * 2
    config = with_countries(load_config(ROOT / "config" / "default.yaml"), ["us", "generic"])
    keeping = PlateReader(config.model_copy(update={"plates": config.plates.model_copy(
        update={"drop_stacked_text": False})}))
    kept = keeping.read(signpost)
    assert len([d for d in kept.detections if d.read]) == 3 and not kept.set_aside


ROW = Box(548, 332, 168, 79)  # a plate's text row
WHOLE = Box(551, 289, 308, 156)  # the whole plate, a sticker beside its row
GROUP = Box(548, 332, 80, 79)  # the row's first group of glyphs


@pytest.mark.parametrize("reads, repeated", [
    ([("10DTM", ROW, 0.92), ("10DTM9", WHOLE, 0.56)], [False, True]),  # the row, and the plate with its sticker
    ([("10DTM9", WHOLE, 0.95), ("10DTM", ROW, 0.92)], [False, True]),  # ... the other way round
    ([("CD05", GROUP, 1.0), ("CD05TUU", ROW, 0.98)], [True, False]),  # a group of the row: the whole is nearly as sure
    ([("CD05", GROUP, 1.0), ("CD05TUU", ROW, 0.8)], [False, True]),  # ... far less sure
    ([("2208", GROUP, 0.99), ("AAA220", ROW, 0.67)], [False, True]),  # two cuts of one place, neither whole
    ([("10DTM", ROW, 0.92), ("7ABC123", Box(716, 332, 168, 79), 0.99)], [False, False]),  # side by side
    ([("10DTM", ROW, 0.92), ("7ABC123", Box(640, 290, 168, 79), 0.99)], [False, False]),  # a corner shared
])
def test_a_place_read_twice_keeps_its_best_read(reads, repeated):
    detections = [_read(box, confidence, text) for text, box, confidence in reads]
    assert repeated_reads(detections, [None] * len(reads)).tolist() == repeated


def test_a_dealer_line_in_a_tilted_plates_box_is_no_repeated_read():
    """The tilted plate's box holds most of the dealer's line under its high end, but the
    line is off the plate's text line: another place (small print's rule's to judge)."""
    reads = [_read(TILTED_BOX, 0.9), _read(Box(270, 158, 60, 20), 1.0, "SEA217")]
    assert repeated_reads(reads, [TILTED, None]).tolist() == [False, False]
    assert repeated_reads(reads, UPRIGHT).tolist() == [True, False]  # taken upright, the same place


def test_unread_boxes_take_no_part_in_repeated_reads():
    assert repeated_reads([_read(ROW, None), _read(WHOLE, 0.5)], UPRIGHT).tolist() == [False, False]
    assert repeated_reads([_read(ROW, 0.5)], [None]).tolist() == [False]
    assert repeated_reads([], []).tolist() == []


@pytest.mark.slow
def test_a_plate_proposed_twice_is_reported_once(us_reader, us_still, monkeypatch):
    """The localiser proposing the bundled plate whole and, again, its first half: both are
    read (a video's tracking gets both), and a still's report holds the plate's best read
    only, even with no confidence floor. With the rule off, the half is a plate too."""
    image, box = us_still
    x, y, w, h = box.as_list()
    twice = [PlateCandidate(box, 1.0), PlateCandidate(Box(x, y, w // 2, h), 0.9)]
    monkeypatch.setattr(us_reader.localiser, "find", lambda *_: twice)
    monkeypatch.setattr(us_reader, "retry_localiser", None)  # read the candidate given, alone
    reading = us_reader.read(image)
    assert len([d for d in reading.detections if d.read]) == 2
    assert [d.read.text for d in us_reader.plates(reading, min_confidence=0.0)] == ["6788075"]
    monkeypatch.setattr(pipeline, "repeated_reads", lambda detections, _: np.zeros(len(detections), bool))
    assert len(us_reader.plates(reading, min_confidence=0.0)) == 2
