"""Property test of the project reader under structural mutations, bounded per case in time and memory.

``test_project_fuzz.py`` mutates the JSON document and flips or cuts bytes;
``test_faults.py`` flips bits, cuts at many offsets and damages the safetensors
header. This adds the mutations of ``benchmarks/fuzz_projects.py`` (the same
functions, drawn by hypothesis instead of a random generator): overwritten ZIP
and safetensors integer fields, inserted, deleted and duplicated chunks, JSON and
ZIP tokens, and mutations of one entry of a ``.cnnp`` written again with valid
CRCs (entry bytes, entries dropped, duplicated, added, stored uncompressed, up to
32 MB of zeros after the weights that deflate to 32 KB). Each
case loads into a valid project or raises a one-line ``ProjectError``, in under
``CASE_SECONDS`` with a ``tracemalloc`` peak under ``CASE_PYTHON_BYTES``; the
process's peak memory grows by under 256 MB over the whole test.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_projects.py"
_spec = importlib.util.spec_from_file_location("fuzz_projects", _SCRIPT)
assert _spec is not None and _spec.loader is not None
fuzz_projects = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_projects"] = fuzz_projects
_spec.loader.exec_module(fuzz_projects)

SEEDS = fuzz_projects.seeds()
_SETTINGS = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
OUTCOMES: dict[str, int] = {}


def _max_rss() -> int:
    if resource is None:
        return 0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def test_the_seeds_load():
    for name, data in SEEDS.items():
        assert fuzz_projects.read_case(data) == ("loaded", ""), name


@settings(max_examples=300, **_SETTINGS)
@given(seed=st.sampled_from(sorted(SEEDS)), data=st.data())
def test_mutated_projects_load_or_are_refused_quickly_with_little_memory(seed, data):
    def choose(lo: int, hi: int) -> int:
        return data.draw(st.integers(lo, hi))

    case, mutations = fuzz_projects.mutate(SEEDS[seed], choose)
    rss = _max_rss()
    outcome, _, seconds, peak = fuzz_projects.measured(case)
    OUTCOMES[outcome] = OUTCOMES.get(outcome, 0) + 1
    assert seconds < fuzz_projects.CASE_SECONDS, (mutations, seconds)
    assert peak < fuzz_projects.CASE_PYTHON_BYTES, (mutations, peak)
    assert _max_rss() - rss < 256 * 2**20, mutations


def test_the_fuzzing_reaches_both_outcomes():
    """Runs after the property test (file order): the mutations neither all fail nor all pass."""
    if not OUTCOMES:  # the property test was deselected
        return
    assert OUTCOMES.get("refused", 0) > 100 and OUTCOMES.get("loaded", 0) > 5, OUTCOMES
