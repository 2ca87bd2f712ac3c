"""docs/synthetic-bodies-grid.png: synthetic frames, the primitive figures above the Anny bodies.

    python tools/make_bodies_grid.py [--out docs/synthetic-bodies-grid.png] [--seed 16]

Each column is one trial (same seed, camera, lab, motion and frame) rendered twice:
``--bodies primitive`` (top) and ``--bodies anny`` (bottom), at 640x480, cropped around
the athlete. Deterministic for a seed.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("LP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

TRIALS = ((0, "DJ", "frontal", 0.55), (1, "SLS", "oblique", 0.5), (2, "DJ", "oblique", 0.35),
          (3, "SLS", "frontal", 0.6), (4, "DJ", "rear", 0.62), (5, "SLS", "high", 0.5))


def crop_box(built, j: int, size) -> tuple[int, int, int, int]:
    cam = built.cameras[0]
    k = int(round(built.motion.rate_hz / built.fps))
    pts = np.stack([v[j * k] for v in built.motion.points.values()])
    uv = cam.project(pts)
    c = np.nanmean(uv, axis=0)
    h = int(np.clip(1.5 * np.ptp(uv[:, 1]), 160, size[1]))
    w = int(h * 0.75)
    x0 = int(np.clip(c[0] - w / 2, 0, size[0] - w))
    y0 = int(np.clip(c[1] - h / 2, 0, size[1] - h))
    return x0, y0, w, h


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/synthetic-bodies-grid.png")
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()
    from kneeview.atomic import atomic_write_bytes
    from kneeview.synth.dataset import TrialSpec, build_trial

    size = (640, 480)
    cell = (240, 320)  # w, h
    cols = []
    for index, task, placement, when in TRIALS:
        spec = TrialSpec(seed=args.seed, index=index, athlete_index=index, year=1, task=task, size=size)
        tiles = []
        box = None
        for bodies in ("primitive", "anny"):
            built = build_trial(TrialSpec(**{**spec.__dict__, "bodies": bodies}), placement=placement, recompress=False)
            j = int(when * (len(built.renderer) - 1))
            if box is None:
                box = crop_box(built, j, size)
            x0, y0, w, h = box
            frame = built.renderer.frame(j)[y0:y0 + h, x0:x0 + w]
            tiles.append(cv2.resize(frame, cell, interpolation=cv2.INTER_AREA))
        cols.append(np.vstack(tiles))
    grid = np.hstack([np.pad(c, ((0, 0), (2, 2), (0, 0)), constant_values=255) for c in cols])
    label = np.full((28, grid.shape[1], 3), 255, np.uint8)
    cv2.putText(label, "top: --bodies primitive    bottom: --bodies anny (same trial, camera, lab and frame)",
                (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (30, 30, 30), 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", np.vstack([label, grid]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(args.out), png.tobytes())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
