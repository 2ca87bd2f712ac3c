"""Two processes, gloo backend on the CPU: DistributedDataParallel keeps the ranks in sync."""
from __future__ import annotations

import json
import os
import socket

import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, data: str, run: str, out: str, tiny: dict) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from trainer.config import build_config
    from trainer.fit import fit

    cfg = build_config(None, {"framework": "A", "data": data, "run_dir": run, "iterations": 3, "frames_per_video": 3,
                              "workers": 0, "checkpoint_every": 2, "warmup_iterations": 1, "eval_at_end": False,
                              "device": "cpu", "seed": 5, "model": tiny})
    def on_end(model):
        vec = torch.cat([p.detach().flatten() for p in model.parameters()])
        torch.save({"params": vec}, os.path.join(out, f"rank{rank}.pt"))

    fit(cfg, quiet=True, on_end=on_end)


def test_two_ranks_stay_in_sync(tiny_data, tmp_path, tiny_settings):
    out = tmp_path / "out"
    out.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(tiny_data), str(tmp_path / "run"), str(out), tiny_settings),
             nprocs=2, join=True)
    a = torch.load(out / "rank0.pt", weights_only=True)["params"]
    b = torch.load(out / "rank1.pt", weights_only=True)["params"]
    assert torch.equal(a, b)
    # the ranks were initialised with different seeds (seed + rank) and saw different
    # frames: equality is DDP's broadcast and gradient averaging at work. Training moved
    # the parameters away from a fresh network's
    from kneeview.pose.checkpoint import load_checkpoint
    from kneeview.pose.model import build_model

    torch.manual_seed(5)
    fresh = torch.cat([p.detach().flatten() for p in build_model(**tiny_settings).parameters()])
    assert fresh.shape == a.shape and not torch.allclose(fresh, a)
    trained, card = load_checkpoint(tmp_path / "run" / "model.safetensors")
    assert torch.equal(torch.cat([p.detach().flatten() for p in trained.parameters()]), a)
    assert card["training"]["world_size"] == 2
    assert json.loads((tmp_path / "run" / "split.json").read_text())["train"]
