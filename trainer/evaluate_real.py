"""A model on a real multi-view recording, against triangulated pseudo-labels, beside BlazePose.

    kneeview-train evaluate-real [--session DIR] [--checkpoint CKPT] [--detections NPZ]
                                 [--run RUN] [--json OUT] [--plot OUT.png] [--device cpu]
    .venv/bin/python -m trainer.evaluate_real ...                  (the same, without the CLI)

The recording is a calibrated multi-view session whose "ground truth" is a pseudo-label C3D
triangulated from an off-the-shelf 2D detector (by default Pose2Sim's Demo_SinglePerson,
fetched into the cache; docs/real-recording.md makes its labels). Per view, side by side,
on the evaluated frames:

* the model (the bundled one, or ``--checkpoint``) and BlazePose's monocular output (from
  the detections file the labels were triangulated from): detection rate (all six joints
  found), 2D error of the hips, knees and ankles (median, raw pixels and as a fraction of
  the projected thigh length, hip-knee, mean of both legs), 3D PCK@0.10 m (a frame without
  a detection counts its joints as wrong, as in :mod:`trainer.evaluate`) and MPJPE (over
  frames with a 3D estimate), mid-hip-relative, in the view's camera frame;
* medial knee displacement (MKD, :func:`kneeview.analysis.analyse`, definition 1, 6 Hz
  low-pass) of each side, from each source's 3D put into the lab by
  :func:`kneeview.session.inputs.from_pose_sequence`, against the labels' MKD: RMS
  difference in mm. The curves are computed over the whole recording (the filter needs
  continuous samples) and compared on the evaluated frames only.

BlazePose's 2D figures are optimistic: the labels were triangulated from its own detections
(each view contributes to its own label).

Beside each view, the same MKD from the detections of the **other views**, triangulated as the
labels are (``LABEL_TRIANGULATION``: left/right resolved across the views, 120 px outlier
rejection; docs/real-recording.md, "Pipeline"): what a camera system without this view
measures, and how far the labels move when one view leaves them -- the scale of their own noise,
below which no single-view figure can be judged (``other_views``: MKD RMS against the labels and
the knee joint centres' distance from the labels', median mm). And the model's reconstruction
run on the labels' own 2D (their projection; ``mkd_*_rms_mm_labels_2d``): the share of the MKD
error that better 2D could remove.

``--run RUN`` restricts the evaluation to the held-out frames of a training run that mixed
in this session (``RUN/split.json``, key ``"real"``, one entry per session:
``test_frames``, ``holdout_views``...) and labels each view "trained" or "held out". The
summary then judges the model on the held-out views (without ``--run``: all views) against
its target: it detects the person in >= 99 % of frames and its median 2D error is within
1.5x BlazePose's.

BlazePose's 3D: ``world_landmarks_m`` (V, T, 33, 3) in the detections file, MediaPipe's
``pose_world_landmarks`` -- metres, origin between its hips. MediaPipe documents no
orientation for them beyond "x right, y down, z away from the camera"; checked on the demo
(100 frames, 4 views) against the pseudo-labels in each camera's frame (mid-hip-relative,
hips, knees and ankles), the axes are the camera's: the best-fit rotation (Kabsch, all
frames of a view) from BlazePose's world joints to the labels is 9-10 degrees in cam01,
cam03 and cam04, almost all of it about the camera's vertical (y) axis (8-9 degrees of yaw,
either sign), i.e. no axis is swapped or flipped. In cam02 it is 27 degrees over all frames
but 1.5 degrees without the 28 frames whose 2D left/right is swapped against the labels
(27 of them swapped in 3D as well). The camera frame fits them better than a frame turned
towards the person (the person stands within 6 degrees of each optical axis there). So
the landmarks are used as the camera-frame, mid-hip-relative 3D with no rotation: joints
24/23, 26/25, 28/27 (right/left), re-centred on the mean of their two hips. A detections
file without them gives NaN BlazePose 3D columns and a note.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from kneeview import joints as J
from kneeview.errors import KneeViewInputError

from .pose2sim_demo import fetch_demo

PCK_THRESHOLD_M = 0.10
CUTOFF_HZ = 6.0
#: The model's target on the views it did not train on: detection rate, and median 2D error against BlazePose's.
TARGET_DETECTED_PCT = 99.0
TARGET_2D_RATIO = 1.5
SOURCES = ("model", "blazepose")
#: how the pseudo-labels were triangulated (docs/real-recording.md: ``kneeview triangulate --fix-left-right
#: --outlier-px 120``); the other views' reference is triangulated the same way
LABEL_TRIANGULATION = {"fix_left_right": True, "outlier_px": 120.0}
SIDES = ("left", "right")


# ----------------------------------------------------------------------------- inputs
def real_split_entry(run, session, names=()) -> dict:
    """The ``"real"`` entry of ``RUN/split.json`` (or of the split file ``run``) for ``session``.

    An entry matches when its ``session`` resolves to the same folder, or its ``name`` is the
    session folder's name or one of ``names`` (e.g. the recording's ``root/trial`` name).
    """
    run = Path(run)
    path = run if run.suffix == ".json" else run / "split.json"
    try:
        split = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KneeViewInputError(path, "no split file (is --run a training run folder?)", "--run") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise KneeViewInputError(path, f"cannot read the split: {exc}", "--run") from None
    session = Path(session)
    entries = split.get("real") if isinstance(split, dict) else None
    if not entries:
        raise KneeViewInputError(path, f"the run mixed in no real recording (no \"real\" entries), so it has no "
                                 f"held-out frames of {session.name}", "real")
    entries = [e for e in entries if isinstance(e, dict)]
    wanted = {session.name, *map(str, names)}
    by_path = [e for e in entries if "session" in e and Path(e["session"]).resolve() == session.resolve()]
    by_name = [e for e in entries if str(e.get("name")) in wanted]
    for entry in (by_path or by_name)[:1]:  # the same folder first; a moved session by its name
        for key in ("test_frames", "views", "holdout_views"):
            if not isinstance(entry.get(key), list):
                raise KneeViewInputError(path, f"the entry of {session.name} has no list '{key}'", "real")
        return entry
    listed = ", ".join(str(e.get("name", e.get("session"))) for e in entries)
    raise KneeViewInputError(path, f"no held-out entry for {session} among the run's real recordings ({listed})", "real")


def load_world_landmarks(path) -> np.ndarray | None:
    """``world_landmarks_m`` (V, T, 33, 3) of a detections file, or None when it has none."""
    with np.load(path, allow_pickle=False) as z:
        if "world_landmarks_m" not in z.files:
            return None
        world = np.asarray(z["world_landmarks_m"], dtype=np.float64)
    if world.ndim != 4 or world.shape[-1] != 3 or world.shape[2] <= max(J.BLAZEPOSE_INDEX):
        raise KneeViewInputError(path, f"world_landmarks_m has shape {world.shape}, expected (views, frames, 33, 3)",
                                 "world_landmarks_m")
    return world


def world_to_joints_m(world_landmarks_m) -> np.ndarray:
    """BlazePose world landmarks (T, 33, 3) -> KneeView joints (T, 6, 3), metres, mid-hip-relative (NaN where missing)."""
    joints = np.asarray(world_landmarks_m, dtype=np.float64)[:, list(J.BLAZEPOSE_INDEX)]
    return joints - joints[:, [J.JOINTS.index("RFEP"), J.JOINTS.index("LFEP")]].mean(axis=1, keepdims=True)


def blazepose_sequence(keypoints_px, confidence, joints_cam_m, fps: float, detector: str = "BlazePose"):
    """One view's BlazePose output as a :class:`~kneeview.sequence.PoseSequence` (score 1 where all six joints were found)."""
    from kneeview.sequence import PoseSequence

    kp = np.asarray(keypoints_px, dtype=np.float64)
    T = len(kp)
    joints = np.full((T, J.N_JOINTS, 3), np.nan) if joints_cam_m is None else np.asarray(joints_cam_m, dtype=np.float64)
    detected = np.isfinite(kp).all(axis=(1, 2))
    idx = np.arange(T)
    return PoseSequence(frame_index=idx, time_s=idx / fps, score=np.where(detected, 1.0, np.nan), keypoints_px=kp,
                        joints_cam_m=joints, confidence=np.nan_to_num(np.asarray(confidence, float), nan=0.0),
                        source="blazepose", model={"name": detector})


