"""``kneeview-train fit``: a run from its data and network to the exported checkpoint.

Run folder (``--run``)::

    split.json            the athlete-grouped split (written once, reused on resume)
    normalisation.json    3D mean/std of the training split
    config.json           the settings of the run
    last.pt               training state for --resume (:mod:`trainer.loop`)
    model.safetensors     the exported network + model.json (its card, :mod:`trainer.export`)
    tb/                   TensorBoard logs
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kneeview.atomic import atomic_write_text
from kneeview.errors import KneeViewInputError
from kneeview.pose.model import build_model

from .augment import Augment
from .config import TrainConfig
from .dataset import PoseDataset, collate
from .export import TrainingRecord, export_model
from .loop import Dist, load_state, stages_of, train
from .people_labels import people_samples, people_split
from .real_recordings import check_backdrops, real_samples, real_split
from .samples import ViewSamples, collect_samples, normalisation_stats, trial_athletes
from .splits import load_split, make_split, save_split


def fit(cfg: TrainConfig, resume: bool = False, quiet: bool = False, on_end=None) -> Path:
    """Train ``cfg.framework`` on ``cfg.data``; returns the exported checkpoint path.

    ``on_end(model)`` is called in every process with the trained network (tests use it
    to check that DDP ranks agree).
    """
    started = time.time()  # a time budget counts the data's loading too
    dist = Dist(cfg.device)
    try:
        return _fit(cfg, dist, resume, quiet, on_end, started)
    finally:
        dist.close()


def _fit(cfg: TrainConfig, dist: Dist, resume: bool, quiet: bool, on_end=None, started: float | None = None) -> Path:
    if not cfg.data or not Path(cfg.data).is_dir():
        raise KneeViewInputError(cfg.data or None, "training data folder not found", "--data")
    run_dir = Path(cfg.run_dir)
    if dist.main:
        run_dir.mkdir(parents=True, exist_ok=True)
    dist.barrier()
    torch.manual_seed(cfg.seed + dist.rank)
    data = training_data(cfg, run_dir, dist, quiet)
    model, init_from = initial_model(cfg)
    state = load_state(run_dir / "last.pt") if resume else None
    if state is not None:
        model.load_state_dict(state["model"])
    mean3d, std3d = _normalisation(model, data.trials, keep_model_stats=state is not None or init_from is not None)
    if dist.main:
        atomic_write_text(run_dir / "normalisation.json", json.dumps({"mean3d_m": mean3d.tolist(), "std3d_m": std3d.tolist(),
                                                                     "frames": data.n_trial_frames}, indent=2))
        atomic_write_text(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2))
    model.to(dist.device)
    loader, sampler = make_loader(data, model.config, mean3d, std3d, cfg, dist)
    record = TrainingRecord(cfg, data.split, data.n_trial_frames, data.n_real_frames, data.n_real_2d_frames, init_from)

    def export_checkpoint(net, iteration: int, elapsed_s: float) -> None:
        export_model(net, run_dir, record, iteration, elapsed_s)

    setup_s = time.time() - started if started is not None else 0.0
    clock = train(model, loader, sampler, cfg, dist, run_dir, state, export_checkpoint, quiet, setup_s)
    total = sum(n for _, n, _ in stages_of(cfg))
    out = run_dir / "model.safetensors"
    if dist.main and not out.is_file():  # resumed after everything was done
        export_model(model, run_dir, record, total, clock.before_s)
    if dist.main and cfg.eval_at_end and data.split.get("val"):
        from .evaluate import evaluate_checkpoint

        res = evaluate_checkpoint(out, cfg.data, data.split["val"], frames_per_video=cfg.eval_frames_per_video,
                                  stride=max(1, cfg.stride * cfg.frames_per_video // max(1, cfg.eval_frames_per_video)),
                                  device=str(dist.device), progress=not quiet)
        export_model(model, run_dir, record, total, clock.elapsed_s(), evaluation=res["summary"])
    dist.barrier()
    if on_end is not None:
        on_end(model)
    return out


# ----------------------------------------------------------------------------- data
@dataclass
class TrainingData:
    """The run's split and its training samples: the data folder's trials, then the real sources."""

    split: dict
    trials: list[ViewSamples]  # of the training trials under ``--data`` (synthetic or Vicon sessions)
    real: list[ViewSamples]  # of the real recordings (``--real``), then of the 2D-only labels (``--real-2d``)
    n_real_2d_frames: int

    @property
    def n_trial_frames(self) -> int:
        return sum(len(s) for s in self.trials)

    @property
    def n_real_frames(self) -> int:
        return sum(len(s) for s in self.real)


def prepare_split(cfg: TrainConfig, run_dir: Path, dist: Dist) -> dict:
    """``RUN/split.json``: written once by the main process, its real entries added for new ``--real``/``--real-2d``."""
    path = run_dir / "split.json"
    if dist.main and not path.is_file():
        if cfg.split_file:
            split = load_split(Path(cfg.split_file))
        else:
            split = make_split(trial_athletes(cfg.data), seed=cfg.split_seed, fractions=tuple(cfg.split_fractions))
        split["data"] = str(Path(cfg.data).resolve())
        save_split(split, path)
    if dist.main and cfg.real_data:
        split = load_split(path)
        have = {Path(e["session"]).resolve() for e in split.get("real", [])}
        new = [real_split(d, cfg.real_segments, cfg.real_test_segments, cfg.real_guard_frames, cfg.real_holdout_views)
               for d in cfg.real_data if Path(d).resolve() not in have]
        for entry in new:  # no backdrop of the synthetic data may show a held-out frame or view
            check_backdrops(entry, cfg.data)
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


def training_data(cfg: TrainConfig, run_dir: Path, dist: Dist, quiet: bool = False) -> TrainingData:
    """The run's split and the samples of its training part; an error when a source gives no frame."""
    split = prepare_split(cfg, run_dir, dist)
    if not split["train"]:
        raise KneeViewInputError(cfg.data, "the training split is empty (too few athletes)")
    trials = collect_samples(cfg.data, split["train"], cfg.frames_per_video, cfg.stride, progress=dist.main and not quiet)
    if not trials:
        raise KneeViewInputError(cfg.data, "no usable training frames (videos with a calibrated camera and a C3D)")
    real = [s for entry in split.get("real", []) for s in real_samples(entry, "train")]
    if cfg.real_data and not sum(len(s) for s in real):
        raise KneeViewInputError(cfg.real_data[0], "no usable training frames in the real recordings")
    real_2d = [s for entry in split.get("real_2d", []) for s in people_samples(entry)]
    n_real_2d = sum(len(s) for s in real_2d)
    if cfg.real_2d and not n_real_2d:
        raise KneeViewInputError(cfg.real_2d[0], "no usable training frames in the 2D labels")
    return TrainingData(split, trials, real + real_2d, n_real_2d)


