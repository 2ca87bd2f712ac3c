"""Frames of a trial: the athlete drawn over the lab in the corrected image, then one remap.

The camera's raw frame is made exactly from the pinhole drawing: for every raw pixel
centre, the Vicon model ``ViconRadial.undistort`` gives the corrected position to sample
(computed once per camera), so ``cv2.remap`` with that map is the lens. A lab point
therefore appears at ``camera.project(point)`` in the raw frame. Pixel convention: integer
coordinates are pixel centres (OpenCV), in both images.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..camera import Camera
from .anthropometrics import Athlete
from .body import figure
from .scene import SCALE, SHIFT, Canvas, Scene

ARC_POINTS = 8
MAX_CANVAS_FACTOR = 2.0


def distortion_maps(camera: Camera) -> tuple[np.ndarray, np.ndarray, Canvas]:
    """Fixed-point remap maps raw pixel -> canvas pixel, and the canvas they need."""
    w, h = camera.image_size
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    cor = camera.distortion.undistort(np.stack([u, v], -1))
    lo = np.floor(np.minimum(cor.reshape(-1, 2).min(0), [0, 0])) - 2
    hi = np.ceil(np.maximum(cor.reshape(-1, 2).max(0), [w - 1, h - 1])) + 3
    lo = np.maximum(lo, [-(MAX_CANVAS_FACTOR - 1) / 2 * w, -(MAX_CANVAS_FACTOR - 1) / 2 * h]).astype(int)
    hi = np.minimum(hi, [(MAX_CANVAS_FACTOR + 1) / 2 * w, (MAX_CANVAS_FACTOR + 1) / 2 * h]).astype(int)
    canvas = Canvas(int(lo[0]), int(lo[1]), int(hi[0] - lo[0]), int(hi[1] - lo[1]))
    mx = (cor[..., 0] - canvas.ox).astype(np.float32)
    my = (cor[..., 1] - canvas.oy).astype(np.float32)
    m1, m2 = cv2.convertMaps(mx, my, cv2.CV_16SC2)
    return m1, m2, canvas


def _capsule_polygons(p0, p1, r0, r1, k: int = ARC_POINTS) -> np.ndarray:
    """Outline (..., 2k, 2) of the convex hull of two discs (a tapered capsule)."""
    d = p1 - p0
    L = np.hypot(d[..., 0], d[..., 1])
    theta = np.arctan2(d[..., 1], d[..., 0])
    cosphi = np.clip((r0 - r1) / np.maximum(L, 1e-6), -1.0, 1.0)
    phi = np.arccos(cosphi)
    s = np.linspace(0.0, 1.0, k)
    a0 = theta[..., None] + phi[..., None] + s * (2 * np.pi - 2 * phi[..., None])
    a1 = theta[..., None] - phi[..., None] + s * (2 * phi[..., None])
    arc0 = p0[..., None, :] + r0[..., None, None] * np.stack([np.cos(a0), np.sin(a0)], -1)
    arc1 = p1[..., None, :] + r1[..., None, None] * np.stack([np.cos(a1), np.sin(a1)], -1)
    return np.concatenate([arc0, arc1], axis=-2)


class _Frames:
    """What every trial renderer shares: the lab background, the lens remap, motion blur and
    sensor noise. A subclass draws the athlete in ``draw_corrected``; the random draws
    (background, then noise) come in the same order for every kind of body."""

    def _lab(self, camera: Camera, scene: Scene, rng: np.random.Generator, fps: float, background) -> None:
        self.camera = camera
        self.fps = fps
        self.map1, self.map2, self.canvas = distortion_maps(camera)
        if background is None:
            self.background = scene.render(camera, self.canvas, rng)
        else:  # a uniform colour (tests)
            self.background = np.empty(self.canvas.shape, np.uint8)
            self.background[:] = np.asarray(background, np.uint8)

    def _sensor(self, rng: np.random.Generator, noise_sigma: float, n: int) -> None:
        """Sensor noise: a few fixed fields, chosen per frame."""
        h, w = self.camera.image_size[1], self.camera.image_size[0]
        self._noise = [np.round(rng.normal(0, noise_sigma, (h, w, 3))).astype(np.int16) for _ in range(3)] if noise_sigma > 0 else []
        self._noise_pick = rng.integers(0, max(len(self._noise), 1), n)

    def __len__(self) -> int:
        return self.n_frames

    def draw_corrected(self, j: int) -> np.ndarray:
        raise NotImplementedError

    def frame(self, j: int) -> np.ndarray:
        img = self.draw_corrected(j)
        raw = cv2.remap(img, self.map1, self.map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if self._noise:
            raw = cv2.add(raw, self._noise[self._noise_pick[j]], dtype=cv2.CV_8U)
        return raw

    def _motion_blur(self, img, j: int) -> None:
        dx, dy = self._blur[j]
        length = float(np.hypot(dx, dy))
        if length < 1.5:
            return
        k = int(min(np.ceil(length), 15)) | 1
        kernel = np.zeros((k, k), np.float32)
        c = k // 2
        ux, uy = dx / length, dy / length
        for t in np.linspace(-c, c, 2 * k):
            kernel[int(round(c + t * uy)), int(round(c + t * ux))] = 1.0
        kernel /= kernel.sum()
        x0, y0, x1, y1 = self._bbox[j]
        pad = k + 2
        x0, y0 = max(int(x0) - pad, 0), max(int(y0) - pad, 0)
        x1, y1 = min(int(x1) + pad, img.shape[1]), min(int(y1) + pad, img.shape[0])
        if x1 - x0 > 2 and y1 - y0 > 2:
            # Smear the figure only: where it differs from the static background, grown by the
            # blur length so that it streaks over what lies next to it.
            roi = img[y0:y1, x0:x1]
            moved = (cv2.absdiff(roi, self.background[y0:y1, x0:x1]).max(axis=2) > 0).astype(np.uint8)
            moved = cv2.dilate(moved, np.ones((k, k), np.uint8))
            weight = cv2.blur(moved.astype(np.float32), (3, 3))[..., None]
            blurred = cv2.filter2D(roi, -1, kernel, borderType=cv2.BORDER_REPLICATE)
            roi[:] = (blurred * weight + roi * (1.0 - weight) + 0.5).astype(np.uint8)


class TrialRenderer(_Frames):
    """The athlete as primitives (tapered capsules, torso sections) filled with OpenCV: the
    synthesiser's first bodies (``--bodies primitive``). ``frame(j)`` is video frame j (raw, BGR uint8)."""

    def __init__(self, camera: Camera, points: dict[str, np.ndarray], athlete: Athlete, scene: Scene,
                 rng: np.random.Generator, samples: np.ndarray, fps: float, *,
                 noise_sigma: float = 2.0, exposure: float = 0.5, background=None, shadow: bool = True):
        self._lab(camera, scene, rng, fps, background)
        lighting = scene.lighting
        sel = {k: v[samples] for k, v in points.items()}
        caps, hulls, rep = figure(sel, athlete)
        n = len(samples)
        self.n_frames = n
        off = np.array([self.canvas.ox, self.canvas.oy], float)
        f = camera.focal_length_px

        def proj(x):  # (..., 3) lab -> canvas px (..., 2), depth (...)
            xc = camera.world_to_camera(x)
            z = np.maximum(xc[..., 2], 1.0)
            uv = (xc @ camera.K.T)[..., :2] / z[..., None] - off
            return uv, z

        # capsules: outlines of the shaded base and the highlight, all frames at once
        p0 = np.stack([c.p0 for c in caps], 1)
        p1 = np.stack([c.p1 for c in caps], 1)
        (uv0, z0), (uv1, z1) = proj(p0), proj(p1)
        r0 = f * np.array([c.r0 for c in caps])[None] / z0
        r1 = f * np.array([c.r1 for c in caps])[None] / z1
        light = lighting.light_dir_px
        base = _capsule_polygons(uv0, uv1, r0, r1)
        hl = _capsule_polygons(uv0 + 0.3 * r0[..., None] * light, uv1 + 0.3 * r1[..., None] * light, 0.58 * r0, 0.58 * r1)
        self._cap_base = np.round(base * SCALE).astype(np.int32)
        self._cap_hl = np.round(hl * SCALE).astype(np.int32)
        self._cap_cols = [(lighting.shade(c.colour, factor=0.72), lighting.shade(c.colour, factor=1.02)) for c in caps]
        self._cap_group = [c.group for c in caps]
        # torso sections
        self._hulls = []
        for hull in hulls:
            uv, _ = proj(hull.points)
            cuv, cz = proj(hull.centre)
            shift = 0.25 * f * hull.scale_mm / cz
            hl_uv = cuv[:, None, :] + 0.68 * (uv - cuv[:, None, :]) + (shift[:, None] * light)[:, None, :]
            self._hulls.append((hull.group, np.round(uv * SCALE).astype(np.int32), np.round(hl_uv * SCALE).astype(np.int32),
                                lighting.shade(hull.colour, factor=0.72), lighting.shade(hull.colour, factor=1.02)))
        # draw order per frame: groups far to near
        self._groups = list(rep)
        depth = np.stack([proj(rep[g])[1] for g in self._groups], 1)
        self._order = np.argsort(-depth, axis=1)
        self._members = {g: [i for i, cg in enumerate(self._cap_group) if cg == g] for g in self._groups}
        # figure bounding boxes (for motion blur) and image velocity of the body
        all_uv = np.concatenate([uv0, uv1], 1)
        rad = np.concatenate([r0, r1], 1)
        self._bbox = np.stack([(all_uv[..., 0] - rad).min(1), (all_uv[..., 1] - rad).min(1),
                               (all_uv[..., 0] + rad).max(1), (all_uv[..., 1] + rad).max(1)], 1)
        centre = all_uv.mean(1)
        vel = np.gradient(centre, axis=0) if n > 1 else np.zeros_like(centre)
        self._blur = vel * exposure  # pixels moved while the shutter is open
        # a soft contact shadow on the floor
        feet = np.stack([sel["RHEE"], sel["RTOE"], sel["LHEE"], sel["LTOE"]], 1)
        low = feet[..., 2].min(1)
        self._shadow_strength = np.clip(1.0 - (low - 20.0) / 300.0, 0, 1) * (0.45 if shadow else 0.0)
        c = feet.mean(1)
        c[:, 2] = 1.0
        half_x = 0.5 * np.ptp(feet[..., 0], axis=1) + 220
        half_y = 0.5 * np.ptp(feet[..., 1], axis=1) + 180
        ang = np.linspace(0, 2 * np.pi, 20, endpoint=False)
        ell = c[:, None, :] + np.stack([half_x[:, None] * np.cos(ang), half_y[:, None] * np.sin(ang), np.zeros((n, 20))], -1)
        self._shadow = proj(ell)[0]
        self._sensor(rng, noise_sigma, n)

    def draw_corrected(self, j: int) -> np.ndarray:
        """Frame j in the corrected (pinhole) canvas, before the lens and the noise."""
        img = self.background.copy()
        self._draw_shadow(img, j)
        for gi in self._order[j]:
            g = self._groups[gi]
            if g == "torso":
                for _, pts, hl, col, col_hl in self._hulls:
                    cv2.fillPoly(img, [cv2.convexHull(pts[j])], col, cv2.LINE_AA, SHIFT)
                    cv2.fillPoly(img, [cv2.convexHull(hl[j])], col_hl, cv2.LINE_AA, SHIFT)
            for ci in self._members[g]:
                cols = self._cap_cols[ci]
                cv2.fillPoly(img, [self._cap_base[j, ci]], cols[0], cv2.LINE_AA, SHIFT)
                cv2.fillPoly(img, [self._cap_hl[j, ci]], cols[1], cv2.LINE_AA, SHIFT)
        self._motion_blur(img, j)
        return img

    def _draw_shadow(self, img, j: int) -> None:
        s = self._shadow_strength[j]
        if s <= 0.02:
            return
        poly = self._shadow[j]
        x0, y0 = np.floor(poly.min(0)).astype(int) - 6
        x1, y1 = np.ceil(poly.max(0)).astype(int) + 6
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, img.shape[1]), min(y1, img.shape[0])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((poly - [x0, y0]) * SCALE).astype(np.int32)], 255, cv2.LINE_AA, SHIFT)
        mask = cv2.GaussianBlur(mask, (0, 0), 3)
        roi = img[y0:y1, x0:x1]
        roi[:] = (roi * (1.0 - (s / 255.0) * mask[..., None])).astype(np.uint8)


