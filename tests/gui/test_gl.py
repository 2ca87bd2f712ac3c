"""The OpenGL 3D view on a real X server (CI: xvfb-run). Run in a subprocess, because the
rest of the suite uses Qt's offscreen platform, which has no OpenGL."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.gl

SCRIPT = textwrap.dedent(r'''
    import json, sys, time
    import numpy as np
    from PySide6 import QtCore, QtWidgets
    app = QtWidgets.QApplication([])
    from kneeview.gui.main_window import MainWindow
    from kneeview.gui import style
    from kneeview.io.recording import open_recording

    folder = sys.argv[1]
    rec = open_recording(folder)
    gt = rec.ground_truth_frames()
    cam = rec.view.camera
    kp = cam.project(gt)
    cam_mm = cam.world_to_camera(gt)
    rel = (cam_mm - cam_mm[:, :2].mean(axis=1, keepdims=True)) / 1000.0

    from kneeview.pose.card import ModelIdentity

    class Fake:
        identity = ModelIdentity(name="fake", sha256="f" * 64, device="cpu")
        default_batch_size = 2
        def __init__(self):
            self.i = 0
        def predict(self, frames):
            out = []
            for _ in frames:
                out.append({"score": 1.0, "keypoints_px": kp[self.i], "joints_cam_m": rel[self.i], "confidence": np.ones(6)})
                self.i += 1
            return out

    settings = QtCore.QSettings(sys.argv[2], QtCore.QSettings.Format.IniFormat)
    fake = Fake()
    win = MainWindow(settings=settings, estimator_factory=lambda p=None, device="auto": fake)
    win.resize(1200, 800)
    win.show()
    win.open_path(folder)
    t0 = time.time()
    while (win.is_running() or not win.state.pose_done.all()) and time.time() - t0 < 30:
        app.processEvents()
        time.sleep(0.01)
    v = win.view3d
    out = {"available": v.available}
    win.state.set_frame(5)
    for _ in range(20):
        app.processEvents()
    est, g = v.skeletons_m(5)
    out["offset"] = (est - g).tolist()
    out["offset_dir"] = v._offset_dir().tolist()
    img = v.gl.grabFramebuffer()
    conv = img.convertToFormat(img.Format.Format_RGB888)
    arr = np.array(conv.constBits()).reshape(conv.height(), conv.bytesPerLine())[:, : conv.width() * 3].reshape(conv.height(), conv.width(), 3)
    def near(c):
        return int((np.abs(arr.astype(int) - np.array(c)).sum(axis=2) < 60).sum())
    out["right_px"], out["left_px"], out["gt_px"] = near(style.RIGHT), near(style.LEFT), near(style.GT)
    az0 = v.gl.opts["azimuth"]
    win.act_rotate.trigger()
    t0 = time.time()  # the view turns on a timer; a loaded machine only makes it slower
    while time.time() - t0 < 15 and abs(v.gl.opts["azimuth"] - az0) <= 3:
        app.processEvents()
        time.sleep(0.01)
    out["rotated_deg"] = v.gl.opts["azimuth"] - az0
    out["checked"] = v.auto_rotate.isChecked()
    win.close()
    print("RESULT" + json.dumps(out))
''')


def test_3d_view_draws_skeletons_on_a_real_display(make_session, tmp_path):
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs an X server (run the suite under xvfb-run)")
    folder = make_session(n_frames=10)
    script = tmp_path / "gl_check.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", KNEEVIEW_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, str(script), str(folder), str(tmp_path / "s.ini")], capture_output=True,
                          text=True, timeout=120, env=env, cwd=Path(__file__).resolve().parents[2])
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT")), None)
    assert proc.returncode == 0 and line, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = json.loads(line[6:])
    assert out["available"]
    # the estimate stands beside the ground truth, the same shape, offset sideways as seen from the camera
    import numpy as np

    offset = np.asarray(out["offset"])
    expected = 0.9 * np.asarray(out["offset_dir"])
    np.testing.assert_allclose(offset, np.broadcast_to(expected, offset.shape), atol=1e-6)
    # both skeletons are on screen, left and right in their colours
    assert out["right_px"] > 30 and out["left_px"] > 30 and out["gt_px"] > 30, out
    assert out["checked"] and abs(out["rotated_deg"]) > 3


MODEL_SCRIPT = textwrap.dedent(r'''
    import json, sys, time
    from PySide6 import QtCore
    from kneeview.gui.app import make_app, preload_model_runtime
    app = make_app(["gl-model-test"])
    preload_model_runtime()  # what kneeview.gui.app.run does before any OpenGL context
    from kneeview.gui.main_window import MainWindow
    settings = QtCore.QSettings(sys.argv[3], QtCore.QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, checkpoint=sys.argv[2], device="cpu")
    win.show()
    app.processEvents()
    assert win.view3d.available
    win.open_path(sys.argv[1])
    t0 = time.time()
    while win.is_running() and time.time() - t0 < 120:
        app.processEvents()
        time.sleep(0.01)
    print("RESULT" + json.dumps({"done": int(win.state.pose_done.sum()), "frames": win.state.n_frames,
                                 "model": win.model_label.text()}))
    win.close()
''')


def test_the_model_runs_in_the_app_with_opengl(make_session, tmp_path):
    """torch imported after a Mesa OpenGL context crashes; the app imports it first."""
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs an X server (run the suite under xvfb-run)")
    torch = pytest.importorskip("torch")
    from kneeview.pose import build_model, save_checkpoint

    torch.manual_seed(0)
    weights, _ = save_checkpoint(build_model(pretrained_backbone=False), tmp_path / "random.safetensors")
    folder = make_session(n_frames=4)
    script = tmp_path / "gl_model.py"
    script.write_text(MODEL_SCRIPT)
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", KNEEVIEW_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, str(script), str(folder), str(weights), str(tmp_path / "s.ini")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=Path(__file__).resolve().parents[2])
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT")), None)
    assert proc.returncode == 0 and line, f"rc={proc.returncode}\n" + proc.stdout[-2000:] + proc.stderr[-3000:]
    out = json.loads(line[6:])
    assert out["done"] == out["frames"] == 4
    assert "kneeview-pose" in out["model"] and "cpu" in out["model"]