def backdrop_sources_of_run(run) -> list[dict]:
    """The real frames behind the backdrops of the synthetic data a run trained on (``RUN/split.json``'s
    ``data``; kneeview.synth.backdrops): none when the run's data used no backdrop or is gone."""
    from kneeview.synth.backdrops import dataset_backdrop_sources

    run = Path(run)
    path = run if run.suffix == ".json" else run / "split.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8")).get("data")
    except (OSError, ValueError, AttributeError):
        return []
    return dataset_backdrop_sources(data) if isinstance(data, str) and Path(data).is_dir() else []


def check_backdrop_frames(rec, frames, sources) -> None:
    """Refuse to evaluate on frames of this recording that a training backdrop was made from
    (matched by the video's SHA-256, whatever its name or folder)."""
    from kneeview.synth.backdrops import check_not_in_backdrops, sha256_file

    if not sources:
        return
    for view in rec.views:
        check_not_in_backdrops(sources, sha256_file(view.video_path), frames, view.video_path, view.video_path.stem)


# ----------------------------------------------------------------------------- metrics
def _pad(a: np.ndarray, T: int) -> np.ndarray:
    """First T rows of ``a``, NaN-padded when it is shorter."""
    a = np.asarray(a, dtype=np.float64)[:T]
    if len(a) == T:
        return a
    return np.concatenate([a, np.full((T - len(a),) + a.shape[1:], np.nan)])


