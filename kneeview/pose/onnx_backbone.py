"""The backbone + FPN run by ONNX Runtime on a CPU (the rest of the network stays in torch).

On this project's 2-core CPU the EfficientNet-Lite0 + FPN trunk is most of a frame's time;
ONNX Runtime's fused depthwise kernels run it in 24 ms where oneDNN through torch takes 41 ms
(320x427 input, measured in one process; ``kneeview bench inference`` prints the whole-frame
figures). The trunk is exported from the loaded weights when the estimator is built (about
1.5 s; nothing is written to disk), with batch, height and width dynamic. Any failure to
export or to build the session leaves the torch trunk in place (:func:`onnx_backbone` returns
None and says why).
"""
from __future__ import annotations

import io
import logging
import warnings
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)


class _Trunk(nn.Module):
    """The backbone with a tuple output (ONNX graphs have no dicts)."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x):
        return tuple(self.backbone(x).values())


class OnnxBackbone(nn.Module):
    """Drop-in for the detector's backbone: ``forward(images) -> OrderedDict`` of FPN maps.

    ``source`` is the torch backbone it was exported from (kept for the GPU and for training).
    """

    def __init__(self, session, source: nn.Module, names: tuple[str, ...]):
        super().__init__()
        self.session = session
        self.source = source
        self.out_channels = source.out_channels
        self.names = names
        self._input = session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        feed = {self._input: np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)}
        outs = self.session.run(None, feed)
        # the heads' weights are channels-last (NHWC), as the torch trunk's maps would be
        return OrderedDict((k, torch.from_numpy(v).contiguous(memory_format=torch.channels_last))
                           for k, v in zip(self.names, outs))


def onnx_backbone(backbone: nn.Module, threads: int | None = None, example_size=(320, 448)):
    """An :class:`OnnxBackbone` for ``backbone`` (eval mode), or None (logged) when ONNX Runtime
    is missing or the export fails."""
    try:
        import onnxruntime as ort
    except ImportError:
        log.info("onnxruntime is not installed: the backbone runs in torch")
        return None
    trunk = _Trunk(backbone).eval()
    with torch.no_grad():
        names = tuple(backbone(torch.zeros(1, 3, *example_size)).keys())
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
            torch.onnx.export(trunk, (torch.zeros(1, 3, *example_size),), buf, dynamo=False, input_names=["images"],
                              output_names=[f"fpn_{n}" for n in names],
                              dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}}, opset_version=17)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # torch runs the heads right after: ONNX Runtime's threads must not spin-wait for more work
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # an exporter or runtime that cannot take this network: torch still can
        log.warning("the backbone could not be run by ONNX Runtime (%s: %s); it runs in torch", type(exc).__name__, exc)
        return None
    return OnnxBackbone(session, backbone, names)
