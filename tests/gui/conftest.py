"""GUI fixtures: a temporary settings file, a fake estimator, a main window."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from kneeview import joints as J  # noqa: E402


class FakeEstimator:
    """Answers with the ground truth projected through the camera (so results are known).

    ``predict`` receives frames in video order (the worker streams them), so it keeps a
    cursor. Joint 3 (left knee) gets a low confidence on odd frames. ``delay_s`` per batch
    makes runs long enough to cancel; with ``gate`` (a threading.Event) a run holds before
    frame ``hold_at`` until the gate is set.
    """

    card = {"name": "fake-gt-projector", "version": "0.0", "framework": "test"}

    def __init__(self, keypoints_px, joints_cam_m, delay_s=0.0, batch_size=2, name="fake", gate=None, hold_at=0):
        from kneeview.pose.card import ModelIdentity

        self.identity = ModelIdentity(name=name, sha256="f" * 64, device="cpu", card=self.card)
        self.keypoints_px = np.asarray(keypoints_px, float)
        self.joints_cam_m = np.asarray(joints_cam_m, float)
        self.delay_s = delay_s
        self.default_batch_size = batch_size
        self.gate = gate
        self.hold_at = hold_at
        self.calls = 0
        self.frames_seen = 0
        self.thread_ids: set[int] = set()

    def confidence(self, i: int) -> np.ndarray:
        c = np.full(J.N_JOINTS, 0.9)
        if i % 2:
            c[3] = 0.2
        return c

    def predict(self, frames):
        self.calls += 1
        self.thread_ids.add(threading.get_ident())
        if self.gate is not None and self.frames_seen >= self.hold_at:
            self.gate.wait(10)
        if self.delay_s:
            time.sleep(self.delay_s)
        out = []
        for _ in frames:
            i = self.frames_seen
            self.frames_seen += 1
            out.append({"score": 0.95, "keypoints_px": self.keypoints_px[i], "joints_cam_m": self.joints_cam_m[i],
                        "confidence": self.confidence(i)})
        return out


def truth_for(folder):
    """(keypoints_px, joints_cam_m) of the ground truth of a session folder, per video frame."""
    from kneeview.io.recording import open_recording

    rec = open_recording(folder)
    gt = rec.ground_truth_frames()
    cam = rec.view.camera
    kp = cam.project(gt)
    cam_mm = cam.world_to_camera(gt)
    rel = (cam_mm - cam_mm[:, :2].mean(axis=1, keepdims=True)) / 1000.0
    return kp, rel


@pytest.fixture
def settings(tmp_path):
    from PySide6 import QtCore

    s = QtCore.QSettings(str(tmp_path / "settings" / "kneeview.ini"), QtCore.QSettings.Format.IniFormat)
    yield s
    s.sync()


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    cache = tmp_path / "user-cache"
    monkeypatch.setenv("KNEEVIEW_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def dialogs(monkeypatch):
    """Record QMessageBox calls instead of blocking on them."""
    from PySide6 import QtWidgets

    seen: list[tuple[str, str, str]] = []

    def fake(kind):
        def f(parent, title, text, *a, **k):
            seen.append((kind, title, text))
            return QtWidgets.QMessageBox.StandardButton.Ok
        return f

    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QtWidgets.QMessageBox, kind, staticmethod(fake(kind)))
    monkeypatch.setattr(QtWidgets.QMessageBox, "exec", lambda self: seen.append(("exec", self.windowTitle(), self.text())) or 0)
    return seen


@pytest.fixture
def make_window(qtbot, settings, dialogs):
    from kneeview.gui.main_window import MainWindow

    windows = []

    def factory(estimator=None, auto_run=True, **kw):
        factory_fn = (lambda path=None, device="auto": estimator) if estimator is not None else kw.pop("estimator_factory", None)
        win = MainWindow(settings=kw.pop("settings", settings), estimator_factory=factory_fn, auto_run=auto_run, **kw)
        qtbot.addWidget(win)
        win.show()
        windows.append(win)
        return win

    yield factory
    for w in windows:
        w._stop_run()


@pytest.fixture
def wait_done(qtbot):
    def wait(win, timeout=20000):
        qtbot.waitUntil(lambda: not win.is_running() and win.state.pose is not None and bool(win.state.pose_done.all()),
                        timeout=timeout)
    return wait


@pytest.fixture
def fake_for():
    """Factory: a FakeEstimator answering with a session folder's projected ground truth."""
    def make(folder, **kw):
        kp, rel = truth_for(folder)
        return FakeEstimator(kp, rel, **kw)
    return make


@pytest.fixture(scope="session")
def qt_binding_ok():
    from kneeview.gui.compat import binding_problem

    return binding_problem()


@pytest.fixture(autouse=True)
def usable_qt_binding(qt_binding_ok):
    """Fail (not crash the whole run) on a Qt binding that would abort the interpreter."""
    if qt_binding_ok:
        pytest.fail(qt_binding_ok, pytrace=False)


@pytest.fixture(autouse=True)
def collect_qt_garbage(qapp):
    """Delete each test's widgets while the QApplication is alive, not at interpreter exit."""
    yield
    import gc

    from PySide6 import QtCore

    for _ in range(2):
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
        qapp.processEvents()
        gc.collect()
