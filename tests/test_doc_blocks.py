"""Docs that cannot go stale: every shell block on README.md and docs/*.md runs here, or says
why it cannot.

A *shell block* is a fenced block whose language is bash, sh, shell, console or zsh, or any
fenced block with a line that starts (after an optional `$ ` prompt) with `relapse-risk`,
`make`, `curl`, `python` or `.venv/bin/`, or with a `$ ` prompt at all. `tests/test_docs.py`
checks that each `relapse-risk` command a page shows exists with its options; this file runs
them.

Markers: HTML comments on the lines just before the fence (mkdocs and GitHub render nothing
for them), one per line:

    <!-- not run: REASON -->                 the block is not run
    <!-- not run `PREFIX`: REASON -->        the block runs, without its commands that start
                                             with PREFIX
    <!-- exits N `PREFIX`: REASON -->        the commands starting with PREFIX exit with N

Every shell block runs or carries a block-level `not run` marker, and every reason is
non-empty; a marker whose PREFIX matches no command of its block is an error too. A command's
own comment may also give its status, as the pages already write it: a trailing comment that
starts with `exit N:` (`# exit 1: guesses left`), or a shown-output comment under the command
that ends with `exit N`. Every other command must exit 0.

How a page runs: its commands run in page order, in one temporary directory holding copies
of `examples/` and of `docs/` (without its images), each with `bash -c 'set -euo pipefail;
COMMAND'`, so an unexpected status names the command's page and line. Lines under a `$ `
prompt are the command's shown output, up to the next prompt or blank line; for a shown
`$ cat FILE` the file must hold exactly the lines shown. The environment is that of a user
after `make serve`:

- `relapse-risk` is the console script installed beside `sys.executable`, that bin folder
  leads PATH, and PYTHONPATH names this repository, so the commands run the code these docs
  sit beside (an editable install's finder comes after PYTHONPATH);
- `RELAPSE_RISK_REGISTRY` is a registry in the page's folder, holding a copy of a production
  model trained once per session (`SMALL_MODEL`, at a small size); `BENTOML_HOME` is in the
  temporary folder too;
- a page with a command that talks to `127.0.0.1:PORT` gets the service
  (`relapse-risk serve`) started in its folder before its first command, on a free port that
  replaces PORT; the service writes its API key to `.relapse-risk/api_keys` there as on a
  first start, and `$KEY` holds it (registry-data.md says "its key in `$KEY`");
- curl reads a `.curlrc` (through `CURL_HOME`) with `fail-with-body`, so a request the
  service refuses is curl's exit 22, and `max-time`.

`SUBSTITUTIONS` is the one place where a command is changed before it runs, and only its size
(patients, resamples) or, where the page's default would pick another strategy only because
the test's production model is small, the strategy that default picks; each entry says why,
and each must still match a command the pages show. `PAGE_SETUP` makes input files a page
describes in words but does not ship.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent

SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh", "shell-session"}
COMMAND_WORDS = ("relapse-risk", "make", "curl", "python", ".venv/bin/")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
COMMENT = re.compile(r"^\s*<!--(.*?)-->\s*$")
MARKER = re.compile(
    r"^(?P<kind>not run|exits (?P<status>\d+))(?:\s+`(?P<prefix>[^`]+)`)?:"
    r"\s*(?P<reason>.*)$",
    re.S,
)
STATUS_FIRST = re.compile(r"^\s*exits? (\d+):")
STATUS_LAST = re.compile(r"\bexits? (\d+)\s*$")
SERVICE = re.compile(r"127\.0\.0\.1:(\d+)")

# The production model every page starts with (a user's after `make serve` is the default
# 50,000-patient one; this one takes about half a minute).
SMALL_MODEL = ["train", "--n", "2000", "--strategy", "holdout"]

# (pattern on the command as the page shows it, replacement, why). Only sizes change, and the
# strategy where the page's default size would have picked it.
SUBSTITUTIONS: list[tuple[str, str, str]] = [
    (
        r"^relapse-risk train(?=\s|$)(?!.*--(?:n|cohort|strategy)\b)",
        "relapse-risk train --n 2000 --strategy holdout",
        "the default synthetic cohort is 50,000 patients (minutes to fit); 2,000 keep every step. "
        "The default size is developed by holdout; `auto` would resample 2,000 (200 bootstrap "
        "repetitions of the whole development: many minutes), so holdout is kept explicit",
    ),
    (
        r"^relapse-risk retrain(?=\s)(?!.*--strategy\b)(.*?)(\s+#.*)?$",
        r"relapse-risk retrain\1 --strategy holdout\2",
        "after `make serve` production was trained on 50,000 patients, so production's data plus "
        "the cohort is over 5,000 and `auto` develops the challenger by holdout; with the test's "
        "2,000-patient production `auto` would resample (many minutes)",
    ),
    (
        r"^relapse-risk validate(?=\s)(?!.*--bootstrap\b)(.*?)(\s+#.*)?$",
        r"relapse-risk validate\1 --bootstrap 20\2",
        "200 bootstrap resamples by default for the intervals; the smallest the command "
        "accepts (20) keeps every figure",
    ),
    (
        r"^relapse-risk recalibrate(?=\s)(?!.*--bootstrap\b)(.*?)(\s+#.*)?$",
        r"relapse-risk recalibrate\1 --bootstrap 20 --gate-bootstrap 200\2",
        "100 resamples for the report's intervals and 1,000 for the gate by default; the smallest "
        "the command accepts (20 and 200) keep every figure and the gate's decision rule",
    ),
]


def _make_export(folder: Path, env: dict) -> None:
    """docs/batch.md: "a 2,000-patient synthetic export with one bad age planted" (its
    patient ids SYN5-... are those of seed 5; the bad age is row 2's, as its errors file
    shows)."""
    subprocess.run(
        [str(BIN / "relapse-risk"), "synth", "--n", "2000", "--seed", "5", "--out", "export.csv"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )
    with open(folder / "export.csv", newline="") as f:
        rows = list(csv.reader(f))
    rows[2][rows[0].index("age_years")] = "old"
    with open(folder / "export.csv", "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


PAGE_SETUP = {"docs/batch.md": _make_export}


@dataclass
class Command:
    line: int
    text: str  # as the page shows it, continuation lines included
    prompt: bool = False
    status: int | None = None  # from the command's own comments
    shown: list[str] = field(default_factory=list)  # shown output lines under a prompt
    comments: list[str] = field(default_factory=list)


@dataclass
class Block:
    page: str
    line: int  # the fence's line
    language: str
    body: list[tuple[int, str]]
    markers: list[tuple[int, str]]  # (line, text inside <!-- -->)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _blocks(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    name = page.relative_to(ROOT).as_posix()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, language = m.group(1), m.group(2).lower()
        j = i + 1
        while j < len(lines) and not (
            lines[j].strip().startswith(fence[0] * len(fence))
            and not lines[j].strip().strip(fence[0])
        ):
            j += 1
        markers, k = [], i - 1
        while k >= 0 and (c := COMMENT.match(lines[k])):
            markers.insert(0, (k + 1, c.group(1).strip()))
            k -= 1
        blocks.append(
            Block(name, i + 1, language, [(n + 1, lines[n]) for n in range(i + 1, j)], markers)
        )
        i = j + 1
    return blocks


def _is_shell(block: Block) -> bool:
    if block.language in SHELL_LANGUAGES:
        return True
    for _, text in block.body:
        s = text.strip()
        if s.startswith("$ ") or s.startswith(COMMAND_WORDS):
            return True
    return False


def _complete(text: str) -> tuple[bool, str]:
    """Whether `text` is a whole shell command (no open quote, no trailing backslash), and
    its trailing comment, if any."""
    quote, i = None, 0
    while i < len(text):
        c = text[i]
        if quote == "'":
            if c == "'":
                quote = None
        elif c == "\\":
            if i + 1 == len(text):
                return False, ""
            i += 1  # the escaped character (a newline: a continuation)
        elif quote == '"':
            if c == '"':
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t\n"):
            end = text.find("\n", i)
            if end == -1:
                return quote is None, text[i + 1 :]
            i = end
            continue
        i += 1
    return quote is None, ""


def _commands(block: Block) -> list[Command]:
    commands: list[Command] = []
    pending: Command | None = None
    output = False
    for number, raw in block.body:
        line = raw.rstrip()
        if pending is not None:
            pending.text += "\n" + line
        else:
            stripped = line.strip()
            if not stripped:
                output = False
                continue
            if stripped.startswith("$ "):
                pending, output = Command(number, stripped[2:], prompt=True), True
            elif output:
                commands[-1].shown.append(line)
                continue
            elif stripped.startswith("#"):
                if commands:
                    commands[-1].comments.append(stripped[1:])
                continue
            else:
                pending = Command(number, line)
        done, trailing = _complete(pending.text)
        if done:
            if trailing:
                pending.comments.append(trailing)
            commands.append(pending)
            pending = None
    assert pending is None, f"{block.where}: unfinished command at line {pending.line}"
    for command in commands:
        for comment in command.comments:
            m = STATUS_FIRST.match(comment) or STATUS_LAST.search(comment)
            if m:
                command.status = int(m.group(1))
    return commands


def _first_line(command: Command) -> str:
    return " ".join(command.text.split("\n", 1)[0].split())


@dataclass
class Plan:
    block: Block
    skipped: str | None  # the block-level reason
    commands: list[tuple[Command, int | None, str | None]]  # (command, status, skip reason)
    problems: list[str]


def _plan(block: Block) -> Plan:
    commands = _commands(block)
    problems, skipped = [], None
    statuses: dict[int, int] = {}
    skips: dict[int, str] = {}
    for line, text in block.markers:
        m = MARKER.match(text)
        if not m:
            problems.append(f"{block.page}:{line}: not a marker: <!-- {text} -->")
            continue
        reason, prefix = m.group("reason").strip(), m.group("prefix")
        if not reason:
            problems.append(f"{block.page}:{line}: a marker needs a reason: <!-- {text} -->")
        if prefix is None:
            if m.group("status") is not None:
                problems.append(
                    f"{block.page}:{line}: `exits N` needs the command: "
                    "<!-- exits N `PREFIX`: reason -->"
                )
            else:
                skipped = reason
            continue
        matched = [i for i, c in enumerate(commands) if _first_line(c).startswith(prefix)]
        if not matched:
            problems.append(
                f"{block.page}:{line}: no command of the block at "
                f"{block.where} starts with `{prefix}`"
            )
        for i in matched:
            if m.group("status") is not None:
                statuses[i] = int(m.group("status"))
            else:
                skips[i] = reason
    plan = [
        (c, statuses.get(i, c.status if c.status is not None else 0), skips.get(i))
        for i, c in enumerate(commands)
    ]
    return Plan(block, skipped, plan, problems)


def _shell_plans() -> list[Plan]:
    return [_plan(b) for page in PAGES for b in _blocks(page) if _is_shell(b)]


def _substitute(text: str) -> tuple[str, list[int]]:
    first, _, rest = text.partition("\n")
    used = []
    for i, (pattern, replacement, _) in enumerate(SUBSTITUTIONS):
        first, n = re.subn(pattern, replacement, first)
        if n:
            used.append(i)
    return first + ("\n" + rest if rest else ""), used


def test_every_shell_block_runs_or_says_why_not():
    problems = []
    for plan in _shell_plans():
        problems += plan.problems
        if plan.skipped is None and not any(skip is None for _, _, skip in plan.commands):
            problems.append(
                f"{plan.block.where}: no command of this block runs and it has "
                "no <!-- not run: REASON --> marker"
            )
        if plan.skipped is None and not plan.commands:
            problems.append(f"{plan.block.where}: a shell block without a command")
    assert not problems, "\n".join(problems)


def test_markers_sit_only_on_shell_blocks():
    stray = [
        b.where
        for page in PAGES
        for b in _blocks(page)
        if not _is_shell(b) and any(MARKER.match(t) for _, t in b.markers)
    ]
    assert not stray, stray


def test_every_substitution_matches_a_command_that_runs():
    used: set[int] = set()
    for plan in _shell_plans():
        if plan.skipped is None:
            for command, _, skip in plan.commands:
                if skip is None:
                    used.update(_substitute(command.text)[1])
    stale = [SUBSTITUTIONS[i][0] for i in range(len(SUBSTITUTIONS)) if i not in used]
    assert not stale, f"substitutions that match no command the pages run: {stale}"


def test_the_parser_reads_the_pages_conventions():
    """The parser itself, on the shapes the pages use (quotes across lines, prompts and
    their output, statuses in comments, markers)."""
    block = Block(
        "page.md",
        3,
        "bash",
        list(
            enumerate(
                [
                    'curl -s -X POST x -H "a: $(tail -n1 f)" \\',
                    '  -d \'{"patient": {"age": 1,',
                    '       "stage": 4}}\'',
                    "relapse-risk mapping check a.yaml b.csv     # exit 1: guesses left",
                    "# rows 40: 40 would be accepted",
                    "relapse-risk mapping add c.yaml --name c       # the draft's, unconfirmed",
                    "# error: c.yaml: confirm: 23 guesses not yet confirmed (...)   exit 2",
                    "relapse-risk evaluate      # the oracle's bound",
                    "$ cat x.errors.csv",
                    "row,field,value,error",
                    "",
                    "relapse-risk registry list",
                ],
                start=4,
            )
        ),
        [
            (1, "not run `relapse-risk evaluate`: takes minutes"),
            (2, "exits 3 `relapse-risk registry`: on purpose"),
        ],
    )
    plan = _plan(block)
    assert not plan.problems
    got = [(c.line, _first_line(c), status, skip) for c, status, skip in plan.commands]
    assert got == [
        (4, 'curl -s -X POST x -H "a: $(tail -n1 f)" \\', 0, None),
        (7, "relapse-risk mapping check a.yaml b.csv # exit 1: guesses left", 1, None),
        (9, "relapse-risk mapping add c.yaml --name c # the draft's, unconfirmed", 2, None),
        (11, "relapse-risk evaluate # the oracle's bound", 0, "takes minutes"),
        (12, "cat x.errors.csv", 0, None),
        (15, "relapse-risk registry list", 3, None),
    ]
    assert plan.commands[0][0].text.count("\n") == 2
    assert plan.commands[4][0].shown == ["row,field,value,error"]
    assert _plan(Block("p.md", 1, "bash", [(2, "make x")], [(0, "not run:")])).problems, (
        "an empty reason is an error"
    )
    assert _plan(
        Block("p.md", 1, "bash", [(2, "make x")], [(0, "exits 1 `curl`: why")])
    ).problems, "a prefix matching nothing"
    assert _plan(Block("p.md", 1, "bash", [(2, "make x")], [(0, "skip this")])).problems, (
        "an unknown marker"
    )
    assert (
        _substitute("relapse-risk train          # 50,000 patients")[0]
        == "relapse-risk train --n 2000 --strategy holdout          # 50,000 patients"
    )
    assert _substitute("relapse-risk train --cohort x.csv")[1] == []
    assert (
        _substitute("relapse-risk validate --cohort c.csv --out v/   # note")[0]
        == "relapse-risk validate --cohort c.csv --out v/ --bootstrap 20   # note"
    )


# ---- running the pages ----------------------------------------------------------------


def _runnable_pages() -> list[str]:
    pages = []
    for plan in _shell_plans():
        if plan.skipped is None and any(s is None for _, _, s in plan.commands):
            if plan.block.page not in pages:
                pages.append(plan.block.page)
    return pages


def _clean_env() -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RELAPSE_RISK_", "BENTOML_", "PYTHONPATH", "VIRTUAL_ENV"))
    }
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT)
    env["BENTOML_DO_NOT_TRACK"] = "True"
    return env


@pytest.fixture(scope="session")
def console_script() -> Path:
    script = shutil.which("relapse-risk", path=str(BIN))
    if script is None:
        pytest.skip(
            f"the relapse-risk console script is not installed beside {sys.executable} "
            "(pip install -e .): the pages' commands call it"
        )
    return Path(script)


@pytest.fixture(scope="session")
def production_registry(tmp_path_factory, console_script) -> Path:
    """A registry with a small production model, trained once for every page."""
    registry = tmp_path_factory.mktemp("production") / "registry"
    env = _clean_env() | {"RELAPSE_RISK_REGISTRY": str(registry)}
    done = subprocess.run(
        [str(console_script), *SMALL_MODEL],
        env=env,
        capture_output=True,
        text=True,
        cwd=registry.parent,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return registry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Service:
    """`relapse-risk serve` in the page's folder, as after `make serve`."""

    def __init__(self, folder: Path, env: dict):
        self.port = _free_port()
        self.log = folder.parent / "service.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(BIN / "relapse-risk"),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/readyz", timeout=5
                ) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("the service did not become ready:\n" + self.log.read_text()[-3000:])
            time.sleep(0.3)
        self.key = (folder / ".relapse-risk" / "api_keys").read_text().split()[-1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.splitlines()[-n:])


