"""Report fixtures: rendered synthetic drop jumps (real Vicon formats), the PDF's text."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Three synthetic drop jumps of one athlete in two years, with C3D ground truth."""
    from kneeview.synth.dataset import write_dataset

    root = tmp_path_factory.mktemp("report-data")
    entries = write_dataset(root, n_trials=3, seed=3, progress=False)
    return root, entries


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KNEEVIEW_CACHE_DIR", str(tmp_path / "user-cache"))
