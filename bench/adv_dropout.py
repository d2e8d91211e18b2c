"""How much of ADV's attack reaches the training pass, with fresh or shared dropout masks.

In training mode ADV's ascent pass and the training pass draw dropout masks. With `dropout = "fresh"` (the
default) each pass draws its own, so delta is computed for masks the training pass does not use; with
"shared" the training pass reuses the ascent's masks. For the first N English PAWS-X dev pairs this
measures, in training mode, the loss increase that delta causes in the training pass,

    gain = L(x + delta; masks of the training pass) - L(x; the same masks),

for both settings, next to a random delta of the same radius (xlr's uniform-in-the-ball start), and prints
the mean over batches. Run on the encoder with a fresh head (the start of fine-tuning) and on a fine-tuned
run's model (where ADV spends most of its steps).

    python bench/adv_dropout.py                                   # e5-small (offline build), fresh head
    python bench/adv_dropout.py --trained runs/table1-cpu/baseline/seed1/model --epsilon 0.005,0.02
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, e5_folder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="encoder folder or hub id (default: $XLR_E5, the offline "
                                                  "e5-small build or the hub id; bench/common.py)")
    ap.add_argument("--trained", default=None, help="a run's model folder (load_trained) instead of --model")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epsilon", default="0.005,0.02", help="ADV radii (fractions of the median norm)")
    ap.add_argument("--repeats", type=int, default=2, help="passes over the pairs (different masks each)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    import torch

    from xlr.tasks import get_task
    from xlr.sources import open_source
    from xlr.engine.models import load_model, load_trained
    from xlr.methods.adv import Adversarial
    from xlr.methods.base import median_embedding_norm, rng_state, set_rng_state, token_mask, uniform_in_ball

    torch.manual_seed(args.seed)
    task = get_task("pawsx")
    if args.trained:
        model, tokenizer = load_trained(Path(args.trained))
        name = args.trained
    else:
        name = args.model or e5_folder()
        model, tokenizer = load_model(name, task, args.seed, pooling="mean")
    model.train()  # dropout on, as in ADV's training step
    unit = median_embedding_norm(model)
    pairs = open_source(args.data).load(task, "dev", "en").head(args.pairs)
    embed = model.get_input_embeddings()

    def loss_at(inputs, e, state):
        set_rng_state(state, e.device)
        rest = {k: v for k, v in inputs.items() if k != "input_ids"}
        with torch.no_grad():
            return model(inputs_embeds=e, **rest).loss.item()

    gains: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for start in range(0, len(pairs), args.batch):
            end = start + args.batch
            enc = tokenizer(pairs.sentence1[start:end], pairs.sentence2[start:end], truncation=True, max_length=128,
                            padding=True, return_tensors="pt")
            inputs = {**enc, "labels": torch.tensor(pairs.labels[start:end])}
            with torch.no_grad():
                e = embed(inputs["input_ids"])
            for eps in [float(x) for x in args.epsilon.split(",") if x]:
                for dropout in ("fresh", "shared"):
                    delta, state = Adversarial(eps, 1, 1.25, unit, dropout).attack(model, inputs)
                    state = state or rng_state(e.device)  # fresh: the training pass's own, new masks
                    gain = loss_at(inputs, e + delta, state) - loss_at(inputs, e, state)
                    gains.setdefault(f"ADV eps = {eps:g}, {dropout} masks", []).append(gain)
                state = rng_state(e.device)
                rand = uniform_in_ball(e.shape, eps * unit, token_mask(inputs, e))
                gain = loss_at(inputs, e + rand, state) - loss_at(inputs, e, state)
                gains.setdefault(f"random delta, eps = {eps:g}", []).append(gain)
            print(f"  {min(end, len(pairs))}/{len(pairs)} pairs", file=sys.stderr, flush=True)

    print(f"model: {name} (training mode); {len(pairs)} English PAWS-X dev pairs x {args.repeats}, "
          f"batches of {args.batch}; median word-embedding norm {unit:.3f}\n")
    print("| perturbation | mean loss increase in the training pass | batches |")
    print("|---|---:|---:|")
    for key, values in gains.items():
        print(f"| {key} | {statistics.mean(values):+.5f} | {len(values)} |")
    for eps in [float(x) for x in args.epsilon.split(",") if x]:
        fresh = statistics.mean(gains[f"ADV eps = {eps:g}, fresh masks"])
        shared = statistics.mean(gains[f"ADV eps = {eps:g}, shared masks"])
        print(f"\neps = {eps:g}: fresh / shared = {fresh / shared:.2f}" if shared else f"\neps = {eps:g}: shared gain 0")


if __name__ == "__main__":
    main()
