"""Shared fixtures. Integration tests use the real data in ../shared (beside the checkout) and skip,
saying why, when it is absent. XLR_SHARED overrides the location."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XLR_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
E5_TOOL = SHARED / "tools" / "offline_e5_small.py"


def run_xlr(*args, cwd=None, timeout=600, env=None, check=False):
    """Run `python -m xlr ARGS` in a subprocess (the installed or checked-out package)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "xlr", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"xlr {' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture()
def xlr_main(monkeypatch, capsys):
    """Run `xlr ARGS` in this process, through the same main() as the console script (exit codes and one-line
    errors included), for commands that answer in milliseconds; returns (exit code, stdout, stderr)."""
    from xlr.cli import main

    def call(*args):
        monkeypatch.setattr(sys, "argv", ["xlr", *map(str, args)])
        monkeypatch.setenv("COLUMNS", "200")
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code or 0
        out = capsys.readouterr()
        return code, out.out, out.err
    return call


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (DATA / "pawsx" / "test-en.tsv").is_file():
        pytest.skip(f"real data not found at {DATA} (expected ../shared/data beside the checkout)")
    return DATA


@pytest.fixture(scope="session")
def e5_model(tmp_path_factory) -> Path:
    """The real multilingual-e5-small encoder, built once by the offline tool and cached across tests."""
    if not E5_TOOL.is_file():
        pytest.skip(f"offline model tool not found at {E5_TOOL}")
    proc = subprocess.run([sys.executable, str(E5_TOOL)], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.skip(f"offline_e5_small.py failed (needs PyPI once): {proc.stderr.strip().splitlines()[-1:]}")
    return Path(proc.stdout.strip().splitlines()[-1])
