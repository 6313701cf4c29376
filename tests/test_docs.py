"""The README and the docs say only what is true of the repo, as far as a machine can tell.

Read from README.md, docs/*.md and benchmarks/README.md, without running anything:

- every repo path they name exists (``src/tracking/x.py``, ``tracking/x.py``, ``benchmarks/...``,
  a ``<placeholder>`` matching any name), every ``tracking.x.y`` / ``pipelines.x`` module exists
  (or names something defined in its module), and ``file.py`` ``name`` names something defined
  in that file;
- every command they show parses: ``mlflow ...`` by MLflow's own click command (without running
  it), and ``mlflow run .`` further: each ``-P name=value`` is a parameter of that entry point in
  MLproject, and the values go through the real parser of the module the entry point runs;
  ``python -m pipelines.<x> --flags`` through that parser; ``make <target>`` names a target of
  the Makefile (with ``ARGS=...`` parsed as part of the target's ``mlflow run``);
  ``python benchmarks/<x>.py --flags`` defines those flags; a bare ``-P name=value`` names a
  parameter of some entry point;
- every relative link resolves, to a file and, with ``#anchor``, to a heading in it;
- the README is at most 200 lines and links every page of docs/; docs/architecture.md's layout
  names every module of src/tracking and pipelines, and each entry of it exists.
"""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md")), REPO / "benchmarks" / "README.md"]
MAX_README_LINES = 200
# Pages another change adds (linked already). Remove an entry once its page exists.
PENDING: set[str] = set()  # pages linked before they exist


# --- reading the pages ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Snippet:
    page: Path
    line: int
    text: str

    def where(self) -> str:
        page = self.page.relative_to(REPO) if self.page.is_relative_to(REPO) else self.page
        return f"{page}:{self.line}: {self.text}"


FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


def blocks(page: Path) -> Iterator[tuple[str, int, list[str]]]:
    """Fenced code blocks: (language, line number of the first line, lines)."""
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        indent, language = fence.group(1), fence.group(2)
        start, body = i + 2, []
        i += 1
        while i < len(lines) and not FENCE.match(lines[i]):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        yield language, start, body


def prose(page: Path) -> Iterator[tuple[int, str]]:
    """The lines outside fenced code blocks, with their numbers."""
    inside = False
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
        elif not inside:
            yield number, line


def spans(page: Path) -> Iterator[tuple[Snippet, str]]:
    """Inline code spans, each with the text that follows it on its line."""
    for number, line in prose(page):
        for match in re.finditer(r"`([^`]+)`", line):
            yield Snippet(page, number, match.group(1)), line[match.end() :]


def shell_lines(page: Path) -> Iterator[Snippet]:
    """Commands of bash blocks (continuations joined), `$ ` lines of other blocks, and what
    follows ``# or:`` in a comment."""
    for language, start, body in blocks(page):
        if language == "python":
            continue
        pending, first = "", start
        for offset, raw in enumerate(body):
            line = raw.rstrip()
            if not pending:
                first = start + offset
                if language not in ("bash", "sh", "shell"):
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                if line.lstrip().startswith("#"):
                    continue
            joined = f"{pending} {line}" if pending else line
            if joined.endswith("\\"):
                pending = joined[:-1]
                continue
            try:
                shlex.split(joined)
            except ValueError:  # a quote that closes on a later line
                pending = joined
                continue
            pending = ""
            command, _, comment = _split_comment(joined)
            yield Snippet(page, first, command)
            alternative = re.search(r"\bor:\s*(.+)$", comment)
            if alternative:
                yield Snippet(page, first, alternative.group(1))


