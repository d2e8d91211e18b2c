"""xlr compare: cells within tolerance, the paper's claims, exit codes, and the paired bootstrap."""
import csv
import hashlib
import io
import json
import re

import numpy as np
import pytest
from scipy.stats import spearmanr

from conftest import REPO, run_xlr
from xlr.results import bootstrap
from xlr.results import between
from xlr.results import claims
from xlr.results import compare
from xlr.results import distance
from xlr.results import paper as paper_mod
from xlr.results import tidy
from xlr.errors import ChecksFailed, XlrError
from xlr.store import RESULT_COLUMNS, RunStore, read_results_csv, rows_to_csv

PAPER = REPO / "paper_results"
LANGS = ["en", "de", "es", "fr", "ja", "ko", "zh"]


SPREAD = {7: -0.05, 8: 0.0, 9: 0.05}  # each robust method's seed-to-seed spread around the paper's number


def paper_rows() -> list[dict]:
    """The paper's own target rows, as if they were our results: seeds 7, 8 and 9 whose means are the paper's
    numbers (the baseline the same on each seed, each robust method spread by SPREAD)."""
    rows = read_results_csv(PAPER / "pawsx_mbert.csv", extra_columns=("role", "source"))
    return [{**r, "seed": seed, "accuracy": r["accuracy"] + (0 if r["method"] == "baseline" else shift)}
            for seed, shift in SPREAD.items() for r in rows if r["role"] == "target"]


def write(path, rows):
    path.write_text(rows_to_csv(rows, RESULT_COLUMNS))
    return path


def moved(rows, method, language, by, setting="standard"):
    return [{**r, "accuracy": r["accuracy"] + by}
            if (r["method"], r["language"], r["setting"]) == (method, language, setting) else r for r in rows]


def groups_of(rows):
    return tidy.seed_groups(rows)


def verdicts(rows) -> dict[str, claims.Verdict]:
    return {v.claim.id: v for v in claims.check(paper_mod.load(PAPER), groups_of(rows))}


# ------------------------------------------------------------------------------------- the CLI, end to end

@pytest.mark.slow
def test_paper_rows_compare_clean(tmp_path):
    proc = run_xlr("compare", write(tmp_path / "ours.csv", paper_rows()))
    assert proc.returncode == 0, proc.stderr
    assert "32 of 32 cells within tolerance" in proc.stdout
    assert "robust-beats-baseline" in proc.stdout and "holds" in proc.stdout


@pytest.mark.slow
def test_a_cell_three_points_off_fails_and_is_named(tmp_path):
    proc = run_xlr("compare", write(tmp_path / "ours.csv", moved(paper_rows(), "adv", "de", -3.0)))
    assert proc.returncode == 1
    assert proc.stderr.strip() == "outside tolerance: pawsx adv de (ours 83.5, paper 86.5)"
    assert "OUTSIDE" in proc.stdout


def test_corrupt_csv_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("experiment,task,model,method,seed,setting,language,accuracy\ne,pawsx,m,adv,7,standard,de\n")
    proc = run_xlr("compare", bad)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "wrong number of fields" in proc.stderr


def test_unknown_columns_and_missing_files_are_exit_2(tmp_path):
    bad = write(tmp_path / "r.csv", paper_rows()).read_text().replace("accuracy", "acc", 1)
    (tmp_path / "r.csv").write_text(bad)
    for args in (["compare", tmp_path / "r.csv"], ["compare", tmp_path / "nope.csv"],
                 ["compare", write(tmp_path / "ok.csv", paper_rows()), "--against", tmp_path / "none"]):
        proc = run_xlr(*args)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)


