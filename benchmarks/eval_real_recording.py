"""A model on a real lab recording, against multi-view pseudo-labels, beside BlazePose.

The recording is Pose2Sim's Demo_SinglePerson (four calibrated views of a real person);
its "ground truth" is the BlazePose pseudo-label C3D that ``docs/real-recording.md``
describes (triangulated from all four views). Per view, in one run:

* the model (the bundled one, or ``--checkpoint``): detection rate, 2D error of the hips,
  knees and ankles in raw pixels and as a fraction of the projected thigh length, 3D
  PCK@0.10 m and MPJPE (hip-centred, camera frame), and the RMS difference of its MKD
  curves from the pseudo-labels' MKD;
* BlazePose alone (its monocular 2D from the detections file) on the same frames.

BlazePose's figures are optimistic: the labels were triangulated from its own detections
(each view contributes to its own label). Run::

    .venv/bin/python benchmarks/eval_real_recording.py [--session DIR] [--checkpoint CKPT] [--json OUT]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _fetch_demo() -> Path:
    spec = importlib.util.spec_from_file_location("fetch_pose2sim_demo", ROOT / "tools" / "fetch_pose2sim_demo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.fetch_demo()


def _mkd_rms(rec, seq, camera, fps, gt_analysis):
    from kneeview.analysis import analyse
    from kneeview.analysis.sources import from_pose_sequence

    try:
        inputs = from_pose_sequence(seq, camera, fps)
        model = analyse(inputs.joints_lab_mm, inputs.rate_hz, inputs.keypoints_px, cutoff_hz=6.0,
                        frame_index=inputs.frame_index)
    except Exception as exc:  # report, do not stop the other views
        return {"error": str(exc)}
    out = {}
    for side in ("left", "right"):
        a = np.asarray(model.metrics[f"mkd_{side}_mm"], float)
        b = np.asarray(gt_analysis.metrics[f"mkd_{side}_mm"], float)
        ok = np.isfinite(a) & np.isfinite(b)
        out[f"mkd_{side}_rms_mm"] = float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2))) if ok.any() else float("nan")
    return out


def evaluate(session: Path, checkpoint=None, detections=None) -> dict:
    from kneeview.analysis import analyse
    from kneeview.analysis.multiview import load_detections
    from kneeview.analysis.sources import from_ground_truth
    from kneeview.io.recording import open_recording
    from kneeview.pose import load_estimator

    rec = open_recording(session)
    gt = rec.ground_truth_frames()
    if gt is None:
        raise SystemExit(f"{session}: no pseudo-label C3D; make it first (docs/real-recording.md, 'Pipeline')")
    det = load_detections(detections or session / "blazepose.npz")
    names = list(det.view_names)
    est = load_estimator(checkpoint, device="cpu")
    gt_inputs = from_ground_truth(rec)
    gt_analysis = analyse(gt_inputs.joints_lab_mm, gt_inputs.rate_hz, gt_inputs.keypoints_px, cutoff_hz=6.0,
                          frame_index=gt_inputs.frame_index)
    result = {"session": str(session), "model": est.info.get("name", str(checkpoint)), "views": {}}
    for view in rec.views:
        cam = view.camera
        reader = view.open_video()
        seq = est.run(reader)
        T = min(len(seq.score), gt.shape[0])
        truth_px = np.stack([cam.project(gt[t]) for t in range(T)])  # (T, 6, 2)
        thigh_px = np.nanmean(np.linalg.norm(truth_px[:, 0:2] - truth_px[:, 2:4], axis=-1), axis=1)  # (T,)
        labelled = np.isfinite(truth_px).all(axis=(1, 2))
        detected = np.isfinite(seq.score[:T]) & np.isfinite(seq.keypoints_px[:T]).all(axis=(1, 2))
        err_px = np.linalg.norm(seq.keypoints_px[:T] - truth_px, axis=-1)  # (T, 6)
        rows = labelled & detected
        cam_m = np.stack([cam.world_to_camera(gt[t]) for t in range(T)]) / 1000.0
        truth_rel = cam_m - cam_m[:, :2].mean(axis=1, keepdims=True)
        err_m = np.linalg.norm(seq.joints_cam_m[:T] - truth_rel, axis=-1)
        v = {
            "frames_labelled": int(labelled.sum()),
            "model_detected_pct": 100.0 * float(detected[labelled].mean()) if labelled.any() else float("nan"),
            "model_2d_median_px": float(np.nanmedian(err_px[rows])) if rows.any() else float("nan"),
            "model_2d_median_thigh_frac": float(np.nanmedian((err_px / thigh_px[:, None])[rows])) if rows.any() else float("nan"),
            "model_pck@0.10": 100.0 * float(np.mean(err_m[rows] < 0.10)) if rows.any() else float("nan"),
            "model_mpjpe_mm": 1000.0 * float(np.nanmean(err_m[rows])) if rows.any() else float("nan"),
        }
        device = cam.device_id
        if device in names or view.video_path.stem in names:
            k = names.index(device) if device in names else names.index(view.video_path.stem)
            bp = det.keypoints_px[k, :T]
            bp_err = np.linalg.norm(bp - truth_px, axis=-1)
            bp_rows = labelled & np.isfinite(bp).all(axis=(1, 2))
            v["blazepose_detected_pct"] = 100.0 * float(bp_rows.sum() / max(labelled.sum(), 1))
            v["blazepose_2d_median_px"] = float(np.nanmedian(bp_err[bp_rows])) if bp_rows.any() else float("nan")
            v["blazepose_2d_median_thigh_frac"] = (float(np.nanmedian((bp_err / thigh_px[:, None])[bp_rows]))
                                                   if bp_rows.any() else float("nan"))
        v.update(_mkd_rms(rec, seq, cam, reader.fps, gt_analysis))
        result["views"][device] = v
    return result


def print_table(result: dict) -> None:
    print(f"{result['session']}\nmodel: {result['model']}")
    head = f"{'view':8} {'det %':>6} {'2D px':>7} {'/thigh':>7} {'PCK.10':>7} {'MPJPE':>7} {'MKD rms L/R':>13} | {'BP det %':>8} {'BP px':>7} {'BP /thigh':>9}"
    print(head)
    for name, v in result["views"].items():
        mkd = f"{v.get('mkd_left_rms_mm', float('nan')):5.0f}/{v.get('mkd_right_rms_mm', float('nan')):<5.0f}"
        print(f"{name:8} {v['model_detected_pct']:6.1f} {v['model_2d_median_px']:7.1f} {v['model_2d_median_thigh_frac']:7.2f} "
              f"{v['model_pck@0.10']:7.1f} {v['model_mpjpe_mm']:7.0f} {mkd:>13} | {v.get('blazepose_detected_pct', float('nan')):8.1f} "
              f"{v.get('blazepose_2d_median_px', float('nan')):7.1f} {v.get('blazepose_2d_median_thigh_frac', float('nan')):9.2f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--session", type=Path, help="session folder (default: Pose2Sim's demo, fetched into the cache)")
    p.add_argument("--checkpoint", help="model to evaluate (default: the bundled one)")
    p.add_argument("--detections", type=Path, help="BlazePose detections npz (default: SESSION/blazepose.npz)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    session = args.session or _fetch_demo()
    result = evaluate(session, args.checkpoint, args.detections)
    print_table(result)
    if args.json:
        from kneeview.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
