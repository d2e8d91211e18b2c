"""Bad input to the commands that write files or read lists (augment, data export, analyze distance, results
render, compare, doctor): one line naming the fix, exit 2, before any work, and nothing already written lost."""
import json
import shutil

import pytest

from conftest import REPO
from xlr.errors import XlrError
from xlr.sources import fixture_dir

SET = REPO / "results" / "pawsx-e5-cpu"


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture()
def places(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "plot.png").mkdir()
    (tmp_path / "afile").write_text("not a folder\n")
    return tmp_path


@pytest.mark.parametrize("case", ["augment-folder", "augment-under-file", "export-file", "cpu-train-folder",
                                  "render-folder", "distance-plot-folder"])
def test_an_output_path_that_cannot_be_written_is_refused_before_the_work(xlr_main, places, case):
    augment = ["augment", "--input", fixture_dir() / "train-en.tsv", "--num", "1", "--synonyms", "builtin:fixture"]
    if case.startswith("render") or case.startswith("distance"):
        if not SET.is_dir():
            pytest.skip("no results/ in this checkout")
    args, expected = {
        "augment-folder": ([*augment, "--out", places / "folder"], "is a folder; give a file name"),
        "augment-under-file": ([*augment, "--out", places / "afile" / "x.tsv"], "a file stands where a folder must be"),
        "export-file": (["data", "export", "--out", places / "afile", "--splits", "dev", "--data-dir", "builtin:fixture"],
                        "a file stands where a folder must be"),
        "cpu-train-folder": (["data", "pawsx-cpu-train", "--out", places / "folder"], "is a folder; give a file name"),
        "render-folder": (["results", "render", "--results", REPO / "results", "--out", places / "folder"],
                          "is a folder; give a file name"),
        "distance-plot-folder": (["analyze", "distance", SET / "results.csv", "--plot", places / "plot.png"],
                                 "is a folder; give a file name"),
    }[case]
    code, out, err = xlr_main(*args)
    assert code == 2 and expected in one_line(err), err
    assert out == ""  # the distance table is not printed before its plot is refused
    assert sorted(p.name for p in places.iterdir()) == ["afile", "folder", "plot.png"] and not any((places / "folder").iterdir())


