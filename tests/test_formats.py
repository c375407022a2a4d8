"""Plate-format post-processing: look-alike restoration, strip removal, calibrated candidates."""

from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edge.config import PlatesConfig
from edge.formats import PlateFormatter, best_candidates

ALPHABET = string.digits + string.ascii_uppercase
# Look-alikes the recogniser confuses; each maps to its twin of the other class.
TWIN = {"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T", "8": "B"}
TWIN.update({letter: digit for digit, letter in TWIN.items()})
TWIN["D"] = "0"

# DVLA rules, stated independently of edge.formats: memory tag letters never I/Q/Z,
# serial letters never I/Q, year letters never I/O/Q/U/Z, numbers never start with 0.
MEMORY = st.sampled_from("ABCDEFGHJKLMNOPRSTUVWXY")
SERIAL = st.sampled_from("ABCDEFGHJKLMNOPRSTUVWXYZ")
YEAR = st.sampled_from("ABCDEFGHJKLMNPRSTVWXY")
DIGIT = st.sampled_from(string.digits)
NUMBER = st.integers(1, 999).map(str)


def _join(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


GB_CURRENT = _join(MEMORY, MEMORY, DIGIT, DIGIT, SERIAL, SERIAL, SERIAL)
GB_PREFIX = _join(YEAR, NUMBER, SERIAL, SERIAL, SERIAL)
GB_SUFFIX = _join(SERIAL, SERIAL, SERIAL, NUMBER, YEAR)
GB_ANY = st.one_of(GB_CURRENT, GB_PREFIX, GB_SUFFIX)
PLAUSIBLE = st.text(ALPHABET, min_size=3, max_size=10).filter(lambda t: any(c.isdigit() for c in t))


def one_hot(text: str, top: float = 0.9) -> np.ndarray:
    """Rows with `top` on the written character and the rest spread evenly."""
    probs = np.full((len(text), len(ALPHABET)), (1.0 - top) / (len(ALPHABET) - 1))
    probs[np.arange(len(text)), [ALPHABET.index(c) for c in text]] = top
    return probs


def confuse(probs: np.ndarray, position: int, wrong: str, right: str) -> None:
    """Make the recogniser prefer `wrong` (0.60) over `right` (0.35) at `position`."""
    probs[position] = 0.05 / (len(ALPHABET) - 2)
    probs[position, ALPHABET.index(wrong)] = 0.60
    probs[position, ALPHABET.index(right)] = 0.35


def formatter(*countries: str, candidates: int = 5) -> PlateFormatter:
    return PlateFormatter(PlatesConfig(countries=list(countries), candidates=candidates), ALPHABET)


GB = formatter("gb")
GENERIC = formatter("generic")
GB_EU = formatter("gb", "eu")


def is_plain_gb(text: str) -> bool:
    """Whether a crisp read of `text` is itself accepted as a GB plate (then a swap is ambiguous)."""
    read = GB.format(text, one_hot(text, 0.99))
    return read is not None and read.text == text and read.country == "gb"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(truth=GB_ANY, data=st.data())
def test_gb_look_alike_restored_where_format_demands_other_class(truth: str, data: st.DataObject) -> None:
    positions = [i for i, c in enumerate(truth) if c in TWIN]
    assume(positions)
    position = data.draw(st.sampled_from(positions))
    raw = truth[:position] + TWIN[truth[position]] + truth[position + 1:]
    assume(not is_plain_gb(raw))
    probs = one_hot(raw)
    confuse(probs, position, raw[position], truth[position])
    read = GB.format(raw, probs)
    assert read is not None
    assert (read.text, read.country) == (truth, "gb")
    assert read.format in {"gb_current", "gb_prefix", "gb_suffix"}


@settings(max_examples=100, deadline=None)
@given(raw=PLAUSIBLE, seed=st.integers(0, 2**32 - 1))
def test_generic_keeps_a_plausible_raw_string(raw: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(len(ALPHABET), 0.5), size=len(raw))
    top = rng.uniform(0.6, 0.99, size=len(raw))
    probs *= ((1.0 - top) / probs.sum(axis=1))[:, None]
    probs[np.arange(len(raw)), [ALPHABET.index(c) for c in raw]] += top
    read = GENERIC.format(raw, probs)
    assert read is not None
    assert (read.text, read.country, read.format) == (raw, "generic", "generic")


@settings(max_examples=100, deadline=None)
@given(
    length=st.integers(1, 12),
    countries=st.lists(st.sampled_from(["generic", "gb", "eu", "us", "nl"]), min_size=1, max_size=5, unique=True),
    top_n=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_candidates_are_sorted_probabilities(length: int, countries: list[str], top_n: int, seed: int) -> None:
    probs = np.random.default_rng(seed).dirichlet(np.full(len(ALPHABET), 0.2), size=length)
    raw = "".join(ALPHABET[i] for i in probs.argmax(axis=1))
    read = formatter(*countries, candidates=top_n).format(raw, probs)
    if read is None:
        return
    scores = [c.confidence for c in read.candidates]
    assert 1 <= len(scores) <= top_n
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert sum(scores) <= 1.0 + 1e-9
    assert len({c.text for c in read.candidates}) == len(scores)
    assert (read.text, read.confidence) == (read.candidates[0].text, scores[0])
    assert read.country in set(countries) | {"generic"}
    assert read.raw == raw and read.char_probs is probs


@settings(max_examples=60, deadline=None)
@given(truth=GB_CURRENT, strip=st.sampled_from("DIEFBN"))
def test_leading_country_strip_letter_is_dropped(truth: str, strip: str) -> None:
    """Also against an 8-character EU reading that keeps the strip letter."""
    raw = strip + truth
    for plates in (GB, GB_EU):
        read = plates.format(raw, one_hot(raw, 0.85))
        assert read is not None
        assert (read.text, read.format) == (truth, "gb_current")


def test_trailing_border_character_is_dropped() -> None:
    read = GB.format("AB12CDE1", one_hot("AB12CDE1", 0.8))
    assert read is not None and read.text == "AB12CDE"


def test_letter_slot_takes_the_letter_twin() -> None:
    probs = one_hot("A812CDE")
    confuse(probs, 1, "8", "B")
    read = GB.format("A812CDE", probs)
    assert read is not None and read.text == "AB12CDE"


def test_dutch_sidecode_restores_digit() -> None:
    probs = one_hot("GB1Z3K")
    confuse(probs, 3, "Z", "2")
    read = formatter("nl").format("GB1Z3K", probs)
    assert read is not None
    assert (read.text, read.country, read.format) == ("GB123K", "nl", "nl_sidecode_9")


def test_generic_only_does_not_apply_gb_positions() -> None:
    probs = one_hot("AB1OCDE")
    confuse(probs, 3, "O", "0")
    assert GENERIC.format("AB1OCDE", probs).text == "AB1OCDE"
    assert GB.format("AB1OCDE", probs).text == "AB10CDE"


def test_averaged_frames_vote_through_best_candidates() -> None:
    """Two frames each confuse a different position; their mean resolves both."""
    first, second = one_hot("AB12CDE"), one_hot("AB12CDE")
    confuse(first, 2, "I", "1")
    confuse(second, 5, "0", "D")
    ranked = best_candidates((first + second) / 2, ALPHABET, ["gb"], 3)
    text, name, country, confidence = ranked[0]
    assert (text, name, country) == ("AB12CDE", "gb_current", "gb")
    assert confidence > 0.5


def test_clean_read_is_confident_and_confusion_is_less_so() -> None:
    clean = GB.format("AB12CDE", one_hot("AB12CDE", 0.99))
    probs = one_hot("AB1OCDE", 0.99)
    confuse(probs, 3, "O", "0")
    confused = GB.format("AB1OCDE", probs)
    assert clean.confidence > 0.95
    assert clean.confidence > confused.confidence


@pytest.mark.parametrize("raw", ["", "1234567890ABC"])
def test_no_format_fits_gives_none(raw: str) -> None:
    assert GB.format(raw, one_hot(raw)) is None


def test_mismatched_shapes_are_rejected() -> None:
    with pytest.raises(ValueError):
        GB.format("AB12CDE", one_hot("AB12CD"))
    with pytest.raises(ValueError):
        best_candidates(np.ones((7, 10)) / 10, ALPHABET, ["gb"], 5)


def test_many_random_reads_all_countries() -> None:
    """Throughput sanity: a few hundred mixed-length reads with every country enabled."""
    everything = formatter("gb", "nl", "eu", "us", "generic")
    rng = np.random.default_rng(7)
    for length in rng.integers(2, 12, size=300):
        probs = rng.dirichlet(np.full(len(ALPHABET), 0.1), size=length)
        raw = "".join(ALPHABET[i] for i in probs.argmax(axis=1))
        read = everything.format(raw, probs)
        assert read is not None and 0.0 <= read.confidence <= 1.0
