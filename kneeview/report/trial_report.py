"""The screening report of one trial: one A4 page (a second only where needed) to hand over.

:func:`collect_trial` gathers what the page says from the session layer — the summary row
``kneeview batch`` writes, the analysis' per-frame metrics and events, the estimate's
confidence and fit, the 2D keypoints against the C3D's — and :func:`write_trial_report`
draws it with matplotlib and writes the PDF atomically. Peak values, their frames and their
standard deviations are the summary row's, printed with :func:`.style.fmt`'s precision.
"""
from __future__ import annotations

import datetime as _dt
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from .. import joints as J
from ..analysis.facing import BEHIND_CAUTION, BEHIND_MEASURED
from ..analysis.lifting import UNFAMILIAR_CAUTION, UNFAMILIAR_MEASURED, UNFAMILIAR_SPREAD_DEG, unfamiliar
from ..analysis.pipeline import lifted_leg
from ..analysis.reconstruction import LEGS_DISAGREE_CAUTION, LEGS_DISAGREE_MEASURED, LEGS_DISAGREE_MM, legs_disagree
from ..errors import KneeViewInputError
from . import style
from .style import fmt, number, ranges

#: A joint below this confidence counts as uncertain (the app's kneeview.gui.state.LOW_CONFIDENCE).
LOW_CONFIDENCE = 0.5
SIDES = ("left", "right")
TASK_NAMES = {"drop_jump": "Drop jump (DJ)", "single_leg_squat": "Single-leg squat (SLS)"}
EVENT_LABELS = {"initial_contact": "IC", "deepest": "deepest", "take_off": "take-off",
                "second_landing": "2nd landing", "start": "start", "end": "end"}
#: The longest frame list printed on page one; a longer one is printed in full on page two.
_MAX_RANGES_CHARS = 70


@dataclass
class TrialFacts:
    """Everything the page prints, gathered before anything is drawn."""

    session: object
    analysed: object  # kneeview.session.Analysed shown
    gt: object | None  # the ground truth's analysis of the same view, when there is one
    gt_note: str | None  # why there is none (no C3D, unreadable...)
    row: dict  # the summary row of ``analysed`` (as `kneeview batch` writes it)
    identity: list[tuple[str, str]]
    n_video_frames: int
    missing_frames: list[int]
    low_confidence_frames: list[int] | None  # None: not applicable (ground truth)
    unreliable_frames: list[int] | None  # None: no calibrated fit
    error_2d: dict | None
    provenance: list[tuple[str, str]]
    table: list[dict] = field(default_factory=list)
    overflow: list[tuple[str, str]] = field(default_factory=list)  # long lists for page two

    @property
    def analysis(self):
        return self.analysed.analysis


# ----------------------------------------------------------------------------- facts
def _file_date(*paths) -> str | None:
    for p in paths:
        try:
            if p is not None and Path(p).exists():
                return _dt.date.fromtimestamp(Path(p).stat().st_mtime).isoformat() + " (file date)"
        except OSError:
            continue
    return None


def _identity(session, analysed) -> list[tuple[str, str]]:
    rec = session.recording
    meta = rec.metadata or {}
    analysis = analysed.analysis
    athlete = meta.get("athlete_id") or meta.get("athlete") if not isinstance(meta.get("athlete"), dict) else None
    athlete = meta.get("athlete_id") or athlete or "not recorded"
    task = TASK_NAMES.get(analysis.events.task, "not detected")
    date = None
    for key in ("date", "session_date", "recorded", "recorded_at"):
        if meta.get(key):
            date = str(meta[key])
            break
    date = date or _file_date(rec.c3d_path, rec.views[analysed.view_index].video_path) or "unknown"
    side = meta.get("side")
    if side is None and analysis.events.leg:
        side = f"{analysis.events.leg} (stance leg)"
    side = {"both": "both legs"}.get(str(side), str(side)) if side else "both legs"
    year = meta.get("year")
    out = [("Athlete", str(athlete)), ("Task", task), ("Date", date), ("Side", side)]
    if year is not None:
        out.append(("Year", str(year)))
    out += [("Trial", rec.name), ("Source", _source_text(analysed))]
    return out


def _source_text(analysed) -> str:
    if analysed.source == "gt":
        return "C3D ground truth (Plug-in Gait joint centres)"
    model = analysed.inputs.model or {}
    return f"video estimate ({model.get('name') or 'model'})"


def _expected_frames(session, view_index) -> int:
    info = session.views[view_index].video_info
    return int(max(info.frame_count or 0, getattr(info, "declared_frame_count", 0) or 0))