def score_view(truth_px, truth_rel_m, thigh_px, rows, keypoints_px, joints_rel_m, detected) -> tuple[dict, np.ndarray]:
    """Figures of one source in one view over the frames ``rows`` (bool (T,), labelled and evaluated).

    Returns (figures, 2D errors px of the detected rows (n, 6)) -- the latter for pooled medians.
    """
    from .evaluate import mpjpe_mm, pck

    n = int(rows.sum())
    out = {"frames": n}
    det = rows & detected
    err_px = np.linalg.norm(keypoints_px - truth_px, axis=-1)  # (T, 6)
    out["detected_pct"] = 100.0 * float(det.sum()) / n if n else float("nan")
    if det.any():
        out["2d_median_px"] = float(np.median(err_px[det]))
        out["2d_median_thigh_frac"] = float(np.median((err_px / thigh_px[:, None])[det]))
    else:
        out["2d_median_px"] = out["2d_median_thigh_frac"] = float("nan")
    if joints_rel_m is None or not np.isfinite(joints_rel_m[rows]).any():
        out["pck@0.10"] = out["mpjpe_mm"] = float("nan")
    else:
        pred = np.where(detected[:, None, None], joints_rel_m, np.nan)[rows]
        out["pck@0.10"] = pck(pred, truth_rel_m[rows], PCK_THRESHOLD_M)
        out["mpjpe_mm"] = mpjpe_mm(pred, truth_rel_m[rows])[0]
    return out, err_px[det]


def mkd_curves(seq, camera, rate_hz: float, placement: str = "calibrated") -> dict:
    """MKD (T,) mm of each side from a PoseSequence (camera-frame 3D) put into the lab
    (``placement``: :func:`kneeview.session.inputs.from_pose_sequence`'s)."""
    from kneeview.analysis import analyse
    from kneeview.session.inputs import from_pose_sequence

    inputs = from_pose_sequence(seq, camera, rate_hz, placement)
    res = analyse(inputs.joints_lab_mm, inputs.rate_hz, inputs.keypoints_px, cutoff_hz=CUTOFF_HZ,
                  frame_index=inputs.frame_index)
    return {side: np.asarray(res.metrics[f"mkd_{side}_mm"], dtype=np.float64) for side in SIDES}


def _mkd_or_nan(seq, camera, rate_hz: float, T: int, what: str, notes: list, placement: str = "calibrated") -> dict:
    """:func:`mkd_curves` cut or NaN-padded to T frames; NaN curves (and a note) where they cannot be computed."""
    try:
        curves = mkd_curves(seq, camera, rate_hz, placement)
    except (KneeViewInputError, ValueError) as exc:
        notes.append(f"{what}: MKD could not be computed ({getattr(exc, 'problem', exc)})")
        return _nan_curves(T)
    return {side: _pad(c, T) for side, c in curves.items()}


def mkd_rms(curves: dict, labels: dict, rows) -> dict:
    """RMS difference (mm) of each side's MKD from the labels' over the frames ``rows``."""
    out = {}
    for side in SIDES:
        a, b = curves[side], labels[side]
        T = min(len(a), len(b), len(rows))
        ok = rows[:T] & np.isfinite(a[:T]) & np.isfinite(b[:T])
        out[f"mkd_{side}_rms_mm"] = float(np.sqrt(np.mean((a[:T][ok] - b[:T][ok]) ** 2))) if ok.any() else float("nan")
    return out


def _nan_curves(T: int) -> dict:
    return {side: np.full(T, np.nan) for side in SIDES}


def with_keypoints(seq, keypoints_px):
    """``seq`` with its 2D keypoints (the refined and the network's own) replaced by ``keypoints_px`` (T, 6, 2)
    where those are finite, over their first T frames."""
    from dataclasses import replace

    def put(a):
        if a is None:
            return None
        a = np.array(a, dtype=np.float64)
        T = min(len(a), len(keypoints_px))
        a[:T] = np.where(np.isfinite(keypoints_px[:T]), keypoints_px[:T], a[:T])
        return a

    return replace(seq, keypoints_px=put(seq.keypoints_px), network_keypoints_px=put(seq.network_keypoints_px))


def without_view(det, name: str):
    """The detections with view ``name`` left out."""
    from dataclasses import replace

    keep = [k for k, n in enumerate(det.view_names) if n != name]
    sub = lambda a: None if a is None else np.asarray(a)[keep]  # noqa: E731
    return replace(det, keypoints_px=det.keypoints_px[keep], confidence=det.confidence[keep],
                   view_names=tuple(det.view_names[k] for k in keep),
                   frame_size_px=None if det.frame_size_px is None else tuple(det.frame_size_px[k] for k in keep),
                   body_points_px=sub(det.body_points_px), body_points_confidence=sub(det.body_points_confidence))


