"""Figures without pyplot (no display, no global backend state), written atomically and byte-stable."""
from __future__ import annotations

import io
from pathlib import Path

from xlr.files import atomic_write_bytes


def figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def save(fig, path: Path, dpi: int = 110, kind: str = "png") -> Path:
    """Lay out, render and write `fig` to `path` (without the Software stamp, so the same figure gives the
    same bytes); returns `path`."""
    buf = io.BytesIO()
    fig.tight_layout()
    metadata = {"Software": None} if kind == "png" else None
    fig.savefig(buf, format=kind, dpi=dpi, metadata=metadata)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)
