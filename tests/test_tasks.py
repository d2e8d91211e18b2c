"""Tasks as data: reproduce/tasks/*.toml, [task] tables, single-sentence tasks, the hub mapping, and a
single-sentence task defined only in its experiment TOML run end to end."""
import csv
import json

import pytest
from conftest import run_xlr

from xlr.tasks import TASKS, PairSet, format_tsv, get_task, read_tsv, task_from_dict, task_of_config
from xlr.sources import HubSource, LocalSource, fixture_dir
from xlr.errors import XlrError
from xlr.experiments import load_experiment
from xlr.methods.synonyms import augment
from xlr.tasks import train_settings_for

SENTIMENT = {"name": "sentiment", "languages": ["en", "de"], "text_columns": ["text"], "labels": ["neg", "pos"]}


def test_shipped_tasks_are_the_definitions_xlr_always_had():
    pawsx, xnli = TASKS["pawsx"], TASKS["xnli"]
    assert pawsx.languages == ("en", "de", "es", "fr", "ja", "ko", "zh") and pawsx.labels == ("0", "1")
    assert pawsx.text_columns == ("sentence1", "sentence2") and pawsx.is_pair
    assert pawsx.hub.dataset == "google-research-datasets/paws-x" and pawsx.hub.config_of("de") == "de"
    assert pawsx.placeholders == ("NS", "WL") and pawsx.placeholder_label == 0
    assert xnli.labels == ("entailment", "neutral", "contradiction") and len(xnli.languages) == 15
    assert xnli.text_columns == ("premise", "hypothesis") and xnli.hub.dataset == "facebook/xnli"
    assert xnli.placeholders == () and xnli.placeholder_label is None
    assert xnli.hub.splits == {"train": "train", "dev": "validation", "test": "test"}
    # the task's [train] table gives its protocol defaults: XNLI's 1 epoch, English dev every 1000 steps
    assert (train_settings_for("xnli").epochs, train_settings_for("xnli").eval_steps) == (1.0, 1000)
    assert (train_settings_for("pawsx").epochs, train_settings_for("pawsx").eval_steps) == (3.0, 500)


def test_definition_round_trips_through_its_dict():
    for task in TASKS.values():
        again = task_from_dict(task.as_dict(), "x")
        assert again.as_dict() == task.as_dict() and again.labels == task.labels and again.hub == task.hub


@pytest.mark.parametrize("change, key", [
    ({"colour": "red"}, "task.colour"),
    ({"labels": "neg,pos"}, "task.labels"),
    ({"labels": ["only"]}, "task.labels"),
    ({"text_columns": ["a", "b", "c"]}, "task.text_columns"),
    ({"text_columns": []}, "task.text_columns"),
    ({"source_language": "it"}, "task.source_language"),
    ({"placeholder_label": "maybe"}, "task.placeholder_label"),
    ({"name": "my task"}, "task.name"),
    ({"hub": {"config": "{language}"}}, "task.hub.dataset"),
    ({"hub": {"dataset": "x/y", "splits": {"eval": "validation"}}}, "task.hub.splits"),
    ({"hub": {"dataset": "x/y", "config": "all"}}, "task.hub.config"),
    ({"hub": {"dataset": "x/y", "language_names": {"it": "italian"}}}, "task.hub.language_names"),
    ({"hub": {"dataset": "x/y", "colums": 1}}, "task.hub.colums"),
])
def test_a_malformed_definition_names_the_key(change, key):
    with pytest.raises(XlrError, match=rf"'{key}'"):
        task_from_dict({**SENTIMENT, **change}, "exp.toml", prefix="task.")


def test_missing_required_keys_and_unknown_training_settings_are_named():
    with pytest.raises(XlrError, match="'task.labels' is required"):
        task_from_dict({"name": "x", "languages": ["en"]}, "exp.toml", prefix="task.")
    task = task_from_dict({**SENTIMENT, "train": {"epoch": 2}}, "mine.toml")
    with pytest.raises(XlrError, match=r"mine.toml: unknown training setting train.epoch"):
        train_settings_for(task)


def test_malformed_task_in_an_experiment_is_exit_2_with_one_line(tmp_path):
    exp = tmp_path / "mine.toml"
    exp.write_text('model = "builtin:tiny-bert"\n[task]\nname = "s"\nlanguages = ["en"]\n'
                   'text_columns = ["text"]\nlabels = ["neg", "pos"]\nlabel_colum = "y"\n')
    proc = run_xlr("reproduce", exp, "--out", tmp_path / "runs")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'task.label_colum'" in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "runs").exists()


