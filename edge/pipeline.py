"""The per-frame reading path (localise -> read -> format) and the per-camera pipeline
(reading -> track/vote -> zone -> record).

`PlateReader` is shared by `edge read`, `edge eval`, replay and the daemon, so every
command measures and runs exactly the same code.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Sequence

import numpy as np

from edge.config import CameraConfig, EdgeConfig, TrackingConfig
from edge.errors import EdgeError
from edge.formats import PlateFormatter, best_candidates
from edge.imageio import load_image, to_bgr8
from edge.localise import IgnoreRegions, Localiser
from edge.motion import MotionGate
from edge.read import PlateRecogniser, crop_pad, rectify
from edge.record import PassAssembler, PassRecord
from edge.track import Tracker
from edge.types import Box, Detection, Frame, PlateCandidate

SkipRule = Callable[[Sequence[Box]], np.ndarray]

log = logging.getLogger(__name__)

_BAR_GLYPHS = frozenset("1IL")  # what a post or a rail reads as
_BAR_SHARE = 0.7
_BAR_MIN_LENGTH = 5  # shorter rows of 1s and Ls are real (dateless GB, vanity plates)
_CLOCK_LETTERS = 1  # a clock's 0 read as O
_CLOCK_MAX_HEIGHT = 0.25  # of the frame's height: on-screen text is a thin line (2-4%), a close-up fills it
_SMALL_PRINT_HEIGHT = 0.4  # a plate's small print / its registration's height, at most
_BOX_TO_TEXT_H = 1.75  # a candidate's box height / its text's (edge.localise._TEXT_TO_PLATE_H)
_EDGE_MARGIN = 0.25  # plate-box heights between a box and the frame edge: text against the edge


@dataclass(slots=True)
class FrameReading:
    """What one frame yielded, with per-stage timings for eval, bench and metrics."""

    detections: list[Detection]
    candidates: list[PlateCandidate] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)
    localise_s: float = 0.0
    read_s: float = 0.0


def is_scene_text(text: str, box: Box, frame_height: int) -> bool:
    """A read that the frame's furniture makes, not a plate: a clock or a row of bars."""
    return is_on_screen_clock(text, box, frame_height) or is_row_of_bars(text)


def is_row_of_bars(text: str) -> bool:
    """Text read almost wholly as 1, I and L: a fence, a railing or a grille.

    Why: upright posts are glyph-shaped (one height, one baseline, evenly spaced), so the
    localiser proposes them and the recogniser reads their strokes as '1111111' or
    'LL11111'. On real plates these three glyphs are at most 57% of the text (751 US
    training plates; the EU, PL and UK labels stay under 30%).
    """
    return len(text) >= _BAR_MIN_LENGTH and sum(c in _BAR_GLYPHS for c in text) >= _BAR_SHARE * len(text)


def is_on_screen_clock(text: str, box: Box, frame_height: int) -> bool:
    """Small digit text whose plate box runs against the frame's top or bottom edge.

    Why: CCTV and dashcam cameras burn their date and time into a line along the top or
    bottom of the picture. Read in pieces ('201405', '1708382'), it looks like a US plate
    in every still. One letter is allowed because a 0 is often read as O. A real plate
    rarely lies against the edge (and is then often cut off by it), and few plates carry
    at most one letter (about one US plate in six). A clock's line is a thin strip of the
    picture; a plate that fills the frame (a tight crop read on its own) touches both
    edges and is no clock. Video has a second guard in tracking
    (text that stays put is a fixture), and `cameras[].ignore` masks any other overlay at
    install time.
    """
    if sum(c.isalpha() for c in text) > _CLOCK_LETTERS or box.h > _CLOCK_MAX_HEIGHT * frame_height:
        return False
    margin = _EDGE_MARGIN * box.h
    return box.y <= margin or box.y + box.h >= frame_height - margin


