"""The one decimation rule of long curves (project/curves.py), with exact numbers: bounded points,
pairs merged when full, the stride doubling, equal groups averaged, the group being filled shown."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from cnnplayground.project.curves import GrowingCurve, bucket_means


def _one_by_one(curve: GrowingCurve, values) -> None:
    for v in values:
        curve.extend([float(v)], [float(v)])


def test_pairs_merge_when_full_and_the_stride_doubles():
    curve = GrowingCurve(limit=4)
    _one_by_one(curve, [1, 2, 3])
    assert curve.data()[0].tolist() == [1, 2, 3] and curve.stride == 1
    _one_by_one(curve, [4])  # full: (1, 2) → 1.5 at x 2, (3, 4) → 3.5 at x 4
    x, y = curve.data()
    assert x.tolist() == [2, 4] and y.tolist() == [1.5, 3.5] and curve.stride == 2
    _one_by_one(curve, [5])  # the group being filled is shown as one more point
    assert curve.data()[0].tolist() == [2, 4, 5] and curve.data()[1].tolist() == [1.5, 3.5, 5.0]
    assert curve.n == 2 and curve.pending == 1
    _one_by_one(curve, [6, 7, 8])  # 5.5 at 6, 7.5 at 8: full again → pairs of pairs
    x, y = curve.data()
    assert x.tolist() == [4, 8] and y.tolist() == [2.5, 6.5] and curve.stride == 4 and curve.pending == 0


@pytest.mark.parametrize("batch", [1, 3, 7, 64, 1000])
def test_a_thousand_points_are_means_of_equal_groups_however_they_arrive(batch):
    values = np.arange(1.0, 1001.0)
    curve = GrowingCurve(limit=10)
    for i in range(0, len(values), batch):
        curve.extend(values[i : i + batch], values[i : i + batch])
    x, y = curve.data()
    # 1000 points in at most 10: groups of 128 (7 full ones: 896 points), then a group of 104 being filled.
    assert curve.stride == 128 and curve.n == 7 and curve.pending == 104 and curve.capacity <= 11
    assert x.tolist() == [128, 256, 384, 512, 640, 768, 896, 1000]
    assert y.tolist() == [64.5, 192.5, 320.5, 448.5, 576.5, 704.5, 832.5, 948.5]  # (first + last) / 2


def test_the_points_mean_is_the_mean_of_what_was_appended():
    rng = np.random.default_rng(0)
    values = rng.normal(size=4096)
    curve = GrowingCurve(limit=16)
    curve.extend(np.arange(4096.0), values)
    assert curve.n == 8 and curve.stride == 512 and curve.pending == 0  # full at 16 points: merged at once
    assert float(curve.data()[1].mean()) == pytest.approx(float(values.mean()), rel=1e-12)


def test_missing_values_are_left_out_or_kept_as_asked():
    skipping, plain = GrowingCurve(limit=2), GrowingCurve(limit=2, ignore_nan=False)
    for curve in (skipping, plain):
        curve.extend([1.0, 2.0, 3.0, 4.0], [1.0, math.nan, math.nan, math.nan])
    assert skipping.data()[1].tolist() == [1.0]  # 1 and three missing: 1 (NaN only where all are missing)
    assert math.isnan(plain.data()[1][0])
    assert skipping.data()[0].tolist() == plain.data()[0].tolist() == [4.0]


def test_bucket_means_of_a_whole_curve():
    x = list(range(1, 11))
    assert bucket_means(x, [float(v) for v in x], 5) == ([2, 4, 6, 8, 10], [1.5, 3.5, 5.5, 7.5, 9.5])
    assert bucket_means([1, 2, 3], [1.0, 2.0, 3.0], 5) == ([1, 2, 3], [1.0, 2.0, 3.0])  # short: as it is
    assert bucket_means([1, 2, 3, 4], [math.nan, math.nan, 3.0, math.nan], 2) == ([2, 4], [None, 3.0])


def test_importing_the_project_package_does_not_load_numpy_curves():
    code = "import sys, cnnplayground.project; print('cnnplayground.project.curves' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
