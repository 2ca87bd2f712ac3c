"""What a mesh athlete looks like: per-vertex colours and materials from the athlete's
appearance (:class:`kneeview.synth.anthropometrics.Athlete`: skin tone, hair colour and
style, top, bottom, shoes, socks) and a few extra draws (:class:`Look`: bare feet, lab
markers, skin variation).

The mesh says which body region each vertex belongs to (head, neck, torso, pelvis,
upper arm, forearm, hand, thigh, shank, foot); where clothes end inside a region (shorts
at mid-thigh, T-shirt sleeves at mid upper arm, socks above the ankle, the hairline) is
measured along the segment between the joint centres of the first frame, so any mesh
whose regions follow the Plug-in Gait joint centres gets the same clothes.
Colours are BGR 0..255 (OpenCV order), as everywhere in :mod:`kneeview.synth`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anthropometrics import Athlete

#: Materials: specular strength, shininess (Blinn-Phong exponent).
SKIN = (0.10, 18.0)
HAIR = (0.22, 28.0)
COTTON = (0.02, 6.0)
LYCRA = (0.22, 22.0)
SHOE = (0.16, 30.0)
SOLE = (0.04, 8.0)

REGIONS = ("head", "neck", "torso", "pelvis", "upper_arm", "forearm", "hand", "thigh", "shank", "foot")
_ALIASES = {"upperarm": "upper_arm", "arm": "upper_arm", "lower_arm": "forearm", "lowerarm": "forearm",
            "chest": "torso", "trunk": "torso", "abdomen": "torso", "spine": "torso", "hips": "pelvis", "hip": "pelvis",
            "upperleg": "thigh", "upper_leg": "thigh", "lowerleg": "shank", "lower_leg": "shank", "calf": "shank",
            "shin": "shank", "toes": "foot", "toe": "foot", "feet": "foot", "hands": "hand", "fingers": "hand",
            "face": "head", "skull": "head", "eyes": "head", "clavicle": "torso", "shoulder": "torso"}


@dataclass(frozen=True)
class Look:
    """Per-athlete extras the primitive figures did not have."""

    barefoot: bool
    markers: bool  # reflective Plug-in Gait markers (lab athletes wear them)
    skin_variation: float  # relative amplitude of the low-frequency skin tone variation
    hair_length: float  # 0 cropped .. 1 to the shoulders (only with hair)

    def to_json(self) -> dict:
        return {"barefoot": self.barefoot, "markers": self.markers}


def sample_look(rng: np.random.Generator, athlete: Athlete) -> Look:
    long = athlete.hair_style in ("ponytail", "bun")
    return Look(barefoot=bool(rng.random() < 0.2), markers=bool(rng.random() < 0.5),
                skin_variation=float(rng.uniform(0.02, 0.06)),
                hair_length=float(rng.uniform(0.5, 1.0) if long else rng.uniform(0.0, 0.3)))


def region_name(label) -> str:
    """A region label as one of :data:`REGIONS` ("l_thigh", "UpperArm.R" -> "thigh", "upper_arm")."""
    s = str(label).lower().replace("-", "_").replace(".", "_").replace(" ", "_")
    for side in ("left_", "right_", "l_", "r_"):
        if s.startswith(side):
            s = s[len(side):]
    for side in ("_left", "_right", "_l", "_r"):
        if s.endswith(side):
            s = s[: -len(side)]
    s = _ALIASES.get(s, s)
    return s if s in REGIONS else "torso"


def _unit(v):
    v = np.asarray(v, float)
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _along(x, a, b):
    """Fraction along segment a->b of points x (N, 3) (0 at a, 1 at b)."""
    d = b - a
    return (x - a) @ d / max(float(d @ d), 1e-9)


def _nearest_side(x, segs):
    """For each point, the index of the nearest of the segments [(a, b), ...]."""
    dists = []
    for a, b in segs:
        t = np.clip(_along(x, a, b), 0, 1)
        dists.append(np.linalg.norm(x - (a + t[:, None] * (b - a)), axis=1))
    return np.argmin(np.stack(dists, 1), 1)


EDGE_BAND_MM = 25.0


@dataclass
class Edges:
    """Clothing hems, the waistband and the hairline as smooth lines across triangles.

    Per vertex: ``field`` (V,) mm, signed distance to the nearest such line (clipped to
    +-EDGE_BAND_MM); the colour and material on its positive side are the primary ones,
    on its negative side ``colours``/``material`` here. The fragment shader takes the side
    by the sign of the interpolated field, so a hem follows a straight line through the
    triangles instead of the mesh's zig-zagging edges."""

    colours: np.ndarray  # (V, 3) float32 BGR on the negative side
    material: np.ndarray  # (V, 2) float32
    field: np.ndarray  # (V,) float32 mm


