"""Rank helpers for data-parallel launches (torchrun / accelerate launch): only rank 0 writes files."""
from __future__ import annotations

import contextlib
import os
import sys


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return rank() == 0


def barrier() -> None:
    """Wait for every process (a no-op when not distributed). A process group exists only once torch has been
    imported, so this module never imports torch itself."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


@contextlib.contextmanager
def main_process_first():
    """The body runs on each machine's first process (LOCAL_RANK 0) before the others: downloads, caches
    and tokenisation happen once per machine, and the other ranks then read what it left (a no-op when not
    distributed)."""
    first = local_rank() == 0
    if not first:
        barrier()
    try:
        yield
    finally:
        if first:
            barrier()


def without_option(argv: list[str], name: str) -> list[str]:
    """argv minus `--name VALUE` / `--name=VALUE`."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


def relaunch(nproc: int, argv: list[str]) -> int:
    """Run `xlr ARGV` again under torchrun with `nproc` processes on this machine; return its exit code.

    Each process takes one GPU when there are GPUs (gloo on CPU). For several machines, start
    `torchrun --nnodes ... -m xlr ...` or `accelerate launch -m xlr ...` on each instead (docs/install.md).
    """
    import subprocess
    import sys

    args = ["--standalone", f"--nproc_per_node={nproc}", "-m", "xlr", *without_option(argv, "--nproc")]
    return subprocess.call([sys.executable, "-c", _TORCHRUN, *args])


# torchrun, but a failed worker ends it with that worker's exit code and its own one-line error,
# not with torchrun's traceback
_TORCHRUN = """
import logging, sys
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import main
logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
try:
    main(sys.argv[1:])
except ChildFailedError as e:
    codes = [f.exitcode for f in e.failures.values() if f.exitcode and f.exitcode > 0]
    sys.exit(codes[0] if codes else 1)
"""
