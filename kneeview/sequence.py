"""PoseSequence: what an estimator (or the ground truth) says about every frame of a video.

Plain NumPy, so analysis, export and the GUI use it without torch. Units and frames are
in the field names: ``keypoints_px`` are raw (distorted) video pixels, ``joints_cam_m``
are metres relative to the mid-hip in the camera frame (the network's 3D output).
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import joints as J
from .atomic import atomic_write_bytes
from .errors import KneeViewInputError


@dataclass
class PoseSequence:
    frame_index: np.ndarray  # (T,) int, video frame of each row
    time_s: np.ndarray  # (T,) float, frame_index / fps
    score: np.ndarray  # (T,) detection score in [0, 1], NaN where nobody was detected
    keypoints_px: np.ndarray  # (T, 6, 2) raw distorted pixels, NaN where unknown
    joints_cam_m: np.ndarray  # (T, 6, 3) metres, mid-hip-relative, camera frame
    confidence: np.ndarray  # (T, 6) per-joint confidence in [0, 1]
    source: str = "model"  # "model" or "gt"
    model: dict = field(default_factory=dict)  # name, version, checkpoint hash...
    #: (T, 6, 2) the network's own keypoints where ``keypoints_px`` are refined ones (a checkpoint with a
    #: refiner, :mod:`kneeview.pose.refine`), else None; :mod:`kneeview.analysis.facing` reads them from behind
    network_keypoints_px: np.ndarray | None = None

    def __post_init__(self):
        T = len(self.frame_index)
        shapes = {
            "time_s": (T,),
            "score": (T,),
            "keypoints_px": (T, J.N_JOINTS, 2),
            "joints_cam_m": (T, J.N_JOINTS, 3),
            "confidence": (T, J.N_JOINTS),
        }
        if self.network_keypoints_px is not None:
            shapes["network_keypoints_px"] = (T, J.N_JOINTS, 2)
        for name, shape in shapes.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"PoseSequence.{name} has shape {np.shape(getattr(self, name))}, expected {shape}")

    def __len__(self) -> int:
        return len(self.frame_index)

    @classmethod
    def empty(cls, n_frames: int, fps: float, source: str = "model", model: dict | None = None) -> "PoseSequence":
        idx = np.arange(n_frames)
        return cls(
            frame_index=idx,
            time_s=idx / fps,
            score=np.full(n_frames, np.nan),
            keypoints_px=np.full((n_frames, J.N_JOINTS, 2), np.nan),
            joints_cam_m=np.full((n_frames, J.N_JOINTS, 3), np.nan),
            confidence=np.zeros((n_frames, J.N_JOINTS)),
            source=source,
            model=dict(model or {}),
        )

    def save(self, path) -> Path:
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            frame_index=self.frame_index,
            time_s=self.time_s,
            score=self.score,
            keypoints_px=self.keypoints_px,
            joints_cam_m=self.joints_cam_m,
            confidence=self.confidence,
            **({} if self.network_keypoints_px is None else {"network_keypoints_px": self.network_keypoints_px}),
            meta=np.frombuffer(json.dumps({"source": self.source, "model": self.model, "joints": J.JOINTS}).encode(), dtype=np.uint8),
        )
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path) -> "PoseSequence":
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode())
                if tuple(meta.get("joints", ())) != J.JOINTS:
                    raise KneeViewInputError(path, "saved pose sequence uses a different joint order")
                return cls(
                    frame_index=z["frame_index"],
                    time_s=z["time_s"],
                    score=z["score"],
                    keypoints_px=z["keypoints_px"],
                    joints_cam_m=z["joints_cam_m"],
                    confidence=z["confidence"],
                    source=meta.get("source", "model"),
                    model=meta.get("model", {}),
                    network_keypoints_px=z["network_keypoints_px"] if "network_keypoints_px" in z.files else None,
                )
        except KneeViewInputError:
            raise
        except Exception as exc:  # zip/npz/json problems: a corrupt cache file
            raise KneeViewInputError(path, f"cannot read pose sequence: {exc}") from None
