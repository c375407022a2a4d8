"""Plate-format post-processing: look-alike restoration, strip removal, calibrated candidates."""

from __future__ import annotations

import re
import string
import time
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edge.config import COUNTRY_CODES, PlatesConfig
from edge.formats import FORMATS, PlateFormatter, adds_an_end_glyph, best_candidates, merge_looks
from edge.types import PlateRead, ScoredText

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


def confuse(probs: np.ndarray, position: int, wrong: str, right: str,
            top: float = 0.60, runner_up: float = 0.35) -> None:
    """Make the recogniser prefer `wrong` (top) over `right` (runner_up) at `position`."""
    probs[position] = (1.0 - top - runner_up) / (len(ALPHABET) - 2)
    probs[position, ALPHABET.index(wrong)] = top
    probs[position, ALPHABET.index(right)] = runner_up


def formatter(*countries: str, candidates: int = 5) -> PlateFormatter:
    """A formatter for layout tests: every plate length allowed, so short layouts (CH 'ZH1') are
    tested too; the plates.min_characters filter has its own test."""
    config = PlatesConfig(countries=list(countries), candidates=candidates, min_characters=1)
    return PlateFormatter(config, ALPHABET)


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


# European national layouts, restated independently of edge.formats from the registration
# rules: one character set per position.
_SETS = {
    "L": string.ascii_uppercase,
    "D": string.digits,
    "N": "123456789",
    "c": "ABCEHJKLMPSTUZ",                      # Czech region letters
    "z": "ABCDEFHIJKLMNPRSTUVXYZ",              # Czech series letters: no G O Q W
    "p": "ACEFGHJKLMNPQRSTUVWXY",               # Polish series letters: no B D I O Z
    "e": "BCDFGHJKLMNPRSTVWXYZ",                # Spanish: consonants, no Q
    "i": "ABCDEFGHJKLMNPRSTVWXYZ",              # Italian: no I O Q U
    "f": "ABCDEFGHJKLMNPQRSTVWXYZ",             # French: no I O U
    "b": "ABCEHKMOPTXY",                        # Bulgarian: Cyrillic look-alikes
    "h": "ABEHIKMNOPTXYZ",                      # Greek: Greek look-alikes
}
NATIONAL = sorted({
    *("L" * k + "N" + "D" * (c - 1) for k in range(2, 6) for c in range(1, 5) if k + c <= 8),      # DE
    "ffDDDff", "iiDDDii", "DDDDeee", *("L" * a + "DDDD" + "L" * b for a in (1, 2) for b in (1, 2)),  # FR IT ES
    "LLDDDDD", "LLDDDDp", "LLDDDpp", "LLDpDDD", "LLDppDD", "LLLDDDDD", "LLLDDDDp", "LLLDDDpp",       # PL
    "LLLpDDD", "LLLDpDD", "LLLDDpD", "LLLDppD", "LLLDDpp", "LLLppDD",
    "LLDDLLL", "LDDDLLL", "LDDLLL", "NcDDDDD", "NczDDDD", "NLLLDDD", "LLLDDD",                       # RO CZ BE
    "DDLLDD", "LLDDLL", "DDDDLL", "LLDDDD", "hhhDDDD", "LLLDDL", "LLLLDDD",                          # PT GR SE HU
    *("LLN" + "D" * s for s in range(6)), "bDDDDbb", "bbDDDDbb", "LLDDDLL",                        # CH BG SK
    *("D" * y + "L" * k + "N" + "D" * s for y in (2, 3) for k in (1, 2) for s in range(6)),         # IE
    "LLDDDL", "LLDDDDL", "LLDDDDLL", "DDDLLL",                                                      # HR EE
})
GRAMMAR = re.compile(r"[A-Z]{1,3}[0-9]{1,4}[A-Z]{0,3}")
EU = formatter("eu")
EU_GENERIC = formatter("eu", "generic")
US_GENERIC = formatter("us", "generic")


def fits(text: str, layout: str) -> bool:
    return len(text) == len(layout) and all(ch in _SETS[code] for ch, code in zip(text, layout))


_NATIONAL_RE = re.compile("|".join("".join(f"[{_SETS[code]}]" for code in layout) for layout in NATIONAL))


