"""The mesh rasterizer (kneeview.synth.raster, MeshTrialRenderer) and --bodies.

Meshes here are made by tests/synth/meshes.py (rigid tubes between the motion's joint
centres), independently of any body asset. The reference silhouette is the mesh's
triangles projected with the calibration (``camera.project``: pinhole + Vicon lens) and
filled with OpenCV, with no OpenGL involved."""
from __future__ import annotations

import hashlib
import json
import re

import cv2
import numpy as np
import pytest

from kneeview.synth.appearance import Look, vertex_appearance
from kneeview.synth.dataset import TrialSpec, build_trial, parse_bodies, plan_dataset, write_dataset
from kneeview.synth.render import MeshTrialRenderer

from .conftest import MAGENTA
from .meshes import tube_body

# sha256 of what `write_dataset(out, 4, seed=11, task="mix", size=(160, 120))` wrote, and of
# every trial's raw frames, computed with the synthesiser at commit a2a8bb8, before meshes
# existed. Trial JSONs are hashed without the keys added since ("bodies") and without
# "version", re-serialised as the writer does (json.dumps(indent=2) + newline); calibrations with their
# numbers written to 12 significant digits (_normalised_xcp; re-hashed so on 2026-12-05, when a machine
# wrote the orientations' last bit differently, every other file the same).
HASHED_WITH_OPENCV = "5.1.0"  # the videos' bytes are compared only with this OpenCV's MJPG encoder
PRIMITIVE_SHA256 = {
    "S11-A000_Y1_00000/DJ00000.2173971.avi": "f0d224fbf53138edf91e64e636ce51d7f21a787858e412dfe1124b4433006ad7",
    "S11-A000_Y1_00000/DJ00000.c3d": "1dd5436de9af12514758f9d6deee1321998ad69d53820c92db3348257138038b",
    "S11-A000_Y1_00000/DJ00000.json": "bfa16679c502451d6fa16e26f986bf15bac5abc1ce8ade60b7031146a219a77f",
    "S11-A000_Y1_00000/S11-A000_Y1_00000.xcp": "ada0ed93d6b4eea6035cc771d7225b5c23f142ad94b7a2099fe58dc04df06fe5",
    "S11-A000_Y1_00001/DJ00001.2102067.avi": "0a970e7cc32303ce97e85621d6acda8e284bdaceacd6d73ecf1c7bca5f049aff",
    "S11-A000_Y1_00001/DJ00001.c3d": "88e09fc7d6e46bdd503c4659ceceead127b4566fbed0a41ecfc7b1eef000b575",
    "S11-A000_Y1_00001/DJ00001.json": "8e50a8faa721cfe666fd2dbb737b5a3db34f421b7d03d2be3180e9519fb6123d",
    "S11-A000_Y1_00001/S11-A000_Y1_00001.xcp": "74c8b89a582720523f52722fbfd7b2f449af4d573536e977e95a61f3e983948e",
    "S11-A000_Y1_00002/S11-A000_Y1_00002.xcp": "4a794f35c07d0dee575d6fd82c366383f8b11afbfd9d916c8dbf1f9288517920",
    "S11-A000_Y1_00002/SLS00002.2196347.avi": "f245097557c3eb8f4cb4d61251eaff462cb5d40c0361220b267c335e14e6f467",
    "S11-A000_Y1_00002/SLS00002.c3d": "120c1603f15465570fc0dadf43e08fdd8255912233c00e869021f344ea5a9b56",
    "S11-A000_Y1_00002/SLS00002.json": "ca4dd68cedabe0147088414114c4d3ec0a2c8ebcf2718328570dc1e313e15dc5",
    "S11-A000_Y1_00003/S11-A000_Y1_00003.xcp": "25d8999453f81a34e460a3368e104acc150782b9ca8b87da89876b3e40a1aa63",
    "S11-A000_Y1_00003/SLS00003.2142051.avi": "0e79030dfdcc2d26112f08a711b8fa106b7d4fe2bdcef9475068a45a2ce98dcb",
    "S11-A000_Y1_00003/SLS00003.c3d": "8ed0ea5a46d57e4df07a57581e844ca016862c6708a28c0802328651d199fd94",
    "S11-A000_Y1_00003/SLS00003.json": "4e927e9814e0b9ce33b41845a3333cfacace47dabb26104ad14477021ffb359d",
    "frames/S11-A000_Y1_00000/DJ00000": "84c822c3674186f9ee5e72993797c4f7cd7438ae780a35db043ec24c0ced408f",
    "frames/S11-A000_Y1_00001/DJ00001": "26585454ee2f0a361ab8cd4ba681669bd1ca02853c11707b4f870d400941edb9",
    "frames/S11-A000_Y1_00002/SLS00002": "f55dec6f833e8bf8221d8f9d3321cffe9de6aa6e83dcbadb9d11448700e51669",
    "frames/S11-A000_Y1_00003/SLS00003": "e326b665b3353f13db0429c9047e68d724a8a30b58bda2a6191ee4e008380b8f",
}


