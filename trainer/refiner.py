r"""Train the native-resolution keypoint refiner (:mod:`kneeview.pose.refine`) and attach it to a checkpoint.

Four steps, each a subcommand:

* ``prepare OUT.npz DATA [DATA ...]``: for every 3rd frame of every synthetic recording under
  each DATA folder (``kneeview synth``; C3D ground truth), the checkpoint's own detection and
  keypoints, then per joint a window twice the refiner's around the keypoint, the network's
  keypoints of all joints and the true keypoint (the C3D through the calibration) in that
  window's pixels. The refiner learns to correct the network it will follow.
* ``prepare-real OUT.npz FOLDER LABELS.c3d``: the same for a real multi-view recording and its
  pseudo-labels, on the training frames of the training views of the checkpoint card's real split.
* ``fit DATA.npz [DATA.npz ...] --out OUT.safetensors [--minutes M] [--init R] [--real-fraction F]``:
  an eighth of the (synthetic) athletes held out; L1 on the soft-argmax position, mirrored windows
  (left <-> right joints swapped), brightness and offset jitter, AdamW with a cosine schedule for a
  fixed time budget; prints the held-out median window error beside the network's. Each step cuts
  its windows from the wide ones (:func:`sample_windows`: moved and scaled, so the refiner also
  learns to find a joint the network missed by a quarter of the window); ``F`` of each batch from
  ``prepare-real`` windows.
* ``attach CHECKPOINT REFINER.safetensors [MORE.safetensors ...] OUT [--flip] [--note TEXT]``: a copy of
  the checkpoint with the refiner inside (``refiner.*`` tensors; ``config.refiner_width``; several files:
  an ensemble, ``refiner.<i>.*`` and ``config.refiner_members``; ``--flip``: each window is also read
  mirrored, ``config.refiner_flip``), its card recording each refiner's training, sha256 and note, so one
  file is one model and the estimate cache's key changes with it.

The shipped refiners (docs/clinical-benchmark-history.md, "The shipped model refines its keypoints" and
"Two keypoint refiners"): the
two ``fit`` commands below as written (seed 0: refiner3, then refiner4) and again with ``--seed 1`` (writing
refiner_s1a, then refiner_s1), then both attached with ``--flip``:

    python -m trainer.refiner prepare R.npz RUNS/r81001 ... RUNS/r81006   # and M.npz (82001-82030), P.npz (83001-83030)
    python -m trainer.refiner prepare-real REAL.npz ~/.cache/kneeview/pose2sim/pose2sim-0.10.49/Demo_SinglePerson \
        tests/pose/data/Demo_SinglePerson.pseudolabels.c3d
    python -m trainer.refiner fit R.npz M.npz P.npz --out refiner3.safetensors --minutes 25
    python -m trainer.refiner fit R.npz M.npz P.npz REAL.npz --init refiner3.safetensors --lr 0.001 \
        --real-fraction 0.25 --minutes 8 --out refiner4.safetensors
    python -m trainer.refiner attach NETWORK.safetensors refiner4.safetensors refiner_s1.safetensors OUT --flip \
        --note "how the data was made"
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from kneeview.analysis.facing import PAIRS
from kneeview.pose.refine import (CROP, WINDOW_FRACTION, RefinerNet, cut_windows, heatmap_position, mirror_points,
                                  pose_channels, pose_in_windows, raw_to_window, refiner_members, to_tensor)

EVERY = 3
#: prepare stores windows this many times the refiner's side (at as many times its pixels), so fit can move them
WIDE = 2


class _Windows:
    """prepare's output, one frame at a time: the checkpoint's own keypoints on a frame, then per joint
    the wide window around its keypoint with every joint's keypoint and the truth in its pixels."""

    def __init__(self, est, nearest_pair: bool = False):
        self.est = est
        self.nearest_pair = nearest_pair
        self.windows, self.targets, self.pose, self.joint, self.trial, self.real = [], [], [], [], [], []

    def add(self, frame, truth_px, trial: str, real: bool = False) -> None:
        if not np.isfinite(truth_px).all():
            return
        pose, box_height = self.est.predict_best(frame, refine=False)  # the network's own keypoints
        kp = pose.keypoints_px
        if not np.isfinite(kp).all() or not np.isfinite(box_height):
            return
        if self.nearest_pair:
            truth_px = nearest_pair_targets(kp, truth_px)
        wide = WIDE * WINDOW_FRACTION * box_height
        self.windows.append(cut_windows(frame, kp, wide, WIDE * CROP))
        self.targets.append(raw_to_window(truth_px, kp, wide, WIDE * CROP).astype(np.float32))
        self.pose.append(pose_in_windows(kp, kp, wide, WIDE * CROP).astype(np.float32))
        self.joint.append(np.arange(len(kp), dtype=np.int8))
        self.trial += [trial] * len(kp)
        self.real += [real] * len(kp)

    def save(self, out) -> int:
        np.savez(out, windows=np.concatenate(self.windows), targets=np.concatenate(self.targets),
                 pose=np.concatenate(self.pose), joint=np.concatenate(self.joint), trial=np.array(self.trial),
                 real=np.array(self.real))
        return len(self.trial)


