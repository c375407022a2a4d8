"""Deliver spooled passes to the MQTT broker, at least once, in order.

`submit()` only writes the pass to the durable spool and wakes the drain thread, so the
vision pipeline never waits on the network. The drain thread publishes the oldest
unsent passes with QoS 1 through a bounded in-flight window and deletes a pass from the
spool only when its PUBACK arrives. A pass whose PUBACK never came (outage, crash) is
sent again, so subscribers may see a duplicate, always with the same `id`.

Ordering after an outage: on every (re)connect paho's own copies of unacknowledged
publishes are dropped and the drain starts again from the head of the spool, so passes
go out oldest-first on each connection and a resend can never overtake a newer pass.
Each connection is an "epoch"; an acknowledgement only deletes a pass if it belongs to
the epoch the drain is publishing in, so a message id reused after a reconnect can never
delete the wrong pass.

Status (retained, `{prefix}/{unit}/status`): a birth message with state `online` on
every connect, the same message refreshed with health every `health_interval_s`, a
last-will `offline` if the connection dies, and a clean `offline` on `stop()`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import re
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers, writeUTF
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import MqttConfig
from edge.errors import ConfigError
from edge.spool import Spool, SpoolItem

log = logging.getLogger(__name__)

PREVIEW_SUFFIX = ":preview"
_EXPIRE_EVERY_S = 30.0
_REPEAT_ERROR_LOG_S = 300.0
_CONNACK_HINTS = {
    "not authorized": "check mqtt.username and the password",
    "bad user name or password": "check mqtt.username and the password",
    "client identifier not valid": "check mqtt.client_id",
    "banned": "the broker has banned this client",
    "server unavailable": "the broker is not accepting connections",
    "server busy": "the broker is not accepting connections",
}


def read_topic(prefix: str, unit: str, camera: str) -> str:
    return f"{prefix}/{unit}/{camera}/read"


def status_topic(prefix: str, unit: str) -> str:
    return f"{prefix}/{unit}/status"


def encode_json(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON: a typical pass is ~600 bytes, which keeps the spool under 1 KiB/pass."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def spool_key(payload: dict[str, Any]) -> str:
    """The spool's dedupe key: the pass id, except that a preview shares its pass's id
    (the final record supersedes it), so the preview gets its own key."""
    return f"{payload['id']}{PREVIEW_SUFFIX}" if payload.get("preview") is True else str(payload["id"])


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_transport(config: MqttConfig) -> None:
    """Refuse plaintext MQTT off the box unless the site explicitly accepted it."""
    if config.tls is not False or is_loopback(config.host):
        return
    if not config.allow_plaintext:
        raise ConfigError(
            f"mqtt.host: {config.host} is not a loopback address and mqtt.tls is off; reads and the "
            "password would cross the network in clear. Configure mqtt.tls (recommended) or set "
            "mqtt.allow_plaintext: true for a trusted network.")
    log.warning("MQTT to %s:%d is unencrypted (mqtt.allow_plaintext: true)", config.host, config.port)


def resolve_password(config: MqttConfig) -> str | None:
    """The broker password, with a config error (not a silent anonymous login) when it is missing."""
    try:
        password = config.password()
    except OSError as exc:
        raise ConfigError(f"mqtt.password_file: cannot read {config.password_file}: {exc.strerror}") from None
    if config.password_env and password is None:
        raise ConfigError(f"mqtt.password_env: environment variable {config.password_env} is not set")
    if password is not None and not config.username:
        raise ConfigError("mqtt.username: required when a password is configured")
    return password


def describe_connect_error(exc: BaseException, config: MqttConfig) -> str:
    """One operator-readable line naming why a connection attempt failed."""
    where = f"{config.host}:{config.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or str(exc)
        if "mismatch" in reason.lower():
            return f"TLS handshake failed: {reason} (check mqtt.host matches the broker certificate)"
        return f"TLS handshake failed: certificate verify failed: {reason} (check mqtt.tls.ca_file)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {_ssl_reason(exc)} (check mqtt.port and the mqtt.tls files)"
    if isinstance(exc, ConnectionResetError) and config.tls is not False:
        return f"MQTT broker {where} reset the connection during the TLS handshake (is mqtt.port a TLS listener?)"
    if isinstance(exc, ConnectionRefusedError):
        return f"MQTT broker {where} refused the connection (is it running? is mqtt.port right?)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve MQTT host {config.host}: {exc.strerror}"
    if isinstance(exc, TimeoutError):
        return f"timed out connecting to MQTT broker {where}"
    return f"cannot connect to MQTT broker {where}: {getattr(exc, 'strerror', None) or exc}"


def _ssl_reason(exc: ssl.SSLError) -> str:
    reason = getattr(exc, "reason", None)
    return reason.lower().replace("_", " ") if reason else _strip_ssl_noise(str(exc))


def _strip_ssl_noise(message: str) -> str:
    """'[SSL: X] tlsv13 alert certificate required (_ssl.c:2580)' -> 'tlsv13 alert certificate required'."""
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", message.split("] ")[-1])


def describe_refusal(reason: ReasonCode) -> str:
    text = str(reason).lower()
    hint = _CONNACK_HINTS.get(text)
    text = text.replace("authorized", "authorised")
    return f"MQTT broker refused: {text}" + (f" ({hint})" if hint else "")


def apply_security(client: mqtt.Client, config: MqttConfig, password: str | None) -> None:
    """Credentials and TLS (CA, optional client certificate, hostname verification on)."""
    if config.username:
        client.username_pw_set(config.username, password)
    tls = config.tls
    if tls is False:
        return
    try:
        client.tls_set(ca_certs=str(tls.ca_file) if tls.ca_file else None,
                       certfile=str(tls.cert_file) if tls.cert_file else None,
                       keyfile=str(tls.key_file) if tls.key_file else None,
                       cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"mqtt.tls: cannot load the CA or client certificate/key: {exc}") from None
    client.tls_insecure_set(False)


class _PackedProperties(Properties):
    """MQTT 5 PUBLISH properties already serialised; paho only ever calls pack() on them.

    paho's Properties checks each attribute against every property name when set and
    re-serialises on every send: ~110 us per message, a fifth of the publish path at
    2000 passes/s. Ours are constant apart from the pass id, so the constant part is
    packed once by paho itself and the user property is appended per message.
    """

    def __init__(self, packed: bytes, text: str) -> None:
        # Not super().__init__(): that rebuilds paho's name tables, the cost avoided here.
        object.__setattr__(self, "packetType", PacketTypes.PUBLISH)
        object.__setattr__(self, "_packed", packed)
        object.__setattr__(self, "_text", text)

    def pack(self) -> bytes:
        return self._packed

    def __str__(self) -> str:
        return self._text


class _ReadProperties:
    """Builds a read's properties: content type, message expiry and the `pass_id` user property."""

    def __init__(self, message_expiry_s: int) -> None:
        constant = Properties(PacketTypes.PUBLISH)
        constant.ContentType = "application/json"
        if message_expiry_s:
            constant.MessageExpiryInterval = message_expiry_s
        packed = constant.pack()
        _, prefix = VariableByteIntegers.decode(packed)
        self._body = packed[prefix:]
        self._text = str(constant)

    def __call__(self, pass_id: str) -> _PackedProperties:
        body = self._body + b"\x26" + writeUTF("pass_id") + writeUTF(pass_id)  # 0x26: User Property
        return _PackedProperties(VariableByteIntegers.encode(len(body)) + body, f"{self._text} pass_id={pass_id}")


