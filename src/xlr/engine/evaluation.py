"""Zero-shot evaluation: batched prediction per test set, accuracy per language and on average, and
the generalized (cross-language pair) matrices."""
from __future__ import annotations

import os
import tempfile

import numpy as np

from xlr.sources import MIXED_AVERAGE, is_mixed_pair
from xlr.tasks import PairSet
from xlr.engine.models import encode, longest_first
from xlr.machine import device
from xlr.settings import TrainSettings
from xlr.engine.training import collator


def mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


def prediction_trainer(model, tokenizer, settings: TrainSettings, callbacks=()):
    """A Trainer used only for `predict`: batching, device placement, bf16 and data parallelism."""
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    flags = device.trainer_flags(settings.precision)
    args = TrainingArguments(
        # nothing is saved; Trainer only needs a folder name
        output_dir=os.path.join(tempfile.gettempdir(), "xlr-predict"), per_device_eval_batch_size=settings.eval_batch_size,
        # no tracker here: train.report_to's trackers belong to the training Trainer, which receives the
        # test accuracies afterwards (training.log_to_trackers); a second Trainer would open a second run
        **flags, report_to="none", disable_tqdm=True, dataloader_pin_memory=not flags["use_cpu"],
        full_determinism=settings.deterministic)
    trainer = Trainer(model=model, args=args, processing_class=tokenizer,
                      data_collator=collator(tokenizer, deterministic=settings.deterministic),
                      callbacks=list(callbacks))
    trainer.remove_callback(PrinterCallback)
    return trainer


def predict(trainer, tokenizer, pairs: PairSet, max_length: int) -> np.ndarray:
    """Predicted class ids in the order of `pairs`. Batches are built from length-sorted rows (less padding)."""
    ds = encode(tokenizer, pairs, max_length).remove_columns("labels")
    order = longest_first(ds)
    out = trainer.predict(ds.select(order))
    logits = out.predictions[0] if isinstance(out.predictions, tuple) else out.predictions
    pred = np.empty(len(order), dtype=np.int64)
    pred[order] = np.asarray(logits).argmax(-1)
    return pred


def generalized_summary(matrix: dict[str, float]) -> dict[str, float]:
    """Averages of an `l1-l2 -> accuracy` matrix: over all pairs and over mixed pairs (l1 != l2)."""
    mixed = [acc for key, acc in matrix.items() if is_mixed_pair(key)]
    return {"avg": mean(matrix.values()), MIXED_AVERAGE: mean(mixed)}