def plate_furniture(detections: Sequence[Detection], min_confidence: float) -> np.ndarray:
    """True for each read that is small print on the plate of a read the unit reports.

    Why: a plate and its holder carry more text than the registration: the state's name,
    a slogan, the dealer's line, a sticker. Read on its own, each is a false plate. Such
    text is printed far smaller than the registration (a US state name, the tallest of
    it, is about a third of its height), it lies on the plate or its holder, within half
    a text height of the plate's box, and it sits above or below the registration's
    line, never on it. Only a read of at least `min_confidence` counts as a plate here:
    a large box of clutter, read as nothing sure, must not hide a real plate beside it.
    """
    sure = np.array([d.read is not None and d.read.confidence >= min_confidence for d in detections], bool)
    read = np.array([d.read is not None for d in detections], bool)
    if not sure.any() or read.sum() < 2:
        return np.zeros(len(detections), bool)
    x, y, w, h = np.array([d.box.as_list() for d in detections], np.float64).T
    reach = 0.5 * h / _BOX_TO_TEXT_H  # half a text height: the plate runs past its box
    meets = ((np.minimum(x + w, (x + w)[:, None]) >= np.maximum(x, x[:, None]))
             & (np.minimum(y + h + reach, (y + h)[:, None]) >= np.maximum(y - reach, y[:, None])))
    small = h[:, None] <= _SMALL_PRINT_HEIGHT * h
    off_line = np.abs((y + h / 2)[:, None] - (y + h / 2)) > reach
    return (meets & small & off_line & read[:, None] & sure).any(axis=1)


class PlateReader:
    """Finds and reads every plate in a frame: one localiser pass, one batched recogniser call."""

    def __init__(self, config: EdgeConfig) -> None:
        self.localiser = Localiser(config.localiser)
        self.recogniser = PlateRecogniser(config.recogniser)
        self.formatter = PlateFormatter(config.plates, self.recogniser.alphabet)
        self.min_confidence = config.plates.min_confidence
        self.crop_pad = crop_pad(config.plates.countries)

    def read(self, image: np.ndarray, index: int = 0, timestamp: float = 0.0,
             skip: SkipRule | None = None, keep_crops: bool = False,
             ignore: IgnoreRegions | None = None) -> FrameReading:
        """Read a frame in one batched recogniser call.

        `skip` marks candidates not worth reading (plates of tracks already read with
        confidence): they come back as detections with `read=None`, so tracking still
        follows them. Read candidates that yield no plausible plate, scene text
        (`is_scene_text`) or a plate's small print (`plate_furniture`) are dropped, and so
        are candidates in the camera's `ignore` regions, before any reading.
        """
        image = to_bgr8(image)
        started = time.perf_counter()
        candidates = self.localiser.find(image)
        if ignore and candidates:
            candidates = [c for c, masked in zip(candidates, ignore.covers([c.box for c in candidates])) if not masked]
        localised = time.perf_counter()
        skipped = skip([c.box for c in candidates]) if skip and candidates else np.zeros(len(candidates), bool)
        to_read = [c for c, s in zip(candidates, skipped) if not s]
        crops = [rectify(image, candidate, self.crop_pad) for candidate in to_read]
        raws = iter(self.recogniser.recognise(crops) if crops else [])
        detections = []
        for candidate, was_skipped in zip(candidates, skipped):
            read = None
            if not was_skipped:
                raw = next(raws)
                read = self.formatter.format(raw.text, raw.char_probs)
                if read is None or is_scene_text(read.text, candidate.box, image.shape[0]):
                    continue
            detections.append(Detection(candidate.box, candidate.score, read, index, timestamp))
        detections = [d for d, small_print in zip(detections, plate_furniture(detections, self.min_confidence)) if not small_print]
        finished = time.perf_counter()
        return FrameReading(detections, candidates, crops if keep_crops else [],
                            localised - started, finished - localised)

    def plates(self, reading: FrameReading, min_confidence: float | None = None) -> list[Detection]:
        """Confident reads of distinct plates, best first: what a still-image read reports.

        `min_confidence` overrides the configured plates.min_confidence (0 keeps every read).
        """
        floor = self.min_confidence if min_confidence is None else min_confidence
        best: dict[str, Detection] = {}
        for detection in reading.detections:
            read = detection.read
            if read is None or read.confidence < floor:
                continue
            kept = best.get(read.text)
            if kept is None or read.confidence > kept.read.confidence:
                best[read.text] = detection
        return sorted(best.values(), key=lambda d: -d.read.confidence)


