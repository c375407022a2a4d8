"""Tracking plates across frames on synthetic detections."""

from __future__ import annotations

import random

import numpy as np
import pytest

from edge.config import TrackingConfig
from edge.track import Tracker, _iou, assign, assign_greedy
from edge.types import Box, Detection, PlateRead, ScoredText

FPS = 10.0


def plate_read(text: str, confidence: float = 0.9) -> PlateRead:
    return PlateRead(text, confidence, [ScoredText(text, confidence)], raw=text)


def detection(cx: float, cy: float, frame: int, text: str | None = None, confidence: float = 0.9,
              w: int = 120, h: int = 30) -> Detection:
    box = Box(int(round(cx - w / 2)), int(round(cy - h / 2)), w, h)
    read = plate_read(text, confidence) if text else None
    return Detection(box, 0.9, read, frame, 1000.0 + frame / FPS)


def run(tracker: Tracker, frames: list[list[Detection]]) -> list:
    closed = []
    for index, detections in enumerate(frames):
        closed += tracker.update(detections, 1000.0 + index / FPS)
    return closed + tracker.close_all()


def texts(track) -> set[str]:
    return {r.text for r in track.reads}


@pytest.mark.parametrize("seed", range(5))
def test_two_plates_side_by_side_never_swap(seed: int) -> None:
    """The boxes overlap and jitter more than geometry can untangle: the reads keep them apart."""
    rng = random.Random(seed)
    frames = []
    for f in range(40):
        y = 200 + 12 * f
        pair = [detection(x + rng.uniform(-50, 50), y + rng.uniform(-50, 50), f, text,
                          rng.uniform(0.5, 0.99))
                for x, text in ((400, "AB12CDE"), (510, "KL34MNO"))]
        rng.shuffle(pair)
        frames.append(pair)
    tracks = run(Tracker(TrackingConfig(confident_reads=100)), frames)
    assert sorted(tuple(sorted(texts(t))) for t in tracks) == [("AB12CDE",), ("KL34MNO",)]
    assert [len(t.detections) for t in tracks] == [40, 40]


def test_plates_whose_paths_cross_keep_their_identity_without_reads() -> None:
    """Overtaking: the boxes overlap for a few frames where nothing is read."""
    frames = []
    for f in range(30):
        a, b = 200 + 20 * f, 780 - 20 * f
        unread = abs(a - b) < 200
        frames.append([detection(a, 300, f, None if unread else "AB12CDE"),
                       detection(b, 310, f, None if unread else "KL34MNO")])
    tracks = run(Tracker(TrackingConfig(confident_reads=100)), frames)
    assert len(tracks) == 2
    for track in tracks:
        xs = track.centres()[:, 0]
        assert np.all(np.diff(xs) > 0) or np.all(np.diff(xs) < 0)
        assert len(texts(track)) == 1


def test_a_sure_read_of_another_plate_starts_a_new_track_even_in_place() -> None:
    tracker = Tracker(TrackingConfig())
    for f in range(3):
        tracker.update([detection(300, 300, f, "AB12CDE", 0.95)], 1000.0 + f / FPS)
    tracker.update([detection(300, 300, 3, "XY98ZZZ", 0.95)], 1000.3)
    assert sorted(len(t.detections) for t in tracker.live) == [1, 3]
    tracker.update([detection(300, 300, 4, "AB12C0E", 0.95)], 1000.4)
    assert sorted(len(t.detections) for t in tracker.live) == [1, 4]


def test_an_unsure_misread_joins_the_track() -> None:
    tracker = Tracker(TrackingConfig())
    for f in range(3):
        tracker.update([detection(300 + 5 * f, 300, f, "AB12CDE", 0.95)], 1000.0 + f / FPS)
    tracker.update([detection(315, 300, 3, "HH1", 0.3)], 1000.3)
    assert [len(t.detections) for t in tracker.live] == [4]


