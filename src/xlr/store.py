"""The run store: `runs/<experiment>/<method>/seed<N>/` and the tidy results table.

Layout of one run:
  config.json       the resolved configuration, package versions, git revision
  model/            the best checkpoint (model + tokenizer + xlr-training.json), renamed into place whole
  predictions/      per-item predictions, `<setting>/<language>.npz` (pred, gold), one file per test set
  metrics.json      dev curve, best step, test accuracies
  DONE              written last
  CLAIMED           while a worker holds the run: host, process, job, heartbeat, progress
  FAILED            the last line of the error that stopped the run (until it is run again)
  QUEUED            the scheduler job submitted to train it (`--launcher slurm|local`)
  checkpoints/      Trainer checkpoints while training; removed once the run is DONE

Every file is written through files.py (a temporary name in the same folder, then a rename), so a `kill -9` at any moment
leaves either the old file or the new one, never half of one. Only rank 0 of a distributed launch writes.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xlr.machine import distributed
from xlr.errors import XlrError
from xlr.files import atomic_write_bytes, atomic_write_json, atomic_write_text, file_lock, read_json

log = logging.getLogger("xlr.store")
RESULT_COLUMNS = ["experiment", "task", "model", "method", "seed", "setting", "language", "accuracy"]
SETTINGS = ("standard", "generalized")


# ----------------------------------------------------------------------------------------- one run

@dataclass
class RunDir:
    path: Path

    config_path = property(lambda self: self.path / "config.json")
    metrics_path = property(lambda self: self.path / "metrics.json")
    model_dir = property(lambda self: self.path / "model")
    done_path = property(lambda self: self.path / "DONE")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    tokenized_dir = property(lambda self: self.path / "tokenized")   # the tokenized sets' Arrow cache
    logs_dir = property(lambda self: self.path / "logs")             # the trackers' files (TensorBoard)
    predictions_dir = property(lambda self: self.path / "predictions")
    training_info_path = property(lambda self: self.model_dir / "xlr-training.json")

    claim_path = property(lambda self: self.path / "CLAIMED")    # who holds the run (xlr.scheduling.claims)
    failed_path = property(lambda self: self.path / "FAILED")    # the last line of the error that stopped it
    queued_path = property(lambda self: self.path / "QUEUED")    # the scheduler job submitted to train it

    def is_done(self) -> bool:
        return self.done_path.is_file()

    def has_model(self) -> bool:
        return self.training_info_path.is_file()

    def reset(self) -> None:
        """Forget everything of this run (a changed configuration or --force)."""
        if distributed.is_main_process() and self.path.exists():
            for p in self.path.iterdir():  # the worker's claim on the run, and its job, survive the reset
                if p not in (self.claim_path, self.queued_path):
                    shutil.rmtree(p) if p.is_dir() else p.unlink()

    def write_config(self, config: dict) -> None:
        if distributed.is_main_process():
            atomic_write_json(self.config_path, config)

    def read_config(self) -> dict | None:
        return (read_json(self.config_path, fix="delete it and run the command that made this run again: it writes "
                          "the settings again and keeps the trained model")
                if self.config_path.is_file() else None)

    def publish_model(self, trainer, training_info: dict) -> None:
        """Save the trainer's (best) model into model/ whole: write model.partial/, then rename."""
        partial = self.path / "model.partial"
        if distributed.is_main_process():
            shutil.rmtree(partial, ignore_errors=True)
        trainer.save_model(str(partial))  # writes from rank 0 only
        if distributed.is_main_process():
            atomic_write_json(partial / "xlr-training.json", training_info)
            shutil.rmtree(self.model_dir, ignore_errors=True)
            os.replace(partial, self.model_dir)
        distributed.barrier()

    def training_info(self) -> dict:
        return read_json(self.training_info_path)

    def prediction_path(self, setting: str, language: str) -> Path:
        return self.predictions_dir / setting / f"{language}.npz"

    def save_predictions(self, setting: str, language: str, pred: np.ndarray, gold: np.ndarray) -> None:
        if distributed.is_main_process():
            buf = io.BytesIO()
            np.savez_compressed(buf, pred=pred.astype(np.int8), gold=np.asarray(gold, dtype=np.int8))
            atomic_write_bytes(self.prediction_path(setting, language), buf.getvalue())

    def load_predictions(self, setting: str, language: str) -> tuple[np.ndarray, np.ndarray] | None:
        path = self.prediction_path(setting, language)
        if not path.is_file():
            return None
        try:
            with np.load(path) as z:
                return z["pred"], z["gold"]
        except Exception:
            raise XlrError(f"{path} is corrupt; delete it and run `xlr evaluate {self.path}`") from None

    def write_metrics(self, metrics: dict) -> None:
        if distributed.is_main_process():
            atomic_write_json(self.metrics_path, metrics)

    def read_metrics(self) -> dict:
        return read_json(self.metrics_path)

    def mark_done(self, keep_checkpoints: bool = False) -> None:
        if distributed.is_main_process():
            atomic_write_text(self.done_path, "done\n")
            shutil.rmtree(self.path / "tokenized", ignore_errors=True)
            if not keep_checkpoints:
                shutil.rmtree(self.checkpoints_dir, ignore_errors=True)
        distributed.barrier()


