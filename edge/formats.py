"""Plate-format post-processing: turn a recogniser's per-character probabilities into
ranked plate texts with calibrated confidences, a country and a format name.

Why a probabilistic format model instead of regex clean-up: the recogniser confuses
look-alikes (0/O, 1/I, 5/S, 8/B, 2/Z, 6/G, 4/A, 7/T, D/0 ...). A plate format tells us
which positions must hold a letter and which a digit, and the recogniser's softmax says
how likely each look-alike was, so we can choose the most probable string *that the
format allows* and say how sure we are, rather than blindly swapping characters.

Model (Bayes, rows treated as calibrated per-character posteriors under a uniform
character prior). A hypothesis is (window, format, string):

* window: which rows belong to the plate. The whole raw string (prior 0.97), it without
  its first (0.01) or last (0.02) character, because the blue EU strip or emblem on the
  left, or a plate border, is sometimes read as an extra character ('D', 'I', '9', 'B' ...),
  or it without one interior character (0.08 each) when that row is weak (top
  probability under 0.6, or under 0.8 when it repeats the previous row's character),
  the marks of a spurious glyph or a CTC double emission. Continental (eu) formats
  expect the strip: for them the whole string has 0.78 and the first-dropped cut 0.20,
  but only when the first row is unsure (under CRISP_FIRST): a strip is no glyph, and a
  crisp first row is a real first letter (Polish 'PSE 22800'), cut at the plain 0.01.
  A dropped character is uninformative junk, so a window pays only its prior, while
  keeping a row pays that row's likelihood: a weak row is cheap to drop.
* format: a per-position list of allowed character classes with a relative prior
  weight; each string the format allows is equally likely a priori, except that a
  "soft" class member counts at a fraction of a full member's prior weight.

Score(window, format, string) = w_window * w_format * prod_i p_i(s_i) * (|alphabet| * q_i(s_i))^k,
where q_i is the position's prior over characters (1/|class_i| for a plain class). The
|alphabet| * q factor is the uniform-prior correction: a position that must be a digit
makes every digit ~3.6x more likely than a uniform prior would, which is what lets a
7-row window that fits a national layout beat the whole 8-row string read as an
unstructured plate. The exponent k = CLASS_PRIOR_POWER is 1 (the plain Bayes
correction). tools/tune_formats.py measures it: on synthetic and held-out real crops k =
0.3 reads 88% exact against 84% at k = 1, but those crops never show a blue strip read as
a character (the recogniser learned to skip the synthetic strip), and cutting a real strip
needs the full correction; on the real evaluation photos the two were within 2 plates of
each other in 356, so the plain correction stays. Summing the score over every string of
every hypothesis is cheap in closed form (product of per-position class masses), so each
candidate text's confidence is its summed score over that total: a posterior, hence in
[0, 1] and summing to at most 1 over candidates. Only the top strings of each format are
enumerated (a vectorised beam over the (len, alphabet) matrix). Formats marked "needs a digit" are modelled as
all-alphanumeric for the total and give digit-free strings a 0.1 factor, so the total
over-counts slightly and sums stay <= 1. A character under 10% of its row's best is
treated as impossible (a softmax's far tail is not calibrated, and with over a hundred
layouts some prior would otherwise outbid a crisp read), so crisp characters are never
rewritten, only ends cut.

Classes: L letter, D digit, A letter or digit, N digit 1-9, M letter but not I/Q/Z,
R letter but not I/Q, Y year letter: not I/O/Q/U/Z, K Dutch letter: BDFGHJKLMNPRSTVXZ,
c Czech region letter: ABCEHJKLMPSTUZ, z Czech series letter: not G/O/Q/W, p Polish
series letter: not B/D/I/O/Z, e Spanish letter: consonants but not Q, i Italian letter:
not I/O/Q/U, f French letter: not I/O/U, b Bulgarian letter (Cyrillic look-alikes):
ABCEHKMOPTXY, h Greek letter (Greek look-alikes): ABEHIKMNOPTXYZ, d US digit with a soft
letter O, l US letter with a soft digit 0 (the soft twin at SOFT_WEIGHT, 0.7, of a member's
prior): the round glyph fits any US slot. Most states print O and 0 alike, and the US
labels write that round glyph 0 among letters too (vanity C0UGAR, series P0W9999): of the 109
round glyphs beside a letter in the training split of openalpr-us-platecrops' labels, 94 are
0 and 15 O. So a US layout's string is spelled with 0 for every O (`_spelled`), and its
score joins the same spelling's from the other layouts: the recogniser's O or 0 for the glyph
(trained on synthetic US plates that printed O among letters) no longer decides the text.

Weights are relative within a country; each configured country gets an equal share,
ties go to the country listed first in `plates.countries`.

=========  =================  ================================  ===========================
country    format             pattern                           weight
=========  =================  ================================  ===========================
gb         gb_current         MMDDRRR (AB12CDE)                 0.80
gb         gb_prefix          YN RRR, YND RRR, YNDD RRR         0.10 split over 3
gb         gb_suffix          RRR N Y, RRR ND Y, RRR NDD Y      0.05 split over 3
gb         gb_dateless        L{1,3}ND{0,3}, ND{0,3}L{1,3}      0.05 split over 24
nl         nl_sidecode_1-3    LLDDDD, DDDDLL, DDLLDD            0.02 each
nl         nl_sidecode_4-14   KKDDKK, KKKKDD, DDKKKK, DDKKKD,   4: .06, 5-6: .08, 7-11: .10,
                              DKKKDD, KKDDDK, KDDDKK, KKKDDK,   12-13: .06, 14: .04
                              KDDKKK, DKKDDD, DDDKKD
eu         eu_<codes>         national layouts, table below     0.86 in all
eu         eu_structured      L{1,3} D{1,4} L{0,3}              0.12, by length (2-10): .01,.03,
                                                                .08,.15,.27,.30,.12,.03,.01
eu         eu_generic         A{4..8}, needs a digit            0.02, by length 1,2,3,3,2
<code>     <code>_<example>   that country's national layouts   the shares of the table below
                              (de, fr, es, pl, cz, ...)         (a unit in that country)
us         us_<example>       state layouts, table below        0.70 in all (fleet .35, observed .35)
us         us_generic         A{2..8}                           0.30, by length .5,1,1,2,4,5,1
generic    generic            A{3..10}, needs a digit           by length 1,2,3,4,5,4,2,1
=========  =================  ================================  ===========================

European national layouts (current standard series, the ones a roadside camera meets
daily). A country's weight is about the square root of its passenger-car fleet in
millions, so big fleets count more without drowning small ones; it is split over the
country's layouts by the shares shown. Layouts that several countries share (same
pattern) are one format named after all of them, e.g. eu_be_fi_hu_lt_se for LLLDDD.
Austria and Slovenia issue too many serial shapes to list; the structured grammar
covers them.

=======  ======  ============================================================
country  weight  layouts (share)
=======  ======  ============================================================
de       7.0     L{2..5} N D{0..3}, at most 8 chars (district 1-3 letters .2/.4/.4,
                 then 1-2 letters .3/.7; number of 1-4 digits .05/.15/.35/.45)
fr       6.0     ffDDDff (SIV, AB-123-CD)
it       6.0     iiDDDii (AB 123 CD)
es       5.0     DDDDeee (.9); old provincial L{1,2} DDDD L{1,2} (.1 split over 4)
pl       5.0     LL DDDDD (.25), LL DDDDp, LL DDDpp (.12 each), LL DpDDD (.06),
                 LL DppDD (.05), LLL DDDDD, LLL DDDDp, LLL DDDpp (.06 each),
                 LLL pDDD, LLL DpDD, LLL DDpD, LLL DppD, LLL DDpp, LLL ppDD (.04 each)
ro       3.0     LL DD LLL (.6), L DDD LLL (.25), L DD LLL (.15)
cz       2.5     N c DDDDD (.8), N c z DDDD (.2)
be       2.5     N LLL DDD (.8), LLL DDD (.2)
pt       2.2     DD LL DD (.35), LL DD LL (.3), DD DD LL (.25), LL DD DD (.1)
gr       2.2     hhh DDDD
se       2.2     LLL DDD (.7), LLL DDL (.3)
hu       2.0     LLL DDD (.8), LL LL DDD (.2)
ch       2.0     LL N D{0..5} (equal shares)
bg       1.7     b DDDD bb, bb DDDD bb (.5 each)
fi       1.7     LLL DDD
sk       1.6     LL DDD LL
dk, no   1.6     LL DDDDD
ie       1.4     D{2,3} L{1,2} N D{0..5} (equal shares)
hr       1.3     LL DDDD LL (.4), LL DDD LL (.3), LL DDDD L, LL DDD L (.15 each)
lt       1.2     LLL DDD
ee       0.9     DDD LLL
lv       0.8     LL DDDD
lu       0.6     LL DDDD
=======  ======  ============================================================

US state layouts (classes l and d: the round glyph fits any slot, written 0). Two sources,
half the layout share each: *fleet* shares of the big states' series (ABC1234 in TX, NY, PA, OH, MI, GA,
NC, VA, WA, AZ; 1ABC234 in CA; AB1C2D in MO), and the *observed* shapes of the training split of
openalpr-us-platecrops (672 plates, about 50 states; shapes seen at least 3 times, at
their observed share). The fleet half says which series most cars carry; the observed
half lists the shapes that exist at all (A123456, 123456, ABC12D ...), which a guessed
list missed: a crisp first letter was then cut to fit a digits-only layout. Vanity and
specialty plates fall to us_generic.

==========  ======  ==========  ======  ==========  ======  ==========  ======
fleet       share   fleet       share   fleet       share   fleet       share
==========  ======  ==========  ======  ==========  ======  ==========  ======
us_abc1234  .30     us_1abc234  .15     us_123abc   .10     us_abc123   .10
us_ab1234   .04     us_ab12345  .04     us_a12bcd   .03     us_1abc23   .03
us_1ab234   .03     us_1ab2345  .02     us_abc12d   .02     us_1234ab   .02
us_abcd12   .02     us_123456   .02     us_1234567  .02     us_ab1c2d   .02
==========  ======  ==========  ======  ==========  ======  ==========  ======

The observed counts are `_US_OBSERVED` (regenerate: tools/tune_formats.py --us-layouts).

When "generic" is not configured it is still present as a fallback with 2% of the
prior, so an unexpected plate still gets a (low-confidence) reading.

Decision on `plates.min_confidence`: the formatter returns a read whatever its
confidence (None only when no format fits the length at all); the pipeline drops reads
under min_confidence, while multi-frame voting can still use the weak frame's evidence.
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Sequence

import numpy as np

from edge.config import PlatesConfig
from edge.types import PlateRead, ScoredText

log = logging.getLogger(__name__)

_CLASSES = {
    "L": string.ascii_uppercase,
    "D": string.digits,
    "A": string.ascii_uppercase + string.digits,
    "N": "123456789",
    "M": "ABCDEFGHJKLMNOPRSTUVWXY",
    "R": "ABCDEFGHJKLMNOPRSTUVWXYZ",
    "Y": "ABCDEFGHJKLMNPRSTVWXY",
    "K": "BDFGHJKLMNPRSTVXZ",
    "c": "ABCEHJKLMPSTUZ",
    "z": "ABCDEFHIJKLMNPRSTUVXYZ",
    "p": "ACEFGHJKLMNPQRSTUVWXY",
    "e": "BCDFGHJKLMNPRSTVWXYZ",
    "i": "ABCDEFGHJKLMNPRSTVWXYZ",
    "f": "ABCDEFGHJKLMNPQRSTVWXYZ",
    "b": "ABCEHKMOPTXY",
    "h": "ABEHIKMNOPTXYZ",
    "d": string.digits,
    "l": string.ascii_uppercase,
}
# Members a class admits at SOFT_WEIGHT of a full member's prior (see module docstring).
_SOFT = {"d": "O", "l": "0"}
SOFT_WEIGHT = 0.7

WINDOW_PRIORS = {"full": 0.97, "drop_first": 0.01, "drop_crisp_first": 0.01, "drop_last": 0.02, "drop_inner": 0.08}
# Continental plates carry the blue strip, which the recogniser often reads as a character
# on real cameras (tools/tune_formats.py cannot measure this: its synthetic strips are ones
# the recogniser learned to skip, so it favours lower first-cut priors than real crops need).
# A strip is no glyph, so it reads unsure: the strip prior applies to a first row under
# CRISP_FIRST, while a crisp first row (a real first letter, as on Polish plates) is cut
# with the plain prior.
COUNTRY_WINDOW_PRIORS = {"eu": {**WINDOW_PRIORS, "full": 0.78, "drop_first": 0.20}}
_WINDOW_KINDS = ("full", "drop_first", "drop_last", "drop_inner", "drop_crisp_first")
# A correctly read first character reaches this probability in 96% of the reads of
# tools/tune_formats.py's synthetic and held-out real crops.
CRISP_FIRST = 0.9
# An interior row is a drop candidate when its best character is under WEAK_ROW, or under
# REPEAT_ROW when it repeats the previous row's best (a CTC double emission); a crisp
# repeat is far more often a real double letter or digit.
WEAK_ROW = 0.6
REPEAT_ROW = 0.8
NO_DIGIT_FACTOR = 0.1
SWAP_FLOOR = 0.1
FALLBACK_SHARE = 0.02
# Exponent k of the class-mass correction (see the module docstring for why it is 1).
CLASS_PRIOR_POWER = 1.0
_FLOOR = 1e-9
_DIGIT_CLASSES = "DNd"
MIN_REPORTED = 1e-4


@dataclass(frozen=True, slots=True)
class PlateFormat:
    """One plate layout: a class letter per position (see module docstring)."""

    name: str
    country: str
    pattern: str
    weight: float
    needs_digit: bool = False


def _gb_formats() -> list[PlateFormat]:
    formats = [PlateFormat("gb_current", "gb", "MMDDRRR", 0.80)]
    for extra in range(3):
        number = "N" + "D" * extra
        formats.append(PlateFormat("gb_prefix", "gb", "Y" + number + "RRR", 0.10 / 3))
        formats.append(PlateFormat("gb_suffix", "gb", "RRR" + number + "Y", 0.05 / 3))
    for letters in range(1, 4):
        for extra in range(4):
            number = "N" + "D" * extra
            formats.append(PlateFormat("gb_dateless", "gb", "L" * letters + number, 0.05 / 24))
            formats.append(PlateFormat("gb_dateless", "gb", number + "L" * letters, 0.05 / 24))
    return formats


_NL_SIDECODES = [
    ("LLDDDD", 0.02), ("DDDDLL", 0.02), ("DDLLDD", 0.02), ("KKDDKK", 0.06), ("KKKKDD", 0.08),
    ("DDKKKK", 0.08), ("DDKKKD", 0.10), ("DKKKDD", 0.10), ("KKDDDK", 0.10), ("KDDDKK", 0.10),
    ("KKKDDK", 0.10), ("KDDKKK", 0.06), ("DKKDDD", 0.06), ("DDDKKD", 0.04),
]


def _even(patterns: Sequence[str]) -> list[tuple[str, float]]:
    return [(pattern, 1.0) for pattern in patterns]


def _german() -> list[tuple[str, float]]:
    """District (1-3 letters) + 1-2 letters + a number 1-9999, 8 characters at most."""
    district, series = {1: 0.2, 2: 0.4, 3: 0.4}, {1: 0.3, 2: 0.7}
    digits = {1: 0.05, 2: 0.15, 3: 0.35, 4: 0.45}
    layouts: dict[str, float] = {}
    for a, wa in district.items():
        for b, wb in series.items():
            for c, wc in digits.items():
                if a + b + c <= 8:
                    pattern = "L" * (a + b) + "N" + "D" * (c - 1)
                    layouts[pattern] = layouts.get(pattern, 0.0) + wa * wb * wc
    return list(layouts.items())


# (country code, weight ~ sqrt(passenger-car fleet in millions), [(pattern, share)]).
_EU_NATIONAL: list[tuple[str, float, list[tuple[str, float]]]] = [
    ("de", 7.0, _german()),
    ("fr", 6.0, [("ffDDDff", 1.0)]),
    ("it", 6.0, [("iiDDDii", 1.0)]),
    ("es", 5.0, [("DDDDeee", 0.9)] + [("L" * a + "DDDD" + "L" * b, 0.1 / 4) for a in (1, 2) for b in (1, 2)]),
    ("pl", 5.0, [("LLDDDDD", 2.0), ("LLDDDDp", 1.0), ("LLDDDpp", 1.0), ("LLDpDDD", 0.5), ("LLDppDD", 0.5),
                 ("LLLDDDDD", 1.0), ("LLLDDDDp", 1.0), ("LLLDDDpp", 1.0)]
     + _even(["LLL" + serial for serial in ("pDDD", "DpDD", "DDpD", "DppD", "DDpp", "ppDD")])),
    ("ro", 3.0, [("LLDDLLL", 0.6), ("LDDDLLL", 0.25), ("LDDLLL", 0.15)]),
    ("cz", 2.5, [("NcDDDDD", 0.8), ("NczDDDD", 0.2)]),
    ("be", 2.5, [("NLLLDDD", 0.8), ("LLLDDD", 0.2)]),
    ("pt", 2.2, [("DDLLDD", 0.35), ("LLDDLL", 0.3), ("DDDDLL", 0.25), ("LLDDDD", 0.1)]),
    ("gr", 2.2, [("hhhDDDD", 1.0)]),
    ("se", 2.2, [("LLLDDD", 0.7), ("LLLDDL", 0.3)]),
    ("hu", 2.0, [("LLLDDD", 0.8), ("LLLLDDD", 0.2)]),
    ("ch", 2.0, _even(["LLN" + "D" * extra for extra in range(6)])),
    ("bg", 1.7, _even(["bDDDDbb", "bbDDDDbb"])),
    ("fi", 1.7, [("LLLDDD", 1.0)]),
    ("sk", 1.6, [("LLDDDLL", 1.0)]),
    ("dk", 1.6, [("LLDDDDD", 1.0)]),
    ("no", 1.6, [("LLDDDDD", 1.0)]),
    ("ie", 1.4, _even(["D" * y + "L" * k + "N" + "D" * s for y in (2, 3) for k in (1, 2) for s in range(6)])),
    ("hr", 1.3, [("LLDDDDLL", 0.4), ("LLDDDLL", 0.3), ("LLDDDDL", 0.15), ("LLDDDL", 0.15)]),
    ("lt", 1.2, [("LLLDDD", 1.0)]),
    ("ee", 0.9, [("DDDLLL", 1.0)]),
    ("lv", 0.8, [("LLDDDD", 1.0)]),
    ("lu", 0.6, [("LLDDDD", 1.0)]),
]
# Every national code with the blue strip shares the "eu" window priors (the same dict, so
# tools/tune_formats.py tunes them together); Swiss plates carry no strip.
COUNTRY_WINDOW_PRIORS.update({code: COUNTRY_WINDOW_PRIORS["eu"] for code, _, _ in _EU_NATIONAL if code != "ch"})
EU_SHARES = {"national": 0.86, "structured": 0.12, "generic": 0.02}
# The grammar's mass by plate length: most European plates have 6-7 characters, and the
# long ones are national layouts already, so a long grammar reading is rarely the plate.
EU_GRAMMAR_LENGTHS = {2: 0.01, 3: 0.03, 4: 0.08, 5: 0.15, 6: 0.27, 7: 0.30, 8: 0.12, 9: 0.03, 10: 0.01}


def _eu_formats() -> list[PlateFormat]:
    """National layouts (merged where countries share a pattern), then the grammar, then A{4..8}."""
    total = sum(weight for _, weight, _ in _EU_NATIONAL)
    merged: dict[str, tuple[set[str], float]] = {}
    for code, weight, layouts in _EU_NATIONAL:
        shares = sum(share for _, share in layouts)
        for pattern, share in layouts:
            codes, mass = merged.get(pattern, (set(), 0.0))
            merged[pattern] = (codes | {code}, mass + EU_SHARES["national"] * weight / total * share / shares)
    formats = [PlateFormat("eu_" + "_".join(sorted(codes)), "eu", pattern, mass)
               for pattern, (codes, mass) in merged.items()]
    grammar = ["L" * a + "D" * b + "L" * c for a in range(1, 4) for b in range(1, 5) for c in range(4)]
    per_length = {n: sum(len(p) == n for p in grammar) for n in EU_GRAMMAR_LENGTHS}
    structured = EU_SHARES["structured"]
    formats += [PlateFormat("eu_structured", "eu", p, structured * EU_GRAMMAR_LENGTHS[len(p)] / per_length[len(p)])
                for p in grammar]
    lengths = [1, 2, 3, 3, 2]
    formats += [PlateFormat("eu_generic", "eu", "A" * (4 + i), EU_SHARES["generic"] * w / sum(lengths), True)
                for i, w in enumerate(lengths)]
    return formats


_US_FLEET = [
    ("ABC1234", 0.30), ("1ABC234", 0.15), ("123ABC", 0.10), ("ABC123", 0.10), ("AB1234", 0.04),
    ("AB12345", 0.04), ("A12BCD", 0.03), ("1ABC23", 0.03), ("1AB234", 0.03), ("1AB2345", 0.02),
    ("ABC12D", 0.02), ("1234AB", 0.02), ("ABCD12", 0.02), ("123456", 0.02), ("1234567", 0.02),
    ("AB1C2D", 0.02),
]
# Shapes (L letter, D digit) of the openalpr-us-platecrops training split seen >= 3 times.
_US_OBSERVED = {
    "DDDLLL": 121, "LLLDDD": 97, "LLLDDDD": 61, "LLLLLLL": 26, "LLDDDD": 24, "DDDDDD": 23, "DDDDLL": 22,
    "LLDDD": 19, "DDDD": 18, "DDDDDDD": 17, "LLLDDL": 15, "DLLLDDD": 15, "DDDDD": 14, "LLLLLL": 14,
    "LDDDDDD": 13, "LLLLL": 9, "LDDDLL": 8, "DLLDDD": 8, "DDLLDD": 7, "LLDLDDD": 7, "DDDDDL": 5,
    "DDDDL": 5, "DLDDDDL": 4, "LLLL": 4, "LLDLLLL": 4, "LLLLLLD": 4, "LDDDD": 4, "DDDLLD": 4, "D": 4,
    "LLDLDL": 4, "DLDDDD": 4, "LDDDDD": 3, "LLDLL": 3, "LLLLDLL": 3, "DLLDDDD": 3, "DLDDD": 3,
    "LDLDLL": 3, "DDLL": 3, "DLLLDD": 3, "LLLDD": 3, "DDD": 3,
}
US_SHARES = {"fleet": 0.35, "observed": 0.35, "generic": 0.30}


def plate_shape(text: str) -> str:
    """'AB12CDE' -> 'LLDDLLL': the letter/digit shape a layout table is written in."""
    return "".join("D" if ch.isdigit() else "L" for ch in text)


def _layout_name(country: str, pattern: str) -> str:
    """('us', 'LLDDDD') -> 'us_ab1234': letters and digits counted up in order, as in the tables."""
    letters, digits = iter("abcdefghij"), iter("1234567890")
    return country + "_" + "".join(next(digits) if code in _DIGIT_CLASSES else next(letters) for code in pattern)


def _us_formats() -> list[PlateFormat]:
    """Fleet and observed state layouts in the US classes (l, d), then the vanity-friendly A{2..8}."""
    shares: dict[str, float] = {}
    fleet_total = sum(share for _, share in _US_FLEET)
    for example, share in _US_FLEET:
        shape = plate_shape(example)
        shares[shape] = shares.get(shape, 0.0) + US_SHARES["fleet"] * share / fleet_total
    observed_total = sum(_US_OBSERVED.values())
    for shape, count in _US_OBSERVED.items():
        shares[shape] = shares.get(shape, 0.0) + US_SHARES["observed"] * count / observed_total
    formats = [PlateFormat(_layout_name("us", shape), "us", shape.replace("L", "l").replace("D", "d"), share)
               for shape, share in shares.items()]
    lengths = [0.5, 1, 1, 2, 4, 5, 1]
    formats += [PlateFormat("us_generic", "us", "A" * (2 + i), US_SHARES["generic"] * w / sum(lengths))
                for i, w in enumerate(lengths)]
    return formats


def _by_length(name: str, country: str, first: int, weights: Sequence[float], needs_digit: bool) -> list[PlateFormat]:
    return [PlateFormat(name, country, "A" * (first + i), w, needs_digit) for i, w in enumerate(weights)]


def _national_formats() -> dict[str, list[PlateFormat]]:
    """Each European country's own layouts, for a unit that names its country: there a
    home plate is far likelier than the continent's average, so a strip letter glued to
    a home plate no longer outweighs the home layout."""
    return {code: [PlateFormat(_layout_name(code, pattern), code, pattern, share) for pattern, share in layouts]
            for code, _, layouts in _EU_NATIONAL}


FORMATS: dict[str, list[PlateFormat]] = {
    "gb": _gb_formats(),
    "nl": [PlateFormat(f"nl_sidecode_{i + 1}", "nl", p, w) for i, (p, w) in enumerate(_NL_SIDECODES)],
    "eu": _eu_formats(),
    "us": _us_formats(),
    "generic": _by_length("generic", "generic", 3, [1, 2, 3, 4, 5, 4, 2, 1], True),
    **_national_formats(),
}


@dataclass(frozen=True, slots=True)
class _Group:
    """All active formats of one length, compiled to arrays for one vectorised pass."""

    masks: np.ndarray        # (F, n, C) float: prior weight of each character per position (0: not allowed)
    log_prior: np.ndarray    # (F,) log(country share * weight * prod |alphabet| / class mass)
    log_window: np.ndarray   # (F, len(_WINDOW_KINDS)) log window priors of each format's country
    needs_digit: np.ndarray  # (F,) bool
    names: tuple[str, ...]
    countries: tuple[str, ...]
    ranks: np.ndarray        # (F,) int: country order, for ties


@dataclass(frozen=True, slots=True)
class _Table:
    groups: dict[int, _Group]
    chars: np.ndarray        # (C,) uint8 codes of the alphabet
    is_digit: np.ndarray     # (C,) bool


def _class_weights(chars: np.ndarray) -> dict[str, np.ndarray]:
    """Per class code, each alphabet character's prior weight: 1 member, SOFT_WEIGHT soft, 0 not."""
    def member(text: str) -> np.ndarray:
        return np.isin(chars, np.frombuffer(text.encode(), np.uint8))

    return {code: np.where(member(members), 1.0, np.where(member(_SOFT.get(code, "")), SOFT_WEIGHT, 0.0))
            for code, members in _CLASSES.items()}


