"""``kneeview-train evaluate-clinical``: the numbers a clinician reads, model against ground truth.

For every trial under ``--data`` (synthetic recordings with their C3D; use seeds no
training or test set used), the model's knee metrics go through exactly the path
``kneeview export --source model`` takes (:meth:`kneeview.session.Session.analyse`) and are
compared with the same analysis of the C3D ground truth, per leg:

* peak MKD (both definitions: distance from the hip-ankle line, and displacement since
  initial contact) — absolute error, mm;
* per-frame MKD — RMS error over the frames both have, mm;
* peak FPPA from the 3D and from the 2D keypoints — absolute error, degrees;
* left-right asymmetry of peak MKD — absolute error, mm;
* events (initial contact, deepest, take-off; a single-leg squat's deepest) — frames off;
* knee joint centre lab position — median distance over the frames, mm;
* the 2D keypoints in the video's own pixels — median distance per joint from the ground
  truth projected through the calibration (the same for every placement);
* the trial's 3D pose as the paper scores it (:mod:`trainer.evaluate`): PCK@0.10/0.25/0.50 m and
  MPJPE of all six joints relative to the mid-hip, over every frame the C3D has (a frame without
  a model estimate counts as wrong) — for ``raw``, the network's own 3D head; for ``calibrated``,
  the skeleton the app shows and exports;
* the calibrated reconstruction's ``length_asymmetry_mm`` (its fitted legs' larger left-right
  thigh or shank difference) and ``lengths`` (agree/disagree at the app's caution threshold);
* with ``--uncertainty N`` (N posterior draws, the calibrated placement), whether the reported
  uncertainty holds: the share of frames whose MKD error is within one reported sd, and whether
  the peak's error is within two sd of the model's peak (the ± a clinician reads), with the
  lifter's spread (median over the frames, degrees).

A single-leg squat is read on its stance leg only: the lifted leg's foot is off the floor, so
its "hip-ankle line" and its peak are no clinical reading, and a trial has no left-right
asymmetry (that compares two squats). Its lifted-leg rows stay in the JSON (``leg:
"lifted"``) but no summary figure counts them, and its asymmetry error is NaN.

Each placement of the network's 3D (``calibrated``: the per-trial reconstruction; ``raw``:
the network's 3D placed from its 2D) is evaluated in the same run, and the table is broken
down by task (DJ, SLS), camera placement (frontal, oblique...) and video size.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from kneeview import joints as J
from kneeview.analysis.reconstruction import HIPS, legs_disagree

KNEE = {"right": J.JOINTS.index("RFEO"), "left": J.JOINTS.index("LFEO")}
EVENTS = ("initial_contact", "deepest", "take_off")
#: the accuracy required at 1920x1080 on seeds no training used: figure -> (statistic, limit)
TARGETS = {
    "peak_mkd_err_mm": (("median", 3.0), ("max", 8.0)),
    "mkd_rms_mm": (("median", 5.0),),
    "peak_fppa_err_deg": (("median", 2.0),),
    "knee_position_err_mm": (("median", 30.0),),
    "event_err_frames": (("max", 1.0),),
}
FIGURES = ("peak_mkd_err_mm", "peak_mkd_ic_err_mm", "mkd_rms_mm", "peak_fppa_err_deg", "peak_fppa_2d_err_deg",
           "asymmetry_err_mm", "knee_position_err_mm", "event_err_frames", "knee_2d_err_px")


def _abs_err(model, truth) -> float:
    """|model - truth|; NaN where the truth has no value, infinite where the model misses one the truth
    has (a reading the clinician would not get counts as a failure, not as nothing)."""
    if not np.isfinite(truth):
        return float("nan")
    return float(abs(model - truth)) if np.isfinite(model) else float("inf")


def pose_3d_scores(model_joints_mm, truth_joints_mm) -> dict:
    """The paper's 3D scores of one trial (:func:`trainer.evaluate.pck`, :data:`~trainer.evaluate.PCK_THRESHOLDS_M`):
    all six joints relative to their own mid-hip, every frame where the truth has all six; PCK in percent
    (a missing estimate counts as wrong), MPJPE in mm over the frames the model has."""
    from trainer.evaluate import PCK_THRESHOLDS_M, pck

    def relative(x):
        x = np.asarray(x, float)
        return (x - x[:, list(HIPS)].mean(1, keepdims=True)) / 1000.0

    pred, gt = relative(model_joints_mm), relative(truth_joints_mm)
    rows = np.isfinite(gt).all(axis=(1, 2))
    pred, gt = pred[rows], gt[rows]
    err = np.linalg.norm(pred - gt, axis=-1) * 1000.0
    seen = np.isfinite(err).all(-1)
    return {"pck_3d_pct": {f"{t:.2f}": pck(pred, gt, t) for t in PCK_THRESHOLDS_M},
            "mpjpe_3d_mm": float(err[seen].mean()) if seen.any() else float("nan")}


def _rms(a, b) -> float:
    d = np.asarray(a, float) - np.asarray(b, float)
    d = d[np.isfinite(d)]
    return float(np.sqrt(np.mean(d ** 2))) if d.size else float("nan")


def leg_role(task: str, trial_side, side: str) -> str:
    """"stance" or "lifted" for the legs of a single-leg squat (``trial_side``: the trial's stance
    side, "left" or "right"), "both" for any other task or an unknown side."""
    if str(task).upper() not in ("SLS", "SINGLE_LEG_SQUAT"):
        return "both"
    stance = str(trial_side or "").lower()
    if stance not in ("left", "right"):
        return "both"
    return "stance" if stance == side else "lifted"


def trial_rows(session, estimator, placements=("calibrated", "raw"), uncertainty_samples: int = 0) -> list[dict]:
    """One row per (placement, leg) of one trial; ``uncertainty_samples`` > 0 adds the uncertainty's
    coverage (:func:`coverage`) to the calibrated placement's rows."""
    rec = session.recording
    meta = rec.metadata or {}
    info = rec.views[0].video_info
    truth = session.analyse("gt")
    g = truth.analysis
    common = {"trial": rec.name, "task": str(meta.get("task", "?")),
              "camera": str((meta.get("camera") or {}).get("placement", "?")), "size": f"{info.width}x{info.height}"}
    rows = []
    for placement in placements:
        t0 = time.perf_counter()
        samples = uncertainty_samples if placement == "calibrated" else 0
        model = session.analyse("model", estimator=estimator, placement=placement, uncertainty_samples=samples)
        seconds = time.perf_counter() - t0
        m = model.analysis
        events = {}
        for name in EVENTS:
            fg, fm = g.events.frames.get(name), m.events.frames.get(name)
            if fg is not None:
                events[name] = float("inf") if fm is None else float(abs(int(fm) - int(fg)))
        event_err = max(events.values()) if events else float("nan")
        asym = _abs_err(m.peaks.get("mkd_peak_asymmetry_mm", np.nan), g.peaks.get("mkd_peak_asymmetry_mm", np.nan))
        err_2d = np.linalg.norm(model.inputs.keypoints_px - truth.inputs.keypoints_px, axis=-1)  # (T, 6) px
        recon = model.inputs.reconstruction
        legs_asym = recon.length_asymmetry_mm if recon is not None else None
        pose3d = pose_3d_scores(m.joints_lab_mm_raw, g.joints_lab_mm_raw)
        for side in ("left", "right"):
            joint_2d = {name: float(np.nanmedian(err_2d[:, J.JOINTS.index(name)]))
                        for name in J.JOINTS if name.startswith(side[0].upper())}
            knee = np.linalg.norm(m.joints_lab_mm_raw[:, KNEE[side]] - g.joints_lab_mm_raw[:, KNEE[side]], axis=-1)
            knee = knee[np.isfinite(knee)]
            gt_peak = g.peaks.get(f"mkd_peak_{side}_mm")
            leg = leg_role(common["task"], meta.get("side"), side)
            rows.append({
                **common, "placement": placement, "side": side, "leg": leg,
                "valgus": valgus_class(gt_peak),
                "length_asymmetry_mm": float("nan") if legs_asym is None else float(legs_asym),
                "lengths": "n/a" if legs_asym is None else ("disagree" if legs_disagree(legs_asym) else "agree"),
                "gt_peak_mkd_mm": g.peaks.get(f"mkd_peak_{side}_mm"),
                "model_peak_mkd_mm": m.peaks.get(f"mkd_peak_{side}_mm"),
                "peak_mkd_err_mm": _abs_err(m.peaks[f"mkd_peak_{side}_mm"], g.peaks[f"mkd_peak_{side}_mm"]),
                "peak_mkd_ic_err_mm": _abs_err(m.peaks.get(f"mkd_ic_peak_{side}_mm", np.nan),
                                               g.peaks.get(f"mkd_ic_peak_{side}_mm", np.nan)),
                "mkd_rms_mm": _rms(m.metrics[f"mkd_{side}_mm"], g.metrics[f"mkd_{side}_mm"]),
                "peak_fppa_err_deg": _abs_err(m.peaks[f"fppa_peak_{side}_deg"], g.peaks[f"fppa_peak_{side}_deg"]),
                "peak_fppa_2d_err_deg": _abs_err(m.peaks.get(f"fppa_2d_peak_{side}_deg", np.nan),
                                                 g.peaks.get(f"fppa_2d_peak_{side}_deg", np.nan)),
                "asymmetry_err_mm": asym if leg == "both" else float("nan"),
                "knee_position_err_mm": float(np.median(knee)) if knee.size else float("nan"),
                "event_err_frames": event_err,
                "keypoint_err_px": joint_2d,
                "knee_2d_err_px": joint_2d[J.JOINTS[KNEE[side]]],
                "events_frames_off": events,
                **pose3d,
                "analysis_s": seconds,
                **(coverage(model, g, side) if samples else {}),
            })
    return rows


