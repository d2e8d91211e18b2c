"""Claims: which worker holds a run, so that workers sharing a run store (processes, machines, scheduler jobs)
never train one run twice, and a worker that died never strands it.

A claim is the run's CLAIMED file, created with O_EXCL (atomic on local and network file systems). It records
the host, the process, the scheduler's job id and array index when there is one, when it was taken, the
heartbeat its worker refreshes about every minute, and the run's progress (step / total) for `xlr status`.

A claim is *stale*, and any worker takes it over (saying whose claim it took), when
- its heartbeat is older than the lease (default 10 minutes; `--lease`), or
- it was made on this host by a process that no longer exists.
A job that the scheduler requeued (same job, array index and task, a higher restart count) takes its own claim
back at once; the tasks of one job (`srun -n 4`) never take each other's. A claim is written whole before it
appears (a temporary file linked into place), and one that cannot be read counts as held until its file is
older than the lease. A claim written by an earlier xlr (one line, no heartbeat) from another host is honoured
until released. Takeovers, refreshes and releases go through a lock beside the claim (where the file system
has locks), so two workers never both hold a run. No file is ever to be deleted by hand.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from xlr.errors import XlrError
from xlr.files import atomic_write_json, file_lock
from xlr.store import RunDir

LEASE_SECONDS = 600.0      # a heartbeat older than this makes a claim stale
HEARTBEAT_SECONDS = 60.0   # how often a worker refreshes its claims


def scheduler_job() -> tuple[str | None, str | None, str | None, int]:
    """(job id, array index, task, restart count) of the scheduler job this process runs in: Slurm's variables
    (an array job's own id and index; the task within the job; how often Slurm restarted it), or submitit's
    local executor's; (None, None, None, 0) outside a scheduler."""
    env = os.environ
    task, restart = env.get("SLURM_PROCID"), int(env.get("SLURM_RESTART_COUNT") or 0)
    if env.get("SLURM_ARRAY_JOB_ID"):
        return env["SLURM_ARRAY_JOB_ID"], env.get("SLURM_ARRAY_TASK_ID"), task, restart
    if env.get("SLURM_JOB_ID"):
        return env["SLURM_JOB_ID"], None, task, restart
    if env.get("SUBMITIT_LOCAL_JOB_ID"):
        return env["SUBMITIT_LOCAL_JOB_ID"], None, env.get("SUBMITIT_LOCAL_GLOBALID"), 0
    return None, None, None, 0


@dataclass
class Claim:
    host: str
    pid: int
    job_id: str | None = None
    array_index: str | None = None
    task: str | None = None          # the task within the job (srun -n: SLURM_PROCID)
    restart: int = 0                 # how often the scheduler restarted the job (a requeue counts one more)
    taken: float = field(default_factory=time.time)
    heartbeat: float | None = field(default_factory=time.time)   # None: an earlier xlr's claim, never refreshed
    step: int | None = None
    total: int | None = None

    @classmethod
    def mine(cls) -> "Claim":
        job, index, task, restart = scheduler_job()
        return cls(socket.gethostname(), os.getpid(), job, index, task, restart)

    def owner(self) -> str:
        job = f", job {self.job_id}" + (f"_{self.array_index}" if self.array_index is not None else "") \
            if self.job_id else ""
        return f"{self.host} pid {self.pid}{job}"

    def same_worker(self, other: "Claim") -> bool:
        return (self.host, self.pid, self.job_id, self.array_index) == \
            (other.host, other.pid, other.job_id, other.array_index)

    def requeued_as(self, other: "Claim") -> bool:
        """Whether OTHER is this claim's job after a requeue: the same job, array index and task, restarted more
        often (the tasks of one running job are not each other's requeue)."""
        return (self.job_id is not None and (self.job_id, self.array_index, self.task) ==
                (other.job_id, other.array_index, other.task) and (other.restart or 0) > (self.restart or 0))

    def heartbeat_age(self, now: float | None = None) -> float | None:
        return None if self.heartbeat is None else max(0.0, (now or time.time()) - self.heartbeat)

    def local_process_alive(self) -> bool | None:
        """Whether the claiming process lives, when it ran on this host; None for a claim from elsewhere."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def is_stale(self, lease: float = LEASE_SECONDS, now: float | None = None) -> bool:
        if self.local_process_alive() is False:
            return True
        age = self.heartbeat_age(now)
        return age is not None and age > lease


def read(rd: RunDir) -> Claim | None:
    """The run's claim, or None when it has none. A claim that cannot be read or parsed (a network file system's
    passing error, garbage) counts as a claim of nobody whose heartbeat is its file's age: held until the
    lease passes."""
    text = None
    for attempt in range(3):
        try:
            text = rd.claim_path.read_text()
            break
        except FileNotFoundError:
            return None
        except OSError:  # e.g. ESTALE on NFS while another worker replaces the file: try again
            time.sleep(0.05 * (attempt + 1))
    if text is not None:
        try:
            data = json.loads(text)
            return Claim(**{k: data.get(k) for k in Claim.__dataclass_fields__ if k in data})
        except (json.JSONDecodeError, TypeError, ValueError):
            pass
        parts = text.split()  # an earlier xlr's claim: "host pid time"
        if len(parts) >= 2 and parts[1].isdigit():
            return Claim(parts[0], int(parts[1]), taken=_mtime(rd.claim_path), heartbeat=None)
    age = _mtime(rd.claim_path)
    return Claim("?", -1, taken=age, heartbeat=age)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _create(rd: RunDir, claim: Claim) -> bool:
    """Create the claim whole, exclusively: written to a temporary file, then hard-linked into place (atomic and
    exclusive on local and network file systems); O_EXCL where links are not supported."""
    tmp = rd.path / f".CLAIMED.{socket.gethostname()}.{os.getpid()}.{threading.get_ident()}"
    tmp.write_text(json.dumps(asdict(claim)) + "\n")
    try:
        os.link(tmp, rd.claim_path)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links here
        try:
            fd = os.open(rd.claim_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(asdict(claim)) + "\n")
        return True
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(rd: RunDir):
    """The claim's lock, where the file system has locks (some mounts of Lustre or NFS have none: then the
    exclusive creation alone protects the claim)."""
    try:
        with file_lock(rd.path / ".claim.lock"):
            yield
    except OSError as e:
        if e.errno not in (errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP):
            raise
        yield


def claim(rd: RunDir, lease: float = LEASE_SECONDS, say=None) -> Claim | None:
    """Take the run for this process; the claim taken, or None when a live worker holds it."""
    rd.path.mkdir(parents=True, exist_ok=True)
    me = Claim.mine()
    if _create(rd, me):
        return me
    with _locked(rd):  # one takeover at a time
        held = read(rd)
        if held is not None:
            if held.same_worker(me) or held.requeued_as(me):
                why = None if held.same_worker(me) else "requeued job"
            elif held.is_stale(lease):
                age = held.heartbeat_age()
                why = "its process is gone" if held.local_process_alive() is False else \
                    f"no heartbeat for {age / 60:.0f} min" if age is not None else "stale"
            else:
                return None
            if why and say is not None:
                say(f"[yellow]{rd.path}: taking over the claim of {held.owner()} ({why})[/]")
            rd.claim_path.unlink(missing_ok=True)
        return me if _create(rd, me) else None


def release(rd: RunDir, mine: Claim) -> None:
    """Give the run up, if this process still holds it."""
    with _locked(rd):
        held = read(rd)
        if held is not None and held.same_worker(mine):
            rd.claim_path.unlink(missing_ok=True)


def refresh(rd: RunDir, mine: Claim, progress: tuple | None = None) -> bool:
    """Renew the heartbeat (and progress) of a claim this process holds; False when it holds it no longer
    (another worker took it over, or it was released)."""
    with _locked(rd):
        held = read(rd)
        if held is None or not held.same_worker(mine):
            return False
        mine.heartbeat = time.time()
        if progress is not None:
            mine.step, mine.total = progress
        atomic_write_json(rd.claim_path, asdict(mine))
        return True


class Heartbeat:
    """A daemon thread that refreshes this process's claims every `interval` seconds; `lost` names the runs whose
    claim another worker took over (their work must stop)."""

    def __init__(self, interval: float = HEARTBEAT_SECONDS, progress=None, on_lost=None):
        self.interval = interval
        self.progress = progress          # a callable giving (step, total) of the run training here, or None
        self.on_lost = on_lost            # called with the run's folder when another worker took its claim
        self.held: dict[Path, Claim] = {}
        self.lost: list[Path] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="xlr-heartbeat", daemon=True)
        self._thread.start()

    def add(self, rd: RunDir, mine: Claim) -> None:
        with self._lock:
            self.held[rd.path] = mine

    def remove(self, rd: RunDir) -> None:
        with self._lock:
            self.held.pop(rd.path, None)

    def beat(self) -> None:
        with self._lock:
            held = dict(self.held)
        for path, mine in held.items():
            try:
                if not refresh(RunDir(path), mine, self.progress() if self.progress else None):
                    with self._lock:
                        still_held = path in self.held  # not released by this process in the meantime
                    if still_held:
                        self.lost.append(path)
                        self.remove(RunDir(path))
                        if self.on_lost is not None:
                            self.on_lost(path)
            except OSError:  # a full or unreachable file system: try again next time
                pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        self._stop.set()


def live_claims_here(root: Path) -> int:
    """Processes on this host that hold a run under `root` now (their claims), this one included."""
    from xlr.store import RunStore

    count = 0
    for path in RunStore(root).claims():
        held = read(RunDir(path.parent))
        if held is not None and held.local_process_alive() is True:
            count += 1
    return count


def check_lease(minutes: float) -> float:
    """--lease in minutes, as seconds: at least 3 heartbeats, so that a live claim never looks stale between two."""
    least = 3 * HEARTBEAT_SECONDS / 60
    if not minutes >= least:
        raise XlrError(f"--lease must be at least {least:g} minutes (three heartbeats), not {minutes}")
    return minutes * 60
