"""The TSV reader, label mapping and the local / fixture sources."""
import pytest

from xlr.tasks import TASKS, format_tsv, get_task, read_tsv, check_languages
from xlr.sources import open_source
from xlr.errors import XlrError

PAWSX, XNLI = TASKS["pawsx"], TASKS["xnli"]


def write(tmp_path, text, name="test-en.tsv"):
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return p


def test_good_file_reads_rows_and_labels(tmp_path):
    p = write(tmp_path, "a b\tc d\t1\ne f\tg h\t0\n")
    s = read_tsv(p, PAWSX)
    assert s.sentence1 == ["a b", "e f"] and s.sentence2 == ["c d", "g h"] and s.labels == [1, 0]
    assert len(s) == 2 and s.where(1) == f"{p}:2"


def test_quotes_are_text_not_csv_quoting(tmp_path):
    p = write(tmp_path, '""Do Over"" is a show\t"quoted\t1\n')
    s = read_tsv(p, PAWSX)
    assert s.sentence1 == ['""Do Over"" is a show'] and s.sentence2 == ['"quoted']


def test_malformed_row_names_file_and_line(tmp_path):
    p = write(tmp_path, "a\tb\t1\nonly two\tcolumns\n")
    with pytest.raises(XlrError, match=rf"{p}:2: expected 3 tab-separated columns .* found 2"):
        read_tsv(p, PAWSX)


def test_extra_column_is_malformed(tmp_path):
    p = write(tmp_path, "a\tb\t1\textra\n")
    with pytest.raises(XlrError, match=r":1: expected 3 .* found 4"):
        read_tsv(p, PAWSX)


def test_unknown_label_names_line_and_valid_labels(tmp_path):
    p = write(tmp_path, "a\tb\tentailment\nc\td\tparaphrase\n")
    with pytest.raises(XlrError, match=r":2: label 'paraphrase' is not a xnli label; expected one of entailment, neutral, contradiction"):
        read_tsv(p, XNLI)


def test_not_utf8_and_empty_and_missing(tmp_path):
    with pytest.raises(XlrError, match=r":2: not valid UTF-8"):
        read_tsv(write(tmp_path, b"a\tb\t1\n\xff\xfe\tc\t0\n"), PAWSX)
    with pytest.raises(XlrError, match="empty"):
        read_tsv(write(tmp_path, "", "empty.tsv"), PAWSX)
    with pytest.raises(XlrError, match="no such file"):
        read_tsv(tmp_path / "nope.tsv", PAWSX)


def test_crlf_and_bom_are_tolerated(tmp_path):
    s = read_tsv(write(tmp_path, "\ufeffa\tb\t1\r\nc\td\t0\r\n"), PAWSX)
    assert s.sentence1 == ["a", "c"] and s.labels == [1, 0]


def test_label_mapping_is_fixed_and_documented():
    assert PAWSX.labels == ("0", "1")
    # the order of Hugging Face facebook/xnli, so hub labels need no remapping
    assert XNLI.labels == ("entailment", "neutral", "contradiction")
    assert XNLI.label_id("contradiction") == 2 and PAWSX.label_id("1") == 1


def test_placeholder_rows_are_kept(tmp_path):
    s = read_tsv(write(tmp_path, "NS\tsomething\t0\n"), PAWSX)
    assert s.sentence1 == ["NS"] and PAWSX.is_placeholder("NS") and PAWSX.is_placeholder(" ns ")


def test_unknown_task_and_language_list_the_valid_ones():
    with pytest.raises(XlrError, match="valid tasks: pawsx, xnli"):
        get_task("paws")
    with pytest.raises(XlrError, match="unknown pawsx language it; valid: en de es fr ja ko zh"):
        check_languages(PAWSX, ["en", "it"])


def test_format_round_trips(tmp_path):
    p = write(tmp_path, "a\tb\t1\nc\td\t0\n")
    s = read_tsv(p, PAWSX)
    assert format_tsv(s, PAWSX) == p.read_text()


def test_fixture_has_all_languages_aligned():
    src = open_source("builtin:fixture")
    sets = {lang: src.load(PAWSX, "test", lang) for lang in PAWSX.languages}
    assert all(len(s) >= 40 for s in sets.values())
    assert all(s.labels == sets["en"].labels and s.ids == sets["en"].ids for s in sets.values())
    assert len(src.load(PAWSX, "train", "en")) >= 40
    assert {lang: len(src.load(PAWSX, "dev", lang)) >= 40 for lang in PAWSX.languages} == {
        lang: True for lang in PAWSX.languages}


def test_local_source_errors_name_the_fix(tmp_path):
    with pytest.raises(XlrError, match="does not exist"):
        open_source(tmp_path / "missing")
    src = open_source(tmp_path)
    with pytest.raises(XlrError, match="pass --train-file"):
        src.load(PAWSX, "train", "en")


def test_nested_task_folder_is_found(tmp_path):
    (tmp_path / "pawsx").mkdir()
    write(tmp_path / "pawsx", "a\tb\t1\n", "dev-de.tsv")
    assert open_source(tmp_path).load(PAWSX, "dev", "de").labels == [1]


def test_data_export_of_the_fixture_skips_what_it_lacks(tmp_path):
    from conftest import run_xlr

    proc = run_xlr("data", "export", "--data-dir", "builtin:fixture", "--out", tmp_path / "all")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "all" / "train-en.tsv").is_file() and (tmp_path / "all" / "test-ja.tsv").is_file()
    assert "the source has no train-de" in proc.stderr and "--train-file" not in proc.stderr
    asked = run_xlr("data", "export", "--data-dir", "builtin:fixture", "--out", tmp_path / "x", "--splits", "train")
    assert asked.returncode == 2 and "has no train-de.tsv" in asked.stderr and "--train-file" not in asked.stderr
