"""The `xlr` command: parse arguments, call the library, render. No logic lives here.

Exit codes: 0 ok, 1 checks failed, 2 bad input (one line on stderr, no traceback).
"""
from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from xlr.errors import ChecksFailed, XlrError
from xlr.methods import BASELINE, shared_options
from xlr.store import DEFAULT_ROOT
from xlr.tasks import TASKS

app = typer.Typer(
    help="Reproduce 'Improving Zero-Shot Cross-Lingual Transfer Learning via Robust Training' "
         "(Huang et al., EMNLP 2021): fine-tune on English, test zero-shot on other languages.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)

FORMAT_HELP = "Output: rich (terminal table), markdown or csv."
TASK_NAMES = f"A task name ({', '.join(TASKS)})"
DataDir = Annotated[Optional[str], typer.Option(
    "--data-dir", help="Folder of {train,dev,test}-{lang}.tsv files (or one subfolder per task, as "
                       "`xlr data export` writes them), or builtin:fixture. Default: the Hugging Face hub.")]
TrainFile = Annotated[Optional[Path], typer.Option(
    "--train-file", help="English training TSV to use instead of the source's train-en.tsv; TASK=PATH gives it to "
                         "the parts of that task only (in an experiment that includes several tasks).")]
Out = Annotated[Path, typer.Option("--out", help="Run store root: runs/<experiment>/<method>/seed<N>/.")]
Fmt = Annotated[str, typer.Option("--format", help=FORMAT_HELP)]
Profile = Annotated[Optional[str], typer.Option(
    help="A named profile of the experiment TOML (its profiles.NAME table): quick or cpu; table1 also has sweep.")]
DeviceOpt = Annotated[Optional[str], typer.Option(
    "--device", help="auto (a GPU when torch sees one), cpu, or cuda (exit 2 when torch sees no GPU). "
                     "Default: $XLR_DEVICE, else auto.")]
def _split(values: list[str] | None) -> list[str] | None:
    """`--languages de,ja --languages zh` -> [de, ja, zh]."""
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _at_least(*checks: tuple[str, float, float]) -> None:
    """(flag, value, least) for each numeric option with a lower bound: one line naming the first one below it."""
    for name, value, least in checks:
        if value < least:
            raise XlrError(f"{name} must be at least {least}, not {value}")


Synonyms = Annotated[Optional[Path], typer.Option(
    help="A local counterfitted_neighbors.json (default: download, verify sha256, cache; or $XLR_SYNONYMS).")]
_PY_TYPES = {"float": float, "int": int, "str": str, "path": Path, "bool": bool}


def _with_flags(func, sink: str, flags: list[tuple[str, str, str, str, str]]):
    """Give a command generated flags, each (parameter, key, type, help, help panel): the flag is
    --key-with-dashes, and the command receives the flags that were given as `sink` ({key: value})."""
    import functools
    import inspect

    signature = inspect.signature(func, eval_str=True)
    params = [p for p in signature.parameters.values() if p.name != sink]
    taken = {p.name for p in params}
    keys = {}
    for param, key, kind, help_text, panel in flags:
        flag = "--" + key.replace("_", "-")
        if param in taken:
            raise ValueError(f"{func.__name__}: parameter {param} clashes with a generated flag")
        keys[param] = key
        params.append(inspect.Parameter(
            param, inspect.Parameter.KEYWORD_ONLY, default=None,
            annotation=Annotated[Optional[_PY_TYPES[kind]], typer.Option(
                flag + (f"/--no-{flag[2:]}" if kind == "bool" else ""), help=help_text, rich_help_panel=panel,
                show_default=False)]))

    @functools.wraps(func)
    def command(*args, **kwargs):
        given = {keys[p]: kwargs.pop(p) for p in list(kwargs) if p in keys}
        given = {k: (str(v) if isinstance(v, Path) else v) for k, v in given.items() if v is not None}
        return func(*args, **{sink: given}, **kwargs)

    command.__signature__ = signature.replace(parameters=params)
    return command


def method_flags(func):
    """One flag per method option of the registry (xlr.methods.METHODS); the command receives the given ones
    as `method_options`. Methods that share an option name share its flag."""
    flags = []
    for name, users in shared_options().items():
        parts = []
        for method, option in users:
            default = "none" if option.default is None else option.default
            choices = f" ({' or '.join(option.choices)})" if option.choices else ""
            parts.append(f"{method.name}: {option.help}{choices}; default {default}")
        flags.append((f"method_option_{name}", name, users[0][1].type, ". ".join(parts) + ".", "Method options"))
    return _with_flags(func, "method_options", flags)


def train_flags(func):
    """One flag per training setting (config.TrainConfig: --learning-rate, --epochs, ...); the command receives
    the given ones as `train_options`, which override the experiment's [train] table."""
    from xlr.config import TrainConfig

    def shown(default) -> str:
        if default is None:
            return ""
        return f" Default: {str(default).lower() if isinstance(default, bool) else default}."

    flags = [(f"train_option_{name}", name, kind.split("|")[0].strip(), help_text + shown(default), "Training settings")
             for name, kind, default, help_text in TrainConfig.flags()]
    return _with_flags(func, "train_options", flags)


LAUNCH = "Launcher: one scheduler job per run (docs/cluster.md)"
LAUNCHER_FLAGS = [  # (parameter, annotation, default)
    ("launcher", Annotated[str, typer.Option(
        help="plain: the runs in this process. slurm: one Slurm job array per method (submitit); local: the same "
             "jobs on this machine; debug: in this process, through submitit.", rich_help_panel=LAUNCH)], "plain"),
    ("partition", Annotated[Optional[str], typer.Option(help="Slurm partition.", rich_help_panel=LAUNCH)], None),
    ("gpus_per_run", Annotated[Optional[int], typer.Option(help="GPUs per run (job).", rich_help_panel=LAUNCH)], None),
    ("cpus_per_run", Annotated[Optional[int], typer.Option(help="CPU cores per run (job).", rich_help_panel=LAUNCH)],
     None),
    ("array_parallelism", Annotated[Optional[int], typer.Option(
        help="At most this many runs of one method at once.", rich_help_panel=LAUNCH)], None),
    ("slurm_arg", Annotated[Optional[list[str]], typer.Option(
        help="KEY=VALUE, an sbatch option (submitit's slurm_additional_parameters), e.g. qos=high.",
        rich_help_panel=LAUNCH)], None),
    ("time", Annotated[Optional[list[str]], typer.Option(
        help="METHOD=H:MM (or H:MM for every method): the time limit of each run of a method, instead of the "
             "cost model's.", rich_help_panel=LAUNCH)], None),
    ("seconds_per_step", Annotated[Optional[list[str]], typer.Option(
        help="METHOD=S (or S for every method): seconds per training step on the cluster's GPU, for the time "
             "limits.", rich_help_panel=LAUNCH)], None),
    ("rates", Annotated[Optional[Path], typer.Option(
        help="A throughput.json of `xlr bench throughput --out DIR`, measured on the cluster's GPU: its seconds "
             "per step set the time limits.", rich_help_panel=LAUNCH)], None),
    ("wait", Annotated[bool, typer.Option("--wait", help="Wait for the jobs, then print the tables.",
                                          rich_help_panel=LAUNCH)], False),
    ("lease", Annotated[float, typer.Option(
        help="Minutes without a heartbeat after which another worker takes a run's claim over.",
        rich_help_panel=LAUNCH)], 10.0),
]


def launcher_flags(func):
    """The launcher's flags; the command receives them as `cluster` (xlr.scheduling.launchers.Cluster, built
    without importing submitit) and `lease` (seconds)."""
    import functools

    signature = inspect.signature(func, eval_str=True)
    params = [p for p in signature.parameters.values() if p.name not in ("cluster", "lease")]
    params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
               for name, annotation, default in LAUNCHER_FLAGS]

    @functools.wraps(func)
    def command(*args, **kwargs):
        from xlr.scheduling.launchers import Cluster, parse_minutes, parse_pairs, parse_slurm_args, _seconds

        given = {name: kwargs.pop(name) for name, _, _ in LAUNCHER_FLAGS}
        lease = given.pop("lease")
        if not lease > 0:
            raise XlrError(f"--lease must be a positive number of minutes, not {lease}")
        cluster = Cluster(given["launcher"], given["partition"], given["gpus_per_run"], given["cpus_per_run"],
                          given["array_parallelism"], parse_slurm_args(given["slurm_arg"]),
                          parse_pairs(given["time"], "--time", parse_minutes),
                          parse_pairs(given["seconds_per_step"], "--seconds-per-step", _seconds), given["rates"],
                          given["wait"])
        return func(*args, cluster=cluster, lease=lease * 60, **kwargs)

    command.__signature__ = signature.replace(parameters=params)
    return command