def mix_weights(n_synthetic: int, n_real: int, real_fraction: float) -> torch.Tensor:
    """Per-sample drawing weights (synthetic samples first) so that real ones are ``real_fraction`` of the draws."""
    w = torch.empty(n_synthetic + n_real, dtype=torch.double)
    w[:n_synthetic] = (1.0 - real_fraction) / max(1, n_synthetic)
    w[n_synthetic:] = real_fraction / max(1, n_real)
    return w


def make_loader(data: TrainingData, model_config, mean3d, std3d, cfg: TrainConfig, dist: Dist):
    """(data loader, its sampler) of this process: targets standardised with ``mean3d``/``std3d``."""
    dataset = PoseDataset(data.trials + data.real, mean3d, std3d, model_config.min_size, model_config.max_size,
                          augment=Augment(enabled=cfg.augment, rotate_deg=cfg.rotate_deg), seed=cfg.seed + 1000 * dist.rank)
    if data.n_real_frames:
        dataset.preload_real()
        # each rank draws its own stream, real frames making up ``real_fraction`` of it
        weights = mix_weights(data.n_trial_frames, data.n_real_frames, cfg.real_fraction)
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
    return loader, sampler


def _worker_init(worker_id: int) -> None:
    import cv2

    cv2.setNumThreads(1)  # the training process owns the cores; decoding threads would fight it
    info = torch.utils.data.get_worker_info()
    info.dataset._rng = np.random.default_rng(torch.initial_seed() % 2**32)


# ----------------------------------------------------------------------------- model
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


def _normalisation(model, samples: list[ViewSamples], keep_model_stats: bool) -> tuple[np.ndarray, np.ndarray]:
    """The 3D mean/std the targets are standardised with: the network's own when it has learnt with
    them (a resumed run, ``--init-from``), else those of ``samples``, which the network then takes."""
    if keep_model_stats:
        return model.mean3d.numpy().copy(), model.std3d.numpy().copy()
    mean3d, std3d = normalisation_stats(samples)
    model.set_normalisation(mean3d, std3d)
    return mean3d, std3d
