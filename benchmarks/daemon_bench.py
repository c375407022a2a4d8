"""Load and soak benchmark of `edge run`: two paced 1280x720 video cameras, a real broker.

Why: the daemon's promises (latest frame wins instead of a backlog, a pass on the broker
within about a second of its track closing, flat memory and file descriptors over hours,
both cores busy with threads rather than processes, a clean SIGTERM) only show under a
long, realistic run. This starts a real Mosquitto, a subscriber that stamps every
message on arrival, and the daemon itself as a subprocess, then samples /healthz and
/proc/PID every few seconds.

Latency: paced video files are stamped `open time + position / fps` (edge/source.py,
_Timeline and _start_time), i.e. the wall clock the frame was due at. A track closes on
the first processed frame stamped more than `tracking.close_after_s` after its last
detection, so the close is taken as `last_seen + close_after_s` and the latency is the
subscriber's receive time minus that. When the capture thread falls behind its pacing
(decode starved of CPU), stamps trail the wall clock; that drift is reported as
`capture_lag_s` and is part of the measured latency.

Rates per camera: `input` frames the capture thread delivered, `processed` frames the
processing thread took (input minus the ones replaced while it was busy: latest frame
wins), `read` frames that passed the motion gate and were localised and read (the
health field `frames_processed`). CPU is the daemon's user+system time over wall time
(1.0 = one core busy), also per thread, to show whether the threads spread over cores.

    nice -n 10 python benchmarks/daemon_bench.py [--duration 120] [--interval 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge.synth.scenes import Trajectory, make_vehicle, render_sequence, road_background

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from mqtt_broker import Broker, free_port  # noqa: E402 (test helper, not an installed module)

CACHE = Path(os.environ.get("EDGE_BENCH_CACHE", "/tmp/edge-bench"))
SIZE = (1280, 720)
FPS = 25.0
ZONE_Y = 0.55  # zone line row as a fraction of the height; inside is below it
CLOSE_AFTER_S = 1.5
DEDUP_WINDOW_S = 5.0  # the clip loops every ~24 s: a real site never sees the same plate that soon
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------
# Footage
# ---------------------------------------------------------------------------------------


def _trajectory(rng: np.random.Generator, index: int, seconds: float) -> Trajectory:
    """Alternate an approaching front plate (entry) and a receding rear plate (exit)."""
    x = float(rng.uniform(0.35, 0.65))
    drift = float(rng.uniform(-0.04, 0.04))
    style = ("gb_current", "gb_prefix", "gb_suffix")[index % 3]
    if index % 2 == 0:
        vehicle = make_vehicle(rng, "front", style, tilt=0.3)
        return Trajectory(vehicle, (0.0, seconds), (x, x + drift), (0.2, 0.9))
    vehicle = make_vehicle(rng, "rear", style, tilt=0.3)
    return Trajectory(vehicle, (0.0, seconds), (x, x + drift), (0.92, 0.22))


def _write_clip(path: Path, seed: int, seconds: float, vehicles: int) -> None:
    """Empty road, then one vehicle crossing, repeated: rendered one crossing at a time so
    a 25 s 720p clip never sits in memory whole. Every crossing restarts the same road
    generator, so the background is identical throughout, as from a fixed camera."""
    rng = np.random.default_rng(seed)
    slot = seconds / vehicles
    crossing = min(3.5, slot - 1.0)
    gap_frames = int(round((slot - crossing) * FPS))
    background = road_background(*SIZE, np.random.default_rng(seed + 1))
    tmp = path.with_suffix(".part.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    if not writer.isOpened():
        raise RuntimeError("this OpenCV build cannot write mp4v video")
    try:
        for index in range(vehicles):
            for _ in range(gap_frames):
                noisy = background + rng.normal(0, 0.8, (SIZE[1], SIZE[0], 1)).astype(np.float32)
                writer.write(np.clip(noisy, 0, 255).astype(np.uint8))
            sequence = render_sequence(np.random.default_rng(seed + 1), [_trajectory(rng, index, crossing)],
                                       SIZE, crossing, FPS)
            for frame in sequence.frames:
                writer.write(frame)
    finally:
        writer.release()
    tmp.rename(path)


def ensure_videos(seconds: float, vehicles: int, cameras: int = 2) -> list[Path]:
    """The benchmark clips, cached by their parameters (rendering takes about a minute)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = []
    for camera in range(cameras):
        seed = 7001 + 10 * camera
        path = CACHE / f"cam{camera}_{SIZE[0]}x{SIZE[1]}_{seconds:g}s_{vehicles}v_{seed}.mp4"
        if not path.exists():
            print(f"rendering {path} ...", file=sys.stderr)
            _write_clip(path, seed, seconds, vehicles)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------------
