"""Where the shipped folders `reproduce/` and `paper_results/` are: the checkout (the source) when xlr runs
from one, else the copies bundled in the installed package."""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path | None:
    """`reproduce` or `paper_results`: the checkout's folder if present, else the bundled copy."""
    for candidate in (_PACKAGE.parents[1] / name, _PACKAGE / "_bundled" / name):
        if candidate.is_dir():
            return candidate
    return None
