"""Health and metrics: Prometheus counters/gauges, /healthz + /metrics, clock sync state.

Metrics live in a dedicated CollectorRegistry rather than prometheus-client's global
one, so several daemons (or tests) in one process never collide and /metrics shows only
what this daemon owns. The HTTP server runs in daemon threads: a scrape never blocks the
pipeline, and a hung scraper never blocks shutdown.
"""

from __future__ import annotations

import ctypes
import json
import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from edge.config import HttpConfig
from edge.errors import EdgeError
from edge.source import SOURCE_STATES, CaptureStats

if TYPE_CHECKING:  # the pipeline imports the recogniser (torch): not needed to count
    from edge.pipeline import FrameReading

log = logging.getLogger(__name__)

# Localising a 1080p frame takes ~10-100 ms on a roadside CPU; reading a batch of crops up to ~1 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# A level camera's plates lean a degree or two either way; past 4-6 degrees the localiser
# starts to lose them (README, Operations: a camera mounted askew).
LEAN_BUCKETS = (-15.0, -10.0, -6.0, -4.0, -2.0, -1.0, 1.0, 2.0, 4.0, 6.0, 10.0, 15.0)


class Metrics:
    """Every metric the daemon exports, registered in `self.registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.frames_in = Counter(
            "edge_frames_in", "Frames delivered by the camera", ["camera"], registry=reg
        )
        self.frames_processed = Counter(
            "edge_frames_processed",
            "Frames that went through the pipeline",
            ["camera"],
            registry=reg,
        )
        self.frames_dropped = Counter(
            "edge_frames_dropped",
            "Frames replaced before processing (latest wins)",
            ["camera"],
            registry=reg,
        )
        self.localise_seconds = Histogram(
            "edge_localise_seconds",
            "Plate localisation time per frame",
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.read_seconds = Histogram(
            "edge_read_seconds",
            "Plate recognition time per call",
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.passes = Counter(
            "edge_passes", "Vehicle passes recorded", ["camera", "event"], registry=reg
        )
        self.reads_set_aside = Counter(
            "edge_reads_set_aside",
            "Reads taken for text that is no plate, by clutter rule (edge.clutter)",
            ["camera", "rule"],
            registry=reg,
        )
        self.frames_searched_twice = Counter(
            "edge_frames_searched_twice",
            "Frames searched again on a finer copy, nothing in them read surely at first "
            "(localiser.retry_proposal_width)",
            ["camera"],
            registry=reg,
        )
        self.plate_lean = Histogram(
            "edge_plate_lean_degrees",
            "Lean of confidently read plates (degrees, counter-clockwise): a camera knocked askew "
            "shifts it; cameras[].roll_degrees levels it",
            ["camera"],
            buckets=LEAN_BUCKETS,
            registry=reg,
        )
        self.spool_depth = Gauge(
            "edge_spool_depth", "Reads stored and not yet acknowledged by the broker", registry=reg
        )
        self.spool_oldest_unsent_seconds = Gauge(
            "edge_spool_oldest_unsent_seconds",
            "Age of the oldest unacknowledged read (0 when none)",
            registry=reg,
        )
        self.broker_connected = Gauge(
            "edge_broker_connected", "1 when connected to the MQTT broker", registry=reg
        )
        self.camera_state = Gauge(
            "edge_camera_state",
            "1 for the camera's current capture state",
            ["camera", "state"],
            registry=reg,
        )
        self.time_synced = Gauge(
            "edge_time_synced",
            "1 synced, 0 not synced, -1 unknown (timestamps are evidence)",
            registry=reg,
        )
        self._capture_seen: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def set_camera_state(self, camera: str, state: str) -> None:
        """Exactly one state per camera reads 1, so alerts can match `state="failed"` directly."""
        for candidate in SOURCE_STATES:
            self.camera_state.labels(camera, candidate).set(1.0 if candidate == state else 0.0)

    def record_capture(self, stats: CaptureStats) -> None:
        """Fold a CaptureThread's running totals into the counters (counters only go up,
        so the increase since the previous call is added) and publish its state."""
        with self._lock:
            seen_in, seen_dropped = self._capture_seen.get(stats.camera, (0, 0))
            self._capture_seen[stats.camera] = (stats.frames_in, stats.frames_dropped)
        self.frames_in.labels(stats.camera).inc(max(0, stats.frames_in - seen_in))
        self.frames_dropped.labels(stats.camera).inc(max(0, stats.frames_dropped - seen_dropped))
        self.set_camera_state(stats.camera, stats.state)

    def record_reading(self, camera: str, reading: FrameReading, min_confidence: float) -> None:
        """One frame read: its stage timings, the reads its clutter rules set aside, by rule
        (a site whose plates a rule takes shows it here), whether it was searched twice, and
        the lean of its reads of at least `min_confidence` (a camera knocked askew shows it
        here)."""
        self.frames_processed.labels(camera).inc()
        self.localise_seconds.observe(reading.localise_s)
        self.read_seconds.observe(reading.read_s)
        for aside in reading.set_aside:
            self.reads_set_aside.labels(camera, aside.rule).inc()
        if reading.searched_twice:
            self.frames_searched_twice.labels(camera).inc()
        for lean in reading.plate_leans(min_confidence):
            self.plate_lean.labels(camera).observe(lean)

    def record_time_sync(self, state: dict[str, Any]) -> None:
        self.time_synced.set({"synced": 1.0, "unsynced": 0.0}.get(state.get("state"), -1.0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _handler(
    snapshot: Callable[[], dict[str, Any]],
    metrics: Metrics | None,
    on_scrape: Callable[[], None] | None,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "edge"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._healthz()
            elif path == "/metrics" and metrics is not None:
                self._metrics()
            else:
                self._send(
                    404, "text/plain; charset=utf-8", b"not found: try /healthz or /metrics\n"
                )

        def _healthz(self) -> None:
            try:
                body = snapshot()
                status = 200 if body.get("healthy") else 503
            except Exception as exc:  # a broken snapshot is itself unhealthy, not a crash
                log.warning("health snapshot failed: %s: %s", type(exc).__name__, exc)
                body, status = {"healthy": False, "error": f"{type(exc).__name__}: {exc}"}, 503
            payload = json.dumps(body, default=str, sort_keys=True).encode() + b"\n"
            self._send(status, "application/json", payload)

        def _metrics(self) -> None:
            try:
                if on_scrape is not None:
                    on_scrape()
            except Exception as exc:  # stale gauges beat a failed scrape
                log.warning("metrics refresh failed: %s: %s", type(exc).__name__, exc)
            self._send(200, CONTENT_TYPE_LATEST, metrics.render())

        def _send(self, status: int, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base class signature)
            log.debug("http %s - %s", self.address_string(), format % args)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class HealthServer:
    """Serves /healthz (snapshot() as JSON; 200 when snapshot()["healthy"], else 503) and
    /metrics (Prometheus text from `metrics`, after `on_scrape()` refreshes gauges).

    Does nothing when `config.enabled` is false. `port` is the bound port (config may say 0).
    """

    def __init__(
        self,
        config: HttpConfig,
        snapshot: Callable[[], dict[str, Any]],
        metrics: Metrics | None = None,
        on_scrape: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self._handler = _handler(snapshot, metrics, on_scrape)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int | None:
        return self._server.server_address[1] if self._server else None

    @property
    def url(self) -> str | None:
        if self._server is None:
            return None
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}"

    def start(self) -> "HealthServer":
        """Bind and serve; raise EdgeError naming the address if the port is taken."""
        if not self.config.enabled or self._server is not None:
            return self
        server_type = _Server6 if ":" in self.config.host else _Server
        try:
            self._server = server_type((self.config.host, self.config.port), self._handler)
        except OSError as exc:
            raise EdgeError(
                f"http: cannot listen on {self.config.host}:{self.config.port}: "
                f"{exc.strerror or exc}"
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="http-health", daemon=True
        )
        self._thread.start()
        log.info("health endpoint listening on %s (/healthz, /metrics)", self.url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
        self._server = self._thread = None

    def __enter__(self) -> "HealthServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Timex(ctypes.Structure):
    """The leading fields of Linux `struct timex`, padded to cover the whole kernel struct."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 256),
    ]