def is_national(text: str) -> bool:
    return _NATIONAL_RE.fullmatch(text) is not None


@lru_cache(maxsize=None)
def layout_text(layout: str) -> st.SearchStrategy[str]:
    return _join(*(st.sampled_from(_SETS[code]) for code in layout))


def near_readings(raw: str) -> set[str]:
    """What raw could also be: itself or a one-shorter cut at either end, with at most one twin swapped."""
    cuts = {raw, raw[1:], raw[:-1]}
    swaps = {cut[:i] + TWIN[ch] + cut[i + 1:] for cut in cuts for i, ch in enumerate(cut) if ch in TWIN}
    return cuts | swaps


def is_eu_read(read: PlateRead | None, truth: str) -> bool:
    """truth, read as a European plate (a layout shared with the generic grammar may name either)."""
    return read is not None and (read.text, read.country) == (truth, "eu") and read.format != "eu_generic"


# The main current layouts: DE (two and three letters, 3-4 digits), FR, IT, ES, PL, RO, CZ, BE,
# PT, GR, SE/HU/FI/LT, CH, BG, SK, HR, EE, LV/LU.
MAIN = ["LLNDDD", "LLLNDDD", "ffDDDff", "iiDDDii", "DDDDeee", "LLDDDDD", "LLLDDDpp", "LLDDLLL", "NcDDDDD",
        "NLLLDDD", "DDLLDD", "hhhDDDD", "LLLDDD", "LLNDDDD", "bbDDDDbb", "LLDDDLL", "LLDDDDLL", "DDDLLL", "LLDDDD"]


def confused(truth: str, layout: str, data: st.DataObject) -> tuple[str, int]:
    """truth with one look-alike the layout forbids at its position, and that position."""
    positions = [i for i, ch in enumerate(truth) if ch in TWIN and TWIN[ch] not in _SETS[layout[i]]]
    assume(positions)
    position = data.draw(st.sampled_from(positions))
    return truth[:position] + TWIN[truth[position]] + truth[position + 1:], position


def check_restored(truth: str, plate: str, position: int | None, strip: str) -> None:
    """Read strip + plate (plate confused at position, if any) with countries [eu]: truth comes back.

    Skipped where another near reading of the raw string is itself a national plate, or the
    confused plate fits the generic grammar: the format cannot tell those apart.
    """
    raw = strip + plate
    assume(not GRAMMAR.fullmatch(plate) or plate == truth)
    assume(not any(is_national(t) for t in near_readings(raw) - {truth}))
    probs = np.vstack([one_hot(strip, 0.85), one_hot(plate)])
    if position is not None:
        confuse(probs, len(strip) + position, plate[position], truth[position])
    assert is_eu_read(EU.format(raw, probs), truth)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(layout=st.sampled_from(NATIONAL), strip=st.sampled_from("9BDI"), data=st.data())
def test_each_eu_layout_restored_from_a_confusion_or_a_strip(layout: str, strip: str, data: st.DataObject) -> None:
    truth = data.draw(layout_text(layout))
    if data.draw(st.booleans(), label="confusion, not strip"):
        check_restored(truth, *confused(truth, layout, data), "")
    else:
        check_restored(truth, truth, None, strip)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(layout=st.sampled_from(MAIN), strip=st.sampled_from("9BDI"), data=st.data())
def test_main_eu_layouts_restored_from_a_confusion_behind_a_strip(
        layout: str, strip: str, data: st.DataObject) -> None:
    truth = data.draw(layout_text(layout))
    check_restored(truth, *confused(truth, layout, data), strip)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(layout=st.sampled_from(MAIN), strip=st.sampled_from("9BDI"), data=st.data())
def test_strip_character_dropped_before_generic_reading(layout: str, strip: str, data: st.DataObject) -> None:
    """Even with generic configured at an equal share, an unsure strip + crisp main national
    layout loses the strip (a strip is no glyph, so it reads unsure; see CRISP_FIRST).

    (A rare layout, such as a Polish four-character series, can lose to the 8-character
    generic reading here: generic then holds half the prior.)
    """
    truth = data.draw(layout_text(layout))
    raw = strip + truth
    assume(not any(is_national(t) for t in (raw, raw[:-1])) and not GRAMMAR.fullmatch(raw))
    probs = np.vstack([one_hot(strip, 0.8), one_hot(truth, 0.9)])
    assert is_eu_read(EU_GENERIC.format(raw, probs), truth)


