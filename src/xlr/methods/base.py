"""What every method's objective builds on: the Objective interface, and the per-token geometry of
perturbations on the word embeddings.

Perturbations act on the word embeddings e = E[input_ids] (the lookup output, before position and
segment embeddings and LayerNorm), fed to the model through `inputs_embeds`. They are per token,
||delta_i||_2 <= epsilon, and zero on padding.

Radii are given relative to the model: `epsilon` is a fraction of the median L2 norm of the rows of the
word-embedding matrix, so one setting means the same relative perturbation for mBERT, XLM-R and e5,
whose embedding norms differ. The paper's epsilon, step size, number of steps and noise scale are not given
in its public slides or abstract; the defaults in each method's file are xlr's, explained in docs/methods.md.

torch is imported inside the functions that use it, so that reading the registry (the CLI builds its flags
from it) does not pay for torch's import.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from xlr.errors import XlrError

if TYPE_CHECKING:
    import torch


class Objective:
    name = "objective"
    # where the method's noise comes from: None, the device's own random generator (the default); a CPU
    # torch.Generator in deterministic mode (train.deterministic), set by the trainer before every micro-batch
    generator = None

    def loss(self, model, inputs: dict):
        """Return (loss, outputs) for one training batch; `model` may be DDP-wrapped."""
        raise NotImplementedError

    def describe(self) -> dict:
        """The resolved settings, recorded with the run."""
        return {}


class CrossEntropy(Objective):
    """baseline (and RS-DA, whose randomness lives in the data): min_f sum L(f(x), y)."""

    name = "baseline"

    def loss(self, model, inputs):
        outputs = model(**inputs)
        return outputs.loss, outputs


def token_mask(inputs: dict, like: torch.Tensor) -> torch.Tensor:
    """(batch, length, 1) mask: 1 on real tokens, 0 on padding."""
    import torch

    mask = inputs.get("attention_mask")
    if mask is None:
        return torch.ones(like.shape[:-1] + (1,), dtype=like.dtype, device=like.device)
    return mask.unsqueeze(-1).to(like.dtype)


def project(delta: torch.Tensor, epsilon: float, mask: torch.Tensor) -> torch.Tensor:
    """Scale every token's delta_i back into its L2 ball of radius epsilon; zero on padding."""
    import torch

    norms = delta.norm(dim=-1, keepdim=True)
    return delta * torch.clamp(epsilon / (norms + 1e-12), max=1.0) * mask


def noise(kind: str, shape, like: torch.Tensor, generator=None) -> torch.Tensor:
    """Standard normal ("normal") or uniform [0, 1) ("uniform") numbers of `shape`, on `like`'s device and dtype.

    generator None: drawn by the device's own generator. A CPU generator (deterministic mode): drawn on the CPU
    in float32, then moved (`to_device`), so a seed, step and micro-batch give the same numbers on every device."""
    import torch

    draw = torch.randn if kind == "normal" else torch.rand
    if generator is None:
        return draw(shape, device=like.device, dtype=like.dtype)
    return to_device(draw(tuple(shape), generator=generator, device="cpu", dtype=torch.float32), like)


