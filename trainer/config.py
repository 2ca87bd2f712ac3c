"""Training settings: the paper's schedule by default, a config file over it, the CLI over both.

A config file is JSON or TOML with the keys of :class:`TrainConfig`; the network's own
settings (:class:`kneeview.pose.model.PoseConfig`) go in a ``model`` table::

    iterations = 15000
    batch_size = 3
    lr = 0.001
    [model]
    min_size = 352
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from kneeview.errors import KneeViewInputError


@dataclass
class TrainConfig:
    framework: str = "A"
    data: str = ""
    run_dir: str = "runs/run"
    # the paper's schedule (section 3.1)
    iterations: int = 15000
    batch_size: int = 3
    lr: float = 0.001
    # framework B: iterations of the lifting stage (the 2D stage uses ``iterations``)
    lift_iterations: int = 5000
    lift_lr: float = 0.001
    optimizer: str = "adamw"  # "adamw" or "sgd" (momentum 0.9)
    weight_decay: float = 1e-4
    backbone_lr_mult: float = 0.1  # the pretrained trunk learns more slowly
    warmup_iterations: int = 300
    schedule: str = "cosine"  # "cosine" (to 5% of lr) or "constant"
    grad_clip: float = 10.0
    # data
    frames_per_video: int = 100
    stride: int = 3
    split_seed: int = 0
    split_fractions: list = field(default_factory=lambda: [0.70, 0.15, 0.15])  # train/val/test shares of the athletes
    split_file: str = ""  # reuse another run's split.json
    augment: bool = True
    rotate_deg: float = 0.0  # in-plane rotation augmentation, +- degrees (0: none)
    workers: int = 2
    # fine-tuning: start from a checkpoint's weights and normalisation (e.g. the bundled model)
    init_from: str = ""
    # real recordings mixed in (multi-view sessions with pseudo-label C3Ds, `kneeview triangulate`)
    real_data: list = field(default_factory=list)
    real_fraction: float = 0.3  # share of the training samples drawn from real_data
    real_segments: int = 5  # each real recording is cut into this many time segments ...
    real_test_segments: list = field(default_factory=lambda: [1, 3])  # ... of which these are held out
    real_guard_frames: int = 3  # frames next to a held-out segment that are not trained on
    real_holdout_views: list = field(default_factory=list)  # views (video stems or device ids) never trained on
    # 2D-only real video: people labels of tools/blazepose_detect.py --people (no 3D; every frame trains,
    # views named in real_holdout_views excepted); drawn within real_fraction with the real recordings
    real_2d: list = field(default_factory=list)
    # bookkeeping
    checkpoint_every: int = 1000
    # a wall-clock budget (s) for the whole run, 0: none. The iterations left are re-planned from the
    # measured speed so that the run (its cosine schedule included) ends inside it: for a GPU lease
    time_budget_s: float = 0.0
    log_every: int = 20
    seed: int = 0
    amp: bool = True  # mixed precision when CUDA is used
    device: str = "auto"
    eval_at_end: bool = True
    eval_frames_per_video: int = 20
    model: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def read_config_file(path) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KneeViewInputError(path, f"cannot read the config file: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # tomllib.TOMLDecodeError, json.JSONDecodeError
        raise KneeViewInputError(path, f"cannot parse the config file: {exc}") from None
    if not isinstance(data, dict):
        raise KneeViewInputError(path, "the config file must hold a table/object of settings")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise KneeViewInputError(path, f"unknown settings: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return data


def build_config(file_path=None, overrides: dict | None = None) -> TrainConfig:
    """Defaults <- config file <- command line (entries that are not None)."""
    values = TrainConfig().to_dict()
    if file_path:
        file_values = read_config_file(file_path)
        model = {**values["model"], **file_values.pop("model", {})}
        values.update(file_values)
        values["model"] = model
    for key, val in (overrides or {}).items():
        if val is None:
            continue
        if key == "model":
            values["model"] = {**values["model"], **val}
        else:
            values[key] = val
    cfg = TrainConfig(**values)
    if cfg.framework not in ("A", "B", "C"):
        raise KneeViewInputError(None, f"framework must be A, B or C, not {cfg.framework!r}", "--framework")
    for name in ("iterations", "batch_size"):
        if getattr(cfg, name) < 1:
            raise KneeViewInputError(None, f"{name} must be at least 1", name)
    fr = cfg.split_fractions
    if len(fr) != 3 or any(not 0.0 <= float(f) <= 1.0 for f in fr) or abs(sum(map(float, fr)) - 1.0) > 1e-6 or not fr[0] > 0:
        raise KneeViewInputError(None, f"split fractions must be three shares (train, val, test) in [0, 1] that add up "
                                 f"to 1, train above 0; got {fr}", "--split-fractions")
    if not cfg.time_budget_s >= 0:
        raise KneeViewInputError(None, "time_budget_s must be zero (none) or positive", "--time-budget")
    if not cfg.lr > 0:
        raise KneeViewInputError(None, "lr must be positive", "lr")
    if not 0.0 <= cfg.rotate_deg <= 180.0:
        raise KneeViewInputError(None, "rotate_deg must be in [0, 180]", "rotate_deg")
    if not 0.0 <= cfg.real_fraction < 1.0:
        raise KneeViewInputError(None, "real_fraction must be in [0, 1)", "real_fraction")
    if cfg.init_from and cfg.model:
        raise KneeViewInputError(cfg.init_from, "the network comes from --init-from; model settings cannot change it", "--model")
    return cfg
