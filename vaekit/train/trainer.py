"""The training loop: minibatch SGD on the ELBO (or IWAE bound) with Adam.

Data that fits in memory stays one tensor; each epoch draws a permutation and slices
batches with ``index_select`` (no per-sample Python, no DataLoader); data on disk streams
batch by batch (``vaekit.train.streaming``), and under torchrun each process trains on its shard
of every batch with DDP (``vaekit.train.distributed``). Every step is the same: the objective's
terms, ``loss.backward()``, the optimiser; for the plain MLP VAE the loss's backward is
hand-derived (``vaekit.train.fast_step``), for every other model and objective it is autograd's;
for deep models a guard clips or skips outlier updates before the optimiser (``vaekit.train.guard``).
Every epoch ends with a validation ELBO, a line in ``metrics.jsonl`` and an atomic checkpoint, so
training can stop early on a plateau, keep the best model, and resume after a crash to
the same result as an uninterrupted run: the random generators are part of the
checkpoint.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from tqdm.auto import tqdm

from vaekit.config.configs import TrainConfig, check_model_fits
from vaekit.data.preprocessing import binarize
from vaekit.errors import TrainingError
from vaekit.io.runfolder import RunFolder
from vaekit.io.serialization import load_checkpoint, load_tensors, save_checkpoint
from vaekit.model.module import VAEModule
from vaekit.train.acceleration import step_forward
from vaekit.train.distributed import SINGLE_PROCESS, World
from vaekit.train.fast_step import fast_elbo
from vaekit.train.guard import GradientGuard
from vaekit.train.objectives import elbo_loss, training_loss
from vaekit.train.regularizers import Regularizer
from vaekit.train.streaming import RowSource, epoch_batches

EpochCallback = Callable[[dict[str, Any]], None]
EVAL_BATCH = 1024


@dataclass
class TrainResult:
    history: list[dict[str, Any]]
    best_epoch: int
    best_val_elbo: float | None
    stopped_early: bool


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_optimizer(module: VAEModule, lr: float) -> torch.optim.Optimizer:
    """Adam; the fused kernel updates all parameters in one pass (about 3x faster on CPU)."""
    params = [p for p in module.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=lr, fused=True)


def scheduled_lr(config: TrainConfig, epochs_done: float) -> float:
    """The learning rate after ``epochs_done`` (fractional) epochs.

    Cosine decay to 0 at the last epoch (Loshchilov & Hutter) ends a fixed budget of epochs at a
    better optimum than a constant rate; it is a pure function of progress, so a resumed run
    follows the same schedule.
    """
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(epochs_done / config.epochs, 1.0)))
    return config.lr


@torch.no_grad()
def mean_elbo(
    module: VAEModule, x: Tensor | RowSource, mask: Tensor | None = None, seed: int = 0,
    world: World = SINGLE_PROCESS,
) -> dict[str, float]:
    """Mean single-sample ELBO, reconstruction and KL over a dataset (deterministic for a seed).

    With several processes each scores its contiguous share of the rows and the sums are combined.
    """
    was_training = module.training
    module.eval()
    gen = torch.Generator(device=module.device).manual_seed(seed)
    sums = torch.zeros(3, dtype=torch.float64)
    first, end = world.span(len(x))
    for start in range(first, end, EVAL_BATCH):
        sl = slice(start, min(start + EVAL_BATCH, end))
        terms = elbo_loss(module, x[sl].to(module.device), None if mask is None else mask[sl], generator=gen)
        sums += torch.stack([terms.bound.sum(), terms.recon.sum(), terms.kl.sum()]).double().cpu()
    module.train(was_training)
    elbo, recon, kl = (world.all_reduce(sums) / len(x)).tolist()
    return {"elbo": elbo, "recon": recon, "kl": kl}


class Trainer:
    """Trains a :class:`VAEModule` in place; with a run folder, also logs and checkpoints."""

    def __init__(
        self,
        module: VAEModule,
        config: TrainConfig,
        *,
        run: RunFolder | None = None,
        quiet: bool = False,
        callbacks: Sequence[EpochCallback] = (),
    ) -> None:
        self.module = module
        self.config = config
        self.run = run
        self.quiet = quiet
        self.callbacks = list(callbacks)
        self.device = module.device
        self.optimizer = make_optimizer(module, config.lr)
        self.world = World.current()
        self.forward = step_forward(module, config.precision, config.compile, self.world)
        self.fast = fast_elbo(module, config, self.world)  # None where autograd's gradients are needed
        self.order_gen = torch.Generator().manual_seed(config.seed)
        noise_seed = self.world.noise_seed(config.seed + 1)  # each process draws its own noise
        self.noise_gen = torch.Generator(device=self.device).manual_seed(noise_seed)
        check_model_fits(module.config, config)
        self.regularizer = Regularizer(config)
        self.guard = GradientGuard(config.grad_clip, config.grad_skip)

    def fit(
        self,
        train: Tensor | RowSource,
        val: Tensor | RowSource | None = None,
        *,
        train_mask: Tensor | None = None,
        val_mask: Tensor | None = None,
        resume: bool = False,
    ) -> TrainResult:
        cfg = self.config
        state = {"epoch": 0, "best_epoch": 0, "best_val_elbo": None, "bad_epochs": 0,
                 "world_size": self.world.size}
        history: list[dict[str, Any]] = []
        best_weights = copy.deepcopy(self.module.state_dict())
        if resume:
            state, history, best_weights = self._restore()
        steps_per_epoch = math.ceil(len(train) / (cfg.batch_size * self.world.size))
        bar = tqdm(
            total=cfg.epochs * steps_per_epoch, initial=state["epoch"] * steps_per_epoch, unit="step",
            desc="training", disable=self.quiet or not sys.stderr.isatty(), dynamic_ncols=True,
        )
        flush_denormal = torch.set_flush_denormal(True)  # tiny Adam moments otherwise slow every update
        stopped_early = False
        try:
            for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
                row = self._train_epoch(train, train_mask, bar, epoch)
                row["epoch"] = epoch
                if val is not None:
                    scores = mean_elbo(self.module, val, val_mask, seed=cfg.seed, world=self.world)
                    row.update({f"val_{k}": v for k, v in scores.items()})
                score = row.get("val_elbo", row["train_elbo"])
                if state["best_val_elbo"] is None or score > state["best_val_elbo"]:
                    state.update(best_val_elbo=score, best_epoch=epoch, bad_epochs=0)
                    best_weights = copy.deepcopy(self.module.state_dict())
                    if self.run is not None and self.world.is_main:
                        self.run.save_weights(self.module)
                else:
                    state["bad_epochs"] += 1
                state["epoch"] = epoch
                row["elapsed_s"] = (history[-1]["elapsed_s"] if history else 0.0) + row["time_s"]
                history.append(row)
                if self.run is not None:
                    generators = {"order": self.order_gen, "noise": self.noise_gen}
                    generators = self.world.gather_generators(generators)  # every rank's, for an exact resume
                    if self.world.is_main:
                        self.run.write_metrics(history)
                        state["guard"] = self.guard.state()
                        save_checkpoint(self.run.checkpoint, self.module, self.optimizer, generators, state)
                bar.set_postfix(epoch=epoch, loss=f"{row['train_loss']:.2f}",
                                val_elbo=f"{row.get('val_elbo', float('nan')):.2f}")
                for callback in self.callbacks:
                    callback(row)
                if val is not None and state["bad_epochs"] >= cfg.patience:
                    stopped_early = True
                    break
        finally:
            bar.close()
            if flush_denormal:
                torch.set_flush_denormal(False)
        self.module.load_state_dict(best_weights)
        return TrainResult(history, state["best_epoch"], state["best_val_elbo"], stopped_early)

    def _train_epoch(
        self, x: Tensor | RowSource, mask: Tensor | None, bar: tqdm, epoch: int
    ) -> dict[str, Any]:
        cfg, module, optimizer = self.config, self.module, self.optimizer
        module.train()
        n = len(x)
        perm = torch.randperm(n, generator=self.order_gen)
        sums = torch.zeros(4, device=self.device)
        start_time = time.perf_counter()
        for batch in epoch_batches(x, mask, perm, cfg.batch_size, self.world, cfg.workers, self.device):
            xb, mb = batch.x, batch.mask
            if cfg.binarize == "dynamic":
                xb = binarize(xb, self.noise_gen)
            progress = epoch - 1 + batch.start / n  # fractional epochs done, for the schedules
            for group in optimizer.param_groups:
                group["lr"] = scheduled_lr(cfg, progress)
            terms = self.forward(training_loss, xb, mb, cfg.beta, cfg.iw_samples, self.noise_gen,
                                 regularizer=self.regularizer, epoch=progress, estimator=cfg.grad_estimator,
                                 fast=self.fast)
            optimizer.zero_grad(set_to_none=True)  # backward then hands each fresh gradient over without a copy
            (terms.loss if batch.weight == 1.0 else terms.loss * batch.weight).backward()
            if self.guard.allows(module.parameters()):  # clips, or skips an outlier update
                optimizer.step()
            if batch.count:
                with torch.no_grad():
                    sums += torch.stack([terms.loss * batch.count, terms.recon.sum(), terms.kl.sum(),
                                         terms.bound.sum()])
            bar.update()
        sums = self.world.all_reduce(sums)
        elapsed = torch.tensor([time.perf_counter() - start_time], dtype=torch.float64)
        elapsed = self.world.all_reduce(elapsed, dist.ReduceOp.MAX).item()  # the slowest process's epoch
        loss, recon, kl, bound = (sums / n).tolist()
        if not all(map(math.isfinite, (loss, recon, kl))):
            raise TrainingError(
                "the loss became NaN/Inf; the best model so far is kept. Try a lower --lr, a smaller --beta "
                "warm-up, or check the data for extreme values (tables are standardised, images must be in range)"
            )
        return {"train_loss": loss, "train_recon": recon, "train_kl": kl, "train_elbo": bound,
                "time_s": elapsed, "samples_per_s": n / elapsed, "lr": optimizer.param_groups[0]["lr"],
                **(self.guard.epoch_counts() if self.guard.active else {})}

    def _restore(self) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Tensor]]:
        if self.run is None:
            raise TrainingError("resuming needs a run folder to resume from")
        self.world.check_resume(self.run.require_checkpoint())
        state = load_checkpoint(self.run.checkpoint, self.module, self.optimizer,
                                self.world.own_generators({"order": self.order_gen, "noise": self.noise_gen}))
        history = [r for r in self.run.read_metrics() if r["epoch"] <= state["epoch"]]
        self.guard.load(state.get("guard"))
        best, _ = load_tensors(self.run.file(RunFolder.MODEL))
        return state, history, best
