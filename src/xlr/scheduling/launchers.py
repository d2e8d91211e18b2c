"""Launchers: one scheduler job per run, through submitit (`--launcher slurm|local|debug`; the default, plain,
runs the runs in this process: xlr.scheduling.workers).

Each method of an experiment is one job array, so that each gets its own time limit: the method's optimizer
steps (xlr.engine.cost) times its seconds per step (measured by `xlr bench throughput`, `--rates FILE`, or
given), times 1.5 plus 15 minutes for start-up and testing; `--time METHOD=H:MM` overrides it. Each array
task trains one (method, seed) run through the same claims as every other worker, and is checkpointable: on
the scheduler's signal (preemption, or the time limit coming) the run saves its training state at the end of
its step and the job is requeued; the requeued job takes its claim back and resumes from that step.

The submitting command prints the job ids and returns (`--wait` waits for them); the same command without
`--launcher`, or with `--wait`, then assembles the tables from the finished runs. submitit is an optional
dependency: `pip install "xlr[slurm]"`.
"""
from __future__ import annotations

import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from xlr.errors import XlrError
from xlr.experiments import Experiment, RunSpec
from xlr.scheduling import queue
from xlr.store import RunStore, write_results

LAUNCHERS = ("plain", "slurm", "local", "debug")
MARGIN, EXTRA_MINUTES = 1.5, 15     # time limit = steps x seconds per step x MARGIN + EXTRA_MINUTES
UNTIMED_MINUTES = 24 * 60           # a local or debug job's limit when none is known
SIGNAL_SECONDS = 300                # the scheduler's signal comes this long before the time limit
GRACE_SECONDS = 240                 # how long a run may take to reach the end of its step after the signal


@dataclass
class Cluster:
    """Where and how the jobs run: the launcher and its options (see `xlr reproduce --help`)."""
    launcher: str = "plain"
    partition: str | None = None
    gpus_per_run: int | None = None
    cpus_per_run: int | None = None
    array_parallelism: int | None = None
    slurm_args: dict = field(default_factory=dict)
    time: dict = field(default_factory=dict)          # {method or "*": minutes}
    seconds_per_step: dict = field(default_factory=dict)  # {method or "*": seconds}
    rates: Path | None = None                         # a throughput.json of `xlr bench throughput`
    wait: bool = False

    def __post_init__(self):
        if self.launcher not in LAUNCHERS:
            raise XlrError(f"--launcher {self.launcher}: use one of {', '.join(LAUNCHERS)}")
        for name, value in (("--gpus-per-run", self.gpus_per_run), ("--cpus-per-run", self.cpus_per_run),
                            ("--array-parallelism", self.array_parallelism)):
            if value is not None and value < (0 if name == "--gpus-per-run" else 1):
                raise XlrError(f"{name} must be at least {0 if name == '--gpus-per-run' else 1}, not {value}")
        if self.launcher == "plain" and (self.partition or self.slurm_args or self.time or self.wait or
                                         self.array_parallelism or self.gpus_per_run is not None or
                                         self.cpus_per_run is not None):
            raise XlrError("--partition, --gpus-per-run, --cpus-per-run, --array-parallelism, --slurm-arg, --time and "
                           "--wait go with --launcher slurm, local or debug")


def parse_minutes(text: str, where: str) -> int:
    """H:MM, D-HH:MM or a number of minutes."""
    value = text.strip()
    try:
        days = 0
        if "-" in value:
            d, value = value.split("-", 1)
            days = int(d)
        if ":" in value:
            h, m = value.split(":", 1)
            minutes = days * 1440 + int(h) * 60 + int(m)
        else:
            minutes = days * 1440 + int(value)
    except ValueError:
        raise XlrError(f"{where} {text!r}: give a time as H:MM (e.g. 2:30) or minutes") from None
    if minutes <= 0:
        raise XlrError(f"{where} {text!r}: a time limit must be positive")
    return minutes


