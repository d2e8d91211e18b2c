"""xlr's own published results: `xlr results publish` (a run store's experiment frozen as results/NAME, with
paired-bootstrap intervals), `xlr results render` (docs/results.md from results/ alone), and
`xlr compare --against results/NAME`."""
import csv
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, run_xlr
from xlr.errors import XlrError
from xlr.results import between, bootstrap, page, published
from xlr.store import RESULT_COLUMNS, RunStore, rows_to_csv, write_results

LANGS = ("en", "de", "fr")
ITEMS = 200


WEIGHTS = "ab12" * 16  # the model folder's fingerprint, as a run records it


def run(root: Path, method: str, seed: int, same: float, mixed: float, standard: float, model="org/e5-small",
        device="device: CPU", weights=WEIGHTS):
    """A finished run whose predictions are right on the given fraction of items: `standard` on the
    standard test, `same` on same-language generalized pairs, `mixed` on mixed pairs."""
    r = RunStore(root).run("exp", method, seed)
    gold = (np.arange(ITEMS) % 3).astype(np.int8)
    test = {"standard": {}, "generalized": {}}
    for setting, keys in (("standard", LANGS), ("generalized", [f"{a}-{b}" for a in LANGS for b in LANGS])):
        for key in keys:
            share = standard if setting == "standard" else same if key[:2] == key[3:] else mixed
            pred = gold.copy()
            wrong = int(ITEMS * (1 - share))
            pred[:wrong] = (pred[:wrong] + 1) % 3
            r.save_predictions(setting, key, pred, gold)
            test[setting][key] = 100.0 * (pred == gold).mean()
    for setting in test:
        values = list(test[setting].values())
        test[setting]["avg"] = float(np.mean(values))
    mixed_pairs = [v for k, v in test["generalized"].items() if "-" in k and k[:2] != k[3:]]
    test["generalized"]["avg-mixed"] = float(np.mean(mixed_pairs))
    r.write_config({"git_revision": "abc1234" + "0" * 33, "versions": {"torch": "2.13.0", "transformers": "5"},
                    "device": {"line": device}, "experiment": "exp", "profile": "cpu",
                    "max_test_examples": ITEMS,
                    "identity": {"method": method, "seed": seed, "task": "xnli", "model": model,
                                 "method_options": {}, "protocol": {}}, "model": model,
                    "data": "/data/xnli", "train_file": "/home/me/train-en.tsv",
                    "sources": {"model": {"model": model, "sha256": weights},
                                "data": {"test-en": {"path": "/data/xnli/test-en.tsv", "sha256": "cd" * 32}},
                                # as an RS-DA run records its synonym table: keyed by where it lay
                                "synonyms": {"/data/syn.json": {"path": "/data/syn.json", "sha256": "ef" * 32}}}})
    r.write_metrics({"experiment": "exp", "task": "xnli", "model": model, "method": method,
                     "seed": seed, "test": test})
    r.mark_done()


@pytest.fixture()
def store(tmp_path) -> Path:
    for seed in (1, 2):
        run(tmp_path / "runs", "baseline", seed, same=0.5, mixed=0.5, standard=0.6)
        # adv: +10 points on mixed pairs only, +5 on the standard test
        run(tmp_path / "runs", "adv", seed, same=0.5, mixed=0.6, standard=0.65)
    write_results(tmp_path / "runs" / "exp")
    return tmp_path / "runs" / "exp"


def intervals(folder: Path) -> dict:
    with open(folder / published.INTERVALS, newline="") as f:
        return {(r["method"], r["setting"], r["language"]): r for r in csv.DictReader(f)}


def test_publish_freezes_results_with_intervals(store, tmp_path):
    (store / "r3f" / "seed1").mkdir(parents=True)  # a run still training: named, not counted
    proc = run_xlr("results", "publish", store, "--name", "xnli-test", "--into", tmp_path / "results",
                   "--command", "xlr reproduce xnli --profile cpu", "--resamples", "200")
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "results" / "xnli-test"
    # the store's rows, with the model named with its weights' fingerprint
    spelled = [{**r, "model": f"org/e5-small@sha256:{WEIGHTS[:16]}"} for r in csv.DictReader(open(store / "results.csv"))]
    assert (folder / "results.csv").read_text() == rows_to_csv(spelled)
    found = intervals(folder)
    assert float(found[("adv", "standard", "avg")]["diff"]) == pytest.approx(5.0)
    assert found[("adv", "standard", "avg")]["per_seed"] == "5.00 5.00"
    # all 9 pairs: 6 mixed pairs gain 10 points, 3 same-language pairs nothing
    assert float(found[("adv", "generalized", "avg")]["diff"]) == pytest.approx(10 * 6 / 9, abs=0.01)
    mixed = found[("adv", "generalized", "avg-mixed")]
    assert float(mixed["diff"]) == pytest.approx(10.0) and float(mixed["item_low"]) > 0
    assert mixed["item_draw"] == "joint"  # xnli's test sets are translations of the same items
    # two seeds that agree exactly: no spread between seeds, so no seed-level interval, and no verdict but
    # inconclusive on the average of every pair (the mixed pairs' average carries none)
    assert (mixed["t_low"], mixed["t_high"], mixed["decided_by"], mixed["verdict"]) == ("", "", "", "")
    assert found[("adv", "generalized", "avg")]["verdict"] == "inconclusive"
    assert ("baseline", "standard", "avg") not in found
    assert published.load(folder).publication["unfinished"] == ["r3f 1"]


