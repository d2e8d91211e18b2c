"""The mean-pooling classifier (train.pooling = "mean"): padding-invariant, saved and reloaded with its head,
trained by every objective on BERT-, XLM-R- and DistilBERT-style encoders."""
import pytest
import torch
from transformers import BertConfig, DistilBertConfig, XLMRobertaConfig

from xlr.tasks import TASKS
from xlr.errors import XlrError
from xlr.engine.heads import MeanPoolingClassifier, is_mean_pooling
from xlr.engine.models import load_model, load_trained
from xlr.methods import make_objective, resolve_options
from xlr.tasks import train_settings_for


def config(kind):
    common = dict(vocab_size=100, num_labels=2, max_position_embeddings=64)
    if kind == "bert":
        return BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, **common)
    if kind == "xlmr":
        return XLMRobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                pad_token_id=1, **common)
    return DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, **common)


def mean_model(kind="bert", seed=0):
    torch.manual_seed(seed)
    return MeanPoolingClassifier(config(kind)).eval()


def test_padding_does_not_change_the_prediction():
    model = mean_model()
    ids = torch.tensor([[2, 11, 12, 13, 3]])
    padded = torch.tensor([[2, 11, 12, 13, 3, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]])
    with torch.no_grad():
        alone = model(input_ids=ids).logits
        with_pads = model(input_ids=padded, attention_mask=mask).logits
        pads_counted = model(input_ids=padded).logits  # no mask: padding is averaged in
    assert torch.allclose(alone, with_pads, atol=1e-5)
    assert not torch.allclose(alone, pads_counted, atol=1e-5)


def test_the_pooler_is_dropped_so_every_parameter_trains():
    model = mean_model().train()
    ids = torch.randint(5, 100, (4, 9))
    model(input_ids=ids, labels=torch.tensor([0, 1, 1, 0])).loss.backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert unused == []  # DDP with find_unused_parameters=False needs this


def test_tiny_bert_mean_head_round_trips_through_the_run_store_loader(tmp_path):
    model, tok = load_model("builtin:tiny-bert", TASKS["pawsx"], seed=7, tokenizer_texts=["a b c", "d e f"],
                            pooling="mean")
    assert isinstance(model, MeanPoolingClassifier) and is_mean_pooling(model.config)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    again, _ = load_trained(tmp_path)
    assert isinstance(again, MeanPoolingClassifier)
    batch = tok(["a b", "d"], ["c", "e f"], padding=True, return_tensors="pt")
    model.eval(), again.eval()
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, again(**batch).logits)


def test_cls_pooling_keeps_the_models_own_head(tmp_path):
    model, _ = load_model("builtin:tiny-bert", TASKS["pawsx"], seed=7, tokenizer_texts=["a b c"])
    assert type(model).__name__ == "BertForSequenceClassification"


@pytest.mark.parametrize("kind", ["bert", "xlmr", "distilbert"])
@pytest.mark.parametrize("method", ["baseline", "adv", "rs-rp"])
def test_objectives_train_the_mean_head(kind, method):
    model = mean_model(kind).train()
    ids = torch.randint(5, 100, (4, 10))
    mask = torch.ones_like(ids)
    mask[2, 6:] = 0
    inputs = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 1, 0])}
    obj = make_objective(method, resolve_options(method, None), model)
    loss, outputs = obj.loss(model, inputs)
    loss.backward()
    assert torch.isfinite(loss) and outputs.logits.shape == (4, 2)
    assert model.get_input_embeddings().weight.grad is not None and model.classifier.weight.grad is not None


def test_pooling_setting_is_validated():
    assert train_settings_for("pawsx", {"pooling": "mean"}).pooling == "mean"
    assert train_settings_for("pawsx").pooling == "cls"
    with pytest.raises(XlrError, match="train.pooling must be cls"):
        train_settings_for("pawsx", {"pooling": "max"})


@pytest.mark.slow
def test_e5_mean_head_keeps_the_pretrained_encoder(e5_model):
    from transformers import AutoModel

    model, _ = load_model(str(e5_model), TASKS["pawsx"], seed=7, pooling="mean")
    encoder = AutoModel.from_pretrained(e5_model)
    mine = dict(model.encoder.named_parameters())
    for name, p in encoder.named_parameters():
        if not name.startswith("pooler."):
            assert torch.equal(p, mine[name]), name
    assert model.config.id2label == {0: "0", 1: "1"}
