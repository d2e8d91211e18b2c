"""The documentation cannot drift from the code: docs/cli.md is what the CLI generates, every command and
flag shown in README.md and docs/ exists, every relative link resolves, and user-facing text names no
development folder."""
import functools
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CLI_DOC = REPO / "docs" / "cli.md"
REGENERATE = "typer xlr.cli utils docs --name xlr --output docs/cli.md"


def generated_cli_doc(tmp_path) -> str:
    exe = shutil.which("typer")
    assert exe, "the typer command is missing (it comes with the typer package)"
    out = tmp_path / "cli.md"
    subprocess.run([exe, "xlr.cli", "utils", "docs", "--name", "xlr", "--output", str(out)], check=True,
                   capture_output=True, text=True, timeout=300)
    return out.read_text()


def test_cli_doc_is_generated_from_the_cli(tmp_path):
    assert CLI_DOC.read_text() == generated_cli_doc(tmp_path), f"docs/cli.md is stale: run `{REGENERATE}`"


def commands_shown() -> list[tuple[str, int, list[str]]]:
    """(page, line, argv after `xlr`) for every `xlr ...` line in a fenced code block of README and docs/."""
    found = []
    for page in PAGES:
        fence = None
        for n, line in enumerate(page.read_text().splitlines(), 1):
            if line.startswith("```"):
                fence = line[3:].strip() if fence is None else None
                continue
            if fence not in ("bash", "sh"):
                continue
            code = line.split(" #")[0].strip().rstrip("\\").strip()
            for piece in re.split(r"&&|;|\|", code):
                piece = re.sub(r"^(\w+=\S*\s+)*", "", piece.strip())  # VAR=value prefixes
                if piece.startswith("xlr "):
                    found.append((page.name, n, shlex.split(piece)[1:]))
    return found


def test_every_command_and_flag_shown_in_the_docs_exists():
    import typer

    from xlr.cli import app

    root = typer.main.get_command(app)
    problems = []
    shown = commands_shown()
    assert len(shown) > 20, "the parser of code blocks found almost no commands"
    for page, line, argv in shown:
        command = root
        args = list(argv)
        while hasattr(command, "get_command") and args and not args[0].startswith("-"):
            sub = command.get_command(None, args[0])
            if sub is None:
                problems.append(f"{page}:{line}: no command `xlr {' '.join(argv[:argv.index(args[0]) + 1])}`")
                break
            command, args = sub, args[1:]
        else:
            known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
            for word in args:
                if word == "--":
                    break  # what follows goes to another program (xlr docker run -- VERB ...)
                flag = word.split("=", 1)[0]
                if flag.startswith("--") and flag not in known:
                    problems.append(f"{page}:{line}: `xlr {command.name}` has no flag {flag}")
            problems += experiment_problems(f"{page}:{line}", command.name, args)
    assert not problems, "\n".join(problems)


def experiment_problems(where: str, verb: str, args: list[str]) -> list[str]:
    """`reproduce NAME` and `sweep NAME` must name a shipped experiment, and `--profile P` one of its profiles."""
    import tomllib

    if verb not in ("reproduce", "sweep") or not args or args[0].startswith("-"):
        return []
    name = args[0]
    if name.endswith(".toml") or "/" in name:
        return []
    path = REPO / "reproduce" / f"{name}.toml"
    if not path.exists():
        return [f"{where}: no experiment {name} in reproduce/"]
    profile = args[args.index("--profile") + 1] if "--profile" in args[:-1] else None
    if profile and profile not in tomllib.loads(path.read_text()).get("profiles", {}):
        return [f"{where}: {name} has no profile {profile}"]
    return []


