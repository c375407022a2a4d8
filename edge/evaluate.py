"""`edge eval`: read rates on a labelled folder (labels.csv: file, plate[, x, y, w, h]).

Still photos are scored per labelled plate; video clips are scored per vehicle pass
(exact, missed, duplicate and false passes), since one read per pass is the product.
"""

from __future__ import annotations

import csv
import html
import json
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.compare import compare, comparison_lines, load_run
from edge.config import EdgeConfig
from edge.errors import ConfigError, EdgeError
from edge.imageio import VIDEO_SUFFIXES, load_image
from edge.types import Box
from edge.vote import edit_distance

if TYPE_CHECKING:  # edge.pipeline loads the recogniser's torch: only when a run reads
    from edge.pipeline import FrameReading
    from edge.types import PlateRead


# plates.min_confidence values an eval of photos also scores, so that an installer can
# choose a site's trade-off between missed plates and false reads from one run.
OPERATING_POINTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
DETECTION_IOU = 0.3  # a candidate this much over a labelled box found the plate
# Why a labelled plate was missed, from the localiser's end to the threshold's (miss_kind).
MISS_KINDS = ("not found", "no read", "set aside", "under threshold", "misread")
# Where a false read lies (false_read_kind): on a labelled plate, elsewhere, or in a photo without boxes.
FALSE_READ_KINDS = ("misread", "elsewhere", "unboxed")


@dataclass(slots=True)
class Label:
    plate: str
    box: Box | None


def finds(reading: FrameReading, box: Box) -> bool:
    """Whether the localiser found the plate in `box`: the detection rate's test."""
    return any(c.box.iou(box) >= DETECTION_IOU for c in reading.candidates)


def false_read_kind(false_read: dict) -> str:
    """Where a false read lies: "misread" over a labelled plate's box (the plate was found
    and read wrong), "elsewhere" away from every labelled box (text that is no plate, or a
    plate the labels leave out), "unboxed" in a photo whose labels have no boxes to tell.

    Why: the two call for different cures. A misread is the recogniser's and the format's
    (and also costs the plate's exact read); a read elsewhere is the clutter rules', or an
    install's `cameras[].ignore` regions, and a higher `plates.min_confidence` trades them
    differently."""
    if not false_read["labelled"]:
        return "unboxed"
    on_plate = any(false_read["box"].iou(box) >= DETECTION_IOU for box in false_read["labelled"])
    return "misread" if on_plate else "elsewhere"


def miss_kind(label: Label, reading: FrameReading) -> tuple[str, str]:
    """Why `label` was not read from `reading`, and what was read.

    Why: a miss has one of five causes, each with its own stage to improve: the localiser
    found no candidate on the plate ("not found"), the candidate read as nothing plausible
    ("no read"), a clutter rule took the right read for text that is no plate ("set aside",
    the rule named: edge.clutter), the plate was read right but less sure than
    plates.min_confidence ("under threshold"), or it read as something else ("misread").
    Without a labelled box, the plate's candidate is unknown: any wrong read is a misread,
    and none is no read.
    """
    reads = [d.read for d in reading.detections if d.read is not None]
    right = [r for r in reads if r.text == label.plate]
    if right:
        return "under threshold", f"{label.plate} at {max(r.confidence for r in right):.2f}"
    taken = [aside for aside in reading.set_aside if aside.read.text == label.plate]
    if taken:
        aside = max(taken, key=lambda a: a.read.confidence)
        return "set aside", f"{label.plate} at {aside.read.confidence:.2f} as {aside.rule}"
    if label.box is not None:
        if not finds(reading, label.box):
            return "not found", ""
        reads = [d.read for d in reading.detections
                 if d.read is not None and d.box.iou(label.box) >= DETECTION_IOU]
    if not reads:
        return "no read", ""
    best = max(reads, key=lambda r: r.confidence)
    return "misread", _described(best)


