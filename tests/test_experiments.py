"""Configuration resolution: code defaults < TOML < profile < command line."""
import pytest

from xlr.errors import XlrError
from xlr.experiments import cli_overrides, load_experiment, parse_override
from xlr.settings import TrainSettings
from xlr.tasks import train_settings_for

TOML = """
title = "t"
task = "pawsx"
model = "m"
methods = ["baseline"]
seeds = [7]
[train]
epochs = 2
learning_rate = 3e-5
[profiles.quick]
max_test_examples = 10
[profiles.quick.train]
epochs = 1
"""


@pytest.fixture
def toml(tmp_path):
    p = tmp_path / "exp.toml"
    p.write_text(TOML)
    return p


def test_paper_protocol_defaults():
    p = train_settings_for("pawsx")
    assert (p.learning_rate, p.epochs, p.batch_size, p.max_length, p.weight_decay, p.warmup_steps,
            p.max_grad_norm, p.eval_steps) == (2e-5, 3.0, 32, 128, 0.0, 0, 1.0, 500)
    x = train_settings_for("xnli")
    assert (x.epochs, x.eval_steps) == (1.0, 1000)


def test_precedence(toml):
    e = load_experiment(str(toml))
    assert e.name == "exp" and e.train_settings().epochs == 2 and e.train_settings().learning_rate == 3e-5
    assert e.train_settings().batch_size == 32  # untouched default
    q = load_experiment(str(toml), "quick")
    assert q.train_settings().epochs == 1 and q.train_settings().learning_rate == 3e-5 and q.max_test_examples == 10
    assert q.run_name == "exp-quick"
    o = load_experiment(str(toml), "quick", cli_overrides(seeds="1,2,3", model="other",
                                                          assignments=["train.epochs=4"]))
    assert o.seeds == [1, 2, 3] and o.model == "other" and o.train_settings().epochs == 4
    assert [(r.method, r.seed) for r in o.runs()] == [("baseline", 1), ("baseline", 2), ("baseline", 3)]


def test_override_parsing():
    assert parse_override("train.epochs=1") == {"train": {"epochs": 1}}
    assert parse_override("model=some/model") == {"model": "some/model"}
    assert parse_override("languages=['en','de']") == {"languages": ["en", "de"]}
    with pytest.raises(XlrError, match="KEY=VALUE"):
        parse_override("train.epochs")


@pytest.mark.parametrize("extra, message", [
    ('colour = "red"\n', "unknown key 'colour'"),
    ('[train]\nepoch = 1\n', "unknown training setting epoch"),
    # a tolerance is used only by `xlr compare`, after the training: it is checked when the TOML is read
    ('[tolerance]\nlanguage = "2"\n', "\\[tolerance\\] language must be a number of points >= 0, not '2'"),
    ('[tolerance]\naverage = -1\n', "\\[tolerance\\] average must be a number of points >= 0, not -1"),
    ('[tolerance]\navg = 1\n', "unknown \\[tolerance\\] key avg"),
])
def test_bad_keys_are_named(tmp_path, extra, message):
    p = tmp_path / "bad.toml"
    p.write_text('task = "pawsx"\nmodel = "m"\n' + extra)
    with pytest.raises(XlrError, match=message):
        load_experiment(str(p))


def test_bad_values_are_named(toml):
    with pytest.raises(XlrError, match="unknown method 'advv'"):
        load_experiment(str(toml), overrides=cli_overrides(methods="advv"))
    with pytest.raises(XlrError, match="no profile 'slow'"):
        load_experiment(str(toml), "slow")
    with pytest.raises(XlrError, match="unknown pawsx language"):
        load_experiment(str(toml), overrides=[parse_override("languages=['en','xx']")])
    with pytest.raises(XlrError, match="unknown experiment 'nope'"):
        load_experiment("nope")
    with pytest.raises(XlrError, match="expected comma-separated integers"):
        cli_overrides(seeds="1,x")
    for seeds in ("-1", "1,4294967296"):  # outside numpy's seeding range: a traceback after the data loaded
        with pytest.raises(XlrError, match=r"a seed \(seeds, --seeds or --seed\) must be from 0 to 4294967295, not (-1|4294967296)"):
            load_experiment(str(toml), overrides=cli_overrides(seeds=seeds))
    with pytest.raises(XlrError, match="seeds must be a non-empty list of integers"):
        load_experiment(str(toml), overrides=[parse_override("seeds=[true]")])


def test_shipped_experiments_load():
    assert load_experiment("smoke").model == "builtin:tiny-bert"


def test_protocol_validation():
    with pytest.raises(XlrError):
        TrainSettings(precision="fp8")


