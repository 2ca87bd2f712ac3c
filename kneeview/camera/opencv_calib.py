"""OpenCV-style calibrations as Pose2Sim and Anipose write them (TOML), or the same as JSON.

One table per camera::

    [cam_01]
    name = "cam_01"
    size = [1920.0, 1080.0]                  # width, height in pixels
    matrix = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
    distortions = [k1, k2, p1, p2]           # optionally k3
    rotation = [rx, ry, rz]                  # Rodrigues vector, world -> camera (or a 3x3 matrix)
    translation = [tx, ty, tz]               # X_cam = R X_world + t

Pose2Sim stores translations in metres, Anipose in the calibration board's unit
(usually mm). The unit is read from ``translation_unit`` ("m" or "mm") in the camera
table or ``[metadata]`` when present; otherwise the ``translation_unit`` argument
decides (default "m", Pose2Sim). KneeView converts everything to mm internally.
A JSON file holds the same keys: ``{"cam_01": {...}, ...}`` or ``{"cameras": [{...}]}``.
"""
from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import cv2
import numpy as np

from ..errors import CalibrationError
from .distortion import BrownConrady, NotInvertibleError
from .model import MAX_PIXELS, MAX_POSITION_MM, Calibration, Camera

_UNITS_TO_MM = {"m": 1000.0, "mm": 1.0, "cm": 10.0}


def read_opencv_calibration(path, translation_unit: str = "m") -> Calibration:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise CalibrationError(path, f"cannot read calibration: {exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(path, f"malformed {path.suffix.lstrip('.').upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise CalibrationError(path, "expected a table of cameras")
    metadata = data.get("metadata", {}) if isinstance(data.get("metadata"), dict) else {}
    unit = str(metadata.get("translation_unit", translation_unit))
    if isinstance(data.get("cameras"), list):
        tables = [(str(c.get("name", i)), c) for i, c in enumerate(data["cameras"]) if isinstance(c, dict)]
    else:
        tables = [(k, v) for k, v in data.items() if isinstance(v, dict) and k != "metadata"]
    if not tables:
        raise CalibrationError(path, "no camera tables found (expected [cam_01] ... with matrix, size, rotation, translation)")
    cameras = [_camera(path, key, table, unit) for key, table in tables]
    return Calibration(path=path, cameras=tuple(cameras), source_format="opencv")


def _array(path: Path, where: str, table: dict, key: str, shape: tuple[int, ...] | list) -> np.ndarray:
    if key not in table:
        raise CalibrationError(path, f"{where} has no '{key}'", f"{where}.{key}")
    try:
        arr = np.asarray(table[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise CalibrationError(path, f"{where}.{key} is not numeric", f"{where}.{key}") from None
    shapes = shape if isinstance(shape, list) else [shape]
    if arr.shape not in shapes:
        raise CalibrationError(path, f"{where}.{key} has shape {arr.shape}, expected {' or '.join(map(str, shapes))}", f"{where}.{key}")
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(path, f"{where}.{key} is not finite", f"{where}.{key}")
    return arr


def _camera(path: Path, key: str, table: dict, unit: str) -> Camera:
    where = f"[{key}]"
    unit = str(table.get("translation_unit", unit))
    if unit not in _UNITS_TO_MM:
        raise CalibrationError(path, f"{where} translation_unit {unit!r} is not one of m, cm, mm", f"{where}.translation_unit")
    size = _array(path, where, table, "size", (2,))
    if np.any(size <= 0) or np.any(size != np.round(size)):
        raise CalibrationError(path, f"{where}.size must be two positive integers", f"{where}.size")
    K = _array(path, where, table, "matrix", (3, 3))
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise CalibrationError(path, f"{where} focal length must be positive", f"{where}.matrix")
    if np.abs(K).max() > MAX_PIXELS or np.any(size > MAX_PIXELS):
        raise CalibrationError(path, f"{where}.matrix or size is not physical (beyond {MAX_PIXELS:g} px)", f"{where}.matrix")
    dist = _array(path, where, table, "distortions", [(4,), (5,)]) if "distortions" in table else np.zeros(4)
    rot = _array(path, where, table, "rotation", [(3,), (3, 3)])
    R = cv2.Rodrigues(rot)[0] if rot.shape == (3,) else rot
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
        raise CalibrationError(path, f"{where}.rotation is not a rotation", f"{where}.rotation")
    t_mm = _array(path, where, table, "translation", (3,)) * _UNITS_TO_MM[unit]
    if np.abs(t_mm).max() > MAX_POSITION_MM:
        raise CalibrationError(path, f"{where}.translation is not physical (beyond +-{MAX_POSITION_MM:g} mm)",
                               f"{where}.translation")
    image_size = (int(size[0]), int(size[1]))
    if table.get("fisheye", False):
        raise CalibrationError(path, f"{where} fisheye calibrations are not supported", f"{where}.fisheye")
    distortion = BrownConrady(K=K, coefficients=tuple(float(v) for v in dist))
    try:
        distortion.check_invertible(image_size)
    except NotInvertibleError as exc:
        raise CalibrationError(path, f"{where} {exc}", f"{where}.distortions") from None
    error = table.get("error")
    return Camera(
        device_id=str(table.get("name", key)),
        name=str(table.get("name", key)),
        K=K,
        R=R,
        position_mm=-R.T @ t_mm,
        image_size=image_size,
        distortion=distortion,
        kind="video",
        camera_type="opencv",
        image_error_px=float(error) if isinstance(error, (int, float)) and math.isfinite(error) else None,
    )
