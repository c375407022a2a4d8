"""`edge replay`: recorded footage through the whole pipeline, as the daemon would run it.

Video files are one camera's stream (tracks, votes, zone events). Still images are
unrelated scenes: each is tracked on its own and every plate in it is one pass. Passes are
printed and, unless disabled, spooled and published exactly as by the daemon.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Iterator

from edge.config import CameraConfig, EdgeConfig
from edge.daemon import PassSink
from edge.errors import ConfigError, EdgeError
from edge.imageio import IMAGE_SUFFIXES, VIDEO_SUFFIXES, list_media, load_image
from edge.pipeline import CameraPipeline, PlateReader
from edge.record import PassRecord, to_payload
from edge.source import open_source
from edge.types import Frame

log = logging.getLogger(__name__)
DRAIN_WAIT_S = 5.0


def replay_camera(config: EdgeConfig, source: Path) -> CameraConfig:
    """The camera settings replay uses: the config's first camera, reading `source`."""
    base = config.cameras[0] if config.cameras else CameraConfig(name="replay", source=str(source))
    return base.model_copy(update={"source": str(source), "loop": False})


def video_passes(reader: PlateReader, config: EdgeConfig, path: Path, speed: float | None) -> Iterator[PassRecord]:
    camera = replay_camera(config, path)
    pipeline = CameraPipeline(reader, camera, config)
    source = open_source(camera, realtime=speed is not None, speed=speed or 1.0)
    source.open()
    try:
        for frame in source:
            yield from pipeline.process(frame)
    finally:
        source.close()
    yield from pipeline.finish()


def still_passes(reader: PlateReader, config: EdgeConfig, path: Path) -> Iterator[PassRecord]:
    """Every plate in a still image is one pass of its own (no motion, zone event unknown)."""
    camera = replay_camera(config, path).model_copy(update={"motion_gate": False})
    single = config.tracking.model_copy(update={"min_frames": 1, "confident_reads": max(1, config.tracking.min_frames)})
    pipeline = CameraPipeline(reader, camera, config, tracking=single)
    yield from pipeline.process(Frame(camera.name, 0, time.time(), load_image(path)))
    yield from pipeline.finish()


def passes_for_video(config: EdgeConfig, path: Path, reader: PlateReader) -> list[dict]:
    """All pass payloads of one clip, as fast as possible (used by `edge eval` on clips)."""
    return [to_payload(r) for r in video_passes(reader, config, path, None)]


def _inputs(path: Path) -> list[Path]:
    if path.is_dir():
        images, videos = list_media(path)
        return images + videos
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            raise ConfigError(f"{path}: not an image or video file (by its extension)")
        return [path]
    raise ConfigError(f"{path}: file or folder not found")


def _print_pass(payload: dict, json_lines: bool) -> None:
    if json_lines:
        print(json.dumps(payload), flush=True)
    else:
        zone = payload["zone"]
        print(f"{payload['last_seen']}  {payload['camera']:<10} {payload['plate']:<10} "
              f"{payload['confidence']:.2f}  {zone['event'] or '-':<7} frames={payload['frames']}", flush=True)


def replay(config: EdgeConfig, path: Path, speed: float | None, json_lines: bool, publish: bool) -> int:
    inputs = _inputs(path)
    reader = PlateReader(config)
    sink = None
    if publish and config.mqtt.enabled:
        sink = PassSink(config, [replay_camera(config, path).name])
        sink.start()
    failed = passes = 0
    progress = _progress(inputs)
    try:
        for item in progress:
            try:
                records = (still_passes(reader, config, item) if item.suffix.lower() in IMAGE_SUFFIXES
                           else video_passes(reader, config, item, speed))
                for record in records:
                    payload = to_payload(record)
                    _print_pass(payload, json_lines)
                    passes += 1
                    if sink is not None:
                        sink.submit(payload)
            except EdgeError as exc:
                print(f"edge: {item}: {exc}", file=sys.stderr)
                failed += 1
    finally:
        if sink is not None:
            sink.drain(DRAIN_WAIT_S)
            print(f"edge: {sink.stop(2.0)}", file=sys.stderr)
    print(f"edge: {passes} pass(es) from {len(inputs)} input(s)", file=sys.stderr)
    return 1 if failed else 0


def _progress(items: list[Path]):
    if not sys.stderr.isatty():
        return items
    from tqdm import tqdm

    return tqdm(items, unit="file", file=sys.stderr, leave=False)
