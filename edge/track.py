"""Follow each plate across frames so one vehicle pass becomes one record.

One Tracker per camera. Intended call order, once per frame:

    boxes = [c.box for c in localise(frame)]
    skip = tracker.predict_settled(boxes, frame.timestamp)     # bool per box
    detections = [Detection(box, score, None if skip[i] else read(crop_i),
                            frame.index, frame.timestamp) for i, ...]
    closed = tracker.update(detections, frame.timestamp, boxes)  # passes that just ended
    previews = [assembler.preview(t) for t in tracker.confident_now]  # edge.record.PassAssembler
    records = [assembler.final(t) for t in closed]              # None: too thin, or a repeat
    ... at end of stream: [assembler.final(t) for t in tracker.close_all()]

`predict_settled` saves the recogniser's time: a box that matches a confident track
(its leading text has `confident_reads` more reads at `confident_confidence` or above
than any rival text) or a fixture (below) is not read again. Skipped boxes still go to
`update` (with read=None) so the track keeps its path and stays open.

Fixtures: text that stays put is not a passing vehicle. An on-screen clock burned into
the video, a sign, a parked car: a track that has kept its place (all but a few boxes
centred where its boxes were in its first second) for `fixture_after_s` is a
fixture. It is not read again while it stays, and it is no pass when it ends unless it
moved by then (a parked car that drives off). A short track that stood still inside a
fixture's home is a piece of it (the localiser boxes a caption in changing parts), no
pass either. A vehicle that stops in view is no fixture: it moved to get there.
Text that reads as a plate only now and then (a clock's digits, once a minute) makes
short tracks that never last long enough to become fixtures; but the localiser finds it
in nearly every frame, read or not. `StillText` keeps where candidates have stood
for `fixture_after_s`, and a short track that held still there is no pass either.

Association: each live track predicts its plate centre with a constant-velocity model;
the cost of pairing track i with detection j is (1 - IoU) + centre distance in plate
widths + |log width ratio| + a text term (normalised edit distance between the track's
leading texts and the read). Pairs further than `max_distance` plate widths, or twice or
half as wide, are never joined, nor are confident reads that disagree with a track's
confident text, so two plates side by side cannot swap even when their boxes touch. The
assignment is optimal (scipy's linear_sum_assignment, when scipy is installed) or greedy
on sorted costs, and leaves a track and a detection unpaired rather than pair them beyond
every gate.

One plate, one pass: the localiser sometimes boxes a plate in pieces, or a stray box
beside the plate. An unpaired detection inside (or on the text line next to) a box
tracked in the same frame starts no track; and a track that ends while a kin track
(same time, same place, same plate or a piece of it) goes on is merged into that one.

One vehicle, one pass: other text on a vehicle (a grille badge, a dealer's frame, a
van's lettering) can read like a short plate. A track that kept close to a longer
track's plate, at a fixed offset, is such text, and is dropped (`rides_on`).
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import numpy as np

from edge.config import TrackingConfig
from edge.record import new_pass_id
from edge.types import Box, Detection, PlateRead
from edge.vote import ReadTally, same_plate, text_distance

try:
    from scipy.optimize import linear_sum_assignment
except ImportError:  # scipy comes with easyocr; the greedy fallback is near-optimal for few tracks
    linear_sum_assignment = None

log = logging.getLogger(__name__)

_TEXT_WEIGHT = 2.0
# A plate's box never doubles or halves in width from one sighting to the next: a vehicle
# nearing the camera grows its plate by a few per cent a frame. A box that size apart is
# other text (a long on-screen caption, a sign), however close its centre.
_MAX_SCALE_STEP = math.log(2.0)
# A box is left unread only when it overlaps a settled track's predicted box this much:
# one that merely lies within reach may be other text, and its read keeps it off the track.
_SKIP_IOU = 0.3
_FORBIDDEN = 1e9
# An unpaired detection mostly inside the box of a plate tracked in the same frame, or on
# its text line within one box width of it, is a piece of that plate (the localiser split
# it, or boxed a half of it), not a new vehicle: plates of two vehicles lie further apart.
_FRAGMENT_COVER = 0.5
# Text on the same vehicle as a plate stays put beside the plate, moving or not. Another
# vehicle's plate is never that close: the plate's own vehicle body (boot, grille, bumper)
# fills several plate heights around it and hides what is behind. In the plate's heights:
# a rider sits at most _RIDE_REACH above or below it, within one plate width sideways, and
# its offset drifts at most _RIDE_SLACK (a vehicle passing by in the next lane drifts).
_RIDE_REACH, _RIDE_SLACK = 3.5, 0.5
# A fixture's boxes stay centred in its home: the boxes of its first _HOME_S seconds, each
# grown by _STILL_SPREAD box heights; this share of them may stray (other text joins it
# now and then).
_HOME_S, _STILL_SPREAD, _STILL_STRAYS = 1.0, 0.5, 0.1
# A fixture whose latest this many boxes all left its home is moving off: a vehicle again.
_MOVED_RUN = 3


@dataclass(eq=False, slots=True)
class Track:
    """One plate followed over time: its detections (boxes, times, reads) and motion state.

    `pass_id` is fixed when the track starts, so a preview and the final record of the
    same pass share it, and ids sort by first sighting.
    """

    id: int
    pass_id: str
    tally: ReadTally
    detections: list[Detection] = field(default_factory=list)
    confident: bool = False
    fixture: bool = False
    # Where it was in its first _HOME_S seconds (x0, y0, x1, y1: the union of its boxes, grown
    # by _STILL_SPREAD box heights), and how many later detections were centred elsewhere.
    home: tuple[float, float, float, float] | None = None
    strays: int = 0
    stray_run: int = 0  # of the latest detections, how many in a row were strays
    # Motion state as plain floats: numpy calls on 2-vectors would cost more than the maths.
    _centre: tuple[float, float] = (0.0, 0.0)
    _size: tuple[float, float] = (1.0, 1.0)
    _velocity: tuple[float, float] = (0.0, 0.0)

    @property
    def first_seen(self) -> float:
        return self.detections[0].timestamp

    @property
    def last_seen(self) -> float:
        return self.detections[-1].timestamp

    @property
    def settled(self) -> bool:
        """Needs no more reads: its plate is sure, or it is a fixture."""
        return self.confident or self.fixture

    def held_still(self) -> bool:
        """Whether nearly all of its boxes stayed in its home."""
        return self.strays <= _STILL_STRAYS * len(self.detections)

    def moving_off(self) -> bool:
        """Whether its latest boxes all left its home: a parked car driving off, however long it stood."""
        return self.stray_run >= _MOVED_RUN

    @property
    def reads(self) -> list[PlateRead]:
        return [d.read for d in self.detections if d.read is not None]

    def centres(self) -> np.ndarray:
        """Plate centres, one row (x, y) per detection, oldest first."""
        return np.asarray([d.box.centre for d in self.detections], dtype=np.float64).reshape(-1, 2)

    def timestamps(self) -> np.ndarray:
        return np.asarray([d.timestamp for d in self.detections], dtype=np.float64)

    def predict(self, timestamp: float) -> tuple[float, float, float, float]:
        """(cx, cy, w, h) expected at `timestamp`: centre moves at constant velocity."""
        dt = timestamp - self.last_seen
        (cx, cy), (vx, vy) = self._centre, self._velocity
        return (cx + vx * dt, cy + vy * dt, *self._size)

    def merge(self, other: "Track", confident_reads: int) -> None:
        """Take in `other`'s detections: both followed one plate (see Tracker._fold_kin)."""
        self.detections = sorted(self.detections + other.detections, key=lambda d: d.timestamp)
        self.home, self.strays, self.stray_run = None, 0, 0
        for detection in self.detections:
            self._place(detection)
        for read in other.reads:
            self.tally.add(read)
        self.confident = self.confident or self.tally.strong_margin() >= confident_reads
        if other.pass_id < self.pass_id and not self.confident:  # no preview went out yet
            self.pass_id = other.pass_id

    def add(self, detection: Detection, confident_reads: int) -> bool:
        """Append a detection, update motion and tally; True when this made it confident."""
        box = detection.box
        cx, cy = box.centre
        if self.detections:
            dt = detection.timestamp - self.last_seen
            if dt > 0:
                vx, vy = (cx - self._centre[0]) / dt, (cy - self._centre[1]) / dt
                if len(self.detections) > 1:  # smooth after the first step: boxes jitter
                    vx, vy = 0.5 * (self._velocity[0] + vx), 0.5 * (self._velocity[1] + vy)
                self._velocity = (vx, vy)
        self._centre = (cx, cy)
        self._size = (float(max(box.w, 1)), float(max(box.h, 1)))
        self.detections.append(detection)
        self._place(detection)
        if detection.read is None:
            return False
        self.tally.add(detection.read)
        was = self.confident
        self.confident = self.tally.strong_margin() >= confident_reads
        return self.confident and not was

    def at_home(self, box: Box) -> bool:
        """Whether `box` is centred in the track's home (see _place)."""
        if self.home is None:
            return False
        (cx, cy), (x0, y0, x1, y1) = box.centre, self.home
        return x0 <= cx <= x1 and y0 <= cy <= y1

    def _place(self, detection: Detection) -> None:
        """Grow the home while the track is young; later, count a detection centred outside it.

        A home of the first second's boxes, not the first box: the localiser boxes a
        caption or a clock in changing pieces, all within the line they share.
        """
        box = detection.box
        if detection.timestamp - self.first_seen <= _HOME_S:
            grow = _STILL_SPREAD * box.h
            x0, y0, x1, y1 = box.x - grow, box.y - grow, box.x + box.w + grow, box.y + box.h + grow
            if self.home is not None:
                x0, y0 = min(x0, self.home[0]), min(y0, self.home[1])
                x1, y1 = max(x1, self.home[2]), max(y1, self.home[3])
            self.home = (x0, y0, x1, y1)
            return
        if self.at_home(box):
            self.stray_run = 0
        else:
            self.strays += 1
            self.stray_run += 1