@pytest.mark.parametrize("plate", ["PSE22800", "FSD23429", "PGN756EC", "WX12345"])
def test_crisp_first_letter_of_a_long_plate_is_kept(plate: str) -> None:
    """A crisp first letter is a glyph, not the strip, even where cutting it leaves a more
    common layout (Polish 'PSE 22800' -> 'SE22800' would fit LLDDDDD)."""
    read = EU_GENERIC.format(plate, one_hot(plate, 0.98))
    assert read is not None and read.text == plate


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(layout=st.sampled_from(NATIONAL), data=st.data())
def test_crisp_national_plate_is_kept(layout: str, data: st.DataObject) -> None:
    """Kept whole; a very short one (CH 'ZH1') may be named generic rather than eu."""
    truth = data.draw(layout_text(layout))
    assume(not any(is_national(t) for t in (truth[1:], truth[:-1])))
    read = EU_GENERIC.format(truth, one_hot(truth, 0.9))
    assert read is not None and read.text == truth


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(layout=st.sampled_from(MAIN), data=st.data())
def test_weak_repeated_character_is_dropped(layout: str, data: st.DataObject) -> None:
    """A CTC double emission: one character read twice, the copy weakly."""
    truth = data.draw(layout_text(layout))
    position = data.draw(st.integers(1, len(truth) - 1))
    raw = truth[:position] + truth[position - 1] + truth[position:]
    assume(not any(is_national(t) for t in (raw, raw[1:], raw[:-1])) and not GRAMMAR.fullmatch(raw))
    probs = np.vstack([one_hot(truth[:position]), one_hot(raw[position], 0.45), one_hot(truth[position:])])
    assert is_eu_read(EU_GENERIC.format(raw, probs), truth)


def test_every_configurable_country_has_layouts() -> None:
    assert set(COUNTRY_CODES) == set(FORMATS)


def test_home_country_reads_a_crisp_strip_letter_as_the_strip() -> None:
    """The Spanish band's E read as a crisp B, then the plate's 0 read as O: across Europe
    BO752GJR is a plausible structured plate, but a unit in Spain knows a home plate behind
    its strip is far likelier."""
    probs = one_hot("BO752GJR", top=0.95)
    confuse(probs, 1, "O", "0", top=0.8, runner_up=0.1)
    assert formatter("eu", "generic").format("BO752GJR", probs).text == "BO752GJR"
    read = formatter("es", "eu", "generic").format("BO752GJR", probs)
    assert (read.text, read.country, read.format) == ("0752GJR", "es", "es_1234abc")


NATIONAL_CODES = sorted(set(COUNTRY_CODES) - {"generic", "gb", "eu", "us", "nl"})


@settings(max_examples=100, deadline=None)
@given(code=st.sampled_from(NATIONAL_CODES), data=st.data())
def test_home_layouts_read_back_under_their_country(code: str, data: st.DataObject) -> None:
    """A clean read of any layout of the unit's own country is that plate, named for the country."""
    layout = data.draw(st.sampled_from([f.pattern for f in FORMATS[code]]))
    truth = data.draw(layout_text(layout))
    read = formatter(code, "eu", "generic").format(truth, one_hot(truth))
    assert read is not None and (read.text, read.country) == (truth, code)
    assert fits(truth, layout) and is_national(truth)


def test_weak_spurious_digit_inside_czech_plate_is_dropped() -> None:
    probs = np.vstack([one_hot("1B235"), one_hot("7", 0.4), one_hot("79")])
    read = EU.format("1B235779", probs)
    assert read is not None and (read.text, read.format) == ("1B23579", "eu_cz")


def test_slovak_final_o_and_strip() -> None:
    probs = np.vstack([one_hot("9", 0.8), one_hot("BA123A0")])
    confuse(probs, 7, "0", "O")
    read = EU_GENERIC.format("9BA123A0", probs)
    assert read is not None and (read.text, read.format) == ("BA123AO", "eu_hr_sk")