def to_device(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return x.to(device=like.device, dtype=like.dtype)


def noise_generator(seed: int, step: int, micro_batch: int, rank: int = 0):
    """The CPU generator of one micro-batch in deterministic mode: seeded by (run seed, optimizer step, micro-batch
    within the step, process rank), so a resumed run draws what an uninterrupted one would have."""
    import numpy as np
    import torch

    state = np.random.SeedSequence([seed, step, micro_batch, rank]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device="cpu").manual_seed(((int(state[0]) << 32) | int(state[1])) & (2 ** 63 - 1))


def uniform_in_ball(shape, epsilon: float, mask: torch.Tensor, generator=None) -> torch.Tensor:
    """One delta_i per token, uniform in the d-dimensional L2 ball of radius epsilon; zero on padding.

    A uniform direction (normalised Gaussian) times radius epsilon * U^(1/d). In high dimension almost
    all of the ball's volume is near its surface, so ||delta_i|| is close to epsilon.
    """
    direction = noise("normal", shape, mask, generator)
    direction = direction / (direction.norm(dim=-1, keepdim=True) + 1e-12)
    u = noise("uniform", tuple(shape[:-1]) + (1,), mask, generator)
    return direction * epsilon * u.pow(1.0 / shape[-1]) * mask


def gaussian(shape, epsilon: float, mask: torch.Tensor, generator=None) -> torch.Tensor:
    """Isotropic Gaussian noise with sigma = epsilon / sqrt(d), so E||delta_i||^2 = epsilon^2; zero on padding."""
    return noise("normal", shape, mask, generator) * (epsilon / shape[-1] ** 0.5) * mask


def median_embedding_norm(model) -> float:
    """The median L2 norm of the rows of the word-embedding matrix (the unit of `epsilon`)."""
    import torch

    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        return float(weight.detach().float().norm(dim=-1).median())


def unwrap(model):
    """The module under DDP / DataParallel / compile wrappers."""
    while hasattr(model, "module"):
        model = model.module
    return getattr(model, "_orig_mod", model)


def rng_state(device) -> tuple:
    """The generators that draw dropout masks on DEVICE: the CPU's, and the device's own on CUDA."""
    import torch

    return torch.get_rng_state(), (torch.cuda.get_rng_state(device) if device.type == "cuda" else None)


def set_rng_state(state: tuple, device) -> None:
    import torch

    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def attack_start(model, inputs: dict) -> tuple:
    """(the unwrapped model, the batch's word embeddings without graph, the other inputs, the token mask):
    what an attack on the embeddings starts from."""
    import torch

    with torch.no_grad():
        e, rest = embed(model, inputs)
    return unwrap(model), e, rest, token_mask(inputs, e)


def delta_gradient(core, e: torch.Tensor, delta: torch.Tensor, rest: dict, state) -> torch.Tensor:
    """d loss / d delta at `e + delta`, through the unwrapped model `core` (no parameter .grad is touched), with
    the dropout masks drawn from the random-number `state` when one is given (None: fresh masks)."""
    import torch

    if state is not None:
        set_rng_state(state, e.device)
    delta = delta.detach().requires_grad_(True)
    loss = core(inputs_embeds=e + delta, **rest).loss
    return torch.autograd.grad(loss, delta)[0]


def embed(model, inputs: dict) -> tuple:
    """(e, the other inputs): the word embeddings of the batch's input_ids, looked up in the unwrapped model
    with graph (the embedding matrix is trained too; wrap the call in torch.no_grad() for an attack's copy),
    and the inputs to pass beside `inputs_embeds`."""
    rest = {k: v for k, v in inputs.items() if k != "input_ids"}
    return unwrap(model).get_input_embeddings()(inputs["input_ids"]), rest


class EmbeddingPerturbation(Objective):
    def __init__(self, epsilon: float, embedding_norm: float):
        if epsilon < 0:
            raise XlrError(f"epsilon must be >= 0, not {epsilon}")
        self.relative_epsilon = epsilon
        self.embedding_norm = embedding_norm
        self.epsilon = epsilon * embedding_norm  # absolute radius in embedding space

    def describe(self) -> dict:
        return {"epsilon": self.relative_epsilon, "embedding_norm": round(self.embedding_norm, 6),
                "epsilon_absolute": round(self.epsilon, 6)}


DROPOUT_MASKS = ("fresh", "shared")


def check_choice(method: str, option: str, value, choices: tuple) -> None:
    """For objectives built directly (the Python API): the same choices the option declares, which `--set`,
    TOML and the flags already enforce."""
    if value not in choices:
        raise XlrError(f"{method} {option} must be one of {', '.join(map(repr, choices))}, not {value!r}")