def _present_frames(analysed) -> np.ndarray:
    """Video frames with a usable pose (every joint known in 3D)."""
    inputs = analysed.inputs
    ok = np.isfinite(np.asarray(inputs.joints_lab_mm, float)).all(axis=(1, 2))
    if analysed.source == "model":
        ok &= np.isfinite(np.asarray(inputs.keypoints_px, float)).all(axis=(1, 2))
    return np.asarray(inputs.frame_index)[ok]


def _error_2d(analysed, gt) -> dict | None:
    """Distance (px) between the estimate's 2D keypoints and the C3D's projected ones, per frame and joint."""
    est, ref = analysed.inputs, gt.inputs
    common, ie, ir = np.intersect1d(np.asarray(est.frame_index), np.asarray(ref.frame_index), return_indices=True)
    if common.size == 0:
        return None
    d = np.linalg.norm(np.asarray(est.keypoints_px, float)[ie] - np.asarray(ref.keypoints_px, float)[ir], axis=-1)
    ok = np.isfinite(d)
    if not ok.any():
        return None
    knees = [J.JOINTS.index("RFEO"), J.JOINTS.index("LFEO")]
    kd = d[:, knees][np.isfinite(d[:, knees])]
    return {"median_px": float(np.median(d[ok])), "p95_px": float(np.percentile(d[ok], 95)),
            "knee_median_px": float(np.median(kd)) if kd.size else None,
            "frames": int(ok.any(axis=1).sum())}


def _table(analysed, row) -> list[dict]:
    """Rows of the peak table: value and sd per leg, left-right asymmetry, the peak's video frames."""
    a = analysed.analysis
    unc = analysed.uncertainty or {}

    def at(column, peak_key):
        """A per-frame metric (and its sd) at the frame of a peak of the analysis."""
        out = {}
        for side in SIDES:
            r = a.peaks.get(peak_key.format(side=side))
            col = column.format(side=side)
            v = float(a.metrics[col][r]) if r is not None and col in a.metrics else None
            sd = float(unc[f"{col}_sd"][r]) if r is not None and f"{col}_sd" in unc else None
            out[side] = (number(v), number(sd))
        return out

    def peak(name, unit):
        return {side: (number(row.get(f"{name}_peak_{side}_{unit}")), number(row.get(f"{name}_peak_{side}_{unit}_sd")))
                for side in SIDES}

    def frames(name):
        return {side: row.get(f"{name}_peak_{side}_frame") for side in SIDES}

    def asym(values):
        left, right = values["left"][0], values["right"][0]
        return None if left is None or right is None else left - right

    rows = []
    for label, unit, values, asymmetry, frame_of in (
        ("Peak MKD, def. 1 (knee to hip-ankle line)", "mm", peak("mkd", "mm"), number(row.get("mkd_peak_asymmetry_mm")), "mkd"),
        ("   as % of leg length", "pct", at("mkd_{side}_pct_leg", "mkd_peak_{side}_frame"), None, "mkd"),
        ("Peak MKD, def. 2 (medial shift since IC)", "mm", peak("mkd_ic", "mm"), number(row.get("mkd_ic_peak_asymmetry_mm")), "mkd_ic"),
        ("   as % of leg length", "pct", at("mkd_ic_{side}_pct_leg", "mkd_ic_peak_{side}_frame"), None, "mkd_ic"),
        ("Peak FPPA (deg)", "deg", peak("fppa", "deg"), number(row.get("fppa_peak_asymmetry_deg")), "fppa"),
        ("Knee flexion at peak MKD (deg)", "deg", at("knee_flexion_{side}_deg", "mkd_peak_{side}_frame"), None, "mkd"),
        ("Peak knee flexion (deg)", "deg", peak("knee_flexion", "deg"), None, "knee_flexion"),
    ):
        if asymmetry is None:
            asymmetry = asym(values)
        rows.append({"label": label, "unit": unit, "values": values, "asymmetry": asymmetry, "frames": frames(frame_of)})
    return rows


