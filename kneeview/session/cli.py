"""``kneeview export`` and ``kneeview batch``: per-trial exports and a study-wide summary.

``kneeview batch`` can be split across processes or machines with ``torchrun``: it reads
``RANK`` and ``WORLD_SIZE`` from the environment (torch is not imported), rank r takes
trials r, r + W, r + 2W... of the sorted list and writes ``<out>.part-<r>-of-<W>.csv``
next to ``--out``; rank 0 then waits for every part of this run and merges them into
``--out`` (and ``<out stem>.errors.csv`` when trials were skipped). If rank 0 gives up
waiting (``--merge-timeout``), ``kneeview batch ROOT --out summary.csv --merge`` merges
later. A part older than the start of rank 0 (minus a minute) is a leftover of an earlier
run and is not merged.
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

from ..cli_args import cutoff_hz, non_negative_float
from ..errors import ExportError, KneeViewInputError
from . import SOURCES

PART_RE = re.compile(r"\.part-(\d+)-of-(\d+)\.csv$")


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a recording's joint centres, knee metrics and events (CSV, TRC)")
    p.add_argument("recording", help="session folder or video file")
    p.add_argument("--out", required=True, help="output folder")
    add_recording_options(p)
    add_analysis_options(p, partial="the summary records frames declared and read")
    p.set_defaults(func=run_export)

    b = subparsers.add_parser("batch", help="summarise every recording under a folder tree into one CSV")
    b.add_argument("root", help="folder tree with session folders")
    b.add_argument("--out", required=True, help="summary CSV to write")
    add_analysis_options(b, partial="recorded in the summary", every_trial=True)
    b.add_argument("--merge", action="store_true", help="only merge the part files of an earlier sharded run")
    b.add_argument("--merge-timeout", type=non_negative_float, default=3600.0,
                   help="seconds rank 0 waits for the other ranks' parts (default 3600)")
    b.set_defaults(func=run_batch)


def add_recording_options(p) -> None:
    """What names a recording's parts when they are not where a Nexus export puts them."""
    p.add_argument("--calibration", help="calibration file instead of the one found")
    p.add_argument("--c3d", help="C3D ground truth instead of <trial>.c3d")
    p.add_argument("--camera", help="device id of the camera that filmed the video")


def add_analysis_options(p, partial: str, every_trial: bool = False) -> None:
    """The options of the path from a recording to its numbers, shared by export, batch and report."""
    p.add_argument("--source", choices=SOURCES, default="model",
                   help="network estimate (model, default) or the C3D ground truth (gt)")
    p.add_argument("--cutoff", type=cutoff_hz, default="auto",
                   help="low-pass cutoff in Hz (0: no filtering; default 6, or 0.4 x the frame rate below 15 frames/s)")
    p.add_argument("--task", help="dj or sls" + (" for every trial" if every_trial else "")
                   + " (default: from the trial's metadata, else detected)")
    p.add_argument("--model", help="checkpoint folder for --source model (default: the bundled model)")
    p.add_argument("--device", default="auto", help="device for --source model: auto (CUDA, MPS, CPU), cpu, cuda:0..."
                   + (" (under torchrun each rank takes GPU LOCAL_RANK)" if every_trial else ""))
    p.add_argument("--allow-partial", action="store_true",
                   help=f"use a truncated C3D's frames ({partial}); default: refuse it")
    p.add_argument("--raw-3d", action="store_true",
                   help="--source model: the network's own 3D placed from its 2D, instead of the calibrated "
                        "per-trial reconstruction (for comparison)")


def model_options(args) -> dict:
    """The keywords of ``Session.analyse`` that :func:`add_analysis_options`'s model options give."""
    return {"checkpoint": args.model, "device": args.device, "placement": "raw" if args.raw_3d else "calibrated"}


# ----------------------------------------------------------------------------- export
def run_export(args) -> int:
    """``Session.analyse`` checks the source, camera, cutoff and task before a model is loaded."""
    from .trial import Session

    session = Session.open(args.recording, calibration=args.calibration, c3d=args.c3d, camera=args.camera,
                           allow_partial=args.allow_partial)
    analysed = session.analyse(args.source, 0, cutoff_hz=args.cutoff, task=args.task, **model_options(args))
    for p in session.export(args.out, analysed).values():
        print(p)
    return 0


# ----------------------------------------------------------------------------- batch
def shard() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment variables; (0, 1) without them."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
    except ValueError:
        raise KneeViewInputError(None, "RANK and WORLD_SIZE must be integers", "RANK/WORLD_SIZE") from None
    if world < 1 or not 0 <= rank < world:
        raise KneeViewInputError(None, f"RANK={rank} is not within WORLD_SIZE={world}", "RANK/WORLD_SIZE")
    return rank, world


