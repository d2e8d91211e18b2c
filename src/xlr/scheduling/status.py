"""`xlr status`: each run of a run store in one state, whichever launcher or worker filled it.

- done: DONE written; its source-dev accuracy and training time;
- training: a live claim; its host, job, step / total and the heartbeat's age;
- stale: a claim whose worker stopped (no heartbeat within the lease, or its process gone): the next worker
  takes it over;
- failed: the last line of the error that stopped it (FAILED), and no live claim;
- waiting: submitted to a scheduler (QUEUED) and not started (or its job gone: the next worker takes it), started and stopped without an error (the same
  command resumes it), or planned by the experiment and not started.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from xlr.errors import XlrError
from xlr.files import read_json
from xlr.scheduling import claims, queue
from xlr.store import RunDir, RunStore

STATES = ("done", "training", "stale", "failed", "waiting")
COLUMNS = ["experiment", "method", "seed", "state", "where", "progress", "heartbeat", "detail"]


@dataclass
class RunState:
    experiment: str
    method: str
    seed: int
    state: str
    where: str = ""
    progress: str = ""
    heartbeat: str = ""
    detail: str = ""


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "none (an earlier xlr's claim)"
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def _json(path: Path) -> dict:
    try:
        return read_json(path)
    except XlrError:
        return {}


def run_state(experiment: str, rd: RunDir, lease: float = claims.LEASE_SECONDS) -> RunState:
    method, seed = RunStore.method_of(rd), int(rd.path.name.removeprefix("seed"))
    out = RunState(experiment, method, seed, "waiting")
    if rd.is_done():
        metrics = _json(rd.metrics_path) if rd.metrics_path.is_file() else {}
        dev, train = metrics.get("dev") or {}, metrics.get("train") or {}
        out.state = "done"
        if dev.get("best_accuracy") is not None:
            out.progress = f"dev {dev.get('language') or ''} {float(dev['best_accuracy']):.2f}".replace("  ", " ")
        if train.get("seconds") is not None:
            out.detail = f"trained {float(train['seconds']):,.0f} s, {train.get('steps')} steps"
        return out
    held = claims.read(rd)
    if held is not None:
        out.where = held.owner()
        out.heartbeat = _age(held.heartbeat_age())
        if held.step is not None:
            out.progress = f"step {held.step}/{held.total}"
        out.state = "stale" if held.is_stale(lease) else "training"
        if out.state == "stale":
            out.detail = "its worker stopped; the next worker takes it over"
        return out
    try:
        lines = rd.failed_path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:  # not failed, or a worker removed FAILED as it started the run again
        lines = None
    if lines is not None:
        out.state = "failed"
        out.detail = lines[-1] if lines else "failed"
        return out
    queued = queue.read(rd)
    if queued is not None:
        out.where = f"job {queued.get('job_id')} ({queued.get('launcher')})"
        out.detail = f"submitted {queued.get('submitted')}, time limit {queued.get('time_limit')}"
        if queue.job_in_queue(queued) is False:
            out.detail += "; the job is no longer queued: the next worker or submission takes the run"
    elif any(rd.path.iterdir()):
        out.detail = "started and stopped; the same command resumes it"
    return out


def store_status(out: Path, name: str | None = None, profile: str | None = None,
                 lease: float = claims.LEASE_SECONDS) -> list[RunState]:
    """Every run of the store (or of experiment NAME: a folder of the store, or an experiment whose planned runs
    count as waiting until they start)."""
    out = Path(out)
    planned = []
    if name is None:
        folders = RunStore.experiments_in(out) if out.is_dir() else []
        # a sweep's points: experiments inside its folder
        folders += [p for f in (sorted(out.glob("*-sweep")) if out.is_dir() else []) for p in RunStore.experiments_in(f)]
        if not folders:
            raise XlrError(f"{out} holds no runs (runs/<experiment>/<method>/seed<N>/); pass --out with your run store")
    elif (out / name).is_dir():
        folders = [out / name]
    else:
        from xlr.experiments import load_experiment

        try:
            exp = load_experiment(name, profile)
        except XlrError as e:
            raise XlrError(f"{name} is neither a folder of {out} nor an experiment ({e})") from None
        parts = exp.parts or [exp]
        folders = [out / part.run_name for part in parts]
        planned = [(part.run_name, spec) for part in parts for spec in part.runs()]
    states = []
    for folder in folders:
        experiment = str(folder.relative_to(out))
        runs = sorted((RunDir(p) for p in folder.glob("*/seed*") if p.is_dir()),
                      key=lambda r: (RunStore.method_of(r), int(r.path.name.removeprefix("seed"))))
        states += [run_state(experiment, rd, lease) for rd in runs]
    seen = {(s.experiment, s.method, s.seed) for s in states}
    for run_name, spec in planned:
        if (run_name, spec.method, spec.seed) not in seen:
            states.append(RunState(run_name, spec.method, spec.seed, "waiting", detail="not started"))
    return states


def show(states: list[RunState], fmt: str = "rich") -> str | None:
    from xlr.results.report import join, note, render_rows

    if fmt == "json":
        return json.dumps([asdict(s) for s in states], indent=2) + "\n"
    rows = [[getattr(s, c) if c != "seed" else str(s.seed) for c in COLUMNS] for s in states]
    if fmt == "csv":
        return render_rows("status", COLUMNS, rows, fmt)
    parts = []
    for experiment in dict.fromkeys(s.experiment for s in states):
        parts.append(render_rows(experiment, COLUMNS[1:], [r[1:] for r in rows if r[0] == experiment], fmt))
    counts = {state: sum(s.state == state for s in states) for state in STATES}
    parts.append(note(", ".join(f"{n} {state}" for state, n in counts.items() if n) or "no runs", fmt))
    return join(parts)
