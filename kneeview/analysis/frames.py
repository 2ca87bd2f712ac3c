"""Reference frames: the athlete frame in the lab, and network output into the lab frame.

Athlete frame (Plug-in Gait pelvis convention), per frame, as unit vectors in the lab:

* ``up``: lab +Z (Vicon's vertical);
* ``left``: mediolateral, from the right hip centre to the left hip centre (RFEP -> LFEP)
  projected onto the horizontal plane, so it points to the athlete's LEFT;
* ``anterior``: ``left x up``, which completes the right-handed frame (anterior, left, up)
  and points where the athlete faces.

The frontal plane is spanned by ``left`` and ``up``. For the right leg "medial" is
``+left``; for the left leg it is ``-left``.

Network 3D output (:attr:`kneeview.sequence.PoseSequence.joints_cam_m`) is in metres,
relative to the mid-hip, in the camera frame (X_cam = R (X_lab - C)). Directions and
relative positions rotate into the lab with R^T; absolute positions need the mid-hip's
lab position, which :func:`locate_mid_hip` recovers from the 2D keypoints.
"""
from __future__ import annotations

import numpy as np

from .. import joints as J

RFEP, LFEP = J.JOINTS.index("RFEP"), J.JOINTS.index("LFEP")


def mid_hip(joints) -> np.ndarray:
    """Mean of the two hip centres (..., 6, D) -> (..., D)."""
    joints = np.asarray(joints, dtype=np.float64)
    return 0.5 * (joints[..., RFEP, :] + joints[..., LFEP, :])


def athlete_axes(joints_lab_mm) -> np.ndarray:
    """Per-frame athlete axes (T, 3, 3): rows (anterior, left, up) as lab unit vectors.

    NaN where a hip is missing or the hips are vertically aligned (no horizontal direction).
    """
    joints = np.asarray(joints_lab_mm, dtype=np.float64)
    hips = joints[..., LFEP, :] - joints[..., RFEP, :]
    left = hips.copy()
    left[..., 2] = 0.0
    norm = np.linalg.norm(left, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.where(norm > 1e-9, left / norm, np.nan)
    up = np.broadcast_to(np.array([0.0, 0.0, 1.0]), left.shape).copy()
    up[~np.isfinite(left).all(axis=-1)] = np.nan
    anterior = np.cross(left, up)
    return np.stack([anterior, left, up], axis=-2)


def to_athlete_frame(points_lab_mm, axes, origin_lab_mm=None) -> np.ndarray:
    """Lab points (T, ..., 3) -> athlete coordinates (anterior, left, up) per frame.

    ``axes`` (T, 3, 3) from :func:`athlete_axes`; ``origin_lab_mm`` (T, 3) defaults to 0.
    """
    p = np.asarray(points_lab_mm, dtype=np.float64)
    if origin_lab_mm is not None:
        o = np.asarray(origin_lab_mm, dtype=np.float64)
        p = p - o.reshape(o.shape[:1] + (1,) * (p.ndim - 2) + (3,))
    axes = np.asarray(axes, dtype=np.float64)
    A = axes.reshape(axes.shape[:1] + (1,) * (p.ndim - 2) + (3, 3))
    return np.einsum("...ij,...j->...i", A, p)


def camera_to_lab(joints_cam_m, camera, mid_hip_lab_mm=None) -> np.ndarray:
    """Network 3D (T, 6, 3) metres, mid-hip-relative, camera frame -> lab frame millimetres.

    Rotation only (X_lab = R^T X_cam): the result stays relative to the mid-hip unless
    ``mid_hip_lab_mm`` (T, 3) or (3,) is given, which is then added.
    """
    rel_cam_mm = np.asarray(joints_cam_m, dtype=np.float64) * 1000.0
    rel_lab_mm = rel_cam_mm @ np.asarray(camera.R, dtype=np.float64)  # row vectors: (R^T x)^T = x^T R
    if mid_hip_lab_mm is None:
        return rel_lab_mm
    h = np.asarray(mid_hip_lab_mm, dtype=np.float64)
    if h.ndim == 1:
        return rel_lab_mm + h
    return rel_lab_mm + h[:, None, :]


def locate_mid_hip(joints_cam_m, keypoints_px, camera, confidence=None) -> np.ndarray:
    """Lab position (T, 3) mm of the mid-hip that best explains the 2D keypoints.

    With the relative 3D pose P_i (camera frame) known, the translation T of the mid-hip in
    the camera frame solves, for each joint's undistorted normalised image point (x_i, y_i),
    the linear equations P_ix + T_x = x_i (P_iz + T_z) and the same for y (weighted least
    squares over the joints with finite 2D and 3D, weights = confidence). NaN where fewer
    than three joints are usable or the solution lies behind the camera.
    """
    rel = np.asarray(joints_cam_m, dtype=np.float64) * 1000.0
    kp = np.asarray(keypoints_px, dtype=np.float64)
    T_n = rel.shape[0]
    w_all = np.ones(rel.shape[:2]) if confidence is None else np.nan_to_num(np.asarray(confidence, float), nan=0.0)
    cor = camera.undistort_points(kp.reshape(-1, 2)).reshape(kp.shape)
    Kinv = np.linalg.inv(camera.K)
    ones = np.ones(cor.shape[:-1] + (1,))
    norm = np.concatenate([cor, ones], axis=-1) @ Kinv.T
    xy = norm[..., :2] / norm[..., 2:3]
    out = np.full((T_n, 3), np.nan)
    for t in range(T_n):
        ok = np.isfinite(rel[t]).all(-1) & np.isfinite(xy[t]).all(-1) & (w_all[t] > 0)
        if ok.sum() < 3:
            continue
        P, x, w = rel[t, ok], xy[t, ok], np.sqrt(w_all[t, ok])
        n = len(P)
        A = np.zeros((2 * n, 3))
        b = np.zeros(2 * n)
        A[0::2, 0] = 1.0
        A[0::2, 2] = -x[:, 0]
        b[0::2] = x[:, 0] * P[:, 2] - P[:, 0]
        A[1::2, 1] = 1.0
        A[1::2, 2] = -x[:, 1]
        b[1::2] = x[:, 1] * P[:, 2] - P[:, 1]
        ww = np.repeat(w, 2)
        sol, *_ = np.linalg.lstsq(A * ww[:, None], b * ww, rcond=None)
        if sol[2] > 0:
            out[t] = camera.camera_to_world(sol)
    return out
