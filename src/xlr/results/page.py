"""docs/results.md and its figures, rendered from xlr's published result sets (results/NAME, see
xlr.results.published) and nothing else (`xlr results render`): per set its provenance, per-language
accuracy with the seed spread, each method against the baseline with intervals and per-seed points, the
generalized averages and heatmaps, the gain against lang2vec distance, and the paper's claims."""
from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from xlr.errors import XlrError
from xlr.files import atomic_write_text, check_output_file, nearest_existing
from xlr.methods import BASELINE
from xlr.results import inference
from xlr.results.figures import figure, save
from xlr.results.published import PUBLICATION, Published, load_all, looks_local, model_name
from xlr.sources import MIXED_AVERAGE
from xlr.store import RESULTS

def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True) + "\n"


def _runs_by_value(runs: list[dict], value) -> dict[str, list[str]]:
    """One provenance field's distinct values, each with the runs ("method seed") that have it."""
    by_value: dict[str, list[str]] = {}
    for r in runs:
        by_value.setdefault(value(r), []).append(f"{r.get('method')} {r.get('seed')}")
    return by_value


def _naming_runs(runs: list[dict], value) -> list[str]:
    """The distinct values of one provenance field; where the runs differ, each names its runs."""
    by_value = _runs_by_value(runs, value)
    if len(by_value) < 2:
        return sorted(by_value)
    return [f"{v} ({', '.join(sorted(names))})" for v, names in sorted(by_value.items())]


def _device_lines(runs: list[dict]) -> list[str]:
    """The Device line; where runs differ, one line per device, the one most runs share last as "the other
    runs": a device line is long, and naming a dozen runs beside it hides the one that differs."""
    by_value = _runs_by_value(runs, lambda r: (r.get("device") or "unknown").removeprefix("device: "))
    if len(by_value) < 2:
        return [f"- **Device**: {next(iter(by_value), 'unknown')}."]
    common = max(sorted(by_value), key=lambda v: len(by_value[v]))
    return (["- **Device**, by run:"] + [f"  - {', '.join(sorted(n))}: {v}" for v, n in sorted(by_value.items())
                                         if v != common] + [f"  - the other runs: {common}"])


def _model_text(p: dict) -> str:
    """The model's name, what its weights are when the set says, and their fingerprint (and which runs recorded
    it)."""
    name = str(p.get("model") or "").split("@", 1)[0]
    text = f"`{model_name(name) if looks_local(name) else name}`"
    if p.get("model_note"):
        text += f", {p['model_note']}"
    found = p.get("model_fingerprint") or {}
    if found.get("weights"):
        missing = found.get("not_recorded_by") or []
        text += (f" (weights `{found['weights']}`" + (", recorded by every run" if not missing else
                 f", recorded by {', '.join(found.get('recorded_by') or [])}; not recorded by {', '.join(missing)}, "
                 "made before runs recorded it") + ")")
    return text