def load_labels(dataset: Path) -> dict[str, list[Label]]:
    """Every labelled plate by file; a malformed labels.csv is refused with its line named,
    since a silently skipped row would score the reader against the wrong truth."""
    path = dataset / "labels.csv"
    if not path.is_file():
        raise ConfigError(f"{dataset}: no labels.csv (expected columns file,plate[,x,y,w,h])")
    labels: dict[str, list[Label]] = defaultdict(list)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in ("file", "plate") if column not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{path}: no {' or '.join(missing)} column (the first line must name the columns "
                              "file,plate[,x,y,w,h])")
        for row in reader:
            file, plate = (row["file"] or "").strip(), (row["plate"] or "").strip().upper()
            if not file or not plate:
                raise ConfigError(f"{path}, line {reader.line_num}: a row needs a file and a plate")
            labels[file].append(Label(plate, _labelled_box(row, path, reader.line_num)))
    if not labels:
        raise ConfigError(f"{path}: no labelled rows")
    return dict(labels)


def _labelled_box(row: dict, path: Path, line: int) -> Box | None:
    """The row's x, y, w, h as a Box, or None where the row gives none."""
    values = [(row.get(k) or "").strip() for k in ("x", "y", "w", "h")]
    if not any(values):
        return None
    try:
        x, y, w, h = (int(float(v)) for v in values)
    except ValueError:
        raise ConfigError(f"{path}, line {line}: x, y, w, h must be numbers, got {', '.join(values)}") from None
    if w <= 0 or h <= 0:
        raise ConfigError(f"{path}, line {line}: a box needs a positive width and height, got w={w}, h={h}")
    return Box(x, y, w, h)


def char_accuracy(truth: str, reads: list[str]) -> float:
    if not reads:
        return 0.0
    return max(max(0.0, 1.0 - edit_distance(truth, r) / max(len(truth), 1)) for r in reads)


@dataclass
class StillScore:
    plates: int = 0
    exact: int = 0
    with_box: int = 0
    detected: int = 0
    exact_at_boxes: int = 0  # labelled plates read right from their labelled box (PlateReader.read_boxes)
    char_acc: list[float] = field(default_factory=list)
    # Every reported read that matches no labelled plate of its photo: file, plate,
    # confidence, box, the photo's labelled boxes, and the photo itself for the report.
    false_reads: list[dict] = field(default_factory=list)
    images: int = 0
    failed_files: int = 0
    total_ms: list[float] = field(default_factory=list)
    localise_ms: list[float] = field(default_factory=list)
    read_ms: list[float] = field(default_factory=list)
    misses: list[dict] = field(default_factory=list)
    # Per image: its labelled plates and every read of a distinct text with its confidence,
    # whatever the threshold, so one run can score any plates.min_confidence.
    scored_reads: list[tuple[list[str], list[tuple[str, float]]]] = field(default_factory=list)
    # Per image: its labelled plates and the reads reported at plates.min_confidence
    # (what `edge eval --compare` pairs two runs by; the shape of a clip's details).
    details: list[dict] = field(default_factory=list)

    def at_min_confidence(self, threshold: float) -> dict:
        """Exact reads and false reads per image had plates.min_confidence been `threshold`."""
        exact = false_reads = 0
        for truths, reads in self.scored_reads:
            kept = {text for text, confidence in reads if confidence >= threshold}
            exact += sum(1 for truth in truths if truth in kept)
            false_reads += len(kept - set(truths))
        return {"min_confidence": threshold, "exact": exact,
                "false_reads_per_image": round(false_reads / max(self.images, 1), 3)}

    def calibration(self) -> dict:
        """How often a read of each confidence is right: the reads an installer could report
        (at or above the lowest operating point), in bins from one operating point to the
        next, with the expected calibration error (each bin's gap between its share right
        and its mean confidence, weighted by its reads).

        Why: integrators filter reads by confidence, so a read of 0.9 should be right about
        nine times in ten; the operating-point curve shows what a threshold keeps, this
        shows what a confidence means.
        """
        edges = (*OPERATING_POINTS, 1.0)
        pairs = [(confidence, text in truths) for truths, reads in self.scored_reads
                 for text, confidence in reads if confidence >= edges[0]]
        bins, gap = [], 0.0
        for low, high in zip(edges[:-1], edges[1:]):
            inside = [(c, right) for c, right in pairs if low <= c < high or (high == edges[-1] and c == high)]
            if not inside:
                continue
            right = sum(r for _, r in inside) / len(inside)
            mean = statistics.fmean(c for c, _ in inside)
            gap += len(inside) * abs(right - mean)
            bins.append({"from": low, "to": high, "reads": len(inside), "right": round(right, 3),
                         "mean_confidence": round(mean, 3)})
        return {"reads": len(pairs), "expected_error": round(gap / len(pairs), 3) if pairs else None, "bins": bins}

    def summary(self, name: str) -> dict:
        def median(values: list[float]) -> float | None:
            return round(statistics.median(values), 1) if values else None

        return {
            "dataset": name, "kind": "stills", "images": self.images, "plates": self.plates,
            "exact": self.exact, "exact_rate": round(self.exact / max(self.plates, 1), 4),
            "detection_rate": round(self.detected / self.with_box, 4) if self.with_box else None,
            "exact_at_labelled_boxes": self.exact_at_boxes if self.with_box else None,
            "char_accuracy": round(statistics.fmean(self.char_acc), 4) if self.char_acc else None,
            "false_reads_per_image": round(len(self.false_reads) / max(self.images, 1), 3),
            "failed_files": self.failed_files,
            "median_ms": median(self.total_ms), "median_localise_ms": median(self.localise_ms),
            "median_read_ms": median(self.read_ms),
            "misses_by_kind": {kind: sum(m["kind"] == kind for m in self.misses) for kind in MISS_KINDS},
            "false_reads_by_kind": {kind: sum(false_read_kind(f) == kind for f in self.false_reads)
                                    for kind in FALSE_READ_KINDS},
            "by_min_confidence": [self.at_min_confidence(t) for t in OPERATING_POINTS],
            "calibration": self.calibration(),
            "details": self.details,
        }


