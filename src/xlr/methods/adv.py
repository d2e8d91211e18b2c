"""adv (the paper): adversarial training, projected gradient ascent on per-token word-embedding perturbations."""
from __future__ import annotations

from typing import TYPE_CHECKING

from xlr.errors import XlrError
from xlr.methods.base import (DROPOUT_MASKS, EmbeddingPerturbation, attack_start, check_choice, delta_gradient,
                              embed, median_embedding_norm, project, rng_state, set_rng_state,
                              uniform_in_ball)
from xlr.methods.registry import Method, Option, needs_model, register

if TYPE_CHECKING:
    import torch


class Adversarial(EmbeddingPerturbation):
    """adv: min_f sum max_{||delta_i|| <= eps} L(f(x + delta), y), the inner max by projected gradient ascent.

    `dropout` says which dropout masks the passes draw in training mode: "fresh", every pass its own (the
    attack is then computed for masks that the training pass does not use), or "shared", every ascent
    step and the training pass the same masks (the random-number state is restored before each pass), so
    the training pass sees exactly the loss the attack ascended."""

    name = "adv"

    def __init__(self, epsilon: float, steps: int, step_size: float, embedding_norm: float, dropout: str = "fresh"):
        super().__init__(epsilon, embedding_norm)
        if steps < 1:
            raise XlrError(f"adv steps must be >= 1, not {steps}")
        check_choice("adv", "dropout", dropout, DROPOUT_MASKS)
        self.steps = steps
        self.relative_step_size = step_size
        self.step_size = step_size * self.epsilon  # alpha, absolute
        self.dropout = dropout

    def describe(self) -> dict:
        return {**super().describe(), "steps": self.steps, "step_size": self.relative_step_size,
                "dropout": self.dropout}

    def perturbation(self, model, inputs: dict) -> torch.Tensor:
        """The inner maximisation. Gradients are taken w.r.t. delta only: no parameter .grad is touched,
        and the unwrapped module is used, so a DDP wrapper sees no extra forward/backward."""
        return self.attack(model, inputs)[0]

    def attack(self, model, inputs: dict) -> tuple:
        """(delta, the random-number state its passes started from: None unless dropout is shared)."""
        core, e, rest, mask = attack_start(model, inputs)
        delta = uniform_in_ball(e.shape, self.epsilon, mask, self.generator)
        state = rng_state(e.device) if self.dropout == "shared" else None
        for _ in range(self.steps):
            grad = delta_gradient(core, e, delta, rest, state)
            step = grad / (grad.norm(dim=-1, keepdim=True) + 1e-12)  # per-token normalised ascent direction
            delta = project(delta.detach() + self.step_size * step, self.epsilon, mask)
        return delta.detach(), state

    def loss(self, model, inputs):
        delta, state = self.attack(model, inputs)
        e, rest = embed(model, inputs)  # with graph: the embeddings are trained too
        if state is not None:
            set_rng_state(state, e.device)
        outputs = model(inputs_embeds=e + delta, **rest)
        return outputs.loss, outputs


# why these defaults: docs/methods.md ("Defaults are ours"); the measurements: docs/choosing-defaults.md.
# steps K = 1, step_size alpha = 1.25 epsilon from a random start (Wong, Rice & Kolter 2020)
register(Method(
    "adv", "adversarial training: PGD on per-token word-embedding perturbations",
    options=(Option("epsilon", "float", 0.005, "radius of each token's perturbation, as a fraction of the median "
                    "word-embedding norm (chosen by an English-dev sweep on e5-small: docs/methods.md)", minimum=0),
             Option("steps", "int", 1, "gradient-ascent steps K", minimum=1),
             Option("step_size", "float", 1.25, "step size alpha, as a fraction of epsilon", minimum=0),
             Option("dropout", "str", "fresh", "dropout masks of the attack and training passes: fresh (each pass "
                    "its own) or shared (the training pass reuses the attack's; docs/methods.md)",
                    choices=DROPOUT_MASKS, added_later=True)),
    objective=lambda model, o: Adversarial(
        **o, embedding_norm=median_embedding_norm(needs_model("adv", model))),
    position=1))