def _one_gpu_per_rank() -> None:
    """Under torchrun, let each local rank see one GPU (LOCAL_RANK-th of those visible).

    Set before torch is imported (the estimator loads it lazily); where that GPU does not
    exist CUDA is simply unavailable to the rank and it runs on the CPU.
    """
    local = os.environ.get("LOCAL_RANK")
    if local is None or not local.isdigit():
        return
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        ids = [v for v in visible.split(",") if v.strip()]
        os.environ["CUDA_VISIBLE_DEVICES"] = ids[int(local) % len(ids)] if ids else visible
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = local


def part_path(out: Path, rank: int, world: int) -> Path:
    return out.with_name(f"{out.name}.part-{rank:05d}-of-{world:05d}.csv")


def errors_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.errors.csv")


def summarise(video: Path, source: str, cutoff_hz, task, factory=None, placement: str = "calibrated",
              allow_partial: bool = False) -> dict:
    """The summary row of one trial (``factory(checkpoint, device)``: the network, loaded once for
    all trials and only when a trial's estimate is not cached)."""
    from .trial import Session

    session = Session.open(video, allow_partial=allow_partial)
    analysed = session.analyse(source, 0, cutoff_hz=cutoff_hz, task=task, placement=placement, factory=factory)
    return session.summary_row(analysed, trial=session.recording.name)


class _LoadOnce:
    """An estimator factory that loads the network the first time it is asked, then reuses it."""

    def __init__(self, checkpoint=None, device: str = "auto"):
        self.checkpoint, self.device, self.estimator = checkpoint, device, None

    def __call__(self, *_ignored):
        if self.estimator is None:
            from .estimates import load_estimator

            self.estimator = load_estimator(self.checkpoint, self.device)
        return self.estimator


def run_trials(videos: list[Path], indices: list[int], source: str, cutoff_hz, task, progress: bool = True,
               desc: str = "batch", checkpoint=None, device: str = "auto", placement: str = "calibrated",
               allow_partial: bool = False) -> list[dict]:
    """Summary rows of the given trials: ``status`` "ok", or "skipped" with an ``error``."""
    from tqdm import tqdm

    rows = []
    factory = _LoadOnce(checkpoint, device)
    for i in tqdm(indices, desc=desc, unit="trial", disable=not progress, file=sys.stderr):
        video = videos[i]
        try:
            row = {"_index": i, "status": "ok", "error": None}
            row.update(summarise(video, source, cutoff_hz, task, factory, placement, allow_partial))
        except Exception as exc:  # one bad recording never stops a study
            msg = str(exc) if isinstance(exc, KneeViewInputError) else f"{type(exc).__name__}: {exc}"
            tqdm.write(f"kneeview batch: skipped {video}: {msg}", file=sys.stderr)
            row = {"_index": i, "status": "skipped", "error": msg, "recording": str(video)}
        rows.append(row)
    return rows


def _write_rows(path: Path, rows: list[dict]) -> None:
    from ..io.export import write_summary_csv

    write_summary_csv(path, rows)


def merge_rows(rows: list[dict], out: Path) -> tuple[int, int]:
    """Write the good rows to ``out`` (in trial order) and the skipped ones to the errors file."""
    import pandas as pd

    from ..io.export import write_summary_csv

    rows = [r for r in rows if r.get("status") in ("ok", "skipped")]
    rows.sort(key=lambda r: int(r["_index"]))
    good = [{k: v for k, v in r.items() if k not in ("_index", "status", "error")} for r in rows if r["status"] == "ok"]
    bad = [{"recording": r.get("recording"), "error": r.get("error")} for r in rows if r["status"] == "skipped"]
    good = [{k: (None if (isinstance(v, float) and pd.isna(v)) else v) for k, v in r.items()} for r in good]
    write_summary_csv(out, good)
    ep = errors_path(out)
    if bad:
        write_summary_csv(ep, bad)
    elif ep.exists():
        ep.unlink()
    return len(good), len(bad)


def _read_part(path: Path) -> list[dict]:
    import pandas as pd

    df = pd.read_csv(path)
    df = df.astype(object).where(pd.notna(df), None)
    return df.to_dict("records")


