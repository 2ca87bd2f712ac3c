"""Several calibrated views of one trial -> 3D joint centres in the lab frame -> a PiG C3D.

The 2D joints of every view (raw distorted pixels, with a confidence) are triangulated
frame by frame with :func:`kneeview.camera.triangulate.triangulate` (distortion-aware,
Hartley-normalised weighted DLT; the worst view of a point is dropped while its raw-pixel
reprojection error is above ``outlier_px``). The result is written as a Plug-in Gait
joint-centre C3D (lab frame, mm, gaps as missing samples) that every loader, metric and
GUI view reads like a Vicon ground truth.

Detections file (``.npz``, written by :func:`save_detections`)::

    keypoints_px  float (V, T, 6, 2)  raw (distorted) pixels of each video, joint order
                                      kneeview.joints.JOINTS, NaN where not detected
    confidence    float (V, T, 6)     in [0, 1]; 0 or NaN = not observed
    view_names    str   (V,)          camera device id (or video file stem) of each view
    fps           float ()            optional: frame rate of the videos (else the recording's)
    frame_size_px int   (V, 2)        optional: width, height of the frames the detector saw;
                                      triangulation refuses a view whose video differs
                                      (a rotated or resized decode)
    body_point_names str (K,)         optional: other body points (``HEAD``, ``RSHO``, ``LTOE``:
    body_points_px float (V, T, K, 2)   a leading R/L pairs them), triangulated the same way
    body_points_confidence (V, T, K)    and written to the C3D beside the joints, so that the
                                      person's extent (training boxes) is known

Frame t of every view is the same instant (synchronised videos). Other arrays in the file
(tools/blazepose_detect.py adds all 33 BlazePose landmarks) are ignored.

Two optional steps, off by default, for detections from an off-the-shelf 2D detector
(docs/real-recording.md has the figures that motivate them):

* :func:`resolve_left_right` -- a detector that sees a person from behind or from the side
  can label the left leg as the right one in one view for a stretch of frames. Per frame,
  every assignment of "this view is mirrored" is triangulated and the one whose total
  (outlier-capped) reprojection error is lowest is kept; of an assignment and its mirror
  (same error, L/R relabelled in 3D) the one that swaps fewer views wins.
* :func:`set_hip_width` -- a detector's hip landmark is not the Plug-in Gait hip joint
  centre; when the subject's inter-HJC distance is known (e.g. from a Plug-in Gait static
  trial) both hips are moved along the line joining them, symmetrically about their
  midpoint, to that distance. The midpoint, the hip-hip direction, knees and ankles stay.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import joints as J
from ..atomic import atomic_write_bytes
from ..errors import KneeViewInputError

MAX_NPZ_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Detections:
    """Per-view 2D joints: ``keypoints_px`` (V, T, 6, 2) raw px, ``confidence`` (V, T, 6)."""

    keypoints_px: np.ndarray
    confidence: np.ndarray
    view_names: tuple[str, ...]
    fps: float | None = None
    frame_size_px: tuple[tuple[int, int], ...] | None = None  # (width, height) per view, as the detector saw them
    body_point_names: tuple[str, ...] = ()
    body_points_px: np.ndarray | None = None  # (V, T, K, 2)
    body_points_confidence: np.ndarray | None = None  # (V, T, K)

    @property
    def n_frames(self) -> int:
        return int(self.keypoints_px.shape[1])


@dataclass(frozen=True)
class MultiViewResult:
    """Triangulated joints over time, with what each view contributed."""

    joints_lab_mm: np.ndarray  # (T, 6, 3) lab frame, mm, NaN where fewer than min_views agree
    reprojection_px: np.ndarray  # (V, T, 6) raw-pixel reprojection error of each observed view
    used: np.ndarray  # (V, T, 6) bool, the views kept after outlier rejection
    observed: np.ndarray  # (V, T, 6) bool, the views that saw the joint
    view_names: tuple[str, ...]
    rate_hz: float
    swapped_left_right: np.ndarray | None = None  # (V, T) bool, views relabelled by resolve_left_right
    hip_width_mm: float | None = None  # the inter-hip distance set by set_hip_width, if it was
    body_points_lab_mm: dict | None = None  # name -> (T, 3), other body points (Detections.body_point_names)

    def summary(self) -> dict:
        """Per joint: frames triangulated, mean views used, mean/max reprojection error (px);
        per view: observations rejected as outliers."""
        err = np.where(self.used, self.reprojection_px, np.nan)
        ok = np.isfinite(self.joints_lab_mm).all(-1)  # (T, 6)
        joints = {}
        with np.errstate(invalid="ignore"):
            for k, joint in enumerate(J.JOINTS):
                e = err[:, ok[:, k], k]
                finite = e[np.isfinite(e)]
                joints[joint] = {
                    "frames": int(ok[:, k].sum()),
                    "mean_views_used": round(float(self.used[:, ok[:, k], k].sum(0).mean()), 3) if ok[:, k].any() else 0.0,
                    "mean_reprojection_px": round(float(finite.mean()), 3) if finite.size else None,
                    "max_reprojection_px": round(float(finite.max()), 3) if finite.size else None,
                }
        rejected = self.observed & ~self.used
        views = {name: {"observations": int(self.observed[v].sum()), "rejected_as_outlier": int(rejected[v].sum())}
                 for v, name in enumerate(self.view_names)}
        if self.swapped_left_right is not None:
            for v, name in enumerate(self.view_names):
                views[name]["left_right_swapped_frames"] = int(self.swapped_left_right[v].sum())
        out = {"frames": int(self.joints_lab_mm.shape[0]), "rate_hz": self.rate_hz, "joints": joints, "views": views,
               "segments_mm": segment_lengths_summary(self.joints_lab_mm)}
        if self.hip_width_mm is not None:
            out["hip_width_set_mm"] = self.hip_width_mm
        return out


def save_detections(path, det: Detections) -> Path:
    buf = io.BytesIO()
    extra = {} if det.fps is None else {"fps": np.float64(det.fps)}
    if det.frame_size_px is not None:
        extra["frame_size_px"] = np.asarray(det.frame_size_px, dtype=np.int64)
    np.savez_compressed(buf, keypoints_px=np.asarray(det.keypoints_px, np.float64),
                        confidence=np.asarray(det.confidence, np.float64),
                        view_names=np.array(det.view_names, dtype=str), **extra)
    return atomic_write_bytes(path, buf.getvalue())


def load_detections(path) -> Detections:
    """Read a detections ``.npz`` (layout in the module docstring); no pickles are loaded."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_NPZ_BYTES:
            raise KneeViewInputError(path, "detections file is far too large")
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except KneeViewInputError:
        raise
    except FileNotFoundError:
        raise KneeViewInputError(path, "detections file not found") from None
    except (OSError, ValueError, EOFError) as exc:
        raise KneeViewInputError(path, f"cannot read detections (expected an .npz): {exc}") from None
    for key in ("keypoints_px", "confidence", "view_names"):
        if key not in data:
            raise KneeViewInputError(path, f"no '{key}' array (has: {', '.join(sorted(data)) or 'nothing'})", key)
    kp, conf, names = data["keypoints_px"], data["confidence"], data["view_names"]
    if kp.ndim != 4 or kp.shape[2:] != (J.N_JOINTS, 2) or not np.issubdtype(kp.dtype, np.number):
        raise KneeViewInputError(path, f"keypoints_px has shape {kp.shape}, expected (views, frames, {J.N_JOINTS}, 2)", "keypoints_px")
    if conf.shape != kp.shape[:3] or not np.issubdtype(conf.dtype, np.number):
        raise KneeViewInputError(path, f"confidence has shape {conf.shape}, expected {kp.shape[:3]}", "confidence")
    if names.ndim != 1 or names.shape[0] != kp.shape[0] or names.dtype.kind not in "US":
        raise KneeViewInputError(path, f"view_names must be {kp.shape[0]} strings, got shape {names.shape}", "view_names")
    view_names = tuple(str(n) for n in names)
    if len(set(view_names)) != len(view_names):
        raise KneeViewInputError(path, f"view_names repeat a view: {', '.join(view_names)}", "view_names")
    fps = None
    if "fps" in data:
        fps = float(np.asarray(data["fps"]).ravel()[0]) if np.asarray(data["fps"]).size == 1 else float("nan")
        if not (np.isfinite(fps) and fps > 0):
            raise KneeViewInputError(path, "fps must be one positive number", "fps")
    sizes = None
    if "frame_size_px" in data:
        fs = data["frame_size_px"]
        if fs.shape != (kp.shape[0], 2) or not np.issubdtype(fs.dtype, np.number) or not np.all(np.isfinite(fs)) or np.any(fs <= 0):
            raise KneeViewInputError(path, f"frame_size_px must be (views, 2) positive sizes, got shape {fs.shape}", "frame_size_px")
        sizes = tuple((int(w), int(h)) for w, h in fs)
    body = {}
    if "body_point_names" in data:
        bn, bp = data["body_point_names"], data.get("body_points_px")
        bc = data.get("body_points_confidence")
        K = bn.shape[0] if bn.ndim == 1 else -1
        if (bn.dtype.kind not in "US" or K < 1 or bp is None or bc is None or bp.shape != kp.shape[:2] + (K, 2)
                or bc.shape != kp.shape[:2] + (K,) or not np.issubdtype(bp.dtype, np.number)
                or not np.issubdtype(bc.dtype, np.number)):
            raise KneeViewInputError(path, "body_point_names, body_points_px (views, frames, K, 2) and "
                                     "body_points_confidence (views, frames, K) do not agree", "body_points_px")
        body = dict(body_point_names=tuple(str(n) for n in bn), body_points_px=bp.astype(np.float64),
                    body_points_confidence=bc.astype(np.float64))
    return Detections(kp.astype(np.float64), conf.astype(np.float64), view_names, fps, sizes, **body)


