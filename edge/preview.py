"""`edge preview`: the commissioning view. Draws the zone line, its inside side, the
localiser's candidates and the current reads on a live frame, so an engineer can aim the
camera and check the zone from a laptop (open the JPEG; --watch keeps refreshing it)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

from edge.config import CameraConfig, EdgeConfig, ZoneConfig
from edge.errors import ConfigError, EdgeError
from edge.imageio import to_bgr8
from edge.localise import IgnoreRegions
from edge.pipeline import FrameReading, PlateReader
from edge.source import open_source
from edge.zone import inside_normal

GREEN, RED, YELLOW, CYAN, GREY = (0, 200, 0), (0, 0, 230), (0, 220, 255), (255, 255, 0), (160, 160, 160)
REFRESH_S = 1.0


def _camera(config: EdgeConfig, name: str) -> CameraConfig:
    for camera in config.cameras:
        if camera.name == name:
            return camera
    names = ", ".join(c.name for c in config.cameras) or "none"
    raise ConfigError(f"no camera named {name!r} in the config (cameras: {names})")


def draw_zone(image: np.ndarray, zone: ZoneConfig | None) -> None:
    if zone is None:
        return
    if zone.line is None:
        cv2.putText(image, f"zone {zone.name}: every pass is {zone.event}", (20, 40),
                    cv2.FONT_HERSHEY_SIMPLEX, 1.0, YELLOW, 2, cv2.LINE_AA)
        return
    (x1, y1), (x2, y2) = zone.line
    cv2.line(image, (int(x1), int(y1)), (int(x2), int(y2)), YELLOW, 3, cv2.LINE_AA)
    _, normal = inside_normal(zone)
    mid = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    tip = mid + normal * 60
    cv2.arrowedLine(image, tuple(int(v) for v in mid), tuple(int(v) for v in tip), YELLOW, 3, tipLength=0.3)
    cv2.putText(image, f"inside: {zone.name}", (int(tip[0]) + 8, int(tip[1])), cv2.FONT_HERSHEY_SIMPLEX,
                0.8, YELLOW, 2, cv2.LINE_AA)


def draw_ignored(image: np.ndarray, camera: CameraConfig) -> None:
    """Outline each ignore polygon, so an installer sees what is masked."""
    for polygon in camera.ignore:
        points = np.asarray(polygon, np.int32).reshape(-1, 1, 2)
        cv2.polylines(image, [points], True, GREY, 2, cv2.LINE_AA)
        x, y = points[0, 0]
        cv2.putText(image, "ignored", (int(x) + 6, int(y) + 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, GREY, 2, cv2.LINE_AA)


def draw_reading(image: np.ndarray, reading: FrameReading, min_confidence: float) -> None:
    for candidate in reading.candidates:
        b = candidate.box
        cv2.rectangle(image, (b.x, b.y), (b.x + b.w, b.y + b.h), CYAN, 1)
    for detection in reading.detections:
        b, read = detection.box, detection.read
        if read is None:
            continue
        colour = GREEN if read.confidence >= min_confidence else RED
        cv2.rectangle(image, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, 2)
        cv2.putText(image, f"{read.text} {read.confidence:.2f}", (b.x, max(b.y - 8, 16)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.8, colour, 2, cv2.LINE_AA)


def plate_lean(reading: FrameReading, min_confidence: float) -> float | None:
    """The median lean (degrees, counter-clockwise) of the frame's confident reads, or None
    without one: cameras[].roll_degrees set to it levels the frames before plates are
    looked for."""
    leans = reading.plate_leans(min_confidence)
    return float(np.median(leans)) if leans else None


def draw_lean(image: np.ndarray, lean: float | None) -> None:
    if lean is None:
        return
    cv2.putText(image, f"plates lean {lean:+.1f} deg (cameras[].roll_degrees levels them)", (20, 80),
                cv2.FONT_HERSHEY_SIMPLEX, 0.7, GREEN, 2, cv2.LINE_AA)


def render(reader: PlateReader, camera: CameraConfig, image: np.ndarray) -> np.ndarray:
    reading = reader.read(image, ignore=IgnoreRegions(camera.ignore), roll_degrees=camera.roll_degrees)
    canvas = to_bgr8(image).copy()
    draw_ignored(canvas, camera)
    draw_zone(canvas, camera.zone)
    draw_reading(canvas, reading, reader.min_confidence)
    draw_lean(canvas, plate_lean(reading, reader.min_confidence))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    cv2.putText(canvas, f"{camera.name}  {stamp} UTC", (20, canvas.shape[0] - 20), cv2.FONT_HERSHEY_SIMPLEX,
                0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return canvas


def _write(path: Path, image: np.ndarray) -> None:
    """Write atomically so a viewer refreshing the file never sees half an image."""
    partial = path.with_name(path.name + ".tmp.jpg")
    if not cv2.imwrite(str(partial), image):
        raise EdgeError(f"{path}: cannot write the preview image")
    partial.replace(path)


def preview(config: EdgeConfig, camera_name: str, out: Path, watch: bool) -> int:
    camera = _camera(config, camera_name)
    reader = PlateReader(config)
    source = open_source(camera, realtime=False)
    source.open()
    try:
        while True:
            frame = source.read()
            if frame is None:
                raise EdgeError(f"camera {camera.name}: no frame to preview")
            _write(out, render(reader, camera, frame.image))
            if not watch:
                print(f"preview written to {out}", file=sys.stderr)
                return 0
            time.sleep(REFRESH_S)
    finally:
        source.close()
