"""The app as a clinician starts it: the bundled demo, the bundled (trained) model, the CPU.

Nothing is faked: the default estimator factory loads resources/model, the worker runs it
over all 200 frames of the demo video, and the overlay, the error against the C3D and the
knee metrics come out of the real pipeline. The expectations are independent of the
network: the C3D ground truth projected through the calibration, and the demo's requested
valgus (right knee 70 mm medial at the deepest point, left knee about straight).
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")


def test_bundled_model_runs_on_the_demo_in_the_app(make_window, wait_done, qtbot):
    from kneeview.bundled import demo_path

    win = make_window(device="cpu")  # no estimator given: the bundled model through load_estimator
    win.open_path(demo_path())
    wait_done(win, timeout=300000)
    assert "cpu" in win.model_label.text()
    pose = win.state.pose
    assert pose.keypoints_px.shape[0] == 200
    assert np.isfinite(pose.score).mean() > 0.99

    # the overlay shows the model's joints; they lie on the athlete (the projected C3D)
    win.state.set_frame(52)  # deepest point of the landing
    qtbot.waitUntil(lambda: win.video.drawn_joints() is not None and len(win.video.drawn_joints()) == 6, timeout=5000)
    drawn = win.video.drawn_joints()
    for j, xy in drawn.items():
        assert xy == pytest.approx(tuple(pose.keypoints_px[52, j]), abs=1e-6)
    errors = np.concatenate([win.video.frame_error_px(i) for i in range(0, 200, 10)])
    assert np.nanmedian(errors) < 8.0, np.round(errors, 1)

    # the model's MKD shows the demo's right-knee valgus, not the left
    qtbot.waitUntil(lambda: win.state.metrics is not None and win.state.metrics.source == "model", timeout=30000)
    metrics = win.state.metrics
    mkd = metrics.series["MKD (mm)"]
    frames = slice(40, 66)  # initial contact .. take-off
    assert np.nanmax(mkd["right"][frames]) > 35.0
    assert np.nanmax(mkd["right"][frames]) > np.nanmax(mkd["left"][frames]) + 25.0
