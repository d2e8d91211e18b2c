"""The generalized setting: pair sets built from aligned test sets, with the alignment verified."""
import pytest

from xlr.tasks import TASKS, PairSet
from xlr.sources import generalized_pairs, open_source, verify_alignment
from xlr.errors import XlrError

PAWSX, XNLI = TASKS["pawsx"], TASKS["xnli"]


def test_pairs_take_sentence1_from_l1_and_sentence2_from_l2():
    sets = {"en": PairSet(["a1", "b1"], ["a2", "b2"], [1, 0], "en.tsv", ["x", "y"]),
            "de": PairSet(["A1", "B1"], ["A2", "B2"], [1, 0], "de.tsv", ["x", "y"])}
    pairs = generalized_pairs(PAWSX, sets)
    assert set(pairs) == {("en", "en"), ("en", "de"), ("de", "en"), ("de", "de")}
    assert pairs[("en", "de")].sentence1 == ["a1", "b1"] and pairs[("en", "de")].sentence2 == ["A2", "B2"]
    assert pairs[("de", "en")].labels == [1, 0]


def test_placeholder_rows_keep_the_official_label_and_do_not_break_alignment():
    sets = {"en": PairSet(["a", "b"], ["c", "d"], [1, 1], "en.tsv"),
            "ja": PairSet(["NS", "e"], ["f", "g"], [0, 1], "ja.tsv")}  # NS rows are labelled 0 in PAWS-X
    pairs = generalized_pairs(PAWSX, sets)
    assert pairs[("ja", "en")].labels == [0, 1]  # sentence 1 is the placeholder
    assert pairs[("en", "ja")].labels == [1, 1]  # the placeholder is not used
    assert pairs[("en", "en")].labels == [1, 1] and pairs[("ja", "ja")].labels == [0, 1]


@pytest.mark.parametrize("wl_label", [0, 1])
def test_every_placeholder_form_is_handled_alike(wl_label):
    """The official data also has `WL` rows (ja test id 7154, zh dev row 566) and a lower-case `ns`. Whether
    the hub labels a WL row 0 (like NS) or keeps the item's label, alignment holds, and a pair that uses the
    placeholder takes the label of the placeholder's own row."""
    sets = {"en": PairSet(["a", "b", "c"], ["d", "e", "f"], [1, 1, 0], "en.tsv", ["1", "2", "3"]),
            "ja": PairSet(["g", "h", "i"], ["WL", "j", "k"], [wl_label, 1, 0], "ja.tsv", ["1", "2", "3"]),
            "ko": PairSet(["ns", "l", "m"], ["n", "o", "p"], [0, 1, 0], "ko.tsv", ["1", "2", "3"])}
    assert verify_alignment(PAWSX, sets) == [1, 1, 0]
    pairs = generalized_pairs(PAWSX, sets)
    assert pairs[("en", "ja")].labels == [wl_label, 1, 0]   # sentence 2 is ja's WL row
    assert pairs[("ja", "en")].labels == [1, 1, 0]          # ja's sentence 1 is real
    assert pairs[("ko", "ja")].labels == [0, 1, 0]          # both placeholders: 0 (or agreeing labels)
    assert pairs[("ko", "en")].labels == [0, 1, 0]


def test_misalignment_names_the_first_bad_row():
    sets = {"en": PairSet(list("abcd"), list("abcd"), [1, 0, 1, 1], "en.tsv"),
            "de": PairSet(list("abcd"), list("abcd"), [1, 0, 0, 1], "de.tsv")}
    with pytest.raises(XlrError, match=r"de.tsv:3 has label 0 but en.tsv:3 has 1"):
        verify_alignment(PAWSX, sets)
    sets["de"] = PairSet(list("abc"), list("abc"), [1, 0, 1], "de.tsv")
    with pytest.raises(XlrError, match="has 3 rows but en.tsv has 4"):
        verify_alignment(PAWSX, sets)
    sets = {"en": PairSet(["a"], ["b"], [1], "en.tsv", ["7"]), "de": PairSet(["a"], ["b"], [1], "de.tsv", ["8"])}
    with pytest.raises(XlrError, match="de.tsv:1 has id 8 but en.tsv:1 has id 7"):
        verify_alignment(PAWSX, sets)