def _split_comment(line: str) -> tuple[str, str, str]:
    """``command  # comment`` split at the first ``#`` outside quotes."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), "#", line[i + 1 :]
    return line, "", ""


# --- the repo -------------------------------------------------------------------------------


@cache
def repo_files() -> frozenset[str]:
    """Paths the repo holds (committed or about to be), and every folder above them."""
    try:  # what git tracks or would add: not .venv, mlruns or other ignored output
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        skip = {".git", ".venv", "build", "mlruns", "mlartifacts", "__pycache__"}
        listed = [
            str(p.relative_to(REPO))
            for p in REPO.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(REPO).parts)
        ]
    files = {path for path in listed if path and (REPO / path).exists()}
    folders = {str(parent) for path in files for parent in Path(path).parents if str(parent) != "."}
    return frozenset(files | {f"{folder}/" for folder in folders} | folders)


def exists(path: str) -> bool:
    """``path`` (``<...>`` matching any name, a trailing / a folder) is in the repo."""
    pattern = re.sub(r"<[^>]+>", "*", path)
    if "*" in pattern:
        return any(fnmatch.fnmatchcase(p, pattern) for p in repo_files())
    return pattern in repo_files()


@cache
def entry_points() -> dict[str, dict[str, Any]]:
    spec: dict[str, dict[str, Any]] = yaml.safe_load((REPO / "MLproject").read_text())
    return spec["entry_points"]


@cache
def make_targets() -> dict[str, list[str]]:
    """Makefile targets and their recipe lines."""
    targets: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (REPO / "Makefile").read_text().splitlines():
        rule = re.match(r"^([\w.-]+):(?!=)", line)
        if rule:
            current = targets.setdefault(rule.group(1), [])
        elif line.startswith("\t") and current is not None:
            current.append(line.strip())
        elif line.strip() and not line.startswith("\t"):
            current = None
    return targets


def parsers() -> dict[str, Callable[[Sequence[str]], Any]]:
    """The real command-line parser of each entry-point module (parses, runs nothing)."""
    from pipelines import _cli, evaluate, storage_proxy, sweep, train

    def proxy(argv: Sequence[str]) -> Any:
        return _cli.parse(argv, "storage_proxy", None, storage_proxy.ProxyConfig)

    return {
        "pipelines.train": train.parse_all,
        "pipelines.sweep": sweep.parse,
        "pipelines.evaluate": evaluate.parse,
        "pipelines.storage_proxy": proxy,
    }


def module_file(module: str) -> Path | None:
    parts = module.split(".")
    base = REPO / "src" if parts[0] == "tracking" else REPO
    for candidate in (
        base.joinpath(*parts).with_suffix(".py"),
        base.joinpath(*parts, "__init__.py"),
    ):
        if candidate.is_file():
            return candidate
    return None


def defined(path: Path, name: str) -> bool:
    """``name`` (or ``Class.attribute``) is defined at the top level of the Python file."""
    body = ast.parse(path.read_text()).body
    for part in name.split("."):
        names: dict[str, list[ast.stmt]] = {}
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names[node.name] = node.body if isinstance(node, ast.ClassDef) else []
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for leaf in ast.walk(target):
                        if isinstance(leaf, ast.Name):
                            names[leaf.id] = []
            elif isinstance(node, ast.ImportFrom | ast.Import):
                for alias in node.names:
                    names[(alias.asname or alias.name).split(".")[0]] = []
        if part not in names:
            return False
        body = names[part]
    return True


# --- checking one command -------------------------------------------------------------------

PLACEHOLDER = "PLACEHOLDER"  # what <run id>, <name> and a flag's ... become


def words(command: str) -> list[str]:
    """Shell words of ``command``: placeholders become a value, ``...`` meaning "more flags" is
    dropped, ``...`` standing for a flag's value kept as one."""
    text = re.sub(r"<[^>]+>", PLACEHOLDER, command)
    tokens = shlex.split(text)
    kept: list[str] = []
    for token in tokens:
        if token == "...":
            takes_value = kept and kept[-1].startswith("-") and "=" not in kept[-1]
            if takes_value and kept[-1] != "--":
                kept.append(PLACEHOLDER)
            continue
        kept.append(token)
    return kept