class CameraPipeline:
    """One camera's path from frames to pass records: gate -> read -> track -> vote/zone/record.

    Not thread-safe: one instance per camera, fed in frame order. The PlateReader may be
    shared between cameras.
    """

    def __init__(self, reader: PlateReader, camera: CameraConfig, config: EdgeConfig,
                 tracking: TrackingConfig | None = None) -> None:
        tracking = tracking or config.tracking
        self.reader = reader
        self.camera = camera
        self.tracker = Tracker(tracking)
        rescore = partial(best_candidates, alphabet=reader.recogniser.alphabet,
                          countries=config.plates.countries, top_n=config.plates.candidates,
                          min_length=config.plates.min_characters)
        self.assembler = PassAssembler(config.unit.id, camera, tracking, config.plates, rescore)
        self.gate = MotionGate() if camera.motion_gate else None
        self.ignore = IgnoreRegions(camera.ignore)
        self.last_reading: FrameReading | None = None
        self.frames_processed = 0

    def process(self, frame: Frame) -> list[PassRecord]:
        """Feed one frame; return the passes that ended (and previews, when enabled)."""
        detections: list[Detection] = []
        self.last_reading = None
        if self._worth_reading(frame.image):
            skip = partial(self.tracker.predict_settled, timestamp=frame.timestamp)
            self.last_reading = self.reader.read(frame.image, frame.index, frame.timestamp, skip=skip,
                                                 ignore=self.ignore)
            detections = self.last_reading.detections
            self.frames_processed += 1
        closed = self.tracker.update(detections, frame.timestamp)
        previews = [self.assembler.preview(track) for track in self.tracker.confident_now]
        return [r for r in previews + [self.assembler.final(t) for t in closed] if r is not None]

    def _worth_reading(self, image: np.ndarray) -> bool:
        """Read when something moved, and always while a track still needs reads: a vehicle
        that stops in view would otherwise never be read often enough to make a pass."""
        moved = self.gate is None or self.gate.changed(image)
        return moved or any(not track.settled for track in self.tracker.live)

    def process_idle(self, timestamp: float) -> list[PassRecord]:
        """No frame arrived (camera stalled): still close the tracks whose vehicles left."""
        return [r for r in (self.assembler.final(t) for t in self.tracker.update([], timestamp)) if r is not None]

    def finish(self) -> list[PassRecord]:
        """Close every open track (end of stream or shutdown) into passes."""
        return [r for r in (self.assembler.final(t) for t in self.tracker.close_all()) if r is not None]


def detection_json(file: str, detection: Detection) -> dict:
    read = detection.read
    return {
        "file": file,
        "plate": read.text,
        "confidence": round(read.confidence, 4),
        "box": detection.box.as_list(),
        "candidates": [{"plate": c.text, "confidence": round(c.confidence, 4)} for c in read.candidates],
        "country": read.country,
        "format": read.format,
    }


def read_images(config: EdgeConfig, paths: list[str], json_lines: bool) -> int:
    """`edge read`: one line per plate; a bad file is one error line and the run goes on."""
    reader = PlateReader(config)
    failed = 0
    for path in paths:
        try:
            reading = reader.read(load_image(path))
        except EdgeError as exc:
            print(f"edge: {exc}", file=sys.stderr)
            failed += 1
            continue
        plates = reader.plates(reading)
        for detection in plates:
            record = detection_json(path, detection)
            if json_lines:
                print(json.dumps(record), flush=True)
            else:
                print(f"{path}\t{record['plate']}\t{record['confidence']:.2f}\t{record['box']}", flush=True)
        if not plates and not json_lines:
            print(f"{path}\t(no plate)", flush=True)
    return 1 if failed else 0
