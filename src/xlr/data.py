"""Tasks (PAWS-X, XNLI), data sources (hub, local TSV folder, bundled fixture) and generalized pairs.

A data source hands out `PairSet`s: aligned lists of sentence 1, sentence 2 and integer labels, plus
the PAWS ids where the source has them. Everything else in xlr works on `PairSet`s, so the hub, a
local XTREME-layout folder and the bundled fixture all take the same code path afterwards.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from xlr.errors import XlrError

SPLITS = ("train", "dev", "test")
BUILTIN_FIXTURE = "builtin:fixture"


@dataclass(frozen=True)
class Task:
    name: str
    languages: tuple[str, ...]
    # Class names in class-id order. The TSV label column holds these strings.
    labels: tuple[str, ...]
    hub_dataset: str
    hub_columns: tuple[str, str]
    # A sentence equal to one of these (case-insensitive) marks a missing human translation.
    placeholders: tuple[str, ...] = ()
    # The label placeholder rows carry in the official data where it is documented (PAWS-X `NS`: 0).
    placeholder_label: int | None = None

    def label_id(self, raw: str) -> int:
        try:
            return self.labels.index(raw)
        except ValueError:
            raise KeyError(raw) from None

    def is_placeholder(self, sentence: str) -> bool:
        return sentence.strip().upper() in self.placeholders


TASKS: dict[str, Task] = {
    # PAWS-X: 1 = paraphrase, 0 = not a paraphrase (the TSV column holds the digits).
    "pawsx": Task(
        name="pawsx",
        languages=("en", "de", "es", "fr", "ja", "ko", "zh"),
        labels=("0", "1"),
        hub_dataset="google-research-datasets/paws-x",
        hub_columns=("sentence1", "sentence2"),
        # NS ("not sure") and WL mark missing translations in the official PAWS-X data (ja test id 7154 and
        # zh dev row 566 are WL). NS rows are labelled 0 (google-research-datasets/paws issue 15); how WL rows
        # are labelled is not documented, so every placeholder row keeps the label its source gives it
        placeholders=("NS", "WL"),
        placeholder_label=0,
    ),
    # XNLI: the class order of the Hugging Face `facebook/xnli` dataset, so hub labels need no remapping.
    "xnli": Task(
        name="xnli",
        languages=("en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"),
        labels=("entailment", "neutral", "contradiction"),
        hub_dataset="facebook/xnli",
        hub_columns=("premise", "hypothesis"),
    ),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise XlrError(f"unknown task '{name}'; valid tasks: {', '.join(TASKS)}") from None


def check_languages(task: Task, languages: list[str] | tuple[str, ...]) -> list[str]:
    bad = [lang for lang in languages if lang not in task.languages]
    if bad:
        raise XlrError(
            f"unknown {task.name} language{'s' if len(bad) > 1 else ''} {', '.join(bad)}; "
            f"valid: {' '.join(task.languages)}"
        )
    return list(languages)


@dataclass
class PairSet:
    """Aligned sentence pairs with integer labels. `origin` names the file (or hub split) for messages."""

    sentence1: list[str]
    sentence2: list[str]
    labels: list[int]
    origin: str
    ids: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def where(self, row: int) -> str:
        """`origin:line` of a 0-based row (lines are 1-based, as editors show them)."""
        return f"{self.origin}:{row + 1}"

    def head(self, n: int | None) -> "PairSet":
        if n is None or n >= len(self):
            return self
        return PairSet(self.sentence1[:n], self.sentence2[:n], self.labels[:n], self.origin,
                       None if self.ids is None else self.ids[:n])


# ---------------------------------------------------------------------------------------------- TSV

def read_tsv(path: str | Path, task: Task, ids: list[str] | None = None) -> PairSet:
    """Read a headerless `sentence1<TAB>sentence2<TAB>label` file. No CSV quoting: quotes are text."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise XlrError(f"{path}: no such file") from None
    except OSError as e:
        raise XlrError(f"{path}: cannot read ({e.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise XlrError(f"{path}:{line}: not valid UTF-8; re-save the file as UTF-8") from None
    s1, s2, labels = [], [], []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if line.endswith("\r"):
            line = line[:-1]
        fields = line.split("\t")
        if len(fields) != 3:
            raise XlrError(
                f"{path}:{number}: expected 3 tab-separated columns (sentence1, sentence2, label), "
                f"found {len(fields)}"
            )
        try:
            labels.append(task.label_id(fields[2].strip()))
        except KeyError:
            raise XlrError(
                f"{path}:{number}: label '{fields[2]}' is not a {task.name} label; expected one of "
                f"{', '.join(task.labels)}"
            ) from None
        s1.append(fields[0])
        s2.append(fields[1])
    if not labels:
        raise XlrError(f"{path}: the file is empty")
    if ids is not None and len(ids) != len(labels):
        raise XlrError(f"{path}: {len(labels)} rows but its ids file has {len(ids)} lines")
    return PairSet(s1, s2, labels, str(path), ids)


def format_tsv(pairs: PairSet, task: Task) -> str:
    for row, (a, b) in enumerate(zip(pairs.sentence1, pairs.sentence2)):
        if any(c in a or c in b for c in "\t\n\r"):
            raise XlrError(f"{pairs.where(row)}: a sentence contains a tab or newline and cannot be written as TSV")
    return "".join(f"{a}\t{b}\t{task.labels[y]}\n"
                   for a, b, y in zip(pairs.sentence1, pairs.sentence2, pairs.labels))


# ------------------------------------------------------------------------------------------ sources

class Source(Protocol):
    description: str

    def load(self, task: Task, split: str, language: str) -> PairSet: ...


@dataclass
class LocalSource:
    """A folder in the XTREME layout: `{train,dev,test}-{lang}.tsv`, optionally `{split}.ids`.

    A folder holding one subfolder per task (like `../shared/data`) works too: `<root>/<task>/` is used
    when the root itself has no TSV files for the task.
    """

    root: Path
    description: str = field(init=False)

    def __post_init__(self):
        self.root = Path(self.root)
        if not self.root.is_dir():
            raise XlrError(f"data folder {self.root} does not exist; pass --data-dir with a folder of "
                           "{split}-{lang}.tsv files")
        self.description = str(self.root)

    def folder(self, task: Task) -> Path:
        nested = self.root / task.name
        if nested.is_dir() and not any(self.root.glob("*-*.tsv")):
            return nested
        return self.root

    def has(self, task: Task, split: str, language: str) -> bool:
        return (self.folder(task) / f"{split}-{language}.tsv").is_file()

    def load(self, task: Task, split: str, language: str) -> PairSet:
        folder = self.folder(task)
        path = folder / f"{split}-{language}.tsv"
        if not path.is_file():
            hint = " or pass --train-file PATH" if split == "train" else ""
            raise XlrError(f"{path} does not exist; put {split}-{language}.tsv in {folder}{hint}")
        ids_path = folder / f"{split}.ids"
        ids = ids_path.read_text(encoding="utf-8").split() if ids_path.is_file() else None
        return read_tsv(path, task, ids)


@dataclass
class HubSource:
    """`datasets.load_dataset(task.hub_dataset, language)`: one config per language."""

    description: str = "the Hugging Face hub"
    split_names: dict = field(default_factory=lambda: {"train": "train", "dev": "validation", "test": "test"})

    def load(self, task: Task, split: str, language: str) -> PairSet:
        hub_split = self.split_names[split]
        origin = f"hub:{task.hub_dataset}/{language}/{hub_split}"
        try:
            import datasets

            ds = datasets.load_dataset(task.hub_dataset, language, split=hub_split)
        except Exception as e:  # network, missing config, cache problems: all end the same way
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise XlrError(
                f"cannot load {task.hub_dataset} ({language}, {hub_split}) from the Hugging Face hub: "
                f"{reason[:200]}; offline, pass --data-dir DIR with {split}-{language}.tsv files "
                "(`xlr data export` writes them)"
            ) from None
        a, b = task.hub_columns
        labels = [int(y) for y in ds["label"]]
        bad = [i for i, y in enumerate(labels) if not 0 <= y < len(task.labels)]
        if bad:
            raise XlrError(f"{origin} row {bad[0]}: label {labels[bad[0]]} is outside 0..{len(task.labels) - 1}")
        ids = [str(i) for i in ds["id"]] if "id" in ds.column_names else None
        return PairSet(list(ds[a]), list(ds[b]), labels, origin, ids)


def fixture_dir() -> Path:
    return Path(__file__).parent / "fixture"


def open_source(spec: str | os.PathLike | None) -> Source:
    """`None`/"hub" -> the hub; "builtin:fixture" -> the bundled fixture; anything else is a folder."""
    if spec is None or str(spec) == "hub":
        return HubSource()
    if str(spec) == BUILTIN_FIXTURE:
        return LocalSource(fixture_dir())
    return LocalSource(Path(spec).expanduser())


def load_train(source: Source, task: Task, language: str, train_file: str | None) -> PairSet:
    if train_file:
        return read_tsv(Path(train_file).expanduser(), task)
    return source.load(task, "train", language)


# ------------------------------------------------------------------------------- generalized setting

def verify_alignment(task: Task, sets: dict[str, PairSet]) -> list[int]:
    """Check that row i is the same item in every language; return the shared label of each row.

    Checks, in order: equal row counts, equal ids (where the source has ids), and equal labels on every
    row where no sentence is a placeholder (PAWS-X `NS` rows carry label 0 whatever the item's label).
    The first disagreement is an error naming the row.
    """
    langs = list(sets)
    first = langs[0]
    n = len(sets[first])
    for lang in langs[1:]:
        if len(sets[lang]) != n:
            raise XlrError(f"misaligned data: {sets[lang].origin} has {len(sets[lang])} rows but "
                           f"{sets[first].origin} has {n}")
    with_ids = [lang for lang in langs if sets[lang].ids is not None]
    for lang in with_ids[1:]:
        a, b = sets[with_ids[0]].ids, sets[lang].ids
        for row in range(n):
            if a[row] != b[row]:
                raise XlrError(f"misaligned data: {sets[lang].where(row)} has id {b[row]} but "
                               f"{sets[with_ids[0]].where(row)} has id {a[row]}")
    shared = []
    for row in range(n):
        label, seen_in = None, None
        for lang in langs:
            s = sets[lang]
            if task.is_placeholder(s.sentence1[row]) or task.is_placeholder(s.sentence2[row]):
                continue
            if label is None:
                label, seen_in = s.labels[row], lang
            elif s.labels[row] != label:
                raise XlrError(
                    f"misaligned data: {s.where(row)} has label {task.labels[s.labels[row]]} but "
                    f"{sets[seen_in].where(row)} has {task.labels[label]}; row {row + 1} is not the same "
                    "item in every language"
                )
        shared.append(label if label is not None else sets[first].labels[row])
    return shared


def generalized_pairs(task: Task, sets: dict[str, PairSet]) -> dict[tuple[str, str], PairSet]:
    """All (l1, l2) pair sets: sentence 1 from l1, sentence 2 from l2, the item's shared label.

    A pair whose chosen sentence is a placeholder (PAWS-X `NS`, `WL`) takes the label that the placeholder's
    own row has in its source (0 for `NS` in the official data, whatever the source says for `WL`); when both
    sentences are placeholders with different labels, the task's placeholder label.
    """
    shared = verify_alignment(task, sets)

    def label(a: PairSet, b: PairSet, i: int) -> int:
        first, second = task.is_placeholder(a.sentence1[i]), task.is_placeholder(b.sentence2[i])
        if first and second:
            return a.labels[i] if a.labels[i] == b.labels[i] else task.placeholder_label
        if first:
            return a.labels[i]
        if second:
            return b.labels[i]
        return shared[i]

    out = {}
    for l1, a in sets.items():
        for l2, b in sets.items():
            labels = [label(a, b, i) for i in range(len(shared))]
            out[(l1, l2)] = PairSet(list(a.sentence1), list(b.sentence2), labels,
                                    f"{a.origin} x {b.origin}", a.ids)
    return out


# ------------------------------------------------------------------------------------------ export

def export(task: Task, source: Source, out: Path, languages: list[str], splits: list[str],
           skip_missing: bool = False) -> tuple[list[Path], list[str]]:
    """Write `{split}-{lang}.tsv` (and `{split}.ids` when every language has the same ids) under `out`,
    so later runs read the local layout offline. Each file is written atomically.

    A local source may lack some files (the fixture has English training data only): with `skip_missing`
    (nothing was asked for explicitly) they are skipped and named in the returned list; otherwise a
    missing file is an error."""
    from xlr.runs import atomic_write_text

    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise XlrError(f"unknown split {', '.join(bad)}; valid: {', '.join(SPLITS)}")
    written, skipped = [], []
    for split in splits:
        ids = {}
        for lang in languages:
            if hasattr(source, "has") and not source.has(task, split, lang):
                if skip_missing:
                    skipped.append(f"{split}-{lang}")
                    continue
                raise XlrError(f"{source.description} has no {split}-{lang}.tsv; choose --splits and --languages "
                               "that it has")
            pairs = source.load(task, split, lang)
            path = Path(out) / f"{split}-{lang}.tsv"
            atomic_write_text(path, format_tsv(pairs, task))
            written.append(path)
            ids[lang] = pairs.ids
        if ids and all(v is not None for v in ids.values()) and len({tuple(v) for v in ids.values()}) == 1:
            path = Path(out) / f"{split}.ids"
            atomic_write_text(path, "".join(f"{i}\n" for i in next(iter(ids.values()))))
            written.append(path)
    return written, skipped
