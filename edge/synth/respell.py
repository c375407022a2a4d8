"""Respell real plates with real glyphs of the same font, for recogniser training.

Why: the recogniser's real training crops are a few hundred US plates, so each state's
typeface shows each character a handful of times, always in the same few texts; the
look-alikes that real small plates confuse (8/B, D/0, U/V, 2/Z) are drawn in the fonts of
the synthetic renderer far more often than in real ones. Cutting each real plate into its
glyphs and writing new texts onto a plate of the same group (a US state: one typeface and
one background) gives the network real plate fonts in texts it has not seen, on real
backgrounds, with an exact label.

A plate is usable when a binarisation splits it into exactly as many glyph-like
components on one row as its label has characters (about 60% of US crops). Its glyphs are
then lifted off (inpainted), and a new glyph is drawn into each slot as a soft ink mask
from a donor glyph of the same group, in the plate's own ink colour.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

SAME_CLASS = 0.8  # a slot keeps its letter/digit class this often, as a plate's layout does
DRAWS = ("glyphs", "characters")  # how a slot's new glyph is drawn: see `GlyphBank`
_MARGIN = 2  # pixels of background around a glyph's mask taken with it (its anti-aliased rim)


@dataclass(frozen=True)
class Glyph:
    """One real glyph as a soft ink mask (0 background .. 1 ink), tight to its component."""

    char: str
    alpha: np.ndarray


@dataclass(frozen=True)
class Slot:
    """Where a glyph stood on its plate: x, y, w, h in plate pixels."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class BlankPlate:
    """A plate with its glyphs lifted off, the slots they stood in, and their ink colour."""

    group: str
    blank: np.ndarray
    ink: np.ndarray
    slots: tuple[Slot, ...]
    chars: str


