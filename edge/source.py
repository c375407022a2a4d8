"""Frame sources: USB/V4L2 cameras, RTSP/HTTP streams, video files, image folders.

A source only turns pixels into `Frame`s; keeping a camera alive (reconnects, backoff)
and decoupling capture from slow processing is `CaptureThread`'s job, so every source
stays a plain open/read/close object that is easy to test and to replay.

Timestamps are evidence (a read says *when* a vehicle passed), so live frames are stamped
with the wall clock right after the grab, while files get a deterministic timeline
`start + position / fps`: replaying the same clip twice yields identical records.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from edge.config import CameraConfig
from edge.errors import ConfigError, EdgeError
from edge.types import Frame

log = logging.getLogger(__name__)

SourceState = Literal["starting", "streaming", "reconnecting", "failed", "ended"]
SOURCE_STATES: tuple[SourceState, ...] = (
    "starting",
    "streaming",
    "reconnecting",
    "failed",
    "ended",
)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})
DEFAULT_IMAGE_FPS = 10.0
DEFAULT_VIDEO_FPS = 25.0


class SourceError(EdgeError):
    """A camera could not be opened or stopped delivering; the message names camera and source."""


def describe_source(source: str | int) -> str:
    """The source as it may appear in logs: URL passwords are replaced by ***."""
    text = str(source)
    if "://" not in text:
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class FrameSource(ABC):
    """One camera's frames. `read()` returns None when the source has ended for good.

    `live` sources (cameras, streams) are reconnected by CaptureThread when they fail;
    file sources are not, because a corrupt file will not heal by retrying.
    """

    live: bool = False

    def __init__(self, camera: CameraConfig) -> None:
        self.camera = camera
        self._interrupt = threading.Event()

    @property
    def label(self) -> str:
        return f"camera {self.camera.name} ({describe_source(self.camera.source)})"

    def error(self, problem: str) -> SourceError:
        return SourceError(f"{self.label}: {problem}")

    def interrupt(self) -> None:
        """Wake any pacing sleep so a stop request is honoured promptly."""
        self._interrupt.set()

    @abstractmethod
    def open(self) -> None:
        """Acquire the device/file; raise SourceError if impossible."""

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame, None at the end, SourceError if the source broke."""

    @abstractmethod
    def close(self) -> None:
        """Release the device/file; safe to call twice or before open()."""

    def __iter__(self) -> Iterator[Frame]:
        """All frames in order, without a thread (simple replays and tests)."""
        self.open()
        try:
            while (frame := self.read()) is not None:
                yield frame
        finally:
            self.close()


class _Timeline:
    """Deterministic file timestamps, optional real-time pacing and max_fps thinning."""

    def __init__(
        self,
        fps: float,
        start_time: float,
        speed: float | None,
        max_fps: float | None,
        interrupt: threading.Event,
    ) -> None:
        self.fps = fps
        self.start_time = start_time
        self._speed = speed
        self._min_gap = 1.0 / max_fps if max_fps else 0.0
        self._interrupt = interrupt
        self._last_kept: float | None = None
        self._wall0: float | None = None

    def stamp(self, position: int) -> float:
        return self.start_time + position / self.fps

    def keep(self, position: int) -> bool:
        """Thin to max_fps by file time (not wall time) so replays keep the same frames."""
        offset = position / self.fps
        if self._last_kept is not None and offset - self._last_kept < self._min_gap - 1e-6:
            return False
        self._last_kept = offset
        return True

    def pace(self, position: int) -> None:
        """When paced, sleep until the frame is due (at `speed` x real time), as a camera
        would deliver it."""
        if not self._speed:
            return
        now = time.monotonic()
        offset = position / (self.fps * self._speed)
        if self._wall0 is None:
            self._wall0 = now - offset
        delay = self._wall0 + offset - now
        if delay > 0:
            self._interrupt.wait(delay)


