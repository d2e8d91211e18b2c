"""What the bench scripts share: where the repository and the data are, the real multilingual-e5-small
encoder, and --pooling.

The data folder (`--data` of each script) is $XLR_BENCH_DATA, by default $XLR_SHARED/data, and $XLR_SHARED is
by default `shared/` beside the checkout (the layout the integration tests use: data/pawsx, data/xnli,
data/counterfitted_neighbors.json, tools/offline_e5_small.py). The e5 encoder is $XLR_E5 (a local folder),
else the folder that $XLR_SHARED/tools/offline_e5_small.py builds, else the hub's intfloat/multilingual-e5-small.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XLR_SHARED", REPO.parent / "shared"))
DATA = Path(os.environ.get("XLR_BENCH_DATA", SHARED / "data"))
E5_HUB_ID = "intfloat/multilingual-e5-small"   # the cpu profiles' model (reproduce/table1.toml)


def e5_folder() -> str:
    """$XLR_E5, else the offline build of the development folder's tool, else the hub id."""
    if os.environ.get("XLR_E5"):
        return os.environ["XLR_E5"]
    tool = SHARED / "tools" / "offline_e5_small.py"
    if not tool.is_file():
        return E5_HUB_ID
    out = subprocess.run([sys.executable, str(tool)], check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def add_pooling_option(ap: argparse.ArgumentParser,
                       help: str = "classifier input: mean of e5's last hidden states (default: e5's own pooling) "
                                   "or the first-token head of AutoModelForSequenceClassification (stays at the "
                                   "majority class here)") -> None:
    """--pooling for the bench scripts: train.pooling's values, mean (the cpu profiles' head) by default."""
    from xlr.config import POOLING

    ap.add_argument("--pooling", choices=POOLING, default="mean", help=help)
