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

FORMATS = ("rich", "markdown", "csv")
stdout = Console(highlight=False)


def _order(values, preferred=()):
    seen = list(dict.fromkeys(values))
    return [v for v in preferred if v in seen] + [v for v in seen if v not in preferred]


def summarize(values: list[float]) -> tuple[float, float | None, int]:
    """(mean, sample std or None for one seed, number of seeds)."""
    m = statistics.fmean(values)
    return m, (statistics.stdev(values) if len(values) > 1 else None), len(values)


def method_table(rows: list[dict], setting: str = "standard", languages: list[str] | None = None,
                 methods_order: tuple[str, ...] = ("baseline", "adv", "rs-rp", "rs-da")):
    """-> (columns, [(method, {column: (mean, std, n)})]); columns are the languages then avg."""
    cells = defaultdict(list)
    for r in rows:
        if r["setting"] == setting:
            cells[(r["method"], r["language"])].append(float(r["accuracy"]))
    langs = languages or _order([lang for (_, lang) in cells if lang != "avg"])
    columns = [lang for lang in langs] + (["avg"] if any(lang == "avg" for (_, lang) in cells) else [])
    methods = _order([m for (m, _) in cells], methods_order)
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
        table = Table(title=title, title_justify="left")
        table.add_column(first, style="bold")
        for c in columns:
            table.add_column(c, justify="right", style="bold" if c.startswith("avg") else None)
        for name, stats in body:
            table.add_row(name, *[cell_text(stats.get(c)) for c in columns])
        stdout.print(table)
        return None
    if fmt == "markdown":
        return tabulate([[name, *[cell_text(stats.get(c)) for c in columns]] for name, stats in body],
                        headers=[first, *columns], tablefmt="github", disable_numparse=True) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        multi = any(s[1] is not None for _, stats in body for s in stats.values())
        header = [first] + [h for c in columns for h in ((c, f"{c}_std") if multi else (c,))] + ["seeds"]
        w.writerow(header)
        for name, stats in body:
            row = [name]
            for c in columns:
                s = stats.get(c)
                row.append(f"{s[0]:.2f}" if s else "")
                if multi:
                    row.append(f"{s[1]:.2f}" if s and s[1] is not None else "")
            row.append(max((s[2] for s in stats.values()), default=0))
            w.writerow(row)
        return buf.getvalue()
    raise ValueError(fmt)


def show_results(results_csv, title: str, languages: list[str] | None, fmt: str = "rich") -> str | None:
    """The standard-setting table of a results.csv (and the generalized averages when present)."""
    from xlr.runs import read_results_csv

    rows = read_results_csv(results_csv)
    columns, body = method_table(rows, "standard", languages)
    text = render(title, columns, body, fmt)
    if any(r["setting"] == "generalized" for r in rows):
        g_columns, g_body = method_table([r for r in rows if r["language"].startswith("avg")], "generalized")
        extra = render(f"{title}: generalized setting (sentence 1 and 2 in different languages)", g_columns, g_body,
                       fmt)
        if text is not None and extra is not None:
            text += "\n" + extra
    return text


# ---------------------------------------------------------------------- plain tables (compare, analyze)

def _numeric(text: str) -> bool:
    try:
        float(text.replace("−", "-").lstrip("+"))
        return True
    except ValueError:
        return False


def _console() -> Console:
    """The terminal's console; when stdout is a file or pipe (logs, CI), a wide one, so that tables are
    not squeezed to 80 columns and their headers truncated."""
    return stdout if stdout.is_terminal else Console(highlight=False, width=max(stdout.width, 160))


def render_rows(title: str, headers: list[str], rows: list[list[str]], fmt: str = "rich") -> str | None:
    """A table of ready-made text cells: printed with rich (returns None), or returned as markdown
    (the title in bold above it) or CSV (header and rows only, so the output stays one CSV table)."""
    if fmt == "rich":
        from rich.text import Text

        table = Table(title=Text(title), title_justify="left")
        for i, h in enumerate(headers):
            numbers = [r[i] for r in rows if r[i] not in ("", "–")]
            table.add_column(h, justify="right" if numbers and all(map(_numeric, numbers)) else "left")
        for r in rows:
            table.add_row(*[Text(c) for c in r])  # Text: cells like "[0.1, 0.3]" are not rich markup
        _console().print(table)
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
