"""Task definitions (TOML: `reproduce/tasks/*.toml`, or `[task]` in an experiment) and their registry, the
training settings a task implies, `PairSet`s, and TSV reading and writing.

Data sources (sources.py) hand out `PairSet`s: aligned lists of sentence 1 (the first text column), sentence 2 (the
second text column; None for single-sentence tasks) and integer labels, plus ids where the source has
them. Everything else in xlr works on `PairSet`s, so the hub, a local XTREME-layout folder and the
bundled fixture all take the same code path afterwards.
"""
from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from xlr.settings import TrainSettings
from xlr.errors import XlrError

SPLITS = ("train", "dev", "test")
BUILTIN_FIXTURE = "builtin:fixture"


@dataclass(frozen=True)
class HubSpec:
    """Where a task's data lives on the Hugging Face hub."""

    dataset: str
    # the config of each language: "{language}" is replaced by the language's hub name
    config: str = "{language}"
    # a language's name on the hub when it is not its code (e.g. en -> "english")
    language_names: dict = field(default_factory=dict)
    # one config holds every language: keep the rows whose `language_column` equals the language's hub name
    language_column: str | None = None
    splits: dict = field(default_factory=lambda: {"train": "train", "dev": "validation", "test": "test"})
    revision: str | None = None
    id_column: str = "id"  # used when the dataset has it (PAWS-X ids check the generalized alignment)
    # the train split's size, as the dataset card gives it: cost estimates (`xlr doctor`) before any download
    train_rows: int | None = None

    def name_of(self, language: str) -> str:
        return self.language_names.get(language, language)

    def config_of(self, language: str) -> str:
        return self.config.replace("{language}", self.name_of(language))


@dataclass(frozen=True)
class Task:
    """A text classification task, defined in TOML (`reproduce/tasks/NAME.toml`, or `[task]` in an
    experiment): its languages, one or two text columns, and its labels."""

    name: str
    languages: tuple[str, ...]
    # Class names in class-id order. The TSV label column holds these strings.
    labels: tuple[str, ...]
    # one column (single-sentence tasks) or two (sentence pairs); the hub's column names
    text_columns: tuple[str, ...] = ("sentence1", "sentence2")
    label_column: str = "label"
    source_language: str = "en"
    hub: HubSpec | None = None
    # A sentence equal to one of these (case-insensitive) marks a missing human translation.
    placeholders: tuple[str, ...] = ()
    # The label placeholder rows carry in the official data where it is documented (PAWS-X `NS`: 0).
    placeholder_label: int | None = None
    # the task's own training settings (e.g. XNLI's 1 epoch); experiments override them
    train: dict = field(default_factory=dict)
    # the test sets of every language are translations of the same items, row by row (PAWS-X, XNLI): statistics
    # then draw test items once for all languages and pairs (xlr.results.bootstrap)
    parallel: bool = False
    # the file that defined the task, for messages
    origin: str = ""

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2

    def label_id(self, raw: str) -> int:
        try:
            return self.labels.index(raw)
        except ValueError:
            raise KeyError(raw) from None

    def is_placeholder(self, sentence: str) -> bool:
        return sentence.strip().upper() in self.placeholders

    def as_dict(self) -> dict:
        """The definition as the TOML keys that make it (stored in each run's config.json)."""
        out = {"name": self.name, "languages": list(self.languages), "source_language": self.source_language,
               "text_columns": list(self.text_columns), "label_column": self.label_column,
               "labels": list(self.labels)}
        if self.placeholders:
            out["placeholders"] = list(self.placeholders)
        if self.placeholder_label is not None:
            out["placeholder_label"] = self.labels[self.placeholder_label]
        if self.hub is not None:
            hub = {"dataset": self.hub.dataset, "config": self.hub.config, "splits": dict(self.hub.splits),
                   "id_column": self.hub.id_column}
            for key in ("language_names", "language_column", "revision", "train_rows"):
                if getattr(self.hub, key):
                    hub[key] = getattr(self.hub, key)
            out["hub"] = hub
        if self.train:
            out["train"] = dict(self.train)
        if self.parallel:
            out["parallel"] = True
        return out


