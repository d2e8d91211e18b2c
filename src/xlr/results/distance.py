"""lang2vec distances of the target languages from the source language, and how the gains of robust
training over the baseline relate to them (the paper's "languages with larger distances to source
languages have larger performance improvement").

A distance is the cosine distance between two languages' `lang2vec.get_features` vectors (lang2vec 1.1.2
has no `distance()`). The knn, geo and fam sets have no missing values; for sets that do (e.g.
syntax_wals, marked '--'), the dimensions missing in either language are dropped, and a note says how many.
"""
from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.spatial.distance import cosine
from scipy.stats import pearsonr, spearmanr

from xlr.errors import XlrError
from xlr.methods import BASELINE

FEATURES = ("syntax_knn", "geo", "fam", "inventory_knn", "phonology_knn")
MISSING = "--"
MIN_LANGUAGES = 3  # fewer points than this give no correlation worth printing


def _lang2vec():
    """lang2vec's module. lang2vec 1.1.2 also installs a *script* named lang2vec.py into the environment's
    bin/, which is sys.path[0] when xlr runs as its console script: that file would shadow the package."""
    shadowing = [p for p in sys.path if (Path(p or ".") / "lang2vec.py").is_file()]
    if not isinstance(getattr(sys.modules.get("lang2vec"), "__path__", None), Iterable):
        sys.modules.pop("lang2vec", None)  # a shadowing script imported earlier is not the package
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if p not in shadowing]
    try:
        with warnings.catch_warnings():  # lang2vec 1.1.2 imports the deprecated pkg_resources
            warnings.simplefilter("ignore")
            import lang2vec.lang2vec as l2v
    finally:
        sys.path[:] = saved
    return l2v


def lang2vec_code(language: str) -> str:
    """ISO 639-1 -> the ISO 639-3 code lang2vec's own table gives (zh -> zho, sw -> swa); 3-letter codes pass."""
    return _lang2vec().LETTER_CODES.get(language, language)


@lru_cache(maxsize=None)
def _vectors(feature: str, codes: tuple[str, ...]) -> dict[str, list]:
    l2v = _lang2vec()
    if feature not in l2v.FEATURE_SETS:
        raise XlrError(f"unknown lang2vec feature set '{feature}'; for example {', '.join(FEATURES)}")
    try:
        return l2v.get_features(list(codes), feature)
    except Exception as e:  # lang2vec raises a bare Exception for a language it does not know
        raise XlrError(f"lang2vec {feature}: {str(e).splitlines()[0].removeprefix('Note: ')}") from None


