"""Start the desktop application: ``kneeview``, ``kneeview --demo``, ``kneeview PATH``."""
from __future__ import annotations

import logging
import sys
import traceback

log = logging.getLogger("kneeview.gui")

_showing_error = False


def install_excepthook(parent_getter=lambda: None):
    """Log unexpected exceptions and show them in a dialog instead of dying."""
    from PySide6 import QtWidgets

    def hook(exc_type, exc, tb):
        global _showing_error
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("unexpected error:\n%s", text)
        from ..errors import KneeViewInputError

        if _showing_error or QtWidgets.QApplication.instance() is None:
            return
        _showing_error = True
        try:
            if isinstance(exc, KneeViewInputError):
                QtWidgets.QMessageBox.critical(parent_getter(), "KneeView", str(exc))
            else:
                box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Critical, "KneeView: unexpected error",
                                            f"Something went wrong: {exc_type.__name__}: {exc}\n\n"
                                            "KneeView keeps running; the details are in the log.", parent=parent_getter())
                box.setDetailedText(text)
                box.exec()
        finally:
            _showing_error = False

    sys.excepthook = hook
    return hook


def make_app(argv=None):
    from PySide6 import QtWidgets
    import pyqtgraph as pg

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(list(argv or sys.argv[:1]))
    app.setApplicationName("KneeView")
    app.setOrganizationName("KneeView")
    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    import cv2

    # The GUI's OpenCV calls (a frame's colour conversion, the worker's resize) take a
    # millisecond or less: a pool of threads gains nothing there, and with the cores busy
    # (the model running) handing work to it and waiting for it costs the GUI thread more
    # than the conversion itself (scrub benchmark: 35 ms of CPU per seek instead of 18).
    cv2.setNumThreads(1)
    return app


def preload_model_runtime() -> bool:
    """Import torch and torchvision before any OpenGL context exists.

    Importing them later crashes the process (SIGSEGV in triton's bundled LLVM) once a
    Mesa OpenGL context has loaded Mesa's LLVM: software rendering (llvmpipe, Xvfb, VMs,
    remote desktops) and AMD's radeonsi. Importing first is safe. Returns whether torch
    is available.
    """
    try:
        import torch  # noqa: F401
        import torchvision.ops  # noqa: F401  (pulls torch._dynamo, which probes triton)
    except Exception as exc:  # no torch: the viewer works, the model does not
        log.info("torch is not available (%s): the model cannot run", exc)
        return False
    return True


def _splash(app):
    from PySide6 import QtCore, QtGui, QtWidgets

    pix = QtGui.QPixmap(460, 120)
    pix.fill(QtGui.QColor(20, 20, 24))
    painter = QtGui.QPainter(pix)
    painter.setPen(QtGui.QColor(235, 235, 235))
    font = painter.font()
    font.setPointSize(20)
    painter.setFont(font)
    painter.drawText(QtCore.QRect(0, 18, 460, 50), QtCore.Qt.AlignmentFlag.AlignCenter, "KneeView")
    font.setPointSize(10)
    painter.setFont(font)
    painter.drawText(QtCore.QRect(0, 70, 460, 30), QtCore.Qt.AlignmentFlag.AlignCenter, "loading the pose model library…")
    painter.end()
    splash = QtWidgets.QSplashScreen(pix)
    splash.show()
    app.processEvents()
    return splash


def display_problem() -> str | None:
    """Why no window can be shown (Linux without a display), or None. Qt would abort."""
    import os

    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("kneeview: no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set).\n"
            "Run it in a desktop session, over `ssh -X`, or under `xvfb-run kneeview ...`; "
            "`kneeview info PATH` and `kneeview export ...` work without a display.")


def run(paths: list[str], demo: bool = False) -> int:
    """Open the main window (with a recording, the demo, or empty) and run the event loop."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    from .compat import binding_problem

    problem = binding_problem()
    if problem:
        print(f"kneeview: {problem}", file=sys.stderr)
        return 1
    app = make_app()
    splash = _splash(app)
    preload_model_runtime()  # before the 3D view creates an OpenGL context
    from .main_window import MainWindow

    window = MainWindow()
    splash.finish(window)
    install_excepthook(lambda: window)
    window.show()
    if demo:
        window.open_demo()
    for p in paths[:1]:
        window.open_path(p)
    if len(paths) > 1:
        window.statusBar().showMessage(f"opened {paths[0]}; KneeView shows one recording at a time", 10000)
    return int(app.exec())
