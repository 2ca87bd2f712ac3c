"""The athlete-grouped 70:15:15 split."""
from __future__ import annotations

from trainer.samples import trial_athletes
from trainer.splits import load_split, make_split, save_split


def test_every_athlete_in_exactly_one_split():
    trials = {f"S{k:03d}/T{j}.avi": f"athlete{k % 40}" for k in range(100) for j in range(2)}
    split = make_split(trials, seed=3)
    where = {}
    for name in ("train", "val", "test"):
        for t in split[name]:
            where.setdefault(trials[t], set()).add(name)
    assert all(len(v) == 1 for v in where.values())
    assert sorted(split["train"] + split["val"] + split["test"]) == sorted(trials)
    counts = {name: len(split["athletes"][name]) for name in ("train", "val", "test")}
    assert counts == {"train": 28, "val": 6, "test": 6}  # 70:15:15 of 40 athletes


def test_zero_shares_leave_splits_empty():
    trials = {f"t{k}": f"a{k % 7}" for k in range(30)}
    everything = make_split(trials, seed=1, fractions=(1.0, 0.0, 0.0))
    assert sorted(everything["train"]) == sorted(trials) and everything["val"] == everything["test"] == []
    no_test = make_split(trials, seed=1, fractions=(0.8, 0.2, 0.0))
    assert no_test["test"] == [] and len(no_test["athletes"]["val"]) == 1  # round(0.2 * 7)


def test_split_fractions_are_checked(tmp_path, capsys):
    from trainer.cli import main

    for bad in ("1.2,0,0", "0.5,0.2", "0,0.5,0.5"):
        assert main(["fit", "--data", str(tmp_path), "--split-fractions", bad]) == 2
        assert "split fractions" in capsys.readouterr().err


def test_split_is_deterministic_per_seed():
    trials = {f"t{k}": f"a{k}" for k in range(30)}
    assert make_split(trials, seed=1) == make_split(trials, seed=1)
    assert make_split(trials, seed=1)["test"] != make_split(trials, seed=2)["test"]


def test_athlete_in_two_years_stays_together(tiny_data, tmp_path):
    trials = trial_athletes(tiny_data)
    assert trials["S01/DJ01.2107395.avi"] == trials["S02/DJ01.2107395.avi"] == "A1"
    for seed in range(6):
        split = make_split(trials, seed=seed)
        for a in ("A1", "A2"):
            homes = {name for name in ("train", "val", "test") for t in split[name] if trials[t] == a}
            assert len(homes) == 1
        assert split["val"] and split["test"] and split["train"]
    save_split(split, tmp_path / "split.json")
    assert load_split(tmp_path / "split.json") == split


def test_normalisation_stats_pool_the_deviation_over_joints():
    import numpy as np

    from trainer.samples import ViewSamples, normalisation_stats

    rng = np.random.default_rng(0)
    j = rng.normal(0, 1, (500, 6, 3)) * np.array([0.01, 0.05, 0.1, 0.1, 0.2, 0.2])[None, :, None] + 0.3
    v = ViewSamples("t", "a", None, None, (10, 10), np.arange(500), np.zeros((500, 6, 2)), j, np.zeros((500, 4)),
                    np.zeros((500, 4)))
    mean, std = normalisation_stats([v, v])
    assert mean.shape == std.shape == (6, 3)
    assert np.allclose(mean, j.mean(axis=0))
    expected = np.sqrt(((j - j.mean(axis=0)) ** 2).mean(axis=(0, 1)))
    assert np.allclose(std, expected[None].repeat(6, axis=0))