def _score_still(score: StillScore, reader, file: str, image, labels: list[Label], keep_images: bool) -> None:
    reading = reader.read(image)
    score.images += 1
    score.localise_ms.append(reading.localise_s * 1000)
    score.read_ms.append(reading.read_s * 1000)
    score.total_ms.append((reading.localise_s + reading.read_s) * 1000)
    every_read = reader.plates(reading, min_confidence=0.0)
    truths = [label.plate for label in labels]
    score.scored_reads.append((truths, [(d.read.text, d.read.confidence) for d in every_read]))
    reported = [d for d in every_read if d.read.confidence >= reader.min_confidence]
    reads = [d.read.text for d in reported]
    score.false_reads += [{"file": file, "plate": d.read.text, "confidence": d.read.confidence, "box": d.box,
                           "labelled": [label.box for label in labels if label.box is not None],
                           "image": image if keep_images else None} for d in reported if d.read.text not in truths]
    score.details.append({"file": file, "truth": truths, "reads": reads})
    boxed = [i for i, label in enumerate(labels) if label.box is not None]
    at_box = dict(zip(boxed, reader.read_boxes(image, [labels[i].box for i in boxed])))
    for i, label in enumerate(labels):
        score.plates += 1
        hit = label.plate in reads
        score.exact += hit
        score.char_acc.append(char_accuracy(label.plate, reads))
        if label.box is not None:
            score.with_box += 1
            score.detected += finds(reading, label.box)
            read = at_box[i]
            score.exact_at_boxes += (read is not None and read.text == label.plate
                                     and read.confidence >= reader.min_confidence)
        if not hit:
            kind, detail = miss_kind(label, reading)
            score.misses.append({"file": file, "truth": label.plate, "reads": reads, "kind": kind,
                                 "detail": detail, "box": label.box, "at_box": _described(at_box.get(i)),
                                 "image": image if keep_images else None, "reading": reading})


def _described(read: PlateRead | None) -> str:
    return f"{read.text} at {read.confidence:.2f}" if read is not None else "-"


