"""The app's inference throughput against the estimator's own loop, in one run.

Opens the bundled demo in the main window with the bundled model (the estimate cache is
bypassed) and times a whole model run through the app — the worker thread, the batches
arriving in the views, the repaints — with the 3D view shown and with it hidden; in the
same process, the same estimator runs over the same video through
:func:`kneeview.pose.interface.run` (what ``kneeview export --source model`` does) as
the baseline. Prints frames/s of each and the ratio app / baseline (target >= 0.8).

    xvfb-run -a .venv/bin/python benchmarks/bench_app_inference.py [--json] [--repeats 1]

Run under Xvfb for the 3D (OpenGL) view to paint as it does on a desktop; on Qt's
offscreen platform the GL view is not drawn.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time


def _app_run(win, qt_app, timeout_s: float = 600.0) -> tuple[float, float]:
    """One model run of the window's recording with Qt's own event loop running the window
    (as in the app): (frames/s from the click on Run to the last frame's estimate shown,
    seconds from there to the finished analysis — the calibrated reconstruction and its
    uncertainty, in the worker thread)."""
    from PySide6 import QtCore

    loop = QtCore.QEventLoop()
    last_batch, done = [], []
    n = win.state.n_frames
    QtCore.QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    t0 = time.perf_counter()
    win.run_model(use_cache=False)
    run = win.runner.run
    run.progress.connect(lambda d, total, *_: last_batch.append(time.perf_counter()) if d >= n and not last_batch else None)
    run.finished.connect(lambda *a: (done.append(time.perf_counter()), loop.quit()))
    loop.exec()
    if not done or not last_batch:
        raise RuntimeError("the app's model run did not finish")
    return n / (last_batch[0] - t0), done[0] - last_batch[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each kind (the median is reported)")
    args = ap.parse_args(argv)

    import numpy as np
    from PySide6 import QtCore, QtWidgets

    from kneeview.bundled import demo_path
    from kneeview.gui.main_window import MainWindow
    from kneeview.io.recording import find_recordings
    from kneeview.io.video import VideoReader
    from kneeview.pose import load_estimator
    from kneeview.pose.interface import run as run_estimator

    qt_app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    estimator = load_estimator(device="cpu")
    video = find_recordings(demo_path())[0]

    def baseline() -> float:
        with VideoReader(video, cache_mb=16) as reader:
            t0 = time.perf_counter()
            seq = run_estimator(estimator, reader)
            return len(seq) / (time.perf_counter() - t0)

    with tempfile.TemporaryDirectory() as tmp:
        settings = QtCore.QSettings(f"{tmp}/kneeview.ini", QtCore.QSettings.Format.IniFormat)
        win = MainWindow(settings=settings, estimator_factory=lambda *a, **k: estimator, auto_run=False)
        win.resize(1400, 900)
        win.show()
        win.open_path(demo_path())
        qt_app.processEvents()
        result = {"video": str(video), "frames": win.state.n_frames, "platform": qt_app.platformName(),
                  "runtime": estimator.runtime}
        base, shown, hidden, analysis = [], [], [], []
        for _ in range(max(1, args.repeats)):
            base.append(baseline())
            win.docks["view3d"].show()
            fps, after = _app_run(win, qt_app)
            shown.append(fps)
            analysis.append(after)
            win.docks["view3d"].hide()
            fps, after = _app_run(win, qt_app)
            hidden.append(fps)
            analysis.append(after)
        win.close()
    result.update({
        "baseline_fps": float(np.median(base)),
        "app_fps_3d_shown": float(np.median(shown)),
        "app_fps_3d_hidden": float(np.median(hidden)),
        "analysis_after_last_frame_s": float(np.median(analysis)),
    })
    result["ratio_3d_shown"] = result["app_fps_3d_shown"] / result["baseline_fps"]
    result["ratio_3d_hidden"] = result["app_fps_3d_hidden"] / result["baseline_fps"]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['frames']} frames of {video.name} ({result['platform']}, trunk in {result['runtime']})")
        print(f"estimator loop (baseline): {result['baseline_fps']:6.1f} frames/s")
        print(f"app, 3D view shown:        {result['app_fps_3d_shown']:6.1f} frames/s   ({result['ratio_3d_shown']:.2f}x)")
        print(f"app, 3D view hidden:       {result['app_fps_3d_hidden']:6.1f} frames/s   ({result['ratio_3d_hidden']:.2f}x)")
        print(f"then the analysis (reconstruction + uncertainty, worker thread): {result['analysis_after_last_frame_s']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