def _check_format(fmt: str) -> str:
    from xlr.results.report import FORMATS

    if fmt not in FORMATS:
        raise XlrError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    return fmt


def _show(results_csv: Path, title: str, languages: list[str] | None, fmt: str) -> None:
    from xlr.env.distributed import is_main_process
    from xlr.results.report import show_results

    if not is_main_process():
        return
    text = show_results(results_csv, title, languages, fmt)
    if text:
        sys.stdout.write(text)


def _show_all(done: list, fmt: str) -> None:
    """The tables of every part of an experiment: one CSV (each table named after its part), or one after another."""
    from xlr.env.distributed import is_main_process
    from xlr.results.report import results_tables, tables_csv

    if fmt == "csv" and len(done) > 1:
        if is_main_process():
            _write(tables_csv([t for part, results in done
                               for t in results_tables(results, part.title, part.languages, f"{part.run_name}: ")]))
        return
    for i, (part, results) in enumerate(done):
        if i and is_main_process():
            _write("\n")
        _show(results, part.title, part.languages, fmt)


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
    from xlr.experiments import adhoc_experiment, check_method_options

    _check_format(fmt)
    check_method_options([method], method_options)
    exp = adhoc_experiment(task, model, method, seed, name=name, options=method_options, languages=_split(languages),
                           data=data_dir,
                           train_file=str(train_file) if train_file else None,
                           max_test_examples=max_test_examples,
                           generalized=generalized or None, train=train_options or None)
    from xlr.scheduling.workers import run_experiment  # the engine only once the input has been checked

    _show_all(run_experiment(exp, out, force=force, device_option=device), fmt)
    _container_notice(out)


