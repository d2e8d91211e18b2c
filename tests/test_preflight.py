"""Everything a run needs is resolved before the first step, and results say which data and weights made them."""
import json

import pytest
from conftest import REPO, run_xlr

from xlr.engine import preflight
from xlr.tasks import TASKS, PairSet
from xlr.sources import HubSource
from xlr.errors import XlrError
from xlr.experiments import load_experiment

SMOKE = REPO / "reproduce" / "smoke.toml"


def rsda_experiment(tmp_path, synonyms_line: str = "") -> str:
    """The smoke experiment, baseline first, with RS-DA reading the default (downloaded) synonym table."""
    text = SMOKE.read_text().replace('rs-da = { copies = 2, synonyms = "builtin:fixture" }',
                                     f"rs-da = {{ copies = 2{synonyms_line} }}")
    text = text.replace("generalized = true", "generalized = false")
    path = tmp_path / "rsda.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.slow
def test_rsda_offline_without_a_cached_table_stops_before_any_method_trains(tmp_path):
    out = tmp_path / "runs"
    proc = run_xlr("reproduce", rsda_experiment(tmp_path), "--methods", "baseline,rs-da", "--out", out,
                   env={"HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(tmp_path / "cache"), "XLR_SYNONYMS": ""})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "synonym table" in error[0] and "--synonyms" in error[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(out.rglob("baseline")), "the baseline trained before the missing table was found"


@pytest.mark.slow
def test_an_unwritable_cache_folder_is_one_line_before_training(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be\n")
    out = tmp_path / "runs"
    proc = run_xlr("reproduce", rsda_experiment(tmp_path), "--methods", "baseline,rs-da", "--out", out,
                   env={"XDG_CACHE_HOME": str(blocker / "cache"), "XLR_SYNONYMS": ""})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot write to the xlr cache" in proc.stderr and "XDG_CACHE_HOME" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(out.rglob("baseline"))


@pytest.mark.parametrize("verb", [
    ("reproduce", "smoke"),
    ("train", "--model", "builtin:tiny-bert", "--data-dir", "builtin:fixture"),
    ("sweep", "smoke", "--methods", "adv", "--grid", "epsilon=0.1"),
])
@pytest.mark.slow
def test_a_run_store_that_cannot_be_written_is_one_line_before_anything_starts(tmp_path, verb):
    """--out under a file (or on a read-only mount) gave a traceback from the first run's claim."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the run store should be\n")
    proc = run_xlr(*verb, "--out", blocker / "runs", env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "cannot write to the run store" in error[0] and "--out" in error[0], proc.stderr
    assert "Traceback" not in proc.stderr and blocker.read_text().startswith("a file")


@pytest.mark.slow
def test_bad_input_creates_no_run_store(tmp_path):
    """The run store is checked (and so created) only after the other inputs passed."""
    proc = run_xlr("reproduce", "smoke", "--train-file", tmp_path / "missing.tsv", "--out", tmp_path / "runs",
                   env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2 and "--train-file" in proc.stderr, proc.stderr
    assert not (tmp_path / "runs").exists()


def test_check_writable_names_the_variable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(XlrError, match="a file stands where a folder must be: set HF_HOME to another path"):
        preflight.check_writable(blocker / "hub", "Hugging Face hub cache", "HF_HOME")
    preflight.check_writable(tmp_path / "fine" / "hub", "Hugging Face hub cache", "HF_HOME")


@pytest.mark.slow
def test_results_name_the_fingerprints_of_their_data_and_model(tmp_path):
    out = tmp_path / "runs"
    # provenance does not depend on how long the run trains: two steps, no generalized pairs
    run_xlr("reproduce", "smoke", "--methods", "baseline", "--set", "train.max_steps=2", "--set", "train.eval_steps=2",
            "--set", "generalized=false", "--out", out, env={"HF_HUB_OFFLINE": "1"}, check=True)
    results = json.loads((out / "smoke" / "results.json").read_text())
    sources = results["sources"]
    assert sources["model"]["model"] == "builtin:tiny-bert"
    assert set(sources["data"]) == {"train-en", "dev-en"} | {f"test-{lang}" for lang in TASKS["pawsx"].languages}
    for record in sources["data"].values():
        assert record["path"].endswith(".tsv") and len(record["sha256"]) == 64
    config = json.loads((out / "smoke" / "baseline" / "seed7" / "config.json").read_text())
    assert config["sources"] == sources


def test_a_local_model_folder_is_fingerprinted(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "weights.bin").write_bytes(b"\0" * 10)
    first = preflight.model_provenance(str(folder))
    assert first["model"] == str(folder.resolve()) and len(first["sha256"]) == 64
    (folder / "weights.bin").write_bytes(b"\1" * 10)
    assert preflight.model_provenance(str(folder))["sha256"] != first["sha256"]


class FakeBuilder:
    """What datasets.load_dataset_builder returns, for a hub dataset: its hash is the resolved commit."""

    hash = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, name, config, revision=None):
        self.name, self.config, self.revision = name, config, revision

    def download_and_prepare(self):
        pass

    def as_dataset(self, split):
        import datasets

        return datasets.Dataset.from_dict({"id": [1, 2], "sentence1": ["a", "b"], "sentence2": ["c", "d"],
                                           "label": [0, 1]})


def test_hub_sets_record_the_commit_they_were_loaded_from(monkeypatch):
    import datasets

    calls = []

    def builder(name, config, revision=None):
        calls.append((name, config, revision))
        return FakeBuilder(name, config, revision)

    monkeypatch.setattr(datasets, "load_dataset_builder", builder)
    pairs = HubSource().load(TASKS["pawsx"], "test", "de")
    assert isinstance(pairs, PairSet) and pairs.labels == [0, 1]
    # the shipped task file pins a commit, and the set records what the hub resolved
    assert calls == [("google-research-datasets/paws-x", "de", TASKS["pawsx"].hub.revision)]
    assert len(TASKS["pawsx"].hub.revision) == 40 and len(TASKS["xnli"].hub.revision) == 40
    assert pairs.provenance == {"dataset": "google-research-datasets/paws-x", "config": "de", "split": "test",
                                "revision": TASKS["pawsx"].hub.revision, "commit": FakeBuilder.hash}
    assert pairs.head(1).provenance == pairs.provenance


def test_an_experiment_may_pin_the_dataset_revision():
    exp = load_experiment("table1", None, [{"revision": "main"}])
    assert exp.task_def.hub.revision == "main"
    assert exp.task_def.as_dict()["hub"]["revision"] == "main"  # stored with each run: a new revision retrains
    with pytest.raises(XlrError, match="has no \\[hub\\] table"):
        load_experiment("smoke-sentiment", None, [{"revision": "main"}])
