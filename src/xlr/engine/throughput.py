"""Training throughput on this device (`xlr bench throughput`): examples and tokens per second, the model
FLOP/s they mean and the MFU (model FLOPs utilisation) of xlr's training step, per method, and on request a
torch.profiler trace of a few steps with the share of their time spent in operators.

The steps are `xlr train`'s: the Trainer subclass with the method's objective, the settings's precision,
optimizer and gradient clipping, without evaluations or checkpoints. The model is the given one's
architecture with random weights (only its config is read; speed does not depend on the weights), and the
batches are random token ids at one fixed length, so that the FLOPs are exact.

Model FLOPs follow nanoGPT's `estimate_mfu` (PaLM, appendix B): 6 N + 12 L H Q T per token and forward
pass, N the non-embedding parameters, L layers, H heads, Q the head size, T the sequence length. The forward
passes are counted during the steps, not assumed: ADV's attack pass and R3F's doubled batch count, and each
pass is taken to have its backward (ADV's attack differentiates to the input only, so its MFU is slightly
flattering). MFU is the achieved model FLOP/s over the device's dense bf16/fp16 peak.
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from xlr.settings import TrainSettings
from xlr.machine import device

# dense bf16/fp16 tensor-core peak in TFLOP/s, by device name (the first match wins, so the specific form
# factors come first: an H100 PCIe is not an SXM's 989)
PEAK_TFLOPS = {"H100 PCIe": 756, "H100 NVL": 835, "H100": 989, "H200 NVL": 835, "H200": 989, "GH200": 989,
               "B200": 2250, "A100": 312, "L40S": 362, "L40": 181, "L4": 121, "A10": 125, "RTX 4090": 165, "V100": 125}


@dataclass
class Profile:
    steps: int
    wall_ms: float            # per step
    busy_ms: float            # per step: CUDA kernel time on a GPU, aten operator time on the CPU
    busy_what: str            # "CUDA kernels" or "operators"
    trace: str                # the chrome trace (chrome://tracing, https://ui.perfetto.dev)

    @property
    def busy_share(self) -> float:
        return self.busy_ms / self.wall_ms if self.wall_ms else float("nan")


@dataclass
class Throughput:
    method: str
    steps: int
    seconds: float
    batch_size: int
    seq_length: int
    passes_per_step: float    # forward passes over the batch per optimizer step
    model_tflop_per_step: float
    peak_memory_mib: float | None
    peak_tflops: float | None
    profile: Profile | None = None

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.seconds / self.steps

    @property
    def examples_per_s(self) -> float:
        return self.steps * self.batch_size / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.examples_per_s * self.seq_length

    @property
    def achieved_tflops(self) -> float:
        return self.model_tflop_per_step * self.steps / self.seconds

    @property
    def mfu(self) -> float | None:
        return None if not self.peak_tflops else self.achieved_tflops / self.peak_tflops

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(ms_per_step=self.ms_per_step, examples_per_s=self.examples_per_s, tokens_per_s=self.tokens_per_s,
                   achieved_tflops=self.achieved_tflops, mfu=self.mfu)
        if self.profile:
            out["profile"]["busy_share"] = self.profile.busy_share
        return out


def peak_tflops(device_name: str, precision: str) -> float | None:
    """The dense half-precision peak of a known GPU, or None (a CPU, an unknown GPU, or fp32 training)."""
    if precision not in ("bf16", "fp16"):
        return None
    return next((v for k, v in PEAK_TFLOPS.items() if k in device_name), None)


def read_rates(path: Path, batch_size: int, methods: list[str]) -> tuple[dict[str, float], str]:
    """Seconds per optimizer step for each of `methods`, from a throughput.json of `xlr bench throughput`
    measured at `batch_size`, and a line saying what was measured (model, compile, device)."""
    from xlr.errors import XlrError
    from xlr.files import read_json

    remeasure = "write one with `xlr bench throughput --out DIR`"
    data = read_json(Path(path), fix=remeasure)
    try:
        measured = {r["method"]: float(r["ms_per_step"]) / 1000 for r in data["results"]}
        if not all(math.isfinite(v) and v > 0 for v in measured.values()):
            raise ValueError("a step time that is not a positive number")
        at = int(data["batch_size"])
        what = f"{data['model']}, compile {data.get('compile', 'off')}, on {data['device']['name']}"
    except (KeyError, TypeError, ValueError, AttributeError):
        raise XlrError(f"{path} is not a throughput.json of `xlr bench throughput`; {remeasure}") from None
    if at != batch_size:
        raise XlrError(f"{path} was measured at batch {at}, and the experiment trains at batch {batch_size}: "
                       f"measure with `xlr bench throughput --batch-size {batch_size}`")
    missing = [m for m in methods if m not in measured]
    if missing:
        raise XlrError(f"{path} has no rate for {', '.join(missing)}: measure with "
                       f"`xlr bench throughput --methods {','.join(methods)}`")
    return {m: measured[m] for m in methods}, what


def usable_positions(config) -> int | None:
    """The longest input the model's position embeddings take (RoBERTa-style models offset positions by the
    padding index + 1), or None when the config does not say."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return None
    roberta_like = getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert")
    return positions - ((getattr(config, "pad_token_id", 0) or 0) + 1 if roberta_like else 0)


def torch_gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def non_embedding_parameters(model) -> int:
    """Parameters outside the embedding tables (a lookup costs no multiply-adds)."""
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


