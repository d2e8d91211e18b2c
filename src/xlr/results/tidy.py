"""Tidy result rows for the analysis verbs: where they come from (results CSVs, experiment folders, run
folders, a runs root) and their means over seeds."""
from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from xlr.errors import XlrError
from xlr.store import DEFAULT_ROOT, RESULTS, RunDir, RunStore, metrics_rows, read_provenance, read_results_csv

# columns a results CSV may carry besides the tidy ones (paper_results adds both)
EXTRA_COLUMNS = ("role", "source")
# one measurement = one cell; the mean over seeds is taken per cell
CELL = ("experiment", "task", "model", "method", "setting", "language")


def model_name(spec: str) -> str:
    """A model's name without where it was loaded from or its fingerprint: `intfloat/multilingual-e5-small`,
    `intfloat/multilingual-e5-small@sha256:...` and a local folder `~/models/multilingual-e5-small` are all
    `multilingual-e5-small`."""
    return str(spec).split("@", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def result_sources(paths: list[Path] | None, root: Path = DEFAULT_ROOT) -> list[Path]:
    """Results CSVs and finished run folders named by PATHS (default: every ROOT/*/results.csv)."""
    if not paths:
        found = RunStore(root).results_files()
        if not found:
            raise XlrError(f"no results found: {root}/*/{RESULTS} matches nothing; run `xlr reproduce NAME` "
                           "first or pass a results CSV, an experiment folder or a run folder")
        return found
    out = []
    for p in map(Path, paths):
        if p.is_file():
            out.append(p)
        elif (p / RESULTS).is_file():
            out.append(p / RESULTS)
        elif RunDir(p).metrics_path.is_file():
            out.append(p)
        elif p.is_dir() and RunStore(p).results_files():
            out.extend(RunStore(p).results_files())
        elif not p.exists():
            raise XlrError(f"{p} does not exist")
        else:
            raise XlrError(f"{p} holds no results (expected a results CSV, an experiment folder with results.csv, "
                           "a run folder with metrics.json, or a runs root)")
    return out


def load_sources(paths: list[Path] | None, root: Path = DEFAULT_ROOT) -> list[tuple[Path, list[dict], dict | None]]:
    """(source, its tidy rows, the provenance of its experiment folder or None) per source; reference rows
    (role=reference, e.g. XTREME's mBERT) are left out. Provenance is the results.json beside a results.csv
    (or of a run folder's experiment); a CSV of another name has none."""
    out = []
    for source in result_sources(paths, root):
        if source.is_dir():
            run = RunDir(source)
            if not run.is_done():
                raise XlrError(f"{source} is not a finished run (no DONE); finish it or pass its experiment folder")
            out.append((source, metrics_rows(run.read_metrics()), read_provenance(RunStore.experiment_of(run))))
        else:
            rows = [r for r in read_results_csv(source, extra_columns=EXTRA_COLUMNS)
                    if r.get("role", "target") != "reference"]
            out.append((source, rows, read_provenance(source.parent) if source.name == RESULTS else None))
    return out


def load_results(paths: list[Path] | None, root: Path = DEFAULT_ROOT) -> list[dict]:
    """Tidy rows of every source; reference rows (role=reference, e.g. XTREME's mBERT) are left out."""
    return [row for _, rows, _ in load_sources(paths, root) for row in rows]


def cell_means(rows: list[dict]) -> dict[tuple, tuple[float, int]]:
    """{(experiment, task, model, method, setting, language): (mean accuracy over seeds, number of seeds)}."""
    values = defaultdict(list)
    for r in rows:
        values[tuple(r[k] for k in CELL)].append(float(r["accuracy"]))
    return {k: (seed_mean(v), len(v)) for k, v in values.items()}


def seed_mean(values) -> float:
    """The mean over seeds of one cell, rounded to 6 decimals: equal cells stay equal (ranks and ties of gains
    do not depend on floating-point noise)."""
    return round(statistics.fmean(values), 6)


def groups(means: dict[tuple, tuple[float, int]]) -> dict[tuple, dict[tuple, float]]:
    """{(experiment, task, model): {(method, setting, language): mean}}: one table per group."""
    out: dict[tuple, dict[tuple, float]] = defaultdict(dict)
    for (experiment, task, model, method, setting, language), (mean, _) in means.items():
        out[(experiment, task, model)][(method, setting, language)] = mean
    return dict(out)


def seed_groups(rows: list[dict]) -> dict[tuple, dict[tuple, dict]]:
    """{(experiment, task, model): {(method, setting, language): {seed: accuracy}}}: each cell seed by seed (a
    table without seeds, such as the paper's, has one value per cell, under seed None)."""
    out: dict[tuple, dict[tuple, dict]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        out[(r["experiment"], r["task"], r["model"])][(r["method"], r["setting"], r["language"])][r.get("seed")] = \
            float(r["accuracy"])
    return {g: dict(t) for g, t in out.items()}


def paired_gains(table: dict, method: str, baseline: str, setting: str, language: str) -> dict:
    """{seed: method - baseline} on each seed both have (one cell of a `seed_groups` table), in seed order."""
    a, b = table.get((baseline, setting, language), {}), table.get((method, setting, language), {})
    return {s: b[s] - a[s] for s in sorted(set(a) & set(b), key=str)}


def group_label(group: tuple) -> str:
    experiment, task, model = group
    return f"{experiment} ({task}, {model})"


def seed_mismatches(rows: list[dict]) -> list[str]:
    """One sentence per experiment whose methods were run on different seeds: their means (and gains
    between them) then mix seeds, which a reader must be told."""
    seeds: dict[tuple, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for r in rows:
        if r.get("seed") is not None:
            seeds[(r["experiment"], r["task"], r["model"])][r["method"]].add(r["seed"])
    out = []
    for (experiment, _, _), by_method in seeds.items():
        if len({frozenset(v) for v in by_method.values()}) > 1:
            listed = "; ".join(f"{m} {','.join(map(str, sorted(v)))}" for m, v in by_method.items())
            out.append(f"note: in {experiment} the methods have different seeds ({listed}): their means and "
                       "the differences between them are not paired by seed; run the same --seeds for every method")
    return out
