"""xlr's Trainer path takes the same optimizer steps as a plain PyTorch loop with the paper's settings
(AdamW, linear decay, no warmup, clip 1.0, mean cross-entropy over the effective batch), with and without
gradient accumulation. Dropout is off and the batch order fixed, so any difference is the loop's."""
import copy
from pathlib import Path

import pytest
import torch

from xlr.tasks import TASKS
from xlr.sources import LocalSource, fixture_dir
from xlr.engine.models import encode, load_model
from xlr.methods.base import CrossEntropy
from xlr.tasks import train_settings_for
from xlr.engine.training import XlrTrainer, collator, training_arguments

BATCH, STEPS, LR = 8, 4, 1e-3


def _no_dropout(model):
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    return model


def _plain_loop(model, tokenizer, dataset):
    col = collator(tokenizer)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0, eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, (STEPS - s) / STEPS))
    model.train()
    losses = []
    for s in range(STEPS):
        batch = col([dataset[i] for i in range(BATCH * s, BATCH * (s + 1))])
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


def _xlr_trainer(model, tokenizer, dataset, per_device, tmp_path):
    protocol = train_settings_for("pawsx", {"max_steps": STEPS, "batch_size": BATCH, "per_device_batch_size": per_device,
                                      "learning_rate": LR, "eval_steps": 1000})
    args = training_arguments(protocol, 7, Path(tmp_path), eval_strategy="no", save_strategy="no",
                              load_best_model_at_end=False, logging_steps=1, optim="adamw_torch")

    class InOrder(XlrTrainer):
        def _get_train_sampler(self, *a, **kw):
            return torch.utils.data.SequentialSampler(self.train_dataset)

    trainer = InOrder(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                      data_collator=collator(tokenizer), objective=CrossEntropy())
    trainer.remove_callback(__import__("transformers").trainer_callback.PrinterCallback)
    trainer.train()
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


@pytest.mark.parametrize("per_device", [BATCH, BATCH // 2], ids=["one-batch", "accumulate-2"])
def test_trainer_steps_equal_a_plain_loop(tmp_path, per_device):
    task = TASKS["pawsx"]
    train = LocalSource(fixture_dir()).load(task, "train", "en").head(BATCH * STEPS)
    model, tok = load_model("builtin:tiny-bert", task, seed=7, tokenizer_texts=train.sentence1 + train.sentence2)
    model = _no_dropout(model)
    plain = copy.deepcopy(model)
    dataset = encode(tok, train, 64)

    logged = _xlr_trainer(model, tok, dataset, per_device, tmp_path)
    reference = _plain_loop(plain, tok, dataset)

    assert len(logged) == STEPS
    assert logged == pytest.approx(reference, abs=1e-4)
    worst = max((a - b).abs().max().item() for a, b in zip(model.parameters(), plain.parameters()))
    assert worst < 1e-5
    moved = max((a - b).abs().max().item() for a, b in
                zip(model.parameters(), load_model("builtin:tiny-bert", task, seed=7,
                                                   tokenizer_texts=train.sentence1 + train.sentence2)[0].parameters()))
    assert moved > 1e-4  # the comparison is not vacuous: training changed the weights
