"""What the bench scripts share: where the repository and the development data are, the real
multilingual-e5-small encoder (built offline by the data folder's tools/offline_e5_small.py), and --pooling.

The data folder is $XLR_SHARED, by default `shared/` beside the checkout (the layout the integration tests
use: data/pawsx, data/xnli, data/counterfitted_neighbors.json, tools/offline_e5_small.py).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XLR_SHARED", REPO.parent / "shared"))


def e5_folder() -> str:
    out = subprocess.run([sys.executable, str(SHARED / "tools" / "offline_e5_small.py")], check=True,
                         capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def add_pooling_option(ap: argparse.ArgumentParser,
                       help: str = "classifier input: mean of e5's last hidden states (default: e5's own pooling) "
                                   "or the first-token head of AutoModelForSequenceClassification (stays at the "
                                   "majority class here)") -> None:
    """--pooling for the bench scripts: train.pooling's values, mean (the cpu profiles' head) by default."""
    from xlr.config import POOLING

    ap.add_argument("--pooling", choices=POOLING, default="mean", help=help)
