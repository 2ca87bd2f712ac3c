"""Test meshes for the rasterizer, made here independently of any body asset.

``tube_body`` is a rigidly skinned figure: a closed tube (rings and end caps) per segment
between the motion's joint centres, each tube reaching past its joints by half a radius,
so every joint centre lies strictly inside the body's volume.
"""
from __future__ import annotations

import numpy as np

# segment: start label, end label, radius at start, radius at end (mm), region
SEGMENTS = (
    ("RFEP", "RFEO", 75, 55, "thigh"), ("LFEP", "LFEO", 75, 55, "thigh"),
    ("RFEO", "RTIO", 55, 38, "shank"), ("LFEO", "LTIO", 55, 38, "shank"),
    ("RHEE", "RTOE", 40, 32, "foot"), ("LHEE", "LTOE", 40, 32, "foot"),
    ("RTIO", "RHEE", 40, 40, "foot"), ("LTIO", "LHEE", 40, 40, "foot"),
    ("PELV", "THRX", 150, 160, "torso"), ("RFEP", "LFEP", 90, 90, "pelvis"),
    ("RSHO", "RELB", 45, 38, "upper_arm"), ("LSHO", "LELB", 45, 38, "upper_arm"),
    ("RELB", "RWRI", 38, 28, "forearm"), ("LELB", "LWRI", 38, 28, "forearm"),
    ("THRX", "HEAD", 55, 55, "neck"), ("HEAD", "HEAD", 105, 105, "head"),
)


def _tube(p0, p1, r0, r1, k=16, m=6):
    """Closed tube from p0 to p1 (T, 3), extended by half a radius at both ends."""
    d = p1 - p0
    L = np.linalg.norm(d, axis=-1, keepdims=True)
    axis = np.where(L > 1e-6, d / np.maximum(L, 1e-6), [0.0, 0.0, 1.0])
    helper = np.where(np.abs(axis[..., :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    v = np.cross(axis, u)
    a = p0 - 0.5 * r0 * axis
    b = p1 + 0.5 * r1 * axis
    ang = np.linspace(0, 2 * np.pi, k, endpoint=False)
    rings = []
    for s in np.linspace(0, 1, m):
        c = a + s * (b - a)
        r = r0 + s * (r1 - r0)
        rings.append(c[:, None, :] + r * (np.cos(ang)[None, :, None] * u[:, None, :] + np.sin(ang)[None, :, None] * v[:, None, :]))
    verts = np.concatenate(rings + [a[:, None, :], b[:, None, :]], axis=1)
    faces = []
    for i in range(m - 1):
        for j in range(k):
            p, q = i * k + j, i * k + (j + 1) % k
            faces += [(p, q, q + k), (p, q + k, p + k)]
    ca, cb = m * k, m * k + 1
    for j in range(k):
        faces.append((ca, (j + 1) % k, j))
        faces.append((cb, (m - 1) * k + j, (m - 1) * k + (j + 1) % k))
    return verts, np.array(faces)


def tube_body(points: dict[str, np.ndarray], rings: int = 6):
    """vertices (T, V, 3) float32, faces (F, 3) int32, regions (V,) names, for joint centres ``points``."""
    verts, faces, regions = [], [], []
    offset = 0
    for a, b, r0, r1, region in SEGMENTS:
        p0, p1 = np.asarray(points[a], float), np.asarray(points[b], float)
        if a == b:  # a ball: a short tube along Z
            p0 = p0 - [0, 0, 0.6 * r0]
            p1 = p1 + [0, 0, 0.6 * r0]
        v, f = _tube(p0, p1, r0, r1, m=rings)
        verts.append(v)
        faces.append(f + offset)
        regions += [region] * v.shape[1]
        offset += v.shape[1]
    return (np.concatenate(verts, axis=1).astype(np.float32), np.concatenate(faces).astype(np.int32),
            np.array(regions))
