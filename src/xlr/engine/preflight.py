"""Everything a run will need, resolved before its first step, and where it came from.

`preflight(exp, out)` checks the inputs (folders, files, the run store; the device comes after), then `resolve(exp)` fetches
what every selected run will read: the model and its tokenizer, the training, dev and test sets of every
language, and RS-DA's synonym table when a run uses RS-DA. A download that fails, or a cache folder that
cannot be written, is one line naming the fix (exit 2) before any method trains, not hours later.

`resolve` also returns the provenance of the data and the weights: for the hub, the dataset or model
commit that was resolved; for a local folder or file, its path and a sha256 fingerprint. Each run's
config.json stores it, and results.json gathers it.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from xlr.machine import distributed
from xlr.sources import offline_variable, open_source, verify_alignment
from xlr.errors import XlrError
from xlr.files import check_writable
from xlr.experiments import Experiment
from xlr.engine.models import BUILTIN_TINY_BERT, looks_like_path

# resolve() results of this process, by experiment: config.json of each run reads them (no second download)
_RESOLVED: dict[tuple, dict] = {}


def preflight(exp: Experiment, out: Path | None = None) -> None:
    """Cheap checks before anything heavy starts: data folders, the training file, local model folders and,
    last (it creates the folder), that the run store OUT can be written."""
    for part in exp.parts or [exp]:
        source = open_source(part.data)
        if part.train_file and not Path(part.train_file).expanduser().is_file():
            raise XlrError(f"--train-file {part.train_file} does not exist")
        if looks_like_path(part.model) and not Path(part.model).expanduser().is_dir():
            raise XlrError(f"model folder {part.model} does not exist; build it or pass --model with a "
                           "Hugging Face id or another local folder")
        if part.evaluate_test and hasattr(source, "has"):
            missing = [lang for lang in part.languages if not source.has(part.task_def, "test", lang)]
            if missing:
                raise XlrError(f"{source.description} has no test set for {', '.join(missing)} "
                               f"(test-{missing[0]}.tsv); pass --data-dir with all of them or choose the languages")
    if out is not None:
        check_writable(out, "run store", "--out")


def resolve(exp: Experiment) -> dict:
    """Fetch (or find in the caches) everything the experiment's runs read; return its provenance per part.
    On a data-parallel launch each machine's first process fetches, the others then read its caches."""
    with distributed.main_process_first():
        return {part.run_name: resolve_part(part) for part in exp.parts or [exp]}


def resolve_part(exp: Experiment) -> dict:
    key = _key(exp)
    if key in _RESOLVED:
        return _RESOLVED[key]
    check_caches_writable(exp)
    record = {"model": model_provenance(exp.model), "data": data_provenance(exp)}
    synonyms = synonym_tables(exp)
    if synonyms:
        record["synonyms"] = synonyms
    _RESOLVED[key] = record
    return record


def recorded(exp: Experiment) -> dict | None:
    """What resolve() found for this experiment in this process (None when it has not run here)."""
    return _RESOLVED.get(_key(exp))


def _key(exp: Experiment) -> tuple:
    options = sorted(str(spec.options.get("synonyms")) for spec in exp.runs() if "synonyms" in spec.options)
    return (exp.run_name, exp.model, str(exp.data), exp.train_file, exp.task_def.name, str(exp.task_def.hub and exp.task_def.hub.revision),
            tuple(exp.languages), exp.evaluate_test, exp.generalized, exp.max_test_examples, tuple(options))


# --------------------------------------------------------------------------------------------- caches

def hub_cache_folders() -> dict[str, Path]:
    """The folders a hub download writes to: huggingface_hub's cache and datasets' cache."""
    from huggingface_hub import constants

    folders = {"Hugging Face hub cache": Path(constants.HF_HUB_CACHE)}
    try:
        import datasets

        folders["datasets cache"] = Path(datasets.config.HF_DATASETS_CACHE)
    except Exception:  # pragma: no cover - datasets is a dependency; its config never fails to import
        pass
    return folders


def check_caches_writable(exp: Experiment) -> None:
    """The caches that this experiment's downloads will write to can be written (offline runs write none)."""
    hub_data = exp.data in (None, "hub")
    hub_model = not exp.model.startswith("builtin:") and not looks_like_path(exp.model)
    if (hub_data or hub_model) and offline_variable() is None:
        for what, folder in hub_cache_folders().items():
            check_writable(folder, what, "HF_HOME")
    from xlr.methods.synonyms import needs_download, cache_path

    if any(needs_download(table) for table in _synonym_options(exp)):
        check_writable(cache_path().parent, "xlr cache (RS-DA's synonym table)", "XDG_CACHE_HOME")


# ---------------------------------------------------------------------------------------------- model

_FINGERPRINTS: dict[tuple, str] = {}


