"""`edge eval --compare`: two runs on one dataset paired plate by plate."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from math import comb
from pathlib import Path

import pytest

from edge.compare import compare, comparison_lines, load_run, sign_test
from edge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def stills(*details: tuple[str, list[str], list[str]]) -> dict:
    return {"dataset": "set", "kind": "stills",
            "details": [{"file": f, "truth": truth, "reads": reads} for f, truth, reads in details]}


def clips(*details: tuple[str, list[str], list[str]]) -> dict:
    return {"dataset": "set", "kind": "clips",
            "details": [{"file": f, "truth": truth, "passes": passes} for f, truth, passes in details]}


@pytest.mark.parametrize("wins, losses", [(0, 0), (1, 0), (5, 5), (9, 1), (16, 14), (30, 2)])
def test_the_sign_test_is_the_two_sided_binomial_tail(wins, losses) -> None:
    n = wins + losses
    expected = min(1.0, 2 * sum(comb(n, k) for k in range(min(wins, losses) + 1)) / 2 ** n) if n else 1.0
    assert sign_test(wins, losses) == pytest.approx(expected)
    assert sign_test(wins, losses) == sign_test(losses, wins)


def test_a_lopsided_split_is_unlikely_by_chance_and_a_balanced_one_is_not() -> None:
    assert sign_test(10, 0) < 0.01
    assert sign_test(16, 14) > 0.5


def test_stills_pair_plate_by_plate_and_count_false_reads() -> None:
    before = stills(("a.jpg", ["AB12CDE"], ["AB12CDE"]), ("b.jpg", ["XY34ZZZ", "KL56MNO"], ["XY34ZZ", "KL56MNO"]),
                    ("c.jpg", ["PQ78RST"], []))
    after = stills(("a.jpg", ["AB12CDE"], ["A812CDE"]), ("b.jpg", ["XY34ZZZ", "KL56MNO"], ["XY34ZZZ", "KL56MNO"]),
                   ("c.jpg", ["PQ78RST"], ["PQ78RST", "SALE"]))
    result = compare(before, after)
    assert result.gained == [("b.jpg", "XY34ZZZ"), ("c.jpg", "PQ78RST")]
    assert result.lost == [("a.jpg", "AB12CDE")]
    assert (result.false_before, result.false_after) == (1, 2)
    assert result.as_dict()["p_value"] == pytest.approx(sign_test(2, 1), abs=1e-4)


def test_two_cars_with_one_plate_in_a_photo_count_as_two_plates() -> None:
    before = stills(("twins.jpg", ["AB12CDE", "AB12CDE"], []))
    after = stills(("twins.jpg", ["AB12CDE", "AB12CDE"], ["AB12CDE"]))
    assert compare(before, after).gained == [("twins.jpg", "AB12CDE")] * 2


def test_a_vehicle_in_a_clip_counts_only_when_it_passes_exactly_once() -> None:
    before = clips(("c.mp4", ["AB12CDE", "XY34ZZZ"], ["AB12CDE", "XY34ZZZ"]))
    after = clips(("c.mp4", ["AB12CDE", "XY34ZZZ"], ["AB12CDE", "AB12CDE", "XY34ZZZ", "XY34222"]))
    result = compare(before, after)
    assert result.lost == [("c.mp4", "AB12CDE")] and result.gained == []
    assert (result.false_before, result.false_after) == (0, 2)  # the duplicate and the misread
    assert "false and duplicate passes 0 -> 2" in comparison_lines(result, Path("old.json"))[0]


def test_only_the_files_both_runs_scored_are_paired() -> None:
    """A --limit run read fewer files: the rest are neither lost nor gained."""
    before = stills(("a.jpg", ["AB12CDE"], ["AB12CDE"]), ("b.jpg", ["XY34ZZZ"], ["XY34ZZZ", "SALE"]))
    after = stills(("a.jpg", ["AB12CDE"], []))
    result = compare(before, after)
    assert (result.files, result.gained, result.lost) == (1, [], [("a.jpg", "AB12CDE")])
    assert (result.false_before, result.false_after) == (0, 0)
    assert "(1 files in both)" in comparison_lines(result, Path("old.json"))[0]


def test_runs_on_different_datasets_are_not_compared() -> None:
    other = {**stills(), "dataset": "other"}
    with pytest.raises(ConfigError, match="cannot compare"):
        compare(stills(), other)


def test_the_console_lines_before_the_summary_are_skipped(tmp_path) -> None:
    run = tmp_path / "run.txt"
    run.write_text("set: exact 1/1\nmisses: none\n" + json.dumps(stills(("a.jpg", ["AB12CDE"], []))) + "\n")
    assert load_run(run)["details"][0]["file"] == "a.jpg"


@pytest.mark.parametrize("text", ["", "no json here\n", '{"dataset": "set"}\n', "{broken\n"])
def test_a_file_without_a_summary_is_refused_by_name(tmp_path, text) -> None:
    run = tmp_path / "run.txt"
    run.write_text(text)
    with pytest.raises(ConfigError, match="run.txt: no `edge eval --json` summary"):
        load_run(run)


def test_a_missing_run_file_is_refused_by_name(tmp_path) -> None:
    with pytest.raises(ConfigError, match="missing.json: cannot read"):
        load_run(tmp_path / "missing.json")


def test_eval_compares_a_run_with_an_earlier_one_end_to_end(tmp_path) -> None:
    """Two real runs of the shipped reader on two sample stills, the second with one label
    changed to a plate no photo shows: the change is one plate lost, and the summary says so."""
    samples = ROOT / "sample_images"
    with (samples / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:2]
    for row in rows:
        shutil.copy(samples / row["file"], tmp_path)

    def run(labels: list[dict], *extra: str) -> subprocess.CompletedProcess:
        with (tmp_path / "labels.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(labels[0]))
            writer.writeheader()
            writer.writerows(labels)
        return subprocess.run([sys.executable, "-m", "edge", "eval", str(tmp_path), "--json", *extra],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)

    first = run(rows)
    assert first.returncode == 0, first.stderr
    (tmp_path / "before.json").write_text(first.stdout)
    assert json.loads(first.stdout.splitlines()[-1])["exact"] == 2
    second = run([rows[0], {**rows[1], "plate": "ZZ99ZZZ"}], "--compare", str(tmp_path / "before.json"))
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout.splitlines()[-1])
    assert summary["comparison"]["gained"] == []
    assert summary["comparison"]["lost"] == [[rows[1]["file"], rows[1]["plate"]]]
    assert summary["comparison"]["false_after"] == summary["comparison"]["false_before"] + 1  # its read is now false
    assert "0 plates gained, 1 lost" in second.stdout
