"""xlr's own published results, as data: `results/<name>/` beside `paper_results/`.

A published set is one experiment folder of a run store, frozen: its tidy `results.csv` (one row per
method, seed, setting and language), its provenance `results.json` (experiment file and hash, profile,
options, and per run the git revision, versions and device), `intervals.csv` (every method against the
baseline by a paired bootstrap over the stored test predictions, which stay in the run store), and
`publication.json` (the command that made the runs, and the bootstrap's settings).

`xlr results publish` writes a set; `xlr results render` (xlr.results.page) writes `docs/results.md` and its
figures from every set, and from nothing else, so the page can be rebuilt and checked from the repository alone.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from xlr.errors import XlrError
from xlr.files import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from xlr.methods import BASELINE
from xlr.sources import MIXED_AVERAGE, is_mixed_pair
from xlr.store import PROVENANCE, RESULTS, RunStore, read_provenance, read_results_csv, rows_to_csv

INTERVALS = "intervals.csv"
PUBLICATION = "publication.json"
INTERVAL_COLUMNS = ("method", "baseline", "setting", "language", "items", "seeds", "baseline_accuracy", "accuracy",
                    "diff", "low", "high", "per_seed")


def model_name(spec: str) -> str:
    """A model's name without where it was loaded from: `intfloat/multilingual-e5-small` and a local folder
    `~/models/multilingual-e5-small` are both `multilingual-e5-small`."""
    return str(spec).rstrip("/").rsplit("/", 1)[-1]


def is_published(folder: Path) -> bool:
    return (Path(folder) / RESULTS).is_file() and (Path(folder) / PROVENANCE).is_file()


# ------------------------------------------------------------------------------------------- publish

def _interval_rows(experiment_dir: Path, method: str, setting: str, resamples: int, seed: int) -> list[dict]:
    from xlr.results import bootstrap

    def rows(found, label=None) -> list[dict]:
        (_, seeds, diffs), = found
        return [{"method": method, "baseline": BASELINE, "setting": setting, "language": label or d.language,
                 "items": d.items or "", "seeds": " ".join(s.removeprefix("seed") for s in seeds),
                 "baseline_accuracy": f"{d.acc_a:.2f}", "accuracy": f"{d.acc_b:.2f}", "diff": f"{d.diff:.2f}",
                 "low": f"{d.low:.2f}", "high": f"{d.high:.2f}",
                 "per_seed": " ".join(f"{x:.2f}" for x in d.per_seed)}
                for d in diffs if label is None or d.language == "avg"]

    out = rows(bootstrap.between([experiment_dir], BASELINE, method, setting, resamples, seed))
    if setting == "generalized":
        mixed = bootstrap.between([experiment_dir], BASELINE, method, setting, resamples, seed,
                                  only=is_mixed_pair)
        out += rows(mixed, MIXED_AVERAGE)
    return out


def publish(experiment_dir: Path, name: str, into: Path, command: str, resamples: int = 1000,
            seed: int = 0, on_step=None) -> Path:
    """Freeze an experiment folder of a run store as `INTO/NAME/`; returns that folder."""
    experiment_dir = Path(experiment_dir)
    if not RunStore.is_experiment_dir(experiment_dir) or not (experiment_dir / RESULTS).is_file():
        raise XlrError(f"{experiment_dir} is not an experiment folder with {RESULTS} (runs/<experiment>/)")
    if not name or "/" in name or name.startswith("."):
        raise XlrError(f"--name '{name}': give a plain folder name, e.g. xnli-e5-cpu")
    provenance = read_provenance(experiment_dir)
    if provenance is None:
        raise XlrError(f"{experiment_dir} has no {PROVENANCE}; run `xlr evaluate` on one of its runs to write it")
    rows = read_results_csv(experiment_dir / RESULTS)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    if BASELINE not in methods:
        raise XlrError(f"{experiment_dir} has no {BASELINE} runs; the intervals are against the baseline")
    intervals = []
    for method in (m for m in methods if m != BASELINE):
        for setting in ("standard", "generalized"):
            if any(r["method"] == method and r["setting"] == setting for r in rows):
                if on_step:
                    on_step(f"{method} - {BASELINE}, {setting}")
                intervals += _interval_rows(experiment_dir, method, setting, resamples, seed)
    folder = Path(into) / name
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / RESULTS, (experiment_dir / RESULTS).read_bytes())
    atomic_write_bytes(folder / PROVENANCE, (experiment_dir / PROVENANCE).read_bytes())
    atomic_write_text(folder / INTERVALS, rows_to_csv(intervals, list(INTERVAL_COLUMNS)))
    unfinished = [f"{RunStore.method_of(r)} {r.path.name.removeprefix('seed')}"
                  for r in RunStore.unfinished_in(experiment_dir)]
    atomic_write_json(folder / PUBLICATION, {"command": command, "bootstrap": {"resamples": resamples, "seed": seed},
                                             "source": experiment_dir.name, "unfinished": unfinished})
    return folder


# -------------------------------------------------------------------------------------------- a set

@dataclass
class Published:
    folder: Path
    rows: list[dict]
    provenance: dict
    intervals: list[dict]
    publication: dict

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def methods(self) -> list[str]:
        from xlr.results.report import _order, method_order

        return _order([r["method"] for r in self.rows], method_order())

    def seeds(self, method: str) -> list[int]:
        return sorted({int(r["seed"]) for r in self.rows if r["method"] == method})


def load(folder: Path) -> Published:
    folder = Path(folder)
    if not is_published(folder):
        raise XlrError(f"{folder} is not a published results folder (it needs {RESULTS} and {PROVENANCE}; "
                       "`xlr results publish` writes one)")
    intervals = []
    if (folder / INTERVALS).is_file():
        with open(folder / INTERVALS, encoding="utf-8", newline="") as f:
            intervals = list(csv.DictReader(f))
        missing = set(INTERVAL_COLUMNS) - set(intervals[0] if intervals else INTERVAL_COLUMNS)
        if missing:
            raise XlrError(f"{folder / INTERVALS}: missing columns {', '.join(sorted(missing))}")
    publication = read_json(folder / PUBLICATION) if (folder / PUBLICATION).is_file() else {}
    return Published(folder, read_results_csv(folder / RESULTS), read_provenance(folder), intervals, publication)


def load_all(root: Path) -> list[Published]:
    sets = [load(p) for p in sorted(Path(root).iterdir()) if p.is_dir() and is_published(p)] \
        if Path(root).is_dir() else []
    if not sets:
        raise XlrError(f"{root} holds no published results (folders with {RESULTS} and {PROVENANCE}); "
                       "`xlr results publish` writes one")
    return sets


def as_reference(folder: Path) -> list[dict]:
    """A published set as reference numbers for `xlr compare --against`: the mean over seeds of every cell,
    the model by its name only (a hub id and a local copy of the same model match)."""
    from xlr.results.table import cell_means

    pub = load(folder)
    means = cell_means([{**r, "model": model_name(r["model"])} for r in pub.rows])
    return [{"experiment": experiment, "task": task, "model": model, "method": method, "seed": None,
             "setting": setting, "language": language, "role": "target", "accuracy": mean,
             "source": f"xlr {pub.name}: mean of seeds {','.join(map(str, pub.seeds(method)))}"}
            for (experiment, task, model, method, setting, language), (mean, _) in means.items()]
