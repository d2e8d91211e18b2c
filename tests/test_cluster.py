"""xlr on a cluster: claims with heartbeats and leases, `xlr status`, a full disk, and the submitit launchers
(local and debug executors here; the Slurm path through submitit's own sbatch script and a fake `sbatch`)."""
import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from conftest import run_xlr
from xlr.scheduling import claims
from xlr.store import RunDir, RunStore

QUICK = ("--methods", "baseline", "--set", "train.epochs=2", "--set", "generalized=false")


def write_claim(rd: RunDir, **fields) -> None:
    rd.path.mkdir(parents=True, exist_ok=True)
    claim = {"host": "node-17", "pid": 4242, "job_id": None, "array_index": None, "taken": time.time(),
             "heartbeat": time.time(), "step": None, "total": None, **fields}
    rd.claim_path.write_text(json.dumps(claim))


def test_a_claim_is_exclusive_and_records_its_worker(tmp_path):
    rd = RunDir(tmp_path / "exp" / "adv" / "seed1")
    mine = claims.claim(rd)
    assert mine is not None and claims.claim(RunDir(rd.path)) is not None  # this worker again: its own claim
    held = claims.read(rd)
    assert (held.host, held.pid) == (socket.gethostname(), os.getpid()) and held.heartbeat is not None
    claims.release(rd, mine)
    assert claims.read(rd) is None


def test_a_claim_past_its_lease_is_taken_over_and_a_live_one_is_not(tmp_path):
    said = []
    stale = RunDir(tmp_path / "exp" / "adv" / "seed1")
    write_claim(stale, heartbeat=time.time() - 700)          # another host, silent for 11 minutes
    live = RunDir(tmp_path / "exp" / "adv" / "seed2")
    write_claim(live, heartbeat=time.time() - 30)            # another host, heard from 30 s ago
    assert claims.claim(stale, lease=600, say=said.append) is not None
    assert claims.read(stale).host == socket.gethostname()
    assert said and "taking over the claim of node-17 pid 4242" in said[0] and "no heartbeat for 12 min" in said[0]
    assert claims.claim(live, lease=600) is None and claims.read(live).host == "node-17"
    assert claims.claim(live, lease=10) is not None          # a shorter lease: 30 s is too long


def test_a_claim_of_a_process_gone_from_this_host_is_stale(tmp_path):
    rd = RunDir(tmp_path / "exp" / "adv" / "seed1")
    write_claim(rd, host=socket.gethostname(), pid=999999999)
    assert claims.claim(rd) is not None
    old = RunDir(tmp_path / "exp" / "adv" / "seed2")         # an earlier xlr's one-line claim
    old.path.mkdir(parents=True)
    old.claim_path.write_text(f"{socket.gethostname()} 999999999 2026-01-01T00:00:00\n")
    assert claims.claim(old) is not None


def test_a_requeued_job_takes_its_own_claim_back(tmp_path, monkeypatch):
    rd = RunDir(tmp_path / "exp" / "rs-da" / "seed3")
    write_claim(rd, host="node-3", pid=77, job_id="9001", array_index="2")   # the job, before the requeue
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "9001")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")                              # Slurm counts the requeue
    said = []
    assert claims.claim(rd, say=said.append) is not None and "requeued job" in said[0]
    held = claims.read(rd)
    assert (held.job_id, held.array_index, held.pid) == ("9001", "2", os.getpid())
    other = RunDir(tmp_path / "exp" / "rs-da" / "seed4")
    write_claim(other, host="node-3", pid=78, job_id="9001", array_index="3")  # another task of the array: live
    assert claims.claim(other) is None


def test_the_heartbeat_refreshes_and_notices_a_lost_claim(tmp_path):
    rd = RunDir(tmp_path / "exp" / "adv" / "seed1")
    mine = claims.claim(rd)
    before = claims.read(rd).heartbeat
    time.sleep(0.01)
    beat = claims.Heartbeat(interval=3600, progress=lambda: (12, 376))
    beat.add(rd, mine)
    beat.beat()
    held = claims.read(rd)
    assert held.heartbeat > before and (held.step, held.total) == (12, 376)
    write_claim(rd)                                          # taken over by another worker
    beat.beat()
    beat.stop()
    assert beat.lost == [rd.path] and claims.read(rd).host == "node-17"


