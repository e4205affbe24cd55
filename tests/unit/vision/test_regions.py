"""Zones and privacy masks: rasterisation at the analysis size, blacking out, zone lookup.

Masks are conservative: every pixel whose centre lies inside a mask is blacked out, and nothing
more than the one row or column of pixels the mask's edge touches. Zone lookup includes the
boundary, picks the first configured zone where zones overlap, and places a box by its bottom
centre (where a person touches the floor).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gateway.config import CameraConfig
from gateway.vision.pipeline import camera_regions, camera_spec
from gateway.vision.regions import Regions, contains, rasterise

LEFT_HALF = ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0))
TRIANGLE = ((0.1, 0.2), (0.9, 0.35), (0.3, 0.95))
L_SHAPE = ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0))


def test_full_frame_and_no_polygon() -> None:
    assert rasterise([((0, 0), (1, 0), (1, 1), (0, 1))], 320, 240).all()
    assert not rasterise([], 320, 240).any()


def test_left_half_masks_its_pixels_and_at_most_the_edge_column() -> None:
    mask = rasterise([LEFT_HALF], 320, 240)
    assert mask.shape == (240, 320)
    assert mask[:, :160].all()
    assert not mask[:, 161:].any()


@pytest.mark.parametrize("size", [(320, 240), (64, 48), (17, 13)])
def test_every_pixel_centre_inside_is_masked_and_nothing_far_outside(size: tuple[int, int]) -> None:
    width, height = size
    mask = rasterise([TRIANGLE], width, height)
    contour = np.array([(x * width, y * height) for x, y in TRIANGLE], np.float32)
    for row in range(height):
        for col in range(width):
            centre = ((col + 0.5) / width, (row + 0.5) / height)
            if contains(TRIANGLE, centre):
                assert mask[row, col], (row, col)
            elif mask[row, col]:  # only pixels the edge passes through or next to
                distance = -cv2.pointPolygonTest(contour, (col + 0.5, row + 0.5), True)
                assert distance <= 1.5, (row, col, distance)


def test_a_sub_pixel_mask_still_masks_a_pixel() -> None:
    assert rasterise([((0.30, 0.30), (0.301, 0.30), (0.301, 0.301))], 64, 48).sum() >= 1


@pytest.mark.parametrize(
    "polygon",
    [((0.0, 0.0), (1.0, 1.0)), ((0.0, 0.0), (1.2, 0.0), (1.0, 1.0)), ((-0.1, 0.0), (1.0, 0.0), (1.0, 1.0))],
)
def test_bad_polygons_are_refused(polygon: tuple[tuple[float, float], ...]) -> None:
    with pytest.raises(ValueError, match="region"):
        Regions(masks=[polygon])
    with pytest.raises(ValueError, match="region"):
        Regions(zones=[("z", polygon)])


def test_bad_size_is_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        rasterise([LEFT_HALF], 0, 10)


def test_black_out_zeroes_exactly_the_masked_pixels_in_place() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(1, 256, (240, 320, 3), dtype=np.uint8)
    original = image.copy()
    regions = Regions(masks=[LEFT_HALF, TRIANGLE])
    out = regions.black_out(image)
    assert out is image
    masked = regions.masked(320, 240)
    assert masked is not None
    assert not image[masked].any()
    assert np.array_equal(image[~masked], original[~masked])
    assert np.array_equal(regions.keep(320, 240), ~masked)


def test_black_out_grey_and_without_masks() -> None:
    grey = np.full((48, 64), 200, np.uint8)
    Regions(masks=[LEFT_HALF]).black_out(grey)
    assert not grey[:, :32].any() and (grey[:, 33:] == 200).all()
    image = np.full((48, 64, 3), 7, np.uint8)
    assert Regions().masked(64, 48) is None
    assert (Regions().black_out(image) == 7).all()
    assert Regions().keep(64, 48).all()


def test_rasters_are_cached_per_size() -> None:
    regions = Regions(masks=[TRIANGLE])
    assert regions.masked(320, 240) is regions.masked(320, 240)
    other = regions.masked(160, 120)
    assert other is not None and other.shape == (120, 160)


def test_zone_at_inside_outside_and_on_the_boundary() -> None:
    regions = Regions(zones=[("left", LEFT_HALF), ("ell", L_SHAPE)])
    assert regions.zone_at(0.25, 0.5) == "left"
    assert regions.zone_at(0.5, 0.5) == "left"  # on the edge: inside, and the first zone wins
    assert regions.zone_at(0.0, 0.0) == "left"  # a vertex
    assert regions.zone_at(0.75, 0.75) == "ell"
    assert regions.zone_at(1.0, 0.75) == "ell"  # right edge of the frame
    assert regions.zone_at(0.75, 0.25) is None  # in the notch of the L
    assert regions.zone_at(0.75, 0.5) == "ell"  # on the notch's edge
    assert Regions().zone_at(0.5, 0.5) is None


def test_contains_is_the_even_odd_rule() -> None:
    assert contains(TRIANGLE, (0.4, 0.4))
    assert not contains(TRIANGLE, (0.9, 0.9))
    assert contains(TRIANGLE, (0.9, 0.35))
    assert contains(TRIANGLE, (0.5, 0.275))  # on an edge


def test_zone_of_box_by_foot_point_then_by_overlap() -> None:
    floor = ((0.0, 0.8), (1.0, 0.8), (1.0, 1.0), (0.0, 1.0))
    bed = ((0.5, 0.0), (1.0, 0.0), (1.0, 0.8), (0.5, 0.8))
    regions = Regions(zones=[("floor", floor), ("bed", bed), ("left", LEFT_HALF)])
    # A standing person whose body is mostly over the bed zone but whose feet are on the floor.
    assert regions.zone_of_box((0.55, 0.2, 0.75, 0.9)) == "floor"
    # Feet in no zone: the zone the box overlaps most.
    only_bed = Regions(zones=[("bed", bed), ("corner", ((0.9, 0.9), (1.0, 0.9), (1.0, 1.0)))])
    assert only_bed.zone_of_box((0.4, 0.5, 0.8, 0.85)) == "bed"
    assert only_bed.zone_of_box((0.0, 0.0, 0.2, 0.2)) is None
    assert Regions().zone_of_box((0.1, 0.1, 0.2, 0.2)) is None
    with pytest.raises(ValueError, match="box"):
        regions.zone_of_box((0.5, 0.5, 0.4, 0.6))


def test_a_configured_camera_gives_its_regions_and_transport() -> None:
    config = CameraConfig.model_validate(
        {
            "id": "hall-1",
            "url": "http://127.0.0.1:8081/hall.mjpg",
            "fps": 5,
            "zones": [{"name": "entrance", "polygon": [[0, 0], [0.5, 0], [0.5, 1]]}],
            "masks": [[[0.5, 0], [1, 0], [1, 1], [0.5, 1]]],
        }
    )
    regions = camera_regions(config)
    assert regions.zone_at(0.4, 0.5) == "entrance" and regions.zone_at(0.1, 0.5) is None
    masked = regions.masked(64, 48)
    assert masked is not None and masked[:, 33:].all() and not masked[:, :32].any()
    spec = camera_spec(config)
    assert (spec.source, spec.url, spec.analysis_fps, spec.realtime) == ("hall-1", config.url, 5.0, True)
