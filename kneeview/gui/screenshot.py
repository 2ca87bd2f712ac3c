"""Screenshots of the app on a recording, for the documentation and for looking at changes.

    xvfb-run -a -s "-screen 0 1920x1200x24" python -m kneeview.gui.screenshot RECORDING OUT_DIR [--frame N] [--view NAME] [--run-model]

``--view`` shows one view of a multi-view recording (its video stem, e.g. ``cam02``, or
its camera's device id); with ``--run-model`` the model runs on that view. Writes ``app.png`` (the window) and ``video.png``, ``3d.png``, ``plots.png`` (each view).
The settings used are temporary: the user's are not touched.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def save_screenshots(window, out_dir) -> dict[str, Path]:
    from ..atomic import atomic_write_bytes
    from PySide6 import QtCore

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    window.video.show_full_resolution()
    shots = {"app": window.grab(), "video": window.video.grab(), "3d": window.view3d.grab(), "plots": window.plots.grab()}
    written = {}
    for name, pixmap in shots.items():
        buf = QtCore.QBuffer()
        buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
        pixmap.save(buf, "PNG")
        written[name] = atomic_write_bytes(out_dir / f"{name}.png", bytes(buf.data()))
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Screenshots of KneeView on a recording")
    ap.add_argument("recording")
    ap.add_argument("out_dir")
    ap.add_argument("--frame", type=int, default=None, help="frame to show (default: the first event, else 0)")
    ap.add_argument("--view", help="view of a multi-view recording: its video stem (cam02) or camera device id")
    ap.add_argument("--run-model", action="store_true", help="run (or load the cached) model estimate first")
    ap.add_argument("--size", default="1600x1000")
    args = ap.parse_args(argv)

    from PySide6 import QtCore

    from ..errors import KneeViewInputError
    from .app import make_app
    from .main_window import MainWindow
    from .view_selector import find_view

    app = make_app(["kneeview-screenshot"])
    if args.run_model:
        from .app import preload_model_runtime

        preload_model_runtime()  # before any OpenGL context (see there)
    with tempfile.TemporaryDirectory() as tmp:
        settings = QtCore.QSettings(str(Path(tmp) / "settings.ini"), QtCore.QSettings.Format.IniFormat)
        # the model runs once the view is chosen, not on the first view
        win = MainWindow(settings=settings, auto_run=False)
        w, h = (int(v) for v in args.size.split("x"))
        win.resize(w, h)
        win.show()
        try:
            if not win.open_path(args.recording):
                return 2
            if args.view is not None:
                try:
                    win.set_view(find_view(win.state.recording, args.view))
                except KneeViewInputError as exc:
                    print(f"kneeview screenshot: {exc}", file=sys.stderr)
                    return 2
            if args.run_model:
                win.run_model()
            t0 = time.time()
            while win.is_running() and time.time() - t0 < 900:
                app.processEvents()
                time.sleep(0.02)
            events = win.state.event_frames()
            win.state.set_frame(args.frame if args.frame is not None else (events[0] if events else 0))
            t0 = time.time()
            while time.time() - t0 < 1.0:
                app.processEvents()
                time.sleep(0.02)
            written = save_screenshots(win, args.out_dir)
        finally:
            win.close()
    for path in written.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
