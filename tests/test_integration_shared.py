"""Integration tests on the real data in ../shared/data and the real multilingual-e5-small encoder.
They skip, with the reason, when ../shared is absent."""
import pytest

from conftest import run_xlr
from xlr.tasks import TASKS, read_tsv
from xlr.sources import open_source

PAWSX, XNLI = TASKS["pawsx"], TASKS["xnli"]


def test_local_source_loads_every_test_set(shared_data):
    src = open_source(shared_data)
    for lang in PAWSX.languages:
        s = src.load(PAWSX, "test", lang)
        assert len(s) == 2000 and s.ids is not None and len(s.ids) == 2000
    for lang in XNLI.languages:
        assert len(src.load(XNLI, "test", lang)) == 5010
    assert sum(PAWSX.is_placeholder(x) for x in src.load(PAWSX, "test", "ja").sentence1 +
               src.load(PAWSX, "test", "ja").sentence2) > 0  # NS rows kept, as the official test sets have them


@pytest.mark.slow
def test_e5_trains_and_evaluates_de_ja_through_the_cli(shared_data, e5_model, tmp_path):
    proc = run_xlr("train", "--task", "pawsx", "--model", e5_model, "--data-dir", shared_data,
                   "--train-file", shared_data / "pawsx" / "train-en-small.tsv", "--max-train-examples", "64",
                   "--max-steps", "2", "--eval-steps", "2", "--batch-size", "16", "--max-dev-examples", "64",
                   "--languages", "de,ja", "--max-test-examples", "64", "--out", tmp_path, "--format", "csv",
                   env={"HF_HUB_OFFLINE": "1"}, timeout=900)
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.strip().splitlines()[:2]
    assert header.split(",")[:5] == ["table", "row", "de", "ja", "avg"]
    accs = [float(x) for x in row.split(",")[2:5]]
    assert all(0 <= a <= 100 for a in accs)


@pytest.mark.slow
def test_a_few_steps_reduce_the_loss(shared_data, e5_model):
    import torch
    from transformers import set_seed

    from xlr.engine.models import encode, load_model
    from xlr.engine.training import collator

    train = read_tsv(shared_data / "pawsx" / "train-en-small.tsv", PAWSX).head(32)
    model, tok = load_model(str(e5_model), PAWSX, seed=7)
    batch = collator(tok)([dict(zip(["input_ids", "attention_mask", "labels"], row)) for row in
                           zip(*[encode(tok, train, 128)[k] for k in ("input_ids", "attention_mask", "labels")])])
    model.eval()  # no dropout, so the loss is a function of the weights only

    def loss():
        with torch.no_grad():
            return model(**batch).loss.item()

    before = loss()
    set_seed(7)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    for _ in range(5):
        opt.zero_grad()
        model(**batch).loss.backward()
        opt.step()
    assert loss() < before - 0.01


def test_xnli_cpu_profile_trains_on_dev_rows_that_never_select_the_model(shared_data):
    from xlr.experiments import load_experiment

    exp = load_experiment("xnli", "cpu", [{"data": str(shared_data)}])
    protocol = exp.train_settings()
    source = open_source(shared_data)
    train = exp.training_pairs(source)
    dev = source.load(XNLI, "dev", "en").head(protocol.max_dev_examples)
    assert len(train) + len(dev) == 2490 and train.where(0) == f"{dev.origin}:{len(dev) + 1}"
    # XNLI's dev rows come three hypotheses to a premise: the model-selection slice shares none with training
    assert not set(train.sentence1) & set(dev.sentence1)
    assert sorted(dev.labels.count(c) for c in range(3)) == [len(dev) // 3] * 3


@pytest.mark.slow
def test_xnli_standard_and_generalized_through_the_cli(shared_data, e5_model, tmp_path):
    proc = run_xlr("reproduce", "xnli", "--profile", "cpu", "--data-dir", shared_data, "--model", e5_model,
                   "--methods", "baseline", "--seeds", "1", "--set", "train.max_steps=2",
                   "--set", "train.eval_steps=2", "--set", "train.max_dev_examples=30", "--set", "max_test_examples=6",
                   "--set", 'languages=["en", "de", "sw"]', "--set", "generalized=true", "--out", tmp_path,
                   "--format", "csv", env={"HF_HUB_OFFLINE": "1"}, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "2460 training pairs, dev en 30 pairs" in proc.stdout + proc.stderr  # trains on the rows after dev
    rows = (tmp_path / "xnli-cpu" / "results.csv").read_text().splitlines()
    pairs = [r for r in rows if ",generalized," in r and not r.split(",")[6].startswith("avg")]
    assert len([r for r in rows if ",standard," in r]) == 4 and len(pairs) == 9  # 3 languages + avg; 3 x 3 pairs


@pytest.mark.slow
def test_generalized_cpu_profile_runs_both_tasks_through_the_cli(shared_data, e5_model, tmp_path):
    """`xlr reproduce generalized --profile cpu`: PAWS-X (its training file given to that part only) and XNLI
    (trained on its own English dev rows), each tested on every pair, at a few steps."""
    proc = run_xlr("reproduce", "generalized", "--profile", "cpu", "--data-dir", shared_data,
                   "--train-file", f"pawsx={shared_data / 'pawsx' / 'train-en-small.tsv'}", "--model", e5_model,
                   "--methods", "baseline", "--seeds", "1", "--set", "train.max_steps=1", "--set", "train.eval_steps=1",
                   "--set", "train.max_dev_examples=12", "--set", "max_test_examples=4",
                   "--set", 'languages=["en", "de"]', "--out", tmp_path, "--format", "csv",
                   env={"HF_HUB_OFFLINE": "1"}, timeout=900)
    assert proc.returncode == 0, proc.stderr
    for experiment, pairs in (("table1-cpu", "6000 training pairs"), ("xnli-cpu", "2478 training pairs")):
        rows = (tmp_path / experiment / "results.csv").read_text().splitlines()
        assert sum(",generalized," in r and not r.split(",")[6].startswith("avg") for r in rows) == 4, rows
        assert pairs in proc.stdout + proc.stderr
        assert f"\n{experiment}: standard,baseline," in proc.stdout  # one CSV, each table named after its part
    assert proc.stdout.count("table,row,") == 1, proc.stdout