def test_structured_grammar_restores_a_digit_inside_the_digit_group() -> None:
    """No national layout is LLDDDDLLL; the generic EU grammar still wants digits in the middle."""
    probs = one_hot("WN12S4ABC")
    confuse(probs, 4, "S", "5")
    read = EU.format("WN12S4ABC", probs)
    assert read is not None and (read.text, read.format) == ("WN1254ABC", "eu_structured")


@settings(max_examples=150, deadline=None)
@given(raw=PLAUSIBLE, countries=st.sampled_from([("eu", "generic"), ("us", "generic"), ("gb", "nl", "eu", "us")]),
       seed=st.integers(0, 2**32 - 1))
def test_crisp_characters_are_never_substituted(raw: str, countries: tuple[str, ...], seed: int) -> None:
    """Whatever the layouts, a read at >= 0.85 per character is at most cut at an end, never rewritten."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(len(ALPHABET), 0.5), size=len(raw))
    top = rng.uniform(0.85, 0.99, size=len(raw))
    probs *= ((1.0 - top) / probs.sum(axis=1))[:, None]
    probs[np.arange(len(raw)), [ALPHABET.index(c) for c in raw]] += top
    read = formatter(*countries).format(raw, probs)
    spellings = {raw, raw.replace("O", "0")} if "us" in countries else {raw}  # US layouts write O as 0
    assert read is not None and read.text in {cut for text in spellings for cut in (text, text[1:], text[:-1])}


def test_reads_shorter_than_min_characters_are_not_plates() -> None:
    short = PlateFormatter(PlatesConfig(countries=["gb", "generic"]), ALPHABET)
    assert short.format("A12", one_hot("A12", top=0.99)) is None
    assert short.format("A12B", one_hot("A12B", top=0.99)) is not None
    allowed = PlateFormatter(PlatesConfig(countries=["gb", "generic"], min_characters=2), ALPHABET)
    read = allowed.format("A1", one_hot("A1", top=0.99))
    assert read is not None and read.text == "A1"


def fits_us(text: str, layout: str) -> bool:
    """fits(), where O and 0 stand for each other in any slot (US states print one for the other)."""
    return len(text) == len(layout) and all(
        ch in _SETS[code] or (ch in "O0" and any(twin in _SETS[code] for twin in "O0"))
        for ch, code in zip(text, layout))


US_LAYOUTS = ["LLLDDDD", "NLLLDDD", "DDDLLL", "LLLDDD"]  # ABC1234, 1ABC234 (CA), 123ABC, ABC123
# Every state series shape the US syntax knows, for telling an ambiguous confusion apart.
US_SHAPES = sorted({f.pattern.upper() for f in FORMATS["us"] if f.name != "us_generic"})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(layout=st.sampled_from(US_LAYOUTS), data=st.data())
def test_us_layout_restores_look_alikes_but_keeps_o_and_zero(layout: str, data: st.DataObject) -> None:
    truth = data.draw(layout_text(layout))
    positions = [i for i, ch in enumerate(truth) if ch in TWIN and TWIN[ch] not in _SETS[layout[i]]]
    assume(positions)
    position = data.draw(st.sampled_from(positions))
    raw = truth[:position] + TWIN[truth[position]] + truth[position + 1:]
    # A US slot takes O and 0 alike (the round glyph), so 'IAAO000' already is an ABC1234 plate.
    assume(not any(fits_us(raw, other) for other in US_SHAPES))
    probs = one_hot(raw)
    confuse(probs, position, raw[position], truth[position])
    read = US_GENERIC.format(raw, probs)
    # A US slot takes the round glyph either way (states print one for the other) and writes it 0.
    expected = raw if raw[position] in "O0" else truth
    assert read is not None and read.text == expected.replace("O", "0")


@pytest.mark.parametrize(("raw", "position"), [
    ("ABC12O4", 5),   # O read in a digit slot
    ("7ABO123", 3),   # ... in a letter slot
    ("O4AB12", 0),
    ("COUGAR", 1),    # ... in a vanity plate (us_generic)
])
def test_us_layouts_spell_the_round_glyph_0(raw: str, position: int) -> None:
    """US states print O and 0 alike and their labels write 0, letter slot or digit slot,
    however sure the recogniser is of an O; the two spellings' scores are one text's."""
    as_zero = raw.replace("O", "0")
    for top, runner_up in ((0.60, 0.35), (0.98, 0.01)):
        probs = one_hot(raw)
        confuse(probs, position, "O", "0", top=top, runner_up=runner_up)
        read = US_GENERIC.format(raw, probs)
        assert read.text == as_zero
        assert sum(c.text == as_zero for c in read.candidates) == 1


def test_o_and_zero_keep_their_spellings_outside_the_us() -> None:
    """The round glyph's spelling is the US labels' convention; a GB plate's O is a letter."""
    probs = one_hot("AB12CDO")
    confuse(probs, 6, "O", "0", top=0.60, runner_up=0.35)
    assert formatter("gb").format("AB12CDO", probs).text == "AB12CDO"


