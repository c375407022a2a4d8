"""Synthetic plates, scenes, clips and the committed sample_images/ they produced."""

from __future__ import annotations

import csv
import re
import string
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge.config import ZoneConfig
from edge.synth import render, samples
from edge.synth.scenes import Trajectory, make_vehicle, render_scene, render_sequence
from edge.zone import classify

SAMPLES = Path(__file__).parents[1] / "sample_images"

FORMATS = {
    "gb_current": r"[A-Z]{2}(0[2-9]|1\d|2[0-6]|5[2-9]|6\d|7[0-6])[A-Z]{3}",
    "gb_prefix": r"[A-Z][1-9]\d{0,2}[A-Z]{3}",
    "gb_suffix": r"[A-Z]{3}[1-9]\d{0,2}[A-Z]",
    "gb_dateless": r"[A-Z]{1,3}[1-9]\d{0,3}|[1-9]\d{0,3}[A-Z]{1,3}",
    "eu": r"(?=.*\d)[A-Z0-9]{5,8}",
    "nl": r"(?=(?:.*[A-Z]){2})(?=(?:.*\d){2})[BDFGHJKLNPRSTVXZ0-9]{6}",
    "pl": r"[A-Z]{2,3}[A-Z0-9]{4,5}",
    "us": r"[A-Z0-9]{5,7}",
}