def nearest_pair_targets(keypoints_px, truth_px) -> np.ndarray:
    """The truth (6, 2) with each left/right pair in the order nearest the network's keypoints: the
    refiner then refines the joint the network pointed at, and which side is which is decided
    afterwards (:mod:`kneeview.analysis.facing`). From behind the network labels the athlete as if
    facing the camera (hips swapped in 90 % of rear frames); a target on the other side of the body
    would teach the refiner to jump across it."""
    kp = np.asarray(keypoints_px, np.float64)
    out = np.array(truth_px, np.float64)
    for r, l in PAIRS:
        same = np.linalg.norm(kp[r] - out[r]) + np.linalg.norm(kp[l] - out[l])
        swapped = np.linalg.norm(kp[r] - out[l]) + np.linalg.norm(kp[l] - out[r])
        if swapped < same:
            out[[r, l]] = out[[l, r]]
    return out


def prepare(out, data_dirs, checkpoint=None, nearest_pair: bool = False) -> int:
    """Windows of every 3rd frame of the synthetic recordings under ``data_dirs`` (``nearest_pair``:
    :func:`nearest_pair_targets`)."""
    from kneeview.io.recording import find_recordings
    from kneeview.io.video import VideoReader
    from kneeview.session import Session

    acc, t0 = None, time.time()
    for d in data_dirs:
        for video in sorted(find_recordings(d)):
            s = Session.open(video)
            acc = acc or _Windows(s.load_estimator(checkpoint, "cpu"), nearest_pair)
            truth = s.analyse("gt", uncertainty_samples=0).inputs.keypoints_px
            reader = VideoReader(s.recording.views[0].video_path)
            for t in range(0, len(reader), EVERY):
                acc.add(reader[t], truth[t], str(video))
            print(f"{video}: {len(acc.trial) // 6} frames, {time.time() - t0:.0f} s", flush=True)
    return acc.save(out)


def prepare_real(out, folder, labels, checkpoint=None) -> int:
    """Windows of a real multi-view recording (``folder``, its pseudo-labels ``labels``, a C3D): the
    training frames of the training views of the checkpoint card's real split, never its test
    segments or held-out views, so the refiner does not train on what the network is measured on."""
    from kneeview.io.recording import open_recording
    from kneeview.pose import load_estimator
    from trainer.samples import view_name

    est = load_estimator(checkpoint, "cpu")
    entries = (est.card.get("training") or {}).get("real") or []
    rec = open_recording(folder, c3d=labels)
    entry = next((e for e in entries if e["name"].split("/")[-1] == rec.name.split("/")[-1]), None)
    if entry is None:
        raise SystemExit(f"{checkpoint or 'the bundled model'}: its card has no real split for {rec.name!r}")
    test = set(int(f) for f in entry["test_frames"])
    guard = int(entry["guard_frames"])
    near = {f + d for f in test for d in range(-guard, guard + 1)}
    acc = _Windows(est)
    for vi, view in enumerate(rec.views):
        if view_name(view) not in entry["train_views"]:
            continue
        truth = view.camera.project(rec.ground_truth_frames(vi))
        with view.open_video(cache_mb=0) as reader:
            for t in range(min(len(reader), len(truth))):
                if t not in near:
                    acc.add(np.asarray(reader[t]), truth[t], f"real:{rec.name}/{view_name(view)}", real=True)
        print(f"{view_name(view)}: {len(acc.trial) // 6} frames", flush=True)
    return acc.save(out)