@pytest.mark.parametrize("raw", ["R820503", "K179658", "5ABC123", "CLT0108"])
def test_us_crisp_first_character_is_kept(raw: str) -> None:
    """US plates carry no strip: a crisp first character is plate, even where cutting it
    would leave a digits-only or a more common series shape."""
    read = US_GENERIC.format(raw, one_hot(raw, top=0.98))
    assert read is not None and read.text == raw


def test_digit_free_word_is_not_a_confident_plate_where_plates_need_digits() -> None:
    """A badge or a dealer's name reads crisply, but where every layout needs a digit the
    mass the digit rule takes from it stays in the total: it is the chance that the text
    is not a plate, so such a read stays under min_confidence."""
    read = formatter("eu", "generic").format("TOYOTA", one_hot("TOYOTA", top=0.99))
    assert read is not None and read.confidence < PlatesConfig().min_confidence


def test_format_names_and_countries_are_consistent() -> None:
    """National eu formats are named after the countries sharing the pattern, one format per pattern."""
    for country, formats in FORMATS.items():
        assert all(f.country == country and f.name.startswith(country) and f.weight > 0 for f in formats)
    names = {f.name for f in FORMATS["eu"]}
    assert {"eu_cz", "eu_de", "eu_es", "eu_fr", "eu_it", "eu_hr_sk", "eu_structured", "eu_generic"} <= names
    assert len({f.pattern for f in FORMATS["eu"] if f.name not in {"eu_structured", "eu_generic"}}) == len(
        [f for f in FORMATS["eu"] if f.name not in {"eu_structured", "eu_generic"}])


def test_reads_are_fast_with_every_country() -> None:
    """Performance sanity: realistic 5-9 character reads, all syntaxes on, well under 20 ms each."""
    everything = formatter("gb", "nl", "eu", "us", "generic")
    rng = np.random.default_rng(11)
    reads = [rng.dirichlet(np.full(len(ALPHABET), 0.05), size=n) for n in rng.integers(5, 10, size=100)]
    start = time.perf_counter()
    for probs in reads:
        everything.format("X" * len(probs), probs)
    assert (time.perf_counter() - start) / len(reads) < 0.02


def _read(country: str, *ranked: tuple[str, float]) -> PlateRead:
    return PlateRead(ranked[0][0], ranked[0][1], [ScoredText(t, c) for t, c in ranked], country, f"{country}_layout")


def test_two_looks_that_agree_keep_the_read_and_its_confidence() -> None:
    merged = merge_looks(_read("gb", ("AB12CDE", 0.9), ("AB12CD", 0.05)), _read("gb", ("AB12CDE", 0.8)))
    assert (merged.text, merged.country) == ("AB12CDE", "gb")
    assert merged.confidence == pytest.approx(0.85)


def test_a_read_the_second_look_doubts_loses_about_half_its_confidence() -> None:
    merged = merge_looks(_read("us", ("5ZUC221", 0.99)), _read("us", ("5ZUC921", 0.9), ("5ZUC221", 0.05)))
    assert merged.text == "5ZUC221" and merged.confidence == pytest.approx(0.52)
    assert [c.text for c in merged.candidates] == ["5ZUC221", "5ZUC921"]