def parse_pairs(items: list[str] | None, flag: str, value, known: tuple[str, ...] | None = None) -> dict:
    """`METHOD=VALUE` (or a bare VALUE for every method, key "*") items of a flag."""
    out = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep:
            key, raw = "*", item
        key = key.strip()
        if known is not None and key != "*" and key not in known:
            raise XlrError(f"{flag} {item}: {key} is not one of {', '.join(known)}")
        out[key] = value(raw, f"{flag} {key}")
    return out


def parse_slurm_args(items: list[str] | None) -> dict:
    """`--slurm-arg KEY=VALUE`: sbatch options (submitit's slurm_additional_parameters)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise XlrError(f"--slurm-arg {item!r}: give KEY=VALUE, e.g. --slurm-arg qos=high")
        out[key.strip().lstrip("-")] = value.strip()
    return out


def _seconds(raw: str, where: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise XlrError(f"{where} {raw!r}: give seconds per step as a number") from None
    if not value > 0:
        raise XlrError(f"{where} {raw!r}: seconds per step must be positive")
    return value


def time_limits(exp: Experiment, cluster: Cluster) -> dict[str, int]:
    """Minutes per method: --time, else its steps x seconds per step (--seconds-per-step, else the rates
    measured by `xlr bench throughput`) with the margin; without either, a Slurm launch is refused."""
    from xlr.engine import cost, throughput

    plan = {item.method: item for part in (exp.parts or [exp]) for item in cost.plan(part)}
    for flag, given in (("--time", cluster.time), ("--seconds-per-step", cluster.seconds_per_step)):
        unknown = sorted(set(given) - set(plan) - {"*"})
        if unknown:
            raise XlrError(f"{flag} {unknown[0]}: {unknown[0]} is not one of this experiment's methods "
                           f"({', '.join(plan)})")
    measured = {}
    if cluster.rates is not None and not Path(cluster.rates).is_file():
        raise XlrError(f"--rates {cluster.rates} is not a file; pass the throughput.json that `xlr bench throughput "
                       "--out DIR` writes")
    if cluster.rates is not None:
        measured, _ = throughput.read_rates(cluster.rates, exp.train_settings().batch_size, list(plan))
    out, missing = {}, []
    for method, item in plan.items():
        given = cluster.time.get(method, cluster.time.get("*"))
        rate = cluster.seconds_per_step.get(method, cluster.seconds_per_step.get("*", measured.get(method)))
        if given is not None:
            out[method] = given
        elif rate is not None and item.steps is not None:
            out[method] = math.ceil(item.steps * rate * MARGIN / 60 + EXTRA_MINUTES)
        elif cluster.launcher == "slurm":
            missing.append(method)
        else:
            out[method] = UNTIMED_MINUTES
    if missing:
        raise XlrError(f"no time limit for {', '.join(missing)}: pass --time METHOD=H:MM, --seconds-per-step "
                       "METHOD=S, or --rates DIR from `xlr bench throughput` on the cluster's GPU")
    return out


def hhmm(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def submitit_module(launcher: str):
    try:
        import submitit
    except ImportError:
        raise XlrError(f"--launcher {launcher} needs submitit, an optional dependency: pip install \"xlr[slurm]\"") \
            from None
    return submitit


class RunJob:
    """One array task: train one run through the claims, checkpointable (submitit calls `checkpoint` on the
    scheduler's signal, after the run saved its state, and requeues the job)."""

    def __init__(self, spec: RunSpec, out: Path, force: bool, keep_checkpoints: bool, device_option: str | None,
                 lease: float):
        self.spec, self.out, self.force = spec, Path(out), force
        self.keep_checkpoints, self.device_option, self.lease = keep_checkpoints, device_option, lease

    def checkpoint(self, *args, **kwargs):
        from submitit.helpers import DelayedSubmission

        # the run's state is in its folder: the requeued job resumes it (never --force again: that would reset it)
        return DelayedSubmission(RunJob(self.spec, self.out, False, self.keep_checkpoints, self.device_option,
                                        self.lease))

    def __call__(self):
        from submitit.core.job_environment import JobEnvironment

        from xlr.engine import pipeline, preflight, training
        from xlr.machine.progress import quiet_libraries, say

        spec, exp = self.spec, self.spec.experiment
        rd = RunStore(self.out).run(exp.run_name, spec.method, spec.seed)
        self._link_logs(rd)
        quiet_libraries()
        pipeline.announce_device(exp, self.device_option)
        preflight.resolve(exp)
        sig = JobEnvironment._usr_sig()
        submitit_handler = signal.getsignal(sig)
        timer: list = []

        def deferred(signum, frame):
            """The first signal: save at the end of the current step and stop, then requeue. A second one (ours, after
            GRACE_SECONDS, or the scheduler's): the step never ended, so requeue from the last checkpoint now."""
            if timer:
                signal.signal(sig, submitit_handler)
                submitit_handler(signum, frame)
                return
            training.request_stop(save=True, why="on the scheduler's signal")
            timer.append(threading.Timer(GRACE_SECONDS, os.kill, (os.getpid(), sig)))
            timer[0].daemon = True
            timer[0].start()

        if callable(submitit_handler):
            signal.signal(sig, deferred)
        try:
            self._train(rd, say)
        except training.Interrupted as e:
            if not training.stop_requested() or "scheduler" not in training.stop_reason() \
                    or not callable(submitit_handler):
                raise  # another worker took the run over: nothing to requeue
            say(f"[yellow]{rd.path}: {e}; requeueing[/]")
            self._requeue(rd, sig, submitit_handler)
        finally:
            for t in timer:
                t.cancel()
            if signal.getsignal(sig) is deferred:
                signal.signal(sig, submitit_handler)
        write_results(RunStore(self.out).experiment_dir(exp.run_name))
        return str(rd.path)

    def _train(self, rd, say) -> None:
        """The run, through the claims; a run another live worker holds is waited for (it may be a job that died,
        whose claim goes stale after the lease)."""
        from xlr.scheduling import workers

        spec = self.spec
        held = workers.run_unclaimed([spec], self.out, lambda i, s: say(f"{s.method}, seed {s.seed}"),
                                     force=self.force, keep_checkpoints=self.keep_checkpoints, lease=self.lease,
                                     leave_queued=False)
        while held:
            say(f"{rd.path} is held by another worker; waiting for it to finish or go stale")
            time.sleep(workers.WAIT_SECONDS)
            held = workers.run_unclaimed([spec], self.out, lambda i, s: say(f"taking over {s.method}, seed {s.seed}"),
                                         force=False, keep_checkpoints=self.keep_checkpoints, lease=self.lease,
                                         leave_queued=False)

    @staticmethod
    def _requeue(rd, sig, submitit_handler) -> None:
        """submitit's own handler: checkpoint this job, requeue it and exit. When it cannot requeue (timed out too
        many times, or the scheduler refused), the run says so in FAILED and gives its claim up."""
        from xlr.scheduling import claims, workers

        try:
            submitit_handler(sig, None)
        except Exception as e:
            workers.record_failure(rd, e)
            claims.release(rd, claims.Claim.mine())
            raise

    @staticmethod
    def _link_logs(rd) -> None:
        """The job's stdout and stderr, as submitit writes them, linked from the run's logs/ folder."""
        try:
            from submitit import JobEnvironment

            paths = JobEnvironment().paths
            rd.logs_dir.mkdir(parents=True, exist_ok=True)
            for kind, source in (("out", paths.stdout), ("err", paths.stderr)):
                link = rd.logs_dir / f"job-{JobEnvironment().job_id}.{kind}"
                if not link.exists() and not link.is_symlink():
                    link.symlink_to(Path(str(source)).resolve())
        except Exception:  # no job environment (debug executor) or no symlinks here: the logs stay where they are
            pass


@dataclass
class Submitted:
    experiment: str
    method: str
    job_id: str
    runs: list[RunSpec]
    minutes: int
    jobs: list


def submit(exp: Experiment, out: Path, cluster: Cluster, force: bool = False, keep_checkpoints: bool = False,
           device_option: str | None = None, lease: float = 600.0, specs: list[RunSpec] | None = None,
           say=print) -> list[Submitted]:
    """Submit one job array per (experiment part, method) for the runs not finished yet; write each run's QUEUED
    record; return what was submitted."""
    from xlr.engine import pipeline

    submitit = submitit_module(cluster.launcher)
    limits = time_limits(exp, cluster)
    specs = specs if specs is not None else [s for part in (exp.parts or [exp]) for s in part.runs()]
    pending = [s for s in specs if force or not pipeline.finished(
        RunStore(out).run(s.experiment.run_name, s.method, s.seed), s)]
    if not force:  # a run whose job is still in the queue is not queued twice
        for s in list(pending):
            queued = queue.waiting_for_job(RunStore(out).run(s.experiment.run_name, s.method, s.seed))
            if queued is not None:
                say(f"{s.experiment.run_name} / {s.method} seed {s.seed}: already queued as job {queued.get('job_id')}")
                pending.remove(s)
    groups: dict[tuple, list[RunSpec]] = {}
    for s in pending:
        groups.setdefault((s.experiment.run_name, s.method), []).append(s)
    done = []
    for (name, method), runs in groups.items():
        folder = RunStore(out).experiment_dir(name) / ".jobs" / method
        try:
            executor = submitit.AutoExecutor(folder=folder, cluster=cluster.launcher)
        except RuntimeError as e:  # no Slurm on this machine ("Could not detect srun")
            raise XlrError(f"--launcher {cluster.launcher}: {str(e).strip().splitlines()[0]}; submit from a machine "
                           "of the cluster, or use --launcher local to run the jobs here") from None
        minutes = limits.get(method, UNTIMED_MINUTES)
        executor.update_parameters(
            name=f"xlr-{name.replace('/', '-')}-{method}", timeout_min=minutes,
            slurm_signal_delay_s=SIGNAL_SECONDS,
            **({"gpus_per_node": cluster.gpus_per_run} if cluster.gpus_per_run is not None else {}),
            **({"cpus_per_task": cluster.cpus_per_run} if cluster.cpus_per_run is not None else {}),
            **({"slurm_partition": cluster.partition} if cluster.partition else {}),
            **({"slurm_array_parallelism": cluster.array_parallelism} if cluster.array_parallelism else {}),
            **({"slurm_additional_parameters": dict(cluster.slurm_args)} if cluster.slurm_args else {}))
        jobs = []
        with executor.batch():
            for s in runs:
                jobs.append(executor.submit(RunJob(s, out, force, keep_checkpoints, device_option, lease)))
        for s, job in zip(runs, jobs):
            queue.record(RunStore(out).run(s.experiment.run_name, s.method, s.seed), job.job_id, cluster.launcher,
                         hhmm(minutes))
        array = str(jobs[0].job_id).split("_")[0] if jobs else "?"
        say(f"submitted {name} / {method}: job {array}, {len(runs)} run(s) (seeds "
            f"{', '.join(str(s.seed) for s in runs)}), time limit {hhmm(minutes)} each")
        done.append(Submitted(name, method, array, runs, minutes, jobs))
    if not done:
        say("nothing to submit: every run is finished or queued")
    return done


def wait(submitted: list[Submitted]) -> None:
    """Wait for every job; a job that failed is one line naming its run and where its log is."""
    for group in submitted:
        for spec, job in zip(group.runs, group.jobs):
            try:
                job.result()
            except Exception as e:
                last = [line for line in str(e).strip().splitlines() if line.strip()]
                raise XlrError(f"job {job.job_id} ({group.experiment} / {spec.method} seed {spec.seed}) failed: "
                               f"{last[-1] if last else type(e).__name__}; its log: {job.paths.stderr}") from None