@lru_cache(maxsize=16)
def _compile(alphabet: str, countries: tuple[str, ...], min_length: int = 1) -> _Table:
    """Build per-length mask tensors once per (alphabet, countries, shortest plate)."""
    ordered = list(dict.fromkeys(countries))
    share = (1.0 - FALLBACK_SHARE if "generic" not in ordered else 1.0) / len(ordered)
    shares = {country: share for country in ordered}
    if "generic" not in ordered:
        ordered.append("generic")
        shares["generic"] = FALLBACK_SHARE
    chars = np.frombuffer(alphabet.encode("ascii"), dtype=np.uint8)
    class_weights = _class_weights(chars)
    rows: dict[int, list[tuple[np.ndarray, float, PlateFormat, int]]] = {}
    for rank, country in enumerate(ordered):
        formats = FORMATS[country]
        total = sum(f.weight for f in formats)
        for fmt in formats:
            if len(fmt.pattern) < min_length:
                continue
            mask = np.stack([class_weights[code] for code in fmt.pattern])
            mass = mask.sum(axis=1)
            if not mass.all():
                continue
            correction = CLASS_PRIOR_POWER * float(np.log(len(alphabet) / mass).sum())
            log_prior = np.log(shares[country] * fmt.weight / total) + correction
            rows.setdefault(len(fmt.pattern), []).append((mask, log_prior, fmt, rank))
    windows = {country: np.log([COUNTRY_WINDOW_PRIORS.get(country, WINDOW_PRIORS)[kind] for kind in _WINDOW_KINDS])
               for country in ordered}
    groups = {
        n: _Group(
            masks=np.stack([r[0] for r in items]),
            log_prior=np.array([r[1] for r in items]),
            log_window=np.stack([windows[r[2].country] for r in items]),
            needs_digit=np.array([r[2].needs_digit for r in items]),
            names=tuple(r[2].name for r in items),
            countries=tuple(r[2].country for r in items),
            ranks=np.array([r[3] for r in items]),
        )
        for n, items in rows.items()
    }
    return _Table(groups, chars, np.isin(chars, np.frombuffer(string.digits.encode(), np.uint8)))