@lru_cache(maxsize=4096)
def _text_gap(texts: tuple[str, ...], leaders: tuple[str, ...]) -> float:
    """Closest normalised edit distance between a read's texts and a track's leading texts."""
    if texts[0] in leaders:
        return 0.0
    return min(text_distance(a, b) for a in texts for b in leaders)


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection area of every (cx, cy, w, h) row of `a` with every row of `b`."""
    a_lo, a_hi = a[:, None, :2] - a[:, None, 2:] / 2, a[:, None, :2] + a[:, None, 2:] / 2
    b_lo, b_hi = b[None, :, :2] - b[None, :, 2:] / 2, b[None, :, :2] + b[None, :, 2:] / 2
    return np.clip(np.minimum(a_hi, b_hi) - np.maximum(a_lo, b_lo), 0, None).prod(axis=2)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every (cx, cy, w, h) row of `a` with every row of `b`: shape (len(a), len(b))."""
    overlap = _overlap(a, b)
    union = a[:, None, 2:].prod(axis=2) + b[None, :, 2:].prod(axis=2) - overlap
    return overlap / np.maximum(union, 1e-9)


def covered(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """Largest fraction of each `inner` (cx, cy, w, h) row's area inside any `outer` row."""
    if not len(inner) or not len(outer):
        return np.zeros(len(inner))
    return (_overlap(inner, outer) / inner[:, None, 2:].prod(axis=2)).max(axis=1)


def geometric_cost(predicted: np.ndarray, observed: np.ndarray, max_distance: float,
                   iou: np.ndarray | None = None) -> np.ndarray:
    """Pairing cost from boxes alone; np.inf where the centres are too far apart or the
    widths too unalike. `iou` (of the same rows) may be passed by a caller that needs it too."""
    iou = _iou(predicted, observed) if iou is None else iou
    offset = predicted[:, None, :2] - observed[None, :, :2]
    widths = 0.5 * (predicted[:, None, 2] + observed[None, :, 2])
    distance = np.hypot(offset[..., 0], offset[..., 1]) / widths
    scale = np.abs(np.log(predicted[:, None, 2] / observed[None, :, 2]))
    cost = (1.0 - iou) + distance + scale
    cost[(distance > max_distance) | (scale > _MAX_SCALE_STEP)] = np.inf
    return cost


def assign_greedy(cost: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (row, col) taken cheapest first, each row and column once; inf never taken."""
    rows, cols = np.nonzero(np.isfinite(cost))
    order = np.argsort(cost[rows, cols], kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs = []
    for r, c in zip(rows[order].tolist(), cols[order].tolist()):
        if r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            pairs.append((r, c))
    return pairs


def assign(cost: np.ndarray, unpaired: float = _FORBIDDEN) -> list[tuple[int, int]]:
    """Minimum-total-cost pairs (row, col); inf entries, and those >= `unpaired`, never pair.

    `unpaired` is what leaving one row and one column both unpaired costs. Without it the
    solver pairs as many rows as it can before it minimises cost: a track whose only
    reachable detection is its neighbour's plate would take it, and push the neighbour
    onto a stray detection far away. Capping every entry at `unpaired` makes a far-fetched
    pair no better than none, so the optimum pairs only where pairing truly pays.
    """
    if cost.size == 0:
        return []
    allowed = cost < unpaired
    if linear_sum_assignment is None:
        return assign_greedy(np.where(allowed, cost, np.inf))
    rows, cols = linear_sum_assignment(np.where(allowed, cost, unpaired))
    return [(r, c) for r, c in zip(rows.tolist(), cols.tolist()) if allowed[r, c]]


def kin(a: Track, b: Track) -> bool:
    """Whether tracks `a` and `b` followed one plate at once: seen at the same time, in the
    same place, reading the same plate or pieces of it (a stray track that drifted onto
    a piece of the plate, or a plate whose track split while it was boxed in pieces)."""
    if b.first_seen > a.last_seen or a.first_seen > b.last_seen:
        return False
    if not any(same_plate(x, y) for x in a.tally.leaders for y in b.tally.leaders):
        return False
    near = min(b.detections, key=lambda d: abs(d.timestamp - a.last_seen)).box
    last = a.detections[-1].box
    (ax, ay), (bx, by) = last.centre, near.centre
    return math.hypot(ax - bx, ay - by) <= max(last.w, near.w)


def rides_on(rider: Track, host: Track) -> bool:
    """Whether `rider` is other text carried by `host`'s vehicle: seen fewer times than
    the plate, close to it and keeping a fixed offset from it.

    The host's centre is interpolated at the rider's sighting times, so the two need not
    be seen in the same frames; the rider needs two sightings within the host's time span.
    """
    if len(rider.detections) >= len(host.detections):
        return False
    host_times, host_centres = host.timestamps(), host.centres()
    times = rider.timestamps()
    within = (times >= host_times[0]) & (times <= host_times[-1])
    if within.sum() < 2:
        return False
    times = times[within]
    under = np.column_stack([np.interp(times, host_times, host_centres[:, k]) for k in (0, 1)])
    height = float(np.median([d.box.h for d in host.detections]))
    width = float(np.median([d.box.w for d in host.detections]))
    offset = rider.centres()[within] - under
    drift = float(np.ptp(offset, axis=0).max())
    reach_x, reach_y = np.abs(offset).max(axis=0).tolist()
    return drift <= _RIDE_SLACK * height and reach_y <= _RIDE_REACH * height and reach_x <= width


def _as_cxcywh(boxes: Sequence[Box]) -> np.ndarray:
    data = np.asarray([(b.x, b.y, b.w, b.h) for b in boxes], dtype=np.float64).reshape(-1, 4)
    data[:, 2:] = np.maximum(data[:, 2:], 1.0)
    data[:, :2] += data[:, 2:] / 2
    return data


class StillText:
    """Where the localiser keeps finding something that does not move: a burned-in clock, a sign.

    Each place is a candidate box grown by _STILL_SPREAD heights, as a fixture's home is; a
    later candidate centred in it keeps it alive, and it is forgotten once none was seen
    there for `gap_s`. A place alive for `still_after_s` is still text.
    """

    def __init__(self, still_after_s: float, gap_s: float) -> None:
        self.still_after_s = still_after_s
        self.gap_s = gap_s
        self.places = np.empty((0, 4))  # x0, y0, x1, y1
        self.since = np.empty(0)
        self.last = np.empty(0)

    def see(self, boxes: Sequence[Box], timestamp: float) -> None:
        """Note one read frame's candidate boxes (all of them, read or not)."""
        alive = timestamp - self.last <= self.gap_s
        self.places, self.since, self.last = self.places[alive], self.since[alive], self.last[alive]
        if not boxes:
            return
        inside = _centred_in(_as_cxcywh(boxes), self.places)
        self.last[inside.any(axis=0)] = timestamp
        fresh = _as_cxcywh([b for b, known in zip(boxes, inside.any(axis=1)) if not known])
        grow = _STILL_SPREAD * fresh[:, 3:4]
        half = fresh[:, 2:] / 2
        places = np.hstack([fresh[:, :2] - half - grow, fresh[:, :2] + half + grow])
        self.places = np.vstack([self.places, places])
        self.since = np.concatenate([self.since, np.full(len(places), timestamp)])
        self.last = np.concatenate([self.last, np.full(len(places), timestamp)])

    def covers(self, box: Box) -> bool:
        """Whether `box` is centred in a place that has been still text for `still_after_s`."""
        still = self.places[self.last - self.since >= self.still_after_s]
        return bool(_centred_in(_as_cxcywh([box]), still).any())


def _centred_in(boxes: np.ndarray, places: np.ndarray) -> np.ndarray:
    """(n, m) bool: whether box i (cx, cy, w, h rows) is centred in place j (x0, y0, x1, y1 rows)."""
    cx, cy = boxes[:, 0:1], boxes[:, 1:2]
    return (places[:, 0] <= cx) & (cx <= places[:, 2]) & (places[:, 1] <= cy) & (cy <= places[:, 3])


class Tracker:
    """Associates per-frame detections with live tracks and reports the tracks that end."""

    def __init__(self, config: TrackingConfig) -> None:
        self.config = config
        self.still = StillText(config.fixture_after_s, config.close_after_s)
        self.live: list[Track] = []
        self.confident_now: list[Track] = []
        # Closed passes that a live track overlaps in time: possible hosts of a rider.
        self._recent: list[Track] = []
        self._ids = itertools.count(1)
        # A pair dearer than a continuation at the edge of every gate (no overlap, the
        # farthest allowed distance, reads as far apart as still tolerated) is no pair.
        self._unpaired = 1.0 + config.max_distance + _TEXT_WEIGHT * config.max_text_distance

    def predict_settled(self, boxes: Sequence[Box], timestamp: float) -> np.ndarray:
        """True for each box that continues a settled track (confident or a fixture): it need not be read."""
        skip = np.zeros(len(boxes), dtype=bool)
        if not boxes or not any(t.settled for t in self.live):
            return skip
        predicted, observed = self._predicted(timestamp), _as_cxcywh(boxes)
        overlap = _iou(predicted, observed)
        cost = self._geometric(predicted, observed, overlap)
        for i, j in assign(cost, self._unpaired):
            skip[j] = self.live[i].settled and overlap[i, j] >= _SKIP_IOU
        return skip

    def update(self, detections: Sequence[Detection], timestamp: float,
               candidates: Sequence[Box] | None = None) -> list[Track]:
        """Add one frame's detections; return the tracks that closed (oldest first).

        `candidates`: every box the localiser found in the frame, read or not (None: the
        frame was not searched), to learn where text stands still (`StillText`).
        """
        self.confident_now = []
        if candidates is not None and self.config.fixture_after_s:
            self.still.see(candidates, timestamp)
        observed = _as_cxcywh([d.box for d in detections])
        predicted = self._predicted(timestamp)
        cost = self._geometric(predicted, observed)
        self._add_text_cost(cost, detections)
        pairs = assign(cost, self._unpaired)
        for i, j in pairs:
            self._extend(self.live[i], detections[j])
        paired = {j for _, j in pairs}
        unpaired = [j for j in range(len(detections)) if j not in paired]
        if unpaired and pairs:
            rows, cols = map(list, zip(*pairs))
            pieces = observed[cols] * (1.0, 1.0, 3.0, 1.0)  # the rest of a plate boxed in part
            present = np.concatenate([predicted[rows], pieces])
            fragment = covered(observed[unpaired], present) >= _FRAGMENT_COVER
            unpaired = [j for j, part in zip(unpaired, fragment.tolist()) if not part]
        self.live.extend(self._start(detections[j]) for j in unpaired)
        return self._close(timestamp)

    def close_all(self) -> list[Track]:
        """End every live track (stream ended or shutting down)."""
        closed, self.live = self.live, []
        return self._passes(closed)

    def _predicted(self, timestamp: float) -> np.ndarray:
        """Each live track's expected (cx, cy, w, h) at `timestamp`, one row per track."""
        return np.array([t.predict(timestamp) for t in self.live], dtype=np.float64).reshape(-1, 4)

    def _geometric(self, predicted: np.ndarray, observed: np.ndarray, iou: np.ndarray | None = None) -> np.ndarray:
        if not len(predicted) or not len(observed):
            return np.full((len(predicted), len(observed)), np.inf)
        return geometric_cost(predicted, observed, self.config.max_distance, iou)

    def _add_text_cost(self, cost: np.ndarray, detections: Sequence[Detection]) -> None:
        """Add text disagreement to the geometrically possible pairs; forbid sure mismatches."""
        sure = self.config.confident_confidence
        for i, j in np.argwhere(np.isfinite(cost)).tolist():
            track, read = self.live[i], detections[j].read
            if read is None or not read.text or not track.tally.leaders:
                continue
            texts = (read.text, *(c.text for c in read.candidates[:2] if c.text))
            distance = _text_gap(texts, track.tally.leaders)
            sure_mismatch = read.confidence >= sure and track.tally.has_strong()
            if distance > self.config.max_text_distance and sure_mismatch:
                cost[i, j] = np.inf
            else:
                cost[i, j] += _TEXT_WEIGHT * distance

    def _start(self, detection: Detection) -> Track:
        tally = ReadTally(self.config.confident_confidence)
        track = Track(next(self._ids), new_pass_id(detection.timestamp), tally)
        self._extend(track, detection)
        return track

    def _extend(self, track: Track, detection: Detection) -> None:
        if track.add(detection, self.config.confident_reads):
            self.confident_now.append(track)
            log.debug("track %d confident after %d detections", track.id, len(track.detections))
        self._check_fixture(track)

    def _check_fixture(self, track: Track) -> None:
        """Mark a track that held still for fixture_after_s a fixture; unmark it once it moves."""
        after = self.config.fixture_after_s
        if track.fixture and track.moving_off():
            track.fixture = False
            log.info("track %d moves off after %.0f s: a vehicle, read again", track.id,
                     track.last_seen - track.first_seen)
        elif (not track.fixture and after and track.last_seen - track.first_seen >= after
              and track.held_still() and not track.moving_off()):
            track.fixture = True
            log.info("track %d held still for %.0f s in region %s (x0, y0, x1, y1): a fixture (an on-screen "
                     "clock, a sign or a parked vehicle), not read again; cameras[].ignore can mask it",
                     track.id, after, [round(v) for v in track.home])

    def _close(self, timestamp: float) -> list[Track]:
        config = self.config
        ended = [t for t in self.live if timestamp - t.last_seen > config.close_after_s
                 or t.last_seen - t.first_seen >= config.max_track_s]
        if ended:
            gone = set(map(id, ended))
            self.live = [t for t in self.live if id(t) not in gone]
        return self._passes(ended)

    def _passes(self, ended: list[Track]) -> list[Track]:
        """The ended tracks that are vehicle passes: kin merged, riders dropped."""
        folded = self._fold_kin(ended, self.live)
        hosts = self.live + folded + self._recent
        fixtures = [t for t in self.live + folded if t.fixture]
        passes = []
        for track in folded:
            if track.fixture:
                log.debug("track %d dropped: a fixture, it never moved", track.id)
            elif track.held_still() and any(f.at_home(track.detections[-1].box) for f in fixtures):
                log.debug("track %d dropped: a piece of a fixture (a caption boxed in parts)", track.id)
            elif track.held_still() and self.still.covers(track.detections[-1].box):
                log.debug("track %d dropped: it held still where text has stood still (a clock)", track.id)
            elif any(host is not track and rides_on(track, host) for host in hosts):
                log.debug("track %d dropped: other text on a tracked plate's vehicle", track.id)
            else:
                passes.append(track)
        oldest_live = min((t.first_seen for t in self.live), default=math.inf)
        self._recent = [t for t in self._recent + passes if t.last_seen >= oldest_live]
        return passes

    def _fold_kin(self, ended: list[Track], live: list[Track]) -> list[Track]:
        """The ended tracks that are passes of their own; each other one is merged into a
        kin track (live or ended), so one vehicle makes one pass, with all its reads."""
        hosts = live + ended
        merged: set[int] = set()
        for track in sorted(ended, key=lambda t: len(t.detections)):
            host = next((h for h in hosts if h is not track and kin(track, h)), None)
            if host is not None:
                host.merge(track, self.config.confident_reads)
                hosts.remove(track)
                merged.add(id(track))
                log.debug("track %d merged into track %d", track.id, host.id)
        return [t for t in ended if id(t) not in merged]
