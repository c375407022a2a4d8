"""tools/train_recogniser.py: reproducible samples, the roadside views, and a short run that ships loadable weights."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from edge.config import RecogniserConfig
from edge.read import PlateRecogniser
from edge.synth import render

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def tool():
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("train_recogniser", ROOT / "tools" / "train_recogniser.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_recogniser"] = module
    spec.loader.exec_module(module)
    return module


def plates(count: int) -> list[tuple[np.ndarray, str]]:
    rng = np.random.default_rng(5)
    return [render.random_plate(rng)[:2] for _ in range(count)]


def test_a_sample_is_a_pure_function_of_seed_and_index(tool) -> None:
    size = (32, 128)
    a = tool.PlateSamples(plates(4), 7, 0.5, size, tool.SynthMix(variant=0.3), tool.RealMix(degrade=0.5))
    b = tool.PlateSamples(plates(4), 7, 0.5, size, tool.SynthMix(variant=0.3), tool.RealMix(degrade=0.5))
    for index in (0, 3, 11):
        (image_a, text_a), (image_b, text_b) = a[index], b[index]
        assert text_a == text_b and np.array_equal(image_a.numpy(), image_b.numpy())
    other_seed = tool.PlateSamples(plates(4), 8, 0.5, size, tool.SynthMix(variant=0.3), tool.RealMix(degrade=0.5))
    assert any(not np.array_equal(a[i][0].numpy(), other_seed[i][0].numpy()) for i in range(4))


def test_typeface_share_changes_synthetic_samples_but_not_their_labels(tool) -> None:
    plain = [tool.synthetic_sample(np.random.default_rng([2, i]), tool.SynthMix()) for i in range(6)]
    typed = [tool.synthetic_sample(np.random.default_rng([2, i]), tool.SynthMix(typeface=1.0)) for i in range(6)]
    assert all(re.fullmatch(r"[A-Z0-9]+", text) for _, text in typed)
    assert any(p.shape != t.shape or not np.array_equal(p, t) for (p, _), (t, _) in zip(plain, typed))


def test_synthetic_mix_comes_from_the_command_line(tool) -> None:
    args = tool.parse_args(["--variant-share", "0.2", "--typeface-share", "0.25", "--furniture-share", "0.5"])
    assert tool.SynthMix.from_args(args) == tool.SynthMix(variant=0.2, typeface=0.25, furniture=0.5)
    assert tool.SynthMix.from_args(tool.parse_args([])).furniture == 0.0  # the shipped recipe: none


def test_real_crops_go_through_the_camera_model_at_the_degrade_share(tool) -> None:
    """Share 1 sends every real crop through render.degrade, share 0 none: the same draw
    then gives another image, with the same label; the held-out view is fixed per crop."""
    samples = plates(3)
    for index in range(6):
        (plain, text), (seen, same_text) = (
            tool.real_sample(samples, np.random.default_rng([1, index]), tool.RealMix(degrade=share))
            for share in (0.0, 1.0))
        assert text == same_text and plain.ndim == seen.ndim == 3
        assert plain.shape != seen.shape or not np.array_equal(plain, seen)
    degraded = tool.degraded_views(samples)
    assert [t for _, t in degraded] == [t for _, t in samples]
    assert all(d.shape == s.shape and not np.array_equal(d, s) for (d, _), (s, _) in zip(degraded, samples))
    again = tool.degraded_views(samples)
    assert all(np.array_equal(d, e) for (d, _), (e, _) in zip(degraded, again))


def test_far_share_shrinks_real_crops_to_a_distant_plates_width(tool) -> None:
    """Share 1 shrinks every re-lit real crop to 48-140 px wide (the scans are ~300 px), share 0
    keeps the full-width draw; labels never change."""
    samples = [(np.full((150, 300, 3), 200, np.uint8), text) for _, text in plates(3)]
    near = [tool.real_sample(samples, np.random.default_rng([4, i]), tool.RealMix()) for i in range(20)]
    far = [tool.real_sample(samples, np.random.default_rng([4, i]), tool.RealMix(far=1.0)) for i in range(20)]
    assert all(48 <= image.shape[1] <= 140 for image, _ in far)
    assert max(image.shape[1] for image, _ in near) > 140
    assert [t for _, t in near] == [t for _, t in far]


def test_holder_share_sets_real_crops_in_a_dealers_holder(tool) -> None:
    """Share 1 sets every real draw in a holder (edge.synth.render.add_holder), cut about at
    the plate's edges, or cut by the localiser from the holder on a car; share 0 makes no
    draw of its own, so earlier recipes replay exactly; labels never change."""
    samples = plates(3)
    for framed in (0.0, 1.0):
        for index in range(6):
            draw = partial(tool.real_sample, samples)
            plain, text = draw(np.random.default_rng([8, index]), tool.RealMix(framed=framed))
            again, _ = draw(np.random.default_rng([8, index]), tool.RealMix(framed=framed, holder=0.0))
            held, same_text = draw(np.random.default_rng([8, index]), tool.RealMix(framed=framed, holder=1.0))
            assert np.array_equal(plain, again) and text == same_text
            assert plain.shape != held.shape or not np.array_equal(plain, held)


def test_roadside_views_are_fixed_per_crop_and_keep_their_labels(tool) -> None:
    samples = plates(4)
    views, again = tool.roadside_views(samples), tool.roadside_views(samples)
    assert [t for _, t in views] == [t for _, t in samples]
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(views, again))


def test_the_localiser_cuts_a_plate_set_in_a_car_body_as_at_run_time(tool) -> None:
    """The cut is the plate at a roadside width (60-220 px) with the run-time margin: wider
    than the plate itself, far narrower than the car body around it."""
    for index, (image, _) in enumerate(plates(6)):
        rng = np.random.default_rng([9, index])
        framed = tool.localiser_framed(image, rng)
        assert framed is not None and framed.ndim == 3
        assert 50 <= framed.shape[1] <= 300 and framed.shape[1] > 2 * framed.shape[0]


def test_a_short_run_exports_weights_that_the_reader_loads(tool, tmp_path: Path) -> None:
    """With one data-loader worker, as the tool's default: it is forked after the validation
    has cut crops with the localiser, and must still cut its own (it once waited for ever)."""
    out = tmp_path / "model"
    tool.main(["--init", str(ROOT / "models" / "plate_rec.pth"), "--steps", "2", "--eval-every", "2",
               "--synthetic-val", "4", "--workers", "1", "--real-degrade-share", "0.5", "--real-framed-share", "0.5",
               "--height", "40", "--width", "144", "--typeface-share", "0.5",
               "--runs", str(tmp_path / "runs"), "--out", str(out)])
    entry = json.loads((out / "MANIFEST.json").read_text())["files"]["plate_rec.pth"]
    assert entry["steps"] == 2 and "50% through render.degrade" in entry["training_data"]
    assert "TrueType faces" in entry["training_data"] and entry["input"].startswith("grey 40x144")
    assert set(entry["eval"]) >= {"synthetic_heldout"}
    assert "50% set in a car body and cut by edge.localise" in entry["training_data"]
    import torch

    state = torch.load(out / "plate_rec.pth", map_location="cpu")
    counters = [v for k, v in state.items() if k.endswith("num_batches_tracked")]
    assert counters and all(v.dtype == torch.int64 for v in counters)  # not halved into fp16
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    reader = PlateRecogniser(RecogniserConfig(model_dir=out))
    assert (reader.height, reader.width) == (40, 144)
    assert len(reader.recognise([plates(1)[0][0]])) == 1


def test_a_candidate_is_promoted_as_the_looks_network(tool, tmp_path: Path) -> None:
    """--promote installs a candidate folder's network under another name beside the shipped
    one, with its manifest entry renamed, and the reader loads it by that name; weights that
    do not match their entry are refused."""
    out = tmp_path / "models"
    shutil.copytree(ROOT / "models", out, ignore=shutil.ignore_patterns("plate_rec_look*"))
    tool.main(["--promote", str(ROOT / "models"), "--as", "plate_rec_second", "--out", str(out)])
    manifest = json.loads((out / "MANIFEST.json").read_text())["files"]
    assert {"plate_rec.pth", "plate_rec_second.pth"} <= set(manifest)
    assert manifest["plate_rec_second.pth"]["network"] == "plate_rec_second"
    assert manifest["plate_rec_second.pth"]["sha256"] == manifest["plate_rec.pth"]["sha256"]
    second = PlateRecogniser(RecogniserConfig(model_dir=out, network="plate_rec_second"))
    assert len(second.recognise([plates(1)[0][0]])) == 1
    broken = tmp_path / "broken"
    shutil.copytree(ROOT / "models", broken)
    (broken / "plate_rec.pth").write_bytes(b"not weights")
    with pytest.raises(SystemExit, match="does not match"):
        tool.main(["--promote", str(broken), "--as", "plate_rec_second", "--out", str(out)])
    assert PlateRecogniser(RecogniserConfig(model_dir=out, network="plate_rec_second"))  # left as it was


def test_a_fine_tune_never_reads_english_g2(tool, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --init the network comes from the shipped weights alone, so a GPU machine without
    easyocr's stock models can train; the loaded weights are the shipped ones."""
    def no_stock_weights():
        raise AssertionError("english_g2 read")

    monkeypatch.setattr(tool, "english_g2", no_stock_weights)
    shipped = ROOT / "models" / "plate_rec.pth"
    model = tool.build_model("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", shipped)
    weights = tool.load_shipped(shipped)
    assert all(np.array_equal(value.numpy(), weights[key].numpy()) for key, value in model.state_dict().items()
               if value.is_floating_point())