def _windows(probs: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(window length, (W, length) kept row indices, (W,) indices into _WINDOW_KINDS): the whole
    string, then the one-shorter cuts: first, last, and each weak or repeated interior row."""
    length = len(probs)
    rows = np.arange(length)
    windows = [(length, rows[None], np.array([0]))]
    if length < 2:
        return windows
    best = probs.argmax(axis=1)
    inner = probs.max(axis=1) < np.where(np.r_[False, best[1:] == best[:-1]], REPEAT_ROW, WEAK_ROW)
    drops = np.flatnonzero(inner[1:-1]) + 1
    kept = [rows[1:], rows[:-1]] + [np.delete(rows, drop) for drop in drops]
    first = _WINDOW_KINDS.index("drop_crisp_first" if probs[0].max() >= CRISP_FIRST else "drop_first")
    windows.append((length - 1, np.stack(kept), np.array([first, 2] + [3] * len(drops))))
    return windows


def _beam(log_probs: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-`width` strings of each format: (F, n, C) masked log-probs -> (F, K) scores, (F, K, n) indices.

    Positions are independent, so a beam that keeps the best `width` prefixes is exact.
    """
    count, length, classes = log_probs.shape
    width = min(width, classes)
    order = np.argsort(-log_probs, axis=2, kind="stable")[:, :, :width]
    rows = np.arange(count)[:, None]
    top = log_probs[rows[:, :, None], np.arange(length)[None, :, None], order]
    scores = np.zeros((count, 1))
    seqs = np.zeros((count, 1, 0), dtype=np.intp)
    for i in range(length):
        flat = (scores[:, :, None] + top[:, None, i, :]).reshape(count, -1)
        keep = np.argsort(-flat, axis=1, kind="stable")[:, :width]
        parent, child = np.divmod(keep, width)
        seqs = np.concatenate([seqs[rows, parent], order[rows, i, child][:, :, None]], axis=2)
        scores = flat[rows, keep]
    return scores, seqs


def _normalise(char_probs: np.ndarray) -> np.ndarray:
    """Rows as distributions over the alphabet (the CTC blank's share is irrelevant here),
    less their far tails.

    A character under SWAP_FLOOR of its row's best is taken as impossible: a softmax's far
    tail is not calibrated, and with dozens of layouts some format's prior would otherwise
    outbid a crisp read for a character the recogniser all but ruled out. The cut mass is
    not handed back, so a row's evidence for the characters it does name is unchanged.
    (Keeping a look-alike twin possible whatever its probability was measured with
    tools/tune_formats.py and lost reads at every rate tried: it splits confidence
    between two readings, which then both fall under plates.min_confidence.)
    """
    probs = np.clip(np.asarray(char_probs, dtype=np.float64), _FLOOR, None)
    probs /= probs.sum(axis=1, keepdims=True)
    return np.where(probs >= SWAP_FLOOR * probs.max(axis=1, keepdims=True), probs, _FLOOR)


@dataclass(slots=True)
class _Rows:
    """Every (window, format) row of one window length against one group, before the beam."""

    group: _Group
    masked: np.ndarray       # (W*F, n, C) probabilities times class weights
    prior: np.ndarray        # (W*F,) log priors: window, format and class-mass correction
    needs_digit: np.ndarray  # (W*F,) bool
    # (W*F,) log of each row's summed score over all its strings, digit rule aside: the mass the
    # rule takes from digit-free strings stays in the total as the chance that such a read
    # (a badge, a dealer's name) is not a plate at all.
    log_total: np.ndarray
    upper: np.ndarray        # (W*F,) log score of each row's best string, digit rule aside


@dataclass(slots=True)
class _Scored:
    """Beam output for the rows of one _Rows that can still reach the report floor."""

    group: _Group
    rows: np.ndarray    # (R,) indices into the W*F rows
    scores: np.ndarray  # (R, K) log scores, priors included
    seqs: np.ndarray    # (R, K, n) alphabet indices


def _rows(probs: np.ndarray, group: _Group, kept: np.ndarray, kinds: np.ndarray) -> _Rows:
    length, classes = kept.shape[1], probs.shape[1]
    masked = (probs[kept][:, None] * group.masks[None]).reshape(-1, length, classes)
    prior = (group.log_window[:, kinds].T + group.log_prior[None, :]).reshape(-1)
    return _Rows(group, masked, prior, np.tile(group.needs_digit, len(kept)),
                 prior + np.log(masked.sum(axis=2)).sum(axis=1), prior + np.log(masked.max(axis=2)).sum(axis=1))


def _score(part: _Rows, rows: np.ndarray, width: int, is_digit: np.ndarray) -> _Scored:
    with np.errstate(divide="ignore"):
        scores, seqs = _beam(np.log(part.masked[rows]), width)
    digit_ok = is_digit[seqs].any(axis=2) | ~part.needs_digit[rows][:, None]
    scores += part.prior[rows][:, None] + np.where(digit_ok, 0.0, np.log(NO_DIGIT_FACTOR))
    return _Scored(part.group, rows, scores, seqs)


def best_candidates(char_probs: np.ndarray, alphabet: str, countries: Sequence[str],
                    top_n: int, min_length: int = 1) -> list[tuple[str, str, str, float]]:
    """Ranked (text, format, country, confidence) for a (len, alphabet) probability matrix.

    Usable on an averaged matrix from several frames (multi-frame voting). Empty when no
    format of at least `min_length` characters fits the length. Candidates under
    MIN_REPORTED confidence are left out, except the best one, so an uncertain read still
    yields its (low-confidence) best guess. A
    (window, format) row whose best string is under that floor is not searched at all:
    with over a hundred layouts most rows are, which keeps the beam cheap.
    """
    if char_probs.ndim != 2 or char_probs.shape[1] != len(alphabet):
        raise ValueError(f"char_probs must be (len, {len(alphabet)}), got {char_probs.shape}")
    if char_probs.shape[0] == 0:
        return []
    table = _compile(alphabet, tuple(countries), min_length)
    probs = _normalise(char_probs)
    parts = [_rows(probs, table.groups[length], kept, kinds)
             for length, kept, kinds in _windows(probs) if length in table.groups]
    if not parts:
        return []
    log_total = float(np.logaddexp.reduce(np.concatenate([part.log_total for part in parts])))
    floor = log_total + np.log(MIN_REPORTED)
    best = max(float(part.upper.max()) for part in parts)
    hits: dict[str, list] = {}
    for part in parts:
        rows = np.flatnonzero((part.upper >= floor) | (part.upper == best))
        if len(rows):
            _collect(hits, table, _score(part, rows, top_n + 2, table.is_digit), floor, 4 * top_n)
    return _rank(hits, log_total, top_n)


def _collect(hits: dict[str, list], table: _Table, part: _Scored, floor: float, limit: int) -> None:
    """Add the `limit` best (format, string) scores above `floor`, and always the very best, to their texts.

    hits[text] = [summed score, best score, country rank, format name, country] of the
    best-scoring (then first-listed) hypothesis, which names the text's format.
    """
    flat = part.scores.reshape(-1)
    best = np.argsort(-flat, kind="stable")[:limit]
    best = best[(flat[best] >= floor) | (np.arange(len(best)) == 0)]
    count = len(part.group.names)
    width = part.scores.shape[1]
    texts = table.chars[part.seqs.reshape(-1, part.seqs.shape[2])[best]]
    for index, code in zip(best.tolist(), texts):
        fmt = int(part.rows[index // width]) % count
        country = part.group.countries[fmt]
        text = _spelled(code.tobytes().decode("ascii"), country)
        score, rank = float(flat[index]), int(part.group.ranks[fmt])
        entry = hits.get(text)
        if entry is None:
            hits[text] = [score, score, rank, part.group.names[fmt], country]
            continue
        entry[0] = float(np.logaddexp(entry[0], score))
        if (score, -rank) > (entry[1], -entry[2]):
            entry[1:] = [score, rank, part.group.names[fmt], country]


def _spelled(text: str, country: str) -> str:
    """A layout's string as the country writes it: US layouts write the round glyph 0 (see
    the module docstring), the rest as read."""
    return text.replace("O", "0") if country == "us" else text


def _rank(hits: dict[str, list], log_total: float, top_n: int) -> list[tuple[str, str, str, float]]:
    ordered = sorted(hits.items(), key=lambda item: (-item[1][0], item[1][2]))[:top_n]
    return [(text, entry[3], entry[4], min(1.0, float(np.exp(entry[0] - log_total)))) for text, entry in ordered]


class PlateFormatter:
    """Applies the configured countries' formats to each recogniser output."""

    def __init__(self, config: PlatesConfig, alphabet: str) -> None:
        self.countries = tuple(config.countries)
        self.top_n = config.candidates
        self.min_length = config.min_characters
        self.alphabet = alphabet
        _compile(alphabet, self.countries, self.min_length)

    def format(self, raw: str, char_probs: np.ndarray) -> PlateRead | None:
        """Best reading of one crop, or None when no format fits its length at all.

        Low-confidence reads are returned, not dropped (see module docstring).
        """
        if len(raw) != len(char_probs):
            raise ValueError(f"raw has {len(raw)} characters but char_probs has {len(char_probs)} rows")
        ranked = best_candidates(char_probs, self.alphabet, self.countries, self.top_n, self.min_length)
        if not ranked:
            return None
        text, name, country, confidence = ranked[0]
        return PlateRead(
            text=text,
            confidence=confidence,
            candidates=[ScoredText(t, c) for t, _, _, c in ranked],
            country=country,
            format=name,
            raw=raw,
            char_probs=char_probs,
        )


def merge_looks(first: PlateRead, *later: PlateRead | None) -> PlateRead:
    """One reading of a plate from several looks at it (framings of the same candidate).

    Each candidate text's confidence becomes the mean of its confidence over the looks
    (0 where a look did not rank it, or read nothing), and the best mean wins. Why: a
    misread hangs on one framing (a glyph split across the network's columns, an edge glyph
    half cut); read again, a few percent wider, the same plate mostly gives the same text,
    while a misread mostly changes, so its confidence halves. On held-out US crops in
    roadside frames the mean of two looks halved the false reads at the same exact reads
    (docs/reading.md, "The reading path, in brief"); a third look settles what two left
    unsure. The text, country and format follow the first look that ranked the winner
    first; its char_probs go on to multi-frame voting.
    """
    looks = (first, *later)
    mean: dict[str, float] = {}
    for look in looks:
        for candidate in look.candidates if look is not None else ():
            mean[candidate.text] = mean.get(candidate.text, 0.0) + candidate.confidence / len(looks)
    ranked = sorted(mean.items(), key=lambda item: -item[1])
    ranked = ranked[:max(len(look.candidates) for look in looks if look is not None)]
    winner = next((look for look in looks if look is not None and look.text == ranked[0][0]), first)
    return replace(winner, text=ranked[0][0], confidence=ranked[0][1],
                   candidates=[ScoredText(text, confidence) for text, confidence in ranked])


def adds_an_end_glyph(short: str, longer: str) -> bool:
    """Whether `longer` is `short` with one more character at its start or its end
    ('NW2529', 'ANW2529'): what a row cut a glyph short reads when cut longer."""
    return len(longer) == len(short) + 1 and short in (longer[1:], longer[:-1])
