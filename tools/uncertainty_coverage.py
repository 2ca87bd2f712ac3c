"""How often the reported MKD uncertainty covers the real error, on held-out synthetic trials.

For every trial under each DATA folder (recordings with their C3D), the model's MKD and its per-frame sd
through the path of ``kneeview export --source model`` (``Session.analyse``: the calibrated reconstruction,
the posterior times ``ReconstructionSettings.posterior_inflation``, as the CSV's ``_sd`` columns and the
app's bands) against the same analysis of the C3D. A single-leg squat counts its stance leg only. Prints the share of frames
whose absolute error is within 1 and 2 sd, and the factor the sd would need for 68 %.

    .venv/bin/python tools/uncertainty_coverage.py DATA [DATA ...] [--checkpoint CKPT]

Fit the factor on tuning sets, report it on held-out ones.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from kneeview.io.recording import find_recordings  # noqa: E402
from kneeview.session import Session  # noqa: E402
from trainer.evaluate_clinical import leg_role  # noqa: E402


def errors_and_sds(data_dirs, checkpoint=None, n_samples: int = 100) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per counted leg of every trial: its per-frame |MKD error| and reported sd (mm)."""
    legs = []
    for data in data_dirs:
        for video in sorted(find_recordings(data)):
            s = Session.open(video)
            truth = s.analyse("gt", uncertainty_samples=0).analysis.metrics
            model = s.analyse("model", uncertainty_samples=n_samples, checkpoint=checkpoint, device="cpu")
            meta = s.recording.metadata or {}
            for side in ("right", "left"):
                if leg_role(meta.get("task"), meta.get("side"), side) == "lifted":
                    continue  # the lifted leg of a single-leg squat
                e = np.abs(model.analysis.metrics[f"mkd_{side}_mm"] - truth[f"mkd_{side}_mm"])
                u = model.uncertainty[f"mkd_{side}_mm_sd"]
                ok = np.isfinite(e) & np.isfinite(u) & (u > 0)
                legs.append((e[ok], u[ok]))
    return legs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data", nargs="+", help="folders of recordings with C3D ground truth")
    p.add_argument("--checkpoint", help="model (default: the bundled one)")
    args = p.parse_args(argv)
    legs = errors_and_sds(args.data, args.checkpoint)
    e, sd = np.concatenate([x for x, _ in legs]), np.concatenate([u for _, u in legs])
    print(f"frames {e.size}: |error| <= 1 sd {100 * np.mean(e <= sd):.0f} %, <= 2 sd {100 * np.mean(e <= 2 * sd):.0f} %; "
          f"median sd {np.median(sd):.1f} mm, median |error| {np.median(e):.1f} mm; "
          f"for 68 % the sd needs x{np.quantile(e / sd, 0.68):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