def _start_time(start_time: float | None, speed: float | None, path: Path) -> float:
    """Paced replays look like a live camera (now); fast replays use the file's mtime so
    two runs over the same file produce the same timestamps."""
    if start_time is not None:
        return start_time
    return time.time() if speed else path.stat().st_mtime


class VideoFileSource(FrameSource):
    """A video file decoded with OpenCV/FFmpeg; `camera.loop` restarts it at the end.

    `speed` paces delivery at that multiple of the file's frame rate; None = no pacing.
    """

    def __init__(
        self, camera: CameraConfig, path: Path, speed: float | None, start_time: float | None = None
    ) -> None:
        super().__init__(camera)
        self.path = path
        self._speed = speed
        self._start = start_time
        self._cap: cv2.VideoCapture | None = None
        self._timeline: _Timeline | None = None
        self._position = 0
        self._pass_start = 0

    def open(self) -> None:
        self.close()
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise self.error("cannot open video file (missing, unreadable or unsupported codec)")
        self._cap = cap
        if self._timeline is None:
            self._timeline = _Timeline(
                self._file_fps(cap),
                _start_time(self._start, self._speed, self.path),
                self._speed,
                self.camera.max_fps,
                self._interrupt,
            )

    def _file_fps(self, cap: cv2.VideoCapture) -> float:
        fps = cap.get(cv2.CAP_PROP_FPS)
        if not math.isfinite(fps) or not 0 < fps <= 240:
            log.warning(
                "%s: file reports no usable frame rate (%r); assuming %.0f fps",
                self.label,
                fps,
                DEFAULT_VIDEO_FPS,
            )
            return DEFAULT_VIDEO_FPS
        return float(fps)

    @property
    def fps(self) -> float | None:
        return self._timeline.fps if self._timeline else None

    def read(self) -> Frame | None:
        if self._cap is None or self._timeline is None:
            raise self.error("read before open")
        while True:
            ok, image = self._cap.read()
            if not ok:
                if not self._restart():
                    return None
                continue
            position = self._position
            self._position += 1
            if self._timeline.keep(position):
                self._timeline.pace(position)
                return Frame(self.camera.name, position, self._timeline.stamp(position), image)

    def _restart(self) -> bool:
        """At the end of the file: rewind when looping, unless the file yielded nothing
        (an empty or undecodable file would otherwise spin forever)."""
        if not self.camera.loop or self._position == self._pass_start:
            return False
        self._pass_start = self._position
        self._cap.release()
        self._cap = cv2.VideoCapture(str(self.path))  # reopening rewinds reliably for every codec
        return self._cap.isOpened()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _natural_key(path: Path) -> list[object]:
    """Sort frame_2 before frame_10, as the camera wrote them."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class ImageFolderSource(FrameSource):
    """Still images (a folder, or one file) played as a stream at `camera.max_fps` or 10 fps.

    `Frame.index` is the image's position in `files` (`files[index % len(files)]` when
    looping), so a consumer can name the file a read came from; unreadable images are
    skipped with one warning each.
    """

    def __init__(
        self,
        camera: CameraConfig,
        files: list[Path],
        speed: float | None,
        start_time: float | None = None,
        origin: Path | None = None,
    ) -> None:
        super().__init__(camera)
        self.files = files
        self._speed = speed
        self._start = start_time
        self._origin = origin or (files[0] if files else Path("."))
        self._timeline: _Timeline | None = None
        self._position = 0
        self._bad: set[Path] = set()

    @classmethod
    def from_folder(
        cls,
        camera: CameraConfig,
        folder: Path,
        speed: float | None,
        start_time: float | None = None,
    ) -> "ImageFolderSource":
        files = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=_natural_key,
        )
        return cls(camera, files, speed, start_time, origin=folder)

    def open(self) -> None:
        if not self.files:
            raise self.error(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
        if self._timeline is None:
            fps = self.camera.max_fps or DEFAULT_IMAGE_FPS
            self._timeline = _Timeline(
                fps,
                _start_time(self._start, self._speed, self._origin),
                self._speed,
                None,
                self._interrupt,
            )

    def read(self) -> Frame | None:
        if self._timeline is None:
            raise self.error("read before open")
        count = len(self.files)
        while self._position < count or (self.camera.loop and len(self._bad) < count):
            position = self._position
            self._position += 1
            image = self._load(self.files[position % count])
            if image is not None:
                self._timeline.pace(position)
                return Frame(self.camera.name, position, self._timeline.stamp(position), image)
        return None

    def _load(self, path: Path) -> np.ndarray | None:
        if path in self._bad:
            return None
        try:
            data = np.fromfile(path, dtype=np.uint8)
            image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            problem = "empty file (0 bytes)" if not data.size else "not a decodable image"
        except OSError as exc:
            image, problem = None, exc.strerror or str(exc)
        if image is None:
            self._bad.add(path)
            log.warning("%s: skipping image %s: %s", self.label, path, problem)
        return image

    def close(self) -> None:
        """Nothing is held open between reads."""


class LiveSource(FrameSource):
    """A V4L2 device or a network stream; stamped with the wall clock at grab time.

    Reads never block forever: FFmpeg streams get open/read timeouts of
    `camera.read_timeout_s`, so a stalled stream surfaces as a SourceError that
    CaptureThread answers with a reconnect.
    """

    live = True

    def __init__(self, camera: CameraConfig) -> None:
        super().__init__(camera)
        self._cap: cv2.VideoCapture | None = None
        self._grabbed = 0
        self._last_emit = -math.inf

    def _device(self) -> int | str | None:
        source = self.camera.source
        if isinstance(source, int) or source.isdigit():
            return int(source)
        return source if source.startswith("/dev/") else None

    def open(self) -> None:
        self.close()
        device = self._device()
        if device is not None:
            # OpenCV's V4L2 backend ignores read-timeout properties and reads this once per
            # process (default 10 s), so the first camera opened sets it.
            os.environ.setdefault(
                "OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", str(math.ceil(self.camera.read_timeout_s))
            )
            cap = cv2.VideoCapture(device, cv2.CAP_V4L2)
        else:
            # TCP keeps RTSP frames whole on lossy links (UDP loss smears plates); the
            # operator can still override through the environment.
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
            timeout_ms = int(self.camera.read_timeout_s * 1000)
            cap = cv2.VideoCapture(
                str(self.camera.source),
                cv2.CAP_FFMPEG,
                [
                    cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                    timeout_ms,
                    cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                    timeout_ms,
                ],
            )
        if not cap.isOpened():
            cap.release()
            raise self.error("cannot open (device absent, busy, unreachable or refused)")
        self._cap = cap

    def read(self) -> Frame | None:
        if self._cap is None:
            raise self.error("read before open")
        min_gap = 1.0 / self.camera.max_fps if self.camera.max_fps else 0.0
        while True:
            if not self._cap.grab():
                raise self.error(
                    f"no frame within {self.camera.read_timeout_s:g} s or stream ended"
                )
            now = time.time()
            self._grabbed += 1
            if now - self._last_emit >= min_gap:
                break
        ok, image = self._cap.retrieve()
        if not ok or image is None:
            raise self.error("frame grabbed but could not be decoded")
        self._last_emit = now
        return Frame(self.camera.name, self._grabbed - 1, now, image)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def open_source(
    camera: CameraConfig, realtime: bool, start_time: float | None = None, speed: float = 1.0
) -> FrameSource:
    """Pick the source type from `camera.source` (not opened yet).

    `realtime` paces files to their frame rate times `speed` (the daemon; replay --speed);
    False reads them as fast as possible (replay --fast). `start_time` fixes a file's first
    timestamp (epoch seconds). Live cameras ignore all three.
    """
    if speed <= 0:
        raise ConfigError(f"camera {camera.name}: replay speed must be positive, got {speed:g}")
    pace = speed if realtime else None
    source = camera.source
    if isinstance(source, int) or source.isdigit() or source.startswith("/dev/"):
        return LiveSource(camera)
    if "://" in source:
        scheme = source.split("://", 1)[0].lower()
        if scheme not in STREAM_SCHEMES:
            raise ConfigError(
                f"camera {camera.name}: unsupported source scheme {scheme!r} "
                f"(expected one of {', '.join(sorted(STREAM_SCHEMES))})"
            )
        return LiveSource(camera)
    path = Path(source)
    if path.is_dir():
        return ImageFolderSource.from_folder(camera, path, pace, start_time)
    if not path.is_file():
        raise ConfigError(f"camera {camera.name}: source file or folder not found: {path}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFolderSource(camera, [path], pace, start_time)
    return VideoFileSource(camera, path, pace, start_time)


class Backoff:
    """Exponential retry delays with jitter, so a fleet of units whose shared stream
    server rebooted do not all reconnect in the same instant."""

    def __init__(
        self,
        initial_s: float = 0.5,
        cap_s: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        self.initial_s, self.cap_s, self.factor, self.jitter = initial_s, cap_s, factor, jitter
        self._rng = rng or random.Random()
        self.attempts = 0

    def next(self) -> float:
        base = min(self.cap_s, self.initial_s * self.factor**self.attempts)
        self.attempts += 1
        return base * (1.0 + self._rng.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self.attempts = 0


@dataclass(frozen=True, slots=True)
class CaptureStats:
    camera: str
    state: SourceState
    frames_in: int
    frames_dropped: int
    fps: float
    last_frame_age_s: float | None
    failures: int
    last_error: str | None


class _FrameBuffer:
    """Hand-off between capture and processing.

    drop=True: one slot, the newest frame replaces an unconsumed one (a live camera must
    never be throttled by processing). drop=False: a bounded queue whose put blocks, so
    a replay loses nothing.
    """

    def __init__(self, capacity: int, drop: bool) -> None:
        self._items: deque[Frame] = deque()
        self._capacity = 1 if drop else max(1, capacity)
        self._drop = drop
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._drop and self._items:
                self._items.popleft()
                self.dropped += 1
            while len(self._items) >= self._capacity and not self._closed:
                self._cond.wait()
            if self._closed:
                self.dropped += 1
                return
            self._items.append(frame)
            self._cond.notify_all()

    def get(self, timeout: float | None) -> Frame | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if not self._items:
                return None
            frame = self._items.popleft()
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        """No more frames (ended or stop requested): wake a producer blocked for space and
        waiting consumers; consumers may still drain what is buffered."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def finished(self) -> bool:
        with self._cond:
            return self._closed and not self._items


