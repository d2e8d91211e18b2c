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
from xlr.store import PROVENANCE, RESULTS, RunStore, finished_rows, read_provenance, read_results_csv, rows_to_csv
from xlr.store import provenance as store_provenance
from xlr.results.tidy import model_name  # noqa: F401  (published sets name models; callers import it here too)

INTERVALS = "intervals.csv"
PUBLICATION = "publication.json"
OUTCOMES = "outcomes"
# per method, setting and test set (or average): the per-seed differences and their mean, the seed-level intervals
# (t over seeds; the two-level bootstrap from 5 seeds on), which of them decided, its p-value (and Holm's, on the
# averages, across the set's averages) and the verdict; then the item-only interval (test-set uncertainty for
# these checkpoints) and how an average's items were drawn (joint or independent)
INTERVAL_COLUMNS = ("method", "baseline", "setting", "language", "items", "seeds", "baseline_accuracy", "accuracy",
                    "diff", "per_seed", "t_low", "t_high", "two_level_low", "two_level_high", "decided_by", "p",
                    "p_holm", "verdict", "item_low", "item_high", "item_draw")
NUMERIC_INTERVAL_COLUMNS = ("diff", "t_low", "t_high", "two_level_low", "two_level_high", "p", "p_holm", "item_low",
                            "item_high")


def looks_local(value: str) -> bool:
    """A path on one machine: absolute, under a home folder, or on a Windows drive."""
    return value.startswith(("/", "~", "\\")) or (len(value) > 2 and value[1] == ":" and value[2] in "/\\")


def _path_parts(path: str) -> list[str]:
    return [part for part in path.replace("\\", "/").split("/") if part]


def _path_tail(path: str, parts: int = 1) -> str:
    return "/".join(_path_parts(path)[-parts:])


def _unique_tails(keys: list[str]) -> dict[str, str]:
    """{local path: its shortest tail that no other local key of the same mapping shares}: two synonym tables
    named alike in different folders stay two entries."""
    local = [k for k in keys if looks_local(k)]
    tails: dict[str, str] = {}
    for key in local:
        parts = 1
        while parts < len(_path_parts(key)) and any(
                _path_tail(key, parts) == _path_tail(other, parts) for other in local if other != key):
            parts += 1
        tails[key] = _path_tail(key, parts)
    return tails


