"""Model loading: the built-in tiny BERT and its tokenizer, local folders, and bad specs."""
import subprocess
import sys

import pytest

from xlr.tasks import TASKS
from xlr.errors import XlrError
from xlr.engine.models import load_model

VOCAB_HASH = """
import hashlib, json
from xlr.engine.models import build_tiny_tokenizer
tk = build_tiny_tokenizer(["Anna invited Maria in Paris.", "アンナはパリでマリアを招待した。", "안나는 파리에서"] * 3)
print(hashlib.sha256(json.dumps(sorted(tk.get_vocab().items())).encode()).hexdigest())
"""


def test_tiny_vocabulary_is_the_same_in_every_process():
    hashes = {subprocess.run([sys.executable, "-c", VOCAB_HASH], capture_output=True, text=True,
                             check=True).stdout for _ in range(3)}
    assert len(hashes) == 1


def test_tiny_tokenizer_round_trips_through_save(tmp_path):
    from transformers import AutoTokenizer

    model, tok = load_model("builtin:tiny-bert", TASKS["pawsx"], seed=7, tokenizer_texts=["a b c", "d e f"])
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("a b", "c d") == tok("a b", "c d")
    assert model.config.num_labels == 2 and model.config.id2label == {0: "0", 1: "1"}


@pytest.mark.parametrize("spec, message", [
    ("builtin:huge-bert", "unknown built-in model"),
    ("./no/such/folder", "does not exist"),
])
def test_bad_model_specs(spec, message):
    with pytest.raises(XlrError, match=message):
        load_model(spec, TASKS["pawsx"], seed=7)
