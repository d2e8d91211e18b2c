"""Peak memory per rank when 2 data-parallel ranks prepare an XNLI-sized training set (gloo, CPU).

Two ways to turn N synthetic pairs into the training Dataset, each in its own 2-process launch:

  lists   what xlr did before: every rank tokenises the whole set into Python lists, then
          Dataset.from_dict (an in-memory copy per rank)
  arrow   what xlr does now (models.encode with a cache folder, under main_process_first): the first rank
          tokenises into an Arrow file, the other rank memory-maps it

    python bench/startup_memory.py [--pairs 392702] [--model DIR]

Prints, per way and rank, the peak resident memory (VmHWM) and the seconds to the Dataset. The pairs are
random word sequences of PAWS/XNLI-like length (20 + 11 words); the tokenizer is e5-small's (XLM-R's).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def worker(args) -> None:
    import torch.distributed as dist
    from transformers import AutoTokenizer

    from xlr.machine import distributed
    from xlr.tasks import PairSet
    from xlr.engine.models import encode
    from xlr.engine.throughput import peak_memory_mib  # the process's VmHWM: these ranks never touch a GPU

    dist.init_process_group("gloo")
    rng = random.Random(0)
    words = [f"w{i}" for i in range(5000)]
    s1 = [" ".join(rng.choices(words, k=20)) for _ in range(args.pairs)]
    s2 = [" ".join(rng.choices(words, k=11)) for _ in range(args.pairs)]
    pairs = PairSet(s1, s2, [rng.randrange(3) for _ in range(args.pairs)], "synthetic")
    tok = AutoTokenizer.from_pretrained(args.model)
    base = peak_memory_mib()
    start = time.time()
    if args.way == "lists":
        import datasets

        enc = tok(pairs.sentence1, pairs.sentence2, truncation=True, max_length=128)
        cols = {k: enc[k] for k in ("input_ids", "attention_mask") if k in enc}
        cols["labels"] = list(pairs.labels)
        ds = datasets.Dataset.from_dict(cols)
    else:
        with distributed.main_process_first():
            ds = encode(tok, pairs, 128, cache_dir=Path(args.cache))
    seconds = time.time() - start
    dist.barrier()
    print(json.dumps({"way": args.way, "rank": dist.get_rank(), "rows": len(ds), "seconds": round(seconds, 1),
                      "peak_mb": round(peak_memory_mib()), "peak_before_mb": round(base)}), flush=True)
    dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=392702, help="MultiNLI's training pairs")
    ap.add_argument("--model", default=None)
    ap.add_argument("--way", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.way:
        return worker(args)
    if args.model is None:
        from common import e5_folder

        args.model = e5_folder()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    for way in ("lists", "arrow"):
        with tempfile.TemporaryDirectory() as cache:
            out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                                  __file__, "--pairs", str(args.pairs), "--model", args.model, "--way", way,
                                  "--cache", cache], capture_output=True, text=True, env=env)
            if out.returncode != 0:
                raise SystemExit(out.stderr[-3000:])
            for line in out.stdout.splitlines():
                if line.startswith("{"):
                    r = json.loads(line)
                    print(f"| {r['way']} | rank {r['rank']} | {r['rows']} | {r['seconds']} | {r['peak_mb']} | "
                          f"{r['peak_mb'] - r['peak_before_mb']} |", flush=True)


if __name__ == "__main__":
    print("| way | rank | rows | seconds | peak MiB (VmHWM) | added by the step (MiB) |\n|---|---|---:|---:|---:|---:|")
    main()
