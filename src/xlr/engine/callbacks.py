"""Trainer callbacks: progress bars for training, or plain lines where the output is not a terminal."""
from __future__ import annotations

import time

from rich.progress import Progress
from transformers import TrainerCallback

from xlr.machine.distributed import is_main_process
from xlr.machine.progress import PLAIN_PROGRESS_SECONDS, console, new_progress, say


class RichProgressCallback(TrainerCallback):
    """Trainer callback: a bar for the training steps, one per prediction pass, a line per dev evaluation."""

    def __init__(self, label: str = "predict"):
        self.label = label
        self.progress: Progress | None = None
        self.train_task = None
        self.predict_task = None

    def _ensure(self):
        if self.progress is None:
            self.progress = new_progress()
            self.progress.start()
        return self.progress

    def on_train_begin(self, args, state, control, **kw):
        p = self._ensure()
        self.train_task = p.add_task(self.label, total=state.max_steps, completed=state.global_step)
        self._start, self._start_step, self._last_line = time.time(), state.global_step, time.time()

    def on_step_end(self, args, state, control, **kw):
        if self.train_task is not None:
            self.progress.update(self.train_task, completed=state.global_step)
            if not console.is_terminal:
                self._plain_line(state)

    def _plain_line(self, state) -> None:
        """Without a terminal (nohup, a batch job's log) the bar is invisible: a progress line every minute."""
        now = time.time()
        if now - self._last_line < PLAIN_PROGRESS_SECONDS and state.global_step < state.max_steps:
            return
        self._last_line = now
        done = state.global_step - self._start_step
        rate = (now - self._start) / done if done else 0.0
        eta = rate * (state.max_steps - state.global_step)
        say(f"  {self.label}: step {state.global_step}/{state.max_steps}, {rate:.1f} s/step, "
            f"eta {int(eta // 60)}m{int(eta % 60):02d}s")

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kw):
        p = self._ensure()
        if self.predict_task is None:
            total = len(eval_dataloader) if eval_dataloader is not None and hasattr(eval_dataloader, "__len__") else None
            self.predict_task = p.add_task(f"  {self.label}", total=total)
        p.advance(self.predict_task)

    def _end_prediction(self):
        if self.predict_task is not None:
            self.progress.remove_task(self.predict_task)
            self.predict_task = None

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        self._end_prediction()
        if metrics and "eval_accuracy" in metrics and is_main_process():
            self.progress.console.print(
                f"  step {state.global_step:>6}: source dev accuracy {metrics['eval_accuracy']:.2f}")

    def on_predict(self, args, state, control, **kw):
        self._end_prediction()

    def on_train_end(self, args, state, control, **kw):
        self.close()

    def close(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
            self.train_task = self.predict_task = None