def coverage(model, truth_analysis, side: str) -> dict:
    """Whether ``model``'s (a session ``Analysed`` with uncertainty) reported sd holds on ``side``:
    ``mkd_within_1sd_pct`` (frames whose MKD error is within one sd), ``peak_mkd_sd_mm`` (the sd at
    the model's peak) and ``peak_mkd_within_2sd`` (the peak values differ by at most two of it);
    ``lifter_spread_deg``: the lifter's spread, median over the frames."""
    m = model.analysis
    e = np.abs(np.asarray(m.metrics[f"mkd_{side}_mm"], float) - np.asarray(truth_analysis.metrics[f"mkd_{side}_mm"], float))
    sd = np.asarray(model.uncertainty.get(f"mkd_{side}_mm_sd", np.full(len(e), np.nan)), float)
    ok = np.isfinite(e) & np.isfinite(sd) & (sd > 0)
    frame = m.peaks.get(f"mkd_peak_{side}_frame")
    peak_sd = float(sd[frame]) if frame is not None and np.isfinite(sd[frame]) else float("nan")
    peak_err = _abs_err(m.peaks.get(f"mkd_peak_{side}_mm", np.nan), truth_analysis.peaks.get(f"mkd_peak_{side}_mm", np.nan))
    recon = model.inputs.reconstruction
    spread = getattr(recon, "prior_spread_deg", None)
    return {
        "mkd_within_1sd_pct": float(100.0 * np.mean(e[ok] <= sd[ok])) if ok.any() else float("nan"),
        "peak_mkd_sd_mm": peak_sd,
        "peak_mkd_within_2sd": (bool(peak_err <= 2.0 * peak_sd) if np.isfinite(peak_err) and np.isfinite(peak_sd)
                                else None),
        "lifter_spread_deg": float(np.nanmedian(spread)) if spread is not None and np.isfinite(spread).any() else float("nan"),
    }


