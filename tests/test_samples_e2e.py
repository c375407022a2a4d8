"""The shipped model and pipeline on the bundled synthetic footage (the README's main job).

Stills: the model must read the samples it ships with. Sequences: every vehicle is one
pass with the right plate and the right zone event (100% asserted, as the issue demands).
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import load_config, with_countries
from edge.evaluate import evaluate_stills, load_labels
from edge.imageio import load_image
from edge.localise import plate_panel
from edge.pipeline import PLATE_LOOK_SURE, RETRY_FLOOR, THIRD_LOOK_BELOW, FrameReading, PlateReader
from edge.read import LOOK_NETWORK, US_LOOK_NETWORK
from edge.record import to_payload, validate_payload
from edge.replay import replay_camera, still_passes, video_passes
from edge.track import StillText
from edge.types import Box, Detection, PlateCandidate, PlateRead

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_images"
SEQUENCES = SAMPLES / "sequences"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def config():
    return load_config(ROOT / "config" / "default.yaml")


@pytest.fixture(scope="module")
def reader(config):
    return PlateReader(config)


def sequence_labels() -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    with (SEQUENCES / "labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["file"], []).append(row)
    return rows


def test_stills_are_read(config):
    score = evaluate_stills(config, SAMPLES, load_labels(SAMPLES), limit=None, progress=False)
    summary = score.summary("sample_images")
    assert summary["detection_rate"] >= 0.95, summary
    assert summary["exact_rate"] >= 0.8, summary
    assert summary["false_reads_per_image"] <= 0.15, summary
    configured = config.plates.min_confidence
    point = next(p for p in summary["by_min_confidence"] if p["min_confidence"] == configured)
    assert (point["exact"], point["false_reads_per_image"]) == (summary["exact"], summary["false_reads_per_image"])
    exact = [p["exact"] for p in summary["by_min_confidence"]]
    assert exact == sorted(exact, reverse=True)  # a higher threshold never adds a read


def test_a_us_unit_cuts_its_plates_at_the_outline_and_still_reads_them(config, reader):
    """`us` units crop without the margin other units add (edge.read.crop_pads): the same
    candidates come out about 1/1.16 as wide, and the US samples still read."""
    us_reader = PlateReader(with_countries(config, ["us", "generic"]))
    for name, plate in (("20_us_rear.jpg", "6788075"), ("21_us_front.jpg", "54292")):
        image = load_image(SAMPLES / name)
        ours, usual = us_reader.read(image, keep_crops=True), reader.read(image, keep_crops=True)
        assert [c.box for c in ours.candidates] == [c.box for c in usual.candidates]
        ratios = [a.shape[1] / b.shape[1] for a, b in zip(ours.crops, usual.crops)]
        assert ratios and all(0.8 < r < 0.92 for r in ratios), ratios
        assert plate in [d.read.text for d in us_reader.plates(ours)]


def count_batches(reader: PlateReader, monkeypatch) -> list[tuple[str, int]]:
    """Record each recogniser call of `reader` as (which network, crops in the batch)."""
    batches: list[tuple[str, int]] = []
    for name in ("recogniser", "look_recogniser"):
        network = getattr(reader, name)
        if name == "look_recogniser" and network is reader.recogniser:
            break  # one network reads every look

        def counted(crops, name=name, run=network.recognise):
            batches.append((name, len(crops)))
            return run(crops)
        monkeypatch.setattr(network, "recognise", counted)
    return batches


def test_a_second_look_rereads_only_the_plausible_plates_and_agrees_on_a_clear_one(config, reader, monkeypatch):
    """The second batch holds just the candidates whose first reading could be a plate (one
    or two per frame), read by the looks' network, and a clear plate read twice keeps its
    confidence."""
    batches = count_batches(reader, monkeypatch)
    reading = reader.read(load_image(SAMPLES / "07_gb_current_front.jpg"))
    plates = reader.plates(reading)
    assert [name for name, _ in batches] == ["recogniser", "look_recogniser"], batches
    assert 1 <= batches[1][1] < batches[0][1], batches
    assert plates and plates[0].read.confidence >= 0.9, [(d.read.text, d.read.confidence) for d in plates]
    one_look = config.recogniser.model_copy(update={"second_look": False})
    single = PlateReader(config.model_copy(update={"recogniser": one_look}))
    assert single.look_recogniser is single.recogniser  # no second network loaded for no looks
    batches = count_batches(single, monkeypatch)
    single.read(load_image(SAMPLES / "07_gb_current_front.jpg"))
    assert len(batches) == 1


def test_the_looks_network_is_a_second_network_unless_set_off(config, reader):
    """`recogniser.look_network` loads a second network for the later looks, spelling with
    the first one's alphabet: by default (`auto`) the US one on a unit reading only US
    plates, the general one elsewhere, or the one named; null has the first network read
    every look."""
    assert config.recogniser.look_network == "auto"
    assert reader.look_recogniser is not reader.recogniser
    assert reader.look_recogniser.alphabet == reader.recogniser.alphabet
    assert reader.look_recogniser.manifest["network"] == LOOK_NETWORK
    us_reader = PlateReader(with_countries(config, ["us", "generic"]))
    assert us_reader.look_recogniser.manifest["network"] == US_LOOK_NETWORK
    assert us_reader.look_recogniser.alphabet == us_reader.recogniser.alphabet
    named = config.recogniser.model_copy(update={"look_network": US_LOOK_NETWORK})
    named_reader = PlateReader(config.model_copy(update={"recogniser": named}))
    assert named_reader.look_recogniser.manifest["network"] == US_LOOK_NETWORK
    same = config.recogniser.model_copy(update={"look_network": None})
    one_network = PlateReader(config.model_copy(update={"recogniser": same}))
    assert one_network.look_recogniser is one_network.recogniser


def test_an_end_look_gives_a_us_row_cut_a_glyph_short_its_last_glyph(config, monkeypatch):
    """A US unit's row that the localiser ends a glyph short (its outline's right sixth cut
    off) reads whole through the end look, in the second look's batch; with no end look (and
    no plate look, which reads the short row whole too) it reads the short text. Units
    reading banded plates have no end look."""
    us_reader = PlateReader(with_countries(config, ["us", "generic"]))
    image = load_image(SAMPLES / "20_us_rear.jpg")
    reading = us_reader.read(image)
    found, (tl, tr, br, bl) = max(zip(reading.detections, reading.outlines()),
                                  key=lambda pair: pair[0].read.confidence if pair[0].read else 0.0)
    assert found.read.text == "6788075"
    short = (tr - tl) / 6
    cut_short = PlateCandidate(found.box, 1.0, np.array([tl, tr - short, br - short, bl], np.float32))
    monkeypatch.setattr(us_reader.localiser, "find", lambda *_: [cut_short])
    monkeypatch.setattr(us_reader, "retry_localiser", None)  # read the candidate given, alone
    batches = count_batches(us_reader, monkeypatch)
    assert [d.read.text for d in us_reader.plates(us_reader.read(image), 0.0)] == ["6788075"]
    assert batches[:2] == [("recogniser", 1), ("look_recogniser", 2)], batches
    no_later_looks = us_reader.pads._replace(end_reach=0.0, plate_look=False)
    monkeypatch.setattr(us_reader, "pads", no_later_looks)
    assert [d.read.text for d in us_reader.plates(us_reader.read(image), 0.0)] == ["678807"]
    assert PlateReader(with_countries(config, ["gb", "us", "generic"])).pads.end_reach == 0.0


def test_a_plate_look_reads_a_us_plate_whose_row_reads_unsurely(config, monkeypatch):
    """A US unit's row outline found twice as tall as the row (running half its height over
    each edge, as where the plate's frame joins the row) reads unsurely (a glyph wrong, or
    right without conviction, as the looks' networks differ); the plate look, cut as wide as
    the plate around the row, reads it right and surely, and its read replaces the row's.
    The plate cuts are read after the row's looks, by the first network and then the looks';
    with no plate look the row's unsure read stands."""
    us_config = with_countries(config, ["us", "generic"])
    # the bare-text rule measures the plate's frame around the tall outline, and would drop it
    kept = us_config.plates.model_copy(update={"drop_unframed_text": False})
    us_reader = PlateReader(us_config.model_copy(update={"plates": kept}))
    image = load_image(SAMPLES / "20_us_rear.jpg")
    reading = us_reader.read(image)
    found, (tl, tr, br, bl) = max(zip(reading.detections, reading.outlines()),
                                  key=lambda pair: pair[0].read.confidence if pair[0].read else 0.0)
    assert found.read.text == "6788075"
    half = ((bl - tl) + (br - tr)) / 4
    tall = np.array([tl - half, tr - half, br + half, bl + half], np.float32)
    monkeypatch.setattr(us_reader.localiser, "find", lambda *_: [PlateCandidate(found.box, 1.0, tall)])
    monkeypatch.setattr(us_reader, "retry_localiser", None)  # read the candidate given, alone
    batches = count_batches(us_reader, monkeypatch)
    [plate] = us_reader.plates(us_reader.read(image), 0.0)
    assert plate.read.text == "6788075" and plate.read.confidence >= 0.9
    firsts = [batch for batch in batches if batch[0] == "recogniser"]
    # the row's first look, then the plate's cuts in one batch: drawn around the row, and the
    # plate's panel (the row reads too unsurely to report)
    assert firsts == [("recogniser", 1), ("recogniser", 2)], batches
    monkeypatch.setattr(us_reader, "pads", us_reader.pads._replace(plate_look=False))
    [row] = us_reader.plates(us_reader.read(image), 0.0)
    assert row.read.confidence < PLATE_LOOK_SURE <= plate.read.confidence