class CaptureThread:
    """Runs one FrameSource in its own thread and hands frames to the consumer.

    Live sources that fail to open or stop delivering are reopened with exponential
    backoff: state "reconnecting", then "failed" after `fail_after` consecutive failures
    (retries continue at the backoff cap). File sources end in "ended" (or "failed" if
    unreadable). Nothing raises out of the thread; `stats().last_error` says why.
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        drop_frames: bool = True,
        queue_size: int = 16,
        backoff: Backoff | None = None,
        fail_after: int = 5,
    ) -> None:
        self.source = source
        self._buffer = _FrameBuffer(queue_size, drop_frames)
        self._backoff = backoff or Backoff()
        self._fail_after = fail_after
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._state: SourceState = "starting"
        self._frames_in = 0
        self._failures = 0
        self._last_error: str | None = None
        self._last_frame: float | None = None
        self._interval: float | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"capture-{source.camera.name}", daemon=True
        )

    @property
    def camera(self) -> str:
        return self.source.camera.name

    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def frames_in(self) -> int:
        return self._frames_in

    @property
    def frames_dropped(self) -> int:
        return self._buffer.dropped

    @property
    def fps(self) -> float:
        """Smoothed capture rate (frames delivered by the source per second)."""
        interval = self._interval
        return 1.0 / interval if interval else 0.0

    @property
    def finished(self) -> bool:
        """The thread is done and every buffered frame has been consumed."""
        return self._buffer.finished

    def start(self) -> "CaptureThread":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait; a read stuck in a driver is abandoned
        (the thread is a daemon)."""
        self._stop.set()
        self.source.interrupt()
        self._buffer.close()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def get(self, timeout: float | None = None) -> Frame | None:
        """The next frame; None on timeout or once `finished`."""
        return self._buffer.get(timeout)

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self._buffer.get(None)) is not None:
            yield frame

    def stats(self) -> CaptureStats:
        with self._lock:
            age = (
                None if self._last_frame is None else max(0.0, time.monotonic() - self._last_frame)
            )
            return CaptureStats(
                self.camera,
                self._state,
                self._frames_in,
                self._buffer.dropped,
                self.fps,
                age,
                self._failures,
                self._last_error,
            )

    def _set_state(self, state: SourceState) -> None:
        with self._lock:
            self._state = state

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self.source.open()
                    self._pump()
                    return
                except Exception as exc:  # nothing may escape a capture thread
                    self.source.close()
                    if not self._failed(exc):
                        return
        except Exception as exc:  # close() itself failed: report, never raise
            self._record_error(exc)
            self._set_state("failed")
        finally:
            self._close_quietly()
            self._buffer.close()

    def _pump(self) -> None:
        streaming = False
        while not self._stop.is_set():
            frame = self.source.read()
            if frame is None:
                self._set_state("ended")
                log.info("%s: source ended after %d frames", self.source.label, self._frames_in)
                return
            if not streaming:
                self._on_streaming()
                streaming = True
            self._count()
            self._buffer.put(frame)

    def _on_streaming(self) -> None:
        if self._failures:
            log.info(
                "%s: streaming again after %d failed attempts", self.source.label, self._failures
            )
        with self._lock:
            self._state = "streaming"
            self._failures = 0
        self._backoff.reset()

    def _count(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._last_frame is not None:
                gap = now - self._last_frame
                self._interval = gap if self._interval is None else 0.9 * self._interval + 0.1 * gap
            self._last_frame = now
            self._frames_in += 1

    def _record_error(self, exc: Exception) -> str:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        message = (
            text
            if isinstance(exc, SourceError)
            else f"{self.source.label}: {type(exc).__name__}: {text}"
        )
        with self._lock:
            self._last_error = message
        return message

    def _failed(self, exc: Exception) -> bool:
        """Record a failure; True when the caller should retry (after the backoff wait)."""
        message = self._record_error(exc)
        if self._stop.is_set():
            return False
        if not self.source.live:
            self._set_state("failed")
            log.error("%s", message)
            return False
        with self._lock:
            self._failures += 1
            failures = self._failures
            self._state = "failed" if failures >= self._fail_after else "reconnecting"
        delay = self._backoff.next()
        self._log_failure(message, failures, delay)
        self._stop.wait(delay)
        return True

    def _log_failure(self, message: str, failures: int, delay: float) -> None:
        """Warn while reconnecting, one error on giving up fast retries, then stay quiet."""
        if failures < self._fail_after:
            log.warning("%s; reconnecting in %.1f s (attempt %d)", message, delay, failures)
        elif failures == self._fail_after:
            log.error(
                "%s; camera marked failed after %d attempts, still retrying every ~%.0f s",
                message,
                failures,
                self._backoff.cap_s,
            )
        else:
            log.debug("%s; retry %d in %.1f s", message, failures, delay)

    def _close_quietly(self) -> None:
        try:
            self.source.close()
        except Exception as exc:  # releasing a dead device may fail; the thread is ending anyway
            log.debug("%s: close failed: %s", self.source.label, exc)
