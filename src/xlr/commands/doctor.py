"""`xlr doctor`: what this setup has, and whether it can run `xlr reproduce table1` (like `accelerate env`).

Checks: package versions (torch with its CUDA), the NVIDIA driver, the GPUs (compute capability, native
bf16), the device xlr would choose, whether the Hugging Face hub is reachable or offline mode is set, the
cache folders and their free disk, and whether RS-DA's synonym table is cached. Exit 0 when table1 can
run, 1 with the reasons when it cannot.
"""
from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from xlr.machine import device
from xlr.machine.versions import package_version
from xlr.errors import XlrError
from xlr.sources import offline_variable

PACKAGES = ("xlr", "torch", "transformers", "datasets", "accelerate", "tokenizers", "huggingface_hub")
HUB_URL = "https://huggingface.co"
# when the model's size is unknown here: table1's own need (docs/install.md, "What table1 costs": mBERT's checkpoints,
# kept models and download)
MIN_FREE_GB = 11.0
COST_EXPERIMENT = "table1"


@dataclass
class Report:
    rows: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, key: str, value) -> None:
        self.rows.append((key, str(value)))


def hub_status(timeout: float = 3.0) -> tuple[bool, str]:
    """(usable, description): offline mode, reachable, or not reachable."""
    var = offline_variable()
    if var is not None:
        return False, f"offline mode ({var}=1): only local folders and the local cache are used"
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(HUB_URL, method="HEAD"), timeout=timeout)
        return True, f"{HUB_URL} reachable"
    except urllib.error.HTTPError as e:  # the server answered: reachable
        return True, f"{HUB_URL} reachable (HTTP {e.code})"
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        return False, f"{HUB_URL} not reachable ({reason})"


def _free_gb(path: Path) -> float | None:
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free / 1e9
    except OSError:
        return None


def hf_cache() -> Path:
    try:
        from huggingface_hub import constants

        return Path(constants.HF_HOME)
    except Exception:  # pragma: no cover
        return Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))


def diagnose(exp, hub_timeout: float = 3.0, experiment: str = COST_EXPERIMENT, measure: bool = False,
             rates: Path | None = None) -> Report:
    """The report of `xlr doctor` for the loaded experiment EXP, named EXPERIMENT on the command line."""
    import torch

    import xlr
    r = Report()
    floor = ".".join(map(str, xlr.MIN_PYTHON))
    r.add("python", f"{platform.python_version()} (xlr needs {floor} or newer)")
    if xlr.python_floor_error():  # pragma: no cover - xlr does not import on such a Python
        r.problems.append(xlr.python_floor_error())
    for pkg in PACKAGES:
        value = package_version(pkg) or "not installed"
        if pkg == "torch":
            value += f" (CUDA {torch.version.cuda})" if torch.version.cuda else " (CPU build)"
        r.add(pkg, value)
    r.add("NVIDIA driver", device.driver_version() or ("present" if device.nvidia_runtime_present() else "none"))
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            cap = torch.cuda.get_device_capability(i)
            r.add(f"GPU {i}", f"{torch.cuda.get_device_name(i)}, compute capability {cap[0]}.{cap[1]}, "
                              f"native bf16: {'yes' if cap >= (8, 0) else 'no'}")
    else:
        r.add("GPUs", "none visible to torch")
    try:
        info = device.resolve()
        r.add("xlr would train on", info.line())
        if info.device == "cpu" and experiment == COST_EXPERIMENT:
            r.problems.append("no GPU: table1 fine-tunes mBERT for thousands of steps per method (see the steps above); on a CPU "
                              f"that takes days (cause: {device.why_no_gpu()})")
    except XlrError as e:
        r.add("xlr would train on", f"nothing: {e}")
        r.problems.append(str(e))
    usable, hub = hub_status(hub_timeout)
    r.add("Hugging Face hub", hub)
    if not usable:
        r.problems.append(f"table1 downloads bert-base-multilingual-cased and PAWS-X from the hub, which is not usable "
                          f"here ({hub}); offline, pass --model DIR and --data-dir DIR (docs/tasks.md)")
    need_gb = add_cost(r, experiment, exp, measure and info_ok(r), hub_usable=usable, rates=rates)
    hf = hf_cache()
    free = _free_gb(hf)
    r.add("HF cache", f"{hf} ({free:.1f} GB free)" if free is not None else f"{hf}")
    need = need_gb or MIN_FREE_GB
    if free is not None and free < need:
        r.problems.append(f"only {free:.1f} GB free for the HF cache {hf}; {experiment} needs about {need:.0f} GB")
    synonym_table_rows(r, usable)
    return r


