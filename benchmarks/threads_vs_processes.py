"""Two cameras on one unit: threads in one process (what the daemon does) vs one process per
camera. Both read the same two clips as fast as they can, motion gate off so every frame is
read; the figure is frames per second across both cameras, and the resident memory used.

    python benchmarks/threads_vs_processes.py [--frames 150] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.config import load_config  # noqa: E402
from edge.pipeline import CameraPipeline, PlateReader  # noqa: E402
from edge.replay import replay_camera  # noqa: E402
from edge.source import open_source  # noqa: E402

CLIPS = [ROOT / "sample_images/sequences/seq01_entry.mp4", ROOT / "sample_images/sequences/seq03_two_way.mp4"]


def frames_of(clip: Path, count: int) -> list:
    config = load_config(ROOT / "config/default.yaml")
    source = open_source(replay_camera(config, clip), realtime=False)
    source.open()
    frames = list(source)
    source.close()
    return (frames * (count // len(frames) + 1))[:count]


def run_camera(reader: PlateReader, clip: Path, count: int) -> None:
    config = load_config(ROOT / "config/default.yaml")
    camera = replay_camera(config, clip).model_copy(update={"motion_gate": False})
    pipeline = CameraPipeline(reader, camera, config)
    for frame in frames_of(clip, count):
        pipeline.process(frame)


def threads(count: int) -> dict:
    reader = PlateReader(load_config(ROOT / "config/default.yaml"))
    workers = [threading.Thread(target=run_camera, args=(reader, clip, count)) for clip in CLIPS]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"fps": round(len(CLIPS) * count / elapsed, 1), "peak_rss_mib_total": round(rss)}


def one_camera(clip: str, count: int) -> None:
    """Child process: load the model, then time one camera's frames; print the result."""
    reader = PlateReader(load_config(ROOT / "config/default.yaml"))
    started = time.perf_counter()
    run_camera(reader, Path(clip), count)
    print(json.dumps({"started": started, "elapsed": time.perf_counter() - started,
                      "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def processes(count: int) -> dict:
    children = [subprocess.Popen([sys.executable, __file__, "--child", str(clip), "--frames", str(count)],
                                 stdout=subprocess.PIPE, text=True) for clip in CLIPS]
    results = [json.loads(child.communicate()[0].strip().splitlines()[-1]) for child in children]
    slowest = max(r["elapsed"] for r in results)
    return {"fps": round(len(CLIPS) * count / slowest, 1), "peak_rss_mib_total": round(sum(r["rss"] for r in results))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=150, help="frames per camera")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        one_camera(args.child, args.frames)
        return
    result = {"threads": threads(args.frames), "processes": processes(args.frames)}
    result["processes_over_threads_fps"] = round(result["processes"]["fps"] / result["threads"]["fps"], 2)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
