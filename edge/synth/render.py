"""Synthetic number plates: text generators, a flat plate renderer and camera degradations.

Why synthetic: the recogniser needs far more labelled plates (UK, EU, NL, PL, US layouts,
light and dark plates, every character in every position) than the small real sets hold,
and those real sets are mostly reserved for measurement. Everything here is a pure function
of the numpy Generator passed in, so a seed reproduces a training set or a sample image byte
for byte. The samples are drawn with OpenCV only; training may add TrueType faces
(`typeface_share`), read from the system's DejaVu fonts.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from edge.types import Box

PlateColour = Literal["white", "yellow", "grey", "dark"]
STYLES = ("gb_current", "gb_prefix", "gb_suffix", "gb_dateless", "eu", "nl", "pl", "us")

_LETTERS = string.ascii_uppercase
_DIGITS = string.digits
# UK random letters never use I or Q (too like 1 and O); the first area letter also skips Z.
_GB_LETTERS = "ABCDEFGHJKLMNOPRSTUVWXYZ"
_GB_AREA = "ABCDEFGHKLMNOPRSVWY"
# Dutch plates avoid vowels and letters that read as digits.
_NL_LETTERS = "BDFGHJKLNPRSTVXZ"

# ---------------------------------------------------------------------------------------
# Plate text
# ---------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, alphabet: str, count: int) -> str:
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=count))


def _from_template(rng: np.random.Generator, template: str, letters: str = _LETTERS) -> str:
    """Fill a template: L -> letter, D -> digit, N -> non-zero digit; '-' marks a group gap."""
    out = []
    for sym in template:
        if sym == "L":
            out.append(_pick(rng, letters, 1))
        elif sym == "D":
            out.append(_pick(rng, _DIGITS, 1))
        elif sym == "N":
            out.append(_pick(rng, "123456789", 1))
        else:
            out.append(sym)
    return "".join(out)


def _gb_age(rng: np.random.Generator) -> str:
    """Two-digit age identifier: March plates 02..26, September plates 51..75."""
    year = int(rng.integers(2, 27))
    return f"{year + 50 * int(rng.integers(0, 2)):02d}"


_TEMPLATES: dict[str, tuple[str, ...]] = {
    "gb_dateless": (
        "LLL-ND",
        "LLL-NDD",
        "LL-NDDD",
        "L-NDDD",
        "NDDD-LL",
        "NDD-LLL",
        "ND-LL",
        "LLL-N",
    ),
    "eu": (
        "LL-DDD-LL",
        "LL-DDDDD",
        "L-N-LLL",
        "L-LL-NDDD",
        "LL-L-NDDD",
        "LLL-NDDD",
        "NLL-DDDD",
        "LL-NDDD-L",
        "LLL-NDD",
        "LLL-NDD-L",
        "L-NDDDD",
        "LL-NDD-LL",
        "NLL-LDDD",
    ),
    "nl": (
        "LL-DD-DD",
        "DD-DD-LL",
        "DD-LL-DD",
        "LL-DD-LL",
        "LL-LL-DD",
        "DD-LL-LL",
        "DD-LLL-D",
        "D-LLL-DD",
        "LL-DDD-L",
        "L-DDD-LL",
        "LLL-DD-L",
        "L-DD-LLL",
        "D-LL-DDD",
        "DDD-LL-D",
    ),
    "pl": (
        "LL-NDDDD",
        "LL-NDDDL",
        "LL-NDDLL",
        "LL-NLDDD",
        "LL-NLLDD",
        "LLL-LNDD",
        "LLL-NDLL",
        "LLL-NLDL",
        "LLL-NDLD",
        "LLL-LLND",
        "LLL-NDDLL",
        "LLL-NDDDD",
    ),
    "us": (
        "NLLLDDD",
        "LLLDDDD",
        "LLLDDD",
        "DDDLLL",
        "LLDDDDD",
        "NDDDDDD",
        "LLLLDDD",
        "DLLDDD",
        "NDLLLDD",
        "LLDDLL",
        "LDDDLL",
        "DDDDD",
    ),
}


def random_plate_layout(style: str, rng: np.random.Generator) -> str:
    """A plate string with '-' where the plate shows a group gap (or a printed dash on NL).

    The layout is kept separate from the label because real plates print groups apart and
    the renderer must reproduce that spacing; labels never contain gaps.
    """
    if style == "gb_current":
        return (
            _pick(rng, _GB_AREA, 1)
            + _pick(rng, _GB_LETTERS, 1)
            + _gb_age(rng)
            + "-"
            + _pick(rng, _GB_LETTERS, 3)
        )
    if style == "gb_prefix":
        digits = str(int(rng.integers(1, 1000)))
        return _pick(rng, "ABCDEFGHJKLMNPRSTVWXY", 1) + digits + "-" + _pick(rng, _GB_LETTERS, 3)
    if style == "gb_suffix":
        digits = str(int(rng.integers(1, 1000)))
        return _pick(rng, _GB_LETTERS, 3) + "-" + digits + _pick(rng, "ABCDEFGHJKLMNPRSTVWXY", 1)
    if style in _TEMPLATES:
        templates = _TEMPLATES[style]
        template = templates[int(rng.integers(0, len(templates)))]
        letters = _NL_LETTERS if style == "nl" else _LETTERS
        layout = _from_template(rng, template, letters)
        if style == "us" and rng.random() < 0.45:  # many states space the groups: "DJP 638"
            layout = _middle_gap(layout)
        if style == "us":  # most states print O and 0 alike, and US reads write it 0 (edge.formats._spelled)
            layout = layout.replace("O", "0")
        return layout
    raise ValueError(f"unknown plate style {style!r}; expected one of {', '.join(STYLES)}")


def random_plate_text(style: str, rng: np.random.Generator) -> str:
    """A plausible registration for `style`, upper-case A-Z/0-9 without gaps."""
    return random_plate_layout(style, rng).replace("-", "")


# ---------------------------------------------------------------------------------------
# Glyphs: a plate-like stroke font drawn with cv2.polylines, plus OpenCV's Hershey fonts
# ---------------------------------------------------------------------------------------

Stroke = list[tuple[float, float]]


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float) -> Stroke:
    """Elliptical arc from angle a0 to a1 (degrees, y down: 90 is straight down)."""
    steps = max(4, int(abs(a1 - a0) / 12))
    angles = np.radians(np.linspace(a0, a1, steps + 1))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


def _stroke_glyphs() -> dict[str, list[Stroke]]:
    """Glyphs on a 6 wide x 10 tall grid, shaped after the square, open UK/DIN plate faces."""
    g: dict[str, list[Stroke]] = {
        "A": [[(0, 10), (3, 0), (6, 10)], [(1.05, 6.5), (4.95, 6.5)]],
        "B": [
            [(3.6, 4.8), (0, 4.8), (0, 0), (3.6, 0)] + _arc(3.6, 2.4, 2.2, 2.4, -90, 90),
            [(0, 4.8), (0, 10), (3.8, 10)] + _arc(3.8, 7.4, 2.2, 2.6, 90, -90) + [(3.6, 4.8)],
        ],
        "C": [_arc(3, 5, 3, 5, -40, -320)],
        "D": [[(2.6, 0), (0, 0), (0, 10), (2.6, 10)] + _arc(2.6, 5, 3.4, 5, 90, -90)],
        "E": [[(6, 0), (0, 0), (0, 10), (6, 10)], [(0, 5), (4.8, 5)]],
        "F": [[(6, 0), (0, 0), (0, 10)], [(0, 5), (4.8, 5)]],
        "G": [_arc(3, 5, 3, 5, -40, -360) + [(6, 10)], [(6, 5.2), (3.4, 5.2)]],
        "H": [[(0, 0), (0, 10)], [(6, 0), (6, 10)], [(0, 5), (6, 5)]],
        "I": [[(3, 0), (3, 10)]],
        "J": [[(6, 0), (6, 7)] + _arc(3, 7, 3, 3, 0, 180)],
        "K": [[(0, 0), (0, 10)], [(6, 0), (0, 6.4)], [(2.1, 4.2), (6, 10)]],
        "L": [[(0, 0), (0, 10), (6, 10)]],
        "M": [[(0, 10), (0, 0), (3, 6.5), (6, 0), (6, 10)]],
        "N": [[(0, 10), (0, 0), (6, 10), (6, 0)]],
        "O": [_arc(3, 5, 3, 5, 0, 360)],
        "P": [[(0, 10), (0, 0), (3.4, 0)] + _arc(3.4, 2.75, 2.6, 2.75, -90, 90) + [(0, 5.5)]],
        "Q": [_arc(3, 5, 3, 5, 0, 360), [(3.6, 7.0), (6.2, 10.2)]],
        "R": [
            [(0, 10), (0, 0), (3.4, 0)] + _arc(3.4, 2.75, 2.6, 2.75, -90, 90) + [(0, 5.5)],
            [(3.0, 5.5), (6, 10)],
        ],
        "S": [_arc(3, 2.5, 2.8, 2.5, -25, -270) + _arc(3, 7.5, 3, 2.5, -90, 155)],
        "T": [[(0, 0), (6, 0)], [(3, 0), (3, 10)]],
        "U": [[(0, 0), (0, 7)] + _arc(3, 7, 3, 3, 180, 0) + [(6, 0)]],
        "V": [[(0, 0), (3, 10), (6, 0)]],
        "W": [[(0, 0), (1.5, 10), (3, 3), (4.5, 10), (6, 0)]],
        "X": [[(0, 0), (6, 10)], [(6, 0), (0, 10)]],
        "Y": [[(0, 0), (3, 5), (6, 0)], [(3, 5), (3, 10)]],
        "Z": [[(0, 0), (6, 0), (0, 10), (6, 10)]],
        "0": [_arc(3, 3, 3, 3, 180, 360) + _arc(3, 7, 3, 3, 0, 180) + [(0, 3)]],
        "1": [[(0.9, 2.2), (3.6, 0), (3.6, 10)]],
        "2": [_arc(3, 3, 3, 3, -165, 25) + [(0, 10), (6, 10)]],
        "3": [_arc(3, 2.5, 2.8, 2.5, -155, 90) + _arc(3, 7.5, 3, 2.5, -90, 155)],
        "4": [[(4.6, 10), (4.6, 0), (0, 7), (6, 7)]],
        "5": [[(5.6, 0), (0.7, 0), (0.3, 4.6)] + _arc(3, 6.8, 3, 3.2, -135, 150)],
        "6": [_arc(3, 6.8, 3, 3.2, 0, 360), _arc(6, 6.8, 6, 6.8, 180, 252)],
        "7": [[(0, 0), (6, 0), (1.8, 10)]],
        "8": [_arc(3, 2.5, 2.6, 2.5, 0, 360), _arc(3, 7.4, 3, 2.6, 0, 360)],
    }
    g["9"] = [[(6 - x, 10 - y) for x, y in stroke] for stroke in g["6"]]
    return g


_GLYPHS = _stroke_glyphs()
# Real plate faces draw some glyphs unlike the stroke font: DIN 1451 / FE-Schrift and the
# Italian face run W's middle apex and M's middle vertex (nearly) the full height; many
# UK plates print '1' as a plain bar, the same glyph as 'I'; DIN faces round 'O' into the
# same stadium as '0'. A recogniser that never saw these reads a real W as M and a UK 1 as
# a confident I. Trained on them (random_plate's `variant_share`), it learns that a bar or
# a stadium may be either twin, so its probabilities leave the choice to the plate format.
_VARIANT_GLYPHS: dict[str, list[Stroke]] = {
    "W": [[(0, 0), (1.4, 10), (3, 0.4), (4.6, 10), (6, 0)]],
    "M": [[(0, 10), (0, 0), (3, 8.6), (6, 0), (6, 10)]],
    "1": _GLYPHS["I"],
    "O": _GLYPHS["0"],
}
VARIANT_FONT = "plate_variant"
# Real typefaces have stroke contrast the uniform stroke font lacks: Italian and DIN faces
# draw M and W with hairline diagonals between heavy stems. Training may draw a share of
# plates in these TrueType faces (Debian package fonts-dejavu-core) for that variety; glyphs
# are squeezed into the plate's cells, so the wide book faces become condensed plate-like ones.
TYPEFACE_DIR = Path("/usr/share/fonts/truetype/dejavu")
TYPEFACES = tuple(f"ttf:{name}" for name in (
    "DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono.ttf"))
_GLYPH_PX = 10  # pixels per grid unit when a glyph is first drawn
FONTS = ("plate", "plate_narrow", "hershey_simplex", "hershey_duplex")
_HERSHEY = {"hershey_simplex": cv2.FONT_HERSHEY_SIMPLEX, "hershey_duplex": cv2.FONT_HERSHEY_DUPLEX}

# OpenCV 5 draws text on 8-bit images only; 4.x drew it on the float canvases plates are made on.
_TEXT_NEEDS_8BIT = int(cv2.__version__.split(".")[0]) >= 5


def _put_text(image: np.ndarray, text: str, org: tuple[int, int], face: int, scale: float,
              colour: tuple[float, ...], thickness: int) -> None:
    """Text on a plate canvas, the same pixels under OpenCV 4 and 5: where OpenCV will not draw on
    the canvas's depth, the text is drawn into an 8-bit mask and painted through it. OpenCV 4
    anti-aliases only 8-bit images, so on a float canvas its strokes are hard-edged, as here."""
    if not _TEXT_NEEDS_8BIT or image.dtype == np.uint8:
        cv2.putText(image, text, org, face, scale, colour, thickness, cv2.LINE_AA)
        return
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.putText(mask, text, org, face, scale, 255, thickness, cv2.LINE_8)
    ink = np.asarray(colour, image.dtype)
    image[mask > 0] = ink[: image.shape[2]] if image.ndim == 3 else ink[0]


@lru_cache(maxsize=1024)
def _glyph_mask(char: str, font: str, weight: int) -> np.ndarray:
    """Anti-aliased ink mask (uint8, tight box) of one character, drawn once and cached.

    `weight` is the stroke width in pixels for a 100 px tall glyph.
    """
    if font in _HERSHEY:
        return _hershey_mask(char, _HERSHEY[font], max(1, weight // 2))
    if font in TYPEFACES:
        return _typeface_mask(char, font)
    pad = weight // 2 + 2
    scale = 16  # cv2 fixed-point shift 4
    width = 6 * _GLYPH_PX + 2 * pad
    canvas = np.zeros((10 * _GLYPH_PX + 2 * pad, width), np.uint8)
    if char == "-":
        strokes = [[(1.0, 5.0), (5.0, 5.0)]]
    elif font == VARIANT_FONT:
        strokes = _VARIANT_GLYPHS.get(char, _GLYPHS[char])
    else:
        strokes = _GLYPHS[char]
    for stroke in strokes:
        pts = (np.asarray(stroke, np.float64) * _GLYPH_PX + pad) * scale
        cv2.polylines(
            canvas, [pts.round().astype(np.int32)], False, 255, weight, cv2.LINE_AA, shift=4
        )
    lo = pad - weight // 2
    crop = canvas[lo : canvas.shape[0] - lo, lo : width - lo]
    if char in "I1-":
        cols = np.flatnonzero(crop.max(axis=0))
        crop = crop[:, cols[0] : cols[-1] + 1]
    return crop


def _hershey_mask(char: str, face: int, thickness: int) -> np.ndarray:
    scale = 3.0
    (w, h), base = cv2.getTextSize(char, face, scale, thickness)
    canvas = np.zeros((h + base + 2 * thickness + 8, w + 2 * thickness + 8), np.uint8)
    cv2.putText(
        canvas, char, (thickness + 4, h + thickness + 4), face, scale, 255, thickness, cv2.LINE_AA
    )
    rows = np.flatnonzero(canvas.max(axis=1))
    cols = np.flatnonzero(canvas.max(axis=0))
    return canvas[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def typeface_path(font: str) -> Path:
    """The TrueType file of a TYPEFACES entry, or a clear error naming the package to install."""
    path = TYPEFACE_DIR / font.removeprefix("ttf:")
    if not path.is_file():
        raise FileNotFoundError(f"typeface {path} not found: install fonts-dejavu-core "
                                "(only recogniser training draws TrueType plates)")
    return path


@lru_cache(maxsize=len(TYPEFACES))
def _typeface(font: str):  # -> PIL.ImageFont.FreeTypeFont, loaded once per face
    from PIL import ImageFont  # Pillow comes with easyocr; training only

    return ImageFont.truetype(str(typeface_path(font)), 120)


def _typeface_mask(char: str, font: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (200, 200), 0)
    ImageDraw.Draw(canvas).text((40, 20), char, fill=255, font=_typeface(font))
    ink = np.asarray(canvas)
    rows, cols = np.flatnonzero(ink.max(axis=1)), np.flatnonzero(ink.max(axis=0))
    return np.ascontiguousarray(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])


def _place_glyph(
    mask: np.ndarray, glyph: np.ndarray, x: float, y: float, cw: float, ch: float
) -> Box:
    """Scale `glyph` into the cell (x, y, cw, ch) of `mask`, keeping narrow glyphs narrow."""
    gh, gw = glyph.shape
    natural_w = gw * ch / gh
    w = int(round(min(cw, natural_w) if natural_w < 0.6 * cw else cw))
    h = int(round(ch))
    x0 = int(round(x + (cw - w) / 2))
    y0 = int(round(y))
    if w < 1 or h < 1:
        return Box(x0, y0, 0, 0)
    scaled = cv2.resize(glyph, (w, h), interpolation=cv2.INTER_AREA)
    H, W = mask.shape
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if xb > xa and yb > ya:
        region = mask[ya:yb, xa:xb]
        np.maximum(region, scaled[ya - y0 : yb - y0, xa - x0 : xb - x0], out=region)
    return Box(x0, y0, w, h)


# ---------------------------------------------------------------------------------------
# Plate layout and drawing
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Geometry:
    """Plate proportions in pixels (roughly 1 px per mm for European plates)."""

    width: int
    height: int
    char_h: float
    char_w: float
    pitch: float  # gap between characters in a group
    group_gap: float


def _geometry(style: str) -> _Geometry:
    if style == "us":
        return _Geometry(360, 180, 92.0, 44.0, 5.0, 22.0)
    if style.startswith("gb"):
        return _Geometry(520, 111, 79.0, 50.0, 11.0, 33.0)
    return _Geometry(520, 110, 72.0, 44.0, 9.0, 26.0)


_BACKGROUNDS = {  # BGR
    "white": (242, 244, 246),
    "yellow": (30, 200, 250),
    "grey": (175, 178, 180),
    "dark": (28, 28, 30),
}
_EU_BLUE = (150, 60, 0)
_US_NAVY = (95, 45, 15)
Separator = Literal["gap", "dash", "emblem", "stickers"]


def _jitter(rng: np.random.Generator, colour: tuple[int, int, int], spread: float) -> np.ndarray:
    return np.clip(np.asarray(colour, np.float32) + rng.normal(0, spread, 3), 0, 255)


def _text_layout(
    layout: str,
    geo: _Geometry,
    rng: np.random.Generator,
    left: float,
    right: float,
    narrow: float,
    min_gap: float,
) -> tuple[float, float, float, float]:
    """Scale char size/spacing so the whole text fits between `left` and `right`.

    Returns (char_w, pitch, group_gap, x_start). Long EU/US strings shrink, as on real plates.
    """
    chars = sum(c != "-" for c in layout)
    gaps = layout.count("-")
    cw = geo.char_w * narrow * rng.uniform(0.9, 1.05)
    pitch = geo.pitch * rng.uniform(0.7, 1.2)
    gap = max(min_gap, geo.group_gap * rng.uniform(0.6, 1.1))
    needed = chars * cw + (chars - 1 - gaps) * pitch + gaps * gap
    room = (right - left) * 0.96
    if needed > room:
        squeeze = room / needed
        cw, pitch, gap, needed = cw * squeeze, pitch * squeeze, gap * squeeze, room
    x_start = (
        left + (right - left - needed) / 2 + rng.uniform(-0.02, 0.02) * (right - left - needed)
    )
    return cw, pitch, gap, x_start


def _draw_text(
    mask: np.ndarray,
    layout: str,
    x0: float,
    y0: float,
    ch: float,
    cw: float,
    pitch: float,
    gap: float,
    font: str,
    weight: int,
) -> tuple[list[Box], list[tuple[float, float]]]:
    """Draw the characters of `layout` into `mask`.

    Returns one box per A-Z/0-9 character and the (left, right) x-span of each group gap,
    where the caller may print a dash, an emblem or stickers.
    """
    boxes: list[Box] = []
    gaps: list[tuple[float, float]] = []
    x = x0
    for i, char in enumerate(layout):
        if char == "-":
            gaps.append((x - pitch, x - pitch + gap))
            x += gap - pitch
            continue
        glyph = _glyph_mask(char, font, weight)
        boxes.append(_place_glyph(mask, glyph, x, y0, cw, ch))
        x += cw + (pitch if i + 1 < len(layout) else 0.0)
    return boxes, gaps


def _composite(image: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    """Blend `colour` into float32 `image` where the uint8 `mask` has ink (in place).

    Only the mask's bounding box is touched: text covers a fraction of the plate.
    """
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:
        return
    roi = image[y : y + h, x : x + w]
    alpha = mask[y : y + h, x : x + w].astype(np.float32) * (1.0 / 255.0)
    paint = np.empty_like(roi)
    paint[:] = colour
    roi[:] = cv2.blendLinear(roi, paint, 1.0 - alpha, alpha)


def _draw_strip(plate: np.ndarray, code: str, rng: np.random.Generator) -> int:
    """Blue national band on the left with a star ring and the country code; returns its width."""
    h = plate.shape[0]
    w = int(round(h * rng.uniform(0.38, 0.45)))
    plate[:, :w] = _jitter(rng, _EU_BLUE, 10)
    ring_c = (w / 2.0, h * 0.3)
    radius = min(w, h) * 0.25
    star = max(1, int(round(h * 0.018)))
    angles = np.arange(12) * (2 * math.pi / 12)
    for a in angles:
        centre = (
            int(round(ring_c[0] + radius * math.cos(a))),
            int(round(ring_c[1] + radius * math.sin(a))),
        )
        cv2.circle(plate, centre, star, (0, 210, 255), -1, cv2.LINE_AA)
    ch = h * 0.28
    cw = min(w * 0.8 / max(1, len(code)) - 2, ch * 0.62)
    _print_small(plate, code, (w - len(code) * cw - (len(code) - 1) * 2) / 2, h * 0.6, ch, cw, (245, 245, 245))
    return w


def _print_small(plate: np.ndarray, text: str, x: float, y: float, ch: float, cw: float,
                 colour: tuple[int, int, int], spacing: float = 2.0) -> None:
    """Small print that is no part of the number (a country code, a province, a year),
    in the plain stroke font, top-left at (x, y)."""
    mask = np.zeros(plate.shape[:2], np.uint8)
    _draw_text(mask, text, x, y, ch, cw, spacing, spacing, "plate", 14)
    _composite(plate, mask, np.array(colour, np.float32))


def _draw_furniture(
    plate: np.ndarray, rng: np.random.Generator, left: float, right: float, no_strip: bool
) -> tuple[float, float]:
    """Marks beside the number that a reader must not spell: a coat of arms with its small
    country code where there is no band (older Slovak, Croatian plates), and a blue band on
    the right with a small province code and year (Italian plates). Returns the text's new
    left and right limits."""
    h = plate.shape[0]
    if no_strip and rng.random() < 0.7:
        size = h * rng.uniform(0.28, 0.36)
        cx = left + 0.7 * size
        # _draw_emblem sizes a shield 0.42 glyph heights tall: ask for one `size` tall.
        _draw_emblem(plate, (cx - size, cx + size), h * 0.4, size / 0.42, "emblem", False, rng)
        code = ("SK", "HR", "SLO", "CH", "BIH")[int(rng.integers(5))]
        ch = h * 0.16
        cw = min(1.6 * size / len(code), ch * 0.62)
        _print_small(plate, code, cx - (len(code) * cw + len(code) - 1) / 2, h * 0.62, ch, cw, (40, 40, 40), 1.0)
        left = cx + 1.0 * size
    if rng.random() < 0.5:
        w = int(round(h * rng.uniform(0.34, 0.42)))
        x0 = int(round(right)) - w
        plate[:, x0 : int(round(right))] = _jitter(rng, _EU_BLUE, 10)
        ch = h * 0.2
        cw = min(w * 0.8 / 2 - 2, ch * 0.62)
        for y, text in ((h * 0.15, _pick(rng, _LETTERS, 2)), (h * 0.62, _pick(rng, "0123456789", 2))):
            _print_small(plate, text, x0 + (w - 2 * cw - 2) / 2, y, ch, cw, (40, 210, 245))
        right = x0 - h * 0.05
    return left, right


def _choose_separator(style: str, rng: np.random.Generator) -> Separator:
    """What fills a group gap: Dutch plates print dashes, Slovak ones a dash or the coat of
    arms, Czech ones inspection stickers, many US states a small state emblem."""
    options: dict[str, tuple[tuple[Separator, ...], tuple[float, ...]]] = {
        "nl": (("dash",), (1.0,)),
        "eu": (("gap", "dash", "emblem", "stickers"), (0.4, 0.3, 0.2, 0.1)),
        "pl": (("gap", "emblem", "stickers"), (0.6, 0.2, 0.2)),
        "us": (("gap", "emblem"), (0.5, 0.5)),
    }
    kinds, weights = options.get(style, (("gap",), (1.0,)))
    return kinds[int(rng.choice(len(kinds), p=weights))]


def _draw_dashes(
    mask: np.ndarray, gaps: list[tuple[float, float]], y_mid: float, cw: float, stroke: float
) -> None:
    for left, right in gaps:
        centre, half = (left + right) / 2, min(0.3 * cw, 0.35 * (right - left))
        pts = [(int(round((centre + d) * 16)), int(round(y_mid * 16))) for d in (-half, half)]
        cv2.line(mask, pts[0], pts[1], 255, max(1, int(round(stroke))), cv2.LINE_AA, 4)


def _draw_emblem(
    plate: np.ndarray,
    gap: tuple[float, float],
    y_mid: float,
    ch: float,
    kind: Separator,
    round_logo: bool,
    rng: np.random.Generator,
) -> None:
    """Two stacked inspection stickers, a coat of arms (shield) or a round (state) emblem."""
    cx = (gap[0] + gap[1]) / 2
    size = min(0.42 * ch, 0.8 * (gap[1] - gap[0]))
    if kind == "stickers":
        r = max(2, int(round(size * 0.3)))
        for dy, colour in ((-0.55, (40, 160, 40)), (0.55, (30, 120, 230))):
            centre = (int(round(cx)), int(round(y_mid + dy * size)))
            cv2.circle(
                plate, centre, r, tuple(float(c) for c in _jitter(rng, colour, 30)), -1, cv2.LINE_AA
            )
            cv2.circle(plate, centre, max(1, r // 3), (235.0, 235.0, 235.0), -1, cv2.LINE_AA)
        return
    if kind == "emblem" and not round_logo:
        shield = np.array(
            [[-0.5, -0.6], [0.5, -0.6], [0.5, 0.1], [0.0, 0.6], [-0.5, 0.1]]
        ) * size + (cx, y_mid)
        cv2.fillPoly(
            plate, [(shield * 16).round().astype(np.int32)], (40.0, 40.0, 200.0), cv2.LINE_AA, 4
        )
        bar = max(1, int(round(size * 0.12)))
        for a, b in (
            ((0, -0.45), (0, 0.2)),
            ((-0.25, -0.25), (0.25, -0.25)),
            ((-0.2, -0.05), (0.2, -0.05)),
        ):
            p0 = (int(round(cx + a[0] * size)), int(round(y_mid + a[1] * size)))
            p1 = (int(round(cx + b[0] * size)), int(round(y_mid + b[1] * size)))
            cv2.line(plate, p0, p1, (240.0, 240.0, 240.0), bar, cv2.LINE_AA)
        cv2.ellipse(
            plate,
            (int(round(cx)), int(round(y_mid + 0.35 * size))),
            (int(size * 0.3), int(size * 0.15)),
            0,
            180,
            360,
            (160.0, 60.0, 20.0),
            -1,
            cv2.LINE_AA,
        )
        return
    colour = tuple(float(c) for c in rng.uniform(30, 220, 3))
    r = max(2, int(round(size * 0.5)))
    cv2.circle(plate, (int(round(cx)), int(round(y_mid))), r, colour, -1, cv2.LINE_AA)
    cv2.circle(
        plate,
        (int(round(cx)), int(round(y_mid))),
        max(1, r * 2 // 3),
        (235.0, 235.0, 235.0),
        max(1, r // 4),
        cv2.LINE_AA,
    )


_US_STATES = (
    "CALIFORNIA",
    "TEXAS",
    "NEW YORK",
    "FLORIDA",
    "OHIO",
    "ILLINOIS",
    "ARIZONA",
    "GEORGIA",
    "VIRGINIA",
    "OREGON",
    "NEVADA",
    "MICHIGAN",
    "COLORADO",
    "WASHINGTON",
)
_US_INKS = (
    (110, 40, 20),
    (30, 30, 160),
    (25, 25, 25),
    (90, 60, 10),
    (40, 100, 30),
)  # navy, red, black, blue, green
_US_SLOGANS = (
    "DMV.CA.GOV",
    "SUNSHINE STATE",
    "THE LONE STAR STATE",
    "EMPIRE STATE",
    "GRAND CANYON STATE",
    "PURE MICHIGAN",
    "LAND OF LINCOLN",
    "PEACH STATE",
)


def _draw_us_scenery(plate: np.ndarray, rng: np.random.Generator) -> None:
    """Pale pictures behind the number (hills, waves, a sun), as on many state designs."""
    h, w = plate.shape[:2]
    layer = plate.copy()
    for _ in range(int(rng.integers(1, 4))):
        xs = np.linspace(-0.1 * w, 1.1 * w, int(rng.integers(3, 8)))
        ys = h * rng.uniform(0.35, 0.85, len(xs))
        pts = np.concatenate([np.stack([xs, ys], 1), [[1.1 * w, h], [-0.1 * w, h]]])
        cv2.fillPoly(
            layer,
            [(pts * 16).round().astype(np.int32)],
            tuple(float(c) for c in rng.uniform(60, 230, 3)),
            cv2.LINE_AA,
            4,
        )
    if rng.random() < 0.4:
        centre = (int(rng.uniform(0.1, 0.9) * w), int(rng.uniform(0.2, 0.6) * h))
        cv2.circle(
            layer, centre, int(h * rng.uniform(0.1, 0.3)), (60.0, 180.0, 240.0), -1, cv2.LINE_AA
        )
    alpha = rng.uniform(0.25, 0.5)
    cv2.addWeighted(layer, alpha, plate, 1.0 - alpha, 0.0, dst=plate)


def _draw_us_decor(
    plate: np.ndarray, rng: np.random.Generator, ink: np.ndarray, dark: bool
) -> None:
    """State name above the number, optional slogan below, scenery and registration stickers."""
    h, w = plate.shape[:2]
    if not dark and rng.random() < 0.4:  # graded sky band behind the top
        ramp = np.linspace(1.0, 0.0, h // 3, dtype=np.float32)[:, None, None]
        tint = _jitter(rng, (200, 160, 120), 25)
        plate[: h // 3] = plate[: h // 3] * (1 - 0.5 * ramp) + tint * 0.5 * ramp
    if not dark and rng.random() < 0.45:
        _draw_us_scenery(plate, rng)
    state = _US_STATES[int(rng.integers(0, len(_US_STATES)))]
    face = (cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_DUPLEX)[
        int(rng.integers(0, 3))
    ]
    colour = tuple(
        float(c) for c in (ink if dark else _US_INKS[int(rng.integers(0, len(_US_INKS)))])
    )
    scale = h * 0.004 * rng.uniform(0.9, 1.15)
    thick = max(1, int(round(h / 90)))
    (tw, th), _ = cv2.getTextSize(state, face, scale, thick)
    scale *= min(1.0, w * 0.6 / tw)
    (tw, th), _ = cv2.getTextSize(state, face, scale, thick)
    _put_text(plate, state, ((w - tw) // 2, int(h * 0.04) + th), face, scale, colour, thick)
    if rng.random() < 0.6:
        slogan = _US_SLOGANS[int(rng.integers(0, len(_US_SLOGANS)))]
        s2 = scale * 0.45
        (sw, _sh), _ = cv2.getTextSize(slogan, cv2.FONT_HERSHEY_SIMPLEX, s2, 1)
        _put_text(plate, slogan, ((w - sw) // 2, int(h * 0.95)), cv2.FONT_HERSHEY_SIMPLEX, s2,
                  tuple(float(c) for c in ink), 1)
    for x_frac in (0.03, 0.85):  # month and year stickers in the top corners
        if rng.random() < 0.5:
            x0, y0 = int(w * x_frac), int(h * 0.04)
            sw, sh = int(w * 0.12), int(h * 0.13)
            cv2.rectangle(
                plate,
                (x0, y0),
                (x0 + sw, y0 + sh),
                tuple(float(c) for c in rng.uniform(0, 255, 3)),
                -1,
            )
            label = str(int(rng.integers(1, 100))).zfill(2)
            _put_text(plate, label, (x0 + sw // 6, y0 + sh * 4 // 5), cv2.FONT_HERSHEY_SIMPLEX, sh / 30.0,
                      (20.0, 20.0, 20.0), max(1, sh // 12))


def _add_screws(plate: np.ndarray, rng: np.random.Generator, boxes: list[Box], us: bool) -> None:
    """Fixing screws where real ones go: top corners on US plates, else the widest group gap
    and beyond the last character, so they never cover a character."""
    h, w = plate.shape[:2]
    r = max(2, int(round(h * rng.uniform(0.035, 0.05))))
    y = int(h * 0.12) if us else int(h * rng.uniform(0.45, 0.55))
    spots = [int(w * 0.2), int(w * 0.8)] if us else []
    if not us and boxes:
        gaps = [(boxes[i + 1].x - boxes[i].x - boxes[i].w, i) for i in range(len(boxes) - 1)]
        widest, i = max(gaps, default=(0, 0))
        if widest > 3 * r:
            spots.append(boxes[i].x + boxes[i].w + widest // 2)
        right = boxes[-1].x + boxes[-1].w
        if w - right > 4 * r:
            spots.append((right + w) // 2)
    metal = _jitter(rng, (160, 160, 160), 25)
    for x in spots:
        cv2.circle(plate, (x, y), r, tuple(float(c) for c in metal), -1, cv2.LINE_AA)
        shine = tuple(float(min(255.0, c + 60)) for c in metal)
        cv2.circle(plate, (x - r // 3, y - r // 3), max(1, r // 3), shine, -1, cv2.LINE_AA)


def _dirt(plate: np.ndarray, rng: np.random.Generator, amount: float) -> None:
    """Low-frequency grime: multiply by a smooth random field (in place)."""
    h, w = plate.shape[:2]
    field = 1.0 - amount * rng.random((4, 8)).astype(np.float32)
    field = cv2.resize(
        np.repeat(field[..., None], 3, axis=2), (w, h), interpolation=cv2.INTER_LINEAR
    )
    cv2.multiply(plate, field, dst=plate)


def render_plate(
    text: str,
    style: str,
    rng: np.random.Generator,
    colour: PlateColour = "white",
    strip: str | None = None,
    layout: str | None = None,
    font: str | None = None,
    furniture: bool = False,
) -> tuple[np.ndarray, list[Box]]:
    """Draw a flat, front-on plate; returns (BGR uint8 image, one Box per character of `text`).

    `layout` may carry the group gaps ('AB12-CDE'); without it gaps are inferred from the
    style. `font` (one of FONTS, TYPEFACES or VARIANT_FONT) overrides the style's random choice. Boxes
    are in plate pixels, in reading order, and enclose each character's ink. `furniture`
    adds marks that are no part of the number: a coat of arms or a right-hand band
    (`_draw_furniture`), and now and then a dealer's line under it (`_finish`).
    """
    layout = layout if layout is not None else _infer_layout(text, style)
    if layout.replace("-", "") != text:
        raise ValueError(f"layout {layout!r} does not spell {text!r}")
    geo = _geometry(style)
    plate = np.empty((geo.height, geo.width, 3), np.float32)
    us = style == "us"
    plate[:] = _jitter(rng, _US_NAVY if us and colour == "dark" else _BACKGROUNDS[colour], 6)
    ink = _plate_ink(style, colour, rng)
    if us:
        _draw_us_decor(plate, rng, ink, colour == "dark")
    left = float(_draw_strip(plate, strip, rng)) if strip else geo.width * 0.03
    right = geo.width * 0.97
    if furniture:
        left, right = _draw_furniture(plate, rng, left, right, strip is None)
    font = font or _choose_font(style, rng)
    heavy = (13, 15, 17, 19) if us else (11, 13, 15, 17)
    weight = int(rng.choice(heavy) if font.startswith("plate") else rng.choice((9, 12, 15)))
    ch = geo.char_h * rng.uniform(0.94, 1.04)
    separator = _choose_separator(style, rng) if "-" in layout else "gap"
    narrow = 0.85 if font == "plate_narrow" else 1.0
    min_gap = 0.5 * ch if separator in ("emblem", "stickers") else 0.0
    cw, pitch, gap, x0 = _text_layout(layout, geo, rng, left, right, narrow, min_gap)
    y0 = (geo.height - ch) / 2 + (geo.height * 0.05 if us else 0.0) + rng.uniform(-2, 2)
    mask = np.zeros((geo.height, geo.width), np.uint8)
    boxes, gaps = _draw_text(mask, layout, x0, y0, ch, cw, pitch, gap, font, weight)
    if separator == "dash":  # Dutch plates dash every gap, others only the first
        _draw_dashes(
            mask, gaps if style == "nl" else gaps[:1], y0 + ch / 2, cw, weight / 100 * ch * 0.8
        )
    _composite(plate, mask, ink)
    if separator in ("emblem", "stickers"):
        _draw_emblem(plate, gaps[0], y0 + ch / 2, ch, separator, us or rng.random() < 0.3, rng)
    _finish(plate, rng, style, ink, boxes, y0 + ch, dealer_line=furniture)
    return np.clip(plate, 0, 255).astype(np.uint8), boxes


def _plate_ink(style: str, colour: PlateColour, rng: np.random.Generator) -> np.ndarray:
    if colour == "dark":  # old black-and-silver plates; US dark plates print gold or white
        gold = style == "us" and rng.random() < 0.5
        return _jitter(rng, (60, 190, 225) if gold else (215, 215, 215), 8)
    if style == "us":
        return _jitter(rng, _US_INKS[int(rng.integers(0, len(_US_INKS)))], 10)
    return _jitter(rng, (22, 22, 24), 8)


def _finish(
    plate: np.ndarray,
    rng: np.random.Generator,
    style: str,
    ink: np.ndarray,
    boxes: list[Box],
    text_bottom: float,
    dealer_line: bool = False,
) -> None:
    """Border, supplier's line under the number (GB, or any plate with `dealer_line`), screws
    and grime, all in place."""
    h, w = plate.shape[:2]
    ink_t = tuple(float(c) for c in ink)
    if rng.random() < 0.5:
        border = max(1, int(round(h * 0.02)))
        cv2.rectangle(
            plate,
            (border * 2, border * 2),
            (w - 1 - border * 2, h - 1 - border * 2),
            ink_t,
            border,
            cv2.LINE_AA,
        )
    if (style.startswith("gb") or dealer_line) and rng.random() < 0.3 and h - text_bottom > 8:
        dealer = ("MOTOR CENTRE", "AUTO SALES LTD", "PLATES DIRECT", "GARAGE SERVICES")[
            int(rng.integers(0, 4))
        ]
        scale = (h - text_bottom) * 0.025
        (tw, _th), _ = cv2.getTextSize(dealer, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        _put_text(plate, dealer, ((w - tw) // 2, int(h - (h - text_bottom) * 0.25)), cv2.FONT_HERSHEY_SIMPLEX,
                  scale, ink_t, 1)
    if rng.random() < 0.5:
        _add_screws(plate, rng, boxes, style == "us")
    _dirt(plate, rng, rng.uniform(0.0, 0.25))


def _choose_font(style: str, rng: np.random.Generator) -> str:
    weights = (0.45, 0.2, 0.2, 0.15) if style == "us" else (0.6, 0.2, 0.1, 0.1)
    return FONTS[int(rng.choice(len(FONTS), p=weights))]


def _middle_gap(text: str) -> str:
    """Split at the letter/digit change nearest the middle (unchanged if there is none)."""
    changes = [i for i in range(1, len(text)) if text[i - 1].isalpha() != text[i].isalpha()]
    if not changes:
        return text
    cut = min(changes, key=lambda i: abs(i - len(text) / 2))
    return text[:cut] + "-" + text[cut:]


def _infer_layout(text: str, style: str) -> str:
    """Gap positions for a bare registration, as the style prints it."""
    if style == "gb_current" and len(text) == 7:
        return text[:4] + "-" + text[4:]
    if style == "gb_prefix" and len(text) >= 5:
        return text[:-3] + "-" + text[-3:]
    if style == "gb_suffix" and len(text) >= 5:
        return text[:3] + "-" + text[3:]
    if style == "us":
        return text
    # Elsewhere: a gap wherever letters turn into digits or back, at most two.
    out, gaps = [text[0]], 0
    for prev, char in zip(text, text[1:]):
        if prev.isalpha() != char.isalpha() and gaps < 2:
            out.append("-")
            gaps += 1
        out.append(char)
    return "".join(out)


# ---------------------------------------------------------------------------------------
# Random plates with sensible mixes of style, colour and national band
# ---------------------------------------------------------------------------------------

_STYLE_WEIGHTS = {
    "gb_current": 0.21,
    "gb_prefix": 0.06,
    "gb_suffix": 0.04,
    "gb_dateless": 0.04,
    "eu": 0.17,
    "nl": 0.09,
    "pl": 0.09,
    "us": 0.30,
}
_EU_CODES = ("SK", "CZ", "D", "A", "PL", "F", "I", "E", "B", "SLO", "H", "LT")


def random_colour_and_strip(style: str, rng: np.random.Generator) -> tuple[PlateColour, str | None]:
    """Plate colour and national band typical of `style` (front white / rear yellow in GB)."""
    r = rng.random()
    if style.startswith("gb"):
        if style == "gb_dateless" and r < 0.35:
            return "dark", None
        colour: PlateColour = "white" if r < 0.5 else ("yellow" if r < 0.93 else "grey")
        strip_roll = rng.random()
        if style == "gb_current" and strip_roll < 0.45:
            return colour, ("UK" if strip_roll < 0.2 else "GB")
        return colour, None
    if style == "nl":
        return ("yellow" if r < 0.9 else "grey"), "NL"
    if style == "pl":
        return ("white" if r < 0.9 else "grey"), "PL"
    if style == "eu":
        colour = "white" if r < 0.85 else ("grey" if r < 0.95 else "yellow")
        return colour, _EU_CODES[int(rng.integers(0, len(_EU_CODES)))]
    return ("white" if r < 0.7 else "dark" if r < 0.85 else "grey" if r < 0.93 else "yellow"), None


def random_plate(
    rng: np.random.Generator,
    variant_share: float = 0.0,
    typeface_share: float = 0.0,
    furniture_share: float = 0.0,
) -> tuple[np.ndarray, str, str]:
    """A random plate image with its label and style, mixed GB 35% / EU+NL+PL 35% / US 30%.

    `variant_share` of the plates use the stroke font's variant glyphs (VARIANT_FONT),
    `typeface_share` of the others one of the TrueType TYPEFACES, and `furniture_share` of
    the continental (eu) plates carry a coat of arms, a right-hand band or a dealer's line
    (`_draw_furniture`); at 0 no extra random draw is made, so the project's samples stay
    byte-identical.
    """
    styles = list(_STYLE_WEIGHTS)
    style = styles[int(rng.choice(len(styles), p=list(_STYLE_WEIGHTS.values())))]
    layout = random_plate_layout(style, rng)
    colour, strip = random_colour_and_strip(style, rng)
    text = layout.replace("-", "")
    font = VARIANT_FONT if variant_share > 0 and rng.random() < variant_share else None
    if font is None and typeface_share > 0 and rng.random() < typeface_share:
        font = TYPEFACES[int(rng.integers(len(TYPEFACES)))]
    furniture = furniture_share > 0 and style == "eu" and rng.random() < furniture_share
    if furniture and rng.random() < 0.4:
        strip = None  # a coat of arms instead of the band
    image, _boxes = render_plate(text, style, rng, colour, strip, layout=layout, font=font, furniture=furniture)
    return image, text, style


# ---------------------------------------------------------------------------------------
# Camera degradations
# ---------------------------------------------------------------------------------------


def perspective_quad(w: int, h: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Corners (tl, tr, br, bl) of a w x h plate seen with random yaw, pitch, shear and roll."""
    tl, tr, br, bl = (np.array(p, np.float32) for p in ((0, 0), (w, 0), (w, h), (0, h)))
    yaw = rng.uniform(-0.25, 0.25) * strength  # the far side looks shorter
    far_top, far_bottom = (tr, br) if yaw > 0 else (tl, bl)
    far_top[1] += abs(yaw) * h / 2
    far_bottom[1] -= abs(yaw) * h / 2
    pitch = rng.uniform(-0.1, 0.1) * strength  # camera above or below: one edge shorter
    near_left, near_right = (tl, tr) if pitch > 0 else (bl, br)
    near_left[0] += abs(pitch) * w / 2
    near_right[0] -= abs(pitch) * w / 2
    shear = rng.uniform(-0.2, 0.2) * strength * h
    tl[0] += shear
    tr[0] += shear
    corners = np.stack([tl, tr, br, bl])
    angle = math.radians(rng.uniform(-8, 8) * strength)
    centre = corners.mean(axis=0)
    rot = np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], np.float32
    )
    return ((corners - centre) @ rot.T + centre).astype(np.float32)