def evaluate_stills(config: EdgeConfig, dataset: Path, labels: dict[str, list[Label]], limit: int | None,
                    progress: bool, keep_images: bool = False) -> StillScore:
    """Score every labelled photo; `keep_images` holds missed photos for the HTML report."""
    from edge.pipeline import PlateReader

    reader = PlateReader(config)
    score = StillScore()
    files = sorted(labels)[:limit] if limit else sorted(labels)
    for file in _progress(files, progress, "images"):
        try:
            image = load_image(dataset / file)
        except EdgeError as exc:
            print(f"edge: {exc}", file=sys.stderr)
            score.failed_files += 1
            continue
        _score_still(score, reader, file, image, labels[file], keep_images)
    return score


def evaluate_clips(config: EdgeConfig, dataset: Path, labels: dict[str, list[Label]], limit: int | None,
                   progress: bool) -> dict:
    from edge.pipeline import PlateReader
    from edge.replay import passes_for_video

    reader = PlateReader(config)
    vehicles = exact_once = missed = duplicates = false_passes = 0
    details = []
    files = sorted(labels)[:limit] if limit else sorted(labels)
    failed_files = 0
    for file in _progress(files, progress, "clips"):
        try:
            passes = [p["plate"] for p in passes_for_video(config, dataset / file, reader)]
        except EdgeError as exc:  # one clip that cannot be read must not end the run
            print(f"edge: {exc}", file=sys.stderr)
            failed_files += 1
            continue
        truths = [label.plate for label in labels[file]]
        vehicles += len(truths)
        for truth in truths:
            count = passes.count(truth)
            exact_once += count == 1
            missed += count == 0
            duplicates += max(0, count - 1)
        false_passes += sum(1 for p in passes if p not in truths)
        details.append({"file": file, "truth": truths, "passes": passes})
    return {
        "dataset": dataset.name, "kind": "clips", "clips": len(files), "vehicles": vehicles,
        "exact_once": exact_once, "exact_once_rate": round(exact_once / max(vehicles, 1), 4),
        "missed": missed, "duplicate_passes": duplicates, "false_passes": false_passes,
        "failed_files": failed_files, "details": details,
    }


def _progress(items, enabled: bool, unit: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, unit=unit, file=sys.stderr, leave=False)


def write_report(report_dir: Path, name: str, score: StillScore) -> Path:
    """An HTML page with, for every miss, a picture of the plate's surroundings (labelled box
    green, the localiser's candidates red), the truth, why it was missed and what was read;
    then every false read, pictured the same way."""
    report_dir.mkdir(parents=True, exist_ok=True)
    summary = {key: value for key, value in score.summary(name).items() if key != "details"}
    kinds = ", ".join(f"{n} {kind}" for kind, n in summary["misses_by_kind"].items())
    page = report_dir / "index.html"
    page.write_text(
        f"<html><head><meta charset='utf-8'><title>edge eval misses: {html.escape(name)}</title></head><body>"
        f"<h1>{html.escape(name)}: {len(score.misses)} misses</h1><p>{html.escape(kinds)}</p>"
        f"<pre>{html.escape(json.dumps(summary, indent=1))}</pre>"
        "<table border=1 cellpadding=4><tr><th>file</th><th>plate (green: labelled; red: candidates)</th>"
        "<th>truth</th><th>why</th><th>read at the labelled box</th><th>reads reported</th></tr>"
        + "".join(_miss_rows(report_dir, score.misses)) + "</table>"
        f"<h2>{len(score.false_reads)} false reads</h2><p>reads reported that match no labelled plate of their "
        "photo (red), with the photo's labelled plates (green): "
        + html.escape(", ".join(f"{n} {kind}" for kind, n in summary["false_reads_by_kind"].items())) + "</p>"
        "<table border=1 cellpadding=4><tr><th>file</th><th>where</th><th>read</th><th>confidence</th>"
        "<th>kind</th></tr>"
        + "".join(_false_read_rows(report_dir, score.false_reads)) + "</table></body></html>")
    return page


