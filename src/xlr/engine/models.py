"""Load a sequence-pair classifier and its tokenizer (hub id, local folder, or the built-in tiny BERT),
and encode `PairSet`s into model inputs."""
from __future__ import annotations

from pathlib import Path

from xlr.tasks import PairSet, Task
from xlr.errors import XlrError

BUILTIN_TINY_BERT = "builtin:tiny-bert"
# The smoke model: random init, small enough to train on the fixture in seconds on 2 CPU cores.
TINY_BERT = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                 max_position_embeddings=128)
TINY_VOCAB = 3000


def looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~")) or Path(spec).expanduser().exists()


def build_tiny_tokenizer(texts: list[str]):
    """A cased WordPiece tokenizer whose vocabulary comes from `texts`, offline and deterministic.

    The vocabulary is every character (alone and as a ##continuation) plus the most frequent whole words,
    ties broken alphabetically. (tokenizers' own WordPiece trainer breaks ties in hash order, which
    changes from one process to the next, and with it every result.)
    """
    from collections import Counter

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normalizer = normalizers.BertNormalizer(lowercase=False, handle_chinese_chars=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    counts = Counter(word for text in texts
                     for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for word in counts for c in word})
    pieces = specials + chars + ["##" + c for c in chars]
    words = [w for w, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if len(w) > 1]
    pieces += words[: max(0, TINY_VOCAB - len(pieces))]
    tk = Tokenizer(models.WordPiece({piece: i for i, piece in enumerate(pieces)}, unk_token="[UNK]"))
    tk.normalizer = normalizer
    tk.pre_tokenizer = splitter
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", pieces.index("[CLS]")), ("[SEP]", pieces.index("[SEP]"))])
    # the generic fast tokenizer reloads exactly from tokenizer.json (a Bert* class would rebuild its own)
    return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
                                   cls_token="[CLS]", mask_token="[MASK]",
                                   model_max_length=TINY_BERT["max_position_embeddings"],
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])


def _label_maps(task: Task):
    id2label = {i: name for i, name in enumerate(task.labels)}
    return id2label, {name: i for i, name in id2label.items()}


def load_model(spec: str, task: Task, seed: int, tokenizer_texts: list[str] | None = None, pooling: str = "cls"):
    """Return (model, tokenizer) for `spec`: a Hugging Face id, a local folder, or builtin:tiny-bert.

    pooling "cls" is the model's own sequence-classification head (the paper's); "mean" classifies from
    the mean of the last hidden states (heads.MeanPoolingClassifier). The classifier head of a pretrained
    encoder is initialised from `seed`, so runs are repeatable.
    """
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertForSequenceClassification

    from xlr.engine.heads import MeanPoolingClassifier

    transformers.set_seed(seed)
    id2label, label2id = _label_maps(task)
    labels = dict(num_labels=len(task.labels), id2label=id2label, label2id=label2id)
    if spec == BUILTIN_TINY_BERT:
        if not tokenizer_texts:
            raise XlrError("builtin:tiny-bert needs text to build its vocabulary from; give it training data")
        tokenizer = build_tiny_tokenizer(tokenizer_texts)
        config = BertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **labels, **TINY_BERT)
        if pooling == "mean":
            return MeanPoolingClassifier(config), tokenizer
        return BertForSequenceClassification(config), tokenizer
    if spec.startswith("builtin:"):
        raise XlrError(f"unknown built-in model '{spec}'; the only one is {BUILTIN_TINY_BERT}")
    if looks_like_path(spec):
        folder = Path(spec).expanduser()
        if not folder.is_dir():
            raise XlrError(f"model folder {folder} does not exist; pass --model with a local folder written by "
                           "save_pretrained or a Hugging Face id")
        if not (folder / "config.json").is_file():
            raise XlrError(f"model folder {folder} has no config.json; pass --model with a folder written by "
                           "save_pretrained (config.json, weights, tokenizer files) or a Hugging Face id")
        spec = str(folder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec)
        if pooling == "mean":
            model = MeanPoolingClassifier.from_encoder(spec, **labels)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(spec, **labels)
    except (OSError, ValueError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise XlrError(f"cannot load model '{spec}': {reason[:200]}; offline, pass --model with a local folder "
                       "(config.json, weights, tokenizer files)") from None
    return model, tokenizer


def load_trained(folder: Path):
    """Load a run's saved `model/` folder (classifier and tokenizer), with the head it was trained with."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from xlr.engine.heads import MeanPoolingClassifier, is_mean_pooling

    if not (folder / "config.json").is_file():
        raise XlrError(f"{folder} holds no trained model; train the run first (xlr train or xlr reproduce)")
    config = AutoConfig.from_pretrained(folder)
    cls = MeanPoolingClassifier if is_mean_pooling(config) else AutoModelForSequenceClassification
    return cls.from_pretrained(folder, config=config), AutoTokenizer.from_pretrained(folder)


def longest_first(ds):
    """The order that puts a tokenized dataset's longest rows first (stable): batches of similar length carry
    little padding. For prediction, where the order does not change the result."""
    import numpy as np

    return np.argsort([-len(ids) for ids in ds["input_ids"]], kind="stable")


def encode(tokenizer, pairs: PairSet, max_length: int, cache_dir: Path | None = None):
    """Tokenize pairs or single sentences (truncated to max_length, unpadded: the collator pads each batch)
    into a Dataset.

    With `cache_dir`, the tokenised columns go to an Arrow file there, named by a fingerprint of the
    tokenizer, max_length and the pairs, and are memory-mapped from it: the ranks of a data-parallel run
    share one copy (call this under `distributed.main_process_first`, so one rank writes it and the others
    read it), and a resumed run skips the tokenisation."""
    import datasets

    names = ["sentence1", "sentence2"][:len(pairs.texts)]  # one text column for single-sentence tasks
    columns = {**{n: list(t) for n, t in zip(names, pairs.texts)}, "labels": list(pairs.labels)}
    raw = datasets.Dataset.from_dict(columns)

    def tokenize(batch):
        return tokenizer(*(batch[n] for n in names), truncation=True, max_length=max_length)

    options = dict(batched=True, batch_size=2000, remove_columns=names)
    if cache_dir is None:
        return raw.map(tokenize, keep_in_memory=True, **options)
    from datasets.fingerprint import Hasher

    key = Hasher.hash([tokenizer.backend_tokenizer.to_str() if hasattr(tokenizer, "backend_tokenizer")
                       else repr(tokenizer), max_length, columns])
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    return raw.map(tokenize, cache_file_name=str(cache_dir / f"tokenized-{key}.arrow"), load_from_cache_file=True,
                   **options)