@pytest.mark.slow
def test_render_writes_the_page_and_its_figures_from_the_published_sets(store, tmp_path):
    run(tmp_path / "runs", "adv", 3, same=0.5, mixed=0.6, standard=0.65)  # a seed the baseline lacks
    write_results(store)
    (store / "rs-rp" / "seed1").mkdir(parents=True)
    published.publish(store, "xnli-test", tmp_path / "results", "xlr reproduce xnli", resamples=100)
    out = tmp_path / "docs" / "results.md"
    proc = run_xlr("results", "render", "--results", tmp_path / "results", "--out", out)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "## xnli-test" in text and "commit abc1234" in text and "`xlr reproduce xnli`" in text
    assert re.search(r"\| adv +\| standard avg +\| \+5\.00 +\|", text), text  # the interval table
    assert "model `org/e5-small` (weights `sha256:" in text          # the model by name, with its weights
    assert ", recorded by every run)" in text
    assert "- **Device**: CPU." in text                              # the device line once, without its label
    assert "baseline 1, 2; adv 1, 2, 3 (the methods have different seeds" in text
    assert "Not finished when published** (method, seed): rs-rp 1;" in text
    assert "seed-level 95% interval" in text and "items only (runs fixed)" in text
    assert "Fewer than 5 seeds" in text  # the t-interval's warning
    figures = re.findall(r"\]\((results/[^)]+\.png)\)", text)
    assert len(figures) >= 3 and all((out.parent / f).is_file() for f in figures), figures


@pytest.mark.slow
def test_the_device_line_names_only_the_runs_whose_device_differs(store, tmp_path):
    run(tmp_path / "runs", "adv", 2, same=0.5, mixed=0.6, standard=0.65, device="device: CUDA (NVIDIA H200)")
    write_results(store)
    published.publish(store, "xnli-test", tmp_path / "results", "xlr reproduce xnli", resamples=20)
    out = tmp_path / "docs" / "results.md"
    page.render(tmp_path / "results", out)
    text = out.read_text()
    assert "- **Device**, by run:\n  - adv 2: CUDA (NVIDIA H200)\n  - the other runs: CPU\n" in text
    # pooled, with the device as a factor: adv's mean per device beside its pooled mean
    assert re.search(r"\| adv +\| standard +\| 65\.00 \(n=1\) +\| 65\.00 \(n=1\) +\| 65\.00 \(n=2\) +\|", text), text
    assert "### By device" in text


def test_compare_against_a_published_set_matches_models_by_name(store, tmp_path):
    published.publish(store, "xnli-test", tmp_path / "results", "xlr reproduce xnli", resamples=50)
    rows = list(csv.DictReader(open(store / "results.csv")))
    mine = [{**r, "model": "someone/e5-small"} for r in rows]
    (tmp_path / "mine.csv").write_text(rows_to_csv(mine, RESULT_COLUMNS))
    proc = run_xlr("compare", tmp_path / "mine.csv", "--against", tmp_path / "results" / "xnli-test")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    off = [{**r, "accuracy": float(r["accuracy"]) + 3} if r["language"] == "de" else r for r in mine]
    (tmp_path / "off.csv").write_text(rows_to_csv(off, RESULT_COLUMNS))
    proc = run_xlr("compare", tmp_path / "off.csv", "--against", tmp_path / "results" / "xnli-test")
    assert proc.returncode == 1 and "de" in proc.stderr, proc.stdout + proc.stderr


def later_store(root: Path, baseline_standard: float = 0.6, methods=(("r3f", 0.55, 0.7),), seeds=(1, 2)) -> Path:
    """Another store: the baseline re-run (identical unless told otherwise) and methods run later, with the
    model loaded from another folder."""
    for seed in seeds:
        run(root, "baseline", seed, same=0.5, mixed=0.5, standard=baseline_standard, model="/elsewhere/e5-small")
        for method, mixed, standard in methods:
            run(root, method, seed, same=0.5, mixed=mixed, standard=standard, model="/elsewhere/e5-small")
    write_results(root / "exp")
    return root / "exp"