def test_task_file_beside_the_experiment_and_by_name(tmp_path):
    (tmp_path / "sent.toml").write_text('name = "sent"\nlanguages = ["en", "de"]\ntext_columns = ["text"]\n'
                                        'labels = ["neg", "pos"]\n[train]\nepochs = 2.0\n')
    (tmp_path / "exp.toml").write_text('task = "sent.toml"\nmodel = "m"\n')
    exp = load_experiment(str(tmp_path / "exp.toml"))
    assert exp.task == "sent" and exp.languages == ["en", "de"] and exp.train_settings().epochs == 2.0
    assert load_experiment("table1").task_def is TASKS["pawsx"]
    with pytest.raises(XlrError, match="unknown task 'paws'"):
        get_task("paws")
    with pytest.raises(XlrError, match="task file nowhere.toml does not exist"):
        get_task("nowhere.toml")


def test_generalized_needs_a_pair_task(tmp_path):
    exp = tmp_path / "exp.toml"
    exp.write_text('model = "m"\ngeneralized = true\n[task]\nname = "s"\nlanguages = ["en", "de"]\n'
                   'text_columns = ["text"]\nlabels = ["neg", "pos"]\n')
    with pytest.raises(XlrError, match="generalized = true needs a sentence-pair task, but s has one text column"):
        load_experiment(str(exp))
    exp.write_text(exp.read_text().replace("generalized = true\n", ""))
    with pytest.raises(XlrError, match="needs a sentence-pair task"):
        load_experiment(str(exp), overrides=[{"generalized": True}])


def test_single_sentence_tsv_has_two_columns(tmp_path):
    task = task_from_dict(SENTIMENT, "x")
    p = tmp_path / "train-en.tsv"
    p.write_text("a fine day\tpos\nrain again\tneg\n")
    s = read_tsv(p, task)
    assert s.sentence1 == ["a fine day", "rain again"] and s.sentence2 is None and s.labels == [1, 0]
    assert format_tsv(s, task) == p.read_text()
    assert s.head(1).sentence2 is None and s.texts == [s.sentence1]
    p.write_text("a fine day\tpos\nrain\tagain\tneg\n")
    with pytest.raises(XlrError, match=r":2: expected 2 tab-separated columns \(text, label\), found 3"):
        read_tsv(p, task)


def test_rs_da_augments_every_text_column():
    table = {"good": ["fine"], "bad": ["poor"]}
    single, stats = augment(PairSet(["good day", "bad day", "no match"], None, [1, 0, 1], "m"), table, 4, seed=1)
    assert single.sentence2 is None and len(single) == 12 and single.labels == [1] * 4 + [0] * 4 + [1] * 4
    assert set(single.sentence1[:4]) == {"good day", "fine day"} and set(single.sentence1[8:]) == {"no match"}
    assert stats.perturbed == 2
    pairs, _ = augment(PairSet(["good"] * 20, ["bad"] * 20, [1] * 20, "m"), table, 1, seed=1)
    assert {"fine", "good"} == set(pairs.sentence1) and {"poor", "bad"} == set(pairs.sentence2)


def fake_datasets(monkeypatch, rows: dict, calls: list):
    """`datasets.load_dataset_builder` serving `rows[(config, split)]` (no network)."""
    import datasets

    class Builder:
        hash = "f" * 40

        def __init__(self, name, config, revision=None):
            self.name, self.config, self.revision = name, config, revision

        def download_and_prepare(self):
            pass

        def as_dataset(self, split):
            calls.append((self.name, self.config, split, self.revision))
            return datasets.Dataset.from_dict(rows[(self.config, split)])

    monkeypatch.setattr(datasets, "load_dataset_builder", Builder)


def test_hub_source_follows_the_task_table(monkeypatch):
    calls = []
    fake_datasets(monkeypatch, {
        ("english", "validation"): {"text": ["nice", "awful"], "label": [2, 0]},
        ("all", "test"): {"text": ["gut", "nice", "schlecht"], "label": ["positive", "positive", "negative"],
                          "lang": ["german", "english", "german"]},
    }, calls)
    per_config = task_from_dict({"name": "t", "languages": ["en", "de"], "text_columns": ["text"],
                                 "labels": ["negative", "neutral", "positive"],
                                 "hub": {"dataset": "org/t", "config": "{language}", "revision": "abc",
                                         "language_names": {"en": "english", "de": "german"}}}, "t.toml")
    dev = HubSource().load(per_config, "dev", "en")
    assert (dev.sentence1, dev.sentence2, dev.labels) == (["nice", "awful"], None, [2, 0])
    assert calls[-1] == ("org/t", "english", "validation", "abc")
    one_config = task_from_dict({**per_config.as_dict(), "hub": {"dataset": "org/t", "config": "all",
                                                                 "language_column": "lang",
                                                                 "language_names": {"de": "german",
                                                                                    "en": "english"}}}, "t.toml")
    test = HubSource().load(one_config, "test", "de")
    assert (test.sentence1, test.labels) == (["gut", "schlecht"], [2, 0])
    bad = task_from_dict({**per_config.as_dict(), "text_columns": ["sentence"]}, "t.toml")
    with pytest.raises(XlrError, match="has no column sentence .*fix text_columns"):
        HubSource().load(bad, "dev", "en")


