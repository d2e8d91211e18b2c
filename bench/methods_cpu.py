"""The four training methods on a real encoder on CPU: multilingual-e5-small, English PAWS pairs,
zero-shot to the 7 PAWS-X languages.

Budget (issue #3, the same as bench/real_transfer.py): the first 3000 pairs of
pawsx/train-en-small.tsv, 2 epochs, batch 32, English dev (first 1000 rows) every 50 steps for model
selection, the first 1000 test rows of each language. ADV and RS-RP use xlr's default radii.
RS-DA comes in two variants:
  --rs-da matched  (default) compute-matched: 2 synonym-substituted copies per pair, 1 epoch, so every
                   pair is seen twice, each time as a fresh copy: the same number of steps as baseline;
  --rs-da paper    the paper's offline copies: 10 copies per pair, 2 epochs (10x the compute).

    python bench/methods_cpu.py [--methods baseline,adv,rs-rp,rs-da] [--rs-da matched|paper]

Prints, per method, English dev accuracy (best step) and test accuracy per language, then the table.
A single seed at this scale is noisy; nothing here was tuned on test sets. Takes 1-2 hours on 2 cores.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_transfer import REPO, SHARED, add_pooling_option, e5_folder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "methods_cpu"))
    ap.add_argument("--methods", default="baseline,adv,rs-rp,rs-da")
    ap.add_argument("--rs-da", choices=["matched", "paper"], default="matched")
    ap.add_argument("--data", default=str(SHARED / "data"))
    ap.add_argument("--learning-rate", type=float, default=2e-5)
    add_pooling_option(ap)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    from xlr.experiments import adhoc_experiment
    from xlr.pipeline import run_experiment
    from xlr.report import show_results
    from xlr.runs import RunStore

    model = e5_folder()
    base_train = {"max_train_examples": 3000, "epochs": 2, "batch_size": 32, "eval_steps": 50,
                  "max_dev_examples": 1000, "learning_rate": args.learning_rate, "pooling": args.pooling}
    results = None
    for method in args.methods.split(","):
        train, options = dict(base_train), None
        if method == "rs-da":
            copies = 2 if args.rs_da == "matched" else 10
            train["epochs"] = 1 if args.rs_da == "matched" else 2
            options = {"copies": copies, "synonyms": str(Path(args.data) / "counterfitted_neighbors.json")}
        exp = adhoc_experiment("pawsx", model, method, args.seed, name="methods_cpu", options=options,
                               data=args.data, train_file=str(Path(args.data) / "pawsx" / "train-en-small.tsv"),
                               max_test_examples=1000, train=train)
        start = time.time()
        [(_, results)] = run_experiment(exp, Path(args.out))
        m = RunStore(Path(args.out)).run("methods_cpu", method, args.seed).read_metrics()
        print(f"{method}: en dev {m['dev']['best_accuracy']:.2f} (step {m['dev']['best_step']}/{m['train']['steps']}, "
              f"{m['train']['train_examples']} training pairs); test "
              + " ".join(f"{k} {v:.1f}" for k, v in m["test"]["standard"].items())
              + f"; {(time.time() - start) / 60:.1f} min", flush=True)
    if results:
        print(f"\nRS-DA variant: {args.rs_da}")
        print(show_results(results, "methods on e5-small, CPU budget", None, "markdown"))


if __name__ == "__main__":
    main()
