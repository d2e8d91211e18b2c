"""Experiment tracking: --report-to passes Trainer's report_to through, and the run's resolved config and
its test accuracies reach the tracker (TensorBoard here: a dependency of the test extra)."""
from conftest import run_xlr
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


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