TIME_ERROR = 5  # adjtimex() result while the kernel clock is not synchronised


def _kernel_sync() -> dict[str, Any] | None:
    """Ask the kernel directly (what timedatectl's NTPSynchronized reports): no subprocess,
    never blocks. None where unavailable, e.g. not Linux or a seccomp filter forbids it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        timex = _Timex()
        result = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return None
    if result < 0:
        return None
    synced = result != TIME_ERROR
    return {
        "state": "synced" if synced else "unsynced",
        "method": "adjtimex",
        "est_error_s": timex.esterror / 1e6 if synced else None,
    }


def _command(args: list[str]) -> str | None:
    if shutil.which(args[0]) is None:
        return None
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=1.0, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _timedatectl_sync() -> dict[str, Any] | None:
    out = _command(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if out is None or out.strip() not in ("yes", "no"):
        return None
    return {
        "state": "synced" if out.strip() == "yes" else "unsynced",
        "method": "timedatectl",
        "est_error_s": None,
    }


def _chrony_sync() -> dict[str, Any] | None:
    out = _command(["chronyc", "-n", "tracking"])
    if out is None:
        return None
    fields = {
        k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v
    }
    leap = fields.get("Leap status")
    if leap is None:
        return None
    return {
        "state": "unsynced" if leap == "Not synchronised" else "synced",
        "method": "chronyc",
        "est_error_s": None,
    }


_sync_cache: dict[str, Any] | None = None
_sync_lock = threading.Lock()


def time_sync_state(max_age_s: float = 60.0) -> dict[str, Any]:
    """Whether the clock that stamps reads is NTP-synchronised.

    Returns {"state": "synced"|"unsynced"|"unknown", "method", "est_error_s", "checked_at"}.
    Cached for `max_age_s`; a refresh costs at most two 1 s subprocess timeouts and only
    when the kernel cannot be asked directly.
    """
    global _sync_cache
    with _sync_lock:
        now = time.time()
        if _sync_cache is not None and now - _sync_cache["checked_at"] < max_age_s:
            return dict(_sync_cache)
        found = _kernel_sync() or _timedatectl_sync() or _chrony_sync()
        _sync_cache = {
            **(found or {"state": "unknown", "method": None, "est_error_s": None}),
            "checked_at": now,
        }
        return dict(_sync_cache)
