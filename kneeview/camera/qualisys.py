"""Qualisys Track Manager calibrations (``*.qca.txt``, QTM's XML), read with defusedxml.

One ``<camera>`` element per camera::

    <camera active="1" serial="cam01" model="..." avg-residual="0.40" viewrotation="0">
      <fov_video left="0" top="0" right="1087" bottom="1919"/>
      <transform x=".." y=".." z=".." r11=".." ... r33=".."/>
      <intrinsic focalLengthU=".." focalLengthV=".." centerPointU=".." centerPointV=".."
                 sensorMinU="0" sensorMaxU="69568" sensorMinV="0" sensorMaxV="122816" skew="0"
                 radialDistortion1=".." radialDistortion2=".." radialDistortion3=".."
                 tangentalDistortion1=".." tangentalDistortion2=".."/>
    </camera>

How each value becomes KneeView's :class:`~kneeview.camera.model.Camera`
------------------------------------------------------------------------
* **Pose.** ``x y z`` is the camera centre in the lab frame, in mm. The rows of
  ``Rq = [[r11 r12 r13], [r21 r22 r23], [r31 r32 r33]]`` are the camera axes in the lab
  frame with QTM's camera y up and z towards the viewer, so the world->camera rotation in
  KneeView's convention (x right, y down, looking down +z) is ``R = diag(1, -1, -1) Rq``.
  Evidence: with this R the lab origin and the floor around it lie 2.9-4.4 m in front of
  all four cameras of Pose2Sim's Demo_SinglePerson and project onto the same corner of
  the force-plate treadmill in every video (checked by drawing the lab axes on frame 0 of
  each video), with the lab's Z axis pointing up in every image. Each alternative
  (Rq without the flip, Rq transposed with or without it) puts the origin behind at
  least one camera or hundreds of pixels outside its image
  (``tests/qualisys/test_pose2sim_demo.py`` pins the first reading).
* **Intrinsics.** QTM stores focal lengths and the centre point in sub-pixel units:
  ``factor = (sensorMaxU - sensorMinU) / (right - left)`` of the video window (64 for
  this file), likewise for V. ``fx = focalLengthU / factor``; the principal point is
  ``centerPointU / factor - left`` (the centre point is on the sensor, the image is the
  ``fov_video`` window). ``skew`` is divided by the same factor. Image size is
  ``(right - left + 1, bottom - top + 1)``.
* **Distortion: the coefficients are used as written, NOT divided by 64** (Pose2Sim's
  ``calib_qca_fun`` divides them by 64, which we consider a bug). They are OpenCV
  Brown-Conrady coefficients ``k1 k2 p1 p2 k3`` acting on normalised image coordinates
  ``x / z``, which are dimensionless, so the sub-pixel factor cannot enter them: were they
  expressed for radii in sub-pixel units, converting to pixels would multiply k1 by 64**2
  and k2 by 64**4, never divide by 64. Magnitudes agree: as written (k1 = -0.046,
  k2 = 0.14 for cam01) the lens moves the image corners of the 1088x1920 frame by about
  8 px, typical of a 9 mm lens on this sensor; divided by 64 the displacement at the
  corner is about 0.1 px, i.e. a perfect lens, which would make QTM's fit of five
  coefficients meaningless. ``tests/qualisys/test_qca_reader.py`` pins both figures.
  ``tangentalDistortion1/2`` map to OpenCV's ``p1, p2`` in that order (as Pose2Sim does).

Cameras keep their ``serial`` as device id (unique). A camera is a *video* camera when
its ``model`` names a video camera or is unknown (``"none"``/empty, as in converted files
where every listed camera filmed a video); a named marker camera (Oqus, Miqus M, Arqus)
is *optical*. ``active="0"`` and ``viewrotation`` are kept in ``Camera.extra``.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import CalibrationError
from .distortion import BrownConrady, NotInvertibleError
from .safe_xml import parse_calibration_xml
from .model import MAX_PIXELS, MAX_POSITION_MM, Calibration, Camera

MAX_QCA_BYTES = 16 * 1024 * 1024
QCA_SUFFIX = ".qca.txt"

#: QTM camera frame (y up, z towards the viewer) -> KneeView/OpenCV camera frame (y down, looking down +z).
QTM_TO_OPENCV = np.diag([1.0, -1.0, -1.0])


def is_qca(path) -> bool:
    return Path(path).name.lower().endswith((QCA_SUFFIX, ".qca"))


class _Attrs:
    """Typed attribute access on one element; every problem names the file and the field."""

    def __init__(self, path: Path, where: str, elem, tag: str):
        self.path, self.where, self.tag = path, where, tag
        if elem is None:
            raise CalibrationError(path, f"{where} has no <{tag}> element", f"{where}/{tag}")
        self.attrs = dict(elem.attrib)

    def field(self, name: str) -> str:
        return f"{self.where}/{self.tag}/@{name}"

    def float(self, name: str, default: float | None = None) -> float:
        if name not in self.attrs:
            if default is not None:
                return default
            raise CalibrationError(self.path, f"{self.where} <{self.tag}> has no {name} attribute", self.field(name))
        text = self.attrs[name]
        try:
            value = float(text)
        except ValueError:
            raise CalibrationError(self.path, f"{self.where} <{self.tag}> {name}={text!r} is not a number", self.field(name)) from None
        if not math.isfinite(value):
            raise CalibrationError(self.path, f"{self.where} <{self.tag}> {name}={text!r} is not finite", self.field(name))
        return value

    def int(self, name: str) -> int:
        value = self.float(name)
        if value != int(value):
            raise CalibrationError(self.path, f"{self.where} <{self.tag}> {name}={value!r} is not a whole number", self.field(name))
        return int(value)


def read_qca(path) -> Calibration:
    """Read every camera of a Qualisys ``.qca.txt`` calibration. Raises :class:`CalibrationError`."""
    path = Path(path)
    root = parse_calibration_xml(path, MAX_QCA_BYTES)
    if root.tag != "calibration":
        raise CalibrationError(path, f"root element is <{root.tag}>, expected <calibration>; is this a Qualisys .qca.txt file?", "calibration")
    elems = root.findall("./cameras/camera")
    if not elems:
        raise CalibrationError(path, "no <cameras><camera> elements", "calibration/cameras/camera")
    cameras = [_read_camera(path, i, e) for i, e in enumerate(elems)]
    ids = [c.device_id for c in cameras]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise CalibrationError(path, f"camera serial(s) {', '.join(dup)} appear more than once", "camera/@serial")
    return Calibration(path=path, cameras=tuple(cameras), source_format="qca")


def _is_video_model(model: str) -> bool:
    m = model.strip().lower()
    return m in ("", "none", "unknown") or "video" in m


def _read_camera(path: Path, i: int, elem) -> Camera:
    serial = elem.attrib.get("serial", "").strip()
    where = f"camera[serial={serial}]" if serial else f"camera #{i + 1}"
    if not serial:
        raise CalibrationError(path, f"{where} has no serial attribute", f"{where}/@serial")
    win = _Attrs(path, where, elem.find("fov_video"), "fov_video")
    left, top, right, bottom = (win.int(k) for k in ("left", "top", "right", "bottom"))
    if right <= left or bottom <= top or left < 0 or top < 0:
        raise CalibrationError(path, f"{where} <fov_video> window left={left} top={top} right={right} bottom={bottom} is empty or negative", f"{where}/fov_video")
    image_size = (right - left + 1, bottom - top + 1)

    intr = _Attrs(path, where, elem.find("intrinsic"), "intrinsic")
    span_u = intr.float("sensorMaxU") - intr.float("sensorMinU", 0.0)
    span_v = intr.float("sensorMaxV") - intr.float("sensorMinV", 0.0)
    if span_u <= 0 or span_v <= 0:
        raise CalibrationError(path, f"{where} <intrinsic> sensor range is empty (sensorMax <= sensorMin)", intr.field("sensorMaxU"))
    fu, fv = span_u / (right - left), span_v / (bottom - top)
    fx, fy = intr.float("focalLengthU") / fu, intr.float("focalLengthV") / fv
    if fx <= 0 or fy <= 0:
        raise CalibrationError(path, f"{where} <intrinsic> focal lengths must be positive", intr.field("focalLengthU"))
    cx = intr.float("centerPointU") / fu - left
    cy = intr.float("centerPointV") / fv - top
    if max(fx, fy, abs(cx), abs(cy)) > MAX_PIXELS:
        raise CalibrationError(path, f"{where} <intrinsic> focal length or centre point is not physical (beyond "
                               f"{MAX_PIXELS:g} px)", intr.field("focalLengthU"))
    skew = intr.float("skew", 0.0) / fu
    K = np.array([[fx, skew, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    coefficients = (
        intr.float("radialDistortion1"),
        intr.float("radialDistortion2"),
        intr.float("tangentalDistortion1", 0.0),
        intr.float("tangentalDistortion2", 0.0),
        intr.float("radialDistortion3", 0.0),
    )
    distortion = BrownConrady(K=K, coefficients=coefficients)
    try:
        distortion.check_invertible(image_size)
    except NotInvertibleError as exc:
        raise CalibrationError(path, f"{where} {exc}", intr.field("radialDistortion1")) from None

    tr = _Attrs(path, where, elem.find("transform"), "transform")
    Rq = np.array([[tr.float(f"r{r}{c}") for c in (1, 2, 3)] for r in (1, 2, 3)])
    if not np.allclose(Rq @ Rq.T, np.eye(3), atol=1e-4) or np.linalg.det(Rq) < 0:
        raise CalibrationError(path, f"{where} <transform> r11..r33 is not a rotation matrix", f"{where}/transform")
    u, _, vt = np.linalg.svd(Rq)  # remove the rounding of the printed digits
    R = QTM_TO_OPENCV @ (u @ vt)
    position = np.array([tr.float(k) for k in ("x", "y", "z")])
    if np.abs(position).max() > MAX_POSITION_MM:
        raise CalibrationError(path, f"{where} <transform> x y z = {' '.join(f'{v:g}' for v in position)} is not physical "
                               f"(beyond +-{MAX_POSITION_MM:g} mm)", f"{where}/transform")

    model = elem.attrib.get("model", "")
    residual = elem.attrib.get("avg-residual")
    try:
        image_error = float(residual) if residual is not None else None
    except ValueError:
        raise CalibrationError(path, f"{where} avg-residual={residual!r} is not a number", f"{where}/@avg-residual") from None
    return Camera(
        device_id=serial,
        name=serial,
        K=K,
        R=R,
        position_mm=position,
        image_size=image_size,
        distortion=distortion,
        kind="video" if _is_video_model(model) else "optical",
        camera_type=f"Qualisys {model}" if model.strip().lower() not in ("", "none") else "Qualisys",
        image_error_px=None,
        world_error_mm=image_error,  # QTM's average residual of the camera's rays, mm
        extra={
            "index": i,
            "active": elem.attrib.get("active", "1").strip() != "0",
            "viewrotation": elem.attrib.get("viewrotation", "0"),
            "subpixel_factor": (fu, fv),
            "fov_video": (left, top, right, bottom),
        },
    )