def collect_trial(session, analysed, gt="auto") -> TrialFacts:
    """What the report of ``analysed`` (a :class:`kneeview.session.Analysed` of ``session``) says.

    ``gt``: the ground truth's analysis of the same view (the 2D error and the dashed curves),
    ``"auto"`` to analyse it here when the trial has a C3D, or None for none.
    """
    rec = session.recording
    view = analysed.view_index
    a = analysed.analysis
    gt_note = None
    if gt == "auto":
        gt = None
        if analysed.source == "gt":
            gt = analysed
        elif rec.c3d_path is None:
            gt_note = f"No ground truth: this trial has no C3D ({rec.trial}.c3d), so the estimate's 2D error cannot be measured."
        else:
            try:
                gt = session.analyse("gt", view, cutoff_hz=a.cutoff_hz or 0, task=a.events.task)
            except KneeViewInputError as exc:
                gt_note = f"No ground truth used: {exc.problem}"
    elif gt is None and rec.c3d_path is None:
        gt_note = f"No ground truth: this trial has no C3D ({rec.trial}.c3d), so the estimate's 2D error cannot be measured."
    row = session.summary_row(analysed)
    n_video = _expected_frames(session, view)
    present = set(int(f) for f in _present_frames(analysed))
    missing = [f for f in range(n_video) if f not in present]
    inputs = analysed.inputs
    low = None
    if analysed.source == "model":
        conf = np.asarray(inputs.confidence, float)
        low_rows = ~(conf >= LOW_CONFIDENCE).all(axis=1)
        low = [int(f) for f in np.asarray(inputs.frame_index)[low_rows] if int(f) not in missing]
    recon = inputs.reconstruction
    unreliable = None
    if recon is not None:
        unreliable = [int(f) for f in np.asarray(inputs.frame_index)[~np.asarray(recon.reliable, bool)]]
    error = _error_2d(analysed, gt) if (gt is not None and analysed.source == "model") else None
    facts = TrialFacts(session, analysed, gt if gt is not analysed else None, gt_note, row, _identity(session, analysed),
                       n_video, missing, low, unreliable, error, _provenance(session, analysed))
    facts.table = _table(analysed, row)
    return facts


def _provenance(session, analysed) -> list[tuple[str, str]]:
    from ..session.cache import file_sha256

    rec = session.recording
    view = rec.views[analysed.view_index]
    cam = view.camera
    a = analysed.analysis
    out = [("Software", f"KneeView {__version__}")]
    if analysed.source == "model":
        m = analysed.inputs.model or {}
        out.append(("Model", f"{m.get('name') or 'unnamed'}"
                    + (f" {m['version']}" if m.get("version") else "")))
        out.append(("Model sha256", str(m.get("checkpoint_sha256") or m.get("sha256") or m.get("hash") or "unknown")))
        out.append(("3D placement", {"calibrated": "calibrated per-trial reconstruction",
                                     "raw": "network 3D placed from its 2D (raw)"}.get(analysed.inputs.placement,
                                                                                      analysed.inputs.placement or "-")))
    try:
        digest = file_sha256(view.video_path)
    except OSError as exc:
        digest = f"unreadable ({exc.strerror or exc})"
    out.append(("Video", f"{view.video_path.name} ({view.video_info.width}x{view.video_info.height}, "
                         f"{view.video_info.fps:g} frames/s)"))
    out.append(("Video sha256", digest))
    out.append(("Calibration", rec.calibration_path.name if rec.calibration_path else "none"))
    if cam is not None:
        err = number(getattr(cam, "image_error_px", None))
        out.append(("Camera", f"{cam.device_id} {cam.name or ''}".strip()
                    + (f", image error {fmt(err, 'px')} px" if err is not None else ", image error not given")))
    out.append(("C3D", rec.c3d_path.name if rec.c3d_path else "none"))
    out.append(("Filter", f"{a.cutoff_hz:g} Hz low-pass (zero-lag Butterworth)" if a.cutoff_hz else "none"))
    return out


# ----------------------------------------------------------------------------- text blocks
def _listing(frames: list[int], total: int, what: str) -> tuple[str, str | None]:
    """A short line for page one and, when the frame list is long, the full list for page two."""
    if not frames:
        return f"{what}: none", None
    text = ranges(frames)
    head = f"{what}: {len(frames)} of {total} frames"
    if len(text) <= _MAX_RANGES_CHARS:
        return f"{head} ({text})", None
    return f"{head} (first: {text[:_MAX_RANGES_CHARS].rsplit(',', 1)[0]}, ... — full list on page 2)", text


