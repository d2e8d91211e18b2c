"""Data sources (the hub, a local TSV folder, the bundled fixture), the generalized setting's pairs, and
export to a local folder.

A data source hands out `PairSet`s, so the hub, a local XTREME-layout folder and the bundled fixture all take
the same code path afterwards.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from xlr.errors import XlrError
from xlr.tasks import BUILTIN_FIXTURE, SPLITS, PairSet, Task, format_tsv, get_task, read_tsv


class Source(Protocol):
    description: str

    def load(self, task: Task, split: str, language: str) -> PairSet: ...


@dataclass
class LocalSource:
    """A folder in the XTREME layout: `{train,dev,test}-{lang}.tsv`, optionally `{split}.ids`.

    A folder holding one subfolder per task (`DIR/pawsx/`, `DIR/xnli/`) works too: `<root>/<task>/` is used
    when the root itself has no TSV files for the task.
    """

    root: Path
    description: str = field(init=False)

    def __post_init__(self):
        self.root = Path(self.root)
        if not self.root.is_dir():
            found = "is a file, not a folder" if self.root.exists() else "does not exist"
            raise XlrError(f"data folder {self.root} {found}; pass --data-dir with a folder of "
                           "{split}-{lang}.tsv files")
        self.description = str(self.root)

    def folder(self, task: Task) -> Path:
        nested = self.root / task.name
        if nested.is_dir() and (any(nested.glob("*-*.tsv")) or not any(self.root.glob("*-*.tsv"))):
            return nested
        return self.root

    def has(self, task: Task, split: str, language: str) -> bool:
        return (self.folder(task) / f"{split}-{language}.tsv").is_file()

    def load(self, task: Task, split: str, language: str) -> PairSet:
        folder = self.folder(task)
        path = folder / f"{split}-{language}.tsv"
        if not path.is_file():
            hint = f" (or in {self.root / task.name}/)" if folder == self.root else ""
            hint += " or pass --train-file PATH" if split == "train" else ""
            raise XlrError(f"{path} does not exist; put {split}-{language}.tsv in {folder}{hint}")
        ids_path = folder / f"{split}.ids"
        ids = ids_path.read_text(encoding="utf-8").split() if ids_path.is_file() else None
        return read_tsv(path, task, ids)


@dataclass
class HubSource:
    """`datasets.load_dataset(task.hub.dataset, <config of the language>)`, as the task's [hub] table says:
    one config per language, or one config whose rows carry their language in a column."""

    description: str = "the Hugging Face hub"

    def load(self, task: Task, split: str, language: str) -> PairSet:
        hub = task.hub
        if hub is None:
            raise XlrError(f"task {task.name} has no [hub] table ({task.origin}); pass --data-dir DIR with "
                           f"{split}-{language}.tsv files")
        hub_split = hub.splits[split]
        config = hub.config_of(language)
        origin = f"hub:{hub.dataset}/{config}/{hub_split}"
        try:
            import datasets

            # load_dataset's own steps, so that the resolved commit (the builder's hash) can be recorded
            builder = datasets.load_dataset_builder(hub.dataset, config, revision=hub.revision)
            builder.download_and_prepare()
            ds = builder.as_dataset(split=hub_split)
            if hub.language_column:
                ds = ds.filter(lambda value: value == hub.name_of(language), input_columns=hub.language_column)
        except Exception as e:  # network, missing config, cache problems: all end the same way
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise XlrError(
                f"cannot load {hub.dataset} ({config}, {hub_split}) from the Hugging Face hub: "
                f"{reason[:200]}; offline, pass --data-dir DIR with {split}-{language}.tsv files "
                "(`xlr data export` writes them)"
            ) from None
        provenance = {"dataset": hub.dataset, "config": config, "split": hub_split, "revision": hub.revision,
                      "commit": getattr(builder, "hash", None)}
        missing = [c for c in (*task.text_columns, task.label_column) if c not in ds.column_names]
        if missing:
            raise XlrError(f"{origin} has no column {missing[0]} (its columns: {', '.join(ds.column_names)}); "
                           f"fix text_columns / label_column in {task.origin}")
        if not len(ds):
            raise XlrError(f"{origin} has no rows for {language}; check hub.language_names in {task.origin}")
        labels = [hub_label(task, y, origin, i) for i, y in enumerate(ds[task.label_column])]
        ids = [str(i) for i in ds[hub.id_column]] if hub.id_column in ds.column_names else None
        texts = [list(ds[c]) for c in task.text_columns]
        return PairSet(texts[0], texts[1] if task.is_pair else None, labels, origin, ids, provenance)


def hub_label(task: Task, value, origin: str, row: int) -> int:
    """A hub label: a label name (a string column), else a class id (ClassLabel or int column)."""
    if isinstance(value, str) and value in task.labels:
        return task.label_id(value)
    try:
        label = int(value)
    except (TypeError, ValueError):
        raise XlrError(f"{origin} row {row}: label {value!r} is not one of {', '.join(task.labels)}") from None
    if not 0 <= label < len(task.labels):
        raise XlrError(f"{origin} row {row}: label {label} is outside 0..{len(task.labels) - 1}")
    return label


def offline_variable() -> str | None:
    """The variable that puts the Hugging Face libraries in offline mode here, if one does."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").lower() in ("1", "true", "yes"):
            return var
    return None


