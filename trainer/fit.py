"""The training loop: one process, or DistributedDataParallel under ``torchrun``.

Run folder (``--run``)::

    split.json            the athlete-grouped split (written once, reused on resume)
    normalisation.json    3D mean/std of the training split
    config.json           the settings of the run
    last.pt               training state for --resume (tensors and plain data only:
                          read back with torch.load(weights_only=True))
    model.safetensors     the exported network + model.json (its card)
    tb/                   TensorBoard logs
"""
from __future__ import annotations

import json
import logging
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from kneeview.atomic import atomic_write_text
from kneeview.errors import KneeViewInputError
from kneeview.pose.checkpoint import save_checkpoint
from kneeview.pose.model import FRAMEWORKS, build_model

from .config import TrainConfig
from .data import (Augment, PoseDataset, collate, collect_samples, load_split, make_split, normalisation_stats,
                   people_samples, people_split, real_samples, real_split, save_split, trial_athletes)

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- distributed
class Dist:
    def __init__(self, device_pref: str = "auto"):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() and device_pref in ("auto", "cuda")
        self.device = torch.device(f"cuda:{self.local_rank}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(self.device)
        self.enabled = self.world > 1
        if self.enabled and not torch.distributed.is_initialized():
            torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def close(self) -> None:
        if self.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


# ----------------------------------------------------------------------------- helpers
def lr_factor(cfg: TrainConfig, it: int, total: int) -> float:
    warm = max(0, min(cfg.warmup_iterations, total // 5))
    if warm and it < warm:
        return 0.01 + 0.99 * it / warm
    if cfg.schedule == "constant":
        return 1.0
    progress = (it - warm) / max(1, total - warm)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model, cfg: TrainConfig, lr: float):
    body = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("backbone.body.")]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("backbone.body.")]
    groups = [g for g in ({"params": body, "lr": lr * cfg.backbone_lr_mult}, {"params": rest, "lr": lr}) if g["params"]]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=cfg.weight_decay)
    raise KneeViewInputError(None, f"optimizer must be adamw or sgd, not {cfg.optimizer!r}", "optimizer")


def _worker_init(worker_id: int) -> None:
    import cv2

    cv2.setNumThreads(1)  # the training process owns the cores; decoding threads would fight it
    info = torch.utils.data.get_worker_info()
    info.dataset._rng = np.random.default_rng(torch.initial_seed() % 2**32)


def stages_of(cfg: TrainConfig) -> list[tuple[str, int, float]]:
    if cfg.framework == "B":
        return [("2d", cfg.iterations, cfg.lr), ("lift", cfg.lift_iterations, cfg.lift_lr)]
    return [("joint", cfg.iterations, cfg.lr)]


def prepare_split(cfg: TrainConfig, run_dir: Path, dist: Dist) -> dict:
    path = run_dir / "split.json"
    if dist.main and not path.is_file():
        if cfg.split_file:
            split = load_split(Path(cfg.split_file))
        else:
            split = make_split(trial_athletes(cfg.data), seed=cfg.split_seed)
        split["data"] = str(Path(cfg.data).resolve())
        save_split(split, path)
    if dist.main and cfg.real_data:
        split = load_split(path)
        have = {Path(e["session"]).resolve() for e in split.get("real", [])}
        new = [real_split(d, cfg.real_segments, cfg.real_test_segments, cfg.real_guard_frames, cfg.real_holdout_views)
               for d in cfg.real_data if Path(d).resolve() not in have]
        if new:  # written once; a resumed run keeps its held-out frames and views
            split["real"] = split.get("real", []) + new
            save_split(split, path)
    if dist.main and cfg.real_2d:
        split = load_split(path)
        have = {Path(e["labels"]).resolve() for e in split.get("real_2d", [])}
        new = [people_split(f, cfg.real_holdout_views) for f in cfg.real_2d if Path(f).resolve() not in have]
        if new:
            split["real_2d"] = split.get("real_2d", []) + new
            save_split(split, path)
    dist.barrier()
    return load_split(path)