def quality_lines(f: TrialFacts) -> list[str]:
    a = f.analysis
    lines, overflow = [], []
    line, rest = _listing(f.missing_frames, f.n_video_frames,
                          "Missing estimate (no pose)" if f.analysed.source == "model" else "Missing joint centres (C3D gaps)")
    lines.append(line)
    if rest:
        overflow.append(("Frames missing", rest))
    if f.low_confidence_frames is None:
        lines.append("Low confidence: not applicable (C3D ground truth)")
    else:
        line, rest = _listing(f.low_confidence_frames, f.n_video_frames, f"Low confidence (a joint < {LOW_CONFIDENCE:g})")
        lines.append(line)
        if rest:
            overflow.append(("Frames with low confidence", rest))
    if f.unreliable_frames is None:
        lines.append("Unreliable 3D fit: not applicable" + (" (C3D ground truth)" if f.analysed.source == "gt" else " (raw placement)"))
    else:
        line, rest = _listing(f.unreliable_frames, f.n_video_frames, "Unreliable 3D fit")
        lines.append(line)
        if rest:
            overflow.append(("Frames with an unreliable 3D fit", rest))
    if f.analysed.source == "gt":
        lines.append("2D error against the C3D: not applicable (the source is the C3D itself)")
    elif f.error_2d is not None:
        e = f.error_2d
        lines.append(f"2D error against the C3D: median {fmt(e['median_px'], 'px')} px, 95th percentile "
                     f"{fmt(e['p95_px'], 'px')} px, knees median {fmt(e['knee_median_px'], 'px')} px ({e['frames']} frames)")
    else:
        lines.append(f.gt_note or "No ground truth: the 2D error cannot be measured.")
    if f.row.get("gt_partial"):
        lines.append(f"C3D truncated: {f.row.get('gt_frames_read')} of {f.row.get('gt_frames_declared')} frames read")
    cam = f.session.views[f.analysed.view_index].camera
    if cam is not None:
        err = number(getattr(cam, "image_error_px", None))
        lines.append(f"Calibration image error (camera {cam.device_id}): "
                     + (f"{fmt(err, 'px')} px" if err is not None else "not given in the calibration"))
    behind = number(f.row.get("seen_from_behind_pct"))
    if behind is not None and behind > 0:
        lines.append(f"Camera behind the athlete in {behind:.0f} % of the frames: "
                     f"{BEHIND_CAUTION} ({BEHIND_MEASURED}; README, \"How close the model's numbers are\")")
    spread = number(f.row.get("lifter_spread_deg"))
    if unfamiliar(spread):
        lines.append(f"3D reading unsure: its networks disagree by {spread:.0f}° (median; above "
                     f"{UNFAMILIAR_SPREAD_DEG:g}°): {UNFAMILIAR_CAUTION} ({UNFAMILIAR_MEASURED})")
    asym = number(f.row.get("length_asymmetry_mm"))
    if legs_disagree(asym):
        lines.append(f"Legs disagree: their fitted thigh or shank lengths differ by {asym:.0f} mm (above "
                     f"{LEGS_DISAGREE_MM:g} mm), {LEGS_DISAGREE_CAUTION} ({LEGS_DISAGREE_MEASURED})")
    if a.events.notes:
        lines.append("Events: " + "; ".join(a.events.notes))
    f.overflow = overflow
    return lines


def reading_note(f: TrialFacts) -> str:
    task = f.analysis.events.task
    phase = {"drop_jump": "between initial contact (IC) and take-off",
             "single_leg_squat": "between the start and the end of the squat"}.get(task, "over the whole trial")
    sd = (" '±' is one standard deviation of the video estimate (its 3D fit's uncertainty)."
          if f.analysed.uncertainty else "")
    return (
        "How to read this page. MKD (medial knee displacement) is how far the knee centre moves towards the "
        "body's midline, seen from the front (Ellenberger et al. 2020). Definition 1: the knee centre's distance "
        "from the line joining the hip and ankle centres; definition 2: how far the knee has moved medially since "
        "initial contact (the start of a squat). Positive values are medial (valgus) on both legs; as % of leg "
        "length they compare athletes of different size. FPPA (frontal plane projection angle) is the angle "
        "between thigh and shank in the frontal plane: 0 deg is a straight leg, positive is valgus "
        "(knee inside the hip-ankle line) (Munro et al. 2012). KASR below 1 means the knees are closer "
        f"together than the ankles. Peaks are taken {phase}; L-R asymmetry is left minus right.{sd} "
        "Reference values: no published normal range for 3D-derived MKD or FPPA of this task is printed here. "
        f"For 2D video FPPA in drop jumps and single-leg squats, Munro et al. (2012) report a standard error of "
        f"measurement of {style.FPPA_SEM_DEG[0]:.2f}-{style.FPPA_SEM_DEG[1]:.2f} deg and a smallest detectable "
        f"difference of {style.FPPA_SDD_DEG[0]:.2f}-{style.FPPA_SDD_DEG[1]:.2f} deg between days: a change of FPPA "
        "smaller than that is within the measurement error of the 2D method."
    )


# ----------------------------------------------------------------------------- drawing
def _read_frame(session, view_index, video_frame):
    """RGB frame ``video_frame`` of a view, or None where it cannot be read."""
    from ..errors import VideoError

    try:
        with session.views[view_index].open_video(cache_mb=16) as reader:
            bgr = np.asarray(reader[int(video_frame)])
    except (VideoError, KneeViewInputError, OSError, IndexError):
        return None
    return bgr[..., ::-1]


def _row_of(analysed, video_frame):
    idx = np.flatnonzero(np.asarray(analysed.inputs.frame_index) == int(video_frame))
    return int(idx[0]) if idx.size else None