@pytest.mark.parametrize("style", render.STYLES)
def test_plate_text_matches_style_format(style: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        text = render.random_plate_text(style, rng)
        assert re.fullmatch(FORMATS[style], text), (style, text)
        assert len(text) <= 8


def test_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown plate style"):
        render.random_plate_text("xx", np.random.default_rng(0))


def test_layout_must_spell_text() -> None:
    with pytest.raises(ValueError, match="does not spell"):
        render.render_plate("AB12CDE", "gb_current", np.random.default_rng(0), layout="AB12-CDF")


@pytest.mark.parametrize("style", render.STYLES)
def test_character_boxes_lie_inside_plate_in_reading_order(style: str) -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        layout = render.random_plate_layout(style, rng)
        colour, strip = render.random_colour_and_strip(style, rng)
        text = layout.replace("-", "")
        image, boxes = render.render_plate(text, style, rng, colour, strip, layout=layout)
        h, w = image.shape[:2]
        assert image.dtype == np.uint8 and image.shape[2] == 3
        assert len(boxes) == len(text)
        for box in boxes:
            assert 0 <= box.x and box.x + box.w <= w and 0 <= box.y and box.y + box.h <= h
            assert box.w >= 3 and box.h >= h * 0.3
        lefts = [box.x for box in boxes]
        assert lefts == sorted(lefts)
        for a, b in zip(boxes, boxes[1:]):
            assert a.x + a.w <= b.x + 1, "characters overlap"


def test_characters_carry_ink_and_the_plate_contrasts() -> None:
    rng = np.random.default_rng(5)
    colours: tuple[render.PlateColour, ...] = ("white", "yellow", "grey", "dark")
    for colour in colours:
        image, boxes = render.render_plate("AB12CDE", "gb_current", rng, colour, None)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(float)
        background = np.median(grey)
        for box in boxes:
            cell = grey[box.y : box.y + box.h, box.x : box.x + box.w]
            assert np.abs(cell - background).max() > 80, colour


def test_rendering_is_deterministic_given_the_generator() -> None:
    def run(seed: int) -> list[bytes]:
        rng = np.random.default_rng(seed)
        plate, text, style = render.random_plate(rng)
        out = [
            plate.tobytes(),
            text.encode(),
            style.encode(),
            render.degrade(plate, rng, 0.8).tobytes(),
        ]
        out.append(render_scene(rng, (640, 480), night=True).image.tobytes())
        return out

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_variant_glyphs_differ_only_where_plate_faces_differ() -> None:
    """W, M, 1 and O have their DIN/UK shapes in the variant font; every other glyph is shared."""
    def ink(text: str, font: str | None) -> np.ndarray:
        plate, _boxes = render.render_plate(text, "gb_current", np.random.default_rng(1), font=font or "plate")
        return plate

    assert np.array_equal(ink("AB23CDE", None), ink("AB23CDE", render.VARIANT_FONT))
    for text in ("AW23CDE", "AM23CDE", "AB21CDE", "AO23CDE"):
        assert not np.array_equal(ink(text, None), ink(text, render.VARIANT_FONT))


def test_variant_share_draws_the_variant_font_without_moving_the_default_stream() -> None:
    default = render.random_plate(np.random.default_rng(5))
    unshared = render.random_plate(np.random.default_rng(5), variant_share=0.0)
    assert default[1:] == unshared[1:] and np.array_equal(default[0], unshared[0])
    texts = [render.random_plate(np.random.default_rng(i), variant_share=1.0)[1] for i in range(3)]
    assert all(re.fullmatch(r"[A-Z0-9]+", t) for t in texts)


def test_typeface_share_draws_truetype_plates_without_moving_the_default_stream() -> None:
    default = render.random_plate(np.random.default_rng(5))
    unshared = render.random_plate(np.random.default_rng(5), typeface_share=0.0)
    assert default[1:] == unshared[1:] and np.array_equal(default[0], unshared[0])
    for seed in range(4):
        image, text, style = render.random_plate(np.random.default_rng(seed), typeface_share=1.0)
        assert re.fullmatch(r"[A-Z0-9]+", text) and style in render.STYLES and image.dtype == np.uint8


def test_furniture_share_dresses_continental_plates_only_and_keeps_labels() -> None:
    """Share 0 leaves the stream as it was; at 1 continental plates change (coat of arms,
    right-hand band, dealer's line) but not their labels, and other styles do not change."""
    default = render.random_plate(np.random.default_rng(5))
    unshared = render.random_plate(np.random.default_rng(5), furniture_share=0.0)
    assert default[1:] == unshared[1:] and np.array_equal(default[0], unshared[0])
    changed = {"eu": 0, "other": 0}
    for seed in range(40):
        plain = render.random_plate(np.random.default_rng(seed))
        dressed = render.random_plate(np.random.default_rng(seed), furniture_share=1.0)
        assert plain[1:] == dressed[1:]
        differs = plain[0].shape != dressed[0].shape or not np.array_equal(plain[0], dressed[0])
        changed["eu" if plain[2] == "eu" else "other"] += differs
    assert changed["eu"] >= 3 and changed["other"] == 0


def test_a_holder_surrounds_the_plate_hides_its_edges_and_prints_beyond_them() -> None:
    """The plate lies whole at the returned box, unchanged between the holder's bands; the
    holder runs round it in one colour, and in most draws its print stands out above or below
    the plate. The same generator draws the same holder."""
    plate = np.full((80, 160, 3), 235, np.uint8)
    plate[25:65, 20:140] = 30  # the registration's band of glyphs
    seen = slice(round(0.22 * 80), 80 - round(0.08 * 80))  # never under the holder's bands
    printed = 0
    for seed in range(20):
        held, box = render.add_holder(plate, np.random.default_rng(seed))
        again, same_box = render.add_holder(plate, np.random.default_rng(seed))
        assert box == same_box and np.array_equal(held, again)
        assert held.shape[0] > plate.shape[0] and held.shape[1] > plate.shape[1]
        inside = held[box.y:box.y + box.h, box.x:box.x + box.w]
        assert inside.shape == plate.shape and np.array_equal(inside[seen], plate[seen])
        frame = held[0, 0]
        assert (held[box.y:box.y + box.h, :box.x] == frame).all()
        bands = np.concatenate([held[:box.y], held[box.y + box.h:]])
        printed += bool((np.abs(bands.astype(int) - frame.astype(int)).max(axis=2) > 60).any())
    assert printed >= 10


def test_truetype_faces_draw_every_plate_character() -> None:
    """Every face draws every plate character, and its M differs from the stroke font's."""
    def plate(text: str, font: str) -> np.ndarray:
        return render.render_plate(text, "eu", np.random.default_rng(3), font=font)[0]

    alphabet = string.ascii_uppercase + string.digits
    for face in render.TYPEFACES:
        drawn = plate(alphabet[:7], face)
        assert drawn.std() > 20  # ink on the plate
        assert not np.array_equal(plate("CM852DJ", face), plate("CM852DJ", "plate"))
        for char in alphabet:
            glyph = render._glyph_mask(char, face, 12)
            assert glyph.ndim == 2 and min(glyph.shape) > 5, (face, char)


def test_missing_typeface_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(render, "TYPEFACE_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="fonts-dejavu-core"):
        render.typeface_path(render.TYPEFACES[0])


def test_degrade_keeps_shape_and_changes_pixels() -> None:
    rng = np.random.default_rng(2)
    plate, _text, _style = render.random_plate(rng)
    for strength in (0.0, 0.5, 1.0):
        out = render.degrade(plate, rng, strength)
        assert out.shape == plate.shape and out.dtype == np.uint8
        assert not np.array_equal(out, plate)


def test_random_plate_mix_follows_weights() -> None:
    rng = np.random.default_rng(9)
    styles = [render.random_plate(rng)[2] for _ in range(600)]
    gb = sum(s.startswith("gb") for s in styles) / len(styles)
    us = styles.count("us") / len(styles)
    assert 0.27 < gb < 0.43 and 0.23 < us < 0.37


def test_scene_box_is_inside_image_and_holds_the_plate() -> None:
    rng = np.random.default_rng(21)
    for size in ((1280, 720), (640, 480)):
        scene = render_scene(rng, size)
        (placed,) = scene.plates
        box = placed.box
        assert scene.image.shape == (size[1], size[0], 3)
        assert 0 <= box.x and box.x + box.w <= size[0] and 0 <= box.y and box.y + box.h <= size[1]
        assert box.w >= 40
        centre = placed.quad.mean(axis=0)
        assert box.x <= centre[0] <= box.x + box.w and box.y <= centre[1] <= box.y + box.h


def test_gb_plates_are_white_at_the_front_and_yellow_at_the_rear() -> None:
    rng = np.random.default_rng(4)
    front = cv2.cvtColor(make_vehicle(rng, "front", "gb_current").plate, cv2.COLOR_BGR2HSV)
    rear = cv2.cvtColor(make_vehicle(rng, "rear", "gb_current").plate, cv2.COLOR_BGR2HSV)
    assert np.median(front[..., 1]) < 60 < 120 < np.median(rear[..., 1])


def test_sequence_boxes_move_and_grow_in_the_stated_direction() -> None:
    rng = np.random.default_rng(13)
    towards = Trajectory(
        make_vehicle(rng, "front", "gb_current"), (0.0, 1.0), (0.4, 0.4), (0.2, 0.85)
    )
    away = Trajectory(make_vehicle(rng, "rear", "gb_current"), (0.0, 1.0), (0.7, 0.7), (0.85, 0.2))
    seq = render_sequence(rng, [towards, away], (480, 270), seconds=1.0, fps=10)
    assert len(seq.frames) == 10 and seq.frames[0].shape == (270, 480, 3)
    near, far = seq.boxes
    assert all(b is not None for b in near + far)
    ys = [b.y + b.h / 2 for b in near]
    assert ys == sorted(ys) and near[-1].w > near[0].w * 2
    ys = [b.y + b.h / 2 for b in far]
    assert ys == sorted(ys, reverse=True) and far[-1].w < far[0].w / 2


def test_vehicle_leaving_the_frame_has_no_box() -> None:
    rng = np.random.default_rng(17)
    leaving = Trajectory(
        make_vehicle(rng, "front", "gb_current"), (0.0, 1.0), (0.5, 2.5), (0.4, 0.4)
    )
    seq = render_sequence(rng, [leaving], (320, 180), seconds=1.0, fps=10)
    assert seq.boxes[0][0] is not None and seq.boxes[0][-1] is None


# ---------------------------------------------------------------------------------------
# The committed sample_images/
# ---------------------------------------------------------------------------------------


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_sample_labels_match_images() -> None:
    rows = _rows(SAMPLES / "labels.csv")
    assert list(rows[0])[:6] == ["file", "plate", "x", "y", "w", "h"]
    assert len(rows) >= 24
    assert sum(row["file"].count("night") for row in rows) >= 4
    sizes = set()
    for row in rows:
        image = cv2.imread(str(SAMPLES / row["file"]))
        assert image is not None, row["file"]
        h, w = image.shape[:2]
        sizes.add((w, h))
        x, y, bw, bh = (int(row[k]) for k in "xywh")
        assert 0 <= x and x + bw <= w and 0 <= y and y + bh <= h and bw > 30 and bh > 8
        assert re.fullmatch(r"[A-Z0-9]{2,8}", row["plate"])
    assert {(1280, 720), (640, 480), (1920, 1080)} <= sizes


def test_sample_sizes_stay_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 5_500_000


def _zone() -> ZoneConfig:
    return ZoneConfig(**yaml.safe_load((SAMPLES / "sequences" / "zone.yaml").read_text()))


def test_sample_clips_are_listed_and_readable() -> None:
    rows = _rows(SAMPLES / "sequences" / "labels.csv")
    assert list(rows[0])[:3] == ["file", "plate", "event"]
    assert {row["event"] for row in rows} == {"entry", "exit", "unknown"}
    assert _zone().inside == "below"
    for name in {row["file"] for row in rows}:
        capture = cv2.VideoCapture(str(SAMPLES / "sequences" / name))
        ok, frame = capture.read()
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        assert ok and frame.shape[:2] == (samples.CLIP_SIZE[1], samples.CLIP_SIZE[0])
        assert 3 * samples.FPS <= frames <= 4 * samples.FPS


@pytest.mark.parametrize("clip", samples.CLIPS, ids=lambda c: c.name)
def test_clip_paths_give_the_labelled_zone_events(clip: samples.ClipSpec) -> None:
    """The on-screen plate-centre path of each clip yields its label under zone.yaml."""
    zone = _zone()
    width, height = samples.CLIP_SIZE
    times = np.arange(0.0, samples.CLIP_SECONDS, 1.0 / samples.FPS)
    trajectories = samples.clip_trajectories(clip.name, np.random.default_rng(0))
    assert len(trajectories) == len(clip.events)
    for trajectory, event in zip(trajectories, clip.events):
        centres = np.array([trajectory.at(t) for t in times]) * (width, height)
        on_screen = centres[(centres[:, 0] > 0) & (centres[:, 0] < width)]
        assert classify(zone, on_screen).event == event, clip.name


@pytest.mark.slow
def test_committed_stills_match_the_generator(tmp_path: Path) -> None:
    """sample_images/ stills are what the generator writes today (labels exact, pixels near)."""
    rows = samples.generate_stills(tmp_path, samples.sample_seeds(2026)[0])
    committed = _rows(SAMPLES / "labels.csv")
    assert [[str(v) for v in row] for row in rows] == [list(row.values())[:6] for row in committed]
    for row in committed:
        fresh = cv2.imread(str(tmp_path / row["file"])).astype(float)
        stored = cv2.imread(str(SAMPLES / row["file"])).astype(float)
        assert np.abs(fresh - stored).mean() < 1.0, row["file"]
    assert (SAMPLES / "sequences" / "zone.yaml").read_text() == samples.zone_yaml(
        *samples.CLIP_SIZE
    )


def test_text_on_a_float_plate_is_the_same_where_opencv_draws_only_8_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenCV 5 refuses text on float canvases; the mask that stands in for it there paints the
    pixels OpenCV 4 paints itself (it draws hard-edged strokes on float images)."""
    canvas = np.full((60, 200, 3), 230.0, np.float32)
    native, blended = canvas.copy(), canvas.copy()
    args = ("NEW YORK", (10, 40), cv2.FONT_HERSHEY_DUPLEX, 1.0, (40.0, 60.0, 150.0), 2)
    if not render._TEXT_NEEDS_8BIT:
        render._put_text(native, *args)
    monkeypatch.setattr(render, "_TEXT_NEEDS_8BIT", True)
    render._put_text(blended, *args)
    assert (np.abs(blended - canvas).max(axis=2) > 50).sum() > 200  # the text is there
    if np.array_equal(native, canvas):
        pytest.skip("this OpenCV draws no text on float images to compare with")
    assert np.array_equal(native, blended)


def test_us_plates_write_the_round_glyph_0():
    """US reads write O as 0 (edge.formats._spelled), so the synthetic US plates do too:
    their labels agree with what the unit reports and with the real US labels."""
    rng = np.random.default_rng(5)
    texts = [render.random_plate_text("us", rng) for _ in range(400)]
    assert not any("O" in text for text in texts) and any("0" in text for text in texts)
    assert any("O" in render.random_plate_text("gb_current", rng) for _ in range(400))  # other styles keep their O