def _describe(pub: Published) -> str:
    p = pub.provenance
    runs = p.get("runs") or []
    revisions = _naming_runs(runs, lambda r: (r.get("git_revision") or "unknown")[:7])
    versions = sorted({f"torch {v.get('torch')}, transformers {v.get('transformers')}"
                       for v in (r.get("versions") or {} for r in runs)})
    seeds = {m: pub.seeds(m) for m in pub.methods}
    seed_text = "; ".join(f"{m} {', '.join(map(str, s))}" for m, s in seeds.items())
    if len({tuple(s) for s in seeds.values()}) > 1:
        seed_text += (" (the methods have different seeds: their means are not paired by seed, while the "
                      "intervals and per-seed differences below use the seeds both methods have)")
    items = p.get("max_test_examples")
    lines = [
        f"- **Experiment** `{p.get('experiment')}` (profile `{p.get('profile') or 'none'}`), task `{p.get('task')}`, "
        f"model {_model_text(p)}; test: "
        + (f"the first {items} rows of each language" if items else "every test row") + ".",
        f"- **Seeds**: {seed_text}.",
        f"- **Code**: commit {', '.join(revisions)}; {'; '.join(versions)}.",
    ] + _device_lines(runs)
    unfinished = pub.publication.get("unfinished")
    if unfinished:
        lines.append(f"- **Not finished when published** (method, seed): {'; '.join(unfinished)}; not in these "
                     "numbers.")
    if pub.publication.get("command"):
        lines.append(f"- **Command**: `{pub.publication['command']}`.")
    added = pub.publication.get("added") or []
    if added:
        runs = [run for a in added for run in a.get("runs") or []]
        again = {run for a in added for run in a.get("reproduced") or []}
        lines.append(f"- **Added later**, in {len(added)} publication{'s' if len(added) > 1 else ''}: "
                     f"{', '.join(runs) or 'no new run'}"
                     + (f"; {len(again)} published run(s) re-read from a later store were identical in every test "
                        "set" if again else "")
                     + f"; each addition and its command: `results/{pub.name}/{PUBLICATION}`.")
    b = pub.publication.get("bootstrap") or {}
    if b:
        lines.append(f"- **Intervals**: runs paired by seed; {b.get('resamples')} bootstrap resamples (seed "
                     f"{b.get('seed')}) over the per-item outcomes kept in `results/{pub.name}/outcomes/`; "
                     f"`xlr compare --between baseline METHOD results/{pub.name}` computes the same from the set, "
                     "as it does from a run store.")
    return "\n".join(lines) + "\n"


def _standard_section(pub: Published, figures: Path, rel: str) -> list[str]:
    from xlr.results.report import cell_text, method_table

    columns, body = method_table(pub.rows, "standard")
    if not body:
        return []
    out = ["### Zero-shot test accuracy, mean ± std over seeds\n",
           _md_table(["method", *columns], [[m, *[cell_text(stats.get(c)) for c in columns]] for m, stats in body])]
    _plot_languages(pub, [c for c in columns if c != "avg"], figures / "standard.png")
    out.append(f"\n![per-language accuracy, each seed a dot]({rel}/standard.png)\n")
    return out


INTERVAL_SETTINGS = (("standard", "avg", "standard avg"), ("generalized", "avg", "generalized avg (all pairs)"),
                     ("generalized", MIXED_AVERAGE, "generalized avg (mixed pairs)"))


def _seed_level(r: dict) -> tuple[float, float] | None:
    """The seed-level interval of an intervals.csv row that decided its verdict (None with one seed)."""
    prefix = {"two-level": "two_level", "t": "t"}.get(r.get("decided_by") or "")
    return None if prefix is None else (float(r[f"{prefix}_low"]), float(r[f"{prefix}_high"]))


def _device_of(run: dict) -> str:
    """A run's device, without its precision and threads: "CPU", "CUDA (NVIDIA H200)"."""
    return (run.get("device") or "unknown").removeprefix("device: ").split(";")[0].strip()


def _device_section(pub: Published, figures: Path, rel: str) -> list[str]:
    """Runs made on several devices are pooled; the device is a factor: each method's mean per device beside the
    pooled one (the average over every test set, per setting)."""
    devices = {(r.get("method"), int(r.get("seed"))): _device_of(r) for r in pub.provenance.get("runs") or []
               if r.get("seed") is not None}
    names = sorted(set(devices.values()))
    if len(names) < 2:
        return []
    rows = []
    for setting in ("standard", "generalized"):
        for m in pub.methods:
            values = {(int(r["seed"])): float(r["accuracy"]) for r in pub.rows
                      if r["method"] == m and r["setting"] == setting and r["language"] == "avg"}
            if not values:
                continue
            cells = []
            for name in names:
                mine = [v for seed, v in values.items() if devices.get((m, seed)) == name]
                cells.append(f"{statistics.fmean(mine):.2f} (n={len(mine)})" if mine else "–")
            rows.append([m, setting, *cells, f"{statistics.fmean(values.values()):.2f} (n={len(values)})"])
    return ["### By device\n",
            "The runs were made on more than one device and are pooled above; here each method's mean over its "
            "seeds on each device (average over every test set). `xlr compare --against` compares two sets seed "
            "group against seed group.\n\n",
            _md_table(["method", "setting", *names, "pooled"], rows)]


