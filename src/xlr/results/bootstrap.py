"""The statistics of `xlr compare --between A B` (xlr.results.between finds the runs): is method B better than
A, counting the variance between training runs.

Runs are paired by seed within one experiment (same test sets, checked through the gold labels). Per test set
(a language, or a generalized pair) and on the averages, a row gives:

- the difference seed by seed (B - A on that seed's runs) and their mean;
- the seed-level interval (xlr.results.inference): a t-interval over the paired seeds, and from 5 seeds on a
  two-level bootstrap (seeds, then test items within them); the one with the larger p-value decides;
- the item-only interval: a paired bootstrap over test items with the trained runs held fixed ("test-set
  uncertainty for these checkpoints"), which does not cover another seed.

The test sets of a parallel task (PAWS-X, XNLI: translations of the same items, row by row) are one sample of
items, not many: every resample draws item indices once and applies them to every language and generalized
pair ("joint" draw). Sets of other tasks, or of different sizes, are drawn independently, and the output says
which draw it used. Averages carry a verdict (holds, fails, inconclusive), Holm-corrected across the averages
one report shows."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xlr.errors import XlrError
from xlr.results import inference
from xlr.results.inference import Interval
from xlr.sources import MIXED_AVERAGE, is_mixed_pair
from xlr.store import DEFAULT_ROOT, RunDir, RunStore

JOINT, INDEPENDENT = "joint", "independent"
ITEM_ONLY = "test-set uncertainty for these checkpoints"


@dataclass
class Diff:
    """B - A on one test set or an average: per seed, with the seed-level and the item-only intervals."""
    language: str
    items: int | None
    seeds: int
    acc_a: float
    acc_b: float
    per_seed: tuple[float, ...]       # B - A for each paired seed, in the order of the seeds
    item_interval: Interval           # paired bootstrap over test items, the trained runs held fixed
    t: Interval | None = None         # t over the per-seed differences (2 seeds or more)
    two_level: Interval | None = None  # seeds, then items (MIN_SEEDS_TWO_LEVEL seeds or more)
    draw: str = ""                    # how an average's items were drawn: joint or independent

    @property
    def diff(self) -> float:
        return self.acc_b - self.acc_a

    @property
    def seed_level(self) -> Interval | None:
        """The interval that decides: the t-interval, or from 5 seeds the one of it and the two-level bootstrap
        with the larger p-value (xlr.results.inference)."""
        found = [i for i in (self.t, self.two_level) if i is not None]
        return max(found, key=lambda i: i.p) if found else None

    @property
    def is_average(self) -> bool:
        return self.language.startswith("avg")


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


def seed_runs(experiment_dir: Path, method: str) -> dict[str, RunDir]:
    return {r.path.name: r for r in RunStore.finished_in(experiment_dir) if RunStore.method_of(r) == method}


def _languages(run: RunDir, setting: str) -> list[str]:
    """The test sets the run's metrics hold (the results table's), in their order, that have stored predictions;
    every stored one when the run has no metrics. A prediction file of a set its metrics do not list (left from
    another configuration) is not counted."""
    files = {p.stem for p in (run.predictions_dir / setting).glob("*.npz")}
    if not run.metrics_path.is_file():
        return sorted(files)
    order = [k for k in run.read_metrics().get("test", {}).get(setting, {}) if not k.startswith("avg")]
    return [lang for lang in order if lang in files]


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


def _seed_number(name: str) -> int:
    return int(str(name).removeprefix("seed"))


def compare(runs_a: dict, runs_b: dict, setting: str, resamples: int, seed: int,
            where: str = "", parallel: bool = False) -> tuple[list, list[Diff]] | None:
    """(paired seeds, diffs) of B against A, runs ({seed: Outcomes}) paired by seed; None when no seed is shared.
    Every paired run must hold every test set of the setting, so that the average is over the same sets as the
    results table's. `parallel`: the task's test sets are translations of the same items (drawn jointly when
    their sizes agree)."""
    paired = sorted(set(runs_a) & set(runs_b), key=_seed_number)
    if not paired:
        return None
    runs = [r for s in paired for r in (runs_a[s], runs_b[s])]
    langs = list(dict.fromkeys(lang for r in runs for lang in r.languages(setting)))
    if not langs:
        raise XlrError(f"{where}: no {setting} predictions shared by the two methods "
                       "(run `xlr evaluate` on the runs to write them)")
    missing = sorted({lang for r in runs for lang in langs if lang not in r.languages(setting)})
    if missing:
        raise XlrError(f"{where}: some runs have no {setting} predictions for {', '.join(missing[:5])}; run `xlr "
                       "evaluate` on them so that every run holds the same test sets")
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
    averages = {"avg": None, MIXED_AVERAGE: is_mixed_pair} if setting == "generalized" else None
    return paired, paired_bootstrap(ca, cb, resamples, seed, parallel, averages)


def check_resampling(resamples: int, seed: int) -> None:
    """--resamples and --bootstrap-seed, before any work."""
    if resamples < 1:
        raise XlrError(f"--resamples must be at least 1, not {resamples}")
    if seed < 0:
        raise XlrError(f"--bootstrap-seed must be >= 0, not {seed}")


def item_draw(correct: dict[str, np.ndarray], parallel: bool) -> str:
    """joint when the sets are translations of the same items (a parallel task) of one size, else independent."""
    sizes = {m.shape[1] for m in correct.values()}
    return JOINT if parallel and len(sizes) == 1 else INDEPENDENT


# Every row's resampling starts from the same random streams: the item draws (and, for the two-level bootstrap, the
# seed draws) are then the same for every test set of one size, so an aligned average is resampled with one draw of
# items for all its sets, and a set's row and an average of copies of it give the same interval.
def _items_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, 0])


def _two_level_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1])


def _intervals(d: np.ndarray, estimate: float, resamples: int, seed: int, what: str):
    """(item-only, t, two-level) intervals of a seeds x items difference matrix D (in points)."""
    items = inference.percentile_interval(estimate, inference.item_resamples(d.mean(axis=0), resamples,
                                                                             _items_rng(seed)), ITEM_ONLY)
    per_seed = d.mean(axis=1)
    two = None
    if d.shape[0] >= inference.MIN_SEEDS_TWO_LEVEL:
        two = inference.percentile_interval(estimate, inference.two_level_resamples(d, resamples, _two_level_rng(seed)),
                                            f"two-level bootstrap over {d.shape[0]} seeds and {what}")
    return items, inference.t_interval(per_seed), two


def _independent_intervals(ds: list[np.ndarray], estimate: float, resamples: int, seed: int):
    """(item-only, t, two-level) of the mean over sets whose items are drawn independently, set by set."""
    boot = np.mean([inference.item_resamples(d.mean(axis=0), resamples, np.random.default_rng([seed, 2, i]))
                    for i, d in enumerate(ds)], axis=0)
    per_seed = np.mean([d.mean(axis=1) for d in ds], axis=0)
    two = None
    if len(per_seed) >= inference.MIN_SEEDS_TWO_LEVEL:
        two = inference.percentile_interval(estimate, _two_level_independent(ds, resamples, seed),
                                            f"two-level bootstrap over {len(per_seed)} seeds and items drawn per set")
    return inference.percentile_interval(estimate, boot, ITEM_ONLY), inference.t_interval(per_seed), two


def paired_bootstrap(correct_a: dict[str, np.ndarray], correct_b: dict[str, np.ndarray], resamples: int = 1000,
                     seed: int = 0, parallel: bool = False, averages: dict | None = None) -> list[Diff]:
    """Per test set (seeds x items boolean matrices, paired row by row) and on each average, in points.
    `averages`: {name: which sets it takes (a predicate on the set's name), None for all}; default {"avg": all}
    when there are several sets. `parallel`: the sets are translations of the same items."""
    check_resampling(resamples, seed)
    diffs = {lang: (correct_b[lang].astype(float) - correct_a[lang].astype(float)) * 100 for lang in correct_a}
    out = []
    for lang, d in diffs.items():
        a, b = correct_a[lang], correct_b[lang]
        out.append(Diff(lang, a.shape[1], a.shape[0], a.mean() * 100, b.mean() * 100,
                        tuple(float(x) for x in d.mean(axis=1)), *_intervals(d, float(d.mean()), resamples, seed, "items")))
    if averages is None:
        averages = {"avg": None} if len(diffs) > 1 else {}
    for name, which in averages.items():
        langs = [lang for lang in diffs if which is None or which(lang)]
        if not langs:
            continue
        draw = item_draw({lang: correct_a[lang] for lang in langs}, parallel)
        per_seed = np.mean([diffs[lang].mean(axis=1) for lang in langs], axis=0)
        estimate = float(per_seed.mean())
        if draw == JOINT:  # one draw of items for every set: the sets' average is one set of items
            found = _intervals(np.mean([diffs[lang] for lang in langs], axis=0), estimate, resamples, seed,
                               f"items drawn once for {len(langs)} sets")
        else:
            found = _independent_intervals([diffs[lang] for lang in langs], estimate, resamples, seed)
        chosen = [o for o in out if o.language in langs]
        out.append(Diff(name, None, len(per_seed), float(np.mean([x.acc_a for x in chosen])),
                        float(np.mean([x.acc_b for x in chosen])), tuple(float(x) for x in per_seed), *found, draw))
    return out


def _two_level_independent(ds: list[np.ndarray], resamples: int, seed: int) -> np.ndarray:
    """Two-level resamples of the mean over sets whose items are drawn independently: one draw of seeds for all
    sets (the same runs), then each set's own draw of items."""
    rng = np.random.default_rng([seed, 3])
    seeds = ds[0].shape[0]
    out = np.empty(resamples)
    for start in range(0, resamples, inference.CHUNK):
        n = min(inference.CHUNK, resamples - start)
        seed_counts = rng.multinomial(seeds, np.full(seeds, 1 / seeds), size=n)
        total = np.zeros(n)
        for d in ds:
            items = d.shape[1]
            item_counts = rng.multinomial(items, np.full(items, 1 / items), size=n)
            total += np.einsum("rs,si,ri->r", seed_counts, d, item_counts) / (seeds * items)
        out[start:start + n] = total / len(ds)
    return out


def parallel_task(provenance: dict | None) -> bool:
    """Whether an experiment folder's (or published set's) task has parallel test sets: its stored task
    definition says so, or, for runs stored before definitions said it, the built-in task of that name."""
    from xlr.tasks import TASKS

    if not provenance:
        return False
    if "parallel_test_sets" in provenance:
        return bool(provenance["parallel_test_sets"])
    task = TASKS.get(provenance.get("task") or "")
    return bool(task and task.parallel)


def report_verdicts(diffs: list[Diff]) -> dict[int, tuple[str, float | None]]:
    """{id(diff): (verdict, Holm-adjusted p)} for the average over every test set ("avg") of each comparison of
    one report (methods x settings), Holm-corrected across them. The mixed pairs' average is part of the
    generalized one and is shown for reading, without a verdict of its own."""
    averages = [d for d in diffs if d.language == "avg"]
    return {id(d): v for d, v in zip(averages, inference.verdicts([d.seed_level for d in averages]))}
