"""Scrubbing latency: median time from a seek request to the painted frame, 1080p MJPG.

Writes a 1920x1080 MJPG session (calibration + video) in a temporary folder, opens it in
the main window with an estimate for every frame (so the skeleton overlay is drawn too),
then seeks to random frames and measures, per seek, the time from ``request_frame`` (what
the slider and the keys call) until the window's repaint that shows the new frame has
finished: the video, and everything that changed with the frame (the plots' cursor, the
captions), painted and flushed, as the user sees it. (Stopping the clock when the video's
image item paints, as this benchmark first did, leaves out the rest of that same repaint;
that figure is still reported as ``median_ms_uncached_to_video_item_paint``.)

    .venv/bin/python benchmarks/bench_scrub.py [--frames 240] [--seeks 150] [--json]

Target: median <= 30 ms for frames not in the reader's cache. On a loaded machine the wall
clock mostly measures the scheduler; ``median_cpu_ms_uncached`` (the process's CPU time per
seek, every thread) measures the work itself. Runs on Qt's offscreen
platform unless QT_QPA_PLATFORM says otherwise (e.g. under xvfb-run with xcb).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def write_session(folder: Path, n_frames: int, fps: float = 50.0) -> Path:
    from kneeview.camera import Camera, ViconRadial, look_at_rotation, write_xcp

    W, H = 1920, 1080
    K = np.array([[1400.0, 0, W / 2], [0, 1400.0, H / 2], [0, 0, 1]])
    cam = Camera("2107395", "Vue 2107395", K, look_at_rotation((300.0, -4000.0, 1100.0), (0, 0, 900.0)),
                 np.array([300.0, -4000.0, 1100.0]), (W, H), ViconRadial((W / 2, H / 2), (W / 2 + 2, H / 2 - 3), (-4e-8, 0.0, 0.0)), kind="video", camera_type="Vue")
    write_xcp([cam], folder / "Bench.xcp")
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(folder / "Trial01.2107395.avi"), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    base = cv2.resize(rng.integers(0, 255, (H // 16, W // 16, 3), dtype=np.uint8), (W, H), interpolation=cv2.INTER_CUBIC)
    for i in range(n_frames):
        f = np.roll(base, 7 * i, axis=1).copy()
        cv2.putText(f, f"frame {i}", (80, 200), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 8)
        writer.write(f)
    writer.release()
    return folder


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--seeks", type=int, default=150)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--exact", action="store_true", help="display FFmpeg's exact frames only (KNEEVIEW_EXACT_DISPLAY=1)")
    ap.add_argument("--during-inference", action="store_true",
                    help="seek while the worker runs a network (untrained weights, the shipped architecture) on the video")
    args = ap.parse_args(argv)
    if args.exact:
        os.environ["KNEEVIEW_EXACT_DISPLAY"] = "1"

    from PySide6 import QtCore, QtWidgets

    from kneeview.gui.app import make_app
    from kneeview.gui.main_window import MainWindow
    from kneeview.sequence import PoseSequence

    app = make_app(["bench"])
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_session(Path(tmp), args.frames)
        settings = QtCore.QSettings(str(Path(tmp) / "s.ini"), QtCore.QSettings.Format.IniFormat)
        win = MainWindow(settings=settings, auto_run=False)
        win.resize(1600, 1000)
        win.show()
        if not win.open_path(folder):
            return 1
        st = win.state
        n = st.n_frames
        seq = PoseSequence.empty(n, st.fps)
        rng = np.random.default_rng(1)
        seq.keypoints_px[:] = np.array([[900, 500], [1020, 500], [890, 750], [1030, 750], [880, 1000], [1040, 1000]]) + rng.normal(0, 5, (n, 6, 2))
        seq.joints_cam_m[:] = rng.normal(0, 0.3, (n, 6, 3))
        seq.confidence[:] = 0.9
        seq.score[:] = 0.99
        run = None
        if args.during_inference:
            import torch

            from kneeview.pose import Estimator, build_model

            torch.manual_seed(0)
            est = Estimator(build_model(pretrained_backbone=False), {"name": "untrained (benchmark)"}, torch.device("cpu"))
            os.environ["KNEEVIEW_CACHE_DIR"] = str(Path(tmp) / "cache")
            win._estimator = est
            win.run_model(use_cache=False)
            run = win.run
            t_wait = time.perf_counter()
            while st.pose_done.sum() < 2 and time.perf_counter() - t_wait < 120:
                app.processEvents()
        else:
            st.set_pose(seq)
        for _ in range(10):
            app.processEvents()

        painted = []  # perf_counter() of the video item's paints that showed the frame asked for
        wanted = [-1]

        def on_paint():
            if win.video.shown_frame == wanted[0]:
                painted.append(time.perf_counter())

        win.video.image.sigPainted.connect(on_paint)
        to_item: list[float] = []  # request -> the video item's paint (the figure before the window is done)
        cpu: list[float] = []  # CPU time of the process (every thread) per seek: the work, whatever the load

        def seek(frame: int, ask=None) -> float:
            """Request -> the window's repaint that shows ``frame`` has finished.

            The video item paints in the middle of the window's repaint: the other widgets
            that changed with the frame (plots' cursor, labels) are painted in the same pass
            and the backing store is flushed after it, so the user sees the frame only once
            the ``processEvents`` call that painted it returns. The clock stops there.
            ``ask`` makes the request (default: ``request_frame(frame)``, the slider's)."""
            painted.clear()
            wanted[0] = frame
            c0 = time.process_time()
            t0 = time.perf_counter()
            (ask or st.request_frame)(frame)
            deadline = t0 + 2.0
            while not painted and time.perf_counter() < deadline:
                app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents)
            t1 = time.perf_counter()
            cpu.append((time.process_time() - c0) * 1000.0)
            if not painted:
                to_item.append(float("nan"))
                return float("nan")
            to_item.append((painted[0] - t0) * 1000.0)
            return (t1 - t0) * 1000.0

        # cold: distinct random frames, evicted from the reader's LRU cache first
        frames = rng.permutation(np.arange(1, n))[: args.seeks]
        st.reader._cache.clear()
        st.frames.clear_cache()
        cold = [seek(int(f)) for f in frames]
        cold_to_item, cold_cpu = list(to_item), list(cpu)
        # warm: the same frames again, within the cache
        recent = [int(f) for f in frames[-20:]]
        warm = [seek(f) for f in recent * 3]
        # stepping one frame forward (the arrow key: ``step``) from uncached positions
        st.reader._cache.clear()
        st.frames.clear_cache()
        start = int(rng.integers(0, n - 40))
        st.set_frame(start)
        step = [seek(start + k, lambda f: st.step(1)) for k in range(1, 31)]
        st.reader._cache.clear()
        st.frames.clear_cache()
        st.set_frame(start + 31)
        back = [seek(start + 31 - k, lambda f: st.step(-1)) for k in range(1, 31)]
        fast = bool(st.frames.raw_path)
        inferred = int(st.pose_done.sum()) if run is not None else None
        win.close()
    out = {
        "platform": QtWidgets.QApplication.platformName(),
        "fast_display_decoding": fast,
        "video": f"1920x1080 MJPG, {args.frames} frames",
        "seeks": len(cold),
        "median_ms_uncached": round(float(np.nanmedian(cold)), 2),
        "p90_ms_uncached": round(float(np.nanpercentile(cold, 90)), 2),
        "median_ms_uncached_to_video_item_paint": round(float(np.nanmedian(cold_to_item)), 2),
        "median_cpu_ms_uncached": round(float(np.median(cold_cpu)), 2),
        "failed_seeks": int(np.sum(~np.isfinite(cold))),
        "median_ms_cached": round(float(np.nanmedian(warm)), 2),
        "median_ms_next_frame": round(float(np.nanmedian(step)), 2),
        "median_ms_previous_frame": round(float(np.nanmedian(back)), 2),
        "target_ms": 30.0,
    }
    out["meets_target"] = out["median_ms_uncached"] <= 30.0
    if inferred is not None:
        out["during_inference"] = True
        out["frames_inferred_meanwhile"] = inferred
    if args.json:
        print(json.dumps(out))
    else:
        extra = f", while the model ran ({inferred} frames estimated meanwhile)" if inferred is not None else ""
        print(f"scrub latency ({out['video']}, {out['platform']}{extra}): median {out['median_ms_uncached']} ms "
              f"(p90 {out['p90_ms_uncached']} ms) from a seek request to the repainted window, uncached "
              f"({out['median_ms_uncached_to_video_item_paint']} ms to the video item's paint, "
              f"{out['median_cpu_ms_uncached']} ms of CPU); "
              f"{out['median_ms_cached']} ms cached; {out['median_ms_next_frame']} ms one frame forward, "
              f"{out['median_ms_previous_frame']} ms one frame back; "
              f"target <= 30 ms: {'met' if out['meets_target'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
