"""Combine the per-frame reads of one vehicle pass into a single plate.

A plate is usually read many times while it crosses the view. Single frames fail in
different ways (blur, glare, a character lost at an angle), so the pass's plate is the
text the frames agree on, weighted by how sure each frame was, not any one frame's read.

Model: every frame f gives each candidate text t a probability p_f(t): its own candidate
confidence when it listed t, else the product of its per-character probabilities for t
when it kept an aligned `char_probs` matrix of the same length, else a small floor (a
blurred frame can drop the right answer from its list). "Some text nobody listed" gets
the frame's unlisted mass, 1 - sum of its candidate confidences. The pass score of t is
sum_f log p_f(t), scaled by 1/sqrt(F) before a softmax over the pool plus "other":
consecutive frames of one plate share lighting and angle, so their errors are correlated,
and counting them as independent would make ten frames certain of a wrong read. With
one frame the result is that frame's own confidence.

Character-level consensus: reads of the same length have aligned `char_probs`; their
confidence-weighted mean can spell a plate that no single frame got right (one frame
misses character 2, another character 5). That consensus text joins the candidate pool
and is scored by the same rule, so it wins only when the frames support it.

Pieces: a frame whose box held only part of the plate reads a substring of it ("4844CC"
of "MA4844CC"). Counted as a rival text, such reads would split the vote between a
plate and its pieces and leave none confident; instead a piece lends each longer text
containing it a share of its confidence (see _PIECE), so pieces strengthen their whole.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from edge.config import PlatesConfig, TrackingConfig
from edge.types import Detection, PlateRead, ScoredText

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
_FLOOR = 0.05
# A frame that boxed only part of the plate (the localiser split it, or cut an end off)
# reads a piece of its text. That read is no evidence against the whole: it lends each
# pool text containing it this share of its confidence per character it did not see
# (losing one or two characters is far likelier than losing half the plate).
_PIECE = 0.5
_MIN_PIECE = 3

# Maps a (length x alphabet) probability matrix to format-valid readings
# [(text, format, country, score)], e.g. functools.partial(edge.formats.best_candidates,
# alphabet=ALPHABET, countries=..., top_n=...).
Rescorer = Callable[[np.ndarray], Sequence[tuple[str, str | None, str | None, float]]]
_Reading = tuple[str, str | None, str | None]  # text, format, country


@dataclass(frozen=True, slots=True)
class Vote:
    """The pass's plate. `best` indexes the track's detections: the frame that shows it best."""

    plate: str
    confidence: float
    candidates: list[ScoredText]
    country: str | None
    format: str | None
    frames: int
    reads: int
    frames_agreeing: int
    best: int


@lru_cache(maxsize=8192)
def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance. Cached: a track compares the same few texts every frame."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def text_distance(a: str, b: str) -> float:
    """Edit distance over the longer length: 0 for equal texts, 1 for nothing in common."""
    longest = max(len(a), len(b))
    return edit_distance(a, b) / longest if longest else 0.0


def same_plate(a: str, b: str) -> bool:
    """Whether two reads may be one plate: one misread character, or one read a piece of
    the other (at least half of it, and _MIN_PIECE + 1 characters: short texts match by chance)."""
    shorter, longer = sorted((a, b), key=len)
    if len(shorter) <= _MIN_PIECE:
        return False
    return (2 * len(shorter) >= len(longer) and shorter in longer) or edit_distance(a, b) <= 1


@dataclass(slots=True)
class _Count:
    reads: int = 0
    strong: int = 0
    score: float = 0.0


@dataclass(slots=True)
class ReadTally:
    """Running per-text counts for a live track: cheap enough to update every frame.

    The tracker uses it to compare a new read with the track's text and to decide when
    the track is confident, so the pipeline can stop reading it.
    """

    strong_at: float
    counts: dict[str, _Count] = field(default_factory=dict)
    leaders: tuple[str, ...] = ()

    def add(self, read: PlateRead) -> None:
        if not read.text:
            return
        count = self.counts.setdefault(read.text, _Count())
        count.reads += 1
        count.score += read.confidence
        count.strong += read.confidence >= self.strong_at
        ranked = sorted(self.counts.items(), key=lambda item: item[1].score, reverse=True)
        self.leaders = tuple(text for text, _ in ranked[:2])

    def has_strong(self) -> bool:
        return any(count.strong for count in self.counts.values())

    def strong_margin(self) -> int:
        """Strong reads of the most-read text minus those of the runner-up."""
        strong = sorted((count.strong for count in self.counts.values()), reverse=True)
        return strong[0] - (strong[1] if len(strong) > 1 else 0) if strong else 0


def _frame_evidence(read: PlateRead) -> dict[str, float]:
    """This frame's probability for each text it listed (its read and its candidates)."""
    evidence: dict[str, float] = {}
    for candidate in (ScoredText(read.text, read.confidence), *read.candidates):
        if candidate.text:
            evidence[candidate.text] = max(evidence.get(candidate.text, 0.0), candidate.confidence)
    return evidence


def _encode(text: str) -> np.ndarray | None:
    indices = [_INDEX.get(ch) for ch in text]
    return None if None in indices else np.asarray(indices, dtype=np.intp)


def _has_probs(read: PlateRead) -> bool:
    probs = read.char_probs
    return (probs is not None and probs.ndim == 2 and probs.shape[1] == len(ALPHABET)
            and len(probs) > 0)


