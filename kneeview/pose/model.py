"""The three frameworks of the paper on a torchvision Keypoint R-CNN.

The detector (transform, backbone + FPN, RPN, RoIAlign, box head and its losses and
post-processing) is torchvision's, unchanged. The keypoint branch keeps torchvision's
RoIAlign, conv head and deconvolution predictor, with 6 heatmap channels (+ 18 location-map
channels in framework A); only its loss and post-processing are replaced, by the integral
layer (:mod:`kneeview.pose.integral`) and, in B and C, a lifting MLP.

Frameworks (paper section 4):

* ``A``: integral 2D heatmap + integral 3D location maps, end-to-end,
  L = 0.7 MSE2D + 0.3 MSE3D (+ detector losses).
* ``B``: integral 2D heatmap, trained alone (stage "2d"), then frozen while a lifting MLP
  learns 3D from its 2D output (stage "lift").
* ``C``: the same pieces trained jointly, L = 0.7 MSE2D + 0.7 MSE3D (+ detector losses).

Targets the model trains on (one dict per image, torchvision-style): ``boxes`` (n, 4),
``labels`` (n,) = 1, ``keypoints`` (n, 6, 3) (x, y, visible) in the image tensor's
continuous coordinates (top-left corner of the image at 0, 0), ``joints3d`` (n, 6, 3)
standardised camera-frame mid-hip-relative positions, ``joints3d_valid`` (n, 6).

2D MSE is taken on positions normalised within each ROI, (u - 0.5) * ``roi_2d_scale`` with u
the fraction of the box (default scale 10: units of a tenth of the box, roughly the spread
of the joints across a person's box), 3D MSE on the standardised positions, so the two are
on comparable scales: a 2D error of 1 % of the box weighs as much as a 3D error of 0.1 std.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import KeypointRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss
from torchvision.ops import MultiScaleRoIAlign

from .. import joints as J
from . import integral
from .backbone import IMAGE_MEAN, IMAGE_STD, build_backbone
from .refine import RefinerNet

FRAMEWORKS = {
    "A": "Integral 2D heatmap + Integral 3D Location map (End-to-End training)",
    "B": "Integral 2D heatmap + 3D MLP (Part training)",
    "C": "Integral 2D heatmap + 3D MLP (End-to-End training)",
}

#: (alpha, beta) of L = alpha * L2D + beta * L3D (paper 4.1 and 4.3); B's stages below.
LOSS_WEIGHTS = {"A": (0.7, 0.3), "C": (0.7, 0.7), "B-2d": (0.7, 0.0), "B-lift": (0.0, 1.0)}


@dataclass
class PoseConfig:
    """Everything needed to rebuild the network; stored in the checkpoint's model card."""

    framework: str = "A"
    backbone: str = "efficientnet_lite0"
    pretrained_backbone: bool = True
    fpn_channels: int = 64
    freeze_blocks: int = 2
    min_size: int = 320
    max_size: int = 576
    heatmap_size: int = 56
    head_channels: int = 64
    head_layers: int = 4
    box_representation: int = 256
    anchor_sizes: tuple = (32, 64, 128, 256)
    aspect_ratios: tuple = (1.0, 2.0, 3.0)
    rpn_pre_nms_top_n_train: int = 300
    rpn_post_nms_top_n_train: int = 100
    rpn_pre_nms_top_n_test: int = 150
    rpn_post_nms_top_n_test: int = 30
    box_batch_size_per_image: int = 64
    box_detections_per_img: int = 3
    box_score_thresh: float = 0.05
    lifter_hidden: int = 1024
    lifter_dropout: float = 0.5
    confidence_radius: float = 0.1
    roi_2d_scale: float = 10.0
    #: width of the native-resolution keypoint refiner (:mod:`kneeview.pose.refine`); 0: none
    refiner_width: int = 0
    #: how many refiners (an ensemble whose readings are averaged; 1: one ``refiner.*``, more:
    #: ``refiner.<i>.*``) and whether each also reads the mirrored windows (:func:`kneeview.pose.refine.refine_keypoints`)
    refiner_members: int = 1
    refiner_flip: bool = False
    joints: tuple = J.JOINTS

    def __post_init__(self):
        if self.framework not in FRAMEWORKS:
            raise ValueError(f"framework must be one of {', '.join(FRAMEWORKS)}, not {self.framework!r}")
        if self.heatmap_size % 4:
            raise ValueError("heatmap_size must be a multiple of 4 (RoIAlign at a quarter, then deconv x2 and upsample x2)")
        if isinstance(self.refiner_members, bool) or not isinstance(self.refiner_members, int) \
                or not 1 <= self.refiner_members <= 16:
            raise ValueError(f"refiner_members must be a whole number from 1 to 16, not {self.refiner_members!r}")
        if not isinstance(self.refiner_flip, bool):
            raise ValueError(f"refiner_flip must be true or false, not {self.refiner_flip!r}")
        self.anchor_sizes = tuple(self.anchor_sizes)
        self.aspect_ratios = tuple(self.aspect_ratios)
        self.joints = tuple(self.joints)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["anchor_sizes"] = list(self.anchor_sizes)
        d["aspect_ratios"] = list(self.aspect_ratios)
        d["joints"] = list(self.joints)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PoseConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model settings: {', '.join(sorted(unknown))}")
        return cls(**d)