# Observers: subscriber, /healthz, /proc
# ---------------------------------------------------------------------------------------


class Subscriber:
    """Records (receive wall time, topic, payload) for every message under the prefix."""

    def __init__(self, port: int, prefix: str) -> None:
        self.messages: list[tuple[float, str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        ready = threading.Event()
        self._client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="daemon-bench")
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{prefix}/#", qos=1)
        self._client.on_subscribe = lambda c, u, mid, rcs, p: ready.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port, keepalive=10)
        self._client.loop_start()
        if not ready.wait(10):
            raise RuntimeError("subscriber could not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        received = time.time()
        with self._lock:
            self.messages.append((received, message.topic, json.loads(message.payload)))

    def reads(self) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return [(t, p) for t, topic, p in self.messages if topic.endswith("/read") and not p.get("preview")]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def healthz(port: int) -> dict[str, Any] | None:
    """The daemon's /healthz body (also on 503), or None while it is not answering."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class ProcSample:
    rss_kb: int
    fds: int
    threads: int
    cpu_s: float  # user + system time of the whole process
    thread_cpu_s: dict[int, float]  # per thread id


def _stat_cpu_s(path: Path) -> float:
    # The command name (field 2) may hold spaces; fields after its ')' are fixed.
    fields = path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def proc_sample(pid: int) -> ProcSample:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    threads: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            threads[int(task.name)] = _stat_cpu_s(task / "stat")
        except (FileNotFoundError, ProcessLookupError):  # thread ended while listing
            continue
    return ProcSample(int(status["VmRSS"].split()[0]), len(os.listdir(f"/proc/{pid}/fd")),
                      int(status["Threads"]), _stat_cpu_s(Path(f"/proc/{pid}/stat")), threads)


def system_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, to show how contended the machine was."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # excludes guest time, already counted in user
    return float(total - idle), float(total)


def load_average() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


def write_config(workdir: Path, videos: list[Path], broker_port: int, http_port: int, backend: str) -> Path:
    y = round(ZONE_Y * SIZE[1])
    zone = {"name": "site", "outside_name": "road", "line": [[0, y], [SIZE[0], y]], "inside": "below"}
    config = {
        "unit": {"id": "bench-unit"},
        "cameras": [{"name": f"cam{i}", "source": str(v), "loop": True, "zone": zone} for i, v in enumerate(videos)],
        "plates": {"countries": ["gb", "generic"]},
        "recogniser": {"backend": backend},
        "tracking": {"close_after_s": CLOSE_AFTER_S, "dedup_window_s": DEDUP_WINDOW_S},
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "health_interval_s": 10},
        "spool": {"path": str(workdir / "spool.db")},
        "logging": {"level": "INFO"},
        "http": {"enabled": True, "port": http_port},
        "shutdown_deadline_s": 10,
    }
    path = workdir / "site.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass(slots=True)
class Sample:
    t: float  # seconds since the daemon first answered /healthz
    health: dict[str, Any]
    proc: ProcSample
    busy: tuple[float, float]

    def row(self) -> dict[str, Any]:
        spool = self.health.get("spool", {})
        return {"t": round(self.t, 1), "rss_mb": round(self.proc.rss_kb / 1024, 1), "fds": self.proc.fds,
                "threads": self.proc.threads, "cpu_s": round(self.proc.cpu_s, 2),
                "spool_depth": spool.get("depth"), "in_flight": _in_flight(self.health),
                "cameras": {name: {k: cam.get(k) for k in ("state", "fps", "frames_in", "frames_dropped",
                                                           "frames_processed", "passes", "frame_errors")}
                            for name, cam in self.health.get("cameras", {}).items()}}


def _in_flight(health: dict[str, Any]) -> int | None:
    if "published" not in health:
        return None
    return int(health["published"]) - int(health["delivered"])


@dataclass(slots=True)
class Run:
    samples: list[Sample] = field(default_factory=list)
    reads: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    started_wall: float = 0.0
    sigterm_wall: float = 0.0
    shutdown_s: float | None = None
    orderly_s: float | None = None  # daemon's own log: "stopping" to "stopped:"
    exit_code: int | None = None
    log_errors: list[str] = field(default_factory=list)
    load_start: list[float] = field(default_factory=list)
    load_end: list[float] = field(default_factory=list)


def wait_until_answering(daemon: subprocess.Popen, port: int, timeout: float = 180.0) -> float:
    """Model loading takes a while; the run's clock starts when /healthz first answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"daemon exited with {daemon.returncode} before answering /healthz")
        if healthz(port) is not None:
            return time.monotonic()
        time.sleep(0.5)
    raise RuntimeError("daemon did not answer /healthz in time")


def sample_loop(daemon: subprocess.Popen, port: int, started: float, duration: float, interval: float) -> list[Sample]:
    samples = []
    while (now := time.monotonic()) - started < duration and daemon.poll() is None:
        health = healthz(port)
        if health is not None:
            samples.append(Sample(now - started, health, proc_sample(daemon.pid), system_busy()))
        time.sleep(max(0.0, interval - (time.monotonic() - now)))
    return samples


def stop_daemon(daemon: subprocess.Popen, deadline_s: float) -> tuple[float | None, int | None]:
    """SIGTERM and time the exit; a daemon still running 10 s past its deadline is killed
    and reported as hung (shutdown_s None)."""
    sent = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    try:
        code = daemon.wait(deadline_s + 10)
        return time.monotonic() - sent, code
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait(10)
        return None, daemon.returncode


def orderly_shutdown_s(log_path: Path) -> float | None:
    """Seconds between the daemon logging "stopping (" and "stopped:" (text log format):
    the daemon's own shutdown, without the interpreter's exit that follows it."""
    stamps = {}
    for line in log_path.read_text(errors="replace").splitlines():
        for marker in (" stopping (", " stopped: "):
            if marker in line and line[:1].isdigit():
                stamps[marker] = _epoch(line.split(" ", 1)[0])
    return round(stamps[" stopped: "] - stamps[" stopping ("], 3) if len(stamps) == 2 else None


def error_lines(log_path: Path) -> list[str]:
    lines = log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if " ERROR " in line or "Traceback" in line or '"level": "ERROR"' in line]


