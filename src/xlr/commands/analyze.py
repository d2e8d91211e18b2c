"""`xlr analyze`: gains against lang2vec distance (of results), and the perturbations' geometry (of a model)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from xlr.commands.options import TASK_NAMES, DataDir, Fmt, Results, at_least, check_format, split_items
from xlr.commands.run import write
from xlr.errors import XlrError
from xlr.methods import BASELINE


def distance(results: list[Path] | None, paper: bool, against: str, source: str, features: str | None,
             baseline: str, plot: Path | None, fmt: str) -> str | None:
    """The distances, the gains and their correlations (and a scatter plot with --plot); returns the tables."""
    from xlr.results import distance as dist

    check_format(fmt)
    if against != "paper_results" and not paper:
        raise XlrError("--against names the paper's numbers to analyze: use it with --paper")
    if features is not None and not split_items([features]):
        raise XlrError("--features is empty; name lang2vec feature sets, or leave it out for the default ones")
    if plot:
        from xlr.files import check_output_file

        dist.plot_format(plot)
        check_output_file(plot, "--plot")
    rows = dist.load_rows(results, paper, against)
    analyses = dist.analyze(rows, source, split_items([features]) if features else dist.FEATURES, baseline)
    text = dist.show(analyses, fmt)
    if text:
        sys.stdout.write(text)
    if plot:
        dist.plot(analyses, plot)
        sys.stderr.write(f"plot written to {plot}\n")
    return None


def radii(option: str, text: str) -> list[float]:
    """Comma-separated radii: finite numbers >= 0, or one line naming OPTION."""
    try:
        found = [float(x) for x in split_items([text]) or []]
    except ValueError:
        found = [float("nan")]
    if not all(0 <= r < float("inf") for r in found):
        raise XlrError(f"{option} '{text}' must be comma-separated numbers >= 0, e.g. 0.01,0.02")
    return found


def geometry(model: str, task: str, data_dir: str | None, pairs: int, adv: str, steps: int, rs_rp: str,
             pooling: str, seed: int, fmt: str) -> str | None:
    """The median displacement of the pooled representation per radius, next to a word swap and dropout."""
    from xlr.settings import POOLING
    from xlr.results.report import render_rows
    from xlr.sources import open_source
    from xlr.tasks import get_task

    check_format(fmt)
    if pooling not in POOLING:
        raise XlrError(f"--pooling must be one of {', '.join(POOLING)}, not '{pooling}'")
    at_least(("--pairs", pairs, 1), ("--steps", steps, 1))
    adv_radii, rp_radii = radii("--adv", adv), radii("--rs-rp", rs_rp)
    the_task = get_task(task)
    dev = open_source(data_dir).load(the_task, "dev", the_task.source_language).head(pairs)
    from xlr.engine.geometry import measure  # the engine only once the input has been checked
    from xlr.engine.models import load_model
    from xlr.machine.progress import quiet_libraries, say

    quiet_libraries()
    texts = [s for s in dev.sentence1 + (dev.sentence2 or []) if s]  # the built-in tiny model's vocabulary
    loaded, tokenizer = load_model(model, the_task, seed, tokenizer_texts=texts, pooling=pooling)
    g = measure(loaded, tokenizer, dev, adv_radii, rp_radii, steps, seed,
                on_batch=lambda done, total: say(f"  {done}/{total} pairs"))
    title = (f"{model}: median ‖dh‖ over {g.pairs} {the_task.source_language} dev pairs; word-embedding norm "
             f"(the unit of epsilon) {g.embedding_norm:.3f}, tokens in the data {g.token_norm:.3f}, nearest other "
             f"row {g.nearest_row:.3f}")
    return render_rows(title, ["change to the input", "median ‖dh‖", "/ dropout"],
                       [[k, f"{v:.3f}", f"{v / g.dropout:.2f}"] for k, v in g.rows.items()], fmt)


# ------------------------------------------------------------------------------------------- the verbs

app = typer.Typer(no_args_is_help=True, help="Analyses: lang2vec language distance against gains (of results), and the "
                                "perturbations' geometry (of a model).")


@app.command("distance")
def analyze_distance(
    results: Results = None,
    paper: Annotated[bool, typer.Option("--paper", help="Analyze the paper's own numbers (paper_results).")]
    = False,
    against: Annotated[str, typer.Option(help="With --paper: the paper_results folder or CSV.")] = "paper_results",
    source: Annotated[str, typer.Option(help="Source (training) language; excluded from the correlation.")] = "en",
    features: Annotated[Optional[str], typer.Option(
        help="Comma-separated lang2vec feature sets (default: syntax_knn,geo,fam,inventory_knn,phonology_knn; "
             "the first is plotted).", show_default=False)] = None,
    baseline: Annotated[str, typer.Option(help="The method gains are measured against.")] = BASELINE,
    plot: Annotated[Optional[Path], typer.Option(help="Write a labelled scatter plot (.png, .pdf or .svg).")]
    = None,
    fmt: Fmt = "rich",
):
    """Do gains over the baseline grow with the language's lang2vec distance from the source?

    Prints the distances, the gains, and Pearson and Spearman correlations with p-values; --plot also
    draws a labelled scatter plot. --paper runs it offline on the paper's own numbers."""
    distance(results, paper, against, source, features, baseline, plot, fmt)


@app.command("geometry")
def analyze_geometry(
    model: Annotated[str, typer.Option(help="Hugging Face id, local model folder, or builtin:tiny-bert.")]
    = "bert-base-multilingual-cased",
    task: Annotated[str, typer.Option(help=f"{TASK_NAMES} or a task TOML file.")] = "pawsx",
    data_dir: DataDir = None,
    pairs: Annotated[int, typer.Option(help="The first N source-language dev pairs.")] = 256,
    adv: Annotated[str, typer.Option(help="ADV radii, comma-separated, as fractions of the median word-embedding "
                                          "norm.")] = "0.005,0.01,0.02,0.05,0.1",
    steps: Annotated[int, typer.Option(help="ADV's ascent steps.")] = 1,
    rs_rp: Annotated[str, typer.Option("--rs-rp", help="RS-RP radii, comma-separated, as fractions of the median "
                                                       "word-embedding norm.")] = "0.1,0.2,0.4,0.8,1.6",
    pooling: Annotated[str, typer.Option(help="Classifier head for ADV's loss: cls or mean.")] = "mean",
    seed: Annotated[int, typer.Option(help="Random seed (head initialisation, noise, word swaps).")] = 7,
    fmt: Fmt = "rich",
):
    """How far each radius moves the model's sentence representation, next to a word swap and dropout.

    The median L2 displacement of the mean-pooled last hidden state over the first N source-language dev
    pairs; the radii of docs/methods.md rest on this measurement."""
    write(geometry(model, task, data_dir, pairs, adv, steps, rs_rp, pooling, seed, fmt))
