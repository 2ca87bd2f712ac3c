"""``kneeview synth``: write synthetic Vicon-format trials (training data, demo)."""
from __future__ import annotations

import argparse
import os

from ..cli_args import from_parser, non_negative_int
from ..errors import KneeViewInputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "synth",
        help="write synthetic recordings (Vicon session folders) for training and testing",
        description="Render synthetic drop jumps and single-leg squats as Vicon session folders "
                    "(<session>.xcp, <trial>.c3d, <trial>.<DEVICEID>.avi, <trial>.json), deterministic per seed.",
    )
    p.add_argument("outdir", help="folder to write the session folders and synth_index.json into")
    p.add_argument("--trials", type=non_negative_int, default=10, help="number of trials (default 10)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0); same seed, same files")
    p.add_argument("--task", default="mix", help="dj, sls, walk, stand, mix (drop jumps and squats; default) or all "
                   "(45 %% drop jumps, 30 %% squats, 15 %% walking, 10 %% standing with arm movements)")
    p.add_argument("--size", type=from_parser(_size), default="640x480", help="video size WxH (default 640x480)")
    p.add_argument("--placements", type=from_parser(_placements), default="frontal,oblique",
                   help="where the video camera may stand, drawn per trial: frontal, oblique, rear (behind the "
                        "athlete), high (2.2-3.2 m up, any direction); default frontal,oblique")
    p.add_argument("--from-c3d", dest="from_c3d", metavar="FILE",
                   help="animate the joint centres of this .c3d instead of the parametric motion")
    p.add_argument("--backdrops", metavar="DIR",
                   help="real-lab backdrops (tools/make_backdrops.py): some trials are filmed by a real camera of "
                        "one of them, over its clean plate, instead of in a procedural lab")
    p.add_argument("--backdrop-fraction", type=float, default=0.5, metavar="F",
                   help="fraction of the trials on a backdrop when --backdrops is given (default 0.5)")
    p.add_argument("--bodies", type=from_parser(_bodies), default="primitive",
                   help="how athletes are drawn: primitive (OpenCV-filled capsules, the first datasets) or anny "
                        "(a skinned human mesh with clothes, hair and markers, drawn with OpenGL on the CPU); "
                        "default primitive")
    p.add_argument("--body-joints", dest="body_joints", type=from_parser(_body_joints), default="rig",
                   help="--bodies anny: the joint centres the C3D labels are, rig (the mesh's bone heads; default) or "
                        "pig (the body's Plug-in Gait centres from its marker sites, as a Vicon lab's C3D)")
    p.add_argument("--valgus", type=from_parser(_valgus), default="athlete",
                   help="athlete (each athlete's tendency, mostly mild; default) or strong (a drop jump's one knee "
                        "40-80 mm medial, the other -5-15 mm; a single-leg squat's 35-75 mm): a benchmark of "
                        "strong, one-sided valgus")
    p.add_argument("--workers", type=non_negative_int, default=1, help="processes; 0 = all cores (default 1)")
    p.add_argument("--demo", action="store_true", help="write the demo recording into OUTDIR instead")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    from .dataset import parse_size

    return parse_size(text)


def _bodies(text: str) -> str:
    from .dataset import parse_bodies

    return parse_bodies(text)


def _body_joints(text: str) -> str:
    from .dataset import parse_body_joints

    return parse_body_joints(text)


def _valgus(text: str) -> str:
    from .dataset import parse_valgus

    return parse_valgus(text)


def _placements(text: str) -> tuple[str, ...]:
    from .dataset import parse_placements

    return parse_placements(text)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .dataset import TASKS, check_output_dir, write_dataset

    if args.demo:
        from .demo import write_demo

        check_output_dir(args.outdir)
        entry = write_demo(args.outdir)
        print(f"wrote the demo recording {entry['video']} into {args.outdir}")
        return 0
    task = str(args.task).lower()
    if task not in TASKS:
        raise KneeViewInputError(None, f"--task must be one of {', '.join(TASKS)}, got {args.task!r}", "--task")
    workers = args.workers or (os.cpu_count() or 1)
    size, placements = args.size, args.placements
    from_c3d = None
    if args.from_c3d:
        from_c3d = Path(args.from_c3d)
        if not from_c3d.is_file():
            raise KneeViewInputError(from_c3d, "C3D file not found", "--from-c3d")
    entries = write_dataset(args.outdir, args.trials, seed=args.seed, task=task, size=size, from_c3d=from_c3d,
                            workers=workers, progress=not args.no_progress, placements=placements, bodies=args.bodies,
                            backdrops=args.backdrops, backdrop_fraction=args.backdrop_fraction, valgus=args.valgus,
                            body_joints=args.body_joints)
    frames = sum(e["n_frames"] for e in entries)
    print(f"wrote {len(entries)} trials ({frames} frames) into {args.outdir}")
    return 0