def test_max_minutes_fits_the_cosine_to_the_time_left(tool) -> None:
    """At 10 steps/s after the workers' start with 100 s left, 90% of the time left holds 900 more
    steps; a --steps below that wins; a warm-up too short to time is refused."""
    args = tool.parse_args(["--max-minutes", "5", "--warmup", "110", "--steps", "5000"])
    now = tool.time.monotonic()
    fitted = tool._steps_that_fit(args, 110, now - 10.0, now + 100.0)
    assert 1000 <= fitted <= 1011
    args.steps = 600
    assert tool._steps_that_fit(args, 110, now - 10.0, now + 100.0) == 600
    with pytest.raises(SystemExit):
        tool.parse_args(["--max-minutes", "5", "--warmup", str(tool.PACE_FROM)])


def test_a_run_out_of_time_still_scores_and_exports(tool, tmp_path: Path) -> None:
    """A run stopped by --max-minutes scores and exports the weights it reached; --real-dir
    names where the real crops are (an empty folder: synthetic plates only)."""
    out = tmp_path / "model"
    tool.main(["--init", str(ROOT / "models" / "plate_rec.pth"), "--steps", "1000", "--max-minutes", "0.001",
               "--warmup", "20", "--eval-every", "1000", "--synthetic-val", "4", "--workers", "0",
               "--real-dir", str(tmp_path / "no-crops"), "--runs", str(tmp_path / "runs"), "--out", str(out)])
    entry = json.loads((out / "MANIFEST.json").read_text())["files"]["plate_rec.pth"]
    assert 1 <= entry["steps"] < 1000 and entry["eval"]["synthetic_heldout"]["n"] == 4
    assert entry["eval"]["real_heldout"]["n"] == 0
    import torch

    saved = torch.load(tmp_path / "runs" / "last.pt", map_location="cpu")
    assert saved["step"] == entry["steps"] and saved["steps"] == 1000  # a later run resumes where it stopped


