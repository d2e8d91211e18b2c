"""Training speed: xlr's training path against the reference loop of the paper's code, in one run.

All paths train the same model (the same classifier head: --pooling, default mean as in the CPU
profiles) on the same real English PAWS-X text for the same number of optimizer steps (effective
batch 32) and evaluate at the same steps:

  reference  the paper's scripts (XTREME run_classify.py style): fp32, every batch padded to 128 tokens,
             batch 8 x 4 gradient accumulation, AdamW; at every save (model + optimizer) an evaluation of
             English dev and all 7 PAWS-X test sets, eval batch 8, also padded to 128;
  xlr        xlr.training.fit as `xlr train` runs it: the Trainer subclass with dynamic padding, batches in
             random order, batch 32, fused AdamW (CUDA; CPU from torch 2.4), bf16 autocast where the
             device has it (CUDA), and English dev only at each save;
  xlr-grouped  the same with length-grouped batches (train.group_by_length = true): less padding.

Each path runs in its own subprocess, one after the other (so peak memory is its own); the parent prints training examples
per second (optimizer steps only), end-to-end seconds for the whole budget (steps + evaluations +
saves), peak memory, and the ratios. On CUDA it also prints MFU (model FLOPs utilisation).

    python bench/throughput.py                       # CPU: multilingual-e5-small from the offline tool
    python bench/throughput.py --model random-mbert  # bert-base-multilingual-cased's exact config, random
                                                     # weights (speed does not depend on the weights)
    python bench/throughput.py --steps 100 --eval-every 50      # a shorter budget

Writes bench/out/throughput.json. Not part of CI.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import DATA, REPO, add_pooling_option, e5_folder  # noqa: E402

from xlr.engine.throughput import (non_embedding_parameters, peak_memory_mib, peak_tflops,  # noqa: E402
                                  synchronize)

PAWSX_LANGS = ("en", "de", "es", "fr", "ja", "ko", "zh")
# xlr: the default path (random batch order); xlr-grouped: the same with length-grouped batches
XLR_PATHS = ("xlr", "xlr-grouped")
PATHS = (*XLR_PATHS, "reference")
# ------------------------------------------------------------------------------------------- shared

def load(model_spec: str, pooling: str = "mean"):
    import transformers
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from xlr.tasks import TASKS
    from xlr.engine.models import load_model

    task = TASKS["pawsx"]
    if model_spec == "random-mbert":
        # bert-base-multilingual-cased: vocabulary 119,547, 12 layers, hidden 768; random weights
        transformers.set_seed(7)
        config = BertConfig(vocab_size=119547, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                            intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2, num_labels=2)
        model = BertForSequenceClassification(config)
        try:
            tokenizer = AutoTokenizer.from_pretrained("bert-base-multilingual-cased")
        except OSError:  # offline: e5's tokenizer, with ids folded into mBERT's vocabulary size
            try:
                tokenizer = AutoTokenizer.from_pretrained(e5_folder())
            except OSError:
                sys.exit("error: offline, random-mbert needs a tokenizer folder: set XLR_E5 to a local copy of "
                         "multilingual-e5-small")
        return model, tokenizer, task
    model, tokenizer = load_model(model_spec, task, seed=7, pooling=pooling)
    return model, tokenizer, task


def data(args, task):
    from xlr.sources import open_source
    from xlr.tasks import read_tsv

    src = open_source(args.data)
    train = read_tsv(Path(args.data) / "pawsx" / "train-en-small.tsv", task).head(args.steps * 32)
    dev = src.load(task, "dev", "en")
    tests = {lang: src.load(task, "test", lang) for lang in PAWSX_LANGS}
    return train, dev, tests


def fold_ids(ids, vocab_size):
    return [i % vocab_size for i in ids]


# ------------------------------------------------------------------------------------ the two paths

def run_reference(args) -> dict:
    """The paper's loop: fp32, pad to 128, batch 8 x 4 accumulation, test sets evaluated at every save."""
    import torch
    from torch.utils.data import DataLoader, RandomSampler
    from transformers import get_linear_schedule_with_warmup

    model, tok, task = load(args.model, args.pooling)
    train, dev, tests = data(args, task)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    vocab = model.config.vocab_size

    def tensors(pairs):
        enc = tok(pairs.sentence1, pairs.sentence2, truncation=True, max_length=128, padding="max_length")
        ids = [fold_ids(x, vocab) for x in enc["input_ids"]]
        # segment ids as the paper's loop passes them (BERT/mBERT have them; XLM-R/e5 tokenizers return none)
        types = enc.get("token_type_ids") or [[0] * len(x) for x in ids]
        cols = [torch.tensor(ids), torch.tensor(enc["attention_mask"]), torch.tensor(types)]
        return torch.utils.data.TensorDataset(*cols, torch.tensor(pairs.labels))

    def inputs(ids, mask, types):
        extra = {"token_type_ids": types.to(device)} if "token_type_ids" in tok.model_input_names else {}
        return {"input_ids": ids.to(device), "attention_mask": mask.to(device), **extra}

    def evaluate(ds):
        model.eval()
        correct = 0
        with torch.no_grad():
            for ids, mask, types, y in DataLoader(ds, batch_size=8):
                logits = model(**inputs(ids, mask, types)).logits
                correct += (logits.argmax(-1).cpu() == y).sum().item()
        model.train()
        return 100.0 * correct / len(ds)

    train_ds = tensors(train)
    eval_sets = {"dev-en": tensors(dev), **{f"test-{k}": tensors(v) for k, v in tests.items()}}
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, eps=1e-8, weight_decay=0.0)
    schedule = get_linear_schedule_with_warmup(optimizer, 0, args.steps)
    g = torch.Generator().manual_seed(7)
    loader = DataLoader(train_ds, sampler=RandomSampler(train_ds, generator=g), batch_size=8)
    model.train()
    step, micro, train_seconds, tokens, curve = 0, 0, 0.0, 0, []
    start = time.time()
    with tempfile.TemporaryDirectory() as save_dir:
        while step < args.steps:
            for ids, mask, types, y in loader:
                t0 = time.time()
                loss = model(**inputs(ids, mask, types), labels=y.to(device)).loss / 4
                loss.backward()
                micro += 1
                tokens += ids.numel()
                if micro % 4 == 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    schedule.step()
                    optimizer.zero_grad()
                    step += 1
                synchronize()
                train_seconds += time.time() - t0
                if micro % 4 == 0 and step % args.eval_every == 0:
                    model.save_pretrained(save_dir)
                    torch.save(optimizer.state_dict(), os.path.join(save_dir, "optimizer.pt"))
                    scores = {name: evaluate(ds) for name, ds in eval_sets.items()}
                    curve.append({"step": step, "accuracy": round(scores["dev-en"], 2)})
                    print(f"  reference step {step}: " + " ".join(f"{k} {v:.1f}" for k, v in scores.items()),
                          file=sys.stderr, flush=True)
                if step >= args.steps:
                    break
    return {"path": "reference", "steps": step, "train_examples": step * 32, "train_seconds": train_seconds,
            "total_seconds": time.time() - start, "peak_mb": peak_memory_mib(), "computed_tokens": tokens,
            "non_embedding_params": non_embedding_parameters(model), "precision": "fp32", "dev_curve": curve}