def _surround(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Vehicle-body-like background (mostly muted paint) for the margin around a warped crop.

    Built at a quarter of the size and enlarged: paint is smooth, sensor grain comes later.
    """
    h, w = shape
    sh, sw = max(2, h // 4), max(2, w // 4)
    grey = rng.uniform(20, 235)
    base = np.clip(grey + rng.normal(0, 25, 3), 0, 255).astype(np.float32)
    grad = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.2), sh, dtype=np.float32)[
        :, None, None
    ]
    small = base * grad + rng.normal(0, 6, (sh, sw, 1)).astype(np.float32)
    return cv2.resize(
        np.clip(small, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR
    )


def _warp_into_crop(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Warp the plate by a random perspective into a same-sized crop with a loose margin."""
    h, w = image.shape[:2]
    quad = perspective_quad(w, h, rng, strength)
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    margin = rng.uniform(0.0, 0.12, 2) * np.array([w, h])
    scale = min((w - 2 * margin[0]) / (hi[0] - lo[0]), (h - 2 * margin[1]) / (hi[1] - lo[1]))
    offset = np.array([w, h]) / 2 - (lo + hi) / 2 * scale + rng.uniform(-0.5, 0.5, 2) * margin
    dst = (quad * scale + offset).astype(np.float32)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    out = _surround((h, w), rng)
    cv2.warpPerspective(
        image, matrix, (w, h), dst=out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT
    )
    return out.astype(np.float32)


# A dealer's plate holder: its bands beyond the plate's edges (top, bottom: shares of the plate's
# height; sides: of its width) and how far they reach over the plate (top and bottom, of its height;
# the top band hides the state's name, the bottom one stops short of the glyphs' feet)
_HOLDER_OUT = ((0.10, 0.30), (0.10, 0.30), (0.02, 0.08))
_HOLDER_OVER = ((0.0, 0.22), (0.0, 0.08))
_HOLDER_TEXT = 0.7  # share of the bands that carry the dealer's print
_HOLDER_FACES = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
                 cv2.FONT_HERSHEY_TRIPLEX)


