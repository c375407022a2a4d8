"""Turn a pass's path in the image into an entry or exit event for the camera's zone.

Image coordinates: x grows right, y grows DOWN. So `inside: above` is the half-plane
with smaller y, and `direction_deg` is measured clockwise on screen: 0 = moving right,
90 = moving down the image, 180 = left, 270 = up.

The zone line is the infinite line through its two points: it splits the whole image into
an inside and an outside half-plane. A path whose first point (off the deadband) is
outside and last point is inside is an entry; the reverse is an exit. Only the first and
last sides count, so a plate wobbling on the line is judged by where it came from and
where it went. A fixed `event` is the answer when there is no line, or when the line
cannot tell. With `basis: direction`, a path that ends on the side it started (or
never leaves the deadband) is classified by its net motion along the inside normal, if it
moved at least `min_travel_px` that way; otherwise, and always for `basis: crossing`,
the event is 'unknown'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.config import SIDE_VECTORS, ZoneConfig
from edge.types import ZoneEventKind

_STILL_PX = 2.0  # net motion below this is detector jitter, not a direction


@dataclass(frozen=True, slots=True)
class ZoneResult:
    """Where a pass went. `from_zone`/`to_zone` name both sides of a two-zone boundary."""

    event: ZoneEventKind
    zone: str | None
    from_zone: str | None
    to_zone: str | None
    direction_deg: float | None


def direction_deg(centres: np.ndarray, min_travel_px: float = _STILL_PX) -> float | None:
    """Net direction of travel, degrees in [0, 360) with 0 = right, 90 = down; None if still."""
    if len(centres) < 2:
        return None
    dx, dy = np.asarray(centres[-1], dtype=np.float64) - np.asarray(centres[0], dtype=np.float64)
    if math.hypot(dx, dy) < min_travel_px:
        return None
    return math.degrees(math.atan2(dy, dx)) % 360.0


def inside_normal(zone: ZoneConfig) -> tuple[np.ndarray, np.ndarray]:
    """A point on the line and the unit normal pointing into the inside half-plane."""
    start, end = np.asarray(zone.line, dtype=np.float64)
    along = end - start
    normal = np.array([-along[1], along[0]]) / np.hypot(*along)
    if float(normal @ np.asarray(SIDE_VECTORS[zone.inside])) < 0:
        normal = -normal
    return start, normal


def _line_event(zone: ZoneConfig, centres: np.ndarray) -> ZoneEventKind:
    origin, normal = inside_normal(zone)
    distance = (centres - origin) @ normal  # > 0 inside, < 0 outside, in pixels
    sides = np.sign(distance[np.abs(distance) > zone.deadband_px])
    if len(sides) and sides[0] != sides[-1]:
        return "entry" if sides[-1] > 0 else "exit"
    if zone.basis == "direction" and len(centres) >= 2:
        travel = float(distance[-1] - distance[0])
        if abs(travel) >= zone.min_travel_px:
            return "entry" if travel > 0 else "exit"
    return "unknown"


def classify(zone: ZoneConfig | None, centres: np.ndarray) -> ZoneResult:
    """The event for a path of plate centres (N x 2, oldest first) under `zone`."""
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    heading = direction_deg(centres)
    if zone is None:
        return ZoneResult("unknown", None, None, None, heading)
    event: ZoneEventKind = "unknown" if zone.line is None else _line_event(zone, centres)
    if event == "unknown" and zone.event is not None:
        event = zone.event
    if event == "entry":
        return ZoneResult(event, zone.name, zone.outside_name, zone.name, heading)
    if event == "exit":
        return ZoneResult(event, zone.name, zone.name, zone.outside_name, heading)
    return ZoneResult(event, zone.name, None, None, heading)