#: Legs whose ground-truth peak MKD reaches this are "strong" valgus: the knees a screening must catch.
STRONG_VALGUS_MM = 30.0


def valgus_class(gt_peak_mkd_mm) -> str:
    """"strong" (ground-truth peak MKD >= STRONG_VALGUS_MM), "small" or "unknown" (no peak)."""
    if gt_peak_mkd_mm is None or not np.isfinite(gt_peak_mkd_mm):
        return "unknown"
    return "strong" if gt_peak_mkd_mm >= STRONG_VALGUS_MM else "small"


def summarise(rows: list[dict]) -> dict:
    """Per placement, then per group (all, task=..., camera=..., size=..., valgus=..., lengths=...): median
    and max of each figure. A prior that reads every knee near the cohort's mean has low medians on knees
    with little valgus and fails the strong ones, so the table is read per valgus class too; ``lengths``
    splits the trials whose fitted legs disagree in length (the caution the app and the report give,
    :data:`kneeview.analysis.reconstruction.LEGS_DISAGREE_MM`) from the others. The lifted leg of a
    single-leg squat (``leg == "lifted"``) is not counted."""
    out: dict = {}
    for placement in sorted({r["placement"] for r in rows}):
        mine = [r for r in rows if r["placement"] == placement and r.get("leg") != "lifted"]
        groups = {"all": mine}
        for key in ("task", "camera", "size", "valgus", "lengths"):
            for value in sorted({r.get(key, "unknown") for r in mine} - {"n/a"}):
                groups[f"{key}={value}"] = [r for r in mine if r.get(key, "unknown") == value]
        out[placement] = {}
        for name, group in groups.items():
            stats = {"legs": len(group), "trials": len({r["trial"] for r in group})}
            for fig in FIGURES:
                v = np.array([r[fig] for r in group], float)
                v = v[~np.isnan(v)]
                stats[fig] = {"median": float(np.median(v)) if v.size else None,
                              "max": float(np.max(v)) if v.size else None}
            ev = np.array([r["event_err_frames"] for r in group], float)
            ev = ev[~np.isnan(ev)]
            stats["events_within_1_frame_pct"] = float(100.0 * np.mean(ev <= 1.0)) if ev.size else None
            trials = {r["trial"]: r for r in group if "pck_3d_pct" in r}  # a trial's figure, once
            if trials:
                stats["pck_3d_pct"] = {t: float(np.nanmean([r["pck_3d_pct"][t] for r in trials.values()]))
                                       for t in next(iter(trials.values()))["pck_3d_pct"]}
                stats["mpjpe_3d_mm"] = float(np.nanmean([r["mpjpe_3d_mm"] for r in trials.values()]))
            within = [r["peak_mkd_within_2sd"] for r in group if r.get("peak_mkd_within_2sd") is not None]
            if within:  # --uncertainty: how often the reported ± holds
                stats["peaks_within_2sd_pct"] = float(100.0 * np.mean(within))
                stats["frames_within_1sd_pct_median"] = float(np.nanmedian([r["mkd_within_1sd_pct"] for r in group]))
            out[placement][name] = stats
    return out