def commands(command: str) -> Iterator[list[str]]:
    """Each simple command of a line (split at ``&&``, ``;``, ``|``, ``&``), without leading
    ``VAR=value`` assignments and with ``.venv/bin/`` dropped from the program."""
    current: list[str] = []
    for token in words(command.replace("&&", " ; ").replace("|", " ; ").replace("&", " ; ")):
        if token == ";":
            if current:
                yield current
            current = []
        else:
            current.append(token)
    if current:
        yield current


def check_command(argv: list[str]) -> list[str]:
    """What is wrong with one simple command (empty: nothing we can tell)."""
    while argv and re.match(r"^[A-Z_]+=", argv[0]):
        argv = argv[1:]
    if not argv:
        return []
    program = argv[0].removeprefix(".venv/bin/").removeprefix("$(BIN)/")
    if program == "mlflow":
        return check_mlflow(argv[1:])
    if program in ("python", "python3") and argv[1:2] == ["-m"] and len(argv) > 2:
        return check_module(argv[2], argv[3:])
    if program in ("python", "python3") and len(argv) > 1 and argv[1].startswith("benchmarks/"):
        return check_benchmark(argv[1], argv[2:])
    if program == "make":
        return check_make(argv[1:])
    return []


def check_mlflow(args: list[str]) -> list[str]:
    from mlflow.cli import cli

    command: click.Command = cli
    rest, name = list(args), "mlflow"
    while isinstance(command, click.Group):
        if not rest:  # `mlflow ...`: MLflow's command line in general
            return []
        name = rest.pop(0)
        sub = command.get_command(click.Context(command), name)
        if sub is None:
            return [f"`mlflow {name}` is not an MLflow command"]
        command = sub
    if not rest:  # `mlflow run` named in a sentence, not a command to paste
        return []
    try:
        context = command.make_context(name, rest)
    except Exception as error:  # click's usage errors, MLflow's own value checks
        return [f"MLflow refuses `mlflow {' '.join(args)}`: {error}"]
    if command.name == "run" and context.params.get("uri") == ".":
        return check_run(context.params.get("entry_point") or "main", context.params["param_list"])
    return []


def check_run(entry: str, assignments: Sequence[str]) -> list[str]:
    """``mlflow run . -e entry -P name=value ...``: real parameters, values the module parses."""
    if entry not in entry_points():
        return [f"MLproject has no entry point {entry!r}"]
    names = entry_points()[entry]["parameters"]
    problems, flags = [], []
    for assignment in assignments:
        name, _, value = assignment.partition("=")
        if name == PLACEHOLDER:  # -P <name>=<value>
            continue
        if name not in names:
            problems.append(f"-P {name}: not a parameter of entry point {entry!r}")
        flags += [f"--{name.replace('_', '-')}", value]
    if problems:
        return problems
    module = re.search(r"python -m ([\w.]+)", entry_points()[entry]["command"])
    return check_module(module.group(1), flags) if module else []


def check_module(module: str, args: list[str]) -> list[str]:
    if PLACEHOLDER in module:  # python -m pipelines.<x>: a pattern, not a command
        return []
    if "|" in module:  # pipelines.train|sweep: each of them
        head, *alternatives = module.split("|")
        package = head.rsplit(".", 1)[0]
        modules = [head, *(f"{package}.{alt}" for alt in alternatives)]
        return [problem for m in modules for problem in check_module(m, args)]
    if module_file(module) is None:
        return [f"no module {module}"]
    if f"--{PLACEHOLDER}" in args:  # --<name> <value>
        at = args.index(f"--{PLACEHOLDER}")
        return check_module(module, args[:at] + args[at + 2 :])
    parse = parsers().get(module)
    if parse is None:
        return [f"no parser known for `python -m {module}` (add it to parsers())"] if args else []
    try:
        parse(args)
    except SystemExit as done:
        return [f"`python -m {module} {' '.join(args)}` does not parse (exit {done.code})"]
    return []