def vertex_appearance(vertices_lab_mm, regions, points: dict[str, np.ndarray], athlete: Athlete, look: Look,
                      rng: np.random.Generator, edges: bool = False):
    """Colours (V, 3) BGR float32 and materials (V, 2) float32 for a mesh in one pose
    (with ``edges``, also the primary colours/materials on the hems' positive sides and an
    :class:`Edges`: ``(colours, materials, Edges)``).

    ``vertices_lab_mm`` (V, 3) and ``points`` (label -> (3,) Plug-in Gait joint centres and
    body points of the same pose: RFEP, RFEO, RTIO, RSHO, RELB, RWRI, HEAD, THRX, ... and
    the left ones); ``regions`` (V,) region labels."""
    x = np.asarray(vertices_lab_mm, float)
    names, inverse = np.unique(np.asarray(regions).astype(str), return_inverse=True)
    reg = np.array([region_name(n) for n in names])[inverse.reshape(-1)] if len(names) else np.zeros(0, str)
    P = {k: np.asarray(v, float) for k, v in points.items()}
    A = athlete
    V = len(x)
    skin = np.asarray(A.skin, float)
    col = np.tile(skin, (V, 1))
    mat = np.tile(SKIN, (V, 1))
    # low-frequency skin variation (a little redder/darker in places), from a few random waves
    k = rng.normal(0, 1 / 250.0, (4, 3))
    ph = rng.uniform(0, 2 * np.pi, 4)
    wave = np.sin(x @ k.T + ph).mean(1)
    col *= (1.0 + look.skin_variation * wave)[:, None]

    def paint(mask, colour, material):
        col[mask] = colour
        mat[mask] = material

    lines = []  # (vertex indices, signed mm, colour/material on the + side, on the - side)

    def line(idx, signed_mm, pos, pos_mat, neg, neg_mat):
        lines.append((np.asarray(idx), np.asarray(signed_mm, float), np.asarray(pos, float), pos_mat,
                      np.asarray(neg, float), neg_mat))

    top, bottom = np.asarray(A.top_colour, float), np.asarray(A.bottom_colour, float)
    # the fraction along each limb, on the nearer side
    def limb(region, a_lab, b_lab):
        m = reg == region
        if not m.any():
            return m, np.zeros(0)
        segs = [(P["R" + a_lab], P["R" + b_lab]), (P["L" + a_lab], P["L" + b_lab])]
        side = _nearest_side(x[m], segs)
        t = np.where(side == 0, _along(x[m], *segs[0]), _along(x[m], *segs[1]))
        return m, t

    thigh, t_thigh = limb("thigh", "FEP", "FEO")
    shank, t_shank = limb("shank", "FEO", "TIO")
    upper, t_upper = limb("upper_arm", "SHO", "ELB")
    fore, _ = limb("forearm", "ELB", "WRI")
    foot_t = limb("foot", "FEO", "TIO")[1] if (reg == "foot").any() else None

    # bottoms: shorts to ~40 % of the thigh, capri to mid-shank, tights to the ankle
    cloth = LYCRA if A.bottom in ("tights", "capri") else COTTON
    # the waistband: level, a little above the hip joint centres (not the pelvis region's edge,
    # which dips to the crotch like a leotard)
    mid_hip = 0.5 * (P["RFEP"] + P["LFEP"])
    trunk_up = _unit(P["THRX"] - mid_hip)
    above_hips = (x - mid_hip) @ trunk_up
    waist = 0.17 * A.trunk_mm
    trunk = (reg == "pelvis") | (reg == "torso")
    paint(trunk & (above_hips < waist), bottom, cloth)
    near_waist = trunk | (reg == "thigh")  # every vertex near a line takes part, whatever its region
    line(np.flatnonzero(near_waist), above_hips[near_waist] - waist, top, COTTON, bottom, cloth)
    sub = np.zeros(V, bool)
    if A.bottom == "shorts":
        sub[np.flatnonzero(thigh)[t_thigh < 0.42]] = True
        line(np.flatnonzero(thigh), (t_thigh - 0.42) * A.thigh_mm, skin, SKIN, bottom, cloth)
    else:
        sub |= thigh
        hem = 0.5 if A.bottom == "capri" else 0.93
        sub[np.flatnonzero(shank)[t_shank < hem]] = True
        if A.bottom == "capri" or look.barefoot:
            line(np.flatnonzero(shank), (t_shank - hem) * A.shank_mm, skin, SKIN, bottom, cloth)
    paint(sub, bottom, cloth)
    # tops: tank leaves the arms and shoulders bare, T-shirt sleeves to mid upper arm, long sleeves to the wrist
    torso = trunk & (above_hips >= waist)
    # the neckline: a little below the base of the neck, scooped at the front
    body_right = _unit((P["RFEP"] - P["LFEP"]) + (P["RSHO"] - P["LSHO"]))
    body_fwd = _unit(np.cross(trunk_up, body_right))
    rel_neck = x - P["THRX"]
    front = np.clip((rel_neck @ body_fwd) / 60.0, 0.0, 1.0)
    h_neck = rel_neck @ trunk_up
    radial = np.linalg.norm(rel_neck - h_neck[:, None] * trunk_up, axis=1)
    # covered: outside a collar around the neck, or below a (front-scooped) plane; mm, positive covered
    below_neckline = np.maximum(radial - (0.042 * A.height_mm + 15.0 * front), -h_neck - (5.0 + 40.0 * front))
    covered = below_neckline
    if A.top == "tank":  # bare shoulders: and away from the shoulder joint centres (one field: no seams)
        d = np.minimum(np.linalg.norm(x - P["RSHO"], axis=1), np.linalg.norm(x - P["LSHO"], axis=1))
        covered = np.minimum(covered, d - 0.06 * A.height_mm)
        covered[reg == "upper_arm"] = -EDGE_BAND_MM  # bare arms, whatever their distance
    torso &= covered > 0
    neck_zone = (trunk | (reg == "neck") | (reg == "upper_arm")) & (above_hips >= waist)
    line(np.flatnonzero(neck_zone), covered[neck_zone], top, COTTON, skin, SKIN)
    top_mask = torso.copy()
    if A.top == "tshirt":
        top_mask[np.flatnonzero(upper)[t_upper < 0.5]] = True
        line(np.flatnonzero(upper), (t_upper - 0.5) * A.upper_arm_mm, skin, SKIN, top, COTTON)
    elif A.top == "longsleeve":
        top_mask |= upper | fore
    paint(top_mask, top, COTTON)
    # socks and shoes, or bare feet
    if not look.barefoot:
        sock = np.zeros(V, bool)
        sock[np.flatnonzero(shank)[t_shank > 0.86]] = True
        paint(sock, A.sock_colour, COTTON)
        above = bottom if A.bottom == "tights" else skin
        line(np.flatnonzero(shank), (t_shank - 0.86) * A.shank_mm, A.sock_colour, COTTON, above,
             LYCRA if A.bottom == "tights" else SKIN)
        if foot_t is not None:
            line(np.flatnonzero(reg == "foot"), (foot_t - 0.86) * A.shank_mm, A.sock_colour, COTTON, above,
                 LYCRA if A.bottom == "tights" else SKIN)
        foot = reg == "foot"
        paint(foot, A.shoe_colour, SHOE)
        if foot.any():
            fz = x[foot, 2]
            sole = np.flatnonzero(foot)[fz < fz.min() + 14.0]
            paint(np.isin(np.arange(V), sole), A.sole_colour, SOLE)
    # hair and face on the head, in a head frame (up: THRX -> HEAD, forward: the body's front)
    head = reg == "head"
    if head.any():
        _head(x, head, P, A, look, paint, col, line)
    col = np.clip(col, 0, 255).astype(np.float32)
    mat = mat.astype(np.float32)
    if not edges:
        return col, mat
    return _soft_edges(col, mat, lines)


