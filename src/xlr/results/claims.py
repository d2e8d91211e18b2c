"""The paper's qualitative claims (paper_results/claims.toml), checked on a group of results.

Each check takes one group's per-seed accuracies {(method, setting, language): {seed: accuracy}} and returns the
comparisons it rests on, each an interval (xlr.results.inference): a method's gain over the baseline (paired by
seed, a t-interval over seeds, or an interval the caller computed, such as a published set's two-level one), a
rank correlation of gain with distance (the larger p of the mean gains' correlation over the languages and a
t-interval over the seeds' own correlations), or a difference of gains between the settings. The comparisons of every
claim one report checks are Holm-corrected together; then a claim holds when every comparison it rests on holds,
fails when one fails, and is inconclusive otherwise. A claim that lacks what it needs "cannot check", saying what.
Nothing here knows a paper number."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from xlr.errors import XlrError
from xlr.results import inference
from xlr.results.inference import FAILS, HOLDS, INCONCLUSIVE, Interval
from xlr.results.paper import Claim, Paper
from xlr.results.tidy import model_name, paired_gains, seed_mean

CANNOT = "cannot check"
STATUSES = (HOLDS, FAILS, INCONCLUSIVE, CANNOT)


@dataclass
class Test:
    """One comparison a claim rests on: its interval (None: too few seeds) and how its text reads."""
    label: str
    interval: Interval | None
    text: str
    verdict: str = INCONCLUSIVE
    p_holm: float | None = None


@dataclass
class Verdict:
    claim: Claim
    group: tuple | None      # (experiment, task, model), None when no group could be checked
    status: str
    detail: str
    decided_by: str = ""     # which interval decided (e.g. "t over 3 seeds, Holm across 6 comparisons")
    tests: list[Test] = field(default_factory=list)


def _methods_text(paper: Paper) -> str:
    return ", ".join(paper.robust_methods) or "a robust method"


def _mean(per_seed: dict) -> float:
    return seed_mean(per_seed.values())


def _gain_test(table: dict, method: str, paper: Paper, setting: str, language: str, given: dict) -> Test:
    gains = list(paired_gains(table, method, paper.baseline, setting, language).values())
    interval = given.get((method, setting, language)) or inference.t_interval(gains)
    shown = f"{interval.estimate:+.1f} [{interval.low:+.1f}, {interval.high:+.1f}]" if interval else \
        f"{_mean(table[(method, setting, language)]) - _mean(table[(paper.baseline, setting, language)]):+.1f} " \
        f"({len(gains)} paired seed{'s' if len(gains) != 1 else ''}: no interval)"
    return Test(method, interval, f"{method} {shown}")


def beats_baseline(claim: Claim, table: dict, paper: Paper, given: dict):
    setting, language = claim.options.get("setting", "standard"), claim.options.get("language", "avg")
    present = [m for m in paper.robust_methods if (m, setting, language) in table]
    if (paper.baseline, setting, language) not in table or not present:
        return f"needs {paper.baseline} and one of {_methods_text(paper)} ({setting}, {language})"
    missing = [m for m in paper.robust_methods if m not in present]
    return ([_gain_test(table, m, paper, setting, language, given) for m in present],
            f"{setting} {language}, gain over {paper.baseline}: {{tests}}"
            + (f"; not run: {', '.join(missing)}" if missing else ""))


def gain_distance_correlation(claim: Claim, table: dict, paper: Paper, given: dict):
    from xlr.results.distance import MIN_LANGUAGES, gain_correlations

    feature = claim.options.get("feature", "syntax_knn")
    source = claim.options.get("source_language", "en")
    kind = claim.options.get("correlation", "spearman")
    if kind not in ("spearman", "pearson"):
        raise XlrError(f"claim {claim.id}: correlation must be spearman or pearson, not '{kind}'")
    setting = claim.options.get("setting", "standard")
    means = {k: _mean(v) for k, v in table.items()}
    dists, _, corrs = gain_correlations(means, paper.baseline, source, (feature,), paper.robust_methods, setting)
    corrs = [c for c in corrs if c.n >= MIN_LANGUAGES]
    if not corrs:
        return (f"needs {paper.baseline} and one of {_methods_text(paper)} on at least {MIN_LANGUAGES} "
                f"languages besides {source}")
    symbol = "rho" if kind == "spearman" else "r"
    dist = dists.values[feature]
    tests = [_correlation_test(c, kind, symbol, _seed_correlations(table, paper.baseline, c, dist, kind, setting))
             for c in corrs]
    return tests, (f"{kind.capitalize()} correlation of the gain with lang2vec {feature} distance from {source} "
                   f"over {corrs[0].n} languages: {{tests}}")


def _seed_correlations(table: dict, baseline: str, mean, dist: dict, kind: str, setting: str) -> list[float]:
    """The correlation of one method's gains with distance on each seed the method and the baseline share on
    every one of `mean`'s languages (a seed whose gains are constant has none)."""
    from xlr.results.distance import correlate

    gains = {lang: paired_gains(table, mean.method, baseline, setting, lang) for lang in mean.languages}
    seeds = sorted(set.intersection(*(set(g) for g in gains.values())), key=str)
    found = [getattr(correlate(mean.method, mean.feature, {lang: g[s] for lang, g in gains.items()}, dist), kind)
             for s in seeds]
    return [r for r in found if not math.isnan(r)]


