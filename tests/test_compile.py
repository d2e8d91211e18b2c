"""train.compile: torch.compile'd training takes the same steps as eager training (tiny model, CPU, dropout on),
for the baseline and for ADV, whose attack differentiates through the input embeddings."""
import tempfile
from pathlib import Path

import pytest

from conftest import run_xlr
from xlr.errors import XlrError


def losses(method: str, compile: str, steps: int = 3) -> list[float]:
    import torch

    from xlr.engine.cost import build_untrained, model_config
    from xlr.engine.throughput import random_batches
    from xlr.engine.training import XlrTrainer, training_arguments
    from xlr.machine import device
    from xlr.methods import make_objective, resolve_options
    from xlr.tasks import get_task, train_settings_for

    device.configure("cpu", "fp32")
    task = get_task("pawsx")
    config = model_config("builtin:tiny-bert", task)
    protocol = train_settings_for(task, {"batch_size": 8, "max_length": 32, "compile": compile, "max_steps": steps})
    torch.manual_seed(0)
    model = build_untrained(config, "cls")
    objective = make_objective(method, resolve_options(method, {}), model)
    with tempfile.TemporaryDirectory() as work:
        args = training_arguments(protocol, 0, Path(work), eval_strategy="no", save_strategy="no",
                                  load_best_model_at_end=False, report_to="none", logging_steps=1)
        trainer = XlrTrainer(model=model, args=args, objective=objective,
                             train_dataset=random_batches(config, 8 * steps, 32, 0))
        trainer.train()
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["baseline", "adv"])
def test_compiled_training_takes_the_same_steps_as_eager(method):
    from xlr.engine.training import host_compiler

    if not host_compiler():
        pytest.skip("no C++ compiler (g++, c++, clang++): inductor cannot build CPU kernels here")
    eager, compiled = losses(method, "off"), losses(method, "default")
    assert len(eager) == 3 and eager[0] != eager[1]  # the model trains, with dropout drawing masks
    assert compiled == pytest.approx(eager, rel=1e-5), (eager, compiled)


def test_graphs_need_a_gpu_and_the_cpu_a_compiler(monkeypatch):
    import shutil

    from xlr.settings import TrainSettings
    from xlr.engine.training import compile_arguments
    from xlr.machine import device

    device.configure("cpu", "fp32")
    with pytest.raises(XlrError, match="needs a GPU"):
        compile_arguments(TrainSettings(compile="graphs"))
    assert compile_arguments(TrainSettings()) == {}
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(XlrError, match="needs a C\\+\\+ compiler .* none was found"):
        compile_arguments(TrainSettings(compile="default"))


def test_compile_is_checked_and_does_not_change_a_runs_identity():
    from xlr.experiments import load_experiment

    proc = run_xlr("reproduce", "smoke", "--set", "train.compile=fast")
    assert proc.returncode == 2 and "train.compile must be one of off, default, graphs" in proc.stderr, proc.stderr
    plain = load_experiment("smoke").runs()[0].identity()
    compiled = load_experiment("smoke", overrides=[{"train": {"compile": "default"}}]).runs()[0].identity()
    assert plain == compiled