@pytest.mark.parametrize("page", _runnable_pages())
def test_the_blocks_of_each_page_run(page, tmp_path, production_registry):
    folder = tmp_path / "page"
    folder.mkdir()
    shutil.copytree(ROOT / "examples", folder / "examples")
    shutil.copytree(
        ROOT / "docs", folder / "docs", ignore=shutil.ignore_patterns("*.png", "reference")
    )
    shutil.copytree(production_registry, folder / "registry")
    curl_home = tmp_path / "curl"
    curl_home.mkdir()
    (curl_home / ".curlrc").write_text("fail-with-body\nmax-time = 300\n")
    env = _clean_env() | {
        "RELAPSE_RISK_REGISTRY": str(folder / "registry"),
        "BENTOML_HOME": str(tmp_path / "bentoml"),
        "CURL_HOME": str(curl_home),
    }
    plans = [p for p in _shell_plans() if p.block.page == page and p.skipped is None]
    steps = [(p.block, c, status) for p in plans for c, status, skip in p.commands if skip is None]
    assert steps
    if page in PAGE_SETUP:
        PAGE_SETUP[page](folder, env)
    for program in ("curl", "unzip"):
        if (
            any(_first_line(c).startswith(program) for _, c, _ in steps)
            and shutil.which(program) is None
        ):
            pytest.skip(f"{page} runs {program}, which is not installed here")
    ports = {m for _, c, _ in steps for m in SERVICE.findall(c.text)}
    service = _Service(folder, env) if ports else None
    try:
        if service:
            env["KEY"] = service.key
        for block, command, status in steps:
            text, _ = _substitute(command.text)
            for port in ports:
                text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{service.port}")
            start = time.monotonic()
            done = subprocess.run(
                ["bash", "-c", "set -euo pipefail\n" + text],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            where = f"{block.page}:{command.line}"
            assert done.returncode == status, (
                f"{where}: `{_first_line(command)}` exited {done.returncode}, the page implies "
                f"{status} (ran as: {text!r}, {time.monotonic() - start:.0f} s)\n"
                f"--- stdout ---\n{_tail(done.stdout)}\n--- stderr ---\n{_tail(done.stderr)}"
            )
            if command.prompt and command.shown and _first_line(command).startswith("cat "):
                assert done.stdout.splitlines() == command.shown, (
                    f"{where}: the page shows other lines than `{_first_line(command)}` "
                    f"prints:\n{done.stdout}"
                )
    finally:
        if service:
            service.stop()