@pytest.mark.parametrize("args, expected", [
    (["data", "export", "--languages", "", "--splits", "dev", "--data-dir", "builtin:fixture"], "--languages is empty"),
    (["data", "export", "--splits", ",", "--data-dir", "builtin:fixture"], "--splits is empty"),
    (["analyze", "distance", "--against", "elsewhere"], "use it with --paper"),
    (["analyze", "distance", "--features", ""], "--features is empty"),
    (["compare", "--tolerance-language", "nan"], "--tolerance-language must be a number >= 0, not nan"),
    (["compare", "--between", "baseline", "adv", "--setting", "weird"], "--setting weird: use standard or generalized"),
    (["compare", "--between", "baseline", "adv", "--bootstrap-seed", "-1"], "--bootstrap-seed must be >= 0"),
    (["augment", "--input", "x.tsv", "--out", "y.tsv", "--num", "0"], "--num must be at least 1, not 0"),
    (["doctor", "--hub-timeout", "nan"], "--hub-timeout must be a positive number of seconds"),
    (["analyze", "geometry", "--pairs", "0"], "--pairs must be at least 1, not 0"),
    (["analyze", "geometry", "--steps", "0"], "--steps must be at least 1, not 0"),
    (["analyze", "geometry", "--adv", "-1"], "--adv '-1' must be comma-separated numbers >= 0"),
    (["analyze", "geometry", "--rs-rp", "0.1,nan"], "--rs-rp '0.1,nan' must be comma-separated numbers >= 0"),
])
def test_an_empty_or_impossible_option_is_one_line(xlr_main, tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    code, _, err = xlr_main(*args, *(["--out", tmp_path / "out"] if args[:2] == ["data", "export"] else []))
    assert code == 2 and expected in one_line(err), err
    assert not (tmp_path / "out").exists()


def test_export_writes_a_split_named_twice_once(xlr_main, tmp_path):
    code, _, err = xlr_main("data", "export", "--out", tmp_path / "out", "--splits", "dev,,dev", "--languages", "en",
                            "--data-dir", "builtin:fixture")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dev-en.tsv", "dev.ids"]


def test_an_export_that_fails_half_way_leaves_the_folder_as_it_was(xlr_main, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(fixture_dir() / "dev-en.tsv", source)
    (source / "dev-de.tsv").write_text("")  # read after dev-en.tsv, which was fine
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "dev-en.tsv").write_text("OLD\n")
    for out in (kept, tmp_path / "new" / "deeper"):
        code, _, err = xlr_main("data", "export", "--out", out, "--splits", "dev", "--languages", "en,de",
                                "--data-dir", source)
        assert code == 2 and "dev-de.tsv" in one_line(err), err
    assert [p.name for p in kept.iterdir()] == ["dev-en.tsv"] and (kept / "dev-en.tsv").read_text() == "OLD\n"
    assert not (tmp_path / "new").exists()


def test_an_out_that_is_a_broken_link_is_one_line(xlr_main, tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    code, _, err = xlr_main("data", "export", "--out", tmp_path / "link", "--splits", "dev", "--data-dir",
                            "builtin:fixture")
    assert code == 2 and "a file stands where a folder must be" in one_line(err), err


def test_a_data_dir_that_is_a_file_says_so(xlr_main, tmp_path):
    (tmp_path / "data.tsv").write_text("x\n")
    code, _, err = xlr_main("data", "export", "--out", tmp_path / "out", "--data-dir", tmp_path / "data.tsv")
    assert code == 2 and "is a file, not a folder" in one_line(err), err


@pytest.mark.parametrize("text, expected", [
    ('robust_methods = "adv"\n', "robust_methods must be a list of method names"),
    ('baseline = 1\n', "baseline must be a method name"),
    ('[[claims]]\nid = "c"\ncheck = "beats-baseline"\nstatement = "s"\nsource = "x"\nsetting = 5\n',
     "claim c: setting must be a string, not 5"),
    ('[[claims]]\nid = "c"\ncheck = "beats-baseline"\nstatement = "s"\nsource = "x"\nsetting = "mixed"\n',
     "claim c: setting must be standard or generalized"),
    ('[[claims]]\nid = "c"\ncheck = "gain-distance-correlation"\nstatement = "s"\nsource = "x"\nalpha = "x"\n',
     "claim c: alpha must be a number"),
    ('[[claims]]\nid = "c"\ncheck = "gain-distance-correlation"\nstatement = "s"\nsource = "x"\nalpha = 5\n',
     "claim c: alpha must lie between 0 and 1"),
])
def test_claims_of_the_wrong_type_are_refused_when_read(tmp_path, text, expected):
    from xlr.results.paper import read_claims

    (tmp_path / "claims.toml").write_text(text)
    with pytest.raises(XlrError, match=expected):
        read_claims(tmp_path / "claims.toml")


def test_a_synonym_table_with_other_than_words_is_refused():
    from xlr.methods.synonyms import _parse

    with pytest.raises(XlrError, match="is not a word -> \\[neighbours\\] JSON object"):
        _parse(b'{"the": [1, 2]}', "table.json")


@pytest.mark.parametrize("ms", [-5, 0, "nan"])
def test_a_throughput_file_with_impossible_step_times_is_refused(tmp_path, ms):
    from xlr.engine.throughput import read_rates

    path = tmp_path / "throughput.json"
    path.write_text(json.dumps({"results": [{"method": "baseline", "ms_per_step": ms}], "batch_size": 32,
                                "model": "m", "device": {"name": "cpu"}}))
    with pytest.raises(XlrError, match="is not a throughput.json"):
        read_rates(path, 32, ["baseline"])
