"""paper_results/: the PAWS-X table equals the seed slides' table, number for number, and loads as data."""
import re

import pytest

from conftest import REPO, SHARED
from xlr.results import paper as paper_mod
from xlr.errors import XlrError
from xlr.store import RESULT_COLUMNS, read_results_csv, rows_to_csv

SLIDES = SHARED / "seed" / "paper-slides.txt"
PAWSX = REPO / "paper_results" / "pawsx_mbert.csv"
ROW_METHOD = {"mBERT*": "baseline-xtreme", "mBERT (reproduce)": "baseline", "mBERT-ADV": "adv",
              "mBERT-RS-RP": "rs-rp", "mBERT-RS-DA": "rs-da"}


def seed_table() -> dict[tuple[str, str], float]:
    """The slides' PAWS-X table, parsed here (markup stripped), so a transcription typo fails a test."""
    if not SLIDES.is_file():
        pytest.skip(f"seed slides not found at {SLIDES} (expected ../shared/seed beside the checkout)")
    lines = SLIDES.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if "Transfer on PAWS-X" in line)
    header = next(line for line in lines[start:] if line.startswith("Model\t"))
    languages = [h.strip().rstrip(".") for h in header.split("\t")[1:]]
    table = {}
    for line in lines[lines.index(header) + 1:]:
        if not line.strip():
            if table:
                break
            continue
        label, *cells = line.split("\t")
        if label not in ROW_METHOD:
            break
        assert len(cells) == len(languages), line
        for lang, cell in zip(languages, cells):
            table[(ROW_METHOD[label], lang)] = float(re.sub(r"</?[a-z]+>", "", cell).strip())
    assert len(table) == 5 * 8
    return table


def test_pawsx_table_equals_the_slides():
    expected = seed_table()
    rows = read_results_csv(PAWSX, extra_columns=("role", "source"))
    got = {(r["method"], r["language"]): r["accuracy"] for r in rows}
    assert len(rows) == len(got) == len(expected)  # no duplicates, nothing extra
    assert got == expected


def test_pawsx_rows_are_tidy_and_say_where_they_come_from():
    rows = read_results_csv(PAWSX, extra_columns=("role", "source"))
    for r in rows:
        assert (r["experiment"], r["task"], r["model"], r["seed"], r["setting"]) == (
            "table1", "pawsx", "bert-base-multilingual-cased", None, "standard")
        assert r["source"].startswith("paper slides, PAWS-X table, row ")
        assert r["source"].endswith(f"column {'avg.' if r['language'] == 'avg' else r['language']}"
                                    + (" (as printed)" if r["language"] == "avg" else ""))
        assert r["role"] == ("reference" if r["method"] == "baseline-xtreme" else "target")


def test_printed_averages_agree_with_the_row_means():
    """The printed avg is stored as printed; it must still be the mean of the row to within rounding."""
    table = seed_table()
    for method in ROW_METHOD.values():
        langs = [table[(method, lang)] for lang in ("en", "de", "es", "fr", "ja", "ko", "zh")]
        assert abs(sum(langs) / 7 - table[(method, "avg")]) <= 0.05 + 1e-9, method


def test_round_trip(tmp_path):
    rows = read_results_csv(PAWSX, extra_columns=("role", "source"))
    out = tmp_path / "copy.csv"
    out.write_text(rows_to_csv([{**r, "seed": ""} for r in rows], RESULT_COLUMNS + ["role", "source"]))
    assert read_results_csv(out, extra_columns=("role", "source")) == rows


def test_only_numbers_from_our_source_are_stored():
    """The paper's XNLI and generalized-setting numbers are not in our sources, so none may be stored."""
    tables = sorted((REPO / "paper_results").glob("*.csv"))
    assert tables, "paper_results/ holds no table"
    for path in tables:
        rows = read_results_csv(path, extra_columns=("role", "source"))
        assert rows, path
        for r in rows:
            assert r["task"] == "pawsx" and r["setting"] == "standard", (path, r)
    readme = (REPO / "paper_results" / "README.md").read_text(encoding="utf-8")
    assert "XNLI" in readme and "generalized" in readme and "not stored" in readme


def test_load_keeps_targets_and_claims():
    p = paper_mod.load(REPO / "paper_results")
    assert {k[2] for k in p.targets} == {"baseline", "adv", "rs-rp", "rs-da"}
    assert {r["method"] for r in p.references} == {"baseline-xtreme"}
    assert p.baseline == "baseline" and p.robust_methods == ["adv", "rs-rp", "rs-da"]
    assert [c.check for c in p.claims] == ["beats-baseline", "gain-distance-correlation", "generalized-gain-larger"]
    assert all(c.source and c.statement for c in p.claims)


def test_paper_table_without_source_is_rejected(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text("experiment,task,model,method,seed,setting,language,accuracy,source\n"
                   "t,pawsx,m,baseline,,standard,de,80.0,\n")
    with pytest.raises(XlrError, match="no source"):
        paper_mod.load(bad)
