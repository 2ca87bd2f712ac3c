"""Inference: frames in, per-frame pose out (2D raw pixels, 3D hip-centred metres).

Pixel conventions: KneeView's raw pixels put the centre of the top-left pixel at (0, 0)
(OpenCV, see :mod:`kneeview.camera.model`). The network works in continuous coordinates
whose origin is the top-left *corner* of the image (torchvision's), so
``raw_px = network_xy - 0.5``. :func:`to_network_xy` / :func:`to_raw_px` are the one
place that converts; the trainer uses them too.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .. import joints as J
from ..sequence import PoseSequence
from .card import ModelIdentity
from .interface import run as run_estimator
from .refine import refine_keypoints


def to_network_xy(raw_px):
    return np.asarray(raw_px, dtype=np.float64) + 0.5


def to_raw_px(network_xy):
    return np.asarray(network_xy, dtype=np.float64) - 0.5


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """"auto": CUDA, then Apple MPS, then CPU."""
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def input_scale(height: int, width: int, min_size: int, max_size: int) -> float:
    """The scale torchvision's detection transform would apply (short side to min_size)."""
    scale = min_size / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return scale


def prepare_frame(frame_bgr: np.ndarray, min_size: int, max_size: int) -> tuple[torch.Tensor, float, float]:
    """BGR uint8 frame -> RGB float tensor at the network's input size, (scale_x, scale_y)."""
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 BGR frame, got shape {frame_bgr.shape}")
    H, W = frame_bgr.shape[:2]
    s = input_scale(H, W, min_size, max_size)
    new_w, new_h = max(1, round(W * s)), max(1, round(H * s))
    small = cv2.resize(frame_bgr, (new_w, new_h), interpolation=cv2.INTER_AREA) if (new_w, new_h) != (W, H) else frame_bgr
    rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)  # 30x faster than a reversed-stride copy
    tensor = torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)
    return tensor, new_w / W, new_h / H


@dataclass
class FramePose:
    """The network's answer for one frame (the best-scoring person)."""

    score: float  # detection score in [0, 1]; NaN when nobody was detected
    keypoints_px: np.ndarray  # (6, 2) raw distorted pixels
    joints_cam_m: np.ndarray  # (6, 3) metres, mid-hip-relative, camera frame
    confidence: np.ndarray  # (6,) in [0, 1]
    network_keypoints_px: np.ndarray | None = None  # (6, 2) the network's own, where keypoints_px are refined

    @classmethod
    def nobody(cls) -> "FramePose":
        return cls(float("nan"), np.full((J.N_JOINTS, 2), np.nan), np.full((J.N_JOINTS, 3), np.nan), np.zeros(J.N_JOINTS))