def merge_parts(out: Path, world: int | None = None, newer_than: float | None = None) -> tuple[int, int] | None:
    """Merge ``<out>.part-*-of-W.csv`` into ``out`` once all W parts exist; None if some are missing."""
    candidates = {}
    for p in out.parent.glob(f"{out.name}.part-*-of-*.csv"):
        m = PART_RE.search(p.name)
        if m:
            candidates.setdefault(int(m.group(2)), {})[int(m.group(1))] = p
    if world is None:
        if not candidates:
            raise KneeViewInputError(out, "no part files to merge (expected <out>.part-R-of-W.csv next to it)", "--merge")
        world = max(candidates, key=lambda w: (len(candidates[w]) == w, max(q.stat().st_mtime for q in candidates[w].values())))
    parts = candidates.get(world, {})
    if newer_than is not None:
        parts = {r: p for r, p in parts.items() if p.stat().st_mtime >= newer_than}
    if len(parts) < world:
        return None
    rows = []
    for r in range(world):
        rows += _read_part(parts[r])
    counts = merge_rows(rows, out)
    for p in parts.values():
        p.unlink(missing_ok=True)
    return counts


#: ``kneeview batch`` exit statuses: every trial summarised / none (or no trial found) / some skipped.
BATCH_OK, BATCH_NONE, BATCH_SOME_SKIPPED = 0, 2, 3


def run_batch(args) -> int:
    """Exit 0 when every trial was summarised, 3 when some were skipped, 2 when none could be
    (or the folder holds no trial: then nothing is written)."""
    from ..io.recording import find_recordings

    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(out.parent, f"cannot create the output folder: {exc.strerror or exc}") from None
    rank, world = shard()
    if args.merge:
        counts = merge_parts(out, None)
        if counts is None:
            raise KneeViewInputError(out, "not every rank has written its part yet", "--merge")
        print(batch_message(out, *counts))
        return _batch_status(*counts)
    from .trial import task_for

    task = task_for(None, args.task)  # checked before any trial is read
    started = time.time()
    videos = find_recordings(args.root)
    if not videos:
        raise KneeViewInputError(args.root, "no trial (no video) under this folder", "root")
    indices = list(range(rank, len(videos), world))
    desc = "batch" if world == 1 else f"batch rank {rank}/{world}"
    if world > 1 and args.source == "model" and args.device == "auto":
        _one_gpu_per_rank()
    rows = run_trials(videos, indices, args.source, args.cutoff, task, progress=sys.stderr.isatty(), desc=desc,
                      checkpoint=args.model, device=args.device, placement="raw" if args.raw_3d else "calibrated",
                      allow_partial=args.allow_partial)
    if world == 1:
        if not any(r.get("status") == "ok" for r in rows):
            # nothing to summarise: keep the summary the user had, list why in the errors file
            bad = [{"recording": r.get("recording"), "error": r.get("error")} for r in rows]
            from ..io.export import write_summary_csv

            write_summary_csv(errors_path(out), bad)
            print(f"{out}: not written, every trial was skipped (see {errors_path(out)})")
            return BATCH_NONE
        good, bad = merge_rows(rows, out)
    else:
        _write_rows(part_path(out, rank, world), rows)
        if rank != 0:
            print(f"{part_path(out, rank, world)}: {len(rows)} trials (rank 0 merges)")
            return 0
        deadline = time.time() + max(0.0, args.merge_timeout)
        while True:
            counts = merge_parts(out, world, newer_than=started - 60.0)
            if counts is not None:
                good, bad = counts
                break
            if time.time() >= deadline:
                print(f"kneeview batch: not every rank has written its part after {args.merge_timeout:g} s; "
                      f"merge later with `kneeview batch {args.root} --out {out} --merge`", file=sys.stderr)
                return 1
            time.sleep(1.0)
    print(batch_message(out, good, bad))
    return _batch_status(good, bad)


def batch_message(out: Path, good: int, bad: int) -> str:
    """What a finished batch prints: trials summarised, skipped, and the trials whose values the summary
    itself cautions against (:func:`kneeview.report.study.caution`: 3D reading unsure, legs' lengths disagree,
    filmed from behind)."""
    msg = f"{out}: {good} trials"
    if bad:
        msg += f", {bad} skipped (see {errors_path(out)})"
    if good:
        import pandas as pd

        from ..report.study import caution

        said = caution(pd.read_csv(out))
        if said:
            msg += f"; caution: {said} (columns lifter_spread_deg, length_asymmetry_mm, seen_from_behind_pct)"
    return msg


def _batch_status(good: int, bad: int) -> int:
    if good == 0:
        return BATCH_NONE
    return BATCH_SOME_SKIPPED if bad else BATCH_OK