def targets_met(summary_group: dict) -> dict[str, bool]:
    met = {}
    for fig, checks in TARGETS.items():
        for stat, limit in checks:
            value = summary_group[fig][stat]
            met[f"{fig} {stat} <= {limit:g}"] = value is not None and value <= limit
    return met


def evaluate_clinical(data, checkpoint=None, device: str = "cpu", placements=("calibrated", "raw"),
                      progress: bool = True, uncertainty_samples: int = 0) -> dict:
    from tqdm import tqdm

    from kneeview.io.recording import find_recordings
    from kneeview.session import Session

    videos = find_recordings(data)
    if not videos:
        from kneeview.errors import KneeViewInputError

        raise KneeViewInputError(Path(data), "no recordings found", "--data")
    sessions = [Session.open(v) for v in videos]
    estimator = sessions[0].load_estimator(checkpoint, device)
    rows = []
    for session in tqdm(sessions, desc="evaluate-clinical", unit="trial", disable=not progress, file=sys.stderr):
        rows += trial_rows(session, estimator, placements, uncertainty_samples)
    summary = summarise(rows)
    return {"data": str(data), "model": estimator.identity.name, "checkpoint_sha256": estimator.identity.sha256,
            "placements": list(placements), "rows": rows, "summary": summary,
            "targets": {p: targets_met(summary[p]["all"]) for p in summary}}


