"""Evaluation (paper section 5): COCO keypoint mAP for 2D, PCK and MPJPE for 3D.

* 3D: PCK@t is the percentage of joints whose predicted mid-hip-relative camera-frame
  position lies within t metres of the truth, over every evaluated joint; a frame where
  nobody was detected counts all six joints as wrong. MPJPE (mm) and the per-joint errors
  are over the frames with a detection (the detection rate is reported beside them).
* 2D: COCO keypoint AP (pycocotools, averaged over OKS thresholds 0.50:0.95) with COCO's
  OKS sigmas for hips 0.107, knees 0.087 and ankles 0.089. Each frame is an image with one
  person; its area is that of the tight box around all projected body points; the
  prediction is the frame's best detection with its score.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np

from kneeview import joints as J

#: COCO OKS sigmas of the six joints, in KneeView's joint order.
OKS_SIGMAS = np.array([0.107, 0.107, 0.087, 0.087, 0.089, 0.089])
PCK_THRESHOLDS_M = (0.10, 0.25, 0.50)


# ----------------------------------------------------------------------------- metrics
def pck(pred_m: np.ndarray, gt_m: np.ndarray, threshold_m: float) -> float:
    """Percent of joints within ``threshold_m``; NaN predictions count as wrong."""
    err = np.linalg.norm(np.asarray(pred_m, float) - np.asarray(gt_m, float), axis=-1)
    ok = np.where(np.isfinite(err), err <= threshold_m, False)
    return 100.0 * float(ok.mean()) if ok.size else float("nan")


def mpjpe_mm(pred_m: np.ndarray, gt_m: np.ndarray) -> tuple[float, np.ndarray]:
    """(mean per-joint position error, per-joint means) in mm over frames with a prediction."""
    err = np.linalg.norm(np.asarray(pred_m, float) - np.asarray(gt_m, float), axis=-1) * 1000.0
    rows = np.all(np.isfinite(err), axis=-1)
    if not rows.any():
        return float("nan"), np.full(err.shape[-1], np.nan)
    return float(err[rows].mean()), err[rows].mean(axis=0)


def coco_keypoint_map(gt_kp: np.ndarray, gt_area: np.ndarray, pred_kp: np.ndarray, pred_score: np.ndarray,
                      sigmas=OKS_SIGMAS, gt_boxes: np.ndarray | None = None) -> dict:
    """COCO keypoint AP over frames, one ground-truth person and at most one prediction each.

    ``gt_kp``/``pred_kp`` (N, K, 2) pixels; ``pred_score`` (N,), NaN = no detection.
    Returns {"map", "ap50", "ap75"} (fractions in [0, 1]).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    N, K = gt_kp.shape[:2]
    images, anns, dets = [], [], []
    for i in range(N):
        images.append({"id": i + 1, "width": 10000, "height": 10000})
        kp = np.concatenate([gt_kp[i], np.full((K, 1), 2.0)], axis=1)
        if gt_boxes is not None:
            x0, y0, x1, y1 = gt_boxes[i]
        else:
            x0, y0 = gt_kp[i].min(axis=0)
            x1, y1 = gt_kp[i].max(axis=0)
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0, "area": float(gt_area[i]),
                     "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                     "keypoints": kp.reshape(-1).tolist(), "num_keypoints": K})
        if np.isfinite(pred_score[i]) and np.all(np.isfinite(pred_kp[i])):
            pk = np.concatenate([pred_kp[i], np.ones((K, 1))], axis=1)
            dets.append({"image_id": i + 1, "category_id": 1, "keypoints": pk.reshape(-1).tolist(), "score": float(pred_score[i])})
    if not dets:
        return {"map": 0.0, "ap50": 0.0, "ap75": 0.0}
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person", "keypoints": list(J.JOINTS)}]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    s = ev.stats
    return {"map": float(max(s[0], 0.0)), "ap50": float(max(s[1], 0.0)), "ap75": float(max(s[2], 0.0))}


def compute_metrics(gt2d, gt3d, area, pred2d, pred3d, score, gt_boxes=None) -> dict:
    """Every figure of the evaluation from stacked arrays (N frames)."""
    detected = np.isfinite(score)
    mp, per_joint = mpjpe_mm(pred3d, gt3d)
    err2d = np.linalg.norm(pred2d - gt2d, axis=-1)
    coco = coco_keypoint_map(gt2d, area, pred2d, score, gt_boxes=gt_boxes)
    out = {f"pck@{t:.2f}": pck(pred3d, gt3d, t) for t in PCK_THRESHOLDS_M}
    out.update({
        "map": coco["map"],
        "ap50": coco["ap50"],
        "ap75": coco["ap75"],
        "mpjpe_mm": mp,
        "frames": int(len(score)),
        "detection_rate": float(detected.mean()) if len(score) else float("nan"),
        "per_joint_mpjpe_mm": {j: float(v) for j, v in zip(J.JOINTS, per_joint)},
        "per_joint_2d_error_px": {j: float(np.nanmean(err2d[detected, k])) if detected.any() else float("nan")
                                  for k, j in enumerate(J.JOINTS)},
        "per_joint_pck@0.10": {j: pck(pred3d[:, k], gt3d[:, k], 0.10) for k, j in enumerate(J.JOINTS)},
    })
    return out