def test_the_look_that_ranked_the_winner_first_gives_its_country_and_format() -> None:
    merged = merge_looks(_read("gb", ("AB12CDE", 0.55), ("A812CDE", 0.45)), _read("eu", ("A812CDE", 0.95)))
    assert (merged.text, merged.country, merged.format) == ("A812CDE", "eu", "eu_layout")
    assert merged.confidence == pytest.approx(0.7)


def test_a_second_look_that_finds_no_plate_halves_the_first() -> None:
    merged = merge_looks(_read("gb", ("AB12CDE", 0.9), ("AB12CD", 0.1)), None)
    assert merged.text == "AB12CDE" and merged.confidence == pytest.approx(0.45)
    assert [c.confidence for c in merged.candidates] == pytest.approx([0.45, 0.05])


def test_a_third_look_keeps_two_thirds_of_a_read_two_looks_share_and_a_third_of_one_they_do_not() -> None:
    merged = merge_looks(_read("us", ("5ZUC221", 0.9)), _read("us", ("5ZUC921", 0.9)),
                         _read("us", ("5ZUC921", 0.9), ("5ZUC221", 0.06)))
    assert merged.text == "5ZUC921" and merged.confidence == pytest.approx(0.6)
    assert [(c.text, round(c.confidence, 2)) for c in merged.candidates] == [("5ZUC921", 0.6), ("5ZUC221", 0.32)]


def test_the_winner_takes_country_and_format_from_the_first_look_that_ranked_it_first() -> None:
    merged = merge_looks(_read("gb", ("AB12CDE", 0.6), ("A812CDE", 0.4)), None, _read("eu", ("A812CDE", 0.9)),
                         _read("nl", ("A812CDE", 0.8)))
    assert (merged.text, merged.country) == ("A812CDE", "eu")
    assert merged.confidence == pytest.approx((0.4 + 0.9 + 0.8) / 4)


_LOOKS = st.lists(st.tuples(st.sampled_from(["AB12CDE", "A812CDE", "AB12CD", "8812CDE", "AB12C0E"]), st.floats(0, 1)),
                  min_size=1, max_size=4, unique_by=lambda x: x[0])


@settings(max_examples=60, deadline=None)
@given(st.lists(_LOOKS, min_size=2, max_size=3))
def test_merged_candidates_are_ranked_means_no_more_than_any_look_gave(looks) -> None:
    looks = [sorted(look, key=lambda x: -x[1]) for look in looks]
    merged = merge_looks(*(_read("gb", *look) for look in looks))
    scores = [c.confidence for c in merged.candidates]
    assert scores == sorted(scores, reverse=True) and len(scores) <= max(len(look) for look in looks)
    assert (merged.text, merged.confidence) == (merged.candidates[0].text, scores[0])
    texts = set().union(*(dict(look) for look in looks))
    every = {t: sum(dict(look).get(t, 0) for look in looks) / len(looks) for t in texts}
    assert scores[0] == pytest.approx(max(every.values()))


@pytest.mark.parametrize(("raw", "position", "truth"), [
    ("KL3BBK", 4, "8"),  # Missouri's AB1C2D series: slot 5 is a digit
    ("CK0AIF", 4, "1"),
])
def test_missouri_series_restores_its_second_digit(raw: str, position: int, truth: str) -> None:
    """Missouri's AB1C2D series (about 2% of US cars) alternates letters and digits; its
    second digit, read as the look-alike letter at up to two to one, is restored."""
    probs = one_hot(raw, top=0.98)
    confuse(probs, position, raw[position], truth, top=0.65, runner_up=0.33)
    read = formatter("us", "generic").format(raw, probs)
    assert read is not None and read.text == raw[:position] + truth + raw[position + 1:]
    assert read.format == "us_ab1c2d"


@pytest.mark.parametrize("short, longer, adds", [
    ("NW2529", "ANW2529", True), ("6TIX87", "6TIX874", True), ("NW2529", "NW2529", False),
    ("NW2529", "ANW25291", False), ("NW2529", "AMW2529", False), ("6TIX87", "6TX874", False),
])
def test_a_longer_read_adds_an_end_glyph_only_when_it_holds_the_whole_shorter_one(short, longer, adds) -> None:
    assert adds_an_end_glyph(short, longer) is adds
