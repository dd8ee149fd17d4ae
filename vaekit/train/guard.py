"""A guard on each update: clip gradient norms and skip outlier updates, relative to recent ones.

Deep hierarchical VAEs train well for a long time and then, on one unlucky batch, take an update
whose gradient is orders of magnitude larger than usual; Adam's moments carry it for thousands of
steps and the run never recovers (issue 15: an MLP ladder went from a training ELBO of -87.7 to
-154.2 in one epoch, without a NaN). VDVAE's remedy, made relative to the run's own scale: keep
the gradient norms of the last :data:`WINDOW` updates; clip the gradient to ``clip`` times their
median, and skip the update entirely (no optimiser step) when its norm is above ``skip`` times
the median, or not finite. Until :data:`WARMUP` norms are known it only records them.

A skipped update still counts in the epoch's training loss, so a loss that is NaN still stops the
run (``TrainingError``); what the guard skips is a gradient that is out of scale, or overflowed.
The recent norms are part of the checkpoint (:meth:`GradientGuard.state`), so a resumed run
makes the same decisions as an uninterrupted one; the counts of clipped and skipped updates go
into each epoch's line of ``metrics.jsonl``.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

#: How many recent updates' gradient norms the median is taken over.
WINDOW = 100
#: Updates whose norms are only recorded, before the median is trusted.
WARMUP = 10


class GradientGuard:
    """Clips to ``clip`` x and skips above ``skip`` x the running median gradient norm (None: off)."""

    def __init__(self, clip: float | None, skip: float | None) -> None:
        self.clip = clip
        self.skip = skip
        self.norms: deque[float] = deque(maxlen=WINDOW)
        self.clipped = 0
        self.skipped = 0

    @property
    def active(self) -> bool:
        return self.clip is not None or self.skip is not None

    def allows(self, params: Iterable[nn.Parameter]) -> bool:
        """Whether to take this update, after clipping its gradients in place where they are too large.

        Skipped updates are not recorded, so one outlier does not raise the median it is judged by.
        """
        if not self.active:
            return True
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()
        median = statistics.median(self.norms) if len(self.norms) >= WARMUP else math.inf
        if not math.isfinite(norm) or (self.skip is not None and norm > self.skip * median):
            self.skipped += 1
            return False
        self.norms.append(norm)
        if self.clip is not None and norm > self.clip * median:
            for g in grads:
                g.mul_(self.clip * median / norm)
            self.clipped += 1
        return True

    def epoch_counts(self) -> dict[str, int]:
        """This epoch's clipped and skipped updates (for ``metrics.jsonl``); the counts start again at 0."""
        counts = {"grad_clipped": self.clipped, "grad_skipped": self.skipped}
        self.clipped = self.skipped = 0
        return counts

    def state(self) -> dict[str, Any]:
        """The recent norms, as plain floats (JSON keeps them exactly), for the checkpoint."""
        return {"norms": list(self.norms)}

    def load(self, state: Mapping[str, Any] | None) -> None:
        self.norms = deque((float(v) for v in (state or {}).get("norms", ())), maxlen=WINDOW)