def box_triangles(box: dict | None, scene: Scene, inset_mm: float = 0.0) -> np.ndarray:
    """The drop-jump box's top and sides as triangles (N, 3, 3) lab mm (none without a box),
    ``inset_mm`` inside its faces (an occluder that does not cut the soles standing on it)."""
    if box is None:
        return np.zeros((0, 3, 3))
    c = (np.asarray(box["top_centre_lab_mm"], float) - scene.origin) @ scene.frame
    sx, sy = (float(v) - 2 * inset_mm for v in box["size_mm"][:2])
    sz = float(box["size_mm"][2]) - inset_mm
    x = np.array([-sx, sx, sx, -sx]) / 2 + c[0]
    y = np.array([-sy, -sy, sy, sy]) / 2 + c[1]
    top = np.stack([x, y, np.full(4, sz)], 1)
    bottom = top * [1, 1, 0]
    quads = [top] + [np.stack([bottom[i], bottom[(i + 1) % 4], top[(i + 1) % 4], top[i]]) for i in range(4)]
    tris = [q[[0, 1, 2]] for q in quads] + [q[[0, 2, 3]] for q in quads]
    return scene.to_lab(np.stack(tris).reshape(-1, 3)).reshape(-1, 3, 3)


def floor_triangles(centre_lab_mm, half_mm: float = 4000.0) -> np.ndarray:
    cx, cy = float(centre_lab_mm[0]), float(centre_lab_mm[1])
    q = np.array([[cx - half_mm, cy - half_mm, 0], [cx + half_mm, cy - half_mm, 0],
                  [cx + half_mm, cy + half_mm, 0], [cx - half_mm, cy + half_mm, 0]], float)
    return np.stack([q[[0, 1, 2]], q[[0, 2, 3]]])


