"""The bad-input matrix (issue 18): every way a user's files or options can be wrong, through
the real command line (a subprocess, as a user runs it).

For each row: the exit status; on failure exactly one line on stderr that names the file
and the problem and nothing else there (no library chatter, no traceback); the output
folder's earlier files byte-identical afterwards. ``--source gt`` everywhere except the
checkpoint rows, which stop before any inference.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bad_inputs import BAD_FILES, TRIAL, c3d, copy_demo, truncate, video
from sessions import mounted

OLD_EXPORT = {f"{TRIAL}_frames.csv": b"old frames\n", f"{TRIAL}_summary.csv": b"old summary\n",
              f"{TRIAL}.trc": b"old trc\n", "notes.txt": "the user's own notes, é\n".encode()}


def kneeview(*argv, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CACHE_HOME": str(cwd / "cache"), "PYTHONIOENCODING": "utf-8"}
    env.pop("OPENCV_LOG_LEVEL", None)  # the product must quiet the libraries by itself
    env.pop("OPENCV_FFMPEG_LOGLEVEL", None)
    return subprocess.run([sys.executable, "-m", "kneeview.cli", *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def old_output(folder: Path) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in OLD_EXPORT.items():
        (folder / name).write_bytes(data)
    return snapshot(folder)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def assert_one_line_error(proc, status: int, *words: str):
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def assert_argparse_error(proc, option: str, *words: str):
    """argparse's own refusal: usage, then one ``error: argument OPTION: problem`` line, status 2."""
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert f"error: argument {option}" in last, proc.stderr
    for w in words:
        assert w in last, (w, last)


# ------------------------------------------------------------------ spoilt files
@pytest.mark.parametrize("case", BAD_FILES, ids=lambda c: c.id)
def test_export_refuses_a_spoilt_file(tmp_path, case):
    session = copy_demo(tmp_path / "session")
    named, problem = case.build(session)
    out = tmp_path / "out"
    before = old_output(out)
    proc = kneeview("export", session, "--source", "gt", "--out", out, cwd=tmp_path)
    assert_one_line_error(proc, 2, str(named), problem)
    assert "TOP-SECRET" not in proc.stderr
    assert snapshot(out) == before