def run_bench(videos: list[Path], duration: float, interval: float, backend: str = "auto") -> Run:
    workdir = CACHE / f"run-{time.strftime('%Y%m%d-%H%M%S')}"
    workdir.mkdir(parents=True)
    result = Run(load_start=load_average())
    broker = Broker(workdir / "broker").start()
    subscriber = Subscriber(broker.port, "anpr")
    http_port = free_port()
    config = write_config(workdir, videos, broker.port, http_port, backend)
    log_path = workdir / "daemon.log"
    print(f"workdir {workdir}", file=sys.stderr)
    try:
        with log_path.open("w") as log:
            daemon = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(config)],
                                      cwd=ROOT, stdout=log, stderr=log)
            try:
                started = wait_until_answering(daemon, http_port)
                result.started_wall = time.time()
                result.samples = sample_loop(daemon, http_port, started, duration, interval)
                result.load_end = load_average()
            finally:
                result.sigterm_wall = time.time()
                result.shutdown_s, result.exit_code = stop_daemon(daemon, 10.0)
        time.sleep(1.0)  # last deliveries and the offline status reach the subscriber
        result.reads = subscriber.reads()
    finally:
        subscriber.close()
        broker.kill()
    result.log_errors = error_lines(log_path)
    result.orderly_s = orderly_shutdown_s(log_path)
    return result


