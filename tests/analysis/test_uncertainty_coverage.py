"""tools/uncertainty_coverage.py on a small synthetic drop jump and squat with a stand-in network that returns the truth."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from sessions import ScriptedEstimator

TOOL = Path(__file__).resolve().parents[2] / "tools" / "uncertainty_coverage.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("uncertainty_coverage", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_coverage_counts_the_stance_leg_and_finds_no_error_in_the_truth(tool, tmp_path, monkeypatch, capsys):
    from kneeview.analysis.frames import mid_hip
    from kneeview.io.recording import find_recordings, open_recording
    from kneeview.synth.dataset import write_dataset

    root = tmp_path / "data"
    write_dataset(root, n_trials=2, seed=4246, task="mix", progress=False)  # a drop jump and a squat
    kp, rel, legs_expected = [], [], 0
    for video in find_recordings(root):
        rec = open_recording(video)
        cam, gt = rec.views[0].camera, rec.ground_truth_frames()
        kp.append(cam.project(gt))
        rel.append(((gt - mid_hip(gt)[:, None]) @ cam.R.T) / 1000.0)
        meta = json.loads(next(Path(video).parent.glob("*.json")).read_text())
        legs_expected += 1 if meta["task"] == "SLS" else 2
    perfect = ScriptedEstimator(np.concatenate(kp), np.concatenate(rel), confidence=1.0)
    monkeypatch.setenv("KNEEVIEW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("kneeview.session.estimates.load_estimator", lambda *a, **k: perfect)
    legs = tool.errors_and_sds([root], n_samples=20)
    assert legs_expected == 3 and len(legs) == 3  # the squat's lifted leg is not counted
    e = np.concatenate([x for x, _ in legs])
    sd = np.concatenate([u for _, u in legs])
    assert e.size > 100 and np.all(sd > 0)
    assert np.median(e) < 3.0  # the truth in, the truth out (to the reconstruction's smoothing)
    assert tool.main([str(root)]) == 0
    assert "|error| <= 1 sd" in capsys.readouterr().out
