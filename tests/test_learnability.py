"""Every method, at its package defaults, must learn a task that the baseline learns.

The task is the bundled fixture with the smoke experiment's tiny random-init BERT and training settings;
only the method options are left at the package defaults (RS-DA: 2 copies instead of 10, to bound the
time; the copies are the compute budget, not the method's setting). A method whose default radius makes
the constant classifier optimal stays at the majority class and fails here: ADV's old default
(epsilon = 0.1) did.
"""
import json

import pytest
from conftest import run_xlr

from xlr.sources import fixture_dir
from xlr.tasks import get_task, read_tsv
from xlr.methods import METHODS

MARGIN = 10.0  # points above the majority-class share of the dev set


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("learnability")
    exp = tmp / "learnability.toml"
    exp.write_text(f"""
title = "Learnability of the package defaults"
task = "pawsx"
model = "builtin:tiny-bert"
data = "builtin:fixture"
languages = ["en"]
seeds = [7]

[methods]
run = {list(METHODS)!r}
rs-da = {{ copies = 2, synonyms = "builtin:fixture" }}

[train]            # the smoke experiment's: random init needs a large step and many epochs
learning_rate = 1e-3
epochs = 15
batch_size = 32
max_length = 64
eval_steps = 25
warmup_steps = 10
""")
    run_xlr("reproduce", exp, "--out", tmp / "runs", env={"HF_HUB_OFFLINE": "1"}, check=True)
    dev = read_tsv(fixture_dir() / "dev-en.tsv", get_task("pawsx"))
    majority = 100.0 * max(dev.labels.count(0), dev.labels.count(1)) / len(dev)
    return tmp / "runs" / "learnability", majority


@pytest.mark.slow
@pytest.mark.parametrize("method", list(METHODS))
def test_default_setting_leaves_the_majority_class(learned, method):
    runs, majority = learned
    dev = json.loads((runs / method / "seed7" / "metrics.json").read_text())["dev"]
    assert dev["best_accuracy"] >= majority + MARGIN, (
        f"{method} at its default options stays near the majority class on English dev: best "
        f"{dev['best_accuracy']:.1f} vs majority share {majority:.1f}; curve {dev['curve']}")


@pytest.mark.slow
def test_adv_with_shared_dropout_masks_also_learns(learned, tmp_path):
    """The optional setting too: the training pass then sees the full attack (bench/adv_dropout.py)."""
    runs, majority = learned
    run_xlr("reproduce", runs.parent.parent / "learnability.toml", "--methods", "adv",
            "--set", "methods.adv.dropout=shared", "--out", tmp_path, env={"HF_HUB_OFFLINE": "1"}, check=True)
    metrics = json.loads((tmp_path / "learnability" / "adv" / "seed7" / "metrics.json").read_text())
    assert metrics["objective"]["dropout"] == "shared", metrics["objective"]
    assert metrics["dev"]["best_accuracy"] >= majority + MARGIN, metrics["dev"]["curve"]
