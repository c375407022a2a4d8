"""Pass records: ids, payloads against the anpr.read/1 schema, de-duplication, assembly."""

from __future__ import annotations

import copy
import uuid
from dataclasses import replace

import jsonschema
import pytest

from edge.config import CameraConfig, PlatesConfig, TrackingConfig, ZoneConfig
from edge.record import (PassAssembler, PassDeduplicator, PassRecord, build_record, iso_utc,
                         new_pass_id, pass_id_millis, to_payload, validate_payload)
from edge.track import Tracker
from edge.types import Box, Detection, PlateRead, ScoredText
from edge.vote import vote
from edge.zone import ZoneResult, classify

T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z
ZONE = ZoneConfig(name="ccz", outside_name="outer", line=((0, 400), (1280, 400)), inside="below")
CAMERA = CameraConfig(name="lane1", source="rtsp://camera", zone=ZONE)


def plate_read(text: str, confidence: float) -> PlateRead:
    candidates = [ScoredText(text, confidence), ScoredText(text[:-1] + "X", 0.05)]
    return PlateRead(text, confidence, candidates, country="gb", format="gb-current", raw=text)


def drive(tracker: Tracker, text: str, start: float, frames: int = 12, x: float = 600.0,
          reads_from: int = 0) -> list:
    """A plate moving down the image from y=250 across the line at y=400; returns closed tracks."""
    closed = []
    for f in range(frames):
        t = start + f * 0.1
        box = Box(int(x - 60), int(250 + 25 * f), 120, 30)
        skip = tracker.predict_settled([box], t)
        read = None if skip[0] or f < reads_from else plate_read(text, 0.9)
        closed += tracker.update([Detection(box, 0.9, read, f, t)], t)
    return closed


def record_for(text: str = "AB12CDE", start: float = T0,
               tracking: TrackingConfig = TrackingConfig()) -> PassRecord:
    tracker = Tracker(tracking)
    drive(tracker, text, start)
    (track,) = tracker.close_all()
    result = vote(track.detections, tracking, PlatesConfig())
    return build_record(track, result, classify(ZONE, track.centres()), "unit-7", "lane1")


