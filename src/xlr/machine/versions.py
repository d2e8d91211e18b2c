"""The versions of the packages a result depends on: recorded with every run and printed by `xlr doctor`."""
from __future__ import annotations

import importlib.metadata as md
import platform

PACKAGES = ("xlr", "torch", "transformers", "accelerate", "datasets", "tokenizers")


def package_version(name: str) -> str | None:
    """The installed version of a package, or None."""
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def versions() -> dict:
    """Python's version and PACKAGES', as recorded in each run's config.json."""
    return {"python": platform.python_version(), **{name: package_version(name) for name in PACKAGES}}