def check_benchmark(script: str, args: list[str]) -> list[str]:
    if PLACEHOLDER in script:  # benchmarks/<x>.py: a pattern
        return []
    if not exists(script):
        return [f"no {script}"]
    source = (REPO / script).read_text()
    if "add_data_flags" in source:
        source += (REPO / "benchmarks" / "common.py").read_text()
    own, sweep_args = (
        (args[: args.index("--")], args[args.index("--") + 1 :]) if "--" in args else (args, [])
    )
    problems = [
        f"{script} defines no {flag}"
        for flag in (a.split("=")[0] for a in own if a.startswith("--"))
        if f'"{flag}"' not in source
    ]
    if sweep_args:  # passed on to python -m pipelines.sweep
        problems += check_module("pipelines.sweep", sweep_args)
    return problems


def check_make(args: list[str]) -> list[str]:
    variables = dict(a.split("=", 1) for a in args if "=" in a)
    targets = [a for a in args if "=" not in a and not a.startswith("-")] or ["setup"]
    problems = []
    for target in targets:
        if target == PLACEHOLDER:  # make <target>: a pattern
            continue
        if target not in make_targets():
            problems.append(f"the Makefile has no target {target!r}")
            continue
        for line in make_targets()[target]:
            if "$(ARGS)" in line and "ARGS" in variables:  # the target's own command, with ARGS
                for argv in commands(line.replace("$(ARGS)", variables["ARGS"])):
                    problems += check_command(argv)
    return problems


def check_fragment(text: str) -> list[str]:
    """A bare ``-P name=value ...``: each name is a parameter of some entry point."""
    known = {name for entry in entry_points().values() for name in entry["parameters"]}
    tokens = words(text)
    names = [tokens[i + 1].split("=")[0] for i, t in enumerate(tokens[:-1]) if t == "-P"]
    return [f"-P {name}: no entry point has this parameter" for name in names if name not in known]


# --- what is wrong with one page --------------------------------------------------------------

COMMAND_START = re.compile(
    r"^(\$ )?((\.venv/bin/)?(mlflow|make) |python3? (-m pipelines\.|benchmarks/))"
)


def command_problems(page: Path) -> tuple[int, list[str]]:
    """(commands checked, problems) of the commands a page shows, in blocks and in spans."""
    snippets = [*shell_lines(page), *(s for s, _ in spans(page) if COMMAND_START.match(s.text))]
    checked, problems = 0, []
    for snippet in snippets:
        for argv in commands(snippet.text.removeprefix("$ ")):
            checked += 1
            problems += [f"{snippet.where()}\n    {p}" for p in check_command(argv)]
    for snippet, _ in spans(page):  # a bare `-P name=value`
        if snippet.text.startswith("-P "):
            checked += 1
            problems += [f"{snippet.where()}\n    {p}" for p in check_fragment(snippet.text)]
    return checked, problems


def path_candidates(snippet: Snippet) -> Iterator[str]:
    """Words of a code span that name repo paths: under a top-level entry of the repo, or
    ``tracking/...`` (src/tracking), or any ``.py`` file; or under the page's own folder."""
    top = {p.split("/")[0] for p in repo_files()}
    for word in snippet.text.split():
        word = word.strip("(),;:'\"")
        if "/" not in word or "://" in word or word.startswith(("-", "~", "$", "/")):
            continue
        first = word.split("/")[0]
        if first in ("", ".", "..", ".venv"):  # ./mlruns, .venv/bin: made where you work
            continue
        if first == "tracking":
            yield f"src/{word}"
        elif first in top or word.endswith(".py"):
            yield word
        elif snippet.page.parent != REPO and (snippet.page.parent / first).exists():
            yield str((snippet.page.parent / word).relative_to(REPO))