def _soft_edges(col, mat, lines):
    """Primary colours/materials and :class:`Edges` from the painted ones and the lines."""
    V = len(col)
    best = np.full(V, np.inf)
    field = np.full(V, EDGE_BAND_MM, np.float32)
    col_a, mat_a = col.copy(), mat.copy()
    col_b, mat_b = col.copy(), mat.copy()
    for idx, d, pos, pos_mat, neg, neg_mat in lines:
        if not len(idx):
            continue
        nearer = np.abs(d) < best[idx]
        idx, d = idx[nearer], d[nearer]
        best[idx] = np.abs(d)
        field[idx] = np.clip(d, -EDGE_BAND_MM, EDGE_BAND_MM)
        # a vertex keeps its own look on its own side (skin variation, a painted-over patch);
        # within the band the other side's look is the line's
        band = np.abs(d) < EDGE_BAND_MM
        own_a = col[idx]
        on_pos = d >= 0
        # positive side: A = own, B = the line's negative look (in the band) or own (outside)
        a_col = np.where(on_pos[:, None], own_a, np.where(band[:, None], pos, own_a))
        b_col = np.where(on_pos[:, None], np.where(band[:, None], neg, own_a), own_a)
        a_mat = np.where(on_pos[:, None], mat[idx], np.where(band[:, None], np.asarray(pos_mat, float), mat[idx]))
        b_mat = np.where(on_pos[:, None], np.where(band[:, None], np.asarray(neg_mat, float), mat[idx]), mat[idx])
        col_a[idx], col_b[idx], mat_a[idx], mat_b[idx] = a_col, b_col, a_mat, b_mat
    return (np.clip(col_a, 0, 255).astype(np.float32), mat_a.astype(np.float32),
            Edges(np.clip(col_b, 0, 255).astype(np.float32), mat_b.astype(np.float32), field.astype(np.float32)))