def _normalised_xcp(data: bytes) -> bytes:
    """The calibration with every number written to 12 significant digits: the last bit of a camera's
    orientation depends on the machine's floating-point library (the demo's .xcp regenerated on another
    machine differed in the 16th digit of 3 of its 152 numbers, its video, C3D and JSON byte for byte the
    same), which says nothing about the synthesiser."""
    text = data.decode("utf-8")
    return re.sub(r"-?\d+\.\d+(?:e[-+]?\d+)?", lambda m: f"{float(m.group()):.12g}", text).encode()


def _normalised(path, data: bytes) -> bytes:
    return {".json": _normalised_json, ".xcp": _normalised_xcp}.get(path.suffix, lambda d: d)(data)


def _normalised_json(data: bytes) -> bytes:
    meta = json.loads(data)
    meta.pop("bodies", None)
    meta.pop("version", None)
    return (json.dumps(meta, indent=2) + "\n").encode()


def test_primitive_bodies_reproduce_the_datasets_made_before_meshes(tmp_path):
    write_dataset(tmp_path, 4, seed=11, task="mix", size=(160, 120), progress=False, bodies="primitive")
    got = {}
    for p in sorted(tmp_path.rglob("*")):
        if p.is_file() and p.name != "synth_index.json":
            data = p.read_bytes()
            got[str(p.relative_to(tmp_path))] = hashlib.sha256(_normalised(p, data)).hexdigest()
    for spec in plan_dataset(4, 11, "mix", (160, 120), bodies="primitive"):
        h = hashlib.sha256()
        for frame in build_trial(spec).frames():
            h.update(np.ascontiguousarray(frame).tobytes())
        got[f"frames/{spec.session}/{spec.trial}"] = h.hexdigest()
    want = dict(PRIMITIVE_SHA256)
    if cv2.__version__ != HASHED_WITH_OPENCV:  # the MJPG bytes are the encoder's; the frames are ours
        got = {k: v for k, v in got.items() if not k.endswith(".avi")}
        want = {k: v for k, v in want.items() if not k.endswith(".avi")}
    assert got == want
    index = json.loads((tmp_path / "synth_index.json").read_text())
    assert index["bodies"] == "primitive" and all(s["bodies"] == "primitive" for s in index["specs"])
    meta = json.loads((tmp_path / "S11-A000_Y1_00000" / "DJ00000.json").read_text())
    assert meta["bodies"] == "primitive"


def test_bodies_option_is_checked():
    assert parse_bodies(" Anny ") == "anny"
    from kneeview.errors import KneeViewInputError

    with pytest.raises(KneeViewInputError, match="--bodies 'smpl'"):
        plan_dataset(2, 0, bodies="smpl")


# ------------------------------------------------------------------------------- tube meshes
def _scene(built):
    from kneeview.synth.scene import sample_scene

    m = built.motion
    return sample_scene(np.random.default_rng(5), m.landing_lab_mm, m.box, built.cameras[1:],
                        built.cameras[0].position_mm, facing=m.facing)


def _tube_renderer(built, *, plain=True, background=MAGENTA, colours=None, markers=None, samples=4):
    k = int(round(built.motion.rate_hz / built.fps))
    sel = {key: v[::k][: len(built.renderer)] for key, v in built.motion.points.items()}
    verts, faces, regions = tube_body(sel)
    if colours is None:
        colours = np.tile([[90.0, 120.0, 200.0]], (verts.shape[1], 1))
    material = np.tile([[0.1, 20.0]], (verts.shape[1], 1))
    r = MeshTrialRenderer(built.cameras[0], verts, faces, colours, material, _scene(built), np.random.default_rng(0),
                          built.fps, markers=markers, noise_sigma=0.0 if plain else 2.0, exposure=0.0 if plain else 0.5,
                          background=background, shadow=not plain, box=built.motion.box, samples=samples)
    return r, sel, verts, faces, regions


@pytest.fixture(scope="module")
def distorted_trial():
    """A drop jump seen obliquely through a strongly distorting lens, 320x240."""
    spec = TrialSpec(seed=3, index=0, athlete_index=0, year=1, task="DJ", size=(320, 240))
    return build_trial(spec, fps=50.0, rate_hz=100.0, valgus_mm=(45.0, 10.0), plain=True, background=MAGENTA,
                       strength=0.15, placement="oblique")


