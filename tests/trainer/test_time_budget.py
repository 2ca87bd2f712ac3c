"""A wall-clock budget for a training run: the plan from the measured speed, and a run that keeps to it."""
from __future__ import annotations

import json

import pytest
import torch
from fit_cli import fit_args

from trainer.cli import main
from trainer.loop import BudgetPlan, planned_iterations


def test_planned_iterations_fill_the_remaining_time():
    # 0.5 s an iteration, 30 s left after 40 done: 60 more
    assert planned_iterations(1000, 40, 0.5, 30.0) == 100
    # capped by the configured iterations
    assert planned_iterations(80, 40, 0.5, 30.0) == 80
    # the budget already spent: one more iteration (the one that saves and exports)
    assert planned_iterations(1000, 40, 0.5, -5.0) == 41
    # no speed measured: the configured iterations
    assert planned_iterations(1000, 40, 0.0, 30.0) == 1000


def test_budget_plan_times_after_start_up_and_replans():
    plan = BudgetPlan(n_max=10_000, budget_s=1000.0, skip=5, first=20, every=100, reserve=0.0)
    current = 10_000
    # start-up: 5 iterations that took 50 s (not timed), then 1 s an iteration
    for it in range(1, 6):
        current = plan.update(it, elapsed_s=10.0 * it, now=10.0 * it, current=current)
    assert current == 10_000 and plan.t0 == 50.0
    for it in range(6, 26):
        now = 50.0 + (it - 5)
        current = plan.update(it, elapsed_s=now, now=now, current=current)
    # at iteration 25: 70 s used, 930 s left at 1 s an iteration
    assert current == 25 + 930
    # the data slows down to 2 s an iteration: at the next re-plan (100 timed iterations later) the
    # mean since timing began is (20 + 100 * 2) / 120 s, and 1000 - (70 + 200) s are left
    for it in range(26, 126):
        now = 70.0 + 2.0 * (it - 25)
        current = plan.update(it, elapsed_s=now, now=now, current=current)
    assert current == 125 + int(730.0 / (220.0 / 120.0))


def test_fit_ends_inside_its_budget_and_records_it(tiny_data, tmp_path, tiny_settings):
    run = tmp_path / "run"
    # a budget already spent once the speed is known: the run stops at the first plan (after 5 + 20
    # iterations) instead of running its 10,000, exports, and says so in the card
    args = fit_args(tiny_data, run, iterations=10_000, extra=["--time-budget", "0.001"], model=tiny_settings)
    args[args.index("--checkpoint-every") + 1] = "1000"
    assert main(args) == 0
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["global_iteration"] == 26 and state["planned_iterations"] == 26
    card = json.loads((run / "model.json").read_text())
    assert card["training"]["iterations"] == 26
    assert card["training"]["time_budget_s"] == 0.001 and card["training"]["iterations_max"] == 10_000
    # resuming a finished budgeted run trains nothing more
    assert main(args + ["--resume"]) == 0
    assert torch.load(run / "last.pt", weights_only=True)["global_iteration"] == 26


def test_budget_refused_for_two_stage_framework(tiny_data, tmp_path, capsys, tiny_settings):
    run = tmp_path / "run"
    assert main(fit_args(tiny_data, run, framework="B", extra=["--time-budget", "60"], model=tiny_settings)) == 2
    assert "time budget" in capsys.readouterr().err
