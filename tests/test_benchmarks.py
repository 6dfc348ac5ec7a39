"""The benchmark suite runs end to end with one command (``benchmarks/run_all.py --tiny``).

A smoke test: every benchmark runs at a tiny size in a subprocess and the table comes out.
No figure is checked (they come from a few batches on a shared machine). About 30 s on two
cores; the bound below leaves room for a busy machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"  # where the benchmarks look (no override)

BENCHMARKS = ("trainer", "time to accuracy", "GUI overhead", "inspect", "attacks", "folder stream", "import",
              "epoch slider", "layer health", "feature map")


@pytest.mark.slow
def test_run_all_tiny_runs_every_benchmark_and_prints_one_table():
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "run_all.py"), "--tiny"],
                          capture_output=True, text=True, timeout=180, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| benchmark"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == ["benchmark", "case", "measure", "value",
                                                                        "note"]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines
            if line.startswith("| ") and line != header]
    assert {row[0] for row in rows} == set(BENCHMARKS)
    assert not any("FAILED" in line for line in lines)
    measures = {row[2] for row in rows}
    assert {"images/s: plain / trainer / DataLoader", "training FLOPs/image, trainer FLOP/s",
            "time to target: trainer / plain"} <= measures
    cases = " ".join(row[1] for row in rows)
    for model in ("lenet5", "vgg_small", "resnet20_cifar"):
        assert model in cases
    mnist = [row for row in rows if row[0] == "time to accuracy" and "mnist" in row[1]]
    assert mnist and (mnist[0][3] == "skipped") == (not (SHARED_DATASETS / "MNIST" / "raw").is_dir())


def test_the_project_fuzzer_runs_and_writes_its_counts(tmp_path):
    """``benchmarks/fuzz_projects.py`` for 2 seconds: it tries cases, none crashes, the JSON has the counts."""
    import json

    out = tmp_path / "fuzz.json"
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "fuzz_projects.py"), "--minutes", "0.035",
                           "--out", str(out)], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["cases"] > 10 and result["cases"] == result["refused"] + result["loaded"] + result["crashed"]
    assert result["crashed"] == 0 and result["over_bounds"] == 0
    assert result["max_case_seconds"] < 2 and result["max_case_python_mb"] < 16


def test_fuzz_images_runs_for_the_time_given_and_writes_its_counts(tmp_path):
    """``benchmarks/fuzz_images.py`` for 3 seconds: cases tried, loaded + skipped = tried, no broken promise."""
    out = tmp_path / "fuzz.json"
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "fuzz_images.py"), "--seconds", "3",
                           "--out", str(out)], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["cases"] >= 10 and result["broken_promises"] == 0 and result["failures"] == []
    assert result["loaded"] + result["skipped"] == result["cases"] and result["skipped"] > 0
    assert result["largest_decoded_pixels"] <= result["pixel_budget"]
    assert set(result["by_format"]) == {"PNG", "JPEG", "GIF", "TIFF", "BMP"}
    assert result["slowest_case"]["seconds"] > 0 and result["largest_peak_memory_growth"]["grown_bytes"] >= 0
