"""`edge run` end to end: real video-file cameras, the real model, a real Mosquitto, real signals."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from edge.record import validate_payload
from mqtt_broker import Broker, Collector, free_port

ROOT = Path(__file__).resolve().parents[1]
SEQUENCES = ROOT / "sample_images" / "sequences"
pytestmark = pytest.mark.slow


def zone() -> dict:
    return yaml.safe_load((SEQUENCES / "zone.yaml").read_text())


def write_config(tmp_path: Path, broker: Broker, cameras: list[dict], http_port: int | None = None) -> Path:
    config = {
        "unit": {"id": "e2e-unit"},
        "cameras": cameras,
        "plates": {"countries": ["gb", "generic"]},
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "health_interval_s": 1},
        "spool": {"path": str(tmp_path / "spool.db")},
        "logging": {"level": "INFO"},
        "http": {"enabled": http_port is not None, "port": http_port or 9108},
        "shutdown_deadline_s": 10,
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_daemon(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def spool_depth(path: Path) -> int:
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        table = next(t for t in tables if "spool" in t or "reads" in t or "pass" in t)
        return db.execute(f"select count(*) from {table}").fetchone()[0]


def logged_passes(stderr: str) -> int:
    return sum(1 for line in stderr.splitlines() if " pass camera=" in line or '"pass camera=' in line)


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_two_video_cameras_deliver_passes_with_zone_events(tmp_path):
    with Broker(tmp_path / "broker") as broker:
        collector = Collector(broker.port)
        config = write_config(tmp_path, broker, [
            {"name": "north", "source": str(SEQUENCES / "seq01_entry.mp4"), "zone": zone()},
            {"name": "south", "source": str(SEQUENCES / "seq02_exit.mp4"), "zone": zone()},
        ])
        daemon = start_daemon(config)
        try:
            _, stderr = daemon.communicate(timeout=240)
        finally:
            daemon.kill()
        assert daemon.returncode == 0, stderr[-3000:]
        assert wait_for(lambda: len(collector.reads()) >= logged_passes(stderr), 10)
        reads = collector.reads()
        collector.close()
    assert reads, stderr[-3000:]
    for payload in reads:
        validate_payload(payload)
    events = {(p["camera"], p["zone"]["event"]) for p in reads}
    assert ("north", "entry") in events and ("south", "exit") in events, events
    assert not {("north", "exit"), ("south", "entry")} & events
    assert len(reads) == logged_passes(stderr)
    assert collector.statuses()[-1]["state"] == "offline"


def test_sigterm_mid_run_loses_nothing_and_leaves_offline_retained(tmp_path):
    http_port = free_port()
    with Broker(tmp_path / "broker") as broker:
        collector = Collector(broker.port)
        config = write_config(tmp_path, broker, [
            {"name": "loop", "source": str(SEQUENCES / "seq03_two_way.mp4"), "loop": True, "zone": zone()},
        ], http_port=http_port)
        daemon = start_daemon(config)
        try:
            assert wait_for(lambda: any(s.get("state") == "online" for s in collector.statuses()), 120)
            health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5).read())
            assert health["cameras"]["loop"]["state"] in ("streaming", "starting")
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5).read().decode()
            assert "edge_frames_in" in metrics
            time.sleep(3)  # mid-run: tracks are open
            started = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            _, stderr = daemon.communicate(timeout=30)
            stopped_in = time.monotonic() - started
        finally:
            daemon.kill()
        assert daemon.returncode == 0, stderr[-3000:]
        assert stopped_in < 12
        assert wait_for(lambda: len(collector.reads()) >= logged_passes(stderr), 10)
        assert len(collector.reads()) == logged_passes(stderr)
        assert spool_depth(tmp_path / "spool.db") == 0
        # A fresh subscriber sees the retained status: offline.
        late = Collector(broker.port, client_id="late-subscriber")
        assert wait_for(lambda: late.statuses(), 5)
        assert late.statuses()[-1]["state"] == "offline"
        late.close()
        collector.close()


def test_unreachable_camera_reconnects_and_others_carry_on(tmp_path):
    http_port = free_port()
    with Broker(tmp_path / "broker") as broker:
        config = write_config(tmp_path, broker, [
            {"name": "dead", "source": f"rtsp://127.0.0.1:{free_port()}/stream"},
            {"name": "alive", "source": str(SEQUENCES / "seq01_entry.mp4"), "loop": True},
        ], http_port=http_port)
        daemon = start_daemon(config)
        try:
            def states():
                try:
                    body = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5).read()
                except OSError as exc:
                    body = getattr(exc, "read", lambda: b"{}")()
                cameras = json.loads(body or b"{}").get("cameras", {})
                return {name: c["state"] for name, c in cameras.items()}

            assert wait_for(lambda: states().get("dead") in ("reconnecting", "failed")
                            and states().get("alive") == "streaming", 120), states()
            daemon.send_signal(signal.SIGTERM)
            _, stderr = daemon.communicate(timeout=30)
        finally:
            daemon.kill()
    assert daemon.returncode == 0, stderr[-3000:]
    assert "dead" in stderr and "Traceback" not in stderr


def test_bad_config_exits_2_with_a_clear_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("unit: {id: x}\n"
                    "cameras: [{name: a, source: rtsp://h/s, zone: {name: z, line: [[0,0]], inside: below}}]\n")
    result = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "cameras[0].zone.line: expected two points" in result.stderr
    assert "Traceback" not in result.stderr
