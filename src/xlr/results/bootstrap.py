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

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xlr.errors import XlrError
from xlr.store import DEFAULT_ROOT, SETTINGS, RunDir, RunStore

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


def gold_fingerprint(gold: np.ndarray) -> str:
    """Which test set: a hash of its gold labels (that says nothing about the labels themselves)."""
    return hashlib.sha256(np.asarray(gold, dtype=np.int64).tobytes()).hexdigest()[:16]


@dataclass
class Outcomes:
    """One run's per-item right or wrong on each test set, keyed (setting, language) in the experiment's
    order, with each set's gold fingerprint: all a paired bootstrap needs."""
    sets: dict[tuple[str, str], tuple[np.ndarray, str]]

    def languages(self, setting: str) -> list[str]:
        return [lang for (s, lang) in self.sets if s == setting]

    def same_as(self, other: "Outcomes") -> bool:
        return self.sets.keys() == other.sets.keys() and all(
            self.sets[k][1] == other.sets[k][1] and np.array_equal(self.sets[k][0], other.sets[k][0]) for k in self.sets)


def run_outcomes(run: RunDir, settings: tuple[str, ...] = ("standard", "generalized")) -> Outcomes:
    """A finished run's outcomes in `settings`, from its stored predictions."""
    sets = {}
    for setting in settings:
        for lang in _languages(run, setting):
            pred, gold = run.load_predictions(setting, lang)
            if len(pred) != len(gold):
                raise XlrError(f"{run.prediction_path(setting, lang)}: {len(pred)} predictions for {len(gold)} labels")
            sets[(setting, lang)] = (pred == gold, gold_fingerprint(gold))
    return Outcomes(sets)


def compare(runs_a: dict, runs_b: dict, setting: str, resamples: int, seed: int, only=None,
            where: str = "") -> tuple[list, list[Diff]] | None:
    """(paired seeds, diffs) of B against A, runs ({seed: Outcomes}) paired by seed; None when no seed is shared."""
    paired = sorted(set(runs_a) & set(runs_b))
    if not paired:
        return None
    langs = [lang for lang in runs_a[paired[0]].languages(setting)
             if all(lang in r.languages(setting) for s in paired for r in (runs_a[s], runs_b[s]))
             and (only is None or only(lang))]
    if not langs:
        raise XlrError(f"{where}: no {setting} predictions shared by the two methods "
                       "(run `xlr evaluate` on the runs to write them)")
    ca, cb = {}, {}
    for lang in langs:
        matrices = []
        for runs in (runs_a, runs_b):
            found = [runs[s].sets[(setting, lang)] for s in paired]
            if len({fp for _, fp in found}) > 1:
                raise XlrError(f"{where} {lang}: gold labels differ between runs of one method; not the same test set")
            matrices.append((np.stack([c for c, _ in found]), found[0][1]))
        if matrices[0][1] != matrices[1][1]:
            raise XlrError(f"{where} {lang}: the two methods were tested on different items")
        ca[lang], cb[lang] = matrices[0][0], matrices[1][0]
    return paired, paired_bootstrap(ca, cb, resamples, seed)


def resample_means(d: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Mean of D over `resamples` bootstrap resamples of its items (with replacement)."""
    out = np.empty(resamples)
    for start in range(0, resamples, CHUNK):
        n = min(CHUNK, resamples - start)
        out[start:start + n] = d[rng.integers(0, len(d), size=(n, len(d)))].mean(axis=1)
    return out


def check_resampling(resamples: int, seed: int) -> None:
    """--resamples and --bootstrap-seed, before any work."""
    if resamples < 1:
        raise XlrError(f"--resamples must be at least 1, not {resamples}")
    if seed < 0:
        raise XlrError(f"--bootstrap-seed must be >= 0, not {seed}")


def paired_bootstrap(correct_a: dict[str, np.ndarray], correct_b: dict[str, np.ndarray], resamples: int = 1000,
                     seed: int = 0) -> list[Diff]:
    """Per language (seeds x items boolean matrices, paired row by row) and on the average, in percent."""
    check_resampling(resamples, seed)
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
    if setting not in SETTINGS:
        raise XlrError(f"--setting {setting}: use {' or '.join(SETTINGS)}")
    check_resampling(resamples, seed)
    out, seen = [], []
    for exp in experiment_dirs(paths):
        runs_a, runs_b = _seeds(exp, method_a), _seeds(exp, method_b)
        seen.append(f"{exp.name}: {method_a} {','.join(sorted(runs_a)) or 'none'}, "
                    f"{method_b} {','.join(sorted(runs_b)) or 'none'}")
        paired = set(runs_a) & set(runs_b)
        found = compare({s: run_outcomes(r, (setting,)) for s, r in runs_a.items() if s in paired},
                        {s: run_outcomes(r, (setting,)) for s, r in runs_b.items() if s in paired},
                        setting, resamples, seed, only, where=f"{exp}: {method_b} - {method_a}")
        if found:
            out.append((exp.name, *found))
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
