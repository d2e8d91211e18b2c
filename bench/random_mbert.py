"""A model folder with bert-base-multilingual-cased's exact configuration and random weights, for GPU checks
of `xlr reproduce table1 --profile quick` where the hub (and so mBERT's own tokenizer) cannot be reached.

The tokenizer is a cased WordPiece trained here on the PAWS-X text in --data (all seven languages), at most
mBERT's 119,547 pieces; the model keeps mBERT's full vocabulary size, so its size, FLOPs and memory are
mBERT's. Random weights cannot transfer: scores from this folder test the path, speed and memory only.

    python bench/random_mbert.py OUT_DIR [--data DATA]   # DATA/pawsx/*.tsv, as `xlr data export` writes them
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import DATA  # noqa: E402
MBERT = dict(vocab_size=119547, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
             intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2)


def texts(data: Path):
    for tsv in sorted((data / "pawsx").glob("*.tsv")):
        with open(tsv, newline="", encoding="utf-8") as f:
            for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                yield from row[:2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--data", default=str(DATA), help="a data folder with pawsx/*.tsv (default: %(default)s)")
    args = ap.parse_args()
    if not any((Path(args.data) / "pawsx").glob("*.tsv")):
        sys.exit(f"error: no PAWS-X text in {args.data}/pawsx/: pass --data, a folder where "
                 f"`xlr data export --task pawsx --out DIR/pawsx` wrote it")
    import transformers
    from tokenizers import BertWordPieceTokenizer, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    wp = BertWordPieceTokenizer(lowercase=False, strip_accents=False, handle_chinese_chars=True)
    wp.train_from_iterator(texts(Path(args.data)), vocab_size=MBERT["vocab_size"], min_frequency=2,
                           show_progress=False)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    wp._tokenizer.post_processor = processors.BertProcessing(("[SEP]", wp.token_to_id("[SEP]")),
                                                             ("[CLS]", wp.token_to_id("[CLS]")))
    tok = PreTrainedTokenizerFast(tokenizer_object=wp._tokenizer, unk_token="[UNK]", sep_token="[SEP]",
                                  pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", model_max_length=512,
                                  model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    tok.save_pretrained(args.out)
    transformers.set_seed(7)
    BertForSequenceClassification(BertConfig(**MBERT, num_labels=2)).save_pretrained(args.out)
    print(f"{args.out}: random mBERT-config weights, WordPiece of {tok.vocab_size:,} pieces")


if __name__ == "__main__":
    sys.exit(main())
