"""Plate-format post-processing: turn a recogniser's per-character probabilities into
ranked plate texts with calibrated confidences, a country and a format name.

Why a probabilistic format model instead of regex clean-up: the recogniser confuses
look-alikes (0/O, 1/I, 5/S, 8/B, 2/Z, 6/G, 4/A, 7/T, D/0 ...). A plate format tells us
which positions must hold a letter and which a digit, and the recogniser's softmax says
how likely each look-alike was, so we can choose the most probable string *that the
format allows* and say how sure we are, rather than blindly swapping characters.

Model (Bayes, rows treated as calibrated per-character posteriors under a uniform
character prior). A hypothesis is (window, format, string):

* window: the whole raw string (prior 0.90), or it without its first (0.08) or last
  (0.02) character, because the blue EU strip on the left, or a plate border, is often
  read as an extra letter ('D', 'I', 'E' ...). A dropped character is treated as
  uninformative junk.
* format: a per-position list of allowed character classes with a relative prior
  weight; each string the format allows is equally likely a priori.

Score(window, format, string) = w_window * w_format * prod_i p_i(s_i) * |alphabet| / |class_i|.
The |alphabet| / |class_i| factor is the uniform-prior correction: a position that must be
a digit makes every digit ~3.6x more likely than the recogniser's uniform prior assumed,
which is what lets a '0' at 0.35 beat an 'O' at 0.60 in a digit slot. Summing the score
over every string of every hypothesis is cheap in closed form (product of per-position
class masses), so each candidate text's confidence is its summed score over that total:
a posterior, hence in [0, 1] and summing to at most 1 over candidates. Only the top
strings of each format are enumerated (a vectorised beam over the (len, alphabet) matrix).
Formats marked "needs a digit" are modelled as all-alphanumeric for the total and give
digit-free strings a 0.1 factor, so the total over-counts slightly and sums stay <= 1.

Format table (classes: L letter, D digit, A letter or digit, N digit 1-9, M letter but
not I/Q/Z, R letter but not I/Q, Y year letter: not I/O/Q/U/Z, K Dutch letter:
BDFGHJKLMNPRSTVXZ). Weights are relative within a country; each configured country
gets an equal share, ties go to the country listed first in `plates.countries`.

=========  ===============  ================================  ===========================
country    format           pattern                           weight
=========  ===============  ================================  ===========================
gb         gb_current       MMDDRRR (AB12CDE)                 0.80
gb         gb_prefix        YN RRR, YND RRR, YNDD RRR         0.10 split over 3
gb         gb_suffix        RRR N Y, RRR ND Y, RRR NDD Y      0.05 split over 3
gb         gb_dateless      L{1,3}ND{0,3}, ND{0,3}L{1,3}      0.05 split over 24
nl         nl_sidecode_1-3  LLDDDD, DDDDLL, DDLLDD            0.02 each
nl         nl_sidecode_4-14 KKDDKK, KKKKDD, DDKKKK, DDKKKD,   4: .06, 5-6: .08, 7-11: .10,
                            DKKKDD, KKDDDK, KDDDKK, KKKDDK,   12-13: .06, 14: .04
                            KDDKKK, DKKDDD, DDDKKD
eu         eu_generic       A{4..8}, needs a digit            by length 1,2,3,3,2
us         us_generic       A{2..8}                           by length .5,1,1,2,4,5,1
generic    generic          A{3..10}, needs a digit           by length 1,2,3,4,5,4,2,1
=========  ===============  ================================  ===========================

When "generic" is not configured it is still present as a fallback with 2% of the
prior, so an unexpected plate still gets a (low-confidence) reading.

Decision on `plates.min_confidence`: the formatter returns a read whatever its
confidence (None only when no format fits the length at all); the pipeline drops reads
under min_confidence, while multi-frame voting can still use the weak frame's evidence.
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass
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
}

WINDOW_PRIORS = {"full": 0.90, "drop_first": 0.08, "drop_last": 0.02}
NO_DIGIT_FACTOR = 0.1
FALLBACK_SHARE = 0.02
_FLOOR = 1e-9
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


def _by_length(name: str, country: str, first: int, weights: Sequence[float], needs_digit: bool) -> list[PlateFormat]:
    return [PlateFormat(name, country, "A" * (first + i), w, needs_digit) for i, w in enumerate(weights)]


FORMATS: dict[str, list[PlateFormat]] = {
    "gb": _gb_formats(),
    "nl": [PlateFormat(f"nl_sidecode_{i + 1}", "nl", p, w) for i, (p, w) in enumerate(_NL_SIDECODES)],
    "eu": _by_length("eu_generic", "eu", 4, [1, 2, 3, 3, 2], True),
    "us": _by_length("us_generic", "us", 2, [0.5, 1, 1, 2, 4, 5, 1], False),
    "generic": _by_length("generic", "generic", 3, [1, 2, 3, 4, 5, 4, 2, 1], True),
}


@dataclass(frozen=True, slots=True)
class _Group:
    """All active formats of one length, compiled to arrays for one vectorised pass."""

    masks: np.ndarray        # (F, n, C) bool: allowed characters per position
    log_prior: np.ndarray    # (F,) log(country share * weight * prod |alphabet|/|class|)
    needs_digit: np.ndarray  # (F,) bool
    names: tuple[str, ...]
    countries: tuple[str, ...]
    ranks: np.ndarray        # (F,) int: country order, for ties


@dataclass(frozen=True, slots=True)
class _Table:
    groups: dict[int, _Group]
    chars: np.ndarray        # (C,) uint8 codes of the alphabet
    is_digit: np.ndarray     # (C,) bool


@lru_cache(maxsize=16)
def _compile(alphabet: str, countries: tuple[str, ...]) -> _Table:
    """Build per-length mask tensors once per (alphabet, countries)."""
    ordered = list(dict.fromkeys(countries))
    shares = {country: (1.0 - FALLBACK_SHARE if "generic" not in ordered else 1.0) / len(ordered) for country in ordered}
    if "generic" not in ordered:
        ordered.append("generic")
        shares["generic"] = FALLBACK_SHARE
    chars = np.frombuffer(alphabet.encode("ascii"), dtype=np.uint8)
    class_masks = {code: np.isin(chars, np.frombuffer(members.encode(), np.uint8)) for code, members in _CLASSES.items()}
    rows: dict[int, list[tuple[np.ndarray, float, PlateFormat, int]]] = {}
    for rank, country in enumerate(ordered):
        formats = FORMATS[country]
        total = sum(f.weight for f in formats)
        for fmt in formats:
            mask = np.stack([class_masks[code] for code in fmt.pattern])
            sizes = mask.sum(axis=1)
            if not sizes.all():
                continue
            log_prior = np.log(shares[country] * fmt.weight / total) + float(np.log(len(alphabet) / sizes).sum())
            rows.setdefault(len(fmt.pattern), []).append((mask, log_prior, fmt, rank))
    groups = {
        n: _Group(
            masks=np.stack([r[0] for r in items]),
            log_prior=np.array([r[1] for r in items]),
            needs_digit=np.array([r[2].needs_digit for r in items]),
            names=tuple(r[2].name for r in items),
            countries=tuple(r[2].country for r in items),
            ranks=np.array([r[3] for r in items]),
        )
        for n, items in rows.items()
    }
    return _Table(groups, chars, np.isin(chars, np.frombuffer(string.digits.encode(), np.uint8)))


def _windows(length: int) -> list[tuple[int, list[int], np.ndarray]]:
    """(window length, start offsets, log priors): the whole string, then both one-shorter cuts."""
    windows = [(length, [0], np.log([WINDOW_PRIORS["full"]]))]
    if length > 1:
        windows.append((length - 1, [1, 0], np.log([WINDOW_PRIORS["drop_first"], WINDOW_PRIORS["drop_last"]])))
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
    """Rows as distributions over the alphabet; the CTC blank's share is irrelevant here."""
    probs = np.clip(np.asarray(char_probs, dtype=np.float64), _FLOOR, None)
    return probs / probs.sum(axis=1, keepdims=True)


