"""ADV and RS-RP: the perturbation geometry, that PGD ascends, no leaked gradients, determinism, and that
both train through the Trainer on BERT-, XLM-R- and DistilBERT-style encoders (fp32 and bf16 autocast)."""
import pytest
import torch
from transformers import (BertConfig, BertForSequenceClassification, DistilBertConfig,
                          DistilBertForSequenceClassification, XLMRobertaConfig, XLMRobertaForSequenceClassification)

from xlr.errors import XlrError
from xlr.methods.r3f import R3F
from xlr.methods.adv import Adversarial
from xlr.methods.base import CrossEntropy, median_embedding_norm, project, uniform_in_ball
from xlr.methods.freelb import FreeLB
from xlr.methods.rs_rp import RandomPerturbation
from xlr.methods import identity_options, make_objective, resolve_options

EPS_TOL = 1 + 1e-5


def tiny(kind="bert", seed=0):
    torch.manual_seed(seed)
    common = dict(vocab_size=100, hidden_size=32, num_attention_heads=2, intermediate_size=64, num_labels=2,
                  max_position_embeddings=64)
    if kind == "bert":
        return BertForSequenceClassification(BertConfig(num_hidden_layers=2, **common))
    if kind == "xlmr":
        return XLMRobertaForSequenceClassification(XLMRobertaConfig(num_hidden_layers=2, pad_token_id=1, **common))
    return DistilBertForSequenceClassification(DistilBertConfig(
        vocab_size=100, dim=32, n_layers=2, n_heads=2, hidden_dim=64, num_labels=2, max_position_embeddings=64))


def batch(kind="bert", seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 100, (4, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0  # padding at the end of two rows
    mask[3, 5:] = 0
    ids[mask == 0] = 0 if kind != "xlmr" else 1
    out = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 1, 0])}
    if kind == "bert":
        out["token_type_ids"] = torch.zeros_like(ids)
    return out


def adv(model, epsilon=0.5, steps=3, step_size=0.5):
    return Adversarial(epsilon, steps, step_size, median_embedding_norm(model))


def test_pgd_stays_in_the_ball_and_off_padding():
    model, inputs = tiny(), batch()
    obj = adv(model)
    delta = obj.perturbation(model, inputs)
    norms = delta.norm(dim=-1)
    mask = inputs["attention_mask"].bool()
    assert (norms[mask] <= obj.epsilon * EPS_TOL).all()
    assert (delta[~mask] == 0).all()
    assert norms[mask].min() > 0.5 * obj.epsilon  # the normalised step reaches the boundary region


def test_pgd_increases_the_loss():
    model, inputs = tiny(), batch()
    model.eval()  # no dropout: compare the same function at delta = 0 and at the adversarial delta
    obj = adv(model, epsilon=1.0, steps=5, step_size=0.5)
    torch.manual_seed(0)
    delta = obj.perturbation(model, inputs)
    rest = {k: v for k, v in inputs.items() if k != "input_ids"}
    e = model.get_input_embeddings()(inputs["input_ids"]).detach()
    with torch.no_grad():
        clean = model(inputs_embeds=e, **rest).loss.item()
        attacked = model(inputs_embeds=e + delta, **rest).loss.item()
        randomly = model(inputs_embeds=e + uniform_in_ball(e.shape, obj.epsilon,
                                                           inputs["attention_mask"].unsqueeze(-1).float()),
                         **rest).loss.item()
    assert attacked > clean and attacked > randomly


def test_inner_loop_leaves_no_parameter_gradient():
    model, inputs = tiny(), batch()
    adv(model).perturbation(model, inputs)
    assert all(p.grad is None for p in model.parameters())
    loss, _ = adv(model).loss(model, inputs)
    loss.backward()  # the outer loss does reach the parameters, the word embeddings included
    assert model.get_input_embeddings().weight.grad is not None
    assert model.classifier.weight.grad is not None


