"""Per-frame cost of tracking and voting with many live plates.

Tracking runs once per frame for every camera on a small CPU, beside the recogniser, so
its share must stay small (target: median <= 1 ms per frame with 10 live tracks).
Worst case by default: every detection is read (no confident track skips reads), so the
text term is computed for every plausible pair. Also times vote() for one closed pass.
Reports wall time and this thread's CPU time: on a shared, busy CPU the wall figures
include time other processes held the core, the CPU figures do not.

    python benchmarks/track_bench.py [--tracks 10] [--frames 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import time

import numpy as np

from edge.config import PlatesConfig, TrackingConfig
from edge.track import Tracker
from edge.types import Box, Detection, PlateRead, ScoredText
from edge.vote import ALPHABET, vote


def synthetic_read(rng: random.Random, text: str) -> PlateRead:
    """A read that is usually right, with two alternatives and aligned char_probs."""
    confidence = rng.uniform(0.5, 0.99)
    shown = text if rng.random() < 0.8 else text[:3] + rng.choice(string.digits) + text[4:]
    probs = np.full((len(shown), len(ALPHABET)), 0.01)
    probs[np.arange(len(shown)), [ALPHABET.index(c) for c in shown]] = 0.9
    alternatives = [ScoredText(shown[:-1] + c, 0.05) for c in "XY"]
    candidates = [ScoredText(shown, confidence), *alternatives]
    return PlateRead(shown, confidence, candidates, raw=shown, char_probs=probs)


def frames(tracks: int, count: int, seed: int = 1) -> list[list[tuple[Box, str]]]:
    rng = random.Random(seed)
    symbols = string.ascii_uppercase + string.digits
    plates = ["".join(rng.choice(symbols) for _ in range(7)) for _ in range(tracks)]
    origins = [(150 + 170 * (i % 10), 100 + 300 * (i // 10)) for i in range(tracks)]
    out = []
    for f in range(count):
        row = [(Box(int(x + rng.uniform(-8, 8)), int(y + 0.5 * f + rng.uniform(-5, 5)), 120, 30),
                plate) for (x, y), plate in zip(origins, plates)]
        rng.shuffle(row)
        out.append(row)
    return out


Samples = list[tuple[float, float]]  # (wall s, cpu s)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def bench_frames(tracks: int, count: int, confident_reads: int) -> tuple[Samples, Tracker]:
    rng = random.Random(2)
    tracker = Tracker(TrackingConfig(confident_reads=confident_reads, max_track_s=3600))
    samples = []
    for index, row in enumerate(frames(tracks, count)):
        t = 1000.0 + index / 10.0
        boxes = [box for box, _ in row]
        reads = [synthetic_read(rng, plate) for _, plate in row]  # the recogniser's work, not timed
        start = _clock()
        skip = tracker.predict_settled(boxes, t)
        detections = [Detection(box, 0.9, None if skip[j] else reads[j], index, t)
                      for j, box in enumerate(boxes)]
        tracker.update(detections, t)
        samples.append(_since(start))
    return samples, tracker


def bench_vote(tracker: Tracker, reads: int, repeat: int = 20) -> Samples:
    plates = PlatesConfig()
    config = TrackingConfig()
    samples = []
    for track in tracker.live * repeat:
        detections = track.detections[:reads]
        start = _clock()
        vote(detections, config, plates)
        samples.append(_since(start))
    return samples


def report(name: str, samples: Samples) -> None:
    def summary(values: list[float]) -> str:
        ms = sorted(v * 1000 for v in values)
        return f"median {statistics.median(ms):.3f} ms, p95 {ms[int(0.95 * (len(ms) - 1))]:.3f} ms"

    wall, cpu = zip(*samples)
    print(f"{name} (n={len(samples)}): wall {summary(wall)}; cpu {summary(cpu)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args()
    every, tracker = bench_frames(args.tracks, args.frames, confident_reads=100)
    if len(tracker.live) != args.tracks:
        raise SystemExit(f"expected {args.tracks} live tracks, got {len(tracker.live)}")
    report(f"per frame, {args.tracks} tracks, every plate read", every[50:])
    skipping, _ = bench_frames(args.tracks, args.frames, confident_reads=4)
    report(f"per frame, {args.tracks} tracks, confident tracks skip reads", skipping[50:])
    report("vote, one pass of 30 reads", bench_vote(tracker, 30))


if __name__ == "__main__":
    main()
