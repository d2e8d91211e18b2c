"""xlr's own published results, as data: `results/<name>/` beside `paper_results/`.

A published set is one experiment folder of a run store, frozen: its tidy `results.csv` (one row per
method, seed, setting and language), its provenance `results.json` (experiment file and hash, profile,
options, and per run the git revision, versions and device), `outcomes/` (per run, which test items it
got right, as packed bits, with a fingerprint of each test set's gold labels but not the labels),
`intervals.csv` (every method against the baseline by a paired bootstrap over those outcomes), and
`publication.json` (the command that made the runs, and the bootstrap's settings).

`xlr results publish` writes a set, and with `--add` adds a store's runs to one: other methods or more
seeds, made later in another store. A run both hold must be the same run (identical outcomes), and every
method's intervals are recomputed over all its seeds from the outcomes. `xlr results render` (xlr.results.page) writes `docs/results.md` and its
figures from every set, and from nothing else, so the page can be rebuilt and checked from the repository alone.
"""
from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from xlr.errors import XlrError
from xlr.files import (atomic_write_bytes, atomic_write_json, atomic_write_text, check_writable,
                       interrupted_swap, read_json, swap_in)
from xlr.methods import BASELINE
from xlr.sources import MIXED_AVERAGE, is_mixed_pair
from xlr.store import PROVENANCE, RESULTS, RunStore, read_provenance, read_results_csv, rows_to_csv

INTERVALS = "intervals.csv"
PUBLICATION = "publication.json"
OUTCOMES = "outcomes"
INTERVAL_COLUMNS = ("method", "baseline", "setting", "language", "items", "seeds", "baseline_accuracy", "accuracy",
                    "diff", "low", "high", "per_seed")


def model_name(spec: str) -> str:
    """A model's name without where it was loaded from: `intfloat/multilingual-e5-small` and a local folder
    `~/models/multilingual-e5-small` are both `multilingual-e5-small`."""
    return str(spec).rstrip("/").rsplit("/", 1)[-1]


def is_published(folder: Path) -> bool:
    return (Path(folder) / RESULTS).is_file() and (Path(folder) / PROVENANCE).is_file()


# ------------------------------------------------------------------------------------------ outcomes

def _outcome_path(folder: Path, method: str, seed: int) -> Path:
    return Path(folder) / OUTCOMES / f"{method}-seed{seed}.npz"


