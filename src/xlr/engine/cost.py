"""What an experiment costs before it runs: optimizer steps per method, the disk its checkpoints need, and
(`xlr doctor`; its time there comes from a few steps timed by xlr.engine.throughput).

Steps come from the training pairs (a local file's rows, or the train split's size that the task file
states), the methods' own multipliers (RS-DA trains on `copies` augmented pairs per pair), the batch size
and the epochs. Disk comes from the model's parameter count: a Trainer checkpoint holds fp32 weights and
AdamW's two moments (12 bytes per parameter); up to three exist while a new one is saved (the best, the
latest and the new), and each finished run keeps its best model (4 bytes per parameter).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from xlr.sources import open_source
from xlr.experiments import Experiment

CHECKPOINT_BYTES_PER_PARAM = 12   # fp32 weights + AdamW exp_avg + exp_avg_sq
MODEL_BYTES_PER_PARAM = 4         # the published model/ (fp32 safetensors)
CHECKPOINTS_AT_ONCE = 3           # best + latest (save_total_limit=1 keeps both) + the one being written


@dataclass
class MethodCost:
    method: str
    pairs: int | None            # training pairs after the method's transform (RS-DA's copies)
    steps: int | None            # optimizer steps
    seconds_per_step: float | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.steps is None or self.seconds_per_step is None else self.steps * self.seconds_per_step


def training_pairs(exp: Experiment) -> int | None:
    """The number of training pairs, without downloading: a local file's rows, or the task's stated size."""
    settings = exp.train_settings()
    n = None
    if exp.train_file:
        n = _rows(Path(exp.train_file).expanduser())
    elif exp.data not in (None, "hub"):
        source = open_source(exp.data)
        split = "dev" if exp.train_split == "dev" else "train"
        path = source.folder(exp.task_def) / f"{split}-{exp.source_language}.tsv"
        n = _rows(path)
        if n is not None and exp.train_split == "dev":
            n = max(0, n - (settings.max_dev_examples or 0))
    elif exp.task_def.hub is not None:
        n = exp.task_def.hub.train_rows
    if n is not None and settings.max_train_examples:
        n = min(n, settings.max_train_examples)
    return n


def _rows(path: Path) -> int | None:
    try:
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return None


def copies(method: str, options: dict) -> int:
    """How many training pairs a method makes of one pair (RS-DA's `copies`; 1 for the others)."""
    from xlr.methods import get_method

    return int(options.get("copies", 1)) if get_method(method).transform is not None else 1


def plan(exp: Experiment) -> list[MethodCost]:
    """Steps per method of one seed (each seed costs the same)."""
    settings = exp.train_settings()
    pairs = training_pairs(exp)
    out = []
    for spec in exp.runs():
        if spec.seed != exp.seeds[0]:
            continue
        n = None if pairs is None else pairs * copies(spec.method, spec.options)
        if settings.max_steps:
            steps = settings.max_steps
        elif n is None:
            steps = None
        else:
            steps = math.ceil(math.ceil(n / settings.batch_size) * settings.epochs)
        out.append(MethodCost(spec.method, n, steps))
    return out


def model_config(spec: str, task, local_only: bool = False):
    """The model's config (a download of config.json only, or the cached one when `local_only`), or None when
    it cannot be had here."""
    from xlr.engine.models import BUILTIN_TINY_BERT, TINY_BERT, TINY_VOCAB, _label_maps, looks_like_path

    id2label, label2id = _label_maps(task)
    labels = dict(num_labels=len(task.labels), id2label=id2label, label2id=label2id)
    if spec == BUILTIN_TINY_BERT:
        from transformers import BertConfig

        return BertConfig(vocab_size=TINY_VOCAB, **labels, **TINY_BERT)
    from transformers import AutoConfig

    try:
        folder = Path(spec).expanduser() if looks_like_path(spec) else spec
        return AutoConfig.from_pretrained(str(folder), local_files_only=local_only, **labels)
    except (OSError, ValueError):
        return None


def build_untrained(config, pooling: str):
    """The experiment's classifier with random weights (the step time does not depend on their values)."""
    from transformers import AutoModelForSequenceClassification

    from xlr.engine.heads import MeanPoolingClassifier

    if pooling == "mean":
        return MeanPoolingClassifier(config)
    return AutoModelForSequenceClassification.from_config(config)


def parameter_count(config, pooling: str = "cls") -> int:
    import torch

    with torch.device("meta"):
        model = build_untrained(config, pooling)
    return sum(p.numel() for p in model.parameters())


def disk_bytes(parameters: int, runs: int, workers: int = 1) -> dict:
    """Checkpoint peak of the runs training at once, and the best models that finished runs keep."""
    checkpoint = parameters * CHECKPOINT_BYTES_PER_PARAM
    return {"checkpoint": checkpoint, "training_peak": workers * CHECKPOINTS_AT_ONCE * checkpoint,
            "kept_models": runs * parameters * MODEL_BYTES_PER_PARAM}


def human_bytes(n: float) -> str:
    unit = "B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000:
            break
        n /= 1000 if unit != "TB" else 1
    return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"


def human_seconds(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"