# ------------------------------------------------------------------------------------ task definitions

TASK_KEYS = {"name": str, "languages": list, "source_language": str, "text_columns": list, "label_column": str,
             "labels": list, "placeholders": list, "placeholder_label": str, "hub": dict, "train": dict,
             "parallel": bool}
# keys of a task definition that change no run's results (a run stored before one existed still matches)
RESULT_NEUTRAL_TASK_KEYS = ("parallel",)
HUB_KEYS = {"dataset": str, "config": str, "language_names": dict, "language_column": str, "splits": dict,
            "revision": str, "id_column": str, "train_rows": int}
REQUIRED_TASK_KEYS = ("name", "languages", "labels")


def check_keys(table: dict, keys: dict, where: str, prefix: str = "") -> None:
    """Every key of a TOML table is known and has its type (`keys`: name -> type or tuple of types)."""
    for key, value in table.items():
        if key not in keys:
            raise XlrError(f"{where}: unknown key '{prefix}{key}'; valid keys: "
                           f"{', '.join(prefix + k for k in sorted(keys))}")
        if not isinstance(value, keys[key]):
            expected = keys[key] if isinstance(keys[key], tuple) else (keys[key],)
            raise XlrError(f"{where}: '{prefix}{key}' = {value!r} has the wrong type ({type(value).__name__}); "
                           f"expected {' or '.join(t.__name__ for t in expected)}")


def _strings(value: list, key: str, where: str, at_least: int = 0, at_most: int | None = None) -> tuple[str, ...]:
    if not all(isinstance(v, str) and v.strip() for v in value) or len(value) < at_least or \
            (at_most is not None and len(value) > at_most) or len(set(value)) != len(value):
        size = f"{at_least} to {at_most}" if at_most else f"at least {at_least}"
        raise XlrError(f"{where}: '{key}' must list {size} different non-empty strings, not {value!r}")
    return tuple(value)


def task_from_dict(raw: dict, where: str, prefix: str = "") -> Task:
    """A validated Task from its TOML table; a malformed definition is an error naming the key."""
    check_keys(raw, TASK_KEYS, where, prefix)
    for key in REQUIRED_TASK_KEYS:
        if key not in raw:
            raise XlrError(f"{where}: '{prefix}{key}' is required in a task definition")
    name = raw["name"]
    if not name or any(c in name for c in "/\\ \t"):
        raise XlrError(f"{where}: '{prefix}name' = {name!r} must be a non-empty word (it names folders)")
    languages = _strings(raw["languages"], prefix + "languages", where, at_least=1)
    labels = _strings(raw["labels"], prefix + "labels", where, at_least=2)
    columns = _strings(raw.get("text_columns", ["sentence1", "sentence2"]), prefix + "text_columns", where,
                       at_least=1, at_most=2)
    source = raw.get("source_language", "en" if "en" in languages else languages[0])
    if source not in languages:
        raise XlrError(f"{where}: '{prefix}source_language' = {source!r} is not one of its languages "
                       f"({' '.join(languages)})")
    placeholder_label = raw.get("placeholder_label")
    if placeholder_label is not None:
        if placeholder_label not in labels:
            raise XlrError(f"{where}: '{prefix}placeholder_label' = {placeholder_label!r} is not one of its labels "
                           f"({', '.join(labels)})")
        placeholder_label = labels.index(placeholder_label)
    hub = None
    if "hub" in raw:
        table = raw["hub"]
        check_keys(table, HUB_KEYS, where, prefix + "hub.")
        if "dataset" not in table:
            raise XlrError(f"{where}: '{prefix}hub.dataset' is required in a [hub] table (the hub dataset id)")
        splits = {"train": "train", "dev": "validation", "test": "test", **table.get("splits", {})}
        bad = sorted(set(splits) - set(SPLITS)) or [k for k, v in splits.items() if not isinstance(v, str)]
        if bad:
            raise XlrError(f"{where}: '{prefix}hub.splits' maps xlr's splits ({', '.join(SPLITS)}) to the hub's "
                           f"split names; '{bad[0]}' is not one or not a string")
        names = table.get("language_names", {})
        if not all(isinstance(v, str) for v in names.values()) or set(names) - set(languages):
            raise XlrError(f"{where}: '{prefix}hub.language_names' maps the task's languages to strings, "
                           f"not {names!r}")
        config = table.get("config", "{language}")
        if "{language}" not in config and "language_column" not in table and len(languages) > 1:
            raise XlrError(f"{where}: '{prefix}hub.config' = {config!r} holds every language: name the column "
                           "that says each row's language with hub.language_column, or use \"{language}\"")
        hub = HubSpec(dataset=table["dataset"], config=config, language_names=dict(names),
                      language_column=table.get("language_column"), splits=splits, revision=table.get("revision"),
                      id_column=table.get("id_column", "id"), train_rows=table.get("train_rows"))
    placeholders = tuple(p.strip().upper() for p in _strings(raw.get("placeholders", []), prefix + "placeholders",
                                                              where))
    # the [train] table's keys are checked with the settings (train_settings_for, below), which names this file
    return Task(name=name, languages=languages, labels=labels, text_columns=columns,
                label_column=raw.get("label_column", "label"), source_language=source, hub=hub,
                placeholders=placeholders, placeholder_label=placeholder_label, train=dict(raw.get("train", {})),
                parallel=raw.get("parallel", False), origin=where)


