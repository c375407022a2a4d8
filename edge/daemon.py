"""`edge run`: every configured camera, from capture to the broker, until told to stop.

Threads, not processes: capture (one per camera) keeps the newest frame so a slow frame
never stalls the camera; processing (one per camera) runs the pipeline, whose heavy parts
(OpenCV, torch) release the GIL, so two cameras use both cores. Each pass is durably
spooled before publishing. SIGTERM/SIGINT stop capture, close open tracks into passes,
flush them to the spool, publish `offline` and exit 0 within the shutdown deadline.
"""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import threading
import time
from typing import Any

from edge import __version__
from edge.config import CameraConfig, EdgeConfig
from edge.health import HealthServer, Metrics, time_sync_state
from edge.logs import plate_for_log, setup_logging
from edge.pipeline import CameraPipeline, PlateReader
from edge.record import PassRecord, to_payload
from edge.source import CaptureThread, open_source
from edge.types import Frame

log = logging.getLogger(__name__)
FRAME_WAIT_S = 0.5


class PassSink:
    """Where passes go: the spool + publisher, or stdout when MQTT is disabled."""

    def __init__(self, config: EdgeConfig, cameras: list[str]) -> None:
        self.config = config
        self.publisher = None
        self.spool = None
        if config.mqtt.enabled:
            from edge.publish import Publisher
            from edge.spool import Spool

            self.spool = Spool(config.spool.path, config.spool.max_bytes, config.spool.max_age_s)
            self.publisher = Publisher(config.mqtt, config.unit.id, self.spool, cameras, __version__)
        self._lock = threading.Lock()
        self._held: list[dict[str, Any]] = []

    def start(self) -> None:
        if self.publisher is not None:
            self.publisher.start()

    def submit(self, payload: dict[str, Any]) -> None:
        """Spool a pass; when the spool cannot be written (disk full, I/O error) hold it in
        memory and retry with the next pass, so a full disk delays reads but loses none."""
        if self.publisher is None:
            self._print(payload)
            return
        with self._lock:
            self._held.append(payload)
            self._flush_held()

    def _flush_held(self) -> None:
        try:
            self.publisher.submit_many(self._held)
        except (sqlite3.Error, OSError) as exc:
            if len(self._held) == 1 or len(self._held) % 100 == 0:
                log.error("cannot write the spool %s (%s): %d pass(es) held in memory, retrying with each new "
                          "pass", self.config.spool.path, exc, len(self._held))
            return
        if len(self._held) > 1:
            log.warning("spool writable again: %d held pass(es) stored", len(self._held))
        self._held = []

    def _print(self, payload: dict[str, Any]) -> None:
        with self._lock:
            print(json.dumps(payload), flush=True)

    def drain(self, timeout: float) -> None:
        """Give the publisher until `timeout` to deliver what is spooled, while connected.

        Whatever is left stays in the spool for the next start: nothing is lost either way.
        """
        deadline = time.monotonic() + timeout
        while self.spool is not None and self.spool.depth() and time.monotonic() < deadline:
            if not self.publisher.connected and time.monotonic() > deadline - timeout / 2:
                break
            time.sleep(0.05)

    def stop(self, timeout: float) -> str:
        """Stop publishing; return one line for the operator saying where the reads went."""
        if self.publisher is None:
            return "MQTT disabled: passes printed only"
        with self._lock:
            if self._held:
                self._flush_held()
            held, self._held = self._held, []
        for payload in held:  # last resort: stdout (the journal) rather than losing a read
            log.error("spool still not writable at shutdown: pass %s written to stdout", payload["id"])
            self._print(payload)
        self.publisher.stop(timeout)
        depth = self.spool.depth()
        self.spool.close()
        broker = f"{self.config.mqtt.host}:{self.config.mqtt.port}"
        if depth:
            why = self.publisher.last_error or "broker not reachable"
            return (f"{depth} read(s) kept in the spool {self.spool.path}: not delivered to {broker} ({why}); "
                    "they will be published when the broker is reachable")
        return f"every read delivered to {broker}"


