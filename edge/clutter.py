"""Reads that are no plate: what the frame's furniture makes (an on-screen clock, a
fence), text with no plate around it (a van's painted number, a sign's words), a
plate's own small print (a state name, a dealer's line, a sticker) and a second read of
one plate's place.

Why a stage of its own: the localiser finds plate-like rows of glyphs, and the
recogniser reads every row it is given, so some reads are text that only looks like a
plate. These rules need the read (its text and how sure it is) and where it lies in the
frame, so they run after the formatter and before tracking. They are cheap: string tests
and one pairwise array over a frame's few reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.localise import TEXT_TO_PLATE_H
from edge.types import Box, Detection, PlateRead

_BAR_GLYPHS = frozenset("1IL")  # what a post or a rail reads as
_BAR_SHARE = 0.7
_BAR_MIN_LENGTH = 5  # shorter rows of 1s and Ls are real (dateless GB, vanity plates)
_CLOCK_LETTERS = 1  # letters besides O (a clock's 0) a clock's read may hold: one misread digit
_CLOCK_MAX_HEIGHT = 0.25  # of the frame's height: on-screen text is a thin line (2-4%), a close-up fills it
_EDGE_MARGIN = 0.25  # plate-box heights between a box and the frame edge: text against the edge
_SMALL_PRINT_HEIGHT = 0.4  # a plate's small print / its registration's height, at most
_UNFRAMED_EDGE = 0.07  # plate edge contrast (edge.localise.plate_edge_contrast) under which bare text is no plate
_STACKED_COVER = 0.4  # share of a bare read's width a like-high line above or below covers on a sign
_OVERLAP_SHARE = 0.5  # of the smaller read's box lying in another read's: one place read twice
_WHOLE_READ_MARGIN = 0.05  # how much less sure a read of a whole plate may be than a read of part of it
_CATCH_ALL_FORMATS = frozenset({"generic", "eu_generic", "us_generic"})  # layouts any text fits


def is_scene_text(text: str, box: Box, frame_height: int) -> bool:
    """A read that the frame's furniture makes, not a plate: a clock or a row of bars."""
    return is_on_screen_clock(text, box, frame_height) or is_row_of_bars(text)


def is_bare_text(text: str, plate_format: str | None) -> bool:
    """Text a sign or a van's livery is made of as often as a plate: digits only, letters
    only (a 0 counted as O: the recogniser reads a sign's O as the US vanity plates' 0), or
    text that fits only a catch-all layout. Such a read needs a plate around it to be one
    (`is_unframed_text`); a structured one (AB12CDE, 7ABC123) is kept without."""
    return (text.isdigit() or text.replace("0", "O").isalpha()
            or plate_format is None or plate_format in _CATCH_ALL_FORMATS)


def is_unframed_text(text: str, plate_format: str | None, edge_contrast: float) -> bool:
    """Bare text (`is_bare_text`) with no plate edge above and below it: painted, not plated.

    Why: fleet and phone numbers painted on vans and lorries, bus numbers, signs' words
    (EXIT ONLY, PRIVATE PROPERTY) read as plates, and nearly all are digits only, letters
    only or fit no plate layout. A plate is a card: the line of its edge (or its frame's)
    runs the text's whole width just above and just below it. `edge_contrast` is the
    weaker of the two lines against the text's contrast (edge.localise.plate_edge_contrast).
    On the clutter roadside tuning stills (tools/tuning_stills.py us-roadside --draws 4
    --clutter 3) the bare reads of 0.4 and over that plates made all had it at 0.082 or
    more, and 91 of the 288 false reads under 0.07; the synthetic and shaded tuning stills
    lost no plate. A plate the colour of its car shows no edge: it is kept when its text is
    structured, and a bare one is lost (a black vanity plate on a black car).
    """
    return edge_contrast < _UNFRAMED_EDGE and is_bare_text(text, plate_format)


