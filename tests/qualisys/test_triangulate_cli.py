"""`kneeview triangulate`: synthetic multi-view detections with known 3D -> C3D read back by the loader."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sessions import make_qualisys_session, standing_joints

from kneeview.analysis.multiview import Detections, load_detections, save_detections, triangulate_recording
from kneeview.cli import main
from kneeview.io.c3d import read_ground_truth
from kneeview.io.recording import open_recording

T = 12


@pytest.fixture
def session(tmp_path):
    return make_qualisys_session(tmp_path / "Lab")


def truth():
    j = standing_joints(T, sway_mm=40.0)
    j[:, :, 1] += np.linspace(0, 300, T)[:, None]  # walks along the force plate
    return j


def detections(rec, joints, noise_px=0.0, seed=0):
    rng = np.random.default_rng(seed)
    kp = np.stack([v.camera.project(joints) for v in rec.views])  # (V, T, 6, 2) raw, distorted
    kp = kp + rng.normal(0.0, noise_px, kp.shape) if noise_px else kp
    conf = np.full(kp.shape[:3], 0.9)
    return Detections(kp, conf, tuple(v.device_id for v in rec.views), 60.0)


def test_exact_detections_triangulate_sub_millimetre(session):
    rec = open_recording(session)
    res = triangulate_recording(rec, detections(rec, truth()))
    err = np.linalg.norm(res.joints_lab_mm - truth(), axis=-1)
    assert err.max() < 1e-3  # mm
    s = res.summary()
    assert all(j["frames"] == T and j["mean_views_used"] == 4 and j["mean_reprojection_px"] < 1e-3 for j in s["joints"].values())


def test_noisy_detections_stay_within_a_few_millimetres(session):
    rec = open_recording(session)
    res = triangulate_recording(rec, detections(rec, truth(), noise_px=0.5, seed=1))
    err = np.linalg.norm(res.joints_lab_mm - truth(), axis=-1)
    assert np.median(err) < 2.0 and err.max() < 6.0
    assert 0.2 < res.summary()["joints"]["RFEO"]["mean_reprojection_px"] < 1.0


def test_an_outlier_view_is_rejected_and_flagged(session):
    rec = open_recording(session)
    det = detections(rec, truth())
    kp = det.keypoints_px.copy()
    kp[2, 3:9] += np.array([80.0, -50.0])  # cam03 latched onto something else for 6 frames
    res = triangulate_recording(rec, Detections(kp, det.confidence, det.view_names, 60.0))
    err = np.linalg.norm(res.joints_lab_mm - truth(), axis=-1)
    assert err.max() < 1e-3
    assert not res.used[2, 3:9].any() and res.used[[0, 1, 3], 3:9].all() and res.used[2, :3].all()
    s = res.summary()
    assert s["views"]["cam03"]["rejected_as_outlier"] == 6 * 6
    assert s["views"]["cam01"]["rejected_as_outlier"] == 0
    assert s["joints"]["LTIO"]["mean_views_used"] == pytest.approx((6 * 3 + 6 * 4) / 12)


def test_cli_writes_a_c3d_the_loader_and_the_recording_read(session, tmp_path, capsys):
    rec = open_recording(session)
    det = detections(rec, truth())
    kp = det.keypoints_px.copy()
    conf = det.confidence.copy()
    conf[1:, 5, 0] = 0.0  # frame 5: RFEP seen by cam01 only -> a gap
    # a file whose views come in another order than the recording's
    path = save_detections(tmp_path / "det.npz", Detections(kp[::-1], conf[::-1], det.view_names[::-1], 60.0))
    assert main(["triangulate", str(session), "--detections", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    out = session / "videos" / "Lab.c3d"
    assert report["out"] == str(out) and report["joints"]["RFEP"]["frames"] == T - 1
    gt = read_ground_truth(out)
    assert gt.rate_hz == 60.0 and gt.n_frames == T and gt.missing == []
    expected = truth()
    expected[5, 0] = np.nan
    np.testing.assert_allclose(gt.joints_lab_mm, expected, atol=1e-3)
    assert gt.gaps()["RFEP"] == {"missing_samples": 1, "gaps": 1}
    # the recording now has its pseudo-labels as ground truth; `kneeview info` shows them
    again = open_recording(session)
    assert again.c3d_path == out and again.ground_truth().n_frames == T
    assert main(["info", str(session)]) == 0
    assert f"Ground truth {out}" in capsys.readouterr().out
    # a second run does not overwrite without --force
    assert main(["triangulate", str(session), "--detections", str(path)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert main(["triangulate", str(session), "--detections", str(path), "--force"]) == 0
    text = capsys.readouterr().out
    assert "Triangulated Lab: 12 frames at 60 Hz from 4 views" in text and "RFEP" in text


def test_npz_round_trip_and_bad_files(session, tmp_path, capsys):
    rec = open_recording(session)
    det = detections(rec, truth())
    back = load_detections(save_detections(tmp_path / "d.npz", det))
    np.testing.assert_array_equal(back.keypoints_px, det.keypoints_px)
    assert back.view_names == det.view_names and back.fps == 60.0
    bad = tmp_path / "bad.npz"
    np.savez(bad, keypoints_px=det.keypoints_px[..., :1], confidence=det.confidence, view_names=np.array(det.view_names))
    assert main(["triangulate", str(session), "--detections", str(bad)]) == 2
    assert "keypoints_px has shape" in capsys.readouterr().err
    np.savez(bad, keypoints_px=det.keypoints_px, confidence=det.confidence)
    assert main(["triangulate", str(session), "--detections", str(bad)]) == 2
    assert "no 'view_names' array" in capsys.readouterr().err
    np.savez(bad, keypoints_px=det.keypoints_px, confidence=det.confidence, view_names=np.array(["cam01", "cam02", "cam03", "side"]))
    assert main(["triangulate", str(session), "--detections", str(bad)]) == 2
    assert "view 'side' of the detections" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert main(["triangulate", str(session), "--detections", str(tmp_path / "junk.npz")]) == 2
    assert "cannot read detections" in capsys.readouterr().err
    np.savez(bad, keypoints_px=np.array([object()] * 4, dtype=object), confidence=det.confidence, view_names=np.array(det.view_names))
    assert main(["triangulate", str(session), "--detections", str(bad)]) == 2  # pickles are refused
    assert "cannot read detections" in capsys.readouterr().err


def test_model_source_runs_the_estimator_on_every_view(session, monkeypatch, capsys):
    """--source model: each view's video goes through the estimator, in view order, loaded once
    (a scripted estimator here, no torch)."""
    from sessions import ScriptedEstimator

    rec = open_recording(session)
    known = truth()[:2]
    answers = np.concatenate([v.camera.project(known) for v in rec.views])  # 2 frames a view
    loads = []

    def load(*a, **k):
        loads.append(a)
        return ScriptedEstimator(answers, confidence=0.8)

    monkeypatch.setattr("kneeview.session.estimates.load_estimator", load)
    out = session / "model.c3d"
    assert main(["triangulate", str(session), "--source", "model", "--out", str(out), "--save-detections", str(session / "det.npz")]) == 0
    np.testing.assert_allclose(read_ground_truth(out).joints_lab_mm, known, atol=1e-3)
    assert load_detections(session / "det.npz").view_names == ("cam01", "cam02", "cam03", "cam04")
    assert len(loads) == 1


def test_existing_analysis_runs_on_the_pseudo_labels(session, tmp_path, capsys):
    """The triangulated C3D is the recording's ground truth: `kneeview export --source gt` works unchanged."""
    import pandas as pd

    rec = open_recording(session)
    joints = truth()
    T_video = 2  # the fixture's videos have 2 frames
    path = save_detections(tmp_path / "det.npz", detections(rec, joints))
    assert main(["triangulate", str(session), "--detections", str(path)]) == 0
    capsys.readouterr()
    code = main(["export", str(session), "--source", "gt", "--out", str(tmp_path / "export"), "--task", "sls", "--cutoff", "0"])
    err = capsys.readouterr().err
    assert code == 0, err
    csvs = sorted((tmp_path / "export").rglob("*.csv"))
    assert csvs
    table = pd.read_csv(csvs[0])
    assert len(table) >= T_video
