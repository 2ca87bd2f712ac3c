"""Vicon ``.xcp`` calibration files: read (defusedxml) and write.

Which way ORIENTATION rotates
-----------------------------
``ORIENTATION="qx qy qz qw"`` is a unit quaternion with the scalar last. Every public
reader we could check (Pose2Sim ``read_vicon`` + ``quat2mat`` + ``world_to_camera_persp``
and an unrelated ``loadXCP``; see shared/data/VICON-CONVENTIONS.md) builds the usual
matrix from it and uses it as the WORLD->CAMERA rotation, with ``POSITION`` the camera
centre in the world, so X_cam = R (X_world - POSITION) and t = -R POSITION. Two
independent readers agreeing, and the resulting cameras looking at the capture volume
(positive depth for points in the volume), is the evidence; the alternative reading
(camera->world) would put the volume behind every camera. ``tests/test_xcp.py`` checks a
synthetic lab laid out both ways.

Pixel centres follow OpenCV (integer coordinates at pixel centres); see ``model.py``.
The distortion coefficients act on radii in pixels (not normalised coordinates).
"""
from __future__ import annotations

import io
import math
from pathlib import Path
from xml.etree.ElementTree import Element, ElementTree, SubElement, indent

import numpy as np

from ..atomic import atomic_write_bytes
from ..errors import CalibrationError
from .distortion import NotInvertibleError, ViconRadial
from .safe_xml import parse_calibration_xml
from .model import MAX_PIXELS, MAX_POSITION_MM, Calibration, Camera, matrix_to_quaternion, quaternion_to_matrix

MAX_XCP_BYTES = 64 * 1024 * 1024
#: A rotation quaternion has norm 1; files round, and readers normalise, but not from far off.
QUATERNION_NORM_RANGE = (0.5, 2.0)
_VIDEO_WORDS = ("video", "vue", "webcam", "reference", "dv", "miqus video", "bonita video")


def _is_video(attrs: dict) -> bool:
    if attrs.get("ISDV", "0").strip() == "1":
        return True
    text = " ".join(attrs.get(k, "") for k in ("TYPE", "DISPLAY_TYPE", "SENSOR", "NAME")).lower()
    words = set(text.replace("-", " ").replace("_", " ").split())
    return any((w in words) if " " not in w else (w in text) for w in _VIDEO_WORDS)


class _Fields:
    """Typed attribute access that turns every problem into a CalibrationError."""

    def __init__(self, path: Path, where: str, attrs: dict):
        self.path, self.where, self.attrs = path, where, attrs

    def _raw(self, name: str) -> str:
        if name not in self.attrs:
            raise CalibrationError(self.path, f"{self.where} has no {name} attribute", f"{self.where}/@{name}")
        return self.attrs[name]

    def floats(self, name: str, n: int | tuple[int, ...]) -> list[float]:
        text = self._raw(name)
        counts = (n,) if isinstance(n, int) else n
        try:
            vals = [float(tok) for tok in text.split()]
        except ValueError:
            raise CalibrationError(
                self.path, f"{self.where} {name}={text!r} is not a list of numbers", f"{self.where}/@{name}"
            ) from None
        if len(vals) not in counts:
            want = " or ".join(str(c) for c in counts)
            raise CalibrationError(
                self.path, f"{self.where} {name}={text!r} has {len(vals)} values, expected {want}", f"{self.where}/@{name}"
            )
        if not all(math.isfinite(v) for v in vals):
            raise CalibrationError(self.path, f"{self.where} {name}={text!r} is not finite", f"{self.where}/@{name}")
        return vals

    def bounded(self, name: str, n, limit: float, unit: str) -> list[float]:
        """:meth:`floats`, each value within +-``limit``."""
        vals = self.floats(name, n)
        if any(abs(v) > limit for v in vals):
            raise CalibrationError(self.path, f"{self.where} {name}={self.attrs[name]!r} is not physical (beyond "
                                   f"+-{limit:g} {unit})", f"{self.where}/@{name}")
        return vals

    def float(self, name: str, default: float | None = None) -> float:
        if default is not None and name not in self.attrs:
            return default
        return self.floats(name, 1)[0]

    def optional_float(self, name: str) -> float | None:
        return self.float(name) if name in self.attrs else None