def _head(x, head, P, A: Athlete, look: Look, paint, col, line) -> None:
    mid_hip = 0.5 * (P["RFEP"] + P["LFEP"])
    up = _unit(P["HEAD"] - P["THRX"])
    right = _unit((P["RFEP"] - P["LFEP"]) + (P["RSHO"] - P["LSHO"]))
    right = _unit(right - (right @ up) * up)
    fwd = np.cross(up, right)
    del mid_hip
    hv = x[head]
    q = np.stack([hv @ up, hv @ fwd, hv @ right], 1)
    lo, hi = q.min(0), q.max(0)  # the head's box: chin to crown, back to nose, right to left
    half = np.maximum((hi - lo) / 2, 1.0)
    un, fn, rn = ((q - (lo + hi) / 2) / half).T
    idx = np.flatnonzero(head)
    if A.hair_style == "shaved":
        hair_col = 0.5 * (np.asarray(A.hair, float) + np.asarray(A.skin, float))
    else:
        hair_col = np.asarray(A.hair, float)
    # the hairline: low at the back (longer hair lower), at the ears on the sides, high on the forehead
    back_drop = 0.35 + 0.45 * look.hair_length
    hairline = np.where(fn < 0, 0.0 + fn * back_drop, 0.0 + 0.75 * fn)
    hair = (un > hairline) & (fn < 0.8)
    # eyes, brows and mouth: small patches at the front
    front = fn > 0.45
    eyes = front & (np.abs(np.abs(rn) - 0.36) < 0.12) & (np.abs(un - 0.08) < 0.06)
    brows = front & (np.abs(np.abs(rn) - 0.36) < 0.16) & (np.abs(un - 0.22) < 0.035)
    mouth = front & (np.abs(rn) < 0.22) & (np.abs(un + 0.5) < 0.045)
    face = eyes | brows | mouth
    skin = np.asarray(A.skin, float)
    paint(np.isin(np.arange(len(col)), idx[eyes]), 0.35 * skin, SKIN)
    paint(np.isin(np.arange(len(col)), idx[brows]), np.minimum(hair_col, 0.55 * skin), SKIN)
    paint(np.isin(np.arange(len(col)), idx[mouth]), skin * [0.72, 0.72, 0.9], SKIN)
    paint(np.isin(np.arange(len(col)), idx[hair & ~face]), hair_col, HAIR)
    plain = ~face & (fn < 0.8)
    line(idx[plain], (un - hairline)[plain] * half[0], hair_col, HAIR, skin, SKIN)