def synonym_table_rows(r: Report, usable: bool) -> None:
    """Where RS-DA's synonym table is (cached, given, or to be downloaded), and the free disk of xlr's cache."""
    from xlr.methods.synonyms import cache_path

    table = cache_path()
    xfree = _free_gb(table.parent)
    r.add("xlr cache", f"{table.parent} ({xfree:.1f} GB free)" if xfree is not None else str(table.parent))
    local = os.environ.get("XLR_SYNONYMS")
    if table.is_file():
        r.add("synonym table (RS-DA)", f"cached at {table}")
    elif local:
        r.add("synonym table (RS-DA)", f"XLR_SYNONYMS={local}" + ("" if Path(local).is_file() else " (missing!)"))
        if not Path(local).is_file():
            r.problems.append(f"XLR_SYNONYMS={local} does not exist")
    else:
        r.add("synonym table (RS-DA)", "not cached; downloaded before the first run that uses RS-DA" + ("" if usable else
                                                                                    " (needs the network)"))
        if not usable:
            r.problems.append("RS-DA's synonym table is not cached and cannot be downloaded; pass --synonyms PATH")


def info_ok(r: Report) -> bool:
    return not any(key == "xlr would train on" and value.startswith("nothing") for key, value in r.rows)


def add_cost(r: Report, experiment: str, exp, measure: bool, hub_usable: bool = True, rates: Path | None = None) -> float | None:
    """Rows for the experiment's cost: steps per method (one seed), checkpoint disk and the time, from a short
    measured step on this device when `measure`, or from the steady-state rates of `xlr bench throughput`
    in `rates`. Returns the disk it needs in GB, or None when unknown here."""
    from xlr.engine import cost, throughput

    plan = cost.plan(exp)
    seeds = len(exp.seeds)
    config = cost.model_config(exp.model, exp.task_def, local_only=not hub_usable)
    measured, source = {}, "measured here"
    if rates is not None:
        measured, what = throughput.read_rates(rates, exp.train_settings().batch_size, [item.method for item in plan])
        source = f"from {rates} ({what})"
    for item in plan:
        if item.steps is None:
            r.add(f"{experiment} {item.method}", "steps unknown (the training set's size is not known here)")
            continue
        if item.method in measured:
            item.seconds_per_step = measured[item.method]
        elif measure and config is not None:
            device.configure(None, exp.train_settings().precision)
            options = next(s.options for s in exp.runs() if s.method == item.method)
            timed = throughput.measure(config, item.method, options, exp.train_settings(), steps=3, warmup=1)
            item.seconds_per_step = timed.seconds / timed.steps
        timing = (f"; {item.seconds_per_step:.3g} s/step, about {cost.human_seconds(item.seconds)}"
                  if item.seconds is not None else "")
        r.add(f"{experiment} {item.method}", f"{item.steps:,} steps per seed ({item.pairs:,} training pairs, "
                                             f"batch {exp.train_settings().batch_size}){timing}")
    total = [item.seconds for item in plan]
    if all(t is not None for t in total) and total:
        r.add(f"{experiment} time", f"about {cost.human_seconds(sum(total) * seeds)} for {len(plan)} methods x "
                                    f"{seeds} seed(s) in one worker, training only, at the rates {source} (full-length "
                                    "batches: an upper bound; evaluation adds a little)")
    elif measure and config is None:
        r.add(f"{experiment} time", f"not measured: the config of {exp.model} is not available here")
    if config is None:
        r.add(f"{experiment} disk", f"unknown until the config of {exp.model} is available")
        return None
    params = cost.parameter_count(config, exp.train_settings().pooling)
    disk = cost.disk_bytes(params, runs=len(plan) * seeds)
    r.add(f"{experiment} disk", f"{params / 1e6:.1f}M parameters: {cost.human_bytes(disk['checkpoint'])} per "
                                f"checkpoint, up to {cost.human_bytes(disk['training_peak'])} while a run trains, "
                                f"{cost.human_bytes(disk['kept_models'])} for the best models kept "
                                f"({len(plan) * seeds} runs)")
    return (disk["training_peak"] + disk["kept_models"] + params * cost.MODEL_BYTES_PER_PARAM) / 1e9


def render(report: Report) -> str:
    width = max(len(k) for k, _ in report.rows)
    lines = [f"{k:<{width}}  {v}" for k, v in report.rows]
    if report.problems:
        lines += ["", "xlr reproduce table1 cannot run here:"] + [f"  - {p}" for p in report.problems]
    else:
        lines += ["", "ready: xlr reproduce table1 can run here"]
    return "\n".join(lines) + "\n"




def doctor(hub_timeout: float, experiment: str, measure: bool, rates: Path | None) -> Report:
    """`xlr doctor`: the input checked, then the report."""
    from xlr.experiments import load_experiment

    if not hub_timeout > 0 or hub_timeout == float("inf"):
        raise XlrError(f"--hub-timeout must be a positive number of seconds, not {hub_timeout}")
    if measure and rates is not None:
        raise XlrError("--measure and --rates both time the steps: give one of them")
    exp = load_experiment(experiment)  # an unknown name or a broken TOML is bad input, not an unknown cost
    if rates is not None and not rates.is_file():
        found = "is a folder" if rates.is_dir() else "does not exist"
        raise XlrError(f"--rates {rates} {found}; pass the throughput.json that `xlr bench throughput --out DIR` "
                       f"writes in DIR")
    return diagnose(exp, hub_timeout, experiment, measure, rates)
