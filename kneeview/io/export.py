"""Exports a clinician takes away: per-frame CSV, per-trial summary CSV, OpenSim TRC.

Every file is written atomically (:mod:`kneeview.atomic`): an existing file is either left
as it was or replaced by the complete new one; a read-only folder or a full disk raises
:class:`~kneeview.errors.ExportError` naming the file. Every CSV has one header row, a
comma separator and empty cells for missing values, so ``pandas.read_csv(path)`` reads it
with no options. Units are in the column names.

Per-frame CSV columns: ``frame`` (video frame), ``time_s``, then per joint (order of
:data:`kneeview.joints.JOINTS`) ``<J>_u_px``, ``<J>_v_px`` (raw distorted image pixels,
pixel centres at integers), ``<J>_x_mm``, ``<J>_y_mm``, ``<J>_z_mm`` (lab frame, Z up),
``<J>_confidence``, then the metrics of :mod:`kneeview.analysis.metrics`
(``mkd_left_mm``, ``mkd_right_mm``, ``fppa_left_deg``, ``fppa_right_deg``...). The
trajectories are the filtered ones the metrics were computed from.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from .. import joints as J
from ..analysis.lifting import median_spread_deg
from ..atomic import atomic_open, atomic_write_set
from ..errors import ExportError

#: Rotation from the Vicon lab frame (Z up) to OpenSim's (Y up): rows are the OpenSim axes
#: in lab coordinates. X_os = X_lab, Y_os = Z_lab, Z_os = -Y_lab (-90 deg about lab X).
LAB_TO_OPENSIM = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _csv_text(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, lineterminator="\n", na_rep="")


def _write_csv(path, df: pd.DataFrame) -> Path:
    path = Path(path)
    text = _csv_text(df)
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return path


def frames_table(analysis, confidence=None, uncertainty: dict | None = None, reliable=None,
                 prior_spread_deg=None) -> pd.DataFrame:
    """The per-frame table of a :class:`~kneeview.analysis.TrialAnalysis`.

    ``confidence`` (T, 6) per-joint confidence in [0, 1]; default 1 where the joint is
    known in 3D and NaN elsewhere. ``uncertainty``: per-frame standard deviations of metric
    columns (``mkd_left_mm_sd``...), written after their metric; ``reliable`` (T,) bool: the
    ``fit_reliable`` column (1/0), where the 3D fit can be trusted; ``prior_spread_deg`` (T,): the
    ``lifter_spread_deg`` column, how much the 3D reading's networks disagree on each frame
    (:func:`kneeview.analysis.lifting.reading_spread_deg`).
    """
    T = len(analysis)
    cols: dict[str, np.ndarray] = {"frame": np.asarray(analysis.frame_index, dtype=np.int64),
                                   "time_s": np.asarray(analysis.time_s, dtype=np.float64)}
    joints = analysis.joints_lab_mm
    kp = analysis.keypoints_px if analysis.keypoints_px is not None else np.full((T, J.N_JOINTS, 2), np.nan)
    if confidence is None:
        confidence = np.where(np.isfinite(joints).all(-1), 1.0, np.nan)
    confidence = np.asarray(confidence, dtype=np.float64)
    for k, name in enumerate(J.JOINTS):
        cols[f"{name}_u_px"] = kp[:, k, 0]
        cols[f"{name}_v_px"] = kp[:, k, 1]
        cols[f"{name}_x_mm"] = joints[:, k, 0]
        cols[f"{name}_y_mm"] = joints[:, k, 1]
        cols[f"{name}_z_mm"] = joints[:, k, 2]
        cols[f"{name}_confidence"] = confidence[:, k]
    uncertainty = uncertainty or {}
    for name, series in analysis.metrics.items():
        cols[name] = np.asarray(series, dtype=np.float64)
        if f"{name}_sd" in uncertainty:
            cols[f"{name}_sd"] = np.asarray(uncertainty[f"{name}_sd"], dtype=np.float64)
    if reliable is not None:
        cols["fit_reliable"] = np.asarray(reliable, dtype=bool).astype(np.int64)
    if prior_spread_deg is not None:
        cols["lifter_spread_deg"] = np.asarray(prior_spread_deg, dtype=np.float64)
    return pd.DataFrame(cols)


def write_frames_csv(path, analysis, confidence=None, uncertainty: dict | None = None, reliable=None,
                     prior_spread_deg=None) -> Path:
    """Write the per-frame CSV (see the module docstring for the columns)."""
    return _write_csv(path, frames_table(analysis, confidence, uncertainty, reliable, prior_spread_deg))


def _num(v):
    if v is None:
        return None
    if isinstance(v, (float, np.floating)) and not math.isfinite(float(v)):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def summary_row(analysis, trial: str = "", recording: str = "", source: str = "gt", model: dict | None = None,
                metadata: dict | None = None, ground_truth=None, uncertainty: dict | None = None,
                placement: str | None = None, reliable=None, prior_spread_deg=None,
                length_asymmetry_mm: float | None = None) -> dict:
    """One summary row of a trial: identification, events, peaks and asymmetry.

    Events: ``<event>_frame`` (video frame) and ``<event>_time_s`` for every event name of
    :data:`kneeview.analysis.events.EVENT_NAMES` (empty where the task has no such event or
    it was not found). Peaks (within the landing phase): ``<metric>_peak_<side>_<unit>``,
    ``<metric>_peak_<side>_frame`` / ``_time_s``; asymmetry ``<metric>_peak_asymmetry_<unit>``
    = left minus right. With ``ground_truth`` (the :class:`~kneeview.io.c3d.GroundTruth` the
    trajectories come from), ``gt_frames_declared``, ``gt_frames_read`` and ``gt_partial``
    record whether its C3D was complete (a truncated one is used only with --allow-partial).
    With ``uncertainty`` (per-frame sd columns), each peak's standard deviation at its frame
    (``mkd_peak_left_mm_sd``...); ``placement`` says how the model's 3D was put in the lab,
    ``seen_from_behind_pct`` (from ``model["seen_from_behind_frames"]``) how much of the trial the
    camera saw the athlete from behind;
    ``reliable`` (T,) bool counts the frames whose fit is unreliable (``frames_unreliable``);
    ``prior_spread_deg`` (T,) gives ``lifter_spread_deg``, the median over the frames of how much the 3D
    reading's networks disagree (above :data:`kneeview.analysis.lifting.UNFAMILIAR_SPREAD_DEG`: a
    recording unlike their training); ``length_asymmetry_mm`` (the reconstruction's, the larger left-right
    difference of its fitted thigh and shank lengths) the column of that name (above
    :data:`kneeview.analysis.reconstruction.LEGS_DISAGREE_MM`: a joint likely placed wrong).
    """
    model = dict(model or {})
    metadata = dict(metadata or {})
    row: dict = {
        "trial": trial,
        "recording": recording,
        "athlete_id": metadata.get("athlete_id"),
        "year": metadata.get("year"),
        "source": source,
        "software_version": __version__,
        "model_name": model.get("name") if source == "model" else None,
        "model_version": (model.get("version") or model.get("checkpoint_sha256") or model.get("hash")) if source == "model" else None,
        "task": analysis.events.task,
        "stance_leg": analysis.events.leg,
        "rate_hz": analysis.rate_hz,
        "n_frames": len(analysis),
        "cutoff_hz": analysis.cutoff_hz,
        "placement": placement if source == "model" else None,
        # share of the frames the camera saw the athlete from behind (kneeview.analysis.facing)
        "seen_from_behind_pct": (100.0 * model["seen_from_behind_frames"] / max(len(analysis), 1)
                                 if source == "model" and model.get("seen_from_behind_frames") is not None else None),
        "leg_length_right_mm": analysis.leg_length_mm.get("right"),
        "leg_length_left_mm": analysis.leg_length_mm.get("left"),
    }
    if ground_truth is not None:
        row.update(ground_truth.completeness())
    for name, r in analysis.event_frames().items():
        row[f"{name}_frame"] = analysis.video_frame_of(r)
        row[f"{name}_time_s"] = analysis.time_of(r)
    for key, value in analysis.peaks.items():
        if key.endswith("_frame"):
            row[key] = analysis.video_frame_of(value)
            row[key[: -len("_frame")] + "_time_s"] = analysis.time_of(value)
        else:
            row[key] = value
    uncertainty = uncertainty or {}
    for key, value in analysis.peaks.items():
        if key.endswith("_frame") or value is None:
            continue
        name, _, rest = key.partition("_peak_")
        side, _, unit = rest.partition("_")
        column = f"{name}_{side}_{unit}_sd"
        frame = analysis.peaks.get(f"{name}_peak_{side}_frame")
        if column in uncertainty and frame is not None:
            row[f"{key}_sd"] = float(uncertainty[column][frame])
    if reliable is not None:
        row["frames_unreliable"] = int((~np.asarray(reliable, dtype=bool)).sum())
    row["lifter_spread_deg"] = median_spread_deg(prior_spread_deg)
    row["length_asymmetry_mm"] = length_asymmetry_mm
    row["events_notes"] = "; ".join(analysis.events.notes) or None
    return {k: _num(v) for k, v in row.items()}


def summary_table(rows: list[dict]) -> pd.DataFrame:
    """Rows -> table with frame columns as integers (empty where missing)."""
    if not rows:
        return pd.DataFrame(columns=["trial"])
    df = pd.DataFrame(rows)
    for col in df.columns:
        if col.endswith("_frame") or col in ("n_frames", "gt_frames_declared", "gt_frames_read", "frames_unreliable"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    return df


def write_summary_csv(path, rows) -> Path:
    """Write summary rows (dicts from :func:`summary_row`, one per trial)."""
    if isinstance(rows, dict):
        rows = [rows]
    return _write_csv(path, summary_table(list(rows)))


def _summary_text(rows) -> str:
    return _csv_text(summary_table([rows] if isinstance(rows, dict) else list(rows)))


def write_trc(path, joints_lab_mm, rate_hz: float, frame_index=None, labels=J.JOINTS) -> Path:
    """Write joint centres as an OpenSim TRC marker file (tab-separated, mm).

    Axes: OpenSim is Y up, the Vicon lab Z up, so the TRC holds X = lab X, Y = lab Z,
    Z = -lab Y (a right-handed -90 deg rotation about lab X, :data:`LAB_TO_OPENSIM`).
    ``Frame#`` counts from 1 (OpenSim's convention); ``Time`` is ``frame_index / rate``
    (default frame_index 0..T-1); missing coordinates are empty fields.
    """
    path = Path(path)
    text = trc_text(path.name, joints_lab_mm, rate_hz, frame_index, labels)
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return path


def trc_text(name: str, joints_lab_mm, rate_hz: float, frame_index=None, labels=J.JOINTS) -> str:
    """The content of the TRC file ``name`` (see :func:`write_trc`)."""
    joints = np.asarray(joints_lab_mm, dtype=np.float64)
    T = joints.shape[0]
    if joints.shape[1:] != (len(labels), 3):
        raise ValueError(f"joints must have shape (T, {len(labels)}, 3), got {joints.shape}")
    frame_index = np.arange(T) if frame_index is None else np.asarray(frame_index)
    os_xyz = joints @ LAB_TO_OPENSIM.T
    rate = f"{float(rate_hz):.6g}"
    first = int(frame_index[0]) + 1 if T else 1
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate}\t{rate}\t{T}\t{len(labels)}\tmm\t{rate}\t{first}\t{T}",
        "Frame#\tTime\t" + "\t".join(f"{name}\t\t" for name in labels).rstrip("\t"),
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, len(labels) + 1)),
        "",
    ]
    for r in range(T):
        vals = ["" if not np.isfinite(v) else f"{v:.5f}" for v in os_xyz[r].ravel()]
        lines.append(f"{r + 1}\t{frame_index[r] / float(rate_hz):.6f}\t" + "\t".join(vals))
    return "\n".join(lines) + "\n"


def read_trc(path) -> tuple[dict, list[str], np.ndarray]:
    """Read a TRC written by :func:`write_trc`: (header dict, marker labels, data (T, 2 + 3M)).

    Data columns are Frame#, Time, then X/Y/Z per marker (NaN for empty fields).
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    keys = lines[1].split("\t")
    values = lines[2].split("\t")
    header = dict(zip(keys, values))
    labels = [t for t in lines[3].split("\t")[2:] if t]
    rows = []
    for line in lines[5:]:
        if not line.strip():
            continue
        rows.append([float(t) if t.strip() else np.nan for t in line.split("\t")])
    return header, labels, np.array(rows, dtype=np.float64).reshape(len(rows), 2 + 3 * len(labels))