def cosine_distance(a, b) -> tuple[float, int]:
    """(cosine distance over the dimensions present in both, number of dimensions dropped as missing).
    NaN when nothing is left or a vector is all zeros (the cosine is undefined)."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    present = (a != MISSING) & (b != MISSING)
    x, y = a[present].astype(float), b[present].astype(float)
    dropped = int((~present).sum())
    if not len(x) or not np.any(x) or not np.any(y):
        return math.nan, dropped
    return float(cosine(x, y)), dropped


@dataclass
class Distances:
    source: str
    languages: list[str]
    features: list[str]
    values: dict[str, dict[str, float]]              # feature -> language -> distance from source
    codes: dict[str, str]                            # language -> lang2vec code
    notes: list[str] = field(default_factory=list)


def distances(source: str, languages: list[str], features=FEATURES) -> Distances:
    langs = list(dict.fromkeys([source, *languages]))
    codes = {lang: lang2vec_code(lang) for lang in langs}
    values: dict[str, dict[str, float]] = {}
    notes = []
    for feature in features:
        vectors = _vectors(feature, tuple(codes[lang] for lang in langs))
        values[feature], dropped = {}, {}
        for lang in langs:
            values[feature][lang], dropped[lang] = cosine_distance(vectors[codes[source]], vectors[codes[lang]])
        lost = ", ".join(f"{lang} {n}" for lang, n in dropped.items() if n and lang != source)
        if lost:
            notes.append(f"{feature}: dimensions missing ('--') in {source} or the target are dropped; "
                         f"dropped of {len(vectors[codes[source]])}: {lost}")
        undefined = [lang for lang, d in values[feature].items() if math.isnan(d)]
        if undefined:
            notes.append(f"{feature}: no distance for {', '.join(undefined)} (no shared non-zero features)")
    return Distances(source, langs, list(features), values, codes, notes)


# --------------------------------------------------------------------------------- gains and correlations

def gains(table: dict[tuple, float], baseline: str, setting: str = "standard") -> dict[str, dict[str, float]]:
    """{method: {language: method - baseline}} from one group's {(method, setting, language): mean};
    languages only (no averages), and only where the baseline has the language too."""
    base = {lang: v for (m, s, lang), v in table.items() if m == baseline and s == setting}
    out: dict[str, dict[str, float]] = {}
    for (m, s, lang), v in table.items():
        if m != baseline and s == setting and lang in base and not lang.startswith("avg"):
            out.setdefault(m, {})[lang] = v - base[lang]
    return out


@dataclass
class Correlation:
    method: str
    feature: str
    languages: list[str]
    pearson: float
    pearson_p: float
    spearman: float
    spearman_p: float

    @property
    def n(self) -> int:
        return len(self.languages)


def correlate(method: str, feature: str, gain: dict[str, float], dist: dict[str, float]) -> Correlation:
    """Pearson and Spearman correlation (with two-sided p-values) of gain with distance, over the languages
    that have both (NaN when fewer than 3 or a side is constant)."""
    langs = [lang for lang in gain if lang in dist and not math.isnan(dist[lang])]
    x, y = [dist[lang] for lang in langs], [gain[lang] for lang in langs]
    nan = (math.nan, math.nan)
    if len(langs) < MIN_LANGUAGES or len(set(x)) < 2 or len(set(y)) < 2:
        return Correlation(method, feature, langs, *nan, *nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r, rp = pearsonr(x, y)
        rho, sp = spearmanr(x, y)
    return Correlation(method, feature, langs, float(r), float(rp), float(rho), float(sp))


def gain_correlations(table: dict[tuple, float], baseline: str, source: str, features=FEATURES,
                      methods: list[str] | None = None, setting: str = "standard"):
    """-> (Distances, {method: {language: gain}}, [Correlation]) for one group of results. The source
    language is excluded: its gain is in-language, not transfer."""
    g = {m: {lang: v for lang, v in per.items() if lang != source}
         for m, per in gains(table, baseline, setting).items() if methods is None or m in methods}
    g = {m: per for m, per in g.items() if per}
    if not g:
        return Distances(source, [source], list(features), {f: {} for f in features}, {}), {}, []
    langs = list(dict.fromkeys(lang for per in g.values() for lang in per))
    d = distances(source, langs, features)
    return d, g, [correlate(m, f, g[m], d.values[f]) for m in g for f in features]


# ------------------------------------------------------------------------------ whole analysis, output

@dataclass
class Analysis:
    group: tuple                      # (experiment, task, model)
    distances: Distances
    gains: dict[str, dict[str, float]]
    correlations: list[Correlation]


def load_rows(results=None, use_paper: bool = False, against="paper_results") -> list[dict]:
    """Our results (tidy.load_results), or with USE_PAPER the paper's target numbers (offline)."""
    if use_paper:
        if results:
            raise XlrError("pass either RESULTS or --paper, not both")
        from xlr.results import paper

        return paper.load(against).rows()
    from xlr.results.tidy import load_results

    return load_results(results)


def analyze(rows: list[dict], source: str = "en", features=FEATURES, baseline: str = BASELINE,
            methods: list[str] | None = None) -> list[Analysis]:
    """One analysis per (experiment, task, model) that has the baseline and another method."""
    from xlr.machine.progress import say
    from xlr.results.tidy import cell_means, groups, seed_mismatches

    for warning in seed_mismatches(rows):
        say(f"[yellow]{warning}[/]")
    out = []
    for group, table in groups(cell_means(rows)).items():
        d, g, c = gain_correlations(table, baseline, source, features, methods)
        if g:
            out.append(Analysis(group, d, g, c))
    if not out:
        found = sorted({(r["experiment"], r["method"]) for r in rows})
        raise XlrError(f"nothing to analyze: needs the baseline ('{baseline}') and another method in the same "
                       f"experiment, on languages other than {source}; found "
                       + (", ".join(f"{e}/{m}" for e, m in found) or "no rows"))
    return out


