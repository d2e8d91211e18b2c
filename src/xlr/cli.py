"""The `xlr` command: parse arguments, call the library or a verb's body (xlr.commands), render.

Exit codes: 0 ok, 1 checks failed, 2 bad input (one line on stderr, no traceback).
"""
from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from xlr.commands import analyze, bench, data, docker
from xlr.commands.options import (TASK_NAMES, DataDir, DeviceOpt, Fmt, ModelName, ModelNote, Out, Profile,
                                  Results, Synonyms, TrainFile, check_format, launcher_flags, method_flags,
                                  split_items, train_flags)
from xlr.commands.run import write
from xlr.errors import ChecksFailed, XlrError
from xlr.methods import BASELINE, shared_options
from xlr.store import DEFAULT_ROOT

app = typer.Typer(
    help="Reproduce 'Improving Zero-Shot Cross-Lingual Transfer Learning via Robust Training' "
         "(Huang et al., EMNLP 2021): fine-tune on English, test zero-shot on other languages.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)


# the groups whose verbs are more than a call: declared with their bodies (xlr.commands)
app.add_typer(data.app, name="data")
app.add_typer(analyze.app, name="analyze")
app.add_typer(bench.app, name="bench")
app.add_typer(docker.app, name="docker")


# ------------------------------------------------------------------------------------------------ training

@app.command()
@train_flags
@method_flags
def train(
    task: Annotated[str, typer.Option(help=f"{TASK_NAMES} or a task TOML file.")] = "pawsx",
    method: Annotated[str, typer.Option(help="A method of the registry (docs/methods.md).")] = BASELINE,
    model: Annotated[str, typer.Option(help="Hugging Face id, local model folder, or builtin:tiny-bert.")]
    = "bert-base-multilingual-cased",
    data_dir: DataDir = None,
    train_file: TrainFile = None,
    out: Out = DEFAULT_ROOT,
    name: Annotated[Optional[str], typer.Option(help="Experiment folder under --out (default: the task).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    languages: Annotated[Optional[list[str]], typer.Option(help="Test languages (default: all of the task).")]
    = None,
    max_test_examples: Annotated[Optional[int], typer.Option(help="Evaluate the first N rows of each test set.")]
    = None,
    generalized: Annotated[bool, typer.Option(help="Also evaluate every cross-language pair.")] = False,
    force: Annotated[bool, typer.Option(help="Retrain even if the run is finished.")] = False,
    device: DeviceOpt = None,
    fmt: Fmt = "rich",
    method_options: dict | None = None,
    train_options: dict | None = None,
):
    """Train one run (one method, one seed) and evaluate it on every test language."""
    from xlr.commands import run
    from xlr.experiments import adhoc_experiment, check_method_options

    check_format(fmt)
    check_method_options([method], method_options)
    exp = adhoc_experiment(task, model, method, seed, name=name, options=method_options,
                           languages=split_items(languages), data=data_dir,
                           train_file=str(train_file) if train_file else None, max_test_examples=max_test_examples,
                           generalized=generalized or None, train=train_options or None)
    run.run_here(exp, out, force, device, fmt)


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run folder: runs/<experiment>/<method>/seed<N>.")],
    languages: Annotated[Optional[list[str]], typer.Option(help="Test languages (default: the run's).")] = None,
    data_dir: Annotated[Optional[str], typer.Option(
        "--data-dir", help="Folder of {split}-{lang}.tsv files, builtin:fixture or hub. Default: the source the "
                           "run was trained with (its config.json).")] = None,
    fresh: Annotated[bool, typer.Option(help="Predict every test set again instead of reusing the stored "
                                             "predictions whose gold labels match.")] = False,
    device: DeviceOpt = None,
    fmt: Fmt = "rich",
):
    """Evaluate a trained run's model on test languages; updates its metrics.json and results.csv."""
    from xlr.commands import run
    from xlr.engine.pipeline import evaluate_existing

    check_format(fmt)
    results, title, langs = evaluate_existing(run_dir, split_items(languages), data_dir, device, fresh)
    run.show(results, title, langs, fmt)
    run.container_notice(run_dir)


@app.command()
@launcher_flags
@train_flags
@method_flags
def reproduce(
    experiment: Annotated[str, typer.Argument(help="A name from reproduce/ (smoke, table1, ...) or a TOML path.")],
    out: Out = DEFAULT_ROOT,
    data_dir: DataDir = None,
    train_file: TrainFile = None,
    model: Annotated[Optional[str], typer.Option(help="Override the experiment's model (id or local folder).")]
    = None,
    profile: Profile = None,
    seeds: Annotated[Optional[str], typer.Option(help="Comma-separated seeds, e.g. 1,2,3 (tables show mean ± std).")]
    = None,
    methods: Annotated[Optional[str], typer.Option(help="Comma-separated subset of methods to run.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Override any TOML key, e.g. --set train.epochs=1 --set methods.adv.epsilon=0.5.")] = None,
    overrides_file: Annotated[Optional[list[Path]], typer.Option(
        "--overrides", help="A TOML file of overrides applied after the profile, e.g. a chosen-METHOD.toml "
                            "written by `xlr sweep`.")] = None,
    force: Annotated[bool, typer.Option(help="Retrain finished runs.")] = False,
    nproc: Annotated[int, typer.Option(
        help="Data-parallel processes on this machine (one per GPU; gloo on CPU), same effective batch.")] = 1,
    device: DeviceOpt = None,
    fmt: Fmt = "rich",
    method_options: dict | None = None,
    train_options: dict | None = None,
    cluster=None,
    lease: float = 600.0,
):
    """Run every (method, seed) of an experiment and print its table in the paper's layout.

    A method flag (--epsilon, --steps, ...) sets that option of the one selected method that has it; when
    several selected methods have it, use --set methods.METHOD.KEY=V. With --launcher slurm (or local,
    debug) each run is a scheduler job: the command prints the job ids and returns; run it again without
    --launcher (or pass --wait) for the tables."""
    from xlr.commands import run
    from xlr.experiments import check_method_options, cli_overrides, load_experiment, selected_methods

    check_format(fmt)
    overrides = cli_overrides(data=data_dir, train_file=str(train_file) if train_file else None, model=model,
                              seeds=seeds, methods=methods, assignments=set_,
                              files=[str(f) for f in overrides_file or []], method_options=method_options,
                              train=train_options)
    exp = load_experiment(experiment, profile, overrides)
    check_method_options(selected_methods(exp), method_options)
    run.reproduce(exp, out, force, nproc, device, fmt, cluster, lease)


@app.command()
@launcher_flags
@train_flags
@method_flags
def sweep(
    experiment: Annotated[str, typer.Argument(help="A name from reproduce/ or a TOML path.")],
    grid: Annotated[list[str], typer.Option(
        help=f"KEY=V1,V2,...: a method option ({', '.join(shared_options())}), train.KEY or "
             "methods.METHOD.KEY; several --grid make a product.", show_default=False)],
    methods: Annotated[Optional[str], typer.Option(help="Comma-separated methods to sweep (default: the "
                                                        "experiment's).")] = None,
    seeds: Annotated[Optional[str], typer.Option(help="Comma-separated seeds; the choice uses the mean.")] = None,
    profile: Profile = None,
    out: Annotated[Path, typer.Option("--out", help="Run store root: the points go to "
                                      "OUT/<experiment>-sweep/<point>/<method>/seed<N>/.")] = DEFAULT_ROOT,
    data_dir: DataDir = None,
    train_file: TrainFile = None,
    model: Annotated[Optional[str], typer.Option(help="Override the experiment's model (id or local folder).")]
    = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Override any TOML key for every point, e.g. --set train.max_steps=100.")] = None,
    force: Annotated[bool, typer.Option(help="Retrain finished points.")] = False,
    device: DeviceOpt = None,
    fmt: Fmt = "rich",
    method_options: dict | None = None,
    train_options: dict | None = None,
    cluster=None,
    lease: float = 600.0,
):
    """Train every grid point and choose each method's setting on the SOURCE-LANGUAGE DEV SET only.

    Every point is an ordinary, resumable run under OUT/<experiment>-sweep/<point>/ that records its dev
    curve and never reads a test set. Several workers (processes or machines) can share one --out: each
    run is claimed before it is trained. Writes sweep.csv and, per method, chosen-METHOD.toml for
    `xlr reproduce ... --overrides`."""
    from xlr.commands import run
    from xlr.experiments import cli_overrides

    check_format(fmt)
    overrides = cli_overrides(data=data_dir, train_file=str(train_file) if train_file else None, model=model,
                              seeds=seeds, assignments=set_, method_options=method_options, train=train_options)
    run.sweep(experiment, grid, split_items([methods]) if methods else None, profile, overrides, method_options, out,
              force, device, fmt, cluster, lease)


@app.command()
def status(
    name: Annotated[Optional[str], typer.Argument(
        help="An experiment folder of the store (e.g. table1-cpu), or an experiment whose planned runs show as "
             "waiting until they start (with --profile). Default: every experiment of the store.")] = None,
    out: Out = DEFAULT_ROOT,
    profile: Profile = None,
    lease: Annotated[float, typer.Option(help="Minutes without a heartbeat after which a claim is stale.")] = 10.0,
    fmt: Annotated[str, typer.Option("--format", help="rich, markdown, csv or json.")] = "rich",
):
    """Each run of a run store: done, training (where, step, heartbeat), stale, failed (why) or waiting.

    Works on any store, whichever launcher or worker filled it."""
    from xlr.scheduling import status as st

    if fmt != "json":
        check_format(fmt)
    from xlr.scheduling.claims import check_lease

    write(st.show(st.store_status(out, name, profile, check_lease(lease)), fmt))


@app.command()
def doctor(
    hub_timeout: Annotated[float, typer.Option(help="Seconds to wait for the Hugging Face hub.")] = 3.0,
    experiment: Annotated[str, typer.Option(help="The experiment whose cost (steps per method, disk, time) to "
                                                 "estimate: a name from reproduce/ or a TOML path.")] = "table1",
    measure: Annotated[bool, typer.Option(help="Time a few training steps of each method on this device (the "
                                               "experiment's model with random weights, full-length batches) and "
                                               "estimate the experiment's training time from them.")] = False,
    rates: Annotated[Optional[Path], typer.Option(help="A throughput.json of `xlr bench throughput` (steady-state "
                                                       "steps at the experiment's batch size, each method): estimate "
                                                       "the training time from its rates instead.")] = None,
):
    """What this setup has, what table1 costs here, and whether it can run `xlr reproduce table1`.

    Shows versions, driver, GPUs, bf16, hub, caches and free disk. Exit 0 when it can run table1, 1 with the
    reasons when it cannot."""
    from xlr.commands import doctor as checking

    report = checking.doctor(hub_timeout, experiment, measure, rates)
    write(checking.render(report))
    if report.problems:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------------------- data

@app.command()
def augment(
    input: Annotated[Path, typer.Option("--input", help="Training TSV (sentence1, sentence2, label; text, label "
                                                        "for a single-sentence task).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the augmented TSV.")],
    task: Annotated[str, typer.Option(help=f"{TASK_NAMES} or a task TOML file (for its columns and "
                                           "labels).")] = "pawsx",
    num: Annotated[int, typer.Option(help="Copies per pair (paper: 10 PAWS-X, 3 XNLI).")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed; the output is deterministic.")] = 7,
    synonyms: Synonyms = None,
):
    """Write RS-DA's synonym-substituted training data, like the paper's perturb.py."""
    from xlr.commands import data

    print(data.augment(task, input, out, num, seed, synonyms))




# ------------------------------------------------------------------------------------------- results, analyses

@app.command()
def compare(
    results: Results = None,
    against: Annotated[str, typer.Option(help="Folder of paper tables (*.csv) and claims.toml, one CSV, or a set "
                                              "of xlr's published results (results/NAME).")]
    = "paper_results",
    tolerance_language: Annotated[Optional[float], typer.Option(
        help="Allowed |ours - paper| for a language, in points (default: the experiment TOML's, else 2.0).")] = None,
    tolerance_average: Annotated[Optional[float], typer.Option(
        help="Allowed |ours - paper| for an average, in points (default: the experiment TOML's, else 1.0).")] = None,
    between: Annotated[Optional[tuple[str, str]], typer.Option(
        help="Compare two of our methods instead, e.g. --between baseline rs-da: from the stored per-item test "
             "predictions (of a run store, or the outcomes a published set keeps), runs paired by seed, the "
             "per-seed differences, the seed-level interval and its verdict, and the item-only interval.",
        show_default=False)] = None,
    any_model: Annotated[bool, typer.Option(
        "--any-model", help="Also check the paper's claims on results of other models (your own encoder): "
                            "cells are compared only where the paper has the model.")] = False,
    setting: Annotated[str, typer.Option(help="--between: standard or generalized predictions.")] = "standard",
    resamples: Annotated[int, typer.Option(help="--between: bootstrap resamples.")] = 1000,
    bootstrap_seed: Annotated[int, typer.Option(help="--between: random seed of the resampling.")] = 0,
    strict: Annotated[bool, typer.Option("--strict", help="An inconclusive claim fails too (exit 1).")] = False,
    fmt: Fmt = "rich",
):
    """Compare our results with the paper's (cell by cell within tolerance) and check its claims.

    Ours is the mean over seeds; with 3 seeds or more each cell also says whether the paper's number lies in
    the 95% prediction interval of our seeds. Claims hold, fail or are inconclusive, decided by seed-level
    intervals with Holm's correction. Against a published set (results/NAME), each method and setting also
    says whether the re-run agrees (Welch's interval over the two sides' seeds). Exit 0 when nothing fails,
    1 when a cell is outside tolerance, a claim fails (or, with --strict, is inconclusive) or a re-run
    differs, 2 on bad input. With --between A B instead: is method B better than A, seed by seed, with the
    seed-level interval, its verdict, and the item-only interval."""
    check_format(fmt)
    if between:
        from xlr.results import between as pairing

        found = pairing.between(results, between[0], between[1], setting, resamples, bootstrap_seed)
        write(pairing.show(found, between[0], between[1], resamples, fmt))
        return
    from xlr.results import compare as comparing

    comparison = comparing.compare(results, against, tolerance_language, tolerance_average, any_model, strict)
    write(comparing.show(comparison, fmt))
    comparison.raise_if_failed()


results_app = typer.Typer(no_args_is_help=True, help="xlr's own published results: results/NAME/ frozen from a run "
                                                     "store, and docs/results.md rendered from them.")
app.add_typer(results_app, name="results")


@results_app.command("publish")
def results_publish(
    experiment_dir: Annotated[Path, typer.Argument(help="An experiment folder of a run store: runs/<experiment>.")],
    name: Annotated[str, typer.Option(help="The published set's folder name, e.g. xnli-e5-cpu.")],
    command: Annotated[str, typer.Option(help="The command that made the runs, recorded with them.")],
    into: Annotated[Path, typer.Option(help="Where published sets live.")] = Path("results"),
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of each interval.")] = 1000,
    bootstrap_seed: Annotated[int, typer.Option(help="Random seed of the resampling.")] = 0,
    add: Annotated[bool, typer.Option("--add", help="Add this store's runs (more seeds, another method) to the "
                                                    "published set NAME and recompute its intervals over every seed; "
                                                    "a run both hold must be identical.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing published set NAME.")] = False,
    model_name: ModelName = None,
    model_note: ModelNote = None,
):
    """Freeze an experiment's results as INTO/NAME/, with their provenance.

    Writes results.csv (the model named, with its weights' fingerprint), its provenance results.json (no local
    paths), each run's dev curve (curves.csv), and every method against the baseline, per seed and with
    seed-level intervals and verdicts, in intervals.csv."""
    from xlr.machine.progress import say
    from xlr.results import published
    from xlr.results.bootstrap import check_resampling

    check_resampling(resamples, bootstrap_seed)
    if not command.strip():
        raise XlrError("--command is empty; give the command that made the runs, as a reader would type it")
    folder = published.publish(experiment_dir, name, into, command, resamples, bootstrap_seed,
                               on_step=lambda what: say(f"  bootstrap: {what}"), add=add, force=force,
                               model_name_given=model_name, model_note=model_note)
    say(f"wrote {folder}; render the page with `xlr results render`")


@results_app.command("refresh")
def results_refresh(
    sets: Annotated[list[Path], typer.Argument(help="Published sets: results/NAME.")],
    model_name: ModelName = None,
    model_note: ModelNote = None,
):
    """Rewrite published sets with this version of xlr, from what they hold.

    Recomputes intervals.csv (seed-level intervals, verdicts) from each set's stored outcomes with its own
    resamples and seed, and rewrites its provenance without local paths, the model named."""
    from xlr.machine.progress import say
    from xlr.results import published

    for folder in sets:
        published.refresh(folder, model_name, model_note, on_step=lambda what: say(f"  bootstrap: {what}"))
        say(f"rewrote {folder}")


@results_app.command("render")
def results_render(
    root: Annotated[Path, typer.Option("--results", help="The folder of published sets.")] = Path("results"),
    out: Annotated[Path, typer.Option("--out", help="The page; its figures go to a folder of the same name.")]
    = Path("docs/results.md"),
):
    """Write docs/results.md and its figures from every published set.

    The page shows per-language accuracy with the seed spread, each method against the baseline with
    intervals and per-seed points, the generalized averages and heatmaps, and the gain against lang2vec
    distance."""
    from xlr.machine.progress import say
    from xlr.results import page

    written = page.render(root, out)
    say(f"wrote {written[0]} and {len(written) - 1} figure(s)")




# ------------------------------------------------------------------------------------------ the machine





def _reflow_help(typer_app: typer.Typer) -> None:
    """Join each docstring paragraph's source line breaks, so `--help` and docs/cli.md wrap it to the width
    they have (rich keeps a single newline as a line break, which leaves ragged lines at any other width)."""
    for info in typer_app.registered_commands:
        if info.help is None and info.callback is not None and info.callback.__doc__:
            paragraphs = inspect.cleandoc(info.callback.__doc__).split("\n\n")
            info.help = "\n\n".join(" ".join(p.split("\n")) for p in paragraphs)
    for group in typer_app.registered_groups:
        _reflow_help(group.typer_instance)


_reflow_help(app)


def _log_level() -> None:
    """XLR_LOG_LEVEL (e.g. DEBUG: every file write, with the writing rank) to stderr."""
    if os.environ.get("XLR_LOG_LEVEL"):
        import logging

        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger = logging.getLogger("xlr")
        logger.setLevel(os.environ["XLR_LOG_LEVEL"].upper())
        logger.addHandler(handler)


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _log_level()
    errors = sys.modules[typer.BadParameter.__module__]  # click's errors, from whichever click typer uses
    interrupted = "interrupted; finished work is kept: re-run the same command to continue\n"
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except errors.NoArgsIsHelpError as e:   # `xlr` or `xlr docker` alone: its help
        sys.stdout.write(e.ctx.get_help() + "\n")
        sys.exit(0)
    except errors.UsageError as e:                     # a wrong option or value: one line, exit 2
        where = f"xlr {e.ctx.command_path.split(' ', 1)[1]} --help" if e.ctx and " " in e.ctx.command_path else "xlr --help"
        sys.stderr.write(f"error: {e.format_message()} (see `{where}`)\n")
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write(interrupted)
        sys.exit(130)
    except XlrError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(e.exit_code)
    except ChecksFailed as e:
        sys.stderr.write(f"{e}\n")
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
