"""The training loop: one process, or DistributedDataParallel under ``torchrun``.

Each stage (framework B: the 2D stage, then the lifting stage; A and C: one joint stage)
has its own optimiser and learning-rate schedule. The training state (``RUN/last.pt``:
tensors and plain data only, read back with ``torch.load(weights_only=True)``) is saved
every ``checkpoint_every`` iterations and at the end of each stage, so that a run resumes
where it stopped. With a wall-clock budget (``time_budget_s``; frameworks A and C) the
iterations are re-planned from the measured speed (:class:`BudgetPlan`) and the cosine
schedule follows the plan, so that a run on a lent GPU ends, exported, inside its lease.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from kneeview.errors import KneeViewInputError

from .config import TrainConfig


class Dist:
    """This process's place in the run: rank, world size and device; the process group under ``torchrun``."""

    def __init__(self, device_pref: str = "auto"):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() and device_pref in ("auto", "cuda")
        self.device = torch.device(f"cuda:{self.local_rank}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(self.device)
        self.enabled = self.world > 1
        if self.enabled and not torch.distributed.is_initialized():
            torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def close(self) -> None:
        if self.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    def agree(self, value: int) -> int:
        """Rank 0's ``value`` in every process (a plan all ranks must follow)."""
        if not self.enabled:
            return int(value)
        t = torch.tensor([int(value)], dtype=torch.long, device=self.device)
        torch.distributed.broadcast(t, src=0)
        return int(t.item())


def planned_iterations(n_max: int, done: int, seconds_per_it: float, remaining_s: float) -> int:
    """A stage's iterations, at most ``n_max`` and at least one more than ``done``, such that the
    ones still to run take ``remaining_s`` at ``seconds_per_it``."""
    if not seconds_per_it > 0 or not math.isfinite(remaining_s):
        return n_max
    return int(min(n_max, done + max(1, math.floor(max(0.0, remaining_s) / seconds_per_it))))


@dataclass
class BudgetPlan:
    """The iterations of a stage that fit the run's wall-clock budget, re-planned as it goes.

    The first ``skip`` iterations (start-up, data workers, first kernels) are not timed; the plan is
    made after ``first`` timed iterations and again every ``every``, from the mean speed since, with
    ``reserve`` of the budget kept for the last checkpoint and export.
    """

    n_max: int
    budget_s: float
    skip: int = 5
    first: int = 20
    every: int = 100
    reserve: float = 0.03
    t0: float | None = None
    i0: int = 0

    def due(self, it: int) -> bool:
        """Whether iteration ``it`` re-plans: the same iterations in every process (no clock read)."""
        if self.t0 is None:
            return False
        timed = it - self.i0
        return timed >= self.first and (timed - self.first) % self.every == 0

    def update(self, it: int, elapsed_s: float, now: float, current: int) -> int:
        """The plan after iteration ``it`` (``elapsed_s`` of the run's budget used; ``current``: the plan so far)."""
        if self.t0 is None:
            if it >= self.skip:
                self.t0, self.i0 = now, it
            return current
        if not self.due(it):
            return current
        remaining = self.budget_s * (1.0 - self.reserve) - elapsed_s
        return planned_iterations(self.n_max, it, (now - self.t0) / (it - self.i0), remaining)


@dataclass
class Stopwatch:
    """Training time of a run: ``before_s`` recorded by the processes it resumed from, plus this one's."""

    before_s: float = 0.0
    started: float = field(default_factory=time.time)

    def elapsed_s(self) -> float:
        return self.before_s + time.time() - self.started


def lr_factor(cfg: TrainConfig, it: int, total: int) -> float:
    warm = max(0, min(cfg.warmup_iterations, total // 5))
    if warm and it < warm:
        return 0.01 + 0.99 * it / warm
    if cfg.schedule == "constant":
        return 1.0
    progress = (it - warm) / max(1, total - warm)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model, cfg: TrainConfig, lr: float):
    body = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("backbone.body.")]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("backbone.body.")]
    groups = [g for g in ({"params": body, "lr": lr * cfg.backbone_lr_mult}, {"params": rest, "lr": lr}) if g["params"]]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=cfg.weight_decay)
    raise KneeViewInputError(None, f"optimizer must be adamw or sgd, not {cfg.optimizer!r}", "optimizer")


def stages_of(cfg: TrainConfig) -> list[tuple[str, int, float]]:
    """(stage, iterations, learning rate) of each training stage."""
    if cfg.framework == "B":
        return [("2d", cfg.iterations, cfg.lr), ("lift", cfg.lift_iterations, cfg.lift_lr)]
    return [("joint", cfg.iterations, cfg.lr)]


def load_state(path: Path) -> dict | None:
    """The training state saved at ``path`` (``RUN/last.pt``), or None when there is none."""
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def save_state(path: Path, model, opt, sched, scaler, stage: str, global_it: int, epoch: int, elapsed: float,
               planned: int = 0) -> None:
    tmp = path.with_suffix(".pt.part")
    torch.save({
        "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else {}, "stage": stage,
        "global_iteration": global_it, "epoch": epoch, "elapsed_s": elapsed, "planned_iterations": planned,
    }, tmp)
    os.replace(tmp, path)


