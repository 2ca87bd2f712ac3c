"""``kneeview-train evaluate-people``: how close the model's hips, knees and ankles come to BlazePose's on
real people, in any video BlazePose labelled (``tools/blazepose_detect.py --people``).

The yardstick for "finds people it has never seen": per labelled person, the median over their joints of
the distance from the model's joint to BlazePose's, in the person's thigh lengths (BlazePose's hip–knee
distance, so the figure does not depend on how far away the person stands). People are the reliable ones
of :func:`trainer.people_labels.reliable_people`; the model's people (every detection of score
``min_score``) are paired with them by the Hungarian method on that median distance, and a labelled person
whose partner is more than ``match_thigh`` thigh lengths away counts as not found.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from kneeview import joints as J

from .people_labels import labelled_video, read_people_labels, reliable_people

MIN_VISIBILITY = 0.5


def thigh_length(keypoints_px: np.ndarray, confidence: np.ndarray, min_visibility: float = MIN_VISIBILITY) -> float:
    """A person's thigh length in pixels: the mean hip–knee distance of the legs whose hip and knee are
    both labelled (NaN when neither is)."""
    out = []
    for side in ("right", "left"):
        h, k, _ = J.LEGS[side]
        if confidence[h] >= min_visibility and confidence[k] >= min_visibility:
            out.append(float(np.linalg.norm(keypoints_px[h] - keypoints_px[k])))
    return float(np.mean(out)) if out else float("nan")


def match_people(labels_px: np.ndarray, label_mask: np.ndarray, thigh_px: np.ndarray, found_px: list,
                 match_thigh: float = 1.0) -> list[int | None]:
    """Pair labelled people (P, 6, 2) with found ones (a list of (6, 2)): for each labelled person the
    index of their partner, or None. Cost: the median over the labelled joints of the distance, in the
    person's thigh lengths; pairs costlier than ``match_thigh`` are not pairs."""
    from scipy.optimize import linear_sum_assignment

    P, D = len(labels_px), len(found_px)
    if P == 0 or D == 0:
        return [None] * P
    cost = np.full((P, D), np.inf)
    for p in range(P):
        m = label_mask[p]
        if not m.any() or not np.isfinite(thigh_px[p]) or thigh_px[p] <= 0:
            continue
        for d in range(D):
            cost[p, d] = np.median(np.linalg.norm(found_px[d][m] - labels_px[p][m], axis=-1)) / thigh_px[p]
    big = 1e6
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, big))
    out: list[int | None] = [None] * P
    for r, c in zip(rows, cols):
        if cost[r, c] <= match_thigh:
            out[r] = int(c)
    return out


def evaluate_people(labels_path, estimator, every: int = 5, max_frames: int | None = None, min_score: float = 0.5,
                    match_thigh: float = 1.0, views=None, progress=None) -> dict:
    """Score ``estimator`` (anything with ``predict_people(frame, min_score) -> [FramePose]``) against the
    people labels in ``labels_path`` on every ``every``-th frame of each view (at most ``max_frames``).

    Returns per view and pooled: people labelled, found (%), the per-person median error in thigh lengths
    (median, quartiles, share within 0.15), the per-joint median in thigh lengths and in pixels, and the
    per-frame medians (the spread over images)."""
    from kneeview.io.video import VideoReader

    labels_path = Path(labels_path)
    d = read_people_labels(labels_path)
    result = {"labels": str(labels_path), "every": every, "min_score": min_score, "match_thigh": match_thigh, "views": {}}
    pooled_people, pooled_joints, pooled_found = [], [], []
    for v, name in enumerate(d["view_names"]):
        if views and name not in views:
            continue
        video, _ = labelled_video(labels_path, d, v)
        kp_all, conf_all, lm_all = d["people_keypoints_px"][v], d["people_confidence"][v], d["people_landmarks_px"][v]
        frames = list(range(0, len(kp_all), max(1, int(every))))
        person_err, joint_err_thigh, joint_err_px, frame_median, found_flags, rows = [], [], [], [], [], []
        with VideoReader(video) as reader:
            done = 0
            for t in frames:
                people = reliable_people(lm_all[t], conf_all[t], MIN_VISIBILITY)
                if not people:
                    continue
                if max_frames is not None and done >= max_frames:
                    break
                done += 1
                if progress is not None:
                    progress(f"{name}: frame {t}")
                frame = reader.frame(t)
                found = estimator.predict_people(frame, min_score=min_score)
                lab = kp_all[t, people]
                mask = conf_all[t, people] >= MIN_VISIBILITY
                thigh = np.array([thigh_length(kp_all[t, p], conf_all[t, p]) for p in people])
                pairs = match_people(lab, mask, thigh, [f.keypoints_px for f in found], match_thigh)
                errs_here = []
                for i, p in enumerate(people):
                    if not np.isfinite(thigh[i]):
                        continue  # no scale: neither thigh labelled
                    ok = pairs[i] is not None
                    found_flags.append(ok)
                    row = {"frame": int(t), "person": int(p), "thigh_px": float(thigh[i]), "found": ok}
                    if ok:
                        dist_px = np.linalg.norm(found[pairs[i]].keypoints_px - lab[i], axis=-1)
                        dist_px[~mask[i]] = np.nan
                        e = float(np.nanmedian(dist_px) / thigh[i])
                        person_err.append(e)
                        errs_here.append(e)
                        joint_err_px.append(dist_px)
                        joint_err_thigh.append(dist_px / thigh[i])
                        row["error_thigh"] = e
                        row["score"] = float(found[pairs[i]].score)
                    rows.append(row)
                if errs_here:
                    frame_median.append(float(np.median(errs_here)))
        summary = _summary(person_err, joint_err_thigh, joint_err_px, found_flags, frame_median)
        result["views"][name] = {**summary, "frames": len({r["frame"] for r in rows}), "people": rows}
        pooled_people += person_err
        pooled_joints += joint_err_thigh
        pooled_found += found_flags
    result["pooled"] = _summary(pooled_people, pooled_joints, [], pooled_found, [])
    return result


