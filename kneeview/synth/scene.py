"""The lab around the athlete: floor, walls, ceiling, drop-jump box, force plates, clutter.

Everything static is drawn once per trial into the corrected (pinhole) canvas; the
athlete is drawn over it every frame. Shapes are 3D polygons in the lab frame (mm),
clipped at the camera's near plane and filled with OpenCV, farthest first.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..camera import Camera

NEAR_MM = 100.0
SHIFT = 4  # fixed-point bits for sub-pixel drawing
SCALE = 1 << SHIFT

FLOOR_STYLES = ("tiles", "planks", "rubber", "lino")
WALL_COLOURS = ((235, 235, 232), (215, 218, 220), (200, 225, 235), (225, 215, 200), (190, 200, 190), (170, 170, 175))
FLOOR_COLOURS = {
    "tiles": ((190, 190, 185), (160, 170, 175), (200, 200, 205)),
    "planks": ((80, 130, 175), (95, 145, 190), (60, 105, 150)),
    "rubber": ((70, 70, 70), (60, 80, 60), (110, 80, 50), (70, 60, 110)),
    "lino": ((150, 160, 170), (120, 140, 150), (170, 150, 130)),
}


@dataclass
class Canvas:
    """The corrected-pixel region drawn: canvas pixel (i, j) is corrected pixel (i + ox, j + oy)."""

    ox: int
    oy: int
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, 3)


@dataclass
class Lighting:
    gain: float
    tint: np.ndarray  # BGR multipliers
    light_dir_lab: np.ndarray  # unit vector toward the main light
    light_dir_px: np.ndarray  # unit 2D image direction toward the light (for body highlights)
    ambient: float

    def shade(self, colour, normal=None, factor: float = 1.0) -> tuple[float, float, float]:
        lum = 1.0 if normal is None else self.ambient + (1 - self.ambient) * max(0.0, float(np.dot(normal, self.light_dir_lab)))
        c = np.asarray(colour, float) * self.tint * self.gain * lum * factor
        return tuple(float(v) for v in np.clip(c, 0, 255))


@dataclass
class Scene:
    """A lab's look, sampled per trial."""

    floor_style: str
    floor_colour: tuple
    wall_colour: tuple
    band_colour: tuple | None
    ceiling_colour: tuple
    room: tuple[float, float, float, float, float]  # x_min, x_max, y_min, y_max, height (athlete frame, mm)
    lighting: Lighting
    objects: list = field(default_factory=list)  # (polys [(N,3) array, colour, normal]) per object, lab frame
    #: The athlete frame the room is laid out in: lab = origin + x right + y forward + z up.
    frame: np.ndarray = field(default_factory=lambda: np.eye(3))  # columns: right, forward, up
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def to_lab(self, pts_local) -> np.ndarray:
        return self.origin + np.asarray(pts_local, float) @ self.frame.T

    # --------------------------------------------------------------- drawing helpers
    @staticmethod
    def project(cam: Camera, canvas: Canvas, pts_lab: np.ndarray):
        """Canvas pixel coordinates of lab points, after near-plane clipping of a polygon."""
        pc = cam.world_to_camera(pts_lab)
        pc = _clip_near(pc, NEAR_MM)
        if len(pc) < 3:
            return None
        uv = pc @ cam.K.T
        uv = uv[:, :2] / uv[:, 2:3] - [canvas.ox, canvas.oy]
        if np.any(np.abs(uv) > 1e5):
            uv = np.clip(uv, -1e5, 1e5)
        return uv

    def fill(self, img, cam, canvas, pts_lab, colour) -> None:
        uv = self.project(cam, canvas, np.asarray(pts_lab, float))
        if uv is not None:
            cv2.fillPoly(img, [np.round(uv * SCALE).astype(np.int32)], colour, cv2.LINE_AA, SHIFT)

    def render(self, cam: Camera, canvas: Canvas, rng: np.random.Generator) -> np.ndarray:
        """The static background, BGR uint8, canvas-sized."""
        img = self._floor(cam, canvas, rng)
        x0, x1, y0, y1, hc = self.room
        L = self.lighting
        walls = [  # quad, inward normal
            (np.array([[x0, y0, 0], [x1, y0, 0], [x1, y0, hc], [x0, y0, hc]]), np.array([0, 1.0, 0])),
            (np.array([[x0, y1, 0], [x1, y1, 0], [x1, y1, hc], [x0, y1, hc]]), np.array([0, -1.0, 0])),
            (np.array([[x0, y0, 0], [x0, y1, 0], [x0, y1, hc], [x0, y0, hc]]), np.array([1.0, 0, 0])),
            (np.array([[x1, y0, 0], [x1, y1, 0], [x1, y1, hc], [x1, y0, hc]]), np.array([-1.0, 0, 0])),
        ]
        walls = [(self.to_lab(q), self.frame @ n) for q, n in walls]
        for quad, normal in walls:
            self.fill(img, cam, canvas, quad, L.shade(self.wall_colour, normal, 0.9))
            if self.band_colour is not None:
                band = quad.copy()
                band[2:, 2] = 1200 + self.origin[2]
                self.fill(img, cam, canvas, band, L.shade(self.band_colour, normal, 0.9))
            skirt = quad.copy()
            skirt[2:, 2] = 90 + self.origin[2]
            self.fill(img, cam, canvas, skirt, L.shade((60, 60, 60), normal))
        # objects, farthest first
        def depth(obj):
            pts = np.concatenate([p for p, _, _ in obj])
            return -float(np.mean(cam.world_to_camera(pts)[:, 2]))

        for obj in sorted(self.objects, key=depth):
            for poly, colour, normal in obj:
                if normal is not None:
                    centre = poly.mean(0)
                    if np.dot(cam.position_mm - centre, normal) <= 0:
                        continue  # back face
                self.fill(img, cam, canvas, poly, L.shade(colour, normal))
        return _vignette(img, cam, canvas, rng)

    def _floor(self, cam: Camera, canvas: Canvas, rng) -> np.ndarray:
        h, w = canvas.height, canvas.width
        u, v = np.meshgrid(np.arange(w, dtype=np.float64) + canvas.ox, np.arange(h, dtype=np.float64) + canvas.oy)
        Kinv = np.linalg.inv(cam.K)
        d_cam = np.stack([u, v, np.ones_like(u)], -1) @ Kinv.T
        d = d_cam @ cam.R  # lab directions
        cz = cam.position_mm[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = -cz / d[..., 2]
        hit = (d[..., 2] < -1e-9) & (s > 0)
        s = np.where(hit, s, 0.0)
        xl = cam.position_mm[0] + s * d[..., 0] - self.origin[0]
        yl = cam.position_mm[1] + s * d[..., 1] - self.origin[1]
        x = xl * self.frame[0, 0] + yl * self.frame[1, 0]  # floor pattern in the room's axes
        y = xl * self.frame[0, 1] + yl * self.frame[1, 1]
        base = np.asarray(self.floor_colour, float)
        style = self.floor_style
        shade = np.ones_like(x)
        if style == "tiles":
            tile = 500.0
            ix, iy = np.floor(x / tile), np.floor(y / tile)
            shade = 1.0 + 0.05 * np.sin(ix * 12.9898 + iy * 78.233) * np.cos(ix * 3.1 - iy * 1.7)
            gx, gy = np.abs((x / tile) - np.round(x / tile)), np.abs((y / tile) - np.round(y / tile))
            grout = np.minimum(gx, gy) * tile < 4.0
            shade = np.where(grout, 0.7, shade)
        elif style == "planks":
            pw = 140.0
            ip = np.floor(x / pw)
            shade = 1.0 + 0.08 * np.sin(ip * 7.77) + 0.03 * np.sin(y / 37.0 + ip * 3.0) * np.sin(y / 11.0 + ip)
            seam = np.abs(x / pw - np.round(x / pw)) * pw < 3.0
            shade = np.where(seam, 0.72, shade)
        elif style == "lino":
            court = (np.abs(y - rng.uniform(-3000, 3000)) < 25) | (np.abs(x - rng.uniform(-3000, 3000)) < 25)
            shade = np.where(court, 1.45, 1.0)
        noise = rng.normal(0, 0.035 if style == "rubber" else 0.015, x.shape)
        dist = s * np.hypot(d[..., 0], d[..., 1])
        fade = 1.0 - 0.12 * np.clip(dist / 10000.0, 0, 1)
        L = self.lighting
        floor = base[None, None, :] * (shade * fade + noise)[..., None] * L.tint * L.gain * (0.8 + 0.2 * L.light_dir_lab[2])
        ceiling = np.asarray(L.shade(self.ceiling_colour), float)
        img = np.where(hit[..., None], floor, ceiling[None, None, :])
        img = cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (3, 3), 0.7)
        return img


