"""The training methods: the registry (registry.py), what their objectives share (base.py), and one file per
method. Importing this package imports every file in it, so each file's `register(Method(...))` runs; a
new method is one new file here (and its test)."""
from __future__ import annotations

import importlib
import pkgutil

from xlr.methods.registry import (BASELINE, METHODS, Method, Option, get_method, identity_options, make_objective,
                                  register, resolve_options, shared_options)

_NOT_METHODS = {"registry", "base", "synonyms"}


def _discover() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _NOT_METHODS and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    ordered = sorted(METHODS.values(), key=lambda m: (m.position, m.name))
    METHODS.clear()
    METHODS.update((m.name, m) for m in ordered)


_discover()

__all__ = ["BASELINE", "METHODS", "Method", "Option", "get_method", "identity_options", "make_objective", "register",
           "resolve_options", "shared_options"]