def sample_windows(wide, target, pose, joint, rng, jitter=True):
    """Training windows cut from ``prepare``'s wide ones: (B, 3, CROP, CROP) images, (B, K, CROP, CROP)
    pose channels, (B, 2) targets in window pixels. With ``jitter`` the window's centre moves off the
    network's keypoint (mostly by N(0, 4 %) of its side, a fifth of the time anywhere within 25 %)
    and its side by +-10 %; the queried joint's pose channel sits at the (moved) centre, as it does at
    run time, the other joints' at the network's keypoints (+-2 %). Without: the centre window, exact pixels."""
    b = len(wide)
    o = (WIDE * CROP - 1) / 2.0  # the wide window's centre = the network's keypoint
    if jitter:
        f = rng.uniform(0.9, 1.1, b)
        far = rng.random(b) < 0.2
        r, a = 0.25 * CROP * np.sqrt(rng.random(b)), rng.uniform(0, 2 * np.pi, b)
        d = np.where(far[:, None], np.stack([r * np.cos(a), r * np.sin(a)], -1), rng.normal(0, 0.04 * CROP, (b, 2)))
    else:
        f, d = np.ones(b), np.zeros((b, 2))
    theta = np.zeros((b, 2, 3))
    theta[:, 0, 0] = theta[:, 1, 1] = f / WIDE
    theta[:, :, 2] = d / (WIDE * CROP / 2.0)
    img = to_tensor(wide)
    grid = torch.nn.functional.affine_grid(torch.from_numpy(theta).float(), (b, 3, CROP, CROP), align_corners=False)
    img = torch.nn.functional.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def to_window(xy):  # wide window pixels -> this window's pixels
        return (xy - o - d.reshape(b, *([1] * (xy.ndim - 2)), 2)) / f.reshape(b, *([1] * (xy.ndim - 1))) + (CROP - 1) / 2.0

    pts = to_window(pose.astype(np.float64))
    if jitter:
        pts = pts + rng.normal(0, 0.02 * CROP, pts.shape)
    pts[np.arange(b), joint] = (CROP - 1) / 2.0
    return img, pose_channels(pts), to_window(target.astype(np.float64))


