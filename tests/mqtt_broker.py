"""A real Mosquitto for tests and benchmarks: free port, generated config, kill/restart.

Also generates a throwaway CA, server and client certificates with the `openssl` CLI,
and provides `Collector`, a subscriber with a persistent session, so messages published
while the broker restarts are still counted once the collector is back.
"""

from __future__ import annotations

import ctypes
import getpass
import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass(frozen=True)
class Pki:
    """A test CA with a server certificate for localhost/127.0.0.1 and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_pki(directory: Path, name: str = "test") -> Pki:
    """EC keys (fast to generate), SANs for localhost and 127.0.0.1, valid for two days."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", f"/CN={name} test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=directory)
    for role, usage, san in (("server", "serverAuth", "DNS:localhost,IP:127.0.0.1"),
                             ("client", "clientAuth", "DNS:edge-client")):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", f"{role}.key", "-out", f"{role}.csr", "-subj", f"/CN={name}-{role}", cwd=directory)
        (directory / f"{role}.ext").write_text(
            f"basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage={usage}\n"
            f"subjectAltName={san}\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
        _openssl("x509", "-req", "-in", f"{role}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{role}.pem", "-days", "2", "-extfile", f"{role}.ext", cwd=directory)
    return Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key",
               directory / "client.pem", directory / "client.key")


class Broker:
    """One mosquitto process. `port` is the listener under test (plain, or TLS when `pki`
    is given); `plain_port` is always a plaintext listener for the test's own subscriber."""

    def __init__(self, workdir: Path, users: dict[str, str] | None = None, pki: Pki | None = None,
                 require_certificate: bool = False) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.plain_port = free_port() if pki else self.port
        self.users = users or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.config_path = workdir / "mosquitto.conf"
        self.config_path.write_text(self._config(pki, require_certificate))

    def _config(self, pki: Pki | None, require_certificate: bool) -> str:
        lines = [f"user {getpass.getuser()}", "persistence true", f"persistence_location {self.workdir}/",
                 "autosave_interval 1", "max_queued_messages 0", "max_inflight_messages 1000", "log_dest stderr",
                 "log_type error", "log_type warning", "log_type notice"]
        if self.users:
            passwd = self.workdir / "passwd"
            passwd.touch(mode=0o600)
            for user, password in self.users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(passwd), user, password], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        lines.append(f"listener {self.port} 127.0.0.1")
        if pki:
            lines += [f"cafile {pki.ca}", f"certfile {pki.server_cert}", f"keyfile {pki.server_key}",
                      f"require_certificate {'true' if require_certificate else 'false'}",
                      f"listener {self.plain_port} 127.0.0.1"]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> "Broker":
        log = open(self.workdir / "mosquitto.log", "ab")
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config_path)], stdout=log, stderr=log,
                                        preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {(self.workdir / 'mosquitto.log').read_text()[-2000:]}")
            if all(_accepts(port) for port in {self.port, self.plain_port}):
                return self
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not start listening")

    def wait_saved(self, since: float, timeout: float = 5.0) -> None:
        """Wait for an autosave after `since` (time.time()), so a SIGKILL keeps the sessions
        that existed then, as a broker with persistence would in production."""
        database = self.workdir / "mosquitto.db"
        deadline = time.monotonic() + timeout
        while not (database.exists() and database.stat().st_mtime > since):
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not autosave its database")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence file and exits."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: a crash; whatever was not autosaved is gone."""
        self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)
        self.process = None

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


def _die_with_parent() -> None:
    """Linux: SIGKILL the broker when the thread that started it dies (e.g. pytest killed),
    so no orphan holds a port."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Collector:
    """Subscribes to everything with QoS 1 and a persistent session, recording every message."""

    def __init__(self, port: int, username: str | None = None, password: str | None = None,
                 client_id: str = "test-collector", v5: bool = False) -> None:
        self.messages: list[tuple[str, dict[str, Any], Any]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        # MQTT 3.1.1 with clean_session=False: mosquitto 2.0 restores these sessions after a
        # restart, while a v5 session with an expiry interval did not survive one in testing.
        # v5=True (no persistent session) is for tests that inspect MQTT 5 properties.
        self._client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                                   clean_session=None if v5 else False)
        if username:
            self._client.username_pw_set(username, password)
        self._client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe("#", qos=1)
        self._client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect_async("127.0.0.1", port, keepalive=5)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("collector could not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload), message.properties))

    def reads(self) -> list[dict[str, Any]]:
        with self._lock:
            return [payload for topic, payload, _ in self.messages if topic.endswith("/read")]

    def read_ids(self) -> list[str]:
        return [payload["id"] for payload in self.reads()]

    def statuses(self) -> list[dict[str, Any]]:
        with self._lock:
            return [payload for topic, payload, _ in self.messages if topic.endswith("/status")]

    def wait_for_ids(self, expected: set[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if expected <= set(self.read_ids()):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def make_payload(index: int, camera: str = "cam-1", unit: str = "unit-1", preview: bool = False) -> dict[str, Any]:
    """A valid anpr.read/1 payload of typical size (5 candidates), distinct per index."""
    from edge.record import SCHEMA, iso_utc, new_pass_id

    seen = 1_714_564_800.0 + index * 0.5
    plate = f"AB{index % 100:02d}CDE"
    candidates = [{"plate": plate, "confidence": 0.9312}] + [
        {"plate": f"AB{index % 100:02d}CD{c}", "confidence": round(0.4 / (k + 1), 4)} for k, c in enumerate("FGHJ")]
    return {
        "schema": SCHEMA, "id": new_pass_id(seen), "unit": unit, "camera": camera, "plate": plate,
        "confidence": 0.9312, "candidates": candidates, "country": "gb", "format": "gb-current",
        "first_seen": iso_utc(seen), "last_seen": iso_utc(seen + 1.1), "best_seen": iso_utc(seen + 0.6),
        "frames": 12, "frames_agreeing": 9, "box": [612, 418, 148, 34], "direction_deg": 92.4,
        "zone": {"name": "ccz", "event": "entry", "from": "outer", "to": "ccz"}, "preview": preview,
    }
