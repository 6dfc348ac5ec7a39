"""Test configuration shared by every test.

Qt runs headless; QStandardPaths test mode keeps tests away from a user's files
(set up in the GUI fixtures once the GUI exists).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Each test process has a home of its own: Qt's test-mode settings live in ~/.qttest, and two processes of
# one run (pytest-xdist) writing the same settings file would see each other's recent files and layouts.
_HOME = tempfile.mkdtemp(prefix="cnnp-test-home-")
os.environ["HOME"] = _HOME
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
# Keep torch from using both CI cores per op in every test process; tests are small.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The real datasets (MNIST, Fashion-MNIST in torchvision's layout), shared beside the repo.
SHARED_DATASETS = Path(os.environ.get("CNNP_SHARED_DATASETS", REPO_ROOT.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not (SHARED_DATASETS / "MNIST" / "raw").is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATASETS} (set CNNP_SHARED_DATASETS)")
    return SHARED_DATASETS


@pytest.fixture(autouse=True, scope="session")
def _image_cache_outside_home(tmp_path_factory):
    """Image folders streamed from disk (``data/stream.py``) cache their images here, not in ~/.cache."""
    os.environ.setdefault("CNNPLAYGROUND_CACHE", str(tmp_path_factory.mktemp("image-cache")))


_TESTS_RUN = [0]


@pytest.fixture(autouse=True)
def _collect_garbage_between_tests():
    """Python's cycle collector runs at whatever allocation crosses its threshold: inside a GUI test's event
    loop it destroyed Qt objects left over from earlier tests (panels, plots, dialogs a test dropped), and a
    tree torn down there crashed the process now and then (CI: twice in the experiments dialog's tests, never
    the same test). During a test it is off; between tests the young garbage is collected (and all of it every
    25 tests), where no event loop runs."""
    import gc

    from helpers import delete_what_was_closed

    gc.disable()
    yield
    delete_what_was_closed()
    _TESTS_RUN[0] += 1
    gc.collect(2 if _TESTS_RUN[0] % 25 == 0 else 1)
    gc.enable()


@pytest.fixture(autouse=True)
def _seed_everything():
    import random

    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