def _consensus(reads: Sequence[PlateRead], rescore: Rescorer | None) -> list[_Reading]:
    """Texts spelled by the mean char_probs of the largest group of same-length reads."""
    groups: dict[int, list[PlateRead]] = {}
    for read in reads:
        if _has_probs(read):
            groups.setdefault(len(read.char_probs), []).append(read)
    if not groups:
        return []
    group = max(groups.values(), key=lambda g: (len(g), sum(r.confidence for r in g)))
    if len(group) < 2:
        return []
    weights = np.asarray([max(r.confidence, 1e-3) for r in group])
    mean = np.tensordot(weights / weights.sum(), np.stack([r.char_probs for r in group]), axes=1)
    if rescore is not None:
        return [(text, fmt, country) for text, fmt, country, _ in rescore(mean)]
    return [("".join(ALPHABET[i] for i in mean.argmax(axis=1)), None, None)]


def _evidence_matrix(reads: Sequence[PlateRead], evidence: Sequence[dict[str, float]],
                     texts: list[str]) -> np.ndarray:
    """log p_f(t) for every read f (rows) and pool text t (columns)."""
    logp = np.full((len(reads), len(texts)), math.log(_FLOOR))
    encoded = [_encode(t) for t in texts]
    by_length: dict[int, list[int]] = {}
    for f, read in enumerate(reads):
        if _has_probs(read):
            by_length.setdefault(len(read.char_probs), []).append(f)
    for length, frames in by_length.items():
        columns = [k for k, code in enumerate(encoded) if code is not None and len(code) == length]
        if columns:
            codes = np.stack([encoded[k] for k in columns])
            probs = np.stack([reads[f].char_probs for f in frames])
            picked = probs[:, np.arange(length)[None, :], codes]  # frames x texts x positions
            logp[np.ix_(frames, columns)] = np.log(np.clip(picked, 1e-12, 1.0)).sum(axis=2)
    column = {text: k for k, text in enumerate(texts)}
    wholes = _wholes(tuple(texts))
    for f, listed in enumerate(evidence):
        for text, confidence in listed.items():
            logp[f, column[text]] = math.log(max(confidence, 1e-12))
        for text, confidence in listed.items():
            for other, share in wholes.get(text, ()):
                k = column[other]
                logp[f, k] = max(logp[f, k], math.log(max(share * confidence, 1e-12)))
    return np.maximum(logp, math.log(_FLOOR))


def _wholes(texts: tuple[str, ...]) -> dict[str, list[tuple[str, float]]]:
    """For each pool text, the longer pool texts that contain it and the share of a read's
    confidence it lends them: _PIECE per character it lacks."""
    wholes: dict[str, list[tuple[str, float]]] = {}
    for piece in texts:
        if len(piece) < _MIN_PIECE:
            continue
        for whole in texts:
            if len(whole) > len(piece) and piece in whole:
                wholes.setdefault(piece, []).append((whole, _PIECE ** (len(whole) - len(piece))))
    return wholes


def _meta(reads: Sequence[PlateRead], plate: str,
          consensus: list[_Reading]) -> tuple[str | None, str | None]:
    """Country and format of the winning text: from frames that read it, else the consensus."""
    seen = Counter((r.country, r.format) for r in reads
                   if r.text == plate and (r.country or r.format))
    if seen:
        return seen.most_common(1)[0][0]
    for text, fmt, country in consensus:
        if text == plate:
            return country, fmt
    return None, None


def vote(detections: Sequence[Detection], tracking: TrackingConfig, plates: PlatesConfig,
         rescore: Rescorer | None = None) -> Vote | None:
    """The plate of one pass, or None when the pass is too thin to emit.

    None when fewer than `tracking.min_frames` frames were read or no read reached
    `plates.min_confidence`: a vehicle glimpsed once, or never read clearly, is noise.
    """
    indexed = [(i, d.read) for i, d in enumerate(detections) if d.read is not None and d.read.text]
    reads = [read for _, read in indexed]
    if len(reads) < tracking.min_frames or max(r.confidence for r in reads) < plates.min_confidence:
        return None
    evidence = [_frame_evidence(r) for r in reads]
    consensus = _consensus(reads, rescore)
    pool = [t for listed in evidence for t in listed] + [t for t, _, _ in consensus]
    texts = list(dict.fromkeys(pool))
    logp = _evidence_matrix(reads, evidence, texts)
    scale = math.sqrt(len(reads))
    unlisted = sum(math.log(max(1.0 - sum(listed.values()), _FLOOR)) for listed in evidence)
    logits = np.append(logp.sum(axis=0), unlisted) / scale
    posterior = np.exp(logits - logits.max())
    posterior /= posterior.sum()
    order = np.argsort(-posterior[:-1], kind="stable")
    winner = int(order[0])
    plate = texts[winner]
    country, fmt = _meta(reads, plate, consensus)
    return Vote(
        plate=plate,
        confidence=float(posterior[winner]),
        candidates=[ScoredText(texts[k], float(posterior[k])) for k in order[: plates.candidates]],
        country=country,
        format=fmt,
        frames=len(detections),
        reads=len(reads),
        frames_agreeing=sum(r.text == plate for r in reads),
        best=indexed[int(np.argmax(logp[:, winner]))][0],
    )