def test_adv_step_is_deterministic_under_a_fixed_seed():
    losses, deltas = [], []
    for _ in range(2):
        model, inputs = tiny(seed=3), batch()
        torch.manual_seed(11)
        obj = adv(model)
        deltas.append(obj.perturbation(model, inputs))
        torch.manual_seed(12)
        losses.append(obj.loss(model, inputs)[0].item())
    assert torch.equal(deltas[0], deltas[1]) and losses[0] == losses[1]


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("dropout", ["shared", "fresh"])
def test_adv_dropout_masks_are_shared_or_fresh(dropout, steps):
    """shared: every ascent step and the training pass draw the same dropout masks; fresh: each its own."""
    model, inputs = tiny(), batch()
    model.train()
    zeros = []  # where each dropout call zeroed its output, call by call
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.register_forward_hook(lambda mod, args, out: zeros.append(out.detach() == 0))
    torch.manual_seed(5)
    Adversarial(0.5, steps, 0.5, median_embedding_norm(model), dropout).loss(model, inputs)
    n = len(zeros) // (steps + 1)
    passes = [zeros[i * n:(i + 1) * n] for i in range(steps + 1)]
    same = [all(torch.equal(a, b) for a, b in zip(passes[0], other)) for other in passes[1:]]
    assert same == [dropout == "shared"] * steps


def test_adv_dropout_option_and_identity():
    assert resolve_options("adv", None)["dropout"] == "fresh"
    with pytest.raises(XlrError, match="must be one of 'fresh', 'shared'"):
        resolve_options("adv", {"dropout": "sometimes"})
    # added after ADV runs were stored: at its default it stays out of a run's identity, so they still match
    assert "dropout" not in identity_options("adv", resolve_options("adv", None))
    assert identity_options("adv", resolve_options("adv", {"dropout": "shared"}))["dropout"] == "shared"
    assert identity_options("rs-rp", resolve_options("rs-rp", None)) == resolve_options("rs-rp", None)


def test_projection():
    d = torch.tensor([[[3.0, 4.0], [0.3, 0.4]]])
    out = project(d, 1.0, torch.ones(1, 2, 1))
    assert torch.allclose(out.norm(dim=-1), torch.tensor([[1.0, 0.5]]))


@pytest.mark.parametrize("noise", ["ball", "gaussian"])
def test_rs_rp_noise_scale_freshness_and_padding(noise):
    model, inputs = tiny(), batch()
    obj = RandomPerturbation(0.4, noise, median_embedding_norm(model))
    e = model.get_input_embeddings()(inputs["input_ids"]).detach()
    mask = inputs["attention_mask"].unsqueeze(-1).float()
    a, b = obj.sample(e, mask), obj.sample(e, mask)
    real = inputs["attention_mask"].bool()
    assert not torch.equal(a, b)  # fresh at every step
    assert (a[~real] == 0).all() and (b[~real] == 0).all()
    norms = a.norm(dim=-1)[real]
    if noise == "ball":
        assert (norms <= obj.epsilon * EPS_TOL).all()
    else:  # sigma = eps / sqrt(d): the mean squared norm is eps^2
        big = obj.sample(torch.zeros(64, 50, 32), torch.ones(64, 50, 1))
        assert abs(big.pow(2).sum(-1).mean().sqrt().item() / obj.epsilon - 1) < 0.05


def test_rs_rp_loss_uses_the_perturbed_embeddings():
    model, inputs = tiny(), batch()
    model.eval()
    clean = CrossEntropy().loss(model, inputs)[0].item()
    noisy = RandomPerturbation(2.0, "ball", median_embedding_norm(model)).loss(model, inputs)[0].item()
    assert noisy != clean


@pytest.mark.parametrize("kind", ["bert", "xlmr", "distilbert"])
@pytest.mark.parametrize("method", ["adv", "rs-rp", "freelb", "r3f"])
@pytest.mark.parametrize("bf16", [False, True])
def test_methods_train_on_encoder_families(kind, method, bf16):
    model, inputs = tiny(kind), batch(kind)
    obj = make_objective(method, resolve_options(method, None), model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss, outputs = obj.loss(model, inputs)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and outputs.logits.shape == (4, 2)
    assert model.get_input_embeddings().weight.grad is not None  # the word embeddings are trained too


def test_padding_xlmr_positions_match_input_ids_path():
    """inputs_embeds must give the same logits as input_ids when delta = 0 (right padding)."""
    model, inputs = tiny("xlmr"), batch("xlmr")
    model.eval()
    rest = {k: v for k, v in inputs.items() if k not in ("input_ids", "labels")}
    with torch.no_grad():
        a = model(input_ids=inputs["input_ids"], **rest).logits
        b = model(inputs_embeds=model.get_input_embeddings()(inputs["input_ids"]), **rest).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_options_are_validated():
    assert resolve_options("adv", {"epsilon": 0.2})["epsilon"] == 0.2
    with pytest.raises(XlrError, match="method rs-da has no option epsilon"):
        resolve_options("rs-da", {"epsilon": 0.2})
    with pytest.raises(XlrError, match="noise must be"):
        make_objective("rs-rp", {"epsilon": 0.1, "noise": "pink"}, tiny())


# ------------------------------------------------------------------------------------ FreeLB and R3F

def test_freelb_stays_in_the_frobenius_ball_per_example_and_off_padding():
    model, inputs = tiny(), batch()
    obj = FreeLB(steps=4, adv_lr=0.5, init_mag=1.0, max_norm=0.3)
    deltas = obj.perturbations(model, inputs)
    assert len(deltas) == 4 and all(p.grad is None for p in model.parameters())  # no leaked gradient
    real = inputs["attention_mask"].bool()
    for d in deltas:
        assert (d[~real] == 0).all()
        assert (d.flatten(1).norm(dim=1) <= 0.3 * EPS_TOL).all()  # per example, the whole sequence
    assert not torch.equal(deltas[1], deltas[2])  # the ascent moves it
    # the start: U(-sigma, sigma) / sqrt(tokens x hidden) has norm about sigma / sqrt(3) per example
    torch.manual_seed(0)
    start = FreeLB(steps=1, adv_lr=0.0, init_mag=1.0, max_norm=0.0).perturbations(model, inputs)[0]
    norms = start.flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, 3 ** -0.5), rtol=0.15)