def path_problems(page: Path) -> tuple[int, list[str]]:
    """(names checked, problems) of the paths and modules a page's code spans name."""
    checked, problems = 0, []
    for snippet, after in spans(page):
        for path in path_candidates(snippet):
            checked += 1
            if not exists(path):
                problems.append(f"{snippet.where()}\n    no {path} in the repo")
            # `file.py` `name`: the name is defined in that file
            follower = re.match(r"\s*`([A-Za-z_][\w.]*)`", after)
            if path.endswith(".py") and follower and exists(path):
                if not defined(REPO / path, follower.group(1)):
                    problems.append(f"{snippet.where()}\n    {path} defines no {follower[1]}")
        if re.fullmatch(r"(tracking|pipelines)(\.\w+)+", snippet.text):
            checked += 1
            module, _, attribute = snippet.text.rpartition(".")
            parent = module_file(module)
            if module_file(snippet.text) is None and not (parent and defined(parent, attribute)):
                problems.append(f"{snippet.where()}\n    no module or name {snippet.text}")
    return checked, problems


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lstrip("#").strip())
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(line) for _, line in prose(page) if line.startswith("#")}


def links(page: Path) -> Iterator[tuple[Snippet, str]]:
    """Markdown links and images outside code: (where, target)."""
    for number, line in prose(page):
        line = re.sub(r"`[^`]*`", "", line)
        for match in re.finditer(r"\]\(([^)\s]+)\)", line):
            yield Snippet(page, number, match.group(0)), match.group(1)


def link_problems(page: Path) -> tuple[int, list[str]]:
    """(links checked, problems) of a page's relative links."""
    checked, problems = 0, []
    for snippet, target in links(page):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        checked += 1
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        name = str(file.relative_to(REPO)) if file.is_relative_to(REPO) else str(file)
        if name in PENDING:
            continue
        if not file.exists():
            problems.append(f"{snippet.where()}\n    {name} does not exist")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            problems.append(f"{snippet.where()}\n    {name} has no heading #{anchor}")
    return checked, problems


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "check", [command_problems, path_problems, link_problems], ids=["commands", "paths", "links"]
)
def test_the_pages_name_only_what_exists(check: Callable[[Path], tuple[int, list[str]]]) -> None:
    checked, problems = 0, []
    for page in PAGES:
        n, found = check(page)
        checked, problems = checked + n, problems + found
    assert checked > 20  # the pages are read, and do name things
    assert not problems, "\n".join(problems)


def test_pending_pages_are_still_pending() -> None:
    # A page another change was to add exists now: check its links like any other's.
    assert not [page for page in PENDING if (REPO / page).exists()], "remove it from PENDING"


