"""Where training batches come from: one in-memory tensor, or rows streamed from disk.

Data that fits stays one tensor and batches are sliced with ``index_select``, as always.
Data on disk (``--mmap``: a memory-mapped ``.npy`` or an image folder decoded on demand)
becomes a :class:`RowSource`: a batch reads its rows (in file order, so the disk is read
forward), maps them to model units with the run's :class:`Preprocessor` and goes to the
model, so memory holds a few batches, never the data set. With ``workers > 0`` a
``torch.utils.data.DataLoader`` reads ahead in worker processes while the model trains,
which pays off when reading costs as much as a step (decoding images, a cold disk).

Either way, every process of a distributed run takes its shard of the same global
batches (:meth:`World.shard`). A streamed run trains on the same rows in the same order
as an in-memory run, and dynamic binarisation draws from the same generator, so data that
also fits in memory gives the same model either way. Fixed binarisations (the validation
set, ``--binarize static``) of streamed rows are drawn per row from a generator seeded by
the row's number, so they do not depend on batch order, workers or processes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from vaekit.data import Dataset
from vaekit.data.preprocessing import STATIC_BINARIZE_SEED, Preprocessor
from vaekit.train.distributed import World


class RowSource(torch.utils.data.Dataset):
    """Rows ``rows`` of raw data ``x`` (on disk or in memory), read and preprocessed on demand.

    Indexing with an array of positions or a slice gives a float32 CPU tensor in model
    units; with ``binarized``, each row is binarised by its own seeded draw.
    """

    def __init__(self, x: Any, rows: np.ndarray, pre: Preprocessor, binarized: bool = False) -> None:
        self.x = x
        self.rows = np.asarray(rows, dtype=np.int64)
        self.pre = pre
        self.binarized = binarized

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: slice | np.ndarray | Tensor) -> Tensor:
        rows = self.rows[key.numpy() if isinstance(key, Tensor) else key]
        order = np.argsort(rows, kind="stable")
        raw = np.empty((len(rows), *self.x.shape[1:]), dtype=self.x.dtype)
        raw[order] = self.x[rows[order]]
        batch = torch.from_numpy(np.ascontiguousarray(self.pre.transform(raw)))
        return binarized_rows(batch, rows) if self.binarized else batch

    def to(self, device: torch.device) -> RowSource:
        """Itself: batches move to the model's device as they are read (mirrors ``Tensor.to``)."""
        return self

    def loader(self, index_batches: list[Tensor], workers: int, device: torch.device) -> DataLoader:
        """A DataLoader yielding one preprocessed batch per entry of ``index_batches``, read ahead by workers.

        Workers are forked, so they share the memory map instead of receiving a pickled copy;
        where fork is unavailable the batches are read in this process.
        """
        fork = "fork" in multiprocessing.get_all_start_methods()
        workers = workers if fork else 0
        return DataLoader(self, sampler=index_batches, batch_size=None, num_workers=workers,
                          multiprocessing_context="fork" if workers else None,
                          pin_memory=device.type == "cuda", prefetch_factor=4 if workers else None)


def binarized_rows(batch: Tensor, rows: np.ndarray) -> Tensor:
    """A fixed Bernoulli draw for each row, seeded by the row's number (independent of batching)."""
    gen = torch.Generator()
    out = torch.empty_like(batch)
    for i, row in enumerate(rows.tolist()):
        out[i] = torch.bernoulli(batch[i], generator=gen.manual_seed((STATIC_BINARIZE_SEED << 40) + row))
    return out


def stream_sources(
    data: Dataset, pre: Preprocessor, binarize: str, train_rows: Tensor, val_rows: Tensor | None,
    val_data: Dataset | None = None,
) -> tuple[RowSource, RowSource | None]:
    """Training and validation sources for data on disk; validation is ``val_data`` if given, else ``val_rows``."""
    train = RowSource(data.x, train_rows.numpy(), pre, binarized=binarize == "static")
    fixed = binarize != "none"
    if val_data is not None:
        pre.check(val_data)
        return train, RowSource(val_data.x, np.arange(val_data.n), pre, binarized=fixed)
    return train, None if val_rows is None else RowSource(data.x, val_rows.numpy(), pre, binarized=fixed)


@dataclass
class Batch:
    """This process's part of one global batch: inputs, mask, real example count, loss weight and the
    global batch's offset in the epoch."""

    x: Tensor
    mask: Tensor | None
    count: int
    weight: float
    start: int


def epoch_batches(
    x: Tensor | RowSource, mask: Tensor | None, perm: Tensor, batch_size: int, world: World,
    workers: int, device: torch.device,
) -> Iterator[Batch]:
    """One epoch of batches in the order ``perm``: global batches of ``batch_size * world.size``, sharded."""
    step = batch_size * world.size
    starts = range(0, len(perm), step)
    if isinstance(x, Tensor):
        perm = perm.to(x.device)
    shards = [world.shard(perm[start : start + step]) for start in starts]
    if isinstance(x, RowSource):
        loader = x.loader([idx for idx, _, _ in shards], workers, device)
        for start, (_, count, weight), xb in zip(starts, shards, loader, strict=True):
            yield Batch(xb.to(device, non_blocking=True), None, count, weight, start)
        return
    for start, (idx, count, weight) in zip(starts, shards, strict=True):
        mb = None if mask is None else mask.index_select(0, idx)
        yield Batch(x.index_select(0, idx), mb, count, weight, start)