def fingerprint_folder(folder: Path) -> str:
    """sha256 over every file of a folder: relative path and content, in sorted order (computed once per
    process while no file's size or modification time changes)."""
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    key = (str(Path(folder).resolve()), tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if key not in _FINGERPRINTS:
        _FINGERPRINTS[key] = _fingerprint(Path(folder), files)
    return _FINGERPRINTS[key]


def _fingerprint(folder: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def model_provenance(spec: str) -> dict:
    """Fetch the model's config, tokenizer and weights into the cache; return where they came from."""
    if spec == BUILTIN_TINY_BERT:
        return {"model": spec, "weights": "random initialisation from the run's seed"}
    if spec.startswith("builtin:"):
        raise XlrError(f"unknown built-in model '{spec}'; the only one is {BUILTIN_TINY_BERT}")
    if looks_like_path(spec):
        folder = Path(spec).expanduser()
        if not (folder / "config.json").is_file():
            raise XlrError(f"model folder {folder} has no config.json; pass --model with a folder written by "
                           "save_pretrained (config.json, weights, tokenizer files) or a Hugging Face id")
        return {"model": str(folder.resolve()), "sha256": fingerprint_folder(folder)}
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(spec)
        AutoTokenizer.from_pretrained(spec)
        AutoModel.from_pretrained(spec)  # fetches the weights into the cache; the model itself is dropped
    except (OSError, ValueError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise XlrError(f"cannot fetch model '{spec}': {reason[:200]}; offline, pass --model with a local folder "
                       "(config.json, weights, tokenizer files)") from None
    return {"model": spec, "commit": getattr(config, "_commit_hash", None)}


# ----------------------------------------------------------------------------------------------- data

def data_provenance(exp: Experiment) -> dict:
    """Load every set the runs will read (so a missing one fails now); return each set's provenance."""
    task, source = exp.task_def, open_source(exp.data)
    sets = {"train": exp.training_pairs(source),
            "dev": source.load(task, "dev", exp.source_language).head(exp.train_settings().max_dev_examples)}
    out = {f"{split}-{exp.source_language}": pairs.provenance for split, pairs in sets.items()}
    if exp.evaluate_test:
        tests = {lang: source.load(task, "test", lang).head(exp.max_test_examples)
                 for lang in exp.languages}
        out.update({f"test-{lang}": pairs.provenance for lang, pairs in tests.items()})
        if exp.generalized and len(tests) > 1 and task.is_pair:
            verify_alignment(task, tests)
    return out


# ------------------------------------------------------------------------------------------- synonyms

def _synonym_options(exp: Experiment) -> list:
    from xlr.methods import get_method

    return list(dict.fromkeys(spec.options.get("synonyms") for spec in exp.runs()
                              if get_method(spec.method).transform is not None and "synonyms" in spec.options))


def synonym_tables(exp: Experiment) -> dict:
    """Load (downloading once if needed) the neighbour table of every RS-DA run; return where each came from."""
    from xlr.methods.synonyms import load_neighbors, table_provenance

    out = {}
    for table in _synonym_options(exp):
        load_neighbors(table)
        out[str(table) if table else "default"] = table_provenance(table)
    return out


# ------------------------------------------------------------------------------------------------- disk

DISK_FULL = {28: "no space left", 122: "disk quota exceeded"}  # ENOSPC, EDQUOT
DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded")


def run_bytes(exp: Experiment) -> int | None:
    """What one run of EXP writes at its peak: its Trainer checkpoints while training and the model it keeps
    (xlr.engine.cost); None when the model's configuration is not available here."""
    from xlr.engine import cost

    config = cost.model_config(exp.model, exp.task_def, local_only=True)
    if config is None:
        return None
    params = cost.parameter_count(config, exp.train_settings().pooling)
    disk = cost.disk_bytes(params, runs=1)
    return disk["training_peak"] + disk["kept_models"]


def free_bytes(folder: Path) -> int | None:
    import shutil

    from xlr.files import nearest_existing

    try:
        return shutil.disk_usage(nearest_existing(Path(folder))).free
    except OSError:
        return None


def _space_text(exp: Experiment, folder: Path) -> str:
    from xlr.engine.cost import human_bytes

    need, free = run_bytes(exp), free_bytes(folder)
    return (f"the run needs about {human_bytes(need) if need is not None else 'an unknown amount'}, "
            f"{human_bytes(free) if free is not None else 'an unknown amount'} is free")


def check_space(exp: Experiment, folder: Path) -> None:
    """Refuse a run whose checkpoints and model cannot fit in the free space of its folder, before it trains."""
    need, free = run_bytes(exp), free_bytes(folder)
    if need is not None and free is not None and free < need:
        raise XlrError(f"not enough space in {folder}: {_space_text(exp, folder)}; free some space or pass --out "
                       "on a larger disk, then run the same command")


def disk_full(error: BaseException, exp: Experiment, folder: Path) -> XlrError | None:
    """The one-line error for a write that failed on a full disk or quota (anywhere in the error's chain:
    safetensors and torch wrap the OSError in their own, torch's checkpoint writer sometimes with no errno nor
    text at all, so an error from a folder left with less than a megabyte counts too), or None for any other."""
    why, seen, visited = None, error, set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        if isinstance(seen, OSError) and seen.errno in DISK_FULL:
            why = DISK_FULL[seen.errno]
            break
        found = next((t for t in DISK_FULL_TEXT if t in str(seen)), None)
        if found:
            why = found.lower()
            break
        seen = seen.__cause__ or seen.__context__
    if why is None and isinstance(error, (OSError, RuntimeError)):
        free = free_bytes(folder)
        if free is not None and free < 1_000_000:
            why = "no space left"
    if why is None:
        return None
    return XlrError(f"{why} in {folder}: {_space_text(exp, folder)}; the finished runs and this run's last complete "
                    "checkpoint are kept: free some space, then run the same command to resume")
