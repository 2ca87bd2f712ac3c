"""The shipped model (resources/model) against the demo's C3D gold standard.

The demo recording was rendered with a seed the training set never used; its ground truth
comes from the C3D through the calibration, independently of the network. The bounds are
loose enough for CPU/GPU numeric differences and tight enough that an untrained or
mis-wired model (wrong pixel convention, left/right swapped, 3D in the wrong frame) fails.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from kneeview import joints as J
from kneeview.bundled import demo_path, model_path
from kneeview.io.recording import open_recording

torch = pytest.importorskip("torch")

FRAMES = (5, 30, 52, 90, 150)  # standing, drop, deepest (peak valgus), jump, second landing


@pytest.fixture(scope="module")
def estimator():
    from kneeview.pose import load_estimator

    return load_estimator(device="cpu")


@pytest.fixture(scope="module")
def demo():
    rec = open_recording(demo_path())
    reader = rec.view.open_video()
    gt = rec.ground_truth_frames()
    return rec, reader, gt


def test_bundled_model_card_matches_what_ships():
    folder = model_path()
    cards = list(folder.glob("*.json"))
    weights = list(folder.glob("*.safetensors"))
    assert len(cards) == 1 and len(weights) == 1
    card = json.loads(cards[0].read_text())
    assert card["framework"] == "A"
    assert card["joints"] == list(J.JOINTS)
    assert weights[0].stat().st_size < 25 * 2**20
    ev = card["evaluation"]
    for key in ("pck@0.10", "pck@0.25", "pck@0.50", "map", "mpjpe_mm"):
        assert np.isfinite(ev[key]), key


def test_bundled_model_finds_the_demo_athlete_in_2d_and_3d(estimator, demo):
    rec, reader, gt_lab_mm = demo
    cam = rec.view.camera
    frames = [np.asarray(reader[i]) for i in FRAMES]
    poses = estimator.predict(frames)
    for i, pose in zip(FRAMES, poses):
        assert pose.score > 0.5, f"frame {i}: no confident detection"
        truth_px = cam.project(gt_lab_mm[i])
        err_px = np.linalg.norm(pose.keypoints_px - truth_px, axis=1)
        assert np.median(err_px) < 4.0, f"frame {i}: 2D errors {np.round(err_px, 1)} px"
        truth_cam = cam.world_to_camera(gt_lab_mm[i]) / 1000.0
        truth_rel = truth_cam - truth_cam[:2].mean(axis=0)
        err_m = np.linalg.norm(pose.joints_cam_m - truth_rel, axis=1)
        assert np.mean(err_m) < 0.12, f"frame {i}: 3D errors {np.round(err_m * 1000)} mm"
        # left and right are not swapped: each hip is nearer its own truth than the other
        assert err_px[0] < np.linalg.norm(pose.keypoints_px[0] - truth_px[1])
        assert err_px[1] < np.linalg.norm(pose.keypoints_px[1] - truth_px[0])


def test_the_shipped_refiner_sharpens_the_demo_keypoints(estimator, demo):
    """The shipped checkpoint carries the native-resolution refiner, and on the demo (a seed neither the
    network nor the refiner trained on) its keypoints are much nearer the C3D's than the network's own
    (the same detections, read without and with the frame's pixels)."""
    rec, reader, gt_lab_mm = demo
    assert estimator.model.refiner is not None
    cam = rec.view.camera
    own, refined = [], []
    for i in FRAMES:
        frame = np.asarray(reader[i])
        truth_px = cam.project(gt_lab_mm[i])
        (network, h_own), (best, h_refined) = estimator.predict_best(frame, refine=False), estimator.predict_best(frame)
        assert h_own == h_refined > 0 and network.score == best.score  # the same detection, read twice
        own.append(np.linalg.norm(network.keypoints_px - truth_px, axis=1))
        refined.append(np.linalg.norm(best.keypoints_px - truth_px, axis=1))
    own, refined = np.median(own), np.median(refined)
    assert refined < 3.0 and refined < 0.6 * own, (own, refined)