def other_views_reference(rec, det, name: str, labels_lab_mm, labels_mkd: dict, rows,
                          n_frames: int, source=None) -> tuple[dict, dict]:
    """MKD of the joints triangulated from every detection view but ``name`` (as the labels were),
    against the labels' over the frames ``rows``; the knee joint centres' distance from the labels'.
    ``source`` (the detections file) is named by an input error. Returns (figures, MKD curves)."""
    from kneeview.analysis import analyse
    from kneeview.analysis.multiview import triangulate_recording

    others = without_view(det, name)
    tri = triangulate_recording(rec, others, **LABEL_TRIANGULATION, source=source)
    pts = _pad(tri.joints_lab_mm, n_frames)
    res = analyse(pts, tri.rate_hz, None, cutoff_hz=CUTOFF_HZ, frame_index=np.arange(n_frames))
    curves = {side: _pad(np.asarray(res.metrics[f"mkd_{side}_mm"], dtype=np.float64), n_frames) for side in SIDES}
    out = {"views": list(others.view_names)}
    out.update(mkd_rms(curves, labels_mkd, rows))
    knees = [J.LEGS[side][1] for side in SIDES]
    T = min(len(rows), len(labels_lab_mm))
    d = np.linalg.norm(pts[:T, knees] - labels_lab_mm[:T, knees], axis=-1)[rows[:T]]
    d = d[np.isfinite(d)]
    out["knee_position_mm"] = float(np.median(d)) if d.size else float("nan")
    return out, curves


