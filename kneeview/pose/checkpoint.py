"""Checkpoints: safetensors weights + a JSON model card. Nothing is ever unpickled.

A checkpoint is ``NAME.safetensors`` + ``NAME.json`` (the card; see
:mod:`kneeview.pose.card`, which finds and reads them without torch). The card records what is needed to rebuild and to judge the network: framework, backbone,
input size, joint order, 3D normalisation statistics, training data and schedule,
evaluation figures, the KneeView version and the sha256 of the weights file. Loading
checks all of it; any mismatch raises :class:`~kneeview.errors.CheckpointError`.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from .. import joints as J
from ..atomic import atomic_write_bytes, atomic_write_text
from ..errors import CheckpointError
from .card import CARD_SUFFIX, FORMAT, FORMAT_VERSION, WEIGHTS_SUFFIX, read_card, resolve_checkpoint
from .model import FRAMEWORKS, PoseConfig, PoseRCNN


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_checkpoint(model: PoseRCNN, path, *, training: dict | None = None, evaluation: dict | None = None,
                    fp16: bool = False, extra: dict | None = None) -> tuple[Path, Path]:
    """Write ``path`` (.safetensors) and its card (.json) atomically. Returns both paths."""
    from safetensors.torch import save

    path = Path(path)
    if path.suffix != WEIGHTS_SUFFIX:
        path = path.with_suffix(WEIGHTS_SUFFIX)
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if fp16 and v.is_floating_point() and not k.endswith(("mean3d", "std3d")):
            v = v.half()
        state[k] = v
    data = save(state, metadata={"format": FORMAT})
    cfg = model.config
    card = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kneeview_version": __version__,
        "framework": cfg.framework,
        "framework_name": FRAMEWORKS[cfg.framework],
        "backbone": cfg.backbone,
        "input_size": {"min_size": cfg.min_size, "max_size": cfg.max_size},
        "heatmap_size": cfg.heatmap_size,
        "joints": list(cfg.joints),
        "output": {"keypoints": "raw distorted video pixels (x right, y down; integer = pixel centre)",
                   "joints3d": "metres, relative to the mid-hip (mean of RFEP and LFEP), camera frame"},
        "normalisation": {"mean3d_m": model.mean3d.cpu().tolist(), "std3d_m": model.std3d.cpu().tolist()},
        "config": cfg.to_dict(),
        "training": training or {},
        "evaluation": evaluation or {},
        "weights": {"file": path.name, "sha256": sha256_bytes(data), "bytes": len(data),
                    "dtype": "float16" if fp16 else "float32", "tensors": len(state)},
    }
    if extra:
        card.update(extra)
    atomic_write_bytes(path, data)
    card_path = path.with_suffix(CARD_SUFFIX)
    atomic_write_text(card_path, json.dumps(card, indent=2) + "\n")
    return path, card_path


def load_checkpoint(path, device="cpu") -> tuple[PoseRCNN, dict]:
    """Rebuild the network from a checkpoint, verified against its card. Returns (model, card)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    weights_path, card_path = resolve_checkpoint(path)
    card = read_card(card_path)
    try:
        data = weights_path.read_bytes()
    except OSError as exc:
        raise CheckpointError(weights_path, f"cannot read: {exc.strerror or exc}") from None
    expected = card["weights"].get("sha256")
    actual = sha256_bytes(data)
    if expected != actual:
        raise CheckpointError(
            weights_path,
            f"the weights file does not match its model card {card_path.name} (sha256 {actual[:12]}..., card says "
            f"{str(expected)[:12]}...): the file is truncated, corrupted, tampered with or belongs to another card",
            "weights.sha256",
        )
    try:
        state = load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(weights_path, f"not a valid safetensors file: {exc}") from None
    try:
        config = PoseConfig.from_dict({**card["config"], "pretrained_backbone": False})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(card_path, f"invalid model settings: {exc}", "config") from None
    if card.get("framework") != config.framework:
        raise CheckpointError(card_path, f"framework {card.get('framework')!r} disagrees with config {config.framework!r}", "framework")
    model = PoseRCNN(config, pretrained_backbone=False)
    expected_state = model.state_dict()
    missing = sorted(set(expected_state) - set(state))
    unexpected = sorted(set(state) - set(expected_state))
    if missing or unexpected:
        detail = "; ".join(
            part for part in (
                f"missing {len(missing)} tensors (e.g. {missing[0]})" if missing else "",
                f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
            ) if part
        )
        raise CheckpointError(weights_path, f"the weights do not fit the network its card describes: {detail}", "config")
    for k, v in expected_state.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(weights_path, f"tensor {k} has shape {tuple(state[k].shape)}, the card's network needs {tuple(v.shape)}", "config")
        if not torch.isfinite(state[k].float()).all() and state[k].is_floating_point():
            raise CheckpointError(weights_path, f"tensor {k} holds NaN or infinite values")
    model.load_state_dict({k: v.to(expected_state[k].dtype) for k, v in state.items()}, strict=True)
    norm = card["normalisation"]
    try:
        mean = np.asarray(norm["mean3d_m"], dtype=np.float64)
        std = np.asarray(norm["std3d_m"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(card_path, "malformed normalisation statistics", "normalisation") from None
    if mean.shape != (J.N_JOINTS, 3) or std.shape != (J.N_JOINTS, 3):
        raise CheckpointError(card_path, "normalisation statistics must be 6x3", "normalisation")
    if not (np.allclose(mean, model.mean3d.numpy(), atol=1e-5) and np.allclose(std, model.std3d.numpy(), atol=1e-5)):
        raise CheckpointError(card_path, "the card's normalisation statistics differ from those stored in the weights", "normalisation")
    if not (std > 0).all():
        raise CheckpointError(card_path, "normalisation standard deviations must be positive", "normalisation")
    model.eval()
    model.to(device)
    card["_weights_path"] = str(weights_path)
    return model, card

