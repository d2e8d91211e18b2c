"""Real zero-shot transfer on CPU: fine-tune multilingual-e5-small on English PAWS pairs, test en/de/ja/zh.

Runs the same code path as `xlr train` (the library's pipeline), with the real encoder built offline by
../shared/tools/offline_e5_small.py and the real data in ../shared/data. Budget (issue #2): the first
3000 pairs of pawsx/train-en-small.tsv, 2 epochs, batch 32; model selection on the first 1000 English
dev pairs every 50 steps; the first 1000 test rows of en, de, ja, zh.

    python bench/real_transfer.py [--out bench/out/real_transfer] [--method baseline]

Prints the accuracies and the wall time (training, evaluation, total). Not part of CI (about 40 min on
2 busy cores; see bench/README.md). A killed run resumes from its last checkpoint on re-run.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "real_transfer"))
    ap.add_argument("--method", default="baseline")
    add_pooling_option(ap)
    ap.add_argument("--seed", type=int, default=7, help="the paper's seed 7 by default")
    ap.add_argument("--data", default=str(SHARED / "data"))
    ap.add_argument("--learning-rate", type=float, default=2e-5, help="the paper's 2e-5 by default")
    ap.add_argument("--group-by-length", choices=["on", "off"], default="off",
                    help="length-grouped training batches (xlr's default: off, random order)")
    ap.add_argument("--force", action="store_true", help="retrain a finished run (default: reuse or resume it)")
    args = ap.parse_args()

    from xlr.experiments import adhoc_experiment
    from xlr.pipeline import run_experiment
    from xlr.runs import RunStore, read_results_csv

    exp = adhoc_experiment(
        "pawsx", e5_folder(), args.method, args.seed, name="real_transfer", languages=["en", "de", "ja", "zh"],
        data=args.data, train_file=str(Path(args.data) / "pawsx" / "train-en-small.tsv"), max_test_examples=1000,
        train={"max_train_examples": 3000, "epochs": 2, "batch_size": 32, "eval_steps": 50,
               "max_dev_examples": 1000, "learning_rate": args.learning_rate,
               "pooling": args.pooling,
               "group_by_length": args.group_by_length == "on"})
    start = time.time()
    [(_, results)] = run_experiment(exp, Path(args.out), force=args.force)
    total = time.time() - start
    metrics = RunStore(Path(args.out)).run("real_transfer", args.method, args.seed).read_metrics()
    print(f"model: {exp.model}")
    print(f"train: {metrics['train']['train_examples']} pairs, {metrics['train']['steps']} steps, "
          f"best en dev {metrics['dev']['best_accuracy']:.2f} at step {metrics['dev']['best_step']}")
    for row in read_results_csv(results):
        if row["setting"] == "standard":
            print(f"  {row['language']:<4} {row['accuracy'] / 100:.4f}")
    print(f"wall time: training {metrics['train']['seconds'] / 60:.1f} min (incl. dev evaluations), "
          f"total {total / 60:.1f} min")


if __name__ == "__main__":
    main()
