"""Config validation: every kind of mistake names the file, the key path and what was expected."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge.config import load_config, stage_threads
from edge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
GOOD = {"unit": {"id": "u1"}, "cameras": [{"name": "cam1", "source": "rtsp://10.0.0.5/stream"}]}


def write(tmp_path: Path, data, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def error_for(tmp_path: Path, data) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message, message
    return message


def with_(**sections):
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data.update(sections)
    return data


@pytest.mark.parametrize("data, expected", [
    (with_(camras=[]), "camras: unknown key"),
    (with_(cameras=[{"name": "cam1", "source": "rtsp://x", "fps": 5}]), "cameras[0].fps: unknown key"),
    ({"cameras": []}, "unit: required key is missing"),
    (with_(mqtt={"port": "eighty"}), "mqtt.port: Input should be a valid integer"),
    (with_(mqtt={"port": 70000}), "mqtt.port: Input should be less than or equal to 65535"),
    (with_(cameras=[{"name": "c", "source": "rtsp://x",
                     "zone": {"name": "ccz", "line": [[0, 1], [2, 3], [4, 5]], "inside": "below"}}]),
     "cameras[0].zone.line: expected two points [[x,y],[x,y]], got 3"),
    (with_(cameras=[{"name": "c", "source": "rtsp://x", "zone": {"name": "ccz", "line": [[0, 1], [2, 3]]}}]),
     "cameras[0].zone: `line` needs `inside`"),
    (with_(cameras=[{"name": "c", "source": "rtsp://x",
                     "zone": {"name": "ccz", "line": [[0, 1], [2, 3]], "inside": "north"}}]),
     "cameras[0].zone.inside: Input should be 'above', 'below', 'left' or 'right'"),
    (with_(cameras=[{"name": "c", "source": "rtsp://x", "ignore": [[[0, 0], [10, 10]]]}]),
     "cameras[0].ignore: expected polygons of three or more points"),
    (with_(plates={"countries": ["gb", "mars"]}), "plates.countries[1]: Input should be"),
    (with_(cameras=[{"name": "c", "source": "rtsp://x", "roll_degrees": 50}]),
     "cameras[0].roll_degrees: Input should be less than or equal to 45"),
    (with_(localiser={"roll_degrees": "askew"}), "localiser.roll_degrees: Input should be a valid number"),
    (with_(spool={"max_bytes": "lots"}), "spool.max_bytes: expected a size like"),
    (with_(spool={"max_age_s": "3 weeks"}), "spool.max_age_s: expected a duration like"),
    (with_(cameras=[{"name": "a", "source": "rtsp://x"}, {"name": "a", "source": "rtsp://y"}]),
     "camera names must be unique, repeated: a"),
    (with_(cameras=[{"name": "bad name!", "source": "rtsp://x"}]), "cameras[0].name: String should match pattern"),
    (with_(mqtt={"tls": {"cert_file": "c.pem"}}), "mqtt.tls: expected both cert_file and key_file"),
    (with_(mqtt={"tls": {"ca_file": "missing-ca.pem"}}), "mqtt.tls.ca_file: file not found"),
    (with_(cameras=[{"name": "c", "source": "no/such/video.mp4"}]), "cameras[0].source: file or folder not found"),
    (with_(tracking={"close_after_s": -1}), "tracking.close_after_s: Input should be greater than 0"),
    (with_(localiser={"small_plate_width": -960}),
     "localiser.small_plate_width: Input should be greater than or equal to 0"),
    (with_(localiser={"retry_proposal_width": -960}),
     "localiser.retry_proposal_width: Input should be greater than or equal to 0"),
    ("unit: {id: u1\ncameras: [", "not valid YAML at line"),
    ("- just\n- a list\n", "(top level): expected a mapping of sections, got list"),
])
def test_bad_config_is_rejected_with_file_key_and_expectation(tmp_path, data, expected):
    assert expected in error_for(tmp_path, data)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    (tmp_path / "ca.pem").write_text("x")
    config = load_config(write(tmp_path, with_(mqtt={"tls": {"ca_file": "ca.pem"}}, spool={"path": "spool.db"})))
    assert config.mqtt.tls.ca_file == tmp_path / "ca.pem"
    assert config.spool.path == tmp_path / "spool.db"


def test_durations_and_sizes_accept_units(tmp_path):
    config = load_config(write(tmp_path, with_(spool={"max_bytes": "2MiB", "max_age_s": "30d"})))
    assert config.spool.max_bytes == 2 * 2**20
    assert config.spool.max_age_s == 30 * 86400


def test_default_config_is_valid():
    assert load_config(ROOT / "config" / "default.yaml").cameras


def test_example_site_config_is_valid(tmp_path, monkeypatch):
    """The annotated example validates once the unit-local files it names exist."""
    monkeypatch.setenv("EDGE_MQTT_PASSWORD", "secret")
    (tmp_path / "certs").mkdir()
    for name in ("ca.pem", "unit.pem", "unit.key"):
        (tmp_path / "certs" / name).write_text("x")
    path = tmp_path / "example-site.yaml"
    path.write_text((ROOT / "config" / "example-site.yaml").read_text())
    config = load_config(path)
    assert [c.name for c in config.cameras] == ["lane1", "lane2"]
    assert config.mqtt.tls.ca_file == tmp_path / "certs" / "ca.pem"
    assert config.mqtt.password() == "secret"


def run_cli(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, cwd=ROOT, env=env)


def test_check_config_masks_secrets_and_exits_0(tmp_path):
    path = write(tmp_path, with_(mqtt={"username": "u", "password_env": "EDGE_TEST_PW"}))
    import os

    result = run_cli("check-config", str(path), env={**os.environ, "EDGE_TEST_PW": "hunter2"})
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert "***set***" in result.stdout


def test_check_config_bad_file_exits_2_with_one_line_per_problem(tmp_path):
    result = run_cli("check-config", str(write(tmp_path, with_(mqtt={"port": 0}))))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "mqtt.port" in result.stderr


def _keys(model, prefix=""):
    from pydantic import BaseModel

    for name, field in model.model_fields.items():
        yield name
        for arg in (field.annotation, *getattr(field.annotation, "__args__", ())):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                yield from _keys(arg)
            for inner in getattr(arg, "__args__", ()):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    yield from _keys(inner)


def test_example_site_documents_every_key():
    """The annotated example is the configuration reference: no key may be missing from it."""
    from edge.config import EdgeConfig

    text = (ROOT / "config" / "example-site.yaml").read_text()
    undocumented = sorted({k for k in _keys(EdgeConfig) if f"{k}:" not in text} - {"password"})
    assert not undocumented, f"keys missing from config/example-site.yaml: {undocumented}"


def test_unset_threads_share_the_cores_out_among_the_cameras() -> None:
    cores = len(os.sched_getaffinity(0))
    assert stage_threads(3, streams=2) == 3  # as configured
    assert stage_threads(0, streams=1) == cores
    assert stage_threads(0, streams=2) == max(1, cores // 2)
    assert stage_threads(0, streams=cores + 5) == 1