def _athlete_box(kp, W, H):
    """The part of the frame around the athlete (the skeleton, the trunk above it, some floor)."""
    ok = np.isfinite(kp).all(axis=1)
    if not ok.any():
        return 0, W, 0, H
    lo, hi = kp[ok].min(axis=0), kp[ok].max(axis=0)
    h = max(hi[1] - lo[1], 40.0)
    y0, y1 = lo[1] - 0.95 * h, hi[1] + 0.2 * h
    half_w = 0.42 * (y1 - y0)
    cx = 0.5 * (lo[0] + hi[0])
    x0, x1 = cx - half_w, cx + half_w
    return int(max(0, x0)), int(min(W, x1)), int(max(0, y0)), int(min(H, y1))


def _skeleton(ax, kp, colour_by_side=True, dashed=False, lw=1.4, ms=3.0, alpha=1.0):
    """The six joints and their edges, at raw (distorted) pixel coordinates as given."""
    for i, j in J.EDGES:
        if not (np.isfinite(kp[i]).all() and np.isfinite(kp[j]).all()):
            continue
        side = "right" if i % 2 == 0 and j % 2 == 0 else "left" if i % 2 and j % 2 else None
        colour = style.GT if not colour_by_side else (style.SIDE_COLOUR[side] if side else "#f0f0f0")
        ax.plot([kp[i, 0], kp[j, 0]], [kp[i, 1], kp[j, 1]], color=colour, lw=lw, ls="--" if dashed else "-",
                solid_capstyle="round", alpha=alpha)
    for k in range(J.N_JOINTS):
        if np.isfinite(kp[k]).all():
            colour = style.GT if not colour_by_side else (style.RIGHT if k % 2 == 0 else style.LEFT)
            ax.plot(kp[k, 0], kp[k, 1], marker="x" if dashed else "o", color=colour, ms=ms, alpha=alpha,
                    mec="black" if not dashed else colour, mew=0.5 if not dashed else 1.0, ls="none",
                    mfc=colour if not dashed else "none")


def _frame_panels(fig, f: TrialFacts, box):
    """Per leg: the frame at its peak MKD with the skeleton, and a close-up of the knees."""
    import cv2

    left, bottom, width, height = box
    a = f.analysis
    w = width / 4
    for n, side in enumerate(("left", "right")):
        r = a.peaks.get(f"mkd_peak_{side}_frame")
        ax_full = fig.add_axes([left + 2 * n * w + 0.004, bottom, w - 0.008, height - 0.02])
        ax_zoom = fig.add_axes([left + (2 * n + 1) * w + 0.004, bottom, w - 0.008, height - 0.02])
        for ax in (ax_full, ax_zoom):
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_color(style.SIDE_COLOUR[side])
                s.set_linewidth(1.2)
        if r is None:
            lifted = side == lifted_leg(a.events)
            ax_full.text(0.5, 0.5, "the squat's lifted leg:\nnot read" if lifted else "no peak found", ha="center",
                         va="center", transform=ax_full.transAxes)
            ax_full.set_title(f"{side.capitalize()} knee: " + ("lifted" if lifted else "no peak MKD"),
                              color=style.SIDE_COLOUR[side])
            continue
        video_frame = a.video_frame_of(r)
        value = f.row.get(f"mkd_peak_{side}_mm")
        ax_full.set_title(f"{side.capitalize()} knee, peak MKD {fmt(number(value))} mm\nframe {video_frame} "
                          f"({a.time_of(r):.2f} s)", color=style.SIDE_COLOUR[side], fontsize=7)
        ax_zoom.set_title(f"{side} knee close-up, frame {video_frame}", color=style.SIDE_COLOUR[side], fontsize=7)
        rgb = _read_frame(f.session, f.analysed.view_index, video_frame)
        row = _row_of(f.analysed, video_frame)
        kp = np.asarray(f.analysed.inputs.keypoints_px, float)[row] if row is not None else np.full((6, 2), np.nan)
        gt_kp = None
        if f.gt is not None:
            gr = _row_of(f.gt, video_frame)
            gt_kp = np.asarray(f.gt.inputs.keypoints_px, float)[gr] if gr is not None else None
        info = f.session.views[f.analysed.view_index].video_info
        H, W = (rgb.shape[:2] if rgb is not None else (info.height, info.width))
        if rgb is None:
            ax_full.text(0.5, 0.5, "frame could not be read", ha="center", va="center", transform=ax_full.transAxes)
        else:
            # pixel centres at integer coordinates: the image spans -0.5 .. W-0.5
            small = rgb if W <= 900 else cv2.resize(rgb, (900, int(round(H * 900 / W))), interpolation=cv2.INTER_AREA)
            ax_full.imshow(small, extent=(-0.5, W - 0.5, H - 0.5, -0.5), interpolation="none", aspect="equal")
        for ax, zoom in ((ax_full, False), (ax_zoom, True)):
            if gt_kp is not None and f.analysed.source == "model":
                _skeleton(ax, gt_kp, colour_by_side=False, dashed=True, lw=0.8, ms=4.0 if zoom else 2.5)
            _skeleton(ax, kp, lw=1.0 if zoom else 1.1, ms=4.0 if zoom else 2.2, alpha=0.75 if zoom else 1.0)
        x0, x1, y0, y1 = _athlete_box(np.vstack([kp, gt_kp]) if gt_kp is not None else kp, W, H)
        ax_full.set_xlim(x0 - 0.5, x1 - 0.5)
        ax_full.set_ylim(y1 - 0.5, y0 - 0.5)
        ax_full.set_aspect("equal")
        knees = kp[[J.JOINTS.index("RFEO"), J.JOINTS.index("LFEO")]]
        legs = kp[[J.JOINTS.index("RFEP"), J.JOINTS.index("LFEP"), J.JOINTS.index("RTIO"), J.JOINTS.index("LTIO")]]
        if np.isfinite(knees).all():
            centre = knees.mean(axis=0)
            span = np.nanmax(np.abs(legs - centre)) if np.isfinite(legs).any() else 0.25 * H
            half = float(np.clip(0.6 * span, 20.0, max(H, W)))
            x0, x1 = int(max(0, centre[0] - half)), int(min(W, centre[0] + half))
            y0, y1 = int(max(0, centre[1] - half)), int(min(H, centre[1] + half))
            if rgb is not None and x1 > x0 and y1 > y0:
                ax_zoom.imshow(rgb[y0:y1, x0:x1], extent=(x0 - 0.5, x1 - 0.5, y1 - 0.5, y0 - 0.5), interpolation="none")
            ax_zoom.set_xlim(x0 - 0.5, x1 - 0.5)
            ax_zoom.set_ylim(y1 - 0.5, y0 - 0.5)
            ax_zoom.set_aspect("equal")
            ax_full.add_patch(_rectangle(x0, y0, x1 - x0, y1 - y0, style.SIDE_COLOUR[side]))
        else:
            ax_zoom.text(0.5, 0.5, "knees not estimated\nat this frame", ha="center", va="center", transform=ax_zoom.transAxes)