def _interval_section(pub: Published, figures: Path, rel: str) -> list[str]:
    if not pub.intervals:
        return []
    by = {(r["method"], r["setting"], r["language"]): r for r in pub.intervals}
    methods = [m for m in pub.methods if m != BASELINE]
    cols = [c for c in INTERVAL_SETTINGS if any((m, c[0], c[1]) in by for m in methods)]
    rows = []
    for m in methods:
        for s, lang, label in cols:
            r = by.get((m, s, lang))
            if r is None:
                continue
            level = _seed_level(r)
            how = {"two-level": "seeds, then items", "t": f"t, {len(r['seeds'].split())} seeds"}.get(r["decided_by"], "")
            rows.append([m, label, f"{float(r['diff']):+.2f}",
                         " ".join(f"{float(x):+.1f}" for x in r["per_seed"].split()),
                         "–" if level is None else f"[{level[0]:+.2f}, {level[1]:+.2f}] ({how})",
                         (r["verdict"] or "–") + (f" (p = {float(r['p_holm']):.3f})" if r["p_holm"] else ""),
                         f"[{float(r['item_low']):+.2f}, {float(r['item_high']):+.2f}]"])
    _plot_intervals(pub, methods, cols, by, figures / "intervals.png")
    n = min((len(r["seeds"].split()) for r in pub.intervals), default=0)
    warning = inference.few_seeds_warning(n)
    draws = sorted({r["item_draw"] for r in pub.intervals if r["item_draw"]})
    return ["### Each method against the baseline\n",
            "The mean of the per-seed differences (method − baseline, accuracy points) and each seed's difference. "
            "The seed-level 95% interval counts the variance between training runs: a t-interval over the paired "
            f"seeds, and from {inference.MIN_SEEDS_TWO_LEVEL} seeds on also a two-level bootstrap (seeds, then test "
            "items); the verdict then takes whichever of the two has the larger p-value (the stricter). The verdict: *holds* when the difference is above 0, *fails* when below, else "
            "*inconclusive*, at p < 0.05 after Holm's correction across the methods and settings of this table "
            "(the mixed pairs' average, part of the generalized one, carries none). The last column is "
            "the item-only interval, the test-set uncertainty for these checkpoints (the trained runs held fixed): "
            "it does not cover another seed."
            + (f" Test items were drawn {' and '.join(draws)}ly"
               + (" (one draw of item indices for every language and pair: they are translations of the same items)"
                  if draws == ["joint"] else "") + "." if draws else "")
            + (f" **{warning[0].upper() + warning[1:]}.**" if warning else "") + "\n\n",
            _md_table(["method − baseline", "average", "diff", "per seed", "seed-level 95% interval",
                       "verdict (Holm p)", "items only (runs fixed)"], rows),
            f"\n![differences with intervals, each seed a dot]({rel}/intervals.png)\n"]


def _generalized_section(pub: Published, figures: Path, rel: str) -> list[str]:
    from xlr.results.report import cell_text, method_table, write_heatmaps

    avg_rows = [r for r in pub.rows if r["setting"] == "generalized" and r["language"].startswith("avg")]
    if not avg_rows:
        return []
    columns, body = method_table(avg_rows, "generalized")
    out = ["### Generalized setting (sentence 1 and sentence 2 in any two languages)\n",
           _md_table(["method", *[{"avg": "all pairs", MIXED_AVERAGE: "mixed pairs"}.get(c, c) for c in columns]],
                     [[m, *[cell_text(stats.get(c)) for c in columns]] for m, stats in body])]
    pngs = write_heatmaps(pub.folder / RESULTS, pub.name, folder=figures)
    shown = [p for p in pngs if p.name.endswith("-minus-baseline.png")] or pngs
    for png in set(pngs) - set(shown):  # the page shows the differences; the accuracies are in results.csv
        png.unlink()
    out.append("\n" + " ".join(f"![{p.stem}]({rel}/{p.name})" for p in shown) + "\n")
    return out


