"""One run's life: prepare its folder, train (or resume), publish the best model, evaluate, mark DONE.

Each stage leaves a durable result before the next starts, so a killed run picks up where it stopped:
a finished run is skipped; a run with model/ only re-evaluates (reusing stored predictions); a run
without model/ resumes training from its last complete Trainer checkpoint.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import numpy as np

from xlr.machine import device
from xlr.machine import distributed
from xlr.machine.versions import versions
from xlr.engine import preflight
from xlr.tasks import RESULT_NEUTRAL_TASK_KEYS, check_languages, task_of_config
from xlr.sources import generalized_pairs, open_source
from xlr.errors import XlrError
from xlr.engine.evaluation import generalized_summary, mean, predict, prediction_trainer
from xlr.experiments import Experiment, RunSpec, comparable_identity
from xlr.engine.models import BUILTIN_TINY_BERT, load_model, load_trained
from xlr.methods import get_method, make_objective
from xlr.engine.callbacks import RichProgressCallback
from xlr.machine.progress import quiet_libraries, say
from xlr.store import RunDir, RunStore, write_results
from xlr.settings import TrainSettings
from xlr.tasks import train_settings_for
from xlr.engine.training import (Interrupted, accuracy, fit, log_to_trackers, report_to, stop_reason,
                                 stop_requested)


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _canonical(obj):
    return json.loads(json.dumps(obj))


def _sha256(path: str | None) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None
    except OSError:
        return None


def run_config(spec: RunSpec) -> dict:
    e = spec.experiment
    return {
        "experiment": e.run_name, "title": e.title, "experiment_file": e.path,
        "experiment_sha256": _sha256(e.path), "profile": e.profile, "paper": e.paper, "tolerance": e.tolerance,
        "identity": _canonical(spec.identity()),
        # the task's whole definition (its name is in the identity): `xlr evaluate` rebuilds the task from it
        "task_definition": e.task_def.as_dict(),
        "languages": e.languages, "generalized": e.generalized, "max_test_examples": e.max_test_examples,
        "data": e.data or "hub", "train_file": e.train_file, "train_split": e.train_split,
        # the data and weights this run reads: resolved hub commits, or local paths with their sha256
        "sources": preflight.recorded(e) or preflight.resolve_part(e),
        "world_size": distributed.world_size(), "device": device.current().as_dict(),
        "versions": versions(), "git_revision": _git_revision(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def prepare(spec: RunSpec, out: Path, force: bool = False) -> RunDir:
    """The run's folder, reset when forced or when an unfinished run was made with another configuration."""
    rd = RunStore(out).run(spec.experiment.run_name, spec.method, spec.seed)
    if force:
        rd.reset()
    elif changed := configuration_changes(rd, spec):
        if rd.is_done():
            raise XlrError(f"{rd.path} finished with a different configuration ({', '.join(changed)} changed); "
                           "pass --force to retrain it or --out DIR to keep both")
        say(f"[yellow]{rd.path}: configuration changed ({', '.join(changed)}); starting this run again[/]")
        rd.reset()
    distributed.barrier()
    return rd


def configuration_changes(rd: RunDir, spec: RunSpec) -> list[str]:
    """What differs between the configuration RD was made with and SPEC's (identity keys, or "task" for a
    task edited under the same name); empty when they match or RD holds no run yet."""
    previous = rd.read_config()
    if previous is None:
        return []
    identity = _canonical(spec.identity())
    stored = _canonical(comparable_identity(previous.get("identity", {})))
    train_file = spec.experiment.train_file
    if train_file and stored.get("train_file") == Path(train_file).name:  # stored before identities held the hash
        stored["train_file"] = identity["train_file"]
    if stored == identity and not _task_changed(previous, spec):
        return []
    return sorted(k for k in identity if stored.get(k) != identity[k]) or ["task"]