# ---------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _slope_per_min(points: list[tuple[float, float]]) -> float:
    if len(points) < 3:
        return 0.0
    t, v = np.asarray(points, float).T
    return float(np.polyfit(t, v, 1)[0] * 60.0)


def _cameras(first: Sample, last: Sample, reads: list[tuple[float, dict[str, Any]]],
             vehicles_per_clip: int, clip_s: float) -> dict[str, Any]:
    span = last.t - first.t
    out = {}
    for name, end in last.health.get("cameras", {}).items():
        start = first.health["cameras"][name]
        frames_in = end["frames_in"] - start["frames_in"]
        dropped = end["frames_dropped"] - start["frames_dropped"]
        processed = end["frames_processed"] - start["frames_processed"]
        shown = end["frames_in"] / (FPS * clip_s) * vehicles_per_clip
        passes = [p for _, p in reads if p["camera"] == name]
        out[name] = {
            "input_fps": round(frames_in / span, 2), "processed_fps": round((frames_in - dropped) / span, 2),
            "read_fps": round(processed / span, 2),
            "drop_ratio": round(dropped / frames_in, 3) if frames_in else None,
            "capture_lag_s": round(span - frames_in / FPS, 2),
            "passes_received": len(passes),
            "events": {e: sum(1 for p in passes if p["zone"]["event"] == e) for e in ("entry", "exit", "unknown")},
            "vehicles_shown": round(shown, 1), "frame_errors": end.get("frame_errors"),
            "state_end": end.get("state"),
        }
    return out


def _latency(reads: list[tuple[float, dict[str, Any]]]) -> dict[str, Any]:
    values = np.asarray([received - (_epoch(p["last_seen"]) + CLOSE_AFTER_S) for received, p in reads])
    if not values.size:
        return {"n": 0}
    return {"n": int(values.size), "p50_s": round(float(np.percentile(values, 50)), 3),
            "p95_s": round(float(np.percentile(values, 95)), 3), "max_s": round(float(values.max()), 3),
            "min_s": round(float(values.min()), 3)}


def _backlog(window: list[Sample]) -> dict[str, Any]:
    depth = [(s.t, float(s.health.get("spool", {}).get("depth") or 0)) for s in window]
    flight = [(s.t, float(_in_flight(s.health) or 0)) for s in window]
    slope = _slope_per_min(depth)
    return {"spool_depth_start": int(depth[0][1]), "spool_depth_end": int(depth[-1][1]),
            "spool_depth_max": int(max(v for _, v in depth)), "spool_slope_per_min": round(slope, 3),
            "in_flight_max": int(max(v for _, v in flight)),
            "in_flight_slope_per_min": round(_slope_per_min(flight), 3),
            "grows": depth[-1][1] > 5 and slope > 0.5}


def _cpu(first: Sample, last: Sample) -> dict[str, Any]:
    span = last.t - first.t
    per_thread = sorted(((last.proc.thread_cpu_s[tid] - first.proc.thread_cpu_s.get(tid, 0.0)) / span
                         for tid in last.proc.thread_cpu_s), reverse=True)
    busy = (last.busy[0] - first.busy[0]) / max(1.0, last.busy[1] - first.busy[1])
    return {"daemon_cores": round((last.proc.cpu_s - first.proc.cpu_s) / span, 2),
            "top_threads_cores": [round(v, 2) for v in per_thread[:6]],
            "threads_over_0.1_core": sum(1 for v in per_thread if v > 0.1),
            "system_busy_fraction": round(busy, 3), "cpus": os.cpu_count()}


