"""`xlr data` and `xlr augment`: a task's data in the local TSV layout, the CPU-scale PAWS-X training file, and
RS-DA's augmented training data."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from xlr.commands.options import TASK_NAMES, DataDir, at_least, split_items
from xlr.errors import XlrError


def export(out: Path, task: str, languages: list[str] | None, splits: str | None, data_dir: str | None) -> None:
    """Write a task's data (by default from the hub) as {split}-{lang}.tsv files, all or nothing."""
    from xlr.files import check_writable
    from xlr.machine.progress import quiet_libraries, say
    from xlr.sources import check_splits, export as write_export, open_source
    from xlr.tasks import SPLITS, check_languages, get_task

    quiet_libraries()
    t = get_task(task)
    asked = split_items(languages) if languages is not None else list(t.languages)
    wanted = list(dict.fromkeys(split_items([splits]) or [])) if splits is not None else list(SPLITS)
    if not asked or not wanted:
        raise XlrError(f"--{'languages' if not asked else 'splits'} is empty; name at least one, or leave the "
                       "option out for all of them")
    langs = check_languages(t, list(dict.fromkeys(asked)))
    check_splits(wanted)
    source = open_source(data_dir)
    check_writable(out, "output folder", "--out", create=False)
    written, skipped = write_export(t, source, out, langs, wanted, skip_missing=languages is None and splits is None)
    say(f"wrote {len(written)} files to {out}" + (f"; the source has no {', '.join(skipped)}" if skipped else ""))


def pawsx_cpu_train(out: Path, data_dir: str | None, force: bool) -> None:
    """Write the English training file of xlr's CPU-scale PAWS-X results, and say whether it is that file."""
    from xlr.files import check_output_file
    from xlr.machine.progress import quiet_libraries, say
    from xlr.sources import PAWSX_CPU_TRAIN_SHA256, open_source, write_pawsx_cpu_train

    quiet_libraries()
    check_output_file(out, "--out", example="train-en-small.tsv")
    made, digest = write_pawsx_cpu_train(open_source(data_dir), out, force)
    say(f"wrote {len(made.pairs)} pairs to {out}, from {made.candidates} PAWS-Wiki pairs: {made.held_out} equal a "
        f"PAWS-X English dev or test pair, {made.repeats} repeat an earlier pair")
    say(f"sha256 {digest}: " + ("the file behind xlr's published PAWS-X results" if digest == PAWSX_CPU_TRAIN_SHA256
                                else f"NOT the file behind xlr's published PAWS-X results (sha256 "
                                     f"{PAWSX_CPU_TRAIN_SHA256}), so their numbers may differ from yours"))


def augment(task: str, input: Path, out: Path, num: int, seed: int, synonyms: Path | None) -> str:
    """RS-DA's synonym-substituted copies of a training TSV; returns the substitution summary."""
    from xlr.machine.progress import say
    from xlr.methods.synonyms import augment_file

    at_least(("--num", num, 1))
    stats = augment_file(task, input, out, num, seed, str(synonyms) if synonyms else None)
    say(f"wrote {stats.pairs * num} pairs to {out}")
    return stats.summary()


# ------------------------------------------------------------------------------------------- the verbs

app = typer.Typer(no_args_is_help=True, help="Data utilities.")


@app.command("export")
def data_export(
    out: Annotated[Path, typer.Option("--out", help="Folder to write {split}-{lang}.tsv (and {split}.ids) into.")],
    task: Annotated[str, typer.Option(help=f"{TASK_NAMES} or a task TOML file.")] = "pawsx",
    languages: Annotated[Optional[list[str]], typer.Option(help="Languages (default: all of the task).")] = None,
    splits: Annotated[Optional[str], typer.Option(help="Comma-separated splits: train, dev, test (default: all "
                                                       "three; a local source's missing files are skipped).")]
    = None,
    data_dir: DataDir = None,
):
    """Write a task's data (by default from the Hugging Face hub) in the local TSV layout, for offline use."""
    export(out, task, languages, splits, data_dir)


@app.command("pawsx-cpu-train")
def data_pawsx_cpu_train(
    out: Annotated[Path, typer.Option("--out", help="The TSV file to write, e.g. data/pawsx/train-en-small.tsv. "
                                                    "An existing file with other content is kept unless --force.")],
    data_dir: DataDir = None,
    force: Annotated[bool, typer.Option(help="Replace an existing --out file that differs.")] = False,
):
    """Write the English training file of xlr's CPU-scale PAWS-X results, for --train-file.

    It is PAWS-Wiki's labeled dev and test pairs minus PAWS-X's English dev and test pairs, and minus repeats.
    Offline, --data-dir DIR needs DIR/paws-wiki/ and DIR/pawsx/ (`xlr data export --task paws-wiki --out
    DIR/paws-wiki`, and the same with --task pawsx)."""
    pawsx_cpu_train(out, data_dir, force)
