"""The importable API: `from xlr import ...` is lazy and complete, and docs/python.md's example script runs."""
import re
import subprocess
import sys

from conftest import REPO

import xlr
from xlr.sources import fixture_dir
from xlr.tasks import get_task
from xlr.engine.models import load_model


def test_import_xlr_is_light_and_names_load_on_first_use():
    code = "import sys, xlr; assert 'torch' not in sys.modules and 'transformers' not in sys.modules; print('ok')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "ok"
    import importlib

    assert len(xlr.__all__) >= 20
    for name in xlr.__all__:  # each name is the object its module defines, not a stand-in
        module = importlib.import_module(xlr._WHERE[name])
        assert getattr(xlr, name) is getattr(module, name), name
    assert "adv" in xlr.METHODS and issubclass(xlr.XlrTrainer, __import__("transformers").Trainer)


def test_the_readme_example_runs(tmp_path, monkeypatch):
    text = (REPO / "docs" / "python.md").read_text(encoding="utf-8")
    section = text[text.index("## xlr in your own training script"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 20
    task = get_task("pawsx")
    train = (fixture_dir() / "train-en.tsv").read_text(encoding="utf-8").split("\n")
    model, tok = load_model("builtin:tiny-bert", task, seed=7, tokenizer_texts=[c for line in train for c in line.split("\t")])
    model.save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    code = code.replace('"bert-base-multilingual-cased"', repr(str(tmp_path / "tiny")))
    code = code.replace('DATA = "hub"', f"DATA = {str(fixture_dir())!r}")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "docs/python.md example", "exec"), scope)
    state = scope["trainer"].state
    assert state.global_step > 0 and scope["trainer"].objective.name == "adv"
    assert (tmp_path / "adv-out").is_dir()