def test_a_resumed_run_keeps_the_total_its_first_part_fitted(tool, tmp_path: Path, caplog) -> None:
    """Past the warm-up, a checkpoint's total steps (what --max-minutes fitted) wins over
    --steps, so the resumed cosine ends where the first part planned it to."""
    import torch

    runs, out = tmp_path / "runs", tmp_path / "model"
    common = ["--init", str(ROOT / "models" / "plate_rec.pth"), "--warmup", "20", "--eval-every", "1000",
              "--synthetic-val", "2", "--workers", "0", "--real-dir", str(tmp_path / "no-crops"),
              "--runs", str(runs), "--out", str(out)]
    tool.main(common + ["--steps", "1000", "--max-minutes", "0.001"])
    checkpoint = torch.load(runs / "last.pt", map_location="cpu")
    checkpoint.update(step=25, steps=27)
    torch.save(checkpoint, runs / "last.pt")
    with caplog.at_level("INFO", logger="train_recogniser"):
        tool.main(common + ["--steps", "20000"])
    assert "resumed from" in caplog.text and "at step 25 of 27" in caplog.text
    assert "finished at step 27" in caplog.text


def test_respell_share_draws_real_plates_written_with_new_texts(tool) -> None:
    """At share 1 every real draw is a bank plate respelled (texts the crops never had, of
    a bank plate's length); at share 0 the crops keep their own labels."""
    from edge.synth.respell import GlyphBank

    samples = plates(6)
    bank = GlyphBank([(image, text, "one") for image, text in samples])
    lengths = {len(blank.chars) for blank in bank.blanks}
    own = {text for _, text in samples}
    respelled = [tool.real_sample(samples, np.random.default_rng([6, i]), tool.RealMix(respell=1.0, bank=bank))
                 for i in range(12)]
    kept = [tool.real_sample(samples, np.random.default_rng([6, i]), tool.RealMix(bank=bank)) for i in range(12)]
    assert len(bank) >= 2 and all(len(text) in lengths for _, text in respelled)
    assert sum(text in own for _, text in respelled) <= 1
    assert all(text in own for _, text in kept)