def _clip_near(pc: np.ndarray, near: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a camera-frame polygon against z >= near."""
    out = []
    n = len(pc)
    for i in range(n):
        a, b = pc[i], pc[(i + 1) % n]
        ina, inb = a[2] >= near, b[2] >= near
        if ina:
            out.append(a)
        if ina != inb:
            t = (near - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out) if out else np.zeros((0, 3))


def _vignette(img, cam, canvas, rng) -> np.ndarray:
    h, w = img.shape[:2]
    cx, cy = cam.K[0, 2] - canvas.ox, cam.K[1, 2] - canvas.oy
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / float(cam.image_size[0] ** 2 / 4 + cam.image_size[1] ** 2 / 4)
    fall = 1.0 - rng.uniform(0.1, 0.3) * np.clip(r2, 0, 2)
    return np.clip(img * fall[..., None], 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------ the objects
def cuboid(centre_bottom, size, colour, top_colour=None, yaw: float = 0.0) -> list:
    """Faces (poly, colour, outward normal) of a box standing on its bottom face."""
    sx, sy, sz = size
    c = np.asarray(centre_bottom, float)
    cs, sn = np.cos(yaw), np.sin(yaw)
    Rz = np.array([[cs, -sn, 0], [sn, cs, 0], [0, 0, 1.0]])
    corners = np.array([[x, y, z] for z in (0, sz) for y in (-sy / 2, sy / 2) for x in (-sx / 2, sx / 2)]) @ Rz.T + c
    faces = [((4, 5, 7, 6), (0, 0, 1)), ((0, 1, 5, 4), (0, -1, 0)), ((2, 3, 7, 6), (0, 1, 0)),
             ((0, 2, 6, 4), (-1, 0, 0)), ((1, 3, 7, 5), (1, 0, 0))]
    out = []
    for idx, n in faces:
        normal = Rz @ np.array(n, float)
        col = top_colour if (top_colour is not None and n == (0, 0, 1)) else colour
        out.append((corners[list(idx)], col, normal))
    return out


def flat_rect(centre, size, colour, z: float = 1.0, border=None, border_mm: float = 12.0) -> list:
    cx, cy = centre[0], centre[1]
    sx, sy = size
    polys = []
    if border is not None:
        polys.append((np.array([[cx - sx / 2, cy - sy / 2, z], [cx + sx / 2, cy - sy / 2, z],
                                [cx + sx / 2, cy + sy / 2, z], [cx - sx / 2, cy + sy / 2, z]]), border, np.array([0, 0, 1.0])))
        sx, sy = sx - 2 * border_mm, sy - 2 * border_mm
    polys.append((np.array([[cx - sx / 2, cy - sy / 2, z + 0.5], [cx + sx / 2, cy - sy / 2, z + 0.5],
                            [cx + sx / 2, cy + sy / 2, z + 0.5], [cx - sx / 2, cy + sy / 2, z + 0.5]]), colour, np.array([0, 0, 1.0])))
    return [polys]


def cone(base_centre, radius, height, colour, n: int = 10) -> list:
    c = np.asarray(base_centre, float)
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.stack([c[0] + radius * np.cos(ang), c[1] + radius * np.sin(ang), np.full(n, c[2])], -1)
    apex = c + [0, 0, height]
    faces = []
    for i in range(n):
        a, b = ring[i], ring[(i + 1) % n]
        mid = (a + b) / 2 - c
        normal = np.array([mid[0], mid[1], radius * radius / height])
        normal /= np.linalg.norm(normal)
        faces.append((np.array([a, b, apex]), colour, normal))
    return faces


def wall_rect(wall_y: float, x_range, z_range, colour, facing: float = 1.0, inset: float = 2.0) -> list:
    x0, x1 = x_range
    z0, z1 = z_range
    y = wall_y + facing * inset
    return [(np.array([[x0, y, z0], [x1, y, z0], [x1, y, z1], [x0, y, z1]]), colour, np.array([0, facing, 0.0]))]


def vicon_camera(position, axes, room, colour=(30, 30, 30)) -> list:
    """A small dark box with a red strobe ring where an optical camera is: on a stand
    inside the room, or on the wall when the calibrated position is beyond it.
    ``position`` and ``axes`` (the camera's x, y, z axes as rows) in the room's frame."""
    c = np.asarray(position, float).copy()
    inside = room[0] + 200 < c[0] < room[1] - 200 and room[2] + 200 < c[1] < room[3] - 200
    c[0] = np.clip(c[0], room[0] + 150, room[1] - 150)
    c[1] = np.clip(c[1], room[2] + 150, room[3] - 150)
    body = cuboid(c - [0, 0, 60], (110, 110, 120), colour)
    right, down, fwd = axes
    ring = c + fwd * 70
    ang = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    disk = np.array([ring + 45 * (np.cos(a) * right + np.sin(a) * down) for a in ang])
    pole = np.array([c - [12, 0, 60], c + [12, 0, -60], [c[0] + 12, c[1], 0], [c[0] - 12, c[1], 0]])
    return ([(pole, (90, 90, 95), None)] if inside else []) + body + [(disk, (40, 40, 200), fwd)]


def sample_scene(rng: np.random.Generator, landing_lab_mm, box: dict | None, optical: list[Camera],
                 video_cam_pos, facing=(0.0, 1.0, 0.0)) -> Scene:
    """A lab: room size and colours, force plates under the landing, the box, clutter.

    The room is laid out in the athlete's frame (origin at the landing, y = ``facing``)."""
    fwd_axis = np.array([facing[0], facing[1], 0.0], float)
    fwd_axis /= np.linalg.norm(fwd_axis)
    frame = np.column_stack([np.cross(fwd_axis, [0.0, 0.0, 1.0]), fwd_axis, [0.0, 0.0, 1.0]])
    origin = np.array([landing_lab_mm[0], landing_lab_mm[1], 0.0], float)

    def local(p):
        return (np.asarray(p, float) - origin) @ frame

    video_cam_pos = local(video_cam_pos)
    lx, ly = 0.0, 0.0
    back = ly - rng.uniform(2200, 4200)
    front = max(float(video_cam_pos[1]) + rng.uniform(500, 2000), ly + 3000)
    half = rng.uniform(3500, 6000)
    room = (lx - half, lx + half, back, front, rng.uniform(3000, 4500))
    style = FLOOR_STYLES[int(rng.integers(len(FLOOR_STYLES)))]
    palette = FLOOR_COLOURS[style]
    floor_colour = tuple(float(v) for v in np.clip(np.array(palette[int(rng.integers(len(palette)))]) + rng.normal(0, 10, 3), 0, 255))
    wall = tuple(float(v) for v in np.clip(np.array(WALL_COLOURS[int(rng.integers(len(WALL_COLOURS)))]) + rng.normal(0, 8, 3), 0, 255))
    band = None
    if rng.random() < 0.4:
        band = tuple(float(v) for v in rng.uniform(60, 200, 3))
    az = rng.uniform(0, 2 * np.pi)
    light = np.array([np.cos(az) * 0.5, np.sin(az) * 0.5, 1.0])
    light /= np.linalg.norm(light)
    lighting = Lighting(
        gain=float(rng.uniform(0.75, 1.1)),
        tint=np.array([rng.uniform(0.9, 1.05), rng.uniform(0.95, 1.02), rng.uniform(0.9, 1.08)]),
        light_dir_lab=light,
        light_dir_px=np.array([rng.uniform(-0.8, 0.8), -1.0]) / 1.2,
        ambient=float(rng.uniform(0.45, 0.65)),
    )
    lighting.light_dir_px /= np.linalg.norm(lighting.light_dir_px)
    objects: list = []
    # force plates, flush with the floor, under the landing
    plate_colour = tuple(float(v) for v in rng.choice([(150, 150, 150), (120, 110, 100), (90, 90, 95), (170, 160, 150)]))
    pw, pl = (400.0, 600.0) if rng.random() < 0.5 else (464.0, 508.0)
    for s in (-1, 1):
        objects += flat_rect((lx + s * (pw / 2 + 5), ly + rng.uniform(-40, 40)), (pw, pl), plate_colour, border=(60, 60, 60))
    if rng.random() < 0.5:  # a third plate in front
        objects += flat_rect((lx, ly + pl + 10), (pw, pl), plate_colour, border=(60, 60, 60))
    if box is not None:
        c = local(box["top_centre_lab_mm"])
        sx, sy, sz = box["size_mm"]
        col = tuple(float(v) for v in rng.choice([(60, 110, 160), (40, 40, 40), (150, 90, 30), (50, 50, 150), (80, 140, 190)]))
        top = tuple(float(v) * 1.1 for v in col) if rng.random() < 0.5 else (50, 50, 50)
        objects.append(cuboid([c[0], c[1], 0.0], (sx, sy, sz), col, top))
    # clutter behind the athlete and to the sides; nothing between the camera and the athlete,
    # which is drawn over the whole background
    cam_xy = np.asarray(video_cam_pos, float)[:2]
    athlete_dist = float(np.hypot(lx - cam_xy[0], ly - cam_xy[1]))

    def behind_athlete(x, y, margin=700.0) -> bool:
        return float(np.hypot(x - cam_xy[0], y - cam_xy[1])) > athlete_dist + margin

    n_before = len(objects)
    for _ in range(int(rng.integers(2, 7))):
        kind = rng.choice(["cone", "bench", "crate", "mat", "table", "ball"])
        x = rng.uniform(room[0] + 400, room[1] - 400)
        y = rng.uniform(back + 300, ly - 900)
        if kind == "cone":
            objects.append(cone([x, y, 0], 110, 300, tuple(float(v) for v in rng.choice([(0, 120, 255), (0, 200, 255), (40, 40, 220)]))))
        elif kind == "bench":
            objects.append(cuboid([x, y, 0], (1500, 350, 450), (60, 100, 140), yaw=rng.uniform(-0.2, 0.2)))
        elif kind == "crate":
            objects.append(cuboid([x, y, 0], (600, 500, rng.uniform(300, 600)), tuple(float(v) for v in rng.uniform(30, 200, 3))))
        elif kind == "mat":
            objects += flat_rect((x, y), (1000, 2000), tuple(float(v) for v in rng.uniform(40, 160, 3)), z=8.0)
        elif kind == "table":
            objects.append(cuboid([x, y, 0], (1200, 600, 740), (170, 170, 175), (200, 200, 205)))
            objects.append(cuboid([x, y, 740], (350, 30, 240), (30, 30, 30)))
        else:
            objects.append(cuboid([x, y, 0], (220, 220, 220), tuple(float(v) for v in rng.uniform(20, 230, 3))))
    objects[n_before:] = [o for o in objects[n_before:]
                          if behind_athlete(*np.concatenate([p for p, _, _ in o]).mean(0)[:2])]
    # posters, a door and windows on the back wall
    for _ in range(int(rng.integers(1, 5))):
        x = rng.uniform(room[0] + 500, room[1] - 1500)
        wdt, hgt = rng.uniform(500, 1200), rng.uniform(600, 1400)
        z = rng.uniform(1200, 2000)
        objects.append(wall_rect(back, (x, x + wdt), (z, z + hgt), tuple(float(v) for v in rng.uniform(40, 250, 3))))
        objects.append(wall_rect(back, (x + 60, x + wdt - 60), (z + hgt * 0.55, z + hgt - 60), tuple(float(v) for v in rng.uniform(40, 250, 3)), inset=3.0))
    if rng.random() < 0.7:
        x = rng.uniform(room[0] + 300, room[1] - 1300)
        objects.append(wall_rect(back, (x, x + 950), (0, 2100), tuple(float(v) for v in rng.choice([(60, 90, 130), (150, 150, 150), (40, 60, 90)]))))
    if rng.random() < 0.5:
        z0 = rng.uniform(1500, 2000)
        for k in range(int(rng.integers(1, 4))):
            x = room[0] + 800 + k * 2200
            objects.append(wall_rect(back, (x, x + 1600), (z0, min(z0 + 1000, room[4] - 200)), (235, 225, 205)))
    for cam in optical:
        pos = local(cam.position_mm)
        if behind_athlete(*np.clip(pos[:2], [room[0], room[2]], [room[1], room[3]]), margin=1000.0):
            objects.append(vicon_camera(pos, cam.R @ frame, room))
    objects = [[(origin + poly @ frame.T, colour, None if normal is None else frame @ normal)
                for poly, colour, normal in obj] for obj in objects]
    return Scene(style, floor_colour, wall, band, tuple(float(v) for v in np.clip(np.array(wall) * 0.95, 0, 255)),
                 room, lighting, objects, frame, origin)
