"""edge.synth.respell: real plates cut into their glyphs and written with new texts."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import RecogniserConfig
from edge.read import PlateRecogniser
from edge.synth import render
from edge.synth.respell import GlyphBank, lift_glyphs


def rendered(count: int, style: str = "gb_current", font: str = "plate", seed: int = 3,
             text: str | None = None) -> list[tuple[np.ndarray, str, list]]:
    """Plain plates of one style and font (one "group"), with each character's ink box."""
    rng = np.random.default_rng(seed)
    plates = []
    for _ in range(count):
        label = text or render.random_plate_text(style, rng)
        image, boxes = render.render_plate(label, style, rng, font=font)
        plates.append((image, label, boxes))
    return plates


def test_a_plate_splits_into_its_glyphs_in_reading_order() -> None:
    """Most plain plates split; each slot then sits on its own character's ink."""
    plates = rendered(12)
    lifted = [lift_glyphs(image, text, "gb") for image, text, _ in plates]
    assert sum(found is not None for found in lifted) >= 9
    for found, (_image, text, boxes) in zip(lifted, plates):
        if found is None:
            continue
        blank, glyphs = found
        assert "".join(g.char for g in glyphs) == blank.chars == text
        for slot, box in zip(blank.slots, boxes):
            middle_x, middle_y = slot.x + slot.w / 2, slot.y + slot.h / 2
            assert box.x <= middle_x <= box.x + box.w and box.y <= middle_y <= box.y + box.h


def test_lifting_leaves_the_plate_blank_where_the_glyphs_stood() -> None:
    """Inside the characters' boxes the blank plate is as light as the plate around them."""
    for image, text, boxes in rendered(6):
        found = lift_glyphs(image, text, "gb")
        if found is None:
            continue
        blank = found[0].blank
        grey, blank_grey = image.mean(axis=2), blank.mean(axis=2)
        inside = np.concatenate([blank_grey[b.y:b.y + b.h, b.x:b.x + b.w].ravel() for b in boxes])
        ink = np.concatenate([grey[b.y:b.y + b.h, b.x:b.x + b.w].ravel() for b in boxes])
        paper = np.median(grey)
        assert np.percentile(ink, 10) < paper - 100  # the glyphs were dark
        assert np.percentile(inside, 10) > paper - 40  # and are gone


def test_plates_that_do_not_split_are_left_out_of_the_bank() -> None:
    flat = np.full((100, 300, 3), 200, np.uint8)
    noise = np.random.default_rng(0).integers(0, 255, (100, 300, 3), dtype=np.uint8)
    assert lift_glyphs(flat, "AB12CDE", "gb") is None and lift_glyphs(noise, "AB12CDE", "gb") is None
    image, text, _ = rendered(1)[0]
    assert len(GlyphBank([(flat, "AB12CDE", "gb"), (noise, "AB12CDE", "gb"), (image, text, "gb")])) == 1


def test_a_respelled_plate_is_a_pure_function_of_the_draw() -> None:
    bank = GlyphBank([(image, text, "gb") for image, text, _ in rendered(8)])
    first = [bank.respell(np.random.default_rng([1, i])) for i in range(5)]
    again = [bank.respell(np.random.default_rng([1, i])) for i in range(5)]
    assert all(a[1] == b[1] and np.array_equal(a[0], b[0]) for a, b in zip(first, again))


def test_glyphs_come_only_from_the_plates_own_group() -> None:
    """A group whose plates hold only digits respells them with digits; a plate of the
    other group gets letters too, and its own length."""
    digits = [(image, text, "digits") for image, text, _ in rendered(4, seed=5, text="1234567")]
    letters = [(image, text, "mixed") for image, text, _ in rendered(4, seed=6)]
    bank = GlyphBank(digits + letters)
    assert set(bank.glyphs) == {"digits", "mixed"}
    texts = [bank.respell(np.random.default_rng([2, i]))[1] for i in range(40)]
    assert all(len(t) == 7 for t in texts)
    assert any(t.isdigit() for t in texts) and any(not t.isdigit() for t in texts)
    assert set("".join(texts)) <= set("1234567") | set("".join(t for _, t, _ in letters))


def test_a_character_draw_shows_rare_characters_as_often_as_common_ones() -> None:
    """Plates that show 1 six times as often as 8: drawn over glyphs, respelled digits are
    mostly 1s; drawn over characters, 8 comes about as often as 1."""
    plates = [(image, text, "us") for image, text, _ in rendered(6, seed=8, text="1111118")]
    by_draw = {}
    for draw in ("glyphs", "characters"):
        bank = GlyphBank(plates, draw)
        digits = "".join(c for i in range(60) for c in bank.respell(np.random.default_rng([4, i]))[1] if c.isdigit())
        by_draw[draw] = digits.count("8") / max(digits.count("1"), 1)
    assert by_draw["glyphs"] < 0.35 and 0.6 < by_draw["characters"] < 1.6, by_draw


def test_an_unknown_draw_is_refused() -> None:
    with pytest.raises(ValueError, match="respell draw"):
        GlyphBank([], "letters")


@pytest.fixture(scope="module")
def recogniser() -> PlateRecogniser:
    return PlateRecogniser(RecogniserConfig())


def test_the_shipped_recogniser_reads_a_respelled_plate_as_its_new_text(recogniser) -> None:
    """The new glyphs are legible where they stand: the recogniser reads the new text, not
    the old one the plate was photographed with."""
    plates = rendered(12, seed=7)
    bank = GlyphBank([(image, text, "gb") for image, text, _ in plates])
    respelled = [bank.respell(np.random.default_rng([3, i])) for i in range(24)]
    reads = recogniser.recognise([image for image, _ in respelled])
    right = sum(read.text == text for read, (_, text) in zip(reads, respelled))
    assert right >= 20, [(read.text, text) for read, (_, text) in zip(reads, respelled)]
    originals = {text for _, text, _ in plates}
    assert sum(text in originals for _, text in respelled) <= 2
