"""adv, rs-rp, freelb and r3f train data-parallel with two CPU processes (torchrun, gloo); only rank 0 writes."""
import os
import re
import subprocess
import sys

import pytest

from xlr.store import read_results_csv


@pytest.mark.slow
@pytest.mark.parametrize("method", ["adv", "rs-rp", "freelb", "r3f"])
def test_two_process_training_writes_from_rank_0_only(tmp_path, method):
    env = {**os.environ, "XLR_LOG_LEVEL": "DEBUG", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--tee", "3", "-m", "xlr", "train",
         "--method", method, "--model", "builtin:tiny-bert", "--data-dir", "builtin:fixture", "--epochs", "1",
         "--eval-steps", "5", "--languages", "en,de", "--out", str(tmp_path), "--format", "csv"],
        capture_output=True, text=True, timeout=600, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    writes = re.findall(r"\[default(\d)\]:xlr\.files: rank (\d) writes (\S+)", out)
    assert writes, out[-3000:]
    assert {(local, rank) for local, rank, _ in writes} == {("0", "0")}
    written = {path for _, _, path in writes}
    assert any(p.endswith("/DONE") for p in written) and any(p.endswith("results.csv") for p in written)
    rows = read_results_csv(tmp_path / "pawsx" / "results.csv")
    assert {(r["method"], r["language"]) for r in rows} == {(method, "en"), (method, "de"), (method, "avg")}
    config = (tmp_path / "pawsx" / method / "seed7" / "config.json").read_text()
    assert '"world_size": 2' in config


@pytest.mark.slow
def test_reproduce_with_two_processes(tmp_path):
    """The whole reproduce path (train, publish, evaluate, results, generalized) under --nproc 2."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "xlr", "reproduce", "smoke", "--nproc", "2", "--methods", "baseline,rs-rp",
         "--set", "train.epochs=2", "--out", str(tmp_path), "--format", "csv"],
        capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert proc.stdout.splitlines()[0].startswith("table,row,en,de,es,fr,ja,ko,zh,avg")
    rows = read_results_csv(tmp_path / "smoke" / "results.csv")
    assert {r["method"] for r in rows} == {"baseline", "rs-rp"}
    assert sum(r["setting"] == "generalized" for r in rows) == 2 * (49 + 2)
    assert '"world_size": 2' in (tmp_path / "smoke" / "rs-rp" / "seed7" / "config.json").read_text()


def test_bad_input_under_nproc_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "xlr", "reproduce", "smoke", "--nproc", "2", "--data-dir",
                           str(tmp_path / "missing"), "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: ") and "Traceback" not in proc.stderr
