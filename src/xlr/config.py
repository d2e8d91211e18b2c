"""The configuration layer: the `[train]` schema and how its values are checked and layered.

`TrainConfig` is every training setting with its default (the paper's scripts); a task file's `[train]`
table overrides the defaults, and an experiment's `[train]` table (then a profile, `--overrides` files and
`--set`) overrides the task's: `protocol_for`. `coerce` checks one value against a field's type and is the
one type check of experiments, tasks and method options. Nothing here imports torch.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from xlr.errors import XlrError

# an experiment's `tolerance` where it sets none: accuracy points per language and for the average
DEFAULT_TOLERANCE = {"language": 2.0, "average": 1.0}
# train.precision: auto (native bf16 GPU: bf16; older GPU: fp16; CPU: fp32) or one forced
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
# train.pooling: the model's own classification head (cls, the paper's) or heads.MeanPoolingClassifier
POOLING = ("cls", "mean")


@dataclass
class TrainConfig:
    """Training settings. Defaults are the paper's scripts (XTREME-style fine-tuning of mBERT)."""

    learning_rate: float = 2e-5
    epochs: float = 3.0
    batch_size: int = 32                      # effective batch: per device x processes x accumulation
    per_device_batch_size: int | None = None  # default: batch_size / processes (no accumulation)
    max_length: int = 128
    weight_decay: float = 0.0
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    eval_steps: int = 500                     # evaluate on source dev and save a checkpoint this often
    eval_batch_size: int = 128
    precision: str = "auto"                   # auto (native bf16 GPU: bf16; older GPU: fp16; CPU: fp32), bf16, fp16, fp32
    # length-grouped batches pad less but change the order statistics; off by default: in our CPU runs they
    # delayed PAWS's exit from the majority-class plateau (bench/README.md), and the paper's order is random
    group_by_length: bool = False
    max_train_examples: int | None = None     # first N training pairs (before RS-DA augmentation)
    max_dev_examples: int | None = None       # first N source-dev pairs (CPU-sized runs)
    max_steps: int | None = None              # stop early (quick checks); overrides epochs
    pooling: str = "cls"                      # classifier input: the model's own head (cls) or mean pooling
    report_to: str = "none"                   # Trainer's integrations, comma-separated: tensorboard, wandb, mlflow, ...

    def __post_init__(self):
        for f in dataclasses.fields(self):
            setattr(self, f.name, coerce(f"train.{f.name}", getattr(self, f.name), f.type))
        if self.precision not in PRECISIONS:
            raise XlrError(f"train.precision must be one of {', '.join(PRECISIONS)}, not '{self.precision}'")
        if self.pooling not in POOLING:
            raise XlrError(f"train.pooling must be cls (the model's own classification head, as in the paper) "
                           f"or mean (mean of the last hidden states), not '{self.pooling}'")
        for name in ("batch_size", "max_length", "eval_steps", "eval_batch_size"):
            if int(getattr(self, name)) <= 0:
                raise XlrError(f"train.{name} must be positive, not {getattr(self, name)}")
        if self.epochs <= 0 and not self.max_steps:
            raise XlrError("train.epochs must be positive")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]


def coerce(key: str, value, annotation):
    """`value` checked against a field's annotation ("float", "int | None", "bool", "str"); ints count as
    floats. A wrong type is an XlrError that names the key and the expected type."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    kinds = [k.strip() for k in text.split("|")]
    if value is None and "None" in kinds:
        return None
    base = next(k for k in kinds if k != "None")
    ok = {"float": isinstance(value, (int, float)) and not isinstance(value, bool),
          "int": isinstance(value, int) and not isinstance(value, bool),
          "bool": isinstance(value, bool), "str": isinstance(value, str)}.get(base, True)
    if not ok:
        names = {"float": "a number", "int": "an integer", "bool": "true or false", "str": "a string"}
        raise XlrError(f"{key} = {value!r}: expected {names.get(base, base)}"
                       + (" (or leave it unset)" if "None" in kinds else ""))
    return float(value) if base == "float" else value


def protocol_for(task, overrides: dict | None = None) -> TrainConfig:
    """The protocol: the defaults above, then the task's own `[train]` table (a Task or a task name; where the
    paper's scripts differ by task, e.g. XNLI's 1 epoch), then `overrides` (the experiment's [train] table)."""
    from xlr.data import get_task

    task = get_task(task)
    unknown = sorted(set(task.train) - set(TrainConfig.field_names()))
    if unknown:
        raise XlrError(f"{task.origin}: unknown training setting train.{unknown[0]}; valid: "
                       f"{', '.join(TrainConfig.field_names())}")
    values = {**task.train, **(overrides or {})}
    unknown = sorted(set(values) - set(TrainConfig.field_names()))
    if unknown:
        raise XlrError(f"unknown training setting {', '.join(unknown)}; valid: {', '.join(TrainConfig.field_names())}")
    return TrainConfig(**values)
