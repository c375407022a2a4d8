"""tools/roll_stills.py: rolled copies of a labelled still folder, to measure how rolled plates read."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("roll_stills", ROOT / "tools" / "roll_stills.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def labelled_folder(folder: Path) -> Path:
    """One frame in a subfolder, a white 'plate' at (300, 200, 120, 40), labelled with its box."""
    (folder / "cam").mkdir(parents=True)
    frame = np.full((480, 640, 3), 40, np.uint8)
    frame[200:240, 300:420] = 255
    cv2.imwrite(str(folder / "cam" / "a.png"), frame)
    with (folder / "labels.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["file", "plate", "x", "y", "w", "h"],
                                      ["cam/a.png", "AB12CDE", 300, 200, 120, 40]])
    return folder


def read_labels(folder: Path) -> list[dict[str, str]]:
    with (folder / "labels.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_rolled_frame_keeps_its_plate_inside_the_rolled_label(tool, tmp_path: Path) -> None:
    source = labelled_folder(tmp_path / "src")
    assert tool.roll_folder(source, tmp_path / "out", tool.View(10.0)) == (1, 0)
    [row] = read_labels(tmp_path / "out")
    assert row["file"] == "cam/a.jpg" and row["plate"] == "AB12CDE"
    image = cv2.imread(str(tmp_path / "out" / row["file"]), cv2.IMREAD_GRAYSCALE)
    x, y, w, h = (int(row[k]) for k in "xywh")
    bright = np.argwhere(image > 200)
    assert bright[:, 1].min() >= x - 2 and bright[:, 1].max() <= x + w + 2
    assert bright[:, 0].min() >= y - 2 and bright[:, 0].max() <= y + h + 2
    assert h > 40 + 120 * np.sin(np.radians(10)) - 3  # the turned plate's upright box is taller


def test_no_roll_keeps_frame_and_box(tool, tmp_path: Path) -> None:
    source = labelled_folder(tmp_path / "src")
    tool.roll_folder(source, tmp_path / "out", tool.View(0.0))
    [row] = read_labels(tmp_path / "out")
    assert (row["x"], row["y"], row["w"], row["h"]) == ("300", "200", "120", "40")
    image = cv2.imread(str(tmp_path / "out" / "cam" / "a.jpg"), cv2.IMREAD_GRAYSCALE)
    assert image[220, 360] > 240 and image[100, 100] < 50


def test_an_unreadable_frame_stops_the_tool_with_its_name(tool, tmp_path: Path) -> None:
    source = labelled_folder(tmp_path / "src")
    (source / "cam" / "a.png").write_bytes(b"not an image")
    with pytest.raises(SystemExit, match="a.png: unreadable image"):
        tool.roll_folder(source, tmp_path / "out", tool.View(5.0))


def test_the_uncovered_corners_are_black_not_smeared(tool, tmp_path: Path) -> None:
    """A replicated border smears the frame's edge into stripes the localiser takes for
    text; a camera has no picture there."""
    source = labelled_folder(tmp_path / "src")
    frame = cv2.imread(str(source / "cam" / "a.png"))
    frame[:, ::4] = 200  # a striped frame: smeared outwards, it would stripe the corners
    cv2.imwrite(str(source / "cam" / "a.png"), frame)
    tool.roll_folder(source, tmp_path / "out", tool.View(10.0))
    image = cv2.imread(str(tmp_path / "out" / "cam" / "a.jpg"), cv2.IMREAD_GRAYSCALE)
    assert image[:15, :15].max() < 30 and image[-15:, -15:].max() < 30


def test_a_plate_turned_out_of_the_frame_is_left_out(tool, tmp_path: Path) -> None:
    """A frame with a plate near its corner and one in the middle, turned 20 degrees: the
    corner plate leaves the picture, so its label goes; a frame with no plate left goes too."""
    source = labelled_folder(tmp_path / "src")
    lone = np.full((480, 640, 3), 40, np.uint8)
    cv2.imwrite(str(source / "cam" / "b.png"), lone)
    with (source / "labels.csv").open("a", newline="") as handle:
        csv.writer(handle).writerows([["cam/a.png", "CORNER1", 560, 10, 70, 25],
                                      ["cam/b.png", "EDGE22", 0, 440, 90, 30]])
    assert tool.roll_folder(source, tmp_path / "out", tool.View(20.0)) == (1, 2)
    assert [row["plate"] for row in read_labels(tmp_path / "out")] == ["AB12CDE"]
    assert not (tmp_path / "out" / "cam" / "b.jpg").exists()


def test_blur_and_quality_soften_and_compress_the_copy(tool, tmp_path: Path) -> None:
    """The plate's sharp edge spreads under --blur, and a lower --quality writes a smaller file."""
    source = labelled_folder(tmp_path / "src")
    tool.roll_folder(source, tmp_path / "sharp", tool.View(0.0))
    tool.roll_folder(source, tmp_path / "soft", tool.View(0.0, blur=2.0))
    tool.roll_folder(source, tmp_path / "rough", tool.View(0.0, quality=20))
    sharp, soft = (cv2.imread(str(tmp_path / kind / "cam" / "a.jpg"), cv2.IMREAD_GRAYSCALE).astype(int)
                   for kind in ("sharp", "soft"))
    assert abs(sharp[220, 300] - sharp[220, 298]) > 150  # the plate's left edge, one step
    assert abs(soft[220, 300] - soft[220, 298]) < 120  # ... a ramp
    assert (tmp_path / "rough" / "cam" / "a.jpg").stat().st_size < (tmp_path / "sharp" / "cam" / "a.jpg").stat().st_size
    assert read_labels(tmp_path / "soft") == read_labels(tmp_path / "sharp")


