"""``kneeview-train``: fit a framework on session folders, evaluate a checkpoint.

    kneeview-train fit --framework A --data DIR --run runs/A [--config cfg.toml] [--resume]
    torchrun --nproc_per_node 4 -m trainer.cli fit ...          (DistributedDataParallel)
    kneeview-train evaluate [--checkpoint CKPT] --data DIR [--json OUT] [--split test --run RUN]
    kneeview-train export RUN/model.safetensors --out resources/model --fp16 --evaluation eval.json
    kneeview-train evaluate-real [--checkpoint CKPT] [--run RUN] [--json OUT] [--plot OUT.png]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from kneeview.errors import KneeViewInputError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kneeview-train", description="Train and evaluate KneeView's pose networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    f = sub.add_parser("fit", help="train a framework (A, B or C) on session folders")
    f.add_argument("--framework", choices=["A", "B", "C"], help="paper framework (default A)")
    f.add_argument("--data", help="folder of session folders (Vicon exports or `kneeview synth` output)")
    f.add_argument("--run", dest="run_dir", help="run folder: split, checkpoints, logs, exported model (default runs/run)")
    f.add_argument("--config", help="JSON or TOML file of settings (the command line wins)")
    f.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    f.add_argument("--iterations", type=int, help="iterations (paper: 15000; framework B: of the 2D stage)")
    f.add_argument("--lift-iterations", type=int, help="framework B: iterations of the lifting stage (default 5000)")
    f.add_argument("--batch-size", type=int, help="images per step and process (paper: 3)")
    f.add_argument("--lr", type=float, help="learning rate (paper: 0.001)")
    f.add_argument("--optimizer", choices=["adamw", "sgd"])
    f.add_argument("--warmup-iterations", type=int)
    f.add_argument("--schedule", choices=["cosine", "constant"])
    f.add_argument("--frames-per-video", type=int, help="frames sampled per video (paper: 100)")
    f.add_argument("--stride", type=int, help="stride between sampled frames (paper: 3)")
    f.add_argument("--split-seed", type=int)
    f.add_argument("--split-file", help="reuse another run's split.json")
    f.add_argument("--split-fractions", type=_float_list, metavar="TRAIN,VAL,TEST",
                   help="shares of the athletes in each split (default 0.7,0.15,0.15; 1,0,0: all train, "
                        "evaluation on other seeds)")
    f.add_argument("--no-augment", dest="augment", action="store_const", const=False)
    f.add_argument("--rotate-deg", type=float, help="in-plane rotation augmentation, +- degrees (default 0: none)")
    f.add_argument("--init-from", metavar="CKPT", help="start from this checkpoint's network ('bundled': the shipped model)")
    f.add_argument("--real", dest="real_data", action="append", metavar="SESSION",
                   help="mix in a real multi-view recording with pseudo-label C3D (repeatable)")
    f.add_argument("--real-fraction", type=float, help="share of training samples drawn from --real (default 0.3)")
    f.add_argument("--real-segments", type=int, help="time segments each real recording is cut into (default 5)")
    f.add_argument("--real-test-segments", type=_int_list, metavar="K,K",
                   help="segments held out for evaluation, numbered from 0 (default 1,3)")
    f.add_argument("--real-guard-frames", type=int, help="frames beside a held-out segment not trained on (default 3)")
    f.add_argument("--real-2d", dest="real_2d", action="append", metavar="LABELS.npz",
                   help="mix in 2D-only real video: people labels of tools/blazepose_detect.py --people (repeatable)")
    f.add_argument("--real-holdout-view", dest="real_holdout_views", action="append", metavar="VIEW",
                   help="a view (video stem or camera id) never trained on (repeatable)")
    f.add_argument("--workers", type=int, help="data-loading processes per training process")
    f.add_argument("--checkpoint-every", type=int)
    f.add_argument("--time-budget", dest="time_budget_s", type=float, metavar="SECONDS",
                   help="end the run within this wall-clock time: the iterations (at most --iterations) are planned "
                        "from the measured speed and the schedule follows them (default: none)")
    f.add_argument("--device", choices=["auto", "cpu", "cuda"])
    f.add_argument("--no-amp", dest="amp", action="store_const", const=False)
    f.add_argument("--no-eval", dest="eval_at_end", action="store_const", const=False, help="skip the validation run at the end")
    f.add_argument("--seed", type=int)
    f.add_argument("--model", action="append", default=[], metavar="KEY=VALUE",
                   help="network setting, e.g. --model min_size=352 --model backbone=efficientnet_lite0")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.set_defaults(func=cmd_fit)

    e = sub.add_parser("evaluate", help="COCO mAP, PCK and MPJPE of a checkpoint")
    e.add_argument("--checkpoint", action="append", default=None,
                   help="checkpoint (default: the bundled model); repeat it to compare frameworks in one table")
    e.add_argument("--data", required=True, help="folder of session folders")
    e.add_argument("--split", choices=["train", "val", "test"], help="evaluate only this split of --run")
    e.add_argument("--run", help="run folder whose split.json to use with --split")
    e.add_argument("--frames-per-video", type=int, default=100)
    e.add_argument("--stride", type=int, default=3)
    e.add_argument("--device", default="auto")
    e.add_argument("--json", dest="json_out", metavar="OUT", help="write the figures as JSON")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("export", help="copy a checkpoint for shipping (fp16), with evaluation figures in its card")
    x.add_argument("checkpoint", help="checkpoint to export (e.g. RUN/model.safetensors)")
    x.add_argument("--out", required=True, help="output .safetensors path or folder (e.g. resources/model)")
    x.add_argument("--fp16", action="store_true", help="store the weights as float16 (half the size)")
    x.add_argument("--evaluation", metavar="JSON", help="`evaluate --json` output to record in the card")
    x.set_defaults(func=cmd_export)

    from .evaluate_real import add_parser as add_evaluate_real

    add_evaluate_real(sub)
    from .evaluate_people import add_parser as add_evaluate_people

    add_evaluate_people(sub)
    from .evaluate_clinical import add_parser as add_evaluate_clinical

    add_evaluate_clinical(sub)
    return parser


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _float_list(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _parse_model_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise KneeViewInputError(None, f"--model expects KEY=VALUE, got {item!r}", "--model")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def cmd_fit(args) -> int:
    from .config import build_config
    from .fit import fit

    overrides = {k: getattr(args, k) for k in (
        "framework", "data", "run_dir", "iterations", "lift_iterations", "batch_size", "lr", "optimizer",
        "warmup_iterations", "schedule", "frames_per_video", "stride", "split_seed", "split_file", "split_fractions", "augment", "rotate_deg",
        "workers", "checkpoint_every", "time_budget_s", "device", "amp", "eval_at_end", "seed", "init_from", "real_data", "real_fraction",
        "real_segments", "real_test_segments", "real_guard_frames", "real_holdout_views", "real_2d")}
    overrides["model"] = _parse_model_overrides(args.model) or None
    cfg = build_config(args.config, overrides)
    out = fit(cfg, resume=args.resume, quiet=args.quiet)
    print(f"model written to {out}")
    return 0


def cmd_evaluate(args) -> int:
    from .splits import load_split
    from .evaluate import evaluate_checkpoint, format_tables, write_json

    trial_ids = None
    if args.split:
        if not args.run:
            raise KneeViewInputError(None, "--split needs --run RUN (the run folder holding split.json)", "--run")
        trial_ids = load_split(Path(args.run) / "split.json")[args.split]
        if not trial_ids:
            raise KneeViewInputError(Path(args.run) / "split.json", f"the {args.split} split is empty", args.split)
    results = []
    for ckpt in args.checkpoint or [None]:
        res = evaluate_checkpoint(ckpt, args.data, trial_ids, args.frames_per_video, args.stride,
                                  device=args.device, progress=not args.quiet)
        out = dict(res["summary"])
        out.update({"framework": res["framework"], "checkpoint": res["checkpoint"], "data": str(args.data),
                    "split": args.split or "all", "training": res["card_training"]})
        results.append(out)
    print(format_tables([(r["framework"], r) for r in results]))
    if args.json_out:
        # one checkpoint: its figures at the top level; several: {"results": [...]}
        write_json(results[0] if len(results) == 1 else {"results": results}, args.json_out)
    return 0


def cmd_export(args) -> int:
    from kneeview.pose.checkpoint import load_checkpoint, save_checkpoint

    model, card = load_checkpoint(args.checkpoint)
    evaluation = card.get("evaluation", {})
    if args.evaluation:
        try:
            evaluation = json.loads(Path(args.evaluation).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise KneeViewInputError(args.evaluation, f"cannot read evaluation figures: {exc}") from None
    out = Path(args.out)
    if out.suffix != ".safetensors":
        out.mkdir(parents=True, exist_ok=True)
        out = out / "kneeview-pose.safetensors"
    extra = {"refiner": card["refiner"]} if "refiner" in card else None  # the attached refiner's record
    w, c = save_checkpoint(model, out, training=card.get("training", {}), evaluation=evaluation, fp16=args.fp16,
                           extra=extra)
    print(f"wrote {w} ({w.stat().st_size / 1e6:.1f} MB) and {c}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KneeViewInputError as exc:
        print(f"kneeview-train {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (resume with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
