"""`xlr sweep`: train a grid of settings as ordinary runs and choose, per method, on source-language dev only.

Each grid point is an experiment of its own, `<out>/<experiment>-sweep/<point>/<method>/seed<N>/`, trained
by the normal pipeline (resumable, skipped when done, its settings in config.json), but in dev-only mode:
the run keeps its source-language dev curve and best dev accuracy and never opens a test set. The choice
is the point with the best mean dev accuracy over seeds (ties: the earlier point of the grid).

Several workers (processes, or machines sharing `--out`) can work through one grid: each run is claimed
(xlr.scheduling.claims) before it is trained, and the tables are rewritten under a lock.
"""
from __future__ import annotations

import dataclasses
import itertools
import statistics
from dataclasses import dataclass
from pathlib import Path

from xlr.errors import XlrError
from xlr.experiments import Experiment, load_experiment, parse_override
from xlr.methods import METHODS
from xlr.store import RunStore, rows_to_csv
from xlr.files import atomic_write_text, file_lock

SWEEP_COLUMNS = ["point", "method", "seed", "dev_language", "dev_accuracy", "best_step", "steps"]


@dataclass(frozen=True)
class Axis:
    key: str            # as the user wrote it: `epsilon`, `train.learning_rate`, `methods.adv.steps`
    values: tuple


def parse_grid(items: list[str]) -> list[Axis]:
    """`--grid epsilon=0.01,0.02 --grid train.learning_rate=2e-5,5e-5` -> axes (values in TOML syntax)."""
    axes = []
    for item in items or []:
        if "=" not in item:
            raise XlrError(f"--grid '{item}': expected KEY=V1,V2,..., for example epsilon=0.01,0.02,0.05")
        key, raw = (s.strip() for s in item.split("=", 1))
        values = tuple(next(iter(parse_override(f"v={v.strip()}").values())) for v in raw.split(",") if v.strip())
        if not key or not values:
            raise XlrError(f"--grid '{item}': needs a key and at least one value")
        if key in {a.key for a in axes}:
            raise XlrError(f"--grid {key} is given twice; put all its values in one --grid {key}=V1,V2")
        axes.append(Axis(key, values))
    if not axes:
        raise XlrError("xlr sweep needs at least one --grid KEY=V1,V2,... (e.g. --grid epsilon=0.01,0.02,0.05)")
    return axes


def _assignment(key: str, value, method: str) -> dict:
    """One grid coordinate as an override dict for `method`; a bare key is that method's option."""
    parts = key.split(".")
    if len(parts) == 1:
        if key not in METHODS[method].defaults:
            raise XlrError(f"--grid {key}: method {method} has no option {key} "
                           f"(its options: {', '.join(METHODS[method].defaults) or 'none'}); "
                           "use train.KEY for training settings")
        return {"methods": {method: {key: value}}}
    if parts[0] == "methods" and len(parts) == 3 and parts[1] != method:
        return {}  # another method's option: not this method's grid
    node: dict = {}
    out = node
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def point_label(axes: list[Axis], values: tuple) -> str:
    return ",".join(f"{a.key}={v}" for a, v in zip(axes, values))


@dataclass
class Point:
    label: str
    method: str
    experiment: Experiment


def plan(experiment: str, methods: list[str], axes: list[Axis], profile: str | None,
         overrides: list[dict]) -> tuple[Experiment, list[Point]]:
    """The base experiment and one dev-only experiment per (grid point, method)."""
    base = dataclasses.replace(load_experiment(experiment, profile, overrides),
                               evaluate_test=False)  # a sweep never reads a test set, not even to check it
    if base.parts:
        raise XlrError(f"{experiment} gathers other experiments; sweep one of them ({', '.join(p.name for p in base.parts)})")
    methods = methods or base.methods
    points = []
    for values in itertools.product(*(a.values for a in axes)):
        label = point_label(axes, values)
        for method in methods:
            over = [{"methods": {"run": [method]}}]
            for a, v in zip(axes, values):
                over.append(_assignment(a.key, v, method))
            # the profile is already part of the sweep's folder name; a point reads no test set
            exp = dataclasses.replace(load_experiment(experiment, profile, overrides + over),
                                      name=f"{RunStore.sweep_name(base.run_name)}/{label}", profile=None,
                                      evaluate_test=False, generalized=False)
            points.append(Point(label, method, exp))
    return base, points


