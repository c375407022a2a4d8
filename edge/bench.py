"""`edge bench`: speed of each reading stage on this machine, and the same frames through
plain easyocr `readtext` for comparison. Reports medians (the machine is shared and noisy)."""

from __future__ import annotations

import json
import resource
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from edge.config import EdgeConfig
from edge.errors import EdgeError
from edge.imageio import list_media, load_image, to_bgr8

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
RESOLUTIONS = [(640, 480), (1280, 720), (1920, 1080)]


def _median_ms(func, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 2)


def _bench_frames() -> list[np.ndarray]:
    images, _ = list_media(SAMPLES)
    if not images:
        raise EdgeError(f"{SAMPLES}: no sample images to benchmark on (run `edge samples`)")
    return [to_bgr8(load_image(path)) for path in images[:8]]


def _stock_easyocr_ms(frame: np.ndarray) -> float:
    """One frame through easyocr's stock detector + english_g2, loaded offline."""
    import easyocr
    import easyocr_en_models

    weights = Path(easyocr_en_models.__file__).parent / "models"
    reader = easyocr.Reader(["en"], gpu=False, model_storage_directory=str(weights),
                            download_enabled=False, verbose=False)
    return _median_ms(lambda: reader.readtext(frame), 1)


def bench(config: EdgeConfig, json_out: bool, repeats: int, stock: bool = True) -> int:
    from edge.pipeline import PlateReader

    reader = PlateReader(config)
    frames = _bench_frames()
    results: dict[str, float | int | str | None] = {"recogniser_backend": reader.recogniser.backend}
    for width, height in RESOLUTIONS:
        scaled = [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames]
        cycle = iter(scaled * repeats)
        results[f"localise_ms_{width}x{height}"] = _median_ms(lambda: reader.localiser.find(next(cycle)), repeats)
    hd = [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_AREA) for f in frames]
    crops = [reader.read(f, keep_crops=True).crops for f in hd]
    crops = [c for frame_crops in crops for c in frame_crops] or [hd[0][300:360, 500:760]]
    for batch in (1, 8):
        group = (crops * 8)[:batch]
        results[f"recognise_ms_per_plate_batch{batch}"] = round(
            _median_ms(lambda: reader.recogniser.recognise(group), repeats) / batch, 2)
    cycle = iter(hd * repeats)
    results["whole_frame_read_ms_1280x720"] = _median_ms(lambda: reader.read(next(cycle)), repeats)
    results["candidates_per_frame"] = round(statistics.fmean(len(reader.localiser.find(f)) for f in hd), 2)
    if stock:
        stock_ms = _stock_easyocr_ms(hd[0])
        results["stock_easyocr_readtext_ms_1280x720"] = stock_ms
        results["speedup_vs_stock_easyocr"] = round(stock_ms / results["whole_frame_read_ms_1280x720"], 1)
    results["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if json_out:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(f"{key:40s} {value}")
    return 0