@pytest.mark.parametrize("key, value, message", [
    ("learning_rate", -1.0, "a finite number >= 0"), ("learning_rate", float("nan"), "a finite number >= 0"),
    ("weight_decay", -0.1, "a finite number >= 0"), ("warmup_steps", -1, "a finite number >= 0"),
    ("max_grad_norm", float("inf"), "a finite number >= 0"), ("max_steps", -5, ">= 0"),
    ("max_train_examples", 0, "positive"),
    ("max_dev_examples", -1, "positive"), ("per_device_batch_size", 0, "positive"),
])
def test_out_of_range_training_settings_are_refused_at_load(key, value, message):
    """A negative learning rate was a traceback from torch's optimizer after the model had loaded, and a
    negative max_steps silently trained the full epochs."""
    with pytest.raises(XlrError, match=f"train.{key} must be {message}"):
        TrainSettings(**{key: value})
    TrainSettings(**{key: 1 if message == "positive" else 0})


def test_train_file_by_task_reaches_only_that_tasks_parts(tmp_path):
    from xlr.experiments import cli_overrides, load_experiment

    train = tmp_path / "train.tsv"
    train.write_text("a\tb\t1\n")
    exp = load_experiment("generalized", "cpu", cli_overrides(train_file=f"pawsx={train}"))
    assert {part.task: part.train_file for part in exp.parts} == {"pawsx": str(train), "xnli": None}
    plain = load_experiment("table1", None, cli_overrides(train_file=str(train)))
    assert plain.train_file == str(train)


def test_a_profile_that_changes_the_model_names_it_in_the_title():
    from xlr.experiments import load_experiment

    for name in ("table1", "xnli"):
        assert "mBERT" in load_experiment(name).title
        cpu = load_experiment(name, "cpu")
        assert "e5" in cpu.model and "multilingual-e5-small" in cpu.title and "mBERT" not in cpu.title


def test_training_flags_are_generated_for_every_setting_on_every_verb():
    """train, reproduce and sweep take one flag per TrainSettings field, so none of them can drift."""
    import typer

    from xlr.cli import app
    from xlr.settings import TrainSettings

    root = typer.main.get_command(app)
    for verb in ("train", "reproduce", "sweep"):
        flags = {o for p in root.get_command(None, verb).params for o in (*p.opts, *p.secondary_opts)}
        missing = [n for n in TrainSettings.field_names() if "--" + n.replace("_", "-") not in flags]
        assert not missing, (verb, missing)


@pytest.mark.parametrize("argv", [["reproduce", "smoke"], ["train", "--data-dir", "builtin:fixture",
                                                           "--model", "builtin:tiny-bert"]])
def test_a_training_flag_reaches_the_protocol(monkeypatch, argv):
    from typer.testing import CliRunner

    import xlr.scheduling.workers as workers
    from xlr.cli import app

    seen = {}

    def fake_run(exp, out, force=False, device_option=None, **_):
        seen["protocol"] = exp.train_settings()
        return []

    monkeypatch.setattr(workers, "run_experiment", fake_run)
    result = CliRunner().invoke(app, [*argv, "--learning-rate", "0.005", "--max-steps", "3",
                                      "--group-by-length", "--report-to", "none"])
    assert result.exit_code == 0, result.output
    protocol = seen["protocol"]
    assert (protocol.learning_rate, protocol.max_steps, protocol.group_by_length) == (0.005, 3, True)


def test_a_flag_that_means_two_things_for_the_selected_methods_is_refused(monkeypatch, xlr_main):
    """ADV's --epsilon (default 0.005) and RS-RP's (0.2) are 40x apart: with both selected, one flag cannot set
    both; with one selected, it sets that one."""
    import xlr.scheduling.workers as workers

    seen = {}
    monkeypatch.setattr(workers, "run_experiment", lambda exp, out, **_: seen.setdefault("exp", exp) and [])
    code, out, err = xlr_main("reproduce", "table1", "--epsilon", "0.01")
    assert code == 2 and "--epsilon means different things for adv (default 0.005), rs-rp (default 0.2)" in err
    assert "--set methods.adv.epsilon=V" in err and len(err.strip().splitlines()) == 1 and "exp" not in seen
    code, out, err = xlr_main("reproduce", "smoke", "--methods", "adv,freelb", "--steps", "2")
    assert code == 2 and "--steps means different things" in err
    code, out, err = xlr_main("reproduce", "table1", "--methods", "adv", "--epsilon", "0.01")
    assert code == 0, err
    assert seen["exp"].method_options["adv"]["epsilon"] == 0.01
    code, out, err = xlr_main("reproduce", "smoke", "--methods", "adv,rs-rp", "--set", "methods.adv.epsilon=0.01",
                              "--set", "methods.rs-rp.epsilon=0.3")
    assert code == 0, err


def test_train_takes_its_one_methods_flags(monkeypatch, xlr_main):
    import xlr.scheduling.workers as workers

    seen = {}
    monkeypatch.setattr(workers, "run_experiment", lambda exp, out, **_: seen.setdefault("exp", exp) and [])
    code, out, err = xlr_main("train", "--method", "adv", "--epsilon", "0.01", "--data-dir", "builtin:fixture",
                              "--model", "builtin:tiny-bert")
    assert code == 0, err
    assert seen["exp"].method_options["adv"]["epsilon"] == 0.01