def flop_per_token(config, non_embedding: int, seq_length: int) -> float:
    """nanoGPT's estimate_mfu per token of one forward and backward pass: 6 N + 12 L H Q T."""
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    return 6 * non_embedding + 12 * layers * heads * (config.hidden_size // heads) * seq_length


def random_batches(config, rows: int, seq_length: int, seed: int):
    """`rows` random examples of exactly `seq_length` tokens (no padding), as a datasets.Dataset."""
    import torch
    from datasets import Dataset

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, config.vocab_size, (rows, seq_length), generator=g)
    labels = torch.randint(0, config.num_labels, (rows,), generator=g)
    return Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": [[1] * seq_length] * rows,
                              "labels": labels.tolist()})


def synchronize() -> None:
    """Wait for the GPU's queued work (nothing on the CPU): before reading a clock."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def peak_memory_mib() -> float | None:
    """Peak GPU memory allocated by torch, or on the CPU the process's resident high-water mark (VmHWM)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    try:  # the process's resident high-water mark so far (on the CPU, methods measured later include earlier)
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None


def _window_callback(warmup: int, steps: int, profile_steps: int):
    """A Trainer callback that times steps [warmup, warmup + steps) and profiles the `profile_steps` after."""
    from transformers import TrainerCallback

    class Window(TrainerCallback):
        t0 = seconds = profile_seconds = 0.0
        rows_at_start = rows_at_end = 0
        profiler = None

        def __init__(self, rows_counter):
            self.rows = rows_counter

        def on_step_begin(self, args, state, control, **kw):
            if state.global_step == warmup:
                synchronize()
                self.rows_at_start, self.t0 = self.rows[0], time.perf_counter()
            if profile_steps and state.global_step == warmup + steps:
                import torch

                activities = [torch.profiler.ProfilerActivity.CPU]
                if torch.cuda.is_available() and torch.cuda.is_initialized():
                    activities.append(torch.profiler.ProfilerActivity.CUDA)
                self.profiler = torch.profiler.profile(activities=activities)
                self.profiler.start()
                self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            if state.global_step == warmup + steps:
                synchronize()
                self.seconds, self.rows_at_end = time.perf_counter() - self.t0, self.rows[0]
            if self.profiler is not None and state.global_step == warmup + steps + profile_steps:
                synchronize()
                self.profile_seconds = time.perf_counter() - self.t0
                self.profiler.stop()

    return Window


def _profile_summary(profiler, seconds: float, steps: int, cuda: bool, trace: Path) -> Profile:
    events = profiler.key_averages()
    if cuda:  # the kernels' own events: an operator's device time counts its kernels a second time
        kernels = [e for e in events if "CPU" not in str(getattr(e, "device_type", "CPU"))]
        busy_us, what = sum(_device_us(e) for e in kernels), "CUDA kernels"
    else:
        busy_us, what = sum(e.self_cpu_time_total for e in events if e.key.startswith("aten::")), "operators"
    trace.parent.mkdir(parents=True, exist_ok=True)
    profiler.export_chrome_trace(str(trace))
    return Profile(steps, 1000 * seconds / steps, busy_us / 1000 / steps, what, str(trace))


def _device_us(event) -> float:
    # the attribute's name changed in torch 2.4 (cuda -> device)
    return float(getattr(event, "self_device_time_total", None) or getattr(event, "self_cuda_time_total", 0) or 0)


def measure(config, method: str, options: dict, settings: TrainSettings, steps: int, warmup: int,
            profile_steps: int = 0, trace_dir: Path | None = None, peak: float | None = None,
            seed: int = 7) -> Throughput:
    """Train `warmup + steps + profile_steps` steps of `method` with xlr's Trainer and time the middle window;
    `peak` (TFLOP/s) overrides the device's known peak for MFU."""
    import torch

    from xlr.engine.cost import build_untrained
    from xlr.engine.training import XlrTrainer, training_arguments
    from xlr.methods import make_objective

    torch.manual_seed(seed)
    model = build_untrained(config, settings.pooling)
    objective = make_objective(method, options, model)
    rows = [0]

    def count(module, args, kwargs):
        x = kwargs.get("input_ids") if kwargs.get("input_ids") is not None else kwargs.get("inputs_embeds")
        rows[0] += x.shape[0]

    hook = model.register_forward_pre_hook(count, with_kwargs=True)
    total = warmup + steps + profile_steps
    trace = (trace_dir or Path(".")) / f"trace-{method}.json"
    window = _window_callback(warmup, steps, profile_steps)(rows)
    per_device_rows = settings.batch_size * total
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as work:
        args = training_arguments(settings, seed, Path(work), max_steps=total, eval_strategy="no",
                                  save_strategy="no", load_best_model_at_end=False, report_to="none",
                                  dataloader_drop_last=True)
        trainer = XlrTrainer(model=model, args=args, objective=objective, callbacks=[window],
                             train_dataset=random_batches(config, per_device_rows, settings.max_length, seed))
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
        trainer.train()
    hook.remove()
    passes = (window.rows_at_end - window.rows_at_start) / (steps * settings.batch_size)
    per_pass = flop_per_token(config, non_embedding_parameters(model), settings.max_length) * settings.max_length
    info = device.current()
    profile = None
    if window.profiler is not None:
        profile = _profile_summary(window.profiler, window.profile_seconds, profile_steps, info.device == "cuda",
                                   trace)
    result = Throughput(method, steps, window.seconds, settings.batch_size, settings.max_length, passes,
                        per_pass * settings.batch_size * passes / 1e12, peak_memory_mib(),
                        peak or (peak_tflops(info.name, info.precision) if info.device == "cuda" else None),
                        profile)
    del trainer, model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result