class _PahoLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """paho's own log, demoted to DEBUG under edge.publish.paho.

    Its ERROR lines repeat on every reconnect attempt (our own ERROR says it better), but
    they are also the only place a TLS 1.3 client-certificate rejection shows, so they are
    handed to `on_error`. Unlike paho's on_log callback, nothing is formatted unless
    needed: the per-message debug lines would cost ~5% of the publish path.
    """

    def __init__(self, on_error: Callable[[str], None]) -> None:
        super().__init__(logging.getLogger(f"{__name__}.paho"), {})
        self._on_error = on_error

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR:
            self._on_error(str(msg) % args)
        self.logger.debug(msg, *args)


class _Client(mqtt.Client):
    """paho's client, reporting *why* a (re)connect failed: paho's own loop swallows the
    exception (TLS verify, refused, DNS), and an operator needs the cause."""

    on_connect_error: Callable[[BaseException], None] | None = None

    def reconnect(self) -> MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as exc:
            if self.on_connect_error is not None:
                self.on_connect_error(exc)
            raise


class Publisher:
    """Drains the spool to the broker; see the module docstring for the guarantees."""

    def __init__(self, mqtt_config: MqttConfig, unit_id: str, spool: Spool, cameras: list[str],
                 version: str, clock: Callable[[], float] = time.time) -> None:
        check_transport(mqtt_config)
        self._config = mqtt_config
        self._unit = unit_id
        self._spool = spool
        self._cameras = list(cameras)
        self._version = version
        self._clock = clock
        self._status_topic = status_topic(mqtt_config.topic_prefix, unit_id)
        self._started_at = clock()
        self._health_source: Callable[[], dict[str, Any]] | None = None
        # Shared with paho's thread. `_lock` makes "is this still the current connection?"
        # and the publish one step; only on_connect takes it on paho's side (paho holds no
        # lock of its own there). on_publish and on_disconnect use the deque and plain
        # attribute writes, because paho calls them holding its own locks.
        self._lock = threading.Lock()
        self._acks: deque[tuple[int, int, ReasonCode | None]] = deque()  # (epoch, mid, reason)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = False
        self._epoch = 0
        self._birth_mid: int | None = None
        self._attempt = 0
        self._attempt_explained = False  # an error naming this attempt's failure was recorded
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._last_error_logged = float("-inf")
        # Owned by the drain thread (and by stop() once that thread has exited).
        self._drain_epoch = 0
        self._pending: dict[int, int | None] = {}  # mid -> spool seq (None: a status message)
        self._early: dict[int, ReasonCode | None] = {}  # acks that beat publish() returning
        self._reads_in_flight = 0
        self._cursor = 0
        self._retry: list[int] = []
        self._retry_at = 0.0
        self._published = 0
        self._delivered = 0
        self._thread: threading.Thread | None = None
        self._read_properties = _ReadProperties(mqtt_config.message_expiry_s) if mqtt_config.protocol == "5" else None
        self._client = self._make_client(resolve_password(mqtt_config))

    # -- set-up ------------------------------------------------------------------------

    def _make_client(self, password: str | None) -> _Client:
        cfg = self._config
        v5 = cfg.protocol == "5"
        client = _Client(callback_api_version=CallbackAPIVersion.VERSION2,
                         client_id=cfg.client_id or f"edge-{self._unit}",
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                         clean_session=None if v5 else True)
        apply_security(client, cfg, password)
        client.max_inflight_messages_set(cfg.inflight + 8)  # room for status messages beside reads
        client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_min_s)  # type: ignore[arg-type]
        will_props = None
        if v5:
            will_props = Properties(PacketTypes.WILLMESSAGE)
            will_props.ContentType = "application/json"
        client.will_set(self._status_topic, encode_json(self._offline("connection lost")), qos=1, retain=True,
                        properties=will_props)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = self._on_publish
        client.enable_logger(_PahoLog(self._on_paho_error))  # type: ignore[arg-type]
        client.on_connect_error = self._on_connect_error
        return client

    def _properties(self) -> Properties | None:
        """The status message's properties (MQTT 5 only)."""
        if self._config.protocol != "5":
            return None
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/json"
        return props

    # -- public API --------------------------------------------------------------------

    def start(self) -> None:
        cfg = self._config
        extra = {"clean_start": True} if cfg.protocol == "5" else {}
        self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s, **extra)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="mqtt-drain", daemon=True)
        self._thread.start()
        log.info("MQTT publisher started: %s:%d, %s, spool depth %d", cfg.host, cfg.port,
                 "TLS" if cfg.tls is not False else "plaintext", self._spool.depth())

    def submit(self, payload: dict[str, Any]) -> None:
        """Spool one pass durably and wake the drain; never waits on the network."""
        self.submit_many([payload])

    def submit_many(self, payloads: Iterable[dict[str, Any]]) -> None:
        """Spool a burst in one fsynced transaction, then wake the drain."""
        now = self._clock()
        self._spool.put_many([self._item(payload, now) for payload in payloads])
        self._wake.set()

    def set_health_source(self, source: Callable[[], dict[str, Any]]) -> None:
        """Add the daemon's own fields (e.g. {"cameras": {name: {"fps":..., "state":...}}})
        to health() and to the periodic status message; its keys override ours."""
        self._health_source = source

    def health(self) -> dict[str, Any]:
        spool = self._spool.stats()
        health: dict[str, Any] = {
            "state": "online", "unit": self._unit, "version": self._version, "cameras": self._cameras,
            "started_at": _iso(self._started_at), "time": _iso(self._clock()), "connected": self._connected,
            "spool": {"depth": spool["depth"], "oldest_age_s": _round(spool["oldest_age_s"]),
                      "dropped": spool["dropped"], "bytes": spool["bytes"]},
            "published": self._published, "delivered": self._delivered,
            "last_error": self._last_error,
            "last_error_at": None if self._last_error_at is None else _iso(self._last_error_at),
        }
        if self._health_source is not None:
            try:
                health.update(self._health_source())
            except Exception:  # a broken probe must not stop status reporting
                log.exception("health source failed")
        return health

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def last_error(self) -> str | None:
        return self._last_error

    def stop(self, timeout: float = 5.0) -> bool:
        """Let in-flight passes finish, publish a retained `offline`, disconnect.

        Returns True if the offline status was acknowledged. Unacknowledged passes stay
        in the spool for the next start either way.
        """
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        halfway = time.monotonic() + (deadline - time.monotonic()) / 2
        self._wait_until(lambda: self._reads_in_flight == 0, halfway)  # fewer duplicates next start
        clean = False
        mid = self._publish_status(self._offline("stopped"))
        if mid is not None:
            clean = self._wait_until(lambda: mid not in self._pending, deadline)
        self._client.disconnect()
        self._client.loop_stop()
        self._settle_acks()
        log.info("MQTT publisher stopped; %d pass(es) left in the spool", self._spool.depth())
        return clean

    # -- drain thread -------------------------------------------------------------------

    def _run(self) -> None:
        next_health = next_expire = time.monotonic()
        while not self._stopping.is_set():
            try:
                self._settle_acks()
                now = time.monotonic()
                if now >= next_expire:
                    self._spool.expire()
                    next_expire = now + _EXPIRE_EVERY_S
                if self._connected and self._epoch != self._drain_epoch:
                    self._resync()
                    next_health = now + self._config.health_interval_s  # the birth was the first
                if self._connected:
                    self._fill_window(now)
                    if now >= next_health:
                        self._publish_status(self.health())
                        next_health = now + self._config.health_interval_s
                wait = min(next_expire, next_health if self._connected else next_expire) - now
                if self._retry:
                    wait = min(wait, self._retry_at - now)
            except Exception:  # keep draining: the spool still holds everything
                log.exception("MQTT drain step failed; retrying")
                wait = 1.0
            self._wake.wait(max(0.01, wait))
            self._wake.clear()

    def _resync(self) -> None:
        """A new connection: paho dropped its copies, so resend from the spool's head."""
        self._drain_epoch = self._epoch
        self._pending.clear()
        self._early.clear()
        self._retry.clear()
        self._reads_in_flight = 0
        self._cursor = 0

    def _fill_window(self, now: float) -> None:
        """Publish the oldest unsent passes until `inflight` are awaiting a PUBACK."""
        if self._retry and now >= self._retry_at:
            retry, self._retry = self._retry, []
            for seq in retry:
                entry = self._spool.get(seq)
                if entry is not None:
                    self._publish_read(entry.seq, entry.id, entry.topic, entry.payload)
        room = self._config.inflight - self._reads_in_flight
        if room <= 0:
            return
        for entry in self._spool.oldest(room, after_seq=self._cursor):
            if not self._publish_read(entry.seq, entry.id, entry.topic, entry.payload):
                break
            self._cursor = entry.seq

    def _publish_read(self, seq: int, key: str, topic: str, payload: bytes) -> bool:
        properties = self._read_properties(key.removesuffix(PREVIEW_SUFFIX)) if self._read_properties else None
        mid = self._publish_current(topic, payload, False, properties)
        if mid is None:
            return False  # not sent; it stays in the spool for the next connection
        self._pending[mid] = seq
        self._reads_in_flight += 1
        self._published += 1
        self._match_early(mid)
        return True

    def _publish_status(self, status: dict[str, Any]) -> int | None:
        mid = self._publish_current(self._status_topic, encode_json(status), True, self._properties())
        if mid is not None:
            self._pending[mid] = None
            self._match_early(mid)
        return mid

    def _publish_current(self, topic: str, payload: bytes, retain: bool, properties: Properties | None) -> int | None:
        """Publish on the connection the drain is synced to; None if that connection is gone."""
        with self._lock:
            if not self._connected or self._epoch != self._drain_epoch:
                return None
            info = self._client.publish(topic, payload, qos=1, retain=retain, properties=properties)
        # NO_CONN (the link just died) is fine: the next on_connect drops paho's copy and
        # the pass is resent from the spool. QUEUE_SIZE means paho did not keep it at all.
        return None if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE else info.mid

    def _settle_acks(self) -> None:
        """Turn PUBACKs into spool deletes, one transaction per batch."""
        while self._acks:
            epoch, mid, reason = self._acks.popleft()
            if epoch == self._drain_epoch:  # an older connection's ack: that pass is resent anyway
                self._early[mid] = reason
        delivered: list[int] = []
        for mid in [m for m in self._early if m in self._pending]:
            seq, reason = self._pending.pop(mid), self._early.pop(mid)
            if seq is None:
                continue
            self._reads_in_flight -= 1
            if reason is not None and reason.is_failure:
                self._refused(seq, reason)
            else:
                delivered.append(seq)
        if delivered:
            self._spool.ack_many(delivered)
            self._delivered += len(delivered)

    def _match_early(self, mid: int) -> None:
        if mid in self._early:
            self._wake.set()

    def _refused(self, seq: int, reason: ReasonCode) -> None:
        """The broker answered but would not take the pass (e.g. an ACL): keep it, retry later."""
        self._set_error(f"MQTT broker refused a pass: {str(reason).lower()} (check the broker ACL "
                        f"allows publishing to {self._config.topic_prefix}/{self._unit}/+/read)")
        self._retry.append(seq)
        self._retry_at = time.monotonic() + self._config.reconnect_max_s

    def _wait_until(self, done: Callable[[], bool], deadline: float) -> bool:
        while not done():
            if time.monotonic() >= deadline or not self._connected:
                return False
            self._wake.wait(0.02)
            self._wake.clear()
            self._settle_acks()
        return True

    # -- paho callbacks (paho's network thread) ------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Any) -> None:
        if reason.is_failure:
            self._set_error(describe_refusal(reason))
            self._attempt_explained = True
            return
        self._attempt = 0
        self._last_error = self._last_error_at = None
        self._last_error_logged = float("-inf")
        birth = encode_json({**self.health(), "connected": True})
        with self._lock:
            client.drop_out_messages()  # the drain resends from the spool, in order
            self._epoch += 1
            self._connected = True
            self._birth_mid = client.publish(self._status_topic, birth, qos=1, retain=True,
                                             properties=self._properties()).mid
        self._wake.set()
        log.info("connected to MQTT broker %s:%d", self._config.host, self._config.port)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode | None,
                    properties: Any) -> None:
        if mid != self._birth_mid:
            self._acks.append((self._epoch, mid, reason))
            self._wake.set()
            return
        self._birth_mid = None  # mids wrap at 65535; a later read may reuse this one
        if reason is not None and reason.is_failure:
            self._set_error(f"MQTT broker refused the status message: {str(reason).lower()} "
                            f"(check the broker ACL allows publishing to {self._status_topic})")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                       properties: Any) -> None:
        was_connected = self._connected
        self._connected = False
        explained, self._attempt_explained = self._attempt_explained, False
        if self._stopping.is_set():
            return
        if was_connected:
            log.warning("MQTT connection lost (%s); passes stay in the spool, reconnecting", reason)
            self._set_error(f"MQTT connection lost: {str(reason).lower()}")
        elif not explained:
            self._set_error(f"MQTT broker {self._config.host}:{self._config.port} closed the connection before "
                            "accepting it (is mqtt.port a TLS listener? check mqtt.tls)")
        self._schedule_retry()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._attempt_explained = False
        self._schedule_retry()

    def _on_connect_error(self, exc: BaseException) -> None:
        self._set_error(describe_connect_error(exc, self._config))

    def _on_paho_error(self, message: str) -> None:
        if "SSL" in message and not self._connected:
            # A TLS 1.3 server reports a rejected client certificate after the handshake,
            # so it surfaces as a failed read rather than a failed connect.
            self._set_error(f"TLS handshake failed: {_strip_ssl_noise(message)} "
                            "(check mqtt.tls.cert_file and key_file)")
            self._attempt_explained = True

    def _schedule_retry(self) -> None:
        """Exponential backoff with jitter, so a fleet does not reconnect in lock-step."""
        cfg = self._config
        delay = min(cfg.reconnect_max_s, cfg.reconnect_min_s * 2 ** min(self._attempt, 30))
        delay *= random.uniform(0.5, 1.0)
        self._attempt += 1
        self._client.reconnect_delay_set(delay, delay)  # type: ignore[arg-type]

    def _set_error(self, message: str) -> None:
        """Record the cause for health(); log it at ERROR when new, then every 5 minutes."""
        now = time.monotonic()
        if message != self._last_error or now - self._last_error_logged >= _REPEAT_ERROR_LOG_S:
            log.error("%s; passes stay in the spool and delivery is retried", message)
            self._last_error_logged = now
        self._last_error, self._last_error_at = message, self._clock()

    # -- helpers -------------------------------------------------------------------------

    def _item(self, payload: dict[str, Any], now: float) -> SpoolItem:
        pass_id, camera = payload.get("id"), payload.get("camera")
        if not isinstance(pass_id, str) or not pass_id:
            raise ValueError("payload needs a non-empty string 'id'")
        if not isinstance(camera, str) or not camera or any(c in camera for c in "/+#"):
            raise ValueError("payload needs a 'camera' usable as one MQTT topic level")
        return SpoolItem(spool_key(payload), read_topic(self._config.topic_prefix, self._unit, camera),
                         encode_json(payload), now)

    def _offline(self, reason: str) -> dict[str, Any]:
        return {"state": "offline", "reason": reason, "unit": self._unit, "version": self._version,
                "cameras": self._cameras, "started_at": _iso(self._started_at)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