def _miss_rows(report_dir: Path, misses: list[dict]) -> list[str]:
    rows = []
    for index, miss in enumerate(misses):
        picture = f"miss{index:04d}.jpg"
        cell = f"<img src='{picture}' height=100>" if _write_miss_picture(report_dir / picture, miss) else "-"
        detail = f" ({miss['detail']})" if miss["detail"] else ""
        rows.append(
            f"<tr><td>{html.escape(miss['file'])}</td><td>{cell}</td><td><b>{html.escape(miss['truth'])}</b></td>"
            f"<td>{html.escape(miss['kind'] + detail)}</td><td>{html.escape(miss['at_box'])}</td>"
            f"<td>{html.escape(' '.join(miss['reads']) or '-')}</td></tr>")
    return rows


def _false_read_rows(report_dir: Path, false_reads: list[dict]) -> list[str]:
    rows = []
    for index, false_read in enumerate(false_reads):
        picture = f"false{index:04d}.jpg"
        pictured = _write_false_read_picture(report_dir / picture, false_read)
        cell = f"<img src='{picture}' height=100>" if pictured else "-"
        rows.append(f"<tr><td>{html.escape(false_read['file'])}</td><td>{cell}</td>"
                    f"<td><b>{html.escape(false_read['plate'])}</b></td><td>{false_read['confidence']:.2f}</td>"
                    f"<td>{false_read_kind(false_read)}</td></tr>")
    return rows


def clip_problems(truths: list[str], passes: list[str]) -> list[str]:
    """What went wrong in one clip: vehicles with no pass, vehicles passed more than once,
    and passes that match no vehicle (a misread, or clutter read as a plate)."""
    problems = [f"missed {t}" for t in truths if t not in passes]
    problems += [f"{passes.count(t)} passes of {t}" for t in truths if passes.count(t) > 1]
    return problems + [f"false pass {p}" for p in passes if p not in truths]


def write_clip_report(report_dir: Path, summary: dict) -> Path:
    """An HTML page of every clip's vehicles and passes, the clips with problems first."""
    report_dir.mkdir(parents=True, exist_ok=True)
    clips = [(clip_problems(d["truth"], d["passes"]), d) for d in summary["details"]]
    clips.sort(key=lambda item: not item[0])
    rows = "".join(
        f"<tr><td>{html.escape(d['file'])}</td><td>{html.escape(' '.join(d['truth']))}</td>"
        f"<td>{html.escape(' '.join(d['passes']) or '-')}</td><td>{html.escape('; '.join(problems) or 'ok')}</td></tr>"
        for problems, d in clips)
    page = report_dir / "index.html"
    page.write_text(
        f"<html><head><meta charset='utf-8'><title>edge eval clips: {html.escape(summary['dataset'])}</title></head>"
        f"<body><h1>{html.escape(summary['dataset'])}: {summary['exact_once']}/{summary['vehicles']} vehicles in "
        f"exactly one pass</h1><table border=1 cellpadding=4><tr><th>clip</th><th>vehicles</th><th>passes</th>"
        f"<th>problems</th></tr>{rows}</table></body></html>")
    return page


def _write_miss_picture(path: Path, miss: dict) -> bool:
    """The labelled plate (or, without a box, the best candidate) with a plate's width of
    its surroundings on each side, and every candidate drawn in: whether the localiser
    found the plate, cut it short or lost it among clutter shows at a glance."""
    reading = miss["reading"]
    box = miss["box"] or (reading.candidates[0].box if reading.candidates else None)
    candidates = [c.quad for c in reading.candidates if c.quad is not None]
    return _write_picture(path, miss["image"], box, candidates, [miss["box"]] if miss["box"] else [])


def _write_false_read_picture(path: Path, false_read: dict) -> bool:
    """The false read's box in red, with its surroundings and the photo's labelled plates in
    green: a sign, a fleet number or a plate cut short shows at a glance."""
    box = false_read["box"]
    return _write_picture(path, false_read["image"], box, [np.array(box.corners(), np.float32)], false_read["labelled"])


