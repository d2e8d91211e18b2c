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
    with pytest.raises(XlrError, match="valid tasks: paws-wiki, pawsx, xnli"):
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


def test_pawsx_cpu_train_drops_evaluation_rows_and_repeats_in_order(tmp_path):
    from xlr.sources import pawsx_cpu_train

    for folder, name, text in [("paws-wiki", "dev-en.tsv", "a\tb\t1\nheld\tout\t0\nc\td\t0\na\tb\t1\n"),
                               ("paws-wiki", "test-en.tsv", "e\tf\t1\ntest\trow\t1\nc\td\t1\nheld\tout\t0\ng\th\t0\n"),
                               ("pawsx", "dev-en.tsv", "held\tout\t0\n"), ("pawsx", "test-en.tsv", "test\trow\t0\n")]:
        (tmp_path / folder).mkdir(exist_ok=True)
        write(tmp_path / folder, text, name)
    made = pawsx_cpu_train(open_source(tmp_path))
    # dev rows before test rows, first occurrence kept, a held-out text dropped whatever its label
    assert format_tsv(made.pairs, PAWSX) == "a\tb\t1\nc\td\t0\ne\tf\t1\ng\th\t0\n"
    # a held-out row seen twice counts as held out both times, never as a repeat
    assert (made.candidates, made.held_out, made.repeats) == (9, 3, 2)


def test_pawsx_cpu_train_refuses_what_would_lose_or_fake_a_file(tmp_path):
    from conftest import run_xlr

    for folder in ("paws-wiki", "pawsx"):
        (tmp_path / folder).mkdir()
        write(tmp_path / folder, "x\ty\t1\n", "test-en.tsv")
    write(tmp_path / "paws-wiki", "a\tb\t1\n", "dev-en.tsv")
    write(tmp_path / "pawsx", "x\ty\t1\n", "dev-en.tsv")
    out = tmp_path / "train.tsv"
    out.write_text("the file results were trained on\n")
    cases = [(["--out", out], "exists and differs", "--force"),
             (["--out", tmp_path], "is a folder", "train-en-small.tsv"),
             # one flat folder: PAWS-X's files would be read as PAWS-Wiki's
             (["--out", tmp_path / "o.tsv", "--data-dir", tmp_path / "pawsx"], "need a subfolder each", "paws-wiki/")]
    for args, what, fix in cases:
        proc = run_xlr("data", "pawsx-cpu-train", *(["--data-dir", tmp_path] if "--data-dir" not in args else []), *args)
        assert proc.returncode == 2 and what in proc.stderr and fix in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert out.read_text() == "the file results were trained on\n" and not (tmp_path / "o.tsv").exists()
    write(tmp_path / "paws-wiki", "x\ty\t0\n", "dev-en.tsv")   # nothing left: an error, not an empty file
    proc = run_xlr("data", "pawsx-cpu-train", "--data-dir", tmp_path, "--out", tmp_path / "o.tsv")
    assert proc.returncode == 2 and "check that its paws-wiki/ folder" in proc.stderr and not (tmp_path / "o.tsv").exists()
    write(tmp_path / "paws-wiki", "a\tb\t1\n", "dev-en.tsv")
    proc = run_xlr("data", "pawsx-cpu-train", "--data-dir", tmp_path, "--out", out, "--force")
    assert proc.returncode == 0 and out.read_text() == "a\tb\t1\n" and "NOT the file behind" in proc.stderr


def test_pawsx_cpu_train_rebuilds_the_published_file(shared_data, tmp_path):
    """PAWS-Wiki is not at hand offline: its dev and test files are made from the published training file with
    PAWS-X's English dev and test rows and repeats mixed in, and the command must give back that file exactly."""
    import hashlib
    from conftest import run_xlr
    from xlr.sources import PAWSX_CPU_TRAIN_SHA256

    source = shared_data / "pawsx" / "train-en-small.tsv"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    published = source.read_text(encoding="utf-8").splitlines(True)
    assert hashlib.sha256("".join(published).encode()).hexdigest() == PAWSX_CPU_TRAIN_SHA256
    dev, test = [(shared_data / "pawsx" / f"{s}-en.tsv").read_text(encoding="utf-8").splitlines(True)
                 for s in ("dev", "test")]
    (tmp_path / "pawsx").mkdir()
    (tmp_path / "paws-wiki").mkdir()
    write(tmp_path / "pawsx", "".join(dev), "dev-en.tsv")
    write(tmp_path / "pawsx", "".join(test), "test-en.tsv")
    half = len(published) // 2
    write(tmp_path / "paws-wiki", "".join(dev[:300] + published[:half] + published[:7] + dev[-300:]), "dev-en.tsv")
    write(tmp_path / "paws-wiki", "".join(published[half:] + test[:500] + published[half:half + 5]), "test-en.tsv")
    proc = run_xlr("data", "pawsx-cpu-train", "--data-dir", tmp_path, "--out", tmp_path / "out" / "train.tsv")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "train.tsv").read_text(encoding="utf-8") == "".join(published)
    assert "1100 equal a PAWS-X English dev or test pair, 12 repeat" in proc.stderr
    assert f"sha256 {PAWSX_CPU_TRAIN_SHA256}: the file behind xlr's published PAWS-X results" in proc.stderr


def test_data_commands_refuse_an_unwritable_out_before_reading(tmp_path):
    from conftest import run_xlr

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be\n")
    for args in (["export", "--data-dir", "builtin:fixture", "--out", blocker / "x"],
                 # the data folder does not exist either: the output folder is checked first
                 ["pawsx-cpu-train", "--data-dir", tmp_path / "nothing", "--out", blocker / "t.tsv"]):
        proc = run_xlr("data", *args)
        assert proc.returncode == 2 and "cannot write to the" in proc.stderr and "set --out to another path" in \
            proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert blocker.read_text() == "a file where the output folder should be\n"