def add_holder(plate: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Box]:
    """The plate (a BGR uint8 scan of the plate alone) set in a dealer's holder: a black,
    chrome or white frame around it whose bands reach over its edges, often printed with the
    dealer's name, town or telephone number in capitals just above and below the number.
    Returns the holder's image and where the plate lies in it.

    Why: in the US most cars leave the dealer with their plate in such a holder, and its
    print sits a few pixels from the registration's glyphs, a third to half as tall, while
    the training crops are scans of bare plates. The tuning stills' `--holders` set measures
    what holders cost the reader (little, as drawn here), and the training tool's
    `--real-holder-share` teaches them (no gain: docs/reading.md, thirteenth session)."""
    h, w = plate.shape[:2]
    top, bottom = (int(round(h * rng.uniform(*share))) for share in _HOLDER_OUT[:2])
    side = int(round(w * rng.uniform(*_HOLDER_OUT[2])))
    over_top, over_bottom = (int(round(h * rng.uniform(*share))) for share in _HOLDER_OVER)
    frame, ink = _holder_colours(rng)
    out = cv2.copyMakeBorder(plate, top, bottom, side, side, cv2.BORDER_CONSTANT, value=frame)
    out[top:top + over_top] = frame
    out[top + h - over_bottom:top + h] = frame
    inner_top, inner_bottom = top + over_top, top + h - over_bottom
    for y0, y1 in ((0, inner_top), (inner_bottom, out.shape[0])):
        if rng.random() < _HOLDER_TEXT:
            _print_holder_line(out, y0, y1, side, side + w, ink, rng)
    return out, Box(side, top, w, h)


