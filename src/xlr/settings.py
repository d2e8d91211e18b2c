"""The configuration layer: the `[train]` schema and how its values are checked and layered.

`TrainSettings` is every training setting with its default (the paper's scripts); a task file's `[train]`
table overrides the defaults, and an experiment's `[train]` table (then a profile, `--overrides` files and
`--set`) overrides the task's: `train_settings_for`. `coerce` checks one value against a field's type and is the
one type check of experiments, tasks and method options. Nothing here imports torch.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from xlr.errors import XlrError

# an experiment's `tolerance` where it sets none: accuracy points per language and for the average
DEFAULT_TOLERANCE = {"language": 2.0, "average": 1.0}
# train.precision: auto (native bf16 GPU: bf16; older GPU: fp16; CPU: fp32) or one forced
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
# train.pooling: the model's own classification head (cls, the paper's) or heads.MeanPoolingClassifier
POOLING = ("cls", "mean")
# train.compile: eager, torch.compile (inductor), or torch.compile with CUDA graphs (mode reduce-overhead)
COMPILE = ("off", "default", "graphs")
# with compile on, batch lengths are padded to multiples of this, so that few shapes reach the compiler
COMPILE_PAD_MULTIPLE = 32


def setting(default, help: str):
    """A training setting: its default and the help text of its generated flag (`--name-with-dashes`)."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclass
class TrainSettings:
    """Training settings. Defaults are the paper's scripts (XTREME-style fine-tuning of mBERT). Every field is a
    `[train]` key, a `--set train.KEY=VALUE`, and a flag of `xlr train`, `reproduce` and `sweep`."""

    learning_rate: float = setting(2e-5, "Peak learning rate, linear decay (paper: 2e-5).")
    epochs: float = setting(3.0, "Training epochs (paper: 3 for PAWS-X, 1 for XNLI).")
    batch_size: int = setting(32, "Effective batch size: per device x processes x accumulation (paper: 32).")
    per_device_batch_size: int | None = setting(None, "Batch per device; the rest is gradient accumulation "
                                                      "(default: batch size / processes).")
    max_length: int = setting(128, "Longest input in tokens (paper: 128).")
    weight_decay: float = setting(0.0, "AdamW weight decay.")
    warmup_steps: int = setting(0, "Linear warm-up steps.")
    max_grad_norm: float = setting(1.0, "Gradient-norm clipping.")
    eval_steps: int = setting(500, "Evaluate on source dev and save a checkpoint every N steps (paper: 500, "
                                   "XNLI 1000).")
    eval_batch_size: int = setting(128, "Batch size for prediction.")
    precision: str = setting("auto", "auto (native bf16 GPU: bf16; older GPU: fp16; CPU: fp32), bf16, fp16 or fp32.")
    # length-grouped batches pad less but change the order statistics; off by default: in our CPU runs they
    # delayed PAWS's exit from the majority-class plateau (docs/choosing-defaults.md), and the paper's order is random
    group_by_length: bool = setting(False, "Batches of similar length: less padding, a different order "
                                           "(off: the paper's order is random).")
    max_train_examples: int | None = setting(None, "Train on the first N training pairs (before RS-DA's "
                                                   "augmentation).")
    max_dev_examples: int | None = setting(None, "Select the model on the first N source-dev pairs.")
    max_steps: int | None = setting(None, "Stop after N optimizer steps (quick checks); overrides epochs.")
    pooling: str = setting("cls", "Classifier input: cls (the model's own head, the paper's) or mean (mean of "
                                  "the last hidden states, for sentence encoders such as e5).")
    compile: str = setting("off", "torch.compile the model: off, default (inductor), or graphs (also CUDA graphs, "
                                  "GPU only); lengths are then padded to multiples of 32 so that shapes stay few.")
    report_to: str = setting("none", "Experiment tracking: transformers' integrations, comma-separated, e.g. "
                                     "tensorboard (events in each run's logs/), wandb, mlflow, or none.")
    deterministic: bool = setting(False, "Repeatable runs: deterministic kernels (slower on a GPU), batches padded "
                                         "the same way on every device, and each method's noise drawn on the CPU "
                                         "from (seed, step, micro-batch), the same on every device.")

    def __post_init__(self):
        for f in dataclasses.fields(self):
            setattr(self, f.name, coerce(f"train.{f.name}", getattr(self, f.name), f.type))
        if self.precision not in PRECISIONS:
            raise XlrError(f"train.precision must be one of {', '.join(PRECISIONS)}, not '{self.precision}'")
        if self.compile not in COMPILE:
            raise XlrError(f"train.compile must be one of {', '.join(COMPILE)}, not '{self.compile}'")
        if self.pooling not in POOLING:
            raise XlrError(f"train.pooling must be cls (the model's own classification head, as in the paper) "
                           f"or mean (mean of the last hidden states), not '{self.pooling}'")
        for name in ("batch_size", "max_length", "eval_steps", "eval_batch_size", "per_device_batch_size",
                     "max_train_examples", "max_dev_examples"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise XlrError(f"train.{name} must be positive, not {value}")
        if self.max_steps is not None and self.max_steps < 0:  # 0, like unset, trains train.epochs
            raise XlrError(f"train.max_steps must be >= 0, not {self.max_steps}; leave it unset to train train.epochs")
        for name in ("learning_rate", "weight_decay", "warmup_steps", "max_grad_norm", "epochs"):
            value = getattr(self, name)
            if not math.isfinite(value) or (value < 0 and name != "epochs"):
                raise XlrError(f"train.{name} must be a finite number >= 0, not {value}")
        if self.epochs <= 0 and not self.max_steps:
            raise XlrError("train.epochs must be positive")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def flags(cls) -> list[tuple[str, str, object, str]]:
        """(field, type annotation, default, help) per setting, in declaration order: the CLI's training flags."""
        return [(f.name, f.type if isinstance(f.type, str) else f.type.__name__, f.default, f.metadata["help"])
                for f in dataclasses.fields(cls)]


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
