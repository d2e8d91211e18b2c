"""Device, precision, world size and CPU threads: chosen once per process, printed as one line, recorded.

The device is never a surprise:
  - asked for a GPU (`--device cuda`, `XLR_DEVICE=cuda`, or `xlr docker run` with GPUs, which sets it)
    and torch sees none: exit 2 with the likely cause and its fix;
  - the NVIDIA runtime handed this process GPUs (device nodes `/dev/nvidia*`, or the driver's
    `/proc/driver/nvidia/version`) and torch sees none: that is a mismatch, not a CPU machine, so the same;
  - inside the GPU image (`XLR_IMAGE=cuda`, set by the Dockerfile when torch is a CUDA build) with no GPU:
    the same, unless the CPU was asked for (`--device cpu` / `XLR_DEVICE=cpu`).
Precision: bf16 where the GPU has it natively (compute capability >= 8.0; emulated bf16 does not count),
fp16 with loss scaling on older GPUs (T4, V100), fp32 on CPU. Threads: the cores this process may use
(affinity and cgroup quota) divided among the processes sharing them.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from xlr.settings import PRECISIONS
from xlr.errors import XlrError

DEVICES = ("auto", "cpu", "cuda")
# The CUDA major of a torch wheel -> the oldest Linux driver that runs it (NVIDIA's compatibility table).
MIN_DRIVER = {11: 450, 12: 525, 13: 580}


@dataclass(frozen=True)
class DeviceInfo:
    device: str                 # cpu or cuda
    name: str                   # "CPU" or "1 x NVIDIA H100 80GB HBM3"
    precision: str              # bf16, fp16 or fp32
    precision_reason: str
    world_size: int
    threads: int
    threads_reason: str

    def line(self) -> str:
        return (f"device: {self.name}; precision: {self.precision} ({self.precision_reason}); "
                f"world size {self.world_size}; {self.threads} CPU thread(s) per process ({self.threads_reason})")

    def as_dict(self) -> dict:
        return {**asdict(self), "line": self.line()}


# --------------------------------------------------------------------------------------------- CPU

def usable_cores() -> tuple[int, str]:
    """Cores this process may run on: the affinity mask, capped by a cgroup v2/v1 CPU quota."""
    try:
        cores, why = len(os.sched_getaffinity(0)), "affinity"
    except (AttributeError, OSError):
        cores, why = os.cpu_count() or 1, "cpu_count"
    quota = _cgroup_quota()
    if quota is not None and quota < cores:
        return max(1, int(quota)), "cgroup quota"
    return cores, why


def _cgroup_quota() -> float | None:
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        q = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        p = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if q > 0 and p > 0:
            return q / p
    except (OSError, ValueError):
        pass
    return None


def choose_threads(sharing: int = 1) -> tuple[int, str]:
    """Intra-op threads: XLR_THREADS or OMP_NUM_THREADS when set, else usable cores // processes sharing them
    (local ranks x concurrent workers).

    More threads than cores is pathological for PyTorch's CPU kernels: on 2 cores, two jobs with 2 threads
    each ran 45x slower than one, not 2x (docs/speed.md, "CPU threads")."""
    for var in ("XLR_THREADS", "OMP_NUM_THREADS"):
        given = os.environ.get(var)
        if given:
            if not given.isdigit() or int(given) < 1:
                raise XlrError(f"{var}={given!r}: expected a positive integer")
            return int(given), var
    cores, why = usable_cores()
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    share = max(1, local * max(1, sharing))
    n = max(1, cores // share)
    parts = [f"{cores} usable cores ({why})"]
    if local > 1:
        parts.append(f"{local} local ranks")
    if sharing > 1:
        parts.append(f"{sharing} concurrent workers")
    return n, " / ".join(parts)


def apply_threads(n: int) -> None:
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


# --------------------------------------------------------------------------------------------- GPU

def requested_device(option: str | None = None) -> str:
    value = (option or os.environ.get("XLR_DEVICE") or "auto").strip().lower()
    if value not in DEVICES:
        raise XlrError(f"device '{value}' (from {'--device' if option else 'XLR_DEVICE'}): use one of {', '.join(DEVICES)}")
    return value


def nvidia_runtime_present() -> bool:
    """The NVIDIA driver is loaded or its device nodes were handed to this container."""
    return Path("/proc/driver/nvidia/version").is_file() or any(Path("/dev").glob("nvidia[0-9]*"))


def driver_version() -> str | None:
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        return None
    m = re.search(r"Kernel Module(?: for \w+)?\s+([0-9]+(?:\.[0-9]+)+)", text) or re.search(r"\s([0-9]{3,}\.[0-9]+(?:\.[0-9]+)?)\s", text)
    return m.group(1) if m else None


def torch_cuda_version() -> str | None:
    import torch

    return torch.version.cuda


def why_no_gpu() -> str:
    """The likely cause of torch seeing no GPU, with its fix (one line)."""
    import torch

    cuda = torch_cuda_version()
    if cuda is None:
        return (f"torch {torch.__version__} is a CPU build; install a CUDA build "
                "(pip install torch==2.13.0 from PyPI, or the image's default TORCH_SPEC)")
    major = int(cuda.split(".")[0])
    need = MIN_DRIVER.get(major)
    driver = driver_version()
    if driver is not None and need and int(driver.split(".")[0]) < need:
        return (f"the NVIDIA driver {driver} is older than torch's CUDA {cuda} needs (>= {need}); update the driver, "
                "or install torch's CUDA 12.6 build (pip install torch==2.13.0 --index-url "
                "https://download.pytorch.org/whl/cu126; in Docker: xlr docker build --torch-cuda cu126)")
    if not nvidia_runtime_present():
        return ("no NVIDIA driver or device is visible to this process; on the host install the driver, in Docker "
                "run with --gpus all and the NVIDIA Container Toolkit")
    return (f"the NVIDIA runtime is present (driver {driver or 'unknown'}) but torch {torch.__version__} (CUDA {cuda}) "
            "cannot use it; run `xlr doctor` for the details")


def gpu_capability() -> tuple[int, int] | None:
    import torch

    return torch.cuda.get_device_capability(0) if torch.cuda.is_available() else None


def native_bf16() -> bool:
    """bf16 in hardware (Ampere, compute capability 8.0, and newer); emulation does not count."""
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch before the including_emulation argument
        cap = gpu_capability()
        return cap is not None and cap >= (8, 0)


def choose_precision(device: str, asked: str = "auto") -> tuple[str, str]:
    if asked not in PRECISIONS:
        raise XlrError(f"train.precision '{asked}': use one of {', '.join(PRECISIONS)}")
    if device == "cpu":
        if asked in ("bf16", "fp16"):
            raise XlrError(f"train.precision = {asked} needs a GPU; on CPU use auto or fp32")
        return "fp32", "CPU"
    native = native_bf16()
    cap = gpu_capability()
    cap_text = f"compute capability {cap[0]}.{cap[1]}" if cap else "GPU"
    if asked == "bf16":
        if not native:
            raise XlrError(f"train.precision = bf16 but this GPU ({cap_text}) has no native bf16 (it would be "
                           "emulated, slowly); use auto (fp16 with loss scaling) or fp32")
        return "bf16", "asked for"
    if asked in ("fp16", "fp32"):
        return asked, "asked for"
    if native:
        return "bf16", f"native on {cap_text}"
    return "fp16", f"no native bf16 on {cap_text}: fp16 autocast with loss scaling"


IMAGE_KIND_FILE = Path("/opt/xlr/image-kind")   # written by the Dockerfile: "cuda" or "cpu" (torch's build)


def in_gpu_image() -> bool:
    if os.environ.get("XLR_IMAGE"):
        return os.environ["XLR_IMAGE"] == "cuda"
    try:
        return IMAGE_KIND_FILE.read_text().strip() == "cuda"
    except OSError:
        return False


def resolve(option: str | None = None, precision: str = "auto", sharing: int = 1) -> DeviceInfo:
    """The device this process trains on, or XlrError when a GPU was expected and torch sees none."""
    import torch

    from xlr.machine import distributed

    asked = requested_device(option)
    available = torch.cuda.is_available()
    if asked == "cuda" and not available:
        raise XlrError(f"a GPU was asked for (--device cuda / XLR_DEVICE=cuda) but torch sees none: {why_no_gpu()}")
    if asked == "auto" and not available:
        if nvidia_runtime_present():
            raise XlrError(f"NVIDIA GPUs were handed to this process but torch sees none: {why_no_gpu()}; "
                           "pass --device cpu (XLR_DEVICE=cpu) to train on the CPU anyway")
        if in_gpu_image():
            raise XlrError("the xlr GPU image found no GPU: run it with `docker run --gpus all` (NVIDIA Container "
                           "Toolkit), or pass --device cpu (-e XLR_DEVICE=cpu) to train on the CPU on purpose")
    device = "cuda" if (asked != "cpu" and available) else "cpu"
    if device == "cuda":
        count = torch.cuda.device_count()
        name = f"{count} x {torch.cuda.get_device_name(0)}"
    else:
        name = "CPU"
    prec, reason = choose_precision(device, precision)
    threads, why = choose_threads(sharing)
    return DeviceInfo(device, name, prec, reason, distributed.world_size(), threads, why)


_state: dict = {}


def configure(option: str | None = None, precision: str = "auto", sharing: int = 1) -> DeviceInfo:
    """Resolve the device once for this process (again when a sweep's worker count changes), set the threads."""
    if option is not None:
        _state["option"] = option
    info = resolve(_state.get("option"), precision, sharing)
    apply_threads(info.threads)
    _state["info"] = info
    _state["sharing"] = sharing
    _state["precision"] = precision
    return info


def set_sharing_probe(probe) -> None:
    """`probe()` -> how many processes share this host's cores now (e.g. live sweep workers), or None."""
    _state["probe"] = probe


def refresh() -> None:
    """Re-divide the cores when the number of processes sharing them changed (called between steps)."""
    probe = _state.get("probe")
    info = _state.get("info")
    if probe is None or info is None or info.threads_reason.startswith(("XLR_THREADS", "OMP_NUM_THREADS")):
        return
    sharing = max(1, probe())
    if sharing != _state.get("sharing", 1):
        from xlr.machine.progress import say

        new = configure(precision=_state.get("precision", "auto"), sharing=sharing)
        say(f"  {new.threads} CPU thread(s) now ({new.threads_reason})")


def current() -> DeviceInfo:
    """The configured device (resolved with the defaults on first use, e.g. from library code)."""
    return _state.get("info") or configure()


def trainer_flags(precision: str) -> dict:
    """TrainingArguments' device and precision flags for the training settings' `precision` on the current device."""
    info = current()
    chosen, _ = choose_precision(info.device, precision)
    return {"use_cpu": info.device == "cpu", "bf16": chosen == "bf16", "fp16": chosen == "fp16"}


__all__ = ["configure", "current", "trainer_flags", "DeviceInfo", "resolve", "choose_precision", "choose_threads", "why_no_gpu", "usable_cores",
           "native_bf16", "nvidia_runtime_present", "driver_version", "DEVICES", "PRECISIONS"]
