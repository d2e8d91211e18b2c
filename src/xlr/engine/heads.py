"""A mean-pooling sequence-pair classifier for any Hugging Face encoder.

The paper classifies from the encoder's own head (`AutoModelForSequenceClassification`: for BERT, a
tanh pooler over the first token, `pooling = "cls"`). Sentence encoders such as multilingual-e5 were
trained to be read by averaging their last hidden states, and their first-token state carries little
until fine-tuning moves information there: on PAWS that keeps a CPU-sized run at the majority class
(docs/choosing-defaults.md, "Superseded runs"). `pooling = "mean"` classifies from the mean of the last hidden states over real
(attention-mask) tokens instead, with dropout and one linear layer.

The model is a `PreTrainedModel`, so Trainer checkpoints, `save_pretrained` and `from_pretrained` work
as usual. Its config.json is the encoder's own config plus `xlr_pooling = "mean"`, which is how
`models.load_trained` knows to rebuild this class.
"""
from __future__ import annotations

from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

CONFIG_KEY = "xlr_pooling"


def _without_pooler(encoder):
    """Drop a pooler the mean head never reads (unused parameters would also stall DDP)."""
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None
    return encoder


class MeanPoolingClassifier(PreTrainedModel):
    config_class = AutoConfig
    base_model_prefix = "encoder"
    main_input_name = "input_ids"
    # the attention implementation is the encoder's: it checks its own support when it is built
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True

    def __init__(self, config):
        setattr(config, CONFIG_KEY, "mean")  # saved in config.json: load_trained rebuilds this class
        super().__init__(config)
        self.encoder = _without_pooler(AutoModel.from_config(config))
        p = getattr(config, "classifier_dropout", None)
        if p is None:
            p = getattr(config, "hidden_dropout_prob", getattr(config, "dropout", 0.1))
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @classmethod
    def from_encoder(cls, spec: str, **config_kwargs):
        """A new classifier on the pretrained encoder `spec` (hub id or folder); the head starts random
        (seed it with transformers.set_seed beforehand)."""
        pretrained = _without_pooler(AutoModel.from_pretrained(spec))
        config = pretrained.config
        for key, value in config_kwargs.items():
            setattr(config, key, value)
        model = cls(config)
        model.encoder.load_state_dict(pretrained.state_dict())
        nn.init.normal_(model.classifier.weight, std=getattr(config, "initializer_range", 0.02))
        nn.init.zeros_(model.classifier.bias)
        return model

    def get_input_embeddings(self):
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.encoder.set_input_embeddings(value)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None, labels=None):
        kwargs = {"attention_mask": attention_mask, "inputs_embeds": inputs_embeds}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(input_ids=input_ids, **kwargs).last_hidden_state
        if attention_mask is None:
            pooled = hidden.mean(dim=1)
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.float(), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


def is_mean_pooling(config) -> bool:
    return getattr(config, CONFIG_KEY, None) == "mean"


__all__ = ["MeanPoolingClassifier", "is_mean_pooling"]
