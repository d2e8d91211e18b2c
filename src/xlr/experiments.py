"""Experiments as data: `reproduce/NAME.toml` -> a validated `Experiment`, profiles, overrides, run plan.

Precedence, lowest first: the code's defaults (config.TrainSettings, xlr.methods.METHODS), the TOML file,
the chosen `[profiles.NAME]` table, then command-line overrides.
"""
from __future__ import annotations

import copy
import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from xlr.tasks import BUILTIN_FIXTURE, Task, check_keys, check_languages, get_task, task_from_dict
from xlr.sources import load_train
from xlr.errors import XlrError
from xlr.files import file_sha256
from xlr.methods import BASELINE, METHODS, get_method, identity_options, resolve_options
from xlr.resources import shipped_dir
from xlr.settings import DEFAULT_TOLERANCE, TrainSettings
from xlr.tasks import train_settings_for

TOP_LEVEL_KEYS = {
    "title": str, "notes": str, "task": (str, dict), "model": str, "source_language": str, "languages": list,
    "methods": (list, dict), "seeds": list, "data": str, "train_file": (str, dict), "max_test_examples": int,
    "generalized": bool, "paper": str, "tolerance": dict, "train": dict, "profiles": dict, "include": list,
    "revision": str, "train_split": str,
}
TRAIN_SPLITS = ("train", "dev")
# an experiment that only gathers others (`include = ["table1", "xnli"]`) may set just these
COMPOSITE_KEYS = {"title", "notes", "include", "generalized", "profiles"}


@dataclass(frozen=True)
class Experiment:
    """An experiment as loaded (TOML, profile, overrides): never changed afterwards; a variant is a new one
    (dataclasses.replace)."""

    name: str
    title: str
    # the task definition: reproduce/tasks/<task>.toml, a task file the experiment names, or its [task] table
    task_def: Task
    model: str
    source_language: str
    languages: list[str]
    methods: list[str]
    seeds: list[int]
    data: str | None = None
    train_file: str | None = None
    # "dev": train on the source-language dev rows after the first train.max_dev_examples, which select the model
    train_split: str = "train"
    max_test_examples: int | None = None
    generalized: bool = False
    paper: str | None = None
    tolerance: dict = field(default_factory=lambda: dict(DEFAULT_TOLERANCE))
    train_table: dict = field(default_factory=dict)   # the experiment's [train] table, as written
    method_options: dict = field(default_factory=dict)
    profile: str | None = None
    path: str | None = None
    # False for sweeps: train and select on source dev only; no test set is read
    evaluate_test: bool = True
    # a composite experiment runs its parts (their runs live under their own names, so they are shared)
    parts: list["Experiment"] = field(default_factory=list)

    @property
    def task(self) -> str:
        """The task's name."""
        return self.task_def.name

    @property
    def run_name(self) -> str:
        """The folder under runs/: the experiment name, plus the profile, so profiles never mix."""
        return f"{self.name}-{self.profile}" if self.profile else self.name

    def train_settings(self) -> TrainSettings:
        return train_settings_for(self.task_def, self.train_table)

    def training_pairs(self, source):
        """The pairs the runs train on (before a method's own transform, such as RS-DA's augmentation)."""
        settings = self.train_settings()
        skip = settings.max_dev_examples if self.train_split == "dev" else 0
        pairs = load_train(source, self.task_def, self.source_language, self.train_file, self.train_split, skip)
        return pairs.head(settings.max_train_examples)

    def runs(self) -> list["RunSpec"]:
        return [RunSpec(self, m, s, self.method_options[m]) for m in self.methods for s in self.seeds]


@dataclass
class RunSpec:
    experiment: Experiment
    method: str
    seed: int
    options: dict

    def identity(self) -> dict:
        """Everything that decides the run's results; a finished run counts only if this matches."""
        e = self.experiment
        return comparable_identity({
            "task": e.task, "model": e.model, "source_language": e.source_language, "method": self.method,
            "seed": self.seed, "train": vars(e.train_settings()),
            # the training file by its content: the same name with other rows is another run
            "train_file": _content(e.train_file) if e.train_file else None,
            **({"train_split": e.train_split} if e.train_split != "train" else {}),
            # where the data and the (checksum-verified) synonym table live does not change results
            "method_options": {k: v for k, v in identity_options(self.method, self.options).items()
                               if k != "synonyms"},
        })


def _content(train_file: str) -> str:
    try:
        return f"sha256:{file_sha256(Path(train_file))}"
    except OSError as e:
        raise XlrError(f"--train-file {train_file} cannot be read ({e.strerror or e})") from None


