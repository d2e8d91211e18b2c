"""Rank helpers for data-parallel launches (torchrun / accelerate launch): only rank 0 writes files."""
from __future__ import annotations

import os


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return rank() == 0


def setup() -> None:
    """Join the process group early (before any file is touched) when launched with several processes.

    accelerate's PartialState is the same state Trainer uses later, so this only moves the start forward.
    """
    if world_size() > 1:
        from accelerate import PartialState

        PartialState(cpu=not _cuda())


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def barrier() -> None:
    """Wait for every process (a no-op when not distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
