"""The paper's qualitative claims (paper_results/claims.toml), checked on a group of results.

Each check takes one group's means {(method, setting, language): accuracy} and returns a verdict:
holds, fails, or cannot check (saying what is missing). Nothing here knows a paper number."""
from __future__ import annotations

import math
from dataclasses import dataclass

from xlr.errors import XlrError
from xlr.results.paper import Claim, Paper

HOLDS, FAILS, CANNOT = "holds", "fails", "cannot check"


@dataclass
class Verdict:
    claim: Claim
    group: tuple | None      # (experiment, task, model), None when no group could be checked
    status: str
    detail: str


def _methods_text(paper: Paper) -> str:
    return ", ".join(paper.robust_methods) or "a robust method"


def beats_baseline(claim: Claim, table: dict, paper: Paper) -> tuple[str, str]:
    setting, language = claim.options.get("setting", "standard"), claim.options.get("language", "avg")
    base = table.get((paper.baseline, setting, language))
    present = [m for m in paper.robust_methods if (m, setting, language) in table]
    if base is None or not present:
        return CANNOT, f"needs {paper.baseline} and one of {_methods_text(paper)} ({setting}, {language})"
    parts = [f"{m} {table[(m, setting, language)]:.1f} vs {base:.1f} ({table[(m, setting, language)] - base:+.1f})"
             for m in present]
    missing = [m for m in paper.robust_methods if m not in present]
    worse = [m for m in present if table[(m, setting, language)] <= base]
    detail = f"{setting} {language}: " + "; ".join(parts) + (f"; not run: {', '.join(missing)}" if missing else "")
    return (FAILS if worse else HOLDS), detail


def gain_distance_correlation(claim: Claim, table: dict, paper: Paper) -> tuple[str, str]:
    from xlr.results.distance import MIN_LANGUAGES, gain_correlations

    feature = claim.options.get("feature", "syntax_knn")
    source = claim.options.get("source_language", "en")
    kind = claim.options.get("correlation", "spearman")
    if kind not in ("spearman", "pearson"):
        raise XlrError(f"claim {claim.id}: correlation must be spearman or pearson, not '{kind}'")
    alpha = claim.options.get("alpha")
    _, gains, corrs = gain_correlations(table, paper.baseline, source, (feature,), paper.robust_methods,
                                        claim.options.get("setting", "standard"))
    corrs = [c for c in corrs if c.n >= MIN_LANGUAGES]
    if not corrs:
        return CANNOT, (f"needs {paper.baseline} and one of {_methods_text(paper)} on at least {MIN_LANGUAGES} "
                        f"languages besides {source}")
    symbol = "rho" if kind == "spearman" else "r"
    stats = [(c.method, getattr(c, kind), getattr(c, f"{kind}_p")) for c in corrs]
    failing = [m for m, r, p in stats if math.isnan(r) or r <= 0 or (alpha is not None and p >= alpha)]
    significant = sum(1 for _, r, p in stats if not math.isnan(p) and p < (alpha or 0.05))
    parts = [f"{m} {symbol}={r:+.2f} (p={p:.3f})" if not math.isnan(r) else f"{m} {symbol} undefined (constant gains)"
             for m, r, p in stats]
    detail = (f"{kind.capitalize()} correlation of gain with lang2vec {feature} distance from {source} over "
              f"{corrs[0].n} languages: " + "; ".join(parts)
              + (f"; p < {alpha} required" if alpha is not None else
                 f"; the sign decides, p < 0.05 for {significant} of {len(stats)}"))
    return (FAILS if failing else HOLDS), detail


def generalized_gain_larger(claim: Claim, table: dict, paper: Paper) -> tuple[str, str]:
    std_lang = claim.options.get("standard_language", "avg")
    gen_lang = claim.options.get("generalized_language", "avg-mixed")
    if not any(s == "generalized" for (_, s, _) in table):
        return CANNOT, "no generalized results (run the experiment with generalized = true)"
    b_std, b_gen = table.get((paper.baseline, "standard", std_lang)), table.get((paper.baseline, "generalized", gen_lang))
    present = [m for m in paper.robust_methods
               if (m, "standard", std_lang) in table and (m, "generalized", gen_lang) in table]
    if b_std is None or b_gen is None or not present:
        return CANNOT, (f"needs {paper.baseline} and one of {_methods_text(paper)} in both settings "
                        f"(standard {std_lang}, generalized {gen_lang})")
    parts, failing = [], []
    for m in present:
        g_std, g_gen = table[(m, "standard", std_lang)] - b_std, table[(m, "generalized", gen_lang)] - b_gen
        parts.append(f"{m} {g_gen:+.1f} generalized vs {g_std:+.1f} standard")
        if g_gen <= g_std:
            failing.append(m)
    return (FAILS if failing else HOLDS), f"gain over {paper.baseline} ({gen_lang} vs {std_lang}): " + "; ".join(parts)


CHECKS = {
    "beats-baseline": beats_baseline,
    "gain-distance-correlation": gain_distance_correlation,
    "generalized-gain-larger": generalized_gain_larger,
}


def check(paper: Paper, groups: dict[tuple, dict], any_model: bool = False) -> list[Verdict]:
    """Every claim on every group of results whose model the paper reports (with `any_model`, on every group:
    the claims are qualitative, so they can be asked of another encoder too)."""
    for claim in paper.claims:
        if claim.check not in CHECKS:
            raise XlrError(f"claim {claim.id}: unknown check '{claim.check}'; known: {', '.join(CHECKS)}")
    eligible = {g: t for g, t in groups.items() if any_model or g[2] in paper.models}
    if not eligible:
        why = f"no results for the paper's models ({', '.join(sorted(paper.models))})"
        return [Verdict(c, None, CANNOT, why) for c in paper.claims]
    return [Verdict(c, g, *CHECKS[c.check](c, t, paper)) for c in paper.claims for g, t in eligible.items()]