def test_a_run_stores_its_task_definition_and_an_edited_task_restarts_it(tmp_path):
    from xlr.engine.pipeline import prepare

    exp = load_experiment("smoke-sentiment", overrides=[{"methods": {"run": ["baseline"]}}])
    spec = exp.runs()[0]
    rd = prepare(spec, tmp_path)
    from xlr.engine.pipeline import run_config

    config = run_config(spec)
    assert task_of_config(config).as_dict() == exp.task_def.as_dict()
    rd.write_config(config)
    rd.mark_done()
    edited = load_experiment("smoke-sentiment", overrides=[{"methods": {"run": ["baseline"]},
                                                            "task": {"labels": ["positive", "negative"]}}])
    with pytest.raises(XlrError, match=r"different configuration \(task changed\)"):
        prepare(edited.runs()[0], tmp_path)


def test_sentiment_fixture_is_big_enough_and_aligned():
    task = load_experiment("smoke-sentiment").task_def
    source = LocalSource(fixture_dir())
    assert source.folder(task) == fixture_dir() / "sentiment"
    for split in ("dev", "test"):
        sets = {lang: source.load(task, split, lang) for lang in task.languages}
        assert all(len(s) >= 40 for s in sets.values())
        assert len({tuple(s.labels) for s in sets.values()}) == 1  # row i is the same item in every language
    assert len(source.load(task, "train", "en")) >= 200


@pytest.mark.slow
def test_single_sentence_task_defined_only_in_its_toml_runs_end_to_end(tmp_path):
    """`xlr reproduce PATH` on the fixture, then `xlr evaluate` on a run: the task comes from the experiment's
    [task] table alone (stored in each run's config.json). The baseline and RS-DA, whose synonym substitution
    is the one method step that reads the text columns; ADV and RS-RP perturb the embeddings of whatever the
    tokenizer made of one sentence or two."""
    runs = tmp_path / "runs"
    proc = run_xlr("reproduce", "reproduce/smoke-sentiment.toml", "--methods", "baseline,rs-da", "--out", runs,
                   env={"HF_HUB_OFFLINE": "1"}, check=True, cwd=fixture_dir().parents[2])
    rows = list(csv.DictReader((runs / "smoke-sentiment" / "results.csv").open()))
    methods = {r["method"] for r in rows}
    assert methods == {"baseline", "rs-da"}, proc.stdout
    assert {r["language"] for r in rows} == {"en", "de", "es", "fr", "avg"}
    assert {r["task"] for r in rows} == {"sentiment"} and {r["setting"] for r in rows} == {"standard"}
    english = {r["method"]: float(r["accuracy"]) for r in rows if r["language"] == "en"}
    # 48 English test sentences, half of each class: every method learned the source language
    assert all(acc >= 75.0 for acc in english.values()), english
    run = runs / "smoke-sentiment" / "baseline" / "seed7"
    assert json.loads((run / "config.json").read_text())["task_definition"]["text_columns"] == ["text"]
    again = run_xlr("evaluate", run, "--fresh", check=True)
    assert f"{english['baseline']:.1f}" in again.stdout


def test_the_bundled_fixtures_are_what_their_generators_write(tmp_path):
    """The smoke fixture and the single-sentence one are data made by code in the package: regenerating them
    gives the same bytes, so neither can drift from its generator."""
    from xlr.fixture import generate, generate_sentiment
    from xlr.sources import fixture_dir

    (tmp_path / "pawsx").mkdir()
    generate.build(tmp_path / "pawsx")
    generate_sentiment.main(tmp_path / "sentiment")
    for made in (tmp_path / "pawsx").glob("*"):
        assert made.read_bytes() == (fixture_dir() / made.name).read_bytes(), made.name
    for made in (tmp_path / "sentiment").glob("*"):
        assert made.read_bytes() == (fixture_dir() / "sentiment" / made.name).read_bytes(), made.name
    assert len(list((tmp_path / "pawsx").glob("*"))) >= 7 and list((tmp_path / "sentiment").glob("*"))
