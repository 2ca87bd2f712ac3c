"""Body points beyond the six joints (head, shoulders, hands, feet): detections file -> triangulation -> C3D extras."""
from __future__ import annotations

import numpy as np
import pytest
from sessions import make_qualisys_session, standing_joints
from test_blazepose_tool import tool  # noqa: F401  (the tool module, loaded from tools/)

from kneeview.analysis.multiview import load_detections, triangulate_recording, write_pseudo_labels
from kneeview.errors import KneeViewInputError
from kneeview.io.c3d import read_points
from kneeview.io.recording import open_recording

def test_body_points_from_landmarks(tool):
    lm = np.arange(33 * 2, dtype=float).reshape(33, 2)
    vis = np.linspace(0.0, 1.0, 33)
    pts, conf = tool.landmarks_to_body_points(lm, vis)
    names = list(tool.BODY_POINTS)
    assert pts.shape == (len(names), 2)
    assert np.allclose(pts[names.index("HEAD")], (lm[7] + lm[8]) / 2)  # between the ears
    assert np.allclose(pts[names.index("RSHO")], lm[12]) and np.allclose(pts[names.index("LTOE")], lm[31])
    assert conf[names.index("HEAD")] == pytest.approx(min(vis[7], vis[8]))
    lm[12] = np.nan
    pts, conf = tool.landmarks_to_body_points(lm, vis)
    assert np.isnan(pts[names.index("RSHO")]).all() and conf[names.index("RSHO")] == 0.0


def test_body_points_are_triangulated_into_the_c3d(tool, tmp_path):
    session = make_qualisys_session(tmp_path / "Lab", n_frames=6)
    rec = open_recording(session)
    T = 6
    joints = standing_joints(T, sway_mm=25.0)
    head = joints[:, :2].mean(axis=1) + [0.0, 0.0, 700.0]
    rsho = joints[:, 0] + [-60.0, 0.0, 500.0]
    lsho = joints[:, 1] + [60.0, 0.0, 500.0]
    body_lab = {"HEAD": head, "RSHO": rsho, "LSHO": lsho}
    names = ["cam01", "cam02", "cam03", "cam04"]
    kp = np.stack([v.camera.project(joints) for v in rec.views])
    body = np.stack([np.stack([v.camera.project(p) for p in body_lab.values()], axis=-2) for v in rec.views])  # (V, T, 3, 2)
    # cam02 mirrors left and right in every frame, legs and body alike
    flip = [1, 0, 3, 2, 5, 4]
    kp[1] = kp[1][:, flip]
    body[1] = body[1][:, [0, 2, 1]]
    path = tmp_path / "det.npz"
    np.savez(path, keypoints_px=kp, confidence=np.ones(kp.shape[:3]), view_names=np.array(names),
             body_point_names=np.array(list(body_lab)), body_points_px=body, body_points_confidence=np.ones(body.shape[:3]))
    det = load_detections(path)
    assert det.body_point_names == ("HEAD", "RSHO", "LSHO")
    res = triangulate_recording(rec, det, fix_left_right=True)
    assert res.swapped_left_right[1].all() and not res.swapped_left_right[[0, 2, 3]].any()
    for name, truth in body_lab.items():
        assert np.abs(res.body_points_lab_mm[name] - truth).max() < 1e-3, name
    out = write_pseudo_labels(tmp_path / "labels.c3d", res)
    data = read_points(out)
    labels = list(data.labels)
    for name, truth in body_lab.items():
        assert np.abs(data.points[:, labels.index(name)] - truth).max() < 0.01
    assert np.abs(data.points[:, labels.index("RFEP")] - joints[:, 0]).max() < 0.01


def test_inconsistent_body_points_are_refused(tmp_path):
    kp = np.zeros((2, 3, 6, 2))
    path = tmp_path / "bad.npz"
    np.savez(path, keypoints_px=kp, confidence=np.ones((2, 3, 6)), view_names=np.array(["a", "b"]),
             body_point_names=np.array(["HEAD"]), body_points_px=np.zeros((2, 3, 2, 2)),
             body_points_confidence=np.ones((2, 3, 1)))
    with pytest.raises(KneeViewInputError, match="body_points_px"):
        load_detections(path)
