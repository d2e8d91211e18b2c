"""xlr: reproduction kit for robust zero-shot cross-lingual transfer (Huang et al., EMNLP 2021).

The robust-training pieces import into your own code (docs/python.md):

    from xlr import XlrTrainer
    from xlr import make_objective
    from xlr import resolve_options

- the method registry and objectives: `METHODS`, `register`, `Method`, `Option`, `make_objective`,
  `resolve_options`, and the objective classes (`CrossEntropy`, `Adversarial`, `RandomPerturbation`,
  `FreeLB`, `R3F`);
- `XlrTrainer`, a `transformers.Trainer` whose training loss comes from an objective (`objective=`);
- the task and data loaders: `TASKS`, `get_task`, `load_task_file`, `task_from_dict`, `open_source`,
  `read_tsv`, `PairSet`, `encode`, `load_model`.

Names are imported on first use, so `import xlr` (and the CLI) stays fast.
"""

import sys as _sys

__version__ = "0.1.0"
# The oldest Python that requirements.lock installs on (transformers, numpy, scipy and pandas there need it);
# pyproject.toml's requires-python says the same, so pip refuses older interpreters itself.
MIN_PYTHON = (3, 11)


def python_floor_error(version: tuple = tuple(_sys.version_info[:3])) -> str | None:
    """One line naming the fix when this Python is older than xlr supports, else None."""
    if tuple(version[:2]) >= MIN_PYTHON:
        return None
    found = ".".join(str(v) for v in version)
    need = ".".join(str(v) for v in MIN_PYTHON)
    return (f"xlr needs Python {need} or newer, this is Python {found}: install python{need} (or newer) and "
            f"make a virtual environment with it, or run the container (docker run --gpus all xlr ...)")


if python_floor_error() is not None:  # pragma: no cover - only reached on an unsupported interpreter
    if _sys.argv and _sys.argv[0].rsplit("/", 1)[-1] in ("xlr", "__main__.py", "-m"):
        _sys.stderr.write(f"error: {python_floor_error()}\n")
        raise SystemExit(2)
    raise ImportError(python_floor_error())

_EXPORTS = {
    "xlr.methods": ("METHODS", "Method", "Option", "register", "get_method", "make_objective", "resolve_options"),
    "xlr.methods.base": ("Objective", "CrossEntropy", "median_embedding_norm"),
    "xlr.methods.adv": ("Adversarial",),
    "xlr.methods.rs_rp": ("RandomPerturbation",),
    "xlr.methods.freelb": ("FreeLB",),
    "xlr.methods.r3f": ("R3F",),
    "xlr.engine.training": ("XlrTrainer", "collator"),
    "xlr.settings": ("TrainSettings",),
    "xlr.tasks": ("TASKS", "Task", "get_task", "load_task_file", "task_from_dict", "PairSet", "read_tsv",
                  "train_settings_for"),
    "xlr.sources": ("open_source", "LocalSource", "HubSource"),
    "xlr.engine.models": ("load_model", "encode"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'xlr' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
