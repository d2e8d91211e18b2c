"""`xlr compare`: our results next to paper_results, cell by cell within tolerance, then the paper's claims.

A cell is (task, model, method, setting, language). Ours is the mean over seeds, per experiment. Language
cells use the language tolerance, average cells (avg, avg-mixed) the average tolerance. The tolerances
are the experiment's own, as its results.json records them (runs.provenance); results without one use the
defaults and say so; flags override them. With 3 seeds or more, each cell also says whether the reference
number lies inside the 95% prediction interval of our seeds (could it be one more of our seeds?).

Against a published set of xlr's (results/NAME), the re-run comparison (xlr.results.rerun) says per method and
setting whether the two agree. Exit 1 on a cell outside tolerance, a claim that fails or a re-run that differs;
with `strict`, an inconclusive claim fails too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xlr.results import claims
from xlr.results import inference
from xlr.results import paper as paper_mod
from xlr.results import rerun
from xlr.results import tidy
from xlr.errors import ChecksFailed, XlrError
from xlr.settings import DEFAULT_TOLERANCE

EPS = 1e-9  # a difference of exactly the tolerance is within it


@dataclass
class Cell:
    experiment: str
    task: str
    model: str
    method: str
    setting: str
    language: str
    seeds: int
    ours: float
    paper: float
    tolerance: float
    tolerance_from: str
    prediction: tuple[float, float] | None = None  # the 95% prediction interval of our seeds (3 seeds or more)

    @property
    def diff(self) -> float:
        return self.ours - self.paper

    @property
    def paper_in_prediction(self) -> bool | None:
        return None if self.prediction is None else self.prediction[0] <= self.paper <= self.prediction[1]

    @property
    def within(self) -> bool:
        return abs(self.diff) <= self.tolerance + EPS

    def name(self) -> str:
        where = self.language if self.setting == "standard" else f"{self.setting} {self.language}"
        return f"{self.task} {self.method} {where} (ours {self.ours:.1f}, paper {self.paper:.1f})"


@dataclass
class Comparison:
    cells: list[Cell]
    verdicts: list[claims.Verdict]
    against: Path
    reruns: list[rerun.Agreement] = field(default_factory=list)
    strict: bool = False

    def failures(self) -> list[str]:
        out = [f"outside tolerance: {c.name()}" for c in self.cells if not c.within]
        failing = (claims.FAILS, claims.INCONCLUSIVE) if self.strict else (claims.FAILS,)
        out += [f"claim {v.status}: {v.claim.id} ({v.group[0]})" for v in self.verdicts if v.status in failing]
        out += [f"re-run differs: {a.method} {a.setting} {a.what} ({a.interval.text(2)})" for a in self.reruns
                if a.status == rerun.DIFFERS]
        return out

    def raise_if_failed(self) -> None:
        failures = self.failures()
        if failures:
            shown = "; ".join(failures[:6]) + (f"; and {len(failures) - 6} more" if len(failures) > 6 else "")
            raise ChecksFailed(shown)


NO_PROVENANCE = "default: no results.json beside these results"


def experiment_tolerances(sources: list[tuple[Path, list[dict], dict | None]]) -> dict[str, tuple[dict, str]]:
    """{experiment: (tolerance, where it came from)}: the tolerance its results.json records (the experiment
    TOML's own, so a user's TOML is honoured), else the default, saying why."""
    out: dict[str, tuple[dict, str]] = {}
    for source, rows, prov in sources:
        for experiment in {r["experiment"] for r in rows}:
            if prov is None:
                found = (dict(DEFAULT_TOLERANCE), NO_PROVENANCE)
            elif isinstance(prov.get("tolerance"), dict):
                name = Path(str(prov.get("experiment_file") or experiment)).name
                found = ({**DEFAULT_TOLERANCE, **prov["tolerance"]}, f"{name} (results.json)")
                bad = {k: v for k, v in found[0].items() if isinstance(v, bool) or not isinstance(v, (int, float))
                       or not v >= 0}
                if bad:
                    shown = ", ".join(f"{k} = {v!r}" for k, v in bad.items())
                    raise XlrError(f"{source}: results.json's tolerance has {shown}, not a number of points >= 0; "
                                   "fix [tolerance] in its experiment TOML and run `xlr evaluate` on one run to "
                                   "rewrite it")
            else:
                found = (dict(DEFAULT_TOLERANCE), "default: results.json records no tolerance (runs from before it did)")
            out.setdefault(experiment, found)
    return out


def _tolerance(cell_language: str, tol: dict) -> float:
    return tol["average"] if cell_language.startswith("avg") else tol["language"]


def compare(results: list[Path] | None = None, against: str | Path = "paper_results",
            tolerance_language: float | None = None, tolerance_average: float | None = None,
            any_model: bool = False, strict: bool = False, intervals: dict | None = None) -> Comparison:
    """`intervals`: {group: {(method, setting, language): Interval}} gains over the baseline computed elsewhere
    (a published set's seed-level ones) for the claims, instead of t-intervals over the tidy rows."""
    for name, value in (("--tolerance-language", tolerance_language), ("--tolerance-average", tolerance_average)):
        if value is not None and not value >= 0:  # NaN too
            raise XlrError(f"{name} must be a number >= 0, not {value}")
    paper = paper_mod.load(against)
    sources = tidy.load_sources(results)
    rows = [row for _, rows, _ in sources for row in rows]
    means = tidy.cell_means(rows)
    per_seed = tidy.seed_groups(rows)
    tolerances = experiment_tolerances(sources)
    overrides = {k: v for k, v in (("language", tolerance_language), ("average", tolerance_average)) if v is not None}
    cells = []
    for (experiment, task, model, method, setting, language), (ours, seeds) in means.items():
        key_model = tidy.model_name(model)  # a hub id, an organisation's copy and a local folder of it match
        target = paper.targets.get((task, key_model, method, setting, language))
        if target is None:
            continue
        tol, origin = tolerances[experiment]  # every experiment of `means` comes from one of the sources
        if overrides:
            tol, origin = {**tol, **overrides}, "command line" if len(overrides) == 2 else f"{origin} + command line"
        values = list(per_seed[(experiment, task, model)][(method, setting, language)].values())
        cells.append(Cell(experiment, task, model, method, setting, language, seeds, ours, target["accuracy"],
                          _tolerance(language, tol), origin, inference.prediction_interval(values)))
    verdicts = claims.check(paper, per_seed, any_model, intervals)
    reruns = rerun.agreements(paper.seed_rows, rows, tidy.model_name) if paper.seed_rows else []
    if not cells and all(v.group is None for v in verdicts):
        ours = sorted({f"{t} {m} ({me})" for (_, t, m, me, _, _) in means})
        theirs = sorted({f"{t} {m}" for (t, m, *_) in paper.targets})
        raise XlrError(f"nothing to compare: your results have {', '.join(ours)}; {against} has "
                       f"{', '.join(theirs)} (cells match on task, model, method, setting and language)")
    return Comparison(cells, verdicts, paper.folder, reruns, strict)


def _by_method(cells: list[Cell]) -> list[Cell]:
    from xlr.results.report import method_order

    method_rank = {m: i for i, m in enumerate(method_order())}
    return sorted(cells, key=lambda c: (c.experiment, c.task, c.model, c.setting, method_rank.get(c.method, 99),
                                        c.method, c.language.startswith("avg")))


def show(comparison: Comparison, fmt: str = "rich") -> str | None:
    from xlr.results.report import join, note, render_rows

    parts = []
    ordered = _by_method(comparison.cells)
    keys = ["experiment", "task", "model", "method", "setting", "language"]
    headers = keys + ["seeds", "ours", "paper", "diff", "tolerance", "verdict", "paper in our 95% PI"]
    rows = [[*(getattr(c, k) for k in keys), str(c.seeds), f"{c.ours:.1f}", f"{c.paper:.1f}", f"{c.diff:+.1f}",
             f"±{c.tolerance:g}", "ok" if c.within else "OUTSIDE",
             "–" if c.prediction is None else f"{'yes' if c.paper_in_prediction else 'no'} "
                                              f"[{c.prediction[0]:.1f}, {c.prediction[1]:.1f}]"]
            for c in ordered]
    if fmt != "csv":  # rich / markdown: the group columns go into the title
        by_group: dict[tuple, list] = {}
        for c, row in zip(ordered, rows):
            by_group.setdefault((c.experiment, c.task, c.model, c.tolerance_from), []).append(row[3:])
        for (experiment, task, model, origin), body in by_group.items():
            parts.append(render_rows(f"{experiment} ({task}, {model}) vs {comparison.against} "
                                     f"[tolerance from {origin}]", headers[3:], body, fmt))
        if not rows:
            parts.append(note(f"no cell of your results is in {comparison.against}", fmt))
    else:
        parts.append(render_rows("comparison", headers, rows, fmt))
    verdict_rows = [[v.claim.id, tidy.group_label(v.group) if v.group else "–", v.status, v.detail,
                     v.decided_by or "–"] for v in comparison.verdicts]
    if fmt == "csv":
        for r in verdict_rows:
            note(f"claim {r[0]} [{r[1]}]: {r[2]}: {r[3]} (decided by {r[4]})", fmt)
    elif verdict_rows:
        parts.append(render_rows("The paper's claims, on your results",
                                 ["claim", "results", "verdict", "detail", "decided by"], verdict_rows, fmt))
    if comparison.reruns:
        body = rerun.rows(comparison.reruns)
        if fmt == "csv":
            for r in body:
                note("re-run: " + ", ".join(f"{h} {v}" for h, v in zip(rerun.HEADERS, r)), fmt)
        else:
            parts.append(render_rows(f"The re-run against {comparison.against}", rerun.HEADERS, body, fmt))
    if any(c.prediction is not None for c in comparison.cells):
        parts.append(note("paper in our 95% PI: whether the reference number lies inside the 95% prediction "
                          "interval of our seeds, mean ± t·sd·√(1 + 1/n): could it be one more of our seeds?", fmt))
    outside = sum(not c.within for c in comparison.cells)
    count = {s: sum(v.status == s for v in comparison.verdicts) for s in claims.STATUSES}
    differs = sum(a.status == rerun.DIFFERS for a in comparison.reruns)
    parts.append(note(f"{len(comparison.cells) - outside} of {len(comparison.cells)} cells within tolerance; "
                      f"claims: {count[claims.HOLDS]} hold, {count[claims.FAILS]} fail, {count[claims.INCONCLUSIVE]} "
                      f"inconclusive, {count[claims.CANNOT]} cannot be checked"
                      + (f"; re-run: {len(comparison.reruns) - differs} of {len(comparison.reruns)} comparisons "
                         f"agree, {differs} differ" if comparison.reruns else ""), fmt))
    return join(parts)