def test_add_puts_a_method_run_later_beside_the_published_ones(store, tmp_path):
    results = tmp_path / "results"
    (store / "rs-rp" / "seed1").mkdir(parents=True)  # still training in the first store, which is then gone
    published.publish(store, "xnli-test", results, "xlr reproduce xnli", resamples=100)
    before = intervals(results / "xnli-test")
    later = later_store(tmp_path / "later")
    (later / "adv" / "seed3").mkdir(parents=True)    # still training in the later store
    proc = run_xlr("results", "publish", later, "--name", "xnli-test", "--into", results, "--command",
                   "xlr reproduce xnli --methods baseline,r3f", "--resamples", "100", "--add")
    assert proc.returncode == 0, proc.stderr
    pub = published.load(results / "xnli-test")
    assert pub.methods == ["baseline", "adv", "r3f"] and pub.seeds("r3f") == [1, 2]
    assert len(pub.rows) == 3 * 2 * (3 + 1 + 9 + 2)            # 3 methods, 2 seeds; 3 + avg, 9 pairs + 2 averages
    found = intervals(results / "xnli-test")
    # adv's intervals are kept as they were; its Holm-corrected p now counts r3f's comparisons too
    unchanged = lambda rows: {k: {c: x for c, x in v.items() if c != "p_holm"} for k, v in rows.items()  # noqa: E731
                              if k[0] == "adv"}
    assert unchanged(found) == unchanged(before)
    assert float(found[("r3f", "standard", "avg")]["diff"]) == pytest.approx(10.0)
    assert pub.publication["added"] == [{"command": "xlr reproduce xnli --methods baseline,r3f", "source": "exp",
                                         "runs": ["r3f 1", "r3f 2"], "reproduced": ["baseline 1", "baseline 2"]}]
    assert {r["method"] for r in pub.provenance["runs"]} == {"baseline", "adv", "r3f"}
    assert pub.publication["unfinished"] == ["adv 3"]   # the newest store's state
    # one model, one spelling (claims group by it): the name and the weights' fingerprint
    assert {r["model"] for r in pub.rows} == {f"org/e5-small@sha256:{WEIGHTS[:16]}"}
    out = tmp_path / "docs" / "results.md"
    page.render(results, out)
    # one line on the page; the log of additions, with their commands, stays in publication.json
    assert "**Added later**, in 1 publication: r3f 1, r3f 2; 2 published run(s) re-read from a later store were " \
           "identical in every test set; each addition and its command: `results/xnli-test/publication.json`." \
           in out.read_text()


def test_add_pairs_a_store_of_method_runs_only_with_the_sets_baseline(store, tmp_path):
    """Seeds of one method made on another machine, with no baseline re-run beside them: --add pairs them with
    the published baseline; a first publication of such a store still needs its baseline."""
    results = tmp_path / "results"
    published.publish(store, "xnli-test", results, "c", resamples=100)
    later = tmp_path / "later"
    for seed in (1, 2):
        run(later, "r3f", seed, same=0.5, mixed=0.55, standard=0.7, model="/elsewhere/e5-small")
    write_results(later / "exp")
    proc = run_xlr("results", "publish", later / "exp", "--name", "xnli-test", "--into", results, "--command", "c2",
                   "--resamples", "100", "--add")
    assert proc.returncode == 0, proc.stderr
    pub = published.load(results / "xnli-test")
    assert pub.seeds("r3f") == [1, 2] and pub.seeds("baseline") == [1, 2]
    assert float(intervals(results / "xnli-test")[("r3f", "standard", "avg")]["diff"]) == pytest.approx(10.0)
    assert pub.publication["added"][-1]["runs"] == ["r3f 1", "r3f 2"]
    proc = run_xlr("results", "publish", later / "exp", "--name", "r3f-only", "--into", results, "--command", "c",
                   "--resamples", "100")
    assert proc.returncode == 2 and "no baseline runs" in proc.stderr, proc.stderr
    assert not (results / "r3f-only").exists()


def test_publish_takes_the_runs_that_are_there_not_a_stale_results_csv(store, tmp_path):
    """results.csv written, then a run folder moved away (published already, or copied elsewhere): the set
    holds the finished runs in the folder, and --add adds just those."""
    results = tmp_path / "results"
    published.publish(store, "xnli-test", results, "c", resamples=100)
    later = later_store(tmp_path / "later", methods=(("adv", 0.7, 0.75),), seeds=(2, 3))
    for method in ("baseline", "adv"):
        shutil.rmtree(later / method / "seed2")  # results.csv still lists seed 2
    proc = run_xlr("results", "publish", later, "--name", "xnli-test", "--into", results, "--command", "c3",
                   "--resamples", "100", "--add")
    assert proc.returncode == 0, proc.stderr
    pub = published.load(results / "xnli-test")
    assert pub.seeds("adv") == [1, 2, 3] and pub.publication["added"][-1]["runs"] == ["adv 3", "baseline 3"]
    assert pub.publication["added"][-1]["reproduced"] == []