def _container_notice(out: Path) -> None:
    """In the image, with results or downloads outside any host mount: how to keep them (last lines)."""
    from xlr.env import distributed
    from xlr.env.container import unmounted_notice
    from xlr.env.progress import say

    if distributed.is_main_process():
        for line in unmounted_notice(out):
            say(f"[bold yellow]{line}[/]")


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
    from xlr.engine.pipeline import evaluate_existing

    _check_format(fmt)
    results, title, langs = evaluate_existing(run_dir, _split(languages), data_dir, device, fresh)
    _show(results, title, langs, fmt)
    _container_notice(run_dir)


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

    Method options (--epsilon, --steps, ...) apply to every method of the experiment that has them. With
    --launcher slurm (or local, debug) each run is a scheduler job: the command prints the job ids and
    returns; run it again without --launcher (or pass --wait) for the tables."""
    from xlr.env import distributed
    from xlr.experiments import check_method_options, cli_overrides, load_experiment, selected_methods

    _check_format(fmt)
    overrides = cli_overrides(data=data_dir, train_file=str(train_file) if train_file else None, model=model,
                              seeds=seeds, methods=methods, assignments=set_,
                              files=[str(f) for f in overrides_file or []], method_options=method_options,
                              train=train_options)
    exp = load_experiment(experiment, profile, overrides)
    check_method_options(selected_methods(exp), method_options)
    if cluster.launcher != "plain":
        _launch(exp, out, cluster, force, device, lease, fmt)
        return
    # the engine (torch, transformers: seconds to import) only once the input has been checked
    from xlr.engine.preflight import preflight, resolve
    from xlr.scheduling.workers import run_experiment

    if nproc > 1 and distributed.world_size() == 1:
        preflight(exp, out)  # bad input and every download fail here, once, before the workers start
        resolve(exp)
        raise typer.Exit(distributed.relaunch(nproc, sys.argv[1:]))
    _show_all(run_experiment(exp, out, force=force, device_option=device, lease=lease), fmt)
    _container_notice(out)


def _launch(exp, out: Path, cluster, force: bool, device: str | None, lease: float, fmt: str, specs=None) -> None:
    """Submit the runs as scheduler jobs (after the same checks and downloads as a plain run); with --wait, wait
    and print the tables."""
    from xlr.engine.preflight import preflight, resolve
    from xlr.env.progress import quiet_libraries, say
    from xlr.scheduling import launchers
    from xlr.store import RunStore, write_results

    launchers.submitit_module(cluster.launcher)
    quiet_libraries()
    preflight(exp, out)
    resolve(exp)
    submitted = launchers.submit(exp, out, cluster, force, device_option=device, lease=lease, specs=specs, say=say)
    if not cluster.wait:
        if submitted:
            say(f"`xlr status --out {out}` follows them; the same command without --launcher prints the tables "
                "once they finish")
        return
    launchers.wait(submitted)
    if specs is None:
        _show_all([(part, write_results(RunStore(out).experiment_dir(part.run_name)))
                   for part in (exp.parts or [exp])], fmt)


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
    from xlr.env.progress import say
    from xlr.experiments import cli_overrides
    from xlr.scheduling import sweep as sweeping

    _check_format(fmt)
    overrides = cli_overrides(data=data_dir, train_file=str(train_file) if train_file else None, model=model,
                              seeds=seeds, assignments=set_, method_options=method_options, train=train_options)
    chosen = _split([methods]) if methods else None
    if cluster.launcher != "plain":
        base, points = sweeping.checked_plan(experiment, grid, chosen, profile, overrides, method_options)
        _launch(base, out, cluster, force, device, lease, fmt,
                specs=[spec for point in points for spec in point.experiment.runs()])
        if not cluster.wait:
            return
    result = sweeping.sweep(experiment, grid, chosen, profile, overrides, method_options, out, force=force,
                            device_option=device, command="xlr " + " ".join(sys.argv[1:]), lease=lease)
    _write(sweeping.show(result.summaries, result.chosen, result.base.source_language,
                         f"{result.base.title}: sweep on {result.base.source_language} dev (* chosen)", fmt))
    for method, s in result.chosen.items():
        say(f"{method}: chose {s.label} (dev {s.mean:.2f}); wrote {result.root / f'chosen-{method}.toml'}")
    say(f"wrote {result.table}")
    elsewhere = result.elsewhere
    _container_notice(out)
    if elsewhere:
        say(f"[yellow]{len(elsewhere)} run(s) held by other workers; run this command again when they finish "
            f"to see the final choice: {'; '.join(elsewhere[:3])}[/]")


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
        _check_format(fmt)
    if not lease > 0:
        raise XlrError(f"--lease must be a positive number of minutes, not {lease}")
    _write(st.show(st.store_status(out, name, profile, lease * 60), fmt))


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
    from xlr.env import doctor as checking
    from xlr.experiments import load_experiment

    if not hub_timeout > 0 or hub_timeout == float("inf"):
        raise XlrError(f"--hub-timeout must be a positive number of seconds, not {hub_timeout}")
    if measure and rates is not None:
        raise XlrError("--measure and --rates both time the steps: give one of them")
    exp = load_experiment(experiment)  # an unknown name or a broken TOML is bad input, not an unknown cost
    if rates is not None and not rates.is_file():
        found = "is a folder" if rates.is_dir() else "does not exist"
        raise XlrError(f"--rates {rates} {found}; pass the throughput.json that `xlr bench throughput --out DIR` "
                       f"writes in DIR")
    report = checking.diagnose(exp, hub_timeout, experiment, measure, rates)
    sys.stdout.write(checking.render(report))
    if report.problems:
        raise typer.Exit(1)


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
    from xlr.env.progress import say
    from xlr.methods.synonyms import augment_file

    _at_least(("--num", num, 1))
    stats = augment_file(task, input, out, num, seed, str(synonyms) if synonyms else None)
    say(f"wrote {stats.pairs * num} pairs to {out}")
    print(stats.summary())


data_app = typer.Typer(help="Data utilities.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("export")
def data_export(
    out: Annotated[Path, typer.Option("--out", help="Folder to write {split}-{lang}.tsv (and {split}.ids) into.")],
    task: Annotated[str, typer.Option(help=f"{TASK_NAMES} or a task TOML file.")] = "pawsx",
    languages: Annotated[Optional[list[str]], typer.Option(help="Languages (default: all of the task).")] = None,
    splits: Annotated[Optional[str], typer.Option(help="Comma-separated splits: train, dev, test (default: all "
                                                       "three; a local source's missing files are skipped).")]
    = None,
    data_dir: DataDir = None,
):
    """Write a task's data (by default from the Hugging Face hub) in the local TSV layout, for offline use."""
    from xlr.tasks import SPLITS, check_languages, get_task
    from xlr.sources import check_splits, export, open_source
    from xlr.env.progress import quiet_libraries, say
    from xlr.files import check_writable

    quiet_libraries()
    t = get_task(task)
    asked = _split(languages) if languages is not None else list(t.languages)
    wanted = list(dict.fromkeys(_split([splits]) or [])) if splits is not None else list(SPLITS)
    if not asked or not wanted:
        raise XlrError(f"--{'languages' if not asked else 'splits'} is empty; name at least one, or leave the "
                       "option out for all of them")
    langs = check_languages(t, list(dict.fromkeys(asked)))
    check_splits(wanted)
    source = open_source(data_dir)
    check_writable(out, "output folder", "--out", create=False)
    written, skipped = export(t, source, out, langs, wanted, skip_missing=languages is None and splits is None)
    say(f"wrote {len(written)} files to {out}" + (f"; the source has no {', '.join(skipped)}" if skipped else ""))


