"""The athlete-grouped train/val/test split of a data folder, and the split file that holds it.

Athletes, not trials, are assigned, so an athlete recorded in two years stays in one split.
A run's ``split.json`` also holds the entries of the real recordings
(:func:`trainer.real_recordings.real_split`) and 2D-only labels
(:func:`trainer.people_labels.people_split`) mixed into it.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from kneeview.atomic import atomic_write_text
from kneeview.errors import KneeViewInputError


def make_split(trials: dict[str, str], seed: int = 0, fractions=(0.70, 0.15, 0.15)) -> dict:
    """Assign athletes (not trials) to train/val/test; ``trials`` maps trial id -> athlete.

    A split with a non-zero share gets at least one athlete (from three athletes on); a zero share
    none (``fractions=(1, 0, 0)``: every trial trains, evaluation uses other data)."""
    athletes = sorted(set(trials.values()))
    rng = random.Random(seed)
    rng.shuffle(athletes)
    n = len(athletes)
    n_val = max(1, round(fractions[1] * n)) if n >= 3 and fractions[1] > 0 else 0
    n_test = max(1, round(fractions[2] * n)) if n >= 3 and fractions[2] > 0 else 0
    n_train = n - n_val - n_test
    groups = {"train": athletes[:n_train], "val": athletes[n_train:n_train + n_val], "test": athletes[n_train + n_val:]}
    where = {a: name for name, group in groups.items() for a in group}
    split = {"seed": seed, "fractions": list(fractions), "athletes": {k: sorted(v) for k, v in groups.items()}}
    for name in groups:
        split[name] = sorted(t for t, a in trials.items() if where[a] == name)
    return split


def save_split(split: dict, path: Path) -> None:
    atomic_write_text(path, json.dumps(split, indent=2) + "\n")


def load_split(path: Path) -> dict:
    try:
        split = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise KneeViewInputError(path, f"cannot read the split: {exc}") from None
    for key in ("train", "val", "test"):
        if not isinstance(split.get(key), list):
            raise KneeViewInputError(path, "not a split file", key)
    return split