def test_fixture_pairs():
    src = open_source("builtin:fixture")
    sets = {lang: src.load(PAWSX, "test", lang) for lang in PAWSX.languages}
    pairs = generalized_pairs(PAWSX, sets)
    assert len(pairs) == 49 and all(len(p) == len(sets["en"]) for p in pairs.values())


def test_real_pawsx_49_pair_sets_of_2000(shared_data):
    src = open_source(shared_data)
    sets = {lang: src.load(PAWSX, "test", lang) for lang in PAWSX.languages}
    pairs = generalized_pairs(PAWSX, sets)
    assert len(pairs) == 49 and {len(p) for p in pairs.values()} == {2000}
    for lang in PAWSX.languages:  # the diagonal is the standard test set itself
        assert pairs[(lang, lang)].labels == sets[lang].labels


def test_real_xnli_225_pair_sets_of_5010(shared_data):
    src = open_source(shared_data)
    sets = {lang: src.load(XNLI, "test", lang) for lang in XNLI.languages}
    pairs = generalized_pairs(XNLI, sets)
    assert len(pairs) == 225 and {len(p) for p in pairs.values()} == {5010}


@pytest.mark.parametrize("task, lang", [(PAWSX, "ja"), (XNLI, "sw")])
def test_a_shifted_language_fails_verification(shared_data, tmp_path, task, lang):
    src = open_source(shared_data)
    folder = tmp_path / task.name
    folder.mkdir()
    for name in (f"test-{x}.tsv" for x in task.languages):
        lines = (src.folder(task) / name).read_text(encoding="utf-8").splitlines(keepends=True)
        if name == f"test-{lang}.tsv":
            lines = lines[1:] + lines[:1]  # shifted by one row
        (folder / name).write_text("".join(lines), encoding="utf-8")
    shifted = open_source(tmp_path)
    sets = {x: shifted.load(task, "test", x) for x in task.languages}
    with pytest.raises(XlrError, match=r"misaligned data: .*test-\w\w\.tsv:\d+ has label"):
        generalized_pairs(task, sets)


@pytest.mark.slow
def test_misaligned_test_sets_stop_reproduce_before_training(tmp_path):
    """Validated before the first training step: a shifted language costs seconds, not a trained model."""
    import shutil

    from conftest import run_xlr

    from xlr.sources import fixture_dir

    data = tmp_path / "data"
    shutil.copytree(fixture_dir(), data)
    lines = (data / "test-de.tsv").read_text().splitlines(keepends=True)
    (data / "test-de.tsv").write_text("".join(lines[1:] + lines[:1]))   # shifted by one row
    (data / "test.ids").unlink()                                          # only the labels can tell
    proc = run_xlr("reproduce", "smoke", "--data-dir", data, "--out", tmp_path / "runs")
    assert proc.returncode == 2 and "misaligned data" in proc.stderr, proc.stderr
    assert "best source dev accuracy" not in proc.stderr and not (tmp_path / "runs" / "smoke").exists()


def test_a_method_with_fewer_seeds_is_set_against_the_baseline_on_its_own_seeds():
    from xlr.results.report import generalized_tables, minus_baseline_matrix

    def row(method, seed, acc):
        return {"method": method, "seed": seed, "setting": "generalized", "language": "en-en", "accuracy": acc}

    # The baseline's seed 2 is far off; the method has only seed 1, where it is 1 point below.
    rows = [row("baseline", 1, 60.0), row("baseline", 2, 80.0), row("adv", 1, 59.0)]
    assert minus_baseline_matrix(rows, "adv") == {("en", "en"): -1.0}
    diff = [t for t in generalized_tables("t", rows) if t[4]]
    assert diff[0][2] == [("en", {"en": (-1.0, None, 1)})]
