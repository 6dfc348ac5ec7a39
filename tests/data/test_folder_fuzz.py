"""Fuzzing the image-folder loader (issue 21): mutated PNG, JPEG, GIF, TIFF and BMP files are loaded or
skipped and counted, never anything else, each within a time and memory bound.

Each case is a folder of two classes with one good image each, plus one mutated file in the first
class (``tests/image_fuzzing.py``: blind and format-aware mutations of small valid images). Checked
per case: the load returns with 3 images and nothing skipped, or 2 images and exactly that file
skipped with a one-line reason; no image decodes more pixels than the budget (1 megapixel here;
``Image.core.new`` is watched); the case takes under 10 s (a hang check, not a timing measurement)
and the process's peak memory grows by less than 64 MB (an image within the budget takes 12 MB at
most). ``benchmarks/fuzz_images.py`` runs the same cases for minutes.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from image_fuzzing import SEEDS, mutate, run_case

BUDGET = 2**20
SECONDS = 10.0
RSS_GROWTH = 64 * 2**20

operations = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 2**16), st.integers(0, 2**32 - 1)),
                      min_size=1, max_size=4)


@settings(max_examples=300, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, len(SEEDS) - 1), other=st.integers(0, len(SEEDS) - 1), ops=operations)
# Findings of the fuzzer kept as examples (each escaped as a traceback, or decoded, before issue 21):
@example(seed=0, other=0, ops=[(6, 9, 1)])  # IDAT's length cut to 1: SyntaxError "broken PNG file"
@example(seed=8, other=0, ops=[(6, 27, 2)])  # StripOffsets typed ASCII: TypeError from the TIFF decoder
@example(seed=12, other=0, ops=[(6, 3, 3000), (6, 4, 3000)])  # a 1 KB BMP claiming 3,000×3,000 pixels
def test_mutated_images_load_or_are_skipped_within_bounds(tmp_path_factory, seed, other, ops):
    ext, data = SEEDS[seed]
    case = run_case(tmp_path_factory.mktemp("fuzz"), "x" + ext, mutate(data, ops, SEEDS[other][1]),
                    max_pixels=BUDGET)
    assert case.largest <= BUDGET
    assert case.seconds < SECONDS, f"took {case.seconds:.1f} s"
    assert case.grown < RSS_GROWTH, f"peak memory grew by {case.grown / 2**20:.0f} MB"


def test_every_seed_loads_as_it_is(tmp_path):
    for i, (ext, data) in enumerate(SEEDS):
        case = run_case(tmp_path / str(i), "x" + ext, data)
        assert case.loaded, case.reason
        assert case.largest <= 13 * 9
