"""Experiment tracking: --report-to passes Trainer's report_to through, and the run's resolved config and
its test accuracies reach the tracker (TensorBoard here: a dependency of the test extra)."""
import pytest

from conftest import run_xlr
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


@pytest.mark.slow
def test_report_to_tensorboard_writes_events_into_the_run_folder(tmp_path):
    common = ("--method", "adv", "--model", "builtin:tiny-bert", "--data-dir", "builtin:fixture", "--epochs", "1",
              "--eval-steps", "5", "--languages", "en,de", "--out", tmp_path, "--format", "csv")
    run_xlr("train", *common, "--report-to", "tensorboard", env={"HF_HUB_OFFLINE": "1"}, check=True)
    logs = tmp_path / "pawsx" / "adv" / "seed7" / "logs"
    assert list(logs.rglob("events.out.tfevents.*")), f"no event files under {logs}"
    events = EventAccumulator(str(next(logs.rglob("events.out.tfevents.*")).parent))
    events.Reload()
    scalars, tensors = events.Tags()["scalars"], events.Tags()["tensors"]
    assert {"test/standard_en", "test/standard_de", "test/standard_avg"} <= set(scalars), scalars
    assert "train/loss" in scalars and "eval/accuracy" in scalars
    assert any(t.startswith("xlr/config") for t in tensors), tensors  # the resolved configuration, as text
    # the default stays off: no tracker, no logs/
    run_xlr("train", *common, "--seed", "8", env={"HF_HUB_OFFLINE": "1"}, check=True)
    assert not (tmp_path / "pawsx" / "adv" / "seed8" / "logs").exists()
    bad = run_xlr("train", *common, "--seed", "9", "--report-to", "carrier-pigeon")
    assert bad.returncode == 2 and "train.report_to: unknown integration carrier-pigeon" in bad.stderr


def test_tracking_is_not_part_of_a_runs_identity(tmp_path):
    """Adding a tracker never retrains a run, and runs stored with report_to in their identity still match."""
    from xlr.experiments import load_experiment
    from xlr.engine.pipeline import prepare, run_config

    spec = load_experiment("smoke", overrides=[{"methods": {"run": ["baseline"]}}]).runs()[0]
    rd = prepare(spec, tmp_path)
    config = run_config(spec)
    config["identity"]["train"]["report_to"] = "none"   # as runs stored it before it was left out
    rd.write_config(config)
    (rd.path / "checkpoints" / "checkpoint-50").mkdir(parents=True)
    tracked = load_experiment("smoke", overrides=[{"methods": {"run": ["baseline"]}, "train": {"report_to": "tensorboard"}}])
    assert prepare(tracked.runs()[0], tmp_path).path == rd.path
    assert (rd.path / "checkpoints" / "checkpoint-50").is_dir()   # resumed, not reset
    changed = load_experiment("smoke", overrides=[{"methods": {"run": ["baseline"]}, "train": {"learning_rate": 0.5}}])
    prepare(changed.runs()[0], tmp_path)
    assert not (rd.path / "checkpoints").exists()                   # a setting that changes results resets it