@pytest.mark.slow
def test_csv_format_is_one_table(tmp_path):
    proc = run_xlr("compare", write(tmp_path / "ours.csv", paper_rows()), "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 32 and set(rows[0]) >= {"method", "language", "ours", "paper", "diff", "verdict"}
    assert "claim robust-beats-baseline" in proc.stderr  # claims go to the log, stdout stays CSV


# ------------------------------------------------------------------------------------- cells and tolerances

def test_tolerance_boundaries_and_overrides(tmp_path):
    rows = moved(moved(paper_rows(), "rs-rp", "ja", +2.0), "rs-rp", "avg", -1.5)
    result = compare.compare([write(tmp_path / "ours.csv", rows)], PAPER)
    by = {(c.method, c.language): c for c in result.cells}
    assert by[("rs-rp", "ja")].within  # exactly the language tolerance: within
    assert not by[("rs-rp", "avg")].within and by[("rs-rp", "avg")].tolerance == 1.0
    assert [f for f in result.failures()] == ["outside tolerance: pawsx rs-rp avg (ours 84.0, paper 85.5)"]
    with pytest.raises(ChecksFailed, match="rs-rp avg"):
        result.raise_if_failed()
    relaxed = compare.compare([tmp_path / "ours.csv"], PAPER, tolerance_average=2.0)
    assert relaxed.failures() == []
    strict = compare.compare([tmp_path / "ours.csv"], PAPER, tolerance_language=1.0)
    assert "outside tolerance: pawsx rs-rp ja (ours 79.9, paper 77.9)" in strict.failures()


def test_ours_is_the_mean_over_seeds(tmp_path):
    rows = paper_rows() + [{**r, "seed": r["seed"] + 10, "accuracy": r["accuracy"] - 4.0} for r in paper_rows()]
    result = compare.compare([write(tmp_path / "ours.csv", rows)], PAPER)
    cell = next(c for c in result.cells if (c.method, c.language) == ("adv", "de"))
    assert cell.seeds == 6 and cell.ours == pytest.approx(86.5 - 2.0) and cell.within


@pytest.mark.slow
def test_the_papers_number_against_the_prediction_interval_of_our_seeds(tmp_path):
    result = compare.compare([write(tmp_path / "ours.csv", paper_rows())], PAPER)
    cell = next(c for c in result.cells if (c.method, c.language) == ("adv", "de"))
    values = [86.5 + x for x in SPREAD.values()]
    half = 4.303 * np.std(values, ddof=1) * np.sqrt(1 + 1 / 3)  # t(0.975, 2 df) = 4.303
    assert cell.prediction == pytest.approx((86.5 - half, 86.5 + half), abs=1e-3) and cell.paper_in_prediction
    far = compare.compare([write(tmp_path / "far.csv", moved(paper_rows(), "adv", "de", -1.5))], PAPER)
    cell = next(c for c in far.cells if (c.method, c.language) == ("adv", "de"))
    assert cell.within and cell.paper_in_prediction is False  # within the fixed tolerance, not one of our seeds
    proc = run_xlr("compare", tmp_path / "far.csv", "--format", "markdown")
    assert re.search(r"\| adv +\| standard +\| de +\|.*\| ok +\| no \[84\.8, 85\.2\] +\|", proc.stdout), proc.stdout
    one_seed = [r for r in paper_rows() if r["seed"] == 7]
    assert all(c.prediction is None for c in compare.compare([write(tmp_path / "one.csv", one_seed)], PAPER).cells)


def test_nothing_in_common_is_bad_input(tmp_path):
    rows = [{**r, "model": "builtin:tiny-bert"} for r in paper_rows()]
    with pytest.raises(XlrError, match="nothing to compare"):
        compare.compare([write(tmp_path / "ours.csv", rows)], PAPER)


def test_run_folders_and_experiment_folders_are_results(tmp_path):
    run = RunStore(tmp_path / "runs").run("table1", "adv", 7)
    run.write_metrics({"experiment": "table1", "task": "pawsx", "model": "bert-base-multilingual-cased",
                       "method": "adv", "seed": 7, "test": {"standard": {"de": 86.0, "avg": 84.2}}})
    with pytest.raises(XlrError, match="not a finished run"):
        tidy.load_results([run.path])
    run.mark_done()
    cells = compare.compare([run.path], PAPER).cells
    assert {(c.language, c.ours, c.paper) for c in cells} == {("de", 86.0, 86.5), ("avg", 84.2, 84.0)}


MY_TOML = """
title = "my own experiment"
task = "pawsx"
model = "builtin:tiny-bert"
data = "builtin:fixture"
languages = ["en", "de"]
seeds = [1]
paper = "my_paper.csv"
tolerance = { language = 60.0, average = 60.0 }
[methods]
run = ["baseline"]
[train]
epochs = 1
max_train_examples = 64
max_dev_examples = 32
eval_steps = 2
max_length = 32
"""


@pytest.mark.slow
def test_compare_uses_the_tolerance_of_the_users_toml(tmp_path):
    """`xlr reproduce my.toml` then `xlr compare`: my.toml's tolerance, recorded in results.json, decides;
    without results.json the defaults do, and the output says so."""
    (tmp_path / "my.toml").write_text(MY_TOML)
    runs = tmp_path / "runs"
    run_xlr("reproduce", tmp_path / "my.toml", "--out", runs, env={"HF_HUB_OFFLINE": "1"}, check=True)
    prov = json.loads((runs / "my" / "results.json").read_text())
    assert prov["tolerance"] == {"language": 60.0, "average": 60.0} and prov["profile"] is None
    assert prov["experiment_sha256"] == hashlib.sha256((tmp_path / "my.toml").read_bytes()).hexdigest()
    assert prov["methods"]["baseline"]["seeds"] == [1] and prov["methods"]["baseline"]["train"]["epochs"] == 1
    assert prov["runs"][0]["device"].startswith("device: ") and "torch" in prov["runs"][0]["versions"]
    ours = {r["language"]: r["accuracy"] for r in read_results_csv(runs / "my" / "results.csv")}
    # the "paper" is 40 points above ours: within my.toml's 60, far outside the default 2
    paper = [{"experiment": "my", "task": "pawsx", "model": "builtin:tiny-bert", "method": "baseline", "seed": "",
              "setting": "standard", "language": lang, "accuracy": ours[lang] + 40.0, "source": "a test"}
             for lang in ("en", "de")]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[*RESULT_COLUMNS, "source"], lineterminator="\n")
    w.writeheader()
    w.writerows(paper)
    (tmp_path / "my_paper.csv").write_text(buf.getvalue())
    ok = run_xlr("compare", runs / "my", "--against", tmp_path / "my_paper.csv", "--format", "markdown")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "my.toml (results.json)" in ok.stdout
    (runs / "my" / "results.json").unlink()
    old = run_xlr("compare", runs / "my", "--against", tmp_path / "my_paper.csv", "--format", "markdown")
    assert old.returncode == 1 and "no results.json" in old.stdout + old.stderr
    (runs / "my" / "results.json").write_text("{not json")
    bad = run_xlr("compare", runs / "my", "--against", tmp_path / "my_paper.csv")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "results.json is corrupt" in bad.stderr