class LiftingMLP(nn.Module):
    """Martinez et al.'s lifter: Linear->1024, two residual blocks, Linear->3K."""

    def __init__(self, num_joints: int = J.N_JOINTS, hidden: int = 1024, dropout: float = 0.5, blocks: int = 2):
        super().__init__()

        def unit():
            return [nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]

        self.inp = nn.Sequential(nn.Linear(2 * num_joints, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.blocks = nn.ModuleList([nn.Sequential(*unit(), *unit()) for _ in range(blocks)])
        self.out = nn.Linear(hidden, 3 * num_joints)
        self.num_joints = num_joints

    def forward(self, x2d: torch.Tensor) -> torch.Tensor:
        """(N, K, 2) box-normalised 2D -> (N, K, 3) standardised 3D."""
        h = self.inp(x2d.reshape(len(x2d), -1))
        for block in self.blocks:
            h = h + block(h)
        return self.out(h).reshape(len(x2d), self.num_joints, 3)


def lifter_input(xy_image: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """2D joints (N, K, 2) image px -> relative to the mid-hip, in units of the box height.

    Invariant to where the person is and how large they appear, and keeps the aspect.
    """
    heights = (boxes[:, 3] - boxes[:, 1]).clamp(min=1)[:, None, None]
    hip = xy_image[:, :2].mean(dim=1, keepdim=True)
    return (xy_image - hip) / heights


class PoseRoIHeads(RoIHeads):
    """torchvision's RoIHeads with the keypoint loss and post-processing replaced.

    The box branch runs exactly as in torchvision (its own sampling, loss and
    post-processing methods). The keypoint branch uses the inherited ``keypoint_roi_pool``,
    ``keypoint_head`` and ``keypoint_predictor`` modules.
    """

    def __init__(self, base: RoIHeads, config: PoseConfig, lifter: nn.Module | None):
        nn.Module.__init__(self)
        # take over every module and setting of the torchvision RoIHeads
        self.__dict__.update({k: v for k, v in base.__dict__.items() if k not in ("_modules", "_parameters", "_buffers")})
        self._modules = base._modules
        self._parameters = base._parameters
        self._buffers = base._buffers
        self.config = config
        self.framework = config.framework
        self.num_joints = len(config.joints)
        self.lifter = lifter
        self.stage = "2d" if config.framework == "B" else "joint"
        self.register_buffer("mean3d", torch.zeros(self.num_joints, 3))
        self.register_buffer("std3d", torch.ones(self.num_joints, 3))

    # ---------------------------------------------------------------- weights
    def loss_weights(self) -> tuple[float, float]:
        if self.framework == "B":
            return LOSS_WEIGHTS["B-lift" if self.stage == "lift" else "B-2d"]
        return LOSS_WEIGHTS[self.framework]

    # ---------------------------------------------------------------- pose branch
    def pose_from_features(self, features, boxes: list[torch.Tensor], image_shapes) -> dict:
        """Run the keypoint branch on ``boxes``; returns per-ROI tensors concatenated."""
        roi_feats = self.keypoint_roi_pool(features, boxes, image_shapes)
        maps = self.keypoint_predictor(self.keypoint_head(roi_feats))
        K = self.num_joints
        heat, loc = maps[:, :K], maps[:, K:]
        xy_hm, prob = integral.soft_argmax(heat)
        all_boxes = torch.cat(boxes, dim=0).float()
        size = tuple(prob.shape[-2:])
        xy_img = integral.roi_to_image(xy_hm, all_boxes, size)
        H, W = size
        xy_unit = xy_hm / torch.tensor([W, H], dtype=xy_hm.dtype, device=xy_hm.device)
        if self.framework == "A":
            joints3d = integral.integral_3d(prob, loc)
        else:
            x2d = lifter_input(xy_img, all_boxes)
            if self.stage == "lift":
                x2d = x2d.detach()
            joints3d = self.lifter(x2d) if len(x2d) else x2d.new_zeros((0, K, 3))
        return {"xy_unit": xy_unit, "xy_image": xy_img, "prob": prob, "xy_heatmap": xy_hm, "joints3d": joints3d, "boxes": all_boxes}

    def pose_losses(self, out: dict, proposals, matched_idxs, targets) -> dict[str, torch.Tensor]:
        gt_kp, gt_3d, gt_3d_valid = [], [], []
        for props, midx, t in zip(proposals, matched_idxs, targets):
            n = len(props)
            kp = t["keypoints"]
            if kp.numel() == 0:  # an image with nobody in it: its proposals are negatives
                kp = kp.new_zeros((1, self.num_joints, 3))
                midx = midx.clamp(max=0)
            gt_kp.append(kp[midx] if n else kp.new_zeros((0, self.num_joints, 3)))
            j3 = t.get("joints3d", kp.new_zeros((max(len(kp), 1), self.num_joints, 3)))
            v3 = t.get("joints3d_valid", torch.zeros(j3.shape[:2], dtype=torch.bool, device=j3.device))
            gt_3d.append(j3[midx] if n else j3.new_zeros((0, self.num_joints, 3)))
            gt_3d_valid.append(v3[midx].bool() if n else v3.new_zeros((0, self.num_joints), dtype=torch.bool))
        gt_kp = torch.cat(gt_kp)
        gt_3d = torch.cat(gt_3d)
        valid3d = torch.cat(gt_3d_valid)
        target_unit = integral.image_to_roi_unit(gt_kp[..., :2], out["boxes"])
        valid2d = gt_kp[..., 2] > 0
        scale = self.config.roi_2d_scale
        loss2d = masked_mse((out["xy_unit"] - 0.5) * scale, (target_unit - 0.5) * scale, valid2d)
        loss3d = masked_mse(out["joints3d"], gt_3d, valid3d)
        alpha, beta = self.loss_weights()
        return {"loss_2d": alpha * loss2d, "loss_3d": beta * loss3d}

    def postprocess_pose(self, out: dict, result: list[dict]) -> None:
        conf = integral.heatmap_confidence(out["prob"], out["xy_heatmap"], self.config.confidence_radius)
        joints3d_m = out["joints3d"] * self.std3d + self.mean3d
        start = 0
        for r in result:
            n = len(r["boxes"])
            sl = slice(start, start + n)
            start += n
            r["keypoints"] = torch.cat([out["xy_image"][sl], conf[sl, :, None]], dim=-1)
            r["keypoints_scores"] = conf[sl]
            r["joints3d"] = joints3d_m[sl]

    # ---------------------------------------------------------------- forward
    def forward(self, features, proposals, image_shapes, targets=None):
        if self.training:
            if targets is None:
                raise ValueError("targets are needed in training mode")
            proposals, matched_idxs, labels, regression_targets = self.select_training_samples(proposals, targets)
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)

        result: list[dict[str, torch.Tensor]] = []
        losses: dict[str, torch.Tensor] = {}
        if self.training:
            loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels, regression_targets)
            losses = {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}
            pos_props, pos_midx = [], []
            for props, lab, midx in zip(proposals, labels, matched_idxs):
                pos = torch.where(lab > 0)[0]
                pos_props.append(props[pos])
                pos_midx.append(midx[pos])
            out = self.pose_from_features(features, pos_props, image_shapes)
            losses.update(self.pose_losses(out, pos_props, pos_midx, targets))
        else:
            boxes, scores, labels = self.postprocess_detections(class_logits, box_regression, proposals, image_shapes)
            result = [{"boxes": b, "labels": lab, "scores": s} for b, s, lab in zip(boxes, scores, labels)]
            out = self.pose_from_features(features, [r["boxes"] for r in result], image_shapes)
            self.postprocess_pose(out, result)
        return result, losses


def masked_mse(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the valid joints (eq. 13); 0 (with a gradient path) when none."""
    if valid.any():
        return F.mse_loss(pred[valid].float(), target[valid].float())
    return pred.sum() * 0.0


class PoseRCNN(KeypointRCNN):
    """torchvision Keypoint R-CNN whose keypoint branch is the paper's integral pose head."""

    def __init__(self, config: PoseConfig, pretrained_backbone: bool | None = None):
        cfg = config
        pretrained = cfg.pretrained_backbone if pretrained_backbone is None else pretrained_backbone
        backbone = build_backbone(cfg.backbone, pretrained=pretrained, out_channels=cfg.fpn_channels,
                                  freeze_blocks=cfg.freeze_blocks)
        levels = ["0", "1", "2"]
        anchors = AnchorGenerator(sizes=tuple((s,) for s in cfg.anchor_sizes), aspect_ratios=(cfg.aspect_ratios,) * len(cfg.anchor_sizes))
        K = len(cfg.joints)
        n_maps = K + (3 * K if cfg.framework == "A" else 0)
        roi = cfg.heatmap_size // 4
        predictor = KeypointRCNNPredictor(cfg.head_channels, n_maps)
        # near-uniform heatmaps at the start: the soft-argmax begins at the ROI centre
        nn.init.normal_(predictor.kps_score_lowres.weight, std=1e-3)
        super().__init__(
            backbone,
            num_classes=None,
            min_size=cfg.min_size,
            max_size=cfg.max_size,
            image_mean=list(IMAGE_MEAN),
            image_std=list(IMAGE_STD),
            rpn_anchor_generator=anchors,
            rpn_pre_nms_top_n_train=cfg.rpn_pre_nms_top_n_train,
            rpn_post_nms_top_n_train=cfg.rpn_post_nms_top_n_train,
            rpn_pre_nms_top_n_test=cfg.rpn_pre_nms_top_n_test,
            rpn_post_nms_top_n_test=cfg.rpn_post_nms_top_n_test,
            box_roi_pool=MultiScaleRoIAlign(featmap_names=levels, output_size=7, sampling_ratio=2),
            box_head=TwoMLPHead(cfg.fpn_channels * 7 * 7, cfg.box_representation),
            box_predictor=FastRCNNPredictor(cfg.box_representation, 2),
            box_score_thresh=cfg.box_score_thresh,
            box_detections_per_img=cfg.box_detections_per_img,
            box_batch_size_per_image=cfg.box_batch_size_per_image,
            keypoint_roi_pool=MultiScaleRoIAlign(featmap_names=levels, output_size=roi, sampling_ratio=2),
            keypoint_head=KeypointRCNNHeads(cfg.fpn_channels, (cfg.head_channels,) * cfg.head_layers),
            keypoint_predictor=predictor,
        )
        lifter = None if cfg.framework == "A" else LiftingMLP(K, cfg.lifter_hidden, cfg.lifter_dropout)
        self.roi_heads = PoseRoIHeads(self.roi_heads, cfg, lifter)
        # trained apart (trainer.refiner) on windows of the video's own pixels; used by the Estimator
        self.refiner = None
        if cfg.refiner_width:
            n = cfg.refiner_members
            self.refiner = RefinerNet(cfg.refiner_width, K) if n == 1 else nn.ModuleList(
                [RefinerNet(cfg.refiner_width, K) for _ in range(n)])
        self.config = cfg

    # ------------------------------------------------------------ normalisation
    def set_normalisation(self, mean3d, std3d) -> None:
        """Per-joint, per-axis mean and std (m) of the training split's 3D targets."""
        self.roi_heads.mean3d.copy_(torch.as_tensor(mean3d, dtype=torch.float32).reshape(-1, 3))
        self.roi_heads.std3d.copy_(torch.as_tensor(std3d, dtype=torch.float32).reshape(-1, 3))

    @property
    def mean3d(self) -> torch.Tensor:
        return self.roi_heads.mean3d

    @property
    def std3d(self) -> torch.Tensor:
        return self.roi_heads.std3d

    # ------------------------------------------------------------ framework B
    def set_stage(self, stage: str) -> None:
        """Framework B: "2d" trains the detector + 2D head; "lift" freezes them, trains the lifter."""
        if self.config.framework != "B":
            raise ValueError("stages exist only in framework B")
        if stage not in ("2d", "lift"):
            raise ValueError("stage must be '2d' or 'lift'")
        self.roi_heads.stage = stage
        for name, p in self.named_parameters():
            in_lifter = name.startswith("roi_heads.lifter.")
            p.requires_grad_(in_lifter if stage == "lift" else not in_lifter)
        if stage == "2d":  # the early backbone stays frozen as built
            self.backbone.freeze_()

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.config.framework == "B" and self.roi_heads.stage == "lift":
            # frozen parts behave as at inference; only the lifter (its BN, dropout) trains
            for name, m in self.named_children():
                m.eval()
            self.roi_heads.lifter.train()
            # the RPN/ROI sampling still needs training mode to use the targets
            self.training = True
            self.rpn.training = True
            self.roi_heads.training = True
        return self


def build_model(config: PoseConfig | dict | None = None, **overrides) -> PoseRCNN:
    if config is None:
        config = PoseConfig(**overrides)
    elif isinstance(config, dict):
        config = PoseConfig.from_dict({**config, **overrides})
    elif overrides:
        config = PoseConfig.from_dict({**config.to_dict(), **overrides})
    return PoseRCNN(config)
