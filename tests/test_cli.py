import pandas as pd
import pytest
from typer.testing import CliRunner

from features.schema import COLUMNS, CONDITIONS
from relapse_risk.cli import app


def test_synth_writes_canonical_columns(tmp_path):
    out = tmp_path / "c.csv"
    result = CliRunner().invoke(app, ["synth", "--n", "300", "--seed", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    # Every canonical column but the conditions of a score (event_free_months).
    assert list(frame.columns) == [c for c in COLUMNS if c not in CONDITIONS]
    assert len(frame) == 300 and frame.patient_id.is_unique


def test_synth_rejects_bad_options(tmp_path):
    result = CliRunner().invoke(app, ["synth", "--n", "0", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "--n" in result.output


CHOICES = [
    ("train", "--strategy", "STRATEGIES"),
    ("retrain", "--strategy", "STRATEGIES"),
    ("recalibrate", "--method", "RECALIBRATION_METHODS"),
    ("score", "--landmark", "LANDMARK_CHOICES"),
]


@pytest.mark.parametrize("command,option,vocabulary", CHOICES)
def test_choice_options_list_their_values_and_refuse_others(command, option, vocabulary):
    """The values come from the one definition (training.choices, features.schema); --help
    lists them, and anything else is a usage error (exit 2) naming the option."""
    import features.schema
    import training.choices

    values = getattr(training.choices, vocabulary, None) or getattr(features.schema, vocabulary)
    shown = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert f"{option} <{'|'.join(values)}>" in shown.output, shown.output
    refused = CliRunner().invoke(app, [command, option, "nonsense"])
    assert refused.exit_code == 2
    assert option in refused.output and "'nonsense' is not one of" in refused.output


def test_flags_show_no_value_placeholder():
    """A flag takes no value: --help must not suggest one (typer's rich help printed
    `<bool>` beside every flag)."""
    for command in (["score"], ["train"], ["synth"], ["bento", "build"], []):
        shown = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
        assert shown.exit_code == 0 and "<bool>" not in shown.output, (command, shown.output)


def test_the_version_is_defined_once():
    """pyproject.toml reads the version from relapse_risk/__init__.py."""
    from importlib.metadata import version
    from pathlib import Path

    import relapse_risk

    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and '\nversion = "' not in pyproject
    assert version("relapse-risk") == relapse_risk.__version__


# Where each command's code is: the module named after it (`import` is a keyword).
COMMAND_MODULES = {
    "synth": "generator",
    "calibrate": "generator",
    "fit-generator": "generator",
    "import": "importing",
    "bento": "serve",
}


def test_each_command_lives_in_the_module_named_after_it():
    import typer.main

    from relapse_risk import cli

    group = typer.main.get_command(cli.app)
    for name, command in group.commands.items():
        module = COMMAND_MODULES.get(name, name)
        callback = (
            command.callback
            if command.callback is not None
            else next(iter(command.commands.values())).callback
        )
        assert callback.__module__ == f"relapse_risk.cli.{module}", (name, callback.__module__)