def _distance_section(pub: Published, figures: Path, rel: str) -> list[str]:
    from xlr.results import distance

    try:
        analyses = distance.analyze(pub.rows)
    except XlrError:
        return []
    out = ["### Gain against lang2vec distance from English\n",
           "Spearman's rho of each method's per-language gain over the baseline (standard test) with the "
           "language's lang2vec cosine distance from English; p two-sided, over the languages of the mean gains "
           "(the claims table's verdict counts the seeds too).\n\n"]
    for a in analyses:
        n = len([lang for lang in a.distances.languages if lang != a.distances.source])
        out.append(_md_table(["method", *[f"{f} rho (p)" for f in a.distances.features]],
                             [[m, *[f"{c.spearman:+.2f} ({c.spearman_p:.2f})" if not math.isnan(c.spearman) else "–"
                                    for c in a.correlations if c.method == m]] for m in pub.methods if m in a.gains]))
        out.append(f"\n{n} target languages.\n")
    # the set's name and the model's name, as the other figures have them, not the folder it was loaded from
    distance.plot(analyses, figures / "distance.png",
                  title=lambda group: f"{pub.name}: {group[1]}, {model_name(group[2])}")
    out.append(f"\n![gain against distance]({rel}/distance.png)\n")
    return out


def _claims_section(pub: Published, figures: Path, rel: str) -> list[str]:
    from xlr.results import claims, compare

    try:
        verdicts = compare.compare([pub.folder / RESULTS], "paper_results", any_model=True,
                                   intervals=_gain_intervals(pub)).verdicts
    except XlrError:
        return []
    rows = [[v.claim.id, v.status, v.detail, v.decided_by or "–"] for v in verdicts
            if v.group is not None or v.status != claims.CANNOT]
    if not rows:
        return []
    return ["### The paper's claims on these results\n",
            "`xlr compare --any-model` checks the qualitative claims of `paper_results/claims.toml` on these "
            "results, whatever the model: a claim holds when every comparison it rests on holds, fails when one "
            "fails, and is inconclusive otherwise. A gain over the baseline is judged by its seed-level interval "
            "(the one in the table above), the difference of gains between the settings by a t-interval over "
            "seeds, the correlation with distance by its p-value over languages; all at p < 0.05 after Holm's "
            "correction across the claims' comparisons.\n\n",
            _md_table(["claim", "verdict", "detail", "decided by"], rows)]


def _gain_intervals(pub: Published) -> dict:
    """The set's seed-level intervals of each method's gain over the baseline, for the claims."""
    from xlr.results.inference import Interval

    out = {}
    for r in pub.intervals:
        level = _seed_level(r)
        if level is not None:
            how = ("two-level bootstrap" if r["decided_by"] == "two-level" else "t") + \
                  f" over {len(r['seeds'].split())} seeds"
            out[(r["method"], r["setting"], r["language"])] = Interval(float(r["diff"]), *level, float(r["p"]), how)
    return {(pub.provenance["experiment"], pub.provenance["task"], pub.provenance["model"]): out} if out else {}


STATISTICS = ("**How sure**: every method − baseline difference is judged over seeds (a t-interval over the paired "
              "seeds and, from 5 seeds on, a two-level bootstrap over seeds and test items too, the stricter of the "
              "two deciding), Holm-corrected across "
              "each set's comparisons; PAWS-X's and XNLI's test sets are translations of the same items, so their "
              "items are drawn once for every language and pair. A verdict says *holds*, *fails* or *inconclusive*; "
              "the item-only intervals beside it are the test-set uncertainty of these checkpoints, not of the "
              "method ([experiments.md](experiments.md#how-sure-a-difference-is)).")


