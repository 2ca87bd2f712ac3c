"""Multi-view triangulation: distortion-aware DLT with outlier rejection.

Raw (distorted) pixel observations are first corrected through each camera's distortion
model, then a weighted linear triangulation (DLT, homogeneous least squares by SVD) is
solved for every point at once. Each view's reprojection error is measured in raw pixels.
While a point's worst view is above ``outlier_px`` and more than ``min_views`` views remain,
one view is dropped and the point solved again: the view whose removal leaves the others
most consistent (leave-one-out: the smallest worst reprojection error of the remaining
views). Dropping the view with the largest error of the joint fit instead fails when a
wrong detection drags the fit towards itself, so that a correct view ends up worst.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import Camera


@dataclass(frozen=True)
class Triangulation:
    points_mm: np.ndarray  # (..., 3) lab frame, NaN where fewer than min_views views agree
    reprojection_px: np.ndarray  # (V, ...) raw-pixel reprojection error per view (NaN where not observed)
    used: np.ndarray  # (V, ...) bool, the views kept for each point

    @property
    def n_views(self) -> np.ndarray:
        return self.used.sum(axis=0)

    @property
    def mean_error_px(self) -> np.ndarray:
        """Mean reprojection error over the views kept for each point."""
        err = np.where(self.used, self.reprojection_px, np.nan)
        with np.errstate(invalid="ignore"):
            return np.nanmean(err, axis=0) if err.size else err


def _solve_dlt(P: np.ndarray, uv: np.ndarray, w: np.ndarray) -> np.ndarray:
    """P (V, 3, 4); uv (V, N, 2) image points; w (V, N) weights (0 = unused) -> X (N, 3)."""
    V, N = uv.shape[:2]
    rows_u = uv[..., 0, None] * P[:, None, 2, :] - P[:, None, 0, :]  # (V, N, 4)
    rows_v = uv[..., 1, None] * P[:, None, 2, :] - P[:, None, 1, :]
    A = np.concatenate([rows_u, rows_v], axis=0) * np.concatenate([w, w], axis=0)[..., None]  # (2V, N, 4)
    A = np.nan_to_num(np.transpose(A, (1, 0, 2)))  # (N, 2V, 4)
    _, _, vt = np.linalg.svd(A)
    Xh = vt[:, -1, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return Xh[:, :3] / Xh[:, 3:4]


def triangulate(cameras: list[Camera], raw_px, confidence=None, min_views: int = 2, outlier_px: float = 15.0) -> Triangulation:
    """Triangulate observations ``raw_px`` (V, ..., 2) from cameras (V) into lab mm (..., 3).

    ``confidence`` (V, ...) in [0, 1] weights the views (NaN or 0 = not observed).
    """
    raw = np.asarray(raw_px, dtype=np.float64)
    V = len(cameras)
    if raw.shape[0] != V or raw.shape[-1] != 2:
        raise ValueError(f"expected observations of shape ({V}, ..., 2), got {raw.shape}")
    batch = raw.shape[1:-1]
    flat = raw.reshape(V, -1, 2)
    N = flat.shape[1]
    conf = np.ones((V, N)) if confidence is None else np.asarray(confidence, dtype=np.float64).reshape(V, N)
    observed = np.isfinite(flat).all(-1) & np.isfinite(conf) & (conf > 0)
    # Conditioning (Hartley): solve in normalised camera coordinates K^-1 x and in a world
    # frame centred on the cameras and scaled to their spread, so every entry is O(1).
    centre = np.mean([cam.position_mm for cam in cameras], axis=0)
    scale = max(float(np.mean([np.linalg.norm(cam.position_mm - centre) for cam in cameras])), 1.0)
    corrected = np.stack([cam.undistort_points(flat[v]) for v, cam in enumerate(cameras)])
    normalised = np.stack([(corrected[v] - cam.K[:2, 2]) @ np.linalg.inv(cam.K[:2, :2]).T for v, cam in enumerate(cameras)])
    P = np.stack([np.hstack([cam.R, (cam.R @ (centre - cam.position_mm) / scale)[:, None]]) for cam in cameras])

    def solve(mask, idx):
        """Points ``idx`` from the views in ``mask`` (V, n) -> X (n, 3), raw-pixel errors (V, n)."""
        X = _solve_dlt(P, normalised[:, idx], np.where(mask, conf[:, idx], 0.0)) * scale + centre
        reproj = np.stack([cam.project(X) for cam in cameras])  # (V, n, 2)
        return X, np.linalg.norm(reproj - flat[:, idx], axis=-1)

    def worst_of(err, mask):
        return np.max(np.where(mask, np.nan_to_num(err, nan=np.inf), -1.0), axis=0)

    used = observed.copy()
    points = np.full((N, 3), np.nan)
    errors = np.full((V, N), np.nan)
    active = np.flatnonzero(used.sum(0) >= min_views)
    for _ in range(V + 1):  # at most V - 1 drops, each followed by a solve
        if active.size == 0:
            break
        X, err = solve(used[:, active], active)
        points[active] = X
        errors[:, active] = np.where(observed[:, active], err, np.nan)
        bad = (worst_of(err, used[:, active]) > outlier_px) & (used[:, active].sum(0) > min_views)
        if not bad.any():
            break
        active = active[bad]
        # leave each view out in turn; drop the one that leaves the most consistent rest
        score = np.full((V, active.size), np.inf)
        for v in range(V):
            mask = used[:, active].copy()
            mask[v] = False
            ok = used[v, active]
            if ok.any():
                _, e = solve(mask[:, ok], active[ok])
                score[v, ok] = worst_of(e, mask[:, ok])
        used[np.argmin(score, axis=0), active] = False
    points[used.sum(0) < min_views] = np.nan
    return Triangulation(
        points_mm=points.reshape(batch + (3,)),
        reprojection_px=errors.reshape((V,) + batch),
        used=used.reshape((V,) + batch),
    )