def test_a_stray_track_never_takes_a_plate_by_pushing_its_track_onto_another_stray() -> None:
    """The stray's track can reach only the plate, the plate's track also a far stray: the
    plate must stay with its own track rather than pair everyone at any cost."""
    tracker = Tracker(TrackingConfig())
    tracker.update([detection(300, 300, 0, "AB12CDE", 0.6),
                    detection(150, 200, 0, "WW1", 0.01, w=60, h=20)], 1000.0)
    plate_track = tracker.live[0]
    tracker.update([detection(300, 300, 1, "AB12CDE", 0.6),
                    detection(520, 220, 1, "XQ7", 0.01, w=60, h=20)], 1000.1)
    assert texts(plate_track) == {"AB12CDE"} and len(plate_track.detections) == 2
    assert len(tracker.live) == 3


def test_pieces_of_a_plate_boxed_apart_start_no_track_but_a_plate_beside_it_does() -> None:
    tracker = Tracker(TrackingConfig())
    for f in range(4):
        tracker.update([detection(300 + 10 * f, 300, f, "AB12CDE")], 1000.0 + f / FPS)
    halves = [detection(310, 300, 4, "AB12", 0.9, w=60), detection(365, 300, 4, "2CDE", 0.9, w=60)]
    tracker.update(halves, 1000.4)
    assert len(tracker.live) == 1 and len(tracker.live[0].detections) == 5
    beside = [detection(350, 300, 5, "AB12CDE"), detection(750, 300, 5, "KL34MNO")]
    tracker.update(beside, 1000.5)
    assert sorted(len(t.detections) for t in tracker.live) == [1, 6]


def test_a_track_that_followed_a_piece_of_a_plate_is_merged_into_the_plate_s_pass() -> None:
    """A stray's track drifted onto the right half of a plate the localiser boxed twice:
    when it ends, its reads join the plate's track instead of making a second pass."""
    tracker = Tracker(TrackingConfig(close_after_s=0.3))
    frames = []
    for f in range(12):
        frame = [detection(300 + 10 * f, 300, f, "AB12CDE", 0.9)]
        if f < 3:
            frame.append(detection(330 + 10 * f, 380, f, "WW1", 0.01, w=60, h=20))
        elif f < 6:
            frame.append(detection(330 + 10 * f, 300, f, "12CDE", 0.9, w=60))
        frames.append(frame)
    closed = [t for f, frame in enumerate(frames) for t in tracker.update(frame, 1000.0 + f / FPS)]
    assert closed == [] and len(tracker.live) == 1
    plate = tracker.live[0]
    assert len(plate.detections) == 18 and "12CDE" in texts(plate)
    assert plate.first_seen == 1000.0


def test_neighbours_with_plates_one_character_apart_stay_two_passes() -> None:
    frames = [[detection(300 + 10 * f, 300, f, "AB12CDE"), detection(800 + 10 * f, 300, f, "AB12CDF")]
              for f in range(10)]
    tracks = run(Tracker(TrackingConfig()), frames)
    assert sorted(tuple(texts(t)) for t in tracks) == [("AB12CDE",), ("AB12CDF",)]


def test_missed_frames_keep_the_track_and_prediction_bridges_the_gap() -> None:
    frames = [[] if 4 <= f <= 9 else [detection(100 + 30 * f, 400, f, "AB12CDE")]
              for f in range(16)]
    tracks = run(Tracker(TrackingConfig()), frames)
    assert len(tracks) == 1 and len(tracks[0].detections) == 10
    assert np.diff(tracks[0].timestamps()).max() == pytest.approx(0.7)


def test_track_closes_after_close_after_s_without_detections() -> None:
    tracker = Tracker(TrackingConfig(close_after_s=1.0))
    tracker.update([detection(300, 300, 0, "AB12CDE")], 1000.0)
    assert tracker.update([], 1000.9) == []
    closed = tracker.update([], 1001.05)
    assert [len(t.detections) for t in closed] == [1] and tracker.live == []
    assert closed[0].first_seen == closed[0].last_seen == 1000.0


def test_stationary_vehicle_track_is_closed_at_max_track_s() -> None:
    tracker = Tracker(TrackingConfig(max_track_s=2.0))
    closed = []
    for f in range(35):
        closed += tracker.update([detection(300, 300, f, "AB12CDE")], 1000.0 + f / FPS)
    assert [len(t.detections) for t in closed] == [21]
    assert len(tracker.live) == 1


