"""adv and rs-rp train data-parallel with two CPU processes (torchrun, gloo); only rank 0 writes."""
import os
import re
import subprocess
import sys

import pytest

from xlr.runs import read_results_csv


@pytest.mark.parametrize("method", ["adv", "rs-rp"])
def test_two_process_training_writes_from_rank_0_only(tmp_path, method):
    env = {**os.environ, "XLR_LOG_LEVEL": "DEBUG", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--tee", "3", "-m", "xlr", "train",
         "--method", method, "--model", "builtin:tiny-bert", "--data-dir", "builtin:fixture", "--epochs", "1",
         "--eval-steps", "5", "--languages", "en,de", "--out", str(tmp_path), "--format", "csv"],
        capture_output=True, text=True, timeout=600, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    writes = re.findall(r"\[default(\d)\]:xlr\.runs: rank (\d) writes (\S+)", out)
    assert writes, out[-3000:]
    assert {(local, rank) for local, rank, _ in writes} == {("0", "0")}
    written = {path for _, _, path in writes}
    assert any(p.endswith("/DONE") for p in written) and any(p.endswith("results.csv") for p in written)
    rows = read_results_csv(tmp_path / "pawsx" / "results.csv")
    assert {(r["method"], r["language"]) for r in rows} == {(method, "en"), (method, "de"), (method, "avg")}
    config = (tmp_path / "pawsx" / method / "seed7" / "config.json").read_text()
    assert '"world_size": 2' in config
