"""Log formats and the plate privacy rules."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from edge.config import LoggingConfig
from edge.logs import plate_for_log, setup_logging

log = logging.getLogger("edge.test")


@pytest.fixture
def stream():
    """A capture stream; afterwards plates are masked again and the root logger is as it was."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    out = io.StringIO()
    yield out
    setup_logging(LoggingConfig(), stream=out)
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def test_text_format_has_time_level_logger_message_and_fields(stream):
    setup_logging(LoggingConfig(level="INFO", format="text"), stream=stream)
    log.debug("hidden at INFO")
    log.info("pass recorded", extra={"camera": "lane1", "event": "entry", "note": "two words"})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO edge\.test pass recorded "
        r'camera=lane1 event=entry note="two words"',
        lines[0],
    ), lines[0]


def test_json_format_is_one_object_per_line_with_exceptions(stream):
    setup_logging(LoggingConfig(format="json", level="WARNING"), debug=True, stream=stream)
    log.debug("debug wins over the configured level", extra={"frame": 3})
    try:
        raise ValueError("bad frame")
    except ValueError:
        log.exception("capture failed")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["msg"] for r in records] == ["debug wins over the configured level", "capture failed"]
    assert (
        records[0]["frame"] == 3
        and records[0]["level"] == "DEBUG"
        and records[0]["logger"] == "edge.test"
    )
    assert "ValueError: bad frame" in records[1]["exc"]


def test_plates_are_masked_unless_the_site_allows_them(stream):
    setup_logging(LoggingConfig(format="json"), stream=stream)
    masked = plate_for_log("AB12CDE")
    assert re.fullmatch(r"plate#[0-9a-f]{6}", masked)
    assert plate_for_log("AB12CDE") == masked != plate_for_log("AB12CDF")
    assert plate_for_log(masked) == masked
    log.info("read %s", plate_for_log("AB12CDE"), extra={"plate": "AB12CDE"})
    log.warning("forgot to mask", extra={"plate": "XY99ZZZ"})
    text = stream.getvalue()
    assert "AB12CDE" not in text and "XY99ZZZ" not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["msg"] == f"read {masked}" and first["plate"] == masked
    assert second["plate"] == plate_for_log("XY99ZZZ")

    setup_logging(LoggingConfig(format="text", plates=True), stream=stream)
    log.info("read %s", plate_for_log("AB12CDE"), extra={"plate": "AB12CDE"})
    assert stream.getvalue().splitlines()[-1].endswith("read AB12CDE plate=AB12CDE")


def test_setup_twice_does_not_duplicate_lines(stream):
    setup_logging(LoggingConfig(), stream=stream)
    setup_logging(LoggingConfig(), stream=stream)
    log.warning("once")
    assert stream.getvalue().count("once") == 1