def _train_source(p: dict) -> str:
    """What a set trained on: its training file, or its split; a set published before xlr recorded the split
    takes it from its shipped experiment's profile, and says so."""
    from xlr.experiments import load_experiment

    if p.get("train_file"):
        return f"trains on `{p['train_file']}`"
    split, where = p.get("train_split"), ""
    if split is None and p.get("experiment_file") and p.get("profile"):
        try:
            split = load_experiment(Path(str(p["experiment_file"])).stem, profile=str(p["profile"])).train_split
            where = (f" (as the `{p['profile']}` profile of `{p['experiment_file']}` sets; this set was published "
                     "before results.json recorded it)")
        except XlrError:
            split = None
    if split == "dev":
        return "trains on the source language's dev rows after those that select the model" + where
    if split == "train":
        return "trains on the task's training split" + where
    return "its training data is not recorded in results.json"


def _caveats(sets: list[Published]) -> list[str]:
    """What these numbers are and are not, from what each set records: the model, the methods' settings
    that differ from the paper's, the training data and test size, where the data came from; then the
    statistics."""
    lines = ["\n## What these numbers are and are not\n"]
    for pub in sets:
        p, facts = pub.provenance, []
        if p.get("model_note"):
            facts.append(f"the model is `{str(p.get('model')).split('@', 1)[0]}`, {p['model_note']}")
        methods = p.get("methods") or {}
        copies = (methods.get("rs-da") or {}).get("options") or {}
        if isinstance(copies, dict) and copies.get("copies") is not None:
            facts.append(f"RS-DA trains on {copies['copies']} augmented cop{'y' if copies['copies'] == 1 else 'ies'} "
                         "of each pair (the paper's scripts: 10 for PAWS-X, 3 for XNLI)")
        radii = [f"{m.upper()} ε = {(methods.get(m) or {}).get('options', {}).get('epsilon')}" for m in ("adv", "rs-rp")
                 if isinstance((methods.get(m) or {}).get("options"), dict)]
        if radii:
            facts.append(f"{' and '.join(radii)} (fractions of the median word-embedding norm) are xlr's radii, "
                         "chosen on English dev; the paper does not give its own")
        source = _train_source(p)
        items = p.get("max_test_examples")
        facts.append(source + "; tests " + (f"the first {items} rows of each language" if items else "every test row"))
        data = json.dumps(p.get("runs") or [])
        if '"commit"' not in data and '"sha256"' in data or p.get("data") not in (None, "hub"):
            facts.append("the data was read from local files: xlr's hub path (the default) produced none of these "
                         "numbers, and the dataset revisions it pins (reproduce/tasks/*.toml) were never checked "
                         "against the hub")
        lines.append(f"- **{pub.name}**: " + "; ".join(facts) + ".")
    lines.append(f"- {STATISTICS}\n")
    return ["\n".join(lines) + "\n"]