def _task_changed(previous: dict, spec: RunSpec) -> bool:
    """A task edited under the same name (runs from before task files store no definition: not compared)."""
    stored = previous.get("task_definition")
    if stored is None:
        return False
    neutral = lambda d: {k: v for k, v in _canonical(d).items() if k not in RESULT_NEUTRAL_TASK_KEYS}  # noqa: E731
    return neutral(stored) != neutral(spec.experiment.task_def.as_dict())


def train_run(spec: RunSpec, rd: RunDir):
    """Train one run and publish its best model; returns the Trainer when train.report_to names trackers
    (the test accuracies are logged to them after evaluation), else None."""
    e = spec.experiment
    task = e.task_def
    source = open_source(e.data)
    settings = e.train_settings()
    # downloads (data, synonym table, model) happen once per machine: its first rank goes first
    with distributed.main_process_first():
        train_set = e.training_pairs(source)
        train_set = training_data(spec, train_set)
        dev_set = source.load(task, "dev", e.source_language).head(settings.max_dev_examples)
        texts = None
        if e.model == BUILTIN_TINY_BERT:  # the smoke model builds its vocabulary from the data it will see
            texts = [text for column in train_set.texts for text in column]
            seen = "test" if e.evaluate_test else "dev"  # a dev-only run (a sweep) never opens a test set
            for lang in e.languages:
                texts += [text for column in source.load(task, seen, lang).texts for text in column]
        model, tokenizer = load_model(e.model, task, spec.seed, texts, settings.pooling)
    objective = make_objective(spec.method, spec.options, model)
    say(f"[bold]{e.run_name} / {spec.method} / seed {spec.seed}[/]: {len(train_set)} training pairs, "
        f"dev {e.source_language} {len(dev_set)} pairs")
    trainer, result = fit(model, tokenizer, objective, train_set, dev_set, settings, spec.seed, rd.path,
                          progress_label=f"{spec.method} seed {spec.seed}")
    rd.publish_model(trainer, {"fit": result.as_dict(), "dev_language": e.source_language,
                               "objective": {"method": spec.method, **objective.describe()}})
    say(f"  best source dev accuracy {result.best_dev_accuracy:.2f} at step {result.best_step} "
        f"of {result.steps} ({result.seconds:.0f}s)")
    return trainer if report_to(settings) != "none" else None


def training_data(spec: RunSpec, train_set):
    """The training pairs a method trains on: its declared transform (RS-DA's augmentation), if any."""
    transform = get_method(spec.method).transform
    if transform is None:
        return train_set
    transformed, summary = transform(train_set, spec.options, spec.seed)
    say(f"  {summary}")
    return transformed


def evaluate_run(rd: RunDir, config: dict, languages: list[str] | None = None, data: str | None = None,
                 settings: TrainSettings | None = None, fresh: bool = False) -> dict:
    """Evaluate a run's model/ on test sets; reuse stored predictions whose gold labels still match, unless
    `fresh` (predict every test set again)."""
    identity = config["identity"]
    task = task_of_config(config)
    languages = check_languages(task, languages or config["languages"])
    source = open_source(data if data is not None else (None if config["data"] == "hub" else config["data"]))
    settings = settings or train_settings_for(task, comparable_identity(identity)["train"])
    n = config.get("max_test_examples")
    with distributed.main_process_first():
        sets = {lang: source.load(task, "test", lang).head(n) for lang in languages}
    jobs = [("standard", lang, s) for lang, s in sets.items()]
    if config.get("generalized") and task.is_pair:
        jobs += [("generalized", f"{a}-{b}", s) for (a, b), s in generalized_pairs(task, sets).items()]

    metrics = rd.read_metrics() if rd.metrics_path.is_file() else {}
    test = metrics.get("test", {})
    rows = metrics.get("test_rows", {})
    pending = []
    for setting, key, pairs in jobs:
        stored = None if fresh else rd.load_predictions(setting, key)
        gold = np.asarray(pairs.labels)
        if stored is not None and len(stored[1]) == len(gold) and np.array_equal(stored[1], gold):
            test.setdefault(setting, {})[key] = accuracy(stored[0], gold)
            rows[key] = len(gold)
        else:
            pending.append((setting, key, pairs))
    if pending:
        device.refresh()  # workers sharing the cores may have started or stopped since training
        model, tokenizer = load_trained(rd.model_dir)
        progress = RichProgressCallback()
        trainer = prediction_trainer(model, tokenizer, settings, [progress])
        try:
            for i, (setting, key, pairs) in enumerate(pending, 1):
                if stop_requested():  # every test set done so far is stored; the same command does the rest
                    raise Interrupted(f"stopped {stop_reason()} after {i - 1} of {len(pending)} test sets")
                progress.label = f"test {key}"
                pred = predict(trainer, tokenizer, pairs, settings.max_length)
                rd.save_predictions(setting, key, pred, np.asarray(pairs.labels))
                test.setdefault(setting, {})[key] = accuracy(pred, pairs.labels)
                rows[key] = len(pairs)
                if setting == "standard" or i % 10 == 0 or i == len(pending):
                    say(f"  {setting:<11} {key:<6} {test[setting][key]:6.2f}  ({i}/{len(pending)})")
        finally:
            progress.close()
    standard = {k: v for k, v in test.get("standard", {}).items() if k != "avg"}
    test["standard"] = {lang: standard[lang] for lang in task.languages if lang in standard}
    test["standard"]["avg"] = mean(test["standard"].values())
    if "generalized" in test:
        matrix = {k: v for k, v in test["generalized"].items() if not k.startswith("avg")}
        test["generalized"] = {**matrix, **generalized_summary(matrix)}
    metrics = run_metrics(rd, config, test, rows)
    rd.write_metrics(metrics)
    return metrics


