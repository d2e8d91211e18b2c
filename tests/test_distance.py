"""lang2vec distances, gain/distance correlations, and `xlr analyze distance` (offline)."""
import math

import pytest
from scipy.stats import pearsonr, spearmanr

from conftest import REPO, run_xlr
from xlr.results import distance
from xlr.results import paper as paper_mod
from xlr.errors import XlrError

PAWSX = ["de", "es", "fr", "ja", "ko", "zh"]
XNLI = ["ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]


def test_codes_follow_lang2vecs_own_table():
    assert [distance.lang2vec_code(c) for c in ("en", "de", "ja", "zh", "sw")] == ["eng", "deu", "jpn", "zho", "swa"]
    assert distance.lang2vec_code("cmn") == "cmn"  # ISO 639-3 codes pass through


@pytest.mark.slow
def test_known_properties_of_the_distances():
    d = distance.distances("en", PAWSX + XNLI)
    assert d.notes == []  # the default feature sets have no missing values
    for feature in distance.FEATURES:
        assert d.values[feature]["en"] == pytest.approx(0.0, abs=1e-12)
        for lang in PAWSX + XNLI:
            assert 0.0 <= d.values[feature][lang] <= 1.0  # non-negative features: cosine distance in [0, 1]
    syntax = d.values["syntax_knn"]
    assert syntax["de"] < syntax["ja"] and syntax["fr"] < syntax["ko"]  # typology: SVO Europe vs SOV Asia
    assert d.values["fam"]["de"] < d.values["fam"]["ja"]  # German shares English's family, Japanese does not


def test_distance_is_symmetric():
    ab = distance.distances("de", ["ja"], ("syntax_knn",)).values["syntax_knn"]["ja"]
    ba = distance.distances("ja", ["de"], ("syntax_knn",)).values["syntax_knn"]["de"]
    assert ab == pytest.approx(ba)


def test_missing_values_are_dropped_and_reported():
    assert distance.cosine_distance(["--", 1.0, 0.0], [1.0, 1.0, 0.0]) == (pytest.approx(0.0), 1)
    assert distance.cosine_distance([1.0, 0.0], [0.0, 1.0]) == (pytest.approx(1.0), 0)
    d, dropped = distance.cosine_distance([0.0, 0.0], [1.0, 0.0])
    assert math.isnan(d) and dropped == 0
    wals = distance.distances("en", ["de"], ("syntax_wals",))
    assert len(wals.notes) == 1 and "syntax_wals" in wals.notes[0] and "de " in wals.notes[0]


def test_unknown_feature_or_language_is_bad_input():
    with pytest.raises(XlrError, match="unknown lang2vec feature set"):
        distance.distances("en", ["de"], ("nope",))
    with pytest.raises(XlrError, match="lang2vec"):
        distance.distances("en", ["qqq"], ("syntax_knn",))


def test_gains_exclude_averages_and_need_the_baseline():
    table = {("baseline", "standard", "de"): 80.0, ("adv", "standard", "de"): 81.5,
             ("baseline", "standard", "avg"): 80.0, ("adv", "standard", "avg"): 81.0,
             ("adv", "standard", "ja"): 70.0, ("adv", "generalized", "de"): 1.0}
    assert distance.gains(table, "baseline") == {"adv": {"de": pytest.approx(1.5)}}


def test_correlation_matches_scipy_and_is_nan_when_undefined():
    dist = {"a": 0.1, "b": 0.2, "c": 0.4, "d": 0.5}
    gain = {"a": 0.5, "b": 0.4, "c": 1.0, "d": 2.0}
    c = distance.correlate("adv", "syntax_knn", gain, dist)
    r, rp = pearsonr(list(dist.values()), list(gain.values()))
    rho, sp = spearmanr(list(dist.values()), list(gain.values()))
    assert (c.pearson, c.pearson_p, c.spearman, c.spearman_p, c.n) == pytest.approx((r, rp, rho, sp, 4))
    assert math.isnan(distance.correlate("adv", "f", {"a": 1.0, "b": 1.0, "c": 1.0}, dist).spearman)
    assert math.isnan(distance.correlate("adv", "f", {"a": 1.0, "b": 2.0}, dist).pearson)


def test_analysis_of_the_papers_numbers():
    rows = paper_mod.load(REPO / "paper_results").rows()
    [a] = distance.analyze(rows, features=("syntax_knn", "geo"))
    assert set(a.gains) == {"adv", "rs-rp", "rs-da"}  # the XTREME reference row is not a method
    assert list(a.gains["rs-da"]) == PAWSX  # the source language is excluded
    assert a.gains["rs-da"]["ja"] == pytest.approx(79.3 - 75.3)
    assert all(c.n == 6 for c in a.correlations) and len(a.correlations) == 3 * 2


def test_nothing_to_analyze_is_bad_input():
    rows = [r for r in paper_mod.load(REPO / "paper_results").rows() if r["method"] == "baseline"]
    with pytest.raises(XlrError, match="nothing to analyze"):
        distance.analyze(rows)


@pytest.mark.slow
def test_analyze_distance_paper_cli_runs_offline_and_prints_correlations(tmp_path):
    plot = tmp_path / "figs" / "distance.png"
    proc = run_xlr("analyze", "distance", "--paper", "--plot", plot, "--format", "markdown",
                   env={"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "NO_PROXY": "*",
                        "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"})
    assert proc.returncode == 0, proc.stderr
    print(proc.stdout)
    assert "Spearman rho" in proc.stdout and "Pearson r" in proc.stdout
    # the printed correlation is scipy's, on the stored numbers and lang2vec's distances
    rows = {(r["method"], r["language"]): r["accuracy"] for r in paper_mod.load(REPO / "paper_results").rows()}
    d = distance.distances("en", PAWSX, ("syntax_knn",)).values["syntax_knn"]
    rho, p = spearmanr([d[x] for x in PAWSX], [rows[("rs-rp", x)] - rows[("baseline", x)] for x in PAWSX])
    assert "| rs-rp    | syntax_knn    | 6   |" in proc.stdout and f"{rho:+.3f}" in proc.stdout and f"{p:.3f}" in proc.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyze_distance_rejects_results_with_paper(tmp_path):
    proc = run_xlr("analyze", "distance", "--paper", REPO / "paper_results" / "pawsx_mbert.csv")
    assert proc.returncode == 2 and "either RESULTS or --paper" in proc.stderr
    proc = run_xlr("analyze", "distance", "--paper", "--plot", tmp_path / "x.gif")
    assert proc.returncode == 2 and ".png" in proc.stderr and "Traceback" not in proc.stderr


def test_plot_writes_an_svg(tmp_path):
    rows = paper_mod.load(REPO / "paper_results").rows()
    out = tmp_path / "d.svg"
    distance.plot(distance.analyze(rows, features=("geo",)), out)
    assert b"<svg" in out.read_bytes()[:400]


@pytest.mark.slow
def test_the_xlr_console_script_finds_lang2vec_despite_its_bin_script():
    """lang2vec installs bin/lang2vec.py; run as the `xlr` console script, bin/ is sys.path[0] and that file
    would shadow the package (it then fails to open bin/data/letter_codes.json)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "xlr"
    if not script.is_file():
        pytest.skip(f"no console script at {script} (package not installed in this environment)")
    proc = subprocess.run([str(script), "analyze", "distance", "--paper", "--features", "geo", "--format", "csv"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "rs-da" in proc.stdout