def format_table(result: dict) -> str:
    cols = (("peak_mkd_err_mm", "median"), ("peak_mkd_err_mm", "max"), ("peak_mkd_ic_err_mm", "median"),
            ("mkd_rms_mm", "median"), ("peak_fppa_err_deg", "median"), ("peak_fppa_2d_err_deg", "median"),
            ("asymmetry_err_mm", "median"), ("knee_position_err_mm", "median"), ("event_err_frames", "max"),
            ("knee_2d_err_px", "median"))
    head = ("| placement | group | trials | peak MKD med | peak MKD max | peak MKD-IC med | MKD RMS med | "
            "FPPA 3D med | FPPA 2D med | asym. med | knee pos. med | events max | knee 2D px med | PCK@0.10 | MPJPE |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for placement, groups in result["summary"].items():
        for name, stats in groups.items():
            cells = [f"{stats[f][s]:.1f}" if stats[f][s] is not None else "–" for f, s in cols]
            pck10 = stats.get("pck_3d_pct", {}).get("0.10")
            cells += [f"{pck10:.1f}" if pck10 is not None and np.isfinite(pck10) else "–",
                      f"{stats['mpjpe_3d_mm']:.0f}" if np.isfinite(stats.get("mpjpe_3d_mm", np.nan)) else "–"]
            lines.append(f"| {placement} | {name} | {stats['trials']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("units: mm (MKD, asymmetry, knee position, MPJPE), degrees (FPPA), frames (events), native video pixels "
                 "(2D), % (PCK@0.10 m: the six joints relative to the mid-hip, mean over the trials)")
    for placement, met in result["targets"].items():
        lines.append(f"targets ({placement}): " + ", ".join(f"{k}: {'met' if ok else 'NOT met'}" for k, ok in met.items()))
    for placement, groups in result["summary"].items():
        for name, stats in groups.items():
            if "peaks_within_2sd_pct" in stats:
                lines.append(f"uncertainty ({placement}, {name}): peaks within 2 sd {stats['peaks_within_2sd_pct']:.0f} %, "
                             f"frames within 1 sd {stats['frames_within_1sd_pct_median']:.0f} % (median over legs)")
    return "\n".join(lines)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate-clinical", help="MKD/FPPA/events/joint-centre errors of the model against the C3D, per trial and leg")
    p.add_argument("--data", required=True, help="folder tree of recordings with C3D ground truth (new seeds)")
    p.add_argument("--checkpoint", help="checkpoint (default: the bundled model)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--placements", default="calibrated,raw", help="comma-separated: calibrated, raw (default both)")
    p.add_argument("--json", help="write every row and the summary as JSON here")
    p.add_argument("--uncertainty", type=int, default=0, metavar="N",
                   help="also check the reported uncertainty with N posterior draws per trial (calibrated placement; "
                        "slower): peaks within 2 sd, frames within 1 sd")
    p.set_defaults(func=run)


def run(args) -> int:
    from kneeview.atomic import atomic_write_text

    placements = tuple(p.strip() for p in args.placements.split(",") if p.strip())
    result = evaluate_clinical(args.data, args.checkpoint, args.device, placements, uncertainty_samples=args.uncertainty)
    print(format_table(result))
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(result, indent=1, default=float) + "\n")
    return 0