# ---------------------------------------------------------------------------------- results table

def metrics_rows(metrics: dict) -> list[dict]:
    """Tidy rows of one run's metrics.json."""
    base = {k: metrics[k] for k in ("experiment", "task", "model", "method", "seed")}
    rows = []
    for setting in SETTINGS:
        for language, acc in metrics.get("test", {}).get(setting, {}).items():
            rows.append({**base, "setting": setting, "language": language, "accuracy": round(float(acc), 4)})
    return rows


# ------------------------------------------------------------------------------------ the run store

DEFAULT_ROOT = Path("runs")
RESULTS = "results.csv"
PROVENANCE = "results.json"


class RunStore:
    """The one owner of the run store's layout. Every other module asks it for paths:

        <root>/<experiment>/<method>/seed<N>/     one run (RunDir)
        <root>/<experiment>/results.csv           its tidy table, and results.json beside it
        <root>/<experiment>-sweep/<point>/...     a sweep's points: experiments named <experiment>-sweep/<point>

    The static methods take folders a user names (an experiment folder, a run folder)."""

    def __init__(self, root: Path | str = DEFAULT_ROOT):
        self.root = Path(root)

    def experiment_dir(self, experiment: str) -> Path:
        return self.root / experiment

    def run(self, experiment: str, method: str, seed: int) -> RunDir:
        return RunDir(self.experiment_dir(experiment) / method / f"seed{seed}")

    @staticmethod
    def sweep_name(experiment: str) -> str:
        """The folder of a sweep over `experiment`, under the root; each grid point is an experiment in it."""
        return f"{experiment}-sweep"

    def sweep_dir(self, experiment: str) -> Path:
        return self.root / self.sweep_name(experiment)

    def results_files(self) -> list[Path]:
        """Every experiment's results.csv directly under the root."""
        return sorted(self.root.glob(f"*/{RESULTS}"))

    def claims(self) -> list[Path]:
        """Every CLAIMED file below the root. (glob, not Path.rglob: other workers remove folders while this
        walks, and glob passes over vanished ones.)"""
        import glob

        return [Path(p) for p in glob.glob(str(self.root / "**" / "CLAIMED"), recursive=True)]

    @staticmethod
    def experiment_of(run: RunDir) -> Path:
        """The experiment folder a run folder belongs to."""
        return run.path.parent.parent

    @staticmethod
    def method_of(run: RunDir) -> str:
        return run.path.parent.name

    @staticmethod
    def is_experiment_dir(folder: Path) -> bool:
        return any(Path(folder).glob("*/seed*"))

    @staticmethod
    def unfinished_in(experiment_dir: Path) -> list[RunDir]:
        """Runs started in an experiment folder (training, evaluating or stopped) that are not DONE."""
        return sorted((RunDir(p) for p in Path(experiment_dir).glob("*/seed*")
                       if p.is_dir() and not RunDir(p).is_done()), key=lambda r: str(r.path))

    @staticmethod
    def finished_in(experiment_dir: Path) -> list[RunDir]:
        return sorted((RunDir(p.parent) for p in Path(experiment_dir).glob("*/seed*/DONE")), key=lambda r: str(r.path))

    @staticmethod
    def experiments_in(folder: Path) -> list[Path]:
        """The experiment folders directly inside a folder (a root, or a sweep folder: its points)."""
        return sorted(q for q in Path(folder).glob("*") if q.is_dir() and RunStore.is_experiment_dir(q))


def finished_rows(runs: list["RunDir"]) -> list[dict]:
    """The tidy rows of these runs' metrics.json, run after run: the table results.csv holds."""
    return [row for run in runs for row in metrics_rows(run.read_metrics())]


def write_results(experiment_dir: Path) -> Path:
    """Rewrite `<experiment>/results.csv` and its provenance, `results.json`, from every finished run,
    atomically."""
    path = Path(experiment_dir) / RESULTS
    if distributed.is_main_process():
        # under a lock: a concurrent writer (another worker on the same store) could otherwise rename a
        # table it read before this run finished over ours, and a row would be lost
        with file_lock(Path(experiment_dir) / ".results.lock"):
            runs = RunStore.finished_in(experiment_dir)
            rows = finished_rows(runs)
            atomic_write_text(path, rows_to_csv(rows))
            atomic_write_text(path.with_name(PROVENANCE), json.dumps(provenance(runs), indent=2) + "\n")
    return path


