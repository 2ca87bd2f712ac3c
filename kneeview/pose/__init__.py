"""The pose networks (the only core package that imports torch).

Importing ``kneeview.pose`` is cheap: torch is loaded when a function below is first used.

* :func:`load_estimator` -- the bundled (or a given) model, ready for inference.
* :mod:`kneeview.pose.model` -- the three frameworks on a torchvision Keypoint R-CNN.
* :mod:`kneeview.pose.integral` -- the soft-argmax / location-map readout.
* :mod:`kneeview.pose.checkpoint` -- safetensors + model card.
"""
from __future__ import annotations


def load_estimator(path=None, device: str = "auto", runtime: str = "auto"):
    """The bundled model (``path=None``) or a checkpoint, on CUDA, MPS or CPU ("auto");
    on a CPU the backbone runs in ONNX Runtime when it is installed (``runtime="torch"``: never)."""
    from .estimator import load_estimator as _load

    return _load(path, device=device, runtime=runtime)


def __getattr__(name):
    lazy = {
        "Estimator": "estimator",
        "FramePose": "estimator",
        "InferenceCancelled": "interface",
        "ModelIdentity": "card",
        "PoseEstimator": "interface",
        "card_identity": "card",
        "PoseConfig": "model",
        "build_model": "model",
        "load_checkpoint": "checkpoint",
        "save_checkpoint": "checkpoint",
    }
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(f".{lazy[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["load_estimator", "Estimator", "FramePose", "InferenceCancelled", "ModelIdentity", "PoseEstimator",
           "card_identity", "PoseConfig", "build_model",
           "load_checkpoint", "save_checkpoint"]