@data_app.command("pawsx-cpu-train")
def data_pawsx_cpu_train(
    out: Annotated[Path, typer.Option("--out", help="The TSV file to write, e.g. data/pawsx/train-en-small.tsv. "
                                                    "An existing file with other content is kept unless --force.")],
    data_dir: DataDir = None,
    force: Annotated[bool, typer.Option(help="Replace an existing --out file that differs.")] = False,
):
    """Write the English training file of xlr's CPU-scale PAWS-X results, for --train-file.

    It is PAWS-Wiki's labeled dev and test pairs minus PAWS-X's English dev and test pairs, and minus repeats.
    Offline, --data-dir DIR needs DIR/paws-wiki/ and DIR/pawsx/ (`xlr data export --task paws-wiki --out
    DIR/paws-wiki`, and the same with --task pawsx)."""
    from xlr.env.progress import quiet_libraries, say
    from xlr.files import check_output_file
    from xlr.sources import PAWSX_CPU_TRAIN_SHA256, open_source, write_pawsx_cpu_train

    quiet_libraries()
    check_output_file(out, "--out", example="train-en-small.tsv")
    made, digest = write_pawsx_cpu_train(open_source(data_dir), out, force)
    say(f"wrote {len(made.pairs)} pairs to {out}, from {made.candidates} PAWS-Wiki pairs: {made.held_out} equal a "
        f"PAWS-X English dev or test pair, {made.repeats} repeat an earlier pair")
    say(f"sha256 {digest}: " + ("the file behind xlr's published PAWS-X results" if digest == PAWSX_CPU_TRAIN_SHA256
                                else f"NOT the file behind xlr's published PAWS-X results (sha256 "
                                     f"{PAWSX_CPU_TRAIN_SHA256}), so their numbers may differ from yours"))


