"""Metrics against hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from trainer.evaluate import OKS_SIGMAS, coco_keypoint_map, compute_metrics, format_tables, mpjpe_mm, pck


def test_pck_by_hand():
    gt = np.zeros((1, 4, 3))
    pred = np.array([[[0.05, 0, 0], [0, 0.2, 0], [0, 0, 0.3], [np.nan, 0, 0]]])
    assert pck(pred, gt, 0.10) == pytest.approx(25.0)
    assert pck(pred, gt, 0.25) == pytest.approx(50.0)
    assert pck(pred, gt, 0.50) == pytest.approx(75.0)  # the NaN joint counts as wrong


def test_mpjpe_by_hand():
    gt = np.zeros((3, 2, 3))
    pred = np.zeros((3, 2, 3))
    pred[0, 0] = [0.03, 0.04, 0.0]  # 50 mm
    pred[1, 1] = [0.0, 0.0, 0.01]  # 10 mm
    pred[2] = np.nan  # no detection: left out of MPJPE
    mean, per_joint = mpjpe_mm(pred, gt)
    assert mean == pytest.approx((50 + 10) / 4)
    assert per_joint.tolist() == pytest.approx([25.0, 5.0])


def _gt(n=4):
    rng = np.random.default_rng(0)
    kp = rng.uniform(100, 300, (n, 6, 2))
    area = np.full(n, 200.0 * 400.0)
    return kp, area


def test_perfect_prediction_has_map_one():
    kp, area = _gt()
    res = coco_keypoint_map(kp, area, kp.copy(), np.full(len(kp), 0.9))
    assert res["map"] == pytest.approx(1.0)


def test_perturbed_prediction_oks_by_hand():
    kp, area = _gt()
    target_oks = 0.72
    # pycocotools: oks = mean_k exp(-d_k^2 / (2 * area * (2 sigma_k)^2)); choose d_k so each term is 0.72
    d = np.sqrt(-np.log(target_oks) * 2 * area[:, None] * (2 * OKS_SIGMAS[None]) ** 2)
    pred = kp.copy()
    pred[..., 0] += d
    res = coco_keypoint_map(kp, area, pred, np.full(len(kp), 0.9))
    # matched at OKS thresholds 0.50..0.70 (5 of 10), missed at 0.75..0.95
    assert res["map"] == pytest.approx(0.5, abs=1e-6)
    assert res["ap50"] == pytest.approx(1.0) and res["ap75"] == pytest.approx(0.0)


def test_no_detection_scores_zero():
    kp, area = _gt()
    res = coco_keypoint_map(kp, area, np.full_like(kp, np.nan), np.full(len(kp), np.nan))
    assert res["map"] == 0.0


def test_compute_metrics_and_tables():
    kp, area = _gt(3)
    gt3 = np.zeros((3, 6, 3))
    pred3 = gt3 + [0.05, 0, 0]
    score = np.array([0.9, 0.8, np.nan])
    pred2 = kp.copy()
    pred2[2] = np.nan
    pred3[2] = np.nan
    m = compute_metrics(kp, gt3, area, pred2, pred3, score)
    assert m["pck@0.10"] == pytest.approx(100 * 2 / 3)
    assert m["mpjpe_mm"] == pytest.approx(50.0)
    assert m["detection_rate"] == pytest.approx(2 / 3)
    assert m["per_joint_2d_error_px"]["RFEP"] == pytest.approx(0.0)
    assert {"pck@0.10", "pck@0.25", "pck@0.50", "map", "mpjpe_mm"} <= set(m)
    text = format_tables([("A", m)])
    assert "Table 1" in text and "Table 2" in text and "PCK@0.10m" in text and "66.7" in text
