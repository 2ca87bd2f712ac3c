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

Frame t of every view is the same instant (synchronised videos).
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
        return {"frames": int(self.joints_lab_mm.shape[0]), "rate_hz": self.rate_hz, "joints": joints, "views": views}


def save_detections(path, det: Detections) -> Path:
    buf = io.BytesIO()
    extra = {} if det.fps is None else {"fps": np.float64(det.fps)}
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
    return Detections(kp.astype(np.float64), conf.astype(np.float64), view_names, fps)


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
                          min_confidence: float = 0.0, source=None) -> MultiViewResult:
    """Triangulate the detections of a multi-view recording (cameras from its views)."""
    from ..camera.triangulate import triangulate

    order = _view_order(rec, det, source)
    cameras = []
    for i in order:
        view = rec.views[i]
        if view.camera is None:
            raise KneeViewInputError(view.video_path, "this view has no calibrated camera; it cannot be triangulated", "camera")
        cameras.append(view.camera)
    if len(cameras) < min_views:
        raise KneeViewInputError(source, f"{len(cameras)} view(s) cannot be triangulated (at least {min_views} needed)", "view_names")
    conf = np.where(det.confidence >= min_confidence, det.confidence, 0.0) if min_confidence > 0 else det.confidence
    observed = np.isfinite(det.keypoints_px).all(-1) & np.isfinite(conf) & (conf > 0)
    tri = triangulate(cameras, det.keypoints_px, conf, min_views=min_views, outlier_px=outlier_px)
    rate = det.fps or float(rec.views[order[0]].video_info.fps)
    return MultiViewResult(tri.points_mm, tri.reprojection_px, tri.used & observed, observed, det.view_names, rate)


def detections_from_model(rec, estimator, progress=None) -> Detections:
    """Run the pose estimator over every view's video (``estimator.run(reader)`` -> PoseSequence)."""
    per_view = []
    for view in rec.views:
        if progress is not None:
            progress(view)
        with view.open_video() as reader:
            per_view.append(estimator.run(reader))
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
    """The triangulated joints as a PiG joint-centre C3D (lab mm, gaps missing), written atomically."""
    from ..io.c3d import write_ground_truth

    return write_ground_truth(path, result.joints_lab_mm, result.rate_hz, subject=subject)
