"""`xlr bench throughput`: training examples/s, tokens/s, model TFLOP/s and MFU of xlr's training step for each
method on this device (the measuring itself is xlr.engine.throughput)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from xlr.commands.options import TASK_NAMES, DeviceOpt, Fmt, at_least, check_format, split_items
from xlr.commands.run import write
from xlr.errors import XlrError


def checked_settings(task: str, methods: str, batch_size: int, seq_length: int, steps: int, warmup: int,
                     profile_steps: int, precision: str, compile: str, pooling: str | None,
                     peak_tflops: float | None, fmt: str):
    """(method names, their resolved options, the task, the training settings), every input checked before the
    engine is imported."""
    from xlr.methods import get_method, resolve_options
    from xlr.tasks import get_task, train_settings_for

    check_format(fmt)
    at_least(("--batch-size", batch_size, 1), ("--seq-length", seq_length, 8), ("--steps", steps, 1),
             ("--warmup", warmup, 1), ("--profile-steps", profile_steps, 0))
    names = list(dict.fromkeys(split_items([methods]) or []))
    if not names:
        raise XlrError("--methods names no method; e.g. --methods baseline,adv")
    if peak_tflops is not None and peak_tflops <= 0:
        raise XlrError(f"--peak-tflops must be positive, not {peak_tflops}")
    options = {m: resolve_options(get_method(m).name, {}) for m in names}
    the_task = get_task(task)
    train = {"batch_size": batch_size, "max_length": seq_length, "precision": precision, "compile": compile}
    return names, options, the_task, train_settings_for(the_task, {**train, **({"pooling": pooling} if pooling else {})})


def model_and_device(model: str, the_task, settings, seq_length: int, device: str | None):
    """(the model's config, the device it is measured on), or one line saying why it cannot be measured here."""
    from xlr.engine.cost import model_config
    from xlr.engine.throughput import torch_gpu_count, usable_positions
    from xlr.machine import device as devices

    info = devices.configure(device, settings.precision)
    config = model_config(model, the_task)
    if config is None:
        raise XlrError(f"cannot read the config of model '{model}': give a Hugging Face id (online, or cached with "
                       "HF_HUB_OFFLINE=1) or a local model folder")
    longest = usable_positions(config)
    if longest is not None and seq_length > longest:
        raise XlrError(f"--seq-length {seq_length} is longer than {model} takes ({longest} tokens); pass at most that")
    if info.device == "cuda" and info.world_size == 1 and torch_gpu_count() > 1:
        raise XlrError("bench throughput measures one GPU, and several are visible: set CUDA_VISIBLE_DEVICES=0 "
                       "(or the GPU to measure)")
    return config, info


def throughput(model: str, task: str, methods: str, batch_size: int, seq_length: int, steps: int, warmup: int,
               profile_steps: int, precision: str, compile: str, pooling: str | None, peak_tflops: float | None,
               out: Path, device: str | None, fmt: str) -> str | None:
    """Measure each method, write OUT/throughput.json (and the traces); return the table."""
    names, options, the_task, settings = checked_settings(task, methods, batch_size, seq_length, steps, warmup,
                                                          profile_steps, precision, compile, pooling, peak_tflops, fmt)
    from xlr.engine.throughput import measure  # the engine only once the input has been checked
    from xlr.files import atomic_write_json, check_writable
    from xlr.machine.progress import quiet_libraries, say
    from xlr.machine.versions import versions

    quiet_libraries()
    check_writable(out, "output folder", "--out", create=False)  # created only when the measuring starts
    config, info = model_and_device(model, the_task, settings, seq_length, device)
    say(info.line())
    out.mkdir(parents=True, exist_ok=True)  # the traces go here as each method is measured
    results = []
    for m in names:
        say(f"{m}: {warmup} + {steps} steps" + (f" + {profile_steps} profiled" if profile_steps else ""))
        results.append(measure(config, m, options[m], settings, steps, warmup, profile_steps, out, peak_tflops))
    atomic_write_json(out / "throughput.json", {
        "model": model, "task": the_task.name, "device": info.as_dict(), "versions": versions(),
        "batch_size": batch_size, "seq_length": seq_length, "steps": steps, "warmup": warmup,
        "compile": settings.compile, "results": [r.as_dict() for r in results]})
    say(f"wrote {out / 'throughput.json'}" + (f" and {len(results)} trace(s)" if profile_steps else ""))
    return table(model, settings, info, batch_size, seq_length, profile_steps, results, fmt)


def table(model: str, settings, info, batch_size: int, seq_length: int, profile_steps: int, results, fmt: str):
    from xlr.results.report import render_rows

    title = (f"{model} ({settings.pooling} head), batch {batch_size} x {seq_length} tokens, {info.precision}, "
             f"compile {settings.compile}, on {info.name}")
    headers = ["method", "ms / step", "examples / s", "tokens / s", "passes", "model TFLOP/s", "MFU",
               "peak MiB"] + (["kernels" if info.device == "cuda" else "operators"] if profile_steps else [])
    rows = [[r.method, f"{r.ms_per_step:.1f}", f"{r.examples_per_s:.1f}", f"{r.tokens_per_s:.0f}",
             f"{r.passes_per_step:g}", f"{r.achieved_tflops:.3g}", "–" if r.mfu is None else f"{100 * r.mfu:.1f}%",
             "–" if r.peak_memory_mib is None else f"{r.peak_memory_mib:.0f}"]
            + ([f"{100 * r.profile.busy_share:.0f}% of {r.profile.wall_ms:.1f} ms"] if r.profile else [])
            for r in results]
    return render_rows(title, headers, rows, fmt)


# ------------------------------------------------------------------------------------------- the verbs

app = typer.Typer(no_args_is_help=True, help="Measure this machine: training throughput and MFU per method.")


@app.command("throughput")
def bench_throughput(
    model: Annotated[str, typer.Option(help="Hugging Face id, local model folder, or builtin:tiny-bert; only its "
                                            "config is read (random weights).")] = "bert-base-multilingual-cased",
    task: Annotated[str, typer.Option(help=f"{TASK_NAMES} or a task TOML file: its labels and its own "
                                           "training settings.")] = "pawsx",
    methods: Annotated[str, typer.Option(help="Comma-separated methods to measure.")] = "baseline,adv",
    batch_size: Annotated[int, typer.Option(help="Examples per optimizer step.")] = 32,
    seq_length: Annotated[int, typer.Option(help="Tokens per example, every example at this length.")] = 128,
    steps: Annotated[int, typer.Option(help="Timed optimizer steps per method.")] = 20,
    warmup: Annotated[int, typer.Option(help="Untimed steps first (allocation, autotuning, compilation).")] = 5,
    profile_steps: Annotated[int, typer.Option(help="After the timed steps, profile this many with torch.profiler: "
                                                    "writes a chrome trace per method to --out and prints the share "
                                                    "of the step spent in CUDA kernels (GPU) or operators (CPU).")]
    = 0,
    precision: Annotated[str, typer.Option(help="auto, bf16, fp16 or fp32, as train.precision.")] = "auto",
    compile: Annotated[str, typer.Option(help="off, default or graphs, as train.compile (compilation happens in "
                                              "the warm-up steps).")] = "off",
    pooling: Annotated[Optional[str], typer.Option(help="Classifier head: cls or mean (default: the task's).")]
    = None,
    peak_tflops: Annotated[Optional[float], typer.Option(help="The device's peak TFLOP/s for MFU (default: the "
                                                              "dense bf16/fp16 peak of a known GPU).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for throughput.json and the traces.")]
    = Path("xlr-throughput"),
    device: DeviceOpt = None,
    fmt: Fmt = "rich",
):
    """Training examples/s, tokens/s, model TFLOP/s and MFU of xlr's training step for each method.

    The steps are `xlr train`'s (its Trainer, the method's objective, precision and optimizer) on random
    token ids of one length; MFU counts model FLOPs as nanoGPT's estimate_mfu does, over every forward pass
    a method makes."""
    write(throughput(model, task, methods, batch_size, seq_length, steps, warmup, profile_steps, precision,
                           compile, pooling, peak_tflops, out, device, fmt))