class FoldedTokenizer:
    """A tokenizer whose ids are folded into a smaller vocabulary (random-mbert offline: e5's tokenizer
    standing in for mBERT's, which only changes which rows of the embedding are read, not the speed)."""

    def __init__(self, tokenizer, vocab_size: int):
        self._tok, self._vocab = tokenizer, vocab_size

    def __call__(self, *a, **kw):
        enc = self._tok(*a, **kw)
        enc["input_ids"] = [fold_ids(x, self._vocab) for x in enc["input_ids"]]
        return enc

    def __getattr__(self, name):
        return getattr(self._tok, name)


def run_xlr(args) -> dict:
    from transformers import TrainerCallback

    import xlr.engine.training as training
    from xlr.methods.base import CrossEntropy
    from xlr.machine import device
    from xlr.tasks import train_settings_for
    from xlr.engine.training import fit

    model, tok, task = load(args.model, args.pooling)
    train, dev, _ = data(args, task)
    if len(tok) > model.config.vocab_size:
        tok = FoldedTokenizer(tok, model.config.vocab_size)
    grouped = args.path == "xlr-grouped"
    protocol = train_settings_for("pawsx", {"max_steps": args.steps, "eval_steps": args.eval_every,
                                      "precision": args.precision, "group_by_length": grouped})

    class StepTimer(TrainerCallback):
        """Time the optimizer steps only (not evaluations or saves)."""

        seconds, t0 = 0.0, 0.0

        def on_step_begin(self, *a, **kw):
            self.t0 = time.time()

        def on_step_end(self, *a, **kw):
            synchronize()
            self.seconds += time.time() - self.t0

    timer = StepTimer()
    original = training.EvaluateAtEnd

    class EvaluateAtEndAndTime(original):  # fit() installs this callback; add the timer beside it
        def on_step_begin(self, *a, **kw):
            timer.on_step_begin()

        def on_step_end(self, args_, state, control, **kw):
            timer.on_step_end()
            return super().on_step_end(args_, state, control, **kw)

    training.EvaluateAtEnd = EvaluateAtEndAndTime
    try:
        with tempfile.TemporaryDirectory() as work:
            start = time.time()
            trainer, result = fit(model, tok, CrossEntropy(), train, dev, protocol, seed=7, work_dir=Path(work))
            total = time.time() - start
    finally:
        training.EvaluateAtEnd = original
    seen = result.steps * 32
    lengths = [len(x) for x in trainer.train_dataset["input_ids"]]
    computed = sum(lengths[:seen])  # about the tokens of the examples seen (dynamic padding adds a little)
    return {"path": args.path, "steps": result.steps, "train_examples": seen, "train_seconds": timer.seconds,
            "total_seconds": total, "peak_mb": peak_memory_mib(), "computed_tokens": computed,
            "non_embedding_params": non_embedding_parameters(model),
            "precision": device.choose_precision(device.current().device, protocol.precision)[0],
            "dev_curve": result.dev_curve, "optimizer": trainer.args.optim}


