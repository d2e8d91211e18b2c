"""r3f, beyond the paper: R3F (Aghajanyan et al., ICLR 2021)."""
from __future__ import annotations

from xlr.errors import XlrError
from xlr.methods.base import Objective, check_choice, embed, token_mask
from xlr.methods.base import noise as draw
from xlr.methods.registry import Method, Option, register


DISTRIBUTIONS = ("uniform", "normal")


class R3F(Objective):
    """r3f (Aghajanyan et al., ICLR 2021), beyond the paper: cross-entropy on the clean input plus lambda
    times the symmetric KL between the clean and the noisy predictions,

        L(f(x), y) + lambda KL_S(f(x) || f(x + z)),  KL_S(P || Q) = KL(P || Q) + KL(Q || P),

    z ~ N(0, sigma^2 I) or U(-sigma, sigma) on the word embeddings (zero on padding; sigma absolute, the
    paper's unit), added to detached embeddings as in the authors' code. Clean and noisy copies go through
    the model in one batch (DDP sees one forward)."""

    name = "r3f"

    def __init__(self, sigma: float, distribution: str, kl_weight: float):
        if sigma < 0 or kl_weight < 0:
            raise XlrError(f"r3f sigma and kl_weight must be >= 0, not {sigma} and {kl_weight}")
        check_choice("r3f", "distribution", distribution, DISTRIBUTIONS)
        self.sigma, self.distribution, self.kl_weight = sigma, distribution, kl_weight

    def describe(self) -> dict:
        return {"sigma": self.sigma, "distribution": self.distribution, "kl_weight": self.kl_weight}

    def noise(self, e, mask):
        z = draw("normal", e.shape, e, self.generator) if self.distribution == "normal" else \
            draw("uniform", e.shape, e, self.generator) * 2 - 1
        return z * self.sigma * mask

    @staticmethod
    def symmetric_kl(logits_p, logits_q):
        """KL(P || Q) + KL(Q || P) per example, from logits (in fp32)."""
        import torch.nn.functional as F

        p, q = F.log_softmax(logits_p.float(), dim=-1), F.log_softmax(logits_q.float(), dim=-1)
        return (p.exp() * (p - q)).sum(-1) + (q.exp() * (q - p)).sum(-1)

    def loss(self, model, inputs):
        import torch
        import torch.nn.functional as F

        e, rest = embed(model, inputs)
        labels = rest.pop("labels")
        z = self.noise(e, token_mask(inputs, e))
        both = {key: torch.cat([v, v]) for key, v in rest.items()}
        # the noisy copy starts from detached embeddings, as the authors' code (fairseq) does: the embedding
        # matrix learns only through the clean copy
        outputs = model(inputs_embeds=torch.cat([e, e.detach() + z]), **both)
        clean, noisy = outputs.logits.chunk(2)
        loss = F.cross_entropy(clean.float(), labels) + self.kl_weight * self.symmetric_kl(clean, noisy).mean()
        outputs["logits"] = clean
        return loss, outputs


# hyperparameters: sigma = 1e-5, lambda = 1.0 and uniform noise are the defaults of the authors' implementation
# (fairseq, examples/rxf); not tuned here (docs/methods.md)
register(Method(
    "r3f", "R3F (Aghajanyan et al. 2021): embedding noise plus a symmetric KL between clean and noisy predictions",
    options=(Option("sigma", "float", 1e-5, "noise scale on the word embeddings, absolute (R3F's unit)", minimum=0),
             Option("distribution", "str", "uniform", "U(-sigma, sigma) or N(0, sigma^2)",
                    choices=DISTRIBUTIONS),
             Option("kl_weight", "float", 1.0, "lambda, the weight of the symmetric KL term", minimum=0)),
    objective=lambda model, o: R3F(**o),
    paper=False,
    position=5))
