"""`xlr compare --between A B`: find the runs of two methods paired by seed, in experiment folders and in
published sets, and show their differences with the statistics of xlr.results.bootstrap."""
from __future__ import annotations

from pathlib import Path

from xlr.errors import XlrError
from xlr.results import inference, published
from xlr.results.bootstrap import (ITEM_ONLY, Diff, Outcomes, check_resampling, compare, experiment_dirs,
                                   parallel_task, report_verdicts, run_outcomes, seed_runs)
from xlr.store import SETTINGS, read_provenance


def between(paths: list[Path] | None, method_a: str, method_b: str, setting: str = "standard",
            resamples: int = 1000, seed: int = 0) -> list[tuple[str, list[str], list[Diff]]]:
    """[(experiment, paired seeds, diffs)] for every experiment folder that has both methods."""
    if method_a == method_b:
        raise XlrError(f"--between needs two different methods, not {method_a} twice")
    if setting not in SETTINGS:
        raise XlrError(f"--setting {setting}: use {' or '.join(SETTINGS)}")
    check_resampling(resamples, seed)
    out, seen = [], []
    sets = [Path(p) for p in paths or [] if published.looks_published(Path(p))]  # not a store's results.json
    stores = [p for p in paths or [] if Path(p) not in sets]
    for folder in sets:  # a published set: its stored outcomes of the runs its table holds
        runs_a, runs_b, parallel = _published_seeds(folder, method_a, method_b, setting)
        seen.append(_seen(folder.name, method_a, runs_a, method_b, runs_b))
        found = compare(runs_a, runs_b, setting, resamples, seed, where=f"{folder}: {method_b} - {method_a}",
                        parallel=parallel)
        if found:
            out.append((f"{folder.name} (published)", *found))
    for exp in experiment_dirs(stores) if stores or not sets else []:
        runs_a, runs_b = seed_runs(exp, method_a), seed_runs(exp, method_b)
        seen.append(_seen(exp.name, method_a, runs_a, method_b, runs_b))
        paired = set(runs_a) & set(runs_b)
        found = compare({s: run_outcomes(r, (setting,)) for s, r in runs_a.items() if s in paired},
                        {s: run_outcomes(r, (setting,)) for s, r in runs_b.items() if s in paired},
                        setting, resamples, seed, where=f"{exp}: {method_b} - {method_a}",
                        parallel=parallel_task(read_provenance(exp)))
        if found:
            out.append((exp.name, *found))
    if not out:
        raise XlrError(f"no finished runs of both {method_a} and {method_b} with a common seed ("
                       + ("; ".join(seen) or "no experiment folders found") + ")")
    return out


def _seen(name: str, method_a: str, runs_a: dict, method_b: str, runs_b: dict) -> str:
    """What one folder holds of the two methods, for the error when no folder pairs them."""
    return f"{name}: {method_a} {','.join(sorted(runs_a)) or 'none'}, {method_b} {','.join(sorted(runs_b)) or 'none'}"


def _published_seeds(folder: Path, method_a: str, method_b: str, setting: str) -> tuple[dict, dict, bool]:
    """({"seedN": Outcomes} of A, of B, whether the task's sets are aligned) from a published set: the runs its
    results table holds, restricted to SETTING."""
    pub = published.load(folder, as_set=False)
    runs = ({}, {})
    for (method, run_seed), found in published.held_outcomes(pub.rows, published.read_outcomes(folder)).items():
        if method in (method_a, method_b):
            runs[method == method_b][f"seed{run_seed}"] = Outcomes({k: v for k, v in found.sets.items()
                                                                    if k[0] == setting})
    return runs[0], runs[1], parallel_task(pub.provenance)


def show(results, method_a: str, method_b: str, resamples: int, fmt: str = "rich") -> str | None:
    from xlr.results.report import join, note, render_rows

    parts = []
    decided = report_verdicts([d for _, _, diffs in results for d in diffs])
    for experiment, seeds, diffs in results:
        rows = []
        for d in diffs:
            verdict, p = decided.get(id(d), ("", None))
            rows.append([d.language, "–" if d.items is None else str(d.items), f"{d.acc_a:.1f}", f"{d.acc_b:.1f}",
                         f"{d.diff:+.2f}", " ".join(f"{x:+.1f}" for x in d.per_seed),
                         "–" if d.t is None else f"[{d.t.low:+.2f}, {d.t.high:+.2f}]",
                         "–" if d.two_level is None else f"[{d.two_level.low:+.2f}, {d.two_level.high:+.2f}]",
                         verdict or "", "" if p is None else f"{p:.3f}",
                         f"[{d.item_interval.low:+.2f}, {d.item_interval.high:+.2f}]",
                         d.draw or ""])
        parts.append(render_rows(
            f"{experiment}: {method_b} - {method_a} (seeds {', '.join(s.removeprefix('seed') for s in seeds)}; "
            f"{resamples} resamples)",
            ["language", "items", method_a, method_b, "diff", "per seed", "t over seeds", "seeds+items",
             "verdict", "p (Holm)", "items only", "item draw"], rows, fmt))
    n = min((d.seeds for _, _, diffs in results for d in diffs), default=0)
    warning = inference.few_seeds_warning(n)
    parts.append(note(
        "diff: the mean of the per-seed differences (B - A). t over seeds: the 95% t-interval of the per-seed "
        f"differences (n - 1 degrees of freedom). seeds+items: the two-level bootstrap (seeds, then test items), "
        f"from {inference.MIN_SEEDS_TWO_LEVEL} seeds on; the verdict takes the one with the larger p-value. "
        "verdict (on the average over every test set): holds above 0, fails below, else inconclusive, at p < 0.05 "
        "after Holm's correction across the comparisons shown. items only: "
        f"{ITEM_ONLY} (a paired bootstrap over test items with the trained runs held fixed; it does not cover "
        "another seed). item draw: joint = one draw of item indices for every aligned test set (translations of "
        "the same items), independent = each set drawn on its own." + (f" Warning: {warning}." if warning else ""),
        fmt))
    return join(parts)
