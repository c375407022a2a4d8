"""Plate localiser and motion gate, on plates drawn here with OpenCV (deterministic), plus a
floor on the real labelled photo sets when they are present beside the project."""

from __future__ import annotations

import csv
import multiprocessing
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import LocaliserConfig
from edge import localise
from edge.localise import IgnoreRegions, Localiser, _group_rows, _lifted_shade, _SideThread, plate_lean_degrees
from edge.types import Box

DATASETS = Path(__file__).parents[1].parent / "shared/datasets"
FONT = cv2.FONT_HERSHEY_DUPLEX


def flat_plate(text: str, paper: tuple[int, int, int], ink: tuple[int, int, int], width: int = 520) -> np.ndarray:
    """A flat plate (BGR) of EU proportions, `text` centred in a thick sans font, dark border."""
    height = width * 11 // 52
    plate = np.full((height, width, 3), paper, np.uint8)
    cv2.rectangle(plate, (2, 2), (width - 3, height - 3), (40, 40, 40), 3)
    scale, thick = 2.6 * width / 520, max(2, round(9 * width / 520))
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, thick)
    cv2.putText(plate, text, ((width - tw) // 2, (height + th) // 2), FONT, scale, ink, thick, cv2.LINE_AA)
    return plate


def street(seed: int, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """A noisy background with clutter: shaded ground, random boxes and lines, sensor noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    ramp = np.linspace(70, 150, h, dtype=np.float32)[:, None, None]
    img = np.repeat(np.repeat(ramp, w, axis=1), 3, axis=2)
    for _ in range(25):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = tuple(int(c) for c in rng.integers(20, 230, 3))
        cv2.rectangle(img, (x, y), (x + int(rng.integers(20, 200)), y + int(rng.integers(10, 120))), colour, -1)
        cv2.line(img, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), colour, int(rng.integers(1, 4)))
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def place(scene: np.ndarray, plate: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Warp `plate` onto `scene` so its corners land on `quad` (tl, tr, br, bl)."""
    h, w = plate.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    matrix = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    size = (scene.shape[1], scene.shape[0])
    warped = cv2.warpPerspective(plate, matrix, size, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, size, flags=cv2.INTER_AREA)
    alpha = (mask.astype(np.float32) / 255)[:, :, None]
    return (scene * (1 - alpha) + warped * alpha).astype(np.uint8)


def rect_quad(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.float32([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])


def box_of(quad: np.ndarray) -> Box:
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    return Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0))


def best_iou(candidates: list, truth: Box) -> float:
    return max((c.box.iou(truth) for c in candidates), default=0.0)


@pytest.fixture(scope="module")
def localiser() -> Localiser:
    return Localiser(LocaliserConfig())


@pytest.mark.parametrize(("paper", "ink", "seed"), [((235, 235, 235), (20, 20, 20), 1),
                                                    ((30, 200, 245), (15, 15, 15), 2)])
def test_dark_text_on_white_and_yellow_plates(localiser: Localiser, paper, ink, seed) -> None:
    quad = rect_quad(610, 420, 220, 47)
    image = place(street(seed), flat_plate("AB12 CDE", paper, ink), quad)
    found = localiser.find(image)
    assert best_iou(found, box_of(quad)) >= 0.5
    assert found == sorted(found, key=lambda c: -c.score)
    assert all(0.0 <= c.score <= 1.0 for c in found)
    assert len(found) <= LocaliserConfig().max_candidates


def test_light_text_on_dark_plate(localiser: Localiser) -> None:
    quad = rect_quad(300, 250, 240, 51)
    image = place(street(3), flat_plate("XY34 ZWV", (25, 25, 25), (235, 235, 235)), quad)
    assert best_iou(localiser.find(image), box_of(quad)) >= 0.5


def test_plate_split_by_an_emblem_is_found_whole(localiser: Localiser) -> None:
    """'RK [arms] 291A': the two text groups are far apart, yet the best candidate spans both."""
    plate = np.full((110, 520, 3), 235, np.uint8)
    cv2.rectangle(plate, (2, 2), (517, 107), (40, 40, 40), 3)
    cv2.putText(plate, "RK", (14, 82), FONT, 2.6, (20, 20, 20), 9, cv2.LINE_AA)
    cv2.rectangle(plate, (150, 45), (225, 70), (200, 90, 40), -1)  # the coat of arms
    cv2.putText(plate, "291A", (262, 82), FONT, 2.6, (20, 20, 20), 9, cv2.LINE_AA)
    quad = rect_quad(500, 300, 260, 55)
    best = localiser.find(place(street(5), plate, quad))[0]
    truth = box_of(quad)
    assert best.box.iou(truth) >= 0.5
    assert best.box.x <= truth.x + 0.1 * truth.w and best.box.x + best.box.w >= truth.x + 0.9 * truth.w


def test_skewed_plate_gives_its_corners(localiser: Localiser) -> None:
    truth = np.float32([[500, 330], [730, 380], [730, 432], [500, 382]])  # seen at an angle
    image = place(street(4), flat_plate("KL56 MNP", (235, 235, 235), (20, 20, 20)), truth)
    found = localiser.find(image)
    best = max(found, key=lambda c: c.box.iou(box_of(truth)))
    assert best.box.iou(box_of(truth)) >= 0.5
    assert best.quad is not None and best.quad.shape == (4, 2) and best.quad.dtype == np.float32
    plate_h = 52.0
    assert np.abs(best.quad - truth).max() <= 0.5 * plate_h
    slope = (best.quad[1, 1] - best.quad[0, 1]) / (best.quad[1, 0] - best.quad[0, 0])
    assert slope == pytest.approx(50 / 230, abs=0.06)


def rolled_street(degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """A street with a level plate, the whole frame then turned `degrees` counter-clockwise
    about its centre (a camera mounted askew): (the frame, the plate's turned corners)."""
    plate = rect_quad(560, 420, 220, 47)
    level = place(street(6), flat_plate("AB12 CDE", (235, 235, 235), (20, 20, 20)), plate)
    turn = cv2.getRotationMatrix2D((640, 360), degrees, 1.0)
    return (cv2.warpAffine(level, turn, (1280, 720), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_CONSTANT),
            plate @ turn[:, :2].T + turn[:, 2])


@pytest.mark.parametrize("degrees", [8.0, -12.0])
def test_a_rolled_frame_is_searched_levelled_and_answered_in_its_own_pixels(localiser: Localiser, degrees) -> None:
    frame, truth = rolled_street(degrees)
    best = max(localiser.find(frame, roll_degrees=degrees), key=lambda c: c.box.iou(box_of(truth)))
    assert best.box.iou(box_of(truth)) >= 0.5
    assert np.abs(best.quad - truth).max() <= 0.5 * 47
    assert plate_lean_degrees(best.quad) == pytest.approx(degrees, abs=1.0)
    assert best.box.iou(box_of(best.quad)) > 0.9


def test_the_configured_roll_is_the_default_and_a_zero_roll_searches_as_before(localiser: Localiser) -> None:
    frame, _ = rolled_street(8.0)
    rolled = Localiser(LocaliserConfig(roll_degrees=8.0))
    assert [c.box for c in rolled.find(frame)] == [c.box for c in localiser.find(frame, roll_degrees=8.0)]
    assert [c.box for c in rolled.find(frame, roll_degrees=0.0)] == [c.box for c in localiser.find(frame)]


def test_plate_lean_is_its_text_lines_counter_clockwise_turn() -> None:
    rise = np.tan(np.radians(10.0)) * 200
    assert plate_lean_degrees(np.float32([[0, 100], [200, 100 - rise], [200, 140 - rise], [0, 140]])) == \
        pytest.approx(10.0, abs=0.01)
    assert plate_lean_degrees(rect_quad(0, 0, 200, 40)) == 0.0
    assert plate_lean_degrees(np.float32([[0, 100], [200, 100 + rise], [200, 140 + rise], [0, 140]])) == \
        pytest.approx(-10.0, abs=0.01)


def test_small_plate_sixty_pixels_wide(localiser: Localiser) -> None:
    quad = rect_quad(900, 500, 60, 13)
    image = place(street(5), flat_plate("AB12CDE", (235, 235, 235), (20, 20, 20)), quad)
    assert best_iou(localiser.find(image), box_of(quad)) >= 0.5


def test_plate_a_third_of_the_frame(localiser: Localiser) -> None:
    quad = rect_quad(400, 300, 427, 90)
    image = place(street(6), flat_plate("GH78 JKL", (30, 200, 245), (15, 15, 15)), quad)
    assert best_iou(localiser.find(image), box_of(quad)) >= 0.5


def test_night_ir_frame(localiser: Localiser) -> None:
    """IR at night: dark, grey, noisy scene; the retro-reflective plate is the bright part."""
    rng = np.random.default_rng(7)
    scene = np.clip(rng.normal(25, 8, (720, 1280)), 0, 255).astype(np.uint8)
    quad = rect_quad(560, 400, 200, 43)
    plate = cv2.cvtColor(flat_plate("NB09 RTX", (200, 200, 200), (30, 30, 30)), cv2.COLOR_BGR2GRAY)
    image = place(cv2.cvtColor(scene, cv2.COLOR_GRAY2BGR), cv2.cvtColor(plate, cv2.COLOR_GRAY2BGR), quad)
    assert best_iou(localiser.find(image[:, :, 0]), box_of(quad)) >= 0.5


def test_plain_frame_has_no_candidates(localiser: Localiser) -> None:
    rng = np.random.default_rng(8)
    ramp = np.linspace(60, 180, 1280, dtype=np.float32)[None, :].repeat(720, axis=0)
    image = np.clip(ramp + rng.normal(0, 4, ramp.shape), 0, 255).astype(np.uint8)
    assert localiser.find(image) == []


def test_grey_bgra_and_16_bit_inputs_find_the_same_plate(localiser: Localiser) -> None:
    quad = rect_quad(500, 300, 220, 47)
    bgr = place(street(9), flat_plate("CD34 EFG", (235, 235, 235), (20, 20, 20)), quad)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    variants = {"grey": grey, "bgra": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
                "grey16": grey.astype(np.uint16) * 257, "bgr16": bgr.astype(np.uint16) * 257}
    for name, image in variants.items():
        assert best_iou(localiser.find(image), box_of(quad)) >= 0.5, name


def test_tiny_and_odd_images_return_nothing(localiser: Localiser) -> None:
    assert localiser.find(np.zeros((10, 10, 3), np.uint8)) == []
    assert localiser.find(np.zeros((10, 10), np.uint8)) == []
    assert localiser.find(np.zeros((0, 0, 3), np.uint8)) == []


def test_candidates_are_capped_and_in_image_pixels() -> None:
    """A wider-than-work_width frame: boxes come back in the original pixels."""
    quad = rect_quad(1400, 700, 300, 64)
    scene = cv2.resize(street(10), (1920, 1080))
    image = place(scene, flat_plate("PQ12 RST", (235, 235, 235), (20, 20, 20)), quad)
    found = Localiser(LocaliserConfig(max_candidates=2)).find(image)
    assert 1 <= len(found) <= 2
    assert best_iou(found, box_of(quad)) >= 0.5


# Detection floors measured on the labelled sets (see benchmarks/localise_eval.py), minus a
# margin so a harmless change does not fail the suite while a real regression does.
FLOORS = {"openalpr-eu": 0.96, "openalpr-us": 0.92, "kaggle-carplate-uk9": 0.88}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_detection_on_labelled_photos(localiser: Localiser, name: str) -> None:
    folder = DATASETS / name
    if not (folder / "labels.csv").is_file():
        pytest.skip(f"{folder} is absent (real data sets live beside the project, not in it)")
    with open(folder / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    hits = 0
    for row in rows:
        image = cv2.imread(str(folder / row["file"]))
        truth = Box(*(int(row[k]) for k in "xywh"))
        hits += best_iou(localiser.find(image), truth) >= 0.3
    assert hits / len(rows) >= FLOORS[name]


def test_ignore_regions_cover_box_centres_in_any_polygon() -> None:
    """A concave (L-shaped) polygon and a triangle: centres inside either are covered."""
    regions = IgnoreRegions([[(0, 0), (100, 0), (100, 20), (20, 20), (20, 100), (0, 100)],
                             [(300, 300), (400, 300), (350, 380)]])
    boxes = [Box(40, 0, 20, 10),    # centre (50, 5): in the L's top arm
             Box(0, 60, 10, 10),    # (5, 65): in its left arm
             Box(50, 50, 20, 20),   # (60, 60): in the L's notch, outside
             Box(340, 310, 20, 20),  # (350, 320): in the triangle
             Box(380, 360, 10, 10)]  # (385, 365): beside it
    assert IgnoreRegions([]).covers(boxes).tolist() == [False] * 5
    assert not IgnoreRegions([])
    assert regions.covers(boxes).tolist() == [True, True, False, True, False]


def test_row_runs_through_a_glyph_grown_by_a_frame() -> None:
    """A glyph touching the frame grows taller; its neighbours must not link past it, or the
    row breaks there and loses the plate's last characters ('00256' + tall 'M' + '1')."""
    x = [694, 704, 714, 724, 734, 744, 755]
    y = [256, 256, 256, 257, 257, 257, 258]
    w = [8, 8, 9, 8, 8, 9, 8]
    h = [19, 18, 19, 18, 19, 23, 19]
    chars = np.array([[xi, yi, wi, hi, 0.5 * wi * hi, 0] for xi, yi, wi, hi in zip(x, y, w, h)], np.float32)
    idx, rows = _group_rows(chars, 3)
    assert {0, 6} <= set(idx.tolist()) and len(set(rows.tolist())) == 1


def shaded_scene(seed: int) -> np.ndarray:
    """A lit coarse frame (640x360) with a car in deep shade whose plate keeps ten grey levels."""
    rng = np.random.default_rng(seed)
    frame = np.full((360, 640), 150, np.float32)
    frame[200:300, 100:350] = 30
    cv2.rectangle(frame, (150, 225), (290, 265), 40, -1)
    cv2.putText(frame, "AB12CDE", (157, 255), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 30, 2)
    return np.clip(frame + rng.normal(0, 1.5, frame.shape), 0, 255).astype(np.uint8)


def coarse_proposals(coarse: np.ndarray) -> localise._Proposals:
    """The proposals of a coarse image searched as the working one, without the small plates' copy."""
    return localise._proposals(coarse, coarse, 1.0, LocaliserConfig(small_plate_width=0), _SideThread(1))[0]


def test_a_plate_in_deep_shade_is_proposed_by_the_shade_pass() -> None:
    proposals = coarse_proposals(shaded_scene(1))
    plate = np.array([150, 225, 290, 265])

    def covering(regions: np.ndarray) -> np.ndarray:
        return ((regions[:, 0] <= plate[0] + 10) & (regions[:, 2] >= plate[2] - 10)
                & (regions[:, 1] <= plate[1]) & (regions[:, 3] >= plate[3]))

    assert covering(proposals.regions[proposals.apart]).any()
    assert not covering(proposals.regions[~proposals.apart]).any()  # the lit pass alone misses it
    assert 1 <= proposals.apart.sum() <= localise._SHADE_PROPOSALS + localise._JOINED_PROPOSALS


def test_a_frame_without_shade_or_dark_all_over_gets_no_shade_pass() -> None:
    rng = np.random.default_rng(2)
    lit = np.clip(rng.normal(140, 6, (360, 640)), 0, 255).astype(np.uint8)
    assert _lifted_shade(lit) is None
    assert not coarse_proposals(lit).apart.any()
    night = np.clip(rng.normal(25, 6, (360, 640)), 0, 255).astype(np.uint8)
    assert _lifted_shade(night) is None  # dark all over: its plates are its lit part
    image, shade = _lifted_shade(shaded_scene(1))
    assert shade[250, 200] and not shade[50, 500]
    assert 90 <= image[210:290, 110:340].mean() <= 130  # the shaded car brightened towards _SHADE_LEVEL


def test_lit_plates_read_the_same_with_or_without_the_shade_pass(localiser: Localiser, monkeypatch) -> None:
    """The shaded proposals get a mosaic of their own, so a lit plate's candidate is exactly
    what it would be in a frame with no shade at all."""
    quad = rect_quad(700, 150, 220, 47)
    image = place(street(12), flat_plate("AB12 CDE", (235, 235, 235), (20, 20, 20)), quad)
    image[400:640, 80:760] = cv2.resize(cv2.cvtColor(shaded_scene(3), cv2.COLOR_GRAY2BGR), (680, 240))
    with_shade = [c for c in localiser.find(image) if c.box.iou(box_of(quad)) > 0]
    monkeypatch.setattr(localise, "_SHADE_PROPOSALS", 0)
    without = [c for c in localiser.find(image) if c.box.iou(box_of(quad)) > 0]
    assert with_shade and [(c.box, c.score) for c in with_shade] == [(c.box, c.score) for c in without]


def fine_rows(work: np.ndarray, regions: list[list[float]], height: float, shaded: bool = False):
    """Proposals with the given cuts (from the shade pass, if `shaded`), and the plain fine
    rows found in them with their scores, and the glyphs."""
    n = len(regions)
    rank = localise._SHADE_RANK if shaded else 1.0
    proposals = localise._Proposals(np.float32(regions), np.full(n, height, np.float32), np.float32(regions),
                                    np.ones(n, np.float32), np.full(n, shaded), np.full(n, rank, np.float32))
    chars = localise._proposal_glyphs(work, proposals, _SideThread(1))
    idx, rows = _group_rows(chars, localise._PLATE_GLYPHS)
    rows = localise._row_geometry(chars, idx, rows)
    return proposals, rows, localise._row_score(rows) * rank, chars


def glyph_starts(chars: np.ndarray, rows, row: int) -> np.ndarray:
    """Left ends of the glyphs of `row`, left to right."""
    in_row = (chars[:, 5] == rows.key[row]) & (chars[:, 0] >= rows.left[row]) & (chars[:, 0] < rows.right[row])
    return np.sort(chars[in_row, 0])


@pytest.fixture(scope="module")
def plate_in_street() -> tuple[np.ndarray, float, float, float, float]:
    """A grey frame with one plate, its text's left and right ends and glyph height (as the
    fine pass finds them in a generous cut), and where its third glyph starts."""
    work = cv2.cvtColor(place(street(8), flat_plate("AB12CDE", (235, 235, 235), (20, 20, 20)),
                              rect_quad(500, 300, 260, 55)), cv2.COLOR_BGR2GRAY)
    _, rows, scores, chars = fine_rows(work, [[440, 270, 820, 385]], 30.0)
    best = int(np.argmax(scores))
    return (work, float(rows.left[best]), float(rows.right[best]), float(rows.height[best]),
            float(glyph_starts(chars, rows, best)[2]))


def test_a_row_ending_at_its_cuts_side_is_found_whole_in_a_wider_cut(plate_in_street) -> None:
    """A coarse row that missed a plate's first glyphs leaves a cut starting inside the
    plate: the fine row stops at the cut's side, is cut again wider, and the wider cut's
    row (the whole text) outscores it."""
    work, left, right, height, third = plate_in_street
    proposals, rows, scores, _ = fine_rows(work, [[third - 2, 270, 820, 385]], height)
    short = int(np.argmax(scores))
    assert rows.left[short] > left + height  # the cut lost the first two glyphs
    widened, all_rows, new_scores = localise._with_recut_rows(work, proposals, rows, scores, len(rows.count),
                                                              _SideThread(1))
    assert len(widened.regions) == 2 and widened.regions[1, 0] < widened.regions[0, 0]
    assert widened.regions[1, 2] == widened.regions[0, 2]  # only the short side is widened
    best = int(np.argmax(new_scores))
    assert best >= len(rows.count)  # a row of the wider cut
    assert abs(all_rows.left[best] - left) < 0.5 * height and abs(all_rows.right[best] - right) < 0.5 * height
    assert new_scores[best] >= scores[short]
    assert new_scores[short] == pytest.approx(localise._RECUT_RANK * scores[short])


def test_rows_with_room_in_their_cut_or_at_the_frames_side_are_not_cut_again(plate_in_street) -> None:
    work, left, right, height, _ = plate_in_street
    proposals, rows, scores, _ = fine_rows(work, [[left - 2 * height, 270, right + 2 * height, 385]], height)
    text = int(np.argmax(scores))
    assert not np.logical_or(*localise._short_sides(rows, len(rows.count), proposals.regions[[0] * len(rows.count)],
                                                    work.shape[1]))[text]
    _, _, new_scores = localise._with_recut_rows(work, proposals, rows, scores, len(rows.count), _SideThread(1))
    assert int(np.argmax(new_scores)) == text and new_scores[text] == scores[text]
    at_frame = np.ascontiguousarray(work[:, int(left) - 3:])  # the text starts at the frame's left side
    proposals, rows, scores, _ = fine_rows(at_frame, [[0, 270, right - left + 2 * height, 385]], height)
    text = int(np.argmax(scores))
    assert rows.count[text] >= 6 and rows.left[text] < 0.5 * height
    assert not np.logical_or(*localise._short_sides(rows, len(rows.count), proposals.regions[[0] * len(rows.count)],
                                                    at_frame.shape[1]))[text]


def rows_of(spans: list[tuple[int, float, float, float]], height: float = 20.0) -> localise._Rows:
    """Level rows (key, left, right, centre line y) of one glyph height."""
    key, left, right, mid_y = np.array(spans, np.float64).reshape(-1, 4).T
    n = len(spans)
    return localise._Rows(count=np.full(n, 6.0), mid_x=(left + right) / 2, mid_y=mid_y, slope=np.zeros(n),
                          height=np.full(n, height), left=left, right=right, align=np.zeros(n),
                          height_cv=np.zeros(n), aspect=np.full(n, 0.5), fill=np.full(n, 0.5),
                          gap=np.full(n, 0.2), key=key)


def test_a_light_row_takes_in_the_dark_glyph_row_beside_it() -> None:
    """The light spaces between dark glyphs form a row shifted along the glyph row, here
    by one and a half glyph heights: it is widened to cover the whole text. The dark row
    keeps its own extent, and rows of another cut, another line or reaching less than a
    glyph further are left alone."""
    rows = rows_of([
        (0, 100, 300, 50),  # the dark glyphs of cut 0
        (1, 130, 312, 50),  # their light spaces: first glyph missed, margin taken in
        (3, 130, 312, 50),  # a light row of cut 1, which has no dark row
        (1, 130, 312, 72),  # a light row of cut 0 on another line (one glyph height lower)
        (4, 100, 300, 150),  # cut 2: dark glyphs...
        (5, 106, 300, 150),  # ... and a light row they reach past by less than a glyph
    ])
    widened = localise._with_light_rows_widened(rows)
    assert widened.left.tolist() == [100, 100, 130, 130, 100, 106]
    assert widened.right.tolist() == [300, 312, 312, 312, 300, 300]
    assert rows.left.tolist() == [100, 130, 130, 130, 100, 106]  # a new _Rows, the input unchanged


def test_a_dark_row_reaching_far_past_a_light_one_is_another_text() -> None:
    rows = rows_of([(0, 100, 300, 50), (1, 140, 312, 50)])  # two glyph heights further: not its partner
    assert localise._with_light_rows_widened(rows).left.tolist() == [100, 140]
    assert localise._with_light_rows_widened(rows_of([])).left.size == 0


def test_a_glyph_cut_off_by_the_frames_side_is_no_glyph(plate_in_street) -> None:
    """The frame's side runs through the plate's first glyph: the row starts at the second,
    and does not take in the stump that the frame's side leaves."""
    work, left, right, height, _ = plate_in_street
    _, rows, scores, whole = fine_rows(work, [[left - 2 * height, 270, right + 2 * height, 385]], height)
    first, second = glyph_starts(whole, rows, int(np.argmax(scores)))[:2]
    side = int(first + 0.3 * (second - first))  # through the first glyph
    cut_off = np.ascontiguousarray(work[:, side:])
    _, rows, scores, chars = fine_rows(cut_off, [[0, 270, right - side + 2 * height, 385]], height)
    text = int(np.argmax(scores))
    assert rows.count[text] >= 6
    assert abs(rows.left[text] - (second - side)) < 2
    assert not (chars[:, 0] < 1).any()


def test_a_shaded_row_cut_short_is_looked_for_again_brightened() -> None:
    """The wider cut of a row from the shade pass is brightened as its cut was: read plain,
    the shaded plate's glyphs are too faint for the fine pass."""
    work = shaded_scene(4)
    _, whole, _, chars = fine_rows(work, [[140, 215, 300, 275]], 16.0, shaded=True)
    text = int(np.argmax(whole.count))
    fourth = glyph_starts(chars, whole, text)[3]
    proposals, short, scores, _ = fine_rows(work, [[fourth - 2, 215, 300, 275]], 16.0, shaded=True)
    widened, all_rows, _ = localise._with_recut_rows(work, proposals, short, scores, len(short.count), _SideThread(1))
    assert widened.apart.all() and len(widened.regions) == 2
    found = all_rows.left[len(short.count):]
    assert len(found) and abs(found.min() - whole.left[text]) < 0.5 * whole.height[text]


def glyph_table(boxes: list[tuple[float, float, float, float, float]], key: int = 0) -> np.ndarray:
    """Glyph rows of the fine pass's table: (x, y, w, h, ink share of the box) in cut `key`."""
    return np.array([[x, y, w, h, fill * w * h, key] for x, y, w, h, fill in boxes], np.float32).reshape(-1, 6)


def test_a_last_glyph_run_into_a_sticker_above_it_still_ends_the_row() -> None:
    """Text 20 px high on the line y=50 (top 40, bottom 60), ending at x=300: a stroked blob
    just past its end that stands on its bottom line and runs 8 px higher (a 3 merged with a
    sticker) is its last glyph, and so is one hanging from its top line (merged with a
    slogan below). Solid (a sticker), thin (a frame's side), far, other-cut, free-floating
    blobs are not, nor any before the first glyph (an EU plate's band stands there)."""
    rows = rows_of([(0, 100, 300, 50), (2, 100, 300, 150), (4, 100, 300, 250), (6, 100, 300, 350)])
    chars = np.concatenate([
        glyph_table([(304, 32, 13, 28, 0.4),    # merged above, standing on the bottom line: taken
                     (78, 40, 13, 27, 0.4)]),   # the same before the first glyph: not taken
        glyph_table([(304, 132, 13, 28, 0.95),  # solid: a band or a sticker
                     (330, 132, 13, 28, 0.4)],  # a glyph height and more away
                    key=2),
        glyph_table([(304, 236, 13, 28, 0.4)], key=5),  # another cut's blob
        glyph_table([(304, 237, 13, 26, 0.4),   # pokes out above and below: clutter
                     (303, 238, 3, 26, 0.9)],   # thin: a frame's side
                    key=4),
        glyph_table([(302, 340, 14, 27, 0.5)], key=6),  # merged below, hanging from the top line: taken
    ])
    widened = localise._with_merged_end_glyphs(chars, rows)
    assert widened.right.tolist() == [317, 300, 300, 316] and widened.left.tolist() == [100] * 4
    assert rows.right.tolist() == [300] * 4  # a new _Rows, the input unchanged
    assert localise._with_merged_end_glyphs(chars[:0], rows).right.tolist() == [300] * 4


def parted_text(gap: int) -> np.ndarray:
    """A light frame with a dark row 'AB1', a gap of `gap` px holding a round emblem, then 'C2D'."""
    image = np.full((240, 640), 200, np.uint8)
    cv2.putText(image, "AB1", (150, 140), FONT, 1.2, 30, 3, cv2.LINE_AA)
    (left_w, _), _ = cv2.getTextSize("AB1", FONT, 1.2, 3)
    cv2.circle(image, (150 + left_w + gap // 2, 128), 6, 90, -1)
    cv2.putText(image, "C2D", (150 + left_w + gap, 140), FONT, 1.2, 30, 3, cv2.LINE_AA)
    return image


def test_coarse_rows_parted_by_an_emblem_are_proposed_joined_too() -> None:
    image = parted_text(gap=60)  # over two glyph heights: too wide for one coarse row, joinable (2.5)
    chars = localise._coarse_pass(image)[0]
    halves = localise._row_proposals(chars)[0]
    joined = localise._rows_as_proposals(localise._joined_rows(chars, *localise._coarse_rows(chars)))[0]
    text_left, text_right = 150, 150 + cv2.getTextSize("AB1", FONT, 1.2, 3)[0][0] + 60 + 60
    spans = (halves[:, 0] <= text_left + 5) & (halves[:, 2] >= text_right - 5)
    assert not spans.any()  # the coarse pass alone proposes the halves apart
    assert ((joined[:, 0] <= text_left + 5) & (joined[:, 2] >= text_right - 5)).any()


def test_joined_proposals_are_read_apart_below_lit_ones_and_only_where_new() -> None:
    lit = localise._Proposals(np.float32([[0, 0, 100, 40]]), np.float32([12]), np.float32([[0, 0, 100, 40]]),
                              np.float32([0.9]), np.zeros(1, bool), np.ones(1, np.float32))
    regions = np.float32([[10, 0, 90, 40], [0, 0, 220, 40], [300, 0, 420, 40], [300, 0, 420, 40]])
    scores = np.float32([0.8, 0.7, 0.2, 0.6])
    more = localise._with_apart_proposals(lit, (regions, regions, np.full(4, 12, np.float32), scores),
                                          localise._JOINED_MIN_SCORE, localise._JOINED_OVERLAP,
                                          localise._JOINED_PROPOSALS, localise._JOINED_RANK)
    # the first lies inside the lit cut, the third scores too low: the second and fourth are new
    assert more.regions.tolist() == [[0, 0, 100, 40], [0, 0, 220, 40], [300, 0, 420, 40]]
    assert more.apart.tolist() == [False, True, True]
    assert more.rank.tolist() == [1.0, localise._JOINED_RANK, localise._JOINED_RANK]


def far_us_plate(text: str, width: int) -> np.ndarray:
    """A US-proportioned plate `width` px wide, drawn large and shrunk as a far camera sees
    it: a gap between its two groups and a dark band under the text, which its glyphs
    touch once shrunk."""
    big_w, big_h = width * 8, width * 4
    plate = np.full((big_h, big_w, 3), 235, np.uint8)
    cv2.rectangle(plate, (0, 0), (big_w - 1, big_h - 1), (60, 60, 60), 10)
    cv2.rectangle(plate, (0, int(big_h * 0.80)), (big_w, int(big_h * 0.86)), (40, 40, 40), -1)
    scale, thick = 4.2 * big_w / 520, round(16 * big_w / 520)
    (text_w, _), _ = cv2.getTextSize(text, FONT, scale, thick)
    cv2.putText(plate, text, ((big_w - text_w) // 2, int(big_h * 0.78)), FONT, scale, (90, 40, 20), thick, cv2.LINE_AA)
    return cv2.resize(plate, (width, width // 2), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize(("text", "width", "seed"), [("552 PML", 50, 1), ("7KX 4HF", 56, 0), ("304 SZT", 56, 3)])
def test_a_far_plate_whose_glyphs_run_together_when_coarse_is_found_on_the_small_plate_copy(
        localiser: Localiser, text: str, width: int, seed: int) -> None:
    quad = rect_quad(300 + 37 * seed, 300 + 13 * seed, width, width / 2)
    image = place(street(seed), far_us_plate(text, width), quad)
    assert best_iou(localiser.find(image), box_of(quad)) >= 0.45
    assert best_iou(Localiser(LocaliserConfig(small_plate_width=0)).find(image), box_of(quad)) < 0.3


def test_small_plate_rows_are_read_apart_below_lit_ones_and_only_from_a_finer_copy() -> None:
    image = localise._to_grey(place(street(1), far_us_plate("552 PML", 50), rect_quad(337, 313, 50, 25)))
    none = localise._Proposals(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty((0, 4), np.float32),
                               np.empty(0, np.float32), np.empty(0, bool), np.empty(0, np.float32))

    def with_small_plates(made: localise._Proposals, image: np.ndarray, coarse_width: int, width: int):
        rows = localise._small_plate_rows(localise._small_plate_glyphs(image, coarse_width, width))
        return localise._with_apart_proposals(made, rows,
                                              localise._SMALL_MIN_SCORE, localise._SMALL_OVERLAP,
                                              localise._SMALL_PROPOSALS, localise._SMALL_RANK)

    more = with_small_plates(none, image, 640, 960)
    assert 1 <= len(more.scores) <= localise._SMALL_PROPOSALS
    assert more.apart.all() and (more.rank == localise._SMALL_RANK).all()
    plate_row = (more.regions[:, 0] <= 345) & (more.regions[:, 2] >= 380) & (more.regions[:, 1] <= 320)
    assert plate_row.any()  # in working pixels, around the plate's text
    assert with_small_plates(none, image, 640, 0) is none  # turned off
    assert with_small_plates(none, image, 900, 960) is none  # the copy is hardly finer
    narrow = with_small_plates(none, image[:, :800], 640, 960)  # searched at its own size
    assert ((narrow.regions[:, 0] <= 345) & (narrow.regions[:, 2] >= 380)).any()
    assert with_small_plates(more, image, 640, 960).regions.shape == more.regions.shape  # no repeats


def test_a_frame_searched_on_two_threads_gives_the_candidates_of_one() -> None:
    """The side thread only runs independent parts at once; their results are combined in
    one fixed order, so the candidates (outlines and scores) are the same to the bit."""
    image = place(street(1), flat_plate("AB12 CDE", (235, 235, 235), (20, 20, 20)), rect_quad(700, 150, 220, 47))
    image = place(image, far_us_plate("552 PML", 50), rect_quad(337, 313, 50, 25))  # found on the small plates' copy
    image[400:640, 700:1180] = cv2.resize(cv2.cvtColor(shaded_scene(3), cv2.COLOR_GRAY2BGR), (480, 240))
    one, two = (Localiser(LocaliserConfig(threads=threads)) for threads in (1, 2))
    for _ in range(3):  # the threads finish in another order each time
        found_one, found_two = one.find(image), two.find(image)
        assert len(found_one) >= 3  # the lit plate, the far one, the shaded one
        assert [(c.box, c.score, c.quad.tobytes()) for c in found_one] == [
            (c.box, c.score, c.quad.tobytes()) for c in found_two]
    assert one._side._pool is None and two._side._pool is not None


def _candidates_in_child(localiser: Localiser, image: np.ndarray, results) -> None:
    results.put([(c.box, c.score) for c in localiser.find(image)])


def test_a_localiser_used_before_a_fork_searches_in_the_forked_process() -> None:
    """A training data loader's workers are forked from a process whose localiser has already
    run on two threads; the child's search must finish, with the parent's candidates."""
    image = place(street(1), flat_plate("AB12 CDE", (235, 235, 235), (20, 20, 20)), rect_quad(700, 150, 220, 47))
    localiser = Localiser(LocaliserConfig(threads=2))
    expected = [(c.box, c.score) for c in localiser.find(image)]
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_candidates_in_child, args=(localiser, image, results))
    child.start()
    try:
        found = results.get(timeout=60)
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    assert expected and found == expected


@pytest.mark.parametrize("threads", [1, 2])
def test_a_part_that_fails_raises_when_its_result_is_asked_for_on_either_thread_count(threads: int) -> None:
    side = _SideThread(threads)
    failed = side.start(lambda: 1 // 0)
    assert side.start(lambda: 6 * 7).result() == 42  # the side thread goes on
    with pytest.raises(ZeroDivisionError):
        failed.result()


def test_larger_plates_read_the_same_with_or_without_the_small_plate_pass(localiser: Localiser) -> None:
    quad = rect_quad(700, 150, 220, 47)
    image = place(street(12), flat_plate("AB12 CDE", (235, 235, 235), (20, 20, 20)), quad)
    image = place(image, far_us_plate("552 PML", 50), rect_quad(337, 413, 50, 25))
    with_pass = [c for c in localiser.find(image) if c.box.iou(box_of(quad)) > 0]
    without = [c for c in Localiser(LocaliserConfig(small_plate_width=0)).find(image) if c.box.iou(box_of(quad)) > 0]
    assert with_pass and [(c.box, c.score) for c in with_pass] == [(c.box, c.score) for c in without]


def glyph_line(texts: list[tuple[str, int]], furniture=None) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A grey plate (paper 230 on a 110 car body) with each (glyph, left x) drawn 40 px tall
    on the line y 60-100, and `furniture(image)` drawn over it; and each glyph's ink span."""
    image = np.full((160, 640), 110, np.uint8)
    cv2.rectangle(image, (40, 30), (600, 130), 230, -1)
    spans = []
    for text, x in texts:
        (w, h), _ = cv2.getTextSize(text, FONT, 1.45, 4)
        cv2.putText(image, text, (x, 100), FONT, 1.45, 20, 4, cv2.LINE_AA)
        cols = np.flatnonzero((image[60:101, x - 4:x + w + 4] < 100).any(axis=0))
        spans.append((x - 4 + int(cols[0]), x - 4 + int(cols[-1]) + 1))
    if furniture:
        furniture(image)
    return image, spans


def row_quad(left: float, right: float, glyph_h: float = 40.0, line_y: float = 80.0) -> np.ndarray:
    """The quad `_plate_quads` makes of a level row of text from `left` to `right`."""
    margin, half = localise._SIDE_MARGIN * glyph_h, 0.5 * localise.TEXT_TO_PLATE_H * glyph_h
    return rect_quad(left - margin, line_y - half, right - left + 2 * margin, 2 * half)


def text_ends(quad: np.ndarray, glyph_h: float = 40.0) -> tuple[float, float]:
    margin = localise._SIDE_MARGIN * glyph_h
    return float(quad[0, 0] + margin), float(quad[1, 0] - margin)


PLATE_GLYPHS = [("4", 80), ("N", 116), ("Z", 152), ("Z", 188), ("9", 224), ("3", 260), ("5", 296), ("I", 332)]


def refound(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """One row's quad as `_with_end_glyphs_refound` widens it."""
    return localise._with_end_glyphs_refound(image, quad[None])[0]


def test_glyphs_a_row_left_out_at_its_ends_are_taken_in() -> None:
    """A row that found 4NZZ935I from its first Z to its 5 (the 4 and N beside the frame,
    the thin I) is carried over both of its first glyphs and its last one, whole."""
    image, spans = glyph_line(PLATE_GLYPHS)
    short = row_quad(spans[2][0], spans[6][1])
    left, right = text_ends(refound(image, short))
    assert abs(left - spans[0][0]) <= 2 and abs(right - spans[7][1]) <= 2
    whole = row_quad(spans[0][0], spans[7][1])
    assert np.array_equal(refound(image, whole), whole)  # nothing more to take


@pytest.mark.parametrize("furniture", [
    lambda im: cv2.rectangle(im, (338, 34), (346, 126), 20, -1),  # the frame's side, past the glyph lines
    lambda im: cv2.rectangle(im, (338, 60), (362, 100), 20, -1),  # a solid sticker
    lambda im: cv2.putText(im, "7", (372, 100), FONT, 1.45, 20, 4, cv2.LINE_AA),  # a word further on
    lambda im: cv2.putText(im, "7", (340, 90), FONT, 1.1, 20, 4, cv2.LINE_AA),  # smaller print
    lambda im: (cv2.rectangle(im, (44, 32), (70, 128), 60, -1),  # an EU plate's country band
                cv2.putText(im, "NL", (46, 118), FONT, 0.45, 230, 1, cv2.LINE_AA)),
], ids=["frame side", "sticker", "far glyph", "small print", "country band"])
def test_what_stands_past_a_row_but_is_no_glyph_of_it_is_left_out(furniture) -> None:
    image, spans = glyph_line(PLATE_GLYPHS[:-1], furniture)
    whole = row_quad(spans[0][0], spans[-1][1])
    assert np.array_equal(refound(image, whole), whole)


def test_end_glyphs_are_taken_in_along_a_tilted_row() -> None:
    """The plate rotated 8 degrees: the row's quad is tilted, and its ends move along it."""
    image, spans = glyph_line(PLATE_GLYPHS)
    turn = cv2.getRotationMatrix2D((320, 80), 8, 1.0)
    tilted = cv2.warpAffine(image, turn, (640, 160), borderMode=cv2.BORDER_REPLICATE)
    short = row_quad(spans[2][0], spans[6][1])
    quad = cv2.transform(short[None], turn)[0].astype(np.float32)
    grown = refound(tilted, quad)
    along = (quad[1] - quad[0]) / np.linalg.norm(quad[1] - quad[0])
    gained = [float(np.dot(quad[0] - grown[0], along)), float(np.dot(grown[1] - quad[1], along))]
    assert gained[0] == pytest.approx(spans[2][0] - spans[0][0], abs=3)
    assert gained[1] == pytest.approx(spans[7][1] - spans[6][1], abs=3)
    top = grown[1] - grown[0]
    assert abs(top[0] * along[1] - top[1] * along[0]) < 1e-3  # the same line


def test_rows_looked_at_together_widen_as_each_alone() -> None:
    """All of a frame's rows are labelled in one stack: each row comes out as it would alone,
    whatever rows stand beside it (wider, narrower, with or without glyphs to take in)."""
    image, spans = glyph_line(PLATE_GLYPHS)
    wide = np.zeros((480, 640), np.uint8)
    wide[:160], wide[160:320], wide[320:] = image, np.flipud(image), image[:, ::-1]
    quads = np.stack([row_quad(spans[2][0], spans[6][1]), row_quad(spans[0][0], spans[7][1]),
                      row_quad(spans[1][0], spans[5][1]) + np.float32([0, 320]),
                      row_quad(spans[3][0], spans[4][1]) + np.float32([0, 160])])
    together = localise._with_end_glyphs_refound(wide, quads)
    assert not np.array_equal(together[0], quads[0])  # one row does take glyphs in
    for quad, widened in zip(quads, together):
        assert np.array_equal(refound(wide, quad), widened)
    assert localise._with_end_glyphs_refound(wide, quads[:0]).shape == (0, 4, 2)


def test_every_row_candidate_is_looked_at_again_for_end_glyphs(localiser: Localiser, monkeypatch) -> None:
    """`find` returns a row's quad as `_with_end_glyphs_refound` leaves it, boxed anew."""
    image = place(street(3), flat_plate("AB12CDE", (235, 235, 235), (20, 20, 20)), rect_quad(500, 300, 260, 55))
    plate = localiser.find(image)[0]
    monkeypatch.setattr(localise, "_with_end_glyphs_refound", lambda grey, quads: quads - np.float32([30, 0]))
    moved = localiser.find(image)[0]
    assert np.allclose(moved.quad, plate.quad - np.float32([30, 0]))
    assert moved.box == Box(plate.box.x - 30, plate.box.y, plate.box.w, plate.box.h) and moved.score == plate.score


def carded_text(card: int | None, body: int = 110, frame: int | None = None) -> np.ndarray:
    """'4817 265' 40 px tall on the line y 60-100: on a card of grey `card` (a plate, its edges
    a third of a glyph height clear of the text) on a `body`, with a `frame` line round the card
    where given; with `card` None, painted straight on the body (a van's fleet number)."""
    image = np.full((160, 640), body, np.uint8)
    if card is not None:
        cv2.rectangle(image, (60, 46), (400, 114), card, -1)
    if frame is not None:
        cv2.rectangle(image, (60, 46), (400, 114), frame, 3)
    cv2.putText(image, "4817 265", (80, 100), FONT, 1.45, 20, 4, cv2.LINE_AA)
    return image


TEXT_QUAD = row_quad(80, 375)


@pytest.mark.parametrize("image", [carded_text(230), carded_text(230, body=170), carded_text(110, frame=40),
                                   carded_text(230, body=235, frame=150)],
                         ids=["white on grey", "white on silver", "framed, the body's grey", "framed, on white"])
def test_a_plate_card_has_edges_above_and_below_its_text(image) -> None:
    assert localise.plate_edge_contrast(image, TEXT_QUAD) >= 0.15


def test_a_plate_the_colour_of_its_car_shows_no_edge() -> None:
    """The measure's blind spot (edge.clutter.is_unframed_text keeps such a plate only when
    its text is structured): a white card on a white body, unframed."""
    assert localise.plate_edge_contrast(carded_text(230, body=235), TEXT_QUAD) < 0.03


@pytest.mark.parametrize("image", [carded_text(None), carded_text(None, body=200)], ids=["on grey", "on white"])
def test_text_painted_on_a_panel_has_no_plate_edges(image) -> None:
    assert localise.plate_edge_contrast(image, TEXT_QUAD) < 0.03


def test_plate_edges_are_found_along_a_tilted_row() -> None:
    turn = cv2.getRotationMatrix2D((230, 80), -7, 1.0)
    quad = cv2.transform(TEXT_QUAD[None], turn)[0].astype(np.float32)
    quad[[0, 3], 0], quad[[1, 2], 0] = quad[[0, 3], 0].mean(), quad[[1, 2], 0].mean()  # sides upright, as rows have
    plate = cv2.warpAffine(carded_text(230), turn, (640, 160), borderValue=110)
    painted = cv2.warpAffine(carded_text(None), turn, (640, 160), borderValue=110)
    assert localise.plate_edge_contrast(plate, quad) >= 0.1 > 0.03 > localise.plate_edge_contrast(painted, quad)


def test_a_colour_frame_and_a_row_too_small_to_measure() -> None:
    colour = cv2.cvtColor(carded_text(230), cv2.COLOR_GRAY2BGR)
    assert localise.plate_edge_contrast(colour, TEXT_QUAD) == pytest.approx(
        localise.plate_edge_contrast(carded_text(230), TEXT_QUAD), abs=0.02)
    assert localise.plate_edge_contrast(colour, rect_quad(100, 70, 12, 5)) == float("inf")


def sign_lines(*lines: str, spacing: float = 1.6) -> tuple[np.ndarray, list[np.ndarray]]:
    """Lines of text 40 px tall on a light panel with a dark border, `spacing` glyph heights
    from one baseline to the next (a sign), and each line's row quad."""
    image = np.full((400, 640), 110, np.uint8)
    cv2.rectangle(image, (40, 20), (600, 380), 235, -1)
    cv2.rectangle(image, (40, 20), (600, 380), 40, 3)
    quads = []
    for number, text in enumerate(lines):
        baseline = int(90 + number * spacing * 40)
        cv2.putText(image, text, (80, baseline), FONT, 1.45, 20, 4, cv2.LINE_AA)
        (width, _), _ = cv2.getTextSize(text, FONT, 1.45, 4)
        quads.append(row_quad(80, 80 + width, line_y=baseline - 20))
    return image, quads


def test_a_sign_line_has_a_like_high_line_stacked_on_it() -> None:
    image, (upper, lower) = sign_lines("PRIVATE", "PROPERTY")
    assert localise.stacked_line_cover(image, lower) >= 0.6  # the line above covers most of it
    assert localise.stacked_line_cover(image, upper) >= 0.6  # ... and the line below
    spaced, (upper, lower) = sign_lines("EXIT", "ONLY", spacing=2.0)
    assert localise.stacked_line_cover(spaced, lower) >= 0.6


def test_a_line_further_than_a_glyph_height_off_is_not_stacked() -> None:
    """A livery's line or another car's plate beyond a plate's margin."""
    image, (_, lower) = sign_lines("SAN FRANCISCO", "1056", spacing=2.7)
    assert localise.stacked_line_cover(image, lower) == 0.0


def test_a_plates_small_print_and_border_are_not_a_stacked_line() -> None:
    """A plate's state name above and dealer's line below its number are smaller print,
    and its border and bolts are no line of glyphs."""
    image = carded_text(230, frame=40)
    cv2.putText(image, "CALIFORNIA", (150, 56), FONT, 0.4, 60, 1, cv2.LINE_AA)
    cv2.putText(image, "DEALER 555 0123", (130, 112), FONT, 0.35, 60, 1, cv2.LINE_AA)
    for x in (90, 370):
        cv2.circle(image, (x, 53), 4, 90, -1)
    assert localise.stacked_line_cover(image, TEXT_QUAD) == 0.0


def test_a_row_too_small_to_measure_has_no_stacked_line() -> None:
    image, (upper, _) = sign_lines("PRIVATE", "PROPERTY")
    assert localise.stacked_line_cover(image, rect_quad(100, 70, 12, 5)) == 0.0
    colour = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    assert localise.stacked_line_cover(colour, upper) == pytest.approx(localise.stacked_line_cover(image, upper))


def plate_on_body(paper: int, ink: int, body: int, plate_box: tuple[int, int, int, int] = (200, 120, 200, 100)
                  ) -> np.ndarray:
    """A grey frame: a car body of one tone holding a US-shaped plate (`plate_box`, x y w h)
    of another, its number across the middle in `ink`."""
    image = np.full((360, 600), body, np.uint8)
    x, y, w, h = plate_box
    image[y:y + h, x:x + w] = paper
    cv2.putText(image, "6ABC123", (x + 12, y + 68), FONT, 1.25, ink, 3, cv2.LINE_AA)
    return image


@pytest.mark.parametrize("row", [
    Box(170, 140, 220, 45),  # runs onto the bumper on the left
    Box(230, 140, 160, 45),  # stops short of the first glyph
    Box(205, 140, 190, 45),  # about the row itself
])
def test_a_rows_plate_panel_is_the_card_around_it(row: Box) -> None:
    """However the row's box strays, the panel found is the plate's own card."""
    panel = localise.plate_panel(plate_on_body(paper=225, ink=30, body=90), row)
    assert panel == Box(200, 120, 200, 100)


def test_a_light_on_dark_plates_panel_is_found_through_its_background() -> None:
    panel = localise.plate_panel(plate_on_body(paper=35, ink=230, body=200), Box(175, 140, 210, 45))
    assert panel == Box(200, 120, 200, 100)


def test_a_plate_on_a_body_of_its_own_tone_has_no_panel() -> None:
    """The plate's tone runs on into the body: nothing plate-sized bounds it."""
    assert localise.plate_panel(plate_on_body(paper=225, ink=30, body=225), Box(205, 140, 190, 45)) is None


def test_a_panel_running_out_of_the_window_looked_in_is_refused() -> None:
    """A row a third of its plate's height, set high: the card runs on below the window around the row,
    so how big it is is not known."""
    assert localise.plate_panel(plate_on_body(paper=225, ink=30, body=90), Box(205, 145, 190, 35)) is None


def test_text_on_a_wide_panel_has_no_plate_panel() -> None:
    """A van's lettering: its panel is far wider than a plate around the row."""
    wide = plate_on_body(paper=225, ink=30, body=90, plate_box=(20, 120, 560, 100))
    assert localise.plate_panel(wide, Box(205, 140, 190, 45)) is None


def test_a_row_at_the_frames_corner_or_too_small_is_looked_at_safely() -> None:
    image = plate_on_body(paper=225, ink=30, body=90, plate_box=(0, 0, 200, 100))
    assert localise.plate_panel(image, Box(0, 20, 200, 45)) == Box(0, 0, 200, 100)
    assert localise.plate_panel(image, Box(300, 300, 2, 1)) is None
    colour = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    assert localise.plate_panel(colour, Box(0, 20, 200, 45)) == Box(0, 0, 200, 100)
