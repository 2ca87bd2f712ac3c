"""Lens distortion models: raw (distorted) pixels <-> corrected (pinhole) pixels.

Both models map arrays of shape (..., 2) and are vectorised over any number of points.
``undistort`` goes raw -> corrected, ``distort`` corrected -> raw (what drawing a
projected 3D point on the raw video frame needs).
"""
from __future__ import annotations

from dataclasses import dataclass

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

    The equations are the paper's, as written. Note that with a pixel aspect ratio a != 1
    they are not the identity at zero distortion (y shifts by y_pp (1/a - 1)); Vicon video
    cameras have a = 1, where the model is the usual one.
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
        # g'(r) = 1 + 3 w0 t + 5 w1 t^2 + 7 w2 t^3 with t = r^2 >= 0, solved in units of
        # T = 1e6 px^2 so that the coefficients are of order one; negligible ones are dropped.
        T = 1e6
        coeffs = [1.0, 3 * w0 * T, 5 * w1 * T**2, 7 * w2 * T**3]
        coeffs = [c if abs(c) > 1e-12 else 0.0 for c in coeffs]
        while coeffs[-1] == 0.0:
            coeffs.pop()
        if len(coeffs) == 1:
            return float("inf")
        roots = np.roots(coeffs[::-1])
        real = [z.real for z in roots if abs(z.imag) <= 1e-9 * max(1.0, abs(z)) and z.real > 0]
        return float(np.sqrt(min(real) * T)) if real else float("inf")

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
    inverts it by fixed-point iteration.
    """

    K: np.ndarray
    coefficients: tuple[float, ...]  # k1, k2, p1, p2[, k3]

    def _coeffs5(self) -> np.ndarray:
        c = np.zeros(5)
        c[: len(self.coefficients)] = self.coefficients[:5]
        return c

    def _normalised(self, px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Kinv = np.linalg.inv(self.K)
        x = Kinv[0, 0] * px[..., 0] + Kinv[0, 1] * px[..., 1] + Kinv[0, 2]
        y = Kinv[1, 1] * px[..., 1] + Kinv[1, 2]
        return x, y

    def _pixels(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        K = self.K
        return np.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], axis=-1)

    def _apply(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k1, k2, p1, p2, k3 = self._coeffs5()
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        return (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)

    def distort(self, corrected_px) -> np.ndarray:
        x, y = self._normalised(_as_points(corrected_px))
        return self._pixels(*self._apply(x, y))

    def undistort(self, raw_px, iterations: int = 100) -> np.ndarray:
        """Fixed-point iteration (as OpenCV's undistortPoints) run to convergence."""
        xd, yd = self._normalised(_as_points(raw_px))
        x, y = xd.copy(), yd.copy()
        for _ in range(iterations):
            fx, fy = self._apply(x, y)
            ex, ey = fx - xd, fy - yd
            x, y = x - ex, y - ey
            if np.all(np.abs(ex) < 1e-14) and np.all(np.abs(ey) < 1e-14):
                break
        return self._pixels(x, y)

    def check_invertible(self, image_size: tuple[int, int]) -> None:
        w, h = image_size
        u, v = np.meshgrid(np.linspace(-0.5, w - 0.5, 33), np.linspace(-0.5, h - 0.5, 33))
        raw = np.stack([u, v], -1)
        with np.errstate(all="ignore"):
            back = self.distort(self.undistort(raw))
            diff = np.abs(back - raw)
        # a NaN/inf anywhere means the iteration diverged there: not invertible (nanmax would hide it)
        err = float(np.max(diff)) if np.all(np.isfinite(diff)) else float("inf")
        if err > 1e-3 * max(w, h):
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
