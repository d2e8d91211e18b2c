"""The package's layers: no import cycle among xlr's modules (imports inside functions count), and the
import-linter contracts of pyproject.toml (`lint-imports`) hold."""
import shutil
import subprocess

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