# ---------------------------------------------------------------------------------------------- claims

def test_claims_on_the_papers_numbers():
    v = verdicts(paper_rows())
    assert v["robust-beats-baseline"].status == claims.HOLDS
    assert "t over 3 seeds" in v["robust-beats-baseline"].decided_by
    # claim 2, recomputed here independently: lang2vec syntax_knn cosine distance vs gain, Spearman
    p = {(r["method"], r["language"]): r["accuracy"] for r in paper_rows() if r["seed"] == 8}  # the means
    targets = [lang for lang in LANGS if lang != "en"]
    d = distance.distances("en", targets, ("syntax_knn",)).values["syntax_knn"]
    detail = v["gains-grow-with-distance"].detail
    found = []
    for m in ("adv", "rs-rp", "rs-da"):
        rho, pval = spearmanr([d[lang] for lang in targets], [p[(m, lang)] - p[("baseline", lang)] for lang in targets])
        assert f"{m} rho={rho:+.2f} (p={pval:.3f})" in detail
        found.append((rho, pval))
    # every rho is positive, none with p < 0.05 (6 languages): the claim is inconclusive on the paper's numbers
    assert all(rho > 0 and pval > 0.05 for rho, pval in found)
    assert v["gains-grow-with-distance"].status == claims.INCONCLUSIVE
    print(f"claim 2 on the paper's numbers: {v['gains-grow-with-distance'].status}: {detail}")
    assert v["generalized-gains-larger"].status == claims.CANNOT
    assert "no generalized results" in v["generalized-gains-larger"].detail


