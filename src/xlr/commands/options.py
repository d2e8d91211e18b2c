"""The verbs' options, declared once: the shared ones (--out, --format, --data-dir, ...) and the flags generated
from declarations: one per method option (the method registry), one per training setting (TrainSettings), and
the launcher's. cli.py uses them; nothing here runs anything."""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Optional

import typer

from xlr.errors import XlrError
from xlr.methods import shared_options
from xlr.tasks import TASKS

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
def split_items(values: list[str] | None) -> list[str] | None:
    """`--languages de,ja --languages zh` -> [de, ja, zh]."""
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def at_least(*checks: tuple[str, float, float]) -> None:
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
    """One flag per training setting (config.TrainSettings: --learning-rate, --epochs, ...); the command receives
    the given ones as `train_options`, which override the experiment's [train] table."""
    from xlr.settings import TrainSettings

    def shown(default) -> str:
        if default is None:
            return ""
        return f" Default: {str(default).lower() if isinstance(default, bool) else default}."

    flags = [(f"train_option_{name}", name, kind.split("|")[0].strip(), help_text + shown(default), "Training settings")
             for name, kind, default, help_text in TrainSettings.flags()]
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
        from xlr.scheduling.claims import check_lease

        given = {name: kwargs.pop(name) for name, _, _ in LAUNCHER_FLAGS}
        lease = given.pop("lease")
        lease = check_lease(lease)
        cluster = Cluster(given["launcher"], given["partition"], given["gpus_per_run"], given["cpus_per_run"],
                          given["array_parallelism"], parse_slurm_args(given["slurm_arg"]),
                          parse_pairs(given["time"], "--time", parse_minutes),
                          parse_pairs(given["seconds_per_step"], "--seconds-per-step", _seconds), given["rates"],
                          given["wait"])
        return func(*args, cluster=cluster, lease=lease, **kwargs)

    command.__signature__ = signature.replace(parameters=params)
    return command


def check_format(fmt: str) -> str:
    from xlr.results.report import FORMATS

    if fmt not in FORMATS:
        raise XlrError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    return fmt


Results = Annotated[Optional[list[Path]], typer.Argument(
    help="Results CSVs, experiment folders (with results.csv), run folders or a runs root. "
         "Default: every runs/*/results.csv.", show_default=False)]
ModelName = Annotated[Optional[str], typer.Option(
    help="The model the runs loaded, as the set names it (e.g. intfloat/multilingual-e5-small): needed when they "
         "loaded a local folder; its weights' fingerprint is added.")]
ModelNote = Annotated[Optional[str], typer.Option(
    help="What the weights are when the name alone does not say (e.g. a 4-bit-rounded copy), shown with the set.")]
Network = Annotated[Optional[str], typer.Option(help="Docker network, e.g. host (default: the daemon's).")]