# settings settings that do not change a run's results: where its metrics are logged, and whether the same
# arithmetic runs compiled (torch.compile fuses kernels; it does not change what is computed)
NOT_IDENTITY = ("report_to", "compile")
# settings added after runs were stored, at the value those runs had: a run stored before one existed matches
ADDED_LATER = {"deterministic": False}


def comparable_identity(identity: dict) -> dict:
    """An identity without the settings that do not change results (runs stored before such a setting was
    left out of identities still match), nor the settings added later at the value earlier runs had."""
    identity = dict(identity)
    if "protocol" in identity and "train" not in identity:  # the name runs stored before it was `train`
        identity["train"] = identity.pop("protocol")
    if "train" in identity:
        identity["train"] = {k: v for k, v in identity["train"].items()
                             if k not in NOT_IDENTITY and not (k in ADDED_LATER and v == ADDED_LATER[k])}
    return identity


# ---------------------------------------------------------------------------------------- loading

def available_experiments() -> list[str]:
    folder = shipped_dir("reproduce")
    return sorted(p.stem for p in folder.glob("*.toml")) if folder else []


def find_experiment_file(name_or_path: str) -> Path:
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    if p.suffix == ".toml" or "/" in name_or_path:
        raise XlrError(f"experiment file {p} does not exist")
    folder = shipped_dir("reproduce")
    if folder and (folder / f"{name_or_path}.toml").is_file():
        return folder / f"{name_or_path}.toml"
    raise XlrError(f"unknown experiment '{name_or_path}'; available: {', '.join(available_experiments()) or 'none'} "
                   "(or pass a path to your own TOML file)")


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _normalize(raw: dict) -> dict:
    """`methods = [..]` is shorthand for `[methods] run = [..]`, so profiles can add `[methods.adv]` options."""
    if isinstance(raw.get("methods"), list):
        raw = {**raw, "methods": {"run": raw["methods"]}}
    return raw


