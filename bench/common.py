"""What the bench scripts share: where the repository and the data are, the real multilingual-e5-small
encoder, and --pooling.

The data folder (`--data` of each script) is $XLR_BENCH_DATA, by default `data/` in the checkout: the layout
`xlr data export` writes (data/pawsx, data/xnli, data/counterfitted_neighbors.json). The e5 encoder
(`--model`) is $XLR_E5 (a local folder), else the hub's intfloat/multilingual-e5-small.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("XLR_BENCH_DATA", REPO / "data"))
E5_HUB_ID = "intfloat/multilingual-e5-small"   # the cpu profiles' model (reproduce/table1.toml)


def e5_folder() -> str:
    """$XLR_E5 (a local copy of the model), else the hub id."""
    return os.environ.get("XLR_E5") or E5_HUB_ID


def add_pooling_option(ap: argparse.ArgumentParser,
                       help: str = "classifier input: mean of e5's last hidden states (default: e5's own pooling) "
                                   "or the first-token head of AutoModelForSequenceClassification (stays at the "
                                   "majority class here)") -> None:
    """--pooling for the bench scripts: train.pooling's values, mean (the cpu profiles' head) by default."""
    from xlr.settings import POOLING

    ap.add_argument("--pooling", choices=POOLING, default="mean", help=help)