def _rectangle(x, y, w, h, colour):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), w, h, fill=False, ec=colour, lw=0.8, ls=":")


def _curves(fig, f: TrialFacts, box):
    """MKD and FPPA over time, both legs, events and peaks marked, ±1 SD bands, the C3D dashed."""
    left, bottom, width, height = box
    a = f.analysis
    t = np.asarray(a.time_s, float)
    unc = f.analysed.uncertainty or {}
    missing = set(f.missing_frames)
    for n, (title, column, peak) in enumerate((("MKD, definition 1 (mm)", "mkd_{side}_mm", "mkd"),
                                               ("FPPA (deg)", "fppa_{side}_deg", "fppa"))):
        ax = fig.add_axes([left + n * width / 2 + 0.045, bottom, width / 2 - 0.06, height])
        ax.set_title(title, loc="left", fontweight="bold")
        ax.axhline(0.0, color="#999999", lw=0.5)
        lifted = lifted_leg(a.events)  # a single-leg squat's lifted leg: faint, not read, not scaled to
        read = []
        for side in SIDES:
            c = column.format(side=side)
            y = np.asarray(a.metrics[c], float)
            colour = style.SIDE_COLOUR[side]
            faint = side == lifted
            if f"{c}_sd" in unc and not faint:
                sd = np.asarray(unc[f"{c}_sd"], float)
                ax.fill_between(t, y - sd, y + sd, color=colour, alpha=0.18, lw=0, label=None)
                read += [y - sd, y + sd]
            ax.plot(t, y, color=colour, label=side, **({"alpha": 0.3, "lw": 0.6} if faint else {}))
            if not faint:
                read.append(y)
            if f.gt is not None and c in f.gt.analysis.metrics:
                yg = np.asarray(f.gt.analysis.metrics[c], float)
                ax.plot(np.asarray(f.gt.analysis.time_s, float), yg, color=colour, ls="--", lw=0.5 if faint else 0.8,
                        alpha=0.3 if faint else 0.8)
                if not faint:
                    read.append(yg)
            r = a.peaks.get(f"{peak}_peak_{side}_frame")
            if r is not None and np.isfinite(y[r]):
                ax.plot(t[r], y[r], marker="v", color=colour, mec="black", mew=0.5, ms=5, ls="none")
        if missing:
            for m in ranges(sorted(missing)).split(", "):
                lo, _, hi = m.partition("-")
                lo, hi = int(lo), int(hi or lo)
                ax.axvspan((lo - 0.5) / a.rate_hz, (hi + 0.5) / a.rate_hz, color="#bbbbbb", alpha=0.35, lw=0)
        if lifted is not None:  # its FPPA can read near 180 degrees: scale to the legs that are read
            v = np.concatenate(read) if read else np.zeros(1)
            v = v[np.isfinite(v)]
            if v.size:
                lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
                pad = 0.08 * max(hi - lo, 1.0)
                ax.set_ylim(lo - pad, hi + pad)
        ymin, ymax = ax.get_ylim()
        for name, r in a.event_frames().items():
            if r is None:
                continue
            ax.axvline(t[r], color=style.EVENT, lw=0.7, ls=":")
            ax.text(t[r], ymax, EVENT_LABELS.get(name, name), rotation=90, va="top", ha="right", fontsize=5.5,
                    color=style.EVENT)
        ax.set_xlabel("time (s)")
        ax.set_xlim(t[0] if len(t) else 0, t[-1] if len(t) else 1)
        for s in ("top", "right"):
            ax.spines[s].set_visible(False)
    # one legend for both plots
    from matplotlib.lines import Line2D

    items = [Line2D([], [], color=style.LEFT, label="left"), Line2D([], [], color=style.RIGHT, label="right"),
             Line2D([], [], color="black", marker="v", ls="none", ms=4, label="peak")]
    if unc:
        from matplotlib.patches import Patch

        items.append(Patch(color="#888888", alpha=0.3, label="±1 SD"))
    if f.gt is not None:
        items.append(Line2D([], [], color="#444444", ls="--", lw=0.8, label="C3D ground truth"))
    if missing:
        from matplotlib.patches import Patch

        items.append(Patch(color="#bbbbbb", alpha=0.5, label="no estimate"))
    items.append(Line2D([], [], color=style.EVENT, ls=":", label="events"))
    fig.legend(handles=items, loc="lower center", bbox_to_anchor=(left + width / 2, bottom + height + 0.012),
               ncol=len(items), frameon=False, fontsize=6.5)