def fixture_dir() -> Path:
    return Path(__file__).parent / "fixture"


def open_source(spec: str | os.PathLike | None) -> Source:
    """`None`/"hub" -> the hub; "builtin:fixture" -> the bundled fixture; anything else is a folder."""
    if spec is None or str(spec) == "hub":
        return HubSource()
    if str(spec) == BUILTIN_FIXTURE:
        return LocalSource(fixture_dir())
    return LocalSource(Path(spec).expanduser())


def load_train(source: Source, task: Task, language: str, train_file: str | None, split: str = "train",
               skip: int = 0) -> PairSet:
    """The training pairs: a TSV file, else the source's `split` of `language` from row `skip` on (training on
    the dev rows after the model-selection slice, for tasks without a usable train split)."""
    if train_file:
        return read_tsv(Path(train_file).expanduser(), task)
    pairs = source.load(task, split, language)
    if skip:
        if skip >= len(pairs):
            raise XlrError(f"{pairs.origin} has {len(pairs)} rows, all of them in the first {skip} that select the "
                           "model: lower train.max_dev_examples")
        pairs = pairs.tail(skip)
    return pairs


# ------------------------------------------------------------------------------- generalized setting

def verify_alignment(task: Task, sets: dict[str, PairSet]) -> list[int]:
    """Check that row i is the same item in every language; return the shared label of each row.
    (Pair tasks only: the generalized setting mixes sentence 1 and sentence 2 across languages.)

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


# the generalized setting's average over its mixed pairs (sentence 1 and sentence 2 in different languages)
MIXED_AVERAGE = "avg-mixed"


def is_mixed_pair(key: str) -> bool:
    """Whether a generalized pair key `l1-l2` names two different languages."""
    parts = key.split("-")
    return parts[0] != parts[1]


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

def check_splits(splits: list[str]) -> None:
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise XlrError(f"unknown split {', '.join(bad)} in --splits; valid: {', '.join(SPLITS)}")


def export(task: Task, source: Source, out: Path, languages: list[str], splits: list[str],
           skip_missing: bool = False) -> tuple[list[Path], list[str]]:
    """Write `{split}-{lang}.tsv` (and `{split}.ids` when every language has the same ids) under `out`,
    so later runs read the local layout offline. The files are written to a hidden folder beside `out` and
    moved into it (created then) only once every one of them has been read, so a source that fails half-way (a
    malformed file, a lost connection) leaves `out` as it was, or absent.

    A local source may lack some files (the fixture has English training data only): with `skip_missing`
    (nothing was asked for explicitly) they are skipped and named in the returned list; otherwise a
    missing file is an error."""
    import shutil
    import tempfile

    from xlr.files import atomic_write_text, nearest_existing

    check_splits(splits)
    out = Path(out)
    stage = Path(tempfile.mkdtemp(prefix=".xlr-export-", dir=nearest_existing(out)))
    try:
        staged, skipped = [], []
        for split in splits:
            ids = {}
            for lang in languages:
                if hasattr(source, "has") and not source.has(task, split, lang):
                    if skip_missing:
                        skipped.append(f"{split}-{lang}")
                        continue
                    raise XlrError(f"{source.description} has no {split}-{lang}.tsv; choose --splits and "
                                   "--languages that it has")
                pairs = source.load(task, split, lang)
                atomic_write_text(stage / f"{split}-{lang}.tsv", format_tsv(pairs, task))
                staged.append(f"{split}-{lang}.tsv")
                ids[lang] = pairs.ids
            if ids and all(v is not None for v in ids.values()) and len({tuple(v) for v in ids.values()}) == 1:
                atomic_write_text(stage / f"{split}.ids", "".join(f"{i}\n" for i in next(iter(ids.values()))))
                staged.append(f"{split}.ids")
        out.mkdir(parents=True, exist_ok=True)
        for name in staged:
            os.replace(stage / name, out / name)
        return [out / name for name in staged], skipped
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# ------------------------------------------------------------------------- PAWS-X's CPU-scale training file

# The file xlr's published PAWS-X numbers on multilingual-e5-small trained on (docs/experiments.md, "PAWS-X's
# training file at CPU scale"): `pawsx_cpu_train` rebuilds it from PAWS-Wiki and says whether the result is it.
PAWSX_CPU_TRAIN_SHA256 = "f425e197f2995bc94e77fb5c67f6074d38fd0aa50e0f86b436b882fda9e67a4c"


@dataclass
class FilteredPairs:
    pairs: PairSet
    candidates: int   # candidate rows read
    held_out: int     # dropped: their texts equal a held-out row's
    repeats: int      # dropped: their texts equal an earlier kept row's


def disjoint_pairs(candidates: list[PairSet], held_out: list[PairSet], origin: str) -> FilteredPairs:
    """The candidate rows in their order, minus every row whose texts equal a held-out row's (so that nothing
    trained on is ever evaluated on) and minus repeats of an earlier row's texts."""
    banned = {tuple(texts) for pairs in held_out for texts in zip(*pairs.texts)}
    seen, kept, dropped, repeats = set(), [], 0, 0
    for pairs in candidates:
        for texts, label in zip(zip(*pairs.texts), pairs.labels):
            if texts in banned:
                dropped += 1
            elif texts in seen:
                repeats += 1
            else:
                seen.add(texts)
                kept.append((texts, label))
    columns = [list(c) for c in zip(*(t for t, _ in kept))] or [[] for _ in candidates[0].texts]
    pairs = PairSet(columns[0], columns[1] if len(columns) > 1 else None, [y for _, y in kept], origin)
    return FilteredPairs(pairs, sum(map(len, candidates)), dropped, repeats)


