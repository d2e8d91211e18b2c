"""The bodies of the verbs that train: train, reproduce and sweep, in this process or as scheduler jobs, and the
tables they print. The engine (torch, transformers: seconds to import) is imported only once the input has been
checked."""
from __future__ import annotations

import sys
from pathlib import Path

import typer

from xlr.experiments import Experiment


def write(text: str | None) -> None:
    if text:
        sys.stdout.write(text)


def show(results_csv: Path, title: str, languages: list[str] | None, fmt: str) -> None:
    from xlr.machine.distributed import is_main_process
    from xlr.results.report import show_results

    if is_main_process():
        write(show_results(results_csv, title, languages, fmt))


def show_all(done: list, fmt: str) -> None:
    """The tables of every part of an experiment: one CSV (each table named after its part), or one after another."""
    from xlr.machine.distributed import is_main_process
    from xlr.results.report import results_tables, tables_csv

    if fmt == "csv" and len(done) > 1:
        if is_main_process():
            write(tables_csv([t for part, results in done
                              for t in results_tables(results, part.title, part.languages, f"{part.run_name}: ")]))
        return
    for i, (part, results) in enumerate(done):
        if i and is_main_process():
            write("\n")
        show(results, part.title, part.languages, fmt)


def container_notice(out: Path) -> None:
    """In the image, with results or downloads outside any host mount: how to keep them (last lines)."""
    from xlr.machine import distributed
    from xlr.machine.container import unmounted_notice
    from xlr.machine.progress import say

    if distributed.is_main_process():
        for line in unmounted_notice(out):
            say(f"[bold yellow]{line}[/]")


def run_here(exp: Experiment, out: Path, force: bool, device: str | None, fmt: str, lease: float | None = None) -> None:
    """Every run of EXP in this process (sharing the store with other workers), then its tables."""
    from xlr.scheduling import workers

    show_all(workers.run_experiment(exp, out, force=force, device_option=device,
                                    **({"lease": lease} if lease else {})), fmt)
    container_notice(out)


def reproduce(exp: Experiment, out: Path, force: bool, nproc: int, device: str | None, fmt: str, cluster,
              lease: float) -> None:
    """`xlr reproduce`: as scheduler jobs, as data-parallel processes, or in this process."""
    from xlr.machine import distributed

    if cluster.launcher != "plain":
        launch(exp, out, cluster, force, device, lease, fmt)
        return
    if nproc > 1 and distributed.world_size() == 1:
        from xlr.engine.preflight import preflight, resolve

        preflight(exp, out)  # bad input and every download fail here, once, before the workers start
        resolve(exp)
        raise typer.Exit(distributed.relaunch(nproc, sys.argv[1:]))
    run_here(exp, out, force, device, fmt, lease)


def launch(exp: Experiment, out: Path, cluster, force: bool, device: str | None, lease: float, fmt: str,
           specs=None) -> None:
    """Submit the runs as scheduler jobs (after the same checks and downloads as a plain run); with --wait, wait
    and print the tables."""
    from xlr.engine.preflight import preflight, resolve
    from xlr.machine.progress import quiet_libraries, say
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
        show_all([(part, write_results(RunStore(out).experiment_dir(part.run_name)))
                  for part in (exp.parts or [exp])], fmt)


def sweep(experiment: str, grid: list[str], methods: list[str] | None, profile: str | None, overrides: list[dict],
          method_options: dict | None, out: Path, force: bool, device: str | None, fmt: str, cluster,
          lease: float) -> None:
    """`xlr sweep`: the grid's runs (here or as jobs), then each method's choice on source-language dev."""
    from xlr.machine.progress import say
    from xlr.scheduling import sweep as sweeping

    if cluster.launcher != "plain":
        base, points = sweeping.checked_plan(experiment, grid, methods, profile, overrides, method_options)
        launch(base, out, cluster, force, device, lease, fmt,
               specs=[spec for point in points for spec in point.experiment.runs()])
        if not cluster.wait:
            return
    result = sweeping.sweep(experiment, grid, methods, profile, overrides, method_options, out, force=force,
                            device_option=device, command="xlr " + " ".join(sys.argv[1:]), lease=lease)
    write(sweeping.show(result.summaries, result.chosen, result.base.source_language,
                        f"{result.base.title}: sweep on {result.base.source_language} dev (* chosen)", fmt))
    for method, s in result.chosen.items():
        say(f"{method}: chose {s.label} (dev {s.mean:.2f}); wrote {result.root / f'chosen-{method}.toml'}")
    say(f"wrote {result.table}")
    container_notice(out)
    if result.elsewhere:
        say(f"[yellow]{len(result.elsewhere)} run(s) held by other workers; run this command again when they finish "
            f"to see the final choice: {'; '.join(result.elsewhere[:3])}[/]")