@functools.cache
def heading_anchors(page) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces as hyphens,
    repeats numbered."""
    anchors, fenced = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6} +(.*?) *#* *$", line)):
            slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
            n, unique = 0, slug
            while unique in anchors:
                n += 1
                unique = f"{slug}-{n}"
            anchors.add(unique)
    return anchors


def test_relative_links_resolve():
    broken = []
    for page in [*PAGES, REPO / "bench" / "README.md"]:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            path = page.parent / target if target else page
            if not path.exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
            elif anchor and path.suffix == ".md" and anchor not in heading_anchors(path):
                broken.append(f"{page.relative_to(REPO)}: {target}#{anchor} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


# what user-facing text must not say: how xlr is developed (the folder beside the checkout, the design notes,
# its issues) or a path that exists on one machine only
NOT_FOR_USERS = ("../shared", "XLR_SHARED", "DESIGN.md", "the project's issue", "our sources", "development machine",
                 "xlr-offline-models", "/root/", "/home/")


def user_facing_files() -> list:
    bench = [f for f in (REPO / "bench").rglob("*") if f.is_file() and "out" not in f.relative_to(REPO / "bench").parts
             and f.suffix in (".md", ".py", ".sh", ".toml")]
    return [*PAGES, *(REPO / "reproduce").rglob("*.toml"), *(REPO / "paper_results").glob("*.*"),
            *(REPO / "src" / "xlr").rglob("*.py"), *bench]


def test_user_facing_text_names_no_development_folder():
    """Users have the hub, `xlr data export` and their own folders: the text they read names none of the places
    xlr was developed in, and no path of one machine."""
    files = user_facing_files()
    assert any(f.parent.name == "paper_results" for f in files) and any(f.parent.name == "bench" for f in files)
    hits = [f"{f.relative_to(REPO)}:{n}: {word}" for f in files
            for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1)
            for word in NOT_FOR_USERS if word.lower() in line.lower()]
    assert not hits, "user-facing text names a development folder or a machine's path:\n" + "\n".join(hits)


@pytest.mark.parametrize("verb", ["reproduce", "train", "sweep"])
def test_help_renders_bracketed_text_literally(verb):
    """`[profiles.NAME]` and other TOML tables in help text must not be eaten as rich markup."""
    proc = subprocess.run([sys.executable, "-m", "xlr", verb, "--help"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "A  table" not in proc.stdout and "  table of the TOML" not in proc.stdout, proc.stdout


def test_no_help_text_holds_what_rich_would_eat_as_markup():
    """rich reads `[word]` in help text as a style tag and drops it (`[train]` vanished once): no flag's or
    command's help may hold one."""
    import typer

    from xlr.cli import app

    tag = re.compile(r"(?<!\\)\[/?[A-Za-z_.#]+\]")
    found = []

    def walk(command, path):
        for p in command.params:
            if getattr(p, "help", None) and tag.search(p.help):
                found.append(f"{path} {p.opts[0]}: {p.help}")
        if command.help and tag.search(command.help):
            found.append(f"{path}: {command.help}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "xlr")
    assert not found, "\n".join(found)


def test_help_text_wraps_to_the_terminal_not_to_the_source():
    """rich keeps a docstring's single line breaks, so a paragraph wrapped at the source's width comes out
    ragged at any other width (`dev` alone on a line of `xlr sweep --help` at 100 columns). Every command's
    paragraphs reach rich unbroken, and its first paragraph, the line in its group's command list, is short."""
    import typer

    from xlr.cli import app

    found = []

    def walk(command, path):
        paragraphs = (command.help or "").split("\n\n")
        found.extend(f"{path}: a line break inside {p[:60]!r}..." for p in paragraphs if "\n" in p)
        if len(paragraphs[0]) > 110 and path.count(" ") > 0:
            found.append(f"{path}: a first paragraph of {len(paragraphs[0])} characters; put a summary first")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "xlr")
    assert not found, "\n".join(found)
    proc = subprocess.run([sys.executable, "-m", "xlr", "sweep", "--help"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "100", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert not any(line.strip() == "dev" for line in proc.stdout.splitlines()), proc.stdout


def test_the_task_example_in_tasks_md_loads_inline_and_as_its_own_file(tmp_path):
    """docs/tasks.md's tweet-sentiment experiment is what a user copies to start their own task: it must load
    as written, and again after the page's offline recipe (the [task] table in a file of its own, with [hub]
    for [task.hub]). Loading reads no data, so this runs offline."""
    import dataclasses
    import tomllib

    from xlr.experiments import load_experiment
    from xlr.tasks import load_task_file

    page = (REPO / "docs" / "tasks.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", page, re.S)
    assert len(blocks) == 1, "docs/tasks.md should hold one TOML example"
    text = blocks[0]
    name = re.match(r"# (\S+\.toml)\n", text).group(1)
    (tmp_path / name).write_text(text, encoding="utf-8")
    inline = load_experiment(str(tmp_path / name))
    task = inline.task_def
    assert task.name == "tweet-sentiment" and task.text_columns == ("text",) and len(task.labels) == 3
    assert task.hub.dataset == "mteb/tweet_sentiment_multilingual"
    assert [task.hub.config_of(lang) for lang in ("en", "pt")] == ["english", "portuguese"]

    task_table = tomllib.loads(text)["task"]
    hub = task_table.pop("hub")
    lines = [f"{k} = {toml_value(v)}" for k, v in task_table.items()]
    lines += ["", "[hub]"] + [f"{k} = {toml_value(v)}" for k, v in hub.items()]
    (tmp_path / "tweet-sentiment.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def same(other):
        return dataclasses.replace(other, origin=None) == dataclasses.replace(task, origin=None)

    assert same(load_task_file(tmp_path / "tweet-sentiment.toml"))
    head, rest = text.split("[task]", 1)
    tail = "[methods]" + rest.split("[methods]", 1)[1]
    (tmp_path / "tweets-offline.toml").write_text(head + 'task = "tweet-sentiment.toml"\n\n' + tail, encoding="utf-8")
    assert same(load_experiment(str(tmp_path / "tweets-offline.toml")).task_def)


def toml_value(value) -> str:
    """A TOML literal for the plain values of a task table (strings, lists of strings, inline tables)."""
    import json

    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)