def sweep_dir(out: Path, base: Experiment) -> Path:
    return RunStore(out).sweep_dir(base.run_name)


def run_points(points: list[Point], out: Path, force: bool = False,
               device_option: str | None = None, lease: float | None = None) -> tuple[int, list[str]]:
    """Train every point's runs that no other worker holds; return (runs trained here, runs held elsewhere).

    Before each run the CPU threads are set from the cores and the number of workers on this host that are
    training a point of this sweep, so that concurrent workers never oversubscribe the cores."""
    from xlr.machine import device
    from xlr.scheduling.workers import run_unclaimed
    from xlr.machine.progress import say

    specs = [spec for p in points for spec in p.experiment.runs()]
    labels = {id(p.experiment): p.label for p in points}
    share_root = Path(out) / (points[0].experiment.run_name.split("/")[0] if points else "")
    pending = [s for s in specs if force or not RunStore(out).run(s.experiment.run_name, s.method, s.seed).is_done()]

    def before(rd, spec):  # the device and precision; run_unclaimed then divides the cores among live workers
        device.configure(device_option, spec.experiment.train_settings().precision)

    def announce(i, spec):
        say(f"[bold cyan]sweep {i}/{len(pending)}[/]: {labels[id(spec.experiment)]}, {spec.method}, seed {spec.seed}; "
            f"{device.current().line()}")

    held = run_unclaimed(pending, out, announce, force=force, before=before, share_root=share_root,
                         **({"lease": lease} if lease else {}))
    elsewhere = [f"{labels[id(s.experiment)]} {s.method} seed {s.seed}" for s in held]
    return len(pending) - len(held), elsewhere


def collect(root: Path) -> list[dict]:
    """One row per finished run under the sweep folder, whichever `xlr sweep` command trained it: its point,
    method, seed and best source-dev accuracy."""
    rows = []
    for rd in (run for point in RunStore.experiments_in(root) for run in RunStore.finished_in(point)):
        m = rd.read_metrics()
        rows.append({"point": RunStore.experiment_of(rd).name, "method": m["method"], "seed": m["seed"],
                     "dev_language": m["dev"]["language"], "dev_accuracy": round(m["dev"]["best_accuracy"], 4),
                     "best_step": m["dev"]["best_step"], "steps": m["train"]["steps"]})
    return rows


def write_table(root: Path) -> tuple[Path, list[dict]]:
    """Rewrite `<sweep>/sweep.csv` from every finished run, under a lock (workers may finish together)."""
    path = Path(root) / "sweep.csv"
    with file_lock(Path(root) / ".sweep.lock"):
        rows = collect(root)
        atomic_write_text(path, rows_to_csv(rows, SWEEP_COLUMNS))
    return path, rows


@dataclass
class Summary:
    method: str
    label: str
    mean: float | None
    std: float | None
    seeds: int
    expected: int


def summarize(points: list[Point], rows: list[dict]) -> list[Summary]:
    out = []
    for p in points:
        accs = [r["dev_accuracy"] for r in rows if r["point"] == p.label and r["method"] == p.method]
        out.append(Summary(p.method, p.label, statistics.fmean(accs) if accs else None,
                           statistics.stdev(accs) if len(accs) > 1 else None, len(accs), len(p.experiment.seeds)))
    return out


def choose(summaries: list[Summary]) -> dict[str, Summary]:
    """Per method, the point with the best mean dev accuracy, once every point of that method is complete."""
    chosen = {}
    for method in dict.fromkeys(s.method for s in summaries):
        mine = [s for s in summaries if s.method == method]
        if all(s.seeds == s.expected for s in mine):
            chosen[method] = max(mine, key=lambda s: s.mean)  # max keeps the first of equal means
    return chosen


