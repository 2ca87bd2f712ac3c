"""`kneeview synth --task walk|stand|all`: everyday movement beside the clinical tasks, for variety in training.

The planned shares of --task all follow ALL_TASKS, a walking trial's pelvis travels forward at a walking speed
while staying in the camera's picture, a standing trial's ankles stay put, and --task mix is the two clinical
tasks only (the datasets made before the option are unchanged: tests/synth hash tests)."""
from __future__ import annotations

import numpy as np
import pytest

from kneeview.errors import KneeViewInputError
from kneeview.synth.dataset import ALL_TASKS, build_trial, plan_dataset

SIZE = (160, 120)


def test_all_draws_every_task_in_its_share():
    specs = plan_dataset(2000, seed=3, task="all", size=SIZE)
    names = [s.task for s in specs]
    for name, share in ALL_TASKS:
        assert names.count(name) / len(names) == pytest.approx(share, abs=0.04), name
    assert {s.task for s in plan_dataset(200, seed=3, task="mix", size=SIZE)} == {"DJ", "SLS"}


def test_unknown_task_refused():
    with pytest.raises(KneeViewInputError, match="--task"):
        plan_dataset(2, seed=1, task="run", size=SIZE)


@pytest.mark.parametrize("seed", [1, 2])
def test_walking_trial_moves_forward_in_view(seed):
    (spec,) = plan_dataset(1, seed=seed, task="walk", size=SIZE)
    built = build_trial(spec)
    J = built.motion.joints_lab_mm
    mid = 0.5 * (J[:, 0] + J[:, 1])
    duration = len(J) / built.motion.rate_hz
    speed = np.linalg.norm(mid[-1, :2] - mid[0, :2]) / duration
    assert 600.0 < speed < 1800.0, speed  # path length over time; a turning walk is a little shorter
    uv = built.cameras[0].project(J)
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < SIZE[0]) & (uv[..., 1] >= 0) & (uv[..., 1] < SIZE[1])
    assert inside.all(axis=1).mean() > 0.95
    assert built.metadata["task"] == "WALK"


def test_standing_trial_keeps_its_feet():
    (spec,) = plan_dataset(1, seed=4, task="stand", size=SIZE)
    J = build_trial(spec).motion.joints_lab_mm
    ankles = J[:, 4:6, :2]
    assert np.abs(ankles - ankles[0]).max() < 1.0
    assert np.ptp(J[:, 0:2, :2], axis=0).max() > 5.0  # the pelvis sways and turns above them
