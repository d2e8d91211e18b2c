"""`xlr analyze geometry`: perturbation displacements next to a word swap and dropout (tiny model, fixture)."""
import csv
import io

from conftest import run_xlr

TINY = ["--model", "builtin:tiny-bert", "--data-dir", "builtin:fixture", "--pairs", "16", "--format", "csv"]

def test_displacement_grows_with_the_radius():
    proc = run_xlr("analyze", "geometry", *TINY, "--adv", "0.01,0.05,0.2", "--rs-rp", "0.1,0.4,1.6",
                   env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    rows = {row[0]: row[1] for row in csv.reader(io.StringIO(proc.stdout))}
    assert {"swap two adjacent words", "dropout (train vs eval)"} <= set(rows), proc.stdout
    for kind, radii in (("ADV, 1 step", ("0.01", "0.05", "0.2")), ("RS-RP (ball)", ("0.1", "0.4", "1.6"))):
        moved = [float(rows[f"{kind}, eps = {r}"]) for r in radii]
        assert moved == sorted(moved) and moved[0] < moved[-1], (kind, moved)

def test_bad_radii_are_one_line_exit_2():
    proc = run_xlr("analyze", "geometry", *TINY, "--adv", "small")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
