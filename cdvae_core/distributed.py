"""Running the trainer unchanged under ``torchrun``: process group, device, sharding, reductions.

Without torchrun's environment (``WORLD_SIZE`` unset or 1) everything here is a no-op on one
process, so the same trainer code serves the CLI, the Studio and a cluster job.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import pickle
import traceback
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist


class DeviceError(ValueError):
    """A requested device that this machine does not have."""


@dataclass(frozen=True)
class Dist:
    """Where this process sits: ``rank`` of ``world`` processes, on ``device``."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # True when this module started the process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """"auto" picks CUDA when available; "cuda" without a GPU is a DeviceError."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("--device cuda was asked for but no CUDA GPU is available")
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"unknown device {name!r} (auto, cpu or cuda)")


def setup(device_name: str) -> Dist:
    """Join torchrun's process group when its environment says so (gloo on CPU, nccl on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world <= 1:
        return Dist(0, 1, device, False)
    if device.type == "cuda":
        _check_gpu_per_process(local_rank)
    if dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size(), device, False)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    init_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, world, device, True)


def init_group(backend: str, **kwargs) -> None:
    """``dist.init_process_group(backend, **kwargs)``, after importing what DDP imports on first
    use: torch.distributed.nn.functional, whose functions take the group live at their import as
    a default argument (``group=group.WORLD``). Imported while our group is up, they hold it for
    good: destroy_process_group cannot free it, and gloo's threads (pt_gloo_runloop,
    gloo_tcp_loop) still ran at interpreter exit, where about 1 finished torchrun run in 20
    aborted ("terminate called without an active exception"). Imported first, they hold None."""
    importlib.import_module("torch.distributed.nn.functional")
    dist.init_process_group(backend=backend, **kwargs)


def _check_gpu_per_process(local_rank: int) -> None:
    """NCCL refuses two ranks on one GPU, and only at the first collective, as a traceback
    ("Duplicate GPU detected") on every rank: say it before joining the group."""
    procs = max(int(os.environ.get("LOCAL_WORLD_SIZE", "0")), local_rank + 1)
    gpus = torch.cuda.device_count()
    if procs > gpus:
        raise DeviceError(
            f"{procs} processes on this machine train on CUDA but it has {gpus} GPU"
            f"{'' if gpus == 1 else 's'}: NCCL needs a GPU per process; start at most {gpus} "
            f"(torchrun --nproc_per_node {gpus}) or train on the CPU with --device cpu (gloo)")


def teardown(env: Dist, aligned: bool = False, error: BaseException | None = None) -> None:
    """Leave the process group this module started. First let go of what still holds the group:
    a failed run's ``error`` keeps, through its traceback, the training frame, its DDP wrapper and
    that wrapper's reducer, which holds the gloo group (in the disk-full test one rank in two still
    held its wrapper after main returned). Left to interpreter exit, gloo's threads would run
    there (see init_group), and that test's ranks did die of SIGABRT once in CI. The error's
    frames' locals are cleared and collected here, while the interpreter still runs.

    When every rank got here at the same point (``aligned``: a finished run, or an error
    ``on_every_rank`` says each rank raised together) the ranks first meet at a barrier, so that
    none leaves (and exits) while another still completes the last collective: without it about
    1 run in 20 under torchrun (gloo, 2 ranks, torch 2.13) ended in "terminate called without an
    active exception" during interpreter shutdown, after every file was written, and torchrun
    reported the run as failed (5 of 104 finished runs; with the barrier 0 of 270; the
    agreed-error tests failed the same way; init_group has since removed the threads that ran
    there). A rank that failed alone only leaves: the others may be inside a collective that a
    barrier would be mistaken for."""
    if env.owns_group and dist.is_initialized():
        _release_frames(error)
        gc.collect()
        if aligned:
            dist.barrier()
        dist.destroy_process_group()


def _release_frames(error: BaseException | None, seen: set[int] | None = None) -> None:
    """Clear the locals of every finished frame in ``error``'s traceback and in those of its
    cause and context; the message and the traceback's lines stay."""
    seen = set() if seen is None else seen
    if error is None or id(error) in seen:
        return
    seen.add(id(error))
    traceback.clear_frames(error.__traceback__)
    _release_frames(error.__cause__, seen)
    _release_frames(error.__context__, seen)


def raised_on_every_rank(error: BaseException) -> BaseException:
    """Mark ``error`` as one that every rank raises at the same point of the run (so they may
    still meet at teardown's barrier); returns it."""
    error.on_every_rank = True
    return error


def on_every_rank(error: BaseException | None) -> bool:
    return bool(getattr(error, "on_every_rank", False))


def shard_order(n: int, seed: int, epoch: int, rank: int, world: int) -> np.ndarray:
    """This rank's share of the epoch's permutation of ``n`` training rows, as int64 (n_local,).

    The permutation depends only on (seed, epoch), so a resumed run sees the same order. Like
    torch's DistributedSampler the permutation is padded by wrapping so every rank gets the same
    number of rows (collectives then line up step for step).
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n)
    per_rank = -(-n // world)
    if per_rank * world > n:
        # wrap as often as needed (np.resize repeats cyclically): with fewer rows than processes a
        # single wrap left some ranks empty and their collectives out of step
        order = np.resize(order, per_rank * world)
    return order[rank::world]


def all_sum(values: torch.Tensor, env: Dist) -> torch.Tensor:
    """Sum a tensor over ranks (identity on one process)."""
    if env.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def max_over_ranks(value: int, env: Dist) -> int:
    """The largest of every rank's ``value``: keeps guarded-step verdicts identical everywhere."""
    if not env.enabled:
        return value
    tensor = torch.tensor([float(value)], device=env.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def barrier(env: Dist) -> None:
    if env.enabled:
        dist.barrier()


def _portable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling (all_gather_object sends it), else a RuntimeError that says it."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - an exception class with an unusual constructor
        return RuntimeError(f"{type(error).__name__}: {error}")


def agree(env: Dist, error: BaseException | None = None) -> None:
    """A barrier that shares failures: every rank passes its error (or None) and, when any rank
    failed, every rank raises (its own error, or else the lowest failing rank's, same class and
    message). So a check or a write that fails on one rank (rank 0 alone writes) stops every
    rank with that message, instead of leaving the others at their next collective, where gloo
    reports a lost peer as a traceback and NCCL waits for its timeout. On one process: raises
    ``error`` if given."""
    if not env.enabled:
        if error is not None:
            raise error
        return
    gathered: list = [None] * env.world
    dist.all_gather_object(gathered, None if error is None else _portable(error))
    if error is not None:
        raise raised_on_every_rank(error)
    for other in gathered:
        if other is not None:
            raise raised_on_every_rank(other)


@contextlib.contextmanager
def together(env: Dist) -> Iterator[None]:
    """Run a block on every rank, then meet (``agree``): if the block raised on any rank, every
    rank raises that error. The block must not yield (a generator's yield inside would leave it)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - shared with the other ranks, then raised here too
        agree(env, exc)
        raise
    agree(env)
