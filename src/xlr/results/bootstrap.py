"""`xlr compare --between A B`: a paired bootstrap over test items of two of our methods.

Runs are paired by seed within one experiment (same test sets, checked through the gold labels). For each
language, item i's difference is correct_B(i) - correct_A(i), averaged over the paired seeds; the items
are resampled with replacement (numpy, vectorized, a fixed seed) and the mean difference is recomputed
per resample. Languages are resampled independently; the average's resample is the mean of the
per-language resamples. The interval is the 2.5th-97.5th percentile of the resampled differences.

The bootstrap holds the trained models fixed: its interval says how sure we are that these runs of B beat
these runs of A on this test population, not that another seed would. So each row also gives the
difference seed by seed (`per_seed`), where the training-run variance shows."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xlr.errors import XlrError
from xlr.store import DEFAULT_ROOT, RunDir, RunStore

CHUNK = 200  # resamples per vectorized step (bounds memory: CHUNK x items indices)


@dataclass
class Diff:
    language: str
    items: int | None
    seeds: int
    acc_a: float
    acc_b: float
    low: float
    high: float
    per_seed: tuple[float, ...] = ()  # B - A for each paired seed, in the order of the seeds

    @property
    def diff(self) -> float:
        return self.acc_b - self.acc_a

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def experiment_dirs(paths: list[Path] | None, root: Path = DEFAULT_ROOT) -> list[Path]:
    """Experiment folders (<exp>/<method>/seed<N>/) named by PATHS: an experiment folder, its results.csv,
    one of its run folders, or a runs root; default every folder under ROOT."""
    if not paths:
        return RunStore.experiments_in(root)
    out = []
    for p in map(Path, paths):
        if not p.exists():
            raise XlrError(f"{p} does not exist")
        if p.is_file():
            out.append(p.parent)
        elif RunDir(p).metrics_path.is_file() or RunDir(p).config_path.is_file():
            out.append(RunStore.experiment_of(RunDir(p)))
        elif RunStore.is_experiment_dir(p):
            out.append(p)
        else:
            out.extend(RunStore.experiments_in(p))
    return list(dict.fromkeys(out))


def _seeds(experiment_dir: Path, method: str) -> dict[str, RunDir]:
    return {r.path.name: r for r in RunStore.finished_in(experiment_dir) if RunStore.method_of(r) == method}


def _languages(run: RunDir, setting: str) -> list[str]:
    """Languages with stored predictions, in the order of the run's metrics (the experiment's order)."""
    files = {p.stem for p in (run.predictions_dir / setting).glob("*.npz")}
    order = list(run.read_metrics().get("test", {}).get(setting, {})) if run.metrics_path.is_file() else []
    return [lang for lang in order if lang in files] + sorted(files - set(order))


def correct_matrix(runs: list[RunDir], setting: str, language: str) -> tuple[np.ndarray, np.ndarray]:
    """(correct, gold): a seeds x items boolean matrix of one method's runs, and the shared gold labels."""
    rows, gold = [], None
    for run in runs:
        pred, g = run.load_predictions(setting, language)
        if len(pred) != len(g):
            raise XlrError(f"{run.prediction_path(setting, language)}: {len(pred)} predictions for {len(g)} labels")
        if gold is None:
            gold = g
        elif len(g) != len(gold) or not np.array_equal(g, gold):
            raise XlrError(f"{language}: gold labels differ between runs ({run.path}); not the same test set")
        rows.append(pred == g)
    return np.stack(rows), gold


