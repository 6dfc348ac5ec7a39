"""A drawn digit is scaled and centred as MNIST's were (20×20 box, centre of mass at the middle of 28×28)."""

from __future__ import annotations

import numpy as np

from cnnplayground.inspect.digits import center_digit, center_of_mass


def _bbox(image: np.ndarray, threshold: float = 0.02) -> tuple[int, int]:
    rows, cols = np.nonzero(image > threshold)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_an_off_centre_stroke_is_centred_by_its_mass_and_fits_a_20_pixel_box():
    image = np.zeros((28, 28), np.float32)
    image[2:10, 3] = 1.0  # a short vertical stroke in the top-left corner, 8 px tall
    image[2, 3:7] = 1.0  # with a bar to the right: the mass is not in the box's middle
    assert center_of_mass(image)[0] < 6 and center_of_mass(image)[1] < 6
    centred = center_digit(image)
    cy, cx = center_of_mass(centred)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    height, width = _bbox(centred)
    assert max(height, width) <= 20
    assert max(height, width) >= 19  # scaled up to the box (8 px tall before), not merely moved
    # the aspect ratio is kept: 8 tall, 4 wide before; about 20 by 10 after
    assert abs(height / width - 2.0) < 0.35


def test_a_large_digit_is_scaled_down_into_the_box_and_the_ink_is_kept():
    image = np.zeros((28, 28), np.float32)
    image[0:28, 12:16] = 1.0  # a full-height bar
    centred = center_digit(image)
    assert _bbox(centred)[0] <= 20
    assert centred.max() <= 1.0 and centred.sum() > 0.5 * 20 * 2


def test_an_empty_drawing_is_left_alone():
    assert not center_digit(np.zeros((28, 28), np.float32)).any()
