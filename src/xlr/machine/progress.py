"""Console output: rich progress bars for training and prediction, status lines on stderr.

Tables go to stdout (so `--format csv > file` stays clean); everything here goes to stderr.
Only rank 0 of a data-parallel launch prints.
"""
from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from xlr.machine.distributed import is_main_process

console = Console(stderr=True, highlight=False)
PLAIN_PROGRESS_SECONDS = 60


def say(message: str) -> None:
    """A status line on stderr (rich markup allowed), from rank 0 only."""
    if is_main_process():
        console.print(message, soft_wrap=True)


_quiet = False


def quiet_libraries() -> None:
    """Keep library chatter (weight-loading bars, expected init warnings) out of xlr's own output."""
    global _quiet
    if _quiet:
        return
    _quiet = True
    import logging
    import warnings

    # the libraries read these when they are imported; those already imported are told directly below
    for var, value in (("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1"), ("TRANSFORMERS_VERBOSITY", "error"),
                       ("DATASETS_VERBOSITY", "error"), ("HF_DATASETS_DISABLE_PROGRESS_BARS", "1"),
                       ("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("HF_HUB_VERBOSITY", "error")):
        os.environ.setdefault(var, value)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*pkg_resources.*")
    for name in ("transformers", "datasets", "accelerate", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)
    transformers = sys.modules.get("transformers")
    if transformers is not None:
        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    datasets = sys.modules.get("datasets")
    if datasets is not None:
        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()


def new_progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=console, transient=True,
                    disable=not is_main_process())
