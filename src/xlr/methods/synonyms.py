"""RS-DA's synonym table and augmentation.

The table is the counter-fitted neighbour list that the paper's code uses (uclanlp/Robust-XLT,
`counterfitted_neighbors.json`: word -> list of neighbours). It is downloaded once, checked against its
sha256 and cached in the user cache folder; `--synonyms PATH` or `XLR_SYNONYMS` names a local copy.

Augmentation follows the paper's `perturb.py`: split each sentence on single spaces; every word that has
neighbours becomes a uniform choice from [word] + neighbours; sentence 1 and sentence 2 are perturbed
independently; each pair yields `copies` outputs (the original is not added separately); labels stay.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from xlr.tasks import BUILTIN_FIXTURE, PairSet
from xlr.sources import fixture_dir
from xlr.errors import XlrError

URL = ("https://raw.githubusercontent.com/uclanlp/Robust-XLT/0bb3c34ff1575be3ac07a8ead707d32ce30e57ff/"
       "counterfitted_neighbors.json")
SHA256 = "103247143f39bd5dd66850f3a912393392641dbd98093c61e2b24a4cc8a96fb0"
ENV_PATH = "XLR_SYNONYMS"
ENV_NO_VERIFY = "XLR_SYNONYMS_VERIFY"  # "0": accept a neighbour table of your own (other languages)
FIX = f"pass --synonyms PATH (or set {ENV_PATH}) to a local copy of counterfitted_neighbors.json"


def cache_path() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "xlr" / "counterfitted_neighbors.json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parse(data: bytes, origin: str) -> dict[str, list[str]]:
    try:
        table = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise XlrError(f"{origin} is not a JSON neighbour table ({e}); {FIX}") from None
    if not isinstance(table, dict) or not all(isinstance(v, list) and all(isinstance(w, str) for w in v)
                                              for v in table.values()):
        raise XlrError(f"{origin} is not a word -> [neighbours] JSON object; {FIX}")
    return table


OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "XLR_OFFLINE")


def offline() -> bool:
    """Offline mode (HF_HUB_OFFLINE=1, as for the hub, or XLR_OFFLINE=1): nothing is downloaded."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in OFFLINE_VARIABLES)


def needs_download(path: str | os.PathLike | None = None) -> bool:
    """Whether load_neighbors(path) would download: no local copy named and none cached yet."""
    return not (path or os.environ.get(ENV_PATH)) and not cache_path().is_file()


def table_provenance(path: str | os.PathLike | None = None) -> dict:
    """Where the table that load_neighbors(path) reads comes from: the file and its sha256, or the fixture's."""
    path = path or os.environ.get(ENV_PATH)
    if str(path) == BUILTIN_FIXTURE:
        return {"path": BUILTIN_FIXTURE}
    file = Path(path).expanduser() if path else cache_path()
    try:
        digest = _sha256(file.read_bytes())
    except OSError:
        digest = None
    return {"path": str(file.resolve()), "sha256": digest, **({} if path else {"url": URL})}


def _download(url: str, target: Path) -> bytes:
    """Fetch, verify, then rename into place: a partial or wrong download is never kept or used."""
    from xlr.files import atomic_write_bytes

    if offline():
        raise XlrError(f"RS-DA's synonym table is not cached at {target} and offline mode is on; {FIX}")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except OSError as e:
        raise XlrError(f"cannot download the counter-fitted synonym table from {url} ({e}); {FIX}") from None
    digest = _sha256(data)
    if digest != SHA256:
        raise XlrError(f"the synonym table downloaded from {url} has sha256 {digest}, expected {SHA256}; {FIX}")
    try:
        atomic_write_bytes(target, data)
    except OSError as e:
        raise XlrError(f"cannot write the synonym table to {target.parent} ({e.strerror or type(e).__name__}); "
                       f"make that folder writable, set XDG_CACHE_HOME to a writable folder, or {FIX}") from None
    return data