def test_add_pools_seeds_from_two_stores_as_one_store_would(store, tmp_path):
    """Seed 3 of both methods, made later in another store, joins seeds 1 and 2: the set's intervals are those
    of one store holding all three seeds."""
    results = tmp_path / "results"
    published.publish(store, "xnli-test", results, "c", resamples=100)
    later = later_store(tmp_path / "later", methods=(("adv", 0.7, 0.75),), seeds=(3,))
    published.publish(later, "xnli-test", results, "c3", resamples=100, add=True)
    merged = tmp_path / "merged" / "exp"
    for part in (store, later):
        for method in ("baseline", "adv"):
            for run_dir in (part / method).glob("seed*"):
                shutil.copytree(run_dir, merged / method / run_dir.name)
    write_results(merged)
    (_, seeds, diffs), = between.between([merged], "baseline", "adv", "generalized", 100, 0)
    found = intervals(results / "xnli-test")
    assert seeds == ["seed1", "seed2", "seed3"] and len(found) == len(published.load(results / "xnli-test").intervals)
    for d in diffs:
        row = found[("adv", "generalized", d.language)]
        t = ("", "") if d.t is None else (f"{d.t.low:.2f}", f"{d.t.high:.2f}")
        assert (row["seeds"], row["diff"], row["item_low"], row["item_high"], row["t_low"], row["t_high"]) == (
            "1 2 3", f"{d.diff:.2f}", f"{d.item_interval.low:.2f}", f"{d.item_interval.high:.2f}", *t)
    assert found[("adv", "standard", "avg")]["per_seed"] == "5.00 5.00 15.00"
    assert published.load(results / "xnli-test").seeds("adv") == [1, 2, 3]
    # `xlr compare --between` reads the published set as it reads the one store
    (name, set_seeds, set_diffs), = between.between([results / "xnli-test"], "baseline", "adv", "generalized", 100, 0)
    assert name == "xnli-test (published)" and set_seeds == seeds
    assert [(d.language, d.diff, d.per_seed, d.t, d.item_interval) for d in set_diffs] == \
        [(d.language, d.diff, d.per_seed, d.t, d.item_interval) for d in diffs]


@pytest.mark.parametrize("case", ["baseline differs", "no outcomes", "no set", "resamples", "new baseline seed"])
def test_add_refuses_what_it_cannot_pair(store, tmp_path, case):
    results = tmp_path / "results"
    if case == "new baseline seed":  # adv has a seed 3 that the baseline lacks: a baseline seed 3 would pair with it
        run(tmp_path / "runs", "adv", 3, same=0.5, mixed=0.6, standard=0.65)
        write_results(store)
    if case != "no set":
        published.publish(store, "xnli-test", results, "xlr reproduce xnli", resamples=100)
    if case in ("no outcomes", "new baseline seed"):  # a set published before sets kept their runs' outcomes
        shutil.rmtree(results / "xnli-test" / published.OUTCOMES)
    later = {"baseline differs": lambda: later_store(tmp_path / "later", baseline_standard=0.61),
             "no outcomes": lambda: later_store(tmp_path / "later", methods=(("adv", 0.6, 0.65),), seeds=(1, 3)),
             "new baseline seed": lambda: later_store(tmp_path / "later", methods=(), seeds=(1, 2, 3))}.get(
        case, lambda: later_store(tmp_path / "later"))()
    before = (results / "xnli-test" / "results.csv").read_bytes() if results.is_dir() else None
    proc = run_xlr("results", "publish", later, "--name", "xnli-test", "--into", results, "--command", "c",
                   "--resamples", "50" if case == "resamples" else "100", "--add")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert {"baseline differs": "not the same run", "no outcomes": "need the per-item outcomes of adv 2, baseline 2",
            "no set": "not a published set", "resamples": "--resamples 100",
            "new baseline seed": "need the per-item outcomes of adv 1, adv 2, adv 3,"}[case] in proc.stderr
    if before is not None:
        assert (results / "xnli-test" / "results.csv").read_bytes() == before   # nothing written


def test_bad_input_is_one_line_exit_2(tmp_path):
    for args in (["publish", tmp_path, "--name", "x", "--command", "c"], ["render", "--results", tmp_path]):
        proc = run_xlr("results", *args)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.slow
def test_docs_results_page_is_what_the_published_sets_render(tmp_path):
    if not (REPO / "results").is_dir():
        pytest.skip("no results/ in this checkout")
    out = tmp_path / "results.md"
    page.render(REPO / "results", out)
    assert (REPO / "docs" / "results.md").read_text() == out.read_text(), \
        "docs/results.md is stale: run `xlr results render`"


def test_a_corrupt_outcomes_file_is_one_line_exit_2(store, tmp_path):
    results = tmp_path / "results"
    published.publish(store, "xnli-test", results, "c", resamples=50)
    (results / "xnli-test" / published.OUTCOMES / "adv-seed1.npz").write_bytes(b"not a zip")
    proc = run_xlr("results", "publish", later_store(tmp_path / "later"), "--name", "xnli-test", "--into", results,
                   "--command", "c", "--resamples", "50", "--add")
    assert proc.returncode == 2 and "adv-seed1.npz is corrupt" in proc.stderr, proc.stderr


