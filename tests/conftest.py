"""Test configuration shared by every test.

Qt runs headless; QStandardPaths test mode keeps tests away from a user's files
(set up in the GUI fixtures once the GUI exists).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
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


@pytest.fixture(autouse=True)
def _seed_everything():
    import random

    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