def summarise(run: Run, warmup: float, vehicles: int, clip_s: float) -> dict[str, Any]:
    if len(run.samples) < 2:
        raise RuntimeError("fewer than two samples: the daemon died early (see its log)")
    window = [s for s in run.samples if s.t >= warmup] or run.samples[-2:]
    first, last = (window[0], window[-1]) if len(window) > 1 else (run.samples[0], run.samples[-1])
    rss_warm, rss_end = first.proc.rss_kb / 1024, last.proc.rss_kb / 1024
    return {
        "measured_s": round(last.t - first.t, 1), "warmup_s": round(first.t, 1),
        "load_average_start": run.load_start, "load_average_end": run.load_end,
        "cameras": _cameras(first, last, run.reads, vehicles, clip_s),
        "latency_close_to_received": _latency([r for r in run.reads
                                               if run.started_wall + warmup <= r[0] < run.sigterm_wall]),
        "passes_flushed_at_shutdown": sum(1 for r in run.reads if r[0] >= run.sigterm_wall),
        "backlog": _backlog(window),
        "rss_mb": {"warm": round(rss_warm, 1), "end": round(rss_end, 1),
                   "growth_pct": round(100.0 * (rss_end - rss_warm) / rss_warm, 2)},
        "fds": {"start": first.proc.fds, "end": last.proc.fds},
        "threads": {"start": first.proc.threads, "end": last.proc.threads},
        "cpu": _cpu(first, last),
        "shutdown": {"seconds": None if run.shutdown_s is None else round(run.shutdown_s, 2),
                     "orderly_s": run.orderly_s,
                     "exit_code": run.exit_code, "hung": run.shutdown_s is None},
        "daemon_log_errors": len(run.log_errors), "first_errors": run.log_errors[:3],
    }


def print_text(summary: dict[str, Any]) -> None:
    print(f"measured {summary['measured_s']} s after {summary['warmup_s']} s warm-up; "
          f"load average {summary['load_average_start']} -> {summary['load_average_end']}")
    for name, cam in summary["cameras"].items():
        print(f"  {name}: input {cam['input_fps']} fps, processed {cam['processed_fps']} fps "
              f"(read past motion gate {cam['read_fps']}), dropped {cam['drop_ratio']}, capture lag "
              f"{cam['capture_lag_s']} s, passes {cam['passes_received']} {cam['events']} "
              f"/ ~{cam['vehicles_shown']} vehicles shown")
    lat = summary["latency_close_to_received"]
    print(f"  latency close->received: n={lat['n']} p50={lat.get('p50_s')} s p95={lat.get('p95_s')} s "
          f"max={lat.get('max_s')} s")
    back = summary["backlog"]
    print(f"  spool depth {back['spool_depth_start']} -> {back['spool_depth_end']} (max {back['spool_depth_max']}, "
          f"{back['spool_slope_per_min']}/min), in flight max {back['in_flight_max']}, grows: {back['grows']}")
    rss, fds, cpu = summary["rss_mb"], summary["fds"], summary["cpu"]
    print(f"  RSS {rss['warm']} -> {rss['end']} MB ({rss['growth_pct']:+}%), fds {fds['start']} -> {fds['end']}, "
          f"threads {summary['threads']['start']} -> {summary['threads']['end']}")
    print(f"  CPU: daemon {cpu['daemon_cores']} cores of {cpu['cpus']} (top threads {cpu['top_threads_cores']}), "
          f"system busy {cpu['system_busy_fraction']:.0%}")
    down = summary["shutdown"]
    print(f"  SIGTERM -> exit {down['exit_code']} in {down['seconds']} s (orderly part {down['orderly_s']} s, "
          f"hung: {down['hung']}); {summary['passes_flushed_at_shutdown']} pass(es) flushed at shutdown; "
          f"daemon log errors: {summary['daemon_log_errors']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0,
                        help="seconds the daemon runs once it answers /healthz (warm-up included)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds excluded from rates, RSS and latency")
    parser.add_argument("--clip-seconds", type=float, default=24.0)
    parser.add_argument("--vehicles", type=int, default=5, help="vehicles crossing per clip")
    parser.add_argument("--backend", choices=("auto", "torch", "onnxruntime"), default="auto",
                        help="recogniser.backend of the daemon under test")
    parser.add_argument("--json", action="store_true", help="print the summary and every sample as JSON")
    args = parser.parse_args()
    videos = ensure_videos(args.clip_seconds, args.vehicles)
    run = run_bench(videos, args.duration, args.interval, args.backend)
    summary = summarise(run, args.warmup, args.vehicles, args.clip_seconds)
    if args.json:
        print(json.dumps({**summary, "videos": [str(v) for v in videos],
                          "samples": [s.row() for s in run.samples]}, indent=1))
    else:
        print_text(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