def test_outcomes_are_the_same_bytes_when_written_again(store, tmp_path):
    published.publish(store, "a", tmp_path / "results", "c", resamples=20)
    first = (tmp_path / "results" / "a" / published.OUTCOMES / "adv-seed1.npz").read_bytes()
    import time

    time.sleep(2.1)  # a zip member stamped with the time of writing would differ now
    published.publish(store, "a", tmp_path / "results", "c", resamples=20, force=True)
    assert (tmp_path / "results" / "a" / published.OUTCOMES / "adv-seed1.npz").read_bytes() == first
    found = published.read_outcomes(tmp_path / "results" / "a")[("adv", 1)]
    assert found.same_as(bootstrap.run_outcomes(RunStore(store.parent).run("exp", "adv", 1)))


def test_publish_refuses_to_replace_a_set_unless_forced(store, tmp_path):
    """Publishing again under a published name would overwrite its numbers and leave other runs' outcomes
    behind: it refuses in one line (exit 2) and changes nothing; --force replaces the whole set."""
    into = tmp_path / "results"
    args = ("results", "publish", store, "--name", "xnli-test", "--into", into, "--command", "c", "--resamples", "50")
    assert run_xlr(*args).returncode == 0
    stray = into / "xnli-test" / published.OUTCOMES / "r3f-seed9.npz"
    stray.write_bytes(b"left from an earlier publication")
    before = {p: p.read_bytes() for p in (into / "xnli-test").rglob("*") if p.is_file()}
    proc = run_xlr(*args)
    assert proc.returncode == 2 and "--add" in proc.stderr and "--force" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in (into / "xnli-test").rglob("*") if p.is_file()} == before
    assert run_xlr(*args, "--add", "--force").returncode == 2
    assert run_xlr(*args, "--force").returncode == 0
    assert not stray.exists() and published.is_published(into / "xnli-test")
    assert not [p.name for p in into.iterdir() if p.name.startswith(".")], "a temporary folder was left behind"


def test_publish_force_never_deletes_what_is_not_a_published_set(store, tmp_path):
    """--force replaces a published set, nothing else: not another folder under that name, and never the
    run store itself (`--into runs --name EXPERIMENT` names the experiment folder)."""
    other = tmp_path / "results" / "notes"
    other.mkdir(parents=True)
    (other / "mine.txt").write_text("keep me")
    proc = run_xlr("results", "publish", store, "--name", "notes", "--into", tmp_path / "results", "--command", "c",
                   "--force")
    assert proc.returncode == 2 and "not a published set" in proc.stderr, proc.stderr
    assert (other / "mine.txt").read_text() == "keep me"
    for into, name in ((store.parent, store.name), (store, "inside"), (store.parent.parent, store.parent.name)):
        proc = run_xlr("results", "publish", store, "--name", name, "--into", into, "--command", "c", "--force")
        assert proc.returncode == 2 and "overlap" in proc.stderr, proc.stderr
    assert (store / "results.csv").is_file() and RunStore.finished_in(store)


def test_publish_force_keeps_the_old_set_when_writing_the_new_one_fails(store, tmp_path, monkeypatch):
    published.publish(store, "a", tmp_path / "results", "c", resamples=20)
    before = {p: p.read_bytes() for p in (tmp_path / "results").rglob("*") if p.is_file()}

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(published, "atomic_write_text", full_disk)
    with pytest.raises(OSError):
        published.publish(store, "a", tmp_path / "results", "c", resamples=20, force=True)
    assert {p: p.read_bytes() for p in (tmp_path / "results").rglob("*") if p.is_file()} == before


def test_publish_force_restores_the_old_set_when_the_swap_fails(store, tmp_path, monkeypatch):
    """If the new set cannot be renamed into place, the old set goes back under its name."""
    published.publish(store, "a", tmp_path / "results", "c", resamples=20)
    before = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "results").rglob("*") if p.is_file()}
    real_rename = Path.rename

    def rename(self, target):
        if self.name.startswith(".a.new-"):
            raise OSError(16, "Device or resource busy")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError):
        published.publish(store, "a", tmp_path / "results", "c", resamples=20, force=True)
    after = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "results").rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize("case", ["no results.csv", "no intervals.csv", "a word in intervals.csv",
                                  "corrupt publication.json", "empty results.json"])