def _holder_colours(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A holder's colour and its print's: black with white, silver or gold print (most),
    chrome with dark print, or white with dark print."""
    kind = rng.choice(3, p=(0.6, 0.3, 0.1))
    if kind == 0:
        frame = int(rng.integers(10, 55))
        ink = (255, 255, 255) if rng.random() < 0.5 else tuple(int(c) for c in rng.uniform(150, 235, 3))
        return (frame,) * 3, ink
    frame = int(rng.integers(150, 215)) if kind == 1 else int(rng.integers(215, 245))
    return (frame,) * 3, tuple(int(c) for c in rng.uniform(0, 70, 3))


def _print_holder_line(image: np.ndarray, y0: int, y1: int, x0: int, x1: int, ink: tuple[int, ...],
                       rng: np.random.Generator) -> None:
    """One line of a dealer's print (a name, a town or a telephone number) centred in the
    band between rows `y0` and `y1`, at most as wide as columns `x0` to `x1` (in place)."""
    band = y1 - y0
    if band < 5 or x1 - x0 < 10:
        return
    words = [_pick(rng, _LETTERS, int(rng.integers(3, 9))) for _ in range(int(rng.integers(1, 4)))]
    text = " ".join(words) if rng.random() < 0.7 else \
        f"({_pick(rng, _DIGITS, 3)}) {_pick(rng, _DIGITS, 3)}-{_pick(rng, _DIGITS, 4)}"
    face = _HOLDER_FACES[int(rng.integers(len(_HOLDER_FACES)))]
    thickness = max(1, int(round(band * rng.uniform(0.06, 0.14))))
    (tw, th), _ = cv2.getTextSize(text, face, 1.0, thickness)
    scale = min(band * rng.uniform(0.5, 0.8) / th, (x1 - x0) * 0.95 / tw)
    (tw, th), _ = cv2.getTextSize(text, face, scale, thickness)
    org = ((x0 + x1 - tw) // 2, y0 + (band + th) // 2)
    cv2.putText(image, text, org, face, scale, ink, thickness, cv2.LINE_AA)


def add_glare(img: np.ndarray, rng: np.random.Generator, intensity: float) -> None:
    """Additive soft highlight (headlight or sun reflection) at a random spot (in place, float)."""
    h, w = img.shape[:2]
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    sy, sx = h * rng.uniform(0.1, 0.5), w * rng.uniform(0.05, 0.3)
    ys = ((np.arange(h, dtype=np.float32) - cy) / sy) ** 2
    xs = ((np.arange(w, dtype=np.float32) - cx) / sx) ** 2
    img += (255 * intensity * np.exp(-0.5 * (ys[:, None] + xs[None, :])))[..., None]


def add_shadow(img: np.ndarray, rng: np.random.Generator, depth: float) -> None:
    """Darken one side of a random soft-edged line, like a pole or body shadow (in place)."""
    h, w = img.shape[:2]
    angle = rng.uniform(0, 2 * math.pi)
    nx, ny = math.cos(angle), math.sin(angle)
    offset = rng.uniform(-0.3, 0.3) * (w * abs(nx) + h * abs(ny))
    dist = (np.arange(w, dtype=np.float32)[None, :] - w / 2) * nx + (
        np.arange(h, dtype=np.float32)[:, None] - h / 2
    ) * ny
    soft = max(2.0, 0.05 * max(h, w))
    img *= (1.0 - depth / (1.0 + np.exp(-(dist - offset) / soft)))[..., None]


def motion_blur(img: np.ndarray, rng: np.random.Generator, length: int) -> np.ndarray:
    """Linear blur along a random direction, as from a vehicle moving during the exposure."""
    if length < 2:
        return img
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))


def to_night_ir(
    img: np.ndarray, rng: np.random.Generator, plate_mask: np.ndarray | None = None
) -> np.ndarray:
    """Grey IR-camera look: desaturated, dark surroundings, bright retro-reflective plate.

    `plate_mask` (float 0..1, HxW) marks the plate; without it the whole image counts as
    plate (a tight crop), which only compresses contrast and greys it.
    """
    grey = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(
        np.float32
    )
    gain = rng.uniform(0.25, 0.5)
    lifted = 255.0 * (grey / 255.0) ** rng.uniform(0.6, 0.9)
    if plate_mask is None:
        out = lifted * rng.uniform(0.7, 1.0)
    else:
        out = grey * gain * (1 - plate_mask) + lifted * plate_mask
    return np.repeat(out[..., None], 3, axis=2)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through JPEG at `quality`, as a camera stream or archive would."""
    ok, buf = cv2.imencode(
        ".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def degrade(image: np.ndarray, rng: np.random.Generator, strength: float = 0.5) -> np.ndarray:
    """A camera's view of a flat plate image, same size as the input, BGR uint8.

    `strength` in [0, 1] scales every effect: skew and roll (up to +-8 degrees), capture
    resolution (plate 200 down to 60 px wide), blur, noise, JPEG, glare, shadow, low
    contrast and the grey night/IR look. The plate is warped into a loose crop the way a
    localiser would cut it, then resampled back to the input size.
    """
    strength = float(np.clip(strength, 0.0, 1.0))
    h, w = image.shape[:2]
    img = _warp_into_crop(image, rng, strength)
    if rng.random() < 0.3 * strength:
        add_shadow(img, rng, rng.uniform(0.2, 0.6))
    if rng.random() < 0.25 * strength:
        add_glare(img, rng, rng.uniform(0.3, 0.9))
    if rng.random() < 0.4 * strength:  # low contrast: squash towards a grey level
        level, keep = rng.uniform(60, 190), rng.uniform(0.35, 0.8)
        img = level + (img - level) * keep
    if rng.random() < 0.15 * strength:
        img = to_night_ir(img, rng)
    small_w = int(round(rng.uniform(200 - 140 * strength, 200)))
    small_h = max(8, int(round(h * small_w / w)))
    small = cv2.resize(np.clip(img, 0, 255), (small_w, small_h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5 * strength:
        small = motion_blur(small, rng, int(rng.integers(2, 2 + int(4 * strength) + 1)))
    if rng.random() < 0.4 * strength:
        small = cv2.GaussianBlur(small, (0, 0), rng.uniform(0.3, 0.6 + 0.8 * strength))
    small = small + rng.normal(0, 1 + 10 * strength * rng.random(), small.shape).astype(np.float32)
    small = jpeg(small, int(rng.uniform(95 - 65 * strength, 96)))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