def chosen_toml(method: str, point: Point, axes: list[Axis], summary: Summary, command: str) -> str:
    """The choice as an override file for `xlr reproduce --overrides FILE`."""
    lines = [f"# chosen by: {command}",
             f"# best mean {point.experiment.source_language} dev accuracy over {summary.seeds} seed(s): "
             f"{summary.mean:.2f}; no test set was read",
             "# use: xlr reproduce EXPERIMENT --overrides THIS_FILE (with the same --profile)"]
    tables: dict[str, dict] = {}
    values = dict(part.split("=", 1) for part in point.label.split(","))
    for a in axes:
        over = _assignment(a.key, _value(a, values[a.key]), method)
        for top, sub in over.items():
            for k, v in sub.items():
                if top == "methods":
                    tables.setdefault(f"methods.{k}", {}).update(v)
                else:
                    tables.setdefault(top, {})[k] = v
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _value(axis: Axis, text: str):
    return next(v for v in axis.values if str(v) == text)


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


__all__ = ["Axis", "parse_grid", "plan", "run_points", "write_table", "summarize", "choose", "chosen_toml", "sweep_dir",
           "sweep", "SweepResult"]


def show(summaries: list[Summary], chosen: dict[str, Summary], dev_language: str, title: str, fmt: str) -> str | None:
    from xlr.results.report import render

    body = []
    for s in summaries:
        mark = " *" if chosen.get(s.method) is s else ""
        stats = {f"dev {dev_language}": (s.mean, s.std, s.seeds)} if s.mean is not None else {}
        done = "" if s.seeds == s.expected else f" ({s.seeds}/{s.expected} seeds done)"
        body.append((f"{s.method} {s.label}{mark}{done}", stats))
    return render(title, [f"dev {dev_language}"], body, fmt, first="method point")


@dataclass
class SweepResult:
    base: Experiment
    root: Path                      # OUT/<experiment>-sweep/
    table: Path                     # its sweep.csv
    summaries: list[Summary]
    chosen: dict[str, Summary]      # method -> the chosen point (its chosen-METHOD.toml is written)
    elsewhere: list[str]            # runs that other workers hold, not finished yet


def checked_plan(experiment: str, grid: list[str], methods: list[str] | None, profile: str | None,
                 overrides: list[dict], method_options: dict | None) -> tuple[Experiment, list[Point]]:
    """The sweep's base experiment and points, its grid and method options checked."""
    from xlr.experiments import check_method_options

    base, points = plan(experiment, methods, parse_grid(grid), profile, overrides)
    check_method_options(list(dict.fromkeys(p.method for p in points)), method_options)
    return base, points


def sweep(experiment: str, grid: list[str], methods: list[str] | None, profile: str | None, overrides: list[dict],
          method_options: dict | None, out: Path, force: bool = False, device_option: str | None = None,
          command: str = "xlr sweep", lease: float | None = None) -> SweepResult:
    """`xlr sweep`: plan the grid, check it, train every point this worker can claim, then choose each method's
    setting on source-language dev and write sweep.csv and chosen-METHOD.toml."""
    axes = parse_grid(grid)
    base, points = checked_plan(experiment, grid, methods, profile, overrides, method_options)
    from xlr.engine.preflight import preflight, resolve  # the engine only once the input has been checked
    from xlr.machine.progress import quiet_libraries

    quiet_libraries()
    preflight(base, out)
    resolve(base)
    _, elsewhere = run_points(points, out, force, device_option, lease)
    root = sweep_dir(out, base)
    table, rows = write_table(root)
    summaries = summarize(points, rows)
    chosen = choose(summaries)
    for method, s in chosen.items():
        point = next(p for p in points if p.method == method and p.label == s.label)
        atomic_write_text(root / f"chosen-{method}.toml", chosen_toml(method, point, axes, s, command))
    return SweepResult(base, root, table, summaries, chosen, elsewhere)
