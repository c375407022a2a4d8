"""Plate localiser: finds plate-shaped rows of characters with whole-array operations.

Why characters rather than plate outlines: a plate's border is often missing (white plate on
a white van, a dark frame, dirt), but a plate always carries a short row of 4-9 glyphs of
one height on one baseline. Glyphs are connected components of a local-contrast threshold
(dark-on-light and light-on-dark), filtered to glyph shapes and linked into rows with array
maths; a row's fitted baseline gives the skew quad the reader rectifies with.

Two passes keep the cost per frame flat. Connected components cost per pixel, so a coarse
pass runs on a small copy of the frame (and a pyramid above it for big plates) and proposes
text rows, even ones whose small glyphs have blurred together. The fine pass cuts every
proposal from the working image, rescales it so its glyphs are about `_FINE_TEXT_H` pixels
tall (enlarging small plates separates touching glyphs), packs the cuts into one mosaic and
finds and groups glyphs there in one go. A frame partly in deep shade gets one more
coarse look at its shaded parts, brightened (`_shade_glyphs`), coarse rows parted by
an emblem are proposed joined as well (`_joined_rows_proposed`), far plates' small glyphs are
looked for on a finer copy too (`_small_plate_glyphs`), and a fine row that runs up
to the side of its cut is looked for again in a wider cut (`_with_recut_rows`). Each final
candidate's row is cut out level once more and thresholded at its own two tones, to take in
whole glyphs its ends left out (`_with_end_glyphs_refound`).
Nothing loops over pixels; Python loops only over proposals to cut and paste them, and
over the final candidates (NMS, the end glyphs).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from typing import NamedTuple, TypeVar

import cv2
import numpy as np

from edge.config import LocaliserConfig, stage_threads
from edge.types import Box, PlateCandidate, quad_sides

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_MIN_SIDE = 24  # smaller images cannot hold a readable plate
_WINDOW = 15  # local-mean window: wider than any stroke searched at a level
_CONTRAST = 7  # grey levels a glyph pixel must differ from its local mean
_RULE_KERNEL = np.ones((1, 27), np.uint8)  # longer than any glyph's horizontal stroke
_COARSE_WINDOW = 9  # local-mean window on the coarse pyramid: small glyphs need a tight one
_COARSE_CONTRAST = 7
_COARSE_CHAR_H = (4, 22)  # glyph heights searched on the coarse image (its pixels)
_COARSE_CHAR_H_UPPER = (9, 26)  # pyramid levels above it: glyphs too big below (overlapping)
_MIN_LEVEL_WIDTH = 48
_LEVELS = 3  # the top level's glyphs reach 4 x 26 coarse pixels: plates wider than a third
_BLOB_H = (6, 24)  # plate blob heights searched on each coarse level (its pixels)
_MARK_ASPECT = 3.0  # a dark mark inside a plate blob may be several glyphs run together
_FINE_TEXT_H = 22.0  # glyph height the fine pass rescales every proposal to
_FINE_CHAR_H = (11, 38)  # glyph heights accepted in the fine pass (mosaic pixels)
_FINE_POST_KERNEL = np.ones((40, 1), np.uint8)  # taller than any accepted glyph: frame sides
_FINE_MAX_ASPECT = 2.4  # fine glyphs may be two or three touching glyphs
_GLYPH_PITCH = 0.6  # extra width / height each further touching glyph adds
_CUT_SIDE = 1.0  # proposal cut margins beside and above/below its text, in glyph heights
_CUT_ABOVE = 0.7
_PROPOSAL_IOU = 0.5  # proposals overlapping more than this are one proposal
_MOSAIC_WIDTH = 640
_PROPOSAL_GLYPHS = 2  # a coarse row this long is worth a closer look
_PROPOSAL_FULL_COUNT = 4  # coarse rows are often broken: four glyphs rank as a full row
_PLATE_GLYPHS = 3  # a fine row this long can be a plate
_HEIGHT_RATIO = 0.75  # neighbouring glyphs of one row are at least this alike in height
_HEIGHT_SPREAD = 0.18  # ... and a row keeps only glyphs this close to its median height
TEXT_TO_PLATE_H = 1.75  # a candidate's box height / its glyph height (plates: EU 1.45, US ~2.1)
_SIDE_MARGIN = 0.45  # plate margin beside the text, in glyph heights
_JOIN_GAP = 2.5  # two rows this close (gap / glyph height) on one line may be one plate's halves
_JOIN_OFFSET = 0.3  # ... with centre lines at most this far apart (/ glyph height)
_JOIN_HEIGHT_RATIO = 0.8
_JOIN_MAX_GLYPHS = 10
_NMS_IOU = 0.3
_NMS_INSIDE = 0.6  # a weaker candidate this much inside a kept one is a fragment of it
_SHADE_LEVEL = 110.0  # a shaded part is brightened as if its mean were this grey level...
_SHADE_WINDOW = 41  # ... its mean taken over this many coarse pixels (wider than a plate's glyphs)
_SHADE_MAX_GAIN = 4.0  # at most: darker parts hold only noise
_SHADE_GAIN = 1.5  # parts brightened more than this are in shade
_SHADE_MAX_SHARE = 0.9  # a frame more in shade than this is a night frame: no shade pass
_SHADE_PROPOSALS = 2  # rows from shade added to the lit proposals, at most
_SHADE_RANK = 0.5  # rows found in shade score this share: a lit row of the same plate outranks them
_SHADE_MIN_SCORE = 0.3  # coarse row score a row from shade needs
_SHADE_OVERLAP = 0.5  # share of a shaded row's cut that may lie in a lit proposal's
_SMALL_CHAR_H = (5, 14)  # glyph heights searched on the small-plate copy (its pixels)
_SMALL_MIN_GAIN = 1.2  # the small-plate copy is searched only when this much wider than the coarse one
_SMALL_PROPOSALS = 2  # small-plate rows added to the proposals, at most
_SMALL_RANK = 0.5  # their rows score this share: a lit row of the same plate outranks them
_SMALL_MIN_SCORE = 0.1  # coarse row score a small-plate row needs
_SMALL_OVERLAP = 0.5  # share of a small-plate row's cut that may lie in a proposal's already made
_JOINED_PROPOSALS = 2  # coarse rows joined across a gap added to the proposals, at most
_JOINED_RANK = 0.5  # their rows score this share: a lit row of the same text outranks them
_JOINED_MIN_SCORE = 0.3  # coarse row score a joined row needs
_JOINED_OVERLAP = 0.7  # share of a joined row's cut that may lie in a lit proposal's (its halves' cuts hold ~2/3)
_RECUT_EDGE = 0.5  # a fine row ending this close to its cut's side (glyph heights) may run on past it...
_RECUT_SIDE = 2.5  # ... so that side is cut again this many glyph heights wider
_RECUTS = 4  # wider cuts per frame, at most (for the best rows)
_RECUT_RANK = 0.75  # a row extended by a wider cut keeps this share of its score
_RECUT_OTHER_RANK = 0.5  # the wider cut's other rows score this share: pieces of rows already found, or clutter
_FALLBACKS = 2  # best coarse proposals kept even when the fine pass finds no row there
_FALLBACK_SCORE = 0.2  # their score, times the coarse score: below real rows
_FALLBACK_COVER_SCORE = 0.2  # a fine row this good covering a proposal replaces it
_COUNTER_REACH = 1.5  # a light row takes in its dark partner's text this far past its ends (glyph heights)...
_COUNTER_OFFSET = 0.25  # ... a dark row of the same cut on its line (centre lines this close / height)...
_COUNTER_HEIGHT_RATIO = 0.8  # ... of like height...
_COUNTER_OVERLAP = 0.6  # ... overlapping this share of the shorter row
_COUNTER_MIN_GAIN = 0.5  # ... where the dark row runs on past the light one by a glyph or more (glyph heights)
_MERGED_GAP = 0.5  # a blob this close past a row's end (glyph heights)...
_MERGED_HEIGHT = (1.1, 1.8)  # ... this much taller than its glyphs...
_MERGED_WIDTH = (0.35, 1.3)  # ... this wide (glyph heights)...
_MERGED_BAND = 0.15  # ... covering the row's text band to within this (glyph heights)...
_MERGED_EDGE = 0.1  # ... on the row's top or bottom line to within this (glyph heights)...
_MERGED_FILL = (0.2, 0.65)  # ... drawn in strokes (ink share of its box) is its end glyph
_STRIP_TEXT_H = 20  # glyph height a candidate's row is rescaled to when it is looked at again
_REFOUND_REACH = 1.6  # glyph heights looked at past each end of the row
_REFOUND_GAP = 0.35  # a glyph starting this close to the row's end (its glyph heights)...
_REFOUND_GAIN = 0.3  # ... that carries the row this much further...
_REFOUND_LINES = 0.12  # ... with its top and bottom this close to the row's glyphs' lines...
_REFOUND_WIDTH = (0.1, 1.0)  # ... this wide...
_REFOUND_FILL = 0.8  # ... and not solid (ink share of its box) is an end glyph the row left out
_REFOUND_GLYPHS = 2  # glyphs taken in at each end, at most
_EDGE_REACH = 1.6  # glyph heights above and below a row's centre line searched for its plate's edges
_EDGE_BAND = 1.2  # ... the edge lying within this many glyph heights of the text
_STACK_GAP = 1.0  # a row of glyphs starting within this many glyph heights above or below a row's text...
_STACK_HEIGHT = (0.8, 1.6)  # ... as tall as its glyphs (their glyph heights)...
_STACK_WIDTH = (0.08, 1.5)  # ... glyph-wide...
_STACK_FILL = 0.85  # ... drawn in strokes (ink share of its box)...
_STACK_LINE = 0.25  # ... on one line (centres this close, / their height)...
_STACK_GLYPHS = 3  # ... at least this many of them, is a line of text stacked on the row
_STACK_REACH = 0.5 + _STACK_GAP + _STACK_HEIGHT[1]  # glyph heights either side of the centre line looked at

# Column layout of glyph tables: box, pixel count, and a grouping key (glyphs only link to
# glyphs with the same key: same polarity, same pyramid level or same proposal cut).
_X, _Y, _W, _H, _AREA, _KEY = range(6)


def _to_grey(image: np.ndarray) -> np.ndarray:
    """8-bit single-channel view of BGR, BGRA, grey, 16-bit or float input."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.dtype != np.uint8:
        top = float(img.max()) if img.size else 0.0
        scale = 255.0 if img.dtype.kind == "f" and top <= 1.0 else 255.0 / max(top, 1.0)
        img = cv2.convertScaleAbs(img.astype(np.float32), alpha=scale)
    if img.ndim == 2:
        return img
    code = cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(img, code)


