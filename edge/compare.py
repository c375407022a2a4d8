"""`edge eval --compare BEFORE`: which plates a change gained and lost, and whether the
difference is more than chance.

Why paired: two runs on the same photos differ by a handful of plates, and such a
difference is only news when the plates gained and lost do not balance. A change that
reads 30 plates differently, 16 gained and 14 lost, moved nothing; an exact-rate delta hides
that, the discordant pairs show it. The sign test on them (exact binomial, two-sided) says
how often chance alone would split them at least that unevenly.

A run is the JSON line `edge eval --json` prints last; both must score the same dataset.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from edge.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Comparison:
    """Plates (file, plate) read right in one run and not the other, and false reads in each."""

    gained: list[tuple[str, str]]
    lost: list[tuple[str, str]]
    false_before: int
    false_after: int
    clips: bool  # video: a plate is right in exactly one pass, and duplicates count as false
    files: int  # files scored in both runs (a --limit run pairs only the files it read)

    @property
    def p_value(self) -> float:
        return sign_test(len(self.gained), len(self.lost))

    def as_dict(self) -> dict:
        return {"files": self.files, "gained": [list(p) for p in self.gained], "lost": [list(p) for p in self.lost],
                "p_value": round(self.p_value, 4), "false_before": self.false_before,
                "false_after": self.false_after}


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: the chance of a split at least this uneven if each
    discordant pair were a fair coin."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def load_run(path: Path) -> dict:
    """The summary of an earlier `edge eval --json` run: the last line of `path` that is a
    JSON object (the console lines before it are skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the run to compare with: {exc}") from None
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                run = json.loads(line)
            except json.JSONDecodeError:
                break
            if isinstance(run, dict) and "details" in run:
                return run
            break
    raise ConfigError(f"{path}: no `edge eval --json` summary with per-file details on its last JSON line")


def compare(before: dict, after: dict) -> Comparison:
    """Plates gained and lost from `before` to `after`, which must score the same dataset."""
    if before.get("dataset") != after.get("dataset") or before.get("kind") != after.get("kind"):
        raise ConfigError(f"cannot compare a run on {before.get('dataset')!r} ({before.get('kind')}) "
                          f"with one on {after.get('dataset')!r} ({after.get('kind')})")
    shared = {d["file"] for d in before["details"]} & {d["file"] for d in after["details"]}
    hits_before, false_before = _outcomes(before, shared)
    hits_after, false_after = _outcomes(after, shared)
    gained = sorted((hits_after - hits_before).elements())
    lost = sorted((hits_before - hits_after).elements())
    return Comparison(gained, lost, false_before, false_after, after.get("kind") == "clips", len(shared))


def _outcomes(run: dict, files: set[str]) -> tuple[Counter, int]:
    """(file, plate) read right in `files`, counted (a file may show two cars with one plate),
    and the false reads there. Stills: a plate is right when a reported read equals it; clips: when
    exactly one pass does, and every other pass is false (duplicates as well as misreads)."""
    hits: Counter = Counter()
    false = 0
    for detail in (d for d in run["details"] if d["file"] in files):
        reads = detail.get("reads", detail.get("passes", []))
        counts = Counter(reads)
        for plate, wanted in Counter(detail["truth"]).items():
            right = counts[plate] >= 1 if "reads" in detail else counts[plate] == 1
            hits[(detail["file"], plate)] += wanted if right else 0
        false += sum(1 for r in reads if r not in detail["truth"])
        if "passes" in detail:
            false += sum(max(0, counts[p] - 1) for p in set(detail["truth"]))
    return +hits, false


def comparison_lines(comparison: Comparison, before_path: Path) -> list[str]:
    """What a tester reads: the split, its sign test, then each plate gained and lost."""
    wrong = "false and duplicate passes" if comparison.clips else "false reads"
    split = f"{len(comparison.gained)} plates gained, {len(comparison.lost)} lost"
    lines = [f"against {before_path} ({comparison.files} files in both): {split} (sign test p = "
             f"{comparison.p_value:.3f}); {wrong} {comparison.false_before} -> {comparison.false_after}"]
    lines += [f"  gained {file} {plate}" for file, plate in comparison.gained]
    lines += [f"  lost {file} {plate}" for file, plate in comparison.lost]
    return lines