def test_pass_ids_are_uuid7_ordered_by_time_and_unique() -> None:
    ids = [new_pass_id(T0 + i * 0.0004) for i in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert pass_id_millis(ids[0]) == int(T0 * 1000)
    assert new_pass_id(T0 - 10) < new_pass_id(T0) < new_pass_id(T0 + 0.001)


def test_iso_utc_has_milliseconds_and_z() -> None:
    assert iso_utc(T0) == "2024-05-01T12:00:00.000Z"
    assert iso_utc(T0 + 1.2345) == "2024-05-01T12:00:01.234Z"


def test_payload_of_a_real_pass_is_valid_and_complete() -> None:
    record = record_for()
    payload = to_payload(record)
    validate_payload(payload)
    assert payload["schema"] == "anpr.read/1"
    assert (payload["plate"], payload["country"]) == ("AB12CDE", "gb")
    assert payload["format"] == "gb-current"
    assert payload["zone"] == {"name": "ccz", "event": "entry", "from": "outer", "to": "ccz"}
    assert payload["direction_deg"] == 90.0
    assert payload["frames"] == 12 and payload["frames_agreeing"] == 4
    assert payload["first_seen"] == "2024-05-01T12:00:00.000Z"
    assert payload["last_seen"] == "2024-05-01T12:00:01.100Z"
    assert payload["candidates"][0] == {"plate": "AB12CDE", "confidence": payload["confidence"]}
    assert payload["preview"] is False and len(payload["box"]) == 4


def test_payload_without_zone_or_motion_is_valid() -> None:
    record = record_for()
    nowhere = ZoneResult("unknown", None, None, None, None)
    still = replace(record, zone=nowhere, country=None, format=None)
    payload = to_payload(still)
    validate_payload(payload)
    assert payload["direction_deg"] is None and payload["zone"]["name"] is None


@pytest.mark.parametrize("corrupt", [
    lambda p: p.pop("plate"),
    lambda p: p.update(extra=1),
    lambda p: p.update(schema="anpr.read/2"),
    lambda p: p.update(first_seen="2024-05-01T12:00:00Z"),
    lambda p: p.update(first_seen="2024-05-01T12:00:00.000+00:00"),
    lambda p: p.update(box=[1, 2, 3]),
    lambda p: p.update(box=[1, 2, 0, 4]),
    lambda p: p.update(confidence=1.5),
    lambda p: p.update(id=str(uuid.uuid4())),
    lambda p: p.update(plate="ab12cde"),
    lambda p: p.update(direction_deg=360.0),
    lambda p: p["zone"].update(event="passing"),
    lambda p: p["candidates"].append({"plate": "AB12CDE"}),
])
def test_schema_rejects_malformed_payloads(corrupt) -> None:
    payload = copy.deepcopy(to_payload(record_for()))
    corrupt(payload)
    with pytest.raises(jsonschema.ValidationError):
        validate_payload(payload)


def test_dedup_merges_the_same_plate_at_the_same_camera_within_the_window() -> None:
    dedup = PassDeduplicator(window_s=30)
    first = record_for("AB12CDE", T0)
    assert dedup.admit(first)
    assert not dedup.admit(record_for("AB12CDE", T0 + 20))  # 20 s after the first ended: merged
    assert not dedup.admit(record_for("AB12CDE", T0 + 45))  # 30 s from the merged pass: still one
    assert dedup.admit(record_for("KL34MNO", T0 + 46))           # another plate
    assert dedup.admit(record_for("AB12CDE", T0 + 100))          # window passed: a new pass
    other_camera = record_for("AB12CDE", T0 + 101)
    assert dedup.admit(replace(other_camera, camera="lane2"))


def test_dedup_remembers_passes_for_tracks_that_close_out_of_order() -> None:
    """A long track closes after a later, short one: it must still meet the earlier pass."""
    first = record_for("AB12CDE", T0)
    later_other = record_for("KL34MNO", T0 + 60)
    long_repeat = replace(record_for("AB12CDE", T0 + 20), last_seen=T0 + 80)
    short_memory = PassDeduplicator(window_s=30)
    assert [short_memory.admit(r) for r in (first, later_other, long_repeat)] == [True, True, True]
    dedup = PassDeduplicator(window_s=30, keep_s=400)
    assert [dedup.admit(r) for r in (first, later_other, long_repeat)] == [True, True, False]


def test_dedup_admits_the_final_record_of_an_admitted_preview() -> None:
    dedup = PassDeduplicator(window_s=30)
    record = record_for()
    preview = replace(record, preview=True)
    assert dedup.admit(preview) and dedup.admit(record)
    assert not dedup.admit(record_for(start=T0 + 5))


def test_assembler_emits_one_entry_per_pass_with_a_preview_that_shares_the_id() -> None:
    tracking = TrackingConfig(preview=True, confident_reads=3)
    assembler = PassAssembler("unit-7", CAMERA, tracking, PlatesConfig())
    tracker = Tracker(tracking)
    previews = []
    for f in range(12):
        t = T0 + f * 0.1
        box = Box(540, 250 + 25 * f, 120, 30)
        skip = tracker.predict_settled([box], t)
        read = None if skip[0] else plate_read("AB12CDE", 0.9)
        tracker.update([Detection(box, 0.9, read, f, t)], t)
        previews += [r for r in map(assembler.preview, tracker.confident_now) if r is not None]
    finals = [r for r in map(assembler.final, tracker.close_all()) if r is not None]
    assert len(previews) == 1 and previews[0].preview and len(finals) == 1
    assert previews[0].id == finals[0].id and finals[0].zone.event == "entry"
    assert finals[0].frames == 12 and finals[0].frames_agreeing == 3
    for record in previews + finals:
        validate_payload(to_payload(record))


def test_assembler_drops_thin_passes_and_previews_when_off() -> None:
    tracking = TrackingConfig()
    assembler = PassAssembler("unit-7", CAMERA, tracking, PlatesConfig())
    tracker = Tracker(tracking)
    drive(tracker, "AB12CDE", T0, frames=6, reads_from=5)
    (track,) = tracker.close_all()
    assert assembler.final(track) is None and assembler.preview(track) is None
