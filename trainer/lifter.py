"""Train the temporal 2D -> 3D lifter (:mod:`kneeview.analysis.lifting`) without rendering.

Training pairs come straight from the synthetic motion generator: each trial's lab-frame joint
centres (drop jumps and single-leg squats, random athletes and valgus) seen through a random
frontal or oblique video camera (:func:`kneeview.synth.cameras.video_camera`, as
:func:`kneeview.synth.dataset.build_trial` draws them), projected without distortion (the
lifter's input is undistorted), with 2D noise shaped like the pose network's: measured on
seedA/seedA640 its 2D error is 0.2-0.45 % of the image diagonal (median), strongly correlated
frame to frame (lag-1 autocorrelation 0.85-0.99), so the noise is a per-trial per-joint bias,
a slowly varying part, a small white part and rare multi-frame outliers.
Target: the camera-frame joints relative to the mid-hip, in leg lengths.

    python -m trainer.lifter --out lifter_6k_s200000.npz --seed 200000        # one network, ~9 min on 2 cores
    python -m trainer.lifter --out resources/model/lifter.npz --combine A.npz B.npz ...   # an ensemble

The window spans 3 s (31 samples): the shape of the whole landing or squat around a frame tells
a knee that moves medially from one that moves forward far better than a third of a second does
(held-out Anny trials, peak MKD median 12.5 -> 7.0 mm with 0.32 s -> 3 s, docs/clinical-benchmark-history.md). The shipped
lifter is seven such networks (seeds 200000-500000, 6,000 and 12,000 motions a pass; its record
``resources/model/lifter.training.txt`` lists the commands): one network's figures depend on its
training seed by more than most changes being measured, and their mean does not.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from kneeview import joints as J
from kneeview.analysis.lifting import (HIPS, LifterNet, load_lifter, save_lifter, stride_for, up_in_camera,
                                      window_features)
from kneeview.synth.cameras import video_camera
from kneeview.synth.dataset import athlete_for, make_motion, plan_dataset

SIZES = ((1920, 1080), (1280, 720), (640, 480), (1280, 1024))
WINDOW = 31
WINDOW_S = 3.0
#: Seeds of the evaluation sets (tuning and held out); training must never draw from them.
FORBIDDEN_SEEDS = {90001, 90002, 90003, 90004, 90005, 90021, 90023, 90031, 90041, 97001, 97002, 97003, 97011,
                   97012, 97021, 97022, 97023, 97031, 97032, 97041, 778}
#: a "high" training camera (``--high-fraction``): in front of the athlete (frontal or oblique) but mounted
#: this high (mm) and this far away, as the video cameras of a motion-capture lab often are (the real
#: recording's four: 1.7-2.1 m up, 3.1-3.8 m away, looking down 16-25 degrees)
HIGH_CAMERA_MM = (1700.0, 3200.0)
HIGH_DISTANCE_MM = (2500.0, 6500.0)


def leg_length(joints):
    """Median over frames of the mean (thigh + shank) of the two legs, same units as ``joints``."""
    L = 0.0
    for h, k, a in ((0, 2, 4), (1, 3, 5)):
        L = L + np.linalg.norm(joints[:, k] - joints[:, h], axis=-1) + np.linalg.norm(joints[:, a] - joints[:, k], axis=-1)
    return float(np.median(L / 2))


def _smooth_noise(rng, T, shape, tau):
    """Low-pass (first-order, time constant ``tau`` frames) Gaussian noise, unit variance."""
    a = np.exp(-1.0 / max(tau, 1e-3))
    e = rng.normal(size=(T,) + shape)
    out = np.empty_like(e)
    out[0] = e[0]
    for t in range(1, T):
        out[t] = a * out[t - 1] + np.sqrt(1 - a * a) * e[t]
    return out


def network_like_noise(rng, T, diag_px, scale: float = 1.0):
    """(T, 6, 2) pixel noise like the pose network's 2D error on an image of diagonal ``diag_px``
    (``scale`` x its size: the refined keypoints' error is about half the network's own)."""
    f = diag_px * 1e-3 * scale
    bias = rng.normal(size=(1, J.N_JOINTS, 2)) * rng.uniform(0.3, 2.5) * f
    slow = _smooth_noise(rng, T, (J.N_JOINTS, 2), rng.uniform(3, 15)) * rng.uniform(0.3, 2.0) * f
    white = rng.normal(size=(T, J.N_JOINTS, 2)) * rng.uniform(0.1, 0.8) * f
    noise = bias + slow + white
    n_out = rng.poisson(0.01 * T)
    for _ in range(n_out):  # outliers lasting a few frames
        t0, j = rng.integers(T), rng.integers(J.N_JOINTS)
        d = rng.integers(1, 6)
        noise[t0:t0 + d, j] += rng.normal(size=2) * rng.uniform(4, 15) * f
    return noise


def occlusion_noise(rng, T, diag_px, joints_lab_mm, rate: float = 0.0):
    """(T, 6, 2) pixel offsets like the network's guesses at a hidden joint: with probability
    ``rate`` per trial, one joint is off by 5-30 per-mille of the image diagonal (10-65 px at
    1920x1080) for a long stretch (30-100 % of the trial), the offset drifting slowly. Half the
    time the joint is the higher ankle (a single-leg squat's lifted foot, behind the stance leg
    from the front: the network put held-out 97021 SLS00005's 60 px off at confidence 0.98),
    otherwise any joint. Meant to teach the lifter not to read the stance leg from a lifted foot
    it cannot see; measured (``--occlusion 0.5``, two seeds) it did not (docs/clinical-benchmark-history.md), so the shipped
    lifter is trained without it."""
    out = np.zeros((T, J.N_JOINTS, 2))
    if rate <= 0 or rng.random() >= rate:
        return out
    f = diag_px * 1e-3
    if rng.random() < 0.5:
        z = np.nanmedian(np.asarray(joints_lab_mm, np.float64)[:, [4, 5], 2], axis=0)
        j = 4 + int(np.argmax(z))
    else:
        j = int(rng.integers(J.N_JOINTS))
    d = max(1, int(round(T * rng.uniform(0.3, 1.0))))
    t0 = int(rng.integers(0, T - d + 1))
    drift = _smooth_noise(rng, d, (2,), rng.uniform(10, 40)) * 0.3
    direction = rng.normal(size=2)
    off = (direction / max(np.linalg.norm(direction), 1e-9) + drift) * rng.uniform(5, 30) * f
    out[t0:t0 + d, j] = off
    return out


def wide_valgus(rng, task: str):
    """A requested peak MKD drawn uniformly over the whole range, each leg on its own: the
    synthesiser's athletes mostly have little, symmetric valgus (tendency 12 +- 16 mm), and a
    lifter trained on them reads every knee near that mean (a 70 mm knee read as 32)."""
    if task == "DJ":
        return tuple(float(v) for v in rng.uniform(-10.0, 90.0, 2))
    return float(rng.uniform(-10.0, 80.0))


def make_trial(seed: int, spec, rng_noise, noise=True, window=WINDOW, window_s=WINDOW_S, valgus: str = "wide",
               occlusion: float = 0.0, high_fraction: float = 0.0):
    """(features (T, F), target (T, 18) in leg lengths, rate) of one synthetic trial.

    ``valgus``: "wide" (:func:`wide_valgus`) or "athlete" (the synthesiser's own draw);
    ``high_fraction``: share of the trials whose camera stands high (:data:`HIGH_CAMERA_MM`)."""
    if spec.seed in FORBIDDEN_SEEDS:
        raise ValueError(f"seed {spec.seed} belongs to a held-out evaluation set")
    rng = np.random.default_rng([spec.seed, spec.index, 1])
    athlete = athlete_for(spec.seed, spec.athlete_index, spec.year, spec.athlete_id)
    fps = float(rng.choice([50.0, 50.0, 60.0, 100.0]))
    rate_hz = fps * (2 if fps < 100 else 1)
    v = wide_valgus(np.random.default_rng([spec.seed, spec.index, 7]), spec.task) if valgus == "wide" else None
    motion, athlete = make_motion(spec, athlete, rng, fps, rate_hz, valgus_mm=v)
    k = int(round(motion.rate_hz / fps))
    samples = np.arange(0, motion.n_samples - k + 1, k)
    pts = np.concatenate(list(motion.points.values()))
    placement = "frontal" if rng.random() < 0.5 else "oblique"
    size = SIZES[int(rng_noise.integers(len(SIZES)))]
    where = {}
    if high_fraction > 0 and np.random.default_rng([spec.seed, spec.index, 11]).random() < high_fraction:
        r = np.random.default_rng([spec.seed, spec.index, 12])
        where = {"height_mm": r.uniform(*HIGH_CAMERA_MM), "distance_mm": r.uniform(*HIGH_DISTANCE_MM)}
    cam = video_camera(rng, size, pts, placement, facing=motion.facing, right=motion.lateral_axis, **where)
    joints = motion.joints_lab_mm[samples]
    uv = cam.project_corrected(joints)
    if noise:
        uv = uv + network_like_noise(rng_noise, len(uv), float(np.hypot(*size)), float(noise))
        if occlusion > 0:
            uv = uv + occlusion_noise(rng_noise, len(uv), float(np.hypot(*size)), joints, occlusion)
    Kinv = np.linalg.inv(cam.K)
    norm = uv @ Kinv[:2, :2].T + Kinv[:2, 2]
    x = window_features(norm, up_in_camera(cam), stride_for(fps, window, window_s), window)
    jc = cam.world_to_camera(joints)
    jc = jc - jc[:, list(HIPS)].mean(1, keepdims=True)
    y = (jc / leg_length(joints)).reshape(len(jc), -1)
    return x.astype(np.float32), y.astype(np.float32), fps, cam, joints


def make_dataset(n_trials: int, seed: int, every: int = 2, noise: float = 1.0, window=WINDOW, window_s=WINDOW_S,
                 valgus: str = "wide", task: str = "mix", occlusion: float = 0.0, high_fraction: float = 0.0):
    """``task``: "mix" (drop jumps and single-leg squats) or "all" (also walking and standing:
    :func:`kneeview.synth.dataset.plan_dataset`)."""
    specs = plan_dataset(n_trials, seed, task=task, size=(1920, 1080))
    rng_noise = np.random.default_rng([seed, 424242])
    xs, ys = [], []
    for s in specs:
        x, y, *_ = make_trial(seed, s, rng_noise, noise, window, window_s, valgus, occlusion, high_fraction)
        off = int(rng_noise.integers(every))
        xs.append(x[off::every])
        ys.append(y[off::every])
    return np.concatenate(xs), np.concatenate(ys)


def build_model(n_in, hidden=(384, 384), n_out=J.N_JOINTS * 3):
    import torch.nn as nn

    layers, d = [], n_in
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, n_out))
    return nn.Sequential(*layers)


def fit(out: Path, n_trials=6000, seed=200000, epochs=20, hidden=(384, 384), batch=512, lr=2e-3,
        n_noise=2, log=print, threads=2, window=WINDOW, window_s=WINDOW_S, valgus="wide", noise_scale: float = 1.0,
        task: str = "mix", occlusion: float = 0.0, high_fraction: float = 0.0):
    """Train and write ``out`` (.npz) and ``out.with_suffix('.json')``; returns the record."""
    import torch

    if seed in FORBIDDEN_SEEDS or seed < 200000:
        raise ValueError("training seeds must be 200000 or more (the evaluation sets use 90001-97002)")
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    parts = [make_dataset(n_trials, seed + 1000 * r, noise=noise_scale, window=window, window_s=window_s, valgus=valgus,
                          task=task, occlusion=occlusion, high_fraction=high_fraction)
             for r in range(n_noise)]  # another motion draw each pass
    X = np.concatenate([p[0] for p in parts])
    Y = np.concatenate([p[1] for p in parts])
    Xv, Yv = make_dataset(max(50, n_trials // 20), seed + 777_777, every=3, noise=noise_scale, window=window, window_s=window_s,
                          valgus=valgus, task=task, occlusion=occlusion,
                          high_fraction=high_fraction)  # held out alike: the same tasks, noise and cameras
    t_data = time.perf_counter() - t0
    log(f"data: {len(X)} train / {len(Xv)} val windows from {n_trials * n_noise} trials in {t_data:.0f} s")
    x_mean = X.mean(0)
    x_std = X.std(0) + 1e-3
    y_scale = float(Y.std())
    model = build_model(X.shape[1], hidden)
    Xt = torch.from_numpy((X - x_mean) / x_std)
    Yt = torch.from_numpy(Y / y_scale)
    Xvt = torch.from_numpy((Xv - x_mean) / x_std)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(X) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(X))
        tot = 0.0
        for i in range(len(X) // batch):
            b = perm[i * batch:(i + 1) * batch]
            loss = torch.nn.functional.smooth_l1_loss(model(Xt[b]), Yt[b], beta=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
        model.eval()
        with torch.no_grad():
            pv = model(Xvt).numpy() * y_scale
        err = np.linalg.norm((pv - Yv).reshape(-1, J.N_JOINTS, 3), axis=-1)
        log(f"epoch {ep + 1}/{epochs} loss {tot / max(1, len(X) // batch):.4f} val joint error "
            f"{np.mean(err) * 1000:.1f} per-mille leg (knees {np.mean(err[:, 2:4]) * 1000:.1f}) "
            f"{time.perf_counter() - t0:.0f} s")
    write_npz(out, model, x_mean, x_std, y_scale, window, window_s)
    digest = hashlib.sha256(Path(out).read_bytes()).hexdigest()
    rec = {"file": Path(out).name, "sha256": digest, "seed": seed, "trials": n_trials, "noise_passes": n_noise,
           "epochs": epochs, "hidden": list(hidden), "valgus": valgus, "noise_scale": noise_scale, "occlusion": occlusion,
           "high_fraction": high_fraction, "task": task, "window": window, "window_s": window_s,
           "parameters": int(sum(p.numel() for p in model.parameters())),
           "val_mean_joint_error_leg": float(np.mean(err)), "train_time_s": round(time.perf_counter() - t0, 1),
           "data_time_s": round(t_data, 1), "command": "python -m trainer.lifter " + " ".join(sys.argv[1:])}
    Path(out).with_suffix(".json").write_text(json.dumps(rec, indent=1) + "\n")
    return rec


def write_npz(out, model, x_mean, x_std, y_scale, window=WINDOW, window_s=WINDOW_S, leg_length_m=0.85):
    import torch.nn as nn

    lin = [m for m in model if isinstance(m, nn.Linear)]
    net = LifterNet([(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in lin], x_mean, x_std, y_scale)
    save_lifter(out, [net], window, window_s, leg_length_m)


def combine(out, inputs) -> dict:
    """Write the lifters ``inputs`` (single networks or ensembles, same window) as one ensemble
    ``out`` (.npz; :mod:`kneeview.analysis.lifting` averages its members' outputs) and
    ``out.with_suffix('.json')``, the record listing every input's own record and sha256."""
    lifters = [load_lifter(p) for p in inputs]
    first = lifters[0]
    for lf in lifters[1:]:
        if (lf.window, lf.window_s, lf.leg_length_m) != (first.window, first.window_s, first.leg_length_m):
            raise ValueError(f"{lf.path}: window {lf.window} / {lf.window_s} s / leg {lf.leg_length_m} m differs "
                             f"from {first.path}'s {first.window} / {first.window_s} s / {first.leg_length_m} m")
    nets = [net for lf in lifters for net in lf.nets]
    out = Path(out)
    save_lifter(out, nets, first.window, first.window_s, first.leg_length_m)
    members = []
    for p, lf in zip(inputs, lifters):
        own = Path(p).with_suffix(".json")
        members.append({"file": Path(p).name, "sha256": lf.sha256,
                        "record": json.loads(own.read_text()) if own.is_file() else None})
    rec = {"file": out.name, "sha256": hashlib.sha256(out.read_bytes()).hexdigest(), "members": members,
           "networks": len(nets), "parameters": int(sum(n.n_parameters for n in nets)),
           "command": "python -m trainer.lifter " + " ".join(sys.argv[1:])}
    out.with_suffix(".json").write_text(json.dumps(rec, indent=1) + "\n")
    return rec


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--trials", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=200000)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--hidden", default="384,384")
    ap.add_argument("--noise-passes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--window", type=int, default=WINDOW, help="frames in the window (odd)")
    ap.add_argument("--window-s", type=float, default=WINDOW_S, help="seconds the window spans")
    ap.add_argument("--valgus", choices=("wide", "athlete"), default="wide",
                    help="requested peak MKD per leg: uniform -10..90 mm, each leg on its own (wide), or the "
                         "synthesiser's athletes' draw (athlete; the first shipped lifter)")
    ap.add_argument("--task", choices=("mix", "all"), default="mix",
                    help="training motions: drop jumps and single-leg squats (mix), or also walking and standing (all)")
    ap.add_argument("--noise-scale", type=float, default=1.0,
                    help="the 2D noise's size relative to the network's own error (0: none)")
    ap.add_argument("--occlusion", type=float, default=0.0,
                    help="fraction of trials with one joint's 2D far off for a long stretch, as the network "
                         "guesses at a hidden joint (occlusion_noise)")
    ap.add_argument("--high-fraction", type=float, default=0.0,
                    help="share of the trials whose camera stands 1.7-3.2 m high, 2.5-6.5 m away (a lab's wall or "
                         "rig camera; default 0: tripods 0.7-1.7 m)")
    ap.add_argument("--combine", nargs="+", metavar="LIFTER",
                    help="train nothing: write these lifters (same window) as one ensemble to --out")
    a = ap.parse_args(argv)
    if a.combine:
        print(json.dumps(combine(Path(a.out), a.combine), indent=1))
        return
    rec = fit(Path(a.out), a.trials, a.seed, a.epochs, tuple(int(h) for h in a.hidden.split(",")),
              n_noise=a.noise_passes, threads=a.threads, window=a.window, window_s=a.window_s, valgus=a.valgus,
              noise_scale=a.noise_scale, task=a.task, occlusion=a.occlusion, high_fraction=a.high_fraction)
    print(json.dumps(rec, indent=1))


if __name__ == "__main__":
    main()