def test_freelb_ascends_and_its_gradient_is_the_mean_over_the_k_copies():
    model, inputs = tiny(), batch()
    model.eval()  # no dropout: the same function at every copy
    # deterministic (delta_0 = 0), and small steps: the first-order regime, where each ascent step must help
    obj = FreeLB(steps=3, adv_lr=0.1 * median_embedding_norm(model), init_mag=0.0, max_norm=0.0)
    deltas = obj.perturbations(model, inputs)
    rest = {k: v for k, v in inputs.items() if k != "input_ids"}
    e = model.get_input_embeddings()(inputs["input_ids"])
    losses = [model(inputs_embeds=e + d, **rest).loss for d in deltas]
    assert losses[2].item() > losses[1].item() > losses[0].item()  # each ascent step raises the loss
    torch.stack(losses).mean().backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    obj.loss(model, inputs)[0].backward()
    for a, b in zip(model.parameters(), expected):
        assert torch.allclose(a.grad, b, atol=1e-6)


@pytest.mark.parametrize("method", ["freelb", "r3f"])
def test_per_example_means_make_accumulation_exact(method, monkeypatch):
    """One batch of 4 gives the mean gradient of its two halves (what gradient accumulation adds up): every
    per-example quantity (FreeLB's norms and projection, R3F's KL) is per example, every reduction a mean."""
    if method == "freelb":
        obj = FreeLB(steps=3, adv_lr=0.5, init_mag=0.0, max_norm=0.2)
    else:  # deterministic noise, so that the halves see the same z as the whole
        obj = R3F(0.5, "normal", 2.0)
        monkeypatch.setattr(obj, "noise", lambda e, mask: 0.5 * e.detach().flip(-1) * mask)

    def grads(sl):
        model, inputs = tiny(seed=5), batch()
        model.eval()
        part = {k: v[sl] for k, v in inputs.items()}
        obj.loss(model, part)[0].backward()
        return [p.grad.clone() for p in model.parameters()]

    whole, first, second = grads(slice(0, 4)), grads(slice(0, 2)), grads(slice(2, 4))
    for w, a, b in zip(whole, first, second):
        assert torch.allclose(w, (a + b) / 2, atol=1e-6)


def test_r3f_is_cross_entropy_plus_the_symmetric_kl():
    model, inputs = tiny(), batch()
    model.eval()
    clean = CrossEntropy().loss(model, inputs)[0].item()
    assert R3F(0.0, "normal", 5.0).loss(model, inputs)[0].item() == pytest.approx(clean, abs=1e-6)  # z = 0
    assert R3F(1.0, "normal", 0.0).loss(model, inputs)[0].item() == pytest.approx(clean, abs=1e-6)  # lambda 0
    assert R3F(1.0, "normal", 1.0).loss(model, inputs)[0].item() > clean
    p, q = torch.randn(5, 3), torch.randn(5, 3)
    kl = R3F.symmetric_kl(p, q)
    assert torch.allclose(kl, R3F.symmetric_kl(q, p)) and (kl > 0).all()
    assert torch.allclose(R3F.symmetric_kl(p, p), torch.zeros(5), atol=1e-6)
    obj = R3F(0.1, "uniform", 1.0)
    e = torch.randn(4, 12, 32)
    mask = inputs["attention_mask"].unsqueeze(-1).float()
    z = obj.noise(e, mask)
    assert (z[~inputs["attention_mask"].bool()] == 0).all() and z.abs().max() <= 0.1