class MeshTrialRenderer(_Frames):
    """The athlete as a skinned triangle mesh drawn with OpenGL (:mod:`.raster`), over the same
    lab, through the same lens, blur and noise as :class:`TrialRenderer` (``--bodies anny``).

    ``vertices`` (n, V, 3) lab mm, one pose per video frame; ``faces`` (F, 3); ``normals``
    (n, V, 3) or None; ``colours`` (V, 3) BGR and ``material`` (V, 2) from
    :mod:`.appearance`; ``markers`` (n, M, 3) reflective marker centres or None;
    ``contact`` (n, K, 4) spheres (xyz mm, radius mm) that darken the floor beneath them;
    ``edges`` an :class:`.appearance.Edges` (smooth hems) or None."""

    def __init__(self, camera: Camera, vertices, faces, colours, material, scene: Scene,
                 rng: np.random.Generator, fps: float, *, normals=None, markers=None, contact=None, box=None,
                 noise_sigma: float = 2.0, exposure: float = 0.5, background=None, shadow: bool = True,
                 samples: int = 4, cull: bool = False, edges=None):
        from .raster import MeshRaster

        self._lab(camera, scene, rng, fps, background)
        self.vertices = np.asarray(vertices, np.float32)
        n = self.n_frames = self.vertices.shape[0]
        self.normals = None if normals is None else np.asarray(normals, np.float32)
        self.markers = None if markers is None else np.asarray(markers, float)
        self.contact = None if contact is None else np.asarray(contact, float)
        centre = self.vertices.reshape(-1, 3).mean(0).astype(float)
        receivers = np.concatenate([floor_triangles(centre), box_triangles(box, scene)]) if shadow else None
        floor = np.asarray(scene.floor_colour, float) if background is None else np.asarray(background, float)
        self.raster = MeshRaster(camera, self.canvas, faces, colours, material, scene.lighting,
                                 origin=centre * [1, 1, 0], floor_colour=floor, receivers=receivers,
                                 samples=samples, shadow_strength=0.55 * (1.0 - scene.lighting.ambient) + 0.2, cull=cull,
                                 occluders=box_triangles(box, scene, inset_mm=6.0) if background is None else None,
                                 edges=edges)
        # image velocity of the body (motion blur) and, per frame, the box drawn over
        mean = self.vertices.mean(1).astype(float)
        uv = camera.project_corrected(mean)
        vel = np.gradient(uv, axis=0) if n > 1 else np.zeros_like(uv)
        self._blur = np.nan_to_num(vel) * exposure
        self._bbox = np.zeros((n, 4))
        self._sensor(rng, noise_sigma, n)

    def layer(self, j: int):
        """Frame j's body and shadow as drawn by the rasterizer (before compositing)."""
        return self.raster.render(self.vertices[j], None if self.normals is None else self.normals[j],
                                  None if self.markers is None else self.markers[j],
                                  None if self.contact is None else self.contact[j])

    def draw_corrected(self, j: int) -> np.ndarray:
        """Frame j in the corrected (pinhole) canvas, before the lens and the noise."""
        from .raster import composite

        img = self.background.copy()
        layer = self.layer(j)
        composite(img, layer)
        if layer is not None and layer.roi[2]:
            x0, y0, w, h = layer.roi
            self._bbox[j] = (x0, y0, x0 + w, y0 + h)
            self._motion_blur(img, j)
        return img
