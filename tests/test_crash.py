"""A run killed with SIGKILL at any moment restarts or resumes and ends with a valid results.csv."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_xlr
from xlr.store import read_results_csv

ARGS = ["train", "--task", "pawsx", "--model", "builtin:tiny-bert", "--data-dir", "builtin:fixture",
        "--epochs", "12", "--eval-steps", "40", "--learning-rate", "1e-3", "--languages", "en,de",
        "--name", "crash"]


def wait_for(predicate, proc, timeout=900):
    """'reached', 'ended' (the process exited first) or 'timeout' (a generous bound for a busy machine)."""
    start = time.time()
    while time.time() - start < timeout:
        if predicate():
            return "reached"
        if proc.poll() is not None:
            return "ended"
        time.sleep(0.05)
    return "timeout"


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["first-checkpoint", "model-published"])
def test_kill_9_then_rerun_completes(tmp_path, moment):
    out = tmp_path / "runs"
    run = out / "crash" / "baseline" / "seed7"
    trigger = {
        "first-checkpoint": lambda: any((run / "checkpoints").glob("checkpoint-*")),
        "model-published": lambda: (run / "model").is_dir() or (run / "model.partial").is_dir(),
    }[moment]
    proc = subprocess.Popen([sys.executable, "-m", "xlr", *ARGS, "--out", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        reached = wait_for(trigger, proc)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert reached == "reached", f"no moment to kill the run: {reached}"
    assert not (run / "DONE").exists()

    again = run_xlr(*ARGS, "--out", out)
    assert again.returncode == 0, again.stderr
    rows = read_results_csv(out / "crash" / "results.csv")
    assert {r["language"] for r in rows} == {"en", "de", "avg"}
    assert (run / "DONE").exists() and not (run / "checkpoints").exists()
    assert not list(run.rglob(".*.tmp")) and not (run / "model.partial").exists()