def _correlation_test(mean, kind: str, symbol: str, per_seed: list[float]) -> Test:
    """A correlation of gain with distance, counting the variance between training runs: the correlation of the
    mean gains has a p-value over the languages, the seeds' own correlations a t-interval over seeds; the larger
    p decides (seeds that all give one value add no doubt). Fewer than 2 seeds: no interval."""
    r, p = getattr(mean, kind), getattr(mean, f"{kind}_p")
    if math.isnan(r):
        return Test(mean.method, None, f"{mean.method} {symbol} undefined (constant gains)")
    head = f"{mean.method} {symbol}={r:+.2f} (p={p:.3f})"
    if len(per_seed) < 2:
        return Test(mean.method, None, f"{head}; {len(per_seed)} seed{'' if len(per_seed) == 1 else 's'} with a "
                                       f"{symbol}: the variance between seeds is not counted")
    seeds = inference.t_interval(per_seed)
    values = " ".join(f"{x:+.2f}" for x in per_seed)
    languages = f"{kind.capitalize()}'s p over {mean.n} languages"
    if seeds is None:  # every seed the same value
        interval = Interval(r, r, r, p, f"{languages} (every seed's {symbol} the same)")
        return Test(mean.method, interval, f"{head}; per seed {values}")
    low, high = max(-1.0, seeds.low), min(1.0, seeds.high)
    interval = Interval(seeds.estimate, low, high, max(p, seeds.p),
                        f"t over {len(per_seed)} seeds' {symbol} and {languages} (the larger p)")
    return Test(mean.method, interval, f"{head}; per seed {values}, mean {seeds.estimate:+.2f} "
                                       f"[{low:+.2f}, {high:+.2f}] (p={seeds.p:.3f})")