def read_xcp(path) -> Calibration:
    """Read every camera of a Vicon ``.xcp`` file. Raises :class:`CalibrationError`."""
    path = Path(path)
    root = parse_calibration_xml(path, MAX_XCP_BYTES)

    cam_elems = [root] if root.tag == "Camera" else root.findall(".//Camera")
    if not cam_elems:
        raise CalibrationError(path, f"no <Camera> element (root is <{root.tag}>); is this a Vicon .xcp file?", "Camera")
    cameras = [_read_camera(path, i, elem) for i, elem in enumerate(cam_elems)]
    ids = [c.device_id for c in cameras]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise CalibrationError(path, f"device id(s) {', '.join(dup)} appear more than once", "DEVICEID")
    return Calibration(path=path, cameras=tuple(cameras), source_format="xcp")


def _read_camera(path: Path, i: int, elem) -> Camera:
    attrs = dict(elem.attrib)
    device_id = attrs.get("DEVICEID", "").strip()
    where = f"Camera[DEVICEID={device_id}]" if device_id else f"Camera #{i + 1}"
    f = _Fields(path, where, attrs)
    if not device_id:
        raise CalibrationError(path, f"{where} has no DEVICEID attribute", f"{where}/@DEVICEID")
    w_h = f.bounded("SENSOR_SIZE", 2, MAX_PIXELS, "px")
    if any(v <= 0 or v != int(v) for v in w_h):
        raise CalibrationError(path, f"{where} SENSOR_SIZE={attrs['SENSOR_SIZE']!r} must be two positive integers", f"{where}/@SENSOR_SIZE")
    image_size = (int(w_h[0]), int(w_h[1]))
    aspect = f.float("PIXEL_ASPECT_RATIO", 1.0)
    if aspect <= 0:
        raise CalibrationError(path, f"{where} PIXEL_ASPECT_RATIO must be positive, got {aspect}", f"{where}/@PIXEL_ASPECT_RATIO")
    skew = f.float("SKEW", 0.0)

    keyframes = elem.findall("./KeyFrames/KeyFrame") or elem.findall(".//KeyFrame")
    if not keyframes:
        raise CalibrationError(path, f"{where} has no <KeyFrame> with calibration values", f"{where}/KeyFrames")
    # Several keyframes: the one with the highest FRAME is the most recent calibration.
    def frame_of(kf):
        try:
            return float(kf.attrib.get("FRAME", "0"))
        except ValueError:
            return 0.0

    kf = max(keyframes, key=frame_of)
    kwhere = f"{where}/KeyFrame"
    k = _Fields(path, kwhere, dict(kf.attrib))
    focal = k.bounded("FOCAL_LENGTH", 1, MAX_PIXELS, "px")[0]
    if focal <= 0:
        raise CalibrationError(path, f"{kwhere} FOCAL_LENGTH must be positive, got {focal}", f"{kwhere}/@FOCAL_LENGTH")
    ppx, ppy = k.bounded("PRINCIPAL_POINT", 2, MAX_PIXELS, "px")
    quat = k.bounded("ORIENTATION", 4, 1e3, "")
    norm = float(np.linalg.norm(quat))
    if norm < 1e-9:
        raise CalibrationError(path, f"{kwhere} ORIENTATION is a zero quaternion", f"{kwhere}/@ORIENTATION")
    if not QUATERNION_NORM_RANGE[0] <= norm <= QUATERNION_NORM_RANGE[1]:
        raise CalibrationError(path, f"{kwhere} ORIENTATION has norm {norm:.3g}; a rotation quaternion has norm 1",
                               f"{kwhere}/@ORIENTATION")
    position = np.array(k.bounded("POSITION", 3, MAX_POSITION_MM, "mm"))
    distortion = _read_radial(path, kwhere, dict(kf.attrib), (ppx, ppy), aspect)
    try:
        distortion.check_invertible(image_size)
    except NotInvertibleError as exc:
        field = "VICON_RADIAL2" if "VICON_RADIAL2" in kf.attrib else "VICON_RADIAL"
        raise CalibrationError(path, f"{kwhere} {exc}", f"{kwhere}/@{field}") from None

    K = np.array([[focal, skew, ppx], [0.0, focal / aspect, ppy], [0.0, 0.0, 1.0]])
    return Camera(
        device_id=device_id,
        name=attrs.get("NAME", "").strip() or f"Camera {attrs.get('USERID', device_id)}",
        K=K,
        R=quaternion_to_matrix(quat),
        position_mm=position,
        image_size=image_size,
        distortion=distortion,
        kind="video" if _is_video(attrs) else "optical",
        camera_type=attrs.get("TYPE", ""),
        image_error_px=k.optional_float("IMAGE_ERROR"),
        world_error_mm=k.optional_float("WORLD_ERROR"),
        extra={"USERID": attrs.get("USERID"), "SENSOR": attrs.get("SENSOR"), "keyframes": len(keyframes),
               "FRAME": kf.attrib.get("FRAME")},
    )


