"""`edge tail`: watch live passes on the broker, as a table or as JSON lines.

It subscribes with the unit's own broker settings (TLS, credentials), so commissioning
can confirm end to end that reads leave the unit and reach the broker. Plates go to
stdout only, because showing them is the point of the command; they are never logged.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from typing import Any, TextIO

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import MqttConfig
from edge.errors import EdgeError
from edge.publish import apply_security, check_transport, describe_connect_error, describe_refusal, resolve_password

log = logging.getLogger(__name__)

COLUMNS = (("TIME", 23), ("UNIT", 16), ("CAMERA", 16), ("PLATE", 12), ("CONF", 5), ("EVENT", 16))


def read_filter(config: MqttConfig, unit: str | None) -> str:
    return f"{config.topic_prefix}/{unit or '+'}/+/read"


def format_row(values: list[str]) -> str:
    """Fixed-width columns; a value too long for its column is cut with '~' so rows stay aligned."""
    cells = []
    for (_, width), value in zip(COLUMNS, values):
        cells.append(value if len(value) <= width else value[:width - 1] + "~")
        cells[-1] = cells[-1].ljust(width)
    return "  ".join(cells).rstrip()


def table_row(payload: dict[str, Any]) -> str:
    """One pass as a table row; tolerant of missing fields, since the broker may carry other producers."""
    seen = str(payload.get("best_seen") or payload.get("last_seen") or "")
    zone = payload.get("zone") or {}
    event = str(zone.get("event") or "")
    if payload.get("preview"):
        event += " (preview)"
    confidence = payload.get("confidence")
    conf = f"{confidence:.2f}" if isinstance(confidence, (int, float)) else ""
    return format_row([seen.replace("T", " ").rstrip("Z"), str(payload.get("unit", "")),
                       str(payload.get("camera", "")), str(payload.get("plate", "")), conf, event])


def tail(mqtt_config: MqttConfig, unit: str | None, json_lines: bool, out: TextIO = sys.stdout,
         limit: int | None = None, timeout_s: float | None = None) -> int:
    """Print passes as they arrive until `limit` passes, `timeout_s`, or Ctrl-C; return the count."""
    check_transport(mqtt_config)
    state = _TailState(out, json_lines, limit)
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                         client_id=f"edge-tail-{os.urandom(4).hex()}",
                         protocol=mqtt.MQTTv5 if mqtt_config.protocol == "5" else mqtt.MQTTv311)
    apply_security(client, mqtt_config, resolve_password(mqtt_config))
    topic = read_filter(mqtt_config, unit)
    client.on_connect = lambda c, u, flags, reason, props: state.connected(c, reason, topic)
    client.on_message = lambda c, u, message: state.message(message)
    try:
        client.connect(mqtt_config.host, mqtt_config.port, keepalive=mqtt_config.keepalive_s)
    except OSError as exc:
        raise EdgeError(describe_connect_error(exc, mqtt_config)) from None
    if not json_lines:
        print(format_row([name for name, _ in COLUMNS]), file=out, flush=True)
    client.loop_start()
    try:
        state.done.wait(timeout_s)
    except KeyboardInterrupt:
        pass
    finally:
        client.disconnect()
        client.loop_stop()
    if state.error:
        raise EdgeError(state.error)
    return state.count


class _TailState:
    """What the paho callbacks share with the waiting caller."""

    def __init__(self, out: TextIO, json_lines: bool, limit: int | None) -> None:
        self.out, self.json_lines, self.limit = out, json_lines, limit
        self.count = 0
        self.error: str | None = None
        self.done = threading.Event()

    def connected(self, client: mqtt.Client, reason: ReasonCode, topic: str) -> None:
        if reason.is_failure:
            self.error = describe_refusal(reason)
            self.done.set()
            return
        client.subscribe(topic, qos=1)

    def message(self, message: mqtt.MQTTMessage) -> None:
        if self.done.is_set():
            return
        try:
            payload = json.loads(message.payload)
        except ValueError:
            log.warning("skipping a message on %s that is not JSON", message.topic)
            return
        if not isinstance(payload, dict):
            log.warning("skipping a message on %s that is not a JSON object", message.topic)
            return
        line = json.dumps(payload, separators=(",", ":"), ensure_ascii=False) if self.json_lines else table_row(payload)
        print(line, file=self.out, flush=True)
        self.count += 1
        if self.limit is not None and self.count >= self.limit:
            self.done.set()
