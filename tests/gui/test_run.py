"""``kneeview`` / ``kneeview --demo`` / ``kneeview PATH``: the entry point the CLI calls."""
from __future__ import annotations

import sys

import pytest
from PySide6 import QtCore, QtWidgets


@pytest.fixture
def user_settings(tmp_path):
    QtCore.QSettings.setPath(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, str(tmp_path / "config"))
    return tmp_path / "config"


@pytest.fixture
def no_event_loop(monkeypatch):
    """Replace the event loop by a look at the window that ``run`` opened."""
    seen = {}

    def fake_exec(self=None):
        app = QtWidgets.QApplication.instance()
        win = next(w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow" and w.isVisible())
        seen["window"] = win
        seen["hook"] = sys.excepthook
        seen["recording"] = win.state.recording.root if win.state.recording is not None else None
        seen["page"] = win.stack.currentIndex()
        win._stop_run()
        win.close()
        return 0

    monkeypatch.setattr(QtWidgets.QApplication, "exec", fake_exec)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    return seen


def test_run_with_a_path_opens_it(make_session, fake_for, monkeypatch, user_settings, no_event_loop, dialogs):
    from kneeview.cli import main

    folder = make_session(n_frames=6)
    fake = fake_for(folder)
    monkeypatch.setattr("kneeview.session.estimates.load_estimator", lambda path=None, device="auto": fake)
    assert main([str(folder)]) == 0
    win = no_event_loop["window"]
    assert no_event_loop["recording"] == folder and no_event_loop["page"] == 1
    assert win.recent_files()[0] == str(folder)
    assert list(user_settings.rglob("*.ini")), "settings were written to the user (temporary) location"
    assert no_event_loop["hook"] is not sys.__excepthook__
    assert dialogs == []


def test_run_demo_and_empty(make_session, monkeypatch, user_settings, no_event_loop, dialogs):
    from kneeview.gui.app import run

    folder = make_session(name="Demo", n_frames=6)
    monkeypatch.setattr("kneeview.bundled.demo_path", lambda: folder)
    monkeypatch.setattr("kneeview.session.estimates.load_estimator",
                        lambda path=None, device="auto": (_ for _ in ()).throw(RuntimeError("no model in this test")))
    assert run([], demo=True) == 0
    assert no_event_loop["recording"] == folder
    assert run([], demo=False) == 0
    assert no_event_loop["recording"] is None and no_event_loop["page"] == 0  # the empty window with "Open demo"  # the empty window with "Open demo"


def test_no_display_is_a_message_not_an_abort(monkeypatch, capsys):
    from kneeview.gui import app

    monkeypatch.setattr(sys, "platform", "linux")
    for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    assert app.run([], demo=False) == 1
    assert "no display" in capsys.readouterr().err
    monkeypatch.setenv("DISPLAY", ":0")
    assert app.display_problem() is None


def test_the_binding_check_sees_a_leaking_binding(monkeypatch):
    """The probe measures lost references; here a fake emit that steals one from True."""
    import ctypes

    from PySide6 import QtCore

    from kneeview.gui import compat

    assert compat.refcount_bug() is False  # the binding these tests run on is sound
    original = QtCore.SignalInstance.emit
    decref = ctypes.pythonapi.Py_DecRef
    decref.argtypes = [ctypes.py_object]
    incref = ctypes.pythonapi.Py_IncRef
    incref.argtypes = [ctypes.py_object]
    for _ in range(8):
        incref(True)  # what the fake takes below, given in advance

    def leaky_emit(self, *args):
        result = original(self, *args)
        decref(True)
        return result

    monkeypatch.setattr(QtCore.SignalInstance, "emit", leaky_emit)
    before = sys.getrefcount(True)
    assert compat.refcount_bug() is True
    assert sys.getrefcount(True) >= before  # the probe gave back what it took
    problem = compat.binding_problem()
    assert problem and "PySide6" in problem and "<6.12" in problem
