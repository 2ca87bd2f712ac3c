"""Optional triangulation steps for off-the-shelf detections: left/right relabelling, hip width."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sessions import make_qualisys_session, standing_joints

from kneeview import joints as J
from kneeview.analysis.multiview import (Detections, resolve_left_right, save_detections, segment_lengths_mm, set_hip_width,
                                         triangulate_recording)
from kneeview.cli import main
from kneeview.io.c3d import read_ground_truth
from kneeview.io.recording import open_recording

T = 10


@pytest.fixture
def session(tmp_path):
    return make_qualisys_session(tmp_path / "Lab")


def truth():
    j = standing_joints(T, sway_mm=30.0)
    j[:, :, 1] += np.linspace(0, 200, T)[:, None]
    return j


def detections(rec, joints):
    kp = np.stack([v.camera.project(joints) for v in rec.views])
    conf = np.full(kp.shape[:3], 0.9)
    conf[..., 1] = 0.7  # distinguishable left/right confidences travel with their joints
    return Detections(kp, conf, tuple(v.device_id for v in rec.views), 60.0)


def mirrored(det, view, frames):
    kp, conf = det.keypoints_px.copy(), det.confidence.copy()
    flip = list(J.FLIP_INDEX)
    kp[view, frames] = kp[view, frames][:, flip]
    conf[view, frames] = conf[view, frames][:, flip]
    return Detections(kp, conf, det.view_names, det.fps)


def test_a_view_that_mirrors_left_and_right_is_relabelled(session):
    rec = open_recording(session)
    det = detections(rec, truth())
    bad = mirrored(det, 1, slice(3, 7))
    cams = [v.camera for v in rec.views]
    kp, conf, swapped = resolve_left_right(cams, bad.keypoints_px, bad.confidence)
    assert swapped.shape == (4, T)
    assert swapped[1, 3:7].all() and swapped.sum() == 4
    np.testing.assert_allclose(kp, det.keypoints_px)
    np.testing.assert_allclose(conf, det.confidence)
    res = triangulate_recording(rec, bad, fix_left_right=True)
    assert np.abs(res.joints_lab_mm - truth()).max() < 1e-3
    assert res.summary()["views"]["cam02"]["left_right_swapped_frames"] == 4
    assert res.summary()["views"]["cam01"]["left_right_swapped_frames"] == 0


def test_the_majority_keeps_its_labels(session):
    # view 0 is the odd one out: the fix relabels view 0, not the three others
    rec = open_recording(session)
    det = detections(rec, truth())
    bad = mirrored(det, 0, slice(None))
    kp, _, swapped = resolve_left_right([v.camera for v in rec.views], bad.keypoints_px, bad.confidence)
    assert swapped[0].all() and not swapped[1:].any()
    np.testing.assert_allclose(kp, det.keypoints_px)


def test_consistent_labels_are_left_alone(session):
    rec = open_recording(session)
    det = detections(rec, truth())
    kp, conf, swapped = resolve_left_right([v.camera for v in rec.views], det.keypoints_px, det.confidence)
    assert not swapped.any()
    np.testing.assert_array_equal(kp, det.keypoints_px)
    assert "left_right_swapped_frames" not in triangulate_recording(rec, det).summary()["views"]["cam01"]


def test_set_hip_width_analytically():
    j = np.zeros((2, 6, 3))
    j[0, 0], j[0, 1] = [100.0, 0.0, 900.0], [-140.0, 0.0, 900.0]  # 240 mm apart along x, midpoint (-20, 0, 900)
    j[0, 2:] = np.arange(12.0).reshape(4, 3)
    j[1] = j[0]
    j[1, 1] = [100.0, 240.0, 900.0 + 70.0]  # oblique: 250 mm apart
    out = set_hip_width(j, 180.0)
    np.testing.assert_allclose(out[0, 0], [70.0, 0.0, 900.0])  # each hip moves 30 mm towards the other
    np.testing.assert_allclose(out[0, 1], [-110.0, 0.0, 900.0])
    d = np.linalg.norm(out[:, 1] - out[:, 0], axis=-1)
    np.testing.assert_allclose(d, 180.0)
    np.testing.assert_allclose(out[:, :2].mean(1), j[:, :2].mean(1))  # midpoint kept
    u_in = (j[1, 1] - j[1, 0]) / np.linalg.norm(j[1, 1] - j[1, 0])
    np.testing.assert_allclose((out[1, 1] - out[1, 0]) / 180.0, u_in)  # direction kept
    np.testing.assert_array_equal(out[:, 2:], j[:, 2:])  # knees and ankles untouched
    np.testing.assert_allclose(segment_lengths_mm(out)["hip_width"], 180.0)


def test_set_hip_width_keeps_missing_frames_and_rejects_nonsense():
    j = np.full((1, 6, 3), np.nan)
    j[0, 0] = [0.0, 0.0, 0.0]
    np.testing.assert_array_equal(np.isnan(set_hip_width(j, 200.0)), np.isnan(j))
    with pytest.raises(ValueError):
        set_hip_width(np.zeros((1, 6, 3)), 0.0)


def test_cli_flags(session, tmp_path, capsys):
    rec = open_recording(session)
    bad = mirrored(detections(rec, truth()), 2, slice(0, 5))
    npz = save_detections(tmp_path / "det.npz", bad)
    out = tmp_path / "pl.c3d"
    assert main(["triangulate", str(session), "--detections", str(npz), "--out", str(out), "--fix-left-right",
                 "--hip-width-mm", "175", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["views"]["cam03"]["left_right_swapped_frames"] == 5
    assert report["hip_width_set_mm"] == 175.0
    assert report["segments_mm"]["hip_width"]["mean"] == pytest.approx(175.0)
    gt = read_ground_truth(out)
    np.testing.assert_allclose(np.linalg.norm(gt.joints_lab_mm[:, 1] - gt.joints_lab_mm[:, 0], axis=-1), 175.0, atol=1e-3)
    np.testing.assert_allclose(gt.joints_lab_mm[:, 2:], truth()[:, 2:], atol=1e-3)
    assert main(["triangulate", str(session), "--detections", str(npz), "--out", str(out), "--force"]) == 0
    text = capsys.readouterr().out
    assert "lengths (mm" in text and "relabelled" not in text