def test_new_method_options_are_validated():
    assert resolve_options("freelb", {"steps": 2})["max_norm"] == 0.04
    with pytest.raises(XlrError, match="r3f distribution must be one of"):
        resolve_options("r3f", {"distribution": "ball"})
    with pytest.raises(XlrError, match="method baseline has no option sigma"):
        resolve_options("baseline", {"sigma": 0.1})
    with pytest.raises(XlrError, match="freelb steps must be >= 1"):
        make_objective("freelb", resolve_options("freelb", {"steps": 0}), tiny())


@pytest.mark.parametrize("dropout", ["shared", "fresh"])
def test_freelb_dropout_masks_are_shared_by_every_pass_or_fresh(dropout):
    """shared (the authors' code): the K - 1 ascent passes and the K training passes draw one mask set."""
    model, inputs = tiny(), batch()
    model.train()
    zeros = []
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.register_forward_hook(lambda mod, args, out: zeros.append(out.detach() == 0))
    torch.manual_seed(5)
    k = 3
    FreeLB(steps=k, adv_lr=0.5, init_mag=0.5, max_norm=0.3, dropout=dropout).loss(model, inputs)[0].backward()
    if dropout == "shared":
        n = len(zeros) // (2 * k - 1)
        passes = [zeros[i * n:(i + 1) * n] for i in range(2 * k - 1)]
        assert all(torch.equal(a, b) for other in passes[1:] for a, b in zip(passes[0], other))
    else:  # the ascent passes, then one batch of the K copies
        n = len(zeros) // k
        assert not all(torch.equal(a, b) for a, b in zip(zeros[:n], zeros[n:2 * n]))
    assert resolve_options("freelb", None)["dropout"] == "shared"


def test_r3f_noisy_copy_starts_from_detached_embeddings():
    """As in the authors' code, the embedding matrix gets no gradient through the noisy copy."""
    import torch.nn.functional as F

    model, inputs = tiny(), batch()
    model.eval()
    obj = R3F(0.5, "normal", 1.0)
    torch.manual_seed(3)
    obj.loss(model, inputs)[0].backward()
    got = model.get_input_embeddings().weight.grad.clone()

    def reference(detach: bool):
        model.zero_grad()
        torch.manual_seed(3)
        rest = {k: v for k, v in inputs.items() if k not in ("input_ids", "labels")}
        e = model.get_input_embeddings()(inputs["input_ids"])
        z = obj.noise(e, inputs["attention_mask"].unsqueeze(-1).to(e.dtype))
        clean = model(inputs_embeds=e, **rest).logits
        noisy = model(inputs_embeds=(e.detach() if detach else e) + z, **rest).logits
        loss = F.cross_entropy(clean, inputs["labels"]) + R3F.symmetric_kl(clean, noisy).mean()
        loss.backward()
        return model.get_input_embeddings().weight.grad.clone()

    assert torch.allclose(got, reference(detach=True), atol=1e-6)
    assert not torch.allclose(got, reference(detach=False), atol=1e-6)


@pytest.mark.parametrize("method, key, value, floor", [
    ("adv", "epsilon", -1, "0"), ("adv", "steps", 0, "1"), ("rs-rp", "epsilon", -0.1, "0"), ("rs-da", "copies", 0, "1"),
    ("freelb", "steps", 0, "1"), ("freelb", "max_norm", -1, "0"), ("r3f", "sigma", -1e-5, "0"),
    ("adv", "epsilon", float("nan"), "0"),
])
def test_out_of_range_method_options_are_refused_when_resolved(method, key, value, floor):
    """Options are resolved when the experiment loads, so a negative radius or zero copies stops the command
    before any run starts, not after the methods before it in the plan have trained."""
    with pytest.raises(XlrError, match=f"{method} {key} must be >= {floor}"):
        resolve_options(method, {key: value})
    resolve_options(method, {key: int(floor)})


def test_an_out_of_range_option_stops_reproduce_before_the_first_run(tmp_path):
    from conftest import run_xlr

    proc = run_xlr("reproduce", "smoke", "--methods", "baseline,adv", "--set", "methods.adv.epsilon=-1",
                   "--out", tmp_path / "runs", env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2 and "adv epsilon must be >= 0" in proc.stderr, proc.stderr
    assert not (tmp_path / "runs").exists(), "a run started before the bad option was found"