# ------------------------------------------------------------------------------------ compare, analyze

Results = Annotated[Optional[list[Path]], typer.Argument(
    help="Results CSVs, experiment folders (with results.csv), run folders or a runs root. "
         "Default: every runs/*/results.csv.", show_default=False)]


def _write(text: str | None) -> None:
    if text:
        sys.stdout.write(text)


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
             "predictions, runs paired by seed, the per-seed differences, the seed-level interval and its verdict, "
             "and the item-only interval.", show_default=False)] = None,
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
    _check_format(fmt)
    if between:
        from xlr.results import bootstrap

        found = bootstrap.between(results, between[0], between[1], setting, resamples, bootstrap_seed)
        _write(bootstrap.show(found, between[0], between[1], resamples, fmt))
        return
    from xlr.results import compare as comparing

    comparison = comparing.compare(results, against, tolerance_language, tolerance_average, any_model, strict)
    _write(comparing.show(comparison, fmt))
    comparison.raise_if_failed()


ModelName = Annotated[Optional[str], typer.Option(
    help="The model the runs loaded, as the set names it (e.g. intfloat/multilingual-e5-small): needed when they "
         "loaded a local folder; its weights' fingerprint is added.")]
ModelNote = Annotated[Optional[str], typer.Option(
    help="What the weights are when the name alone does not say (e.g. a 4-bit-rounded copy), shown with the set.")]
results_app = typer.Typer(help="xlr's own published results: results/NAME/ frozen from a run store, and "
                                 "docs/results.md rendered from them.", no_args_is_help=True)
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
    from xlr.env.progress import say
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
    from xlr.env.progress import say
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
    from xlr.env.progress import say
    from xlr.results import page

    written = page.render(root, out)
    say(f"wrote {written[0]} and {len(written) - 1} figure(s)")


analyze_app = typer.Typer(help="Analyses: lang2vec language distance against gains (of results), and the perturbations' geometry (of a model).", no_args_is_help=True)
app.add_typer(analyze_app, name="analyze")


@analyze_app.command("distance")
def analyze_distance(
    results: Results = None,
    paper: Annotated[bool, typer.Option("--paper", help="Analyze the paper's own numbers (paper_results).")]
    = False,
    against: Annotated[str, typer.Option(help="With --paper: the paper_results folder or CSV.")] = "paper_results",
    source: Annotated[str, typer.Option(help="Source (training) language; excluded from the correlation.")] = "en",
    features: Annotated[Optional[str], typer.Option(
        help="Comma-separated lang2vec feature sets (default: syntax_knn,geo,fam,inventory_knn,phonology_knn; "
             "the first is plotted).", show_default=False)] = None,
    baseline: Annotated[str, typer.Option(help="The method gains are measured against.")] = BASELINE,
    plot: Annotated[Optional[Path], typer.Option(help="Write a labelled scatter plot (.png, .pdf or .svg).")]
    = None,
    fmt: Fmt = "rich",
):
    """Do gains over the baseline grow with the language's lang2vec distance from the source?

    Prints the distances, the gains, and Pearson and Spearman correlations with p-values; --plot also
    draws a labelled scatter plot. --paper runs it offline on the paper's own numbers."""
    from xlr.results import distance

    _check_format(fmt)
    if against != "paper_results" and not paper:
        raise XlrError("--against names the paper's numbers to analyze: use it with --paper")
    if features is not None and not _split([features]):
        raise XlrError("--features is empty; name lang2vec feature sets, or leave it out for the default ones")
    if plot:
        from xlr.files import check_output_file

        distance.plot_format(plot)
        check_output_file(plot, "--plot")
    rows = distance.load_rows(results, paper, against)
    analyses = distance.analyze(rows, source, _split([features]) if features else distance.FEATURES, baseline)
    _write(distance.show(analyses, fmt))
    if plot:
        distance.plot(analyses, plot)
        sys.stderr.write(f"plot written to {plot}\n")