def _summary(person_err, joint_err_thigh, joint_err_px, found_flags, frame_median) -> dict:
    e = np.asarray(person_err, dtype=np.float64)
    out = {"labelled_people": len(found_flags),
           "found_percent": 100.0 * float(np.mean(found_flags)) if found_flags else float("nan"),
           "median_thigh": float(np.median(e)) if e.size else float("nan"),
           "q25_thigh": float(np.percentile(e, 25)) if e.size else float("nan"),
           "q75_thigh": float(np.percentile(e, 75)) if e.size else float("nan"),
           "within_0_15_percent": 100.0 * float(np.mean(e <= 0.15)) if e.size else float("nan")}
    if joint_err_thigh:
        jt = np.asarray(joint_err_thigh)
        out["per_joint_median_thigh"] = {n: _nanmedian(jt[:, j]) for j, n in enumerate(J.JOINTS)}
    if joint_err_px:
        jp = np.asarray(joint_err_px)
        out["per_joint_median_px"] = {n: _nanmedian(jp[:, j]) for j, n in enumerate(J.JOINTS)}
    if frame_median:
        out["frame_median_range_thigh"] = [float(np.min(frame_median)), float(np.max(frame_median))]
    return out


def _nanmedian(x) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


def format_report(result: dict, title: str = "") -> str:
    lines = [f"{title or 'model vs BlazePose'} on {result['labels']} (every frame in {result['every']})",
             "view | people | found | median (thigh) | IQR | within 0.15 | frames' medians"]
    for name, s in list(result["views"].items()) + [("pooled", result["pooled"])]:
        rng = s.get("frame_median_range_thigh")
        lines.append(f"{name} | {s['labelled_people']} | {s['found_percent']:.1f} % | {s['median_thigh']:.3f} | "
                     f"{s['q25_thigh']:.3f}-{s['q75_thigh']:.3f} | {s['within_0_15_percent']:.1f} % | "
                     + (f"{rng[0]:.2f}-{rng[1]:.2f}" if rng else "-"))
    pj = result["pooled"].get("per_joint_median_thigh")
    if pj:
        lines.append("per joint (thigh): " + ", ".join(f"{k} {v:.3f}" for k, v in pj.items()))
    return "\n".join(lines)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--labels", required=True, action="append", type=Path, metavar="LABELS.npz",
                   help="people labels of tools/blazepose_detect.py --people (repeatable)")
    p.add_argument("--checkpoint", help="model to evaluate (default: the bundled one)")
    p.add_argument("--every", type=int, default=5, help="evaluate every K-th frame (default 5)")
    p.add_argument("--max-frames", type=int, help="at most this many labelled frames per view")
    p.add_argument("--view", action="append", dest="views", help="only this view (video stem; repeatable)")
    p.add_argument("--min-score", type=float, default=0.5, help="detection score a found person needs (default 0.5)")
    p.add_argument("--json", dest="json_out", type=Path, metavar="OUT", help="write every figure as JSON")
    p.add_argument("--device", default="auto")


def cmd(args) -> int:
    from kneeview.pose import load_estimator
    from kneeview.atomic import atomic_write_text

    est = load_estimator(args.checkpoint, device=args.device)
    results = []
    for path in args.labels:
        r = evaluate_people(path, est, every=args.every, max_frames=args.max_frames, min_score=args.min_score,
                            views=args.views)
        r["checkpoint"] = args.checkpoint or "bundled"
        print(format_report(r, f"{args.checkpoint or 'bundled model'} vs BlazePose"))
        results.append(r)
    if args.json_out:
        atomic_write_text(args.json_out, json.dumps(results, indent=1))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("evaluate-people", help="the model's joints against BlazePose's on real people in any "
                              "video (tools/blazepose_detect.py --people)")
    _add_arguments(p)
    p.set_defaults(func=cmd)
    return p