def parse_override(text: str) -> dict:
    """`train.epochs=1` -> {"train": {"epochs": 1}}; values use TOML syntax, bare words are strings."""
    if "=" not in text:
        raise XlrError(f"--set '{text}': expected KEY=VALUE, for example train.epochs=1")
    key, raw = (s.strip() for s in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    out: dict = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def read_override_file(path: str | Path) -> dict:
    """A TOML file of overrides (the same keys as an experiment), e.g. the `chosen-*.toml` of `xlr sweep`."""
    p = Path(path).expanduser()
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise XlrError(f"--overrides {p} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise XlrError(f"--overrides {p}: not valid TOML ({e})") from None


def cli_overrides(data: str | None = None, train_file: str | None = None, model: str | None = None,
                  seeds: str | None = None, methods: str | None = None,
                  assignments: list[str] | None = None, method_options: dict | None = None,
                  files: list[str] | None = None, train: dict | None = None) -> list[dict]:
    """Command-line options as override dicts, applied after the profile.

    `method_options` (e.g. {"epsilon": 0.2}) go to every method of the experiment that has that option;
    `train` (e.g. {"learning_rate": 5e-5}) to the [train] table.
    """
    over: dict = {}
    for name, method in METHODS.items():
        mine = {k: v for k, v in (method_options or {}).items() if k in method.defaults}
        if mine:
            over.setdefault("methods", {})[name] = mine
    if train:
        over["train"] = dict(train)
    if data is not None:
        over["data"] = data
    if train_file is not None:  # PATH, or TASK=PATH for the parts of one task
        task, sep, path = train_file.partition("=")
        task_form = sep and task and "/" not in task and not Path(train_file).exists()
        over["train_file"] = {task: path} if task_form else train_file
    if model is not None:
        over["model"] = model
    if seeds is not None:
        try:
            over["seeds"] = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise XlrError(f"--seeds '{seeds}': expected comma-separated integers, e.g. 1,2,3") from None
    if methods is not None:
        over.setdefault("methods", {})["run"] = [m.strip() for m in methods.split(",") if m.strip()]
    return [read_override_file(f) for f in files or []] + [over] + [parse_override(a) for a in assignments or []]


def selected_methods(exp: Experiment) -> list[str]:
    """The methods an experiment (or its parts) will run."""
    return list(dict.fromkeys(m for part in (exp.parts or [exp]) for m in part.methods))


def check_method_options(methods: list[str], given: dict | None) -> None:
    """The one rule for method options given on the command line, on every verb: a flag means one thing. Each
    must belong to a selected method; it then sets that option of every selected method that has it, which is
    refused when those methods give the option different meanings or defaults (ADV's and RS-RP's --epsilon are
    40x apart): select one of them, or set each with --set methods.METHOD.KEY=V."""
    for key in sorted(k for k, v in (given or {}).items() if v is not None):
        owners = [name for name, m in METHODS.items() if key in m.defaults]
        flag = "--" + key.replace("_", "-")
        if not any(m in owners for m in methods):
            raise XlrError(f"{flag}: none of the selected methods ({', '.join(methods)}) has this option; it "
                           f"belongs to {', '.join(owners)}: select one of them or drop {flag}")
        users = [m for m in methods if m in owners]
        meanings = {(option.help, option.default) for m in users for option in METHODS[m].options if option.name == key}
        if len(meanings) > 1:
            shown = ", ".join(f"{m} (default {METHODS[m].defaults[key]})" for m in users)
            raise XlrError(f"{flag} means different things for {shown}: select one with --methods, or set each with "
                           f"--set methods.{users[0]}.{key}=V --set methods.{users[1]}.{key}=V")


def load_experiment(name_or_path: str, profile: str | None = None, overrides: list[dict] | None = None) -> Experiment:
    path = find_experiment_file(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise XlrError(f"{path}: not valid TOML ({e})") from None
    profiles = raw.pop("profiles", {})
    if "include" in raw:
        return _composite(raw, path, profile, overrides or [])
    raw = _normalize(raw)
    if profile is not None:
        if profile not in profiles:
            raise XlrError(f"{path.name} has no profile '{profile}'; its profiles: {', '.join(profiles) or 'none'}")
        raw = _deep_merge(raw, _normalize(profiles[profile]))
    for over in overrides or []:
        raw = _deep_merge(raw, _normalize(over))
    return experiment_from_dict(raw, name=path.stem, path=str(path), profile=profile)


def _composite(raw: dict, path: Path, profile: str | None, overrides: list[dict]) -> Experiment:
    """`include = [...]`: load each part with the same profile and overrides (plus `generalized`)."""
    extra = sorted(set(raw) - COMPOSITE_KEYS)
    if extra:
        raise XlrError(f"{path.name}: an experiment with 'include' takes only {', '.join(sorted(COMPOSITE_KEYS))}; "
                       f"move {', '.join(extra)} into the included files")
    names = raw["include"]
    if not names or not all(isinstance(n, str) for n in names):
        raise XlrError(f"{path.name}: include must list experiment names, e.g. include = [\"table1\"]")
    if path.stem in names:
        raise XlrError(f"{path.name} includes itself")
    passed = overrides + ([{"generalized": raw["generalized"]}] if "generalized" in raw else [])
    parts = [load_experiment(name, profile, passed) for name in names]
    return Experiment(name=path.stem, title=raw.get("title", path.stem), task_def=parts[0].task_def,
                      model=parts[0].model,
                      source_language=parts[0].source_language, languages=[], methods=[], seeds=[],
                      generalized=raw.get("generalized", False), profile=profile, path=str(path), parts=parts)


def experiment_from_dict(raw: dict, name: str, path: str = "<dict>", profile: str | None = None) -> Experiment:
    where = Path(path).name
    check_keys(raw, TOP_LEVEL_KEYS, where)
    for key in ("task", "model"):
        if key not in raw:
            raise XlrError(f"{where}: '{key}' is required")
    task = _task_of(raw, where, path)
    languages = check_languages(task, raw.get("languages", list(task.languages)))
    source = raw.get("source_language", task.source_language)
    check_languages(task, [source])
    if raw.get("generalized") and not task.is_pair:
        raise XlrError(f"{where}: generalized = true needs a sentence-pair task, but {task.name} has one text column "
                       f"({task.text_columns[0]}); drop generalized (or --generalized)")
    methods, options = _methods_of(raw, where)
    exp = Experiment(
        name=name, title=raw.get("title", name), task_def=task, model=raw["model"], source_language=source,
        languages=languages, methods=list(methods), seeds=_seeds_of(raw, where), data=raw.get("data"),
        train_file=_train_file(raw.get("train_file"), task, where), train_split=raw.get("train_split", "train"),
        max_test_examples=raw.get("max_test_examples"),
        generalized=raw.get("generalized", False), paper=raw.get("paper"), tolerance=_tolerance_of(raw, where),
        train_table=raw.get("train", {}), profile=profile, path=path,
        # each method's options resolved once, here (defaults filled in, names, types and choices checked): the
        # options its runs train with
        method_options={**options, **{m: resolve_options(m, options.get(m)) for m in methods}},
    )
    settings = exp.train_settings()  # validates the [train] table now, not after an hour of work
    if exp.train_split not in TRAIN_SPLITS:
        raise XlrError(f"{where}: train_split = {exp.train_split!r}: use train, or dev (train on the source dev rows "
                       "after the first train.max_dev_examples)")
    if exp.train_split == "dev" and not settings.max_dev_examples:
        raise XlrError(f"{where}: train_split = \"dev\" trains on the dev rows after the model-selection slice: set "
                       "train.max_dev_examples to the number of dev rows that select the model")
    return exp


def _task_of(raw: dict, where: str, path: str) -> Task:
    """`task = "pawsx"` (reproduce/tasks/pawsx.toml), `task = "my_task.toml"` (beside the experiment), or [task];
    `revision` pins its hub dataset's commit."""
    if isinstance(raw["task"], dict):
        task = task_from_dict(raw["task"], where, prefix="task.")
    else:
        task = get_task(raw["task"], base=Path(path).parent)
    if "revision" in raw:  # the hub dataset's commit, tag or branch, instead of the task file's
        if task.hub is None:
            raise XlrError(f"{where}: revision = {raw['revision']!r} pins a hub dataset, but task {task.name} has no "
                           "[hub] table; drop revision")
        task = dataclasses.replace(task, hub=dataclasses.replace(task.hub, revision=raw["revision"]))
    return task


def _methods_of(raw: dict, where: str) -> tuple[list[str], dict]:
    """(the methods to run, the options given per method): `methods` is a list of names, or a [methods] table with
    run = [...] and a table of options per method."""
    methods_raw = raw.get("methods", [BASELINE])
    if isinstance(methods_raw, dict):
        options = {k: v for k, v in methods_raw.items() if k != "run"}
        methods = methods_raw.get("run")
        if not isinstance(methods, list) or not methods:
            raise XlrError(f"{where}: [methods] needs run = [...], the list of methods to train")
    else:
        methods, options = methods_raw, {}
    for m, opts in options.items():
        if not isinstance(opts, dict):
            raise XlrError(f"{where}: methods.{m} must be a table of options")
    for m in list(methods) + list(options):
        get_method(m)
    return list(methods), options


def _seeds_of(raw: dict, where: str) -> list[int]:
    seeds = raw.get("seeds", [7])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                           for s in seeds):
        raise XlrError(f"{where}: seeds must be a non-empty list of integers")
    bad = [s for s in seeds if not 0 <= s < 2**32]  # numpy's and torch's seeding range
    if bad:
        raise XlrError(f"{where}: a seed (seeds, --seeds or --seed) must be from 0 to {2**32 - 1}, not {bad[0]}")
    return list(seeds)


def _tolerance_of(raw: dict, where: str) -> dict:
    tolerance = {**DEFAULT_TOLERANCE, **raw.get("tolerance", {})}
    for key, value in tolerance.items():
        if key not in DEFAULT_TOLERANCE:
            raise XlrError(f"{where}: unknown [tolerance] key {key}; known: {', '.join(DEFAULT_TOLERANCE)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise XlrError(f"{where}: [tolerance] {key} must be a number of points >= 0, not {value!r}")
    return tolerance


def _train_file(value, task: Task, where: str) -> str | None:
    """`train_file`: a path, or a table of paths by task name (a composite's parts each take their own)."""
    if not isinstance(value, dict):
        return value
    if not all(isinstance(v, str) for v in value.values()):
        raise XlrError(f"{where}: train_file = {{ TASK = \"PATH\", ... }} takes paths (strings)")
    return value.get(task.name)


def adhoc_experiment(task: str, model: str, method: str, seed: int, name: str | None = None,
                     options: dict | None = None, **fields) -> Experiment:
    """The experiment behind `xlr train`: one method, one seed, all task languages unless given."""
    t = get_task(task)
    raw = {"task": task, "model": model, "methods": {"run": [method], **({method: options} if options else {})},
           "seeds": [seed]}
    raw.update({k: v for k, v in fields.items() if v is not None})
    return experiment_from_dict(raw, name=name or t.name, path="xlr train")


__all__ = ["Experiment", "RunSpec", "load_experiment", "adhoc_experiment", "parse_override",
           "available_experiments", "BUILTIN_FIXTURE"]
