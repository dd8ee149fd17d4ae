"""Training on several processes with PyTorch's own engine: torchrun + DistributedDataParallel.

``torchrun --nproc-per-node N -m vaekit train ...`` starts N copies of the same command and tells
each its place through the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``).
vaekit then joins the process group (gloo on CPU, NCCL on CUDA, one GPU per process), wraps
the model in DDP so gradients are averaged at every step, and gives each process its slice
of every global batch:

* every process draws the same permutation from the shared seed, so the global batches
  are exactly those of one process training with ``batch_size * N`` examples per step;
  ``--batch-size`` is per process, the effective batch is ``N`` times larger, and the
  loss weights below make the averaged gradient the global batch's mean gradient;
* the reparameterisation noise differs per process (its seed includes the rank), so a
  run matches the single-process run with the same global batch up to that noise;
* metrics are summed over processes, so every process takes the same early-stopping
  decision; only rank 0 writes the run folder, and its checkpoint holds every rank's
  random state, so ``--resume`` with the same number of processes continues exactly;
* a process that dies makes the others' next collective fail (or time out after
  ``TIMEOUT``), and the error names the lost peer instead of hanging.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors import SafetensorError, safe_open
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from vaekit.errors import TrainingError
from vaekit.io.serialization import STATE_KEY

#: How long a process waits for the others at a collective before giving up (a hung peer).
TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (a single process is rank 0 of 1)."""

    rank: int = 0
    size: int = 1

    @classmethod
    def current(cls) -> World:
        """The initialised process group's view, or a world of one."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    def noise_seed(self, seed: int) -> int:
        """This rank's noise seed: ``seed`` on rank 0, elsewhere disjoint from every 32-bit seed."""
        return seed + (self.rank << 32)

    def shard(self, batch: Tensor) -> tuple[Tensor, int, float]:
        """This rank's contiguous part of a global batch of indices, its size, and its loss weight.

        DDP averages the ranks' gradients; weighting each rank's mean loss by ``size * N / total``
        makes that average the gradient of the global batch's mean loss, even when the last
        batch splits unevenly. A rank left without examples trains on one with weight 0, so
        it still joins the gradient all-reduce.
        """
        if self.size == 1:
            return batch, batch.numel(), 1.0
        part = batch.tensor_split(self.size)[self.rank]
        if part.numel() == 0:
            return batch[:1], 0, 0.0
        return part, part.numel(), part.numel() * self.size / batch.numel()

    def span(self, n: int) -> tuple[int, int]:
        """This rank's contiguous range of ``n`` rows (for sharded evaluation)."""
        return self.rank * n // self.size, (self.rank + 1) * n // self.size

    def all_reduce(self, tensor: Tensor, op: dist.ReduceOp = dist.ReduceOp.SUM) -> Tensor:
        """The tensor reduced over all ranks (as is for a single process); NCCL reduces on the GPU."""
        if self.size == 1:
            return tensor
        nccl = dist.get_backend() == "nccl"
        reduced = tensor.to(torch.device("cuda", torch.cuda.current_device()) if nccl else tensor.device)
        dist.all_reduce(reduced, op=op)
        return reduced.to(tensor.device)

    def gather_generators(self, generators: dict[str, torch.Generator]) -> dict[str, torch.Generator]:
        """Rank 0's generators plus each other rank's ``noise`` generator as ``noise.<rank>``, to checkpoint."""
        if self.size == 1:
            return generators
        states: list[Tensor | None] = [None] * self.size
        dist.all_gather_object(states, generators["noise"].get_state())
        gathered = dict(generators)
        for rank, state in enumerate(states[1:], start=1):
            gathered[f"noise.{rank}"] = torch.Generator(device=generators["noise"].device)
            gathered[f"noise.{rank}"].set_state(state)
        return gathered

    def own_generators(self, generators: dict[str, torch.Generator]) -> dict[str, torch.Generator]:
        """The checkpoint names this rank restores its generators from (see :meth:`gather_generators`)."""
        if self.rank == 0:
            return generators
        return {f"noise.{self.rank}" if name == "noise" else name: gen for name, gen in generators.items()}

    def check_resume(self, checkpoint: Path) -> None:
        """Refuse to resume with another number of processes: batches and random streams depend on it.

        An unreadable checkpoint passes here; loading it then reports what is wrong with it.
        """
        try:
            with safe_open(str(checkpoint), framework="pt") as f:
                saved = json.loads((f.metadata() or {}).get(STATE_KEY, "{}")).get("world_size", 1)
        except (SafetensorError, OSError, ValueError):
            return
        if saved != self.size:
            launch = "without torchrun" if saved == 1 else f"under torchrun with {saved} processes"
            raise TrainingError(
                f"this run was trained by {saved} process(es) and is resumed by {self.size}; the effective "
                f"batch and the random streams depend on it, so resume it {launch}"
            )

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """``module`` in DistributedDataParallel when there are several processes."""
        if self.size == 1:
            return module
        return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


#: The world of a process trained alone.
SINGLE_PROCESS = World()


def join(device: torch.device) -> torch.device:
    """Join torchrun's process group if this process was launched by it; the device to train on.

    Under torchrun with CUDA each process takes GPU ``LOCAL_RANK`` (unless a numbered device
    was asked for) and NCCL; on CPU, gloo. Reuses a process group the caller initialised.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return device
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT,
                                device_id=device if device.type == "cuda" else None)
        atexit.register(dist.destroy_process_group)
    return device


@contextlib.contextmanager
def peers_reported(world: World) -> Iterator[None]:
    """Turn a collective that failed because another process died or hung into a clear TrainingError."""
    try:
        yield
    except dist.DistError as err:
        raise TrainingError(_lost_peer(world, err)) from err
    except RuntimeError as err:  # gloo raises plain RuntimeErrors from DDP's gradient all-reduce
        if "gloo" not in str(err).lower() and "nccl" not in str(err).lower():
            raise
        raise TrainingError(_lost_peer(world, err)) from err


def _lost_peer(world: World, err: Exception) -> str:
    """The message for a failed collective: the backend's first sentence, without its source location."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    detail = re.sub(r"^\[[^\]]*\]\s*", "", first).split(". ")[0]
    return (f"rank {world.rank} of {world.size} lost contact with the other training processes ({detail}); "
            "one of them was killed, crashed or stopped responding: see its log. Fix the cause and continue "
            "with --resume")
