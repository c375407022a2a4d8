"""One record per vehicle pass: its id, payload (schema anpr.read/1) and de-duplication.

Pass ids are UUIDv7 (RFC 9562): a 48-bit Unix-millisecond timestamp of the pass's first
sighting, then random bits. They sort by time across units without coordination, and the
random part makes two units' ids for the same millisecond differ.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema

from edge.config import CameraConfig, PlatesConfig, TrackingConfig
from edge.types import Box, ScoredText
from edge.vote import Rescorer, Vote, vote
from edge.zone import ZoneResult, classify

if TYPE_CHECKING:  # edge.track builds on new_pass_id below
    from edge.track import Track

log = logging.getLogger(__name__)

SCHEMA = "anpr.read/1"
SCHEMA_PATH = Path(__file__).with_name("schemas") / "anpr.read-1.json"

_id_lock = threading.Lock()
_last_id: tuple[int, int] = (-1, 0)


def new_pass_id(timestamp: float) -> str:
    """A UUIDv7 string for a pass first seen at `timestamp` (UTC epoch seconds).

    Within one process, ids for the same millisecond count up in the 12-bit rand_a field
    (RFC 9562 method 1) so they still sort in creation order.
    """
    global _last_id
    millis = max(int(timestamp * 1000), 0) & ((1 << 48) - 1)
    with _id_lock:
        last_millis, last_seq = _last_id
        seq = last_seq + 1 if millis == last_millis and last_seq < 0xFFF else secrets.randbits(11)
        _last_id = (millis, seq)
    value = (millis << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | secrets.randbits(62)
    return str(uuid.UUID(int=value))


def pass_id_millis(pass_id: str) -> int:
    """The Unix-millisecond timestamp inside a UUIDv7 pass id."""
    return uuid.UUID(pass_id).int >> 80


@dataclass(frozen=True, slots=True)
class PassRecord:
    """Everything published about one pass. Times are UTC epoch seconds."""

    id: str
    unit: str
    camera: str
    plate: str
    confidence: float
    candidates: list[ScoredText]
    country: str | None
    format: str | None
    first_seen: float
    last_seen: float
    best_seen: float
    frames: int
    frames_agreeing: int
    box: Box
    zone: ZoneResult
    preview: bool = False


def build_record(track: Track, vote: Vote, zone_result: ZoneResult, unit_id: str, camera: str,
                 preview: bool = False) -> PassRecord:
    """The record of `track` as voted; a preview and the final record share the track's id."""
    best = track.detections[vote.best]
    return PassRecord(
        id=track.pass_id, unit=unit_id, camera=camera, plate=vote.plate, confidence=vote.confidence,
        candidates=list(vote.candidates), country=vote.country, format=vote.format,
        first_seen=track.first_seen, last_seen=track.last_seen, best_seen=best.timestamp,
        frames=len(track.detections), frames_agreeing=vote.frames_agreeing, box=best.box,
        zone=zone_result, preview=preview,
    )


def iso_utc(timestamp: float) -> str:
    """UTC ISO-8601 with milliseconds and a 'Z', e.g. 2024-05-01T12:00:00.123Z."""
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_payload(record: PassRecord) -> dict[str, Any]:
    """The JSON-ready message for `record` (see edge/schemas/anpr.read-1.json)."""
    zone = record.zone
    return {
        "schema": SCHEMA,
        "id": record.id,
        "unit": record.unit,
        "camera": record.camera,
        "plate": record.plate,
        "confidence": round(record.confidence, 4),
        "candidates": [{"plate": c.text, "confidence": round(c.confidence, 4)}
                       for c in record.candidates],
        "country": record.country,
        "format": record.format,
        "first_seen": iso_utc(record.first_seen),
        "last_seen": iso_utc(record.last_seen),
        "best_seen": iso_utc(record.best_seen),
        "frames": record.frames,
        "frames_agreeing": record.frames_agreeing,
        "box": record.box.as_list(),
        "direction_deg": None if zone.direction_deg is None else round(zone.direction_deg, 1) % 360,
        "zone": {"name": zone.zone, "event": zone.event,
                 "from": zone.from_zone, "to": zone.to_zone},
        "preview": record.preview,
    }


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate_payload(payload: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless `payload` is a valid anpr.read/1 message."""
    _validator().validate(payload)


@dataclass(slots=True)
class _Seen:
    pass_id: str
    last_seen: float


class PassDeduplicator:
    """Merges repeat passes of one plate at one camera, so a vehicle is reported once.

    A vehicle that stops in view, or is briefly hidden, ends as several tracks. A record
    whose plate was last seen at the same camera no more than `window_s` before it started
    is merged into that pass (not emitted), and extends it, so a parked car stays merged.
    Records carrying an id already admitted (a preview's final record) always pass.

    Records arrive in the order tracks close, which is not the order they started: a long
    track closes late with an early first_seen. So a pass is remembered until `keep_s`
    after its last sighting, where keep_s covers the window plus the longest track.
    """

    def __init__(self, window_s: float, keep_s: float | None = None) -> None:
        self.window_s = window_s
        self.keep_s = max(keep_s or 0.0, window_s)
        self._recent: dict[tuple[str, str], _Seen] = {}

    def admit(self, record: PassRecord) -> bool:
        """True when `record` should be emitted; False when it repeats a recent pass."""
        self._forget_before(record.last_seen - self.keep_s)
        key = (record.camera, record.plate)
        seen = self._recent.get(key)
        if seen is None or record.first_seen - seen.last_seen > self.window_s:
            self._recent[key] = _Seen(record.id, record.last_seen)
            return True
        seen.last_seen = max(seen.last_seen, record.last_seen)
        if seen.pass_id == record.id:
            return True
        log.debug("pass %s merged into %s", record.id, seen.pass_id)
        return False

    def _forget_before(self, horizon: float) -> None:
        stale = [key for key, seen in self._recent.items() if seen.last_seen < horizon]
        for key in stale:
            del self._recent[key]


class PassAssembler:
    """Vote, zone, record and de-duplicate the tracks of one camera: the pipeline's last step.

    `preview(track)` for each track in `Tracker.confident_now` (only when tracking.preview
    is on), `final(track)` for each track `Tracker.update`/`close_all` returns. Both give a
    record to publish, or None (too few reads, a voted confidence under
    plates.min_confidence, or a repeat of a recent pass).
    """

    def __init__(self, unit_id: str, camera: CameraConfig, tracking: TrackingConfig,
                 plates: PlatesConfig, rescore: Rescorer | None = None) -> None:
        self.unit_id = unit_id
        self.camera = camera
        self.tracking = tracking
        self.plates = plates
        self.rescore = rescore
        longest = tracking.max_track_s + tracking.close_after_s
        self.dedup = PassDeduplicator(tracking.dedup_window_s, tracking.dedup_window_s + longest)

    def preview(self, track: Track) -> PassRecord | None:
        return self._assemble(track, preview=True) if self.tracking.preview else None

    def final(self, track: Track) -> PassRecord | None:
        return self._assemble(track, preview=False)

    def _assemble(self, track: Track, preview: bool) -> PassRecord | None:
        result = vote(track.detections, self.tracking, self.plates, self.rescore)
        if result is None or result.confidence < self.plates.min_confidence:
            return None  # frames that never agreed on a plate: noise, not a vehicle pass
        zone_result = classify(self.camera.zone, track.centres())
        record = build_record(track, result, zone_result, self.unit_id, self.camera.name, preview)
        return record if self.dedup.admit(record) else None