# ----------------------------------------------------------------------------- evaluation
def evaluate(session, checkpoint=None, detections=None, run=None, device: str = "auto", estimator=None,
             progress=None, placement: str = "calibrated", training_data=()) -> dict:
    """Evaluate a model (``estimator``, or ``checkpoint``/the bundled model) and BlazePose on ``session``.

    The model's MKD comes from its 3D put in the lab by ``placement`` (the app's default, the
    calibrated reconstruction, or ``"raw"``); BlazePose's from its own 3D, placed raw.

    ``estimator`` is anything with ``run(video_reader) -> PoseSequence`` (and optionally
    ``info``/``card``); ``progress(message)`` is told which view is running. Returns the
    JSON-ready result: per-view figures, the summary, the frames evaluated, MKD curves.

    Frames that a real-lab backdrop of the run's synthetic data (or of ``training_data``,
    synthetic dataset folders) was made from are training data: evaluating on them is refused.
    """
    from kneeview.analysis import analyse
    from kneeview.analysis.facing import for_this_camera
    from kneeview.analysis.multiview import load_detections
    from kneeview.session.inputs import from_ground_truth
    from kneeview.io.recording import open_recording

    session = Path(session)
    rec = open_recording(session)
    if rec.c3d_path is None:
        raise KneeViewInputError(session, "no pseudo-label C3D beside the videos; make it first "
                                 "(docs/real-recording.md, 'Pipeline')")
    det_path = Path(detections) if detections is not None else rec.root / "blazepose.npz"
    det = load_detections(det_path)
    world = load_world_landmarks(det_path)
    with np.load(det_path, allow_pickle=False) as z:
        detector = str(z["detector"]) if "detector" in z.files else "BlazePose"
    notes = []
    if world is None:
        notes.append(f"{det_path.name} has no world_landmarks_m: BlazePose's 3D figures and MKD are not available "
                     "(re-run tools/blazepose_detect.py)")
    elif world.shape[:2] != det.keypoints_px.shape[:2]:
        raise KneeViewInputError(det_path, f"world_landmarks_m covers {world.shape[:2]} views x frames, keypoints_px "
                                 f"{det.keypoints_px.shape[:2]}", "world_landmarks_m")
    entry = real_split_entry(run, rec.root, names=(rec.name, rec.trial)) if run is not None else None

    if estimator is None:
        from kneeview.pose import load_estimator

        estimator = load_estimator(checkpoint, device=device)
    card = {k: v for k, v in (getattr(estimator, "card", None) or {}).items() if not str(k).startswith("_")}
    info = dict(getattr(estimator, "info", None) or {})
    model = {"name": info.get("name", type(estimator).__name__), "checkpoint": str(checkpoint) if checkpoint else "bundled",
             "framework": card.get("framework", info.get("framework")), "backbone": card.get("backbone", info.get("backbone")),
             "checkpoint_sha256": info.get("checkpoint_sha256"), "device": info.get("device"),
             "training": card.get("training", {})}

    gt_inputs = from_ground_truth(rec, 0)
    gt_analysis = analyse(gt_inputs.joints_lab_mm, gt_inputs.rate_hz, gt_inputs.keypoints_px, cutoff_hz=CUTOFF_HZ,
                          frame_index=gt_inputs.frame_index)
    labels_mkd = {side: np.asarray(gt_analysis.metrics[f"mkd_{side}_mm"], dtype=np.float64) for side in SIDES}
    n_frames = len(gt_inputs.joints_lab_mm)
    if entry is not None:
        frames = sorted({int(f) for f in entry["test_frames"] if 0 <= int(f) < n_frames})
        if not frames:
            raise KneeViewInputError(Path(run), f"the held-out frames of {entry.get('name')} are not frames of {session}",
                                     "test_frames")
    else:
        frames = list(range(n_frames))
    from kneeview.synth.backdrops import dataset_backdrop_sources

    sources = (backdrop_sources_of_run(run) if run is not None else []) + [
        s for d in training_data for s in dataset_backdrop_sources(d)]
    check_backdrop_frames(rec, frames, sources)
    evaluated = np.zeros(n_frames, dtype=bool)
    evaluated[frames] = True

    views, curves, pooled = {}, {}, {}
    det_names = list(det.view_names)
    for i, view in enumerate(rec.views):
        name = view.video_path.stem
        cam = view.camera
        if cam is None:
            notes.append(f"{name}: no calibrated camera, skipped")
            continue
        if progress is not None:
            progress(f"{name}: running the model")
        with view.open_video() as reader:
            fps = float(reader.fps)
            seq = estimator.run(reader)
        seq = for_this_camera(seq, cam, fps)  # as the app's estimates are (kneeview.session)
        truth = rec.ground_truth_frames(i)
        T = min(len(truth), n_frames)
        truth = truth[:T]
        truth_px = cam.project(truth)  # (T, 6, 2)
        truth_cam_m = cam.world_to_camera(truth) / 1000.0
        truth_rel_m = truth_cam_m - truth_cam_m[:, :2].mean(axis=1, keepdims=True)
        h, k, _ = zip(J.LEGS["right"], J.LEGS["left"])  # (right hip, left hip), (right knee, left knee)
        thigh_px = np.linalg.norm(truth_px[:, list(h)] - truth_px[:, list(k)], axis=-1).mean(axis=1)
        rows = evaluated[:T] & np.isfinite(truth).all(axis=(1, 2))

        status = None
        if entry is not None:
            status = ("held out" if name in entry["holdout_views"] else
                      "trained" if name in entry["views"] else "not in split")
        v = {"status": status, "device_id": view.device_id, "frames_evaluated": int(rows.sum())}
        curves[name] = {}

        kp = _pad(seq.keypoints_px, T)
        found = np.isfinite(_pad(seq.score, T)) & np.isfinite(kp).all(axis=(1, 2))
        v["model"], pooled[(name, "model")] = score_view(truth_px, truth_rel_m, thigh_px, rows, kp,
                                                         _pad(seq.joints_cam_m, T), found)
        curves[name]["model"] = _mkd_or_nan(seq, cam, fps, n_frames, f"{name}, model", notes, placement)
        v["model"].update(mkd_rms(curves[name]["model"], labels_mkd, rows))
        if placement == "calibrated":  # what better 2D could buy: the same reconstruction on the labels' own 2D
            oracle = _mkd_or_nan(with_keypoints(seq, truth_px), cam, fps, n_frames, f"{name}, model on the labels' 2D",
                                 notes, placement)
            v["model"].update({f"{k}_labels_2d": x for k, x in mkd_rms(oracle, labels_mkd, rows).items()})

        hits = [j for j, n in enumerate(det_names) if n in (name, view.device_id)]
        if not hits:
            notes.append(f"{name}: not in {det_path.name} ({', '.join(det_names)}); no BlazePose figures")
            v["blazepose"] = None
            views[name] = v
            continue
        j = hits[0]
        bp_kp = _pad(det.keypoints_px[j], T)
        bp_found = np.isfinite(bp_kp).all(axis=(1, 2))
        bp_3d = world_to_joints_m(_pad(world[j], T)) if world is not None else None
        v["blazepose"], pooled[(name, "blazepose")] = score_view(truth_px, truth_rel_m, thigh_px, rows, bp_kp, bp_3d,
                                                                 bp_found)
        if bp_3d is not None:
            bp_seq = blazepose_sequence(bp_kp, _pad(det.confidence[j], T), bp_3d, det.fps or fps, detector)
            # BlazePose's own monocular 3D, placed from its 2D: the baseline a single camera gives
            curves[name]["blazepose"] = _mkd_or_nan(bp_seq, cam, det.fps or fps, n_frames, f"{name}, BlazePose", notes,
                                                    placement="raw")
        else:
            curves[name]["blazepose"] = _nan_curves(n_frames)
        v["blazepose"].update(mkd_rms(curves[name]["blazepose"], labels_mkd, rows))
        if len(det_names) > 2:
            v["other_views"], curves[name]["other_views"] = other_views_reference(
                rec, det, det_names[j], gt_inputs.joints_lab_mm, labels_mkd, rows, n_frames, det_path)
        else:
            notes.append(f"{name}: fewer than two other views in {det_path.name}; no triangulated reference")
        views[name] = v

    result = {
        "session": str(rec.root), "detections": str(det_path), "detector": detector,
        "run": None if run is None else str(run), "real_entry": None if entry is None else entry.get("name"),
        "frames_evaluated": frames, "frames_total": n_frames, "rate_hz": float(gt_inputs.rate_hz),
        "model": model, "views": views,
        "summary": summarise(views, pooled, entry is not None), "notes": notes,
        "mkd_curves_mm": {
            "frame_index": list(range(n_frames)),
            "labels": {side: labels_mkd[side].tolist() for side in SIDES},
            "views": {name: {src: {side: np.asarray(c[side], float).tolist() for side in SIDES} for src, c in per.items()}
                      for name, per in curves.items()},
        },
    }
    return result