def test_a_panel_look_frames_a_us_row_too_unsure_to_report(config, monkeypatch):
    """A US unit's row found as a box (no outline) that starts inside its first glyph and
    runs past the plate's end reads unsurely, under a unit's 0.7 threshold; its plate's
    panel (edge.localise.plate_panel), found around the box, frames the plate and reads it
    surely. With no plate look the row's unsure read stands."""
    us_config = with_countries(config, ["us", "generic"])
    strict = us_config.plates.model_copy(update={"min_confidence": 0.7})
    us_reader = PlateReader(us_config.model_copy(update={"plates": strict}))
    image = load_image(SAMPLES / "20_us_rear.jpg")
    found = max(us_reader.read(image).detections, key=lambda d: d.read.confidence if d.read else 0.0)
    assert found.read.text == "6788075"
    box = found.box
    astray = Box(box.x + box.w // 8, box.y, box.w - box.w // 8, box.h)
    panel = plate_panel(image, astray)
    # the panel reaches back over the first glyph, and ends at the plate's edge, short of the box's
    assert panel is not None and panel.x < astray.x and panel.x + panel.w < astray.x + astray.w
    monkeypatch.setattr(us_reader.localiser, "find", lambda *_: [PlateCandidate(astray, 1.0)])
    monkeypatch.setattr(us_reader, "retry_localiser", None)  # read the candidate given, alone
    [plate] = us_reader.plates(us_reader.read(image), 0.0)
    assert plate.read.text == "6788075" and plate.read.confidence >= 0.9
    monkeypatch.setattr(us_reader, "pads", us_reader.pads._replace(plate_look=False))
    [row] = us_reader.plates(us_reader.read(image), 0.0)
    assert row.read.confidence < strict.min_confidence


@pytest.mark.parametrize("row, plate, taken", [
    (("6788O75", 0.3), ("6788075", 0.6), True),  # sure enough, surer, as long
    (("6788O75", 0.3), ("6788075", 0.59), False),  # not sure enough
    (("6788O75", 0.7), ("6788075", 0.65), False),  # sure, but not surer than the row
    (("6788075", 0.5), ("788075", 0.95), False),  # shorter: the cut lost an end glyph
    (("788075", 0.5), ("6788075", 0.95), True),  # longer: the row lost one
])
def test_a_plate_looks_read_replaces_the_rows_only_if_sure_surer_and_no_shorter(row, plate, taken):
    assert PlateReader._surer_plate(PlateRead(*row), PlateRead(*plate)) is taken
    assert PlateReader._surer_plate(PlateRead(*row), None) is False


@pytest.mark.parametrize("row, panel, outline, heard", [
    (("6788O75", 0.3), ("6788075", 0.9), None, True),  # the row is too unsure to report
    (("6788O75", 0.5), ("6788075", 0.9), ("6788075", 0.7), True),  # reported, and the drawn cut agrees
    (("6788O75", 0.5), ("6788075", 0.9), ("6788O75", 0.7), False),  # the drawn cut reads the row's text
    (("6788O75", 0.5), ("6788075", 0.9), None, False),  # no drawn cut (a row with no outline)
    (("6788O75", 0.5), None, None, False),
])
def test_a_panels_read_is_heard_for_an_unreported_row_or_where_the_drawn_cut_agrees(row, panel, outline, heard):
    as_read = [PlateRead(*pair) if pair else None for pair in (panel, outline)]
    assert PlateReader._panel_heard(PlateRead(*row), *as_read, min_confidence=0.4) is heard


def test_a_frame_with_no_sure_read_is_searched_again_on_a_finer_copy(config, monkeypatch):
    """Where the first search reads nothing (here it finds nothing at all), the frame is
    searched again with the retry localiser (rows proposed on a 960 px copy), which finds
    and reads the plate; with the retry off the frame stays unread. A frame whose first
    search reads a plate surely is not searched again."""
    reader = PlateReader(config)
    assert reader.retry_localiser.config.proposal_width == config.localiser.retry_proposal_width == 960
    image = load_image(SAMPLES / "02_gb_current_rear.jpg")
    retries = []
    retry_find = reader.retry_localiser.find
    monkeypatch.setattr(reader.retry_localiser, "find", lambda *args: retries.append(1) or retry_find(*args))
    sure = reader.read(image)
    [plate] = reader.plates(sure, config.plates.min_confidence)
    assert plate.read.text == "FC12DSG" and retries == [] and not sure.searched_twice
    monkeypatch.setattr(reader.localiser, "find", lambda *_: [])
    reading = reader.read(image)
    assert [d.read.text for d in reader.plates(reading, config.plates.min_confidence)] == ["FC12DSG"]
    assert retries == [1] and reading.candidates and reading.searched_twice
    off = config.localiser.model_copy(update={"retry_proposal_width": 0})
    unretried = PlateReader(config.model_copy(update={"localiser": off}))
    assert unretried.retry_localiser is None
    monkeypatch.setattr(unretried.localiser, "find", lambda *_: [])
    assert unretried.read(image).detections == []
    fine = config.localiser.model_copy(update={"proposal_width": 960})
    assert PlateReader(config.model_copy(update={"localiser": fine})).retry_localiser is None  # no finer copy


def _reading(confidences: list[float | None], seconds: float) -> FrameReading:
    """A frame's reading with one detection per confidence (None: skipped, a tracked plate)."""
    return FrameReading([Detection(Box(10 * i, 0, 8, 4), 0.5, None if c is None else PlateRead(f"AB{i}CDE", c), 0, 0.0)
                         for i, c in enumerate(confidences)], localise_s=seconds, read_s=seconds)


@pytest.mark.parametrize("first, retried, kept", [
    ([0.3], [RETRY_FLOOR], [RETRY_FLOOR]),  # the retry reads a plate surely enough: it replaces the first
    ([0.3], [RETRY_FLOOR - 0.05], [0.3]),  # over the unit's threshold, but under the floor: the first stays
    ([], [0.9, 0.5], [0.9]),  # the retry's reads under the floor are dropped
    ([0.3], [None], [None]),  # a tracked plate's candidate, skipped: a plate is there
    ([0.3], [], [0.3]),  # the retry finds nothing
])
def test_a_retried_search_replaces_the_first_only_with_a_read_at_the_floor(first, retried, kept):
    after = PlateReader._after_retry(_reading(first, 0.01), _reading(retried, 0.02), min_confidence=0.4)
    assert [d.read.confidence if d.read else None for d in after.detections] == kept
    assert after.localise_s == after.read_s == pytest.approx(0.03) and after.searched_twice


def test_a_third_look_settles_a_plate_the_two_looks_leave_unsure(reader, monkeypatch):
    """The blurred, skewed rear plate loses its last glyph in the first look and keeps it in
    the second: two looks leave both readings level at about a half. A third, wider look
    at that plate alone (edge.pipeline.THIRD_LOOK_BELOW) settles it at two thirds."""
    batches = count_batches(reader, monkeypatch)
    plates = reader.plates(reader.read(load_image(SAMPLES / "04_gb_current_rear_skew_blur.jpg")))
    assert batches[1:] == [("look_recogniser", 1), ("look_recogniser", 1)], batches
    assert [d.read.text for d in plates] == ["FP67SJJ"]
    read = plates[0].read
    assert [(c.text, round(c.confidence, 1)) for c in read.candidates[:2]] == [("FP67SJJ", 0.7), ("FP67SJ", 0.3)]
    assert read.confidence > THIRD_LOOK_BELOW


@pytest.mark.parametrize("clip", sorted(sequence_labels()))
def test_each_vehicle_is_one_pass_with_the_right_zone_event(clip, config, reader):
    passes = [to_payload(r) for r in video_passes(reader, config, SEQUENCES / clip, speed=None)]
    for payload in passes:
        validate_payload(payload)
    got = sorted((p["plate"], p["zone"]["event"]) for p in passes)
    expected = sorted((row["plate"], row["event"]) for row in sequence_labels()[clip])
    assert got == expected


def test_ignore_region_hides_a_plate_and_only_that_plate(config, reader):
    """An installer's mask over the whole view leaves no pass; one over a corner changes nothing."""
    clip = sorted(sequence_labels())[0]
    base = replay_camera(config, SEQUENCES / clip)

    def passes(ignore: list) -> list[str]:
        masked = config.model_copy(update={"cameras": [base.model_copy(update={"ignore": ignore})]})
        return sorted(p["plate"] for p in (to_payload(r) for r in video_passes(reader, masked, SEQUENCES / clip, None)))

    assert passes([[[0, 0], [20, 0], [0, 20]]]) == sorted(row["plate"] for row in sequence_labels()[clip])
    assert passes([[[0, 0], [100000, 0], [100000, 100000], [0, 100000]]]) == []


def test_a_camera_mounted_askew_reads_its_plates_levelled(config, reader, tmp_path, monkeypatch):
    """The bundled US still turned 12 degrees, as a camera mounted askew sees it: with the
    camera's roll_degrees the frame is searched levelled, the plate is read, and its box
    stands in the turned frame's own pixels, around the turned plate."""
    image = load_image(SAMPLES / "20_us_rear.jpg")
    height, width = image.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), 12.0, 1.0)
    askew = tmp_path / "askew.png"
    cv2.imwrite(str(askew), cv2.warpAffine(image, turn, (width, height), flags=cv2.INTER_LANCZOS4))
    level_box = next(d.box for d in reader.read(image).detections if d.read and d.read.text == "6788075")
    centre = turn @ [level_box.x + level_box.w / 2, level_box.y + level_box.h / 2, 1.0]
    rolls = []
    find = reader.localiser.find
    monkeypatch.setattr(reader.localiser, "find", lambda frame, roll=None: rolls.append(roll) or find(frame, roll))
    camera = replay_camera(config, askew).model_copy(update={"roll_degrees": 12.0})
    [record] = list(still_passes(reader, config.model_copy(update={"cameras": [camera]}), askew))
    assert rolls == [12.0]
    assert record.plate == "6788075"
    box = record.box
    assert abs(box.x + box.w / 2 - centre[0]) < 10 and abs(box.y + box.h / 2 - centre[1]) < 10


