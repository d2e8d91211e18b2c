"""Tables in the paper's layout: one row per method, one column per language, then avg.
Rendered with rich for the terminal, or as markdown / CSV (tabulate) for papers and logs."""
from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict

from rich.console import Console
from rich.table import Table
from tabulate import tabulate

from xlr.methods import BASELINE, METHODS

FORMATS = ("rich", "markdown", "csv")
stdout = Console(highlight=False)


def ordered(values, preferred=()):
    seen = list(dict.fromkeys(values))
    return [v for v in preferred if v in seen] + [v for v in seen if v not in preferred]


def summarize(values: list[float]) -> tuple[float, float | None, int]:
    """(mean, sample std or None for one seed, number of seeds)."""
    m = statistics.fmean(values)
    return m, (statistics.stdev(values) if len(values) > 1 else None), len(values)


def method_order() -> tuple[str, ...]:
    """Methods in the registry's order (the paper's four first); others after them, alphabetically."""
    return tuple(METHODS)


def beyond_the_paper(methods: list[str]) -> list[str]:
    """The methods among these that the registry marks as beyond the paper (FreeLB, R3F, ...)."""
    return [m for m in methods if m in METHODS and not METHODS[m].paper]


def method_table(rows: list[dict], setting: str = "standard", languages: list[str] | None = None,
                 methods_order: tuple[str, ...] | None = None):
    """-> (columns, [(method, {column: (mean, std, n)})]); columns are the languages then avg."""
    cells = defaultdict(list)
    for r in rows:
        if r["setting"] == setting:
            cells[(r["method"], r["language"])].append(float(r["accuracy"]))
    langs = languages or ordered([lang for (_, lang) in cells if lang != "avg"])
    columns = [lang for lang in langs] + (["avg"] if any(lang == "avg" for (_, lang) in cells) else [])
    methods = ordered([m for (m, _) in cells], methods_order or method_order())
    body = [(m, {c: summarize(cells[(m, c)]) for c in columns if cells.get((m, c))}) for m in methods]
    return columns, body


def cell_text(stat: tuple[float, float | None, int] | None, digits: int = 1) -> str:
    if stat is None:
        return "–"
    m, sd, _ = stat
    return f"{m:.{digits}f}" if sd is None else f"{m:.{digits}f} ± {sd:.{digits}f}"


def render(title: str, columns: list[str], body, fmt: str = "rich", first: str = "method") -> str | None:
    """Print a rich table (returns None) or return markdown / CSV text."""
    if fmt == "rich":
        print_folded(title, [first, *columns], [[name, *[cell_text(stats.get(c)) for c in columns]]
                                                for name, stats in body])
        return None
    if fmt == "markdown":  # the title in bold above the table, as render_rows does
        return f"**{title}**\n\n" + tabulate([[name, *[cell_text(stats.get(c)) for c in columns]] for name, stats in body],
                                            headers=[first, *columns], tablefmt="github", disable_numparse=True) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        multi = _multi_seed([body])
        w.writerow([first] + _stat_header(columns, multi))
        w.writerows([name] + _stat_cells(stats, columns, multi) for name, stats in body)
        return buf.getvalue()
    raise ValueError(fmt)


def _multi_seed(bodies) -> bool:
    return any(st[1] is not None for body in bodies for _, stats in body for st in stats.values())


def _stat_header(columns: list[str], multi: bool) -> list[str]:
    return [h for c in columns for h in ((c, f"{c}_std") if multi else (c,))] + ["seeds"]


def _stat_cells(stats: dict, columns: list[str], multi: bool) -> list:
    """CSV cells of one table row: each column's mean (and std), then the number of seeds."""
    cells = []
    for c in columns:
        st = stats.get(c)
        cells.append(f"{st[0]:.2f}" if st else "")
        if multi:
            cells.append(f"{st[1]:.2f}" if st and st[1] is not None else "")
    return cells + [max((st[2] for st in stats.values()), default=0)]


# ------------------------------------------------------------------------------- generalized setting

