"""Real-lab backdrops: clean plates of real recordings as the background of synthetic trials.

A backdrop is one real camera view with its people removed (``tools/make_backdrops.py``
makes them: BlazePose person masks, a per-pixel temporal median of the unmasked frames),
stored in a folder::

    <backdrop>/backdrop.json   camera (as KneeView reads it), floor, standing area, source frames
    <backdrop>/plate.png       the clean plate, raw (distorted) pixels as the camera saw them
    <backdrop>/valid.png       255 where the plate is a median of real pixels, 0 where it was inpainted

A synthetic trial on a backdrop films the real lab through a synthetic Vicon camera:

* the camera has the real camera's pose, image size and ``K``; its lens is a Vicon radial
  model (:class:`~kneeview.camera.ViconRadial`, the only one a ``.xcp`` carries) fitted to
  the real lens's OpenCV model over the whole image (:func:`fit_vicon_radial`, residual
  measured and stored);
* the plate is undistorted with the real lens into the renderer's pinhole canvas
  (:meth:`Backdrop.canvas_image`); the renderer's remap then applies the fitted lens, so
  a real pixel comes back where it was, within the fit's residual;
* the synthetic lab frame is the athlete's: the real lab is turned about the floor normal
  and shifted (:meth:`Backdrop.place`) so that the athlete lands at a random point of the
  floor area the camera sees (``standing_area``), facing a random direction, whole body
  in view; the camera's pose is expressed in that frame.

NumPy and OpenCV only. Every problem with a backdrop folder raises
:class:`~kneeview.errors.KneeViewInputError` naming the file.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..camera import BrownConrady, Camera, ViconRadial
from ..camera.distortion import NoDistortion, NotInvertibleError
from ..errors import KneeViewInputError

FORMAT = "kneeview.backdrop/1"
JSON_NAME = "backdrop.json"
PLATE_NAME = "plate.png"
VALID_NAME = "valid.png"
#: A body point must stay this far (mm at its depth) inside the image edges to count as in view.
BODY_MARGIN_MM = 150.0
MIN_DEPTH_MM = 500.0


# ----------------------------------------------------------------------------- the lens fit
@dataclass(frozen=True)
class LensFit:
    """A Vicon radial model fitted to another lens model, and how far it is off (raw pixels)."""

    distortion: ViconRadial
    max_px: float  # largest raw-pixel distance between the two lenses over the image
    rms_px: float


def _vicon_for(centre, coeffs, pp, aspect) -> ViconRadial:
    return ViconRadial(principal_point=(float(pp[0]), float(pp[1])), centre=(float(centre[0]), float(centre[1])),
                       w=tuple(float(c) for c in coeffs), aspect=float(aspect))


def fit_vicon_radial(camera: Camera, step_px: float = 24.0) -> LensFit:
    """The Vicon radial lens closest to ``camera``'s lens over its image.

    For raw pixels on a grid over the whole image, the camera's own model gives the corrected
    (pinhole) pixel; the Vicon model ``ViconRadial(principal point of K, centre, w0..w2,
    aspect = K[0,0]/K[1,1])`` is fitted to map the same raw pixels to the same corrected
    ones: for a given distortion centre the coefficients are linear least squares, the
    centre is found by Gauss-Newton on that (variable projection). The residual is measured
    the way the renderer uses the lens, raw pixel -> corrected (real lens) -> raw (fitted
    lens), on a grid of ``step_px``/3.
    """
    W, H = camera.image_size
    K = np.asarray(camera.K, float)
    pp = (K[0, 2], K[1, 2])
    aspect = K[0, 0] / K[1, 1]
    us, vs = np.linspace(-0.5, W - 0.5, max(8, int(W / step_px))), np.linspace(-0.5, H - 0.5, max(8, int(H / step_px)))
    raw = np.stack(np.meshgrid(us, vs), -1).reshape(-1, 2)
    cor = camera.distortion.undistort(raw)
    tx, ty = cor[:, 0] - pp[0], aspect * cor[:, 1] - pp[1]
    r_ref = 0.5 * math.hypot(W, H)

    def solve(centre):
        dx = raw[:, 0] - centre[0]
        dy = aspect * (raw[:, 1] - centre[1])
        rho2 = (dx * dx + dy * dy) / r_ref**2
        cols = np.stack([rho2, rho2**2, rho2**3], -1)
        A = np.concatenate([cols * dx[:, None], cols * dy[:, None]])
        b = np.concatenate([tx - dx, ty - dy])
        c, *_ = np.linalg.lstsq(A, b, rcond=None)
        return c, A @ c - b

    centre = np.array([pp[0], pp[1] / aspect])  # zero distortion is the identity there
    for _ in range(20):
        c, res = solve(centre)
        J = np.empty((len(res), 2))
        for k in range(2):
            d = np.zeros(2)
            d[k] = 1e-3
            J[:, k] = (solve(centre + d)[1] - res) / 1e-3
        step, *_ = np.linalg.lstsq(J, -res, rcond=None)
        centre = centre + step
        if np.abs(step).max() < 1e-6:
            break
    c, _ = solve(centre)
    coeffs = [c[k] / r_ref ** (2 * (k + 1)) for k in range(3)]
    vicon = _vicon_for(centre, coeffs, pp, aspect)
    vicon.check_invertible((W, H))
    fine = np.stack(np.meshgrid(np.linspace(-0.5, W - 0.5, max(8, int(3 * W / step_px))),
                                np.linspace(-0.5, H - 0.5, max(8, int(3 * H / step_px)))), -1).reshape(-1, 2)
    back = vicon.distort(camera.distortion.undistort(fine))
    err = np.linalg.norm(back - fine, axis=-1)
    return LensFit(vicon, float(np.max(err)), float(np.sqrt(np.mean(err**2))))


# ----------------------------------------------------------------------------- the median
def masked_median(frames, masks, chunk_rows: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the median of ``frames`` (N, H, W, C) uint8 over the frames where ``masks``
    (N, H, W) bool is False (a person there). Returns the plate (H, W, C) uint8 and the count
    of frames used per pixel (H, W); pixels never free come back 0 with count 0. The median
    of an even count is the mean of the two middle values, rounded."""
    frames = np.asarray(frames)
    masks = np.asarray(masks, bool)
    if frames.ndim != 4 or frames.dtype != np.uint8 or masks.shape != frames.shape[:3]:
        raise ValueError(f"frames (N, H, W, C) uint8 and masks (N, H, W) bool expected, got {frames.shape} "
                         f"{frames.dtype} and {masks.shape}")
    N, H, W, C = frames.shape
    plate = np.zeros((H, W, C), np.uint8)
    count = (~masks).sum(0).astype(np.int32)
    BIG = np.int16(1000)  # sorts after every free value
    for y0 in range(0, H, chunk_rows):
        y1 = min(H, y0 + chunk_rows)
        block = frames[:, y0:y1].astype(np.int16)
        block[masks[:, y0:y1]] = BIG
        block.sort(axis=0)
        k = count[y0:y1]
        lo = np.clip((k - 1) // 2, 0, N - 1)
        hi = np.clip(k // 2, 0, N - 1)
        a = np.take_along_axis(block, lo[None, :, :, None].repeat(C, -1), 0)[0]
        b = np.take_along_axis(block, hi[None, :, :, None].repeat(C, -1), 0)[0]
        med = (a.astype(np.int32) + b + 1) // 2
        plate[y0:y1] = np.where(k[..., None] > 0, med, 0).astype(np.uint8)
    return plate, count


def fill_never_free(plate, valid, radius_px: int = 9) -> np.ndarray:
    """``plate`` with the pixels where ``valid`` is False filled by OpenCV's Telea inpainting."""
    holes = (~np.asarray(valid, bool)).astype(np.uint8) * 255
    if not holes.any():
        return np.asarray(plate).copy()
    return cv2.inpaint(np.ascontiguousarray(plate), holes, radius_px, cv2.INPAINT_TELEA)


# ----------------------------------------------------------------------------- camera <-> JSON
def camera_to_json(cam: Camera) -> dict:
    """A calibrated camera with an OpenCV (Brown-Conrady) or no lens model as plain JSON."""
    dist = cam.distortion
    if isinstance(dist, BrownConrady):
        d = {"model": "brown_conrady", "k1_k2_p1_p2_k3": [float(v) for v in dist.coefficients]}
    elif isinstance(dist, NoDistortion):
        d = {"model": "none"}
    else:
        raise TypeError(f"camera {cam.device_id}: a backdrop stores OpenCV or no distortion, not {type(dist).__name__}")
    t = -np.asarray(cam.R) @ np.asarray(cam.position_mm)
    return {"device_id": cam.device_id, "name": cam.name, "image_size": [int(v) for v in cam.image_size],
            "K": np.asarray(cam.K, float).tolist(), "R_world_to_camera": np.asarray(cam.R, float).tolist(),
            "translation_mm": t.tolist(), "position_mm": np.asarray(cam.position_mm, float).tolist(),
            "distortion": d, "convention": "X_cam = R X_lab + t (mm); pixels: integer = pixel centre; raw = distorted"}


def camera_from_json(path: Path, d) -> Camera:
    where = "camera"
    if not isinstance(d, dict):
        raise KneeViewInputError(path, "'camera' must be an object", where)

    def arr(key, shape):
        try:
            a = np.asarray(d[key], dtype=np.float64)
        except KeyError:
            raise KneeViewInputError(path, f"camera has no '{key}'", f"{where}.{key}") from None
        except (TypeError, ValueError):
            raise KneeViewInputError(path, f"camera.{key} is not numeric", f"{where}.{key}") from None
        if a.shape != shape or not np.all(np.isfinite(a)):
            raise KneeViewInputError(path, f"camera.{key} must be finite numbers of shape {shape}, got {a.shape}",
                                     f"{where}.{key}")
        return a

    size = arr("image_size", (2,))
    if np.any(size < 16) or np.any(size != np.round(size)) or np.any(size > 16384):
        raise KneeViewInputError(path, f"camera.image_size {size.tolist()} is not an image size", f"{where}.image_size")
    K = arr("K", (3, 3))
    if K[0, 0] <= 0 or K[1, 1] <= 0 or abs(K[0, 1]) > 1e-6 * K[0, 0] or not np.allclose(K[2], [0, 0, 1]):
        raise KneeViewInputError(path, "camera.K must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with positive focal "
                                 "lengths (no skew)", f"{where}.K")
    R = arr("R_world_to_camera", (3, 3))
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
        raise KneeViewInputError(path, "camera.R_world_to_camera is not a rotation", f"{where}.R_world_to_camera")
    pos = arr("position_mm", (3,))
    dist = d.get("distortion") or {}
    model = dist.get("model") if isinstance(dist, dict) else None
    if model == "brown_conrady":
        try:
            coeffs = tuple(float(v) for v in dist["k1_k2_p1_p2_k3"])
        except (KeyError, TypeError, ValueError):
            raise KneeViewInputError(path, "camera.distortion needs k1_k2_p1_p2_k3 (numbers)", f"{where}.distortion") from None
        if len(coeffs) not in (4, 5) or not all(map(math.isfinite, coeffs)):
            raise KneeViewInputError(path, "camera.distortion.k1_k2_p1_p2_k3 must be 4 or 5 finite numbers",
                                     f"{where}.distortion")
        lens = BrownConrady(K=K, coefficients=coeffs)
    elif model == "none":
        lens = NoDistortion()
    else:
        raise KneeViewInputError(path, f"camera.distortion.model {model!r} is not brown_conrady or none", f"{where}.distortion")
    image_size = (int(size[0]), int(size[1]))
    try:
        lens.check_invertible(image_size)
    except NotInvertibleError as exc:
        raise KneeViewInputError(path, f"camera lens: {exc}", f"{where}.distortion") from None
    return Camera(device_id=str(d.get("device_id", "backdrop")), name=str(d.get("name", "backdrop")), K=K, R=R,
                  position_mm=pos, image_size=image_size, distortion=lens, kind="video", camera_type="opencv")


# ----------------------------------------------------------------------------- floor and standing area
def floor_frame(normal, point_mm) -> tuple[np.ndarray, np.ndarray]:
    """(F, o): floor coordinates (x, y, height) -> lab, X_lab = o + F @ [x, y, h]; F's third
    column is the unit floor normal (up), its first the lab X axis projected onto the floor."""
    n = np.asarray(normal, float)
    n = n / np.linalg.norm(n)
    e1 = np.array([1.0, 0.0, 0.0]) - n[0] * n
    if np.linalg.norm(e1) < 1e-6:
        e1 = np.array([0.0, 1.0, 0.0]) - n[1] * n
    e1 /= np.linalg.norm(e1)
    return np.column_stack([e1, np.cross(n, e1), n]), np.asarray(point_mm, float)


def _rot_z(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def in_view_margin_px(camera: Camera, points_lab_mm, margin_mm: float = BODY_MARGIN_MM) -> float:
    """Smallest distance (px) by which ``points_lab_mm``, each grown by ``margin_mm`` at its depth,
    stay inside the image; negative when some point (or its margin) is outside or too close."""
    X = np.asarray(points_lab_mm, float).reshape(-1, 3)
    z = camera.world_to_camera(X)[:, 2]
    if np.any(~(z > MIN_DEPTH_MM)):
        return -1e9
    uv = camera.project(X)
    if not np.all(np.isfinite(uv)):
        return -1e9
    grow = camera.K[0, 0] * margin_mm / z
    W, H = camera.image_size
    room = np.minimum.reduce([uv[:, 0] + 0.5, W - 0.5 - uv[:, 0], uv[:, 1] + 0.5, H - 0.5 - uv[:, 1]]) - grow
    return float(room.min())


def person_proxy(height_mm: float = 1900.0, radius_mm: float = 350.0) -> np.ndarray:
    """Points of a standing person's extent (a vertical cylinder), floor coordinates about (0, 0)."""
    ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    ring = np.stack([radius_mm * np.cos(ang), radius_mm * np.sin(ang)], -1)
    return np.array([[x, y, z] for z in (0.0, 0.5 * height_mm, height_mm) for x, y in ring])


def standing_cells(camera: Camera, normal, point_mm, support_polygon=None, cell_mm: float = 100.0,
                   extent_mm: float = 8000.0, proxy=None) -> np.ndarray:
    """Floor cells (M, 2) (floor coordinates, mm) where a standing person (``proxy``) is wholly
    in view, optionally only those inside ``support_polygon`` (K, 2), floor coordinates."""
    F, o = floor_frame(normal, point_mm)
    proxy = person_proxy() if proxy is None else np.asarray(proxy, float)
    # the floor point under the camera, in floor coordinates: search around where it looks
    c_floor = F.T @ (camera.position_mm - o)
    g = np.arange(-extent_mm, extent_mm + 1e-9, cell_mm)
    cells = np.stack(np.meshgrid(g + c_floor[0], g + c_floor[1]), -1).reshape(-1, 2)
    cells = np.round(cells / cell_mm) * cell_mm
    if support_polygon is not None:
        poly = np.asarray(support_polygon, np.float32).reshape(-1, 1, 2)
        inside = np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0 for x, y in cells])
        cells = cells[inside]
    if not len(cells):
        return np.zeros((0, 2))
    # coarse test on the cell centre first (a cheap reject), then the whole proxy
    centres = o + np.column_stack([cells, np.zeros(len(cells))]) @ F.T
    z = camera.world_to_camera(centres)[:, 2]
    cells = cells[z > MIN_DEPTH_MM]
    keep = []
    for x, y in cells:
        pts = o + (proxy + [x, y, 0.0]) @ F.T
        if in_view_margin_px(camera, pts, 0.0) >= 0:
            keep.append((x, y))
    return np.array(keep, float).reshape(-1, 2)


# ----------------------------------------------------------------------------- a backdrop
@dataclass(frozen=True)
class Placement:
    """Where a synthetic trial stands on a backdrop: X_real_lab = rotation @ X_synthetic_lab + offset_mm."""

    rotation: np.ndarray
    offset_mm: np.ndarray
    floor_point_mm: tuple[float, float]  # the landing point, floor coordinates
    heading_deg: float  # the athlete's facing, degrees from the floor frame's x axis
    margin_px: float  # the smallest margin of the body to the image edge (negative: not wholly in view)
    tries: int

    def to_json(self) -> dict:
        return {"floor_point_mm": [round(v, 3) for v in self.floor_point_mm], "heading_deg": round(self.heading_deg, 4),
                "margin_px": round(self.margin_px, 2), "tries": self.tries,
                "rotation_synthetic_to_real_lab": np.round(self.rotation, 9).tolist(),
                "offset_mm": np.round(self.offset_mm, 4).tolist()}


@dataclass(frozen=True, eq=False)
class Backdrop:
    folder: Path
    meta: dict
    json_sha256: str
    camera: Camera  # the real camera, its own lens
    plate: np.ndarray  # (H, W, 3) BGR uint8, raw pixels
    valid: np.ndarray  # (H, W) bool
    floor_normal: np.ndarray
    floor_point_mm: np.ndarray
    standing_mm: np.ndarray  # (M, 2) floor cells, floor coordinates
    lens: LensFit = field(repr=False, default=None)

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.folder.name))

    @property
    def view(self) -> str:
        return str(self.meta.get("view", self.camera.device_id))

    @property
    def sources(self) -> list[dict]:
        return list(self.meta.get("sources", []))

    # ------------------------------------------------------------------ geometry
    def place(self, points_mm, landing_mm, facing, rng: np.random.Generator, tries: int = 60) -> Placement:
        """A random landing cell and heading with the whole motion (``points_mm`` (N, 3),
        synthetic lab, feet on Z = 0) in view; the best of ``tries`` draws when none fits."""
        if not len(self.standing_mm):
            raise KneeViewInputError(self.folder / JSON_NAME, "the backdrop has no standing area", "standing_area")
        F, o = floor_frame(self.floor_normal, self.floor_point_mm)
        pts = np.asarray(points_mm, float).reshape(-1, 3)
        pts = pts[::max(1, len(pts) // 600)]
        L = np.array([landing_mm[0], landing_mm[1], 0.0])
        face = math.atan2(float(facing[1]), float(facing[0]))
        best = None
        for k in range(1, tries + 1):
            P = self.standing_mm[int(rng.integers(len(self.standing_mm)))]
            heading = float(rng.uniform(-math.pi, math.pi))
            A = F @ _rot_z(heading - face)
            b = o + F @ np.array([P[0], P[1], 0.0]) - A @ L
            margin = in_view_margin_px(self.camera, pts @ A.T + b)
            cand = Placement(A, b, (float(P[0]), float(P[1])), math.degrees(heading), margin, k)
            if best is None or margin > best.margin_px:
                best = cand
            if margin >= 0:
                return cand
        return Placement(best.rotation, best.offset_mm, best.floor_point_mm, best.heading_deg, best.margin_px, tries)

    def synthetic_camera(self, placement: Placement, device_id: str, name: str = "", **extra) -> Camera:
        """The real camera in the synthetic lab frame, with the fitted Vicon lens."""
        A, b = placement.rotation, placement.offset_mm
        real = self.camera
        return Camera(device_id=device_id, name=name or f"Backdrop {self.view} #{device_id[-2:]}",
                      K=np.asarray(real.K, float).copy(), R=np.asarray(real.R) @ A,
                      position_mm=A.T @ (np.asarray(real.position_mm) - b), image_size=tuple(real.image_size),
                      distortion=self.lens.distortion, kind="video", camera_type="Vue", **extra)

    def canvas_image(self, canvas) -> np.ndarray:
        """The plate in the renderer's corrected canvas (``canvas.ox/oy/width/height``): each canvas
        pixel takes the plate's pixel where the real lens puts that pinhole pixel."""
        u, v = np.meshgrid(np.arange(canvas.width, dtype=np.float64) + canvas.ox,
                           np.arange(canvas.height, dtype=np.float64) + canvas.oy)
        raw = self.camera.distortion.distort(np.stack([u, v], -1))
        raw = np.nan_to_num(raw, nan=-10.0)
        return cv2.remap(self.plate, raw[..., 0].astype(np.float32), raw[..., 1].astype(np.float32),
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def record(self, placement: Placement | None = None) -> dict:
        """What a trial's JSON says about its backdrop: enough to tell which real frames it shows."""
        out = {"name": self.name, "view": self.view, "folder": str(self.folder), "json_sha256": self.json_sha256,
               "sources": [{k: s.get(k) for k in ("recording", "video", "video_sha256", "view", "frames")}
                           for s in self.sources],
               "lens_fit_px": {"max": round(self.lens.max_px, 4), "rms": round(self.lens.rms_px, 4)},
               "inpainted_fraction": round(float(1.0 - self.valid.mean()), 5)}
        if placement is not None:
            out["placement"] = placement.to_json()
        return out


def _read_image(path: Path, flags: int) -> np.ndarray:
    if not path.is_file():
        raise KneeViewInputError(path, "file not found (a backdrop folder holds backdrop.json, plate.png, valid.png)")
    data = np.fromfile(path, np.uint8)
    img = cv2.imdecode(data, flags) if data.size else None
    if img is None:
        raise KneeViewInputError(path, "not a readable PNG image")
    return img


def load_backdrop(folder) -> Backdrop:
    """One backdrop folder, checked: the JSON's format and fields, the images' sizes."""
    folder = Path(folder)
    path = folder / JSON_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KneeViewInputError(path, "no backdrop.json: not a backdrop folder (make one with tools/make_backdrops.py)") from None
    except OSError as exc:
        raise KneeViewInputError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeError, json.JSONDecodeError) as exc:
        raise KneeViewInputError(path, f"malformed JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise KneeViewInputError(path, f"not a KneeView backdrop (format must be {FORMAT!r})", "format")
    camera = camera_from_json(path, meta.get("camera"))
    W, H = camera.image_size
    plate = _read_image(folder / str(meta.get("plate", PLATE_NAME)), cv2.IMREAD_COLOR)
    valid = _read_image(folder / str(meta.get("valid_mask", VALID_NAME)), cv2.IMREAD_GRAYSCALE)
    for name, img in (("plate", plate), ("valid mask", valid)):
        if img.shape[:2] != (H, W):
            raise KneeViewInputError(folder, f"the {name} is {img.shape[1]}x{img.shape[0]} but the camera's image is {W}x{H}")
    floor = meta.get("floor")
    try:
        normal = np.asarray(floor["normal"], float)
        point = np.asarray(floor["point_mm"], float)
        ok = normal.shape == (3,) and point.shape == (3,) and np.all(np.isfinite(normal)) and np.all(np.isfinite(point))
        ok = ok and np.linalg.norm(normal) > 0.5
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise KneeViewInputError(path, "floor must have a normal (3 numbers) and a point_mm (3 numbers)", "floor")
    try:
        cells = np.asarray(meta["standing_area"]["cells_mm"], float).reshape(-1, 2)
    except (KeyError, TypeError, ValueError):
        raise KneeViewInputError(path, "standing_area.cells_mm must be a list of [x, y] floor points (mm)",
                                 "standing_area") from None
    if not len(cells) or not np.all(np.isfinite(cells)):
        raise KneeViewInputError(path, "standing_area.cells_mm is empty: an athlete cannot stand wholly in view",
                                 "standing_area")
    sources = meta.get("sources")
    if not isinstance(sources, list) or not sources or not all(
            isinstance(s, dict) and isinstance(s.get("video_sha256"), str) and isinstance(s.get("frames"), list)
            for s in sources):
        raise KneeViewInputError(path, "sources must list the real frames used (video_sha256, view, frames)", "sources")
    try:
        lens = fit_vicon_radial(camera)
    except NotInvertibleError as exc:
        raise KneeViewInputError(path, f"no invertible Vicon lens fits this camera: {exc}", "camera.distortion") from None
    return Backdrop(folder=folder, meta=meta, json_sha256=hashlib.sha256(raw).hexdigest(), camera=camera, plate=plate,
                    valid=valid > 127, floor_normal=normal / np.linalg.norm(normal), floor_point_mm=point,
                    standing_mm=cells, lens=lens)


@lru_cache(maxsize=16)
def cached_backdrop(folder: str) -> Backdrop:
    """:func:`load_backdrop`, once per process and folder (trials of a dataset share them)."""
    return load_backdrop(folder)


def find_backdrops(root) -> list[Path]:
    """The backdrop folders under ``root``: ``root`` itself when it is one, else its subfolders
    holding a backdrop.json (sorted by name)."""
    root = Path(root)
    if not root.is_dir():
        raise KneeViewInputError(root, "backdrop folder not found", "--backdrops")
    if (root / JSON_NAME).is_file():
        return [root]
    found = sorted(p.parent for p in root.glob(f"*/{JSON_NAME}"))
    if not found:
        raise KneeViewInputError(root, "no backdrops here (no backdrop.json in it or its subfolders; "
                                 "make them with tools/make_backdrops.py)", "--backdrops")
    return found


def draw_box(img, camera: Camera, canvas, box: dict, colour=(60, 110, 160), top_colour=(50, 50, 50)) -> None:
    """The drop-jump box (``Motion.box``) drawn into a canvas image, visible faces only."""
    from .scene import SCALE, SHIFT, Scene, cuboid

    c = np.asarray(box["top_centre_lab_mm"], float)
    sx, sy, sz = box["size_mm"]
    yaw = float(box.get("yaw_rad", 0.0))
    faces = cuboid([c[0], c[1], 0.0], (sx, sy, sz), colour, top_colour, yaw=yaw)
    for poly, col, normal in faces:
        if np.dot(camera.position_mm - poly.mean(0), normal) <= 0:
            continue
        uv = Scene.project(camera, canvas, poly)
        if uv is not None:
            cv2.fillPoly(img, [np.round(uv * SCALE).astype(np.int32)], tuple(float(v) for v in col), cv2.LINE_AA, SHIFT)


# ----------------------------------------------------------------------------- evaluation must not see them
def dataset_backdrop_sources(data_dir) -> list[dict]:
    """The real frames behind every backdrop a synthetic dataset used: its ``synth_index.json``
    entries' ``backdrop`` records (or, for trials written without one, their ``<trial>.json``)."""
    data_dir = Path(data_dir)
    out: list[dict] = []
    index = data_dir / "synth_index.json"
    entries = []
    if index.is_file():
        try:
            entries = json.loads(index.read_text(encoding="utf-8")).get("trials", [])
        except (OSError, UnicodeError, ValueError, AttributeError):
            entries = []
    seen = set()
    jsons = [data_dir / e["json"] for e in entries if isinstance(e, dict) and isinstance(e.get("json"), str)]
    if not entries:
        jsons = sorted(data_dir.glob("*/*.json"))
    for e, path in zip(entries or [None] * len(jsons), jsons):
        rec = e.get("backdrop") if isinstance(e, dict) else None
        if rec is None:
            try:
                rec = json.loads(path.read_text(encoding="utf-8")).get("backdrop")
            except (OSError, UnicodeError, ValueError, AttributeError):
                rec = None
        if not isinstance(rec, dict) or rec.get("json_sha256") in seen:
            continue
        seen.add(rec.get("json_sha256"))
        out.extend(s for s in rec.get("sources", []) if isinstance(s, dict))
    return out


def frames_shown_by_backdrops(sources, video_sha256: str) -> set[int]:
    """Frame indices of the video with this SHA-256 that some backdrop was made from."""
    return {int(f) for s in sources if s.get("video_sha256") == video_sha256 for f in s.get("frames", [])}


def check_not_in_backdrops(sources, video_sha256: str, frames, where, view: str = "") -> None:
    """Raise when an evaluation frame of this video is one a training backdrop was made from."""
    clash = sorted(frames_shown_by_backdrops(sources, video_sha256) & {int(f) for f in frames})
    if clash:
        shown = ", ".join(map(str, clash[:12])) + (" ..." if len(clash) > 12 else "")
        raise KneeViewInputError(where, f"{len(clash)} evaluation frame(s) of {view or 'the video'} ({shown}) were used "
                                 "to make a backdrop of the training data: they are training data, not a test")


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- the synthesiser's hooks
BACKDROP_STREAM = 7_000_003  # random stream of the backdrop draws: other trials' draws do not change


def assign_backdrops(specs, root, fraction: float) -> list:
    """``specs`` with a backdrop folder (``TrialSpec.backdrop``) given to about ``fraction`` of
    them, drawn per trial from its own stream ``default_rng([seed, index, BACKDROP_STREAM])``."""
    from dataclasses import replace

    if not (isinstance(fraction, (int, float)) and 0.0 <= float(fraction) <= 1.0):
        raise KneeViewInputError(None, f"--backdrop-fraction must be between 0 and 1, got {fraction!r}", "--backdrop-fraction")
    folders = find_backdrops(root)
    for f in folders:
        cached_backdrop(str(f.resolve()))  # fail early, with the folder's own message
    out = []
    for spec in specs:
        rng = np.random.default_rng([spec.seed, spec.index, BACKDROP_STREAM])
        use = rng.random() < fraction
        pick = int(rng.integers(len(folders)))
        out.append(replace(spec, backdrop=str(folders[pick].resolve())) if use else spec)
    return out


def backdrop_camera(spec, points_mm, motion) -> tuple[Backdrop, Camera, Placement]:
    """The backdrop of ``spec``, where its athlete stands on it, and the synthetic video camera."""
    backdrop = cached_backdrop(str(spec.backdrop))
    rng = np.random.default_rng([spec.seed, spec.index, BACKDROP_STREAM, 1])
    placement = backdrop.place(points_mm, motion.landing_lab_mm, motion.facing, rng)
    device_id = str(int(rng.integers(2_100_000, 2_199_999)))
    return backdrop, backdrop.synthetic_camera(placement, device_id), placement


def backdrop_background(backdrop: Backdrop, camera: Camera, canvas, box: dict | None, facing=(0.0, 1.0, 0.0)) -> np.ndarray:
    """The renderer's background on a backdrop: the plate in the canvas, the drop-jump box drawn
    on it (its sides along the athlete's right and ``facing``, as the procedural lab has it)."""
    img = backdrop.canvas_image(canvas)
    if box is not None:
        box = dict(box, yaw_rad=math.atan2(-float(facing[0]), float(facing[1])))
        draw_box(img, camera, canvas, box)
    return img
