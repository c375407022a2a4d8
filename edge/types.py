"""Small typed values that flow between the pipeline stages.

source -> Frame; localise -> PlateCandidate; read -> PlateRead; track/vote -> Track;
zone -> ZoneEvent; record -> PassRecord. Each stage depends on these types only, not on
another stage's internals, so a stage can be replaced or tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

ZoneEventKind = Literal["entry", "exit", "unknown"]


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned box in pixels: top-left corner, width and height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)

    def as_list(self) -> list[int]:
        return [int(self.x), int(self.y), int(self.w), int(self.h)]

    def corners(self) -> list[list[int]]:
        """Top-left, top-right, bottom-right, bottom-left: the order of a localiser quad."""
        right, bottom = self.x + self.w, self.y + self.h
        return [[self.x, self.y], [right, self.y], [right, bottom], [self.x, bottom]]

    def iou(self, other: "Box") -> float:
        ix = max(0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union > 0 else 0.0


@dataclass(slots=True)
class Frame:
    """One image from a camera. `timestamp` is UTC epoch seconds at capture."""

    camera: str
    index: int
    timestamp: float
    image: np.ndarray


@dataclass(slots=True)
class PlateCandidate:
    """A region the localiser believes holds a plate.

    `quad` is the plate's four corners (tl, tr, br, bl) in frame pixels when the
    localiser could estimate them (used to rectify skewed plates); else None.
    """

    box: Box
    score: float
    quad: np.ndarray | None = None


def quad_sides(quad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A quad's (tl, tr, br, bl) mean top/bottom side vector (across, left to right) and mean
    left/right side vector (down, top to bottom): the row's direction and its height."""
    tl, tr, br, bl = np.asarray(quad).reshape(4, 2)
    return ((tr - tl) + (br - bl)) / 2.0, ((bl - tl) + (br - tr)) / 2.0


@dataclass(frozen=True, slots=True)
class ScoredText:
    text: str
    confidence: float


@dataclass(slots=True)
class PlateRead:
    """The recogniser's reading of one crop, after plate-format post-processing.

    `char_probs` is the per-position probability matrix (len(raw) x len(alphabet)) the
    recogniser produced, kept so multi-frame voting can combine evidence per character.
    """

    text: str
    confidence: float
    candidates: list[ScoredText] = field(default_factory=list)
    country: str | None = None
    format: str | None = None
    raw: str = ""
    char_probs: np.ndarray | None = None


@dataclass(slots=True)
class Detection:
    """A localised and (maybe) read plate in one frame."""

    box: Box
    score: float
    read: PlateRead | None
    frame_index: int
    timestamp: float
