"""The run store: atomic writes, the tidy results table, skip-if-done."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from xlr import store as run_store
from xlr.errors import XlrError
from xlr.store import RunDir, RunStore, read_results_csv, write_results
from xlr.files import atomic_write_text


def test_atomic_write_keeps_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "results.csv"
    atomic_write_text(target, "old\n")

    def boom(src, dst):
        raise KeyboardInterrupt  # as if killed between writing and renaming

    monkeypatch.setattr(run_store.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]  # no temporary left behind


def fake_run(root, method, seed, accs):
    rd = RunStore(root).run("exp", method, seed)
    rd.write_metrics({"experiment": "exp", "task": "pawsx", "model": "m", "method": method, "seed": seed,
                      "test": {"standard": {**accs, "avg": float(np.mean(list(accs.values())))}}})
    return rd


def test_results_table_only_lists_finished_runs(tmp_path):
    done = fake_run(tmp_path, "baseline", 7, {"en": 90.0, "de": 80.0})
    done.mark_done()
    fake_run(tmp_path, "adv", 7, {"en": 10.0, "de": 10.0})  # no DONE: still running or killed
    rows = read_results_csv(write_results(tmp_path / "exp"))
    assert {(r["method"], r["language"], r["accuracy"]) for r in rows} == {
        ("baseline", "en", 90.0), ("baseline", "de", 80.0), ("baseline", "avg", 85.0)}
    assert list(rows[0]) == run_store.RESULT_COLUMNS


def test_predictions_round_trip(tmp_path):
    rd = RunDir(tmp_path / "r")
    rd.save_predictions("standard", "de", np.array([0, 1, 1]), np.array([0, 1, 0]))
    pred, gold = rd.load_predictions("standard", "de")
    assert pred.tolist() == [0, 1, 1] and gold.tolist() == [0, 1, 0]
    assert rd.load_predictions("standard", "ja") is None
    rd.prediction_path("standard", "ja").write_bytes(b"garbage")
    with pytest.raises(XlrError, match="corrupt"):
        rd.load_predictions("standard", "ja")


@pytest.mark.parametrize("text, message", [
    ("a,b\n1,2\n", "missing columns"),
    ("experiment,task,model,method,seed,setting,language,accuracy,colour\n", "unknown columns colour"),
    ('garbage,"\n', r"unknown columns garbage, '\\n'\)"),   # a broken quote: the message stays on one line
    ("experiment,task,model,method,seed,setting,language,accuracy\ne,pawsx,m,baseline,7,standard,en,high\n",
     ":2: accuracy 'high'"),
    ("experiment,task,model,method,seed,setting,language,accuracy\ne,pawsx,m,baseline,7,weird,en,1\n",
     "setting 'weird'"),
])
def test_bad_results_csv(tmp_path, text, message):
    p = tmp_path / "r.csv"
    p.write_text(text)
    with pytest.raises(XlrError, match=message) as e:
        read_results_csv(p)
    assert "\n" not in str(e.value)


def test_corrupt_metrics_is_an_error_naming_the_file(tmp_path):
    rd = RunDir(tmp_path / "r")
    os.makedirs(rd.path)
    rd.metrics_path.write_text("{not json")
    with pytest.raises(XlrError, match="metrics.json is corrupt"):
        rd.read_metrics()


def test_tables_say_when_methods_mix_seeds(tmp_path):
    from xlr.results.report import show_results
    from xlr.store import rows_to_csv
    from xlr.results.tidy import seed_mismatches

    base = {"experiment": "e", "task": "pawsx", "model": "m", "setting": "standard"}
    rows = [{**base, "method": "baseline", "seed": s, "language": "de", "accuracy": 60.0 + s} for s in (1, 2, 3)]
    rows += [{**base, "method": "adv", "seed": 1, "language": "de", "accuracy": 62.0}]
    (tmp_path / "results.csv").write_text(rows_to_csv(rows))
    assert seed_mismatches(rows) and "baseline 1,2,3; adv 1" in seed_mismatches(rows)[0]
    assert "not paired by seed" in show_results(tmp_path / "results.csv", "t", None, "markdown")
    same = [r for r in rows if r["seed"] == 1]
    assert seed_mismatches(same) == []


def test_files_get_the_mode_the_umask_gives(tmp_path):
    import os
    import stat

    from xlr.files import atomic_write_text

    old = os.umask(0o002)            # a group-shared run store
    try:
        atomic_write_text(tmp_path / "metrics.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == 0o664


def _run(root, method, seed, options, revision):
    rd = RunStore(root).run("mine", method, seed)
    rd.write_config({"experiment": "mine", "title": "t", "experiment_file": "/x/mine.toml", "experiment_sha256": "ab",
                     "profile": "cpu", "paper": "p.csv", "tolerance": {"language": 3.0, "average": 1.5},
                     "identity": {"task": "pawsx", "model": "m", "source_language": "en", "method": method,
                                  "seed": seed, "protocol": {"epochs": 1}, "method_options": options},
                     "languages": ["en"], "device": {"line": "device: CPU"}, "versions": {"torch": "2"},
                     "git_revision": revision})
    rd.write_metrics({"experiment": "mine", "task": "pawsx", "model": "m", "method": method, "seed": seed,
                      "test": {"standard": {"en": 60.0}}})
    rd.mark_done()
    return rd


def test_results_json_carries_the_provenance_of_every_row(tmp_path):
    _run(tmp_path, "adv", 1, {"epsilon": 0.005}, "r1")
    _run(tmp_path, "adv", 2, {"epsilon": 0.005}, "r2")
    _run(tmp_path, "baseline", 1, {}, "r1")
    write_results(tmp_path / "mine")
    prov = run_store.read_provenance(tmp_path / "mine")
    assert (prov["experiment_file"], prov["experiment_sha256"], prov["profile"]) == ("/x/mine.toml", "ab", "cpu")
    assert prov["paper"] == "p.csv" and prov["tolerance"] == {"language": 3.0, "average": 1.5}
    assert prov["methods"]["adv"] == {"options": {"epsilon": 0.005}, "train": {"epochs": 1}, "seeds": [1, 2]}
    assert [r["git_revision"] for r in prov["runs"]] == ["r1", "r2", "r1"]
    assert {r["device"] for r in prov["runs"]} == {"device: CPU"}
    # seeds of one method trained with other options are not silently merged
    _run(tmp_path, "adv", 3, {"epsilon": 0.02}, "r3")
    write_results(tmp_path / "mine")
    assert run_store.read_provenance(tmp_path / "mine")["methods"]["adv"]["options"].startswith("differs")
    assert run_store.read_provenance(tmp_path / "nowhere") is None
    (tmp_path / "mine" / "results.json").write_text("[1, 2]")
    with pytest.raises(XlrError, match="results.json is corrupt"):
        run_store.read_provenance(tmp_path / "mine")


def test_the_run_store_owns_the_layout(tmp_path):
    store = run_store.RunStore(tmp_path)
    rd = store.run("exp", "adv", 3)
    assert rd.path == tmp_path / "exp" / "adv" / "seed3"
    assert run_store.RunStore.experiment_of(rd) == store.experiment_dir("exp") and run_store.RunStore.method_of(rd) == "adv"
    assert store.sweep_dir("exp") == tmp_path / "exp-sweep"
    assert store.results_files() == [] and run_store.RunStore.finished_in(store.experiment_dir("exp")) == []
    rd.write_metrics({"experiment": "exp", "task": "pawsx", "model": "m", "method": "adv", "seed": 3,
                      "test": {"standard": {"en": 70.0}}})
    rd.mark_done()
    assert write_results(run_store.RunStore.experiment_of(rd)) == store.experiment_dir("exp") / "results.csv"
    assert store.results_files() == [store.experiment_dir("exp") / "results.csv"]
    assert run_store.RunStore.experiments_in(tmp_path) == [store.experiment_dir("exp")]
    assert [r.path for r in run_store.RunStore.finished_in(store.experiment_dir("exp"))] == [rd.path]
    assert run_store.DEFAULT_ROOT == Path("runs")


def test_a_run_finished_with_another_configuration_is_refused_not_reused(tmp_path):
    """`--set methods.adv.epsilon=...` on a store holding a finished ADV run must not report the old run's
    results as the new setting's: the run is refused with what changed (and kept), as on the first try."""
    from xlr.experiments import load_experiment
    from xlr.engine.pipeline import configuration_changes, finished, prepare, run_config
    from xlr.scheduling.workers import run_unclaimed

    def spec(**adv):
        return load_experiment("smoke", overrides=[{"methods": {"run": ["adv"], "adv": adv}}]).runs()[0]

    done = spec()
    rd = prepare(done, tmp_path)
    rd.write_config(run_config(done))
    config = run_config(done)
    langs = config["languages"]
    rd.write_metrics({"max_test_examples": config.get("max_test_examples"),
                      "test": {"standard": {a: 50.0 for a in langs},
                               "generalized": {f"{a}-{b}": 50.0 for a in langs for b in langs}}})
    rd.mark_done()
    assert finished(rd, done) and configuration_changes(rd, done) == []
    other = spec(epsilon=0.3)
    assert configuration_changes(rd, other) == ["method_options"] and not finished(rd, other)
    with pytest.raises(XlrError, match=r"finished with a different configuration \(method_options changed\)"):
        run_unclaimed([other], tmp_path, announce=lambda *a: None)
    assert rd.is_done()  # nothing already written is lost


