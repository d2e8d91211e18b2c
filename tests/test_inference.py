"""Seed-level inference (xlr.results.inference) and the joint resampling of aligned test items
(xlr.results.bootstrap), each checked against a computation written out independently here."""
import math

import numpy as np
import pytest
from scipy import stats

from xlr.results import bootstrap, inference
from xlr.results.inference import FAILS, HOLDS, INCONCLUSIVE


def test_t_interval_is_the_textbook_one():
    x = [1.1, 2.2, 1.1]
    found = inference.t_interval(x)
    mean, sd, n = np.mean(x), np.std(x, ddof=1), len(x)
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    assert (found.estimate, found.low, found.high) == pytest.approx((mean, mean - half, mean + half))
    assert found.p == pytest.approx(stats.ttest_1samp(x, 0).pvalue)
    assert inference.t_interval([0.5]) is None  # one seed: no seed-level interval


def test_the_flip_of_the_brief_is_inconclusive_on_both_machines():
    # RS-RP generalized, per seed: +1.1, +2.2, +1.1 on one machine and -1.1, -0.8, -0.2 on another
    gpu, cpu = inference.t_interval([1.1, 2.2, 1.1]), inference.t_interval([-1.1, -0.8, -0.2])
    assert gpu.low < 0 < gpu.high and cpu.low < 0 < cpu.high
    assert inference.verdict(gpu) == inference.verdict(cpu) == INCONCLUSIVE


def test_welch_interval_matches_scipy():
    a, b = [74.9, 75.3, 75.8], [76.0, 77.2, 76.1, 75.9]
    found = inference.welch_interval(a, b)
    assert found.estimate == pytest.approx(np.mean(b) - np.mean(a))
    assert found.p == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert (found.low, found.high) == pytest.approx((ci.low, ci.high))
    assert inference.welch_interval([1.0], [1.0, 2.0]) is None


def test_prediction_interval_formula():
    x = [80.0, 81.0, 83.0, 82.0]
    low, high = inference.prediction_interval(x)
    half = stats.t.ppf(0.975, 3) * np.std(x, ddof=1) * math.sqrt(1 + 1 / 4)
    assert (low, high) == pytest.approx((np.mean(x) - half, np.mean(x) + half))
    assert inference.prediction_interval([1.0, 2.0]) is None


def test_holm_matches_a_worked_example():
    # p-values 0.01, 0.04, 0.03, 0.005 -> sorted 0.005 (x4), 0.01 (x3), 0.03 (x2), 0.04 (x1), made monotone
    assert inference.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    decided = inference.verdicts([inference.Interval(1.0, 0.1, 2.0, 0.03, "t"),
                                  inference.Interval(-1.0, -2.0, -0.1, 0.01, "t"), None])
    # alone each excludes 0; Holm over the two: 0.01 x 2 = 0.02 < 0.05 fails, 0.03 x 1 -> max(0.02, 0.03) holds
    assert decided == [(HOLDS, pytest.approx(0.03)), (FAILS, pytest.approx(0.02)), (INCONCLUSIVE, None)]
    two = inference.verdicts([inference.Interval(1.0, 0.1, 2.0, 0.03, "t"), inference.Interval(1.0, 0.1, 2.0, 0.04, "t")])
    assert [v for v, _ in two] == [INCONCLUSIVE, INCONCLUSIVE]  # 0.03 x 2 = 0.06


def test_two_level_bootstrap_resamples_seeds_then_items():
    rng = np.random.default_rng(0)
    d = rng.normal(size=(5, 40))
    found = inference.two_level_resamples(d, 300, np.random.default_rng(7))
    # written out: draw seeds, then items, with the same generator calls
    again, g = [], np.random.default_rng(7)
    seed_counts = g.multinomial(5, np.full(5, 1 / 5), size=200)
    item_counts = g.multinomial(40, np.full(40, 1 / 40), size=200)
    for r in range(200):
        seeds = np.repeat(np.arange(5), seed_counts[r])
        items = np.repeat(np.arange(40), item_counts[r])
        again.append(d[np.ix_(seeds, items)].mean())
    assert found[:200] == pytest.approx(again)


def _outcomes(rng, seeds, items, p):
    return rng.random((seeds, items)) < p


def test_copies_of_one_language_give_that_languages_interval():
    """Every pair holds the outcomes of one language: the pairs are that language's items, so the average's
    interval is that language's. Drawing each pair's items independently shrinks it by about sqrt(pairs)."""
    rng = np.random.default_rng(1)
    a1, b1 = _outcomes(rng, 3, 500, 0.7), _outcomes(rng, 3, 500, 0.72)
    a = {f"p{i}": a1.copy() for i in range(9)}
    b = {f"p{i}": b1.copy() for i in range(9)}
    rows = bootstrap.paired_bootstrap(a, b, resamples=400, seed=5, parallel=True)
    one, avg = rows[0], rows[-1]
    assert avg.language == "avg" and avg.draw == bootstrap.JOINT
    assert (avg.item_interval.low, avg.item_interval.high) == pytest.approx((one.item_interval.low,
                                                                             one.item_interval.high))
    apart = bootstrap.paired_bootstrap(a, b, resamples=400, seed=5, parallel=False)[-1]
    assert apart.draw == bootstrap.INDEPENDENT
    assert apart.item_interval.high - apart.item_interval.low < 0.5 * (avg.item_interval.high - avg.item_interval.low)


