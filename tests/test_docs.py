"""The docs cannot quietly rot: the README stays a front door, every page it links exists,
and every `relapse-risk` command a page shows is a command (and option) the CLI has."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relapse_risk.cli import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(
    r"relapse-risk ((?:[a-z][a-z-]*)(?: (?:list|show|promote|rollback|add|"
    r"build|draft|check))?)((?: [^\n`|#]*)?)"
)


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert 100 <= len(lines) <= 200, len(lines)
    text = "\n".join(lines)
    assert "make serve" in text and "make test" in text
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link


def _commands() -> set[tuple[str, tuple[str, ...]]]:
    found = set()
    for page in PAGES:
        for command, rest in COMMAND.findall(page.read_text()):
            options = tuple(sorted(set(re.findall(r"(--[a-z][a-z-]*)", rest))))
            found.add((command, options))
    return found


@pytest.mark.parametrize("command,options", sorted(_commands()))
def test_every_command_a_page_shows_exists_with_its_options(command, options):
    result = CliRunner().invoke(app, [*command.split(), "--help"], terminal_width=200)
    assert result.exit_code == 0, (command, result.output)
    flat = " ".join(result.output.split())
    for option in options:
        if option != "--help":
            assert option in flat, (command, option)
