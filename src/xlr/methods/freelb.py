"""freelb, beyond the paper: FreeLB (Zhu et al., ICLR 2020)."""
from __future__ import annotations

from xlr.errors import XlrError
from xlr.methods.base import (DROPOUT_MASKS, Objective, attack_start, check_choice, delta_gradient, embed,
                              median_embedding_norm, noise, rng_state, set_rng_state, unwrap)
from xlr.methods.registry import Method, Option, needs_model, register


class FreeLB(Objective):
    """freelb (Zhu et al., ICLR 2020), beyond the paper: a perturbation delta of the whole sequence's word
    embeddings, bounded in its Frobenius norm per example, moved by K - 1 normalised ascent steps; the
    parameter gradient is the mean of the K gradients at delta_0 ... delta_{K-1}:

        delta_0 = U(-sigma, sigma) / sqrt(N),  N = real tokens x hidden size (zero on padding)
        delta_t = Pi_{||delta||_F <= eps}(delta_{t-1} + alpha g / ||g||_F),  g = grad_delta L(x + delta_{t-1})
        update with (1/K) sum_t grad_theta L(x + delta_t)

    alpha, sigma and eps are fractions of the median word-embedding norm (xlr's unit, as for ADV), so one
    setting means the same for encoders whose embedding norms differ; `max_norm` 0 means no projection. The deltas
    are found with the unwrapped model and gradients w.r.t. delta only (as ADV); the K perturbed copies then
    give the training loss (1/K) sum_t L(x + delta_t). That takes K - 1 extra forward/backward passes over
    FreeLB's own loop.

    `dropout` says which dropout masks the passes draw in training mode. "shared" (the default) is the
    authors' code: one mask set for every ascent step and all K training passes, which run one after another
    with the random-number state restored before each, so the update is the one FreeLB's own loop makes.
    "fresh" puts the K copies through the model in one batch (faster), each copy and each ascent step with its
    own masks; without dropout the two give the same update."""

    name = "freelb"

    def __init__(self, steps: int, adv_lr: float, init_mag: float, max_norm: float, embedding_norm: float = 1.0,
                 dropout: str = "shared"):
        if steps < 1:
            raise XlrError(f"freelb steps must be >= 1, not {steps}")
        check_choice("freelb", "dropout", dropout, DROPOUT_MASKS)
        self.dropout = dropout
        for key, value in (("adv_lr", adv_lr), ("init_mag", init_mag), ("max_norm", max_norm)):
            if value < 0:
                raise XlrError(f"freelb {key} must be >= 0, not {value}")
        self.relative = {"adv_lr": adv_lr, "init_mag": init_mag, "max_norm": max_norm}
        self.embedding_norm = embedding_norm
        self.steps = steps
        # absolute sizes
        self.adv_lr, self.init_mag, self.max_norm = (x * embedding_norm for x in (adv_lr, init_mag, max_norm))

    def describe(self) -> dict:
        return {"steps": self.steps, **self.relative, "embedding_norm": round(self.embedding_norm, 6),
                "max_norm_absolute": round(self.max_norm, 6), "dropout": self.dropout}

    def project(self, delta):
        """Scale each example's delta back into the Frobenius ball of radius max_norm (0: unbounded)."""
        import torch

        if self.max_norm <= 0:
            return delta
        norms = delta.flatten(1).norm(dim=1).view(-1, *[1] * (delta.dim() - 1))
        return delta * torch.clamp(self.max_norm / (norms + 1e-12), max=1.0)

    def perturbations(self, model, inputs: dict) -> list:
        """[delta_0, ..., delta_{K-1}], detached; no parameter .grad is touched."""
        return self.attack(model, inputs)[0]

    def attack(self, model, inputs: dict) -> tuple:
        """([delta_0, ..., delta_{K-1}], the random-number state the passes start from: None unless shared)."""
        core, e, rest, mask = attack_start(model, inputs)
        n = (mask.sum(dim=(1, 2)) * e.shape[-1]).clamp_min(1).view(-1, 1, 1)
        delta = self.project((noise("uniform", e.shape, e, self.generator) * 2 - 1) * mask * self.init_mag / n.sqrt())
        state = rng_state(e.device) if self.dropout == "shared" else None
        out = [delta]
        for _ in range(self.steps - 1):
            grad = delta_gradient(core, e, delta, rest, state)
            norm = grad.flatten(1).norm(dim=1).view(-1, 1, 1) + 1e-12
            delta = self.project((delta.detach() + self.adv_lr * grad / norm) * mask)
            out.append(delta)
        return [d.detach() for d in out], state

    def loss(self, model, inputs):
        import torch

        deltas, state = self.attack(model, inputs)
        e, rest = embed(model, inputs)  # with graph: the embeddings are trained too
        k = len(deltas)
        if state is not None:  # one after another, every pass with the attack's masks
            total, first = 0.0, None
            for t, d in enumerate(deltas):
                set_rng_state(state, e.device)
                # the last pass goes through the (possibly DDP-wrapped) model: one backward, one gradient sync
                outputs = (model if t == k - 1 else unwrap(model))(inputs_embeds=e + d, **rest)
                total = total + outputs.loss / k
                first = outputs if first is None else first
            first["loss"] = total
            return total, first
        stacked = {key: v.repeat(k, *[1] * (v.dim() - 1)) for key, v in rest.items()}
        outputs = model(inputs_embeds=torch.cat([e + d for d in deltas]), **stacked)
        outputs["logits"] = outputs.logits[: e.shape[0]]  # the first copy's, one row per example
        return outputs.loss, outputs


# K = 3 is the authors' (their RoBERTa-large MNLI launch script, github zhuchen03/FreeLB, which also has
# alpha : sigma : eps = 1 : 1 : 3). The radius is xlr's measured one, not theirs: eps = 0.04 spreads over a
# 64-token PAWS pair as 0.005 per token, ADV's default chosen on English dev; alpha = sigma = eps / 3 keep
# the authors' ratios. Not tuned for FreeLB (docs/methods.md).
register(Method(
    "freelb", "FreeLB (Zhu et al. 2020): K-step adversarial training, gradients accumulated over the steps",
    options=(Option("steps", "int", 3, "perturbed passes K (K - 1 ascent steps), the parameter gradient "
                    "averaged over them", minimum=1),
             Option("adv_lr", "float", 0.013, "ascent step size alpha, as a fraction of the median word-embedding "
                    "norm", minimum=0),
             Option("init_mag", "float", 0.013, "initial magnitude sigma: delta_0 ~ U(-sigma, sigma) / sqrt(tokens "
                    "x hidden), as a fraction of the median word-embedding norm", minimum=0),
             Option("max_norm", "float", 0.04, "bound eps on each example's whole-sequence Frobenius norm, as a "
                    "fraction of the median word-embedding norm; 0: unbounded", minimum=0),
             Option("dropout", "str", "shared", "dropout masks of the K passes: shared (one set for all, as the "
                    "authors' code) or fresh (each copy its own, in one batch)", choices=DROPOUT_MASKS)),
    objective=lambda model, o: FreeLB(
        **o, embedding_norm=median_embedding_norm(needs_model("freelb", model))),
    paper=False,
    position=4))
