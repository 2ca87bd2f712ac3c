"""The training record of a run goes into the model card's ``training`` section, key for key."""
from __future__ import annotations

import json

import pytest

from trainer.config import build_config
from trainer.export import TrainingRecord, export_model, hardware

SPLIT = {
    "seed": 4, "fractions": [0.6, 0.4, 0.0], "train": ["S01/DJ01.avi", "S02/DJ01.avi", "S05/DJ01.avi"], "val": ["S03/DJ01.avi"], "test": [],
    "athletes": {"train": ["A1", "A3"], "val": ["A2"], "test": []},
    "real": [{"session": "/labs/Demo", "name": "Demo", "frames": 100, "segments": 5, "test_segments": [1, 3],
              "guard_frames": 3, "train_frames": list(range(10)), "test_frames": [20, 21, 22], "views": ["cam01", "cam02"],
              "train_views": ["cam01"], "holdout_views": ["cam02"]}],
    "real_2d": [{"labels": "/labs/people.npz", "name": "labs/people", "views": ["cam01"], "train_views": ["cam01"],
                 "holdout_views": []}],
}
INIT_FROM = {"checkpoint": "/models/m.safetensors", "sha256": "ab12", "iterations": 900, "data": "/old", "train_frames": 50}


def config(tmp_path, **kw):
    return build_config(None, {"framework": "B", "data": str(tmp_path), "iterations": 40, "lift_iterations": 7,
                               "frames_per_video": 12, "stride": 2, "rotate_deg": 15.0, "real_fraction": 0.4, **kw})


def test_the_card_has_every_figure_of_the_run(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    record = TrainingRecord(config(tmp_path), SPLIT, train_frames=36, real_frames=15, real_2d_frames=5, init_from=INIT_FROM)
    assert record.card(iterations=47, elapsed_s=12.345) == {
        "framework": "B",
        "framework_name": "Integral 2D heatmap + 3D MLP (Part training)",
        "data": str(tmp_path.resolve()),
        "train_trials": 3,
        "train_athletes": 2,
        "train_frames": 36,
        "frames_per_video": 12,
        "stride": 2,
        "split_seed": 4,
        "split_fractions": [0.6, 0.4, 0.0],
        "iterations": 47,
        "batch_size": 3,
        "world_size": 1,
        "lr": 0.001,
        "optimizer": "adamw",
        "schedule": "cosine, warm-up 300",
        "lift_iterations": 7,
        "augment": True,
        "rotate_deg": 15.0,
        "hardware": hardware(),
        "time_s": 12.3,
        "init_from": INIT_FROM,
        "real_fraction": 0.4,
        "real_frames": 15,
        "real_2d_frames": 5,
        "real_2d": [{"name": "labs/people", "train_views": ["cam01"], "holdout_views": []}],
        "real": [{"name": "Demo", "frames": 100, "segments": 5, "test_segments": [1, 3], "guard_frames": 3,
                  "train_views": ["cam01"], "holdout_views": ["cam02"], "train_frame_count": 10,
                  "test_frames": [20, 21, 22]}],
    }


def test_a_run_on_its_trials_alone_records_no_real_sources(tmp_path):
    cfg = config(tmp_path, framework="A", augment=False)
    split = {k: v for k, v in SPLIT.items() if k not in ("real", "real_2d")}
    card = TrainingRecord(cfg, split, train_frames=36).card(iterations=40, elapsed_s=1.0)
    assert card["lift_iterations"] is None and card["rotate_deg"] is None
    assert not {"init_from", "real_fraction", "real_frames", "real_2d_frames", "real", "real_2d"} & set(card)


@pytest.mark.parametrize("evaluation", [None, {"pck@0.10": 91.0}])
def test_the_exported_card_holds_the_record(tmp_path, tiny_settings, evaluation):
    from kneeview.pose.model import build_model

    record = TrainingRecord(config(tmp_path, framework="A"), SPLIT, train_frames=36, real_frames=15, real_2d_frames=5)
    (tmp_path / "run").mkdir()
    path = export_model(build_model(framework="A", **tiny_settings), tmp_path / "run", record, 40, 3.21,
                        evaluation=evaluation)
    assert path == tmp_path / "run" / "model.safetensors" and path.is_file()
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["training"] == json.loads(json.dumps(record.card(40, 3.21)))
    assert card["evaluation"] == (evaluation or {})
