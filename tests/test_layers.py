"""The package's layers: no import cycle among xlr's modules (imports inside functions count), and the
import-linter contracts of pyproject.toml (`lint-imports`) hold."""
import shutil
import subprocess

import pytest

from conftest import REPO


def test_no_import_cycle_among_xlr_modules():
    import grimp  # import-linter's graph library (the test extra)
    graph = grimp.build_graph("xlr", exclude_type_checking_imports=True)
    cycles = sorted({tuple(sorted((a, b))) for a in graph.modules for b in graph.find_modules_directly_imported_by(a)
                     if b.startswith("xlr") and graph.chain_exists(importer=b, imported=a)})
    assert not cycles, f"import cycles: {cycles}"


def test_import_contracts_hold():
    exe = shutil.which("lint-imports")
    assert exe, "lint-imports not found: install the test extra (pip install -e '.[test]')"
    proc = subprocess.run([exe, "--config", str(REPO / "pyproject.toml")], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


NO_TORCH = """
import sys
from xlr.cli import app
for argv in {argvs!r}:
    try:
        app(argv, prog_name="xlr")
    except SystemExit as e:
        assert e.code in (0, None), (argv, e.code)
heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
assert not heavy, f"{{heavy}} imported"
print("no torch")
"""


@pytest.mark.slow
def test_help_compare_and_distance_import_no_torch(tmp_path):
    """--help, `xlr compare` and `xlr analyze distance` read results and declarations only: no torch import."""
    import sys

    from test_compare import paper_rows, write

    csv = str(write(tmp_path / "ours.csv", paper_rows()))
    argvs = [["--help"], ["reproduce", "--help"], ["train", "--help"], ["sweep", "--help"], ["compare", csv],
             ["analyze", "distance", csv, "--plot", str(tmp_path / "d.png")]]
    proc = subprocess.run([sys.executable, "-c", NO_TORCH.format(argvs=argvs)], capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0 and "no torch" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-3000:]
