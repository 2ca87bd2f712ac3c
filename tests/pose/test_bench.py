"""`kneeview bench inference` wiring (figures themselves are measured, not asserted)."""
from __future__ import annotations

import argparse
import json

from kneeview import cli_bench as cli


def test_bench_inference_command_prints_json(capsys, monkeypatch):
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "inference", "--random-init", "--frames", "2", "--no-baseline", "--json",
                              "--size", "320x240"])
    monkeypatch.setattr(cli, "_frames", _drawn)  # no demo video needed
    assert args.func(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["cpu_batch1_fps"] > 0 and res["frame_size"] == [320, 240]
    assert "baseline_cpu_batch1_fps" not in res
    # the trunk ran in ONNX Runtime, and the all-torch network was timed in the same run
    assert res["cpu_runtime"] == "onnxruntime"
    assert res["cpu_batch1_fps_torch"] > 0
    assert res["runtime_speedup"] == res["cpu_batch1_fps"] / res["cpu_batch1_fps_torch"]


def _drawn(n, size):
    import numpy as np

    W, H = size
    return [np.full((H, W, 3), 100, np.uint8) for _ in range(n)]