def run_metrics(rd: RunDir, config: dict, test: dict, rows: dict) -> dict:
    """metrics.json: the training record (dev curve, best step, losses) and the test accuracies."""
    identity = config["identity"]
    info = rd.training_info()
    return {
        "experiment": config["experiment"], "task": identity["task"], "model": identity["model"],
        "method": identity["method"], "seed": identity["seed"],
        "dev": {"language": info.get("dev_language"), "curve": info["fit"]["dev_curve"],
                "best_step": info["fit"]["best_step"], "best_accuracy": info["fit"]["best_dev_accuracy"]},
        "train": {**{k: info["fit"][k] for k in ("steps", "train_examples", "seconds")},
                  "loss_curve": info["fit"].get("loss_curve", [])},
        "objective": info.get("objective"),
        "test": test, "test_rows": rows, "max_test_examples": config.get("max_test_examples"),
    }


def evaluation_covered(rd: RunDir, config: dict) -> bool:
    """Whether the run's metrics already hold every test set `config` asks for (same row limit)."""
    if not rd.metrics_path.is_file():
        return False
    metrics = rd.read_metrics()
    if metrics.get("max_test_examples") != config.get("max_test_examples"):
        return False
    test = metrics.get("test", {})
    langs = config["languages"]
    if not set(langs) <= set(test.get("standard", {})):
        return False
    if config.get("generalized"):
        return {f"{a}-{b}" for a in langs for b in langs} <= set(test.get("generalized", {}))
    return True


def run_one(spec: RunSpec, out: Path, force: bool = False, keep_checkpoints: bool = False) -> RunDir:
    """One run's life: prepare its folder, train (or resume), publish the best model, test, mark DONE. A full
    disk or quota is one line naming the folder, the space the run needs and the space left; what was written
    before stays, and the same command resumes once space is freed."""
    folder = RunStore(out).run(spec.experiment.run_name, spec.method, spec.seed).path
    try:
        rd = prepare(spec, out, force)
        rd.failed_path.unlink(missing_ok=True)
        if not rd.is_done() and not rd.has_model():
            preflight.check_space(spec.experiment, rd.path)
        return _run_one(spec, rd, keep_checkpoints)
    except Exception as e:
        full = preflight.disk_full(e, spec.experiment, folder)
        if full is not None:
            raise full from None
        raise