def generalized_gain_larger(claim: Claim, table: dict, paper: Paper, given: dict):
    std_lang = claim.options.get("standard_language", "avg")
    gen_lang = claim.options.get("generalized_language", "avg-mixed")
    if not any(s == "generalized" for (_, s, _) in table):
        return "no generalized results (run the experiment with generalized = true)"
    present = [m for m in paper.robust_methods
               if (m, "standard", std_lang) in table and (m, "generalized", gen_lang) in table]
    if (paper.baseline, "standard", std_lang) not in table or (paper.baseline, "generalized", gen_lang) not in table \
            or not present:
        return (f"needs {paper.baseline} and one of {_methods_text(paper)} in both settings "
                f"(standard {std_lang}, generalized {gen_lang})")
    tests = []
    for m in present:
        std = paired_gains(table, m, paper.baseline, "standard", std_lang)
        gen = paired_gains(table, m, paper.baseline, "generalized", gen_lang)
        seeds = sorted(set(std) & set(gen), key=str)
        if not seeds:
            tests.append(Test(m, None, f"{m} shares no seed with {paper.baseline} in both settings"))
            continue
        interval = inference.t_interval([gen[s] - std[s] for s in seeds])
        # the gains on the seeds both settings pair, as the interval has them (a baseline's extra seed is not one)
        g_std, g_gen = seed_mean(std[s] for s in seeds), seed_mean(gen[s] for s in seeds)
        tests.append(Test(m, interval, f"{m} {g_gen:+.1f} generalized vs {g_std:+.1f} standard"
                          + (f" (difference {interval.text(1)})" if interval else " (no interval)")))
    return tests, f"gain over {paper.baseline} ({gen_lang} vs {std_lang}): {{tests}}"


CHECKS = {
    "beats-baseline": beats_baseline,
    "gain-distance-correlation": gain_distance_correlation,
    "generalized-gain-larger": generalized_gain_larger,
}


def check(paper: Paper, groups: dict[tuple, dict], any_model: bool = False,
          intervals: dict[tuple, dict] | None = None) -> list[Verdict]:
    """Every claim on every group of results whose model the paper reports (with `any_model`, on every group:
    the claims are qualitative, so they can be asked of another encoder too). `groups`: {group: {(method, setting,
    language): {seed: accuracy}}}; `intervals`: {group: {(method, setting, language): Interval}}, gains over the
    baseline computed elsewhere (a published set's seed-level intervals) that replace the t-interval."""
    for claim in paper.claims:
        if claim.check not in CHECKS:
            raise XlrError(f"claim {claim.id}: unknown check '{claim.check}'; known: {', '.join(CHECKS)}")
    names = {model_name(m) for m in paper.models}
    eligible = {g: t for g, t in groups.items() if any_model or model_name(g[2]) in names}
    if not eligible:
        why = f"no results for the paper's models ({', '.join(sorted(paper.models))})"
        return [Verdict(c, None, CANNOT, why) for c in paper.claims]
    found = []
    for claim in paper.claims:
        for g, table in eligible.items():
            out = CHECKS[claim.check](claim, table, paper, (intervals or {}).get(g, {}))
            found.append((claim, g, out))
    tests = [t for _, _, out in found if not isinstance(out, str) for t in out[0]]
    for t, (verdict, p) in zip(tests, inference.verdicts([t.interval for t in tests], claim_alpha(paper))):
        t.verdict, t.p_holm = verdict, p
    family = sum(t.interval is not None for t in tests)
    verdicts = []
    for claim, g, out in found:
        if isinstance(out, str):
            verdicts.append(Verdict(claim, g, CANNOT, out))
            continue
        claim_tests, template = out
        statuses = {t.verdict for t in claim_tests}
        status = FAILS if FAILS in statuses else HOLDS if statuses == {HOLDS} else INCONCLUSIVE
        detail = template.format(tests="; ".join(f"{t.text} {t.verdict}" for t in claim_tests))
        how = sorted({t.interval.how for t in claim_tests if t.interval is not None})
        decided = (f"{', '.join(how)}; Holm across {family} comparison{'s' if family != 1 else ''}" if how
                   else "no interval: one seed")
        verdicts.append(Verdict(claim, g, status, detail, decided, claim_tests))
    return verdicts


def claim_alpha(paper: Paper) -> float:
    """The level of every claim's comparisons: claims.toml's `alpha` where a claim sets one (the smallest),
    else 0.05."""
    given = [c.options["alpha"] for c in paper.claims if c.options.get("alpha") is not None]
    return min(given) if given else inference.ALPHA