def pawsx_cpu_train(source: Source) -> FilteredPairs:
    """PAWS-Wiki's labeled dev and test pairs (in that order) minus PAWS-X's English dev and test pairs, which
    were drawn from PAWS-Wiki's dev set, and minus repeats: English training pairs disjoint from every PAWS-X
    evaluation row."""
    wiki, pawsx = get_task("paws-wiki"), get_task("pawsx")
    if wiki.labels != pawsx.labels:
        raise XlrError(f"{wiki.origin}: labels {list(wiki.labels)} must be PAWS-X's, {list(pawsx.labels)}")
    if hasattr(source, "folder") and source.folder(wiki) == source.folder(pawsx):
        root = source.folder(wiki)
        raise XlrError(f"--data-dir {root}: PAWS-Wiki and PAWS-X need a subfolder each, {root}/paws-wiki/ and "
                       f"{root}/pawsx/ (`xlr data export --task paws-wiki --out {root}/paws-wiki`, and the same "
                       "with --task pawsx)")
    made = disjoint_pairs([source.load(wiki, split, "en") for split in ("dev", "test")],
                          [source.load(pawsx, split, "en") for split in ("dev", "test")],
                          "PAWS-Wiki dev + test minus PAWS-X en dev + test")
    if not len(made.pairs):
        raise XlrError(f"every one of the {made.candidates} PAWS-Wiki pairs from {source.description} equals a PAWS-X "
                       "evaluation pair or an earlier pair: check that its paws-wiki/ folder holds PAWS-Wiki")
    return made


def write_pawsx_cpu_train(source: Source, out: Path, force: bool = False) -> tuple[FilteredPairs, str]:
    """`pawsx_cpu_train` written to OUT as a PAWS-X TSV; returns it with the file's sha256. An existing OUT
    with other content is kept unless `force` (it may be the file that results were trained on)."""
    import hashlib

    from xlr.files import atomic_write_bytes

    out = Path(out)
    if out.is_dir():
        raise XlrError(f"--out {out} is a folder; give the file to write, e.g. {out / 'train-en-small.tsv'}")
    made = pawsx_cpu_train(source)
    data = format_tsv(made.pairs, get_task("pawsx")).encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    if out.is_file() and not force and out.read_bytes() != data:
        raise XlrError(f"{out} exists and differs from the file just built (sha256 {digest}); pass --force to "
                       "replace it, or choose another --out")
    atomic_write_bytes(out, data)
    return made, digest