def summarise(views: dict, pooled: dict, with_run: bool) -> dict:
    """The model against its target on the held-out views (``with_run``) or on all views."""
    names = [n for n, v in views.items() if (v["status"] == "held out" if with_run else True)]
    out = {"views": names, "scope": "held-out views" if with_run else "all views",
           "target": f"model detects the person in >= {TARGET_DETECTED_PCT:g} % of frames and its median 2D error is "
                     f"within {TARGET_2D_RATIO:g}x BlazePose's on the views it did not train on"}
    nan = float("nan")
    if not names:
        out.update({"model_detected_pct": nan, "model_2d_median_px": nan, "blazepose_2d_median_px": nan,
                    "ratio_2d": nan, "detection_pass": None, "accuracy_pass": None,
                    "note": "the run holds out no view: the target cannot be judged"})
        return out
    frames = sum(views[n]["model"]["frames"] for n in names)
    detected = sum(views[n]["model"]["detected_pct"] * views[n]["model"]["frames"] / 100.0 for n in names)
    out["model_detected_pct"] = 100.0 * detected / frames if frames else nan

    def median(src):
        errs = [pooled[(n, src)] for n in names if (n, src) in pooled and pooled[(n, src)].size]
        return float(np.median(np.concatenate(errs))) if errs else nan

    out["model_2d_median_px"] = median("model")
    out["blazepose_2d_median_px"] = median("blazepose")
    bp = out["blazepose_2d_median_px"]
    out["ratio_2d"] = out["model_2d_median_px"] / bp if bp > 0 else nan
    det, ratio = out["model_detected_pct"], out["ratio_2d"]
    out["detection_pass"] = bool(det >= TARGET_DETECTED_PCT) if np.isfinite(det) else None
    out["accuracy_pass"] = bool(ratio <= TARGET_2D_RATIO) if np.isfinite(ratio) else None
    return out


# ----------------------------------------------------------------------------- report
def _f(x, spec: str) -> str:
    return "-" if x is None or not np.isfinite(x) else format(x, spec)


def format_report(result: dict) -> str:
    m = result["model"]
    frames = result["frames_evaluated"]
    lines = [f"{result['session']}",
             f"model: {m['name']} ({m['checkpoint']}, framework {m['framework']}); labels: {Path(result['session']).name} "
             f"pseudo-label C3D; BlazePose: {Path(result['detections']).name}",
             f"frames evaluated: {len(frames)} of {result['frames_total']}"
             + (f" (held-out frames of {result['real_entry']} in {result['run']})" if result["run"] else ""),
             "",
             f"{'view':14} {'source':9} {'det %':>6} {'2D px':>7} {'/thigh':>7} {'PCK.10':>7} {'MPJPE':>7} {'MKD rms L/R mm':>15}"]
    for name, v in result["views"].items():
        label = name + (f" ({v['status']})" if v["status"] else "")
        for src in SOURCES:
            s = v.get(src)
            if s is None:
                continue
            mkd = f"{_f(s['mkd_left_rms_mm'], '.0f')}/{_f(s['mkd_right_rms_mm'], '.0f')}"
            lines.append(f"{label if src == 'model' else '':14} {src:9} {_f(s['detected_pct'], '6.1f'):>6} "
                         f"{_f(s['2d_median_px'], '7.1f'):>7} {_f(s['2d_median_thigh_frac'], '7.2f'):>7} "
                         f"{_f(s['pck@0.10'], '7.1f'):>7} {_f(s['mpjpe_mm'], '7.0f'):>7} {mkd:>15}")
        o = v.get("other_views")
        if o is not None:
            mkd = f"{_f(o['mkd_left_rms_mm'], '.0f')}/{_f(o['mkd_right_rms_mm'], '.0f')}"
            lines.append(f"{'':14} {'others':9} {'triangulated from ' + '+'.join(o['views']):>46} {mkd:>15}"
                         f"  (knees {_f(o['knee_position_mm'], '.0f')} mm from the labels')")
        m = v["model"]
        if "mkd_left_rms_mm_labels_2d" in m:
            mkd = f"{_f(m['mkd_left_rms_mm_labels_2d'], '.0f')}/{_f(m['mkd_right_rms_mm_labels_2d'], '.0f')}"
            what = "on the labels' own 2D"
            lines.append(f"{'':14} {'model':9} {what:>46} {mkd:>15}")
    s = result["summary"]
    lines += ["", f"Summary over {s['scope']} ({', '.join(s['views']) or 'none'}): model median 2D "
              f"{_f(s['model_2d_median_px'], '.1f')} px, BlazePose {_f(s['blazepose_2d_median_px'], '.1f')} px, "
              f"ratio {_f(s['ratio_2d'], '.2f')}; model detection {_f(s['model_detected_pct'], '.1f')} %"]

    def verdict(ok):
        return "N/A" if ok is None else "PASS" if ok else "FAIL"

    lines.append(f"  detection >= {TARGET_DETECTED_PCT:g} %: {verdict(s['detection_pass'])}")
    lines.append(f"  median 2D within {TARGET_2D_RATIO:g}x BlazePose's: {verdict(s['accuracy_pass'])}")
    if s.get("note"):
        lines.append(f"  ({s['note']})")
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- plot
_COLOURS = {"labels": (30, 30, 30), "model": (190, 90, 20), "blazepose": (0, 140, 255),
            "other_views": (60, 160, 60)}  # BGR
