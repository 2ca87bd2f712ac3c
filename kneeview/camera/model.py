"""Calibrated cameras: intrinsics, pose, distortion, projection.

Conventions (the one place that states them):

* World (lab) frame: Vicon's, millimetres, Z up.
* Camera frame: X_cam = R (X_world - position_mm); the camera looks down +z, image x to
  the right, image y down.
* Pixels: integer coordinates are pixel CENTRES, as in OpenCV: the top-left pixel covers
  [-0.5, 0.5) x [-0.5, 0.5) and its centre is (0, 0). ``raw`` pixels are those of the
  distorted video frame; ``corrected`` pixels are the pinhole image K X_cam / z.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

#: Largest values taken as physical. A lab is tens of metres across; a focal length, a
#: principal point or a sensor of a million pixels is a corrupt file, and such values
#: overflow the projection (POSITION="1e308 ..." gave all-NaN 2D without an error).
MAX_POSITION_MM = 1e5
MAX_PIXELS = 1e6


class Distortion(Protocol):
    def undistort(self, raw_px) -> np.ndarray: ...
    def distort(self, corrected_px) -> np.ndarray: ...
    def check_invertible(self, image_size: tuple[int, int]) -> None: ...


def quaternion_to_matrix(q_xyzw) -> np.ndarray:
    """Rotation matrix of a quaternion given scalar-last (qx, qy, qz, qw); normalised first."""
    q = np.asarray(q_xyzw, dtype=np.float64)
    n = np.linalg.norm(q)
    if not np.isfinite(n) or n < 1e-12:
        raise ValueError("quaternion has zero or non-finite length")
    x, y, z, w = q / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def look_at_rotation(position_mm, target_mm, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """World->camera rotation of a camera at ``position_mm`` looking at ``target_mm``.

    Camera +z points at the target, image y (down) is as close to world ``-up`` as possible.
    """
    z = np.asarray(target_mm, float) - np.asarray(position_mm, float)
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, float))
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("viewing direction is parallel to the up vector")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


def matrix_to_quaternion(R) -> np.ndarray:
    """Scalar-last unit quaternion (qx, qy, qz, qw) of a rotation matrix, qw >= 0."""
    from scipy.spatial.transform import Rotation

    q = Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_quat()  # scalar last
    return q if q[3] >= 0 else -q


@dataclass(frozen=True)
class Camera:
    """One calibrated camera.

    ``K`` is the 3x3 intrinsic matrix, ``R`` the world->camera rotation, ``position_mm``
    the camera centre in the lab frame, ``image_size`` (width, height) in pixels.
    """

    device_id: str
    name: str
    K: np.ndarray
    R: np.ndarray
    position_mm: np.ndarray
    image_size: tuple[int, int]
    distortion: Distortion
    kind: str = "video"  # "video" or "optical"
    camera_type: str = ""
    image_error_px: float | None = None
    world_error_mm: float | None = None
    extra: dict = field(default_factory=dict, compare=False)

    # ------------------------------------------------------------------ geometry
    @property
    def t(self) -> np.ndarray:
        """Extrinsic translation: X_cam = R X_world + t."""
        return -self.R @ self.position_mm

    @property
    def P(self) -> np.ndarray:
        """3x4 projection matrix K [R | -R c] (world mm -> corrected pixels)."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    @property
    def focal_length_px(self) -> float:
        return float(self.K[0, 0])

    @property
    def principal_point_px(self) -> tuple[float, float]:
        return float(self.K[0, 2]), float(self.K[1, 2])

    def world_to_camera(self, points_mm) -> np.ndarray:
        """Lab-frame points (..., 3) in mm -> camera-frame points (..., 3) in mm."""
        X = np.asarray(points_mm, dtype=np.float64)
        return (X - self.position_mm) @ self.R.T

    def camera_to_world(self, points_cam_mm) -> np.ndarray:
        return np.asarray(points_cam_mm, dtype=np.float64) @ self.R + self.position_mm

    def project_corrected(self, points_mm) -> np.ndarray:
        """Lab points (..., 3) mm -> corrected (pinhole) pixels (..., 2). NaN behind the camera."""
        Xc = self.world_to_camera(points_mm)
        z = Xc[..., 2]
        uvw = Xc @ self.K.T
        with np.errstate(invalid="ignore", divide="ignore"):
            uv = uvw[..., :2] / z[..., None]
        uv[~(z > 0)] = np.nan
        return uv

    def project(self, points_mm) -> np.ndarray:
        """Lab points (..., 3) mm -> raw (distorted) pixels (..., 2), as the lens sees them."""
        return self.distort_points(self.project_corrected(points_mm))

    def undistort_points(self, raw_px) -> np.ndarray:
        return self.distortion.undistort(raw_px)

    def distort_points(self, corrected_px) -> np.ndarray:
        return self.distortion.distort(corrected_px)

    def ray(self, raw_px) -> tuple[np.ndarray, np.ndarray]:
        """Back-project raw pixels: (origin_mm (3,), unit directions (..., 3)) in the lab frame."""
        cor = self.undistort_points(raw_px)
        ones = np.ones(cor.shape[:-1] + (1,))
        d_cam = np.concatenate([cor, ones], axis=-1) @ np.linalg.inv(self.K).T
        d_world = d_cam @ self.R  # R^T d for row vectors
        d_world /= np.linalg.norm(d_world, axis=-1, keepdims=True)
        return self.position_mm.copy(), d_world

    def describe(self) -> dict:
        """Plain-data summary for `kneeview info`."""
        d = {
            "device_id": self.device_id,
            "name": self.name,
            "kind": self.kind,
            "type": self.camera_type,
            "image_size": list(self.image_size),
            "focal_length_px": round(self.focal_length_px, 4),
            "principal_point_px": [round(v, 4) for v in self.principal_point_px],
            "position_mm": [round(float(v), 3) for v in self.position_mm],
            "distortion": describe_distortion(self.distortion),
            "image_error_px": self.image_error_px,
            "world_error_mm": self.world_error_mm,
        }
        return d


def describe_distortion(dist) -> dict:
    from .distortion import BrownConrady, NoDistortion, ViconRadial

    if isinstance(dist, ViconRadial):
        return {"model": "vicon_radial", "centre_px": list(dist.centre), "w": list(dist.w)}
    if isinstance(dist, BrownConrady):
        return {"model": "brown_conrady", "k1_k2_p1_p2_k3": list(dist.coefficients)}
    if isinstance(dist, NoDistortion):
        return {"model": "none"}
    return {"model": type(dist).__name__}


@dataclass(frozen=True)
class Calibration:
    """All cameras of one calibration file."""

    path: object  # pathlib.Path or None
    cameras: tuple[Camera, ...]
    source_format: str = "xcp"

    def camera(self, device_id) -> Camera:
        from ..errors import CalibrationError

        key = str(device_id).strip()
        for cam in self.cameras:
            if cam.device_id == key:
                return cam
        known = ", ".join(c.device_id for c in self.cameras) or "none"
        raise CalibrationError(self.path, f"no camera with device id {key!r} (the file has: {known})", "DEVICEID")

    def video_cameras(self) -> list[Camera]:
        return [c for c in self.cameras if c.kind == "video"]

    def __len__(self) -> int:
        return len(self.cameras)