def test_readme_is_short_and_links_every_page() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"
    linked = {target.partition("#")[0] for _, target in links(README)}
    pages = {f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")} | PENDING
    pages.add("benchmarks/README.md")
    assert pages - linked == set(), "pages the README does not link"


def layout() -> Iterator[tuple[int, str]]:
    """docs/architecture.md's layout block: (line, path) of every entry, folders ending in /."""
    page = REPO / "docs" / "architecture.md"
    start, body = next((s, b) for _, s, b in blocks(page) if b and b[0].startswith("MLproject"))
    stack: list[tuple[int, str]] = []
    for offset, line in enumerate(body):
        indent = len(line) - len(line.lstrip())
        entries = [n.strip() for n in re.split(r"\s{2,}", line.strip())[0].split(",")]
        if not all(re.fullmatch(r"[\w./-]+", e) and ("." in e or e.endswith("/")) for e in entries):
            continue  # a description continued on its own line
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        for entry in entries:
            yield start + offset, parent + entry
        if len(entries) == 1 and entries[0].endswith("/"):
            stack.append((indent, parent + entries[0]))


def test_architecture_layout_names_every_module_and_only_real_ones() -> None:
    named = {path for _, path in layout()}
    assert sorted(p for p in named if not exists(p)) == [], "named in the layout, not in the repo"
    modules = {
        p
        for p in repo_files()
        if re.fullmatch(r"(src/tracking|pipelines)/.*\.py", p) and not p.endswith("__init__.py")
    }
    assert sorted(modules - named) == [], "modules docs/architecture.md's layout leaves out"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("```bash\nmlflow run . -e sweep -P n_trails=3\n```\n", "-P n_trails: not a parameter"),
        ("```bash\nmlflow run . -P epochs=ten\n```\n", "does not parse"),
        ("```bash\nmlflow run . --env-manger local\n```\n", "MLflow refuses"),
        ("```bash\nmlflow run . -e train\n```\n", "no entry point 'train'"),
        ("```bash\npython -m pipelines.train --epoks 3\n```\n", "does not parse"),
        ("```bash\npython -m pipelines.trian\n```\n", "no module pipelines.trian"),
        ("```bash\nmake trian\n```\n", "no target 'trian'"),
        ('Run `make sweep ARGS="-P n_trails=3"`.\n', "-P n_trails: not a parameter"),
        ("With `-P l2_mn=0`.\n", "-P l2_mn: no entry point"),
        ("```bash\npython benchmarks/pruning.py --trails 3\n```\n", "defines no --trails"),
        ("```bash\nmake run  # or: python -m pipelines.train --epoks 3\n```\n", "does not parse"),
        ("```\n$ mlflow models serve --model models:/x/1\n```\n", "MLflow refuses"),
    ],
)
def test_a_wrong_command_is_caught(tmp_path: Path, text: str, expected: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(text)
    assert any(expected in problem for problem in command_problems(page)[1])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("See `src/tracking/door/trackr.py`.\n", "no src/tracking/door/trackr.py"),
        ("See `tracking/sweep/studyy.py`.\n", "no src/tracking/sweep/studyy.py"),
        ("See `benchmarks/results/<name>.csv`.\n", "no benchmarks/results/<name>.csv"),
        ("`tracking.sweep.promotions` decides.\n", "no module or name"),
        ("`tracking.config.train.TEST_METRIC_MODE` says.\n", "no module or name"),
        ("`src/tracking/sweep/promotion.py` `decided` decides.\n", "defines no decided"),
    ],
)
def test_a_wrong_path_is_caught(tmp_path: Path, text: str, expected: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(text)
    assert any(expected in problem for problem in path_problems(page)[1])
    # ... and the same sentence, right, is not.
    right = text.replace("trackr", "tracker").replace("studyy", "study").replace(".csv", ".json")
    right = right.replace("promotions", "promotion").replace("MODE`", "MODES`")
    page.write_text(right.replace("`decided`", "`decide`"))
    assert path_problems(page)[1] == []


def test_a_broken_link_is_caught(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("[a](nothere.md), [b](#nowhere), [c](#here), ![d](page.md)\n\n## Here\n")
    checked, problems = link_problems(page)
    assert checked == 4 and len(problems) == 2, problems
    assert "nothere.md does not exist" in problems[0] and "no heading #nowhere" in problems[1]
    assert slug("## `tracking.x` and the *sweep*: 2 things") == "trackingx-and-the-sweep-2-things"


def test_the_readme_uses_the_champion_as_docs_serving_runs_it() -> None:
    # Every line of code the README shows under "Use the champion" is a line of
    # docs/serving.md, whose blocks tests/pipelines_tests/test_serving_doc.py runs as written.
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Use the champion") : readme.index("## A team, many machines")]
    served = {line.strip() for line in (REPO / "docs" / "serving.md").read_text().splitlines()}
    code = re.findall(r"```\w*\n(.*?)```", section, flags=re.S)
    lines = [line.strip() for block in code for line in block.splitlines() if line.strip()]
    assert lines, "the section shows no code"
    assert [line for line in lines if line not in served] == []