class CameraWorker:
    """Capture and processing of one camera."""

    def __init__(self, camera: CameraConfig, config: EdgeConfig, reader: PlateReader, sink: PassSink,
                 metrics: Metrics, stopping: threading.Event) -> None:
        self.camera = camera
        self.capture = CaptureThread(open_source(camera, realtime=True), drop_frames=True)
        self.pipeline = CameraPipeline(reader, camera, config)
        self.sink = sink
        self.metrics = metrics
        self.stopping = stopping
        self.thread = threading.Thread(target=self._run, name=f"process-{camera.name}", daemon=True)
        self.passes = 0
        self.frame_errors = 0

    def start(self) -> None:
        self.capture.start()
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                frame = self.capture.get(timeout=FRAME_WAIT_S)
                if frame is None and self.capture.finished:
                    break
                self._step(frame)
        finally:
            self._emit(self.pipeline.finish())

    def _step(self, frame: Frame | None) -> None:
        """One frame (or an idle tick); a frame that breaks the pipeline is counted and skipped."""
        try:
            if frame is None:
                self._emit(self.pipeline.process_idle(time.time()))
                return
            self._emit(self.pipeline.process(frame))
            self._observe()
        except Exception as exc:
            self.frame_errors += 1
            if self.frame_errors <= 3 or self.frame_errors % 100 == 0:
                log.error("camera %s: frame %s failed (%s: %s); skipped (%d so far)", self.camera.name,
                          getattr(frame, "index", "-"), type(exc).__name__, exc, self.frame_errors,
                          exc_info=log.isEnabledFor(logging.DEBUG))

    def _observe(self) -> None:
        reading = self.pipeline.last_reading
        if reading is not None:
            self.metrics.record_reading(self.camera.name, reading, self.pipeline.reader.min_confidence)

    def _emit(self, records: list[PassRecord]) -> None:
        for record in records:
            self.sink.submit(to_payload(record))
            self.passes += 1
            self.metrics.passes.labels(self.camera.name, record.zone.event).inc()
            log.info("pass camera=%s plate=%s event=%s conf=%.2f frames=%d", self.camera.name,
                     plate_for_log(record.plate), record.zone.event, record.confidence, record.frames)

    def health(self) -> dict[str, Any]:
        stats = self.capture.stats()
        return {"state": stats.state, "fps": round(stats.fps, 2), "frames_in": stats.frames_in,
                "frames_dropped": stats.frames_dropped, "frames_processed": self.pipeline.frames_processed,
                "passes": self.passes, "frame_errors": self.frame_errors, "last_error": stats.last_error}


class Daemon:
    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.stopping = threading.Event()
        self.metrics = Metrics()
        cameras = [c for c in config.cameras if c.enabled]
        reader = PlateReader(config, streams=len(cameras))
        self.sink = PassSink(config, [c.name for c in cameras])
        self.workers = [CameraWorker(c, config, reader, self.sink, self.metrics, self.stopping) for c in cameras]
        self.http = HealthServer(config.http, self.snapshot, self.metrics, self.refresh_metrics)
        if self.sink.publisher is not None:
            self.sink.publisher.set_health_source(self.camera_health)

    def camera_health(self) -> dict[str, Any]:
        return {"cameras": {w.camera.name: w.health() for w in self.workers}, "time_sync": time_sync_state()}

    def snapshot(self) -> dict[str, Any]:
        publisher = self.sink.publisher
        health = publisher.health() if publisher is not None else self.camera_health()
        states = [w.capture.state for w in self.workers]
        health["healthy"] = not self.stopping.is_set() and any(s in ("streaming", "starting") for s in states)
        return health

    def refresh_metrics(self) -> None:
        for worker in self.workers:
            self.metrics.record_capture(worker.capture.stats())
        self.metrics.record_time_sync(time_sync_state())
        if self.sink.spool is not None:
            stats = self.sink.spool.stats()
            self.metrics.spool_depth.set(stats["depth"])
            self.metrics.spool_oldest_unsent_seconds.set(stats["oldest_age_s"] or 0.0)
            self.metrics.broker_connected.set(1.0 if self.sink.publisher.connected else 0.0)

    def request_stop(self, signum: int | None = None, _frame: Any = None) -> None:
        if not self.stopping.is_set():
            log.info("stopping (%s)", signal.Signals(signum).name if signum else "all sources ended")
        self.stopping.set()

    def run(self) -> int:
        self.sink.start()
        self.http.start()
        for worker in self.workers:
            worker.start()
        log.info("edge %s running unit=%s cameras=%s", __version__, self.config.unit.id,
                 ",".join(w.camera.name for w in self.workers) or "none")
        while not self.stopping.wait(0.5):
            if all(not w.thread.is_alive() for w in self.workers):
                self.request_stop()
        return self.shutdown()

    def shutdown(self) -> int:
        """Stop capture, let processing flush open tracks to the spool, then the publisher."""
        deadline = time.monotonic() + self.config.shutdown_deadline_s
        for worker in self.workers:
            worker.capture.stop(timeout=1.0)
        for worker in self.workers:
            worker.thread.join(max(0.1, deadline - time.monotonic() - 2.0))
            if worker.thread.is_alive():
                log.error("camera %s: processing did not finish before the shutdown deadline", worker.camera.name)
        self.sink.drain(max(0.0, deadline - time.monotonic() - 2.0))
        outcome = self.sink.stop(max(0.5, deadline - time.monotonic()))
        self.http.stop()
        log.info("stopped: %s", outcome)
        return 0


def run_daemon(config: EdgeConfig, debug: bool = False) -> int:
    setup_logging(config.logging, debug=debug)
    daemon = Daemon(config)
    signal.signal(signal.SIGTERM, daemon.request_stop)
    signal.signal(signal.SIGINT, daemon.request_stop)
    return daemon.run()