def _radii(option: str, text: str) -> list[float]:
    """Comma-separated radii: finite numbers >= 0, or one line naming OPTION."""
    try:
        radii = [float(x) for x in _split([text]) or []]
    except ValueError:
        radii = [float("nan")]
    if not all(0 <= r < float("inf") for r in radii):
        raise XlrError(f"{option} '{text}' must be comma-separated numbers >= 0, e.g. 0.01,0.02")
    return radii


@analyze_app.command("geometry")
def analyze_geometry(
    model: Annotated[str, typer.Option(help="Hugging Face id, local model folder, or builtin:tiny-bert.")]
    = "bert-base-multilingual-cased",
    task: Annotated[str, typer.Option(help=f"{TASK_NAMES} or a task TOML file.")] = "pawsx",
    data_dir: DataDir = None,
    pairs: Annotated[int, typer.Option(help="The first N source-language dev pairs.")] = 256,
    adv: Annotated[str, typer.Option(help="ADV radii, comma-separated, as fractions of the median word-embedding "
                                          "norm.")] = "0.005,0.01,0.02,0.05,0.1",
    steps: Annotated[int, typer.Option(help="ADV's ascent steps.")] = 1,
    rs_rp: Annotated[str, typer.Option("--rs-rp", help="RS-RP radii, comma-separated, as fractions of the median "
                                                       "word-embedding norm.")] = "0.1,0.2,0.4,0.8,1.6",
    pooling: Annotated[str, typer.Option(help="Classifier head for ADV's loss: cls or mean.")] = "mean",
    seed: Annotated[int, typer.Option(help="Random seed (head initialisation, noise, word swaps).")] = 7,
    fmt: Fmt = "rich",
):
    """How far each radius moves the model's sentence representation, next to a word swap and dropout.

    The median L2 displacement of the mean-pooled last hidden state over the first N source-language dev
    pairs; the radii of docs/methods.md rest on this measurement."""
    from xlr.config import POOLING
    from xlr.results.report import render_rows
    from xlr.sources import open_source
    from xlr.tasks import get_task

    _check_format(fmt)
    if pooling not in POOLING:
        raise XlrError(f"--pooling must be one of {', '.join(POOLING)}, not '{pooling}'")
    _at_least(("--pairs", pairs, 1), ("--steps", steps, 1))
    adv_radii, rp_radii = _radii("--adv", adv), _radii("--rs-rp", rs_rp)
    the_task = get_task(task)
    dev = open_source(data_dir).load(the_task, "dev", the_task.source_language).head(pairs)
    from xlr.engine.geometry import measure  # the engine only once the input has been checked
    from xlr.engine.models import load_model
    from xlr.env.progress import quiet_libraries, say

    quiet_libraries()
    texts = [s for s in dev.sentence1 + (dev.sentence2 or []) if s]  # the built-in tiny model's vocabulary
    loaded, tokenizer = load_model(model, the_task, seed, tokenizer_texts=texts, pooling=pooling)
    g = measure(loaded, tokenizer, dev, adv_radii, rp_radii, steps, seed,
                on_batch=lambda done, total: say(f"  {done}/{total} pairs"))
    title = (f"{model}: median ‖dh‖ over {g.pairs} {the_task.source_language} dev pairs; word-embedding norm "
             f"(the unit of epsilon) {g.embedding_norm:.3f}, tokens in the data {g.token_norm:.3f}, nearest other "
             f"row {g.nearest_row:.3f}")
    _write(render_rows(title, ["change to the input", "median ‖dh‖", "/ dropout"],
                       [[k, f"{v:.3f}", f"{v / g.dropout:.2f}"] for k, v in g.rows.items()], fmt))


