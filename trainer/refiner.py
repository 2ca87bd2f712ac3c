"""Train the native-resolution keypoint refiner (:mod:`kneeview.pose.refine`) and attach it to a checkpoint.

Three steps, each a subcommand:

* ``prepare OUT.npz DATA [DATA ...]``: for every 3rd frame of every synthetic recording under
  each DATA folder (``kneeview synth``; C3D ground truth), the checkpoint's own detection and
  keypoints, then one window per joint around the keypoint (jittered by 4 % of the window, the
  window's side drawn within +-10 %) and the true keypoint (the C3D through the calibration) in
  window pixels. The refiner learns to correct the network it will follow.
* ``fit DATA.npz [DATA.npz ...] --out OUT.safetensors [--minutes M]``: an eighth of the athletes held out; L1 on the
  soft-argmax position, mirrored windows (left <-> right joints swapped), brightness and offset
  jitter, AdamW with a cosine schedule for a fixed time budget; prints the held-out median
  window error beside the network's.
* ``attach CHECKPOINT REFINER.safetensors OUT``: a copy of the checkpoint with the refiner
  inside (``refiner.*`` tensors; ``config.refiner_width``), its card recording the refiner's
  training, so one file is one model and the estimate cache's key changes with it.

    python -m trainer.refiner prepare /work/rdata/ref_train.npz /work/rdata/r81001 ...
    python -m trainer.refiner fit /work/rdata/ref_train.npz [MORE.npz ...] --out /work/rdata/refiner.safetensors --minutes 25
    python -m trainer.refiner attach resources/model/kneeview-pose.safetensors /work/rdata/refiner.safetensors OUT
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from kneeview.pose.refine import CROP, MIRROR, WINDOW_FRACTION, RefinerNet, cut_windows, heatmap_position, raw_to_window, to_tensor

EVERY = 3


def prepare(out, data_dirs, checkpoint=None, seed: int = 7) -> int:
    from kneeview.io.recording import find_recordings
    from kneeview.io.video import VideoReader
    from kneeview.session import Session

    rng = np.random.default_rng(seed)
    est = None
    windows, targets, joint, trial = [], [], [], []
    t0 = time.time()
    for d in data_dirs:
        for video in sorted(find_recordings(d)):
            s = Session.open(video)
            est = est or s.load_estimator(checkpoint, "cpu")
            truth = s.analyse("gt", uncertainty_samples=0).inputs.keypoints_px
            reader = VideoReader(s.recording.views[0].video_path)
            for t in range(0, len(reader), EVERY):
                if not np.isfinite(truth[t]).all():
                    continue
                frame = reader[t]
                with torch.inference_mode():
                    ((o, sx, sy),) = est._forward([frame])
                if len(o["scores"]) == 0:
                    continue
                i = int(torch.argmax(o["scores"]))
                kp = est._person(o, i, sx, sy).keypoints_px  # no frame: the network's own keypoints
                side = WINDOW_FRACTION * est.box_height_px(o, i, sy) * rng.uniform(0.9, 1.1)
                centres = kp + rng.normal(0.0, 0.04 * side, kp.shape)
                windows.append(cut_windows(frame, centres, side))
                targets.append(raw_to_window(truth[t], centres, side).astype(np.float32))
                joint.append(np.arange(len(kp), dtype=np.int8))
                trial += [str(video)] * len(kp)
            print(f"{video}: {len(windows)} frames, {time.time() - t0:.0f} s", flush=True)
    np.savez(out, windows=np.concatenate(windows), targets=np.concatenate(targets), joint=np.concatenate(joint),
             trial=np.array(trial))
    return len(trial)


def fit(data, out, minutes: float = 25.0, width: int = 24, seed: int = 0, threads: int = 2) -> dict:
    """Train on the windows of ``data`` (one or more ``prepare`` files); write ``out``."""
    from safetensors.torch import save_file

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    data = [data] if isinstance(data, (str, Path)) else list(data)
    parts = [np.load(f) for f in data]
    win, tgt, trial = (np.concatenate([d[k] for d in parts]) for k in ("windows", "targets", "trial"))
    jnt = np.concatenate([d["joint"] for d in parts]).astype(np.int64)
    inside = ((tgt > 2) & (tgt < CROP - 3)).all(-1)  # a joint outside its window teaches nothing
    rng = np.random.default_rng(seed)
    # held out by athlete (the session folder's S<seed>-A<n>), not by trial: a refiner that learns one
    # body's shoes and shape reads that body's other trials well and a new body's with a bias
    athlete = np.array([Path(t).parent.name.split("_")[0] for t in trial])
    names = np.unique(athlete)
    held = set(rng.choice(names, max(1, len(names) // 8), replace=False))
    is_held = np.array([a in held for a in athlete])
    train_idx, val_idx = np.flatnonzero(~is_held & inside), np.flatnonzero(is_held & inside)
    net = RefinerNet(width)
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    budget, t0, step, batch = minutes * 60.0, time.time(), 0, 64
    mirror = np.array(MIRROR)

    def held_out_error():
        net.eval()
        errs = []
        with torch.no_grad():
            for k in range(0, len(val_idx), 512):
                b = val_idx[k:k + 512]
                p = heatmap_position(net(to_tensor(win[b])), torch.as_tensor(jnt[b])).numpy()
                errs.append(np.linalg.norm(p - tgt[b], axis=-1))
        net.train()
        centre = (CROP - 1) / 2.0
        return float(np.median(np.concatenate(errs))), float(np.median(np.linalg.norm(tgt[val_idx] - centre, axis=-1)))

    while time.time() - t0 < budget:
        for g in opt.param_groups:
            g["lr"] = 2e-3 * 0.5 * (1.0 + np.cos(np.pi * min((time.time() - t0) / budget, 1.0)))
        b = rng.choice(train_idx, batch)
        w, t, j = win[b].copy(), tgt[b].copy(), jnt[b].copy()
        flip = rng.random(batch) < 0.5
        w[flip] = w[flip, :, ::-1]
        t[flip, 0] = CROP - 1 - t[flip, 0]
        j[flip] = mirror[j[flip]]
        x = to_tensor(w) * torch.from_numpy(rng.uniform(0.7, 1.3, (batch, 1, 1, 1))).float() \
            + torch.from_numpy(rng.normal(0.0, 0.03, (batch, 1, 1, 1))).float()
        loss = (heatmap_position(net(x), torch.as_tensor(j)) - torch.from_numpy(t)).abs().sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 500 == 0:
            err, before = held_out_error()
            print(f"step {step} {time.time() - t0:.0f} s loss {loss.item():.2f}: held-out median {err:.2f} window px "
                  f"(network {before:.2f})", flush=True)
    err, before = held_out_error()
    record = {"data": [str(f) for f in data], "windows_train": int(len(train_idx)), "windows_held_out": int(len(val_idx)),
              "held_out_athletes": len(held), "steps": step, "minutes": minutes, "width": width, "seed": seed,
              "held_out_median_window_px": round(err, 3), "network_median_window_px": round(before, 3),
              "window_fraction": WINDOW_FRACTION, "crop": CROP}
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(out),
              metadata={"training": json.dumps(record)})
    print(json.dumps(record))
    return record


def attach(checkpoint, refiner, out) -> Path:
    """``checkpoint`` with the refiner's weights inside, written to ``out`` (+ its card)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from kneeview.pose.checkpoint import load_checkpoint, save_checkpoint
    from kneeview.pose.model import PoseConfig, PoseRCNN

    model, card = load_checkpoint(checkpoint)
    state = load_file(str(refiner))
    width = int(state["stem.0.0.weight"].shape[0])
    with safe_open(str(refiner), "pt") as fh:
        training = json.loads((fh.metadata() or {}).get("training", "{}"))
    config = PoseConfig.from_dict({**model.config.to_dict(), "refiner_width": width, "pretrained_backbone": False})
    merged = PoseRCNN(config, pretrained_backbone=False)
    missing, unexpected = merged.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("refiner.") for k in missing), (missing, unexpected)
    merged.refiner.load_state_dict(state, strict=True)
    fp16 = card["weights"].get("dtype") == "float16"
    path, _ = save_checkpoint(merged.eval(), out, training=card.get("training"), evaluation=card.get("evaluation"),
                              fp16=fp16, extra={"refiner": {"training": training, "from": Path(refiner).name}})
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("out")
    p.add_argument("data", nargs="+")
    p.add_argument("--checkpoint")
    p = sub.add_parser("fit")
    p.add_argument("data", nargs="+", help="prepare's files")
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=25.0)
    p.add_argument("--width", type=int, default=24)
    p = sub.add_parser("attach")
    p.add_argument("checkpoint")
    p.add_argument("refiner")
    p.add_argument("out")
    a = ap.parse_args(argv)
    if a.cmd == "prepare":
        prepare(a.out, a.data, a.checkpoint)
    elif a.cmd == "fit":
        fit(a.data, a.out, a.minutes, a.width)
    else:
        print(attach(a.checkpoint, a.refiner, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
