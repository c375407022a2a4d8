"""Spool + publish throughput against a local mosquitto.

Measures, with real fsyncs and a real broker:
  1. sustained passes/s through submit_many (bursts) -> spool -> QoS 1 publish -> PUBACK -> delete,
     and the same with one submit() (one fsynced transaction) per pass;
  2. draining a backlog spooled during a broker outage (default 100k passes): time, and RSS
     before / peak during / after, to show memory stays flat however deep the spool is;
  3. spool bytes on disk per pass for a typical ~650-byte anpr.read/1 payload.

Usage: python benchmarks/mqtt_bench.py [--passes 20000] [--backlog 100000] [--json out.json]
Needs the `mosquitto` binary (apt-get install mosquitto).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.config import MqttConfig  # noqa: E402
from edge.publish import Publisher  # noqa: E402
from edge.spool import Spool  # noqa: E402
from tests.mqtt_broker import Broker, make_payload  # noqa: E402

BURST = 100


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakRss:
    """Samples RSS in the background, because the drain's peak is what a small unit must fit."""

    def __init__(self) -> None:
        self.peak = rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, rss_mib())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak, rss_mib())


def wait_empty(spool: Spool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while spool.depth():
        if time.monotonic() > deadline:
            raise RuntimeError(f"spool not drained after {timeout:.0f} s ({spool.depth()} left)")
        time.sleep(0.01)


def publisher_for(spool: Spool, port: int, inflight: int) -> Publisher:
    config = MqttConfig(port=port, inflight=inflight, reconnect_min_s=0.2, reconnect_max_s=1.0)
    publisher = Publisher(config, "bench-unit", spool, ["cam-1"], "bench")
    publisher.start()
    return publisher


def sustained(workdir: Path, port: int, payloads: list[dict[str, Any]], inflight: int, burst: int) -> float:
    spool = Spool(workdir / f"sustained-{burst}.db", 10**10, 86400)
    publisher = publisher_for(spool, port, inflight)
    time.sleep(0.5)  # connected
    start = time.perf_counter()
    for index in range(0, len(payloads), burst):
        chunk = payloads[index:index + burst]
        if burst == 1:
            publisher.submit(chunk[0])
        else:
            publisher.submit_many(chunk)
    wait_empty(spool, 600)
    rate = len(payloads) / (time.perf_counter() - start)
    publisher.stop(5)
    spool.close()
    return rate


def backlog(workdir: Path, broker: Broker, payloads: list[dict[str, Any]], inflight: int) -> dict[str, float]:
    broker.stop()
    spool = Spool(workdir / "backlog.db", 10**10, 86400)
    publisher = publisher_for(spool, broker.port, inflight)
    start = time.perf_counter()
    for index in range(0, len(payloads), 1000):
        publisher.submit_many(payloads[index:index + 1000])
    spool_s = time.perf_counter() - start
    with sqlite3.connect(spool.path) as conn:  # fold the WAL in, to measure the database itself
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    bytes_per_pass = spool.path.stat().st_size / spool.depth()
    rss_before = rss_mib()
    peak = PeakRss()
    broker.start()
    start = time.perf_counter()
    wait_empty(spool, 600)
    drain_s = time.perf_counter() - start
    peak_rss = peak.stop()
    publisher.stop(5)
    return {"passes": len(payloads), "spool_s": spool_s, "drain_s": drain_s, "drain_per_s": len(payloads) / drain_s,
            "bytes_per_pass": bytes_per_pass, "rss_before_mib": rss_before, "rss_peak_mib": peak_rss,
            "rss_after_mib": rss_mib(), "file_bytes_after": spool.stats()["file_bytes"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=20000, help="passes for the sustained-rate runs")
    parser.add_argument("--backlog", type=int, default=100000, help="passes spooled during the outage")
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    payloads = [make_payload(i) for i in range(max(args.passes, args.backlog))]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = Broker(workdir / "broker").start()
        try:
            figures: dict[str, Any] = {
                "payload_bytes": len(json.dumps(payloads[0], separators=(",", ":"))),
                "sustained_burst_per_s": sustained(workdir, broker.port, payloads[:args.passes], args.inflight, BURST),
                "sustained_single_per_s": sustained(workdir, broker.port, payloads[:min(args.passes, 5000)],
                                                    args.inflight, 1),
            }
            figures["backlog"] = backlog(workdir, broker, payloads[:args.backlog], args.inflight)
        finally:
            broker.kill()
    report(figures, args.inflight)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def report(figures: dict[str, Any], inflight: int) -> None:
    b = figures["backlog"]
    print(f"payload: {figures['payload_bytes']} bytes compact JSON; inflight window {inflight}")
    print(f"sustained, submit_many bursts of {BURST}: {figures['sustained_burst_per_s']:.0f} passes/s (target >= 2000)")
    print(f"sustained, one submit() per pass:      {figures['sustained_single_per_s']:.0f} passes/s")
    print(f"outage: spooled {b['passes']} passes in {b['spool_s']:.1f} s; drained in {b['drain_s']:.1f} s "
          f"({b['drain_per_s']:.0f}/s, target <= 60 s)")
    print(f"spool on disk: {b['bytes_per_pass']:.0f} bytes/pass (target <= 1024)")
    print(f"RSS: {b['rss_before_mib']:.0f} MiB before drain, {b['rss_peak_mib']:.0f} MiB peak, "
          f"{b['rss_after_mib']:.0f} MiB after")


if __name__ == "__main__":
    sys.exit(main())