def test_close_all_returns_every_live_track() -> None:
    tracker = Tracker(TrackingConfig())
    tracker.update([detection(100, 100, 0, "AB12CDE"), detection(900, 500, 0, "KL34MNO")], 1000.0)
    assert len(tracker.close_all()) == 2 and tracker.live == []


def test_confident_track_is_reported_once_and_its_boxes_need_no_read() -> None:
    config = TrackingConfig(confident_reads=3, confident_confidence=0.85)
    tracker = Tracker(config)
    newly = []
    for f in range(6):
        boxes = [detection(200 + 20 * f, 300, f).box, detection(900, 600, f).box]
        skip = tracker.predict_settled(boxes, 1000.0 + f / FPS)
        dets = [detection(200 + 20 * f, 300, f, None if skip[0] else "AB12CDE", 0.9),
                detection(900, 600, f, None if skip[1] else "KL34MNO", 0.6)]
        tracker.update(dets, 1000.0 + f / FPS)
        newly.append([t.reads[0].text for t in tracker.confident_now])
        if f >= 3:
            assert skip.tolist() == [True, False]
    assert newly == [[], [], ["AB12CDE"], [], [], []]
    plate_a = next(t for t in tracker.live if t.confident)
    assert len(plate_a.detections) == 6 and len(plate_a.reads) == 3


def test_predict_settled_is_all_false_without_confident_tracks() -> None:
    tracker = Tracker(TrackingConfig())
    assert tracker.predict_settled([], 1000.0).tolist() == []
    tracker.update([detection(300, 300, 0, "AB12CDE")], 1000.0)
    assert tracker.predict_settled([Box(240, 285, 120, 30)], 1000.1).tolist() == [False]


def test_pass_ids_differ_and_follow_first_sighting() -> None:
    tracker = Tracker(TrackingConfig())
    tracker.update([detection(100, 100, 0, "AB12CDE")], 1000.0)
    tracker.update([detection(100, 100, 1, "AB12CDE"), detection(900, 500, 1, "KL34MNO")], 1000.1)
    first, second = tracker.live
    assert first.pass_id < second.pass_id


def test_iou_matches_box_iou() -> None:
    rng = np.random.default_rng(3)
    boxes = [Box(*map(int, rng.integers(0, 200, 2)), *map(int, rng.integers(1, 120, 2)))
             for _ in range(12)]
    as_cxcywh = np.array([(b.centre[0], b.centre[1], b.w, b.h) for b in boxes], dtype=float)
    expected = np.array([[a.iou(b) for b in boxes] for a in boxes])
    np.testing.assert_allclose(_iou(as_cxcywh, as_cxcywh), expected, atol=1e-9)


COST = np.array([[1.0, 2.0, np.inf], [1.1, 10.0, np.inf], [np.inf, np.inf, np.inf]])


def test_greedy_assignment_takes_cheapest_pairs_first_and_never_forbidden_ones() -> None:
    assert assign_greedy(COST) == [(0, 0), (1, 1)]
    assert assign_greedy(np.full((2, 2), np.inf)) == []
    assert assign_greedy(np.array([[3.0, 1.0], [2.0, 5.0]])) == [(0, 1), (1, 0)]


def test_assignment_minimises_total_cost() -> None:
    pytest.importorskip("scipy")
    assert sorted(assign(COST)) == [(0, 1), (1, 0)]
    assert assign(np.zeros((0, 3))) == []


def test_assignment_leaves_pairs_unpaired_when_pairing_costs_more() -> None:
    cost = np.array([[1.0, 4.0], [3.0, np.inf]])
    assert sorted(assign(cost)) == [(0, 1), (1, 0)]
    assert assign(cost, unpaired=2.5) == [(0, 0)]
    assert assign(cost, unpaired=1.0) == []


