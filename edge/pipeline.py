"""The per-frame reading path (localise -> read -> format -> drop clutter) and the
per-camera pipeline (reading -> track/vote -> zone -> record).

`PlateReader` is shared by `edge read`, `edge eval`, replay and the daemon, so every
command measures and runs exactly the same code.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Callable, Sequence

import numpy as np

from edge.clutter import (is_bare_text, is_scene_text, is_stacked_text, is_unframed_text, plate_furniture,
                          repeated_reads)
from edge.config import CameraConfig, EdgeConfig, RecogniserConfig, TrackingConfig
from edge.errors import EdgeError, ModelError
from edge.formats import PlateFormatter, adds_an_end_glyph, best_candidates, merge_looks
from edge.imageio import load_image, to_bgr8
from edge.localise import (IgnoreRegions, Localiser, plate_edge_contrast, plate_lean_degrees, plate_panel,
                           stacked_line_cover)
from edge.motion import MotionGate
from edge.read import PlateRecogniser, crop_pads, look_network_for, plate_outline, rectify, upright
from edge.record import PassAssembler, PassRecord
from edge.track import Tracker
from edge.types import Box, Detection, Frame, PlateCandidate, PlateRead

SkipRule = Callable[[Sequence[Box]], np.ndarray]
SECOND_LOOK_FLOOR = 0.3  # first readings below this are not read again: edge.evaluate's lowest threshold
THIRD_LOOK_BELOW = 0.5  # two looks merged below this (they disagree, or both are unsure): look a third time
END_LOOK_MIN_GLYPHS = 5  # rows read shorter than this get no end look: as often a whole short plate
END_LOOK_MIN_CONFIDENCE = 0.6  # an end look's longer read must be this sure to replace the looks' read
PLATE_LOOK_FLOOR = 0.05  # rows read less surely than this are no plate's: no plate look
PLATE_LOOK_BELOW = 0.8  # rows read from the floor to under this get a plate look
PLATE_LOOK_SURE = 0.6  # a plate look's read must be this sure (and surer than the row's) to replace it
RETRY_FLOOR = 0.7  # a frame searched again (PlateReader.read) keeps only its new reads this sure

log = logging.getLogger(__name__)


# the clutter rules' names
SCENE_TEXT, UNFRAMED_TEXT, STACKED_TEXT, SMALL_PRINT = "scene text", "unframed text", "stacked text", "small print"


@dataclass(frozen=True, slots=True)
class SetAside:
    """A read the clutter rules (edge.clutter) took for text that is no plate: where, what,
    and which rule (SCENE_TEXT, UNFRAMED_TEXT, STACKED_TEXT or SMALL_PRINT)."""

    box: Box
    read: PlateRead
    rule: str


@dataclass(slots=True)
class FrameReading:
    """What one frame yielded, with per-stage timings for eval, bench and metrics, and the
    reads set aside as no plate: `edge eval` names the rule that cost a labelled plate, and
    the daemon counts them per rule (`edge_reads_set_aside`) so a site whose plates a rule
    takes shows it."""

    detections: list[Detection]
    candidates: list[PlateCandidate] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)
    localise_s: float = 0.0
    read_s: float = 0.0
    set_aside: list[SetAside] = field(default_factory=list)
    searched_twice: bool = False  # nothing read surely at first: searched again (PlateReader.read)

    def sure_or_tracked(self, min_confidence: float) -> list[Detection]:
        """The detections read at least `min_confidence` surely, and those skipped as plates
        a track has read already."""
        return [d for d in self.detections if d.read is None or d.read.confidence >= min_confidence]

    def holds_a_plate(self, min_confidence: float) -> bool:
        """Whether it has any such detection (`sure_or_tracked`)."""
        return bool(self.sure_or_tracked(min_confidence))

    def outlines(self) -> list[np.ndarray | None]:
        """Each detection's quad: its candidate's outline (None for an upright box)."""
        by_box = {candidate.box: candidate.quad for candidate in self.candidates}
        return [by_box.get(detection.box) for detection in self.detections]

    def plate_leans(self, min_confidence: float) -> list[float]:
        """The lean (degrees, counter-clockwise: edge.localise.plate_lean_degrees) of each
        read of at least `min_confidence`: a camera mounted askew, or knocked askew, turns
        every plate alike, and cameras[].roll_degrees levels it."""
        return [plate_lean_degrees(quad) for detection, quad in zip(self.detections, self.outlines())
                if quad is not None and detection.read is not None and detection.read.confidence >= min_confidence]


class PlateReader:
    """Finds and reads every plate in a frame: one localiser pass, one batched recogniser call
    and one for a second look (a third for unsure reads, and on US units a plate look at
    unsurely read rows, `_plate_look`); all of it once more, on a finer copy, for a frame
    that yields no sure read (`read`). `streams`: how many cameras share it at once (the daemon's),
    so the localiser's and the network's threads are shared out among them
    (edge.config.stage_threads)."""

    def __init__(self, config: EdgeConfig, streams: int = 1) -> None:
        self.localiser = Localiser(config.localiser, streams)
        retry_width = config.localiser.retry_proposal_width
        finer = retry_width > config.localiser.proposal_width  # a retry on no finer a copy finds the same
        self.retry_localiser = Localiser(config.localiser.model_copy(update={"proposal_width": retry_width}),
                                         streams) if finer else None
        self.recogniser = PlateRecogniser(config.recogniser, streams)
        self.formatter = PlateFormatter(config.plates, self.recogniser.alphabet)
        self.min_confidence = config.plates.min_confidence
        self.drop_unframed = config.plates.drop_unframed_text
        self.drop_stacked = config.plates.drop_stacked_text
        self.pads = crop_pads(config.plates.countries)
        self.second_look = config.recogniser.second_look
        self.look_recogniser = self._look_recogniser(config.recogniser, config.plates.countries, streams)

    def _look_recogniser(self, config: RecogniserConfig, countries: Sequence[str],
                         streams: int) -> PlateRecogniser:
        """The network that reads the later looks: `look_network` where set (`auto`: the
        shipped one for the unit's plates) and the looks are on, else the first look's own.
        Both spell with one alphabet, so one formatter reads them both."""
        name = look_network_for(countries) if config.look_network == "auto" else config.look_network
        if not self.second_look or name in (None, config.network):
            return self.recogniser
        looks = PlateRecogniser(config.model_copy(update={"network": name}), streams)
        if looks.alphabet != self.recogniser.alphabet:
            raise ModelError(f"recogniser look_network {name} spells {looks.alphabet!r}, "
                             f"network {config.network} {self.recogniser.alphabet!r}: they must share an alphabet")
        return looks

    def read(self, image: np.ndarray, index: int = 0, timestamp: float = 0.0,
             skip: SkipRule | None = None, keep_crops: bool = False,
             ignore: IgnoreRegions | None = None, roll_degrees: float | None = None) -> FrameReading:
        """Read a frame: one batched recogniser call, and one more for a second look (more for
        unsure reads: `_look_again`, `_plate_look`).

        `skip` marks candidates not worth reading (plates of tracks already read with
        confidence): they come back as detections with `read=None`, so tracking still
        follows them. Read candidates that yield no plausible plate, scene text or a
        sign's bare text (`_clutter_rule`) or a plate's small print (`plate_furniture`)
        are dropped, and so are candidates in the camera's `ignore` regions, before any
        reading.
        `roll_degrees`: the camera's own roll, if it has one (Localiser.find).

        A frame that holds no plate read at `plates.min_confidence` is searched once more, its
        rows proposed on a copy `localiser.retry_proposal_width` wide; that search's reads of
        RETRY_FLOOR and over replace the first's where one of them holds a plate
        (`_after_retry`).
        Why: on the coarse copy (640 px) the glyphs of some plates run together with an emblem
        between their groups, a border they touch or a busy picture, so no row forms and the
        plate is never read; on a finer copy the same plates form rows. Proposing every frame's
        rows there reads the US photos worse (docs/history.md, tools/tuning_stills.py), but a
        frame that gave nothing sure has nothing to lose. Its new reads are a second chance
        taken because the first found nothing, so they must be surer than a first search's. Set
        on the US tuning stills (tools/tuning_stills.py us-roadside --draws 4 with --clutter 3,
        --widths 50 140, --widths 140 215, plain, and us-shade; exact at 0.4): 1,312 plates
        without a retry; with one at 960 px and floors of 0 / 0.6 / 0.7 / 0.8, 1,337 / 1,335 /
        1,334 / 1,332, the floors from 0.7 at the fewest false reads; at 800 px 1,332 and at
        1280 px 1,333 (floor 0.7). The second search costs a localiser pass and a reading only
        on such frames; its time is counted in the reading's.
        """
        search = partial(self._read_found, image=to_bgr8(image), index=index, timestamp=timestamp, skip=skip,
                         keep_crops=keep_crops, ignore=ignore, roll_degrees=roll_degrees)
        reading = search(self.localiser)
        if self.retry_localiser is None or reading.holds_a_plate(self.min_confidence):
            return reading
        return self._after_retry(reading, search(self.retry_localiser), self.min_confidence)

    @staticmethod
    def _after_retry(reading: FrameReading, retried: FrameReading, min_confidence: float) -> FrameReading:
        """The retried search's reading, its reads under RETRY_FLOOR dropped, where it then
        holds a plate at `min_confidence`; else the first. Either way it carries the time
        both searches took, and says it was searched twice (the daemon counts such frames,
        `edge_frames_searched_twice`: a camera whose frames mostly hold no plate pays twice)."""
        retried = replace(retried, detections=retried.sure_or_tracked(RETRY_FLOOR))
        chosen = retried if retried.holds_a_plate(min_confidence) else reading
        return replace(chosen, localise_s=reading.localise_s + retried.localise_s,
                       read_s=reading.read_s + retried.read_s, searched_twice=True)

    def _read_found(self, localiser: Localiser, image: np.ndarray, index: int, timestamp: float,
                    skip: SkipRule | None, keep_crops: bool, ignore: IgnoreRegions | None,
                    roll_degrees: float | None) -> FrameReading:
        """Read the candidates `localiser` finds in a BGR frame (`read` without its retry)."""
        started = time.perf_counter()
        candidates = localiser.find(image, roll_degrees)
        if ignore and candidates:
            candidates = [c for c, masked in zip(candidates, ignore.covers([c.box for c in candidates])) if not masked]
        localised = time.perf_counter()
        skipped = skip([c.box for c in candidates]) if skip and candidates else np.zeros(len(candidates), bool)
        to_read = [c for c, s in zip(candidates, skipped) if not s]
        crops, looked = self._read_candidates(image, to_read)
        reads = iter(looked)
        detections, quads, set_aside = [], [], []
        for candidate, was_skipped in zip(candidates, skipped):
            read = None if was_skipped else next(reads)
            if not was_skipped and read is None:
                continue
            rule = None if was_skipped else self._clutter_rule(image, candidate, read)
            if rule:
                set_aside.append(SetAside(candidate.box, read, rule))
                continue
            detections.append(Detection(candidate.box, candidate.score, read, index, timestamp))
            quads.append(candidate.quad)
        small_print = plate_furniture(detections, quads, self.min_confidence)
        set_aside += [SetAside(d.box, d.read, SMALL_PRINT) for d, drop in zip(detections, small_print) if drop]
        detections = [d for d, drop in zip(detections, small_print) if not drop]
        finished = time.perf_counter()
        return FrameReading(detections, candidates, crops if keep_crops else [],
                            localised - started, finished - localised, set_aside)

    def _clutter_rule(self, image: np.ndarray, candidate: PlateCandidate, read: PlateRead) -> str | None:
        """The rule that takes this read for text that is no plate, if any: scene text
        (`is_scene_text`), or bare text with no plate around it (edge.clutter.is_unframed_text,
        unless plates.drop_unframed_text is off) or stacked on a like-high line of a sign
        (edge.clutter.is_stacked_text, unless plates.drop_stacked_text is off). The
        surroundings are measured for bare reads only: a few a frame, 0.1-0.3 ms each."""
        if is_scene_text(read.text, candidate.box, image.shape[0]):
            return SCENE_TEXT
        if candidate.quad is None or not is_bare_text(read.text, read.format):
            return None
        if self.drop_unframed and is_unframed_text(read.text, read.format, plate_edge_contrast(image, candidate.quad)):
            return UNFRAMED_TEXT
        if self.drop_stacked and is_stacked_text(read.text, read.format, stacked_line_cover(image, candidate.quad)):
            return STACKED_TEXT
        return None

    def read_boxes(self, image: np.ndarray, boxes: Sequence[Box]) -> list[PlateRead | None]:
        """Read a plate in each of `boxes`, cut and looked at as if the localiser had found it
        there (no clutter rules): what the reading stages make of a plate found exactly.

        Why: `edge eval` reads every labelled plate at its labelled box too, so a run shows
        how many plates the recogniser and formatter would read with a perfect localiser,
        and so which stage limits the read rate.
        """
        return self._read_candidates(to_bgr8(image), [PlateCandidate(box, 1.0) for box in boxes])[1]

    def _read_candidates(self, image: np.ndarray, candidates: list[PlateCandidate]
                         ) -> tuple[list[np.ndarray], list[PlateRead | None]]:
        """The first-look crops of `candidates` and their reads after every look, the plate
        look included: the one reading path of frames and of labelled boxes."""
        crops, reads = self._read_cuts(image, candidates)
        return crops, self._plate_look(image, candidates, reads)

    def _read_cuts(self, image: np.ndarray, candidates: list[PlateCandidate], end_look: bool = True
                   ) -> tuple[list[np.ndarray], list[PlateRead | None]]:
        """The first-look crops of `candidates` and their reads after the first three looks
        and (where `end_look`) the end look. Each candidate's glyph slant is measured on its
        first look and kept for the later ones."""
        cut = [upright(image, candidate, self.pads.first) for candidate in candidates]
        crops, slants = [crop for crop, _ in cut], [slant for _, slant in cut]
        return crops, self._look_again(image, candidates, slants, self._format(crops), end_look)

    def _plate_look(self, image: np.ndarray, candidates: list[PlateCandidate],
                    reads: list[PlateRead | None]) -> list[PlateRead | None]:
        """On US units, every row read from PLATE_LOOK_FLOOR up to under PLATE_LOOK_BELOW read
        again cut as wide as the plate around it (edge.read.plate_outline), and at its plate's
        panel as well (`_plate_cuts`), through the same looks but the end look (the cut
        already spans the plate). The surer of those reads replaces the row's where it is
        PLATE_LOOK_SURE or surer, surer than the row's, and no shorter; a panel's read only
        where the row is too unsure to report or the plate-wide cut read the same
        (`_panel_heard`).

        Why: the recogniser learnt real plates from crops cut at the plate's edges, and some
        plates it reads unsurely or wrongly at their row's outline it reads surely so framed
        (on the US photos, read at their labelled boxes and merged with the rows' reads, 186
        -> 192 exact). A plate-framed read of every row, merged with the row's, lost plates
        on the tuning stills: a box drawn from the row is not the plate's own, and a sure row
        read is mostly right. So only a surer plate read is taken, and a shorter one is not:
        the plate-wide cut, narrower than the row's outline, can cut off an end glyph that
        the row holds. Measured at a 0.4 threshold on the US tuning stills
        (tools/tuning_stills.py; exact, clutter roadside / distant / shaded, false reads per
        image in brackets): no plate look 255/245/252 (0.421/0.086/0.065); shipped 260/252/254
        (0.418/0.068/0.065). Set in turn: the cut's shape (edge.read.plate_outline) with rows
        under 0.6 looked at and plate reads from 0.6 taken; then, with that shape, rows under
        0.4, 0.6, 0.8, 0.9 and every row: 258/247/253, 260/250/253, 261/251/254 (0.418/0.072/
        0.068), 261/251/253 and 261/251/253 (every row: twice the plate looks); plate reads
        from 0.5 or 0.7 (rows under 0.6): 259/249/254 (0.438 on clutter) and 259/248/253;
        then shorter reads refused: 260/252/254 (0.418/0.068/0.068); last, the end look left
        out of the plate cut's looks (the shipped figures). Two cuts (2:1 and PLATE_ASPECT), the
        surer read taken (rows under 0.6): 260/249/253; one read of a 2:1 cut without the looks
        (rows under 0.6): 255/244/252 (0.469/0.110/0.072).
        """
        if not self.pads.plate_look:
            return reads
        outlined, panels = self._plate_cuts(image, candidates, reads)
        if not outlined and not panels:
            return reads
        plate_reads = self._read_cuts(image, [cut for _, cut in outlined + panels], end_look=False)[1]
        outline_reads = dict(zip([i for i, _ in outlined], plate_reads))
        panel_reads = zip([i for i, _ in panels], plate_reads[len(outlined):])
        rows = list(reads)
        for i, plate in outline_reads.items():
            if self._surer_plate(reads[i], plate):
                reads[i] = plate
        for i, plate in panel_reads:
            if self._panel_heard(rows[i], plate, outline_reads.get(i), self.min_confidence) \
                    and self._surer_plate(reads[i], plate):
                reads[i] = plate
        return reads

    @staticmethod
    def _panel_heard(row: PlateRead, panel: PlateRead | None, outline: PlateRead | None,
                     min_confidence: float) -> bool:
        """Whether a panel look's read may replace its row's (`_plate_cuts`): where the row is
        too unsure to report (under `min_confidence`), or where the plate-wide cut drawn
        around the row read the same text (two framings, one found in the picture and one
        drawn from the row, agreeing)."""
        if row.confidence < min_confidence:
            return True
        return panel is not None and outline is not None and panel.text == outline.text

    def _plate_cuts(self, image: np.ndarray, candidates: list[PlateCandidate], reads: list[PlateRead | None]
                    ) -> tuple[list[tuple[int, PlateCandidate]], list[tuple[int, PlateCandidate]]]:
        """The plate looks' cuts, each with its row's index: for every unsure row, the
        plate-wide cut drawn around its outline (`plate_outline`), and apart from those the
        plate's own panel found around its box (edge.localise.plate_panel).

        Why the panel: a row whose box runs onto the bumper or stops short of an end glyph
        is read unsurely there, and no cut drawn from that box frames the plate; the panel
        is found from the picture. A row that would be reported takes the panel's read only
        where the drawn cut read the same (`_panel_heard`): a sure row's read is mostly
        right, and a panel cut alone can read a glyph wrong as surely as right (a Wisconsin
        plate's red F read E at its panel, in three frames). Measured at a 0.4 threshold on
        the US tuning stills (tools/tuning_stills.py us-roadside --draws 4 with --clutter 3,
        --widths 50 140, --widths 140 215 and none; us-shade --draws 4), exact (false reads
        per image): without panels 261/256/269/262/260 (0.394/0.065/0.048/0.048/0.048), 1,308
        in all; panels for rows too unsure to report alone 263/256/269/264/260 (0.397/0.065/
        0.048/0.048/0.048), 1,312; with the agreeing panels of reported rows too, the same
        1,312 (and on the US photos 190 -> 192 at 0.135 -> 0.126); every unsure row's panel
        read taken as the drawn cut's is 262/255/268/262/260 (0.401/0.068/0.051/0.055/0.048),
        1,307.
        """
        unsure = [i for i, read in enumerate(reads)
                  if read is not None and PLATE_LOOK_FLOOR <= read.confidence < PLATE_LOOK_BELOW]
        outlined = [(i, PlateCandidate(candidates[i].box, candidates[i].score, plate_outline(candidates[i].quad)))
                    for i in unsure if candidates[i].quad is not None]
        panels = [(i, PlateCandidate(panel, candidates[i].score))
                  for i, panel in zip(unsure, (plate_panel(image, candidates[i].box) for i in unsure))
                  if panel is not None]
        return outlined, panels

    @staticmethod
    def _surer_plate(row: PlateRead, plate: PlateRead | None) -> bool:
        """Whether a plate look's read replaces its row's (`_plate_look`)."""
        return (plate is not None and plate.confidence >= PLATE_LOOK_SURE and plate.confidence > row.confidence
                and len(plate.text) >= len(row.text))

    def _format(self, crops: list[np.ndarray], recogniser: PlateRecogniser | None = None) -> list[PlateRead | None]:
        raws = (recogniser or self.recogniser).recognise(crops) if crops else []
        return [self.formatter.format(raw.text, raw.char_probs) for raw in raws]

    def _look_again(self, image: np.ndarray, candidates: list[PlateCandidate], slants: list[float],
                    reads: list[PlateRead | None], end_look: bool = True) -> list[PlateRead | None]:
        """Read again, a little wider, every candidate whose first reading could be reported,
        and merge the looks (`merge_looks`): a misread rarely survives a second framing. On
        US units the same batch holds an end look at each such row (`_longer_row`), unless
        `end_look` is off (the plate look's cuts, which already span the plate).

        Only reads at SECOND_LOOK_FLOOR or above (or `plates.min_confidence`, if lower) get
        the second batch, one or two crops per frame; scene text is dropped anyway. The
        floor is the lowest threshold `edge eval` scores, so its curve over thresholds is
        what a unit set to each would report. Looking again at weaker reads too (down to
        0.15) rescued none on the tuning stills. Where the two looks merge below
        THIRD_LOOK_BELOW (they disagree, or agree unsurely), a third, wider look decides:
        a plate read right in two of three framings keeps two thirds of its confidence, a
        misread of one framing falls to a third. On the tuning stills (tools/tuning_stills.py,
        at a 0.4 threshold) it moved the US roadside set from 231 exact at 0.16 false reads
        per image to 232 at 0.13, and the synthetic set from 168 at 0.09 to 169 at 0.07 (a
        third look below 0.45 or 0.6 instead: 232 at 0.15, 227 at 0.14; 169 at 0.08 and 0.07).
        """
        if not self.second_look:
            return reads
        floor = min(SECOND_LOOK_FLOOR, self.min_confidence)
        again = [i for i, read in enumerate(reads) if read is not None and read.confidence >= floor
                 and not is_scene_text(read.text, candidates[i].box, image.shape[0])]
        rows = [i for i in again if candidates[i].quad is not None
                and len(reads[i].text) >= END_LOOK_MIN_GLYPHS] if self.pads.end_reach and end_look else []
        firsts = {i: reads[i] for i in again}
        crops = (self._cuts(image, candidates, slants, again, self.pads.second)
                 + self._cuts(image, candidates, slants, rows, self.pads.first, self.pads.end_reach))
        looked = self._format(crops, self.look_recogniser)
        seconds, ends = dict(zip(again, looked)), dict(zip(rows, looked[len(again):]))
        for i in again:
            reads[i] = merge_looks(firsts[i], seconds[i])
        unsure = [i for i in again if reads[i].confidence < THIRD_LOOK_BELOW]
        for i, third in zip(unsure, self._look(image, candidates, slants, unsure, self.pads.third)):
            reads[i] = merge_looks(firsts[i], seconds[i], third)
        for i, end in ends.items():
            reads[i] = self._longer_row(reads[i], end, floor)
        return reads

    @staticmethod
    def _longer_row(looked: PlateRead, end: PlateRead | None, floor: float) -> PlateRead:
        """The end look's read where it is the looks' read with one more glyph at an end,
        surely read; else the looks' read.

        Why: the localiser can end a plate's row a glyph short, where the end glyph touches
        the plate's border or stands apart by an emblem (ANW2529 found as NW2529, 6TIX874 as
        6TIX87), and the looks, a few percent wider, agree on the short text. The end look
        cuts the row longer by about a glyph at each end (edge.read.END_LOOK_REACH, US units
        only: see edge.read.crop_pads) and is read in the second look's batch. Only a longer
        read that holds the whole shorter one replaces it, so the look cannot turn a plate
        into another text. Rows read under END_LOOK_MIN_GLYPHS are not lengthened: beside
        the tuning stills' short plates it took a glyph of the next text (2861 read 28612).
        Measured at a 0.4 threshold (tools/tuning_stills.py; exact, false reads per image):
        US roadside clutter stills 254 at 0.421 -> 255 at 0.421, distant 243 at 0.089 -> 245
        at 0.086, shaded 251 at 0.068 -> 252 at 0.065. A floor of 0.4 or 0.8 read as 0.6.
        """
        if looked.confidence < floor or len(looked.text) < END_LOOK_MIN_GLYPHS or end is None:
            return looked
        if end.confidence >= END_LOOK_MIN_CONFIDENCE and adds_an_end_glyph(looked.text, end.text):
            return end
        return looked

    def _look(self, image: np.ndarray, candidates: list[PlateCandidate], slants: list[float], which: list[int],
              pad: float) -> list[PlateRead | None]:
        """The candidates `which`, cut with margin `pad` (and their slants) and read in one batch
        by the looks' network."""
        return self._format(self._cuts(image, candidates, slants, which, pad), self.look_recogniser)

    @staticmethod
    def _cuts(image: np.ndarray, candidates: list[PlateCandidate], slants: list[float], which: list[int],
              pad: float, reach: float = 0.0) -> list[np.ndarray]:
        """The candidates `which` cut with margin `pad`, their slants and `reach` (edge.read.rectify)."""
        return [rectify(image, candidates[i], pad, slants[i], reach) for i in which]

    def plates(self, reading: FrameReading, min_confidence: float | None = None) -> list[Detection]:
        """Confident reads of distinct plates, best first: what a still-image read reports.

        A place read twice (edge.clutter.repeated_reads: a plate's row and the whole plate
        with a sticker beside it) reports its best read only. Frames of a video are not
        reported this way: their reads go to tracking, which makes one pass per vehicle
        and follows a caption or a plate by whichever of its reads continues its track.
        `min_confidence` overrides the configured plates.min_confidence (0 keeps every read).
        """
        floor = self.min_confidence if min_confidence is None else min_confidence
        repeated = repeated_reads(reading.detections, reading.outlines())
        best: dict[str, Detection] = {}
        for detection, again in zip(reading.detections, repeated):
            read = detection.read
            if again or read is None or read.confidence < floor:
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
        candidates = None
        self.last_reading = None
        if self._worth_reading(frame.image):
            skip = partial(self.tracker.predict_settled, timestamp=frame.timestamp)
            self.last_reading = self.reader.read(frame.image, frame.index, frame.timestamp, skip=skip,
                                                 ignore=self.ignore, roll_degrees=self.camera.roll_degrees)
            detections = self.last_reading.detections
            candidates = [c.box for c in self.last_reading.candidates]
            self.frames_processed += 1
        closed = self.tracker.update(detections, frame.timestamp, candidates)
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