@dataclass(slots=True)
class _Scored:
    """Beam output of one window length: every (window, format) row against one group."""

    group: _Group
    scores: np.ndarray  # (W*F, K) log scores, priors included
    seqs: np.ndarray    # (W*F, K, n) alphabet indices


def best_candidates(char_probs: np.ndarray, alphabet: str, countries: Sequence[str],
                    top_n: int) -> list[tuple[str, str, str, float]]:
    """Ranked (text, format, country, confidence) for a (len, alphabet) probability matrix.

    Usable on an averaged matrix from several frames (multi-frame voting). Empty when no
    format fits the length. Candidates under MIN_REPORTED confidence are left out, except
    the best one, so an uncertain read still yields its (low-confidence) best guess.
    """
    if char_probs.ndim != 2 or char_probs.shape[1] != len(alphabet):
        raise ValueError(f"char_probs must be (len, {len(alphabet)}), got {char_probs.shape}")
    if char_probs.shape[0] == 0:
        return []
    table = _compile(alphabet, tuple(countries))
    probs = _normalise(char_probs)
    totals: list[np.ndarray] = []
    scored: list[_Scored] = []
    for length, starts, log_windows in _windows(len(probs)):
        group = table.groups.get(length)
        if group is None:
            continue
        windows = np.stack([probs[start:start + length] for start in starts])
        masked = np.where(group.masks[None], windows[:, None], 0.0).reshape(-1, length, len(alphabet))
        prior = (log_windows[:, None] + group.log_prior[None, :]).reshape(-1)
        totals.append(prior + np.log(masked.sum(axis=2)).sum(axis=1))
        with np.errstate(divide="ignore"):
            scores, seqs = _beam(np.log(masked), top_n + 2)
        digit_ok = table.is_digit[seqs].any(axis=2) | ~np.tile(group.needs_digit, len(starts))[:, None]
        scored.append(_Scored(group, scores + prior[:, None] + np.where(digit_ok, 0.0, np.log(NO_DIGIT_FACTOR)), seqs))
    if not scored:
        return []
    log_total = float(np.logaddexp.reduce(np.concatenate(totals)))
    hits: dict[str, list] = {}
    for part in scored:
        _collect(hits, table, part, log_total + np.log(MIN_REPORTED), 4 * top_n)
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
        fmt = (index // width) % count
        text, score, rank = code.tobytes().decode("ascii"), float(flat[index]), int(part.group.ranks[fmt])
        entry = hits.get(text)
        if entry is None:
            hits[text] = [score, score, rank, part.group.names[fmt], part.group.countries[fmt]]
            continue
        entry[0] = float(np.logaddexp(entry[0], score))
        if (score, -rank) > (entry[1], -entry[2]):
            entry[1:] = [score, rank, part.group.names[fmt], part.group.countries[fmt]]


def _rank(hits: dict[str, list], log_total: float, top_n: int) -> list[tuple[str, str, str, float]]:
    ordered = sorted(hits.items(), key=lambda item: (-item[1][0], item[1][2]))[:top_n]
    return [(text, entry[3], entry[4], min(1.0, float(np.exp(entry[0] - log_total)))) for text, entry in ordered]


class PlateFormatter:
    """Applies the configured countries' formats to each recogniser output."""

    def __init__(self, config: PlatesConfig, alphabet: str) -> None:
        self.countries = tuple(config.countries)
        self.top_n = config.candidates
        self.alphabet = alphabet
        _compile(alphabet, self.countries)

    def format(self, raw: str, char_probs: np.ndarray) -> PlateRead | None:
        """Best reading of one crop, or None when no format fits its length at all.

        Low-confidence reads are returned, not dropped (see module docstring).
        """
        if len(raw) != len(char_probs):
            raise ValueError(f"raw has {len(raw)} characters but char_probs has {len(char_probs)} rows")
        ranked = best_candidates(char_probs, self.alphabet, self.countries, self.top_n)
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