def train(model, loader, sampler, cfg: TrainConfig, dist: Dist, run_dir: Path, state: dict | None = None,
          on_checkpoint=None, quiet: bool = False, setup_s: float = 0.0) -> Stopwatch:
    """Run every stage of ``cfg`` on ``model`` from ``state`` (a resumed run's) or from the start.

    ``setup_s``: seconds the run spent before this (loading its data), taken off a time budget.
    At every checkpoint the main process saves the training state to ``RUN/last.pt`` and calls
    ``on_checkpoint(model, global_iteration, elapsed_s)``. Returns the run's stopwatch.
    """
    from torch.nn.parallel import DistributedDataParallel as DDP

    last_path = run_dir / "last.pt"
    stages = stages_of(cfg)
    if cfg.time_budget_s and len(stages) > 1:
        raise KneeViewInputError(None, f"a time budget plans one training stage; framework {cfg.framework} has "
                                 f"{len(stages)} (give it --iterations and --lift-iterations instead)", "--time-budget")
    total = sum(n for _, n, _ in stages)
    done_global = int(state["global_iteration"]) if state else 0
    use_amp = cfg.amp and dist.device.type == "cuda"
    progress = _Progress(cfg, run_dir, total, done_global, quiet) if dist.main else None
    clock = Stopwatch(float(state.get("elapsed_s", 0.0)) if state else 0.0)
    g = 0
    epoch = int(state.get("epoch", 0)) if state else 0
    ema = None
    for stage, n_iter, lr in stages:
        if g + n_iter <= done_global:
            g += n_iter
            continue
        if cfg.framework == "B":
            model.set_stage(stage)
        start_it = max(0, done_global - g)
        model.train()
        net = DDP(model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None) if dist.enabled else model
        opt = make_optimizer(model, cfg, lr)
        # the schedule reads the plan, which a time budget shortens as the run goes
        plan = [n_iter]
        budget = BudgetPlan(n_iter, cfg.time_budget_s - setup_s) if cfg.time_budget_s else None
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it, p=plan: lr_factor(cfg, it, p[0]))
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        if state is not None and state.get("stage") == stage and start_it > 0:
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            if use_amp and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            if budget is not None and state.get("planned_iterations"):
                plan[0] = min(n_iter, max(start_it, int(state["planned_iterations"])))
        it = start_it
        while it < plan[0]:
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            for images, targets in loader:
                if it >= plan[0]:
                    break
                images = [im.to(dist.device, non_blocking=True) for im in images]
                targets = [{k: v.to(dist.device, non_blocking=True) for k, v in t.items()} for t in targets]
                with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                    losses = net(images, targets)
                loss = losses["loss_3d"] if stage == "lift" else sum(losses.values())
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
                scaler.step(opt)
                scaler.update()
                sched.step()
                it += 1
                if budget is not None:
                    new_plan = budget.update(it, clock.elapsed_s(), time.time(), plan[0])
                    if budget.due(it):  # rank 0's plan, broadcast only when one is made
                        plan[0] = dist.agree(new_plan)
                        if progress is not None:
                            progress.replan(g + plan[0])
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise RuntimeError(f"loss became {value} at iteration {g + it}; lower the learning rate")
                ema = value if ema is None else 0.95 * ema + 0.05 * value
                if progress is not None:
                    progress.update(stage, ema, losses, value, opt.param_groups[-1]["lr"], g + it,
                                    it % cfg.log_every == 0 or it == plan[0])
                if it % cfg.checkpoint_every == 0 or it == plan[0]:
                    if dist.main:
                        elapsed = clock.elapsed_s()
                        save_state(last_path, model, opt, sched, scaler, stage, g + it, epoch, elapsed, plan[0])
                        if on_checkpoint is not None:
                            on_checkpoint(model, g + it, elapsed)
                    dist.barrier()
            epoch += 1
        g += n_iter
        state = None
    if progress is not None:
        progress.close()
    return clock


class _Progress:
    """The main process's TensorBoard log (``RUN/tb``) and progress bar (none when ``quiet``)."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, total: int, done: int, quiet: bool):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(run_dir / "tb"))
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, desc=f"framework {cfg.framework}", unit="it", dynamic_ncols=True)

    def update(self, stage: str, ema: float, losses: dict, total_loss: float, lr: float, global_it: int, log: bool) -> None:
        """One iteration done; ``log``: write its losses and learning rate to TensorBoard."""
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(stage=stage, loss=f"{ema:.4f}", l2d=f"{float(losses['loss_2d'].detach()):.4f}",
                                 l3d=f"{float(losses['loss_3d'].detach()):.4f}")
        if log:
            for k, v in losses.items():
                self.writer.add_scalar(f"loss/{k}", float(v.detach()), global_it)
            self.writer.add_scalar("loss/total", total_loss, global_it)
            self.writer.add_scalar("lr", lr, global_it)

    def replan(self, total: int) -> None:
        """A time budget changed the run's length."""
        if self.bar is not None and self.bar.total != total:
            self.bar.total = total
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.writer.close()