def load_task_file(path: Path) -> Task:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise XlrError(f"task file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise XlrError(f"{path}: not valid TOML ({e})") from None
    return task_from_dict(raw, str(path))


def tasks_dir() -> Path | None:
    from xlr.resources import shipped_dir

    folder = shipped_dir("reproduce")
    return folder / "tasks" if folder and (folder / "tasks").is_dir() else None


def _shipped_tasks() -> dict[str, Task]:
    folder = tasks_dir()
    tasks = {}
    for path in sorted(folder.glob("*.toml")) if folder else []:
        task = load_task_file(path)
        if task.name != path.stem:
            raise XlrError(f"{path}: name = {task.name!r} must match the file name ({path.stem})")
        tasks[task.name] = task
    return tasks


# the shipped tasks, by name: reproduce/tasks/*.toml
TASKS: dict[str, Task] = _shipped_tasks()


def get_task(spec: "str | Task | os.PathLike", base: Path | None = None) -> Task:
    """A task by name (reproduce/tasks/NAME.toml), by path to a task TOML (relative to `base`, then to the
    working folder), or a Task itself."""
    if isinstance(spec, Task):
        return spec
    spec = str(spec)
    if spec in TASKS:
        return TASKS[spec]
    if spec.endswith(".toml") or "/" in spec:
        candidates = ([Path(base) / spec] if base else []) + [Path(spec).expanduser()]
        for path in candidates:
            if path.is_file():
                return load_task_file(path)
        raise XlrError(f"task file {spec} does not exist")
    raise XlrError(f"unknown task '{spec}'; valid tasks: {', '.join(TASKS)} (or a path to a task TOML file, "
                   "or a [task] table in the experiment)")


def task_of_config(config: dict) -> Task:
    """The task a run was trained on: its stored definition, else (runs from before tasks were files) its name."""
    definition = config.get("task_definition")
    if definition is not None:
        return task_from_dict(definition, f"{config.get('experiment', 'run')} config.json task_definition")
    return get_task(config["identity"]["task"])


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
    """Aligned texts with integer labels: sentence pairs, or single sentences (`sentence2` is None).
    `origin` names the file (or hub split) for messages."""

    sentence1: list[str]
    sentence2: list[str] | None
    labels: list[int]
    origin: str
    ids: list[str] | None = None
    # where the rows came from: {"path", "sha256"} for a file, {"dataset", "config", "split", "revision",
    # "commit"} for the hub (commit: the dataset commit that was resolved); kept by head()
    provenance: dict | None = None
    first_row: int = 0  # the source row of row 0 (a tail of a file)

    @property
    def texts(self) -> list[list[str]]:
        """The text columns present: [sentence1] or [sentence1, sentence2]."""
        return [self.sentence1] if self.sentence2 is None else [self.sentence1, self.sentence2]

    def __len__(self) -> int:
        return len(self.labels)

    def where(self, row: int) -> str:
        """`origin:line` of a 0-based row (lines are 1-based, as editors show them)."""
        return f"{self.origin}:{self.first_row + row + 1}"

    def tail(self, start: int) -> "PairSet":
        """Rows `start` (0-based) to the end; `where` still names the file's own line numbers."""
        return PairSet(self.sentence1[start:], None if self.sentence2 is None else self.sentence2[start:],
                       self.labels[start:], self.origin, None if self.ids is None else self.ids[start:],
                       None if self.provenance is None else {**self.provenance, "from_row": start + 1},
                       self.first_row + start)

    def head(self, n: int | None) -> "PairSet":
        if n is None or n >= len(self):
            return self
        return PairSet(self.sentence1[:n], None if self.sentence2 is None else self.sentence2[:n],
                       self.labels[:n], self.origin,
                       None if self.ids is None else self.ids[:n], self.provenance, self.first_row)


# ---------------------------------------------------------------------------------------------- TSV

def read_tsv(path: str | Path, task: Task, ids: list[str] | None = None) -> PairSet:
    """Read a headerless `sentence1<TAB>sentence2<TAB>label` file (`text<TAB>label` for a single-sentence
    task). No CSV quoting: quotes are text."""
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
    width = len(task.text_columns) + 1
    names = ", ".join(list(task.text_columns) + ["label"])
    s1, s2, labels = [], [], []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if line.endswith("\r"):
            line = line[:-1]
        fields = line.split("\t")
        if len(fields) != width:
            raise XlrError(f"{path}:{number}: expected {width} tab-separated columns ({names}), found {len(fields)}")
        try:
            labels.append(task.label_id(fields[-1].strip()))
        except KeyError:
            raise XlrError(
                f"{path}:{number}: label '{fields[-1]}' is not a {task.name} label; expected one of "
                f"{', '.join(task.labels)}"
            ) from None
        s1.append(fields[0])
        if width == 3:
            s2.append(fields[1])
    if not labels:
        raise XlrError(f"{path}: the file is empty")
    if ids is not None and len(ids) != len(labels):
        raise XlrError(f"{path}: {len(labels)} rows but its ids file has {len(ids)} lines")
    provenance = {"path": str(path.resolve()), "sha256": hashlib.sha256(raw).hexdigest()}
    return PairSet(s1, s2 if width == 3 else None, labels, str(path), ids, provenance)


def format_tsv(pairs: PairSet, task: Task) -> str:
    rows = list(zip(*pairs.texts))
    for row, texts in enumerate(rows):
        if any(c in t for t in texts for c in "\t\n\r"):
            raise XlrError(f"{pairs.where(row)}: a sentence contains a tab or newline and cannot be written as TSV")
    return "".join("\t".join(texts) + f"\t{task.labels[y]}\n" for texts, y in zip(rows, pairs.labels))


def train_settings_for(task, overrides: dict | None = None) -> TrainSettings:
    """The settings: TrainSettings's defaults, then the task's own `[train]` table (a Task or a task name; where the
    paper's scripts differ by task, e.g. XNLI's 1 epoch), then `overrides` (the experiment's [train] table)."""
    task = get_task(task)
    unknown = sorted(set(task.train) - set(TrainSettings.field_names()))
    if unknown:
        raise XlrError(f"{task.origin}: unknown training setting train.{unknown[0]}; valid: "
                       f"{', '.join(TrainSettings.field_names())}")
    values = {**task.train, **(overrides or {})}
    unknown = sorted(set(values) - set(TrainSettings.field_names()))
    if unknown:
        raise XlrError(f"unknown training setting {', '.join(unknown)}; valid: {', '.join(TrainSettings.field_names())}")
    return TrainSettings(**values)