def load_neighbors(path: str | os.PathLike | None = None, url: str = URL) -> dict[str, list[str]]:
    """The neighbour table: the local copy given, else the verified cache, else a verified download."""
    path = path or os.environ.get(ENV_PATH)
    verify = os.environ.get(ENV_NO_VERIFY, "1") != "0"
    if str(path) == BUILTIN_FIXTURE:  # the smoke fixture's own small table, written for xlr
        return _parse((fixture_dir() / "synonyms.json").read_bytes(), "builtin:fixture synonyms")
    if path:
        p = Path(path).expanduser()
        try:
            data = p.read_bytes()
        except OSError as e:
            raise XlrError(f"--synonyms {p}: cannot read ({e.strerror}); {FIX}") from None
        if verify and _sha256(data) != SHA256:
            raise XlrError(f"--synonyms {p} has sha256 {_sha256(data)}, not the counter-fitted table's {SHA256}; "
                           f"pass the right file, or set {ENV_NO_VERIFY}=0 to use a table of your own")
        return _parse(data, str(p))
    cached = cache_path()
    if cached.is_file():
        data = cached.read_bytes()
        if _sha256(data) == SHA256:
            return _parse(data, str(cached))
        cached.unlink()  # corrupt or tampered: fetch again
    return _parse(_download(url, cached), url)


# ------------------------------------------------------------------------------------- augmentation

def substitute(sentence: str, neighbors: dict[str, list[str]], rng: random.Random) -> str:
    out = []
    for word in sentence.split(" "):
        choices = neighbors.get(word)
        out.append(word if not choices else (([word] + choices)[rng.randrange(len(choices) + 1)]))
    return " ".join(out)


def substitutable(sentence: str, neighbors: dict[str, list[str]]) -> bool:
    return any(neighbors.get(word) for word in sentence.split(" "))


@dataclass
class AugmentStats:
    pairs: int           # examples (pairs, or sentences of a single-sentence task)
    perturbed: int       # examples with at least one word that has neighbours (the paper's "perturb n/N")
    words: int           # words in all generated copies
    changed: int         # of those, words that differ from the original

    @property
    def perturbed_ratio(self) -> float:
        return self.perturbed / self.pairs if self.pairs else 0.0

    @property
    def change_rate(self) -> float:
        return self.changed / self.words if self.words else 0.0

    def summary(self) -> str:
        return (f"perturbed {self.perturbed}/{self.pairs} = {self.perturbed_ratio:.4f}; "
                f"word-change rate {self.change_rate:.4f} ({self.changed}/{self.words} words)")


def augment(pairs: PairSet, neighbors: dict[str, list[str]], copies: int, seed: int) -> tuple[PairSet, AugmentStats]:
    """`copies` synonym-substituted versions of every example, in order (example 1's copies first); every text
    column (sentence 1 and 2 of a pair, or the one sentence) is substituted independently; seeded."""
    if copies < 1:
        raise XlrError(f"rs-da copies must be >= 1, not {copies}")
    rng = random.Random(seed)
    columns = [[] for _ in pairs.texts]
    labels = []
    perturbed = words = changed = 0
    for *texts, y in zip(*pairs.texts, pairs.labels):
        perturbed += any(substitutable(t, neighbors) for t in texts)
        variants = [[substitute(t, neighbors, rng) for _ in range(copies)] for t in texts]
        for original, new in zip(texts, variants):
            base = original.split(" ")
            for v in new:
                words += len(base)
                changed += sum(x != z for x, z in zip(base, v.split(" ")))
        for column, new in zip(columns, variants):
            column += new
        labels += [y] * copies
    out = PairSet(columns[0], columns[1] if len(columns) == 2 else None, labels,
                  f"{pairs.origin} (rs-da x{copies}, seed {seed})")
    return out, AugmentStats(len(pairs), perturbed, words, changed)


def augment_file(task_name: str, source: Path, target: Path, copies: int, seed: int,
                 synonyms: str | None = None) -> AugmentStats:
    """`xlr augment`: read a training TSV, write its augmented copies (the same columns), atomically."""
    from xlr.tasks import format_tsv, get_task, read_tsv
    from xlr.files import atomic_write_text, check_output_file

    task = get_task(task_name)
    pairs = read_tsv(source, task)
    if Path(target).resolve() == Path(source).resolve():
        raise XlrError(f"--out {target} is the input file; write the augmented data elsewhere")
    check_output_file(target, "--out")  # before the table, which may be a download
    augmented, stats = augment(pairs, load_neighbors(synonyms), copies, seed)
    atomic_write_text(Path(target), format_tsv(augmented, task))
    return stats