def bright_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of the plate: the pixels brighter than 200."""
    bright = np.argwhere(image > 200)
    return bright[:, 1].min(), bright[:, 0].min(), bright[:, 1].max(), bright[:, 0].max()


@pytest.mark.parametrize("yaw", [25.0, -25.0])
def test_a_camera_turned_aside_keeps_every_plate_inside_its_moved_label(tool, tmp_path: Path, yaw: float) -> None:
    """The canvas grows to hold the whole turned picture, so no plate leaves it, and the plate
    (at the frame's right of centre) comes out foreshortened inside its moved box."""
    source = labelled_folder(tmp_path / "src")
    assert tool.roll_folder(source, tmp_path / "out", tool.View(0.0, yaw=yaw)) == (1, 0)
    [row] = read_labels(tmp_path / "out")
    image = cv2.imread(str(tmp_path / "out" / row["file"]), cv2.IMREAD_GRAYSCALE)
    assert image.shape[1] > 640 and image.shape[0] > 480
    x, y, w, h = (int(row[k]) for k in "xywh")
    x0, y0, x1, y1 = bright_box(image)
    assert x - 2 <= x0 and x1 <= x + w + 2 and y - 2 <= y0 and y1 <= y + h + 2
    assert w != 120 and x1 - x0 > 0.7 * w  # foreshortened, and the box still fits it


def test_a_smaller_camera_shrinks_the_picture_and_its_boxes(tool, tmp_path: Path) -> None:
    source = labelled_folder(tmp_path / "src")
    tool.roll_folder(source, tmp_path / "out", tool.View(0.0, scale=0.5))
    [row] = read_labels(tmp_path / "out")
    assert (row["x"], row["y"], row["w"], row["h"]) == ("150", "100", "60", "20")
    image = cv2.imread(str(tmp_path / "out" / "cam" / "a.jpg"), cv2.IMREAD_GRAYSCALE)
    assert image.shape == (240, 320) and image[110, 180] > 240


def test_a_night_copy_keeps_its_plates_lit_in_a_dim_noisy_scene(tool, tmp_path: Path) -> None:
    """The same every run (the noise is seeded by the frame's name)."""
    source = labelled_folder(tmp_path / "src")
    frame = cv2.imread(str(source / "cam" / "a.png"))
    frame[:100] = 180  # a lit wall above the car: it goes dim, the plate stays bright
    cv2.imwrite(str(source / "cam" / "a.png"), frame)
    for out in ("one", "two"):
        tool.roll_folder(source, tmp_path / out, tool.View(0.0, night=True))
    one, two = (cv2.imread(str(tmp_path / out / "cam" / "a.jpg"), cv2.IMREAD_GRAYSCALE) for out in ("one", "two"))
    assert np.array_equal(one, two) and one.ndim == 2
    assert one[215:225, 320:400].mean() > 230 and one[20:80, 20:600].mean() < 0.3 * 180
    assert one[20:80, 20:600].std() > 2  # sensor noise


def test_a_night_copy_needs_the_plates_boxes(tool, tmp_path: Path) -> None:
    source = labelled_folder(tmp_path / "src")
    (source / "labels.csv").write_text("file,plate\ncam/a.png,AB12CDE\n")
    with pytest.raises(SystemExit, match="a.png: --night needs every plate's box"):
        tool.roll_folder(source, tmp_path / "out", tool.View(0.0, night=True))


def test_a_yaw_past_the_cameras_reach_is_refused(tool, tmp_path: Path, capsys) -> None:
    source = labelled_folder(tmp_path / "src")
    with pytest.raises(SystemExit):
        tool.main([str(source), str(tmp_path / "out"), "--degrees", "0", "--yaw", "60"])
    assert "--yaw must lie within 45 degrees" in capsys.readouterr().err
