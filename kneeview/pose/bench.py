"""Frames per second of the pose network, and of torchvision's stock Keypoint R-CNN as the
baseline, timed in the same run (``kneeview bench inference`` supplies the frames).
"""
from __future__ import annotations

import platform
import time

import numpy as np


def _time(fn, frames, batch: int, sync=None, warmup: int = 2) -> float:
    """Frames per second from the median batch time (a shared or virtual CPU stalls now
    and then; the median is what a steady run sees, the mean would count the stalls)."""
    batches = [frames[i:i + batch] for i in range(0, len(frames), batch)]
    for b in batches[:warmup]:
        fn(b)
    if sync:
        sync()
    per_frame = []
    for b in batches:
        t0 = time.perf_counter()
        fn(b)
        if sync:
            sync()
        per_frame.append((time.perf_counter() - t0) / len(b))
    return 1.0 / float(np.median(per_frame))


def bench_inference(imgs: list[np.ndarray], checkpoint=None, random_init: bool = False, frames: int = 20,
                    baseline_frames: int = 3, baseline: bool = True, gpu_batch: int = 16) -> dict:
    """The figures of ``kneeview bench inference`` as a dict, on ``imgs`` (BGR frames, at least
    ``max(frames, baseline_frames, 3 * gpu_batch)`` of them)."""
    import torch

    from .estimator import Estimator, load_estimator

    if random_init:
        from .model import build_model

        model = build_model()
        est = Estimator(model, {"weights": {"sha256": None}}, torch.device("cpu"))
        what = "default architecture, random weights"
    else:
        est = load_estimator(checkpoint, device="cpu")
        what = str(est.card.get("_weights_path", checkpoint))
    H, W = imgs[0].shape[:2]
    result: dict = {
        "model": what,
        "framework": est.config.framework,
        "backbone": est.config.backbone,
        "input_min_size": est.config.min_size,
        "frame_size": [W, H],
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "cpu_runtime": est.runtime,
    }
    result["cpu_batch1_fps"] = _time(lambda b: est.predict(b[0]), imgs[:frames], 1)
    if est.runtime != "torch":  # the same network with its backbone in torch, in the same run
        plain = Estimator(est.model, est.card, torch.device("cpu"), runtime="torch")
        result["cpu_batch1_fps_torch"] = _time(lambda b: plain.predict(b[0]), imgs[:frames], 1)
        result["runtime_speedup"] = result["cpu_batch1_fps"] / result["cpu_batch1_fps_torch"]
    cuda = torch.cuda.is_available()
    if cuda:
        gpu = Estimator(est.model, est.card, torch.device("cuda"))
        result["gpu"] = torch.cuda.get_device_name(0)
        result["gpu_batch"] = gpu_batch
        result["gpu_batched_fps"] = _time(gpu.predict, imgs[: gpu_batch * 3], gpu_batch, sync=torch.cuda.synchronize, warmup=1)
    if baseline:
        from torchvision.models.detection import keypointrcnn_resnet50_fpn

        base = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None).eval()

        def run_base(batch, device="cpu"):
            with torch.inference_mode():
                base([torch.from_numpy(np.ascontiguousarray(f[:, :, ::-1])).permute(2, 0, 1).float().div(255).to(device) for f in batch])

        result["baseline"] = "torchvision keypointrcnn_resnet50_fpn (default settings, random weights)"
        result["baseline_cpu_batch1_fps"] = _time(lambda b: run_base(b), imgs[:baseline_frames], 1, warmup=1)
        result["cpu_speedup"] = result["cpu_batch1_fps"] / result["baseline_cpu_batch1_fps"]
        if cuda:
            base.to("cuda")
            result["baseline_gpu_batched_fps"] = _time(lambda b: run_base(b, "cuda"), imgs[: gpu_batch * 3], gpu_batch,
                                                       sync=torch.cuda.synchronize, warmup=1)
            result["gpu_speedup"] = result["gpu_batched_fps"] / result["baseline_gpu_batched_fps"]
    return result