def write_outcomes(folder: Path, method: str, seed: int, outcomes) -> None:
    """One run's outcomes as packed bits, with each test set's item count and gold fingerprint (numpy's .npz
    stamps its members with a fixed date, so the same outcomes are the same bytes: no churn in git)."""
    import io

    import numpy as np

    keys = list(outcomes.sets)
    correct = [outcomes.sets[k][0] for k in keys]
    buf = io.BytesIO()
    np.savez_compressed(buf, sets=np.array([f"{s}:{lang}" for s, lang in keys]),
                        items=np.array([len(c) for c in correct], dtype=np.int64),
                        gold=np.array([outcomes.sets[k][1] for k in keys]),
                        bits=np.concatenate([np.packbits(c) for c in correct]) if correct else np.zeros(0, np.uint8))
    path = _outcome_path(folder, method, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def read_outcomes(folder: Path) -> dict[tuple[str, int], object]:
    """{(method, seed): Outcomes} of a published set; empty for a set published without them."""
    import numpy as np

    from xlr.results.bootstrap import Outcomes

    out = {}
    for path in sorted((Path(folder) / OUTCOMES).glob("*-seed*.npz")):
        method, _, seed = path.stem.rpartition("-seed")
        try:
            with np.load(path) as z:
                sets, items, gold, bits = list(z["sets"]), list(z["items"]), list(z["gold"]), z["bits"]
            sets_ = {}
            at = 0
            for key, n, fp in zip(sets, items, gold):
                size = (int(n) + 7) // 8
                correct = np.unpackbits(bits[at:at + size])[:int(n)].astype(bool)
                if len(correct) != n:
                    raise ValueError("short")
                at += size
                setting, _, lang = str(key).partition(":")
                sets_[(setting, lang)] = (correct, str(fp))
            out[(method, int(seed))] = Outcomes(sets_)
        except Exception:
            raise XlrError(f"{path} is corrupt; restore it from git (`git checkout -- {path}`)") from None
    return out


# ------------------------------------------------------------------------------------------- publish

def _interval_rows(outcomes: dict, method: str, setting: str, resamples: int, seed: int) -> list[dict]:
    """`method` against the baseline on one setting (and the mixed pairs' average), from the runs' outcomes."""
    from xlr.results import bootstrap

    runs = {m: {f"seed{s}": o for (name, s), o in outcomes.items() if name == m} for m in (BASELINE, method)}

    def rows(found, label=None) -> list[dict]:
        seeds, diffs = found
        return [{"method": method, "baseline": BASELINE, "setting": setting, "language": label or d.language,
                 "items": d.items or "", "seeds": " ".join(s.removeprefix("seed") for s in seeds),
                 "baseline_accuracy": f"{d.acc_a:.2f}", "accuracy": f"{d.acc_b:.2f}", "diff": f"{d.diff:.2f}",
                 "low": f"{d.low:.2f}", "high": f"{d.high:.2f}",
                 "per_seed": " ".join(f"{x:.2f}" for x in d.per_seed)}
                for d in diffs if label is None or d.language == "avg"]

    found = bootstrap.compare(runs[BASELINE], runs[method], setting, resamples, seed, where=f"{method} - {BASELINE}")
    if found is None:
        return []
    out = rows(found)
    if setting == "generalized":
        out += rows(bootstrap.compare(runs[BASELINE], runs[method], setting, resamples, seed, only=is_mixed_pair,
                                      where=f"{method} - {BASELINE}"), MIXED_AVERAGE)
    return out


SAME_SETTINGS = ("experiment", "profile", "task", "languages", "source_language", "max_test_examples", "generalized")


def _runs(rows: list[dict]) -> dict[tuple[str, int], dict]:
    """Per (method, seed): its accuracies by (setting, language)."""
    out: dict[tuple[str, int], dict] = {}
    for r in rows:
        out.setdefault((r["method"], int(r["seed"])), {})[(r["setting"], r["language"])] = r["accuracy"]
    return out


def _merge(old: "Published", experiment_dir: Path, rows: list[dict], provenance: dict, outcomes: dict,
           command: str, before: dict, added: dict):
    """The set's rows, provenance and outcomes with the store's runs added, and the publication's record of it;
    `before` and `added` are the set's and the store's runs (`_runs`)."""
    where = f"{experiment_dir} and {old.folder}"
    for key in SAME_SETTINGS:
        if old.provenance.get(key) != provenance.get(key):
            raise XlrError(f"--add: {key} differs between {where} ({old.provenance.get(key)} against "
                           f"{provenance.get(key)}); publish it as a new set")
    if model_name(old.provenance.get("model") or "") != model_name(provenance.get("model") or ""):
        raise XlrError(f"--add: the model differs between {where}; publish it as a new set")
    old_outcomes = read_outcomes(old.folder)
    for run in sorted(before.keys() & added.keys()):
        differ = sum(before[run].get(k) != v for k, v in added[run].items()) + len(before[run].keys() - added[run].keys())
        if not differ and run in old_outcomes and not old_outcomes[run].same_as(outcomes[run]):
            differ = 1
        if differ:
            raise XlrError(f"--add: {run[0]} seed {run[1]} in {experiment_dir} differs from the published run in "
                           f"{differ} of {len(before[run])} test sets, so the two are not the same run; publish it as "
                           "a new set")
    spelling = old.provenance.get("model") or rows[0]["model"]  # one model, spelled as the set first did
    rows = [{**r, "model": spelling} for r in rows]
    merged_rows = [r for r in old.rows if (r["method"], int(r["seed"])) not in added] + rows
    merged = {**provenance, "model": spelling,
              "methods": {**(old.provenance.get("methods") or {}), **(provenance.get("methods") or {})},
              "runs": [r for r in old.provenance.get("runs") or [] if (r["method"], int(r["seed"])) not in added]
              + (provenance.get("runs") or [])}
    record = {"command": command, "source": experiment_dir.name,
              "runs": [f"{m} {s}" for m, s in sorted(added.keys() - before.keys())],
              "reproduced": [f"{m} {s}" for m, s in sorted(added.keys() & before.keys())]}
    return merged_rows, merged, {**old_outcomes, **outcomes}, record


def publish(experiment_dir: Path, name: str, into: Path, command: str, resamples: int = 1000,
            seed: int = 0, on_step=None, add: bool = False, force: bool = False) -> Path:
    """Freeze an experiment folder of a run store as `INTO/NAME/`, or with `add` add its runs to that set;
    an existing set is replaced only with `force`. Returns the set's folder."""
    from xlr.results.bootstrap import run_outcomes

    experiment_dir = Path(experiment_dir)
    if not RunStore.is_experiment_dir(experiment_dir) or not (experiment_dir / RESULTS).is_file():
        raise XlrError(f"{experiment_dir} is not an experiment folder with {RESULTS} (runs/<experiment>/)")
    if not name or "/" in name or name.startswith("."):
        raise XlrError(f"--name '{name}': give a plain folder name, e.g. xnli-e5-cpu")
    provenance = read_provenance(experiment_dir)
    if provenance is None:
        raise XlrError(f"{experiment_dir} has no {PROVENANCE}; run `xlr evaluate` on one of its runs to write it")
    rows = read_results_csv(experiment_dir / RESULTS)
    if BASELINE not in {r["method"] for r in rows}:
        raise XlrError(f"{experiment_dir} has no {BASELINE} runs; the intervals are against the baseline")
    outcomes = {(RunStore.method_of(r), int(r.path.name.removeprefix("seed"))): run_outcomes(r)
                for r in RunStore.finished_in(experiment_dir)}
    folder = Path(into) / name
    stopped = interrupted_swap(folder)
    if stopped:
        raise stopped
    old, record = None, None
    if add and force:
        raise XlrError("--add keeps the published set and --force replaces it: pass one of them")
    here, there = folder.resolve(), experiment_dir.resolve()
    if here == there or here in there.parents or there in here.parents:
        raise XlrError(f"{folder} and the run store's {experiment_dir} overlap: publish into another --into or --name")
    if not add and folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        if not holds_a_set(folder):  # a broken set may be replaced too
            raise XlrError(f"{folder} exists and is not a published set: give another --name or --into")
        if not force:
            raise XlrError(f"{folder} is already published: --add adds these runs to it, --force replaces it, "
                           f"or give another --name")
    if add:
        if not holds_a_set(folder):  # load() says what a broken set lacks
            raise XlrError(f"--add: {folder} is not a published set; publish {experiment_dir} without --add first")
        old = load(folder)
        was = old.publication.get("bootstrap") or {}
        if was and (was.get("resamples"), was.get("seed")) != (resamples, seed):
            raise XlrError(f"--add: {folder}'s intervals use {was.get('resamples')} resamples with seed "
                           f"{was.get('seed')}; pass --resamples {was.get('resamples')} --bootstrap-seed {was.get('seed')}")
        before, added = _runs(old.rows), _runs(rows)
        new_runs = added.keys() - before.keys()  # a re-run of a published run changes nothing
        rows, provenance, outcomes, record = _merge(old, experiment_dir, rows, provenance, outcomes, command,
                                                    before, added)
    check_writable(Path(into), "folder of published sets", "--into", create=False)  # before the bootstrap's minutes
    runs = _runs(rows)
    intervals = []
    for method in dict.fromkeys(r["method"] for r in rows if r["method"] != BASELINE):
        paired = {s for m, s in runs if m == method} & {s for m, s in runs if m == BASELINE}
        lacking = sorted(f"{m} {s}" for s in paired for m in (BASELINE, method) if (m, s) not in outcomes)
        if lacking:  # runs published before sets kept their outcomes: their intervals stay, if nothing changed
            changed = old is None or any(m in (BASELINE, method) and s in paired for m, s in new_runs)
            if changed:
                raise XlrError(f"--add: {method}'s intervals need the per-item outcomes of {', '.join(lacking)}, which "
                               f"{folder} does not hold (published before it kept them): re-run those into "
                               f"{experiment_dir} too")
            intervals += [r for r in old.intervals if r["method"] == method]
            continue
        for setting in ("standard", "generalized"):
            if any(r["method"] == method and r["setting"] == setting for r in rows):
                if on_step:
                    on_step(f"{method} - {BASELINE}, {setting}")
                intervals += _interval_rows(outcomes, method, setting, resamples, seed)
    # the set is written beside its place and renamed into it once whole (replacing the old one, for --add and
    # --force): a set is either absent, the old one, or the new one, never half of one
    target = folder.with_name(f".{name}.new-{os.getpid()}")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    try:
        _write_set(target, experiment_dir, outcomes, rows, provenance, intervals, old, record, command, resamples,
                   seed)
        swap_in(target, folder)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return folder


def _write_set(folder: Path, experiment_dir: Path, outcomes: dict, rows: list, provenance: dict, intervals: list,
               old, record, command: str, resamples: int, seed: int) -> None:
    for (method, run_seed), found in outcomes.items():
        write_outcomes(folder, method, run_seed, found)
    if old:
        atomic_write_text(folder / RESULTS, rows_to_csv(rows))
        atomic_write_json(folder / PROVENANCE, provenance)
    else:
        atomic_write_bytes(folder / RESULTS, (experiment_dir / RESULTS).read_bytes())
        atomic_write_bytes(folder / PROVENANCE, (experiment_dir / PROVENANCE).read_bytes())
    atomic_write_text(folder / INTERVALS, rows_to_csv(intervals, list(INTERVAL_COLUMNS)))
    finished = {f"{r['method']} {r['seed']}" for r in rows}
    unfinished = [f"{RunStore.method_of(r)} {r.path.name.removeprefix('seed')}"
                  for r in RunStore.unfinished_in(experiment_dir)]
    if old:  # what is still training is the newest store's state; the set's earlier store is done with
        unfinished = [u for u in unfinished if u not in finished]
        atomic_write_json(folder / PUBLICATION, {**old.publication, "unfinished": unfinished,
                                                 "added": old.publication.get("added", []) + [record]})
    else:
        atomic_write_json(folder / PUBLICATION, {"command": command, "bootstrap": {"resamples": resamples, "seed": seed},
                                                 "source": experiment_dir.name, "unfinished": unfinished})


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


def _set_fix(folder: Path) -> str:
    return (f"restore it from git (`git checkout -- {folder}`) or publish the set again with `xlr results publish "
            "... --force`")


def _read_intervals(path: Path) -> list[dict]:
    """intervals.csv: its columns, and numbers where numbers belong (a hand edit or a bad merge shows here,
    not as a traceback half-way through drawing the page)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise XlrError(f"{path} cannot be read ({e})") from None
    missing = set(INTERVAL_COLUMNS) - set(reader.fieldnames or [])
    if missing:
        raise XlrError(f"{path}: missing columns {', '.join(sorted(missing))}")
    for line, row in enumerate(rows, start=2):
        try:
            [float(row[c]) for c in ("diff", "low", "high")] + [float(x) for x in (row["per_seed"] or "").split()]
        except (TypeError, ValueError):
            raise XlrError(f"{path}:{line}: diff, low, high or per_seed is not a number") from None
    return rows


def load(folder: Path, as_set: bool = True) -> Published:
    """A published set; with `as_set=False` (compare's reference) a run store's experiment folder loads too,
    as its results alone. Only a published set has publication.json and intervals.csv, and is restored as a set."""
    folder = Path(folder)
    as_set = as_set or looks_published(folder)
    fix = _set_fix(folder) if as_set else None
    needs = (RESULTS, PROVENANCE) + ((INTERVALS, PUBLICATION) if as_set else ())
    lacking = [n for n in needs if not (folder / n).is_file()]
    if lacking and not (folder / RESULTS).is_file() and not looks_published(folder):
        raise XlrError(f"{folder} is not a published results folder (it needs {', '.join(needs)}; "
                       "`xlr results publish` writes one)")
    if lacking:
        raise XlrError(f"{folder} is a published set without its {' and '.join(lacking)}; {fix or 'publish it again'}")
    try:
        intervals = _read_intervals(folder / INTERVALS) if (folder / INTERVALS).is_file() else []
        publication = read_json(folder / PUBLICATION, fix) if fix else {}
        rows = read_results_csv(folder / RESULTS)
    except XlrError as e:
        raise XlrError(f"{e}; {fix}" if fix and fix not in str(e) else str(e)) from None
    provenance = read_provenance(folder, fix)
    missing = [k for k in ("experiment", "task", "model") if as_set and not provenance.get(k)]
    if missing:  # the page would say "Experiment None"
        raise XlrError(f"{folder / PROVENANCE} lacks {', '.join(missing)}; {fix}")
    return Published(folder, rows, provenance, intervals, publication)


def holds_a_set(folder: Path) -> bool:
    """A published set, whole or broken (load says what a broken one lacks)."""
    return is_published(folder) or looks_published(folder)


def looks_published(folder: Path) -> bool:
    """A folder with the file only a published set has (publication.json): one that lacks its results is a
    broken set, not a folder of paper tables."""
    return (Path(folder) / PUBLICATION).is_file()


def load_all(root: Path) -> list[Published]:
    # a hidden folder is a set being written or retired by `publish`, not a set to show
    hidden = sorted(p for p in Path(root).glob(".*.old-*") if p.is_dir()) if Path(root).is_dir() else []
    for p in hidden:
        stopped = interrupted_swap(p.with_name(p.name[1:].rsplit(".old-", 1)[0]))
        if stopped:
            raise stopped
    folders = sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if Path(root).is_dir() else []
    sets = [load(p) for p in folders if holds_a_set(p)]
    if not sets:
        raise XlrError(f"{root} holds no published results (folders with {RESULTS} and {PROVENANCE}); "
                       "`xlr results publish` writes one")
    return sets


def as_reference(folder: Path) -> list[dict]:
    """A published set as reference numbers for `xlr compare --against`: the mean over seeds of every cell,
    the model by its name only (a hub id and a local copy of the same model match)."""
    from xlr.results.table import cell_means

    pub = load(folder, as_set=False)
    means = cell_means([{**r, "model": model_name(r["model"])} for r in pub.rows])
    return [{"experiment": experiment, "task": task, "model": model, "method": method, "seed": None,
             "setting": setting, "language": language, "role": "target", "accuracy": mean,
             "source": f"xlr {pub.name}: mean of seeds {','.join(map(str, pub.seeds(method)))}"}
            for (experiment, task, model, method, setting, language), (mean, _) in means.items()]