bench_app = typer.Typer(help="Measure this machine: training throughput and MFU per method.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("throughput")
def bench_throughput(
    model: Annotated[str, typer.Option(help="Hugging Face id, local model folder, or builtin:tiny-bert; only its "
                                            "config is read (random weights).")] = "bert-base-multilingual-cased",
    task: Annotated[str, typer.Option(help=f"{TASK_NAMES} or a task TOML file: its labels and its own "
                                           "training settings.")] = "pawsx",
    methods: Annotated[str, typer.Option(help="Comma-separated methods to measure.")] = "baseline,adv",
    batch_size: Annotated[int, typer.Option(help="Examples per optimizer step.")] = 32,
    seq_length: Annotated[int, typer.Option(help="Tokens per example, every example at this length.")] = 128,
    steps: Annotated[int, typer.Option(help="Timed optimizer steps per method.")] = 20,
    warmup: Annotated[int, typer.Option(help="Untimed steps first (allocation, autotuning, compilation).")] = 5,
    profile_steps: Annotated[int, typer.Option(help="After the timed steps, profile this many with torch.profiler: "
                                                    "writes a chrome trace per method to --out and prints the share "
                                                    "of the step spent in CUDA kernels (GPU) or operators (CPU).")]
    = 0,
    precision: Annotated[str, typer.Option(help="auto, bf16, fp16 or fp32, as train.precision.")] = "auto",
    compile: Annotated[str, typer.Option(help="off, default or graphs, as train.compile (compilation happens in "
                                              "the warm-up steps).")] = "off",
    pooling: Annotated[Optional[str], typer.Option(help="Classifier head: cls or mean (default: the task's).")]
    = None,
    peak_tflops: Annotated[Optional[float], typer.Option(help="The device's peak TFLOP/s for MFU (default: the "
                                                              "dense bf16/fp16 peak of a known GPU).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for throughput.json and the traces.")]
    = Path("xlr-throughput"),
    device: DeviceOpt = None,
    fmt: Fmt = "rich",
):
    """Training examples/s, tokens/s, model TFLOP/s and MFU of xlr's training step for each method.

    The steps are `xlr train`'s (its Trainer, the method's objective, precision and optimizer) on random
    token ids of one length; MFU counts model FLOPs as nanoGPT's estimate_mfu does, over every forward pass
    a method makes."""
    from xlr.methods import get_method, resolve_options
    from xlr.tasks import get_task, protocol_for

    _check_format(fmt)
    _at_least(("--batch-size", batch_size, 1), ("--seq-length", seq_length, 8), ("--steps", steps, 1),
              ("--warmup", warmup, 1), ("--profile-steps", profile_steps, 0))
    names = list(dict.fromkeys(_split([methods]) or []))
    if not names:
        raise XlrError("--methods names no method; e.g. --methods baseline,adv")
    if peak_tflops is not None and peak_tflops <= 0:
        raise XlrError(f"--peak-tflops must be positive, not {peak_tflops}")
    options = {m: resolve_options(get_method(m).name, {}) for m in names}
    the_task = get_task(task)
    train = {"batch_size": batch_size, "max_length": seq_length, "precision": precision, "compile": compile}
    protocol = protocol_for(the_task, {**train, **({"pooling": pooling} if pooling else {})})
    from xlr.engine.cost import model_config  # the engine only once the input has been checked
    from xlr.engine.throughput import measure, torch_gpu_count, usable_positions
    from xlr.env import device as devices
    from xlr.env.progress import quiet_libraries, say
    from xlr.env.versions import versions
    from xlr.files import atomic_write_json, check_writable
    from xlr.results.report import render_rows

    quiet_libraries()
    check_writable(out, "output folder", "--out", create=False)  # created only when the measuring starts
    info = devices.configure(device, protocol.precision)
    config = model_config(model, the_task)
    if config is None:
        raise XlrError(f"cannot read the config of model '{model}': give a Hugging Face id (online, or cached with "
                       "HF_HUB_OFFLINE=1) or a local model folder")
    longest = usable_positions(config)
    if longest is not None and seq_length > longest:
        raise XlrError(f"--seq-length {seq_length} is longer than {model} takes ({longest} tokens); pass at most that")
    if info.device == "cuda" and info.world_size == 1 and torch_gpu_count() > 1:
        raise XlrError("bench throughput measures one GPU, and several are visible: set CUDA_VISIBLE_DEVICES=0 "
                       "(or the GPU to measure)")
    say(info.line())
    out.mkdir(parents=True, exist_ok=True)  # the traces go here as each method is measured
    results = []
    for m in names:
        say(f"{m}: {warmup} + {steps} steps" + (f" + {profile_steps} profiled" if profile_steps else ""))
        results.append(measure(config, m, options[m], protocol, steps, warmup, profile_steps, out, peak_tflops))
    title = (f"{model} ({protocol.pooling} head), batch {batch_size} x {seq_length} tokens, {info.precision}, "
             f"compile {protocol.compile}, on {info.name}")
    headers = ["method", "ms / step", "examples / s", "tokens / s", "passes", "model TFLOP/s", "MFU",
               "peak MiB"] + (["kernels" if info.device == "cuda" else "operators"] if profile_steps else [])
    rows = [[r.method, f"{r.ms_per_step:.1f}", f"{r.examples_per_s:.1f}", f"{r.tokens_per_s:.0f}",
             f"{r.passes_per_step:g}", f"{r.achieved_tflops:.3g}", "–" if r.mfu is None else f"{100 * r.mfu:.1f}%",
             "–" if r.peak_memory_mib is None else f"{r.peak_memory_mib:.0f}"]
            + ([f"{100 * r.profile.busy_share:.0f}% of {r.profile.wall_ms:.1f} ms"] if r.profile else [])
            for r in results]
    _write(render_rows(title, headers, rows, fmt))
    report = {"model": model, "task": the_task.name, "device": info.as_dict(), "versions": versions(),
              "batch_size": batch_size, "seq_length": seq_length, "steps": steps, "warmup": warmup,
              "compile": protocol.compile,
              "results": [r.as_dict() for r in results]}
    atomic_write_json(out / "throughput.json", report)
    say(f"wrote {out / 'throughput.json'}" + (f" and {len(results)} trace(s)" if profile_steps else ""))


docker_app = typer.Typer(help="Build and run the xlr container: GPUs, the Hugging Face cache and runs/ mounted.",
                         no_args_is_help=True)
app.add_typer(docker_app, name="docker")
Network = Annotated[Optional[str], typer.Option(help="Docker network, e.g. host (default: the daemon's).")]


@docker_app.command("build")
def docker_build(
    tag: Annotated[str, typer.Option("--tag", "-t", help="Name of the image to build.")] = "xlr",
    base_image: Annotated[Optional[str], typer.Option(help="BASE_IMAGE build arg (default: the Dockerfile's CUDA "
                                                           "image); any Debian/Ubuntu image works.")] = None,
    torch_spec: Annotated[Optional[str], typer.Option(help="TORCH_SPEC build arg: pip arguments that pick torch "
                                                           "(default: the CUDA build from PyPI), e.g. a wheel in "
                                                           "wheels/.")] = None,
    torch_cuda: Annotated[Optional[str], typer.Option(
        help="A consistent CUDA base image + torch wheel pair: cu130 (the default; NVIDIA driver >= 580) or cu126 "
             "(driver >= 525.60.13; also Volta and Pascal GPUs).")] = None,
    context: Annotated[Optional[Path], typer.Option(help="Build context with the Dockerfile (default: this "
                                                         "checkout).")] = None,
    network: Network = None,
):
    """Build the xlr image from the Dockerfile, streaming the build log."""
    from xlr.env import container

    image_id = container.build(tag=tag, base_image=base_image, torch_spec=torch_spec, context=context,
                               network=network, torch_cuda=torch_cuda)
    typer.echo(f"built {tag} ({image_id})")


@docker_app.command("run")
def docker_run(
    args: Annotated[Optional[list[str]], typer.Argument(help="xlr's arguments, after --: -- reproduce table1")]
    = None,
    image: Annotated[str, typer.Option(help="Image to run (see `xlr docker build`).")] = "xlr",
    gpus: Annotated[str, typer.Option(help="all, none, or GPU indices such as 0,1.")] = "all",
    no_gpus: Annotated[bool, typer.Option("--no-gpus", help="Same as --gpus none.")] = False,
    runs: Annotated[Path, typer.Option(help="Host folder mounted as the container's runs/.")] = DEFAULT_ROOT,
    hf_home: Annotated[Optional[Path], typer.Option(
        help="Host Hugging Face cache to mount (default: $HF_HOME or ~/.cache/huggingface).")] = None,
    env: Annotated[Optional[list[str]], typer.Option(
        "--env", "-e", help="KEY=VALUE (or KEY: the host's value) for the container; HF_TOKEN passes anyway.")]
    = None,
    volume: Annotated[Optional[list[str]], typer.Option(
        "--volume", "-v", help="Extra mount HOST:CONTAINER[:ro], e.g. for --data-dir.")] = None,
    network: Network = None,
):
    """Run `xlr ARGS` in the container and exit with its exit code."""
    from xlr.env import container

    code = container.run(image, args or [], gpus="none" if no_gpus else gpus, runs=runs, hf_home=hf_home,
                         env=env or [], volumes=volume or [], network=network)
    raise typer.Exit(code)


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


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if os.environ.get("XLR_LOG_LEVEL"):  # e.g. DEBUG: every file write, with the writing rank
        import logging

        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger = logging.getLogger("xlr")
        logger.setLevel(os.environ["XLR_LOG_LEVEL"].upper())
        logger.addHandler(handler)
    # click's usage errors, from whichever click typer uses (newer typers vendor their own copy)
    errors = sys.modules[typer.BadParameter.__module__]

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
    except typer.Abort:
        sys.stderr.write("interrupted; finished work is kept: re-run the same command to continue\n")
        sys.exit(130)
    except XlrError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(e.exit_code)
    except ChecksFailed as e:
        sys.stderr.write(f"{e}\n")
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; finished work is kept: re-run the same command to continue\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