def test_the_training_file_is_part_of_a_runs_identity_by_its_content(tmp_path):
    """The same file name with other rows is another run; a run stored when identities held only the name
    still matches a file of that name."""
    from xlr.experiments import load_experiment
    from xlr.engine.pipeline import configuration_changes, prepare, run_config

    train = tmp_path / "train-en.tsv"
    train.write_text("a b\tc d\t1\ne f\tg h\t0\n")

    def spec():
        return load_experiment("smoke", overrides=[{"methods": {"run": ["baseline"]}, "train_file": str(train)}]).runs()[0]

    first = spec()
    assert first.identity()["train_file"].startswith("sha256:")
    rd = prepare(first, tmp_path / "runs")
    rd.write_config(run_config(first))
    assert configuration_changes(rd, spec()) == []
    train.write_text("a b\tc d\t0\ne f\tg h\t0\n")  # one label changed, same name
    assert configuration_changes(rd, spec()) == ["train_file"]
    old = rd.read_config()
    old["identity"]["train_file"] = "train-en.tsv"      # as stored before
    rd.write_config(old)
    assert configuration_changes(rd, spec()) == []


def test_a_corrupt_run_config_names_the_fix_that_keeps_the_model(xlr_main, tmp_path):
    """A run's config.json that is not JSON: one line saying to delete it and rerun; the rerun writes it again
    from the command and evaluates the model it has instead of training again."""
    def train(languages):
        return xlr_main("train", "--model", "builtin:tiny-bert", "--data-dir", "builtin:fixture", "--epochs", "1",
                        "--languages", languages, "--name", "cfg", "--out", tmp_path)
    assert train("en,de")[0] == 0
    run = tmp_path / "cfg" / "baseline" / "seed7"
    trained = (run / "model" / "xlr-training.json").stat().st_mtime_ns
    (run / "config.json").write_text("{")
    code, _, err = xlr_main("evaluate", run)
    assert code == 2 and "config.json is corrupt" in err and "run the command that made this run again" in err
    assert len(err.strip().splitlines()) == 1, err
    (run / "config.json").unlink()
    code, _, err = train("en,de,fr")  # a finished run asked for a test set it does not have yet
    assert code == 0, err
    assert (run / "model" / "xlr-training.json").stat().st_mtime_ns == trained
    assert json.loads((run / "config.json").read_text())["languages"] == ["en", "de", "fr"]