def generalized_matrices(rows: list[dict]) -> tuple[list[str], dict[str, dict[tuple[str, str], float]]]:
    """-> (languages in order, {method: {(l1, l2): mean accuracy over seeds}}) from generalized rows."""
    cells = defaultdict(list)
    for r in rows:
        if r["setting"] == "generalized" and not r["language"].startswith("avg"):
            l1, l2 = r["language"].split("-")
            cells[(r["method"], l1, l2)].append(float(r["accuracy"]))
    langs = ordered([l1 for (_, l1, _) in cells])
    methods = ordered([m for (m, _, _) in cells], method_order())
    return langs, {m: {(a, b): statistics.fmean(cells[(m, a, b)]) for a in langs for b in langs
                       if cells.get((m, a, b))} for m in methods}


def minus_baseline_matrix(rows: list[dict], method: str) -> dict[tuple[str, str], float]:
    """{(l1, l2): METHOD − baseline, the mean of its per-seed gains} over the seeds both have, paired as the
    intervals and claims pair them: a method with fewer seeds than the baseline is not set against the
    baseline's other seeds. Empty without a baseline."""
    from xlr.results.tidy import paired_gains, seed_mean

    table = defaultdict(dict)
    for r in rows:
        if r["setting"] == "generalized" and not r["language"].startswith("avg"):
            table[(r["method"], r["setting"], r["language"])][r["seed"]] = float(r["accuracy"])
    gains = {pair: paired_gains(table, method, BASELINE, "generalized", pair) for m, _, pair in table if m == method}
    return {tuple(pair.split("-")): seed_mean(g.values()) for pair, g in gains.items() if g}


def _matrix_body(langs, matrix):
    return [(l1, {l2: (matrix[(l1, l2)], None, 1) for l2 in langs if (l1, l2) in matrix}) for l1 in langs]


def _signed(stat) -> str:
    return "–" if stat is None else f"{stat[0]:+.1f}"


def generalized_tables(title: str, rows: list[dict]) -> list[tuple[str, list[str], list, str, bool]]:
    """(title, columns, body, first-column name, is a difference) for every generalized table: per method
    the l1 x l2 matrix (rows: sentence-1 language) and its difference to the baseline, then the averages
    over all pairs and over mixed pairs (l1 != l2)."""
    langs, matrices = generalized_matrices(rows)
    tables = []
    for method, matrix in matrices.items():
        tables.append((f"{title}: generalized, {method} (row: sentence 1, column: sentence 2)", langs,
                       _matrix_body(langs, matrix), "s1 \\ s2", False))
        if BASELINE in matrices and method != BASELINE:
            diff = minus_baseline_matrix(rows, method)
            tables.append((f"{title}: generalized, {method} minus baseline", langs, _matrix_body(langs, diff),
                           "s1 \\ s2", True))
    avg_columns, avg_body = method_table([r for r in rows if r["language"].startswith("avg")], "generalized")
    tables.append((f"{title}: generalized averages (all pairs; mixed pairs only)", avg_columns, avg_body, "method",
                   False))
    return tables


def render_generalized(title: str, rows: list[dict], fmt: str = "rich") -> str | None:
    texts = []
    for name, columns, body, first, difference in generalized_tables(title, rows):
        if difference and fmt == "rich":
            print_folded(name, [first, *columns], [[row, *[_colour(stats.get(c)) for c in columns]]
                                                   for row, stats in body])
        else:
            texts.append(render(name, columns, body, fmt, first=first))
    return None if fmt == "rich" else "\n".join(t for t in texts if t)


def tables_csv(tables: list[tuple[str, list[str], list, str]]) -> str:
    """Several tables as ONE CSV: a `table` and a `row` column, then the union of their columns (with
    `_std` columns when any cell has several seeds, and `seeds`)."""
    columns = list(dict.fromkeys(c for _, cols, _, _ in tables for c in cols))
    multi = _multi_seed(body for _, _, body, _ in tables)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "row"] + _stat_header(columns, multi))
    w.writerows([name, row] + _stat_cells(stats, columns, multi) for name, _, body, _ in tables for row, stats in body)
    return buf.getvalue()