def without_local_paths(obj):
    """A JSON value with every local path, as a value or as a key (a run's synonym tables are keyed by where
    they lay), replaced by its last part (a file's or folder's name; as keys, as many last parts as keep them
    apart): a published set says which file (and its sha256), never where it lay on the machine that made it."""
    if isinstance(obj, dict):
        tails = _unique_tails([k for k in obj if isinstance(k, str)])
        return {tails.get(k, k): without_local_paths(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [without_local_paths(v) for v in obj]
    if isinstance(obj, str) and looks_local(obj):
        return _path_tail(obj)
    return obj


def model_fingerprints(provenance: dict) -> dict[str, list[str]]:
    """{fingerprint: ["method seed", ...]} of the weights the set's runs recorded: the local folder's sha256
    (`sha256:...`) or the hub commit; runs that recorded none are left out."""
    out: dict[str, list[str]] = {}
    for run in provenance.get("runs") or []:
        sources = run.get("sources") if isinstance(run.get("sources"), dict) else {}
        model = sources.get("model") if isinstance(sources.get("model"), dict) else {}
        found = f"sha256:{model['sha256']}" if model.get("sha256") else model.get("commit")
        if found:
            out.setdefault(found, []).append(f"{run.get('method')} {run.get('seed')}")
    return out


def spelled_model(provenance: dict, rows: list[dict], name: str | None, where: str) -> str:
    """The published model column: NAME@FINGERPRINT (sha256:<16 hex> of a local folder, or a hub commit), never a
    local path. NAME is `name`, else the runs' model when it is a hub id."""
    given = name or next((r["model"] for r in rows), "")
    base = str(given).split("@", 1)[0]
    if looks_local(base):
        raise XlrError(f"{where}: the runs' model is the local folder {model_name(base)}; pass --model-name with the "
                       "model it holds (e.g. intfloat/multilingual-e5-small), so that the set names a model, not a path")
    found = model_fingerprints(provenance)
    if len(found) > 1:
        shown = "; ".join(f"{fp[:23]} ({', '.join(runs)})" for fp, runs in found.items())
        raise XlrError(f"{where}: the runs used different weights ({shown}); publish them as separate sets")
    if not found:
        return base
    fp = next(iter(found))
    return f"{base}@{fp[:len('sha256:') + 16] if fp.startswith('sha256:') else fp[:12]}"


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

def _interval_diffs(outcomes: dict, method: str, setting: str, resamples: int, seed: int,
                    parallel: bool) -> tuple[list[str], list]:
    """(paired seeds, Diffs) of `method` against the baseline on one setting, from the runs' outcomes (a
    generalized setting adds the mixed pairs' average)."""
    from xlr.results import bootstrap

    runs = {m: {f"seed{s}": o for (name, s), o in outcomes.items() if name == m} for m in (BASELINE, method)}
    found = bootstrap.compare(runs[BASELINE], runs[method], setting, resamples, seed,
                              where=f"{method} - {BASELINE}", parallel=parallel)
    return found if found is not None else ([], [])


def _interval_rows(method: str, setting: str, seeds: list[str], diffs: list, decided: dict) -> list[dict]:
    """intervals.csv's rows of one method and setting; `decided` holds the verdicts of the set's averages."""
    def num(x) -> str:
        return "" if x is None else f"{x:.2f}"

    out = []
    for d in diffs:
        verdict, p_holm = decided.get(id(d), ("", None))
        level = d.seed_level
        out.append({"method": method, "baseline": BASELINE, "setting": setting, "language": d.language,
                    "items": d.items or "", "seeds": " ".join(s.removeprefix("seed") for s in seeds),
                    "baseline_accuracy": f"{d.acc_a:.2f}", "accuracy": f"{d.acc_b:.2f}", "diff": f"{d.diff:.2f}",
                    "per_seed": " ".join(f"{x:.2f}" for x in d.per_seed),
                    "t_low": num(d.t and d.t.low), "t_high": num(d.t and d.t.high),
                    "two_level_low": num(d.two_level and d.two_level.low),
                    "two_level_high": num(d.two_level and d.two_level.high),
                    "decided_by": "" if level is None else ("two-level" if level is d.two_level else "t"),
                    "p": "" if level is None else f"{level.p:.6f}",
                    "p_holm": "" if p_holm is None else f"{p_holm:.6f}", "verdict": verdict,
                    "item_low": num(d.item_interval.low), "item_high": num(d.item_interval.high),
                    "item_draw": d.draw})
    return out


SAME_SETTINGS = ("experiment", "profile", "task", "languages", "source_language", "max_test_examples", "generalized")


def held_outcomes(rows: list[dict], outcomes: dict) -> dict:
    """The outcomes of the runs a set's table (ROWS) holds, no others: its intervals are computed from these."""
    runs = _runs(rows)
    return {run: o for run, o in outcomes.items() if run in runs}


def _runs(rows: list[dict]) -> dict[tuple[str, int], dict]:
    """Per (method, seed): its accuracies by (setting, language)."""
    out: dict[tuple[str, int], dict] = {}
    for r in rows:
        out.setdefault((r["method"], int(r["seed"])), {})[(r["setting"], r["language"])] = r["accuracy"]
    return out


def _merged_with_store(old: "Published", experiment_dir: Path, rows: list[dict], provenance: dict, outcomes: dict,
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
                           f"{differ} of {len(before[run])} test sets, so the two are not the same run: publish it as "
                           f"a set of its own and compare the two with `xlr compare STORE --against {old.folder}`")
    merged_rows = [r for r in old.rows if (r["method"], int(r["seed"])) not in added] + rows
    merged = {**provenance,
              "methods": {**(old.provenance.get("methods") or {}), **(provenance.get("methods") or {})},
              "runs": [r for r in old.provenance.get("runs") or [] if (r["method"], int(r["seed"])) not in added]
              + (provenance.get("runs") or [])}
    record = {"command": command, "source": experiment_dir.name,
              "runs": [f"{m} {s}" for m, s in sorted(added.keys() - before.keys())],
              "reproduced": [f"{m} {s}" for m, s in sorted(added.keys() & before.keys())]}
    return merged_rows, merged, {**old_outcomes, **outcomes}, record


def set_intervals(rows: list[dict], outcomes: dict, parallel: bool, resamples: int, seed: int, on_step=None,
                  where: str = "") -> list[dict]:
    """intervals.csv of a set: every method against the baseline in each setting, from the runs' outcomes; the
    verdicts of the averages are Holm-corrected across all of them (the comparisons the set's page makes)."""
    from xlr.results.bootstrap import report_verdicts

    runs = _runs(rows)
    outcomes = held_outcomes(rows, outcomes)
    found = []
    for method in dict.fromkeys(r["method"] for r in rows if r["method"] != BASELINE):
        paired = {s for m, s in runs if m == method} & {s for m, s in runs if m == BASELINE}
        lacking = sorted(f"{m} {s}" for s in paired for m in (BASELINE, method) if (m, s) not in outcomes)
        if lacking:
            raise XlrError(f"{where}: {method}'s intervals need the per-item outcomes of {', '.join(lacking)}, "
                           "which neither the set nor the run store holds; re-run those runs into the store")
        for setting in ("standard", "generalized"):
            if any(r["method"] == method and r["setting"] == setting for r in rows):
                if on_step:
                    on_step(f"{method} - {BASELINE}, {setting}")
                found.append((method, setting, *_interval_diffs(outcomes, method, setting, resamples, seed, parallel)))
    decided = report_verdicts([d for *_, diffs in found for d in diffs])
    return [row for method, setting, seeds, diffs in found for row in _interval_rows(method, setting, seeds, diffs,
                                                                                      decided)]


def parallel_task(provenance: dict | None) -> bool:
    from xlr.results.bootstrap import parallel_task as parallel

    return parallel(provenance)


def publish(experiment_dir: Path, name: str, into: Path, command: str, resamples: int = 1000,
            seed: int = 0, on_step=None, add: bool = False, force: bool = False, model_name_given: str | None = None,
            model_note: str | None = None) -> Path:
    """Freeze an experiment folder of a run store as `INTO/NAME/`, or with `add` add its runs to that set;
    an existing set is replaced only with `force`. The model is named by `model_name_given` (needed when the runs
    loaded a local folder) with its weights' fingerprint; `model_note` says what the weights are, when the name
    alone does not. Returns the set's folder."""
    from xlr.results.bootstrap import run_outcomes

    experiment_dir = Path(experiment_dir)
    if not RunStore.is_experiment_dir(experiment_dir) or not (experiment_dir / RESULTS).is_file():
        raise XlrError(f"{experiment_dir} is not an experiment folder with {RESULTS} (runs/<experiment>/)")
    if not name or "/" in name or name.startswith("."):
        raise XlrError(f"--name '{name}': give a plain folder name, e.g. xnli-e5-cpu")
    if read_provenance(experiment_dir) is None:
        raise XlrError(f"{experiment_dir} has no {PROVENANCE}; run `xlr evaluate` on one of its runs to write it")
    # the provenance as this version of xlr records it, from each finished run's config.json
    done = RunStore.finished_in(experiment_dir)
    provenance = store_provenance(done)
    # the table of the runs that are there and finished (what results.csv holds, unless a run folder was moved
    # or removed after it was written)
    rows = finished_rows(done)
    outcomes = {(RunStore.method_of(r), int(r.path.name.removeprefix("seed"))): run_outcomes(r) for r in done}
    curves = store_curves(experiment_dir)
    folder = Path(into) / name
    _check_target(folder, experiment_dir, add, force)
    publication = {"command": command, "bootstrap": {"resamples": resamples, "seed": seed},
                   "source": experiment_dir.name}
    if add:
        if not holds_a_set(folder):  # load() says what a broken set lacks
            raise XlrError(f"--add: {folder} is not a published set; publish {experiment_dir} without --add first")
        old = load(folder, stale_intervals=True)
        was = old.publication.get("bootstrap") or {}
        if was and (was.get("resamples"), was.get("seed")) != (resamples, seed):
            raise XlrError(f"--add: {folder}'s intervals use {was.get('resamples')} resamples with seed "
                           f"{was.get('seed')}; pass --resamples {was.get('resamples')} --bootstrap-seed {was.get('seed')}")
        before, added = _runs(old.rows), _runs(rows)
        rows, provenance, outcomes, record = _merged_with_store(old, experiment_dir, rows, provenance, outcomes, command,
                                                    before, added)
        curves = [c for c in read_curves(old.folder) if (c["method"], int(c["seed"])) not in added] + curves
        publication = {**old.publication, "added": old.publication.get("added", []) + [record]}
        model_name_given = model_name_given or old.provenance.get("model")
        model_note = model_note or old.provenance.get("model_note")
    if BASELINE not in {r["method"] for r in rows}:  # with --add, the set's baseline pairs with the store's runs
        raise XlrError(f"{experiment_dir} has no {BASELINE} runs; the intervals are against the baseline")
    unfinished = [f"{RunStore.method_of(r)} {r.path.name.removeprefix('seed')}"
                  for r in RunStore.unfinished_in(experiment_dir)]
    finished = {f"{r['method']} {r['seed']}" for r in rows}  # what still trains is the newest store's state
    publication["unfinished"] = [u for u in unfinished if u not in finished]
    check_writable(Path(into), "folder of published sets", "--into", create=False)  # before the bootstrap's minutes
    return _write(folder, rows, provenance, outcomes, curves, publication, model_name_given, model_note, on_step)


def _check_target(folder: Path, experiment_dir: Path, add: bool, force: bool) -> None:
    """The set's folder may be written: not half-swapped, not the store, and replaced only with --force."""
    stopped = interrupted_swap(folder)
    if stopped:
        raise stopped
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


def refresh(folder: Path, model_name_given: str | None = None, model_note: str | None = None, on_step=None) -> Path:
    """Rewrite a published set with this version of xlr: its intervals and verdicts recomputed from its stored
    outcomes (with the set's own resamples and seed), its provenance without local paths, its model named."""
    folder = Path(folder)
    stopped = interrupted_swap(folder)
    if stopped:
        raise stopped
    if not holds_a_set(folder):
        raise XlrError(f"{folder} is not a published set (`xlr results publish` writes one)")
    old = load(folder, stale_intervals=True)
    check_writable(folder.parent, "folder of published sets", "--results", create=False)
    return _write(folder, old.rows, old.provenance, read_outcomes(folder), read_curves(folder), old.publication,
                  model_name_given or old.provenance.get("model"), model_note or old.provenance.get("model_note"),
                  on_step)


def _write(folder: Path, rows: list[dict], provenance: dict, outcomes: dict, curves: list[dict], publication: dict,
           model: str | None, model_note: str | None, on_step) -> Path:
    """Name the model, drop local paths, compute the intervals, and write the set whole (beside its place, then
    renamed into it, replacing an old one): a set is absent, the old one or the new one, never half of one."""
    spelling = spelled_model(provenance, rows, model, str(folder))
    rows = [{**r, "model": spelling} for r in rows]
    provenance = {**without_local_paths(provenance), "model": spelling,
                  **({"model_note": model_note} if model_note else {})}
    recorded = model_fingerprints(provenance)
    if recorded:
        weights, by = next(iter(recorded.items()))
        provenance["model_fingerprint"] = {
            "weights": weights, "recorded_by": sorted(by),
            "not_recorded_by": sorted(f"{m} {s}" for m, s in _runs(rows) if f"{m} {s}" not in by)}
    b = publication.get("bootstrap") or {"resamples": 1000, "seed": 0}
    intervals = set_intervals(rows, outcomes, parallel_task(provenance), b["resamples"], b["seed"], on_step,
                              where=str(folder))
    target = folder.with_name(f".{folder.name}.new-{os.getpid()}")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    try:
        for (method, run_seed), found in outcomes.items():
            write_outcomes(target, method, run_seed, found)
        atomic_write_text(target / RESULTS, rows_to_csv(rows))
        atomic_write_json(target / PROVENANCE, provenance)
        atomic_write_text(target / INTERVALS, rows_to_csv(intervals, list(INTERVAL_COLUMNS)))
        atomic_write_text(target / CURVES, rows_to_csv(curves, list(CURVE_COLUMNS)))
        atomic_write_json(target / PUBLICATION, publication)
        swap_in(target, folder)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return folder


# ---------------------------------------------------------------------------------------------- curves

CURVES = "curves.csv"
CURVE_COLUMNS = ("method", "seed", "step", "dev_accuracy", "best")


def store_curves(experiment_dir: Path) -> list[dict]:
    """Each finished run's source-dev curve and its best step (the checkpoint kept), from its metrics.json."""
    out = []
    for run in RunStore.finished_in(experiment_dir):
        dev = (run.read_metrics().get("dev") or {}) if run.metrics_path.is_file() else {}
        for point in dev.get("curve") or []:
            out.append({"method": RunStore.method_of(run), "seed": run.path.name.removeprefix("seed"),
                        "step": point["step"], "dev_accuracy": f"{float(point['accuracy']):.4f}",
                        "best": int(point["step"] == dev.get("best_step"))})
    return out


def read_curves(folder: Path) -> list[dict]:
    """curves.csv of a published set (empty for a set published before sets kept them)."""
    path = Path(folder) / CURVES
    if not path.is_file():
        return []
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            int(row["seed"]), int(row["step"]), float(row["dev_accuracy"]), int(row["best"])
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError):
        raise XlrError(f"{path} is corrupt; {_set_fix(Path(folder))}") from None
    return rows


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
        from xlr.results.report import method_order, ordered

        return ordered([r["method"] for r in self.rows], method_order())

    def seeds(self, method: str) -> list[int]:
        return sorted({int(r["seed"]) for r in self.rows if r["method"] == method})


def _set_fix(folder: Path) -> str:
    return (f"restore it from git (`git checkout -- {folder}`) or publish the set again with `xlr results publish "
            "... --force`")


class StaleIntervals(XlrError):
    """intervals.csv written by an earlier version (item-only intervals): `xlr results refresh` rewrites it."""


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
    if missing and {"low", "high"} <= set(reader.fieldnames or []):  # the item-only intervals of earlier versions
        raise StaleIntervals(f"{path} holds the item-only intervals of an earlier xlr, without the seed-level ones "
                             f"and their verdicts: `xlr results refresh {path.parent}` recomputes them from its "
                             "outcomes")
    if missing:
        raise XlrError(f"{path}: missing columns {', '.join(sorted(missing))}")
    for line, row in enumerate(rows, start=2):
        try:
            float(row["diff"])
            [float(row[c]) for c in NUMERIC_INTERVAL_COLUMNS if row[c] not in ("", None)]
            [float(x) for x in (row["per_seed"] or "").split()]
        except (TypeError, ValueError):
            raise XlrError(f"{path}:{line}: {', '.join(NUMERIC_INTERVAL_COLUMNS)} or per_seed holds something that "
                           "is not a number") from None
    return rows


def load(folder: Path, as_set: bool = True, stale_intervals: bool = False) -> Published:
    """A published set; with `as_set=False` (compare's reference) a run store's experiment folder loads too,
    as its results alone. Only a published set has publication.json and intervals.csv, and is restored as a set.
    `stale_intervals`: a set whose intervals.csv an earlier version wrote loads without them (to be rewritten)."""
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
        try:
            intervals = _read_intervals(folder / INTERVALS) if (folder / INTERVALS).is_file() else []
        except StaleIntervals:
            if not stale_intervals:
                raise
            intervals = []
        publication = read_json(folder / PUBLICATION, fix) if fix else {}
        rows = read_results_csv(folder / RESULTS)
    except StaleIntervals:
        raise
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
    from xlr.results.tidy import cell_means

    pub = load(folder, as_set=False)
    means = cell_means([{**r, "model": model_name(r["model"])} for r in pub.rows])
    return [{"experiment": experiment, "task": task, "model": model, "method": method, "seed": None,
             "setting": setting, "language": language, "role": "target", "accuracy": mean,
             "source": f"xlr {pub.name}: mean of seeds {','.join(map(str, pub.seeds(method)))}"}
            for (experiment, task, model, method, setting, language), (mean, _) in means.items()]