def _head_frames(P: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame head axes (T, 3) each: up (THRX -> HEAD), forward, right."""
    def unit(v):
        return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)

    up = unit(P["HEAD"] - P["THRX"])
    right = (P["RFEP"] - P["LFEP"]) + (P["RSHO"] - P["LSHO"])
    right = unit(right - np.sum(right * up, -1, keepdims=True) * up)
    return up, np.cross(up, right), right


def hair_pieces(points: dict[str, np.ndarray], head_vertices_lab_mm, athlete: Athlete, look: Look, k: int = 12):
    """A ponytail or a bun that moves with the head: (vertices (T, N, 3) float32, faces (M, 3),
    colours (N, 3), materials (N, 2)), or None for other hair styles.

    ``points``: label -> (T, 3) (HEAD, THRX, RSHO, LSHO, RFEP, LFEP); ``head_vertices_lab_mm``
    the head region's vertices in the first frame (they place the piece on the skull)."""
    if athlete.hair_style not in ("ponytail", "bun"):
        return None
    P = {key: np.asarray(v, float) for key, v in points.items()}
    up, fwd, right = _head_frames(P)
    h0 = np.asarray(head_vertices_lab_mm, float) - P["HEAD"][0]
    q = np.stack([h0 @ up[0], h0 @ fwd[0], h0 @ right[0]], 1)
    lo, hi = q.min(0), q.max(0)
    centre, half = (lo + hi) / 2, (hi - lo) / 2

    def at(u, f):  # (T, 3) lab point at normalised head coordinates (u up, f forward, r = 0)
        local = centre + half * np.array([u, f, 0.0])
        return P["HEAD"] + local[0] * up + local[1] * fwd + local[2] * right

    if athlete.hair_style == "ponytail":
        length = 0.6 + 0.9 * look.hair_length
        path = [at(0.45, -0.95), at(0.1, -1.25), at(0.1 - 0.7 * length, -1.3 - 0.15 * length)]
        radii = [30.0, 24.0, 9.0]
    else:
        path = [at(0.62, -0.78), at(0.72, -1.02), at(0.55, -1.22)]
        radii = [30.0, 40.0, 22.0]
    ang = np.linspace(0, 2 * np.pi, k, endpoint=False)
    rings = []
    n_seg = 6
    pts, rad = [], []
    for a, b, ra, rb in zip(path[:-1], path[1:], radii[:-1], radii[1:]):
        for s in np.linspace(0, 1, n_seg, endpoint=False):
            pts.append(a + s * (b - a))
            rad.append(ra + s * (rb - ra))
    pts.append(path[-1])
    rad.append(radii[-1])
    for i, (c, r) in enumerate(zip(pts, rad)):
        nxt = pts[min(i + 1, len(pts) - 1)] - pts[max(i - 1, 0)]
        axis = nxt / np.maximum(np.linalg.norm(nxt, axis=-1, keepdims=True), 1e-9)
        u = right - np.sum(right * axis, -1, keepdims=True) * axis
        u /= np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-9)
        v = np.cross(axis, u)
        rings.append(c[:, None, :] + r * (np.cos(ang)[None, :, None] * u[:, None, :] + np.sin(ang)[None, :, None] * v[:, None, :]))
    m = len(rings)
    verts = np.concatenate(rings + [pts[0][:, None, :], pts[-1][:, None, :]], axis=1)
    faces = []
    for i in range(m - 1):
        for j in range(k):
            p, qn = i * k + j, i * k + (j + 1) % k
            faces += [(p, qn + k, qn), (p, p + k, qn + k)]
    for j in range(k):
        faces.append((m * k, j, (j + 1) % k))
        faces.append((m * k + 1, (m - 1) * k + (j + 1) % k, (m - 1) * k + j))
    faces = np.array(faces, np.int32)
    v0 = verts[0][faces]
    if np.einsum("ij,ij->i", v0[:, 0] - v0.mean((0, 1)), np.cross(v0[:, 1] - v0[:, 0], v0[:, 2] - v0[:, 0])).sum() < 0:
        faces = faces[:, ::-1].copy()  # counter-clockwise seen from outside, as the body's (back faces are culled)
    n = verts.shape[1]
    colours = np.tile(np.asarray(athlete.hair, np.float32), (n, 1))
    material = np.tile(np.asarray(HAIR, np.float32), (n, 1))
    return verts.astype(np.float32), faces, colours, material