def is_stacked_text(text: str, plate_format: str | None, stacked_cover: float) -> bool:
    """Bare text (`is_bare_text`) with a line of text as tall as its own directly above or
    below it: one line of a sign or a notice, not a plate.

    Why: signs that pass for plates come framed (a panel has edges, so `is_unframed_text`
    keeps them) and in stacked lines of one size: PRIVATE over PROPERTY, a list of a
    store's services, EXIT over ONLY. A plate's number has the plate's margin around it,
    and its state name, slogan and dealer's line are smaller print. `stacked_cover` is the
    share of the read's width that such a line covers (edge.localise.stacked_line_cover).
    On the clutter roadside tuning stills (tools/tuning_stills.py us-roadside --draws 4
    --clutter 3) a cover of 0.3-0.5 with the line 0.7-0.8 of the text's height or taller
    drops 60-65 of the 197 false reads of 0.4 and over and no plate; the synthetic, shaded
    and distant tuning stills drop nothing. One plate read there has a line 0.6 as tall
    under it (its dealer's line), so like-high starts at 0.8.
    """
    return stacked_cover >= _STACKED_COVER and is_bare_text(text, plate_format)


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
    in every still. Its zeros often read as O, so O counts as a digit, and one other letter
    is allowed for a misread digit. A real plate rarely lies against the edge (and is then
    often cut off by it), and few plates carry at most one letter (about one US plate in
    six). A clock's line is a thin strip of the picture; a plate that fills the frame (a
    tight crop read on its own) touches both edges and is no clock. Video has a second
    guard in tracking (text that stays put is a fixture), and `cameras[].ignore` masks any
    other overlay at install time.
    """
    if sum(c.isalpha() and c != "O" for c in text) > _CLOCK_LETTERS or box.h > _CLOCK_MAX_HEIGHT * frame_height:
        return False
    margin = _EDGE_MARGIN * box.h
    return box.y <= margin or box.y + box.h >= frame_height - margin


def plate_furniture(detections: Sequence[Detection], quads: Sequence[np.ndarray | None],
                    min_confidence: float) -> np.ndarray:
    """True for each read that is small print on the plate of a read the unit reports.

    Why: a plate and its holder carry more text than the registration: the state's name,
    a slogan, the dealer's line, a sticker. Read on its own, each is a false plate. Such
    text is printed far smaller than the registration (a US state name, the tallest of
    it, is about a third of its height), it lies on the plate or its holder, within half
    a text height of the plate's box, and it sits above or below the registration's
    line, never on it. Lines and heights are the localiser's quads (`quads`, one per
    detection; None for an upright box): a tilted row's box is taller than its text, and
    its line runs corner to corner, so a dealer's line under the high end of a tilted
    plate lies inside the box's middle band. Only a read of at least `min_confidence`
    counts as a plate here: a large box of clutter, read as nothing sure, must not hide
    a real plate beside it.
    """
    sure = np.array([d.read is not None and d.read.confidence >= min_confidence for d in detections], bool)
    read = np.array([d.read is not None for d in detections], bool)
    if read.sum() < 2:
        return np.zeros(len(detections), bool)
    x, y, w, h = np.array([d.box.as_list() for d in detections], np.float64).T
    from_line, reach, plate_h = _line_offsets(detections, quads)
    meets = ((np.minimum(x + w, (x + w)[:, None]) >= np.maximum(x, x[:, None]))
             & (np.minimum(y + h + reach, (y + h)[:, None]) >= np.maximum(y - reach, y[:, None])))
    small = plate_h[:, None] <= _SMALL_PRINT_HEIGHT * plate_h
    return (meets & small & (from_line > reach) & read[:, None] & sure).any(axis=1)


def _line_offsets(detections: Sequence[Detection], quads: Sequence[np.ndarray | None]) -> tuple[np.ndarray, ...]:
    """How far each read's box centre lies from each read's text line ([i, j]: i's centre,
    j's line, N x N), half a text height of each read (its reach: the plate runs past its
    box), and each read's height along its sides."""
    x, y, w, h = np.array([d.box.as_list() for d in detections], np.float64).T
    left, right, plate_h = _plate_lines([d.box for d in detections], quads)
    centre_x, centre_y = (x + w / 2)[:, None], (y + h / 2)[:, None]
    slope = (right[:, 1] - left[:, 1]) / np.maximum(right[:, 0] - left[:, 0], 1.0)
    line_y = left[:, 1] + (centre_x - left[:, 0]) * slope
    return np.abs(centre_y - line_y), 0.5 * plate_h / TEXT_TO_PLATE_H, plate_h