def _colour(stat):
    from rich.text import Text

    text = _signed(stat)
    if stat is None or abs(stat[0]) < 0.05:
        return text
    return Text(text, style="green" if stat[0] > 0 else "red")


def write_heatmaps(results_csv, title: str, folder=None) -> list:
    """One PNG per method (accuracy matrix) and per robust method (difference to the baseline), in FOLDER
    (default: beside results.csv). Written atomically; returns the paths."""
    from pathlib import Path

    from xlr.store import read_results_csv

    rows = read_results_csv(results_csv)
    langs, matrices = generalized_matrices(rows)
    if not matrices:
        return []
    import numpy as np

    from xlr.results.figures import figure, save

    folder = Path(folder or Path(results_csv).parent)
    written = []
    for method, matrix in matrices.items():
        views = [("accuracy", matrix, "viridis", None)]
        if BASELINE in matrices and method != BASELINE:
            views.append(("minus-baseline", minus_baseline_matrix(rows, method), "RdBu", 0.0))
        for kind, values, cmap, centre in views:
            grid = np.array([[values.get((a, b), np.nan) for b in langs] for a in langs])
            fig = figure(1.0 + 0.55 * len(langs), 0.8 + 0.5 * len(langs))
            ax = fig.subplots()
            if centre is None:
                im = ax.imshow(grid, cmap=cmap)
            else:
                span = float(np.nanmax(np.abs(grid))) or 1.0
                im = ax.imshow(grid, cmap=cmap, vmin=-span, vmax=span)
            ax.set_xticks(range(len(langs)), langs)
            ax.set_yticks(range(len(langs)), langs)
            ax.set_xlabel("sentence 2 language")
            ax.set_ylabel("sentence 1 language")
            for i in range(len(langs)):
                for j in range(len(langs)):
                    if not np.isnan(grid[i, j]):
                        ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=7)
            label = "accuracy (%)" if centre is None else "difference (points)"
            fig.colorbar(im, ax=ax, label=label, shrink=0.8)
            what = f"{method}, accuracy" if centre is None else f"{method} − baseline"
            ax.set_title(f"{title}: {what} (mean over {'seeds' if centre is None else 'paired seeds'})", fontsize=9)
            written.append(save(fig, folder / f"generalized-{method}{'' if kind == 'accuracy' else '-minus-baseline'}.png",
                                dpi=120))
    return written


def results_tables(results_csv, title: str, languages: list[str] | None, prefix: str = "") -> list[tuple]:
    """The tables of a results.csv for `tables_csv`, each named (after `prefix`) in its `table` column."""
    from xlr.store import read_results_csv

    rows = read_results_csv(results_csv)
    columns, body = method_table(rows, "standard", languages)
    tables = [("standard", columns, body, "method")]
    if any(r["setting"] == "generalized" for r in rows):
        tables += [(t[0].removeprefix(f"{title}: "), *t[1:4]) for t in generalized_tables(title, rows)]
    return [(prefix + name, *rest) for name, *rest in tables]


def show_results(results_csv, title: str, languages: list[str] | None, fmt: str = "rich") -> str | None:
    """The standard-setting table of a results.csv, then the generalized matrices when present."""
    from xlr.store import read_results_csv

    if fmt == "csv":  # one CSV with one header, every table named in its `table` column
        return tables_csv(results_tables(results_csv, title, languages))
    rows = read_results_csv(results_csv)
    columns, body = method_table(rows, "standard", languages)
    text = render(title, columns, body, fmt)
    from xlr.results.tidy import seed_mismatches

    for warning in seed_mismatches(rows):
        text = (text or "") + (note(warning, fmt) or "")
    beyond = beyond_the_paper(sorted({r["method"] for r in rows}))
    if beyond:
        text = (text or "") + (note(f"{', '.join(beyond)}: beyond the paper (later methods xlr adds; not part of "
                                    "its experiments or tables)", fmt) or "")
    if any(r["setting"] == "generalized" for r in rows):
        extra = render_generalized(title, rows, fmt)
        if text is not None and extra is not None:
            text += "\n" + extra
    return text


