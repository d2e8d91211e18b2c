"""Workers: run an experiment's runs in this process, sharing the run store with any other worker.

Several processes, machines or scheduler jobs can work on one run store: each run is claimed
(xlr.scheduling.claims) before it is trained or evaluated, the claim's heartbeat is refreshed while it works,
and a run that another live worker holds is waited for, or taken over once that worker's claim goes stale. A
run that fails leaves its error's last line in FAILED (`xlr status` shows it) and the claim is released.
"""
from __future__ import annotations

import time
from pathlib import Path

from xlr.engine import pipeline, preflight
from xlr.engine.training import Interrupted, progress, request_stop
from xlr.machine import device, distributed
from xlr.machine.progress import quiet_libraries, say
from xlr.experiments import Experiment, RunSpec
from xlr.files import atomic_write_text
from xlr.scheduling import claims, queue
from xlr.store import RunDir, RunStore, write_results

WAIT_SECONDS = 30


def live_workers(root: Path) -> int:
    """Processes on this host that hold (CLAIMED) a run under `root` now, this one included."""
    return claims.live_claims_here(root)


def record_failure(rd: RunDir, error: BaseException) -> None:
    """FAILED: the last line of the error that stopped the run (a later attempt removes it)."""
    lines = [line for line in (str(error) or type(error).__name__).strip().splitlines() if line.strip()]
    try:
        atomic_write_text(rd.failed_path, f"{type(error).__name__}: {lines[-1] if lines else ''}\n")
    except OSError:  # a full disk: the error itself says so
        pass


def run_unclaimed(specs: list[RunSpec], out: Path, announce, force: bool = False, keep_checkpoints: bool = False,
                  before=None, share_root: Path | None = None, lease: float = claims.LEASE_SECONDS,
                  leave_queued: bool = True) -> list[RunSpec]:
    """Run each spec that no other live worker holds and no scheduler job is queued for (unless `leave_queued` is
    False: the job itself); return the ones held elsewhere (not yet done).

    Under torchrun every rank runs every spec together, so claims are only used by single-process workers."""
    held = []
    solo = distributed.world_size() == 1
    heartbeat = claims.Heartbeat(progress=progress, on_lost=_stop_lost_run) if solo else None
    try:
        for i, spec in enumerate(specs, 1):
            rd = RunStore(out).run(spec.experiment.run_name, spec.method, spec.seed)
            if solo and leave_queued and not force and queue.waiting_for_job(rd) is not None:
                held.append(spec)  # its scheduler job will train it
                continue
            mine = _claim(rd, spec, lease) if solo else None
            if solo and mine is None:
                if not rd.is_done():
                    held.append(spec)
                continue
            rd.queued_path.unlink(missing_ok=True)  # a worker has it now, whatever job was queued for it
            if heartbeat is not None:
                heartbeat.add(rd, mine)
            interrupted = False
            try:
                if solo and not force and pipeline.finished(rd, spec):
                    say(f"[dim]skip {rd.path}: already finished (delete its DONE file or pass --force to redo it)[/]")
                    continue
                if before is not None:
                    before(rd, spec)
                if solo:  # workers on this host that hold runs of this store share its cores
                    root = Path(share_root) if share_root is not None else RunStore.experiment_of(rd)
                    device.set_sharing_probe(lambda: live_workers(root))
                    device.refresh()
                announce(i, spec)
                pipeline.run_one(spec, out, force, keep_checkpoints)
            except Interrupted:
                interrupted = True  # the scheduler requeues this job, which takes its claim back
                raise
            except Exception as e:
                if distributed.is_main_process():
                    record_failure(rd, e)
                raise
            finally:
                if heartbeat is not None:
                    heartbeat.remove(rd)
                if solo and not interrupted:
                    claims.release(rd, mine)
    finally:
        if heartbeat is not None:
            heartbeat.stop()
    return held


def _holder(out: Path, spec: RunSpec) -> str:
    """'METHOD seed N', with the scheduler job queued for it when there is one."""
    queued = queue.waiting_for_job(RunStore(out).run(spec.experiment.run_name, spec.method, spec.seed))
    return f"{spec.method} seed {spec.seed}" + (f" (queued as job {queued.get('job_id')})" if queued else "")


def _claim(rd: RunDir, spec: RunSpec, lease: float):
    """claims.claim, with a full disk as the one-line error it is everywhere else."""
    try:
        return claims.claim(rd, lease, say)
    except OSError as e:
        full = preflight.disk_full(e, spec.experiment, rd.path)
        if full is not None:
            raise full from None
        raise


def _stop_lost_run(path: Path) -> None:
    """Another worker took over this process's run (its heartbeat had gone silent): stop training it at the end
    of the step, saving nothing, so that the two never write one run folder."""
    say(f"[bold red]{path}: another worker took this run over; stopping it here without saving[/]")
    request_stop(save=False, why="because another worker took the run over")


def run_experiment(exp: Experiment, out: Path, force: bool = False, keep_checkpoints: bool = False,
                   device_option: str | None = None, lease: float = claims.LEASE_SECONDS) -> list[tuple[Experiment, Path]]:
    """Run every (method, seed) of an experiment (or of each part) in this process, waiting for the runs other
    workers hold; return (experiment, results.csv) pairs."""
    from xlr.machine.container import unmounted_output_warning
    from xlr.results.report import write_heatmaps

    quiet_libraries()
    preflight.preflight(exp, out)
    pipeline.announce_device(exp, device_option)
    warning = unmounted_output_warning(out)
    if warning:
        say(f"[bold yellow]warning: {warning}[/]")
    pipeline.join_process_group()
    preflight.resolve(exp)  # every download (model, data, synonym table) before the first step
    if exp.parts:
        return [done for part in exp.parts for done in run_experiment(part, out, force, keep_checkpoints, lease=lease)]
    specs = exp.runs()
    held = run_unclaimed(specs, out, lambda i, spec: say(f"[bold cyan]run {i}/{len(specs)}[/]: {spec.method}, "
                                                         f"seed {spec.seed}"),
                         force=force, keep_checkpoints=keep_checkpoints, lease=lease)
    while held:  # runs that other workers or queued jobs hold: wait for them, or take them over if they stop
        say(f"[yellow]waiting for {len(held)} run(s) that other workers or scheduler jobs hold: "
            f"{', '.join(_holder(out, s) for s in held)} (`xlr status --out {out}` shows them)[/]")
        time.sleep(WAIT_SECONDS)
        held = run_unclaimed(held, out, lambda i, spec: say(f"[bold cyan]taking over[/]: {spec.method}, seed {spec.seed}"),
                             force=False, keep_checkpoints=keep_checkpoints, lease=lease)
    results = write_results(RunStore(out).experiment_dir(exp.run_name))
    if distributed.is_main_process():
        for png in write_heatmaps(results, exp.run_name):  # a short title: the figure is narrow
            say(f"wrote {png}")
    distributed.barrier()
    return [(exp, results)]
