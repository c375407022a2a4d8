"""Structured, privacy-aware logging to stderr (journald collects it under systemd).

A number plate is personal data. Logs are kept longer and shared more widely than the
read stream, so plates never reach them unless the site opts in (`logging.plates`).
Code logs `plate_for_log(text)`: a salted hash that lets an engineer follow one vehicle
across log lines of one run, while the salt (random per process, never written anywhere)
makes it useless for looking a plate up. `PlateFilter` is the safety net for the `plate`
extra field, in case a call site forgets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from edge.config import LoggingConfig

_SALT = secrets.token_bytes(16)
_MASK_PREFIX = "plate#"
_plates_allowed = False

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def plate_for_log(text: str) -> str:
    """The plate itself when the site allows plates in logs, else `plate#` + 6 hex digits."""
    if _plates_allowed or text.startswith(_MASK_PREFIX):
        return text
    digest = hmac.new(_SALT, text.encode("utf-8"), hashlib.sha256).hexdigest()
    return _MASK_PREFIX + digest[:6]


class PlateFilter(logging.Filter):
    """Masks the `plate` extra field on every record that passes through the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        value = getattr(record, "plate", None)
        if value is not None:
            record.plate = plate_for_log(str(value))
        return True


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD and not key.startswith("_")
    }


def _text_value(value: Any) -> str:
    """Bare when unambiguous, JSON-quoted when it holds spaces, quotes or `=`."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and not any(ch in text for ch in ' "=\n\t'):
        return text
    return json.dumps(text)


class TextFormatter(logging.Formatter):
    """`2026-01-31T12:00:00.123Z INFO edge.source message key=value`, UTC like read timestamps."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname, record.name, record.getMessage()]
        parts += [f"{key}={_text_value(value)}" for key, value in _extras(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update({key: value for key, value in _extras(record).items() if key not in data})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class _EdgeHandler(logging.StreamHandler):
    """Marks the handler setup_logging installed, so a second call replaces it instead of
    duplicating every line, while handlers others installed (e.g. pytest's) stay."""


def setup_logging(config: LoggingConfig, debug: bool = False, stream: TextIO | None = None) -> None:
    """Route all logging to `stream` (stderr) in the configured format and level.

    `debug` lowers the level to DEBUG; it does not reveal plates (only `config.plates` does).
    """
    global _plates_allowed
    _plates_allowed = config.plates
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _EdgeHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _EdgeHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if config.format == "json" else TextFormatter())
    handler.addFilter(PlateFilter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else config.level)
    logging.captureWarnings(True)