def _peak_table(fig, f: TrialFacts, box):
    left, bottom, width, height = box
    ax = fig.add_axes([left, bottom, width, height])
    ax.axis("off")
    header = ["", "Left", "Right", "L-R asymmetry", "Peak frame (L / R)"]
    cells = []
    for r in f.table:
        (lv, ls), (rv, rs) = r["values"]["left"], r["values"]["right"]
        fl, fr = r["frames"]["left"], r["frames"]["right"]
        fr_text = f"{'—' if fl is None else int(fl)} / {'—' if fr is None else int(fr)}"
        cells.append([r["label"], fmt(lv, r["unit"], ls), fmt(rv, r["unit"], rs), fmt(r["asymmetry"], r["unit"]),
                      fr_text if not r["label"].startswith(" ") else ""])
    kasr = number(f.row.get("kasr_min"))
    kasr_frame = f.row.get("kasr_min_frame")
    cells.append(["KASR, least (both legs)", fmt(kasr, "ratio"), "", "",
                  "—" if kasr_frame is None else str(int(kasr_frame))])
    table = ax.table(cellText=cells, colLabels=header, loc="upper left", cellLoc="center", colLoc="center",
                     colWidths=[0.36, 0.15, 0.15, 0.15, 0.19])
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1.0, 1.18)
    for (i, j), cell in table.get_celld().items():
        cell.set_linewidth(0.3)
        cell.set_edgecolor("#bbbbbb")
        if i == 0:
            cell.set_text_props(fontweight="bold")
            cell.set_facecolor("#eeeeee")
        if j == 0:
            cell.set_text_props(ha="left")
            cell._loc = "left"
        if i > 0 and j == 1:
            cell.get_text().set_color(style.LEFT)
        if i > 0 and j == 2:
            cell.get_text().set_color(style.RIGHT)
    return ax


def _text_block(fig, x, y, title, lines, width_chars, size=6.6, line_h=0.0113, family=None):
    """A bold title and wrapped lines from (x, y) downwards; returns the y below the block."""
    if title:
        fig.text(x, y, title, fontweight="bold", fontsize=7.8, va="top")
        y -= line_h * 1.3
    for line in lines:
        for part in textwrap.wrap(line, width_chars, subsequent_indent="    ") or [""]:
            fig.text(x, y, part, fontsize=size, va="top", family=family or "DejaVu Sans")
            y -= line_h
    return y