def glyph_components(grey: np.ndarray, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool] | None:
    """For a grey plate: (labels, the text's glyph labels left to right, their stats, ink is
    dark) when one polarity of an adaptive threshold splits it into exactly len(text)
    like-sized components on one row; None otherwise (touching or broken glyphs, a busy background)."""
    height, width = grey.shape
    for dark in (True, False):
        source = 255 - grey if dark else grey
        ink = cv2.adaptiveThreshold(source, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY,
                                    (height // 2) | 1, -10)
        _count, labels, stats, _centres = cv2.connectedComponentsWithStats(ink, connectivity=8)
        keys = _glyph_keys(stats[1:], height, width) + 1
        if len(keys) == len(text):
            return labels, keys, stats[keys], dark
    return None


def _glyph_keys(stats: np.ndarray, height: int, width: int) -> np.ndarray:
    """Indices of the components that look like one row of glyphs, left to right."""
    x, y, w, h, area = stats.T
    glyph_like = ((h > 0.25 * height) & (h < 0.85 * height) & (w > 0.015 * width) & (w < 0.25 * width)
                  & (area > 0.15 * w * h) & (y > 0.02 * height) & (y + h < 0.98 * height))
    keys = np.flatnonzero(glyph_like)
    if not len(keys):
        return keys
    tall = np.median(h[keys])
    keys = keys[np.abs(h[keys] - tall) < 0.2 * tall]
    if not len(keys):  # heights split in two, the median between them
        return keys
    middle = y[keys] + h[keys] / 2
    keys = keys[np.abs(middle - np.median(middle)) < 0.25 * tall]
    return keys[np.argsort(x[keys])]


def _soft_mask(grey: np.ndarray, component: np.ndarray, dark: bool) -> np.ndarray:
    """Ink share per pixel of a glyph patch: its grey level between the ink's and the
    paper's, kept to the glyph's own component grown by _MARGIN (so the rim's
    anti-aliasing comes along, and not the plate's picture beside it)."""
    level = grey.astype(np.float32) if dark else 255 - grey.astype(np.float32)
    ink = np.percentile(level[component], 10)
    paper = np.percentile(level[~component], 90) if (~component).any() else 255.0
    share = np.clip((paper - level) / max(paper - ink, 1.0), 0, 1)
    grown = cv2.dilate(component.astype(np.uint8), np.ones((2 * _MARGIN + 1,) * 2, np.uint8))
    return share * grown


def lift_glyphs(image: np.ndarray, text: str, group: str) -> tuple[BlankPlate, list[Glyph]] | None:
    """The plate without its glyphs, and the glyphs themselves; None when it does not split."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    found = glyph_components(grey, text)
    if found is None:
        return None
    labels, keys, stats, dark = found
    glyphs, slots = [], []
    for char, key, (x, y, w, h, _area) in zip(text, keys, stats):
        y0, x0 = max(0, y - _MARGIN), max(0, x - _MARGIN)
        y1, x1 = y + h + _MARGIN, x + w + _MARGIN
        component = labels[y0:y1, x0:x1] == key
        glyphs.append(Glyph(char, _soft_mask(grey[y0:y1, x0:x1], component, dark)))
        slots.append(Slot(int(x0), int(y0), int(component.shape[1]), int(component.shape[0])))
    ink_mask = np.isin(labels, keys)
    ink = np.median(image[ink_mask], axis=0).astype(np.float32)
    lift = cv2.dilate(ink_mask.astype(np.uint8), np.ones((2 * _MARGIN + 1,) * 2, np.uint8))
    blank = cv2.inpaint(image, lift, 3, cv2.INPAINT_TELEA)
    return BlankPlate(group, blank, ink, tuple(slots), text), glyphs


class GlyphBank:
    """Blank plates and the glyphs lifted from them, by group (one typeface each) and by
    class (digits, letters).

    `draw` says how a slot's new glyph is chosen among its group's glyphs of the class:
    "glyphs" draws over the glyphs, so characters come as often as the group's plates show
    them; "characters" draws a character first, uniformly over those the group shows, then
    one of its glyphs, so rare characters (look-alikes such as B, D, V) come as often as
    common ones.
    """

    def __init__(self, plates: list[tuple[np.ndarray, str, str]], draw: str = "glyphs") -> None:
        if draw not in DRAWS:
            raise ValueError(f"respell draw {draw!r}: expected one of {', '.join(DRAWS)}")
        self.draw = draw
        self.blanks: list[BlankPlate] = []
        glyphs: dict[str, dict[bool, list[Glyph]]] = defaultdict(lambda: defaultdict(list))
        for image, text, group in plates:
            lifted = lift_glyphs(image, text, group)
            if lifted is None:
                continue
            self.blanks.append(lifted[0])
            for glyph in lifted[1]:
                glyphs[group][glyph.char.isdigit()].append(glyph)
        self.glyphs = {group: dict(by_class) for group, by_class in glyphs.items()}  # picklable

    def __len__(self) -> int:
        return len(self.blanks)

    def respell(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """A blank plate written with a new text in its own group's glyphs (BGR uint8, text)."""
        plate = self.blanks[int(rng.integers(len(self.blanks)))]
        canvas = plate.blank.astype(np.float32)
        text = []
        for slot, old in zip(plate.slots, plate.chars):
            glyph = _new_glyph(self.glyphs[plate.group], old.isdigit(), rng, self.draw)
            _draw(canvas, glyph.alpha, slot, plate.ink)
            text.append(glyph.char)
        return np.clip(canvas, 0, 255).astype(np.uint8), "".join(text)


def _new_glyph(by_class: dict[bool, list[Glyph]], digit: bool, rng: np.random.Generator,
               draw: str = "glyphs") -> Glyph:
    """A glyph for a slot: of the old character's class (letter or digit) SAME_CLASS of the
    time, else of either. Drawn over glyphs (`draw` "glyphs"), characters come as often as
    the group's own plates show them: letters a state never issues (O, I, Q in many) stay
    rare. Drawn over characters ("characters"), every character the group shows comes
    equally often: its look-alikes are seen as often as its common glyphs."""
    if rng.random() < SAME_CLASS and by_class.get(digit):
        pool = by_class[digit]
    else:
        pool = [glyph for glyphs in by_class.values() for glyph in glyphs]
    if draw == "characters":
        chars = sorted({glyph.char for glyph in pool})
        char = chars[int(rng.integers(len(chars)))]
        pool = [glyph for glyph in pool if glyph.char == char]
    return pool[int(rng.integers(len(pool)))]


def _draw(canvas: np.ndarray, alpha: np.ndarray, slot: Slot, ink: np.ndarray) -> None:
    """Ink a glyph mask into a slot: scaled to the slot's height, its own proportions kept,
    centred on the slot (a narrow 1 stays narrow in an M's place)."""
    height = slot.h
    width = max(1, round(alpha.shape[1] * height / alpha.shape[0]))
    mask = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
    left = slot.x + (slot.w - width) // 2
    x0, x1 = max(0, left), min(canvas.shape[1], left + width)
    y1 = min(canvas.shape[0], slot.y + height)
    share = mask[:y1 - slot.y, x0 - left:x1 - left, None]
    region = canvas[slot.y:y1, x0:x1]
    region[:] = region * (1 - share) + ink * share
