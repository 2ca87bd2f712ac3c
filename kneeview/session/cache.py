"""Cached pose estimates: next to the recording, or in the user cache dir when read-only.

A cache file is keyed by the video file's content hash and the checkpoint's hash, so a
re-encoded video or a new model never reuses a stale estimate. Files are written with
:meth:`PoseSequence.save` (atomic). A corrupt cache file is ignored and recomputed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from ..errors import KneeViewInputError
from ..sequence import PoseSequence

log = logging.getLogger(__name__)

CACHE_DIRNAME = ".kneeview"
_HASH_MEMO = "video-hashes.json"


def user_cache_dir() -> Path:
    override = os.environ.get("KNEEVIEW_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir as _ucd

    return Path(_ucd("kneeview", appauthor=False))


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, memoised by (path, size, mtime) in the user cache dir."""
    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    memo_path = user_cache_dir() / _HASH_MEMO
    memo: dict = {}
    try:
        memo = json.loads(memo_path.read_text())
        if key in memo:
            return memo[key]
    except (OSError, ValueError):
        memo = {}
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    digest = h.hexdigest()
    memo[key] = digest
    if len(memo) > 500:
        memo = dict(list(memo.items())[-500:])
    try:
        from ..atomic import atomic_write_text

        memo_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(memo_path, json.dumps(memo))
    except (OSError, KneeViewInputError):
        pass  # the memo only saves time
    return digest


#: bumped when the estimator's output for the same checkpoint and video changes, so that no
#: estimate made before is taken for a new one (3: with a refiner, the network's own keypoints too,
#: PoseSequence.network_keypoints_px)
ESTIMATE_REVISION = 3


def cache_name(video_path, video_hash: str, model_hash: str) -> str:
    return f"{Path(video_path).name}.{video_hash[:16]}.{model_hash[:16]}.r{ESTIMATE_REVISION}.pose.npz"


def _bundled(folder: Path) -> bool:
    from ..bundled import resource_path

    try:
        folder.resolve().relative_to(resource_path().resolve())
        return True
    except ValueError:
        return False


def cache_candidates(video_path, video_hash: str, model_hash: str) -> list[Path]:
    """Where a cached estimate may be: beside the recording first (never inside the
    installed package, e.g. the bundled demo), then the user cache."""
    name = cache_name(video_path, video_hash, model_hash)
    user = user_cache_dir() / "poses" / name
    folder = Path(video_path).parent
    return [user] if _bundled(folder) else [folder / CACHE_DIRNAME / name, user]


def load_cached(video_path, video_hash: str, model_hash: str) -> tuple[PoseSequence, Path] | None:
    for path in cache_candidates(video_path, video_hash, model_hash):
        if path.is_file():
            try:
                return PoseSequence.load(path), path
            except KneeViewInputError as exc:
                log.warning("ignoring a corrupt cached estimate: %s", exc)
    return None


def save_cached(seq: PoseSequence, video_path, video_hash: str, model_hash: str) -> Path | None:
    """Save beside the recording; if that folder is read-only (or full), in the user cache."""
    for path in cache_candidates(video_path, video_hash, model_hash):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return seq.save(path)
        except (OSError, KneeViewInputError) as exc:
            log.info("cannot cache the estimate at %s (%s); trying the next place", path, exc)
    return None
