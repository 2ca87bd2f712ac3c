"""``kneeview triangulate RECORDING (--detections FILE.npz | --source model) [--out FILE.c3d]``.

Triangulates the hips, knees and ankles seen by the calibrated views of a multi-view
recording into lab-frame 3D and writes them as a Plug-in Gait joint-centre C3D. By default
the C3D goes beside the videos as ``<trial>.c3d``, where ``kneeview info``/``analyse``/the
app find it as the recording's ground truth. The network is loaded only with
``--source model`` (the import of kneeview.pose, hence torch, happens inside the command).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .cli_args import float_between, int_at_least, positive_float, unit_interval
from .errors import KneeViewInputError


def register(subparsers) -> None:
    p = subparsers.add_parser("triangulate", help="3D joint centres from several calibrated views -> a PiG C3D")
    p.add_argument("recording", help="multi-view session folder (or one of its videos)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--detections", help="per-view 2D joints (.npz: keypoints_px [V,T,6,2], confidence [V,T,6], view_names [V])")
    src.add_argument("--source", choices=["model"], help="run the pose network over every view")
    p.add_argument("--checkpoint", help="checkpoint for --source model (default: the bundled model)")
    p.add_argument("--device", default="auto", help="device for --source model (auto, cpu, cuda)")
    p.add_argument("--save-detections", help="also write the network's 2D detections to this .npz")
    p.add_argument("--calibration", help="calibration file instead of the one found")
    p.add_argument("--out", help="C3D to write (default: <videos>/<trial>.c3d)")
    p.add_argument("--force", action="store_true", help="overwrite an existing C3D")
    p.add_argument("--min-views", type=int_at_least(2), default=2, help="views needed for a 3D point (default 2)")
    p.add_argument("--outlier-px", type=positive_float, default=15.0, help="drop a view whose reprojection error is above this (px, default 15)")
    p.add_argument("--min-confidence", type=unit_interval, default=0.0, help="ignore 2D joints below this confidence (default 0)")
    p.add_argument("--fix-left-right", action="store_true",
                   help="per frame, relabel left/right in a view whose legs disagree with the other views (for off-the-shelf 2D detectors)")
    p.add_argument("--hip-width-mm", type=float_between(0, 1000, "mm"),
                   help="move both hips along the hip-hip line to this inter-hip distance (mm), e.g. the subject's Plug-in Gait "
                        "inter-HJC distance; detector hip landmarks are not hip joint centres (docs/real-recording.md)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from .analysis.multiview import (default_output, detections_from_poses, load_detections, save_detections,
                                     triangulate_recording, write_pseudo_labels)
    from .io.recording import open_recording

    rec = open_recording(args.recording, calibration=args.calibration)
    if args.min_views < 2:
        raise KneeViewInputError(None, "--min-views must be at least 2", "--min-views")
    if args.hip_width_mm is not None and not (0 < args.hip_width_mm < 1000):
        raise KneeViewInputError(None, f"--hip-width-mm must be a distance in mm between 0 and 1000, got {args.hip_width_mm:g}",
                                 "--hip-width-mm")
    out = Path(args.out) if args.out else default_output(rec)
    if out.exists() and not args.force:
        raise KneeViewInputError(out, "exists (it may be a real ground truth); pass --force to overwrite or choose --out", "--out")
    if args.detections:
        source = Path(args.detections)
        det = load_detections(source)
    else:
        from .session import Session

        source = None
        session = Session(rec)
        poses = []
        for i, view in enumerate(rec.views):
            print(f"estimating {view.video_path.name}", file=sys.stderr)
            poses.append(session.estimate(i, checkpoint=args.checkpoint, device=args.device).pose)
        det = detections_from_poses(rec, poses)
        if args.save_detections:
            save_detections(args.save_detections, det)
    result = triangulate_recording(rec, det, min_views=args.min_views, outlier_px=args.outlier_px,
                                   min_confidence=args.min_confidence, source=source,
                                   fix_left_right=args.fix_left_right, hip_width_mm=args.hip_width_mm)
    write_pseudo_labels(out, result)
    report = {"recording": str(rec.root), "trial": rec.trial, "out": str(out), **result.summary()}
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def format_report(r: dict) -> str:
    lines = [f"Triangulated {r['trial']}: {r['frames']} frames at {r['rate_hz']:g} Hz from {len(r['views'])} views -> {r['out']}",
             f"  {'joint':6s} {'frames':>6s} {'views':>6s} {'mean px':>8s} {'max px':>8s}"]
    for joint, j in r["joints"].items():
        mean = "-" if j["mean_reprojection_px"] is None else f"{j['mean_reprojection_px']:.2f}"
        worst = "-" if j["max_reprojection_px"] is None else f"{j['max_reprojection_px']:.2f}"
        lines.append(f"  {joint:6s} {j['frames']:6d} {j['mean_views_used']:6.2f} {mean:>8s} {worst:>8s}")
    lines.append("  views: " + ", ".join(f"{name} {v['observations']} seen, {v['rejected_as_outlier']} rejected"
                                          + (f", L/R relabelled in {v['left_right_swapped_frames']} frames"
                                             if "left_right_swapped_frames" in v else "")
                                          for name, v in r["views"].items()))
    seg = r.get("segments_mm", {})
    if seg:
        lines.append("  lengths (mm, mean ± std over frames): " + ", ".join(
            f"{name.replace('_', ' ')} {s['mean']:.0f} ± {s['std']:.1f}" for name, s in seg.items() if s.get("frames")))
    if r.get("hip_width_set_mm") is not None:
        lines.append(f"  hips moved along the hip-hip line to {r['hip_width_set_mm']:g} mm apart (--hip-width-mm)")
    return "\n".join(lines)
