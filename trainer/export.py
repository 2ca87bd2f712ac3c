"""The trained network written as a checkpoint, with the card's record of how it was trained."""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from kneeview.pose.checkpoint import save_checkpoint
from kneeview.pose.model import FRAMEWORKS

from .config import TrainConfig


@dataclass(frozen=True)
class TrainingRecord:
    """What a run trained on and with: the settings, the split and the frame counts.

    The same for every export of a run; :meth:`card` adds how far the training got.
    """

    cfg: TrainConfig
    split: dict  # the run's split.json
    train_frames: int  # frames of the (synthetic or Vicon) training trials
    real_frames: int = 0  # frames of the real recordings, the 2D-only ones among them
    real_2d_frames: int = 0  # frames of the 2D-only labels
    init_from: dict | None = None  # the checkpoint the network started from (--init-from)

    def card(self, iterations: int, elapsed_s: float) -> dict:
        """The ``training`` section of the model card after ``iterations`` and ``elapsed_s`` seconds."""
        cfg, split = self.cfg, self.split
        training = {
            "framework": cfg.framework,
            "framework_name": FRAMEWORKS[cfg.framework],
            "data": str(Path(cfg.data).resolve()),
            "train_trials": len(split["train"]),
            "train_athletes": len(split.get("athletes", {}).get("train", [])),
            "train_frames": self.train_frames,
            "frames_per_video": cfg.frames_per_video,
            "stride": cfg.stride,
            "split_seed": split.get("seed"),
            "split_fractions": split.get("fractions"),
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
            "time_s": round(elapsed_s, 1),
        }
        if cfg.time_budget_s:
            training["time_budget_s"] = cfg.time_budget_s
            training["iterations_max"] = cfg.iterations
        if self.init_from is not None:
            training["init_from"] = self.init_from
        if split.get("real") or split.get("real_2d"):
            training["real_fraction"] = cfg.real_fraction
            training["real_frames"] = self.real_frames
        if split.get("real_2d"):
            training["real_2d_frames"] = self.real_2d_frames
            training["real_2d"] = [{k: e[k] for k in ("name", "train_views", "holdout_views")} for e in split["real_2d"]]
        if split.get("real"):
            training["real"] = [{k: e[k] for k in ("name", "frames", "segments", "test_segments", "guard_frames", "train_views",
                                                   "holdout_views")} | {"train_frame_count": len(e["train_frames"]),
                                                                        "test_frames": e["test_frames"]}
                                for e in split["real"]]
        return training


def hardware() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU {platform.machine()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def export_model(model, run_dir: Path, record: TrainingRecord, iterations: int, elapsed_s: float,
                 evaluation: dict | None = None) -> Path:
    """``RUN/model.safetensors`` and its card ``RUN/model.json``; ``evaluation``: the figures to record in it."""
    path, _ = save_checkpoint(model, Path(run_dir) / "model.safetensors", training=record.card(iterations, elapsed_s),
                              evaluation=evaluation or {})
    return path
