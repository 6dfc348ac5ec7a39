"""An experiment's verdict rests on a difference larger than seed noise; within it, "no clear difference"."""

from __future__ import annotations

import math

import pytest

from cnnplayground.experiments import gallery
from cnnplayground.experiments.base import SEED_NOISE, Context, Finding, Results, compare, noise_margin
from cnnplayground.project.history import RunHistory, Series
from cnnplayground.train.sweep import VariantFinished


def _results(accuracy: dict[str, list[float]], params: dict[str, int], scale: str = "quick") -> Results:
    """Results of finished arms with the given validation-accuracy curves (one point per epoch)."""
    results = Results(Context(scale))
    for index, (name, curve) in enumerate(accuracy.items()):
        record = RunHistory(name=name, settings={"network.parameters": params[name]},
                            series={"val_accuracy": Series(x=list(range(1, len(curve) + 1)), y=curve)})
        results.arms[name] = VariantFinished(index, record, "completed", "", 1.0)
    return results


PARAMS = {gallery.CONV: 61_706, gallery.FC_SMALL: 50_890, gallery.FC_LARGE: 535_818}


def test_a_difference_within_seed_noise_is_not_called_a_confirmation():
    # 86.0 % against 84.3 % with crossing curves: 1.7 points, inside what seeds alone change at quick size.
    finding = gallery._conv_vs_fc(_results({gallery.CONV: [0.70, 0.85, 0.80, 0.86],
                                            gallery.FC_SMALL: [0.60, 0.70, 0.72, 0.72],
                                            gallery.FC_LARGE: [0.75, 0.80, 0.84, 0.843]}, PARAMS))
    assert not finding.holds and not finding.clear
    assert finding.verdict == "no clear difference (within seed noise)"
    assert "no clear difference" in finding.headline
    assert finding.numbers["noise margin"] == pytest.approx(2 * math.sqrt(2) * SEED_NOISE["quick"])


def test_a_difference_well_over_seed_noise_is_a_confirmation_and_the_reverse_is_not():
    clear = gallery._conv_vs_fc(_results({gallery.CONV: [0.80, 0.95], gallery.FC_SMALL: [0.60, 0.72],
                                          gallery.FC_LARGE: [0.75, 0.84]}, PARAMS))
    assert clear.holds and clear.clear and clear.verdict == "as in the literature"
    reverse = gallery._conv_vs_fc(_results({gallery.CONV: [0.60, 0.70], gallery.FC_SMALL: [0.60, 0.72],
                                            gallery.FC_LARGE: [0.75, 0.84]}, PARAMS))
    assert not reverse.holds and reverse.clear and reverse.verdict == "NOT as in the literature"


def test_compare_needs_more_than_the_margin():
    margin = noise_margin("quick")
    assert 0.05 < margin < 0.1  # 2 × √2 × 3 points
    assert compare(0.860, 0.843, margin) == "unclear"
    assert compare(0.95, 0.84, margin) == "higher" and compare(0.84, 0.95, margin) == "lower"
    assert compare(math.nan, 0.5, margin) == "unclear"
    assert noise_margin("full") < margin


def test_a_finding_without_a_margin_is_clear_by_default():
    finding = Finding("h", True, {}, gallery.curves_figure(Results(Context()), [], title="t"))
    assert finding.clear and finding.verdict == "as in the literature"
