"""rs-rp (the paper): randomized smoothing with random per-token word-embedding perturbations."""
from __future__ import annotations

from typing import TYPE_CHECKING

from xlr.methods.base import (EmbeddingPerturbation, check_choice, embed, gaussian, median_embedding_norm, token_mask,
                              uniform_in_ball)
from xlr.methods.registry import Method, Option, needs_model, register

if TYPE_CHECKING:
    import torch


NOISES = ("ball", "gaussian")


class RandomPerturbation(EmbeddingPerturbation):
    """rs-rp: min_f sum E_delta L(f(x + delta), y), one fresh delta per example (per token) per step."""

    name = "rs-rp"

    def __init__(self, epsilon: float, noise: str, embedding_norm: float):
        super().__init__(epsilon, embedding_norm)
        check_choice("rs-rp", "noise", noise, NOISES)
        self.noise = noise

    def describe(self) -> dict:
        return {**super().describe(), "noise": self.noise}

    def sample(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        draw = uniform_in_ball if self.noise == "ball" else gaussian
        return draw(e.shape, self.epsilon, mask, self.generator)

    def loss(self, model, inputs):
        e, rest = embed(model, inputs)
        delta = self.sample(e, token_mask(inputs, e))
        outputs = model(inputs_embeds=e + delta, **rest)
        return outputs.loss, outputs


# why this default: docs/methods.md ("Defaults are ours"); the measurements: docs/choosing-defaults.md
register(Method(
    "rs-rp", "randomized smoothing with random per-token embedding perturbations",
    options=(Option("epsilon", "float", 0.2, "radius of each token's perturbation, as a fraction of the median "
                    "word-embedding norm (chosen by an English-dev sweep on e5-small: docs/methods.md)", minimum=0),
             Option("noise", "str", "ball", "uniform in the ball, or gaussian with sigma = epsilon / sqrt(d)",
                    choices=NOISES)),
    objective=lambda model, o: RandomPerturbation(
        **o, embedding_norm=median_embedding_norm(needs_model("rs-rp", model))),
    position=2))