def _view_order(rec, det: Detections, source=None) -> list[int]:
    """Index into ``rec.views`` of each detection view, by device id or video file stem."""
    order = []
    for name in det.view_names:
        hits = [i for i, v in enumerate(rec.views)
                if name in (v.device_id, v.video_path.stem, v.video_path.name)]
        if len(hits) != 1:
            known = ", ".join(str(v.device_id) for v in rec.views)
            raise KneeViewInputError(source, f"view {name!r} of the detections is not one of the recording's views ({known})",
                                     "view_names")
        order.append(hits[0])
    return order


def triangulate_recording(rec, det: Detections, min_views: int = 2, outlier_px: float = 15.0,
                          min_confidence: float = 0.0, source=None, fix_left_right: bool = False,
                          hip_width_mm: float | None = None) -> MultiViewResult:
    """Triangulate the detections of a multi-view recording (cameras from its views).

    ``fix_left_right`` runs :func:`resolve_left_right` first; ``hip_width_mm`` applies
    :func:`set_hip_width` to the result (both off by default).
    """
    from ..camera.triangulate import triangulate

    order = _view_order(rec, det, source)
    cameras = []
    for k, i in enumerate(order):
        view = rec.views[i]
        if view.camera is None:
            raise KneeViewInputError(view.video_path, "this view has no calibrated camera; it cannot be triangulated", "camera")
        if det.frame_size_px is not None and tuple(det.frame_size_px[k]) != tuple(view.video_info.size):
            w, h = det.frame_size_px[k]
            vw, vh = view.video_info.size
            raise KneeViewInputError(source, f"view {det.view_names[k]!r} was detected on {w}x{h} frames but its video "
                                     f"{view.video_path.name} is {vw}x{vh} (rotated or resized?)", "frame_size_px")
        cameras.append(view.camera)
    if len(cameras) < min_views:
        raise KneeViewInputError(source, f"{len(cameras)} view(s) cannot be triangulated (at least {min_views} needed)", "view_names")
    conf = np.where(det.confidence >= min_confidence, det.confidence, 0.0) if min_confidence > 0 else det.confidence
    kp = det.keypoints_px
    swapped = None
    if fix_left_right:
        kp, conf, swapped = resolve_left_right(cameras, kp, conf, cap_px=outlier_px)
    observed = np.isfinite(kp).all(-1) & np.isfinite(conf) & (conf > 0)
    tri = triangulate(cameras, kp, conf, min_views=min_views, outlier_px=outlier_px)
    points = tri.points_mm if hip_width_mm is None else set_hip_width(tri.points_mm, hip_width_mm)
    rate = det.fps or float(rec.views[order[0]].video_info.fps)
    body = None
    if det.body_point_names:
        bp, bc = det.body_points_px, det.body_points_confidence
        if swapped is not None:  # the views relabelled for the legs are mirrored for the body too
            flip = _mirror_index(det.body_point_names)
            bp = np.where(swapped[:, :, None, None], bp[:, :, flip], bp)
            bc = np.where(swapped[:, :, None], bc[:, :, flip], bc)
        bt = triangulate(cameras, bp, bc, min_views=min_views, outlier_px=outlier_px).points_mm  # (T, K, 3)
        body = {name: bt[:, k] for k, name in enumerate(det.body_point_names)}
    return MultiViewResult(points, tri.reprojection_px, tri.used & observed, observed, det.view_names, rate,
                           swapped, None if hip_width_mm is None else float(hip_width_mm), body)