def test_a_broken_published_set_is_one_line_that_says_how_to_restore_it(store, tmp_path, xlr_main, case):
    results = tmp_path / "results"
    folder = published.publish(store, "xnli-test", results, "c", resamples=20)
    if case == "no results.csv":
        (folder / "results.csv").unlink()
    elif case == "no intervals.csv":
        (folder / published.INTERVALS).unlink()
    elif case == "a word in intervals.csv":
        text = (folder / published.INTERVALS).read_text().splitlines()
        cells = text[1].split(",")
        cells[list(published.INTERVAL_COLUMNS).index("t_low")] = "abc"
        (folder / published.INTERVALS).write_text("\n".join([text[0], ",".join(cells), *text[2:]]) + "\n")
    elif case == "corrupt publication.json":
        (folder / published.PUBLICATION).write_text("{not json")
    else:
        (folder / "results.json").write_text("{}")
    page_md = tmp_path / "docs" / "results.md"
    page_md.parent.mkdir()
    page_md.write_text("OLD\n")
    for args in (["compare", store / "results.csv", "--against", folder],
                 ["results", "render", "--results", results, "--out", page_md]):
        code, _, err = xlr_main(*args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "restore it from git" in lines[0], (args, err)
    assert page_md.read_text() == "OLD\n" and sorted(p.name for p in page_md.parent.iterdir()) == ["results.md"]


def test_publish_refuses_bad_input_before_the_bootstrap(store, tmp_path, xlr_main):
    (tmp_path / "afile").write_text("x\n")
    for extra, expected in ((["--into", tmp_path / "afile"], "a file stands where a folder must be: set --into"),
                            (["--command", " "], "--command is empty"),
                            (["--bootstrap-seed", "-1"], "--bootstrap-seed must be >= 0")):
        args = {"--into": tmp_path / "results", "--command": "c", **dict(zip(extra[::2], extra[1::2]))}
        code, _, err = xlr_main("results", "publish", store, "--name", "x", *[x for kv in args.items() for x in kv])
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "results").exists()


def test_publish_force_replaces_a_broken_set(store, tmp_path):
    folder = published.publish(store, "xnli-test", tmp_path / "results", "c", resamples=20)
    (folder / "results.csv").unlink()
    published.publish(store, "xnli-test", tmp_path / "results", "c", resamples=20, force=True)
    assert published.is_published(folder)


def test_render_leaves_out_a_set_that_publish_force_is_swapping(store, tmp_path):
    folder = published.publish(store, "xnli-test", tmp_path / "results", "c", resamples=20)
    shutil.copytree(folder, folder.with_name(".xnli-test.old-123"))
    out = tmp_path / "docs" / "results.md"
    page.render(tmp_path / "results", out)
    assert "## xnli-test" in out.read_text() and ".xnli-test.old" not in out.read_text()


def test_compare_against_a_run_store_experiment_folder_still_works(store):
    proc = run_xlr("compare", store / "results.csv", "--against", store)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("out, expected", [("page", "ending in .md"), ("results.md", "into the published sets")])
def test_render_refuses_an_out_whose_figures_would_overwrite_something(store, tmp_path, xlr_main, out, expected):
    """Without .md the figures' folder is the page's own name; results.md beside results/ puts figures in the sets."""
    published.publish(store, "xnli-test", tmp_path / "results", "c", resamples=20)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, _, err = xlr_main("results", "render", "--results", tmp_path / "results", "--out", tmp_path / out)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_render_that_fails_half_way_leaves_the_page_and_figures_as_they_were(store, tmp_path, monkeypatch):
    for name in ("a", "b"):
        published.publish(store, name, tmp_path / "results", "c", resamples=20)
    out = tmp_path / "docs" / "results.md"
    page.render(tmp_path / "results", out)
    before = {p: p.read_bytes() for p in out.parent.rglob("*") if p.is_file()}
    assert len(before) > 3
    real = page._standard_section

    def fails_on_b(pub, figures, rel):
        if pub.name == "b":
            raise RuntimeError("disk full")
        return real(pub, figures, rel)

    monkeypatch.setattr(page, "_standard_section", fails_on_b)
    with pytest.raises(RuntimeError):
        page.render(tmp_path / "results", out)
    assert {p: p.read_bytes() for p in out.parent.rglob("*") if p.is_file()} == before   # no hidden folder either