def _num(value: float, fmt: str) -> str:
    return "–" if value is None or math.isnan(value) else format(value, fmt)


def show(analyses: list[Analysis], fmt: str = "rich") -> str | None:
    from xlr.results.report import join, note, render_rows
    from xlr.results.tidy import group_label

    parts = []
    for a in analyses:
        d, label = a.distances, group_label(a.group)
        targets = [lang for lang in d.languages if lang != d.source]
        parts.append(render_rows(
            f"{label}: lang2vec cosine distance from {d.source} ({d.codes[d.source]})",
            ["language", "lang2vec", *d.features],
            [[lang, d.codes[lang], *[_num(d.values[f][lang], ".3f") for f in d.features]] for lang in targets], fmt))
        parts.append(render_rows(
            f"{label}: gain over the baseline (accuracy points)", ["method", *targets],
            [[m, *[_num(per.get(lang, math.nan), "+.1f") for lang in targets]] for m, per in a.gains.items()], fmt))
        parts.append(render_rows(
            f"{label}: correlation of gain with distance over the target languages ({d.source} excluded)",
            ["method", "feature", "n", "Pearson r", "p", "Spearman rho", "p"],
            [[c.method, c.feature, str(c.n), _num(c.pearson, "+.3f"), _num(c.pearson_p, ".3f"),
              _num(c.spearman, "+.3f"), _num(c.spearman_p, ".3f")] for c in a.correlations], fmt))
        for text in dict.fromkeys(d.notes):
            parts.append(note(f"note: {text}", fmt))
    parts.append(note("p-values are two-sided (scipy.stats); with a handful of languages few correlations "
                      "reach p < 0.05.", fmt))
    return join(parts)


PLOT_FORMATS = ("png", "pdf", "svg")


def plot_format(path) -> str:
    """The figure format from --plot's suffix; checked before any work is done."""
    from pathlib import Path

    kind = Path(path).suffix.lstrip(".").lower()
    if kind not in PLOT_FORMATS:
        raise XlrError(f"--plot {path}: use a .png, .pdf or .svg file name")
    return kind


def plot(analyses: list[Analysis], path, feature: str | None = None, title=None) -> None:
    """A labelled scatter (distance vs gain, one marker per method) per group, written atomically; `title`
    maps a group (experiment, task, model) to its title (default: all three, as the run store has them)."""
    from pathlib import Path

    from xlr.results.figures import figure, save
    from xlr.results.tidy import group_label

    path = Path(path)
    kind = plot_format(path)
    feature = feature or analyses[0].distances.features[0]
    fig = figure(6.4, 4.6 * len(analyses))
    axes = fig.subplots(len(analyses), 1, squeeze=False)[:, 0]
    for ax, a in zip(axes, analyses):
        dist = a.distances.values[feature]
        corr = {c.method: c for c in a.correlations if c.feature == feature}
        for i, (method, per) in enumerate(a.gains.items()):
            langs = [lang for lang in per if not math.isnan(dist.get(lang, math.nan))]
            xs, ys = [dist[lang] for lang in langs], [per[lang] for lang in langs]
            c = corr[method]
            ax.scatter(xs, ys, marker="os^Dv<>p"[i % 8],
                       label=f"{method} (Spearman {_num(c.spearman, '+.2f')}, p={_num(c.spearman_p, '.2f')})")
            for lang, x, y in zip(langs, xs, ys):
                ax.annotate(lang, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8)
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.set_xlabel(f"lang2vec {feature} cosine distance from {a.distances.source}")
        ax.set_ylabel("gain over the baseline (accuracy points)")
        ax.set_title((title or group_label)(a.group), fontsize=10)
        ax.legend(fontsize=8)
    save(fig, path, dpi=150, kind=kind)
