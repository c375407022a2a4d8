"""Delivery under faults, against a real mosquitto: nothing lost, order kept, errors named.

Each test counts lost and duplicated passes as seen by a subscriber with a persistent
session. Duplicates are allowed (at-least-once) but must carry the same id and payload;
losses are not, except passes the spool's size bound dropped, which must be counted.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edge.config import MqttConfig, TlsConfig
from edge.errors import ConfigError
from edge.publish import Publisher, encode_json, read_topic
from edge.record import validate_payload
from edge.spool import Spool, row_size
from edge.tail import tail
from tests.mqtt_broker import Broker, Collector, Pki, make_payload, make_pki

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
FAST = {"reconnect_min_s": 0.1, "reconnect_max_s": 0.5, "health_interval_s": 0.5, "keepalive_s": 5}
UNIT, CAMERA = "unit-1", "cam-1"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def stranger_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("stranger"), "stranger")


def new_publisher(spool: Spool, port: int, **config: Any) -> Publisher:
    publisher = Publisher(MqttConfig(port=port, **{**FAST, **config}), UNIT, spool, [CAMERA], "test")
    publisher.start()
    return publisher


def open_spool(tmp_path: Path, max_bytes: int = 10**9) -> Spool:
    return Spool(tmp_path / "spool" / "spool.db", max_bytes, 86400)


def wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def check_delivery(sent: list[dict[str, Any]], collector: Collector) -> int:
    """Assert none lost, first arrivals in send order, duplicates identical; return the duplicate count."""
    received = collector.reads()
    by_id = {p["id"]: p for p in sent}
    first_arrivals = list(dict.fromkeys(p["id"] for p in received))
    lost = len(set(by_id) - set(first_arrivals))
    duplicates = len(received) - len(first_arrivals)
    print(f"sent={len(sent)} received={len(received)} lost={lost} duplicated={duplicates}")
    assert lost == 0
    assert first_arrivals == [p["id"] for p in sent]
    assert all(p == by_id[p["id"]] for p in received)
    return duplicates


def paused_broker(tmp_path: Path, **options: Any) -> tuple[Broker, Collector]:
    """A broker that knows the collector's persistent session but is currently down."""
    broker = Broker(tmp_path / "broker", **options).start()
    collector = Collector(broker.plain_port)
    broker.stop()  # SIGTERM saves the session, so messages wait for the collector after restart
    return broker, collector


def test_passes_spool_while_the_broker_is_down_then_arrive_in_order(tmp_path: Path) -> None:
    broker, collector = paused_broker(tmp_path)
    spool = open_spool(tmp_path)
    publisher = new_publisher(spool, broker.port)
    sent = [make_payload(i) for i in range(60)]
    for payload in sent:
        publisher.submit(payload)
    assert wait_until(lambda: publisher.last_error is not None, 5)
    assert "refused the connection" in publisher.last_error and spool.depth() == 60
    assert publisher.health()["spool"]["depth"] == 60 and not publisher.health()["connected"]
    broker.start()
    try:
        assert collector.wait_for_ids({p["id"] for p in sent}, 15)
        check_delivery(sent, collector)
        validate_payload(collector.reads()[0])
        assert wait_until(lambda: spool.depth() == 0, 5) and publisher.last_error is None
        assert publisher.stop(3)
        assert wait_until(lambda: collector.statuses()[-1]["state"] == "offline", 3)
        assert collector.statuses()[-1]["reason"] == "stopped"
    finally:
        collector.close()
        broker.kill()


def test_broker_killed_mid_stream_and_restarted_loses_nothing(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "broker").start()
    collector = Collector(broker.port)
    broker.wait_saved(since=time.time())  # the collector's session survives the SIGKILL
    spool = open_spool(tmp_path)
    publisher = new_publisher(spool, broker.port)
    sent = [make_payload(i) for i in range(400)]

    def feed() -> None:
        for payload in sent:
            publisher.submit(payload)
            time.sleep(0.01)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        time.sleep(1.0)
        broker.kill()
        assert wait_until(lambda: not publisher.connected, 3)
        time.sleep(5)
        assert spool.depth() > 0 and "refused the connection" in (publisher.last_error or "")
        broker.start()
        feeder.join()
        assert wait_until(lambda: spool.depth() == 0, 20)  # the broker acknowledged every pass
        assert collector.wait_for_ids({p["id"] for p in sent}, 10)
        check_delivery(sent, collector)
        publisher.stop(3)
    finally:
        feeder.join()
        collector.close()
        broker.kill()


FEEDER = """
import json, sys, time
from edge.config import MqttConfig
from edge.publish import Publisher
from edge.spool import Spool
port, spool_path, feed, start = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
payloads = [json.loads(line) for line in open(feed)]
spool = Spool(spool_path, 10**9, 86400)
config = MqttConfig(port=port, reconnect_min_s=0.1, reconnect_max_s=0.5)
publisher = Publisher(config, "unit-1", spool, ["cam-1"], "test")
publisher.start()
for index in range(start, len(payloads)):
    publisher.submit(payloads[index])
    print(index, flush=True)
    time.sleep(0.005)
while spool.depth():
    time.sleep(0.05)
publisher.stop(3)
print("done", flush=True)
"""