def one_run_of_each_state(root: Path) -> None:
    store = RunStore(root)
    done = store.run("exp", "baseline", 1)
    done.path.mkdir(parents=True)
    done.write_metrics({"dev": {"language": "en", "best_accuracy": 85.7}, "train": {"seconds": 2990.0, "steps": 376}})
    done.mark_done()
    write_claim(store.run("exp", "adv", 1), step=120, total=376, job_id="5", array_index="0")
    write_claim(store.run("exp", "rs-rp", 1), heartbeat=time.time() - 3600)
    failed = store.run("exp", "rs-da", 1)
    failed.path.mkdir(parents=True)
    failed.failed_path.write_text("Traceback...\nXlrError: no space left in runs/exp/rs-da/seed1\n")
    queued = store.run("exp", "r3f", 1)
    queued.path.mkdir(parents=True)
    queued.queued_path.write_text(json.dumps({"job_id": "77_4", "launcher": "slurm", "submitted": "now",
                                              "time_limit": "1:30"}))


def test_status_shows_each_state(tmp_path):
    one_run_of_each_state(tmp_path)
    proc = run_xlr("status", "--out", tmp_path, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    by = {s["method"]: s for s in json.loads(proc.stdout)}
    assert {m: s["state"] for m, s in by.items()} == {"baseline": "done", "adv": "training", "rs-rp": "stale",
                                                      "rs-da": "failed", "r3f": "waiting"}
    assert by["baseline"]["progress"] == "dev en 85.70"
    assert by["adv"]["where"] == "node-17 pid 4242, job 5_0" and by["adv"]["progress"] == "step 120/376"
    assert by["rs-da"]["detail"] == "XlrError: no space left in runs/exp/rs-da/seed1"
    assert by["r3f"]["where"] == "job 77_4 (slurm)"
    table = run_xlr("status", "--out", tmp_path, "--format", "markdown")
    assert "1 done, 1 training, 1 stale, 1 failed, 1 waiting" in table.stdout


def test_status_of_an_experiment_lists_its_planned_runs_as_waiting(tmp_path):
    proc = run_xlr("status", "smoke", "--out", tmp_path, "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(",waiting,") == 4  # the four methods of the smoke experiment, one seed
    bad = run_xlr("status", "nope", "--out", tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------- queued

def fake_squeue(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "squeue").write_text("#!/bin/sh\n" + body)
    (bin_dir / "squeue").chmod(0o755)


def test_a_slurm_job_is_in_the_queue_while_squeue_lists_it(tmp_path, monkeypatch):
    from xlr.scheduling import queue

    record = {"job_id": "77_4", "launcher": "slurm"}
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert queue.job_in_queue(record) is None                       # no squeue here: cannot tell
    fake_squeue(tmp_path / "bin", "echo PENDING\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert queue.job_in_queue(record) is True
    fake_squeue(tmp_path / "bin", "echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1\n")
    assert queue.job_in_queue(record) is False
    fake_squeue(tmp_path / "bin", "exit 0\n")                      # listed no more: ended
    assert queue.job_in_queue(record) is False
    fake_squeue(tmp_path / "bin", "echo 'Unable to contact slurm controller' >&2; exit 1\n")
    assert queue.job_in_queue(record) is None


def test_a_plain_worker_leaves_a_queued_run_to_its_job_until_the_job_is_gone(tmp_path, monkeypatch):
    """`xlr reproduce NAME --out DIR`, typed to assemble the tables while jobs wait in the queue, must not train
    their runs on the machine it is typed on."""
    import subprocess

    from xlr.engine import pipeline
    from xlr.experiments import load_experiment
    from xlr.scheduling import queue, workers

    exp = load_experiment("smoke", overrides=[{"methods": {"run": ["baseline"]}, "generalized": False}])
    [spec] = exp.runs()
    rd = RunStore(tmp_path).run(exp.run_name, "baseline", spec.seed)
    job = subprocess.Popen(["sleep", "60"])            # a local job's id is its process id
    try:
        queue.record(rd, str(job.pid), "local", "1:00")
        trained = []
        monkeypatch.setattr(pipeline, "run_one", lambda spec, out, force, keep: trained.append(spec.method))
        held = workers.run_unclaimed([spec], tmp_path, lambda i, s: None)
        assert held == [spec] and trained == [] and rd.queued_path.is_file()
        assert workers.run_unclaimed([spec], tmp_path, lambda i, s: None, leave_queued=False) == []  # the job
        assert trained == ["baseline"] and not rd.queued_path.exists()
        queue.record(rd, str(job.pid), "local", "1:00")
    finally:
        job.kill()
        job.wait()
    assert queue.waiting_for_job(rd) is None          # its job is gone: the next worker takes the run
    assert workers.run_unclaimed([spec], tmp_path, lambda i, s: None) == [] and trained == ["baseline"] * 2


# ----------------------------------------------------------------------------------------------- disk

def test_a_full_disk_is_one_line_and_the_run_resumes_once_space_is_freed(tmp_path, xlr_main, monkeypatch):
    import errno

    import transformers.modeling_utils as modeling

    real = modeling.safe_save_file
    calls = {"n": 0}

    def full(*args, **kwargs):  # the second save (a checkpoint) finds the disk full, as safetensors reports it
        calls["n"] += 1
        if calls["n"] >= 2:
            raise RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "
                               "\"No space left on device\" })")
        return real(*args, **kwargs)

    finished = ("reproduce", "smoke", *QUICK[2:], "--methods", "rs-rp", "--out", tmp_path / "runs")
    assert xlr_main(*finished)[0] == 0
    other = RunStore(tmp_path / "runs").run("smoke", "rs-rp", 7)

    def snapshot():
        return {p.relative_to(other.path): p.read_bytes() for p in sorted(other.path.rglob("*")) if p.is_file()}

    before = snapshot()
    monkeypatch.setattr(modeling, "safe_save_file", full)
    args = ("reproduce", "smoke", *QUICK, "--set", "train.eval_steps=5", "--out", tmp_path / "runs")
    code, out, err = xlr_main(*args)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and err.strip().splitlines()[-1] == errors[0] and "Traceback" not in err, err
    assert "no space left on device in" in err and "the run needs about" in err and "is free" in err
    rd = RunStore(tmp_path / "runs").run("smoke", "baseline", 7)
    assert "no space left" in rd.failed_path.read_text()
    assert other.is_done() and snapshot() == before       # the finished run is intact
    monkeypatch.setattr(modeling, "safe_save_file", real)
    code, out, err = xlr_main(*args)
    assert code == 0, err
    assert rd.is_done() and not rd.failed_path.exists()
    info = json.loads(rd.training_info_path.read_text())
    assert info["fit"]["resumed_from"] == 5          # from the checkpoint saved before the disk filled
    assert not rd.claim_path.exists() and not list(rd.path.glob("*.tmp*"))
    assert snapshot() == before
    assert errno.ENOSPC == 28


def test_a_run_that_cannot_fit_is_refused_before_it_trains(tmp_path, xlr_main, monkeypatch):
    from xlr.engine import preflight

    monkeypatch.setattr(preflight, "free_bytes", lambda folder: 1000)
    code, out, err = xlr_main("reproduce", "smoke", *QUICK, "--out", tmp_path / "runs")
    assert code == 2 and "not enough space in" in err and "1.0 KB is free" in err, err
    assert not RunStore(tmp_path / "runs").run("smoke", "baseline", 7).has_model()


# ------------------------------------------------------------------------------------------- launchers

def test_launcher_options_without_a_launcher_and_bad_times_are_refused(xlr_main, tmp_path):
    for args, message in ((("--partition", "gpu"), "go with --launcher"), (("--launcher", "pbs"), "--launcher pbs"),
                          (("--launcher", "local", "--time", "adv=2h"), "--time adv"),
                          (("--launcher", "local", "--time", "nope=1:00"), "nope is not one of this experiment"),
                          (("--launcher", "local", "--slurm-arg", "qos"), "KEY=VALUE"),
                          (("--lease", "0"), "--lease")):
        code, out, err = xlr_main("reproduce", "smoke", "--out", tmp_path, *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)


def test_xlr_works_without_submitit(tmp_path):
    """submitit is optional: help, status, doctor and a plain run import nothing of it."""
    import subprocess

    script = ("import sys; sys.modules['submitit'] = None\n"
              "from xlr.cli import main\n"
              "sys.argv = ['xlr'] + sys.argv[1:]\n"
              "main()\n")
    for args in (["--help"], ["reproduce", "--help"], ["status", "smoke", "--out", str(tmp_path)],
                 ["doctor", "--experiment", "smoke", "--hub-timeout", "1"],
                 ["reproduce", "smoke", "--methods", "baseline", "--set", "train.epochs=1", "--set", "generalized=false",
                  "--out", str(tmp_path / "runs")]):
        proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300)
        assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, (args, proc.stderr)


def test_a_launcher_without_submitit_names_the_extra(tmp_path):
    script = ("import sys; sys.modules['submitit'] = None\n"
              "from xlr.cli import main\n"
              f"sys.argv = ['xlr', 'reproduce', 'smoke', '--launcher', 'slurm', '--time', '1:00', '--out', {str(tmp_path)!r}]\n"
              "main()\n")
    import subprocess

    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip() == \
        'error: --launcher slurm needs submitit, an optional dependency: pip install "xlr[slurm]"', proc.stderr
    assert not (tmp_path / "smoke").exists()


needs_submitit = pytest.mark.skipif(__import__("importlib").util.find_spec("submitit") is None,
                                    reason="submitit is not installed (pip install \"xlr[slurm]\")")


@pytest.mark.slow
@needs_submitit
def test_the_slurm_array_submitit_would_submit(tmp_path, monkeypatch):
    """One array per method, each with its own time limit, partition and extra sbatch options: the script
    submitit writes, read by a fake sbatch on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "sbatch.log"
    fake = bin_dir / "sbatch"
    fake.write_text(f"#!/bin/sh\ncat \"$1\" >> {record}\necho '----' >> {record}\n"
                    "n=$(cat {counter} 2>/dev/null || echo 100); echo $((n+1)) > {counter}\n"
                    "echo \"Submitted batch job $n\"\n".replace("{counter}", str(tmp_path / "n")))
    fake.chmod(0o755)
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")      # submitit looks for srun to know it is on Slurm
    (bin_dir / "srun").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    proc = run_xlr("reproduce", "smoke", "--methods", "baseline,rs-da", "--seeds", "1,2,3", "--launcher", "slurm",
                   "--partition", "gpu", "--gpus-per-run", "1", "--cpus-per-run", "8", "--array-parallelism", "2",
                   "--slurm-arg", "qos=high", "--time", "baseline=0:30", "--time", "rs-da=2:15",
                   "--out", tmp_path / "runs", env=env)
    assert proc.returncode == 0, proc.stderr
    scripts = record.read_text().split("----")[:-1]
    assert len(scripts) == 2  # one array per method
    by = {("baseline" if "xlr-smoke-baseline" in s else "rs-da"): s for s in scripts}
    for method, limit in (("baseline", "30"), ("rs-da", "135")):
        script = by[method]
        assert "#SBATCH --array=0-2%2" in script, script
        assert f"#SBATCH --time={limit}" in script
        assert "#SBATCH --partition=gpu" in script and "#SBATCH --qos=high" in script
        assert "#SBATCH --gpus-per-node=1" in script and "#SBATCH --cpus-per-task=8" in script
        assert "#SBATCH --signal=USR2@300" in script       # the checkpoint-and-requeue signal, 5 minutes ahead
    assert "submitted smoke / baseline: job 100, 3 run(s)" in proc.stderr
    queued = json.loads((tmp_path / "runs" / "smoke" / "rs-da" / "seed2" / "QUEUED").read_text())
    assert queued["job_id"] == "101_1" and queued["time_limit"] == "2:15"
    status = run_xlr("status", "--out", tmp_path / "runs", "--format", "json")
    assert {s["state"] for s in json.loads(status.stdout)} == {"waiting"}
    again = run_xlr("reproduce", "smoke", "--methods", "baseline,rs-da", "--seeds", "1,2,3", "--launcher", "slurm",
                    "--time", "1:00", "--out", tmp_path / "runs", env=env)
    assert again.returncode == 0 and "already queued as job 101_1" in again.stderr, again.stderr
    assert len(record.read_text().split("----")[:-1]) == 2   # nothing queued twice
    fake_squeue(bin_dir, "echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1\n")  # jobs cancelled
    third = run_xlr("reproduce", "smoke", "--methods", "rs-da", "--seeds", "1,2,3", "--launcher", "slurm",
                    "--time", "1:00", "--out", tmp_path / "runs", env=env)
    assert third.returncode == 0 and "submitted smoke / rs-da: job 102, 3 run(s)" in third.stderr, third.stderr


@pytest.mark.slow
@needs_submitit
def test_slurm_needs_a_time_limit_it_can_justify_and_a_cluster(tmp_path):
    proc = run_xlr("reproduce", "smoke", "--launcher", "slurm", "--out", tmp_path / "runs")
    assert proc.returncode == 2 and "no time limit for baseline, adv, rs-rp, rs-da" in proc.stderr, proc.stderr
    proc = run_xlr("reproduce", "smoke", "--launcher", "slurm", "--time", "1:00", "--out", tmp_path / "runs",
                   env={"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin"})
    assert proc.returncode == 2 and "submit from a machine of the cluster" in proc.stderr, proc.stderr


@needs_submitit
@pytest.mark.slow
def test_local_jobs_give_the_same_results_as_plain_workers(tmp_path):
    """The whole smoke experiment (its four methods), each run its own local job."""
    env = {"HF_HUB_OFFLINE": "1"}
    quick = ("--set", "generalized=false")
    plain = run_xlr("reproduce", "smoke", *quick, "--out", tmp_path / "plain", env=env, timeout=900)
    assert plain.returncode == 0, plain.stderr
    local = run_xlr("reproduce", "smoke", *quick, "--launcher", "local", "--wait", "--out", tmp_path / "jobs", env=env,
                    timeout=900)
    assert local.returncode == 0, local.stderr
    assert (tmp_path / "jobs" / "smoke" / "results.csv").read_text() == \
        (tmp_path / "plain" / "smoke" / "results.csv").read_text()
    jobs = {}
    for method in ("baseline", "adv", "rs-rp", "rs-da"):
        logs = list((tmp_path / "jobs" / "smoke" / method / "seed7" / "logs").glob("job-*.out"))
        assert len(logs) == 1 and logs[0].resolve().is_file()   # the job's log, linked from the run's folder
        jobs[method] = logs[0].name
    assert len(set(jobs.values())) == 4, jobs                  # one job per run


@needs_submitit
@pytest.mark.slow
def test_a_local_job_interrupted_resumes_from_its_step_and_leaves_one_row_per_language(tmp_path):
    import submitit

    from xlr.experiments import load_experiment
    from xlr.scheduling.launchers import RunJob

    out = tmp_path / "runs"
    exp = load_experiment("smoke", overrides=[{"methods": {"run": ["rs-rp"]}, "generalized": False,
                                               "train": {"epochs": 8, "eval_steps": 5}}])
    [spec] = exp.runs()
    executor = submitit.AutoExecutor(folder=tmp_path / "jobs", cluster="local")
    executor.update_parameters(timeout_min=30)
    job = executor.submit(RunJob(spec, out, False, False, None, 600.0))
    rd = RunStore(out).run(spec.experiment.run_name, "rs-rp", 7)
    deadline = time.time() + 600
    while not list(rd.checkpoints_dir.glob("checkpoint-*/xlr-complete")) and time.time() < deadline:
        time.sleep(0.5)
    import signal

    # the signal the scheduler sends before a time limit or a preemption, to the task (its pid is in the claim)
    os.kill(claims.read(rd).pid, signal.SIGUSR2)
    job.result()
    info = json.loads(rd.training_info_path.read_text())
    assert info["fit"]["resumed_from"] > 0, info["fit"]
    rows = (out / "smoke" / "results.csv").read_text().splitlines()[1:]
    languages = [line.split(",")[6] for line in rows]
    assert sorted(languages) == sorted(set(languages)) and len(languages) == 8  # 7 languages + avg, once each
    log = Path(str(job.paths.stdout)).read_text() + Path(str(job.paths.stderr)).read_text()
    assert "requeueing" in log


def test_one_runs_life_holds_no_scheduling():
    """engine/pipeline.py keeps one run's life; claims, workers and launchers live in xlr.scheduling."""
    from xlr.engine import pipeline

    assert not [name for name in ("run_unclaimed", "live_workers", "run_experiment", "WAIT_SECONDS")
                if hasattr(pipeline, name)]
    source = Path(pipeline.__file__).read_text()
    assert "claim" not in source.lower()


def test_the_tasks_of_one_job_never_take_each_others_claims(tmp_path, monkeypatch):
    """srun -n 4 xlr reproduce ...: one job, four tasks, each its own worker."""
    rd = RunDir(tmp_path / "exp" / "adv" / "seed1")
    write_claim(rd, host="node-3", pid=77, job_id="500", task="1", restart=0)
    monkeypatch.setenv("SLURM_JOB_ID", "500")
    monkeypatch.setenv("SLURM_PROCID", "2")
    assert claims.claim(rd) is None
    monkeypatch.setenv("SLURM_PROCID", "1")             # task 1 itself, but not restarted: still another process
    assert claims.claim(rd) is None
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")      # task 1 after a requeue
    assert claims.claim(rd) is not None


def test_a_claim_being_written_or_unreadable_is_held_until_the_lease_passes(tmp_path):
    rd = RunDir(tmp_path / "exp" / "adv" / "seed1")
    rd.path.mkdir(parents=True)
    rd.claim_path.write_text("")                        # created, not yet written (or unreadable just now)
    assert claims.claim(rd, lease=600) is None
    old = time.time() - 700
    os.utime(rd.claim_path, (old, old))
    assert claims.claim(rd, lease=600) is not None


def test_a_worker_whose_claim_was_taken_stops_and_never_brings_it_back(tmp_path):
    rd = RunDir(tmp_path / "exp" / "adv" / "seed1")
    mine = claims.claim(rd)
    lost = []
    beat = claims.Heartbeat(interval=3600, on_lost=lost.append)
    beat.add(rd, mine)
    write_claim(rd)                                     # another worker took it over
    beat.beat()
    assert lost == [rd.path] and claims.read(rd).host == "node-17"
    claims.release(rd, mine)                            # releasing what is not ours deletes nothing
    assert claims.read(rd).host == "node-17"
    rd.claim_path.unlink()
    mine = claims.claim(rd)
    beat.add(rd, mine)
    beat.remove(rd)
    claims.release(rd, mine)
    beat.beat()                                         # a beat after the release writes no claim again
    beat.stop()
    assert claims.read(rd) is None


def test_a_lease_shorter_than_three_heartbeats_is_refused(xlr_main, tmp_path):
    code, out, err = xlr_main("status", "--out", tmp_path, "--lease", "1")
    assert code == 2 and "--lease must be at least 3 minutes" in err


def test_a_disk_that_fills_without_saying_so_is_still_a_full_disk(tmp_path, monkeypatch):
    from xlr.engine import preflight
    from xlr.experiments import load_experiment

    exp = load_experiment("smoke")
    silent = RuntimeError("[enforce fail at inline_container.cc] PytorchStreamWriter failed writing file data/0")
    monkeypatch.setattr(preflight, "free_bytes", lambda folder: 10_000_000)
    assert preflight.disk_full(silent, exp, tmp_path) is None            # space left: another error
    monkeypatch.setattr(preflight, "free_bytes", lambda folder: 512)
    assert "no space left in" in str(preflight.disk_full(silent, exp, tmp_path))
    looped = OSError("odd")
    looped.__context__ = looped
    assert preflight.disk_full(looped, exp, tmp_path) is not None        # a cycle in the chain ends


@needs_submitit
def test_a_requeued_job_never_forces_its_run_again(tmp_path):
    from xlr.experiments import load_experiment
    from xlr.scheduling.launchers import RunJob

    [spec] = load_experiment("smoke", overrides=[{"methods": {"run": ["baseline"]}}]).runs()
    job = RunJob(spec, tmp_path, True, False, None, 600.0)
    assert job.checkpoint().function.force is False and job.force is True