@pytest.mark.parametrize("case", [c for c in BAD_FILES if c.info_describes], ids=lambda c: c.id)
def test_info_describes_what_it_can_open_and_lists_the_problem(tmp_path, case):
    session = copy_demo(tmp_path / "session")
    named, problem = case.build(session)
    proc = kneeview("info", session, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    problems = [line for line in proc.stdout.splitlines() if line.startswith("Problem")]
    assert any(str(named) in p and problem in p for p in problems), proc.stdout


@pytest.mark.parametrize("case", [c for c in BAD_FILES if c.id in ("xcp-truncated-xml", "video-text", "two-ambiguous-trials")],
                         ids=lambda c: c.id)
def test_info_cannot_open_says_so_in_one_line(tmp_path, case):
    """A calibration, video or folder it cannot read: one line, status 2 (the other such files
    fail in the same reader, rows of the export test above)."""
    session = copy_demo(tmp_path / "session")
    named, problem = case.build(session)
    assert_one_line_error(kneeview("info", session, cwd=tmp_path), 2, str(named), problem)


def test_truncated_c3d_only_with_allow_partial_and_the_summary_says_so(tmp_path):
    session = copy_demo(tmp_path / "session")
    truncate(c3d(session), 0.5)
    out = tmp_path / "out"
    proc = kneeview("export", session, "--source", "gt", "--out", out, "--allow-partial", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (warning,) = proc.stderr.splitlines()  # one warning, naming the file and what was used
    assert str(c3d(session)) in warning and "400" in warning and "--allow-partial" in warning
    import pandas as pd

    frames = pd.read_csv(out / f"{TRIAL}_frames.csv")
    assert len(frames) == 200 and frames["RFEP_x_mm"].notna().sum() < 120  # the C3D covers 1.97 of 4 s
    summary = pd.read_csv(out / f"{TRIAL}_summary.csv")
    assert summary.loc[0, "gt_frames_declared"] == 400 and summary.loc[0, "gt_frames_read"] == 197
    assert bool(summary.loc[0, "gt_partial"])


def test_truncated_video_is_described_without_library_chatter(tmp_path):
    session = copy_demo(tmp_path / "session")
    truncate(video(session), 0.5)
    proc = kneeview("info", session, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr  # no "[mjpeg @ 0x...] overread 8"
    assert "the container declares 200" in proc.stdout
    assert any("truncated video" in line for line in proc.stdout.splitlines() if line.startswith("Problem"))
    out = tmp_path / "out"
    proc = kneeview("export", session, "--source", "gt", "--out", out, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr  # the frames it has are exported


def test_non_ascii_and_spaces_in_paths(tmp_path):
    session = copy_demo(tmp_path / "Séance 1 ü" / "Trial ø")
    out = tmp_path / "Ausgabe ö ✓"
    proc = kneeview("export", session, "--source", "gt", "--out", out, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{TRIAL}_frames.csv", f"{TRIAL}_summary.csv", f"{TRIAL}.trc"])
    truncate(c3d(session), 0.5)
    proc = kneeview("export", session, "--source", "gt", "--out", out, cwd=tmp_path)
    assert_one_line_error(proc, 2, str(c3d(session)), "truncated C3D")


# ------------------------------------------------------------------ options
@pytest.mark.parametrize("argv, option, words", [
    (["export", "{session}", "--source", "gt", "--out", "{out}", "--cutoff", "nan"], "--cutoff", ["not a finite number"]),
    (["export", "{session}", "--source", "gt", "--out", "{out}", "--cutoff", "-3"], "--cutoff", ["0 (no filtering)"]),
    (["export", "{session}", "--source", "gt", "--out", "{out}", "--cutoff", "fast"], "--cutoff", ["not a number"]),
    (["batch", "{root}", "--source", "gt", "--out", "{out}/summary.csv", "--cutoff", "nan"], "--cutoff", ["finite"]),
    (["batch", "{root}", "--source", "gt", "--out", "{out}/summary.csv", "--merge-timeout", "-1"], "--merge-timeout", ["negative"]),
    (["triangulate", "{session}", "--detections", "x.npz", "--min-views", "1"], "--min-views", ["at least 2"]),
    (["triangulate", "{session}", "--detections", "x.npz", "--outlier-px", "inf"], "--outlier-px", ["finite"]),
    (["triangulate", "{session}", "--detections", "x.npz", "--min-confidence", "2"], "--min-confidence", ["between 0 and 1"]),
    (["synth", "{out}/synth", "--size", "5x5"], "--size", ["16"]),
    (["synth", "{out}/synth", "--trials", "-1"], "--trials", ["negative"]),
], ids=["export-cutoff-nan", "export-cutoff-negative", "export-cutoff-text", "batch-cutoff-nan", "batch-merge-timeout",
        "triangulate-min-views", "triangulate-outlier-inf", "triangulate-confidence", "synth-size", "synth-trials"])
def test_options_are_checked_when_parsed(tmp_path, argv, option, words):
    session = copy_demo(tmp_path / "root" / "session")
    out = tmp_path / "out"
    before = old_output(out)
    argv = [a.format(session=session, root=tmp_path / "root", out=out) for a in argv]
    assert_argparse_error(kneeview(*argv, cwd=tmp_path), option, *words)
    assert snapshot(out) == before and not (out / "synth").exists()


# ------------------------------------------------------------------ batch
def _batch(tmp_path, root):
    out = tmp_path / "out"
    before = old_output(out)
    (out / "summary.csv").write_bytes(b"old summary\n")
    before = snapshot(out)
    return out, before, kneeview("batch", root, "--source", "gt", "--out", out / "summary.csv", cwd=tmp_path)


def test_batch_with_good_and_bad_trials_exits_3_and_lists_the_bad_one(tmp_path):
    copy_demo(tmp_path / "root" / "good")
    bad = copy_demo(tmp_path / "root" / "bad")
    truncate(c3d(bad), 0.5)
    out, before, proc = _batch(tmp_path, tmp_path / "root")
    assert_one_line_error(proc, 3, "skipped", str(c3d(bad)), "truncated C3D")
    import pandas as pd

    assert len(pd.read_csv(out / "summary.csv")) == 1
    assert "truncated C3D" in pd.read_csv(out / "summary.errors.csv").loc[0, "error"]


def test_batch_allow_partial_uses_a_truncated_c3d(tmp_path):
    bad = copy_demo(tmp_path / "root" / "partial")
    truncate(c3d(bad), 0.5)
    proc = kneeview("batch", tmp_path / "root", "--source", "gt", "--out", tmp_path / "summary.csv", "--allow-partial",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (warning,) = proc.stderr.splitlines()
    assert str(c3d(bad)) in warning and "--allow-partial" in warning


def test_batch_where_every_trial_fails_exits_2_and_keeps_the_old_summary(tmp_path):
    bad = copy_demo(tmp_path / "root" / "bad")
    truncate(c3d(bad), 1024)
    out, before, proc = _batch(tmp_path, tmp_path / "root")
    assert_one_line_error(proc, 2, "skipped", str(c3d(bad)), "truncated C3D")
    after = snapshot(out)
    assert {k: after[k] for k in before} == before and set(after) - set(before) == {"summary.errors.csv"}


def test_batch_on_a_folder_without_trials_exits_2(tmp_path):
    (tmp_path / "root").mkdir()
    out, before, proc = _batch(tmp_path, tmp_path / "root")
    assert_one_line_error(proc, 2, str(tmp_path / "root"), "no trial")
    assert snapshot(out) == before


def test_batch_creates_its_output_folder(tmp_path):
    copy_demo(tmp_path / "root" / "good")
    proc = kneeview("batch", tmp_path / "root", "--source", "gt", "--out", tmp_path / "new" / "deeper" / "summary.csv",
                    cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert (tmp_path / "new" / "deeper" / "summary.csv").is_file()


# ------------------------------------------------------------------ unwritable output
def test_full_disk_leaves_every_old_file_and_no_temporary(tmp_path):
    session = copy_demo(tmp_path / "session")
    with mounted(tmp_path / "small", "size=256k") as out:
        before = old_output(out)
        filler = out / "filler.bin"
        with open(filler, "wb") as fh:  # leave ~40 kB: less than the frames CSV alone (~150 kB)
            fh.write(b"\0" * (256 * 1024 - 40 * 1024 - 8 * 4096))
        before = snapshot(out)
        proc = kneeview("export", session, "--source", "gt", "--out", out, cwd=tmp_path)
        assert_one_line_error(proc, 2, str(out), "disk is full")
        assert snapshot(out) == before  # old frames, summary and TRC byte-identical, nothing half-written


def test_read_only_output_folder(tmp_path):
    session = copy_demo(tmp_path / "session")
    out = tmp_path / "readonly"
    before = old_output(out)
    shutil.copytree(out, tmp_path / "seed")
    with mounted(out, "size=1m"):
        for f in (tmp_path / "seed").iterdir():
            shutil.copy2(f, out / f.name)
        if subprocess.run(["mount", "-o", "remount,ro", str(out)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount the tmpfs read-only here")
        proc = kneeview("export", session, "--source", "gt", "--out", out, cwd=tmp_path)
        assert_one_line_error(proc, 2, str(out), "not writable")
        assert snapshot(out) == before


# ------------------------------------------------------------------ checkpoints
def _checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    from kneeview.bundled import model_path

    folder = tmp_path / "model"
    shutil.copytree(model_path(required=True), folder)
    return next(folder.glob("*.safetensors")), next(folder.glob("*.json"))


def _rehash(weights: Path, card: Path) -> None:
    """Make the card vouch for the weights as they now are (a forger's move)."""
    data = json.loads(card.read_text())
    data["weights"]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    card.write_text(json.dumps(data))


def _tampered(w, c):
    data = bytearray(w.read_bytes())
    data[-100] ^= 0xFF
    w.write_bytes(bytes(data))
    return w, "does not match its model card"


def _truncated(w, c):
    truncate(w, 0.5)
    return w, "does not match its model card"


def _nan(w, c):
    import numpy as np
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(w))
    name = next(k for k, v in sorted(tensors.items()) if v.dtype.kind == "f" and v.size > 1)
    tensors[name] = np.full_like(tensors[name], np.nan)
    save_file(tensors, str(w))
    _rehash(w, c)
    return w, "NaN"


def _pickled(w, c):
    import pickle

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    w.write_bytes(pickle.dumps(Boom()))
    _rehash(w, c)
    return w, "not a valid safetensors file"


@pytest.mark.parametrize("spoil", [_tampered, _truncated, _nan, _pickled], ids=["tampered", "truncated", "nan", "pickled"])
def test_bad_checkpoint_is_refused_before_any_inference(tmp_path, spoil):
    session = copy_demo(tmp_path / "session")
    weights, card = _checkpoint(tmp_path)
    named, problem = spoil(weights, card)
    out = tmp_path / "out"
    before = old_output(out)
    proc = kneeview("export", session, "--source", "model", "--model", weights.parent, "--device", "cpu", "--out", out,
                    cwd=tmp_path)
    assert_one_line_error(proc, 2, str(named), problem)
    assert "unpickled" not in proc.stderr + proc.stdout
    assert snapshot(out) == before
    assert not list(tmp_path.rglob("*.pose.npz"))  # no estimate was made, nor cached


# ------------------------------------------------------------------ fuzz: the C3D reader
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kneeview.bundled import demo_path  # noqa: E402

_DEMO_C3D = c3d(demo_path()).read_bytes()
_EDITS = st.lists(st.tuples(st.integers(0, 6000), st.integers(0, 64), st.binary(max_size=8)), min_size=1, max_size=6)


def _mutate(data: bytes, edits) -> bytes:
    for pos, length, repl in edits:
        pos = min(pos, len(data))
        data = data[:pos] + repl + data[pos + length:]
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.one_of(
    st.binary(max_size=4096),  # anything at all
    _EDITS.map(lambda edits: _mutate(_DEMO_C3D, edits)),  # the demo's header and parameters edited
    st.integers(0, len(_DEMO_C3D)).map(lambda n: _DEMO_C3D[:n]),  # the demo cut anywhere
))
def test_any_bytes_give_an_input_error_or_a_valid_ground_truth(tmp_path, data):
    import faulthandler

    from kneeview.errors import KneeViewInputError
    from kneeview.io.c3d import read_ground_truth

    path = tmp_path / "fuzz.c3d"
    path.write_bytes(data)
    faulthandler.dump_traceback_later(30, exit=True)  # a reader that never returns fails the run
    try:
        gt = read_ground_truth(path)
    except KneeViewInputError as exc:
        assert str(path) in str(exc) and "ignoreBadFormatting" not in str(exc)
        return
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert gt.joints_lab_mm.ndim == 3 and gt.joints_lab_mm.shape[1:] == (6, 3) and gt.rate_hz > 0
    assert gt.frames_read == gt.n_frames