def render(root: Path, out: Path) -> list[Path]:
    """docs/results.md (OUT) and its figures (OUT's folder / results/<set>/*.png) from every set under ROOT;
    returns the files written."""
    sets = load_all(root)
    out = Path(out)
    page = ["# xlr's own results\n",
            "Rendered by `xlr results render` from the published sets in `results/` (tidy CSVs with their "
            "provenance); do not edit by hand. Each set is one experiment of a run store, frozen by "
            "`xlr results publish`. Compare your own runs with one: `xlr compare --against results/NAME`. "
            "The 3-seed PAWS-X comparison on multilingual-e5-small run earlier on an H200 is in "
            "[results-pawsx-e5.md](results-pawsx-e5.md), as text with its commands. "
            "`$DATA`, `E5_DIR` and `STORE` in the commands: see the top of [speed.md](speed.md).\n"]
    page += _caveats(sets)
    check_output_file(out, "--out")
    if out.suffix.lower() != ".md":
        raise XlrError(f"--out {out}: give the page a file name ending in .md (its figures go in a folder named "
                       "after it)")
    figures_root = out.parent / out.stem
    if figures_root.exists() and not figures_root.is_dir():
        raise XlrError(f"{figures_root} is a file, and the figures of --out {out} go in a folder of that name: move "
                       "it, or choose another --out")
    here, sets_root = figures_root.resolve(), Path(root).resolve()
    if here == sets_root or sets_root in here.parents:
        raise XlrError(f"the figures of --out {out} would go into the published sets in {root}: choose an --out "
                       "outside it")
    # the figures are drawn into a hidden folder and replace the old ones (the PNGs only: a file of the user's
    # beside them stays) once every set has rendered: a set that fails half-way leaves the page and its
    # figures as they were
    stage = Path(tempfile.mkdtemp(prefix=f".{out.stem}.render-", dir=nearest_existing(out.parent)))
    try:
        for pub in sets:
            (stage / pub.name).mkdir()
            page += [f"\n## {pub.name}\n", _describe(pub), "\n"]
            for section in (_standard_section, _device_section, _interval_section, _generalized_section,
                            _distance_section, _claims_section):
                parts = section(pub, stage / pub.name, f"{out.stem}/{pub.name}")
                if parts:
                    page += ["\n", *parts]
        for pub in sets:
            figures = figures_root / pub.name
            figures.mkdir(parents=True, exist_ok=True)
            for old in figures.glob("*.png"):
                old.unlink()
            for png in (stage / pub.name).glob("*.png"):
                os.replace(png, figures / png.name)
        atomic_write_text(out, "".join(page).replace("\n\n\n", "\n\n"))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    written = [p for pub in sets for p in sorted((figures_root / pub.name).glob("*.png"))]
    return [out, *written]


# ------------------------------------------------------------------------------------------ figures

def _plot_languages(pub: Published, languages: list[str], path: Path) -> None:
    fig = figure(1.2 + 0.55 * len(languages), 3.6)
    ax = fig.subplots()
    methods = pub.methods
    width = 0.8 / max(1, len(methods))
    for i, m in enumerate(methods):
        xs, means = [], []
        for j, lang in enumerate(languages):
            values = [float(r["accuracy"]) for r in pub.rows
                      if r["method"] == m and r["setting"] == "standard" and r["language"] == lang]
            if not values:
                continue
            x = j - 0.4 + width * (i + 0.5)
            ax.scatter([x] * len(values), values, s=8, color=f"C{i}", alpha=0.5)
            xs.append(x)
            means.append(statistics.fmean(values))
        ax.scatter(xs, means, marker="_", s=120, color=f"C{i}", label=m)
    ax.set_xticks(range(len(languages)), languages)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{pub.name}: mean (bar) and each seed (dot)", fontsize=9)
    ax.legend(fontsize=7, ncol=len(methods))
    save(fig, path)


def _plot_intervals(pub: Published, methods: list[str], cols, by: dict, path: Path) -> None:
    fig = figure(6.4, 0.9 + 0.5 * len(methods) * len(cols))
    ax = fig.subplots()
    labels, y = [], 0
    legend = {"seed": "seed-level 95% interval", "item": "items only (runs fixed)", "diff": "difference",
              "each": "each seed"}
    for s, lang, label in cols:
        for m in methods:
            r = by.get((m, s, lang))
            if r is not None:  # each kind of mark carries its legend entry once
                level = _seed_level(r)
                if level is not None:
                    ax.plot(level, [y, y], color="C0", linewidth=2.5, label=legend.pop("seed", None))
                ax.plot([float(r["item_low"]), float(r["item_high"])], [y + 0.3, y + 0.3], color="C2",
                        linewidth=1, label=legend.pop("item", None))
                ax.scatter([float(r["diff"])], [y], color="C0", zorder=3, label=legend.pop("diff", None))
                seeds = [float(x) for x in r["per_seed"].split()]
                ax.scatter(seeds, [y - 0.2] * len(seeds), s=10, color="C1", zorder=3, label=legend.pop("each", None))
            labels.append(f"{m}, {label}")
            y += 1
    ax.axvline(0, color="grey", linewidth=0.6)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("method − baseline (accuracy points)")
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False)
    save(fig, path)