# ---------------------------------------------------------------------- plain tables (compare, analyze)

def _numeric(text: str) -> bool:
    """A number, or a mean ± std cell."""
    try:
        float(text.split(" ± ")[0].replace("−", "-").lstrip("+"))
        return True
    except ValueError:
        return False


def _console() -> Console:
    """The terminal's console; when stdout is a file or pipe (logs, CI), a wide one, so that tables are
    not squeezed to 80 columns and their headers truncated."""
    return stdout if stdout.is_terminal else Console(highlight=False, width=max(stdout.width, 160))


def print_folded(title: str, headers: list[str], rows: list[list], console: Console | None = None,
                 first_bold: bool = True) -> None:
    """Print a table whose cells are never cut: when it is wider than the console, its columns are split into
    blocks that fit, each block repeating the first column (a 15-language table at 80 columns prints as two
    or three tables, with every number whole)."""
    from rich.text import Text

    console = console or _console()
    widths = [max([len(str(h))] + [len(c.plain if isinstance(c, Text) else str(c)) for c in column])
              for h, *column in zip(headers, *rows)] if rows else [len(str(h)) for h in headers]
    blocks, block, used = [], [], widths[0] + 4
    for i in range(1, len(headers)):
        if block and used + widths[i] + 3 > console.width:
            blocks.append(block)
            block, used = [], widths[0] + 4
        block.append(i)
        used += widths[i] + 3
    blocks.append(block)
    if len(blocks) > 1:  # as many blocks, but of even size (no block of a lone avg column), where they still fit
        size = -(-(len(headers) - 1) // len(blocks))
        even = [list(range(1, len(headers)))[i:i + size] for i in range(0, len(headers) - 1, size)]
        if all(widths[0] + 4 + sum(widths[i] + 3 for i in b) <= console.width for b in even):
            blocks = even
    for n, block in enumerate(blocks, 1):
        name = title if len(blocks) == 1 else f"{title} ({n}/{len(blocks)})"
        table = Table(title=Text(name), title_justify="left")
        for i in [0, *block]:
            cells = [r[i] for r in rows if (r[i].plain if isinstance(r[i], Text) else r[i]) not in ("", "–")]
            numeric = cells and all(_numeric(c.plain if isinstance(c, Text) else c) for c in cells)
            bold = (i == 0 and first_bold) or str(headers[i]).startswith("avg")
            table.add_column(str(headers[i]), justify="right" if numeric and i else "left",
                             style="bold" if bold else None, no_wrap=True, min_width=widths[i])
        for r in rows:
            table.add_row(*[r[i] for i in [0, *block]])
        console.print(table)


def render_rows(title: str, headers: list[str], rows: list[list[str]], fmt: str = "rich") -> str | None:
    """A table of ready-made text cells: printed with rich (returns None), or returned as markdown
    (the title in bold above it) or CSV (header and rows only, so the output stays one CSV table)."""
    if fmt == "rich":
        from rich.text import Text

        # Text: cells like "[0.1, 0.3]" are not rich markup
        print_folded(title, headers, [[Text(c) for c in r] for r in rows], first_bold=False)
        return None
    if fmt == "markdown":
        return f"**{title}**\n\n" + tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True) + "\n\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(headers)
        w.writerows(rows)
        return buf.getvalue()
    raise ValueError(fmt)


def note(text: str, fmt: str = "rich") -> str | None:
    """A line of explanation next to a table: printed (rich), returned (markdown), or sent to stderr (csv,
    so that stdout stays machine-readable)."""
    if fmt == "rich":
        from rich.text import Text

        _console().print(Text(text))
        return None
    if fmt == "markdown":
        return text + "\n\n"
    import sys

    sys.stderr.write(text + "\n")
    return None


def join(parts) -> str | None:
    """Concatenate the text pieces of render_rows / note (None where rich printed directly)."""
    text = "".join(p for p in parts if p)
    return text or None