# what every run of one experiment folder shares; a key whose runs disagree is listed per run instead
_SHARED_KEYS = ("experiment", "title", "experiment_file", "experiment_sha256", "profile", "paper", "tolerance",
                "languages", "generalized", "max_test_examples", "data", "train_file", "train_split", "sources")


def provenance(runs: list["RunDir"]) -> dict:
    """results.json: where the rows of results.csv come from (like lm-evaluation-harness's results file):
    the experiment file and its hash, the profile, the paper table and tolerance, each method's resolved
    options and settings, and per run the versions, git revision and device line."""
    configs = [(run, run.read_config() or {}) for run in runs]
    out: dict = {"format": 1, "results": RESULTS}
    for key in _SHARED_KEYS:
        values = {json.dumps(c.get(key), sort_keys=True) for _, c in configs}
        out[key] = configs[0][1].get(key) if len(values) == 1 and configs else None
        if len(values) > 1:
            out[key] = "differs between runs (see runs)"
    methods: dict = {}
    for _, c in configs:
        ident = c.get("identity", {})
        train = ident.get("train", ident.get("protocol"))  # `protocol` in runs stored before it was `train`
        entry = methods.setdefault(ident.get("method"), {"options": ident.get("method_options"), "train": train,
                                                          "seeds": []})
        if entry["options"] != ident.get("method_options") or entry["train"] != train:
            entry["options"] = entry["train"] = "differs between seeds (see runs)"
        entry["seeds"].append(ident.get("seed"))
    out["methods"] = methods
    if configs:
        ident = configs[0][1].get("identity", {})
        out.update({k: ident.get(k) for k in ("task", "model", "source_language")})
    definitions = [c.get("task_definition") or {} for _, c in configs]
    if definitions and all(d.get("parallel") for d in definitions):
        out["parallel_test_sets"] = True
    out["runs"] = [{"method": c.get("identity", {}).get("method"), "seed": c.get("identity", {}).get("seed"),
                    "path": f"{run.path.parent.name}/{run.path.name}", "git_revision": c.get("git_revision"),
                    "versions": c.get("versions"), "device": (c.get("device") or {}).get("line"),
                    "created": c.get("created"), "sources": c.get("sources")} for run, c in configs]
    return out


def read_provenance(experiment_dir: Path, fix: str | None = None) -> dict | None:
    """The results.json of an experiment folder; None when it has none (folders from before it existed).
    `fix` is what the error tells the user to do (default: rewrite it from the run store)."""
    path = Path(experiment_dir) / PROVENANCE
    if not path.is_file():
        return None
    fix = fix or "delete it and run `xlr evaluate` on one run of the experiment to rewrite it"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise XlrError(f"{path} is corrupt ({e}); {fix}") from None
    if not isinstance(data, dict):
        raise XlrError(f"{path} is corrupt (not a JSON object); {fix}")
    return data


def rows_to_csv(rows: list[dict], columns: list[str] = RESULT_COLUMNS) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def read_results_csv(path: Path, extra_columns: tuple[str, ...] = ()) -> list[dict]:
    """Read a tidy results CSV; missing or unknown columns and non-numeric accuracies are errors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise XlrError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise XlrError(f"{path} cannot be read as UTF-8 text ({e})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if not header:
        raise XlrError(f"{path} is empty; a results table has the columns {', '.join(RESULT_COLUMNS)}")
    missing = [c for c in RESULT_COLUMNS if c not in header]
    unknown = [c for c in header if c not in RESULT_COLUMNS and c not in extra_columns]
    if missing or unknown:
        shown = [c if c and c.isprintable() and c.strip() == c else repr(c) for c in unknown]  # one line, always
        what = "; ".join(filter(None, [f"missing columns {', '.join(missing)}" if missing else "",
                                       f"unknown columns {', '.join(shown)}" if unknown else ""]))
        raise XlrError(f"{path} is not a results table ({what}); expected columns {', '.join(RESULT_COLUMNS)}")
    rows = []
    for line, row in enumerate(reader, start=2):
        if None in row or any(v is None for v in row.values()):
            raise XlrError(f"{path}:{line}: wrong number of fields")
        try:
            row["accuracy"] = float(row["accuracy"])
            row["seed"] = int(row["seed"]) if row["seed"] not in ("", "-") else None
        except ValueError:
            raise XlrError(f"{path}:{line}: accuracy '{row['accuracy']}' or seed '{row['seed']}' is not a number") from None
        if row["setting"] not in SETTINGS:
            raise XlrError(f"{path}:{line}: setting '{row['setting']}' is not one of {', '.join(SETTINGS)}")
        rows.append(row)
    return rows
