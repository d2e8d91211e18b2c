"""CPU threads with concurrent workers: two `xlr reproduce` workers sharing one run store on this machine.

Three configurations of the same work (the smoke experiment's baseline, seeds 1 and 2, each with its
49 generalized test sets), each in a fresh run store, one after the other:

  one worker       one process trains both seeds (threads: all usable cores)
  two, 2 threads   two processes split the seeds (claims), each forced to 2 threads (XLR_THREADS=2), which
                   is what torch does by default on a 2-core machine: 4 threads on 2 cores
  two, automatic   two processes split the seeds; xlr gives each cores / live workers threads

    python bench/threads.py [--epochs 15] [--timeout 900]

Prints the wall time of each configuration and its ratio to "one worker". Run it on an otherwise idle
machine: the point is what the workers do to each other.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def workers(n: int, out: str, epochs: int, threads: str | None, timeout: float) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("XLR_THREADS", "OMP_NUM_THREADS")}
    if threads:
        env["XLR_THREADS"] = threads
    cmd = [sys.executable, "-m", "xlr", "reproduce", "smoke", "--methods", "baseline", "--seeds", "1,2",
           "--set", f"train.epochs={epochs}", "--out", out, "--format", "csv"]
    start = time.time()
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    for p in procs:
        try:
            _, err = p.communicate(timeout=max(1.0, timeout - (time.time() - start)))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            return float("inf")
        if p.returncode != 0:
            raise SystemExit(f"worker failed:\n{err[-2000:]}")
        lines = [line for line in err.splitlines() if "CPU thread" in line]
        print(f"    {lines[0].strip() if lines else '(no device line)'}", flush=True)
    return time.time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per configuration")
    args = ap.parse_args()
    results = {}
    for name, n, threads in (("one worker", 1, None), ("two workers, 2 threads each", 2, "2"),
                             ("two workers, automatic", 2, None)):
        with tempfile.TemporaryDirectory() as out:
            print(f"{name}:", flush=True)
            results[name] = workers(n, out, args.epochs, threads, args.timeout)
    base = results["one worker"]
    print("\n| configuration | wall s | / one worker |\n|---|---:|---:|")
    for name, seconds in results.items():
        print(f"| {name} | {seconds:.1f} | {seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
