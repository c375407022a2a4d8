"""A full disk under the spool delays passes but loses none (a real tmpfs, really full)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edge.config import parse_config
from edge.daemon import PassSink
from mqtt_broker import free_port, make_payload


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    """Write zeros until the file system refuses: ENOSPC from a write or the final flush."""
    try:
        with path.open("wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    except OSError:
        pass


def test_passes_are_held_while_the_disk_is_full_and_stored_when_it_frees(tiny_disk, caplog):
    config = parse_config({"unit": {"id": "u1"}, "mqtt": {"host": "127.0.0.1", "port": free_port()},
                           "spool": {"path": str(tiny_disk / "spool.db")}})
    sink = PassSink(config, ["cam-1"])  # no broker: nothing drains, the spool keeps all
    payloads = [make_payload(i) for i in range(40)]
    for payload in payloads[:5]:
        sink.submit(payload)
    filler = tiny_disk / "filler"
    fill(filler)
    for payload in payloads[5:30]:
        sink.submit(payload)  # must not raise
    assert sink.spool.depth() < 30
    assert "cannot write the spool" in caplog.text
    filler.unlink()
    for payload in payloads[30:]:
        sink.submit(payload)
    assert sink.spool.depth() == 40
    sink.stop(1.0)
