"""Queued runs: the scheduler job a run was submitted to (its QUEUED record), and whether that job can still
start it.

A plain worker leaves a run alone while the job queued for it is still in the scheduler's queue, so that
`xlr reproduce NAME --out DIR`, typed on a login node to assemble the tables, never trains a queued run there;
and a second submission of the same experiment does not queue a run twice. A job that is gone (cancelled, or
ended without finishing the run) no longer holds its run: the next worker or submission takes it.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time

from xlr.files import atomic_write_json
from xlr.store import RunDir

SQUEUE_SECONDS = 20


def record(rd: RunDir, job_id: str, launcher: str, time_limit: str) -> None:
    """Write the run's QUEUED record: the job submitted to train it, from which host and process."""
    rd.path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(rd.queued_path, {"job_id": str(job_id), "launcher": launcher,
                                       "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                       "time_limit": time_limit, "host": socket.gethostname(),
                                       "pid": os.getpid()})


def read(rd: RunDir) -> dict | None:
    """The run's QUEUED record, or None (none, or unreadable: a record half written counts as none)."""
    try:
        value = json.loads(rd.queued_path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True
    return True


def _slurm_job_queued(job_id: str) -> bool | None:
    """Whether Slurm still lists the job (pending, running, or being requeued); None when squeue cannot tell."""
    try:
        done = subprocess.run(["squeue", "--noheader", "--format=%T", f"--jobs={job_id}"], capture_output=True,
                              text=True, timeout=SQUEUE_SECONDS)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return False if "invalid job id" in done.stderr.lower() else None
    return bool(done.stdout.strip())


def job_in_queue(queued: dict) -> bool | None:
    """Whether the job of a QUEUED record can still start its run: True, False, or None when this machine cannot
    tell (another host's local job; no squeue here)."""
    launcher, job_id = queued.get("launcher"), str(queued.get("job_id", ""))
    if launcher == "slurm":
        return _slurm_job_queued(job_id)
    if queued.get("host", socket.gethostname()) != socket.gethostname():
        return None
    # a local job is a process of this host (its id is the pid); a debug job runs inside the submitting process
    return _pid_alive(job_id if launcher == "local" else queued.get("pid"))


def waiting_for_job(rd: RunDir) -> dict | None:
    """The QUEUED record of a run whose job may still start it (in the queue, or this machine cannot tell);
    None when the run has no such job."""
    queued = read(rd)
    if queued is None or rd.is_done():
        return None
    return None if job_in_queue(queued) is False else queued