# ----------------------------------------------------------------------------- running a model
def evaluate_checkpoint(checkpoint, data_root, trial_ids=None, frames_per_video: int = 100, stride: int = 3,
                        device: str = "auto", progress: bool = True, batch_size: int | None = None) -> dict:
    """Run a checkpoint (None = the bundled model) over trials; returns {"summary", "card", ...}."""
    from kneeview.pose.estimator import load_estimator

    from .samples import collect_samples

    est = load_estimator(checkpoint, device=device)
    samples = collect_samples(data_root, trial_ids, frames_per_video, stride, progress=False)
    if not samples:
        from kneeview.errors import KneeViewInputError

        raise KneeViewInputError(data_root, "no trials with a calibrated video and a C3D to evaluate")
    batch_size = batch_size or (16 if est.device.type == "cuda" else 1)
    gt2d, gt3d, area, boxes, pred2d, pred3d, score, conf = [], [], [], [], [], [], [], []
    total = sum(len(s) for s in samples)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="evaluating", unit="frame")
    from kneeview.io.video import VideoReader

    for view in samples:
        with VideoReader(view.video_path, cache_mb=16) as reader:
            for start in range(0, len(view), batch_size):
                idx = range(start, min(len(view), start + batch_size))
                frames = [np.asarray(reader[int(view.frame_index[j])]) for j in idx]
                for j, pose in zip(idx, est.predict(frames)):
                    pred2d.append(pose.keypoints_px)
                    pred3d.append(pose.joints_cam_m)
                    score.append(pose.score)
                    conf.append(pose.confidence)
                if bar is not None:
                    bar.update(len(idx))
        gt2d.append(view.keypoints_px)
        gt3d.append(view.joints_cam_m)
        tb = view.tight_box_px
        boxes.append(tb)
        area.append((tb[:, 2] - tb[:, 0]) * (tb[:, 3] - tb[:, 1]))
    if bar is not None:
        bar.close()
    arrays = [np.concatenate(a) for a in (gt2d, gt3d, area, boxes)]
    metrics = compute_metrics(arrays[0], arrays[1], arrays[2], np.asarray(pred2d), np.asarray(pred3d), np.asarray(score),
                              gt_boxes=arrays[3])
    metrics["trials"] = len({s.trial_id for s in samples})
    metrics["views"] = len(samples)
    metrics["frames_per_video"] = frames_per_video
    metrics["stride"] = stride
    card = {k: v for k, v in est.card.items() if not k.startswith("_")}
    return {"summary": metrics, "framework": est.config.framework, "checkpoint": str(est.card.get("_weights_path")),
            "card_training": card.get("training", {})}


# ----------------------------------------------------------------------------- tables
def format_tables(rows: list[tuple[str, dict]]) -> str:
    """The paper's Table 1 (PCK) and Table 2 (mAP) for (framework, metrics) rows."""
    from kneeview.pose.model import FRAMEWORKS

    def name(fw: str) -> str:
        return FRAMEWORKS.get(fw, fw)

    width = max([len("Framework")] + [len(name(fw)) for fw, _ in rows])
    lines = ["Table 1: Results for 3D evaluation using Percentage of Correct Keypoint (PCK) accuracy", ""]
    head = f"| {'Framework':<{width}} | PCK@0.10m | PCK@0.25m | PCK@0.50m | MPJPE (mm) |"
    lines += [head, "|" + "-" * (width + 2) + "|-----------|-----------|-----------|------------|"]
    for fw, m in rows:
        lines.append(f"| {name(fw):<{width}} | {m['pck@0.10']:9.1f} | {m['pck@0.25']:9.1f} | {m['pck@0.50']:9.1f} | {m['mpjpe_mm']:10.1f} |")
    lines += ["", "Table 2: Results for 2D evaluation using Mean Average Precision (mAP)", ""]
    lines += [f"| {'Framework':<{width}} |  mAP |", "|" + "-" * (width + 2) + "|------|"]
    for fw, m in rows:
        lines.append(f"| {name(fw):<{width}} | {100 * m['map']:4.1f} |")
    for fw, m in rows:
        lines += ["", f"Per joint ({fw}): " + ", ".join(
            f"{j} {m['per_joint_mpjpe_mm'][j]:.0f} mm / {m['per_joint_2d_error_px'][j]:.1f} px" for j in J.JOINTS),
            f"frames {m['frames']}, detection rate {100 * m['detection_rate']:.1f}%, AP50 {100 * m['ap50']:.1f}, AP75 {100 * m['ap75']:.1f}"]
    return "\n".join(lines)


def write_json(result: dict, path) -> Path:
    from kneeview.atomic import atomic_write_text

    def clean(v):
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return atomic_write_text(Path(path), json.dumps(clean(result), indent=2) + "\n")
