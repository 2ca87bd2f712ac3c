"""The ``kneeview-train fit`` command line the trainer's tests run: tiny, fast, no evaluation."""
from __future__ import annotations

import json


def fit_args(data, run, iterations=4, extra=(), framework=None, model=None):
    """Arguments of a short run on ``data`` into ``run``; ``model``: --model overrides (a fresh network)."""
    args = ["fit", "--data", str(data), "--run", str(run), "--iterations", str(iterations), "--frames-per-video", "4",
            "--workers", "0", "--checkpoint-every", "2", "--warmup-iterations", "1", "--quiet", "--no-eval", *extra]
    if framework:
        args += ["--framework", framework]
    for k, v in (model or {}).items():
        args += ["--model", f"{k}={json.dumps(v)}"]
    return args
