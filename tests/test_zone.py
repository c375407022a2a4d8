"""Zone events from plate paths: line crossings in any orientation, direction, fixed events."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, reject, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from edge.config import ZoneConfig
from edge.zone import classify, direction_deg, inside_normal

coordinate = st.floats(0, 2000, allow_nan=False)
point = st.tuples(coordinate, coordinate)


@st.composite
def zones(draw: st.DrawFn, basis: str = "crossing") -> ZoneConfig:
    """A random line with any valid inside side; sides along the line are refused by config."""
    start, end = draw(point), draw(point)
    assume(math.dist(start, end) >= 10)
    inside = draw(st.sampled_from(["above", "below", "left", "right"]))
    try:
        return ZoneConfig(name="ccz", outside_name="outer", line=(start, end), inside=inside,
                          basis=basis)
    except ValidationError:
        reject()


def path_between(zone: ZoneConfig, depth_from: float, depth_to: float, along_from: float,
                 along_to: float, steps: int) -> np.ndarray:
    """Straight path between depths on the inside normal (pixels; negative = outside)."""
    origin, normal = inside_normal(zone)
    tangent = np.array([normal[1], -normal[0]])
    depth = np.linspace(depth_from, depth_to, steps)[:, None]
    along = np.linspace(along_from, along_to, steps)[:, None]
    return origin + depth * normal + along * tangent


@settings(max_examples=200, deadline=None)
@given(zones(), st.floats(3, 400), st.floats(3, 400), st.floats(-800, 800), st.floats(-800, 800),
       st.integers(2, 40), st.booleans())
def test_crossing_from_outside_is_entry_and_from_inside_is_exit(
        zone, out_depth, in_depth, along_a, along_b, steps, entering) -> None:
    path = path_between(zone, -out_depth, in_depth, along_a, along_b, steps)
    if not entering:
        path = path[::-1]
    result = classify(zone, path)
    assert result.event == ("entry" if entering else "exit")
    expected = ("outer", "ccz") if entering else ("ccz", "outer")
    assert (result.from_zone, result.to_zone) == expected
    assert result.zone == "ccz"


@settings(max_examples=200, deadline=None)
@given(zones(), st.lists(st.tuples(st.floats(3, 600), st.floats(-800, 800)), min_size=1,
                         max_size=30), st.booleans())
def test_a_path_that_stays_on_one_side_is_unknown_under_basis_crossing(zone, steps, inside) -> None:
    origin, normal = inside_normal(zone)
    tangent = np.array([normal[1], -normal[0]])
    sign = 1.0 if inside else -1.0
    path = np.array([origin + sign * depth * normal + along * tangent for depth, along in steps])
    result = classify(zone, path)
    assert result.event == "unknown"
    assert result.from_zone is None and result.to_zone is None


@settings(max_examples=100, deadline=None)
@given(zones(basis="direction"), st.floats(30, 300), st.floats(20.5, 200), st.booleans())
def test_direction_basis_classifies_motion_along_the_normal(
        zone, start_depth, travel, inwards) -> None:
    """Path stays outside (never crosses) but moves towards or away from the zone."""
    far, near = -start_depth - travel, -start_depth
    depths = (far, near) if inwards else (near, far)
    result = classify(zone, path_between(zone, *depths, 0.0, 50.0, 10))
    assert result.event == ("entry" if inwards else "exit")


def horizontal(inside: str = "below", **extra) -> ZoneConfig:
    return ZoneConfig(name="ccz", line=((0, 400), (1280, 400)), inside=inside, **extra)


def test_direction_basis_ignores_short_travel_and_sideways_motion() -> None:
    zone = horizontal(basis="direction", min_travel_px=20)
    assert classify(zone, [[100, 300], [100, 315]]).event == "unknown"
    assert classify(zone, [[100, 300], [600, 305]]).event == "unknown"
    assert classify(zone, [[100, 300], [100, 325]]).event == "entry"


def test_jitter_on_the_line_is_not_a_crossing() -> None:
    zone = horizontal(deadband_px=3)
    wobble = np.column_stack([np.linspace(100, 200, 20), 400 + 2.5 * np.sin(np.arange(20))])
    assert classify(zone, wobble).event == "unknown"
    assert classify(zone, np.vstack([[100, 380], wobble])).event == "unknown"
    assert classify(zone, np.vstack([[100, 380], wobble, [200, 420]])).event == "entry"


def test_only_first_and_last_side_count() -> None:
    zone = horizontal()
    there_and_back = [[100, 300], [100, 500], [100, 300]]
    assert classify(zone, there_and_back).event == "unknown"
    assert classify(zone, [[100, 300], [100, 500], [100, 300], [100, 450]]).event == "entry"


def test_inside_side_is_image_space_y_down() -> None:
    down = [[100, 300], [100, 500]]
    assert classify(horizontal("below"), down).event == "entry"
    assert classify(horizontal("above"), down).event == "exit"
    vertical = ((640, 0), (640, 720))
    right = [[500, 300], [800, 320]]
    assert classify(ZoneConfig(name="z", line=vertical, inside="right"), right).event == "entry"
    reversed_line = ZoneConfig(name="z", line=(vertical[1], vertical[0]), inside="left")
    assert classify(reversed_line, right).event == "exit"


def test_fixed_event_and_fallback_and_no_zone() -> None:
    still = [[100, 300], [100, 300]]
    fixed = ZoneConfig(name="ccz", outside_name="outer", event="exit")
    assert classify(fixed, [[0, 0], [900, 900]]).event == "exit"
    result = classify(fixed, still)
    assert (result.event, result.zone) == ("exit", "ccz")
    assert (result.from_zone, result.to_zone) == ("ccz", "outer")
    assert classify(horizontal(event="entry"), still).event == "entry"
    assert classify(horizontal(event="entry"), [[100, 500], [100, 300]]).event == "exit"
    nothing = classify(None, [[0, 0], [10, 0]])
    assert (nothing.event, nothing.zone) == ("unknown", None)
    assert (nothing.from_zone, nothing.to_zone) == (None, None)


@pytest.mark.parametrize(("end", "expected"), [
    ((10, 0), 0.0), ((0, 10), 90.0), ((-10, 0), 180.0), ((0, -10), 270.0), ((10, 10), 45.0),
    ((10, -10), 315.0)])
def test_direction_is_degrees_clockwise_from_right_in_image_space(end, expected) -> None:
    assert direction_deg(np.array([[0.0, 0.0], end])) == pytest.approx(expected)
    assert classify(None, [[0, 0], end]).direction_deg == pytest.approx(expected)


def test_stationary_path_has_no_direction() -> None:
    assert direction_deg(np.array([[5.0, 5.0], [5.5, 6.0]])) is None
    assert direction_deg(np.array([[5.0, 5.0]])) is None


@pytest.mark.parametrize(("line", "inside"), [
    (((0, 400), (1280, 400)), "left"), (((640, 0), (640, 720)), "above"),
    (((0, 400), (1280, 430)), "right")])
def test_config_refuses_an_inside_side_that_runs_along_the_line(line, inside) -> None:
    with pytest.raises(ValidationError, match="runs along this line"):
        ZoneConfig(name="z", line=line, inside=inside)