def export_trial(out_dir, analysis, name: str, confidence=None, source: str = "gt", model: dict | None = None,
                 recording: str = "", metadata: dict | None = None, ground_truth=None, uncertainty: dict | None = None,
                 placement: str | None = None, reliable=None, prior_spread_deg=None,
                 length_asymmetry_mm: float | None = None) -> dict[str, Path]:
    """Write ``<name>_frames.csv``, ``<name>_summary.csv`` and ``<name>.trc`` into ``out_dir``.

    The three are one set (:func:`~kneeview.atomic.atomic_write_set`): all are replaced or,
    on a full disk or a read-only folder, none is and the error names the file.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(out_dir, f"cannot create the output folder: {exc.strerror or exc}") from None
    paths = {"frames": out_dir / f"{name}_frames.csv", "summary": out_dir / f"{name}_summary.csv", "trc": out_dir / f"{name}.trc"}
    texts = {
        paths["frames"]: _csv_text(frames_table(analysis, confidence, uncertainty, reliable, prior_spread_deg)),
        paths["summary"]: _summary_text(summary_row(analysis, name, recording, source, model, metadata, ground_truth,
                                                    uncertainty, placement, reliable, prior_spread_deg,
                                                    length_asymmetry_mm)),
        paths["trc"]: trc_text(paths["trc"].name, analysis.joints_lab_mm, analysis.rate_hz, analysis.frame_index),
    }
    atomic_write_set(texts)
    return paths
