"""Fine-tuning: the paper's settings, a Trainer whose loss comes from an objective, and model selection
on the source-language dev set.

Trainer owns the loop, mixed precision, checkpointing and data parallelism; this module only says what is
special: the loss (a method's objective, xlr.methods), dev-only model selection, and checkpoints that survive `kill -9`.
"""
from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from transformers import Trainer, TrainerCallback

from xlr.machine import device
from xlr.machine import distributed
from xlr.settings import COMPILE_PAD_MULTIPLE, TrainSettings
from xlr.tasks import PairSet
from xlr.errors import XlrError
from xlr.engine.models import encode, longest_first
from xlr.methods.base import Objective, noise_generator
from xlr.store import RunDir

COMPLETE_MARK = "xlr-complete"
def fused_adamw_available() -> bool:
    """torch's fused AdamW: on CUDA, and on CPU from torch 2.4 (there it is ~4x faster than the loop, which
    matters because the embedding matrix of a multilingual vocabulary is most of the parameters)."""
    import torch

    if device.current().device == "cuda":
        return True
    major, minor = (int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
    return (major, minor) >= (2, 4)


def batch_layout(settings: TrainSettings) -> tuple[int, int]:
    """(per-device batch, gradient accumulation) that give the effective batch across all processes."""
    world = distributed.world_size()
    per_device = settings.per_device_batch_size or max(1, settings.batch_size // world)
    if settings.batch_size % (per_device * world):
        raise XlrError(f"effective batch {settings.batch_size} is not a multiple of per-device batch {per_device} "
                       f"x {world} processes; change train.batch_size or train.per_device_batch_size")
    return per_device, settings.batch_size // (per_device * world)


def accuracy(pred, gold) -> float:
    """Accuracy in percent (nan for no items)."""
    pred, gold = np.asarray(pred), np.asarray(gold)
    return 100.0 * float((pred == gold).mean()) if len(gold) else float("nan")


def accuracy_metric(eval_pred) -> dict:
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    return {"accuracy": accuracy(np.asarray(logits).argmax(-1), labels)}


class EvaluateAtEnd(TrainerCallback):
    """Make the final step a model-selection candidate too (the step count is rarely a multiple of eval_steps)."""

    def on_step_end(self, args, state, control, **kw):
        if state.global_step >= state.max_steps:
            control.should_evaluate = True
            control.should_save = True


class Interrupted(XlrError):
    """Training (or testing) stopped on request (`request_stop`): a scheduler's preemption or time-limit signal
    (the state saved: the same command resumes the run), or another worker that took the run over (nothing
    saved: that worker goes on with it)."""


_STOP = threading.Event()
_STOP_REASON = {"save": True, "why": "on request"}
_PROGRESS: dict = {"step": None, "total": None}


def request_stop(save: bool = True, why: str = "on request") -> None:
    """Ask the run training in this process to stop at the end of its current step, saving a checkpoint first
    when `save` (safe to call from a signal handler or another thread: it only sets flags)."""
    _STOP_REASON.update(save=save, why=why)
    _STOP.set()


def stop_reason() -> str:
    return _STOP_REASON["why"]


def stop_requested() -> bool:
    return _STOP.is_set()


def progress() -> tuple[int | None, int | None]:
    """(step, total steps) of the run training in this process; (None, None) when none is."""
    return _PROGRESS["step"], _PROGRESS["total"]


class StopWhenAsked(TrainerCallback):
    """Keeps progress() current, and on request_stop() saves a checkpoint at the end of the step and stops."""

    def on_train_begin(self, args, state, control, **kw):
        _PROGRESS.update(step=state.global_step, total=state.max_steps)

    def on_step_end(self, args, state, control, **kw):
        _PROGRESS.update(step=state.global_step, total=state.max_steps)
        if _STOP.is_set():
            control.should_save = _STOP_REASON["save"]
            control.should_training_stop = True

    def on_train_end(self, args, state, control, **kw):
        _PROGRESS.update(step=None, total=None)


class ShareCores(TrainerCallback):
    """Before every step and evaluation, re-divide the CPU cores if workers sharing them started or stopped
    (device.refresh: a glob of the run store's claims, cheap next to a training step)."""

    def on_step_begin(self, args, state, control, **kw):
        device.refresh()

    def on_prediction_step(self, args, state, control, **kw):
        if state.global_step % 10 == 0:
            device.refresh()


class MarkCheckpointComplete(TrainerCallback):
    """Trainer writes checkpoints in place; a marker written after the save tells complete ones apart."""

    def on_save(self, args, state, control, **kw):
        if args.should_save:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                (folder / COMPLETE_MARK).write_text(f"{state.global_step}\n")


class XlrTrainer(Trainer):
    """Trainer whose training loss comes from an objective (xlr.methods.METHODS): pass `objective=`.
    Evaluation, and training without an objective, use the model's own cross-entropy."""

    # objectives return a per-batch mean; Trainer divides it by the accumulation steps
    loss_is_scaled_for_ga = False

    def __init__(self, *args, objective: Objective | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.objective = objective
        self._micro_batch = (None, 0)  # (optimizer step, micro-batches seen in it)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.objective is None or not model.training:
            outputs = model(**inputs)
            loss = outputs.loss
        else:
            if self.args.full_determinism:  # the method's noise: drawn on the CPU from (seed, step, micro-batch)
                self.objective.generator = noise_generator(self.args.seed, self.state.global_step,
                                                           self._next_micro_batch(), self.args.process_index)
            loss, outputs = self.objective.loss(model, inputs)
        return (loss, outputs) if return_outputs else loss

    def _next_micro_batch(self) -> int:
        step, seen = self._micro_batch
        seen = seen + 1 if step == self.state.global_step else 0
        self._micro_batch = (self.state.global_step, seen)
        return seen


def complete_checkpoints(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and (p / COMPLETE_MARK).is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def discard_incomplete_checkpoints(folder: Path) -> None:
    """Remove checkpoints a killed process left half-written (rank 0 only)."""
    if not folder.is_dir() or not distributed.is_main_process():
        return
    for p in folder.glob("checkpoint-*"):
        if p.is_dir() and not (p / COMPLETE_MARK).is_file():
            shutil.rmtree(p, ignore_errors=True)


def training_arguments(settings: TrainSettings, seed: int, output_dir: Path, **extra):
    from transformers import TrainingArguments

    per_device, accumulation = batch_layout(settings)
    flags = device.trainer_flags(settings.precision)
    cuda = not flags["use_cpu"]
    kwargs = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        per_device_eval_batch_size=settings.eval_batch_size,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps or -1,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_steps,
        lr_scheduler_type="linear",
        max_grad_norm=settings.max_grad_norm,
        eval_strategy="steps",
        eval_steps=settings.eval_steps,
        save_strategy="steps",
        save_steps=settings.eval_steps,
        save_total_limit=1,  # Trainer keeps the best checkpoint besides the latest
        load_best_model_at_end=True,
        metric_for_best_model="accuracy",
        greater_is_better=True,
        logging_steps=max(1, min(50, settings.eval_steps)),
        seed=seed,
        **flags,
        optim="adamw_torch_fused" if fused_adamw_available() else "adamw_torch",
        report_to=report_to(settings),
        disable_tqdm=True,
        dataloader_pin_memory=cuda,
        save_only_model=False,
        # sequence classifiers use every parameter; skipping DDP's search for unused ones saves a graph walk
        ddp_find_unused_parameters=False,
        # train.deterministic: transformers' enable_full_determinism (deterministic algorithms, cuBLAS workspace)
        full_determinism=settings.deterministic,
        **compile_arguments(settings),
    )
    kwargs.update(extra)
    field_names = {f.name for f in dataclasses.fields(TrainingArguments)}
    if "logging_dir" in field_names:  # transformers 4: TensorBoard writes there (5: TensorBoardCallback.logging_dir)
        kwargs.setdefault("logging_dir", str(RunDir(Path(output_dir).parent).logs_dir))
    if "train_sampling_strategy" in field_names:
        kwargs["train_sampling_strategy"] = "group_by_length" if settings.group_by_length else "random"
    else:  # transformers before the sampling-strategy option
        kwargs["group_by_length"] = settings.group_by_length
    return TrainingArguments(**kwargs)


def report_to(settings: TrainSettings) -> str | list[str]:
    """train.report_to for TrainingArguments: "none", or a list of the integrations transformers knows."""
    names = [n.strip() for n in settings.report_to.split(",") if n.strip()]
    if names in ([], ["none"]):
        return "none"
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    unknown = [n for n in names if n != "all" and n not in INTEGRATION_TO_CALLBACK]
    if unknown:
        raise XlrError(f"train.report_to: unknown integration {', '.join(unknown)}; transformers supports "
                       f"{', '.join(sorted(INTEGRATION_TO_CALLBACK))}, all or none")
    return names


def log_to_trackers(trainer, config: dict, test: dict) -> None:
    """A run's resolved configuration and its per-language test accuracies, to the trackers of
    train.report_to: the accuracies as scalars through Trainer.log (every integration), the configuration
    as text (TensorBoard), run config (W&B) or an artifact (MLflow)."""
    import json

    # Trainer's integrations file keys that start with "test_" under "test/" (TensorBoard: test/standard_de)
    scalars = {f"test_{setting}_{lang}": float(acc) for setting, accs in test.items() if setting == "standard"
               for lang, acc in accs.items()}
    trainer.log(scalars)
    text = json.dumps(config, indent=2, default=str)
    for callback in trainer.callback_handler.callbacks:
        kind = type(callback).__name__
        if kind == "TensorBoardCallback" and getattr(callback, "tb_writer", None) is not None:
            callback.tb_writer.add_text("xlr/config", f"```\n{text}\n```")
            callback.tb_writer.flush()
        elif kind == "WandbCallback" and getattr(getattr(callback, "_wandb", None), "run", None) is not None:
            callback._wandb.config.update({"xlr": config}, allow_val_change=True)
        elif kind == "MLflowCallback" and getattr(callback, "_ml_flow", None) is not None:
            callback._ml_flow.log_dict(config, "xlr-config.json")


def collator(tokenizer, compiled: bool = False, deterministic: bool = False):
    """Dynamic padding: to the batch's longest pair; on CUDA to a multiple of 8 (tensor cores); compiled, to a
    multiple of 32, so that at most max_length / 32 shapes reach the compiler; deterministic, to a multiple of 8
    on every device, so that a batch has the same shape on the CPU and on a GPU."""
    from transformers import DataCollatorWithPadding

    multiple = COMPILE_PAD_MULTIPLE if compiled else 8 if deterministic or device.current().device == "cuda" else None
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=multiple)


def host_compiler(cuda: bool = False) -> str | None:
    """The compiler torch.compile needs on this device, or None: on the CPU the C++ compiler that inductor
    builds kernels with; on CUDA the C compiler that Triton builds its kernel launchers with."""
    import os

    # exactly what they try: inductor $CXX or else g++; Triton $CC, or else gcc, then clang
    names = ([os.environ["CC"]] if os.environ.get("CC") else ["gcc", "clang"]) if cuda else \
        [os.environ.get("CXX") or "g++"]
    return next((found for name in names for found in [shutil.which(name)] if found), None)


def compile_arguments(settings: TrainSettings) -> dict:
    """TrainingArguments for train.compile: Trainer compiles the model (accelerate's dynamo plugin)."""
    if settings.compile == "off":
        return {}
    cuda = device.current().device == "cuda"
    if settings.compile == "graphs" and not cuda:
        raise XlrError("train.compile = graphs captures CUDA graphs and needs a GPU; use train.compile = default "
                       "on the CPU")
    if not host_compiler(cuda):
        need = "a C compiler for Triton's launchers ($CC, else gcc or clang)" if cuda else \
            "a C++ compiler for inductor's kernels ($CXX, else g++)"
        raise XlrError(f"train.compile needs {need}, and none was found: install one (apt install "
                       f"{'gcc' if cuda else 'g++'}; the xlr image has none) or set train.compile = off")
    # compiled dropout draws from torch's own generators, as eager does: ADV's and FreeLB's shared masks restore
    # the random-number state before each pass, and inductor's own generator would ignore that
    import torch._inductor.config

    torch._inductor.config.fallback_random = True
    # Trainer turns on TF32 matmuls when it compiles fp32 training; keep fp32 the same arithmetic as eager
    return {"torch_compile": True, "torch_compile_backend": "inductor", "tf32": False,
            "torch_compile_mode": "reduce-overhead" if settings.compile == "graphs" else None}


@dataclass
class FitResult:
    dev_curve: list[dict]
    loss_curve: list[dict]          # training loss, averaged over each logging interval
    best_step: int | None
    best_dev_accuracy: float | None
    steps: int
    train_examples: int
    seconds: float
    resumed_from: int = 0           # the step of the checkpoint this process resumed from (0: from the start)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def fit(model, tokenizer, objective: Objective, train_set: PairSet, dev_set: PairSet, settings: TrainSettings,
        seed: int, work_dir: Path, progress_label: str = "train"):
    """Train with model selection on `dev_set`; resumes from the last complete checkpoint in `work_dir`.

    Returns the Trainer (holding the best model) and a FitResult.
    """
    from xlr.engine.callbacks import RichProgressCallback

    run = RunDir(work_dir)  # the store owns the run folder's layout
    checkpoints = run.checkpoints_dir
    args = training_arguments(settings, seed, checkpoints)
    with args.main_process_first(desc="discard incomplete checkpoints"):
        discard_incomplete_checkpoints(checkpoints)
    with distributed.main_process_first():  # one rank per machine tokenises; the others map its Arrow files
        train_ds = encode(tokenizer, train_set, settings.max_length, cache_dir=run.tokenized_dir)
        dev_ds = encode(tokenizer, dev_set, settings.max_length, cache_dir=run.tokenized_dir)
    # accuracy does not depend on the order: length-sorted dev batches carry little padding
    dev_ds = dev_ds.select(longest_first(dev_ds))
    progress = RichProgressCallback(progress_label)
    trainer = XlrTrainer(
        model=model, args=args, train_dataset=train_ds, eval_dataset=dev_ds, processing_class=tokenizer,
        data_collator=collator(tokenizer, settings.compile != "off", settings.deterministic),
        compute_metrics=accuracy_metric,
        objective=objective,
        callbacks=[EvaluateAtEnd(), MarkCheckpointComplete(), ShareCores(), StopWhenAsked(), progress],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    for callback in trainer.callback_handler.callbacks:  # TensorBoard's events go into the run folder, kept
        if type(callback).__name__ == "TensorBoardCallback":
            callback.logging_dir = str(run.logs_dir)
    resume = complete_checkpoints(checkpoints)
    start = time.time()
    try:
        trainer.train(resume_from_checkpoint=str(resume[-1]) if resume else None)
    finally:
        progress.close()
    seconds = time.time() - start
    if _STOP.is_set():
        saved = "its checkpoint saved" if _STOP_REASON["save"] else "nothing saved"
        raise Interrupted(f"stopped at step {trainer.state.global_step} {_STOP_REASON['why']}, {saved}")
    resumed = int(resume[-1].name.split("-")[-1]) if resume else 0
    curve = [{"step": int(h["step"]), "accuracy": float(h["eval_accuracy"])}
             for h in trainer.state.log_history if "eval_accuracy" in h]
    losses = [{"step": int(h["step"]), "loss": round(float(h["loss"]), 4)}
              for h in trainer.state.log_history if "loss" in h]
    if trainer.state.best_global_step is None or not curve:
        raise XlrError("training ran no dev evaluation; check train.epochs / train.max_steps / train.eval_steps")
    result = FitResult(
        dev_curve=curve,
        loss_curve=losses,
        best_step=int(trainer.state.best_global_step),
        best_dev_accuracy=float(trainer.state.best_metric),
        steps=int(trainer.state.global_step),
        train_examples=len(train_set),
        seconds=round(seconds, 2),
        resumed_from=resumed,
    )
    return trainer, result