def run_feeder(port: int, spool_path: Path, feed: Path, start: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", FEEDER, str(port), str(spool_path), str(feed), str(start)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def test_daemon_killed_mid_stream_and_restarted_loses_nothing(tmp_path: Path) -> None:
    """kill -9 the publishing process; the restarted one resubmits from its last confirmed pass."""
    broker = Broker(tmp_path / "broker").start()
    collector = Collector(broker.port)
    sent = [make_payload(i) for i in range(300)]
    feed = tmp_path / "feed.jsonl"
    feed.write_text("".join(json.dumps(p) + "\n" for p in sent))
    spool_path = tmp_path / "spool" / "spool.db"
    try:
        first = run_feeder(broker.port, spool_path, feed, 0)
        assert first.stdout is not None
        confirmed = [int(first.stdout.readline()) for _ in range(150)]
        first.send_signal(signal.SIGKILL)
        first.wait()
        rest = first.stdout.read().split()
        last = max(confirmed + [int(x) for x in rest if x.isdigit()])
        assert wait_until(lambda: any(s.get("reason") == "connection lost" for s in collector.statuses()), 5)
        second = run_feeder(broker.port, spool_path, feed, last + 1)
        out, _ = second.communicate(timeout=30)
        assert out.strip().endswith("done")
        assert collector.wait_for_ids({p["id"] for p in sent}, 10)
        duplicates = check_delivery(sent, collector)
        assert duplicates <= 64  # at most one in-flight window is resent
    finally:
        collector.close()
        broker.kill()


def test_spool_bound_drops_oldest_and_reports_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broker, collector = paused_broker(tmp_path)
    sent = [make_payload(i) for i in range(50)]
    topic = read_topic("anpr", UNIT, CAMERA)
    sizes = {row_size(p["id"], topic, encode_json(p)) for p in sent}
    assert len(sizes) == 1
    spool = open_spool(tmp_path, max_bytes=20 * sizes.pop())
    publisher = new_publisher(spool, broker.port)
    with caplog.at_level(logging.WARNING, logger="edge.spool"):
        for payload in sent:
            publisher.submit(payload)
    assert any("dropped" in r.getMessage() for r in caplog.records)
    health = publisher.health()
    assert health["spool"]["dropped"] == 30 and health["spool"]["depth"] == 20
    broker.start()
    try:
        assert collector.wait_for_ids({p["id"] for p in sent[30:]}, 15)
        check_delivery(sent[30:], collector)
        lost = len({p["id"] for p in sent} - set(collector.read_ids()))
        assert lost == publisher.health()["spool"]["dropped"] == 30  # every loss is counted
        assert wait_until(lambda: collector.statuses() and collector.statuses()[-1]["spool"]["dropped"] == 30, 5)
        publisher.stop(3)
    finally:
        collector.close()
        broker.kill()


def test_wrong_password_is_named_and_passes_wait_for_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broker = Broker(tmp_path / "broker", users={"edge": "s3cret"}).start()
    collector = Collector(broker.port, "edge", "s3cret")
    spool = open_spool(tmp_path)
    sent = [make_payload(i) for i in range(20)]
    monkeypatch.setenv("EDGE_TEST_MQTT_PASSWORD", "wrong")
    try:
        publisher = new_publisher(spool, broker.port, username="edge", password_env="EDGE_TEST_MQTT_PASSWORD")
        publisher.submit_many(sent)
        assert wait_until(lambda: publisher.last_error is not None, 5)
        assert publisher.last_error.startswith("MQTT broker refused: not authorised (check mqtt.username")
        assert publisher.health()["last_error"] == publisher.last_error and spool.depth() == 20
        publisher.stop(1)
        monkeypatch.setenv("EDGE_TEST_MQTT_PASSWORD", "s3cret")
        publisher = new_publisher(spool, broker.port, username="edge", password_env="EDGE_TEST_MQTT_PASSWORD")
        assert collector.wait_for_ids({p["id"] for p in sent}, 10)
        check_delivery(sent, collector)
        publisher.stop(3)
    finally:
        collector.close()
        broker.kill()


def test_wrong_ca_is_named_and_passes_wait_for_the_fix(tmp_path: Path, pki: Pki, stranger_pki: Pki) -> None:
    broker = Broker(tmp_path / "broker", pki=pki).start()
    collector = Collector(broker.plain_port)
    spool = open_spool(tmp_path)
    sent = [make_payload(i) for i in range(20)]
    try:
        publisher = new_publisher(spool, broker.port, tls=TlsConfig(ca_file=stranger_pki.ca))
        publisher.submit_many(sent)
        assert wait_until(lambda: publisher.last_error is not None, 5)
        assert publisher.last_error.startswith("TLS handshake failed: certificate verify failed")
        assert publisher.last_error.endswith("(check mqtt.tls.ca_file)") and spool.depth() == 20
        publisher.stop(1)
        publisher = new_publisher(spool, broker.port, tls=TlsConfig(ca_file=pki.ca))
        assert collector.wait_for_ids({p["id"] for p in sent}, 10)
        check_delivery(sent, collector)
        publisher.stop(3)
    finally:
        collector.close()
        broker.kill()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_tls_with_a_private_ca_delivers(tmp_path: Path, pki: Pki, protocol: str) -> None:
    broker = Broker(tmp_path / "broker", pki=pki).start()
    collector = Collector(broker.plain_port, v5=True)
    spool = open_spool(tmp_path)
    sent = [make_payload(i) for i in range(30)]
    try:
        publisher = new_publisher(spool, broker.port, host="127.0.0.1", protocol=protocol,
                                  tls=TlsConfig(ca_file=pki.ca))
        publisher.submit_many(sent)
        assert collector.wait_for_ids({p["id"] for p in sent}, 10)
        check_delivery(sent, collector)
        topic, _, properties = next(m for m in collector.messages if m[0].endswith("/read"))
        assert topic == read_topic("anpr", UNIT, CAMERA)
        if protocol == "5":
            assert properties.ContentType == "application/json" and properties.MessageExpiryInterval == 86400
            assert properties.UserProperty == [("pass_id", sent[0]["id"])]
        assert publisher.stop(3)
    finally:
        collector.close()
        broker.kill()


def test_mutual_tls_needs_the_client_certificate(tmp_path: Path, pki: Pki) -> None:
    broker = Broker(tmp_path / "broker", pki=pki, require_certificate=True).start()
    collector = Collector(broker.plain_port)
    spool = open_spool(tmp_path)
    sent = [make_payload(i) for i in range(20)]
    try:
        publisher = new_publisher(spool, broker.port, tls=TlsConfig(ca_file=pki.ca))
        publisher.submit_many(sent)
        assert wait_until(lambda: publisher.last_error is not None, 5)
        assert "certificate required" in publisher.last_error and spool.depth() == 20
        publisher.stop(1)
        tls = TlsConfig(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key)
        publisher = new_publisher(spool, broker.port, tls=tls)
        assert collector.wait_for_ids({p["id"] for p in sent}, 10)
        check_delivery(sent, collector)
        publisher.stop(3)
    finally:
        collector.close()
        broker.kill()


def test_plaintext_off_the_box_is_refused_unless_allowed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = open_spool(tmp_path)
    with pytest.raises(ConfigError, match="mqtt.allow_plaintext"):
        Publisher(MqttConfig(host="broker.example.net"), UNIT, spool, [CAMERA], "test")
    with caplog.at_level(logging.WARNING, logger="edge.publish"):
        Publisher(MqttConfig(host="192.0.2.7", allow_plaintext=True), UNIT, spool, [CAMERA], "test")
    assert any("unencrypted" in r.getMessage() for r in caplog.records)
    Publisher(MqttConfig(host="127.0.0.1"), UNIT, spool, [CAMERA], "test")  # loopback is fine


@pytest.mark.parametrize("json_lines", [False, True])
def test_tail_shows_live_passes(tmp_path: Path, json_lines: bool) -> None:
    broker = Broker(tmp_path / "broker").start()
    spool = open_spool(tmp_path)
    publisher = new_publisher(spool, broker.port)
    out = io.StringIO()
    result: list[int] = []
    viewer = threading.Thread(target=lambda: result.append(
        tail(MqttConfig(port=broker.port), UNIT, json_lines, out=out, limit=3, timeout_s=15)))
    viewer.start()
    sent = []
    try:
        while viewer.is_alive() and len(sent) < 60:  # until tail has subscribed and seen three
            sent.append(make_payload(len(sent)))
            publisher.submit(sent[-1])
            time.sleep(0.2)
        viewer.join()
        assert result == [3]
        lines = out.getvalue().splitlines()
        by_id = {p["id"]: p for p in sent}
        if json_lines:
            shown = [json.loads(line) for line in lines]
            assert all(p == by_id[p["id"]] for p in shown)
        else:
            header, *rows = lines
            assert header.split() == ["TIME", "UNIT", "CAMERA", "PLATE", "CONF", "EVENT"]
            plates = [p["plate"] for p in sent]
            for row in rows:
                _, unit, camera, plate, conf, event = row.split()[1:]
                assert (unit, camera, conf, event) == (UNIT, CAMERA, "0.93", "entry") and plate in plates
                assert len(row.split("  ")[0]) == 23  # columns stay aligned
        publisher.stop(3)
    finally:
        broker.kill()


def test_prepacked_read_properties_match_paho_serialisation() -> None:
    """The publish path packs read properties itself for speed; they must be byte-identical."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from edge.publish import _ReadProperties

    for expiry in (86400, 0):
        reference = Properties(PacketTypes.PUBLISH)
        reference.ContentType = "application/json"
        if expiry:
            reference.MessageExpiryInterval = expiry
        reference.UserProperty = ("pass_id", "018f3406-9e00-71b0-9e8f-1911c8334586")
        assert _ReadProperties(expiry)("018f3406-9e00-71b0-9e8f-1911c8334586").pack() == reference.pack()
