"""Loading still images with one clear error per bad file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.errors import EdgeError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".ts", ".webm"}


def load_image(path: str | Path) -> np.ndarray:
    """Read an image as stored (grey, colour, 16-bit), or raise EdgeError naming the file."""
    path = Path(path)
    if not path.exists():
        raise EdgeError(f"{path}: file not found")
    if path.is_dir():
        raise EdgeError(f"{path}: is a folder, expected an image file")
    if path.stat().st_size == 0:
        raise EdgeError(f"{path}: empty file (0 bytes)")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise EdgeError(f"{path}: not a readable image (corrupt or unsupported format)")
    return image


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Normalise grey, BGRA and 16-bit images to 8-bit BGR, the pipeline's working format."""
    if image.dtype != np.uint8:
        scale = 255.0 / max(float(image.max()), 1.0) if image.dtype != np.float32 or image.max() > 1 else 255.0
        image = np.clip(image.astype(np.float32) * scale, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def list_media(folder: Path) -> tuple[list[Path], list[Path]]:
    """Images and videos under a folder (recursively), sorted by path."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    return images, videos