def _header(fig, f: TrialFacts):
    fig.text(0.05, 0.975, "Dynamic knee valgus — screening report", fontsize=13, fontweight="bold", va="top")
    fig.text(0.95, 0.975, f"KneeView {__version__}", fontsize=7, ha="right", va="top", color=style.MUTED)
    columns = (0.05, 0.30, 0.55, 0.78)
    items = f.identity
    first, second = items[:4], items[4:]
    for row, chunk in enumerate((first, second)):
        y = 0.948 - 0.017 * row
        xs = columns if row == 0 else (0.05, 0.30, 0.55)
        if row == 1 and len(chunk) == 2:
            xs = (0.05, 0.55)
        for (label, value), x in zip(chunk, xs):
            t = fig.text(x, y, f"{label}:", fontsize=7.6, fontweight="bold", va="top")
            fig.text(x + 0.011 * (len(label) + 1) * 0.72 + 0.006, y, value, fontsize=7.6, va="top")
            del t
    fig.add_artist(_hline(0.915))


def _hline(y):
    from matplotlib.lines import Line2D

    return Line2D([0.05, 0.95], [y, y], color="#cccccc", lw=0.6)


def _pages(f: TrialFacts):
    from matplotlib.figure import Figure

    fig = Figure(figsize=style.A4)
    a = f.analysis
    _header(fig, f)
    _frame_panels(fig, f, (0.04, 0.715, 0.92, 0.19))
    _curves(fig, f, (0.04, 0.535, 0.92, 0.135))
    phase = {"drop_jump": "landing phase (initial contact to take-off)",
             "single_leg_squat": "squat (start to end)"}.get(a.events.task, "whole trial (no task detected)")
    fig.text(0.05, 0.49, f"Peaks in the {phase}", fontweight="bold", fontsize=8, va="top")
    _peak_table(fig, f, (0.05, 0.34, 0.875, 0.14))
    quality = quality_lines(f)
    y1 = _text_block(fig, 0.05, 0.318, "Data quality", quality, 72)
    prov = [f"{k}: {v}" for k, v in f.provenance]
    y2 = _text_block(fig, 0.52, 0.318, "Provenance", prov, 74, size=5.9, line_h=0.0106)
    y = min(y1, y2) - 0.008
    note = reading_note(f)
    # the note goes to page 2 where the quality lines leave it no room above the references
    note_fits = y - _block_height(note, READING_WIDTH, READING_LINE_H) >= REFERENCES_TOP
    if note_fits:
        _text_block(fig, 0.05, y, "How to read MKD and FPPA", [note], READING_WIDTH, size=6.3, line_h=READING_LINE_H)
    else:
        _text_block(fig, 0.05, y, "How to read MKD and FPPA", ["On page 2."], READING_WIDTH, size=6.3,
                    line_h=READING_LINE_H)
    refs = ["References: " + style.REF_MKD, style.REF_FPPA]
    _text_block(fig, 0.05, 0.036, "", refs, 190, size=5.2, line_h=0.0085)
    pages = [fig]
    if f.overflow or not note_fits:
        fig2 = Figure(figsize=style.A4)
        fig2.text(0.05, 0.975, f"Screening report, page 2 — {f.session.recording.name}", fontsize=11,
                  fontweight="bold", va="top")
        y = 0.94
        for title, text in f.overflow:
            y = _text_block(fig2, 0.05, y, title + " (video frames)", [text], 130) - 0.01
        if not note_fits:
            _text_block(fig2, 0.05, y, "How to read MKD and FPPA", [note], READING_WIDTH, size=6.3,
                        line_h=READING_LINE_H)
        pages.append(fig2)
    return pages


#: the reading note's layout on page one, and the top of the references below it (figure fraction)
READING_WIDTH = 150
READING_LINE_H = 0.0104
REFERENCES_TOP = 0.045


def _block_height(text: str, width_chars: int, line_h: float) -> float:
    """The height :func:`_text_block` gives a titled block of ``text``."""
    return line_h * 1.3 + line_h * len(textwrap.wrap(text, width_chars, subsequent_indent="    ") or [""])


def render_trial_pdf(facts: TrialFacts) -> bytes:
    with style.pdf_style():
        pages = _pages(facts)
        return style.pdf_bytes(pages, title=f"KneeView screening report — {facts.session.recording.name}",
                               subject="Dynamic knee valgus: MKD and FPPA")


def write_trial_report(path, session, analysed, gt="auto") -> Path:
    """Draw the report of ``analysed`` and write it to ``path`` atomically (a full disk or a
    read-only folder raises :class:`~kneeview.errors.ExportError` naming the file and leaves
    an earlier report as it was)."""
    from ..atomic import atomic_write_bytes

    path = Path(path)
    data = render_trial_pdf(collect_trial(session, analysed, gt))
    atomic_write_bytes(path, data)
    return path