def _silhouette(frame) -> np.ndarray:
    return np.abs(frame.astype(int) - np.array(MAGENTA)).max(axis=2) > 40


def _reference_silhouette(camera, verts, faces) -> np.ndarray:
    """The mesh's triangles projected with the calibration and filled (no OpenGL)."""
    w, h = camera.image_size
    uv = camera.project(verts.astype(float))
    tris = np.round(uv[faces] * 16).astype(np.int32)
    mask = np.zeros((h, w), np.uint8)
    for tri in tris:  # one by one: fillPoly with a list of overlapping polygons leaves holes
        cv2.fillConvexPoly(mask, tri, 1, cv2.LINE_8, 4)
    return mask.astype(bool)


def test_silhouette_matches_the_mesh_projected_with_the_calibration(distorted_trial):
    r, sel, verts, faces, _ = _tube_renderer(distorted_trial)
    cam = distorted_trial.cameras[0]
    assert np.abs(cam.distortion.undistort(np.array([[0.0, 0.0]])) - [0.0, 0.0]).max() > 5  # a real lens
    for j in (0, len(r) // 3, len(r) // 2, len(r) - 1):
        got = _silhouette(r.frame(j))
        ref = _reference_silhouette(cam, verts[j], faces)
        iou = (got & ref).sum() / (got | ref).sum()
        assert iou > 0.93, (j, iou)
        # nothing drawn more than two pixels outside the projected mesh; inside it, at most a few
        # pixels of the sub-pixel gaps between touching tubes that the reference's filled
        # outlines close
        grown = cv2.dilate(ref.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        shrunk = cv2.erode(ref.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert not (got & ~grown).any(), j
        assert (shrunk & ~got).sum() <= 0.002 * ref.sum(), j


def test_projected_joint_centres_land_on_the_rendered_body(distorted_trial):
    r, sel, *_ = _tube_renderer(distorted_trial)
    cam = distorted_trial.cameras[0]
    labels = ("RFEP", "LFEP", "RFEO", "LFEO", "RTIO", "LTIO")
    for j in range(0, len(r), 15):
        sil = _silhouette(r.frame(j))
        uv = cam.project(np.stack([sel[k][j] for k in labels]))
        px = np.round(uv).astype(int)
        assert sil[px[:, 1], px[:, 0]].all(), (j, uv)


def test_same_inputs_same_pixels_other_colours_other_pixels():
    spec = TrialSpec(seed=4, index=1, athlete_index=1, year=1, task="SLS", size=(256, 192))
    built = build_trial(spec, fps=50.0, rate_hz=100.0)
    a = _tube_renderer(built, plain=False, background=None)[0]
    b = _tube_renderer(built, plain=False, background=None)[0]
    n = len(a)
    c = _tube_renderer(built, plain=False, background=None,
                       colours=np.tile([[30.0, 30.0, 160.0]], (a.vertices.shape[1], 1)))[0]
    for j in (0, n // 2, n - 1):
        fa, fb, fc = a.frame(j), b.frame(j), c.frame(j)
        assert np.array_equal(fa, fb)
        assert (np.abs(fa.astype(int) - fc).max(axis=2) > 30).sum() > 200


def test_shadow_darkens_the_floor_around_the_feet_only():
    spec = TrialSpec(seed=4, index=1, athlete_index=1, year=1, task="SLS", size=(320, 240))
    built = build_trial(spec, fps=50.0, rate_hz=100.0)
    grey = (128, 128, 128)
    lit = _tube_renderer(built, plain=False, background=grey)[0]
    lit._noise = []
    lit._blur[:] = 0
    j = 0
    layer = lit.layer(j)
    assert layer.shadow is not None and layer.shadow.max() > 0.2
    img = lit.draw_corrected(j)
    body = np.zeros(img.shape[:2], bool)
    x0, y0, w, h = layer.roi
    body[y0:y0 + h, x0:x0 + w] = layer.alpha > 0
    darker = (img.astype(int).max(axis=2) < 120) & ~body
    assert darker.sum() > 50
    # the darkened floor lies around the feet, below the knees in the image
    cam = built.cameras[0]
    feet = cam.project_corrected(np.stack([built.motion.points[k][0] for k in ("RHEE", "LHEE", "RTOE", "LTOE")]))
    knees = cam.project_corrected(np.stack([built.motion.points[k][0] for k in ("RFEO", "LFEO")]))
    ys, xs = np.nonzero(darker)
    ys = ys + lit.canvas.oy
    assert np.median(ys) > knees[:, 1].max() and abs(np.median(ys) - feet[:, 1].mean()) < 60


def test_markers_are_bright_spheres_where_they_are(distorted_trial):
    k = int(round(distorted_trial.motion.rate_hz / distorted_trial.fps))
    pts = distorted_trial.motion.points
    n = len(distorted_trial.renderer)
    # markers 40 mm in front of the thigh and the shank, toward the camera (outside the tubes)
    cam = distorted_trial.cameras[0]
    sites = []
    for a, b, r in (("RFEP", "RFEO", 75), ("LFEO", "LTIO", 55)):
        mid = 0.5 * (pts[a][::k][:n] + pts[b][::k][:n])
        to_cam = cam.position_mm - mid
        to_cam /= np.linalg.norm(to_cam, axis=1, keepdims=True)
        sites.append(mid + (r + 10) * to_cam)
    markers = np.stack(sites, 1)
    dark = np.tile([[40.0, 40.0, 40.0]], (len(tube_body({k: v[:1] for k, v in pts.items()})[2]), 1))
    with_m, *_ = _tube_renderer(distorted_trial, markers=markers, colours=dark)
    without, *_ = _tube_renderer(distorted_trial, colours=dark)
    for j in (0, n // 2):
        a, b = with_m.frame(j).astype(int), without.frame(j).astype(int)
        uv = cam.project(markers[j])
        near = np.zeros(a.shape[:2], bool)
        for x, y in np.round(uv).astype(int):
            patch = (slice(y - 1, y + 2), slice(x - 1, x + 2))
            assert a[patch].min(axis=2).max() > b[patch].min(axis=2).max() + 25  # a grey-white spot (~1 px here)
            near[y - 5:y + 6, x - 5:x + 6] = True
        # and nothing else (the region drawn grows with the markers: edge pixels may round differently)
        diff = np.abs(a[~near] - b[~near]).max(axis=1)
        assert (diff > 2).mean() < 0.002 and diff.max() < 100


def test_clothes_follow_the_athlete():
    from dataclasses import replace

    from kneeview.synth.dataset import athlete_for

    spec = TrialSpec(seed=4, index=1, athlete_index=1, year=1, task="SLS", size=(256, 192))
    built = build_trial(spec, fps=50.0, rate_hz=100.0)
    sel = {k: v[:1] for k, v in built.motion.points.items()}
    verts, faces, regions = tube_body(sel)
    pose = {k: v[0] for k, v in sel.items()}
    base = replace(athlete_for(4, 1, 1, spec.athlete_id), top_colour=(200, 10, 10), bottom_colour=(10, 200, 10),
                   shoe_colour=(10, 10, 200), skin=(120, 160, 205), sock_colour=(240, 240, 240))
    shod = Look(barefoot=False, markers=False, skin_variation=0.0, hair_length=0.2)
    rng = np.random.default_rng(0)
    knee_z = pose["RFEO"][2]
    near_knee = (regions == "thigh") & (np.abs(verts[0, :, 2] - knee_z) < 60)
    near_hip = (regions == "thigh") & (verts[0, :, 2] > pose["RFEP"][2] - 60)
    shorts, _ = vertex_appearance(verts[0], regions, pose, replace(base, bottom="shorts"), shod, rng)
    tights, _ = vertex_appearance(verts[0], regions, pose, replace(base, bottom="tights"), shod, rng)
    assert np.allclose(shorts[near_hip], (10, 200, 10)) and np.allclose(shorts[near_knee], base.skin)
    assert np.allclose(tights[near_knee], (10, 200, 10))
    barefoot, _ = vertex_appearance(verts[0], regions, pose, base, replace(shod, barefoot=True), rng)
    foot = regions == "foot"
    assert np.allclose(barefoot[foot], base.skin)
    assert np.isin(shorts[foot], [base.shoe_colour, base.sole_colour]).all()
    tank, _ = vertex_appearance(verts[0], regions, pose, replace(base, top="tank"), shod, rng)
    longs, _ = vertex_appearance(verts[0], regions, pose, replace(base, top="longsleeve"), shod, rng)
    forearm = regions == "forearm"
    assert np.allclose(tank[forearm], base.skin) and np.allclose(longs[forearm], (200, 10, 10))
    # a level waistband a little above the hip joint centres, whatever the regions' edges
    mid_hip = 0.5 * (pose["RFEP"] + pose["LFEP"])
    up = (pose["THRX"] - mid_hip) / np.linalg.norm(pose["THRX"] - mid_hip)
    h = (verts[0] - mid_hip) @ up
    trunk = (regions == "torso") | (regions == "pelvis")
    assert np.allclose(shorts[trunk & (h < 0.1 * base.trunk_mm)], (10, 200, 10))
    assert np.allclose(shorts[trunk & (h > 0.25 * base.trunk_mm) & (h < 0.8 * base.trunk_mm)], (200, 10, 10))


def test_without_opengl_anny_stops_at_once_and_primitive_still_works(tmp_path, monkeypatch):
    import sys

    from kneeview.errors import KneeViewInputError
    from kneeview.synth import raster

    monkeypatch.setattr(raster, "_CONTEXT", None)
    monkeypatch.setitem(sys.modules, "moderngl", None)  # as if it were not installed
    with pytest.raises(raster.RasterUnavailable, match="moderngl"):
        raster.gl_context()
    with pytest.raises(KneeViewInputError, match=r"\[--bodies\].*--bodies primitive"):
        write_dataset(tmp_path / "anny", 1, seed=2, size=(64, 48), progress=False, bodies="anny")
    assert not (tmp_path / "anny" / "synth_index.json").exists()
    entries = write_dataset(tmp_path / "prim", 1, seed=2, size=(64, 48), progress=False, bodies="primitive")
    assert (tmp_path / "prim" / entries[0]["video"]).is_file()


def test_hems_keep_each_vertex_its_own_look_on_its_side():
    """With edges, the colour on a vertex's own side of the nearest hem is its painted colour;
    across the hem (within the band) it is the other side's; far from hems both are its own."""
    from dataclasses import replace

    from kneeview.synth.appearance import EDGE_BAND_MM
    from kneeview.synth.dataset import athlete_for

    spec = TrialSpec(seed=4, index=1, athlete_index=1, year=1, task="SLS", size=(256, 192))
    built = build_trial(spec, fps=50.0, rate_hz=100.0)
    sel = {k: v[:1] for k, v in built.motion.points.items()}
    verts, faces, regions = tube_body(sel, rings=40)  # rings 10-15 mm apart: some near every hem
    pose = {k: v[0] for k, v in sel.items()}
    base = replace(athlete_for(4, 1, 1, spec.athlete_id), top="tshirt", bottom="shorts", top_colour=(200, 10, 10),
                   bottom_colour=(10, 200, 10), skin=(120, 160, 205))
    look = Look(barefoot=False, markers=False, skin_variation=0.0, hair_length=0.2)
    painted, _ = vertex_appearance(verts[0], regions, pose, base, look, np.random.default_rng(0))
    a, _, edges = vertex_appearance(verts[0], regions, pose, base, look, np.random.default_rng(0), edges=True)
    f = edges.field
    assert np.allclose(a[f > 0], painted[f > 0]) and np.allclose(edges.colours[f < 0], painted[f < 0])
    far = np.abs(f) >= EDGE_BAND_MM
    assert np.allclose(a[far], edges.colours[far])
    # the shorts' hem: thigh vertices within the band on the skin side see the shorts across it
    thigh_band = (regions == "thigh") & (f > 0) & (f < EDGE_BAND_MM)
    assert thigh_band.any() and np.allclose(edges.colours[thigh_band], (10, 200, 10))
    assert np.allclose(a[thigh_band], base.skin)


def test_a_small_ball_lands_where_the_calibration_projects_its_centre(distorted_trial):
    """The pixel-centre convention and the canvas offset, to a tenth of a pixel: the
    coverage-weighted centroid of a 40 mm ball in the raw frame is camera.project(centre)."""
    from kneeview.synth.raster import icosphere

    cam = distorted_trial.cameras[0]
    unit, faces = icosphere(3)
    mid = distorted_trial.motion.points["PELV"][0]
    toward = cam.position_mm - mid
    right = np.cross(toward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    for offset in (0.0, 500.0, -700.0):  # the middle and the sides, where the lens bends most
        centre = mid + offset * right
        verts = (centre + 20.0 * unit)[None].astype(np.float32)
        grey = np.full((len(unit), 3), 5000.0, np.float32)  # saturated everywhere: the image is its coverage
        r = MeshTrialRenderer(cam, verts, faces, grey, np.zeros((len(unit), 2), np.float32), _scene(distorted_trial),
                              np.random.default_rng(0), 50.0, noise_sigma=0.0, exposure=0.0, background=(0, 0, 0),
                              shadow=False)
        img = r.frame(0).astype(float).max(axis=2)
        ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
        w = img / img.sum()
        got = np.array([(w * xs).sum(), (w * ys).sum()])
        np.testing.assert_allclose(got, cam.project(centre), atol=0.1)