def resample_means(d: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Mean of D over `resamples` bootstrap resamples of its items (with replacement)."""
    out = np.empty(resamples)
    for start in range(0, resamples, CHUNK):
        n = min(CHUNK, resamples - start)
        out[start:start + n] = d[rng.integers(0, len(d), size=(n, len(d)))].mean(axis=1)
    return out


def paired_bootstrap(correct_a: dict[str, np.ndarray], correct_b: dict[str, np.ndarray], resamples: int = 1000,
                     seed: int = 0) -> list[Diff]:
    """Per language (seeds x items boolean matrices, paired row by row) and on the average, in percent."""
    if resamples < 1:
        raise XlrError(f"--resamples must be at least 1, not {resamples}")
    rng = np.random.default_rng(seed)
    out, boots, seed_diffs = [], [], []
    for lang in correct_a:
        a, b = correct_a[lang].astype(float), correct_b[lang].astype(float)
        d = (b - a).mean(axis=0) * 100  # per item, averaged over the paired seeds
        boot = resample_means(d, resamples, rng)
        boots.append(boot)
        low, high = np.percentile(boot, [2.5, 97.5])
        seed_diffs.append((b.mean(axis=1) - a.mean(axis=1)) * 100)
        out.append(Diff(lang, a.shape[1], a.shape[0], a.mean() * 100, b.mean() * 100, float(low), float(high),
                        tuple(float(x) for x in seed_diffs[-1])))
    if len(out) > 1:
        avg = np.mean(boots, axis=0)
        low, high = np.percentile(avg, [2.5, 97.5])
        out.append(Diff("avg", None, out[0].seeds, float(np.mean([x.acc_a for x in out])),
                        float(np.mean([x.acc_b for x in out])), float(low), float(high),
                        tuple(float(x) for x in np.mean(seed_diffs, axis=0))))
    return out


def between(paths: list[Path] | None, method_a: str, method_b: str, setting: str = "standard",
            resamples: int = 1000, seed: int = 0, only=None) -> list[tuple[str, list[str], list[Diff]]]:
    """[(experiment, paired seeds, diffs)] for every experiment folder that has both methods; `only(language)`
    keeps some languages (or pairs) only, e.g. the mixed pairs of the generalized setting."""
    if method_a == method_b:
        raise XlrError(f"--between needs two different methods, not {method_a} twice")
    out, seen = [], []
    for exp in experiment_dirs(paths):
        runs_a, runs_b = _seeds(exp, method_a), _seeds(exp, method_b)
        seen.append(f"{exp.name}: {method_a} {','.join(sorted(runs_a)) or 'none'}, "
                    f"{method_b} {','.join(sorted(runs_b)) or 'none'}")
        paired = sorted(set(runs_a) & set(runs_b))
        if not paired:
            continue
        langs = [lang for lang in _languages(runs_a[paired[0]], setting)
                 if all(lang in _languages(r, setting) for s in paired for r in (runs_a[s], runs_b[s]))
                 and (only is None or only(lang))]
        if not langs:
            raise XlrError(f"{exp}: no {setting} predictions shared by {method_a} and {method_b} "
                           f"(run `xlr evaluate` on the runs to write them)")
        ca, cb = {}, {}
        for lang in langs:
            ca[lang], gold = correct_matrix([runs_a[s] for s in paired], setting, lang)
            cb[lang], gold_b = correct_matrix([runs_b[s] for s in paired], setting, lang)
            if not np.array_equal(gold, gold_b):
                raise XlrError(f"{exp.name} {lang}: {method_a} and {method_b} were tested on different items")
        out.append((exp.name, paired, paired_bootstrap(ca, cb, resamples, seed)))
    if not out:
        raise XlrError(f"no finished runs of both {method_a} and {method_b} with a common seed ("
                       + ("; ".join(seen) or "no experiment folders found") + ")")
    return out


def show(results, method_a: str, method_b: str, resamples: int, fmt: str = "rich") -> str | None:
    from xlr.results.report import join, note, render_rows

    parts = []
    for experiment, seeds, diffs in results:
        rows = [[d.language, "–" if d.items is None else str(d.items), f"{d.acc_a:.1f}", f"{d.acc_b:.1f}",
                 f"{d.diff:+.2f}", f"[{d.low:+.2f}, {d.high:+.2f}]", "yes" if d.excludes_zero else "no",
                 " ".join(f"{x:+.1f}" for x in d.per_seed)]
                for d in diffs]
        parts.append(render_rows(
            f"{experiment}: {method_b} - {method_a}, paired bootstrap over test items "
            f"({resamples} resamples; seeds {', '.join(s.removeprefix('seed') for s in seeds)})",
            ["language", "items", method_a, method_b, "diff", "95% interval", "excludes 0", "per seed"], rows, fmt))
    parts.append(note("avg: each language resampled independently, the mean of the per-language differences. "
                      "The interval resamples test items with the trained runs held fixed, so it does not cover "
                      "seed-to-seed variance: read it with the per-seed differences (B - A, one per paired seed).",
                      fmt))
    return join(parts)