def _with_on_screen_clock(clip: Path, out: Path, loops: int = 1) -> Path:
    """`clip`, played `loops` times, with a camera's burned-in caption and clock: a date-time
    line at the top left and the time at the bottom right, changing every second, as many
    CCTV cameras do. The caption is drawn large enough that the reader takes parts of it for
    plates."""
    frames, fps = _frames(clip)
    writer = None
    for index, frame in enumerate(frame.copy() for frame in frames * loops):  # text is drawn in place
        height, width = frame.shape[:2]
        writer = writer or cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        clock = (datetime(2014, 5, 9, 7, 38, 50) + timedelta(seconds=index / fps)).strftime("%Y-%m-%d %H:%M:%S")
        for thickness, colour in ((4, (0, 0, 0)), (2, (255, 255, 255))):
            cv2.putText(frame, "CAM3 " + clock, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.1, colour, thickness)
        cv2.putText(frame, clock[-8:], (width - 200, height - 20), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        writer.write(frame)
    writer.release()
    return out


def _frames(clip: Path) -> tuple[list, float]:
    """The clip's frames and its frame rate."""
    capture = cv2.VideoCapture(str(clip))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    return frames, fps


def _passes(reader, config, video: Path, fixture_after_s: float) -> list[tuple[str, str]]:
    tracking = config.tracking.model_copy(update={"fixture_after_s": fixture_after_s})
    tuned = config.model_copy(update={"tracking": tracking})
    payloads = (to_payload(r) for r in video_passes(reader, tuned, video, None))
    return sorted((p["plate"], p["zone"]["event"]) for p in payloads)


def test_on_screen_clock_is_a_fixture_not_a_pass(config, reader, tmp_path, monkeypatch):
    """A camera's burned-in clock reads as plate-like text in every frame; it must make
    no pass, nor pull the vehicle's track off its plate (the pass keeps its zone event).
    Its digits stand on the picture with no plate edge around them, so the reader drops
    them as unframed text even with fixtures off; with that rule off too, fixtures alone
    keep the clock from making passes."""
    clip = SEQUENCES / "seq01_entry.mp4"
    video = _with_on_screen_clock(clip, tmp_path / "clock.mp4")
    expected = sorted((row["plate"], row["event"]) for row in sequence_labels()[clip.name])
    assert _passes(reader, config, video, 0.0) == expected
    monkeypatch.setattr(reader, "drop_unframed", False)  # plates.drop_unframed_text off
    assert _passes(reader, config, video, 1.5) == expected
    assert len(_passes(reader, config, video, 0.0)) > len(expected)  # fixtures off, the clock makes passes


def test_a_clock_read_as_a_plate_only_once_makes_no_pass(config, reader, tmp_path, monkeypatch):
    """When its minute turns, 10 s in, the bottom-right clock reads as a plate in a frame or
    two: too short a track for a fixture, but it stands where the localiser has boxed the
    clock all along (edge.track.StillText). The unframed-text rule, which drops the clock's
    reads by itself, is off here so that still text is what is tested."""
    monkeypatch.setattr(reader, "drop_unframed", False)  # plates.drop_unframed_text off
    clip = SEQUENCES / "seq01_entry.mp4"
    video = _with_on_screen_clock(clip, tmp_path / "clock.mp4", loops=3)
    expected = sorted((row["plate"], row["event"]) for row in sequence_labels()[clip.name])
    assert _passes(reader, config, video, 1.5) == expected
    monkeypatch.setattr(StillText, "covers", lambda self, box: False)  # the rule off: the test has teeth
    assert len(_passes(reader, config, video, 1.5)) > len(expected)