def _vehicle_with(second: tuple[float, float] | None, frames: int = 30, speed: float = 8.0,
                  second_speed: float | None = None, second_frames: range = range(10, 14)) -> list:
    """A plate moving down the image (seen every frame) and a second short text seen in
    `second_frames`, offset by `second` (dx, dy) from where the plate starts, moving at
    `second_speed` (default: with the plate)."""
    rows = []
    for f in range(frames):
        y = 200 + speed * f
        frame = [detection(400, y, f, "AB12CDE", 0.95)]
        if second is not None and f in second_frames:
            dy = (second_speed if second_speed is not None else speed) * f
            frame.append(detection(400 + second[0], 200 + second[1] + dy, f, "S740", 0.6, w=80, h=30))
        rows.append(frame)
    return rows


@pytest.mark.parametrize("speed", [0.0, 0.3, 8.0])
def test_text_riding_on_a_vehicle_above_its_plate_is_no_pass(speed: float) -> None:
    """A grille badge read as 'S740' 2.5 plate heights above the plate, moving with it or
    standing with it, is part of the vehicle: one pass, the plate's."""
    tracks = run(Tracker(TrackingConfig()), _vehicle_with((10, -75), speed=speed))
    assert [texts(t) for t in tracks] == [{"AB12CDE"}]


def test_a_rider_is_dropped_even_when_it_ends_after_its_plate_s_pass_closed() -> None:
    tracker = Tracker(TrackingConfig(close_after_s=0.3))
    frames = _vehicle_with((0, -75), frames=12, second_frames=range(8, 13))
    frames += [[detection(400, 200 + 8 * 12 - 75, 12, "S740", 0.6, w=80)]] + [[] for _ in range(5)]
    assert [texts(t) for t in run(tracker, frames)] == [{"AB12CDE"}]


@pytest.mark.parametrize("offset, second_speed", [
    ((0, -240), None),   # a following vehicle's plate, eight plate heights behind
    ((300, -30), None),  # a vehicle alongside in the next lane
    ((0, -90), 2.0),     # a plate close above, but moving at its own pace: another vehicle
])
def test_another_vehicle_s_plate_near_a_plate_is_its_own_pass(
        offset: tuple[float, float], second_speed: float | None) -> None:
    tracks = run(Tracker(TrackingConfig()), _vehicle_with(offset, second_speed=second_speed,
                                                          second_frames=range(5, 20)))
    assert sorted(tuple(texts(t)) for t in tracks) == [("AB12CDE",), ("S740",)]


def clock_frames(frames: int, start: int = 0) -> list[Detection]:
    """An on-screen clock at the top left: its text changes each second and the localiser
    boxes it whole or in pieces (wider, narrower, shifted along its line)."""
    pieces = [(150, 20, 240), (110, 20, 160), (190, 20, 160), (150, 21, 250)]
    out = []
    for f in range(start, start + frames):
        cx, cy, w = pieces[f % len(pieces)]
        out.append(detection(cx, cy, f, f"0738{50 + f // 10:02d}", 0.7, w=w, h=40))
    return out


def test_text_that_holds_still_is_a_fixture_read_no_more_and_no_pass() -> None:
    tracker = Tracker(TrackingConfig(fixture_after_s=3.0))
    closed, skipped = [], []
    for det in clock_frames(60):
        skip = tracker.predict_settled([det.box], det.timestamp)[0]
        skipped.append(bool(skip))
        unread = detection(*det.box.centre, det.frame_index, w=det.box.w, h=det.box.h)
        closed += tracker.update([unread if skip else det], det.timestamp)
    assert [t.fixture for t in tracker.live] == [True]
    assert not any(skipped[:31])  # read until it has held still for 3 s
    assert sum(skipped[32:]) >= 0.7 * len(skipped[32:])  # then only the pieces off its last box are read
    assert closed + tracker.close_all() == []


def test_parked_vehicle_that_drives_off_is_a_pass() -> None:
    """Still for 60 s (a fixture), then it moves: reads resume and its track is a pass."""
    tracker = Tracker(TrackingConfig(fixture_after_s=3.0, confident_reads=100))
    still = 600
    frames = [[detection(400, 300, f, "AB12CDE")] for f in range(still)]
    frames += [[detection(400, 300 + 15 * (f - still + 1), f, "AB12CDE")] for f in range(still, still + 20)]
    closed = []
    for f, dets in enumerate(frames):
        closed += tracker.update(dets, 1000.0 + f / FPS)
        if f == still - 1:
            assert tracker.live[0].fixture
    closed += tracker.close_all()
    assert [len(t.detections) for t in closed] == [still + 20] and not closed[0].fixture