def _write_picture(path: Path, image, focus: Box | None, red: list, green: list[Box]) -> bool:
    """`focus` with half its longer side of surroundings all round, `red` outlines (4 x 2
    corner arrays) and `green` boxes drawn in; False when there is no picture to write."""
    if image is None or focus is None:
        return False
    canvas = image.copy()
    for outline in red:
        cv2.polylines(canvas, [np.asarray(outline).astype("int32")], True, (0, 0, 255), 1)
    for box in green:
        cv2.rectangle(canvas, (box.x, box.y), (box.x + box.w, box.y + box.h), (0, 255, 0), 1)
    pad = max(focus.w, focus.h) // 2
    y0, x0 = max(focus.y - pad, 0), max(focus.x - pad, 0)
    return cv2.imwrite(str(path), canvas[y0:focus.y + focus.h + pad, x0:focus.x + focus.w + pad])


def _calibration_line(calibration: dict) -> str:
    if not calibration["reads"]:
        return "calibration: no reads"
    bins = " | ".join(f"{b['from']}-{b['to']}: {b['right']:.0%} of {b['reads']} right" for b in calibration["bins"])
    return f"calibration (expected error {calibration['expected_error']}): {bins}"


def evaluate(config: EdgeConfig, dataset: Path, json_out: bool, report_dir: Path | None, limit: int | None,
             compare_with: Path | None = None) -> int:
    if not dataset.is_dir():
        raise ConfigError(f"{dataset}: dataset folder not found")
    labels = load_labels(dataset)
    before = load_run(compare_with) if compare_with is not None else None
    progress = sys.stderr.isatty()
    if all(Path(f).suffix.lower() in VIDEO_SUFFIXES for f in labels):
        summary = evaluate_clips(config, dataset, labels, limit, progress)
        print(f"{summary['dataset']}: {summary['exact_once']}/{summary['vehicles']} vehicles read exactly in one pass "
              f"({summary['exact_once_rate']:.1%}); missed {summary['missed']}, duplicate passes "
              f"{summary['duplicate_passes']}, false passes {summary['false_passes']}")
        if report_dir is not None:
            print(f"report: {write_clip_report(report_dir, summary)}")
    else:
        score = evaluate_stills(config, dataset, labels, limit, progress, keep_images=report_dir is not None)
        summary = score.summary(dataset.name)
        detection = f"{summary['detection_rate']:.1%}" if summary["detection_rate"] is not None else "n/a"
        print(f"{summary['dataset']}: exact {summary['exact']}/{summary['plates']} ({summary['exact_rate']:.1%}), "
              f"detection {detection}, char accuracy {summary['char_accuracy']}, false reads/image "
              f"{summary['false_reads_per_image']}, median {summary['median_ms']} ms "
              f"(localise {summary['median_localise_ms']}, read {summary['median_read_ms']})")
        print("by plates.min_confidence: " + " | ".join(
            f"{point['min_confidence']}: {point['exact']} exact, {point['false_reads_per_image']} false/image"
            for point in summary["by_min_confidence"]))
        print(_calibration_line(summary["calibration"]))
        if score.misses:
            print("misses: " + ", ".join(f"{n} {kind}" for kind, n in summary["misses_by_kind"].items()))
        if score.false_reads:
            print("false reads: " + ", ".join(f"{n} {kind}" for kind, n in summary["false_reads_by_kind"].items()))
        if score.with_box:
            print(f"read at the labelled boxes, the localiser bypassed: {score.exact_at_boxes}/{score.with_box} exact")
        if report_dir is not None:
            print(f"report: {write_report(report_dir, dataset.name, score)}")
    if summary["failed_files"]:
        print(f"{summary['failed_files']} files could not be read (named above); their plates are not counted")
    if before is not None:
        comparison = compare(before, summary)
        print("\n".join(comparison_lines(comparison, compare_with)))
        summary["comparison"] = comparison.as_dict()
    if json_out:
        print(json.dumps(summary))
    return 1 if summary["failed_files"] else 0
