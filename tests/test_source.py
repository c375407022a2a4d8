"""Frame sources and the capture thread, exercised on real files, real HTTP streams and OpenCV."""

from __future__ import annotations

import functools
import http.server
import logging
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import CameraConfig
from edge.errors import ConfigError
from edge.source import (
    Backoff,
    CaptureThread,
    FrameSource,
    ImageFolderSource,
    LiveSource,
    SourceError,
    VideoFileSource,
    describe_source,
    open_source,
)
from edge.types import Frame

FPS = 20.0
SIZE = (96, 64)


def write_clip(path: Path, frames: int, fps: float = FPS) -> Path:
    """An MJPG clip whose frame i is filled with grey level 8*i (identifiable after decoding)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((SIZE[1], SIZE[0], 3), (8 * i) % 256, np.uint8))
    writer.release()
    return path


def camera(source: str | int, **extra) -> CameraConfig:
    return CameraConfig(name="cam1", source=source, **extra)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.avi", 30)


def test_image_folder_skips_corrupt_and_empty_files_with_one_warning_each(tmp_path, caplog):
    folder = tmp_path / "shots"
    folder.mkdir()
    for i in (1, 2, 10):
        cv2.imwrite(str(folder / f"img_{i}.png"), np.full((20, 30), 20 * i, np.uint8))
    (folder / "img_3.jpg").write_bytes(b"\xff\xd8 this is not a jpeg at all")
    (folder / "img_4.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    source = open_source(camera(str(folder)), realtime=False, start_time=1000.0)
    assert isinstance(source, ImageFolderSource)
    with caplog.at_level(logging.WARNING, logger="edge.source"):
        frames = list(source)
    assert [source.files[f.index].name for f in frames] == ["img_1.png", "img_2.png", "img_10.png"]
    assert all(f.image.shape == (20, 30, 3) and f.image.dtype == np.uint8 for f in frames)
    assert [f.timestamp for f in frames] == [1000.0 + f.index / 10.0 for f in frames]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "img_3.jpg" in warnings[0] and "not a decodable image" in warnings[0]
    assert "img_4.jpg" in warnings[1] and "0 bytes" in warnings[1]


def test_single_image_and_missing_source(tmp_path):
    path = tmp_path / "one.jpg"
    cv2.imwrite(str(path), np.zeros((10, 10, 3), np.uint8))
    assert [f.index for f in open_source(camera(str(path)), realtime=False)] == [0]
    with pytest.raises(ConfigError, match="cam1.*not found"):
        open_source(camera(str(tmp_path / "gone.mp4")), realtime=False)
    with pytest.raises(ConfigError, match="unsupported source scheme 'ftp'"):
        open_source(camera("ftp://example.org/x"), realtime=False)


def test_video_file_frames_and_deterministic_timestamps(clip):
    source = open_source(camera(str(clip)), realtime=False, start_time=5000.0)
    assert isinstance(source, VideoFileSource)
    frames = list(source)
    assert len(frames) == 30
    assert [f.index for f in frames] == list(range(30))
    assert np.allclose([f.timestamp for f in frames], 5000.0 + np.arange(30) / FPS)
    assert abs(int(frames[7].image.mean()) - 56) <= 2  # frame 7 was written with grey 56
    again = [f.timestamp for f in open_source(camera(str(clip)), realtime=False)]
    assert again == [f.timestamp for f in open_source(camera(str(clip)), realtime=False)]
    assert again[0] == clip.stat().st_mtime


def test_max_fps_thins_file_frames_by_file_time(clip):
    frames = list(open_source(camera(str(clip), max_fps=5), realtime=False, start_time=0.0))
    assert [f.index for f in frames] == [0, 4, 8, 12, 16, 20, 24, 28]


def test_loop_restarts_file_and_keeps_time_running(tmp_path):
    clip = write_clip(tmp_path / "short.avi", 5)
    source = open_source(camera(str(clip), loop=True), realtime=False, start_time=0.0)
    source.open()
    frames = [source.read() for _ in range(12)]
    source.close()
    assert [f.index for f in frames] == list(range(12))
    assert abs(int(frames[5].image.mean()) - int(frames[0].image.mean())) <= 2
    assert np.all(np.diff([f.timestamp for f in frames]) > 0)


def test_realtime_paces_to_file_fps(clip):
    start = time.monotonic()
    frames = list(open_source(camera(str(clip)), realtime=True))
    elapsed = time.monotonic() - start
    nominal = 29 / FPS  # 1.45 s from first to last frame
    assert nominal / 2 < elapsed < nominal * 2
    assert abs(frames[0].timestamp - time.time()) < 5  # a real-time replay looks live

    start = time.monotonic()
    doubled = list(open_source(camera(str(clip)), realtime=True, speed=2.0))
    elapsed = time.monotonic() - start
    assert nominal / 4 < elapsed < nominal
    assert np.allclose(
        np.diff([f.timestamp for f in doubled]), 1 / FPS
    )  # speed changes pacing, not time


def test_capture_thread_latest_frame_wins_with_slow_consumer(tmp_path):
    clip = write_clip(tmp_path / "long.avi", 60)
    capture = CaptureThread(open_source(camera(str(clip)), realtime=True), drop_frames=True).start()
    got: list[Frame] = []
    while (frame := capture.get(timeout=5)) is not None:
        got.append(frame)
        time.sleep(0.2)  # four frame times at 20 fps: processing is the bottleneck
    stats = capture.stats()
    capture.stop()
    assert capture.finished and stats.state == "ended"
    assert stats.frames_in == 60
    assert stats.frames_dropped > 20
    assert len(got) + stats.frames_dropped == 60
    indices = [f.index for f in got]
    assert indices == sorted(indices) and indices[-1] == 59  # the newest frame always survives
    assert 10 < stats.fps < 40


def test_capture_thread_without_dropping_delivers_every_frame(clip):
    capture = CaptureThread(
        open_source(camera(str(clip)), realtime=False), drop_frames=False, queue_size=4
    ).start()
    got = []
    for frame in capture:
        got.append(frame.index)
        time.sleep(0.005)
    assert got == list(range(30))
    assert capture.frames_dropped == 0 and capture.state == "ended"


def test_file_that_cannot_be_opened_fails_without_raising(tmp_path):
    bogus = tmp_path / "broken.mp4"
    bogus.write_bytes(b"not a video")
    capture = CaptureThread(open_source(camera(str(bogus)), realtime=False)).start()
    assert capture.get(timeout=5) is None
    stats = capture.stats()
    assert stats.state == "failed"
    assert "camera cam1" in stats.last_error and "broken.mp4" in stats.last_error


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_http_stream_reconnects_when_server_comes_back(clip, caplog):
    """A real FFmpeg HTTP source: refused while the server is down, streaming once it is up,
    and reconnecting again when the stream ends (a camera that dropped the connection)."""
    port = free_port()
    cam = camera(f"http://127.0.0.1:{port}/clip.avi", read_timeout_s=3)
    source = open_source(cam, realtime=True)
    assert isinstance(source, LiveSource)
    backoff = Backoff(initial_s=0.05, cap_s=0.3)
    capture = CaptureThread(source, backoff=backoff, fail_after=1000).start()
    server = None
    try:
        assert wait_for(lambda: capture.stats().failures >= 2)
        assert capture.state == "reconnecting"
        assert (
            "cam1" in capture.stats().last_error
            and f":{port}/clip.avi" in capture.stats().last_error
        )
        handler = functools.partial(
            http.server.SimpleHTTPRequestHandler, directory=str(clip.parent)
        )
        handler.log_message = lambda *args: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        frame = capture.get(timeout=10)
        assert frame is not None and frame.camera == "cam1"
        assert abs(frame.timestamp - time.time()) < 5
        assert wait_for(lambda: capture.state == "streaming" or capture.frames_in >= 30)
        assert wait_for(lambda: capture.frames_in > 30)  # the stream ended and was reopened
    finally:
        capture.stop()
        if server:
            server.shutdown()
            server.server_close()
    assert any("reconnecting in" in r.getMessage() for r in caplog.records)


class FlakyCounter(FrameSource):
    """A live source whose open fails `failures` times, then streams: covers the
    reconnecting -> failed -> streaming path without depending on network timing."""

    live = True

    def __init__(self, failures: int) -> None:
        super().__init__(camera("synthetic://flaky"))
        self.failures = failures
        self.opens = 0
        self.index = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens <= self.failures:
            raise self.error("cannot open (simulated outage)")

    def read(self) -> Frame | None:
        time.sleep(0.01)
        self.index += 1
        return Frame("cam1", self.index, time.time(), np.zeros((4, 4, 3), np.uint8))

    def close(self) -> None:
        """Nothing to release."""


def test_live_source_goes_failed_then_recovers():
    source = FlakyCounter(failures=6)
    states = []
    capture = CaptureThread(
        source, backoff=Backoff(initial_s=0.02, cap_s=0.05), fail_after=4
    ).start()
    try:
        assert wait_for(lambda: states.append(capture.state) or capture.frames_in > 3)
    finally:
        capture.stop()
    assert "reconnecting" in states and "failed" in states
    assert states.index("reconnecting") < states.index("failed")
    assert capture.state == "streaming" and capture.stats().failures == 0


def test_backoff_grows_caps_and_jitters():
    backoff = Backoff(initial_s=1.0, cap_s=8.0, jitter=0.2)
    delays = [backoff.next() for _ in range(7)]
    for delay, base in zip(delays, [1, 2, 4, 8, 8, 8, 8]):
        assert 0.8 * base <= delay <= 1.2 * base
    backoff.reset()
    assert backoff.next() <= 1.2


def test_describe_source_hides_url_password():
    assert (
        describe_source("rtsp://admin:hunter2@10.0.0.5:554/s1")
        == "rtsp://admin:***@10.0.0.5:554/s1"
    )
    assert describe_source("/dev/video0") == "/dev/video0"
    source = open_source(
        camera(f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/s1", read_timeout_s=2), realtime=True
    )
    with pytest.raises(SourceError) as failure:
        source.open()
    assert "hunter2" not in str(failure.value) and "camera cam1 (rtsp://admin:***@127.0.0.1" in str(
        failure.value
    )
