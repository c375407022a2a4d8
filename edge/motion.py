"""The motion gate: skip frames in which nothing moved, before any localising is done.

A roadside camera mostly watches an empty road. Comparing a tiny, area-averaged copy of
each frame with the last frame that was *processed* costs well under a millisecond and
lets the pipeline skip those frames. Comparing with the last processed frame rather than
the previous one matters: a slow vehicle changes little between consecutive frames, but
its change accumulates against a fixed reference until the gate opens.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.imageio import to_bgr8


class MotionGate:
    """`changed(image)` is True when enough of the frame differs from the last processed one.

    `pixel_threshold` is in grey levels on the downscaled frame (area averaging has already
    removed most sensor noise); `min_changed_fraction` is the share of downscaled cells that
    must differ, small enough that one distant vehicle opens the gate.
    """

    def __init__(self, scale: int = 8, pixel_threshold: float = 10.0, min_changed_fraction: float = 0.002) -> None:
        self.scale = scale
        self.pixel_threshold = pixel_threshold
        self.min_changed_fraction = min_changed_fraction
        self._reference: np.ndarray | None = None

    def _small(self, image: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(to_bgr8(image), cv2.COLOR_BGR2GRAY)
        size = (max(1, grey.shape[1] // self.scale), max(1, grey.shape[0] // self.scale))
        return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)

    def changed(self, image: np.ndarray) -> bool:
        small = self._small(image)
        reference = self._reference
        if reference is None or reference.shape != small.shape:
            self._reference = small
            return True
        moved = np.count_nonzero(cv2.absdiff(small, reference) > self.pixel_threshold) / small.size
        if moved >= self.min_changed_fraction:
            self._reference = small
            return True
        return False