def initial_model(cfg: TrainConfig):
    """A fresh network, or the one of ``cfg.init_from`` (float32, its own normalisation)."""
    if not cfg.init_from:
        return build_model(framework=cfg.framework, **cfg.model), None
    from kneeview.bundled import model_path
    from kneeview.pose.checkpoint import load_checkpoint

    source = model_path(required=True) if cfg.init_from == "bundled" else Path(cfg.init_from)
    model, card = load_checkpoint(source, device="cpu")
    if card["framework"] != cfg.framework:
        raise KneeViewInputError(source, f"--init-from is a framework {card['framework']} network, not {cfg.framework}",
                                 "--init-from")
    before = card.get("training", {})
    return model.float(), {"checkpoint": str(source), "sha256": card["weights"].get("sha256"),
                           "iterations": before.get("iterations"), "data": before.get("data"),
                           "train_frames": before.get("train_frames")}


def hardware() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU {platform.machine()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


# ----------------------------------------------------------------------------- fit
def fit(cfg: TrainConfig, resume: bool = False, quiet: bool = False, on_end=None) -> Path:
    """Train ``cfg.framework`` on ``cfg.data``; returns the exported checkpoint path.

    ``on_end(model)`` is called in every process with the trained network (tests use it
    to check that DDP ranks agree).
    """
    dist = Dist(cfg.device)
    try:
        return _fit(cfg, dist, resume, quiet, on_end)
    finally:
        dist.close()


def _fit(cfg: TrainConfig, dist: Dist, resume: bool, quiet: bool, on_end=None) -> Path:
    from torch.nn.parallel import DistributedDataParallel as DDP

    if not cfg.data or not Path(cfg.data).is_dir():
        raise KneeViewInputError(cfg.data or None, "training data folder not found", "--data")
    run_dir = Path(cfg.run_dir)
    if dist.main:
        run_dir.mkdir(parents=True, exist_ok=True)
    dist.barrier()
    torch.manual_seed(cfg.seed + dist.rank)
    split = prepare_split(cfg, run_dir, dist)
    if not split["train"]:
        raise KneeViewInputError(cfg.data, "the training split is empty (too few athletes)")
    train_samples = collect_samples(cfg.data, split["train"], cfg.frames_per_video, cfg.stride, progress=dist.main and not quiet)
    if not train_samples:
        raise KneeViewInputError(cfg.data, "no usable training frames (videos with a calibrated camera and a C3D)")
    n_frames = sum(len(s) for s in train_samples)
    real = [s for entry in split.get("real", []) for s in real_samples(entry, "train")]
    if cfg.real_data and not sum(len(s) for s in real):
        raise KneeViewInputError(cfg.real_data[0], "no usable training frames in the real recordings")
    real_2d = [s for entry in split.get("real_2d", []) for s in people_samples(entry)]
    n_real_2d = sum(len(s) for s in real_2d)
    if cfg.real_2d and not n_real_2d:
        raise KneeViewInputError(cfg.real_2d[0], "no usable training frames in the 2D labels")
    real += real_2d
    n_real = sum(len(s) for s in real)
    model, source = initial_model(cfg)
    state = None
    last_path = run_dir / "last.pt"
    if resume and last_path.is_file():
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
    if state is not None or source is not None:
        # the network's own statistics: targets must stay standardised as it learnt them
        mean3d, std3d = model.mean3d.numpy().copy(), model.std3d.numpy().copy()
    else:
        mean3d, std3d = normalisation_stats(train_samples)
        model.set_normalisation(mean3d, std3d)
    if dist.main:
        atomic_write_text(run_dir / "normalisation.json", json.dumps({"mean3d_m": mean3d.tolist(), "std3d_m": std3d.tolist(),
                                                                     "frames": n_frames}, indent=2))
        atomic_write_text(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2))
    model.to(dist.device)
    mcfg = model.config
    dataset = PoseDataset(train_samples + real, mean3d, std3d, mcfg.min_size, mcfg.max_size,
                          augment=Augment(enabled=cfg.augment, rotate_deg=cfg.rotate_deg), seed=cfg.seed + 1000 * dist.rank)
    if n_real:
        dataset.preload_real()
        # each rank draws its own stream, real frames making up ``real_fraction`` of it
        weights = mix_weights(n_frames, n_real, cfg.real_fraction)
        sampler = torch.utils.data.WeightedRandomSampler(weights, num_samples=len(dataset) // dist.world, replacement=True,
                                                         generator=torch.Generator().manual_seed(cfg.seed + dist.rank))
    elif dist.enabled:
        sampler = torch.utils.data.distributed.DistributedSampler(dataset, dist.world, dist.rank, shuffle=True, seed=cfg.seed)
    else:
        sampler = torch.utils.data.RandomSampler(dataset, generator=torch.Generator().manual_seed(cfg.seed))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.batch_size, sampler=sampler, collate_fn=collate, num_workers=cfg.workers,
        worker_init_fn=_worker_init if cfg.workers else None, persistent_workers=cfg.workers > 0, drop_last=True,
    )
    if len(loader) == 0:
        raise KneeViewInputError(cfg.data, f"fewer training frames ({len(dataset)}) than one batch per process")

    stages = stages_of(cfg)
    total = sum(n for _, n, _ in stages)
    done_global = int(state["global_iteration"]) if state else 0
    use_amp = cfg.amp and dist.device.type == "cuda"
    writer = None
    bar = None
    if dist.main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run_dir / "tb"))
        if not quiet:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=done_global, desc=f"framework {cfg.framework}", unit="it", dynamic_ncols=True)
    t_start = time.time()
    elapsed_before = float(state.get("elapsed_s", 0.0)) if state else 0.0
    g = 0
    epoch = int(state.get("epoch", 0)) if state else 0
    ema = None
    for stage, n_iter, lr in stages:
        if g + n_iter <= done_global:
            g += n_iter
            continue
        if cfg.framework == "B":
            model.set_stage(stage)
        start_it = max(0, done_global - g)
        model.train()
        net = DDP(model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None) if dist.enabled else model
        opt = make_optimizer(model, cfg, lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it, n=n_iter: lr_factor(cfg, it, n))
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        if state is not None and state.get("stage") == stage and start_it > 0:
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            if use_amp and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
        it = start_it
        while it < n_iter:
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            for images, targets in loader:
                if it >= n_iter:
                    break
                images = [im.to(dist.device, non_blocking=True) for im in images]
                targets = [{k: v.to(dist.device, non_blocking=True) for k, v in t.items()} for t in targets]
                with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                    losses = net(images, targets)
                loss = losses["loss_3d"] if stage == "lift" else sum(losses.values())
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
                scaler.step(opt)
                scaler.update()
                sched.step()
                it += 1
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise RuntimeError(f"loss became {value} at iteration {g + it}; lower the learning rate")
                ema = value if ema is None else 0.95 * ema + 0.05 * value
                if dist.main:
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(stage=stage, loss=f"{ema:.4f}", l2d=f"{float(losses['loss_2d'].detach()):.4f}",
                                        l3d=f"{float(losses['loss_3d'].detach()):.4f}")
                    if writer is not None and (it % cfg.log_every == 0 or it == n_iter):
                        for k, v in losses.items():
                            writer.add_scalar(f"loss/{k}", float(v.detach()), g + it)
                        writer.add_scalar("loss/total", value, g + it)
                        writer.add_scalar("lr", opt.param_groups[-1]["lr"], g + it)
                if it % cfg.checkpoint_every == 0 or it == n_iter:
                    if dist.main:
                        _save_state(last_path, model, opt, sched, scaler, stage, g + it, epoch,
                                    elapsed_before + time.time() - t_start)
                        _export(model, run_dir, cfg, split, n_frames, g + it, elapsed_before + time.time() - t_start,
                                source=source, n_real=n_real, n_real_2d=n_real_2d)
                    dist.barrier()
            epoch += 1
        g += n_iter
        state = None
    if bar is not None:
        bar.close()
    if writer is not None:
        writer.close()
    out = run_dir / "model.safetensors"
    if dist.main and not out.is_file():  # resumed after everything was done
        _export(model, run_dir, cfg, split, n_frames, total, elapsed_before, source=source, n_real=n_real, n_real_2d=n_real_2d)
    if dist.main and cfg.eval_at_end and split.get("val"):
        from .evaluate import evaluate_checkpoint

        res = evaluate_checkpoint(out, cfg.data, split["val"], frames_per_video=cfg.eval_frames_per_video,
                                  stride=max(1, cfg.stride * cfg.frames_per_video // max(1, cfg.eval_frames_per_video)),
                                  device=str(dist.device), progress=not quiet)
        res["split"] = "val"
        _export(model, run_dir, cfg, split, n_frames, total, elapsed_before + time.time() - t_start, evaluation=res["summary"],
                source=source, n_real=n_real, n_real_2d=n_real_2d)
    dist.barrier()
    if on_end is not None:
        on_end(model)
    return out


def mix_weights(n_synthetic: int, n_real: int, real_fraction: float) -> torch.Tensor:
    """Per-sample drawing weights (synthetic samples first) so that real ones are ``real_fraction`` of the draws."""
    w = torch.empty(n_synthetic + n_real, dtype=torch.double)
    w[:n_synthetic] = (1.0 - real_fraction) / max(1, n_synthetic)
    w[n_synthetic:] = real_fraction / max(1, n_real)
    return w


def _save_state(path: Path, model, opt, sched, scaler, stage: str, global_it: int, epoch: int, elapsed: float) -> None:
    tmp = path.with_suffix(".pt.part")
    torch.save({
        "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else {}, "stage": stage,
        "global_iteration": global_it, "epoch": epoch, "elapsed_s": elapsed,
    }, tmp)
    os.replace(tmp, path)


def _export(model, run_dir: Path, cfg: TrainConfig, split: dict, n_frames: int, iterations: int, elapsed: float,
            evaluation: dict | None = None, source: dict | None = None, n_real: int = 0, n_real_2d: int = 0) -> Path:
    training = {
        "framework": cfg.framework,
        "framework_name": FRAMEWORKS[cfg.framework],
        "data": str(Path(cfg.data).resolve()),
        "train_trials": len(split["train"]),
        "train_athletes": len(split.get("athletes", {}).get("train", [])),
        "train_frames": n_frames,
        "frames_per_video": cfg.frames_per_video,
        "stride": cfg.stride,
        "split_seed": split.get("seed"),
        "iterations": iterations,
        "batch_size": cfg.batch_size,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "lr": cfg.lr,
        "optimizer": cfg.optimizer,
        "schedule": f"{cfg.schedule}, warm-up {cfg.warmup_iterations}",
        "lift_iterations": cfg.lift_iterations if cfg.framework == "B" else None,
        "augment": cfg.augment,
        "rotate_deg": cfg.rotate_deg if cfg.augment else None,
        "hardware": hardware(),
        "time_s": round(elapsed, 1),
    }
    if source is not None:
        training["init_from"] = source
    if split.get("real") or split.get("real_2d"):
        training["real_fraction"] = cfg.real_fraction
        training["real_frames"] = n_real  # all real frames, the 2D-only ones among them
    if split.get("real_2d"):
        training["real_2d_frames"] = n_real_2d
        training["real_2d"] = [{k: e[k] for k in ("name", "train_views", "holdout_views")} for e in split["real_2d"]]
    if split.get("real"):
        training["real"] = [{k: e[k] for k in ("name", "frames", "segments", "test_segments", "guard_frames", "train_views",
                                               "holdout_views")} | {"train_frame_count": len(e["train_frames"]),
                                                                    "test_frames": e["test_frames"]}
                            for e in split["real"]]
    path, _ = save_checkpoint(model, run_dir / "model.safetensors", training=training, evaluation=evaluation or {})
    return path