def test_publish_checks_the_folder_of_sets_before_the_bootstrap(store, tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x\n")

    def bootstrap(*args, **kwargs):
        raise AssertionError("the bootstrap ran before --into was checked")

    monkeypatch.setattr(published, "_interval_rows", bootstrap)
    from xlr.errors import XlrError

    with pytest.raises(XlrError, match="a file stands where a folder must be: set --into"):
        published.publish(store, "x", tmp_path / "afile" / "sets", "c", resamples=20)


def test_render_keeps_a_users_file_beside_the_figures(store, tmp_path):
    published.publish(store, "a", tmp_path / "results", "c", resamples=20)
    out = tmp_path / "docs" / "results.md"
    page.render(tmp_path / "results", out)
    (out.parent / "results" / "a" / "notes.txt").write_text("mine\n")
    page.render(tmp_path / "results", out)
    assert (out.parent / "results" / "a" / "notes.txt").read_text() == "mine\n"


def test_a_first_publish_that_fails_leaves_no_set(store, tmp_path, monkeypatch):
    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(published, "atomic_write_text", full_disk)
    with pytest.raises(OSError):
        published.publish(store, "a", tmp_path / "results", "c", resamples=20)
    assert list((tmp_path / "results").iterdir()) == []


def test_a_half_written_set_is_refused_by_render(store, tmp_path, xlr_main):
    """Sets written before publish staged them: results.csv and results.json, nothing else."""
    folder = published.publish(store, "a", tmp_path / "results", "c", resamples=20)
    for name in (published.INTERVALS, published.PUBLICATION):
        (folder / name).unlink()
    code, _, err = xlr_main("results", "render", "--results", tmp_path / "results", "--out", tmp_path / "d" / "r.md")
    assert code == 2 and "without its intervals.csv and publication.json; restore it from git" in err, err


def test_a_swap_killed_half_way_says_where_the_old_set_is(store, tmp_path, xlr_main):
    folder = published.publish(store, "a", tmp_path / "results", "c", resamples=20)
    hidden = folder.with_name(".a.old-k1ll3d")
    folder.rename(hidden)  # what a kill between swap_in's two renames leaves
    for args in (["results", "render", "--results", tmp_path / "results", "--out", tmp_path / "d" / "r.md"],
                 ["results", "publish", store, "--name", "a", "--into", tmp_path / "results", "--command", "c",
                  "--force"]):
        code, _, err = xlr_main(*args)
        assert code == 2 and f"restore them with `mv {hidden} {folder}`" in err, err
    assert hidden.is_dir() and not folder.exists()


def test_swap_in_replaces_the_folder_a_link_points_to(tmp_path):
    from xlr.files import swap_in

    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "old.txt").write_text("old")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "new.txt").write_text("new")
    swap_in(tmp_path / "new", tmp_path / "link")
    assert (tmp_path / "link").is_symlink() and [p.name for p in (tmp_path / "link").iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


def test_an_added_run_made_by_the_same_command_does_not_repeat_it(store, tmp_path):
    results = tmp_path / "results"
    published.publish(store, "a", results, "xlr reproduce xnli --seeds S", resamples=20)
    published.publish(later_store(tmp_path / "later"), "a", results, "xlr reproduce xnli --seeds S", resamples=20,
                      add=True)
    out = tmp_path / "docs" / "results.md"
    page.render(results, out)
    text = out.read_text()
    assert text.count("xlr reproduce xnli --seeds S") == 1 and "**Added later**, in 1 publication: r3f 1, r3f 2;" in text


def test_a_published_set_names_its_model_and_holds_no_local_path(tmp_path):
    for seed in (1, 2):
        for method in ("baseline", "adv"):
            run(tmp_path / "runs", method, seed, same=0.5, mixed=0.5, standard=0.6, model="/home/me/models/e5")
    write_results(tmp_path / "runs" / "exp")
    results = tmp_path / "results"
    proc = run_xlr("results", "publish", tmp_path / "runs" / "exp", "--name", "s", "--into", results, "--command", "c",
                   "--resamples", "20")
    assert proc.returncode == 2 and "pass --model-name" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not (results / "s").exists()
    proc = run_xlr("results", "publish", tmp_path / "runs" / "exp", "--name", "s", "--into", results, "--command", "c",
                   "--resamples", "20", "--model-name", "intfloat/multilingual-e5-small", "--model-note",
                   "a 4-bit-rounded copy")
    assert proc.returncode == 0, proc.stderr
    pub = published.load(results / "s")
    assert {r["model"] for r in pub.rows} == {f"intfloat/multilingual-e5-small@sha256:{WEIGHTS[:16]}"}
    assert pub.provenance["model_fingerprint"]["weights"] == f"sha256:{WEIGHTS}"
    assert pub.provenance["model_note"] == "a 4-bit-rounded copy"
    assert pub.provenance["runs"][0]["sources"]["data"]["test-en"] == {"path": "test-en.tsv", "sha256": "cd" * 32}
    assert pub.provenance["runs"][0]["sources"]["synonyms"] == {"syn.json": {"path": "syn.json", "sha256": "ef" * 32}}
    for path in (results / "s").rglob("*"):
        if path.suffix in (".json", ".csv"):
            text = path.read_text()
            assert not re.search(r'(^|[",])(/|~/)', text, re.M), (path, text[:300])
    (results / "s" / "curves.csv").unlink()  # a set from before curves were kept: refresh keeps it readable
    assert published.refresh(results / "s") == results / "s"
    out = tmp_path / "docs" / "results.md"
    page.render(results, out)
    assert "a 4-bit-rounded copy" in out.read_text()


def test_two_tables_named_alike_in_different_folders_stay_two_entries():
    tables = {"/data/a/syn.json": {"sha256": "ab"}, "/data/b/syn.json": {"sha256": "cd"},
              "C:\\tables\\other.json": {"sha256": "ef"}, "builtin:fixture": {}}
    assert published.without_local_paths({"synonyms": tables}) == {"synonyms": {
        "a/syn.json": {"sha256": "ab"}, "b/syn.json": {"sha256": "cd"}, "other.json": {"sha256": "ef"},
        "builtin:fixture": {}}}


def test_runs_that_used_other_weights_are_refused(store, tmp_path):
    run(tmp_path / "runs", "adv", 3, same=0.5, mixed=0.6, standard=0.65, weights="ef" * 32)
    write_results(store)
    with pytest.raises(XlrError, match="the runs used different weights"):
        published.publish(store, "s", tmp_path / "results", "c", resamples=20)


def test_refresh_rewrites_a_set_of_an_earlier_version(store, tmp_path):
    folder = published.publish(store, "s", tmp_path / "results", "c", resamples=20)
    new = (folder / published.INTERVALS).read_text()
    rows = list(csv.DictReader(open(folder / published.INTERVALS)))
    old = [{**{k: r[k] for k in ("method", "baseline", "setting", "language", "items", "seeds", "baseline_accuracy",
                                 "accuracy", "diff", "per_seed")}, "low": r["item_low"], "high": r["item_high"]}
           for r in rows]
    (folder / published.INTERVALS).write_text(rows_to_csv(old, list(old[0])))
    proc = run_xlr("results", "render", "--results", tmp_path / "results", "--out", tmp_path / "r.md")
    assert proc.returncode == 2 and "xlr results refresh" in proc.stderr, proc.stderr
    proc = run_xlr("results", "refresh", folder)
    assert proc.returncode == 0, proc.stderr
    assert (folder / published.INTERVALS).read_text() == new


def test_a_rerun_is_compared_with_the_published_set_seed_by_seed(store, tmp_path):
    run(tmp_path / "runs", "adv", 3, same=0.5, mixed=0.6, standard=0.7)   # seeds 1, 2: +5 points; seed 3: +9
    run(tmp_path / "runs", "baseline", 3, same=0.5, mixed=0.5, standard=0.61)
    write_results(store)
    results = tmp_path / "results"
    published.publish(store, "s", results, "c", resamples=20)
    same = run_xlr("compare", store, "--against", results / "s", "--format", "markdown")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "The re-run against" in same.stdout and "differ" in same.stdout
    assert re.search(r"\| adv +\| standard +\| gain over baseline +\|.*\| agrees +\|", same.stdout), same.stdout
    # another machine: adv about 10 points higher on the standard test, on every seed
    for seed, extra, gain in ((1, 0.0, 0.15), (2, 0.005, 0.16), (3, 0.01, 0.18)):
        run(tmp_path / "other", "baseline", seed, same=0.5, mixed=0.5, standard=0.6 + extra)
        run(tmp_path / "other", "adv", seed, same=0.5, mixed=0.6, standard=0.6 + extra + gain)
    write_results(tmp_path / "other" / "exp")
    moved = run_xlr("compare", tmp_path / "other" / "exp", "--against", results / "s", "--format", "markdown")
    assert moved.returncode == 1 and "re-run differs: adv standard gain over baseline" in moved.stderr, moved.stderr
    assert re.search(r"\| adv +\| standard +\| accuracy +\|.*\| differs +\|", moved.stdout), moved.stdout
    assert re.search(r"\| baseline +\| standard +\| accuracy +\|.*\| agrees +\|", moved.stdout), moved.stdout


def test_add_takes_seeds_made_on_another_device_and_keeps_each_runs_device(store, tmp_path):
    results = tmp_path / "results"
    published.publish(store, "s", results, "c", resamples=20)
    gpu = tmp_path / "gpu"
    for method, standard in (("baseline", 0.61), ("adv", 0.66)):
        run(gpu, method, 3, same=0.5, mixed=0.55, standard=standard, device="device: CUDA (NVIDIA H100)")
    write_results(gpu / "exp")
    published.publish(gpu / "exp", "s", results, "c on a GPU", resamples=20, add=True)
    pub = published.load(results / "s")
    assert pub.seeds("adv") == [1, 2, 3]
    assert {(r["method"], r["seed"]): r["device"] for r in pub.provenance["runs"]}[("adv", 3)] == \
        "device: CUDA (NVIDIA H100)"
    out = tmp_path / "docs" / "results.md"
    page.render(results, out)
    assert re.search(r"\| baseline +\| standard +\| 60\.00 \(n=2\) +\| 61\.00 \(n=1\) +\| 60\.33 \(n=3\) +\|",
                     out.read_text()), out.read_text()
    # the same seed again, made on the GPU: another run, not a re-run of the published one
    rerun = tmp_path / "rerun"
    run(rerun, "baseline", 1, same=0.5, mixed=0.5, standard=0.62, device="device: CUDA (NVIDIA H100)")
    write_results(rerun / "exp")
    with pytest.raises(XlrError, match="not the same run"):
        published.publish(rerun / "exp", "s", results, "c", resamples=20, add=True)


def test_xlrs_own_published_sets_hold_no_local_path_and_name_their_model():
    sets = [p for p in (REPO / "results").iterdir() if p.is_dir()]
    assert sets
    for folder in sets:
        for path in [*folder.glob("*.json"), *folder.glob("*.csv")]:
            text = path.read_text()
            assert not re.search(r'(^|["\s,])(/|~/)[\w.-]', text, re.M), path
        pub = published.load(folder)
        assert {r["model"].split("@")[0] for r in pub.rows} == {"intfloat/multilingual-e5-small"}
        assert "4-bit-rounded copy" in pub.provenance["model_note"]