def _run_one(spec: RunSpec, rd: RunDir, keep_checkpoints: bool) -> RunDir:
    config = run_config(spec)
    if not spec.experiment.evaluate_test:  # a sweep's run: train, keep the dev record, read no test set
        if rd.is_done():
            say(f"[dim]skip {rd.path}: already finished[/]")
            return rd
        rd.write_config(config)
        if not rd.has_model():
            train_run(spec, rd)
        rd.write_metrics(run_metrics(rd, config, {}, {}))
        rd.mark_done()
        return rd
    if rd.is_done():
        previous = rd.read_config() or {}  # {}: its config.json was deleted, this command's settings stand
        if evaluation_covered(rd, config):
            say(f"[dim]skip {rd.path}: already finished (delete its DONE file or pass --force to redo it)[/]")
            return rd
        # a finished model asked for more test sets (say, the generalized pairs): evaluate only those
        config["languages"] = list(dict.fromkeys(previous.get("languages", []) + config["languages"]))
        config["generalized"] = bool(previous.get("generalized") or config["generalized"])
        say(f"{rd.path}: finished model, evaluating the test sets it does not have yet")
        rd.write_config(config)
        evaluate_run(rd, config)
        write_results(RunStore.experiment_of(rd))
        return rd
    rd.write_config(config)
    trainer = None
    if rd.has_model():
        say(f"{rd.path}: model already trained; evaluating")
    else:
        trainer = train_run(spec, rd)
    metrics = evaluate_run(rd, config)
    if trainer is not None and distributed.is_main_process():
        log_to_trackers(trainer, config, metrics.get("test", {}))
    rd.mark_done(keep_checkpoints)
    write_results(RunStore.experiment_of(rd))
    return rd


def finished(rd: RunDir, spec: RunSpec) -> bool:
    """Done with the spec's configuration, and holding every test set it asks for (a dev-only run needs none).
    A run done with another configuration is not: prepare() then refuses it, naming what changed."""
    if not rd.is_done() or configuration_changes(rd, spec):
        return False
    e = spec.experiment  # the three keys evaluation_covered reads, not a whole provenance record (git, versions)
    return not e.evaluate_test or evaluation_covered(rd, {"max_test_examples": e.max_test_examples,
                                                          "languages": e.languages, "generalized": e.generalized})


def announce_device(exp: Experiment | None = None, option: str | None = None) -> device.DeviceInfo:
    """Choose the device once (or fail loudly) and print it on one line before any work."""
    first = (exp.parts[0] if exp is not None and exp.parts else exp)
    info = device.configure(option, first.train_settings().precision if first is not None else "auto")
    say(f"[bold]{info.line()}[/]")
    return info


def join_process_group() -> None:
    """Join the process group early (before any file is touched) when launched with several processes.

    accelerate's PartialState is the same state Trainer uses later, so this only moves the start forward."""
    if distributed.world_size() > 1:
        import torch
        from accelerate import PartialState

        PartialState(cpu=not torch.cuda.is_available())


def evaluate_existing(run_dir: Path, languages: list[str] | None, data: str | None,
                      device_option: str | None = None, fresh: bool = False):
    """`xlr evaluate RUN_DIR`: (re-)evaluate a trained run; returns (results.csv, title, languages)."""
    quiet_libraries()
    rd = RunDir(Path(run_dir))
    if not rd.path.is_dir():
        raise XlrError(f"{rd.path} is not a run folder (expected runs/<experiment>/<method>/seed<N>)")
    config = rd.read_config()
    if config is None or not rd.has_model():
        raise XlrError(f"{rd.path} has no trained model yet; run `xlr train` or `xlr reproduce` first")
    announce_device(None, device_option)
    if not fresh and any(rd.predictions_dir.glob("*/*.npz")):
        say("[dim]reusing stored predictions whose gold labels match (--fresh predicts again)[/]")
    metrics = evaluate_run(rd, config, languages, data, fresh=fresh)
    configured = set(config["languages"])
    if not rd.is_done() and configured <= set(metrics["test"]["standard"]):
        rd.mark_done()
    results = write_results(RunStore.experiment_of(rd))
    return results, config.get("title", config["experiment"]), languages or config["languages"]