def fit(data, out, minutes: float = 25.0, width: int = 24, seed: int = 0, threads: int = 2, init=None,
        real_fraction: float = 0.0, lr: float = 2e-3) -> dict:
    """Train on the windows of ``data`` (one or more ``prepare`` files); write ``out``. ``init``: a
    refiner to start from; ``real_fraction``: the share of each batch drawn from real windows
    (``prepare_real``; never held out: the network's own test frames are already kept out)."""
    from safetensors.torch import save_file

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    data = [data] if isinstance(data, (str, Path)) else list(data)
    parts = [np.load(f) for f in data]
    win, tgt, pose, trial = (np.concatenate([d[k] for d in parts]) for k in ("windows", "targets", "pose", "trial"))
    jnt = np.concatenate([d["joint"] for d in parts]).astype(np.int64)
    real = np.concatenate([d["real"] if "real" in d else np.zeros(len(d["joint"]), bool) for d in parts])
    rng = np.random.default_rng(seed)
    # held out by athlete (the session folder's S<seed>-A<n>), not by trial: a refiner that learns one
    # body's shoes and shape reads that body's other trials well and a new body's with a bias
    athlete = np.array([Path(t).parent.name.split("_")[0] for t in trial])
    names = np.unique(athlete[~real])
    held = set(rng.choice(names, max(1, len(names) // 8), replace=False))
    is_held = np.array([a in held for a in athlete]) & ~real
    centre = (WIDE * CROP - 1) / 2.0
    near = (np.abs(tgt - centre) < CROP / 2 - 3).all(-1)  # a joint outside its centre window teaches nothing
    train_idx, val_idx = np.flatnonzero(~is_held & ~real), np.flatnonzero(is_held & near)
    real_idx = np.flatnonzero(real)
    n_real = int(round(real_fraction * 64)) if len(real_idx) else 0
    net = RefinerNet(width)
    if init is not None:
        from safetensors.torch import load_file

        net.load_state_dict(load_file(str(init)), strict=True)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    budget, t0, step, batch = minutes * 60.0, time.time(), 0, 64

    def held_out_error():
        net.eval()
        errs = []
        with torch.no_grad():
            for k in range(0, len(val_idx), 512):
                b = val_idx[k:k + 512]
                img, pch, t = sample_windows(win[b], tgt[b], pose[b], jnt[b], rng, jitter=False)
                p = heatmap_position(net(img, pch), torch.as_tensor(jnt[b])).numpy()
                errs.append(np.linalg.norm(p - t, axis=-1))
        net.train()
        return float(np.median(np.concatenate(errs))), float(np.median(np.linalg.norm(tgt[val_idx] - centre, axis=-1)))

    while time.time() - t0 < budget:
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1.0 + np.cos(np.pi * min((time.time() - t0) / budget, 1.0)))
        b = np.concatenate([rng.choice(train_idx, batch - n_real), rng.choice(real_idx, n_real)])
        w, t, ps, j = win[b].copy(), tgt[b].copy(), pose[b].copy(), jnt[b].copy()
        flip = rng.random(batch) < 0.5  # the mirror image of a right leg is a left leg
        w[flip] = w[flip, :, ::-1]
        t[flip, 0] = WIDE * CROP - 1 - t[flip, 0]
        ps[flip], j[flip] = mirror_points(ps[flip], j[flip], WIDE * CROP)
        img, pch, t = sample_windows(w, t, ps, j, rng)
        img = img * torch.from_numpy(rng.uniform(0.7, 1.3, (batch, 1, 1, 1))).float() \
            + torch.from_numpy(rng.normal(0.0, 0.03, (batch, 1, 1, 1))).float()
        inside = torch.from_numpy(((t > 2) & (t < CROP - 3)).all(-1)).float()
        err = (heatmap_position(net(img, pch), torch.as_tensor(j)) - torch.from_numpy(t).float()).abs().sum(-1)
        loss = (err * inside).sum() / inside.sum().clamp(min=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 500 == 0:
            err, before = held_out_error()
            print(f"step {step} {time.time() - t0:.0f} s loss {loss.item():.2f}: held-out median {err:.2f} window px "
                  f"(network {before:.2f})", flush=True)
    err, before = held_out_error()
    record = {"data": [str(f) for f in data], "windows_train": int(len(train_idx)), "windows_real": int(len(real_idx)),
              "real_fraction": real_fraction if n_real else 0.0, "init": Path(init).name if init else None, "lr": lr,
              "windows_held_out": int(len(val_idx)),
              "held_out_athletes": len(held), "steps": step, "minutes": minutes, "width": width, "seed": seed,
              "held_out_median_window_px": round(err, 3), "network_median_window_px": round(before, 3),
              "window_fraction": WINDOW_FRACTION, "crop": CROP}
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(out),
              metadata={"training": json.dumps(record)})
    print(json.dumps(record))
    return record


def _refiner_record(path) -> dict:
    import hashlib

    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        training = json.loads((fh.metadata() or {}).get("training", "{}"))
    return {"training": training, "from": Path(path).name, "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}


def attach(checkpoint, refiner, out, note: str | None = None, flip: bool = False) -> Path:
    """``checkpoint`` with the refiner's weights inside, written to ``out`` (+ its card, which records
    the refiner's training, its file's sha256 and ``note``: how its data was made). ``refiner``: one
    file, or several of the same width (an ensemble, ``config.refiner_members``; the card records each
    in ``members``); ``flip``: the estimator also reads the mirrored windows (``config.refiner_flip``)."""
    from safetensors.torch import load_file

    from kneeview.pose.checkpoint import load_checkpoint, save_checkpoint
    from kneeview.pose.model import PoseConfig, PoseRCNN

    files = [refiner] if isinstance(refiner, (str, Path)) else list(refiner)
    if not files:
        raise ValueError("attach needs at least one refiner")
    model, card = load_checkpoint(checkpoint)
    states = [load_file(str(f)) for f in files]
    width = int(states[0]["stem.0.0.weight"].shape[0])
    for f, st in zip(files, states):
        if int(st["stem.0.0.weight"].shape[0]) != width:
            raise ValueError(f"{f}: width {int(st['stem.0.0.weight'].shape[0])}, the first refiner's is {width}")
    config = PoseConfig.from_dict({**model.config.to_dict(), "refiner_width": width, "refiner_members": len(files),
                                   "refiner_flip": bool(flip), "pretrained_backbone": False})
    merged = PoseRCNN(config, pretrained_backbone=False)
    missing, unexpected = merged.load_state_dict(
        {k: v for k, v in model.state_dict().items() if not k.startswith("refiner.")}, strict=False)
    assert not unexpected and all(k.startswith("refiner.") for k in missing), (missing, unexpected)
    for net, st in zip(refiner_members(merged.refiner), states):
        net.load_state_dict(st, strict=True)
    records = [_refiner_record(f) for f in files]
    record = records[0] if len(files) == 1 else {"members": records}
    record = {**record, "flip": bool(flip), **({"note": note} if note else {})}
    fp16 = card["weights"].get("dtype") == "float16"
    path, _ = save_checkpoint(merged.eval(), out, training=card.get("training"), evaluation=card.get("evaluation"),
                              fp16=fp16, extra={"refiner": record})
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("out")
    p.add_argument("data", nargs="+")
    p.add_argument("--checkpoint")
    p.add_argument("--nearest-pair", action="store_true",
                   help="each left/right pair's truth in the order nearest the network's keypoints (rear views)")
    p = sub.add_parser("prepare-real")
    p.add_argument("out")
    p.add_argument("folder", help="the real multi-view recording (e.g. Pose2Sim's demo, trainer.pose2sim_demo)")
    p.add_argument("labels", help="its pseudo-labels, a C3D (docs/real-recording.md)")
    p.add_argument("--checkpoint", help="whose card's real split to respect (default: the bundled model)")
    p = sub.add_parser("fit")
    p.add_argument("data", nargs="+", help="prepare's files")
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=25.0)
    p.add_argument("--width", type=int, default=24)
    p.add_argument("--init", help="a refiner to start from")
    p.add_argument("--real-fraction", type=float, default=0.0, help="share of each batch from prepare-real windows")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0, help="initialisation, batches and which athletes are held out")
    p = sub.add_parser("attach")
    p.add_argument("checkpoint")
    p.add_argument("refiner", nargs="+", help="one refiner file, or several (an ensemble, their readings averaged)")
    p.add_argument("out")
    p.add_argument("--flip", action="store_true", help="also read each window's mirror image (averaged in)")
    p.add_argument("--note", help="how the refiner's data was made (recorded in the card)")
    a = ap.parse_args(argv)
    if a.cmd == "prepare":
        prepare(a.out, a.data, a.checkpoint, a.nearest_pair)
    elif a.cmd == "prepare-real":
        prepare_real(a.out, a.folder, a.labels, a.checkpoint)
    elif a.cmd == "fit":
        fit(a.data, a.out, a.minutes, a.width, seed=a.seed, init=a.init, real_fraction=a.real_fraction, lr=a.lr)
    else:
        print(attach(a.checkpoint, a.refiner, a.out, a.note, flip=a.flip))
    return 0


if __name__ == "__main__":
    sys.exit(main())
