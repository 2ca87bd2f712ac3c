"""Lens distortion models: raw (distorted) pixels <-> corrected (pinhole) pixels.

Both models map arrays of shape (..., 2) and are vectorised over any number of points.
``undistort`` goes raw -> corrected, ``distort`` corrected -> raw (what drawing a
projected 3D point on the raw video frame needs).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


class NotInvertibleError(ValueError):
    """The radial polynomial is not monotonic over the region that must be mapped."""


def _as_points(points) -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.shape[-1:] != (2,):
        raise ValueError(f"expected points of shape (..., 2), got {arr.shape}")
    return arr


@dataclass(frozen=True)
class ViconRadial:
    """The Vicon radial model (paper section 3.2.1), coefficients in pixel units.

    raw -> corrected::

        dp = [x_r - x_dc, a (y_r - y_dc)],   r = |dp|
        s  = 1 + w0 r^2 + w1 r^4 + w2 r^6
        corrected = [s dx + x_pp, (s dy + y_pp) / a]

    The inverse needs the raw radius r from the corrected offset
    u = [x_c - x_pp, a y_c - y_pp] = s(r) dp, whose length is g(r) = r s(r); g is solved
    by a bracketed Newton iteration, valid where g is increasing (``max_radius``).
    """

    principal_point: tuple[float, float]
    centre: tuple[float, float]
    w: tuple[float, float, float]
    aspect: float = 1.0

    # ----------------------------------------------------------------- the model
    def _scale(self, r2: np.ndarray) -> np.ndarray:
        w0, w1, w2 = self.w
        return 1.0 + r2 * (w0 + r2 * (w1 + r2 * w2))

    def undistort(self, raw_px) -> np.ndarray:
        raw = _as_points(raw_px)
        xdc, ydc = self.centre
        xpp, ypp = self.principal_point
        a = self.aspect
        dx = raw[..., 0] - xdc
        dy = a * (raw[..., 1] - ydc)
        s = self._scale(dx * dx + dy * dy)
        return np.stack([s * dx + xpp, (s * dy + ypp) / a], axis=-1)

    def _g(self, r: np.ndarray) -> np.ndarray:
        return r * self._scale(r * r)

    def _dg(self, r: np.ndarray) -> np.ndarray:
        w0, w1, w2 = self.w
        r2 = r * r
        return 1.0 + r2 * (3 * w0 + r2 * (5 * w1 + r2 * 7 * w2))

    def max_radius(self) -> float:
        """Largest raw radius (pixels, aspect-scaled) up to which g(r) = r s(r) increases.

        ``inf`` when g' never vanishes. Beyond it two raw points map to one corrected
        point and the model cannot be inverted.
        """
        w0, w1, w2 = self.w
        # g'(r) = 1 + 3 w0 t + 5 w1 t^2 + 7 w2 t^3 with t = r^2 >= 0
        roots = np.roots([7 * w2, 5 * w1, 3 * w0, 1.0]) if any(self.w) else np.array([])
        real = [z.real for z in np.atleast_1d(roots) if abs(z.imag) < 1e-12 * max(1.0, abs(z)) and z.real > 0]
        return float(np.sqrt(min(real))) if real else float("inf")

    def check_invertible(self, image_size: tuple[int, int]) -> None:
        """Raise :class:`NotInvertibleError` unless the model is one-to-one over the sensor."""
        w, h = image_size
        corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [-0.5, h - 0.5], [w - 0.5, h - 0.5]])
        dp = np.stack([corners[:, 0] - self.centre[0], self.aspect * (corners[:, 1] - self.centre[1])], -1)
        r_corner = float(np.max(np.hypot(dp[:, 0], dp[:, 1])))
        r_max = self.max_radius()
        if r_corner >= r_max:
            raise NotInvertibleError(
                f"radial distortion folds over inside the {w}x{h} sensor: it is monotonic only "
                f"up to a radius of {r_max:.1f} px but the sensor corners lie {r_corner:.1f} px "
                "from the distortion centre"
            )
        if np.any(self._scale(np.linspace(0.0, r_corner, 257) ** 2) <= 0):
            raise NotInvertibleError("radial distortion scale factor becomes non-positive inside the sensor")

    def distort(self, corrected_px, max_iter: int = 50) -> np.ndarray:
        """corrected -> raw. Points beyond the invertible region come back as NaN."""
        cor = _as_points(corrected_px)
        xdc, ydc = self.centre
        xpp, ypp = self.principal_point
        a = self.aspect
        ux = cor[..., 0] - xpp
        uy = a * cor[..., 1] - ypp
        rho = np.hypot(ux, uy)
        r = self._solve_radius(rho, max_iter)
        ratio = np.divide(r, rho, out=np.ones_like(rho), where=rho > 0)  # rho = 0 -> dp = 0
        return np.stack([ux * ratio + xdc, uy * ratio / a + ydc], axis=-1)

    def _solve_radius(self, rho: np.ndarray, max_iter: int) -> np.ndarray:
        r_max = self.max_radius()
        hi_val = self._g(np.array(r_max)) if np.isfinite(r_max) else np.inf
        out_of_range = ~(rho < hi_val)  # also catches NaN
        rho_ok = np.where(out_of_range, 0.0, rho)
        # Bracket [lo, hi] with g(lo) <= rho <= g(hi); g is increasing on [0, r_max].
        lo = np.zeros_like(rho_ok)
        if np.isfinite(r_max):
            hi = np.full_like(rho_ok, r_max)
        else:
            hi = np.maximum(rho_ok, 1.0)
            for _ in range(200):  # grow until bracketed (g -> inf monotonically here)
                short = self._g(hi) < rho_ok
                if not short.any():
                    break
                hi = np.where(short, hi * 2.0, hi)
        r = np.clip(rho_ok, lo, hi)
        for _ in range(max_iter):
            f = self._g(r) - rho_ok
            lo = np.where(f <= 0, r, lo)
            hi = np.where(f > 0, r, hi)
            step = f / self._dg(r)
            r_new = r - step
            bad = ~((r_new > lo) & (r_new < hi))
            r_new = np.where(bad, 0.5 * (lo + hi), r_new)
            if np.all(np.abs(r_new - r) <= 1e-12 * np.maximum(1.0, r)):
                r = r_new
                break
            r = r_new
        return np.where(out_of_range, np.nan, r)


@dataclass(frozen=True)
class BrownConrady:
    """OpenCV's radial-tangential model (k1, k2, p1, p2, k3) in normalised coordinates.

    Used for OpenCV-style (Pose2Sim, Anipose) and Qualisys calibrations. ``K`` maps
    normalised to corrected pixels. distort is the closed-form OpenCV model; undistort
    uses ``cv2.undistortPointsIter`` run to convergence.
    """

    K: np.ndarray
    coefficients: tuple[float, ...]  # k1, k2, p1, p2[, k3]

    def _coeffs5(self) -> np.ndarray:
        c = np.zeros(5)
        c[: len(self.coefficients)] = self.coefficients[:5]
        return c

    def distort(self, corrected_px) -> np.ndarray:
        cor = _as_points(corrected_px)
        k1, k2, p1, p2, k3 = self._coeffs5()
        Kinv = np.linalg.inv(self.K)
        x = Kinv[0, 0] * cor[..., 0] + Kinv[0, 1] * cor[..., 1] + Kinv[0, 2]
        y = Kinv[1, 1] * cor[..., 1] + Kinv[1, 2]
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        K = self.K
        return np.stack([K[0, 0] * xd + K[0, 1] * yd + K[0, 2], K[1, 1] * yd + K[1, 2]], axis=-1)

    def undistort(self, raw_px) -> np.ndarray:
        raw = _as_points(raw_px)
        flat = raw.reshape(-1, 1, 2)
        if flat.shape[0] == 0:
            return raw.copy()
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
        und = cv2.undistortPointsIter(flat, self.K, self._coeffs5(), None, self.K, criteria)
        return und.reshape(raw.shape)

    def check_invertible(self, image_size: tuple[int, int]) -> None:
        w, h = image_size
        u, v = np.meshgrid(np.linspace(-0.5, w - 0.5, 33), np.linspace(-0.5, h - 0.5, 33))
        raw = np.stack([u, v], -1)
        back = self.distort(self.undistort(raw))
        err = float(np.nanmax(np.abs(back - raw)))
        if not np.isfinite(err) or err > 1e-3 * max(w, h):
            raise NotInvertibleError(f"distortion model cannot be inverted over the {w}x{h} image (error {err:.3g} px)")


@dataclass(frozen=True)
class NoDistortion:
    """A pinhole camera."""

    def undistort(self, raw_px) -> np.ndarray:
        return _as_points(raw_px).copy()

    def distort(self, corrected_px) -> np.ndarray:
        return _as_points(corrected_px).copy()

    def check_invertible(self, image_size: tuple[int, int]) -> None:
        return None
