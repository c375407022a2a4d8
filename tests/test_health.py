"""Metrics and the health endpoint over real HTTP."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from edge.config import HttpConfig
from edge.errors import EdgeError
from edge.health import HealthServer, Metrics, time_sync_state
from edge.pipeline import FrameReading, SetAside
from edge.source import CaptureStats
from edge.types import Box, Detection, PlateCandidate, PlateRead


def fetch(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def stats(frames_in: int, dropped: int, state: str = "streaming") -> CaptureStats:
    return CaptureStats("lane1", state, frames_in, dropped, 12.0, 0.1, 0, None)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def test_healthz_reflects_snapshot_and_metrics_are_scraped(metrics):
    health = {"healthy": True, "cameras": {"lane1": "streaming"}}
    refreshed = []
    with HealthServer(
        HttpConfig(enabled=True, port=0),
        lambda: health,
        metrics,
        on_scrape=lambda: refreshed.append(metrics.spool_depth.set(7)),
    ) as server:
        status, kind, body = fetch(f"{server.url}/healthz")
        assert (status, kind) == (200, "application/json")
        assert json.loads(body) == health

        health["healthy"] = False
        assert fetch(f"{server.url}/healthz")[0] == 503

        metrics.record_capture(stats(10, 2))
        metrics.record_capture(stats(25, 5, "reconnecting"))
        metrics.passes.labels("lane1", "entry").inc()
        aside = [SetAside(Box(0, 0, 9, 4), PlateRead("0NLY", 0.9), rule) for rule in ("unframed text", "scene text")]
        metrics.record_reading("lane1", FrameReading([], localise_s=0.03, read_s=0.02, set_aside=aside * 3,
                                                     searched_twice=True), 0.4)
        rise = np.tan(np.radians(7.0)) * 100  # a plate read at 0.9 leaning 7 degrees, one at 0.3 level
        quads = [np.float32([[0, 30], [100, 30 - rise], [100, 60 - rise], [0, 60]]),
                 np.float32([[300, 30], [400, 30], [400, 60], [300, 60]])]
        boxes = [Box(0, 17, 100, 43), Box(300, 30, 100, 30)]
        metrics.record_reading("lane1", FrameReading(
            [Detection(b, 1.0, PlateRead("AB12CDE", c), 0, 0.0) for b, c in zip(boxes, (0.9, 0.3))],
            [PlateCandidate(b, 1.0, q) for b, q in zip(boxes, quads)]), 0.4)
        status, kind, text = fetch(f"{server.url}/metrics")
        assert status == 200 and kind.startswith("text/plain")
        expected = [
            'edge_frames_in_total{camera="lane1"} 25.0',
            'edge_frames_dropped_total{camera="lane1"} 5.0',
            'edge_camera_state{camera="lane1",state="reconnecting"} 1.0',
            'edge_camera_state{camera="lane1",state="streaming"} 0.0',
            'edge_passes_total{camera="lane1",event="entry"} 1.0',
            'edge_reads_set_aside_total{camera="lane1",rule="unframed text"} 3.0',
            'edge_reads_set_aside_total{camera="lane1",rule="scene text"} 3.0',
            'edge_frames_processed_total{camera="lane1"} 2.0',
            'edge_frames_searched_twice_total{camera="lane1"} 1.0',  # the second frame was read surely
            'edge_read_seconds_count 2.0',
            'edge_localise_seconds_bucket{le="0.05"} 2.0',
            'edge_plate_lean_degrees_count{camera="lane1"} 1.0',  # the unsure level read is not counted
            'edge_plate_lean_degrees_bucket{camera="lane1",le="6.0"} 0.0',
            'edge_plate_lean_degrees_bucket{camera="lane1",le="10.0"} 1.0',
            "edge_spool_depth 7.0",
        ]
        assert [line for line in expected if line not in text] == [] and refreshed
        assert "python_gc" not in text  # a dedicated registry: no global default collectors

        assert fetch(f"{server.url}/nope")[0] == 404
        port = server.port
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # stop() released the port


def test_broken_snapshot_is_unhealthy_not_fatal(metrics):
    def explode() -> dict:
        raise RuntimeError("spool locked")

    with HealthServer(HttpConfig(enabled=True, port=0), explode, metrics) as server:
        status, _, body = fetch(f"{server.url}/healthz")
        assert status == 503 and json.loads(body) == {
            "healthy": False,
            "error": "RuntimeError: spool locked",
        }
        assert fetch(f"{server.url}/metrics")[0] == 200


def test_port_in_use_is_a_clear_error_and_disabled_server_does_nothing():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(EdgeError, match=f"http: cannot listen on 127.0.0.1:{port}"):
            HealthServer(HttpConfig(enabled=True, port=port), dict).start()
    disabled = HealthServer(HttpConfig(enabled=False, port=0), dict).start()
    assert disabled.port is None
    disabled.stop()


def test_time_sync_state_is_cached_and_quick(metrics):
    start = time.monotonic()
    first = time_sync_state()
    assert time.monotonic() - start < 3
    assert first["state"] in ("synced", "unsynced", "unknown")
    assert (first["method"] is None) == (first["state"] == "unknown")
    assert time_sync_state()["checked_at"] == first["checked_at"]
    assert time_sync_state(max_age_s=0)["checked_at"] >= first["checked_at"]
    metrics.record_time_sync(first)
    expected = {"synced": 1.0, "unsynced": 0.0, "unknown": -1.0}[first["state"]]
    assert f"edge_time_synced {expected}" in metrics.render().decode()