class Estimator:
    """A loaded network on a device. Use :func:`kneeview.pose.load_estimator`."""

    def __init__(self, model, card: dict, device: torch.device, fuse: bool = True, runtime: str = "auto"):
        """``runtime``: "auto" runs the backbone in ONNX Runtime on a CPU when it is installed
        (:mod:`kneeview.pose.onnx_backbone`), "torch" never, "onnxruntime" insists (error if it cannot)."""
        if runtime not in ("auto", "torch", "onnxruntime"):
            raise ValueError(f"runtime must be auto, torch or onnxruntime, not {runtime!r}")
        from .onnx_backbone import OnnxBackbone, onnx_backbone

        model = model.eval()
        if isinstance(getattr(model, "backbone", None), OnnxBackbone):  # another estimator's: start from torch
            model.backbone = model.backbone.source
        if fuse and hasattr(model, "backbone"):
            from .backbone import fuse_batchnorm_

            fuse_batchnorm_(model.backbone)  # frozen ImageNet statistics fold into the convs
        # NHWC convolutions: oneDNN's depthwise kernels run the backbone ~1.7x faster on a
        # CPU (measured 72 -> 43 ms at 320x448 on 2 cores), cuDNN's fp16 ones on a GPU.
        self.model = model.to(device, memory_format=torch.channels_last)
        self.runtime = "torch"
        if runtime != "torch" and device.type == "cpu" and hasattr(model, "backbone"):
            fast = onnx_backbone(model.backbone)
            if fast is not None:
                model.backbone = fast
                self.runtime = "onnxruntime"
        if runtime == "onnxruntime" and self.runtime != "onnxruntime":
            raise RuntimeError("the backbone cannot run in ONNX Runtime here (a CPU and the onnxruntime package are needed)")
        self.card = card
        self.device = device
        self.config = model.config
        self.default_batch_size = 8 if device.type != "cpu" else 1

    @property
    def identity(self) -> ModelIdentity:
        """Which model this is (name, weights sha256, device, card)."""
        return ModelIdentity.from_card(self.card, str(self.device))

    @property
    def info(self) -> dict:
        """What goes into PoseSequence.model: the identity, and the runtime that ran the trunk."""
        return {**self.identity.as_model_dict(), "runtime": self.runtime}

    @torch.inference_mode()
    def predict(self, frames) -> FramePose | list[FramePose]:
        """One HxWx3 uint8 BGR frame -> FramePose; a list or (B, H, W, 3) batch -> list."""
        single = isinstance(frames, np.ndarray) and frames.ndim == 3
        batch: Sequence[np.ndarray] = [frames] if single else list(frames)
        if not batch:
            return []
        results = [self._best(out, sx, sy, f) for f, (out, sx, sy) in zip(batch, self._forward(batch))]
        return results[0] if single else results

    @torch.inference_mode()
    def predict_people(self, frame: np.ndarray, min_score: float = 0.5) -> list[FramePose]:
        """Every person the network finds in one HxWx3 uint8 BGR frame with a detection score of
        at least ``min_score``, best first (``predict`` keeps only the best)."""
        ((out, sx, sy),) = self._forward([frame])
        order = torch.argsort(out["scores"], descending=True).tolist()
        return [self._person(out, i, sx, sy, frame) for i in order if float(out["scores"][i]) >= min_score]

    def _forward(self, batch: Sequence[np.ndarray]) -> list[tuple[dict, float, float]]:
        """The network's raw output for each frame, with the frame-to-input scales (x, y)."""
        cfg = self.config
        tensors, scales = [], []
        for f in batch:
            t, sx, sy = prepare_frame(np.asarray(f), cfg.min_size, cfg.max_size)
            tensors.append(t.to(self.device, non_blocking=True))
            scales.append((sx, sy))
        if self.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.float16):
                outputs = self.model(tensors)
        else:
            outputs = self.model(tensors)
        return [(out, sx, sy) for out, (sx, sy) in zip(outputs, scales)]

    @torch.inference_mode()
    def predict_best(self, frame: np.ndarray, refine: bool = True) -> tuple[FramePose, float]:
        """The best-scoring person in one HxWx3 uint8 BGR frame, and its detection box's height in
        the frame's pixels (what the refiner's window scales with); ``refine=False``: the network's
        own keypoints even when the checkpoint carries a refiner. Nobody: (``FramePose.nobody()``, NaN)."""
        ((out, sx, sy),) = self._forward([frame])
        i = self._best_index(out)
        if i is None:
            return FramePose.nobody(), float("nan")
        return self._person(out, i, sx, sy, frame if refine else None), self.box_height_px(out, i, sy)

    @staticmethod
    def _best_index(out: dict) -> int | None:
        return int(torch.argmax(out["scores"])) if len(out["scores"]) else None

    def _best(self, out: dict, sx: float, sy: float, frame=None) -> FramePose:
        i = self._best_index(out)
        return FramePose.nobody() if i is None else self._person(out, i, sx, sy, frame)

    @staticmethod
    def box_height_px(out: dict, i: int, sy: float) -> float:
        """Person ``i``'s detection box height in the frame's pixels (the refiner's window scales with it)."""
        return float(out["boxes"][i, 3] - out["boxes"][i, 1]) / sy

    def _person(self, out: dict, i: int, sx: float, sy: float, frame=None) -> FramePose:
        """Person ``i`` of the network's output; with the checkpoint's refiner and the ``frame``,
        its keypoints refined on the frame's own pixels (:mod:`kneeview.pose.refine`)."""
        kp = out["keypoints"][i, :, :2].float().cpu().numpy().astype(np.float64)
        kp = to_raw_px(kp / np.array([sx, sy]))
        own = None
        refiner = getattr(self.model, "refiner", None)
        if refiner is not None and frame is not None:
            own = kp
            kp = refine_keypoints(refiner, np.asarray(frame), kp, Estimator.box_height_px(out, i, sy),
                                  flip=self.config.refiner_flip)
        return FramePose(
            score=float(out["scores"][i]),
            keypoints_px=kp,
            joints_cam_m=out["joints3d"][i].float().cpu().numpy().astype(np.float64),
            confidence=out["keypoints_scores"][i].float().cpu().numpy().astype(np.float64),
            network_keypoints_px=own,
        )

    def run(self, video_reader, progress: Callable[[int, int], None] | None = None,
            cancel: Callable[[], bool] | None = None, batch_size: int | None = None) -> PoseSequence:
        """Every frame of a :class:`~kneeview.io.video.VideoReader` -> PoseSequence
        (:func:`kneeview.pose.interface.run`; ``cancel()`` -> InferenceCancelled)."""
        seq = run_estimator(self, video_reader, batch_size, progress, cancel)
        seq.model = self.info
        return seq


def load_estimator(path=None, device: str = "auto", runtime: str = "auto") -> Estimator:
    """The bundled model (``resources/model/``) or the checkpoint at ``path``, on ``device``
    (``runtime``: see :class:`Estimator`)."""
    from ..bundled import model_path
    from .checkpoint import load_checkpoint

    if path is None:
        path = model_path(required=True)
    dev = pick_device(device)
    model, card = load_checkpoint(path, device="cpu")
    return Estimator(model, card, dev, runtime=runtime)