def _mirror_index(names) -> list[int]:
    """Index of each body point's mirror image (``RSHO`` <-> ``LSHO``; unpaired points map to themselves)."""
    names = list(names)
    out = []
    for n in names:
        twin = {"R": "L", "L": "R"}.get(n[:1], "") + n[1:]
        out.append(names.index(twin) if twin in names and twin != n else names.index(n))
    return out


MAX_VIEWS_LEFT_RIGHT = 10


def resolve_left_right(cameras, keypoints_px, confidence, cap_px: float = 15.0):
    """Per frame, relabel left<->right in the views whose labels disagree with the others.

    ``keypoints_px`` (V, T, 6, 2) raw px, ``confidence`` (V, T, 6). For every assignment of
    mirrored views (a mirror pair counted once: the one that mirrors fewer views, and at
    a tie the one that leaves view 0 as it is) all joints are triangulated with every view
    and the per-frame sum of reprojection errors, each capped at ``cap_px``, is compared;
    the lowest wins (the unchanged labels at a tie). Returns the relabelled keypoints and
    confidence and ``swapped`` (V, T) bool.
    """
    from ..camera.triangulate import triangulate

    kp = np.asarray(keypoints_px, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64)
    V, T = kp.shape[:2]
    if V > MAX_VIEWS_LEFT_RIGHT:
        raise ValueError(f"resolve_left_right tries every assignment of mirrored views; {V} views are too many "
                         f"(at most {MAX_VIEWS_LEFT_RIGHT})")
    flip = list(J.FLIP_INDEX)
    kp_flip, conf_flip = kp[:, :, flip], conf[:, :, flip]
    masks = [m for m in range(2 ** V)
             if 2 * bin(m).count("1") < V or (2 * bin(m).count("1") == V and not m & 1)]
    costs = np.empty((len(masks), T))
    for i, m in enumerate(masks):
        sw = np.array([(m >> v) & 1 for v in range(V)], dtype=bool)
        k = np.where(sw[:, None, None, None], kp_flip, kp)
        c = np.where(sw[:, None, None], conf_flip, conf)
        err = triangulate(cameras, k, c, min_views=2, outlier_px=np.inf).reprojection_px  # (V, T, 6)
        costs[i] = np.nansum(np.minimum(err, cap_px), axis=(0, 2))
    best = np.argmin(costs, axis=0)  # masks[0] == 0: ties keep the labels
    swapped = np.array([[(masks[b] >> v) & 1 for b in best] for v in range(V)], dtype=bool)  # (V, T)
    kp_out = np.where(swapped[:, :, None, None], kp_flip, kp)
    conf_out = np.where(swapped[:, :, None], conf_flip, conf)
    return kp_out, conf_out, swapped


