"""`xlr analyze geometry`: how far each perturbation moves a model's sentence representation, next to changes
whose size is known.

For the first N source-language dev pairs it measures, per pair, the L2 displacement ||dh|| of the encoder's
mean-pooled last hidden state (over real tokens, eval mode unless said otherwise) caused by:

  - swapping two adjacent words of sentence 1 (the kind of change PAWS labels hinge on);
  - dropout (the same input in train mode against eval mode);
  - ADV at each radius: xlr's own `Adversarial` objective (random start, K steps, projection) against a
    freshly initialised classifier head, as at the start of fine-tuning;
  - RS-RP at each radius: xlr's own `RandomPerturbation` sampler;

and reports the median of each, with the model's embedding scale (the median row norm of the word-embedding
matrix, the unit of xlr's `epsilon`; the median norm of tokens as they occur in the data; the median distance
from such a token to its nearest other vocabulary row). A radius is worth training with when its displacement
is comparable to the changes the model must learn to ignore (dropout) and smaller than what would let it fit
anything (several times dropout).
"""
from __future__ import annotations

import random
import statistics
from dataclasses import dataclass

from xlr.tasks import PairSet


@dataclass
class Geometry:
    embedding_norm: float       # median row norm of the word-embedding matrix: the unit of epsilon
    token_norm: float           # median norm of the tokens as they occur in the pairs
    nearest_row: float          # median distance from such a token to its nearest other row
    pairs: int
    rows: dict[str, float]      # change to the input -> median ‖dh‖ over the pairs

    @property
    def dropout(self) -> float:
        return self.rows["dropout (train vs eval)"]


def swap_adjacent(sentence: str, rng: random.Random) -> str:
    words = sentence.split(" ")
    if len(words) < 2:
        return sentence
    i = rng.randrange(len(words) - 1)
    words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def _encode(tokenizer, s1, s2, labels) -> dict:
    import torch

    enc = tokenizer(s1, s2, truncation=True, max_length=128, padding=True, return_tensors="pt")
    enc["labels"] = torch.tensor(labels)
    return dict(enc)


def _pooled(base, inputs: dict, embeds=None, train: bool = False):
    """The mean-pooled last hidden state of the encoder BASE, from the ids or from given embeddings, with dropout
    on when `train`."""
    import torch

    rest = {k: v for k, v in inputs.items() if k not in ("labels", "input_ids")}
    base.train(train)
    with torch.no_grad():
        if embeds is None:
            hidden = base(input_ids=inputs["input_ids"], **rest).last_hidden_state
        else:
            hidden = base(inputs_embeds=embeds, **rest).last_hidden_state
    base.eval()
    mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1)


def measure(model, tokenizer, pairs: PairSet, adv_radii: list[float], rp_radii: list[float],
            steps: int = 1, seed: int = 7, batch: int = 32, on_batch=None) -> Geometry:
    """The displacements this module's docstring lists, for a classification model and its tokenizer."""
    import torch

    from xlr.methods.adv import Adversarial
    from xlr.methods.base import median_embedding_norm, token_mask
    from xlr.methods.rs_rp import RandomPerturbation

    torch.manual_seed(seed)
    rng = random.Random(seed)
    model.eval()
    base = model.base_model
    norm = median_embedding_norm(model)
    weight = model.get_input_embeddings().weight.detach()

    def encode(s1, s2, labels):
        return _encode(tokenizer, s1, s2, labels)

    def pooled(inputs, embeds=None, train=False):
        return _pooled(base, inputs, embeds, train)

    rows: dict[str, list[float]] = {}
    token_norms, nearest = [], []
    for start in range(0, len(pairs), batch):
        s1 = pairs.sentence1[start:start + batch]
        s2 = pairs.sentence2[start:start + batch] if pairs.sentence2 is not None else None
        labels = pairs.labels[start:start + batch]
        inputs = encode(s1, s2, labels)
        h = pooled(inputs)
        rows.setdefault("‖h‖ (the representation itself)", []).extend(h.norm(dim=-1).tolist())
        swapped = encode([swap_adjacent(s, rng) for s in s1], s2, labels)
        rows.setdefault("swap two adjacent words", []).extend((pooled(swapped) - h).norm(dim=-1).tolist())
        rows.setdefault("dropout (train vs eval)", []).extend((pooled(inputs, train=True) - h).norm(dim=-1).tolist())
        with torch.no_grad():
            e = model.get_input_embeddings()(inputs["input_ids"])
        mask = token_mask(inputs, e)
        ids = inputs["input_ids"][inputs["attention_mask"].bool()]
        vec = weight[ids]
        token_norms.extend(vec.norm(dim=-1).tolist())
        with torch.no_grad():
            d = torch.cdist(vec[:64], weight)
            d[torch.arange(len(d)), ids[:64]] = float("inf")
            nearest.extend(d.min(dim=-1).values.tolist())
        for eps in adv_radii:
            delta = Adversarial(eps, steps, 1.25, norm).perturbation(model, inputs)
            rows.setdefault(f"ADV, {steps} step, eps = {eps:g}", []).extend(
                (pooled(inputs, e + delta) - h).norm(dim=-1).tolist())
        for eps in rp_radii:
            delta = RandomPerturbation(eps, "ball", norm).sample(e, mask)
            rows.setdefault(f"RS-RP (ball), eps = {eps:g}", []).extend(
                (pooled(inputs, e + delta) - h).norm(dim=-1).tolist())
        if on_batch:
            on_batch(min(start + batch, len(pairs)), len(pairs))
    med = statistics.median
    return Geometry(norm, med(token_norms), med(nearest), len(pairs), {k: med(v) for k, v in rows.items()})