def repeated_reads(detections: Sequence[Detection], quads: Sequence[np.ndarray | None]) -> np.ndarray:
    """True for each read of a place that another read of the frame covers better.

    Why: two plates never overlap in a frame, but the localiser can propose one plate twice,
    as its text row and as the whole plate with a sticker beside the row (read 10DTM and
    10DTM9), or as one group of its glyphs and as the row (CD05 and CD05TUU); reported
    apart, one of the two is a false plate. Reads whose boxes overlap by half the smaller
    box or more are one place: the most confident is kept, except that a read holding
    another's whole text, and nearly as sure (within 0.05), outranks it, since the whole
    plate is more than a part of it read crisply. The smaller box's centre must also lie on
    the larger's text line (the localiser's quads, one per detection, as for small print):
    a tilted plate's box is far taller than its text and can take in the dealer's line
    under it, which is another place. Unread detections (skipped for a track already
    read) take no part.
    """
    ranked = sorted((i for i, d in enumerate(detections) if d.read is not None),
                    key=lambda i: -detections[i].read.confidence)
    repeated = np.zeros(len(detections), bool)
    if len(ranked) < 2:
        return repeated
    boxes = np.array([d.box.as_list() for d in detections], np.float64)
    from_line, reach, _ = _line_offsets(detections, quads)
    on_line = from_line <= reach  # [i, j]: i's centre on j's line
    area = boxes[:, 2] * boxes[:, 3]
    smaller_on_larger = np.where(area[:, None] <= area, on_line, on_line.T)
    same_place = (_overlap_share(boxes) >= _OVERLAP_SHARE) & smaller_on_larger
    kept: list[int] = []
    for i in ranked:  # a frame's few reads
        rival = next((k for k in kept if same_place[i, k]), None)
        if rival is None:
            kept.append(i)
        elif _reads_whole(detections[i].read, detections[rival].read):
            kept[kept.index(rival)] = i
            repeated[rival] = True
        else:
            repeated[i] = True
    return repeated


def _overlap_share(boxes: np.ndarray) -> np.ndarray:
    """For each pair of boxes (N x 4: x, y, w, h), their intersection's share of the smaller box."""
    x, y, w, h = boxes.T
    across = np.minimum(x + w, (x + w)[:, None]) - np.maximum(x, x[:, None])
    down = np.minimum(y + h, (y + h)[:, None]) - np.maximum(y, y[:, None])
    area = w * h
    return np.clip(across, 0, None) * np.clip(down, 0, None) / np.maximum(np.minimum(area, area[:, None]), 1.0)


def _reads_whole(read: PlateRead, part: PlateRead) -> bool:
    """Whether `read` holds all of `part`'s text and more, and is nearly as sure."""
    return (len(read.text) > len(part.text) and part.text in read.text
            and read.confidence >= part.confidence - _WHOLE_READ_MARGIN)


def _plate_lines(boxes: Sequence[Box], quads: Sequence[np.ndarray | None]) -> tuple[np.ndarray, ...]:
    """Each plate's text line (the mid-points of its left and right sides, N x 2 each) and
    its height along its sides, from its quad (tl, tr, br, bl), or its box where none."""
    corners = np.array([quad if quad is not None else b.corners() for b, quad in zip(boxes, quads)], np.float64)
    left, right = (corners[:, 0] + corners[:, 3]) / 2, (corners[:, 1] + corners[:, 2]) / 2
    height = ((corners[:, 3, 1] - corners[:, 0, 1]) + (corners[:, 2, 1] - corners[:, 1, 1])) / 2
    return left, right, height