def _read_radial(path: Path, where: str, attrs: dict, pp: tuple[float, float], aspect: float) -> ViconRadial:
    if "VICON_RADIAL2" in attrs:
        text = attrs["VICON_RADIAL2"]
        tokens = text.split()
        if tokens and not _is_number(tokens[0]):
            model, tokens = tokens[0], tokens[1:]
            if model != "Vicon3Parameter":
                raise CalibrationError(path, f"{where} VICON_RADIAL2 model {model!r} is not supported (expected Vicon3Parameter)", f"{where}/@VICON_RADIAL2")
        vals = _Fields(path, where, {"VICON_RADIAL2": " ".join(tokens)}).floats("VICON_RADIAL2", (4, 5))
        if len(vals) == 4:
            vals.append(0.0)
        xdc, ydc, w0, w1, w2 = vals
        if max(abs(xdc), abs(ydc)) > MAX_PIXELS:
            raise CalibrationError(path, f"{where} VICON_RADIAL2 centre ({xdc:g}, {ydc:g}) is not physical (beyond "
                                   f"+-{MAX_PIXELS:g} px)", f"{where}/@VICON_RADIAL2")
        return ViconRadial(principal_point=pp, centre=(xdc, ydc), w=(w0, w1, w2), aspect=aspect)
    if "VICON_RADIAL" in attrs:
        vals = _Fields(path, where, attrs).floats("VICON_RADIAL", (2, 3))
        w = tuple(vals) + (0.0,) * (3 - len(vals))
        return ViconRadial(principal_point=pp, centre=pp, w=w, aspect=aspect)
    raise CalibrationError(path, f"{where} has neither VICON_RADIAL nor VICON_RADIAL2", f"{where}/@VICON_RADIAL")


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _fmt(values) -> str:
    return " ".join(repr(float(v)) for v in values)


def write_xcp(calibration_or_cameras, path) -> Path:
    """Write cameras with :class:`ViconRadial` distortion as a Vicon ``.xcp`` (atomically)."""
    cameras = getattr(calibration_or_cameras, "cameras", calibration_or_cameras)
    root = Element("Cameras", VERSION="1.0")
    for cam in cameras:
        dist = cam.distortion
        if not isinstance(dist, ViconRadial):
            raise TypeError(f"camera {cam.device_id}: only Vicon radial distortion can be written to .xcp")
        aspect = cam.K[0, 0] / cam.K[1, 1]
        video = cam.kind == "video"
        c = SubElement(
            root,
            "Camera",
            DEVICEID=cam.device_id,
            DISPLAY_TYPE=cam.camera_type or ("Vue" if video else "Vero v2.2"),
            ISDV="0",
            NAME=cam.name,
            PIXEL_ASPECT_RATIO=repr(float(aspect)),
            SENSOR=cam.camera_type or ("Vue" if video else "Vero v2.2"),
            SENSOR_SIZE=f"{cam.image_size[0]} {cam.image_size[1]}",
            SKEW=repr(float(cam.K[0, 1])),
            SYSTEM="",
            TYPE=cam.camera_type or ("Vue" if video else "Vero v2.2"),
            USERID=str(cam.extra.get("USERID") or ""),
        )
        SubElement(c, "ControlFrames")
        kfs = SubElement(c, "KeyFrames")
        attrs = {
            "FOCAL_LENGTH": repr(float(cam.K[0, 0])),
            "FRAME": "0",
            "IMAGE_ERROR": repr(float(cam.image_error_px or 0.0)),
            "ORIENTATION": _fmt(matrix_to_quaternion(cam.R)),
            "POSITION": _fmt(cam.position_mm),
            "PRINCIPAL_POINT": _fmt(dist.principal_point),
            "VICON_RADIAL2": "Vicon3Parameter " + _fmt(list(dist.centre) + list(dist.w)),
            "WORLD_ERROR": repr(float(cam.world_error_mm or 0.0)),
        }
        SubElement(kfs, "KeyFrame", attrs)
    indent(root)
    buf = io.BytesIO()
    ElementTree(root).write(buf, encoding="UTF-8", xml_declaration=True)
    return atomic_write_bytes(path, buf.getvalue())