@pytest.mark.slow
def test_claim_1_fails_only_when_a_robust_method_is_worse_beyond_its_interval(tmp_path):
    # adv 0.1 below the baseline (83.3 vs 83.4), its seeds within 0.05 of that: inconclusive, not failed
    close = moved(paper_rows(), "adv", "avg", -0.7)
    assert verdicts(close)["robust-beats-baseline"].status == claims.INCONCLUSIVE
    proc = run_xlr("compare", write(tmp_path / "close.csv", close))
    assert proc.returncode == 0, proc.stderr
    proc = run_xlr("compare", tmp_path / "close.csv", "--strict")
    assert proc.returncode == 1 and "claim inconclusive: robust-beats-baseline (table1)" in proc.stderr
    # 0.35 below on average, every seed below: the claim fails (still within the average's tolerance)
    worse = moved(paper_rows(), "adv", "avg", -0.95)
    assert verdicts(worse)["robust-beats-baseline"].status == claims.FAILS
    proc = run_xlr("compare", write(tmp_path / "ours.csv", worse))
    assert proc.returncode == 1 and "claim fails: robust-beats-baseline (table1)" in proc.stderr
    # one seed: no interval, so nothing can fail
    assert verdicts([r for r in worse if r["seed"] == 7])["robust-beats-baseline"].status == claims.INCONCLUSIVE


def test_claims_say_what_they_need():
    only_baseline = [r for r in paper_rows() if r["method"] == "baseline"]
    v = verdicts(only_baseline)
    assert v["robust-beats-baseline"].status == claims.CANNOT
    assert "needs baseline and one of adv, rs-rp, rs-da" in v["robust-beats-baseline"].detail
    assert v["gains-grow-with-distance"].status == claims.CANNOT
    two_langs = [r for r in paper_rows() if r["language"] in ("en", "de", "ja", "avg")]
    assert verdicts(two_langs)["gains-grow-with-distance"].status == claims.CANNOT
    other_model = [{**r, "model": "xlm-roberta-base"} for r in paper_rows()]
    assert verdicts(other_model)["robust-beats-baseline"].detail.startswith("no results for the paper's models")


def test_claim_2_fails_when_gains_shrink_with_distance():
    rows = paper_rows()
    d = distance.distances("en", LANGS[1:], ("syntax_knn",)).values["syntax_knn"]
    # every robust method gains exactly the negative distance: perfectly decreasing
    base = {r["language"]: r["accuracy"] for r in rows if r["method"] == "baseline"}
    rows = [{**r, "accuracy": base[r["language"]] - 10 * d[r["language"]]}
            if r["method"] != "baseline" and r["language"] in d and r["language"] != "en" else r for r in rows]
    v = verdicts(rows)["gains-grow-with-distance"]
    assert v.status == claims.FAILS and "rho=-1.00" in v.detail


def test_claim_2_counts_the_variance_between_seeds():
    """Mean gains that rise perfectly with distance are not enough when one seed's gains fall with it: the
    seeds' own correlations (+1, +1, -1) decide, and the claim is inconclusive, not held."""
    rows = paper_rows()
    d = distance.distances("en", LANGS[1:], ("syntax_knn",)).values["syntax_knn"]
    base = {r["language"]: r["accuracy"] for r in rows if r["method"] == "baseline"}
    slope = {7: 10.0, 8: 10.0, 9: -5.0}  # mean gain 5 * distance: rho +1.00 over the languages

    def shaped(r):
        if r["method"] == "baseline" or r["language"] not in d or r["language"] == "en":
            return r
        return {**r, "accuracy": base[r["language"]] + slope[r["seed"]] * d[r["language"]]}

    v = verdicts([shaped(r) for r in rows])["gains-grow-with-distance"]
    assert "rho=+1.00 (p=0.000)" in v.detail and "per seed +1.00 +1.00 -1.00" in v.detail
    assert v.status == claims.INCONCLUSIVE and "t over 3 seeds' rho" in v.decided_by
    # every seed rising: holds; a single seed: the variance between seeds is not counted, so nothing holds
    slope[9] = 5.0
    assert verdicts([shaped(r) for r in rows])["gains-grow-with-distance"].status == claims.HOLDS
    one = verdicts([shaped(r) for r in rows if r["seed"] == 7])["gains-grow-with-distance"]
    assert one.status == claims.INCONCLUSIVE and "the variance between seeds is not counted" in one.detail


