"""What `paper_results/` holds: the paper's tables (tidy CSVs with a source for every number) and its
qualitative claims (claims.toml). The tolerance of a comparison comes from the results' own results.json."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from xlr.errors import XlrError
from xlr.results.tidy import model_name
from xlr.methods import BASELINE
from xlr.resources import shipped_dir
from xlr.store import SETTINGS, read_results_csv
from xlr.results.tidy import EXTRA_COLUMNS

ROLES = ("target", "reference")
KEY = ("task", "model", "method", "setting", "language")


@dataclass
class Claim:
    id: str
    check: str
    statement: str
    source: str
    options: dict = field(default_factory=dict)


@dataclass
class Paper:
    folder: Path
    targets: dict[tuple, dict]      # (task, model, method, setting, language) -> its row, plus `file`
    references: list[dict]                        # rows kept for reference only (role=reference)
    claims: list[Claim]
    baseline: str = BASELINE
    robust_methods: list[str] = field(default_factory=list)
    seed_rows: list = field(default_factory=list)  # a published set's rows, seed by seed (for a re-run comparison)

    @property
    def models(self) -> set[str]:
        return {key[1] for key in self.targets}

    def rows(self) -> list[dict]:
        """The target numbers as tidy rows (seed None), e.g. for `xlr analyze distance --paper`."""
        return list(self.targets.values())


def locate(against: str | Path) -> Path:
    """--against: a folder or one CSV; `paper_results` also finds the copy shipped with xlr."""
    p = Path(against).expanduser()
    if p.exists():
        return p
    if p.name == "paper_results" and len(p.parts) == 1 and shipped_dir("paper_results"):
        return shipped_dir("paper_results")
    raise XlrError(f"--against {against}: no such folder or file")


def read_table(path: Path) -> list[dict]:
    """One paper table; every number needs a source, and role is target (default) or reference."""
    rows = read_results_csv(path, extra_columns=EXTRA_COLUMNS)
    for line, row in enumerate(rows, start=2):
        if not (row.get("source") or "").strip():
            raise XlrError(f"{path}:{line}: no source; every paper number must say where it comes from")
        row["role"] = row.get("role") or "target"
        if row["role"] not in ROLES:
            raise XlrError(f"{path}:{line}: role '{row['role']}' is not one of {', '.join(ROLES)}")
    return rows


def read_claims(path: Path) -> tuple[list[Claim], dict]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise XlrError(f"{path}: cannot be read as TOML ({e})") from None
    if not isinstance(raw.get("baseline", BASELINE), str):
        raise XlrError(f"{path}: baseline must be a method name (a string)")
    methods = raw.get("robust_methods", [])
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise XlrError(f"{path}: robust_methods must be a list of method names, e.g. [\"adv\", \"rs-rp\"]")
    claims = []
    for i, c in enumerate(raw.get("claims", []), start=1):
        missing = [k for k in ("id", "check", "statement", "source") if not isinstance(c.get(k), str)]
        if missing:
            raise XlrError(f"{path}: claim {i} lacks {', '.join(missing)}")
        options = {k: v for k, v in c.items() if k not in ("id", "check", "statement", "source")}
        for key, value in options.items():
            want = float if key == "alpha" else str
            if not isinstance(value, (int, float) if want is float else str) or isinstance(value, bool):
                raise XlrError(f"{path}: claim {c['id']}: {key} must be a {'number' if want is float else 'string'}, "
                               f"not {value!r}")
        if "setting" in options and options["setting"] not in SETTINGS:
            raise XlrError(f"{path}: claim {c['id']}: setting must be {' or '.join(SETTINGS)}, not {options['setting']!r}")
        if "alpha" in options and not 0 < options["alpha"] < 1:
            raise XlrError(f"{path}: claim {c['id']}: alpha must lie between 0 and 1, not {options['alpha']}")
        claims.append(Claim(c["id"], c["check"], c["statement"], c["source"], options))
    return claims, {k: v for k, v in raw.items() if k != "claims"}


def load(against: str | Path = "paper_results") -> Paper:
    """The paper's tables and claims, or a set of xlr's published results (results/NAME: its means over seeds
    as the reference, models matched by name, no claims)."""
    from xlr.results import published

    folder = locate(against)
    if folder.is_dir() and published.holds_a_set(folder):
        rows = published.as_reference(folder)
        return Paper(folder, {tuple(r[k] for k in KEY): {**r, "file": folder} for r in rows}, [], [],
                     seed_rows=published.load(folder, as_set=False).rows)
    files = [folder] if folder.is_file() else sorted(folder.glob("*.csv"))
    if not files:
        raise XlrError(f"{folder} holds no paper tables (*.csv)")
    targets: dict[tuple, dict] = {}
    references = []
    for path in files:
        for row in read_table(path):
            if row["role"] == "reference":
                references.append(row)
                continue
            key = tuple(model_name(row[k]) if k == "model" else row[k] for k in KEY)  # matched by the model's name
            if key in targets:
                raise XlrError(f"{path}: {' '.join(key)} is also in {targets[key]['file']}; each paper number once")
            targets[key] = {**row, "file": path}
    claims_file = (folder.parent if folder.is_file() else folder) / "claims.toml"
    claims, settings = read_claims(claims_file) if claims_file.is_file() else ([], {})
    return Paper(folder, targets, references, claims, settings.get("baseline", BASELINE),
                 list(settings.get("robust_methods", [])))