def _labelled(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label image and stats (x, y, w, h, area; row 0 is the background) of a binary."""
    try:  # 16-bit labels halve the memory traffic; a very noisy frame can overflow them
        _, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8, ltype=cv2.CV_16U)
    except cv2.error:
        _, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8, ltype=cv2.CV_32S)
    return labels, stats


def _components(binary: np.ndarray) -> np.ndarray:
    """Stats (x, y, w, h, area) of every foreground component, background dropped."""
    return _labelled(binary)[1][1:]


def _binarise(img: np.ndarray, polarities: tuple[int, ...] = (0, 1), window: int = _WINDOW,
              contrast: int = _CONTRAST) -> list[np.ndarray]:
    """Pixels clearly darker (polarity 0) / lighter (1) than their neighbourhood mean."""
    mean = cv2.blur(img, (window, window))
    return [cv2.compare(img, cv2.subtract(mean, contrast), cv2.CMP_LT) if polarity == 0
            else cv2.compare(img, cv2.add(mean, contrast), cv2.CMP_GT) for polarity in polarities]


def _without_rules(binary: np.ndarray, vertical: np.ndarray | None = None) -> np.ndarray:
    """Binary with long horizontal (and, given a kernel, vertical) runs removed.

    Why: plate frames, borders and printed strips often touch the glyphs after
    thresholding, merging a whole plate into one component; no glyph stroke is this long.
    """
    rules = cv2.morphologyEx(binary, cv2.MORPH_OPEN, _RULE_KERNEL)
    if vertical is not None:
        rules = cv2.max(rules, cv2.morphologyEx(binary, cv2.MORPH_OPEN, vertical))
    return cv2.subtract(binary, rules)


def _glyph_like(stats: np.ndarray, h_range: tuple[float, float], max_aspect: float = 1.15) -> np.ndarray:
    """Mask of components shaped like a plate glyph: upright, partly filled, in size range.

    `max_aspect` above one glyph's lets two or three touching glyphs through as one.
    """
    w = stats[:, 2].astype(np.float32)
    h = stats[:, 3].astype(np.float32)
    fill = stats[:, 4] / (w * h)
    return ((h >= h_range[0]) & (h <= h_range[1]) & (w <= max_aspect * h) & (w >= 0.08 * h)
            & (fill >= 0.18) & (fill <= 0.95))


def _glyph_units(chars: np.ndarray) -> np.ndarray:
    """How many glyphs each component probably holds (touching glyphs form one component)."""
    return 1 + np.clip(np.floor((chars[:, _W] / chars[:, _H] - 0.9) / _GLYPH_PITCH), 0, 2)


def _glyph_table(stats: np.ndarray, key: int) -> np.ndarray:
    table = np.empty((len(stats), 6), np.float32)
    table[:, :5] = stats
    table[:, _KEY] = key
    return table


def _plate_blobs(light_labels: np.ndarray, light: np.ndarray, dark: np.ndarray) -> tuple[np.ndarray, ...]:
    """Light plate-shaped blobs holding at least two dark marks of text size.

    Why: a small plate's glyphs blur together on the coarse image, so no glyph row forms,
    but its bright background still stands out as a plate-shaped blob with dark holes.
    A mark belongs to a light component touching it left, right, above or below (four
    label lookups per mark, not a blobs x marks matrix).
    `light` keeps the background row 0. Returns cut regions (x0, y0, x1, y1), estimated
    glyph heights and scores.
    """
    x, y, w, h, area = (light[:, k].astype(np.float32) for k in range(5))
    shaped = ((h >= _BLOB_H[0]) & (h <= _BLOB_H[1]) & (w >= 1.4 * h) & (w <= 6.0 * h)
              & (area >= 0.35 * w * h) & (area <= 0.92 * w * h))
    shaped[0] = False
    marks = dark[(dark[:, 3] >= 2) & (dark[:, 3] <= _BLOB_H[1]) & (dark[:, 2] <= _MARK_ASPECT * dark[:, 3])]
    mark_x, mark_y, mark_w, mark_h = (marks[:, k] for k in range(4))
    row, col = mark_y + mark_h // 2, mark_x + mark_w // 2
    height, width = light_labels.shape
    owner = np.maximum.reduce([light_labels[row, np.maximum(mark_x - 1, 0)],
                               light_labels[row, np.minimum(mark_x + mark_w, width - 1)],
                               light_labels[np.maximum(mark_y - 1, 0), col],
                               light_labels[np.minimum(mark_y + mark_h, height - 1), col]]).astype(np.intp)
    ratio = mark_h / h[owner]
    ok = shaped[owner] & (ratio >= 0.25) & (ratio <= 0.85) & (np.abs(row - (y[owner] + h[owner] / 2)) <= 0.3 * h[owner])
    count = np.bincount(owner[ok], minlength=len(light))
    blob = count >= 2
    text_h = np.bincount(owner[ok], mark_h[ok], minlength=len(light))[blob] / count[blob]
    x, y, w, h = x[blob], y[blob], w[blob], h[blob]
    pad = 0.5 * text_h
    regions = np.stack([x - pad, y - pad, x + w + pad, y + h + pad], 1)
    return regions, text_h, np.minimum(count[blob] / 5.0, 1).astype(np.float32) * 0.8


def _coarse_level(img: np.ndarray, level: int, blobs: bool = True) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
    """Glyph table and plate-blob proposals (regions, heights, scores; None unless `blobs`)
    of one pyramid level.

    Long rules are cut from the dark threshold only: dark glyphs touching a plate frame are
    common, and the light threshold must keep whole plate backgrounds for `_plate_blobs`.
    Light "glyphs" are kept even under dark text: the gaps between big dark glyphs form
    light rows that propose the plate as well as the glyphs do.
    """
    h_range = _COARSE_CHAR_H if level == 0 else _COARSE_CHAR_H_UPPER
    dark, light = _binarise(img, window=_COARSE_WINDOW, contrast=_COARSE_CONTRAST)
    dark_stats = _components(_without_rules(dark))
    if blobs:
        light_labels, light_stats = _labelled(light)
        light_glyphs = light_stats[1:]
    else:
        light_glyphs = _components(light)
    glyphs = np.concatenate([_glyph_table(dark_stats[_glyph_like(dark_stats, h_range)], 2 * level),
                             _glyph_table(light_glyphs[_glyph_like(light_glyphs, h_range)], 2 * level + 1)])
    return glyphs, _plate_blobs(light_labels, light_stats, dark_stats) if blobs else None


def _coarse_pass(coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Glyph table and plate blobs over a pyramid of the coarse image, in coarse pixels.

    Glyph `key` = 2 * level + polarity: glyphs only group with glyphs of the same key, so
    one plate's dark text never links with bright clutter or its coarser-level duplicate.
    """
    glyphs, regions, heights, scores = [], [], [], []
    level_img, level, factor = coarse, 0, 1.0
    while level < _LEVELS and level_img.shape[1] >= _MIN_LEVEL_WIDTH and min(level_img.shape) >= 2 * _COARSE_CHAR_H[0]:
        table, (blob_regions, blob_heights, blob_scores) = _coarse_level(level_img, level)
        table[:, :4] *= factor
        table[:, _AREA] *= factor * factor
        glyphs.append(table)
        regions.append(blob_regions * factor)
        heights.append(blob_heights * factor)
        scores.append(blob_scores)
        level_img, level, factor = cv2.pyrDown(level_img), level + 1, factor * 2.0
    if not glyphs:
        return np.empty((0, 6), np.float32), np.empty((0, 4)), np.empty(0), np.empty(0)
    return np.concatenate(glyphs), np.concatenate(regions), np.concatenate(heights), np.concatenate(scores)


def _candidate_pairs(chars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) of glyphs with the same key whose centres are vertically close.

    Sorting by (key, centre y) and taking each glyph's following neighbours up to a height-
    scaled y distance keeps the pair count near linear, not N^2, on cluttered frames.
    """
    cy = chars[:, _Y] + chars[:, _H] / 2
    order = np.lexsort((cy, chars[:, _KEY]))
    span = float(cy.max() + chars[:, _H].max()) + 1.0 if len(chars) else 1.0
    sort_key = chars[order, _KEY] * span * 4 + cy[order]
    reach = sort_key + 0.6 * chars[order, _H]
    hi = np.searchsorted(sort_key, reach, side="right")
    first, offset = _ranges(np.maximum(hi - np.arange(len(order)) - 1, 0))
    return order[first], order[first + 1 + offset]


def _ranges(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand per-item run lengths without a loop: (item index, position within its run)
    for every element of every run, e.g. counts [2, 0, 1] -> ([0, 0, 2], [0, 1, 0])."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)


def _link_costs(chars: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Cost of `right` being the next glyph after `left` on one text row; inf if it cannot be.

    Gaps up to 1.8 glyph heights are allowed because plates print groups apart and US
    plates put a logo between them; mutual best-neighbour choice keeps rows from branching.
    """
    hl, hr = chars[left, _H], chars[right, _H]
    hm = 0.5 * (hl + hr)
    cxl = chars[left, _X] + chars[left, _W] / 2
    cxr = chars[right, _X] + chars[right, _W] / 2
    dx = cxr - cxl
    gap = dx - 0.5 * (chars[left, _W] + chars[right, _W])
    dy = np.abs((chars[right, _Y] + hr / 2) - (chars[left, _Y] + hl / 2))
    ratio = np.minimum(hl, hr) / np.maximum(hl, hr)
    ok = (ratio >= _HEIGHT_RATIO) & (gap >= -0.1 * hm) & (gap <= 1.8 * hm) & (dy <= 0.25 * hm + 0.2 * dx)
    cost = np.maximum(gap, 0) / hm + 2.0 * dy / hm + 3.0 * (1.0 - ratio)
    return np.where(ok, cost, np.inf)


def _skips(n: int, left: np.ndarray, right: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Mask of possible links that jump over a glyph which could link to both their ends.

    Why: a glyph touching a frame or an underline grows taller, and the height term of the
    link cost then lets its neighbours pair past it; the row breaks at that glyph and loses
    it and the glyphs beyond (the plate's first or last characters). Text rows never skip a
    glyph, so such a link is dropped and the row runs through the glyph instead. Two-hop
    paths come from a sorted join of the links on their middle glyph.
    """
    ok = np.flatnonzero(np.isfinite(cost))
    first, second = left[ok], right[ok]
    order = np.argsort(first, kind="stable")
    by_left = first[order]
    lo = np.searchsorted(by_left, second, side="left")
    hop, offset = _ranges(np.searchsorted(by_left, second, side="right") - lo)
    ends = second[order[lo[hop] + offset]]
    two_hop = np.unique(first[hop].astype(np.int64) * n + ends)
    return np.isin(left.astype(np.int64) * n + right, two_hop) & np.isfinite(cost)


def _best_links(n: int, left: np.ndarray, right: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Mask of links that are both the left glyph's best right and the right glyph's best left."""
    mutual = np.isfinite(cost)
    for end in (left, right):
        order = np.lexsort((cost, end))
        ends = end[order]
        first = np.ones(len(ends), bool)  # the cheapest link of each run of one end
        first[1:] = ends[1:] != ends[:-1]
        best = np.zeros(len(cost), bool)
        best[order[first]] = True
        mutual &= best
    return mutual


def _label_groups(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected components of the link graph by min-label propagation with pointer jumping."""
    labels = np.arange(n)
    for _ in range(64):
        low = np.minimum(labels[i], labels[j])
        new = labels.copy()
        np.minimum.at(new, i, low)
        np.minimum.at(new, j, low)
        new = new[new]
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def _group_median(values: np.ndarray, groups: np.ndarray, n_groups: int, empty: float,
                  exact: bool = False) -> np.ndarray:
    """Median of `values` per group id (vectorised: one sort, then the middle of each run),
    `empty` for a group with none. Of an even count it is the upper middle value, or with
    `exact` the mean of the middle two, as np.median gives it."""
    ordered = values[np.lexsort((values, groups))]
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    out = np.full(n_groups, empty, np.float64)
    has = counts > 0
    upper = ordered[starts[has] + counts[has] // 2]
    out[has] = (ordered[starts[has] + (counts[has] - 1) // 2] + upper) / 2 if exact else upper
    return out


def _group_rows(chars: np.ndarray, min_glyphs: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of linked glyphs: (kept glyph indices, compact row id per kept glyph)."""
    if len(chars) < min_glyphs:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    i, j = _candidate_pairs(chars)
    swap = chars[i, _X] + chars[i, _W] / 2 > chars[j, _X] + chars[j, _W] / 2
    left, right = np.where(swap, j, i), np.where(swap, i, j)
    cost = _link_costs(chars, left, right)
    linkable = np.isfinite(cost)  # most pairs are not (a tenth on the US photos): drop them before sorting
    left, right, cost = left[linkable], right[linkable], cost[linkable]
    cost[_skips(len(chars), left, right, cost)] = np.inf
    keep = _best_links(len(chars), left, right, cost)
    labels = _label_groups(len(chars), left[keep], right[keep])
    _, compact = np.unique(labels, return_inverse=True)
    n_rows = int(compact.max()) + 1
    median_h = _group_median(chars[:, _H], compact, n_rows, 0.0)[compact]
    typical = np.abs(chars[:, _H] - median_h) <= _HEIGHT_SPREAD * median_h  # drops borders, blots
    units = np.bincount(compact, _glyph_units(chars) * typical, n_rows)
    members = np.bincount(compact, typical, n_rows)
    idx = np.flatnonzero(typical & (units[compact] >= min_glyphs) & (members[compact] >= 2))
    _, rows = np.unique(compact[idx], return_inverse=True)
    return idx, rows


@dataclass(slots=True)
class _Rows:
    """Per-row geometry and glyph statistics of glyph rows (one array entry per row)."""

    count: np.ndarray  # glyphs, counting touching glyphs by their width
    mid_x: np.ndarray
    mid_y: np.ndarray
    slope: np.ndarray
    height: np.ndarray  # glyph height, corrected for skew
    left: np.ndarray
    right: np.ndarray
    align: np.ndarray  # worst of top and bottom line residual (rms) / height
    height_cv: np.ndarray
    aspect: np.ndarray  # median glyph width / height, per glyph of touching ones
    fill: np.ndarray  # median share of a glyph's box that is ink
    gap: np.ndarray  # median space between neighbouring glyphs / height
    key: np.ndarray

    def line_y(self, x: np.ndarray) -> np.ndarray:
        return self.mid_y + self.slope * (x - self.mid_x)


def _row_geometry(chars: np.ndarray, idx: np.ndarray, rows: np.ndarray) -> _Rows:
    """Least-squares centre line, extent and glyph statistics of every row at once."""
    g = chars[idx]
    n_rows = int(rows.max()) + 1 if len(rows) else 0
    x, w, h = g[:, _X], g[:, _W], g[:, _H]
    cx, cy = x + w / 2, g[:, _Y] + h / 2
    units = _glyph_units(g)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(rows, values, n_rows)

    n = np.maximum(total(np.ones_like(cx)), 1)
    mx, my, mh = total(cx) / n, total(cy) / n, total(h) / n
    dxv = cx - mx[rows]
    slope = np.clip(total(dxv * (cy - my[rows])) / np.maximum(total(dxv * dxv), 1e-6), -0.6, 0.6)
    line = my[rows] + slope[rows] * dxv
    top_rms = np.sqrt(total((g[:, _Y] - (line - mh[rows] / 2)) ** 2) / n)
    bottom_rms = np.sqrt(total((g[:, _Y] + h - (line + mh[rows] / 2)) ** 2) / n)
    left = np.full(n_rows, np.inf)
    right = np.full(n_rows, -np.inf)
    np.minimum.at(left, rows, x)
    np.maximum.at(right, rows, x + w)
    order = np.lexsort((cx, rows))
    same = rows[order][1:] == rows[order][:-1]
    gaps = (x[order][1:] - (x + w)[order][:-1]) / mh[rows[order][1:]]
    key = np.zeros(n_rows)
    key[rows] = g[:, _KEY]
    return _Rows(count=total(units), mid_x=mx, mid_y=my, slope=slope,
                 height=mh / np.sqrt(1.0 + slope * slope),  # axis-aligned boxes grow with skew
                 left=left, right=right, align=np.maximum(top_rms, bottom_rms) / mh,
                 height_cv=np.sqrt(total((h - mh[rows]) ** 2) / n) / mh,
                 aspect=_group_median(w / (units * h), rows, n_rows, 0.0),
                 fill=_group_median(g[:, _AREA] / (w * h), rows, n_rows, 1.0),
                 gap=_group_median(gaps[same], rows[order][1:][same], n_rows, 0.0), key=key)


def _appended(first, second):
    """`first` with `second`'s entries appended, field by field (two _Rows or _Proposals)."""
    return type(first)(**{f.name: np.concatenate([getattr(first, f.name), getattr(second, f.name)])
                          for f in fields(first)})


def _joinable_pairs(r: _Rows) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) row pairs that may be two halves of one plate's text.

    A plate's text breaks into two rows where an emblem, a sticker or a wide group gap sits
    between its groups (Slovak 'RK [arms] 291AT', US 'ABC [logo] 123'): the halves share
    one polarity, glyph height and centre line, and the right one starts a short way after
    the left one ends. They may come from different proposals (the halves were proposed
    apart), so only the polarity half of the glyph key must match.
    """
    a, b = np.nonzero(r.left[None, :] > r.left[:, None])
    h = np.maximum(r.height[a], r.height[b])
    gap = r.left[b] - r.right[a]
    joint = 0.5 * (r.right[a] + r.left[b])
    ok = ((np.minimum(r.height[a], r.height[b]) >= _JOIN_HEIGHT_RATIO * h) & (r.key[a] % 2 == r.key[b] % 2)
          & (gap >= -0.2 * h) & (gap <= _JOIN_GAP * h)
          & (np.abs(_line_y_at(r, a, joint) - _line_y_at(r, b, joint)) <= _JOIN_OFFSET * h)
          & (r.count[a] + r.count[b] <= _JOIN_MAX_GLYPHS))
    return a[ok], b[ok]


def _line_y_at(r: _Rows, row: np.ndarray, x: np.ndarray) -> np.ndarray:
    return r.mid_y[row] + r.slope[row] * (x - r.mid_x[row])


def _with_joined_rows(chars: np.ndarray, idx: np.ndarray, rows: np.ndarray, r: _Rows) -> _Rows:
    """The rows `r` plus, as extra rows, the union of every joinable pair (the halves stay
    too: scoring and NMS decide which reading of the text is the plate)."""
    joined = _joined_rows(chars, idx, rows, r)
    return r if joined is None else _appended(r, joined)


def _joined_rows(chars: np.ndarray, idx: np.ndarray, rows: np.ndarray, r: _Rows) -> _Rows | None:
    """The union of every joinable pair of the rows `r` (glyphs `idx` of `chars`, row ids
    `rows`), as rows of their own; None where no pair joins."""
    left, right = _joinable_pairs(r)
    if not len(left):
        return None
    members = [np.flatnonzero((rows == a) | (rows == b)) for a, b in zip(left.tolist(), right.tolist())]
    return _row_geometry(chars, np.concatenate([idx[m] for m in members]),
                         np.repeat(np.arange(len(members)), [len(m) for m in members]))


def _with_light_rows_widened(r: _Rows) -> _Rows:
    """Each light row widened to the dark row beside it: same cut, same line, like height.

    Why: on a plate with dark glyphs, the light spaces between and around the glyphs form
    a row of their own (both polarities are searched in every cut, `_fine_glyphs`). It
    lies on the glyph row's line, shifted along it: it starts at a gap and runs on into
    the plate's margin. When it outranks the glyph row, its quad cuts the first glyph off
    (4HFX108 read as HFX108). Widened to its dark partner it covers the whole text,
    whichever of the two wins. Only a dark row that runs on past the light one by a glyph
    (half a glyph height) or more is taken in: less is a stump of the plate's border, which
    reads as an extra letter (an L before a Dutch I7859AM in video). Dark rows are not
    widened to their light partners either: the light row's margin reaches the border,
    read as an extra I or J (on the tuning stills, widening both ways read 235 and 233
    exact against 236 and 235 this way).
    """
    if not len(r.count):
        return r
    height, width, rows = r.height, r.right - r.left, np.arange(len(r.count))
    lo = np.maximum(r.left[:, None], r.left[None])
    hi = np.minimum(r.right[:, None], r.right[None])
    centre_dy = np.abs(_line_y_at(r, rows[:, None], (lo + hi) / 2) - _line_y_at(r, rows[None], (lo + hi) / 2))
    shorter, taller = np.minimum(height[:, None], height[None]), np.maximum(height[:, None], height[None])
    alike = shorter >= _COUNTER_HEIGHT_RATIO * taller
    partner = ((r.key[:, None] % 2 == 1) & (r.key[None] == r.key[:, None] - 1) & alike
               & (centre_dy <= _COUNTER_OFFSET * height[:, None])
               & (hi - lo >= _COUNTER_OVERLAP * np.minimum(width[:, None], width[None])))
    gain_left, gain_right = r.left[:, None] - r.left[None], r.right[None] - r.right[:, None]
    lo_gain, hi_gain = _COUNTER_MIN_GAIN * height[:, None], _COUNTER_REACH * height[:, None]
    left = np.where(partner & (gain_left >= lo_gain) & (gain_left <= hi_gain), r.left[None], np.inf).min(axis=1)
    right = np.where(partner & (gain_right >= lo_gain) & (gain_right <= hi_gain), r.right[None], -np.inf).max(axis=1)
    return replace(r, left=np.minimum(r.left, left), right=np.maximum(r.right, right))


def _with_merged_end_glyphs(chars: np.ndarray, r: _Rows) -> _Rows:
    """Each row widened over a taller blob just past its end: a last glyph run into furniture.

    Why: a plate's last glyph often touches what is drawn above or below the text (a
    registration sticker, the state's slogan, a screw), and the merged blob stands out of
    the row's height, so grouping leaves it out and the plate is read a glyph short (29CA5
    for 29CA53). A blob of the row's cut just past its end, up to _MERGED_HEIGHT times as
    tall, glyph-wide, covering the row's whole text band and standing on its bottom line or
    hanging from its top one (what it merged with lies on one side), drawn in strokes, is
    taken as that glyph. Thin blobs are not (a frame's side would read as a 1 or an I), nor
    solid ones (a sticker). Only the end is widened: before a row's first glyph an EU
    plate's country band is as tall and as near, and taking it in read a Dutch I7859AM
    with a letter before it (the US roadside tuning stills: 236 -> 239 exact either way).
    """
    if not len(r.count) or not len(chars):
        return r
    x, y, w, h, area = (chars[None, :, c] for c in (_X, _Y, _W, _H, _AREA))
    height = r.height[:, None]
    fill = area / np.maximum(w * h, 1e-6)
    shaped = ((h >= _MERGED_HEIGHT[0] * height) & (h <= _MERGED_HEIGHT[1] * height)
              & (w >= _MERGED_WIDTH[0] * height) & (w <= _MERGED_WIDTH[1] * height)
              & (fill >= _MERGED_FILL[0]) & (fill <= _MERGED_FILL[1]))
    centre = _line_y_at(r, np.arange(len(r.count))[:, None], x + w / 2)
    top, bottom = centre - 0.5 * height, centre + 0.5 * height
    band = ((y <= top + _MERGED_BAND * height) & (y + h >= bottom - _MERGED_BAND * height)
            & ((np.abs(y - top) <= _MERGED_EDGE * height) | (np.abs(y + h - bottom) <= _MERGED_EDGE * height)))
    after = x - r.right[:, None]
    ends = ((chars[None, :, _KEY] == r.key[:, None]) & shaped & band
            & (after >= -0.1 * height) & (after <= _MERGED_GAP * height))
    return replace(r, right=np.maximum(r.right, np.where(ends, x + w, -np.inf).max(axis=1)))


def _plate_quads(r: _Rows) -> np.ndarray:
    """Plate quads (G x 4 x 2: tl, tr, br, bl) around each row's text.

    The text extent along the centre line, widened by a side margin and heightened to
    plate proportions, with vertical sides (a plate seen obliquely keeps its verticals).
    """
    x0 = r.left - _SIDE_MARGIN * r.height
    x1 = r.right + _SIDE_MARGIN * r.height
    half = 0.5 * TEXT_TO_PLATE_H * r.height
    y0, y1 = r.line_y(x0), r.line_y(x1)
    quads = np.stack([np.stack([x0, y0 - half], 1), np.stack([x1, y1 - half], 1),
                      np.stack([x1, y1 + half], 1), np.stack([x0, y0 + half], 1)], 1)
    return quads.astype(np.float32)


def _band(value: np.ndarray, lo: float, hi: float, soft: float) -> np.ndarray:
    """1 inside [lo, hi], falling linearly to 0 at `soft` beyond either end."""
    return np.maximum(1.0 - np.maximum(lo - value, value - hi) / soft, 0.0).clip(max=1.0)


def _row_score(r: _Rows, full_count: float = 5) -> np.ndarray:
    """Plate-likeness in [0, 1] from what plate fonts share (UK, EU DIN and US alike):
    4-9 glyphs of one height on one baseline, glyphs about 0.35-0.8 as wide as tall and
    drawn with strokes (not solid bars), set close together in a short row."""
    length = (r.right - r.left) / r.height
    terms = (_band(r.count, full_count, 9, 3.0),
             np.sqrt(_band(r.height_cv, 0, 0.08, 0.17)),
             np.sqrt(_band(r.align, 0, 0.06, 0.14)),
             _band(r.aspect, 0.35, 0.8, 0.25),
             _band(r.fill, 0.2, 0.72, 0.25),
             _band(r.gap, -0.05, 0.45, 0.6),
             _band(length, 1.8, 9.0, 3.0))
    score = np.ones_like(length)
    for term in terms:
        score *= term
    return score.astype(np.float32)


@dataclass(slots=True)
class _Proposals:
    """Where the coarse pass saw text, best first, in working pixels."""

    regions: np.ndarray  # (P x 4) cuts for the fine pass: x0, y0, x1, y1
    heights: np.ndarray  # (P,) estimated glyph height
    plates: np.ndarray  # (P x 4) estimated plate box
    scores: np.ndarray  # (P,) coarse plate-likeness
    apart: np.ndarray  # (P,) bool: read in a mosaic of their own, brightened (shade pass, joined rows)
    rank: np.ndarray  # (P,) factor on the scores of the fine rows found in it


def _proposals(work: np.ndarray, coarse: np.ndarray, factor: float, config: LocaliserConfig,
               side: _SideThread) -> tuple[_Proposals, np.ndarray]:
    """Where the coarse passes see text (`factor` = working / coarse scale): the lit rows and
    plate blobs, then rows from shade, joined rows and small plates' rows, each kind added
    only outside the proposals before it; and the fine glyphs of the lit proposals
    (`_fine_glyphs`, the first of `_proposal_glyphs`' two mosaics).
    `side`'s thread finds the shade and small plates' glyphs while the caller's makes the lit
    proposals and thresholds their mosaic, then labels one of its two thresholds; the caller
    groups all the coarse rows. Why there: finding glyphs is OpenCV calls, which let go of
    Python's lock, but grouping them is many small numpy calls, which hold it, so two threads
    grouping at once run no faster than one (the US photos: 5% slower than grouping on the
    caller's alone). The lit proposals come out before the side thread's passes are done, and
    apart proposals are only appended to them, so their mosaic need not wait for those passes."""
    shade = side.start(lambda: _shade_glyphs(coarse))
    small = side.start(lambda: _small_plate_glyphs(work, coarse.shape[1], config.small_plate_width))
    lit, joined = _lit_proposals(coarse, factor, config.max_proposals)
    lit_glyphs = _fine_glyphs(work, lit.regions, lit.heights, side)
    shade_rows, small_rows = _shade_rows(shade.result(), factor), _small_plate_rows(small.result())
    made = _with_apart_proposals(lit, shade_rows, _SHADE_MIN_SCORE, _SHADE_OVERLAP, _SHADE_PROPOSALS, _SHADE_RANK)
    made = _with_apart_proposals(made, joined, _JOINED_MIN_SCORE, _JOINED_OVERLAP, _JOINED_PROPOSALS, _JOINED_RANK)
    made = _with_apart_proposals(made, small_rows, _SMALL_MIN_SCORE, _SMALL_OVERLAP, _SMALL_PROPOSALS, _SMALL_RANK)
    return made, lit_glyphs


def _lit_proposals(coarse: np.ndarray, factor: float, limit: int) -> tuple[_Proposals, tuple[np.ndarray, ...] | None]:
    """The best `limit` proposals from the coarse image (`factor` = working / coarse
    scale), and its coarse rows joined across a gap (`_joined_rows_proposed`). Glyph rows
    and plate blobs both propose."""
    chars, blob_regions, blob_heights, blob_scores = _coarse_pass(coarse)
    grouped = _coarse_rows(chars)
    row_regions, row_plates, row_heights, row_scores = _rows_as_proposals(grouped[2])
    pad = 0.5 * blob_heights[:, None] * np.array([1, 1, -1, -1])
    regions = np.concatenate([row_regions, blob_regions]) * factor
    plates = np.concatenate([row_plates, blob_regions + pad]) * factor
    heights = np.concatenate([row_heights, blob_heights]) * factor
    scores = np.concatenate([row_scores, blob_scores])
    kept = _dedupe(regions, scores, limit)
    lit = _Proposals(regions[kept], heights[kept], plates[kept], scores[kept], np.zeros(len(kept), bool),
                     np.ones(len(kept), np.float32))
    return lit, _joined_rows_proposed(chars, grouped, factor)


def _joined_rows_proposed(chars: np.ndarray, grouped: tuple[np.ndarray, np.ndarray, _Rows],
                          factor: float) -> tuple[np.ndarray, ...] | None:
    """Cut regions, plate boxes, glyph heights (working pixels) and scores of the coarse
    rows joined across an emblem or a gap, or None where no rows join.

    Why: a plate whose groups an emblem or stickers part (Missouri's 'AB1 [emblem] C2D', a
    Slovak coat of arms) breaks into two short coarse rows; proposed apart, each cut may
    hold one half only (the other half too faint or too small to be a row of its own), so
    the fine pass never sees the whole text and cannot join it. Joined as the fine pass
    joins rows (`_with_joined_rows`), the whole text is proposed. They are read as the shade
    pass's rows are, apart and ranked below the lit rows, so lit plates read as before.
    Proposed with the lit rows instead, they cut plates read before differently (the US
    photos: 2 lost); apart, the US photos' detection went from 96.8% to 97.3% with the same
    exact reads, and the tuning stills and the other evaluation sets read the same, for about
    6% more localiser time (the coarse rows are grouped once for both).
    """
    joined = _joined_rows(chars, *grouped)
    if joined is None:
        return None
    regions, plates, heights, scores = _rows_as_proposals(joined)
    return regions * factor, plates * factor, heights * factor, scores


def _with_apart_proposals(lit: _Proposals, rows: tuple[np.ndarray, ...] | None, min_score: float, overlap: float,
                          limit: int, rank: float) -> _Proposals:
    """`lit` plus the best `limit` of these `rows` (cut regions, plate boxes, glyph heights,
    scores; None: none) that score `min_score` and lie at most `overlap` inside a proposal of
    `lit`, to be read apart (`_proposal_glyphs`) and ranked at `rank`."""
    if rows is None:
        return lit
    regions, plates, heights, scores = rows
    fresh = np.flatnonzero((scores >= min_score) & (_covered_share(regions, lit.regions) < overlap))
    if not len(fresh):
        return lit
    kept = fresh[_dedupe(regions[fresh], scores[fresh], limit)]
    extra = _Proposals(regions[kept], heights[kept], plates[kept], scores[kept], np.ones(len(kept), bool),
                       np.full(len(kept), rank, np.float32))
    return _appended(lit, extra)


def _coarse_rows(chars: np.ndarray) -> tuple[np.ndarray, np.ndarray, _Rows]:
    """The coarse glyph rows: glyph indices, their row ids and the rows' geometry."""
    idx, rows = _group_rows(chars, _PROPOSAL_GLYPHS)
    return idx, rows, _row_geometry(chars, idx, rows)


def _row_proposals(chars: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cut regions, plate boxes, glyph heights and scores of the coarse glyph rows."""
    return _rows_as_proposals(_coarse_rows(chars)[2])


def _rows_as_proposals(r: _Rows) -> tuple[np.ndarray, ...]:
    """Cut regions, plate boxes, glyph heights and scores of the rows `r`."""
    side, above = _CUT_SIDE * r.height, (0.5 + _CUT_ABOVE) * r.height
    ya, yb = r.line_y(r.left), r.line_y(r.right)
    top, bottom = np.minimum(ya, yb), np.maximum(ya, yb)
    regions = np.stack([r.left - side, top - above, r.right + side, bottom + above], 1)
    margin, half = _SIDE_MARGIN * r.height, 0.5 * TEXT_TO_PLATE_H * r.height
    plates = np.stack([r.left - margin, top - half, r.right + margin, bottom + half], 1)
    return regions, plates, r.height, _row_score(r, _PROPOSAL_FULL_COUNT)


def _lifted_shade(coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The coarse image with its shaded parts brightened, and where it was (a mask), or
    None when nothing in the frame lies in shade, or most of it does: a night frame is dark
    all over, and its plates are the lit part (IR, headlights), found by the lit pass;
    brightening it would only raise its noise."""
    grey = coarse.astype(np.float32)
    gain = np.clip(_SHADE_LEVEL / np.maximum(cv2.blur(grey, (_SHADE_WINDOW, _SHADE_WINDOW)), 1.0), 1.0, _SHADE_MAX_GAIN)
    shade = gain > _SHADE_GAIN
    if not shade.any() or shade.mean() > _SHADE_MAX_SHARE:
        return None
    lifted = np.clip(grey * gain, 0, 255).astype(np.uint8)
    lifted[~shade] = _SHADE_LEVEL  # lit parts flat: nothing to threshold there
    return lifted, shade


def _shade_glyphs(coarse: np.ndarray) -> np.ndarray | None:
    """Glyph table (coarse pixels) of the coarse image's shaded parts, brightened, or None
    where no part lies in shade; their rows are `_shade_rows`.

    Why: a plate in deep shade (a car's rear facing away from a low sun, under a canopy)
    keeps only a few grey levels between its glyphs and its background, and the coarse
    pass's fixed contrast breaks its glyphs into specks, so no row proposes it. Brightened
    in proportion to its shade, the same plate binarises like a lit one. Only rows lying in
    shade and mostly outside every lit proposal are added, with their own small budget;
    the fine pass reads them in a mosaic of their own (`_proposal_glyphs`) and ranks their
    rows at _SHADE_RANK, so lit plates read exactly as before. On the held-out US crops set
    on shaded cars (tools/tuning_stills.py us-shade, 292 frames, at a 0.4 threshold)
    detection went from 94.9% to 97.6% and exact reads from 220 to 228 at the same 0.13
    false reads per image (228 at 0.14 with the shaded cuts read unbrightened); the lit
    roadside and synthetic tuning stills read the same.
    """
    lifted = _lifted_shade(coarse)
    if lifted is None:
        return None
    image, shade = lifted
    chars, _ = _coarse_level(image, 0, blobs=False)
    centre_x = (chars[:, _X] + chars[:, _W] / 2).astype(int).clip(0, shade.shape[1] - 1)
    centre_y = (chars[:, _Y] + chars[:, _H] / 2).astype(int).clip(0, shade.shape[0] - 1)
    return chars[shade[centre_y, centre_x]]


def _shade_rows(chars: np.ndarray | None, factor: float) -> tuple[np.ndarray, ...] | None:
    """Cut regions, plate boxes, glyph heights (working pixels, `factor` = working / coarse
    scale) and scores of the rows of the shade pass's glyphs (`_shade_glyphs`; None: none)."""
    if chars is None:
        return None
    regions, plates, heights, scores = _row_proposals(chars)
    return regions * factor, plates * factor, heights * factor, scores


def _small_plate_glyphs(work: np.ndarray, coarse_width: int, width: int) -> tuple[np.ndarray, float] | None:
    """Small dark glyphs (a glyph table) of a `width`-wide copy of the frame and the copy's
    scale, or None where that copy is not searched; their rows are `_small_plate_rows`.

    Why: on the coarse copy, a far plate (50-75 px wide in a 1280 px frame) has glyphs 3-6
    pixels tall, one pixel apart, and they run together with each other, the plate's dot or
    emblem and its border, so no row forms, and its background is too broken up by them to
    stand out as a plate blob. On a copy half as wide again, the same glyphs stand apart.
    Only small glyphs are searched there, in one polarity (plates are dark on light far
    more often than not), and only rows mostly outside every proposal already made are
    added; like the shade pass's rows, they are read in a mosaic of their own and ranked at
    _SMALL_RANK, so plates found before read as before. On the held-out US crops set as far
    plates (tools/tuning_stills.py --widths 50 140, 292 frames, at a 0.4 threshold) exact
    reads went from 216 to 227 (11 gained, none lost) and detection from 93.2% to 96.6%; the
    nearer tuning stills, the evaluation photos and the clips read the same but for one
    plate each on the US roadside set and photos (gained). About 2-3 ms more per 1280x720
    frame, mostly connected components; `localiser.small_plate_width: 0` turns it off.
    The copy is resized bilinearly: at three quarters of the working width there is little
    to average, and bilinear is about five times cheaper than area averaging.
    """
    width = min(width, work.shape[1])
    if width < _SMALL_MIN_GAIN * coarse_width:
        return None
    scale = width / work.shape[1]
    image = work if width == work.shape[1] else cv2.resize(
        work, (width, max(1, round(work.shape[0] * scale))), interpolation=cv2.INTER_LINEAR)
    (dark,) = _binarise(image, (0,), window=_COARSE_WINDOW, contrast=_COARSE_CONTRAST)
    stats = _components(_without_rules(dark))
    return _glyph_table(stats[_glyph_like(stats, _SMALL_CHAR_H)], 0), scale


def _small_plate_rows(found: tuple[np.ndarray, float] | None) -> tuple[np.ndarray, ...] | None:
    """Cut regions, plate boxes, glyph heights (working pixels) and scores of the rows of
    the small plates' glyphs (`_small_plate_glyphs`; None: none)."""
    if found is None:
        return None
    table, scale = found
    regions, plates, heights, scores = _row_proposals(table)
    return regions / scale, plates / scale, heights / scale, scores


def _covered_share(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """For each box (x0, y0, x1, y1), the largest share of its area inside any of `others`."""
    if not len(others) or not len(boxes):
        return np.zeros(len(boxes))
    b, o = boxes[:, None, :], others[None, :, :]
    ix = np.maximum(np.minimum(b[..., 2], o[..., 2]) - np.maximum(b[..., 0], o[..., 0]), 0)
    iy = np.maximum(np.minimum(b[..., 3], o[..., 3]) - np.maximum(b[..., 1], o[..., 1]), 0)
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6)
    return (ix * iy / area[:, None]).max(axis=1)


class _SideThread:
    """A second thread for the independent parts of one frame's search (the shade and small
    plates' glyphs beside the lit coarse pass, `_proposals`; one of a mosaic's two
    thresholds labelled beside the other, `_fine_glyphs`).

    Why: OpenCV's calls let go of Python's lock while they run, so two such parts run at once
    on two cores (the US photos' frames: a median 21.1 ms on one thread, 15.9 on two,
    interleaved). Each part's result is used in the order the code names them, so a frame's
    candidates are the same to the bit either way. With one thread (`threads` 1) every part
    runs on the caller's.
    """

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="localise") if threads > 1 else None
        self._pool_pid = os.getpid()

    def start(self, part: Callable[[], _T]) -> Future[_T]:
        """`part()` started on the second thread (parts run in the order started), or run
        here at once with one thread; its `result()` waits for it, and raises what it raised
        either way."""
        if self._pool is not None:
            return self._own_pool().submit(part)
        done: Future[_T] = Future()
        try:
            done.set_result(part())
        except Exception as error:  # handed to the caller by result(), as the pool hands it
            done.set_exception(error)
        return done

    def _own_pool(self) -> ThreadPoolExecutor:
        """This process's pool (its thread starts on first use). Why a new pool after a fork:
        a forked process (a training data loader's worker cutting crops with a localiser
        made before the fork) inherits the pool's books but not its thread, so the pool
        takes its idle thread for granted and a part sent there would wait for ever."""
        if self._pool_pid != os.getpid():
            self._pool, self._pool_pid = ThreadPoolExecutor(1, thread_name_prefix="localise"), os.getpid()
        return self._pool


@dataclass(slots=True)
class _Mosaic:
    """Proposal cuts, each rescaled, packed into one image for a single fine pass."""

    image: np.ndarray
    owner: np.ndarray  # proposal index per mosaic pixel, -1 in the gaps
    origin: np.ndarray  # (P x 2) working-image corner of each cut
    offset: np.ndarray  # (P x 2) mosaic corner of each cut
    scale: np.ndarray  # (P,) mosaic pixels per working pixel


def _build_mosaic(work: np.ndarray, regions: np.ndarray, heights: np.ndarray, lift: bool = False) -> _Mosaic:
    """Cut, rescale and shelf-pack the proposal regions (loops over proposals, not pixels);
    with `lift`, each cut is brightened as the shade pass brightens its shade."""
    height, width = work.shape
    scale = np.clip(_FINE_TEXT_H / np.maximum(heights, 1.0), 0.15, 4.0)
    x0 = np.clip(np.floor(regions[:, 0]), 0, width - 1).astype(int)
    y0 = np.clip(np.floor(regions[:, 1]), 0, height - 1).astype(int)
    x1 = np.clip(np.ceil(regions[:, 2]), x0 + 1, width).astype(int)
    y1 = np.clip(np.ceil(regions[:, 3]), y0 + 1, height).astype(int)
    sizes = np.stack([np.maximum(1, np.round((x1 - x0) * scale)), np.maximum(1, np.round((y1 - y0) * scale))], 1)
    sizes = np.minimum(sizes, [_MOSAIC_WIDTH, 4 * _MOSAIC_WIDTH]).astype(int)
    offset = np.zeros((len(regions), 2), int)
    cursor_x = cursor_y = shelf = 0
    for k in np.argsort(-sizes[:, 1], kind="stable"):  # tallest first: shelves waste less
        w, h = sizes[k]
        if cursor_x + w > _MOSAIC_WIDTH:
            cursor_x, cursor_y, shelf = 0, cursor_y + shelf + 1, 0
        offset[k] = cursor_x, cursor_y
        cursor_x += w + 1
        shelf = max(shelf, h)
    mosaic = np.zeros((cursor_y + shelf, _MOSAIC_WIDTH), np.uint8)
    owner = np.full(mosaic.shape, -1, np.int32)
    for k, ((w, h), (ox, oy)) in enumerate(zip(sizes, offset)):
        cut = work[y0[k]:y1[k], x0[k]:x1[k]]
        interp = cv2.INTER_AREA if scale[k] < 0.5 else cv2.INTER_LINEAR  # area is slow at odd ratios
        resized = cv2.resize(cut, (int(w), int(h)), interpolation=interp)
        if lift:
            gain = min(max(_SHADE_LEVEL / max(float(resized.mean()), 1.0), 1.0), _SHADE_MAX_GAIN)
            resized = cv2.convertScaleAbs(resized, alpha=gain)
        mosaic[oy:oy + h, ox:ox + w] = resized
        owner[oy:oy + h, ox:ox + w] = k
    true_scale = sizes[:, 0] / (x1 - x0)
    return _Mosaic(mosaic, owner, np.stack([x0, y0], 1), offset, true_scale)


def _fine_glyphs(work: np.ndarray, regions: np.ndarray, heights: np.ndarray, side: _SideThread,
                 first_key: int = 0, lift: bool = False) -> np.ndarray:
    """Glyphs of every proposal found at working resolution, in working pixels.

    Both polarities are searched in every cut, one on each of `side`'s threads: the coarse
    row's polarity is unreliable (the light gaps between dark glyphs also form rows).
    `key` = first_key + 2 * proposal + polarity keeps rows inside one cut.
    """
    if not len(regions):
        return np.empty((0, 6), np.float32)
    m = _build_mosaic(work, regions, heights, lift)
    outside = m.owner < 0
    dark, light = _binarise(m.image)
    dark_stats = side.start(lambda: _mosaic_components(dark, outside))
    light_stats = _mosaic_components(light, outside)
    tables = _mosaic_glyphs(m, dark_stats.result(), first_key), _mosaic_glyphs(m, light_stats, first_key + 1)
    return np.concatenate([table[~_at_frame_side(table, work.shape[1])] for table in tables])


def _mosaic_components(binary: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """Stats of the components of one polarity's threshold of a mosaic, its gaps (`outside`) cleared."""
    binary = _without_rules(binary, _FINE_POST_KERNEL)
    binary[outside] = 0
    return _components(binary)


def _mosaic_glyphs(m: _Mosaic, stats: np.ndarray, key: int) -> np.ndarray:
    """Glyph table (working pixels) of the glyph-like components (`stats`) of one polarity's
    threshold of the mosaic `m`; each glyph's key is `key` + 2 * its proposal."""
    stats = stats[_glyph_like(stats, _FINE_CHAR_H, _FINE_MAX_ASPECT)].astype(np.float32)
    owner = m.owner[(stats[:, 1] + stats[:, 3] / 2).astype(int), (stats[:, 0] + stats[:, 2] / 2).astype(int)]
    stats, owner = stats[owner >= 0], owner[owner >= 0]
    s = m.scale[owner]
    table = np.empty((len(stats), 6), np.float32)
    table[:, 0] = (stats[:, 0] - m.offset[owner, 0]) / s + m.origin[owner, 0]
    table[:, 1] = (stats[:, 1] - m.offset[owner, 1]) / s + m.origin[owner, 1]
    table[:, 2] = stats[:, 2] / s
    table[:, 3] = stats[:, 3] / s
    table[:, _AREA] = stats[:, 4] / (s * s)
    table[:, _KEY] = key + 2 * owner
    return table


def _at_frame_side(glyphs: np.ndarray, width: int) -> np.ndarray:
    """Glyphs that run into the frame's left or right side: whatever is cut off there (a
    car's flank, a post, a plate's last glyph) is no readable glyph, and a row taking it
    in runs on to the frame's side with its line pulled askew."""
    return (glyphs[:, 0] < 1.0) | (glyphs[:, 0] + glyphs[:, 2] > width - 1.0)


def _proposal_glyphs(work: np.ndarray, proposals: _Proposals, side: _SideThread, first_key: int = 0,
                     lit_glyphs: np.ndarray | None = None) -> np.ndarray:
    """Fine glyphs of the lit proposals, then of those read apart (the shade pass's rows and
    joined rows) in a mosaic of their own (a cut's neighbours in a mosaic nudge the
    threshold along its edges: apart, the lit proposals read exactly as in a frame without
    them), each such cut brightened to a lit plate's level so its faint glyphs pass the fine
    threshold too. The lit proposals come first; keys count from `first_key` (see
    `_fine_glyphs`). `lit_glyphs`, where given, are the lit proposals' glyphs already found
    (`_fine_glyphs` with this `first_key`, as `_proposals` finds them)."""
    lit = ~proposals.apart
    chars = _fine_glyphs(work, proposals.regions[lit], proposals.heights[lit], side, first_key) \
        if lit_glyphs is None else lit_glyphs
    if lit.all():
        return chars
    apart = _fine_glyphs(work, proposals.regions[~lit], proposals.heights[~lit], side,
                         first_key=first_key + 2 * int(lit.sum()), lift=True)
    return np.concatenate([chars, apart])


def _with_recut_rows(work: np.ndarray, proposals: _Proposals, r: _Rows, scores: np.ndarray,
                     plain: int, side: _SideThread) -> tuple[_Proposals, _Rows, np.ndarray]:
    """`proposals`, their rows `r` (the first `plain` found in one cut, the rest joined
    halves) and the rows' `scores`, plus cuts widened past the side of a cut that a row
    runs up to, and the rows found in them, scored.

    Why: a coarse row often misses a plate's first or last glyphs (merged with a frame, a
    bolt or a state picture on the small image), and its cut then ends inside the plate;
    the fine row stops at the cut's edge and the plate is read a glyph short. The cuts of
    the best rows ending at a side of their cut (not of the frame) are cut again, wider on
    that side, and read in a mosaic of their own (cuts read apart brightened, in one more). A
    row there of the short row's polarity that extends it on that side and ends inside the
    wider cut is the same plate, longer: it scores at least as the short row did, and the
    short row drops to _RECUT_RANK of its score. Other rows of a wider cut score
    _RECUT_OTHER_RANK of their own: they are pieces of rows the first cut found, or a row
    running on to the wider cut's side again, into clutter (at 0.75, such pieces of a
    plate, read a few frames running, made a second pass of one vehicle in the NL clips).
    Rows of the wider cuts are not joined (a widened half of a split plate would join its
    other half once more), and joined rows span two cuts, so they are never cut again.
    """
    short, short_left, short_right, recut_of_short, lead = _short_rows(r, scores, plain, proposals, work.shape[1])
    if not len(short):
        return proposals, r, scores
    from_cut = (r.key[lead] // 2).astype(int)
    regions = proposals.regions[from_cut].copy()
    widen = _RECUT_SIDE * proposals.heights[from_cut]
    regions[:, 0] -= widen * short_left[lead]
    regions[:, 2] += widen * short_right[lead]
    recut = _Proposals(regions, proposals.heights[from_cut], proposals.plates[from_cut], proposals.scores[from_cut],
                       proposals.apart[from_cut], proposals.rank[from_cut])
    first = len(proposals.regions)
    chars = _proposal_glyphs(work, recut, side, first_key=2 * first)
    proposals = _appended(proposals, recut)
    idx, rows = _group_rows(chars, _PLATE_GLYPHS)
    if not len(idx):
        return proposals, r, scores
    more = _row_geometry(chars, idx, rows)
    cut = (more.key // 2).astype(int)
    ends_inside = ~np.logical_or(*_short_sides(more, len(more.count), proposals.regions[cut], work.shape[1]))
    extends = ((cut[:, None] - first == recut_of_short[None, :]) & (more.key[:, None] % 2 == r.key[short][None, :] % 2)
               & ends_inside[:, None] & _extends(more, r, short, short_left[short], short_right[short]))
    inherited = (extends * scores[short][None, :]).max(axis=1)
    more_scores = np.maximum(_row_score(more) * proposals.rank[cut], inherited)
    more_scores *= np.where(extends.any(axis=1), 1.0, _RECUT_OTHER_RANK).astype(np.float32)
    scores = scores.copy()
    scores[short[extends.any(axis=0)]] *= _RECUT_RANK
    return proposals, _appended(r, more), np.concatenate([scores, more_scores])


def _short_rows(r: _Rows, scores: np.ndarray, plain: int, proposals: _Proposals,
                width: int) -> tuple[np.ndarray, ...]:
    """The rows to read again in a wider cut: (their indices, left- and right-short masks
    over the `plain` rows, the wider cut each is read in, one row per wider cut).

    One wider cut per cut and short side (a cut's two polarities often end alike), for the
    _RECUTS sides with the best rows; the lit cuts' first, as `_proposal_glyphs` reads them.
    """
    owner = (r.key[:plain] // 2).astype(int)
    short_left, short_right = _short_sides(r, plain, proposals.regions[owner], width)
    short = np.flatnonzero(short_left | short_right)
    side = owner[short] * 4 + short_left[short] + 2 * short_right[short]
    sides, first_row, which = np.unique(side, return_index=True, return_inverse=True)
    best = np.zeros(len(sides), np.float32)
    np.maximum.at(best, which, scores[short])
    chosen = np.argsort(-best, kind="stable")[:_RECUTS]
    chosen = chosen[np.argsort(proposals.apart[owner[short[first_row[chosen]]]], kind="stable")]  # lit cuts first
    recut_of_side = np.full(len(sides), -1)
    recut_of_side[chosen] = np.arange(len(chosen))
    recut_of_short = recut_of_side[which]
    taken = recut_of_short >= 0
    lead = short[first_row[chosen]]
    return short[taken], short_left, short_right, recut_of_short[taken], lead


def _extends(more: _Rows, r: _Rows, short: np.ndarray, left_short: np.ndarray, right_short: np.ndarray) -> np.ndarray:
    """(rows of `more` x `short` rows of `r`) mask: the row reaches past the short row on
    its short side(s) and covers it elsewhere (both within _RECUT_EDGE glyph heights)."""
    slack = _RECUT_EDGE * r.height[short][None, :]
    left, right = r.left[short][None, :], r.right[short][None, :]
    more_left, more_right = more.left[:, None], more.right[:, None]
    return (np.where(left_short[None, :], more_left < left - slack, more_left <= left + slack)
            & np.where(right_short[None, :], more_right > right + slack, more_right >= right - slack))


def _short_sides(r: _Rows, count: int, cuts: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the first `count` rows whose text ends at the left / right side of its cut
    (`cuts`, one per row) where that side is not the frame's: the plate may run on past it."""
    reach = _RECUT_EDGE * r.height[:count]
    return ((r.left[:count] - cuts[:, 0] < reach) & (cuts[:, 0] > 0),
            (cuts[:, 2] - r.right[:count] < reach) & (cuts[:, 2] < width))


def _dedupe(boxes: np.ndarray, scores: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the best `limit` boxes, dropping any that overlaps a better one by more
    than `_PROPOSAL_IOU` (one matrix, no loop: a dropped box still drops others)."""
    order = np.argsort(-scores, kind="stable")[:4 * limit]
    b = boxes[order]
    ix = np.maximum(np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0)
    iy = np.maximum(np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0)
    inter = ix * iy
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iou = inter / np.maximum(area[:, None] + area[None, :] - inter, 1e-6)
    beaten = np.triu(iou > _PROPOSAL_IOU, 1).any(axis=0)
    return order[~beaten][:limit]


def _with_fallbacks(quads: np.ndarray, scores: np.ndarray, proposals: _Proposals) -> tuple[np.ndarray, np.ndarray]:
    """Add the best coarse proposals that the fine pass could not read as a row.

    Why: touching glyphs, a tight frame or blur can stop the fine pass from forming a row
    even where the coarse pass saw a plate; the recogniser may still read it, so such a
    proposal is kept, scored below any fine row, rather than lost.
    """
    plates = proposals.plates[:_FALLBACKS]
    covered = _covered_share(plates, _boxes(quads[scores >= _FALLBACK_COVER_SCORE])) > 0.3
    plates = plates[~covered]
    x0, y0, x1, y1 = plates.T
    extra = np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x1, y1], 1), np.stack([x0, y1], 1)], 1)
    extra_scores = _FALLBACK_SCORE * proposals.scores[:_FALLBACKS][~covered]
    return (np.concatenate([quads, extra.astype(np.float32)]),
            np.concatenate([scores, extra_scores.astype(np.float32)]))


def _with_end_glyphs_refound(grey: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Candidate rows' quads (N x 4 x 2), each widened over whole glyphs just past either end
    that its row left out, found again in the row's own strip of `grey` (frame pixels).

    Why: the fine pass finds glyphs with a threshold on the local mean at working
    resolution, so an end glyph beside the plate's dark frame, a faint one, or one joined
    there to its neighbour or the plate's art is left out of its row, and the plate is read
    a glyph short or with half a glyph (NZZ935 for 4NZZ935, LM298A1 for LM298AI, its last
    I a thin stroke). Cut out level and thresholded at its own two tones (Otsu on the text
    band), the row's strip shows such a glyph whole. A blob past an end is taken as a glyph
    only where it stands on the row's own glyph lines (the median top and bottom of the
    glyphs inside the row), glyph-wide and drawn in strokes, starting within a third of a
    glyph height of the end: a frame's side, a bolt or a sticker runs past those lines or
    is solid. Each row's strip is cut and thresholded on its own, then the strips' blobs are
    labelled in one stack and their ends found with array maths (`_refound_ends`).
    """
    margin = int(round((_REFOUND_REACH + _SIDE_MARGIN) * _STRIP_TEXT_H))
    top = int(round((TEXT_TO_PLATE_H - 1) / 2 * _STRIP_TEXT_H))
    cut = []  # (row, its line, its strip) for the rows long enough to look at
    for k, quad in enumerate(quads):
        line = _row_line(quad)
        if line is None:
            continue
        reach = _REFOUND_REACH * line.glyph_h * line.across
        strip = _level_strip(grey, line.left - reach, line.right + reach, line, TEXT_TO_PLATE_H / 2 * line.glyph_h)
        if strip.shape[1] - 2 * margin >= _STRIP_TEXT_H:
            cut.append((k, line, strip))
    widened = np.array(quads, np.float32, copy=True)
    if not cut:
        return widened
    widths = np.array([strip.shape[1] for _, _, strip in cut])
    blobs, owner = _stacked_blobs([_strip_ink(strip, (margin, strip.shape[1] - margin), top) for _, _, strip in cut])
    lefts, rights = _refound_ends(blobs, owner, np.full(len(cut), margin), widths - margin, widths)
    for (k, line, _), width, left, right in zip(cut, widths, lefts, rights):
        ends = margin, int(width) - margin
        if (left, right) == ends:
            continue
        scale = _STRIP_TEXT_H / line.glyph_h
        gain_left, gain_right = (ends[0] - left) / scale * line.across, (right - ends[1]) / scale * line.across
        tl, tr, br, bl = quads[k]
        widened[k] = np.array([tl - gain_left, tr + gain_right, br + gain_right, bl - gain_left], np.float32)
    return widened


def plate_edge_contrast(image: np.ndarray, quad: np.ndarray) -> float:
    """How sharply a plate's top and bottom edges stand out beside a candidate's text: the
    weaker of the two, as a share of the text's own contrast (about 0.1-0.7 for a plate; 0
    for text on a plain panel; inf where the quad is too small to tell).

    Why: a plate is a bounded card, so a line of contrast runs the text's whole width a
    little above it and a little below it (the plate's edge, or its frame's). Text painted
    on a van, a sign's words or a shop's number sit on a wide plain panel with no such
    line (edge.clutter.is_unframed_text). The row is cut out level, `_EDGE_REACH` glyph
    heights either side of its centre line, and over the text's width each row's mean
    vertical gradient is taken: one sign along the whole width is an edge, and text strokes
    and speckle cancel out.
    """
    line = _row_line(quad)
    if line is None:
        return float("inf")
    side = _SIDE_MARGIN * line.glyph_h * line.across
    strip = _level_strip(image, line.left + side, line.right - side, line, _EDGE_REACH * line.glyph_h)
    if strip.shape[1] < _STRIP_TEXT_H:
        return float("inf")
    grey = _to_grey(strip).astype(np.float32)
    edges = np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3).mean(axis=1)) / 8
    top = grey.shape[0] // 2 - _STRIP_TEXT_H // 2
    bottom, reach = top + _STRIP_TEXT_H, int(_EDGE_BAND * _STRIP_TEXT_H)
    band = grey[top:bottom].astype(np.uint8)
    threshold, _ = cv2.threshold(band, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    light, dark = band >= threshold, band < threshold
    if not light.any() or not dark.any():
        return 0.0
    contrast = float(band[light].mean() - band[dark].mean()) + 1e-3
    above = edges[max(0, top - reach):top - 1].max(initial=0.0)
    below = edges[bottom + 1:bottom + reach].max(initial=0.0)
    return float(min(above, below)) / contrast


# plate_panel: the search around a row (its widths beside it, its heights above and below it)
# and the panel's bounds (as multiples of the row's width and height; its aspect, width/height)
_PANEL_REACH = (0.5, 1.0)
_PANEL_WIDTH = (0.6, 1.6)
_PANEL_HEIGHT = (0.8, 3.0)
_PANEL_ASPECT = (1.3, 3.5)


def plate_panel(image: np.ndarray, box: Box) -> Box | None:
    """The plate's own panel around a text row's `box`: of the connected regions of either
    of the surroundings' two tones (Otsu's), the plate-sized one that holds most of the
    row's middle band; None where none does.

    Why: the recogniser learnt real plates from crops cut at the plate's edges, and reads
    some plates surely so framed that it reads unsurely at a row's box whose ends run onto
    the bumper or stop short of an end glyph (edge.pipeline.PlateReader._plate_cuts). A
    plate is a card of one tone around its glyphs, so the row's background, grown out to
    where that tone ends, is the card. Both tones are tried, since a row's band can hold
    more bumper or glyph than background; a plate on a car of its own tone joins the body
    and is refused by its size.
    """
    height, width = image.shape[:2]
    x0, x1 = max(0, int(box.x - _PANEL_REACH[0] * box.w)), min(width, int(box.x + (1 + _PANEL_REACH[0]) * box.w))
    y0, y1 = max(0, int(box.y - _PANEL_REACH[1] * box.h)), min(height, int(box.y + (1 + _PANEL_REACH[1]) * box.h))
    grey = _to_grey(image[y0:y1, x0:x1])
    if min(grey.shape) < 4:
        return None
    _, light = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    band = (slice(max(0, box.y - y0 + box.h // 4), box.y - y0 + 3 * box.h // 4),
            slice(max(0, box.x - x0), box.x - x0 + box.w))
    inner = (x0 > 0, y0 > 0, x1 < width, y1 < height)  # which of the window's sides are not the frame's
    held, stats = max((_panel_hold(tone, band, box, inner) for tone in (light, 1 - light)),
                      key=lambda pair: pair[0].max())
    best = int(np.argmax(held))
    if held[best] == 0:
        return None
    x, y, w, h = (int(v) for v in stats[best, :4])
    return Box(x + x0, y + y0, w, h)


def _panel_hold(tone: np.ndarray, band: tuple[slice, slice], box: Box, inner: tuple[bool, bool, bool, bool]
                ) -> tuple[np.ndarray, np.ndarray]:
    """For each connected region of `tone` (1s), the pixels of the row's `band` it holds,
    or 0 where it is not plate-sized for a row `box` or runs out of the window on a side
    that is `inner` (left, top, right, bottom: not the frame's edge), so that its size is
    unknown; and the regions' stats (plate_panel)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(tone, connectivity=4)
    held = np.bincount(labels[band].ravel(), minlength=count)
    x, y, w, h = (stats[:, i].astype(np.float64) for i in range(4))
    height, width = tone.shape
    bounded = ~((inner[0] & (x == 0)) | (inner[1] & (y == 0)) | (inner[2] & (x + w == width))
                | (inner[3] & (y + h == height)))
    sized = ((w >= _PANEL_WIDTH[0] * box.w) & (w <= _PANEL_WIDTH[1] * box.w)
             & (h >= _PANEL_HEIGHT[0] * box.h) & (h <= _PANEL_HEIGHT[1] * box.h)
             & (w >= _PANEL_ASPECT[0] * h) & (w <= _PANEL_ASPECT[1] * h))
    sized[0] = False
    return held * (sized & bounded), stats


def stacked_line_cover(image: np.ndarray, quad: np.ndarray) -> float:
    """The share of a candidate's text width that a line of like-high text directly above
    or below it covers (the better of the two); 0 where there is none or the quad is too
    small to tell.

    Why: a sign's words and a notice's phone number come in lines of one size stacked at a
    line's spacing (PRIVATE over PROPERTY, a list of services), while a plate's number has
    the plate's own margin around it and nothing as tall as itself beyond: the state's name
    and the dealer's line are smaller print (edge.clutter.is_stacked_text). The row is cut
    out level, `_STACK_REACH` glyph heights either side of its centre line, and thresholded
    at its text band's own two tones. A stacked line is at least `_STACK_GLYPHS` blobs of
    the text's ink, as tall as its glyphs, glyph-wide and drawn in strokes, on one line,
    starting within `_STACK_GAP` glyph heights of the text: a plate's border runs the whole
    width, its bolts and the car's badge are small or far, and another car's plate sits
    beside it, not on top.
    """
    line = _row_line(quad)
    if line is None:
        return 0.0
    side = _SIDE_MARGIN * line.glyph_h * line.across
    strip = _to_grey(_level_strip(image, line.left + side, line.right - side, line, _STACK_REACH * line.glyph_h))
    height, width = strip.shape
    if width < _STRIP_TEXT_H:
        return 0.0
    top = height // 2 - _STRIP_TEXT_H // 2
    x, y, w, h, area = _strip_blobs(strip, (0, width), top).T.astype(np.float64)
    glyph = ((h >= _STACK_HEIGHT[0] * _STRIP_TEXT_H) & (h <= _STACK_HEIGHT[1] * _STRIP_TEXT_H)
             & (w >= _STACK_WIDTH[0] * _STRIP_TEXT_H) & (w <= _STACK_WIDTH[1] * _STRIP_TEXT_H)
             & (area <= _STACK_FILL * w * h) & (y > 0) & (y + h < height))
    gap = _STACK_GAP * _STRIP_TEXT_H
    above = glyph & (y + h < top) & (y + h >= top - gap)
    below = glyph & (y > top + _STRIP_TEXT_H) & (y <= top + _STRIP_TEXT_H + gap)
    return max(_line_cover(x[rows], y[rows] + h[rows] / 2, w[rows], h[rows], width) for rows in (above, below))


def _line_cover(x: np.ndarray, centre: np.ndarray, w: np.ndarray, h: np.ndarray, width: int) -> float:
    """The share of `width` columns covered by the blobs (left `x`, vertical `centre`, size
    `w` x `h`) on their median line, if at least `_STACK_GLYPHS` of them are on it."""
    if len(x) < _STACK_GLYPHS:
        return 0.0
    on_line = np.abs(centre - np.median(centre)) <= _STACK_LINE * np.median(h)
    if on_line.sum() < _STACK_GLYPHS:
        return 0.0
    starts = np.clip(x[on_line].astype(np.intp), 0, width)
    ends = np.clip((x + w)[on_line].astype(np.intp), 0, width)
    depth = np.zeros(width + 1, np.intp)
    np.add.at(depth, starts, 1)
    np.add.at(depth, ends, -1)
    return float((np.cumsum(depth[:-1]) > 0).mean())


class _RowLine(NamedTuple):
    """A candidate row's centre line (the mid-points of its quad's left and right sides),
    the unit vectors along it and down its sides, and its glyph height (frame pixels)."""

    left: np.ndarray
    right: np.ndarray
    across: np.ndarray
    down: np.ndarray
    glyph_h: float


def _row_line(quad: np.ndarray) -> _RowLine | None:
    """The row line of a plate quad (tl, tr, br, bl); None where it is too small to cut."""
    quad = np.asarray(quad, np.float64)
    tl, tr, br, bl = quad
    along, down = quad_sides(quad)
    length, plate_h = float(np.linalg.norm(along)), float(np.linalg.norm(down))
    glyph_h = plate_h / TEXT_TO_PLATE_H
    if glyph_h < 4 or length < 1:
        return None
    return _RowLine((tl + bl) / 2, (tr + br) / 2, along / length, down / plate_h, glyph_h)


def _level_strip(image: np.ndarray, left: np.ndarray, right: np.ndarray, line: _RowLine, half: float) -> np.ndarray:
    """The band of `image` from `left` to `right` (points on the row's line), `half` frame
    pixels either side of it along the row's sides, level and rescaled so its glyphs are
    _STRIP_TEXT_H tall."""
    scale = _STRIP_TEXT_H / line.glyph_h
    size = (int(round(float(np.linalg.norm(right - left)) * scale)), int(round(2 * half * scale)))
    offset = half * line.down
    source = np.array([left - offset, right - offset, right + offset, left + offset], np.float32)
    target = np.array([[0, 0], [size[0], 0], [size[0], size[1]], [0, size[1]]], np.float32)
    return cv2.warpPerspective(image, cv2.getPerspectiveTransform(source, target), size,
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _strip_blobs(strip: np.ndarray, ends: tuple[int, int], top: int) -> np.ndarray:
    """Connected components (stats rows: x, y, w, h, area) of the strip's ink (`_strip_ink`)."""
    return cv2.connectedComponentsWithStats(_strip_ink(strip, ends, top), connectivity=8)[2][1:]


def _strip_ink(strip: np.ndarray, ends: tuple[int, int], top: int) -> np.ndarray:
    """The strip's ink (1, else 0), thresholded at the text band's two tones (its rows from
    `top`, columns `ends`); ink is the lesser tone there (glyphs, whichever polarity)."""
    band = strip[top:top + _STRIP_TEXT_H, ends[0]:ends[1]]
    threshold, _ = cv2.threshold(band, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = strip < threshold if (band < threshold).mean() < 0.5 else strip > threshold
    return ink.astype(np.uint8)


def _stacked_blobs(inks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Connected components (stats rows: x, y, w, h, area, each in its own strip's pixels) of
    several strips' ink at once, and the strip each belongs to: the strips are stacked one
    above the other with a blank row between, so no blob joins two of them."""
    offsets = np.cumsum([0] + [ink.shape[0] + 1 for ink in inks])
    stack = np.zeros((int(offsets[-1]), max(ink.shape[1] for ink in inks)), np.uint8)
    for ink, offset in zip(inks, offsets):
        stack[offset:offset + ink.shape[0], :ink.shape[1]] = ink
    blobs = cv2.connectedComponentsWithStats(stack, connectivity=8)[2][1:].copy()
    owner = np.searchsorted(offsets, blobs[:, 1], side="right") - 1
    blobs[:, 1] -= offsets[owner]
    return blobs, owner


def _refound_ends(blobs: np.ndarray, owner: np.ndarray, left: np.ndarray, right: np.ndarray,
                  width: np.ndarray) -> tuple[list[int], list[int]]:
    """Each row's text ends (columns of its strip, `width` wide) carried over the glyphs just
    past them, if any, from the `blobs` of all the strips (`owner`: each blob's strip). Blobs
    cut by a strip's sides are not glyphs seen whole; a strip with fewer than two glyphs
    inside its ends keeps them."""
    x, y, w, h, area = blobs.T.astype(np.float64)
    inside = ((x >= left[owner]) & (x + w <= right[owner]) & (h >= 0.6 * _STRIP_TEXT_H)
              & (h <= 1.4 * _STRIP_TEXT_H) & (w <= 1.2 * _STRIP_TEXT_H))
    rows = len(left)
    enough = np.bincount(owner[inside], minlength=rows) >= 2
    top = _group_median(y[inside], owner[inside], rows, 0.0, exact=True)[owner]
    bottom = _group_median((y + h)[inside], owner[inside], rows, 0.0, exact=True)[owner]
    glyph_h = bottom - top
    glyph = (enough[owner] & (np.abs(y - top) <= _REFOUND_LINES * glyph_h)
             & (np.abs(y + h - bottom) <= _REFOUND_LINES * glyph_h)
             & (w >= _REFOUND_WIDTH[0] * glyph_h) & (w <= _REFOUND_WIDTH[1] * glyph_h)
             & (area <= _REFOUND_FILL * w * h) & (x > 0) & (x + w < width[owner]))
    gap, gain = _REFOUND_GAP * glyph_h, _REFOUND_GAIN * glyph_h
    left, right = left.astype(np.float64), right.astype(np.float64)
    for _ in range(_REFOUND_GLYPHS):
        after = glyph & (np.abs(x - right[owner]) <= gap) & (x + w > right[owner] + gain)
        before = glyph & (np.abs(x + w - left[owner]) <= gap) & (x < left[owner] - gain)
        np.maximum.at(right, owner[after], (x + w)[after])
        np.minimum.at(left, owner[before], x[before])
    return [int(v) for v in left], [int(v) for v in right]


def _boxes(quads: np.ndarray) -> np.ndarray:
    """Axis-aligned bounds (x0, y0, x1, y1) of each quad."""
    return np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1)


def _frame_boxes(quads: np.ndarray, width: int, height: int) -> np.ndarray:
    """Each quad's axis-aligned bounds (x0, y0, x1, y1), clipped to a `width` x `height` frame."""
    return _boxes(quads).clip(0, np.array([width, height, width, height], np.float32))


def _nms(boxes: np.ndarray, scores: np.ndarray, limit: int, glyphs: np.ndarray,
         threshold: float = _NMS_IOU) -> list[int]:
    """Greedy non-maximum suppression; loops over kept candidates only (at most `limit`).

    Equal scores (plate-likeness saturates at 1) go to the row with more glyphs (up to a
    plate's 9): a whole plate beats the half of it that scores as well on its own.
    """
    order = np.lexsort((-glyphs, -scores))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept: list[int] = []
    while order.size and len(kept) < limit:
        best = int(order[0])
        kept.append(best)
        rest = order[1:]
        ix = np.maximum(np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0]), 0)
        iy = np.maximum(np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1]), 0)
        inter = ix * iy
        iou = inter / np.maximum(area[best] + area[rest] - inter, 1e-6)
        # A weaker box mostly inside a kept one is part of the same plate (a half plate,
        # one word of it): reading it would report a fragment as a second plate.
        inside = inter / np.maximum(area[rest], 1e-6)
        order = rest[(iou < threshold) & (inside < _NMS_INSIDE)]
    return kept


class Localiser:
    """Finds plate candidates in a frame; see the module docstring for the method."""

    def __init__(self, config: LocaliserConfig, streams: int = 1) -> None:
        """`streams`: how many cameras it serves at once (edge.config.stage_threads)."""
        self.config = config
        self._side = _SideThread(stage_threads(config.threads, streams))

    def find(self, image: np.ndarray, roll_degrees: float | None = None) -> list[PlateCandidate]:
        """Plate candidates in `image` pixels, best first, at most `max_candidates`.

        `roll_degrees` (default: the config's) is how far the picture is turned
        counter-clockwise. Why level it: the localiser's rule filter strips a plate's
        border off its glyphs only where the border runs level, so a camera mounted askew
        loses plates (the US photos rolled 8 degrees: about 9% fewer found). The frame is
        turned back about its centre before the search and the candidates' outlines are
        turned forward again, so boxes and quads stay in `image` pixels and the reading
        stages cut level crops from the outlines as for any tilted plate. Plates in the
        corners the turn pushes out of the frame are not found. It costs one warp of the
        grey frame (about 1 ms at 1280x720).
        """
        if image.ndim not in (2, 3) or min(image.shape[:2]) < _MIN_SIDE:
            return []
        grey = _to_grey(image)
        roll = self.config.roll_degrees if roll_degrees is None else roll_degrees
        if not roll:
            return self._find_level(grey)
        height, width = grey.shape
        to_level = cv2.getRotationMatrix2D((width / 2, height / 2), -roll, 1.0)
        level = cv2.warpAffine(grey, to_level, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        back = cv2.invertAffineTransform(to_level)
        return [self._candidate(candidate.quad @ back[:, :2].T + back[:, 2], width, height, candidate.score)
                for candidate in self._find_level(level)]

    def _find_level(self, grey: np.ndarray) -> list[PlateCandidate]:
        """Plate candidates in a grey frame, searched as it stands."""
        height, width = grey.shape
        scale = min(1.0, self.config.work_width / width)
        work = _resized(grey, scale)
        coarse_scale = min(1.0, self.config.proposal_width / work.shape[1])
        coarse = _resized(work, coarse_scale)
        proposals, lit_glyphs = _proposals(work, coarse, 1.0 / coarse_scale, self.config, self._side)
        chars = _proposal_glyphs(work, proposals, self._side, lit_glyphs=lit_glyphs)
        idx, rows = _group_rows(chars, _PLATE_GLYPHS)
        plain = _row_geometry(chars, idx, rows)
        r = _with_joined_rows(chars, idx, rows, plain)
        scores = _row_score(r) * proposals.rank[(r.key // 2).astype(int)]
        proposals, r, scores = _with_recut_rows(work, proposals, r, scores, len(plain.count), self._side)
        quads = _plate_quads(_with_light_rows_widened(_with_merged_end_glyphs(chars, r)))
        glyphs = np.minimum(r.count, 9)
        quads, scores = _with_fallbacks(quads, scores, proposals)
        glyphs = np.concatenate([glyphs, np.zeros(len(scores) - len(glyphs))])
        quads /= np.float32(scale)
        boxes = _frame_boxes(quads, width, height)
        ok = (boxes[:, 2] - boxes[:, 0] >= self.config.min_plate_width) & (boxes[:, 3] - boxes[:, 1] >= 4)
        quads, boxes, scores = quads[ok], boxes[ok], scores[ok]
        kept = _nms(boxes, scores, self.config.max_candidates, glyphs[ok])
        log.debug("localise: %d proposals, %d rows, %d candidates", len(proposals.scores), len(r.count), len(kept))
        rows = [k for k in kept if glyphs[ok][k] > 0]
        quads[rows] = _with_end_glyphs_refound(grey, quads[rows])
        return [self._candidate(quads[k], width, height, float(scores[k])) for k in kept]

    @staticmethod
    def _candidate(quad: np.ndarray, width: int, height: int, score: float) -> PlateCandidate:
        x0, y0, x1, y1 = (int(round(v)) for v in _frame_boxes(quad[None], width, height)[0])
        return PlateCandidate(Box(x0, y0, max(1, x1 - x0), max(1, y1 - y0)), min(max(score, 0.0), 1.0),
                              quad.astype(np.float32))


def plate_lean_degrees(quad: np.ndarray) -> float:
    """How far a candidate's text line (its quad: tl, tr, br, bl, in frame pixels) is
    turned counter-clockwise, in degrees: what `roll_degrees` levels for a camera whose
    plates all lean alike (the commissioning view shows it)."""
    left, right = (quad[0] + quad[3]) / 2, (quad[1] + quad[2]) / 2
    return float(np.degrees(np.arctan2(left[1] - right[1], right[0] - left[0])))


class IgnoreRegions:
    """A camera's polygons where plates are never read (`cameras[].ignore`).

    Why: an on-screen timestamp or a sign reads as plate-like text in every frame; masking
    it at install time costs less CPU and makes fewer false reads than any filter after
    the read. A candidate is ignored when its box centre lies in a polygon.
    """

    def __init__(self, polygons: Sequence[Sequence[tuple[float, float]]]) -> None:
        self.polygons = [np.asarray(polygon, np.float64) for polygon in polygons]

    def __bool__(self) -> bool:
        return bool(self.polygons)

    def covers(self, boxes: Sequence[Box]) -> np.ndarray:
        """True for each box whose centre is inside any polygon (even-odd rule, vectorised)."""
        centres = np.array([box.centre for box in boxes], np.float64).reshape(-1, 2)
        inside = np.zeros(len(centres), bool)
        for polygon in self.polygons:
            inside |= _inside_polygon(centres, polygon)
        return inside


def _inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Ray casting over every (point, edge) pair at once: odd crossings means inside."""
    (x, y), (x0, y0), (x1, y1) = points.T[:, :, None], polygon.T[:, None, :], np.roll(polygon, -1, axis=0).T[:, None, :]
    spans = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross_x = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (spans & (x < cross_x)).sum(axis=1) % 2 == 1


def _resized(grey: np.ndarray, scale: float) -> np.ndarray:
    """`grey` scaled down by `scale` (<= 1). Area averaging keeps the contrast of small
    glyphs that a Gaussian pyramid step would blur away."""
    if scale >= 1.0:
        return grey
    size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
