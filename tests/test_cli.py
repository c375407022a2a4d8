"""The command line as a user meets it: help, exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_images"
COMMANDS = ["run", "replay", "read", "eval", "bench", "check-config", "samples", "tail", "preview"]


def edge(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def test_help_lists_every_command():
    result = edge("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command):
    result = edge(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: edge" in result.stdout


def test_usage_error_exits_2_with_one_line():
    result = edge("read")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "edge: error:" in result.stderr


def test_read_prints_a_json_line_per_plate_and_fails_bad_files_one_line_each(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    good = SAMPLES / "01_gb_current_front.jpg"
    result = edge("read", str(empty), str(good), str(corrupt), str(tmp_path / "missing.png"), "--json")
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert any("empty.jpg: empty file" in line for line in errors)
    assert any("corrupt.jpg: not a readable image" in line for line in errors)
    assert any("missing.png: file not found" in line for line in errors)
    assert "Traceback" not in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines, "the good image yields at least one plate"
    for line in lines:
        assert set(line) >= {"file", "plate", "confidence", "box", "candidates", "country"}
        assert line["file"] == str(good)
        assert len(line["box"]) == 4 and 0 <= line["confidence"] <= 1


def test_read_handles_grey_16bit_tiny_and_huge_images(tmp_path):
    import cv2
    import numpy as np

    colour = cv2.imread(str(SAMPLES / "01_gb_current_front.jpg"))
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY))
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), colour[:8, :8])
    huge = tmp_path / "huge.jpg"
    cv2.imwrite(str(huge), cv2.resize(colour, (5120, 2880)))
    result = edge("read", str(grey), str(deep), str(tiny), str(huge), "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_eval_needs_labels(tmp_path):
    result = edge("eval", str(tmp_path))
    assert result.returncode == 2
    assert "no labels.csv" in result.stderr


def test_preview_draws_a_commissioning_frame(tmp_path):
    import cv2
    import yaml

    clip = SAMPLES / "sequences" / "seq01_entry.mp4"
    zone = yaml.safe_load((SAMPLES / "sequences" / "zone.yaml").read_text())
    config = tmp_path / "site.yaml"
    camera = {"name": "lane1", "source": str(clip), "zone": zone}
    config.write_text(yaml.safe_dump({"unit": {"id": "u"}, "cameras": [camera]}))
    out = tmp_path / "preview.jpg"
    result = edge("preview", "--config", str(config), "--camera", "lane1", "--out", str(out))
    assert result.returncode == 0, result.stderr
    image = cv2.imread(str(out))
    assert image is not None and image.shape[:2] == (540, 960)
    line_row = int(zone["line"][0][1])
    yellow = (image[line_row - 2:line_row + 3, :, 2] > 180) & (image[line_row - 2:line_row + 3, :, 0] < 90)
    assert yellow.any(axis=0).mean() > 0.9, "the zone line is drawn across the frame"
    unknown = edge("preview", "--config", str(config), "--camera", "nope", "--out", str(out))
    assert unknown.returncode == 2 and "no camera named 'nope'" in unknown.stderr


def test_a_roll_out_of_range_is_a_one_line_usage_error():
    result = edge("read", str(SAMPLES / "20_us_rear.jpg"), "--roll", "60")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--roll" in result.stderr and "45" in result.stderr


def test_the_commissioning_view_gives_the_confident_plates_lean():
    """The median lean of the reads a unit would report; unsure reads and frames without a
    sure read give none."""
    import numpy as np

    from edge.pipeline import FrameReading
    from edge.preview import plate_lean
    from edge.types import Box, Detection, PlateCandidate, PlateRead

    def turned(x: float, degrees: float) -> np.ndarray:
        rise = np.tan(np.radians(degrees)) * 100
        return np.float32([[x, 100], [x + 100, 100 - rise], [x + 100, 130 - rise], [x, 130]])

    quads = [turned(0, 7.0), turned(200, 8.0), turned(400, 9.0), turned(600, -20.0)]
    boxes = [Box(int(q[:, 0].min()), int(q[:, 1].min()), 100, 40) for q in quads]
    sure = [0.9, 0.95, 0.99, 0.2]
    reading = FrameReading([Detection(b, 1.0, PlateRead("AB12CDE", c), 0, 0.0) for b, c in zip(boxes, sure)],
                           [PlateCandidate(b, 1.0, q) for b, q in zip(boxes, quads)])
    assert plate_lean(reading, 0.5) == pytest.approx(8.0, abs=0.01)
    assert plate_lean(reading, 0.999) is None