# -------------------------------------------------------------------------------------------- main

def mfu(result: dict) -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    peak = peak_tflops(torch.cuda.get_device_name(), result["precision"])
    if peak is None:
        return None
    flops = 6 * result["non_embedding_params"] * result["computed_tokens"]  # dynamic padding: no attention term
    return flops / result["train_seconds"] / (peak * 1e12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model folder or id; 'random-mbert'; default: e5-small")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--steps", type=int, default=200, help="optimizer steps per path (effective batch 32)")
    ap.add_argument("--eval-every", type=int, default=100, help="save + evaluate every N steps (both paths)")
    ap.add_argument("--precision", default="auto", help="xlr path: auto (bf16 on GPUs with native bf16, fp16 on older ones, fp32 on CPU), bf16, fp16 or fp32")
    add_pooling_option(ap, help="classifier head for all paths (default mean, the CPU profiles' head; "
                                "random-mbert: cls)")
    ap.add_argument("--path", choices=PATHS, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(HERE / "out" / "throughput.json"))
    args = ap.parse_args()
    args.model = args.model or e5_folder()

    if args.path:  # child process: run one path, print its JSON
        from xlr.machine.progress import quiet_libraries

        quiet_libraries()
        result = run_reference(args) if args.path == "reference" else run_xlr(args)
        result["mfu"] = mfu(result)
        print("RESULT " + json.dumps(result))
        return

    results = {}
    for path in PATHS:
        cmd = [sys.executable, __file__, "--path", path, "--model", args.model, "--data", args.data,
               "--steps", str(args.steps), "--eval-every", str(args.eval_every), "--precision", args.precision,
               "--pooling", args.pooling]
        print(f"running the {path} path ...", file=sys.stderr, flush=True)
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True,  # its progress streams to our stderr
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                 p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p)})
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if out.returncode != 0 or line is None:
            raise SystemExit(f"the {path} path failed (exit {out.returncode})")
        results[path] = json.loads(line[len("RESULT "):])

    import torch

    ref = results["reference"]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    metrics = [
        ("training examples / s", lambda r: r["train_examples"] / r["train_seconds"], True),
        (f"end-to-end s ({args.steps} steps + evaluations every {args.eval_every})", lambda r: r["total_seconds"],
         False),
        ("peak memory (MiB)", lambda r: r["peak_mb"], False),
    ]
    ours = results["xlr"]
    print(f"\nmodel {args.model} ({args.pooling} pooling) on {device}; "
          f"xlr paths: {ours['precision']}, {ours['optimizer']}")
    print(f"{'':<50} {'reference':>12} " + " ".join(f"{p:>12} {'ratio':>8}" for p in XLR_PATHS))
    ratios = {}  # metric name -> {xlr path: ratio against the reference, > 1 is better}
    for name, get, higher_is_better in metrics:
        r = get(ref)
        ratios[name] = {p: get(results[p]) / r if higher_is_better else r / get(results[p]) for p in XLR_PATHS}
        print(f"{name:<50} {r:>12.2f} " + " ".join(f"{get(results[p]):>12.2f} {ratios[name][p]:>7.2f}x"
                                                  for p in XLR_PATHS))
    for path in PATHS:
        if results[path]["mfu"] is not None:
            print(f"MFU {path}: {100 * results[path]['mfu']:.1f}%")
    for path in PATHS:
        if results[path].get("dev_curve"):
            print(f"dev curve {path}: " + ", ".join(f"{d['step']}: {d['accuracy']:.1f}" for d in results[path]["dev_curve"]))
    summary = {"model": args.model, "pooling": args.pooling, "device": device, "steps": args.steps, "eval_every": args.eval_every,
               "results": results,
               "speedup_train_examples_per_s": ratios[metrics[0][0]],
               "speedup_end_to_end": ratios[metrics[1][0]]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print("end-to-end speed-up: " + ", ".join(f"{p} {x:.2f}x" for p, x in summary["speedup_end_to_end"].items())
          + f"; wrote {args.out}")


if __name__ == "__main__":
    main()
