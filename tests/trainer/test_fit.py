"""fit / resume / export / evaluate on tiny sessions, through the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import fit_cli

from kneeview.errors import KneeViewInputError
from trainer.cli import main
from trainer.config import build_config

TINY = {}


@pytest.fixture(autouse=True)
def _tiny(tiny_settings):
    TINY.update(tiny_settings)


def fit_args(data, run, framework="A", iterations=4, extra=()):
    return fit_cli.fit_args(data, run, iterations, extra, framework, TINY)


def test_fit_export_resume_and_evaluate(tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(fit_args(tiny_data, run)) == 0
    split = json.loads((run / "split.json").read_text())
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["global_iteration"] == 4
    from kneeview.pose import load_estimator

    est = load_estimator(run / "model.safetensors", device="cpu")
    card = est.card
    assert card["training"]["iterations"] == 4 and card["training"]["batch_size"] == 3
    assert card["training"]["train_trials"] == len(split["train"])
    norm = json.loads((run / "normalisation.json").read_text())
    assert np.allclose(card["normalisation"]["mean3d_m"], norm["mean3d_m"])
    # resume: the split is reused, training continues from iteration 4
    (run / "split.json").write_text(json.dumps({**split, "marker": 1}))
    saved = torch.load(run / "last.pt", weights_only=True)
    saved["model"]["roi_heads.std3d"] = torch.full((6, 3), 0.5)  # as if the run had other statistics
    torch.save(saved, run / "last.pt")
    assert main(fit_args(tiny_data, run, iterations=6, extra=["--resume"])) == 0
    assert json.loads((run / "split.json").read_text())["marker"] == 1
    assert torch.load(run / "last.pt", weights_only=True)["global_iteration"] == 6
    # resuming keeps the run's normalisation (the network learnt its targets with it)
    assert np.allclose(json.loads((run / "normalisation.json").read_text())["std3d_m"], 0.5)
    assert np.allclose(json.loads((run / "model.json").read_text())["normalisation"]["std3d_m"], 0.5)
    # evaluate the run's test split
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--checkpoint", str(run / "model.safetensors"), "--data", str(tiny_data), "--split", "test",
                 "--run", str(run), "--frames-per-video", "3", "--json", str(out), "--quiet"]) == 0
    res = json.loads(out.read_text())
    assert {"pck@0.10", "pck@0.25", "pck@0.50", "map", "mpjpe_mm"} <= set(res)
    views = sum(2 if t.startswith("S01/") else 1 for t in split["test"])  # S01 has two cameras
    assert res["frames"] == 3 * views
    assert "Table 1" in capsys.readouterr().out
    # several checkpoints: one table, one JSON list
    both = tmp_path / "both.json"
    ck = str(run / "model.safetensors")
    assert main(["evaluate", "--checkpoint", ck, "--checkpoint", ck, "--data", str(tiny_data), "--split", "test",
                 "--run", str(run), "--frames-per-video", "2", "--json", str(both), "--quiet"]) == 0
    listed = json.loads(both.read_text())["results"]
    assert len(listed) == 2 and listed[0]["pck@0.10"] == listed[1]["pck@0.10"]
    assert capsys.readouterr().out.count("Integral 2D heatmap + Integral 3D Location map") == 4  # 2 rows x 2 tables


def test_framework_b_runs_both_stages(tiny_data, tmp_path):
    run = tmp_path / "runB"
    assert main(fit_args(tiny_data, run, framework="B", iterations=2, extra=["--lift-iterations", "2"])) == 0
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["stage"] == "lift" and state["global_iteration"] == 4
    card = json.loads((run / "model.json").read_text())
    assert card["framework"] == "B" and card["training"]["lift_iterations"] == 2


def test_config_file_then_command_line(tmp_path):
    f = tmp_path / "cfg.toml"
    f.write_text('iterations = 100\nlr = 0.01\n[model]\nmin_size = 352\n')
    cfg = build_config(f, {"lr": 0.002, "batch_size": None})
    assert (cfg.iterations, cfg.lr, cfg.batch_size, cfg.model["min_size"]) == (100, 0.002, 3, 352)
    default = build_config()
    assert (default.iterations, default.batch_size, default.lr) == (15000, 3, 0.001)
    bad = tmp_path / "bad.json"
    bad.write_text('{"iterationz": 3}')
    with pytest.raises(KneeViewInputError, match="iterationz"):
        build_config(bad)


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert main(["fit", "--data", str(tmp_path / "nope"), "--run", str(tmp_path / "r"), "--quiet"]) == 2
    assert "not found" in capsys.readouterr().err


def test_export_fp16_with_evaluation(tmp_path, tiny_settings):
    from kneeview.pose import load_estimator
    from kneeview.pose.checkpoint import save_checkpoint
    from kneeview.pose.model import build_model

    src, _ = save_checkpoint(build_model(**tiny_settings), tmp_path / "m.safetensors", training={"iterations": 9})
    ev = tmp_path / "ev.json"
    ev.write_text(json.dumps({"pck@0.10": 97.0, "map": 0.96}))
    assert main(["export", str(src), "--out", str(tmp_path / "ship"), "--fp16", "--evaluation", str(ev)]) == 0
    est = load_estimator(tmp_path / "ship", device="cpu")
    assert est.card["weights"]["dtype"] == "float16"
    assert est.card["evaluation"]["pck@0.10"] == 97.0 and est.card["training"]["iterations"] == 9
