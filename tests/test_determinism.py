"""train.deterministic: each method's noise drawn on the CPU from (seed, step, micro-batch), the same whatever the
device; the default path unchanged; the same padding on every device; and two smoke runs that agree bit for bit."""
import pytest
import torch

from conftest import run_xlr
from xlr.settings import TrainSettings
from xlr.experiments import comparable_identity
from xlr.methods import base
from xlr.methods.base import noise, noise_generator
from test_objectives import batch, tiny


def test_a_seed_step_and_micro_batch_draw_the_same_noise_whatever_the_device(monkeypatch):
    drawn = []
    monkeypatch.setattr(base, "to_device", lambda x, like: drawn.append(x.clone()) or x.to(like.dtype))
    for target in ("cpu", "meta"):  # meta: a device with no values, standing in for CUDA on a CPU-only machine
        like = torch.empty(2, 3, 8, device=target)
        for kind in ("normal", "uniform"):
            noise(kind, like.shape, like, noise_generator(seed=7, step=12, micro_batch=1))
    cpu, other = drawn[:2], drawn[2:]
    assert all(x.device.type == "cpu" for x in drawn)  # drawn on the CPU, then moved
    assert all(torch.equal(a, b) for a, b in zip(cpu, other))


def test_the_noise_key_is_seed_step_micro_batch_and_rank():
    def draw(*key):
        return noise("normal", (4, 5), torch.empty(0), noise_generator(*key))

    assert torch.equal(draw(1, 3, 0), draw(1, 3, 0))  # a resumed run draws what the uninterrupted one did
    for other in ((2, 3, 0), (1, 4, 0), (1, 3, 1), (1, 3, 0, 1)):
        assert not torch.equal(draw(1, 3, 0), draw(*other)), other


def test_the_default_draws_from_the_devices_own_generator_as_before():
    like = torch.zeros(3, 4, 6)
    torch.manual_seed(5)
    before = (torch.randn(like.shape, device=like.device, dtype=like.dtype), torch.rand_like(like),
              torch.randn_like(like))
    torch.manual_seed(5)
    now = (noise("normal", like.shape, like), noise("uniform", like.shape, like), noise("normal", like.shape, like))
    assert all(torch.equal(a, b) for a, b in zip(before, now))


@pytest.mark.parametrize("method", ["adv", "rs-rp", "freelb", "r3f"])
def test_every_noisy_method_draws_from_the_objectives_generator(method):
    from xlr.methods import make_objective, resolve_options

    def losses(generator: bool) -> list[float]:
        out = []
        for global_seed in (1, 2):  # the device's generator differs; the objective's does not
            model, inputs = tiny(seed=3), batch()
            model.eval()  # no dropout: only the method's own noise is random
            options = resolve_options(method, {"sigma": 0.5} if method == "r3f" else {})
            objective = make_objective(method, options, model)
            objective.generator = noise_generator(9, 0, 0) if generator else None
            torch.manual_seed(global_seed)
            out.append(objective.loss(model, inputs)[0].item())
        return out

    with_generator, without = losses(True), losses(False)
    assert with_generator[0] == with_generator[1] and without[0] != without[1]


def test_micro_batches_are_counted_within_each_step():
    from xlr.engine.training import XlrTrainer

    trainer = XlrTrainer.__new__(XlrTrainer)
    trainer._micro_batch = (None, 0)
    seen = []
    for step in (0, 0, 0, 1, 1, 2):
        trainer.state = type("State", (), {"global_step": step})()
        seen.append(trainer._next_micro_batch())
    assert seen == [0, 1, 2, 0, 1, 0]


def test_deterministic_pads_every_device_alike(monkeypatch):
    from types import SimpleNamespace

    from xlr.engine import training

    monkeypatch.setattr(training.device, "current", lambda: SimpleNamespace(device="cpu"))
    assert training.collator(None).pad_to_multiple_of is None
    assert training.collator(None, deterministic=True).pad_to_multiple_of == 8
    monkeypatch.setattr(training.device, "current", lambda: SimpleNamespace(device="cuda"))
    assert training.collator(None, deterministic=True).pad_to_multiple_of == 8


def test_runs_stored_before_the_setting_keep_their_identity():
    settings = vars(TrainSettings())
    # as stored before `deterministic` existed, under the key runs used then (`protocol`)
    old = {"method": "adv", "protocol": {k: v for k, v in settings.items() if k != "deterministic"}}
    assert comparable_identity({"method": "adv", "train": settings}) == comparable_identity(old)
    changed = {"method": "adv", "train": {**settings, "deterministic": True}}
    assert comparable_identity(changed) != comparable_identity(old)


@pytest.mark.slow
def test_two_deterministic_smoke_runs_agree(tmp_path):
    args = ("reproduce", "smoke", "--methods", "rs-rp,adv", "--set", "train.deterministic=true",
            "--set", "train.epochs=3", "--set", "generalized=false")
    for out in ("a", "b"):
        run_xlr(*args, "--out", tmp_path / out, env={"HF_HUB_OFFLINE": "1"}, check=True)
    first, second = ((tmp_path / out / "smoke" / "results.csv").read_text() for out in ("a", "b"))
    assert first == second and first.count("\n") > 10
