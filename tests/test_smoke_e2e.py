"""`xlr reproduce smoke` end to end in a subprocess, offline."""
import json
import math
import re
import time

import pytest
from conftest import run_xlr

LANGS = ["en", "de", "es", "fr", "ja", "ko", "zh"]


def table_header(stdout: str) -> list[str]:
    for line in stdout.splitlines():
        cells = [c for c in re.split(r"[│┃|]", line) if c.strip()]
        if cells and cells[0].strip() == "method":
            return [c.strip() for c in cells]
    raise AssertionError(f"no table header in:\n{stdout}")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One full `xlr reproduce smoke` run, shared by the tests of this module (it is the slow part)."""
    runs = tmp_path_factory.mktemp("smoke") / "runs"
    start = time.time()
    proc = run_xlr("reproduce", "smoke", "--out", runs, env={"HF_HUB_OFFLINE": "1"}, check=True)
    print(f"\nxlr reproduce smoke (4 methods, standard + 49 generalized pairs): {time.time() - start:.0f}s")
    return runs, proc


@pytest.mark.slow
def test_smoke_prints_paper_table_and_skips_finished_runs(smoke):
    runs, first = smoke
    header = table_header(first.stdout)
    assert header[1:] == LANGS + ["avg"], header
    for method in ("baseline", "adv", "rs-rp", "rs-da"):
        assert re.search(method + r"\s*│(\s*\d+\.\d\s*│){8}", first.stdout), first.stdout
        assert "generalized, " + method in first.stdout.replace("\n", " ")
    assert "avg-mixed" in first.stdout
    exp = runs / "smoke"
    results = (exp / "results.csv").read_text().splitlines()
    assert results[0] == "experiment,task,model,method,seed,setting,language,accuracy"
    pairs = [line for line in results if ",generalized," in line and "avg" not in line]
    assert len(pairs) == 4 * 49
    pngs = sorted(p.name for p in exp.glob("*.png"))
    assert pngs == ["generalized-adv-minus-baseline.png", "generalized-adv.png", "generalized-baseline.png",
                    "generalized-rs-da-minus-baseline.png", "generalized-rs-da.png",
                    "generalized-rs-rp-minus-baseline.png", "generalized-rs-rp.png"]
    assert all((exp / p).read_bytes().startswith(b"\x89PNG") for p in pngs)

    for method in ("baseline", "adv", "rs-rp", "rs-da"):
        train = json.loads((exp / method / "seed7" / "metrics.json").read_text())["train"]
        losses = [point["loss"] for point in train["loss_curve"]]
        assert losses and all(math.isfinite(x) for x in losses), train

    second = run_xlr("reproduce", "smoke", "--out", runs, "--format", "markdown", check=True)
    assert "already finished" in second.stderr
    assert "| method" in second.stdout and "| avg" in second.stdout.replace("   ", " ").replace("  ", " ") or \
        "avg" in second.stdout.splitlines()[0]
    # every markdown table carries its title, so the generalized matrices are labelled
    titles = [line for line in second.stdout.splitlines() if line.startswith("**")]
    assert len(titles) == 1 + 4 + 3 + 1 and any("adv minus baseline" in t for t in titles), titles
    import csv
    import io

    text = run_xlr("reproduce", "smoke", "--out", runs, "--format", "csv", check=True).stdout
    table = list(csv.reader(io.StringIO(text)))
    assert ",".join(table[0]).startswith("table,row,en,de,es,fr,ja,ko,zh,avg,avg-mixed")   # one header ...
    assert all(len(r) == len(table[0]) for r in table)                                   # ... one table
    assert {r[0] for r in table[1:]} >= {"standard", "generalized, rs-da minus baseline"}


@pytest.mark.slow
def test_same_seed_gives_identical_numbers(smoke, tmp_path):
    runs, _ = smoke
    a = run_xlr("reproduce", "smoke", "--out", runs, "--format", "csv", check=True)   # the finished runs
    b = run_xlr("reproduce", "smoke", "--out", tmp_path / "b", "--format", "csv", check=True)  # trained again
    assert "already finished" not in b.stderr
    assert a.stdout == b.stdout and a.stdout.count("\n") >= 2
    assert (runs / "smoke/results.csv").read_text() == (tmp_path / "b/smoke/results.csv").read_text()


@pytest.mark.slow
def test_bad_input_is_one_line_exit_2(tmp_path):
    cases = [
        ("reproduce", "nope"),
        ("train", "--task", "pawsx", "--languages", "en,it", "--data-dir", "builtin:fixture"),
        ("train", "--method", "magic"),
        ("train", "--model", str(tmp_path / "no-model"), "--data-dir", "builtin:fixture"),
        ("evaluate", str(tmp_path)),
        ("reproduce", "smoke", "--format", "html"),
        ("reproduce", "smoke", "--set", "train.learning_rate=abc"),    # a wrong type in --set
        ("reproduce", "smoke", "--set", "methods.adv.steps=1.5"),
        ("train", "--epochs", "abc"),                                   # a wrong type in an option
        ("reproduce", "smoke", "--nproc", "two"),
        ("reproduce", "smoke", "--no-such-option"),
        ("sweep", "smoke", "--grid", "epsilon"),
        # one rule for method options on every verb: one that no selected method has is an error
        ("train", "--method", "baseline", "--epsilon", "0.2", "--data-dir", "builtin:fixture"),
        ("reproduce", "smoke", "--methods", "baseline,rs-da", "--epsilon", "0.2"),
        ("sweep", "smoke", "--methods", "baseline", "--grid", "train.learning_rate=1e-3", "--epsilon", "0.2"),
        ("reproduce", "smoke", "--noise", "pink"),                      # a choice the method does not have
    ]
    for args in cases:
        proc = run_xlr(*args, "--out", tmp_path / "runs") if args[0] != "evaluate" else run_xlr(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, (args, proc.stderr)
    typed = run_xlr("reproduce", "smoke", "--set", "train.learning_rate=abc", "--out", tmp_path / "runs")
    assert "train.learning_rate" in typed.stderr and "a number" in typed.stderr
    owner = run_xlr("reproduce", "smoke", "--methods", "baseline,rs-da", "--epsilon", "0.2", "--out", tmp_path / "o")
    assert "--epsilon" in owner.stderr and "adv, rs-rp" in owner.stderr
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_every_verb_has_help():
    for verb in ("train", "evaluate", "reproduce", "sweep"):
        proc = run_xlr(verb, "--help", check=True)
        assert "Usage" in proc.stdout and "--" in proc.stdout
        if verb != "evaluate":  # the method flags, generated from the registry
            assert all(flag in proc.stdout for flag in ("--epsilon", "--copies", "--max-norm", "--kl-weight"))


@pytest.mark.slow
def test_evaluate_reuses_predictions_unless_fresh(smoke):
    runs, first = smoke
    run = runs / "smoke" / "baseline" / "seed7"
    pred = run / "predictions" / "standard" / "en.npz"
    before = pred.stat().st_mtime_ns
    reused = run_xlr("evaluate", run, "--languages", "en", check=True)
    assert "reusing stored predictions" in reused.stderr and pred.stat().st_mtime_ns == before
    fresh = run_xlr("evaluate", run, "--languages", "en", "--fresh", check=True)
    assert pred.stat().st_mtime_ns != before and "test en" not in fresh.stdout
    assert "device: CPU" in first.stderr                       # the device line, before any work
    config = json.loads((run / "config.json").read_text())
    assert config["device"]["device"] == "cpu" and config["device"]["line"].startswith("device: CPU")


def standard_table(text: str) -> list[list[str]]:
    """The rows (method, then its numbers) of the first rich table in TEXT: the standard test."""
    rows, started = [], False
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]
        if cells and cells[0] == "method":
            started = True
        elif started and cells and cells[0] in ("baseline", "adv", "rs-rp", "rs-da"):
            rows.append(cells)
        elif started and rows and line.startswith("└"):
            break
    return rows


def test_readme_shows_the_smoke_table_that_smoke_prints(smoke):
    """README's "First command" table is what `xlr reproduce smoke` prints now, not a copy from long ago."""
    from conftest import REPO

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## First command"):]
    shown = standard_table(section[:section.index("```", section.index("┏"))])
    printed = standard_table(smoke[1].stdout)
    assert len(printed) == 4 and shown == printed, f"README shows {shown}, smoke prints {printed}"