def test_joint_resampling_matches_a_loop_and_the_standard_error():
    rng = np.random.default_rng(2)
    langs = ["en", "de", "ja"]
    a = {lang: _outcomes(rng, 2, 800, 0.6) for lang in langs}
    b = {lang: _outcomes(rng, 2, 800, 0.65) for lang in langs}
    avg = bootstrap.paired_bootstrap(a, b, resamples=2000, seed=4, parallel=True)[-1]
    # an independent computation: one index draw per resample, applied to every language
    g = bootstrap._items_rng(4)
    per_item = {lang: ((b[lang].astype(float) - a[lang].astype(float)) * 100).mean(axis=0) for lang in langs}
    means = []
    for start in range(0, 2000, inference.CHUNK):
        idx = g.integers(0, 800, size=(inference.CHUNK, 800))
        means += [np.mean([per_item[lang][row].mean() for lang in langs]) for row in idx]
    low, high = np.percentile(means, [2.5, 97.5])
    assert (avg.item_interval.low, avg.item_interval.high) == pytest.approx((low, high))
    # and its spread is the standard error of the per-item average over languages
    d = np.mean([per_item[lang] for lang in langs], axis=0)
    assert np.std(means) == pytest.approx(d.std(ddof=1) / math.sqrt(800), rel=0.1)


def test_sets_of_different_sizes_are_drawn_independently():
    rng = np.random.default_rng(3)
    a = {"en": _outcomes(rng, 2, 100, 0.6), "de": _outcomes(rng, 2, 90, 0.6)}
    b = {"en": _outcomes(rng, 2, 100, 0.6), "de": _outcomes(rng, 2, 90, 0.6)}
    assert bootstrap.paired_bootstrap(a, b, resamples=50, parallel=True)[-1].draw == bootstrap.INDEPENDENT


def test_seed_level_intervals_by_number_of_seeds():
    rng = np.random.default_rng(4)
    for seeds, has_t, has_two in ((1, False, False), (3, True, False), (5, True, True)):
        a = {"en": _outcomes(rng, seeds, 200, 0.6), "de": _outcomes(rng, seeds, 200, 0.6)}
        b = {"en": _outcomes(rng, seeds, 200, 0.7), "de": _outcomes(rng, seeds, 200, 0.7)}
        avg = bootstrap.paired_bootstrap(a, b, resamples=200, parallel=True)[-1]
        assert (avg.t is not None, avg.two_level is not None) == (has_t, has_two)
        assert avg.seed_level is (avg.two_level or avg.t)
    assert inference.few_seeds_warning(3) and inference.few_seeds_warning(5) is None


def test_a_seed_that_disagrees_makes_a_gain_inconclusive():
    # every item interval excludes 0 (the runs are fixed), but the seeds disagree in sign
    a = {"en": np.zeros((3, 1000), bool)}
    b = {"en": np.zeros((3, 1000), bool)}
    b["en"][0, :80] = True
    b["en"][1, :60] = True
    a["en"][2, :50] = True
    [row] = bootstrap.paired_bootstrap(a, b, resamples=300)
    assert row.item_interval.excludes_zero
    assert not row.t.excludes_zero and inference.verdict(row.t) == INCONCLUSIVE


def test_a_bootstrap_p_value_is_never_zero():
    assert inference.bootstrap_p(np.ones(999)) == pytest.approx(2 / 1000)
    assert inference.bootstrap_p(np.array([1.0])) == 1.0  # one resample decides nothing


def test_identical_seeds_give_no_interval_and_no_verdict():
    assert inference.t_interval([2.0, 2.0, 2.0]) is None
    assert inference.welch_interval([1.0, 1.0], [2.0, 2.0]) is None
    assert inference.verdicts([None]) == [(INCONCLUSIVE, None)]


def test_from_five_seeds_the_stricter_of_t_and_the_two_level_bootstrap_decides():
    """A percentile bootstrap over 5 seeds is too narrow on its own: the verdict takes the larger p-value."""
    t = inference.Interval(1.0, 0.2, 1.8, 0.01, "t")
    two = inference.Interval(1.0, -0.1, 2.1, 0.08, "two-level")
    item = inference.Interval(1.0, 0.5, 1.5, 0.001, "items")
    d = bootstrap.Diff("avg", None, 5, 80.0, 81.0, (1.0,) * 5, item, t, two)
    assert d.seed_level is two
    assert bootstrap.Diff("avg", None, 5, 80.0, 81.0, (1.0,) * 5, item, two, t).seed_level is two
    assert bootstrap.Diff("avg", None, 3, 80.0, 81.0, (1.0,) * 3, item, t, None).seed_level is t
