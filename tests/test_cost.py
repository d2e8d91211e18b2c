"""What an experiment costs, before it runs: steps per method (RS-DA's copies included) and checkpoint disk."""
from transformers import BertConfig

from xlr.engine import cost
from xlr.experiments import load_experiment


def test_table1_steps_per_method_count_rsda_copies():
    steps = {item.method: item.steps for item in cost.plan(load_experiment("table1"))}
    # 49,401 pairs (the task file's train_rows) at batch 32: 1,544 steps an epoch, 3 epochs; RS-DA trains on 10 copies
    assert steps == {"baseline": 4632, "adv": 4632, "rs-rp": 4632, "rs-da": 46314}


def test_a_local_training_file_sets_the_steps(tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("".join(f"a {i}\tb {i}\t{i % 2}\n" for i in range(100)))
    exp = load_experiment("table1", "cpu", [{"train_file": str(train)}])
    steps = {item.method: item.steps for item in cost.plan(exp)}
    assert steps["baseline"] == 8 and steps["rs-da"] == 8  # 100 pairs, batch 32, 2 epochs; the cpu profile's 1 copy


def test_mbert_checkpoints_need_about_two_gigabytes_each():
    config = BertConfig(vocab_size=119547, num_labels=2)  # bert-base-multilingual-cased's published shape
    params = cost.parameter_count(config)
    assert 177e6 < params < 179e6
    disk = cost.disk_bytes(params, runs=4)
    assert round(disk["checkpoint"] / 1e9, 1) == 2.1 and round(disk["training_peak"] / 1e9, 1) == 6.4
    assert round(disk["kept_models"] / 1e9, 1) == 2.8


def test_a_measured_step_times_each_method(tmp_path):
    from xlr.machine import device

    device.configure("cpu")
    exp = load_experiment("smoke")
    config = cost.model_config(exp.model, exp.task_def)
    spec = next(s for s in exp.runs() if s.method == "adv")
    from xlr.engine.throughput import measure

    timed = measure(config, "adv", spec.options, exp.train_settings(), steps=1, warmup=0)
    assert timed.seconds > 0 and timed.passes_per_step == 2
