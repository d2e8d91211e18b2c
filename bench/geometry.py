"""How far each perturbation moves a model's sentence representation, next to changes whose size we know.

For the first N English PAWS-X dev pairs it measures, per pair, the L2 displacement ||dh|| of the encoder's
mean-pooled last hidden state (over real tokens, eval mode unless said otherwise) caused by:

  - swapping two adjacent words of sentence 1 (the kind of change PAWS labels hinge on);
  - dropout (the same input in train mode against eval mode);
  - ADV at each radius: xlr's own `Adversarial` objective (random start, K steps, projection) against a
    freshly initialised classifier head, as at the start of fine-tuning;
  - RS-RP at each radius: xlr's own `RandomPerturbation` sampler.

and prints the median of each, with the model's embedding scale (median row norm of the word-embedding
matrix, which is the unit of xlr's `epsilon`; the median norm of tokens as they occur in the data; the
median distance from such a token to its nearest other vocabulary row).

    python bench/geometry.py                                   # multilingual-e5-small (offline build)
    python bench/geometry.py --model DIR --pairs 256 --adv 0.01,0.02,0.05 --rs-rp 0.1,0.4,1.0

A radius is worth training with when its displacement is comparable to the changes the model must learn to
ignore (dropout) and smaller than what would let it fit anything (several times dropout). Takes a few
minutes on 2 CPU cores for e5-small.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, e5_folder  # noqa: E402


def swap_adjacent(sentence: str, rng: random.Random) -> str:
    words = sentence.split(" ")
    if len(words) < 2:
        return sentence
    i = rng.randrange(len(words) - 1)
    words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model folder or hub id (default: the offline e5-small build)")
    ap.add_argument("--data", default=str(SHARED / "data"))
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--adv", default="0.005,0.01,0.02,0.05,0.1", help="ADV radii (fractions of the median norm)")
    ap.add_argument("--steps", type=int, default=1, help="ADV ascent steps")
    ap.add_argument("--rs-rp", default="0.1,0.2,0.4,0.8,1.6", help="RS-RP radii (fractions of the median norm)")
    ap.add_argument("--pooling", default="mean", choices=["cls", "mean"], help="classifier head for ADV's loss")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    import torch

    from xlr.tasks import get_task
    from xlr.sources import open_source
    from xlr.methods.adv import Adversarial
    from xlr.methods.rs_rp import RandomPerturbation
    from xlr.methods.base import median_embedding_norm, token_mask

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    task = get_task("pawsx")
    spec = args.model or e5_folder()
    from xlr.engine.models import load_model

    model, tokenizer = load_model(spec, task, args.seed, pooling=args.pooling)
    model.eval()
    base = model.base_model
    pairs = open_source(args.data).load(task, "dev", "en").head(args.pairs)
    unit = median_embedding_norm(model)
    weight = model.get_input_embeddings().weight.detach()

    def encode(s1, s2, labels):
        enc = tokenizer(s1, s2, truncation=True, max_length=128, padding=True, return_tensors="pt")
        enc["labels"] = torch.tensor(labels)
        return dict(enc)

    def pooled(inputs, embeds=None, train=False):
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

    adv_radii = [float(x) for x in args.adv.split(",") if x]
    rp_radii = [float(x) for x in args.rs_rp.split(",") if x]
    rows: dict[str, list[float]] = {}
    token_norms, nearest = [], []
    for start in range(0, len(pairs), 32):
        s1 = pairs.sentence1[start:start + 32]
        s2 = pairs.sentence2[start:start + 32]
        labels = pairs.labels[start:start + 32]
        inputs = encode(s1, s2, labels)
        h = pooled(inputs)
        rows.setdefault("|h| (the representation itself)", []).extend(h.norm(dim=-1).tolist())
        swapped = encode([swap_adjacent(s, rng) for s in s1], s2, labels)
        rows.setdefault("swap two adjacent words", []).extend((pooled(swapped) - h).norm(dim=-1).tolist())
        rows.setdefault("dropout (train vs eval)", []).extend((pooled(inputs, train=True) - h).norm(dim=-1).tolist())
        with torch.no_grad():
            e = model.get_input_embeddings()(inputs["input_ids"])
        mask = token_mask(inputs, e)
        real = inputs["attention_mask"].bool()
        ids = inputs["input_ids"][real]
        vec = weight[ids]
        token_norms.extend(vec.norm(dim=-1).tolist())
        with torch.no_grad():
            d = torch.cdist(vec[:64], weight)
            d[torch.arange(len(d)), ids[:64]] = float("inf")
            nearest.extend(d.min(dim=-1).values.tolist())
        for eps in adv_radii:
            delta = Adversarial(eps, args.steps, 1.25, unit).perturbation(model, inputs)
            key = f"ADV, {args.steps} step, eps = {eps:g}"
            rows.setdefault(key, []).extend((pooled(inputs, e + delta) - h).norm(dim=-1).tolist())
        for eps in rp_radii:
            delta = RandomPerturbation(eps, "ball", unit).sample(e, mask)
            key = f"RS-RP (ball), eps = {eps:g}"
            rows.setdefault(key, []).extend((pooled(inputs, e + delta) - h).norm(dim=-1).tolist())
        print(f"  {min(start + 32, len(pairs))}/{len(pairs)} pairs", file=sys.stderr, flush=True)

    med = statistics.median
    dropout = med(rows["dropout (train vs eval)"])
    print(f"model: {spec}")
    print(f"median word-embedding row norm (the unit of epsilon): {unit:.3f}; tokens as they occur in PAWS: "
          f"{med(token_norms):.3f}; their distance to the nearest other row: {med(nearest):.3f} "
          f"({med(nearest) / unit:.2f} of the unit)")
    print(f"{len(pairs)} English PAWS-X dev pairs, median over pairs\n")
    print("| change to the input | median ||dh|| | / dropout |")
    print("|---|---:|---:|")
    for key, values in rows.items():
        print(f"| {key} | {med(values):.3f} | {med(values) / dropout:.2f} |")


if __name__ == "__main__":
    main()
