"""`xlr sweep`: grid points are ordinary dev-only runs; selection never reads a test set; concurrent workers
share one grid without training a point twice or losing a row."""
import csv
import multiprocessing
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
from conftest import run_xlr

from xlr.sources import fixture_dir
from xlr.errors import XlrError
from xlr.store import RunDir, RunStore, read_results_csv, write_results
from xlr.files import atomic_write_json
from xlr.scheduling.sweep import parse_grid

QUICK = ["--set", "train.max_steps=3", "--set", "train.eval_steps=3"]
ENV = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def test_parse_grid_values_are_toml_and_keys_unique():
    axes = parse_grid(["epsilon=0.01, 0.02", "train.learning_rate=2e-5,5e-5", "noise=ball,gaussian"])
    assert [a.values for a in axes] == [(0.01, 0.02), (2e-5, 5e-5), ("ball", "gaussian")]
    with pytest.raises(XlrError, match="given twice"):
        parse_grid(["epsilon=0.1", "epsilon=0.2"])
    with pytest.raises(XlrError, match="KEY=V1,V2"):
        parse_grid(["epsilon"])
    with pytest.raises(XlrError, match="at least one --grid"):
        parse_grid([])


@pytest.mark.slow
def test_sweep_selects_on_dev_and_never_reads_a_test_set(tmp_path):
    # a data folder with train and dev only: opening any test set would fail the command
    data = tmp_path / "data"
    data.mkdir()
    for f in fixture_dir().iterdir():
        if f.is_file() and not f.name.startswith("test"):
            shutil.copy(f, data / f.name)
    out = tmp_path / "runs"
    proc = run_xlr("sweep", "smoke", "--methods", "adv", "--grid", "epsilon=0.02,0.05", "--seeds", "1,2",
                   "--data-dir", data, "--out", out, *QUICK, env=ENV, check=True)
    root = out / "smoke-sweep"
    rows = list(csv.DictReader((root / "sweep.csv").open()))
    assert sorted((r["point"], r["seed"]) for r in rows) == [
        ("epsilon=0.02", "1"), ("epsilon=0.02", "2"), ("epsilon=0.05", "1"), ("epsilon=0.05", "2")]
    assert {r["dev_language"] for r in rows} == {"en"}
    # the choice is the best mean dev accuracy (the earlier point on a tie), written as an override file
    means = {p: sum(float(r["dev_accuracy"]) for r in rows if r["point"] == p) / 2 for p in ("epsilon=0.02", "epsilon=0.05")}
    best = max(means, key=means.get)
    chosen = tomllib.loads((root / "chosen-adv.toml").read_text())
    assert chosen == {"methods": {"adv": {"epsilon": float(best.split("=")[1])}}}
    assert re.search(r"adv epsilon=0\.0[25] \*", proc.stdout), proc.stdout
    # runs are ordinary run folders, dev-only: no predictions, no test accuracies
    run = RunDir(root / "epsilon=0.02" / "adv" / "seed1")
    assert run.is_done() and not run.predictions_dir.exists()
    assert run.read_metrics()["test"] == {} and run.read_config()["identity"]["method_options"]["epsilon"] == 0.02
    # a second call trains nothing and prints the same choice
    again = run_xlr("sweep", "smoke", "--methods", "adv", "--grid", "epsilon=0.02,0.05", "--seeds", "1,2",
                    "--data-dir", data, "--out", out, *QUICK, env=ENV, check=True)
    assert "sweep 1/" not in again.stderr and "chose" in again.stderr
    # a second sweep of the same experiment adds its rows to sweep.csv; the first one's stay
    run_xlr("sweep", "smoke", "--methods", "rs-rp", "--grid", "epsilon=0.3", "--seeds", "1",
            "--data-dir", data, "--out", out, *QUICK, env=ENV, check=True)
    rows = list(csv.DictReader((root / "sweep.csv").open()))
    assert len(rows) == 5 and {r["method"] for r in rows} == {"adv", "rs-rp"}
    assert (root / "chosen-adv.toml").is_file() and (root / "chosen-rs-rp.toml").is_file()
    # and the choice is accepted by reproduce
    used = run_xlr("reproduce", "smoke", "--methods", "adv", "--overrides", root / "chosen-adv.toml", *QUICK,
                   "--out", tmp_path / "chosen", env=ENV, check=True)
    config = RunDir(tmp_path / "chosen" / "smoke" / "adv" / "seed7").read_config()
    assert config["identity"]["method_options"]["epsilon"] == float(best.split("=")[1]), used.stderr
    bad = run_xlr("reproduce", "smoke", "--overrides", tmp_path / "missing.toml", env=ENV)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_grid_key_must_belong_to_the_method(tmp_path):
    proc = run_xlr("sweep", "smoke", "--methods", "baseline", "--grid", "epsilon=0.1", "--out", tmp_path, env=ENV)
    assert proc.returncode == 2 and "has no option epsilon" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_two_concurrent_workers_share_one_grid(tmp_path):
    out = tmp_path / "runs"
    args = [sys.executable, "-m", "xlr", "sweep", "smoke", "--methods", "baseline,rs-rp", "--grid",
            "train.learning_rate=1e-3,2e-3", "--seeds", "1,2", "--out", str(out), *QUICK]
    env = {**__import__("os").environ, **ENV, "COLUMNS": "200"}
    workers = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for _ in range(2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    trained = [re.findall(r"sweep \d+/\d+: (\S+), (\S+), seed (\d)", err) for _, err in outputs]
    assert not set(trained[0]) & set(trained[1]), trained          # no point trained twice
    assert len(set(trained[0]) | set(trained[1])) == 8, trained     # every point trained once
    final = run_xlr("sweep", *args[4:], env=ENV, check=True)
    rows = list(csv.DictReader((out / "smoke-sweep" / "sweep.csv").open()))
    assert len(rows) == 8 and "held by other workers" not in final.stderr


def _finish_run(args, write=True):
    root, seed = args
    rd = RunStore(root).run("exp", "baseline", seed)
    atomic_write_json(rd.metrics_path, {"experiment": "exp", "task": "pawsx", "model": "m", "method": "baseline",
                                        "seed": seed, "test": {"standard": {"en": 50.0 + seed}}})
    (rd.path / "DONE").write_text("done\n")
    if write:
        write_results(root / "exp")


def test_results_table_loses_no_row_under_concurrent_writers(tmp_path):
    # many finished runs already, so every rewrite reads for a while: without the lock, a writer that read
    # the table before another run finished renames its stale table over the newer one
    for s in range(400):
        _finish_run((tmp_path, s), write=False)
    seeds = list(range(400, 440))
    with multiprocessing.get_context("fork").Pool(8) as pool:
        pool.map(_finish_run, [(tmp_path, s) for s in seeds])
    seeds = list(range(440))
    rows = read_results_csv(tmp_path / "exp" / "results.csv")
    assert sorted(r["seed"] for r in rows) == seeds