def set_hip_width(joints_lab_mm, hip_width_mm: float) -> np.ndarray:
    """Move RFEP and LFEP along the line joining them, symmetrically about their midpoint, to ``hip_width_mm`` apart.

    ``joints_lab_mm`` (..., 6, 3). The hips' midpoint and direction, the knees and the
    ankles are unchanged; frames where a hip is missing (NaN) are returned as they are.
    """
    if not (np.isfinite(hip_width_mm) and hip_width_mm > 0):
        raise ValueError(f"hip width must be a positive length in mm, got {hip_width_mm}")
    j = np.array(joints_lab_mm, dtype=np.float64, copy=True)
    right, left = j[..., 0, :], j[..., 1, :]
    mid = 0.5 * (right + left)
    span = left - right
    length = np.linalg.norm(span, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = span / length
    ok = np.isfinite(unit).all(-1) & (length[..., 0] > 0)
    half = 0.5 * float(hip_width_mm) * unit
    j[..., 0, :] = np.where(ok[..., None], mid - half, right)
    j[..., 1, :] = np.where(ok[..., None], mid + half, left)
    return j


def segment_lengths_mm(joints_lab_mm) -> dict[str, np.ndarray]:
    """Per frame: inter-hip distance and left/right thigh (hip-knee) and shank (knee-ankle) lengths, mm."""
    j = np.asarray(joints_lab_mm, dtype=np.float64)

    def dist(a, b):
        return np.linalg.norm(j[..., a, :] - j[..., b, :], axis=-1)

    (r_hip, r_knee, r_ankle), (l_hip, l_knee, l_ankle) = J.LEGS["right"], J.LEGS["left"]
    return {"hip_width": dist(r_hip, l_hip), "right_thigh": dist(r_hip, r_knee), "left_thigh": dist(l_hip, l_knee),
            "right_shank": dist(r_knee, r_ankle), "left_shank": dist(l_knee, l_ankle)}


def segment_lengths_summary(joints_lab_mm) -> dict[str, dict]:
    """Mean, std, min, max (mm) over the frames where both ends exist, of each of :func:`segment_lengths_mm`."""
    out = {}
    for name, d in segment_lengths_mm(joints_lab_mm).items():
        d = d[np.isfinite(d)]
        out[name] = ({"mean": round(float(d.mean()), 1), "std": round(float(d.std()), 1),
                      "min": round(float(d.min()), 1), "max": round(float(d.max()), 1), "frames": int(d.size)}
                     if d.size else {"frames": 0})
    return out


def detections_from_poses(rec, per_view) -> Detections:
    """Per-view pose estimates (PoseSequence, one per view of ``rec``, in order) -> detections."""
    T = max(int(v.video_info.frame_count) for v in rec.views)
    V = len(rec.views)
    kp = np.full((V, T, J.N_JOINTS, 2), np.nan)
    conf = np.zeros((V, T, J.N_JOINTS))
    for v, seq in enumerate(per_view):
        idx = np.asarray(seq.frame_index, dtype=np.int64)
        keep = (idx >= 0) & (idx < T)
        kp[v, idx[keep]] = seq.keypoints_px[keep]
        conf[v, idx[keep]] = np.nan_to_num(seq.confidence[keep])
    return Detections(kp, conf, tuple(str(v.device_id) for v in rec.views), float(rec.views[0].video_info.fps))


def default_output(rec) -> Path:
    """Beside the videos, named so that the recording finds it as its C3D: ``<videos>/<trial>.c3d``."""
    return rec.views[0].video_path.parent / f"{rec.trial}.c3d"


def write_pseudo_labels(path, result: MultiViewResult, subject: str = "") -> Path:
    """The triangulated joints (and body points) as a PiG joint-centre C3D (lab mm, gaps missing), written atomically."""
    from ..io.c3d import write_ground_truth

    return write_ground_truth(path, result.joints_lab_mm, result.rate_hz, extra_points=result.body_points_lab_mm,
                              subject=subject)
