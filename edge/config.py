"""Typed, validated unit configuration loaded from YAML.

Every section is a pydantic model that forbids unknown keys, so a typo in a field
engineer's file is an error at start-up naming the file and key path, not a setting
silently ignored on a roadside pole.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from edge.errors import ConfigError

Point = tuple[float, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_duration(value: Any) -> float:
    """Accept seconds as a number or a string like '90s', '15m', '12h', '30d'."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
    if not match:
        raise ValueError(f"expected a duration like 30, '90s', '15m', '12h' or '30d', got {value!r}")
    scale = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return float(match.group(1)) * scale


def _parse_size(value: Any) -> int:
    """Accept bytes as a number or a string like '512MB', '2GiB'."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*", str(value), re.IGNORECASE)
    if not match:
        raise ValueError(f"expected a size like 1048576, '512MB' or '2GiB', got {value!r}")
    unit = (match.group(2) or "B").upper()
    scale = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}[unit]
    return int(float(match.group(1)) * scale)


class ZoneConfig(_Strict):
    """The boundary a camera guards.

    Either a `line` (two points in image pixels) with the side that is `inside`, or a
    fixed `event` for cameras that only ever see one direction of travel.
    """

    name: str = Field(min_length=1)
    outside_name: str | None = None
    line: tuple[Point, Point] | None = None
    inside: Literal["above", "below", "left", "right"] | None = None
    event: Literal["entry", "exit"] | None = None
    basis: Literal["crossing", "direction"] = "crossing"
    min_travel_px: float = Field(default=20.0, ge=0)
    # Plate centres closer than this to the line count as on it, so jitter is no crossing.
    deadband_px: float = Field(default=2.0, ge=0, le=100)

    @field_validator("line", mode="before")
    @classmethod
    def _two_points(cls, value: Any) -> Any:
        if value is None:
            return value
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            got = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
            raise ValueError(f"expected two points [[x,y],[x,y]], got {got}")
        for point in value:
            if not isinstance(point, (list, tuple)) or len(point) != 2:
                raise ValueError(f"expected two points [[x,y],[x,y]], got point {point!r}")
        if list(value[0]) == list(value[1]):
            raise ValueError("expected two distinct points, got the same point twice")
        return value

    @model_validator(mode="after")
    def _line_or_event(self) -> "ZoneConfig":
        if self.line is None and self.event is None:
            raise ValueError("expected either `line` (with `inside`) or a fixed `event`")
        if self.line is not None and self.inside is None:
            raise ValueError("`line` needs `inside`: one of above, below, left, right")
        if self.line is not None and self.inside is not None:
            _check_inside_side(self.line, self.inside)
        return self


SIDE_VECTORS = {"above": (0.0, -1.0), "below": (0.0, 1.0), "left": (-1.0, 0.0), "right": (1.0, 0.0)}


def _check_inside_side(line: tuple[Point, Point], inside: str) -> None:
    """Reject `inside` sides that do not pick a half-plane, e.g. `left` of a horizontal line.

    A side within 5 degrees of running along the line is refused too: which half-plane it
    means would hinge on a pixel of slope, and the operator would not see the flip.
    """
    (x1, y1), (x2, y2) = line
    length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
    side_x, side_y = SIDE_VECTORS[inside]
    normal_component = abs(-(y2 - y1) * side_x + (x2 - x1) * side_y) / length
    if normal_component < 0.0872:  # sin(5 degrees)
        raise ValueError(f"`inside: {inside}` runs along this line; for a line this steep use "
                         f"{'left or right' if inside in ('above', 'below') else 'above or below'}")


class CameraConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    source: str | int = Field(description="V4L2 index, rtsp:// or http:// URL, video file or image folder")
    enabled: bool = True
    max_fps: float | None = Field(default=None, gt=0, le=120)
    motion_gate: bool = True
    loop: bool = False
    read_timeout_s: float = Field(default=10.0, gt=0, le=300,
                                  description="a live camera silent this long is reconnected")
    zone: ZoneConfig | None = None
    roll_degrees: float | None = Field(
        default=None, ge=-45, le=45,
        description="how far this camera's picture is turned counter-clockwise (mounted askew): its "
                    "frames are searched for plates levelled by it; null: localiser.roll_degrees")
    ignore: list[list[Point]] = Field(
        default_factory=list,
        description="polygons in image pixels where plates are never read: an on-screen "
                    "timestamp, a shop sign, a parking bay in view")

    @field_validator("ignore", mode="before")
    @classmethod
    def _polygons(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        for polygon in value:
            if not isinstance(polygon, (list, tuple)) or len(polygon) < 3:
                raise ValueError(f"expected polygons of three or more points [[x,y],...], got {polygon!r}")
        return value

    @field_validator("read_timeout_s", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float:
        return _parse_duration(value)


# Plate syntaxes (edge/formats.py): the regions, then each European country's own layouts,
# which a unit in that country lists first so that home plates win close calls.
COUNTRY_CODES = ("generic", "gb", "eu", "us", "nl",
                 "be", "bg", "ch", "cz", "de", "dk", "ee", "es", "fi", "fr", "gr", "hr", "hu", "ie",
                 "it", "lt", "lu", "lv", "no", "pl", "pt", "ro", "se", "sk")


class PlatesConfig(_Strict):
    countries: list[Literal[COUNTRY_CODES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["generic"], min_length=1)
    min_confidence: float = Field(default=0.4, ge=0, le=1)
    candidates: int = Field(default=5, ge=1, le=20)
    # Shorter reads are almost always stray text (stickers, badges, dealer frames), as
    # OpenALPR's postprocess_min_characters also assumes; 1-3 character plates are rare.
    min_characters: int = Field(default=4, ge=1, le=10)
    # Bare text (digits or letters only) with no plate edge around it is painted or sign
    # text (edge.clutter.is_unframed_text); false keeps it, for a site whose bare plates
    # match their cars (edge_reads_set_aside_total{rule="unframed text"} shows how many).
    drop_unframed_text: bool = True
    # Bare text with a line of like-high text stacked directly above or below it is a
    # sign's (edge.clutter.is_stacked_text); false keeps it
    # (edge_reads_set_aside_total{rule="stacked text"} shows how many).
    drop_stacked_text: bool = True


class LocaliserConfig(_Strict):
    """Plate localiser. Frames wider than `work_width` are shrunk first; text rows are
    proposed on a `proposal_width` copy (cheap) and the best `max_proposals` are checked at
    working resolution. Raise `proposal_width` to catch smaller plates, at a per-frame cost.
    Small plates' glyphs are also searched on a `small_plate_width` copy, read apart so
    that larger plates read as without it (edge.localise._small_plate_glyphs;
    0 turns it off, saving about 2-3 ms per 1280x720 frame). A frame in which nothing is
    read surely is searched once more with rows proposed on a `retry_proposal_width` copy
    (edge.pipeline.PlateReader.read; 0, or no wider than `proposal_width`: no retry).
    `roll_degrees`: how far the picture is turned counter-clockwise (a camera mounted
    askew, a road's camber); frames are looked at levelled by it
    (edge.localise.Localiser.find), and a camera's own `roll_degrees` overrides it.
    `threads` 0 shares this process's cores out among the cameras read at once
    (edge.config.stage_threads); two or more let a frame's independent passes run side by
    side (edge.localise._SideThread), one runs them in turn."""

    min_plate_width: int = Field(default=40, ge=16, le=2000)
    roll_degrees: float = Field(default=0.0, ge=-45, le=45)
    max_candidates: int = Field(default=10, ge=1, le=64)
    work_width: int = Field(default=1280, ge=320, le=4096)
    proposal_width: int = Field(default=640, ge=160, le=4096)
    small_plate_width: int = Field(default=960, ge=0, le=4096)
    retry_proposal_width: int = Field(default=960, ge=0, le=4096)
    max_proposals: int = Field(default=32, ge=1, le=500)
    threads: int = Field(default=0, ge=0, le=64)


class RecogniserConfig(_Strict):
    """The plate-text network. `threads` 0 shares this process's cores out among the cameras
    read at once (edge.config.stage_threads): one camera on two cores reads a frame's crops
    about 1.6x faster on two threads than on one. `second_look` reads each plausible plate
    again, a little wider, and keeps what the looks agree on, with a third look where two
    leave a read unsure (edge.pipeline.PlateReader._look_again): about half the false reads
    for one or two more small batches per frame. `look_network` reads those later looks: a
    second network, trained otherwise, errs on other plates than the first, so the looks'
    agreement means more (null: `network` reads every look). `auto` takes the shipped one for
    the unit's plates (edge.read.look_network_for): `plate_rec_look_us` where `plates.countries`
    holds only us (and generic), `plate_rec_look` elsewhere."""

    network: str = Field(default="plate_rec", pattern=r"^[A-Za-z0-9_]+$")
    look_network: str | None = Field(default="auto", pattern=r"^[A-Za-z0-9_]+$")
    model_dir: Path = Path("models")
    batch_size: int = Field(default=16, ge=1, le=256)
    threads: int = Field(default=0, ge=0, le=64)
    second_look: bool = True
    # Runs the easyocr-loaded network: "auto" is onnxruntime where installed, else torch.
    backend: Literal["auto", "torch", "onnxruntime"] = "auto"


class TrackingConfig(_Strict):
    close_after_s: Annotated[float, Field(gt=0, le=60)] = 1.5
    min_frames: int = Field(default=2, ge=1, le=100)
    dedup_window_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    confident_reads: int = Field(default=4, ge=1, le=100)
    # A read counts towards confident_reads only at or above this confidence.
    confident_confidence: float = Field(default=0.85, ge=0, le=1)
    preview: bool = False
    # Farthest a plate may be from its predicted place, in plate widths.
    max_distance: float = Field(default=3.0, gt=0, le=50)
    # Sure reads further apart than this (normalised edit distance) never join one track.
    max_text_distance: float = Field(default=0.5, ge=0, le=1)
    # A parked vehicle would otherwise grow one track without bound: its pass is emitted
    # after this long, and the dedup window merges the passes that follow.
    max_track_s: Annotated[float, Field(gt=0, le=86400)] = 300.0
    # Text that has not moved for this long is a fixture (an on-screen clock, a sign, a
    # parked car): it is not read again, and is no pass unless it moved later; and a short
    # track that held still where the localiser has boxed something this long is no pass
    # either (edge.track.StillText). 0: off.
    fixture_after_s: Annotated[float, Field(ge=0, le=3600)] = 10.0

    @field_validator("close_after_s", "dedup_window_s", "max_track_s", "fixture_after_s", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return _parse_duration(value)

    @model_validator(mode="after")
    def _confident_after_min_frames(self) -> "TrackingConfig":
        # Reading stops once a track is confident; if that came before min_frames reads
        # the pass could never be emitted.
        if self.confident_reads < self.min_frames:
            raise ValueError(f"confident_reads ({self.confident_reads}) must be at least "
                             f"min_frames ({self.min_frames})")
        return self


class TlsConfig(_Strict):
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> "TlsConfig":
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("expected both cert_file and key_file for mutual TLS, or neither")
        return self


class MqttConfig(_Strict):
    enabled: bool = True
    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal["5", "3.1.1"] = "5"
    topic_prefix: str = Field(default="anpr", pattern=r"^[^#+]+$")
    client_id: str | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    tls: TlsConfig | Literal[False] = False
    allow_plaintext: bool = False
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    message_expiry_s: int = Field(default=86400, ge=0)
    inflight: int = Field(default=64, ge=1, le=65535)
    health_interval_s: float = Field(default=30.0, gt=0, le=3600)
    reconnect_min_s: float = Field(default=1.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600)

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) else value

    @model_validator(mode="after")
    def _backoff_order(self) -> "MqttConfig":
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self

    def password(self) -> str | None:
        """Resolve the secret at use time; it is never stored in the YAML."""
        if self.password_env:
            return os.environ.get(self.password_env)
        if self.password_file:
            return self.password_file.read_text().strip()
        return None


class SpoolConfig(_Strict):
    path: Path = Path("var/spool.db")
    max_bytes: int = Field(default=512 * 2**20, ge=4096)
    max_age_s: float = Field(default=7 * 86400, gt=0)

    @field_validator("max_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        return _parse_size(value)

    @field_validator("max_age_s", mode="before")
    @classmethod
    def _age(cls, value: Any) -> float:
        return _parse_duration(value)


class LoggingConfig(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    plates: bool = False
    format: Literal["text", "json"] = "text"


class HttpConfig(_Strict):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535, description="0 picks a free port (tests)")


class UnitConfig(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str | None = None


class EdgeConfig(_Strict):
    """The whole unit configuration (see config/example-site.yaml for every key)."""

    unit: UnitConfig
    cameras: list[CameraConfig] = Field(default_factory=list)
    plates: PlatesConfig = PlatesConfig()
    localiser: LocaliserConfig = LocaliserConfig()
    recogniser: RecogniserConfig = RecogniserConfig()
    tracking: TrackingConfig = TrackingConfig()
    mqtt: MqttConfig = MqttConfig()
    spool: SpoolConfig = SpoolConfig()
    logging: LoggingConfig = LoggingConfig()
    http: HttpConfig = HttpConfig()
    shutdown_deadline_s: float = Field(default=10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _unique_cameras(self) -> "EdgeConfig":
        names = [camera.name for camera in self.cameras]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"camera names must be unique, repeated: {', '.join(duplicates)}")
        return self


def stage_threads(configured: int, streams: int) -> int:
    """A stage's threads (the localiser's, the recogniser's): as configured, or (0) this
    process's cores shared out among the `streams` read at once. Why share: one camera on two
    cores reads a frame faster on two threads than on one (the recogniser's crops about 1.6x,
    the localiser's search about 1.3x), but two cameras each asking for two threads on two
    cores jostle and read fewer frames in all (benchmarks/daemon_bench.py, two 720p cameras:
    17.7 frames/s per camera with two recogniser threads each, 19.4 with one)."""
    return configured or max(1, len(os.sched_getaffinity(0)) // max(1, streams))


def _key_path(location: tuple[Any, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("function-after", "function-before", "function-plain") or "[" in str(part):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _describe(error: dict[str, Any]) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see config/example-site.yaml)"
    if error["type"] == "missing":
        return "required key is missing"
    if "got" in message or "input" not in error or isinstance(error["input"], dict):
        return message
    return f"{message}, got {error['input']!r}"


def format_validation_error(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: {_key_path(err['loc'])}: {_describe(err)}" for err in exc.errors()]
    return "\n".join(lines)


def _resolve_paths(config: EdgeConfig, base: Path) -> EdgeConfig:
    """Make relative file paths relative to the config file, then check they exist."""
    def fix(path: Path | None) -> Path | None:
        return None if path is None or path.is_absolute() else (base / path).resolve()

    problems: list[str] = []
    mqtt = config.mqtt
    tls = mqtt.tls
    if tls is not False:
        tls = tls.model_copy(update={k: (fix(v) or v) for k, v in tls.model_dump().items() if v is not None})
        for key in ("ca_file", "cert_file", "key_file"):
            path = getattr(tls, key)
            if path is not None and not path.is_file():
                problems.append(f"mqtt.tls.{key}: file not found: {path}")
    password_file = fix(mqtt.password_file) or mqtt.password_file
    if password_file is not None and not password_file.is_file():
        problems.append(f"mqtt.password_file: file not found: {password_file}")
    cameras = []
    for index, camera in enumerate(config.cameras):
        source = camera.source
        if isinstance(source, str) and "://" not in source and not source.startswith("/dev/"):
            resolved = fix(Path(source)) or Path(source)
            if not resolved.exists():
                problems.append(f"cameras[{index}].source: file or folder not found: {resolved}")
            source = str(resolved)
        cameras.append(camera.model_copy(update={"source": source}))
    if problems:
        raise ConfigError("\n".join(problems))
    return config.model_copy(update={
        "cameras": cameras,
        "mqtt": mqtt.model_copy(update={"tls": tls, "password_file": password_file}),
        "spool": config.spool.model_copy(update={"path": fix(config.spool.path) or config.spool.path}),
        "recogniser": config.recogniser.model_copy(
            update={"model_dir": _project_path(config.recogniser.model_dir, base)}),
    })


def _project_path(path: Path, base: Path) -> Path:
    """`models/` in a config means the shipped models unless a file beside the config exists."""
    if path.is_absolute():
        return path
    local = (base / path).resolve()
    if local.exists():
        return local
    return Path(__file__).resolve().parent.parent / path


def parse_config(data: Any, source: str = "<config>", base: Path | None = None) -> EdgeConfig:
    """Validate already-parsed YAML data; raise ConfigError naming source and key path."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: (top level): expected a mapping of sections, got {type(data).__name__}")
    try:
        config = EdgeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None
    try:
        return _resolve_paths(config, base or Path.cwd())
    except ConfigError as exc:
        raise ConfigError("\n".join(f"{source}: {line}" for line in str(exc).splitlines())) from None


def load_config(path: str | Path) -> EdgeConfig:
    """Read and validate a YAML config file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_config(data, str(path), path.resolve().parent)


def with_countries(config: EdgeConfig, countries: list[str]) -> EdgeConfig:
    """The config with `plates.countries` replaced (command-line override), validated."""
    try:
        plates = PlatesConfig.model_validate({**config.plates.model_dump(), "countries": countries})
    except ValidationError as exc:
        raise ConfigError(format_validation_error("--countries", exc)) from None
    return config.model_copy(update={"plates": plates})


def with_roll(config: EdgeConfig, degrees: float) -> EdgeConfig:
    """The config with `localiser.roll_degrees` replaced (command-line override), validated."""
    try:
        localiser = LocaliserConfig.model_validate({**config.localiser.model_dump(), "roll_degrees": degrees})
    except ValidationError as exc:
        raise ConfigError(format_validation_error("--roll", exc)) from None
    return config.model_copy(update={"localiser": localiser})


def masked_dump(config: EdgeConfig) -> dict[str, Any]:
    """The effective config as plain data with secrets masked, for check-config."""
    data = config.model_dump(mode="json")
    mqtt = data["mqtt"]
    if mqtt.get("password_env"):
        mqtt["password"] = "***set***" if os.environ.get(mqtt["password_env"]) else "(not set)"
    if mqtt.get("password_file"):
        mqtt["password"] = "***from file***"
    return data
