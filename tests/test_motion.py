"""The motion gate opens for a small moving vehicle, stays shut for a static or noisy scene."""

from __future__ import annotations

import numpy as np

from edge.motion import MotionGate


def scene(rng: np.random.Generator, car_x: int | None) -> np.ndarray:
    image = np.full((540, 960, 3), 90, np.uint8)
    image += rng.integers(0, 6, image.shape, dtype=np.uint8)  # sensor noise
    if car_x is not None:
        image[300:360, car_x:car_x + 80] = 30  # a small dark vehicle, ~1% of the frame
    return image


def test_static_noisy_scene_is_skipped():
    rng = np.random.default_rng(1)
    gate = MotionGate()
    assert gate.changed(scene(rng, None))  # first frame always goes through
    assert not any(gate.changed(scene(rng, None)) for _ in range(20))


def test_small_moving_vehicle_opens_the_gate():
    rng = np.random.default_rng(2)
    gate = MotionGate()
    gate.changed(scene(rng, None))
    assert gate.changed(scene(rng, 100))
    assert gate.changed(scene(rng, 140))


def test_slow_motion_accumulates_against_the_last_processed_frame():
    rng = np.random.default_rng(3)
    gate = MotionGate()
    gate.changed(scene(rng, 100))
    opened = [gate.changed(scene(rng, 100 + step)) for step in range(1, 40)]
    assert any(opened), "a vehicle creeping 1 px per frame must open the gate eventually"
    assert not all(opened), "but not on every frame"


def test_grey_and_16bit_frames_are_accepted():
    gate = MotionGate()
    assert gate.changed(np.zeros((100, 100), np.uint8))
    assert not gate.changed(np.zeros((100, 100), np.uint16))