def test_vehicle_that_stops_in_view_is_no_fixture() -> None:
    """It moved to get there: however long it then waits, its track is a pass."""
    frames = [[detection(400, 100 + 15 * f, f, "AB12CDE")] for f in range(20)]
    frames += [[detection(400, 385, f, "AB12CDE")] for f in range(20, 120)]
    tracks = run(Tracker(TrackingConfig(fixture_after_s=3.0)), frames)
    assert [len(t.detections) for t in tracks] == [120]


def _clock_seldom_read(config: TrackingConfig, tell_candidates: bool, plates: dict[int, Detection]) -> list:
    """A clock in the bottom-right corner boxed in every frame for 15 s but read as a plate in
    only two of them (frames 120 and 121); `plates` adds other detections by frame."""
    tracker, closed, clock = Tracker(config), [], Box(760, 490, 130, 44)
    for f in range(150):
        seen = [detection(*clock.centre, f, "0739QC", 0.8, w=clock.w, h=clock.h)] if f in (120, 121) else []
        seen += [plates[f]] if f in plates else []
        candidates = [clock] + [d.box for d in seen] if tell_candidates else None
        closed += tracker.update(seen, 1000.0 + f / FPS, candidates)
    return closed + tracker.close_all()


def test_text_that_stands_still_but_is_seldom_read_is_no_pass() -> None:
    """Two reads make too short a track for a fixture; the localiser's boxes, read or not,
    show the text has stood there for 12 s."""
    config = TrackingConfig(fixture_after_s=3.0)
    assert [texts(t) for t in _clock_seldom_read(config, False, {})] == [{"0739QC"}]  # the test has teeth
    assert _clock_seldom_read(config, True, {}) == []
    assert [texts(t) for t in _clock_seldom_read(config.model_copy(update={"fixture_after_s": 0.0}), True, {})] \
        == [{"0739QC"}]


def test_plates_read_briefly_beside_or_across_still_text_are_passes() -> None:
    """Only a track that held still on the still text's own place is dropped: a plate read
    twice elsewhere, and a vehicle driving across the clock, are passes."""
    beside = {f: detection(400, 300, f, "AB12CDE") for f in (60, 61)}
    across = {f: detection(825, 200 + 15 * (f - 100), f, "XY34ZZZ") for f in range(100, 130)}
    tracks = _clock_seldom_read(TrackingConfig(fixture_after_s=3.0), True, beside | across)
    assert sorted(tuple(texts(t)) for t in tracks) == [("AB12CDE",), ("XY34ZZZ",)]


def test_fixtures_are_off_at_zero() -> None:
    tracks = run(Tracker(TrackingConfig(fixture_after_s=0.0)), [[d] for d in clock_frames(60)])
    assert len(tracks) == 1 and not tracks[0].fixture


def test_a_box_twice_as_wide_never_joins_a_track() -> None:
    """A long caption boxed near a plate whose own box went missing is other text."""
    tracker = Tracker(TrackingConfig())
    for f in range(5):
        tracker.update([detection(400, 300, f)], 1000.0 + f / FPS)
    tracker.update([detection(400, 330, 5, w=260, h=40)], 1000.0 + 5 / FPS)
    assert sorted(len(t.detections) for t in tracker.live) == [1, 5]


def test_a_box_near_a_confident_track_but_not_on_it_is_read() -> None:
    """Only a box over the settled track's predicted place skips its read; one merely in
    reach might be other text, and reading it is what keeps it off the track."""
    tracker = Tracker(TrackingConfig(confident_reads=2))
    for f in range(3):
        tracker.update([detection(400, 300, f, "AB12CDE")], 1000.0 + f / FPS)
    assert tracker.live[0].confident
    on, beside = detection(405, 302, 3).box, detection(400, 420, 3).box
    assert tracker.predict_settled([on], 1000.0 + 3 / FPS).tolist() == [True]
    assert tracker.predict_settled([beside], 1000.0 + 3 / FPS).tolist() == [False]
