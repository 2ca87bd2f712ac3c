"""What the native-resolution keypoint refiner costs, against the same network without it, in one run.

Runs the bundled model (or ``--checkpoint``, which must carry a refiner) over frames of a video
(the bundled demo by default) twice through ``Estimator.predict``: once as shipped, once with the
refiner detached (the network's own keypoints), alternating, and prints frames/s of each, the
ratio and the refiner's milliseconds per frame. CPU unless ``--device``.

    .venv/bin/python benchmarks/bench_refiner.py [--video VIDEO] [--frames 40] [--device cpu|cuda] [--json]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint")
    ap.add_argument("--video", help="a video (default: the bundled demo)")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)

    import torch

    from kneeview.bundled import demo_path
    from kneeview.io.recording import open_recording
    from kneeview.io.video import VideoReader
    from kneeview.pose import load_estimator

    est = load_estimator(a.checkpoint, device=a.device)
    refiner = est.model.refiner
    if refiner is None:
        raise SystemExit("the checkpoint carries no refiner")
    video = a.video or open_recording(demo_path()).view.video_path
    with VideoReader(video) as reader:
        idx = np.linspace(0, len(reader) - 1, min(a.frames, len(reader))).round().astype(int)
        frames = [np.asarray(reader[int(i)]) for i in idx]
    est.predict(frames[:2])  # warm-up
    times = {"with": [], "without": []}
    for f in frames:
        for name in ("without", "with"):
            est.model.refiner = refiner if name == "with" else None
            if est.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            est.predict([f])
            if est.device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
    est.model.refiner = refiner
    fps = {k: len(v) / sum(v) for k, v in times.items()}
    out = {"video": str(video), "size": list(frames[0].shape[1::-1]), "frames": len(frames), "device": str(est.device),
           "threads": torch.get_num_threads(), "fps_network_only": round(fps["without"], 2),
           "fps_with_refiner": round(fps["with"], 2), "ratio": round(fps["with"] / fps["without"], 3),
           "refiner_ms_per_frame": round(1000 * (np.median(times["with"]) - np.median(times["without"])), 1)}
    if a.json:
        print(json.dumps(out))
    else:
        print(f"{out['video']} {out['size'][0]}x{out['size'][1]}, {out['frames']} frames, {out['device']} "
              f"({out['threads']} threads): network only {out['fps_network_only']} frames/s, with the refiner "
              f"{out['fps_with_refiner']} frames/s (ratio {out['ratio']}; refiner {out['refiner_ms_per_frame']} ms a frame)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