def test_claim_3_compares_generalized_with_standard_gains():
    rows = paper_rows()

    def gen(method, avg_mixed):  # every seed, each robust method spread twice as far as on the standard test
        return [{**rows[0], "seed": seed, "method": method, "setting": "generalized", "language": "avg-mixed",
                 "accuracy": avg_mixed + (0 if method == "baseline" else 2 * shift)} for seed, shift in SPREAD.items()]

    # standard avg gains: adv +0.6, rs-rp +2.1, rs-da +2.0
    bigger = rows + gen("baseline", 70.0) + gen("adv", 71.0) + gen("rs-rp", 73.0) + gen("rs-da", 72.5)
    assert verdicts(bigger)["generalized-gains-larger"].status == claims.HOLDS
    smaller = rows + gen("baseline", 70.0) + gen("adv", 71.0) + gen("rs-rp", 71.0) + gen("rs-da", 72.5)
    v = verdicts(smaller)["generalized-gains-larger"]
    assert v.status == claims.FAILS and "rs-rp +1.0 generalized vs +2.1 standard" in v.detail
    no_baseline = rows + gen("adv", 71.0)
    assert verdicts(no_baseline)["generalized-gains-larger"].status == claims.CANNOT
    # a fourth baseline seed far below the others: the gains shown are over the seeds both have, as the
    # interval's are, not the difference of unpaired means
    extra = [{**r, "seed": 10, "accuracy": r["accuracy"] - 4} for r in bigger if r["method"] == "baseline"]
    v = verdicts(bigger + extra)["generalized-gains-larger"]
    assert "rs-rp +3.0 generalized vs +2.1 standard" in v.detail, v.detail


# ------------------------------------------------------------------------------------ paired bootstrap

def fake_runs(root, method, seeds, correct_fraction, languages=("en", "de"), items=400, gold=None):
    for seed in seeds:
        run = RunStore(root).run("exp", method, seed)
        run.write_metrics({"experiment": "exp", "task": "pawsx", "model": "m", "method": method, "seed": seed,
                           "test": {"standard": {lang: 0.0 for lang in languages}}})
        for lang in languages:
            g = (np.arange(items) % 2).astype(np.int8) if gold is None else gold
            pred = g.copy()
            wrong = int(items * (1 - correct_fraction))
            pred[:wrong] = 1 - pred[:wrong]
            run.save_predictions("standard", lang, pred, g)
        run.mark_done()


def test_bootstrap_finds_a_real_difference(tmp_path):
    fake_runs(tmp_path, "baseline", [1, 2], 0.5)
    fake_runs(tmp_path, "rs-da", [1, 2, 3], 1.0)  # seed 3 has no partner: left out
    [(experiment, seeds, diffs)] = between.between([tmp_path / "exp"], "baseline", "rs-da")
    assert experiment == "exp" and seeds == ["seed1", "seed2"]
    assert [d.language for d in diffs] == ["en", "de", "avg"]
    for d in diffs:
        assert d.diff == pytest.approx(50.0) and d.item_interval.excludes_zero
        assert 40 < d.item_interval.low <= 50 <= d.item_interval.high < 60
        assert d.t is None  # both seeds gain exactly 50: no spread between seeds, no interval, no verdict


def test_bootstrap_of_identical_predictions_is_zero(tmp_path):
    fake_runs(tmp_path, "baseline", [7], 0.7)
    fake_runs(tmp_path, "adv", [7], 0.7)
    [(_, _, diffs)] = between.between([tmp_path / "exp"], "baseline", "adv")
    assert [d.language for d in diffs] == ["en", "de", "avg"]  # something to check below
    for d in diffs:
        assert (d.item_interval.low, d.diff, d.item_interval.high) == (0.0, 0.0, 0.0)
        assert not d.item_interval.excludes_zero and d.t is None  # one seed: no seed-level interval


def test_bootstrap_is_reproducible_and_vectorized_correctly():
    rng = np.random.default_rng(0)
    a = {"de": rng.random((1, 300)) < 0.6}
    b = {"de": rng.random((1, 300)) < 0.7}
    first = bootstrap.paired_bootstrap(a, b, resamples=500, seed=3)
    again = bootstrap.paired_bootstrap(a, b, resamples=500, seed=3)
    assert first == again
    d = (b["de"].astype(float) - a["de"].astype(float))[0] * 100
    assert first[0].diff == pytest.approx(d.mean())
    assert first[0].item_interval.low < d.mean() < first[0].item_interval.high


