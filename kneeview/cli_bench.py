"""``kneeview bench inference``: frames per second of the pose network, with a baseline.

Measures, in one run, the bundled model (or ``--checkpoint``) at batch 1 on the CPU,
batched throughput on the GPU when CUDA is present, and torchvision's stock
``keypointrcnn_resnet50_fpn`` at its default settings with random weights as the
baseline, and prints the ratio (:mod:`kneeview.pose.bench`). Frames are the bundled demo
video's when it exists, otherwise drawn frames of the same size (a figure on a floor) so
that the detector has something person-like to look at.
"""
from __future__ import annotations

import json

import numpy as np

from .cli_args import image_size, positive_int


def register(subparsers) -> None:
    bench = subparsers.add_parser("bench", help="measure performance")
    sub = bench.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    p = sub.add_parser("inference", help="frames per second of the pose network (CPU batch 1, GPU batched) vs torchvision's Keypoint R-CNN")
    p.add_argument("--checkpoint", help="checkpoint to measure (default: the bundled model)")
    p.add_argument("--random-init", action="store_true", help="measure the default architecture with random weights (no checkpoint needed)")
    p.add_argument("--frames", type=positive_int, default=20, help="frames timed for the KneeView model (default 20)")
    p.add_argument("--baseline-frames", type=positive_int, default=3, help="frames timed for the baseline (default 3)")
    p.add_argument("--no-baseline", action="store_true", help="skip torchvision's Keypoint R-CNN")
    p.add_argument("--size", type=image_size, default="1920x1080", help="frame size WxH when no demo video exists (default 1920x1080)")
    p.add_argument("--gpu-batch", type=positive_int, default=16, help="batch size for the GPU throughput (default 16)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=_cmd_bench_inference)


def _frames(n: int, size: tuple[int, int]) -> list[np.ndarray]:
    try:
        from .bundled import demo_path
        from .io.recording import find_recordings
        from .io.video import VideoReader

        videos = find_recordings(demo_path()) if demo_path().is_dir() else []
        if videos:
            with VideoReader(videos[0], cache_mb=1) as reader:
                frames = [f.copy() for _, f in zip(range(n), reader)]
            if frames:
                return [frames[i % len(frames)] for i in range(n)]
    except Exception:  # a broken demo must not stop a benchmark
        pass
    import cv2

    W, H = size
    out = []
    for i in range(n):
        img = np.full((H, W, 3), 90, np.uint8)
        img[int(H * 0.7):] = 60
        cx, top, h = W // 2 + 3 * i, int(H * 0.15), int(H * 0.7)
        cv2.ellipse(img, (cx, top + h // 10), (h // 16, h // 12), 0, 0, 360, (150, 170, 200), -1)
        cv2.rectangle(img, (cx - h // 8, top + h // 6), (cx + h // 8, top + h // 2), (40, 40, 160), -1)
        for dx in (-h // 14, h // 14):
            cv2.line(img, (cx + dx, top + h // 2), (cx + dx, top + h), (50, 50, 50), max(2, h // 25))
        out.append(img)
    return out


def _cmd_bench_inference(args) -> int:
    from .pose.bench import bench_inference

    n, n_base, gpu_batch = args.frames, args.baseline_frames, args.gpu_batch
    imgs = _frames(max(n, n_base, gpu_batch * 3), args.size)
    res = bench_inference(imgs, checkpoint=args.checkpoint, random_init=args.random_init, frames=n,
                          baseline_frames=n_base, baseline=not args.no_baseline, gpu_batch=gpu_batch)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"model:     {res['model']} (framework {res['framework']}, {res['backbone']}, short side {res['input_min_size']} px)")
    print(f"frames:    {res['frame_size'][0]}x{res['frame_size'][1]}, CPU {res['cpu']}, {res['torch_threads']} torch threads")
    print(f"CPU, batch 1:            {res['cpu_batch1_fps']:8.2f} frames/s   (backbone in {res['cpu_runtime']})")
    if "cpu_batch1_fps_torch" in res:
        print(f"CPU, batch 1, all torch: {res['cpu_batch1_fps_torch']:8.2f} frames/s   -> {res['cpu_runtime']}"
              f" is {res['runtime_speedup']:.2f}x faster")
    if "gpu_batched_fps" in res:
        print(f"GPU {res['gpu']}, batch {res['gpu_batch']}: {res['gpu_batched_fps']:8.2f} frames/s")
    if "baseline_cpu_batch1_fps" in res:
        print(f"baseline ({res['baseline']}):")
        print(f"  CPU, batch 1:          {res['baseline_cpu_batch1_fps']:8.2f} frames/s   -> KneeView is {res['cpu_speedup']:.1f}x faster")
        if "baseline_gpu_batched_fps" in res:
            print(f"  GPU, batch {res['gpu_batch']}:         {res['baseline_gpu_batched_fps']:8.2f} frames/s   -> KneeView is {res['gpu_speedup']:.1f}x faster")
    return 0