_NAMES = {"labels": "pseudo-labels", "model": "model", "blazepose": "BlazePose", "other_views": "other views"}


def _ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** np.floor(np.log10(raw)) if raw > 0 else 1.0
    step = next(s * mag for s in (1, 2, 5, 10) if s * mag >= raw)
    return np.arange(np.ceil(lo / step) * step, hi + 1e-9, step)


def plot_mkd(result: dict, path) -> Path:
    """PNG of each view's MKD over time (left and right columns): labels, model, BlazePose; evaluated frames shaded
    when they are a subset (``--run``)."""
    import cv2

    from kneeview.atomic import atomic_write_bytes

    curves = result["mkd_curves_mm"]
    x = np.asarray(curves["frame_index"], dtype=np.float64)
    views = list(curves["views"])
    shade = np.zeros(len(x), dtype=bool)
    if len(result["frames_evaluated"]) < len(x):
        shade[result["frames_evaluated"]] = True
    panel_w, panel_h, left, top, gap, col_gap = 620, 230, 64, 70, 44, 72
    W = left + 2 * panel_w + col_gap + 20
    H = top + len(views) * (panel_h + gap) + 30
    img = np.full((H, W, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    aa = cv2.LINE_AA
    title = f"Medial knee displacement (mm, + medial) - {Path(result['session']).name}, model: {result['model']['name']}"
    cv2.putText(img, title, (left, 26), font, 0.6, (0, 0, 0), 1, aa)
    lx = left
    for key in ("labels", "model", "blazepose", "other_views"):
        cv2.line(img, (lx, 48), (lx + 28, 48), _COLOURS[key], 3, aa)
        cv2.putText(img, _NAMES[key], (lx + 34, 53), font, 0.5, (0, 0, 0), 1, aa)
        lx += 60 + 10 * len(_NAMES[key])
    if shade.any():
        cv2.rectangle(img, (lx, 40), (lx + 28, 56), (225, 225, 225), -1)
        cv2.putText(img, "evaluated (held-out) frames", (lx + 34, 53), font, 0.5, (0, 0, 0), 1, aa)
    x0, x1 = float(x[0]), float(x[-1]) if len(x) > 1 else float(x[0]) + 1.0
    labels = {side: np.asarray(curves["labels"][side], dtype=np.float64) for side in SIDES}
    for r, name in enumerate(views):
        status = result["views"].get(name, {}).get("status")
        for c, side in enumerate(SIDES):
            px0, py0 = left + c * (panel_w + col_gap), top + r * (panel_h + gap) + 20
            series = {"labels": labels[side]}
            series.update({src: np.asarray(curves["views"][name][src][side], dtype=np.float64)
                           for src in SOURCES + ("other_views",) if src in curves["views"][name]})
            lab = labels[side][np.isfinite(labels[side])]
            allv = np.concatenate([s[np.isfinite(s)] for s in series.values()] + [np.zeros(1)])
            lo, hi = float(allv.min()), float(allv.max())
            if lab.size:  # keep the labels readable: a wild curve is clipped at 150 mm beyond their range
                lo, hi = max(lo, float(lab.min()) - 150.0), min(hi, float(lab.max()) + 150.0)
            pad = max(5.0, 0.08 * (hi - lo))
            lo, hi = lo - pad, hi + pad

            def to_px(xx, yy):
                u = px0 + (xx - x0) / (x1 - x0) * (panel_w - 1)
                v = py0 + (hi - np.clip(yy, lo, hi)) / (hi - lo) * (panel_h - 1)
                return u, v

            if shade.any():
                for a, b in _runs(shade):
                    ua, _ = to_px(x[a] - 0.5, 0.0)
                    ub, _ = to_px(x[b - 1] + 0.5, 0.0)
                    cv2.rectangle(img, (int(max(ua, px0)), py0), (int(min(ub, px0 + panel_w - 1)), py0 + panel_h - 1),
                                  (225, 225, 225), -1)
            for t in _ticks(lo, hi):
                _, v = to_px(0.0, t)
                cv2.line(img, (px0, int(v)), (px0 + panel_w - 1, int(v)), (200, 200, 200) if t else (120, 120, 120), 1)
                text = f"{round(float(t), 6) + 0.0:g}"  # + 0.0: no "-0"
                (tw, _), _ = cv2.getTextSize(text, font, 0.42, 1)
                cv2.putText(img, text, (px0 - 8 - tw, int(v) + 5), font, 0.42, (60, 60, 60), 1, aa)
            for t in _ticks(x0, x1, 10):
                u, _ = to_px(t, lo)
                cv2.line(img, (int(u), py0 + panel_h - 1), (int(u), py0 + panel_h + 4), (60, 60, 60), 1)
                cv2.putText(img, f"{t:g}", (int(u) - 10, py0 + panel_h + 18), font, 0.42, (60, 60, 60), 1, aa)
            cv2.rectangle(img, (px0, py0), (px0 + panel_w - 1, py0 + panel_h - 1), (0, 0, 0), 1)
            for key in ("other_views", "blazepose", "model", "labels"):
                if key not in series:
                    continue
                y = series[key]
                for a, b in _runs(np.isfinite(y)):
                    u, v = to_px(x[a:b], y[a:b])
                    pts = np.stack([u, v], axis=1).round().astype(np.int32)
                    cv2.polylines(img, [pts], False, _COLOURS[key], 2, aa)
            head = f"{name}" + (f" ({status})" if status else "") + f" - {side} knee"
            cv2.putText(img, head, (px0 + 6, py0 - 6), font, 0.5, (0, 0, 0), 1, aa)
    cv2.putText(img, f"video frame ({result.get('rate_hz', 0):g} fps)" if result.get("rate_hz") else "video frame",
                (left + panel_w - 40, H - 8), font, 0.45, (60, 60, 60), 1, aa)
    ok, png = cv2.imencode(".png", img)
    if not ok:
        raise KneeViewInputError(path, "could not encode the plot as PNG", "--plot")
    return atomic_write_bytes(Path(path), png.tobytes())


def _runs(mask) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in a bool array."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(d[0::2], d[1::2]))


# ----------------------------------------------------------------------------- command line
def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--session", type=Path, help="multi-view session folder with a pseudo-label C3D (default: Pose2Sim's "
                   "Demo_SinglePerson, fetched into the cache)")
    p.add_argument("--checkpoint", help="model to evaluate (default: the bundled one)")
    p.add_argument("--detections", type=Path, help="BlazePose detections .npz (default: SESSION/blazepose.npz)")
    p.add_argument("--run", type=Path, help="training run folder (or its split.json): evaluate only its held-out frames "
                   "of this session and label the views trained / held out")
    p.add_argument("--json", dest="json_out", type=Path, metavar="OUT", help="write every figure as JSON")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="write the MKD curves as a PNG")
    p.add_argument("--device", default="auto", help="device for the model (auto, cpu, cuda)")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--training-data", action="append", default=[], metavar="DIR",
                   help="a synthetic dataset the model trained on (repeatable; a --run's data is checked anyway): "
                        "refuse to evaluate on real frames its backdrops were made from")
    p.add_argument("--raw-3d", action="store_true", help="the model's MKD from its own 3D placed from its 2D, "
                   "instead of the calibrated per-trial reconstruction")


def cmd(args) -> int:
    session = args.session or fetch_demo()
    progress = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    result = evaluate(session, args.checkpoint, args.detections, args.run, device=args.device, progress=progress,
                      placement="raw" if args.raw_3d else "calibrated", training_data=args.training_data)
    print(format_report(result))
    if args.json_out:
        from .evaluate import write_json

        write_json(result, args.json_out)
    if args.plot:
        plot_mkd(result, args.plot)
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``evaluate-real`` on an argparse subparsers object (``func`` = :func:`cmd`)."""
    p = subparsers.add_parser("evaluate-real", help="a model and BlazePose against a real recording's pseudo-labels",
                              description=__doc__.split("\n\n")[0])
    _add_arguments(p)
    p.set_defaults(func=cmd)
    return p


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.evaluate_real", description=__doc__.split("\n\n")[0])
    _add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return cmd(args)
    except KneeViewInputError as exc:
        print(f"evaluate-real: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