def test_bootstrap_gives_each_seeds_difference():
    # seed 1: B gains 10 points on de, seed 2 loses 20: the pooled diff (-5) hides the disagreement
    a = {"de": np.zeros((2, 100), bool), "en": np.zeros((2, 100), bool)}
    b = {"de": np.zeros((2, 100), bool), "en": np.zeros((2, 100), bool)}
    a["de"][1, :20] = True
    b["de"][0, :10] = True
    b["en"][:, :4] = True
    de, en, avg = bootstrap.paired_bootstrap(a, b, resamples=50)
    assert de.per_seed == pytest.approx((10.0, -20.0)) and de.diff == pytest.approx(-5.0)
    assert en.per_seed == pytest.approx((4.0, 4.0))
    assert avg.language == "avg" and avg.per_seed == pytest.approx((7.0, -8.0))


def test_bootstrap_refuses_different_test_sets(tmp_path):
    fake_runs(tmp_path, "baseline", [7], 0.5)
    fake_runs(tmp_path, "adv", [7], 0.5, gold=np.ones(400, dtype=np.int8))
    with pytest.raises(XlrError, match="gold labels differ|different items"):
        between.between([tmp_path / "exp"], "baseline", "adv")
    with pytest.raises(XlrError, match="common seed"):
        between.between([tmp_path / "exp"], "baseline", "rs-rp")


def test_bootstrap_without_shared_predictions_names_both_methods(tmp_path):
    fake_runs(tmp_path, "baseline", [7], 0.5, languages=("en",))
    fake_runs(tmp_path, "adv", [7], 0.5, languages=("de",))
    with pytest.raises(XlrError, match=r"adv - baseline: some runs have no standard predictions for de, en"):
        between.between([tmp_path / "exp"], "baseline", "adv")


def test_compare_between_cli(tmp_path):
    fake_runs(tmp_path / "runs", "baseline", [7], 0.5)
    fake_runs(tmp_path / "runs", "rs-da", [7], 1.0)
    proc = run_xlr("compare", "--between", "baseline", "rs-da", "--resamples", "200", "--format", "markdown",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "| avg" in proc.stdout and "+50.00" in proc.stdout
    assert "per seed" in proc.stdout and re.search(r"\| \+50\.0 +\|", proc.stdout)
    # one seed: no seed-level interval, so no verdict but inconclusive; the item-only interval is labelled
    assert "inconclusive" in proc.stdout and "test-set uncertainty for these checkpoints" in proc.stdout


def test_a_15_language_table_folds_at_80_columns_and_keeps_every_number():
    import io

    from rich.console import Console

    from xlr.results.report import print_folded

    langs = ["en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh", "avg"]
    rows = [[m] + [f"{60 + i + k / 10:.1f} ± {k / 10:.1f}" for i in range(len(langs))]
            for k, m in enumerate(["baseline", "adv", "rs-rp", "rs-da", "r3f"])]
    buf = io.StringIO()
    print_folded("XNLI, multilingual-e5-small", ["method", *langs], rows, console=Console(file=buf, width=80))
    text = buf.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for row in rows:
        for cell in row:
            assert cell in text, cell
    assert "(1/" in text  # split into blocks, each titled


@pytest.mark.slow
def test_claims_on_another_model_only_with_any_model(tmp_path):
    """The claims are qualitative: --any-model asks them of an encoder the paper did not use."""
    rows = [{**r, "model": "my-encoder"} for r in paper_rows()]
    csv = write(tmp_path / "mine.csv", rows)
    plain = run_xlr("compare", csv)
    assert plain.returncode == 2 and "nothing to compare" in plain.stderr
    asked = run_xlr("compare", csv, "--any-model")
    assert asked.returncode == 0, asked.stderr
    assert "robust-beats-baseline" in asked.stdout and "my-encoder" in asked.stdout
    assert "0 of 0 cells within tolerance" in asked.stdout


def test_a_local_copy_named_like_the_papers_model_is_compared(tmp_path):
    """Offline, the model is a folder: it matches the paper's cells by its name, as a hub id does."""
    rows = [{**r, "model": "/models/bert-base-multilingual-cased"} for r in paper_rows()]
    result = compare.compare([write(tmp_path / "ours.csv", rows)], PAPER)
    assert len(result.cells) == 32 and result.verdicts[0].group is not None
    other = [{**r, "model": "/models/xlm-roberta-base"} for r in paper_rows()]
    with pytest.raises(XlrError, match="nothing to compare"):
        compare.compare([write(tmp_path / "other.csv", other)], PAPER)
