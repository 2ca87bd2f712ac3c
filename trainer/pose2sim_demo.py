"""Fetch Pose2Sim's Demo_SinglePerson (a real 4-camera Qualisys lab recording) into a cache.

    python tools/fetch_pose2sim_demo.py [--cache DIR] [--demo MultiPerson]   # prints the session folder

Downloads the wheel ``pose2sim==0.10.49`` with ``pip download --no-deps`` (no install),
checks its SHA-256, and unzips only ``Pose2Sim/Demo_SinglePerson/`` into
``DIR/pose2sim-0.10.49/Demo_SinglePerson`` (``--demo MultiPerson``: the same lab and cameras,
the same athlete and a second person, ``Demo_MultiPerson``; default DIR: ``$KNEEVIEW_CACHE/pose2sim`` or
``~/.cache/kneeview/pose2sim``), outside the repository. The data are BSD-3-Clause
(Pose2Sim); they are not committed. A second call returns the cached folder at once.

:func:`fetch_demo` raises :class:`DemoUnavailable` when PyPI cannot be reached (tests
skip then) and ``RuntimeError`` for anything else (a changed wheel, a broken zip).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

VERSION = "0.10.49"
WHEEL = f"pose2sim-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "403e0dc4065898ba6a595e72a8970950310979253d60e24c2e00b16b36bf21e1"
DEMOS = ("SinglePerson", "MultiPerson")
EXPECTED = ("calibration/Calib.qca.txt", "videos/cam01.mp4", "videos/cam02.mp4", "videos/cam03.mp4", "videos/cam04.mp4")
_NETWORK_WORDS = ("connection", "max retries", "name resolution", "network is unreachable", "timed out",
                  "no matching distribution", "could not find a version", "proxy", "ssl", "temporary failure")


class DemoUnavailable(RuntimeError):
    """PyPI (or the configured index) cannot be reached."""


def default_cache() -> Path:
    base = os.environ.get("KNEEVIEW_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "kneeview") / "pose2sim"


def _complete(folder: Path) -> bool:
    return all((folder / rel).is_file() for rel in EXPECTED)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(wheels: Path, timeout_s: float) -> Path:
    wheel = wheels / WHEEL
    if wheel.is_file() and _sha256(wheel) == WHEEL_SHA256:
        return wheel
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check",
           "--timeout", "30", "--retries", "1", "-d", str(wheels), f"pose2sim=={VERSION}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise DemoUnavailable(f"pip download of pose2sim=={VERSION} took more than {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        text = (proc.stdout + proc.stderr).strip()
        tail = text.splitlines()[-1] if text else f"exit status {proc.returncode}"
        if any(w in text.lower() for w in _NETWORK_WORDS):
            raise DemoUnavailable(f"PyPI unreachable: {tail}")
        raise RuntimeError(f"pip download pose2sim=={VERSION} failed: {tail}")
    if not wheel.is_file():
        raise RuntimeError(f"pip download did not produce {wheel}")
    digest = _sha256(wheel)
    if digest != WHEEL_SHA256:
        wheel.unlink()
        raise RuntimeError(f"{WHEEL} has SHA-256 {digest}, expected {WHEEL_SHA256}")
    return wheel


def fetch_demo(cache_dir=None, timeout_s: float = 600.0, demo: str = "SinglePerson") -> Path:
    """The ``Demo_<demo>`` session folder (calibration/, videos/), fetched once into the cache."""
    if demo not in DEMOS:
        raise ValueError(f"no Pose2Sim demo {demo!r} (known: {', '.join(DEMOS)})")
    cache = Path(cache_dir) if cache_dir else default_cache()
    prefix = f"Pose2Sim/Demo_{demo}/"
    target = cache / f"pose2sim-{VERSION}" / f"Demo_{demo}"
    if _complete(target):
        return target
    wheel = _download(cache / "wheels", timeout_s)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-", dir=target.parent))
    try:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                name = info.filename
                if not name.startswith(prefix) or info.is_dir():
                    continue
                rel = PurePosixPath(name[len(prefix):])
                if rel.is_absolute() or ".." in rel.parts:
                    raise RuntimeError(f"{WHEEL}: unsafe path {name!r}")
                dest = tmp.joinpath(*rel.parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, dest.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        if not _complete(tmp):
            raise RuntimeError(f"{WHEEL} lacks some of {', '.join(EXPECTED)} under {prefix}")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def main(argv=None) -> int:
    """``tools/fetch_pose2sim_demo.py``: print the demo's folder; exit status 3 when PyPI cannot be reached."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", help=f"cache folder (default {default_cache()})")
    parser.add_argument("--demo", choices=DEMOS, default="SinglePerson", help="which of Pose2Sim's demos (default SinglePerson)")
    args = parser.parse_args(argv)
    try:
        print(fetch_demo(args.cache, demo=args.demo))
    except DemoUnavailable as exc:
        print(f"fetch_pose2sim_demo: {exc}", file=sys.stderr)
        return 3
    return 0

